//! The DWARF backend against the compiler itself: a small C program is built with `gcc -g`,
//! prints `sizeof`/`offsetof` of its types, and the same questions asked of its DWARF must
//! get the same answers (multi-dimensional arrays, bitfields, anonymous members, unions).
//! Needs gcc (on every machine CI runs on).

use holdup_types::{Dwarf, Types};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

const PROGRAM: &str = r#"
#include <stddef.h>
#include <stdio.h>

struct list_head { struct list_head *next, *prev; };

/* Shaped like the kernel's struct lru_gen_struct (6.1). */
struct lru_gen_like {
    unsigned long max_seq;
    struct list_head folios[4][2][5];
    long nr_pages[4][2][5];
    unsigned long avg[2][4];
    unsigned int low:3, mid:7, high:22;
    union {
        char bytes[3][7];
        int word;
    };
    struct { short a; char b[2][3]; } inner[2];
    char tail;
};

struct lru_gen_like instance;

#define SHOW(expr) printf("%s %zu\n", #expr, (size_t)(expr))

int main(void) {
    struct lru_gen_like *p = 0;
    SHOW(sizeof(struct lru_gen_like));
    SHOW(offsetof(struct lru_gen_like, folios));
    SHOW(sizeof(p->folios));
    SHOW(sizeof(p->folios[0]));
    SHOW(sizeof(p->folios[0][0]));
    SHOW(offsetof(struct lru_gen_like, folios[3][1][4]));
    SHOW(offsetof(struct lru_gen_like, nr_pages));
    SHOW(sizeof(p->nr_pages));
    SHOW(offsetof(struct lru_gen_like, avg[1][2]));
    SHOW(offsetof(struct lru_gen_like, bytes));
    SHOW(sizeof(p->bytes));
    SHOW(offsetof(struct lru_gen_like, word));
    SHOW(offsetof(struct lru_gen_like, inner[1].b[1][2]));
    SHOW(sizeof(p->inner));
    SHOW(offsetof(struct lru_gen_like, tail));
    return 0;
}
"#;

/// Builds the program in a fresh directory; returns the executable.
fn build() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("holdup-dwarf-gcc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, PROGRAM).expect("write layout.c");
    let out = Command::new("gcc")
        .args(["-g", "-O0", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("this test needs gcc to build a program with DWARF: {e}"));
    assert!(
        out.status.success(),
        "gcc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// What the compiler says: expression -> value.
fn compiler_answers(exe: &PathBuf) -> HashMap<String, u64> {
    let out = Command::new(exe).output().expect("run the layout program");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

#[test]
fn dwarf_layout_equals_what_gcc_computes() {
    let exe = build();
    let want = compiler_answers(&exe);
    assert_eq!(want.len(), 15, "the program printed {want:?}");
    let t = Types::new(Dwarf::open(&exe).expect("DWARF of the program"));
    let c = |e: &str| *want.get(e).unwrap_or_else(|| panic!("no answer for {e}"));
    let size_of_member = |path: &str| {
        let f = t.member(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        t.sizeof_id(f.ty)
            .unwrap_or_else(|e| panic!("sizeof {path}: {e}"))
    };
    let offset = |path: &str| t.offsetof(path).unwrap_or_else(|e| panic!("{path}: {e}"));

    assert_eq!(
        t.sizeof("lru_gen_like").unwrap(),
        c("sizeof(struct lru_gen_like)")
    );
    assert_eq!(
        offset("lru_gen_like.folios"),
        c("offsetof(struct lru_gen_like, folios)")
    );
    // Every dimension of a multi-dimensional array has its size (the inner ones are the
    // backend's made-up ids).
    assert_eq!(
        size_of_member("lru_gen_like.folios"),
        c("sizeof(p->folios)")
    );
    assert_eq!(
        size_of_member("lru_gen_like.folios[0]"),
        c("sizeof(p->folios[0])")
    );
    assert_eq!(
        size_of_member("lru_gen_like.folios[0][0]"),
        c("sizeof(p->folios[0][0])")
    );
    assert_eq!(
        offset("lru_gen_like.folios[3][1][4]"),
        c("offsetof(struct lru_gen_like, folios[3][1][4])")
    );
    assert_eq!(
        offset("lru_gen_like.nr_pages"),
        c("offsetof(struct lru_gen_like, nr_pages)")
    );
    assert_eq!(
        size_of_member("lru_gen_like.nr_pages"),
        c("sizeof(p->nr_pages)")
    );
    assert_eq!(
        offset("lru_gen_like.avg[1][2]"),
        c("offsetof(struct lru_gen_like, avg[1][2])")
    );
    // Members of an anonymous union, reached through it.
    assert_eq!(
        offset("lru_gen_like.bytes"),
        c("offsetof(struct lru_gen_like, bytes)")
    );
    assert_eq!(size_of_member("lru_gen_like.bytes"), c("sizeof(p->bytes)"));
    assert_eq!(
        offset("lru_gen_like.word"),
        c("offsetof(struct lru_gen_like, word)")
    );
    assert_eq!(
        offset("lru_gen_like.inner[1].b[1][2]"),
        c("offsetof(struct lru_gen_like, inner[1].b[1][2])")
    );
    assert_eq!(size_of_member("lru_gen_like.inner"), c("sizeof(p->inner)"));
    assert_eq!(
        offset("lru_gen_like.tail"),
        c("offsetof(struct lru_gen_like, tail)")
    );
    // Bitfields: three in one 32-bit unit after avg.
    let low = t.member("lru_gen_like.low").unwrap();
    let mid = t.member("lru_gen_like.mid").unwrap();
    let high = t.member("lru_gen_like.high").unwrap();
    assert_eq!(
        (low.bit_size, mid.bit_size, high.bit_size),
        (Some(3), Some(7), Some(22))
    );
    assert_eq!(mid.bit_offset, low.bit_offset + 3);
    assert_eq!(high.bit_offset, low.bit_offset + 10);
    let _ = std::fs::remove_dir_all(exe.parent().unwrap());
}

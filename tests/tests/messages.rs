//! What holdup says when it cannot go on: a dump compressed as a whole names its format and
//! the command that decompresses it; triage of paths none of which exists is "no dump found"
//! (status 2, as README and --help say), not "some dumps failed" (3).

use holdup_e2e::{fresh_scratch, holdup, manifest};

#[test]
fn a_compressed_dump_says_how_to_decompress_it() {
    let dir = fresh_scratch("messages-compressed");
    let dump = manifest().fixture("6.1").path("vmcore.kdump-zlib");
    // A real zstd stream of the dump's first megabyte: what a `.zst` copy starts with.
    let head: Vec<u8> = std::fs::read(&dump)
        .unwrap()
        .into_iter()
        .take(1 << 20)
        .collect();
    let zst = dir.join("vmcore.zst");
    std::fs::write(&zst, zstd::encode_all(&head[..], 3).unwrap()).unwrap();
    let zst = zst.to_str().unwrap();
    for args in [
        vec![zst],
        vec!["info", zst],
        vec!["log", zst],
        vec!["bt", zst, "99"],
    ] {
        let (status, out, err) = holdup(&args);
        assert_eq!(status, 2, "holdup {args:?}: {out}");
        assert!(
            err.contains(&format!(
                "{zst}: compressed with zstd: decompress it first (e.g. `zstd -d {zst}`)"
            )),
            "holdup {args:?}: {err}"
        );
        assert!(!err.contains("magic"), "{err}");
    }
    // The other formats by their magic bytes (their bodies do not matter).
    for (name, magic, tool) in [
        ("xz", &b"\xfd7zXZ\0"[..], "xz -dk"),
        ("gzip", &b"\x1f\x8b\x08\0"[..], "gzip -dk"),
        ("bzip2", &b"BZh91AY&SY"[..], "bzip2 -dk"),
    ] {
        let file = dir.join(format!("vmcore.{name}"));
        let mut bytes = magic.to_vec();
        bytes.resize(4096, 0);
        std::fs::write(&file, bytes).unwrap();
        let file = file.to_str().unwrap();
        let (status, _, err) = holdup(&[file]);
        assert_eq!(status, 2);
        assert!(
            err.contains(&format!(
                "compressed with {name}: decompress it first (e.g. `{tool} {file}`)"
            )),
            "{name}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn triage_of_nothing_that_exists_is_no_dump_found() {
    let (status, out, err) = holdup(&["triage", "/nonexistent"]);
    assert_eq!(status, 2, "{out}");
    assert!(
        out.is_empty(),
        "no JSON line for a path that is not there: {out}"
    );
    assert!(
        err.contains("no dump to triage: /nonexistent: No such file or directory"),
        "{err}"
    );
    // Several, none there: the same.
    let (status, _, err) = holdup(&["triage", "/nonexistent", "/nonexistent2"]);
    assert_eq!(status, 2, "{err}");
    // An empty folder: no dump found either.
    let dir = fresh_scratch("messages-empty");
    let (status, _, _) = holdup(&["triage", dir.to_str().unwrap()]);
    assert_eq!(status, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

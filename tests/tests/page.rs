//! `holdup page` decodes each locked page of the truth as crash's `kmem -p` does, and names
//! its waiters from the folio wait table.

use holdup_e2e::{
    LockType, Role, TruthLine, all_dumps, fixture_text, holdup_ok, manifest, parse_hex,
};
use serde_json::Value;

#[test]
fn locked_pages_match_crash_kmem_p_and_the_truth() {
    let m = manifest();
    for (fx, f, path) in all_dumps(&m) {
        let kmem = fixture_text(fx, "crash-kmem-p.txt");
        let truth = fx.truth();
        let pages: Vec<_> = truth
            .iter()
            .filter_map(|l| match l {
                TruthLine::Fact(x)
                    if x.lock_type == LockType::PageLock && x.role == Role::Waiter =>
                {
                    Some(x.clone())
                }
                _ => None,
            })
            .collect();
        assert!(
            pages.len() >= 2,
            "{}: truth has {} page waits",
            fx.name,
            pages.len()
        );
        for w in pages {
            let pfn = w.pfn.expect("pfn").to_string();
            let json: Value = serde_json::from_str(&holdup_ok(&[
                "page",
                "--json",
                path.to_str().unwrap(),
                &pfn,
            ]))
            .expect("JSON");
            let what = format!("{} {} pfn {pfn}", fx.name, f.file);
            let page = parse_hex(json["page"]["page"].as_str().unwrap());
            assert_eq!(
                page,
                parse_hex(w.page.as_deref().unwrap()),
                "{what}: page address"
            );
            assert_eq!(
                json["page"]["folio_flags"]["value"]["locked"], true,
                "{what}: PG_locked"
            );
            // crash prints the page and its raw flags on one line.
            let raw = &json["page"]["flags"]["value"]["raw"];
            let raw = raw
                .as_u64()
                .or_else(|| raw.as_str().map(parse_hex))
                .expect("raw flags");
            let line = kmem
                .lines()
                .find(|l| l.starts_with(&format!("{page:x} ")))
                .unwrap_or_else(|| panic!("{what}: crash kmem -p has no line for {page:#x}"));
            assert!(
                line.split_whitespace().any(|c| c == format!("{raw:x}")),
                "{what}: flags {raw:#x} vs crash: {line}"
            );
            let waiters = json["waiters"].as_array().unwrap();
            assert!(
                waiters.iter().any(|x| x["pid"] == w.pid
                    && x["task"].as_str().map(parse_hex) == Some(parse_hex(&w.task))),
                "{what}: waiter {} ({}) not listed: {waiters:?}",
                w.comm,
                w.pid
            );
        }
    }
}

/// An address that is not a struct page is said for what it is (kernel text, a module's
/// variable, a task's stack, user space, the inside of a struct page) and not decoded: before,
/// kernel text got the flags `dirty,...,hwpoison` and a module static "a tail page of folio".
#[test]
fn addresses_that_are_not_struct_pages_are_named_not_decoded() {
    use holdup_kernel::{Kernel, OpenOptions};
    let m = manifest();
    for name in ["6.1", "6.1-la57"] {
        let fx = m.fixture(name);
        let path = fx.path("vmcore.kdump-zlib");
        let d = path.to_str().unwrap();
        let k = Kernel::open(&path, &OpenOptions::default()).expect("fixture opens");
        let stext = k.symbols.address_of("_stext").expect("_stext");
        let tasks = holdup_kernel::sched::all_tasks(&k).expect("tasks").tasks;
        let kscand = tasks.iter().find(|t| t.comm == "kscand").expect("kscand");
        let facts = fx.facts();
        let module_lock = facts
            .iter()
            .find(|f| f.lock_type == LockType::Semaphore)
            .map(|f| parse_hex(&f.lock))
            .expect("truth has the semaphore, a hangmod static");
        let page = facts
            .iter()
            .find(|f| f.lock_type == LockType::PageLock)
            .map(|f| parse_hex(&f.lock))
            .expect("truth has a locked page");
        let cases = [
            (stext + 0x10, "in the kernel image"),
            (module_lock, "in module hangmod"),
            (kscand.stack + 0x100, "on the kernel stack of kscand"),
            (0x7fff_1234_5678, "a user-space address"),
            (page + 8, "0x8 bytes into struct page"),
        ];
        for (addr, want) in cases {
            let a = format!("{addr:#x}");
            let (st, out, err) = holdup_e2e::holdup(&["page", d, &a]);
            assert_eq!(st, 1, "{name} {a}: {out}{err}");
            assert!(out.contains(want), "{name} {a}: want {want:?}: {out}");
            assert!(
                !out.contains("FLAGS"),
                "{name} {a} decoded as a page: {out}"
            );
            let (st, out, _) = holdup_e2e::holdup(&["page", d, &a, "--json"]);
            assert_eq!(st, 1);
            let v: Value = serde_json::from_str(&out).expect("JSON");
            assert_eq!(v["struct_page"], false, "{v}");
        }
        // The struct page itself is still decoded.
        let out = holdup_ok(&["page", d, &format!("{page:#x}")]);
        assert!(out.contains("LOCKED"), "{out}");
        // Decimal digits are a pfn: one past the last frame is said to be that, not
        // described as a user-space address.
        let (st, out, err) = holdup_e2e::holdup(&["page", d, "12345678"]);
        assert_eq!(st, 1, "{name}: {out}{err}");
        assert!(
            err.contains("pfn 12345678 is past the machine's last page frame"),
            "{name}: {err}"
        );
        assert!(!out.contains("user-space"), "{name}: {out}");
    }
}

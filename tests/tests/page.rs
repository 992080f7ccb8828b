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

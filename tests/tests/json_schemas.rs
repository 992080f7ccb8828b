//! Every command's `--json` on every fixture dump matches its schema in `docs/schemas/`: the
//! contract batch users validate against. The schemas are generated from the types that print
//! the JSON (`holdup schema CMD`); these tests check that the committed copies are current and
//! that what the commands really print (hand-written serializers, flattened and untagged
//! types among them) matches them, naming the command, the dump and the place in the output.

use holdup_e2e::{dump_path, holdup, manifest_all};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn schema(command: &str) -> (Value, jsonschema::Validator) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/schemas")
        .join(format!("{command}.schema.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let validator = jsonschema::validator_for(&v)
        .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", path.display()));
    (v, validator)
}

/// Checks one output against the schema, and its `schema_version` against the schema's.
fn check(
    command: &str,
    what: &str,
    out: &Value,
    (schema, validator): &(Value, jsonschema::Validator),
) {
    let errors: Vec<String> = validator
        .iter_errors(out)
        .take(10)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{command} --json on {what} does not match docs/schemas/{command}.schema.json:\n{}",
        errors.join("\n")
    );
    assert_eq!(
        out["schema_version"], schema["properties"]["schema_version"]["const"],
        "{command} on {what}: schema_version"
    );
}

fn json_of(args: &[&str], what: &str) -> Value {
    let (status, out, err) = holdup(args);
    serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!("holdup {args:?} on {what} (exit {status}) printed no JSON: {e}\n{err}")
    })
}

/// Every fixture's main dump, those holdup needs more for among them.
fn every_dump() -> Vec<(String, PathBuf)> {
    let m = manifest_all();
    let mut v = Vec::new();
    for fx in &m.fixtures {
        for f in fx.files_with_role("dump") {
            v.push((format!("{} {}", fx.name, f.file), dump_path(fx, f)));
        }
    }
    assert!(
        v.len() >= 8,
        "only {} fixture dumps in the manifest",
        v.len()
    );
    v
}

const COMMANDS: [&str; 8] = [
    "report", "ps", "bt", "locks", "page", "info", "log", "triage",
];

#[test]
fn committed_schemas_are_what_holdup_generates() {
    for c in COMMANDS {
        let (status, out, err) = holdup(&["schema", c]);
        assert_eq!(status, 0, "holdup schema {c}: {err}");
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/schemas")
            .join(format!("{c}.schema.json"));
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        assert!(
            committed == out,
            "{} is not what `holdup schema {c}` prints: run `just schemas` and review the diff",
            path.display()
        );
    }
}

#[test]
fn every_command_matches_its_schema_on_every_fixture() {
    let schemas: Vec<(&str, _)> = ["report", "ps", "bt", "locks", "info", "log", "page"]
        .into_iter()
        .map(|c| (c, schema(c)))
        .collect();
    let of = |c: &str| &schemas.iter().find(|s| s.0 == c).expect("schema").1;
    let mut pages = 0;
    for (what, path) in every_dump() {
        let d = path.to_str().expect("UTF-8 path");
        check(
            "report",
            &what,
            &json_of(&[d, "--json"], &what),
            of("report"),
        );
        for c in ["ps", "info", "log"] {
            check(c, &what, &json_of(&[c, d, "--json"], &what), of(c));
        }
        for sel in [None, Some("-a"), Some("--all")] {
            let mut args = vec!["bt", d, "--json"];
            args.extend(sel);
            check("bt", &what, &json_of(&args, &what), of("bt"));
        }
        let locks = json_of(&["locks", d, "--json"], &what);
        check("locks", &what, &locks, of("locks"));
        // page: the locks' own addresses (struct pages, and objects in the direct map or a
        // module), a pfn, and addresses that are no struct page.
        let mut addrs: Vec<String> = locks["locks"]
            .as_array()
            .expect("locks")
            .iter()
            .filter_map(|l| l["id"]["addr"].as_str().map(String::from))
            .take(6)
            .collect();
        addrs.extend(["1000", "0x7fff12345678", "0xffffffffc0000000"].map(String::from));
        for a in &addrs {
            let v = json_of(&["page", d, a, "--json"], &format!("{what} {a}"));
            check("page", &format!("{what} {a}"), &v, of("page"));
            pages += 1;
        }
    }
    assert!(pages >= 40, "only {pages} page outputs checked");
}

#[test]
fn triage_lines_match_their_schema() {
    let s = schema("triage");
    let scratch = holdup_e2e::fresh_scratch("json-schemas");
    // A truncated dump and a missing one give error lines; the fixtures give hang, no_hang
    // and error (the format samples cut to a few MiB) lines.
    let d = holdup_e2e::seed_dump();
    let bytes = std::fs::read(&d).expect("seed dump");
    let cut = scratch.join("cut.kdump");
    std::fs::write(&cut, &bytes[..5000]).expect("write");
    let fixtures = holdup_e2e::dumps_dir().join("fixtures");
    let (_, out, err) = holdup(&[
        "triage",
        fixtures.to_str().expect("UTF-8"),
        cut.to_str().expect("UTF-8"),
        "/nonexistent-holdup-dump",
    ]);
    let mut statuses = std::collections::BTreeSet::new();
    for line in out.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}\n{err}"));
        statuses.insert(v["status"].as_str().unwrap_or("?").to_string());
        check("triage", v["path"].as_str().unwrap_or("?"), &v, &s);
    }
    for want in ["hang", "no_hang", "error"] {
        assert!(statuses.contains(want), "no {want} line: {out}");
    }
}

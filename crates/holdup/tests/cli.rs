//! The command line itself: help, version, usage errors. (Its presence also makes
//! `cargo test --workspace` build the `holdup` binary that the end-to-end tests in `tests/`
//! run on the real dumps.)

use std::process::Command;

fn holdup(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_holdup"))
        .args(args)
        .output()
        .expect("run holdup");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_commands() {
    let (status, out, _) = holdup(&["--help"]);
    assert_eq!(status, 0);
    for cmd in ["info", "log"] {
        assert!(out.contains(cmd), "--help does not mention {cmd}: {out}");
    }
}

#[test]
fn version_is_the_crate_version() {
    let (status, out, _) = holdup(&["--version"]);
    assert_eq!(status, 0);
    assert_eq!(out.trim(), format!("holdup {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn no_dump_is_a_usage_error_with_status_2() {
    let (status, out, err) = holdup(&["info"]);
    assert_eq!(status, 2, "stdout {out} stderr {err}");
    assert!(err.contains("no dump"), "{err}");
}

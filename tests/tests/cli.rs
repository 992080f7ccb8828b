//! The everyday command line: exit statuses, `--help` with examples, completions and the
//! man page, colour that honours `NO_COLOR` and `--color` without changing the text, `-v`
//! and `-q`, and the automatic use of a distribution's debug vmlinux (checked with a file
//! that is not one, placed where the debug package would put it).

use holdup_e2e::{fresh_scratch, holdup_bin, holdup_env, manifest};
use std::path::PathBuf;
use std::process::Command;

/// Runs `holdup ARGS` with `env`, and without any of the variables that change its output
/// unless a test sets them; (status, stdout, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    holdup_env(args, env, &["NO_COLOR", "HOLDUP_LOG", "HOLDUP_DEBUG_ROOT"])
}

fn dump(name: &str) -> PathBuf {
    manifest().fixture(name).path("vmcore.kdump-zlib")
}

fn release(name: &str) -> String {
    manifest().fixture(name).release.clone()
}

fn fresh(name: &str) -> PathBuf {
    fresh_scratch(&format!("cli-{name}"))
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' && it.peek() == Some(&'[') {
            it.next();
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn exit_statuses_of_the_report_and_the_commands() {
    let d = dump("6.1");
    let d = d.to_str().unwrap();
    // 0: blocked tasks explained.
    let (s, out, err) = run(&[d], &[]);
    assert_eq!(s, 0, "{err}");
    assert!(out.contains("ROOT CAUSE 1: kscand"), "{out}");
    // 1: bt found no task.
    let (s, _, _) = run(&["bt", d, "no_such_comm"], &[]);
    assert_eq!(s, 1);
    // 2: not a dump, no dump, a missing dump, a wrong option.
    let dir = fresh("status");
    let junk = dir.join("junk");
    std::fs::write(&junk, b"this is not a vmcore at all").unwrap();
    for args in [
        vec![junk.to_str().unwrap()],
        vec![],
        vec!["/nonexistent/vmcore"],
        vec!["info", junk.to_str().unwrap()],
        vec!["--no-such-option", d],
        vec!["--color", "sometimes", d],
    ] {
        let (s, _, err) = run(&args, &[]);
        assert_eq!(s, 2, "holdup {args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_has_examples_and_exit_statuses() {
    let (s, out, _) = run(&["--help"], &[]);
    assert_eq!(s, 0);
    for want in [
        "Examples:",
        "holdup triage /var/crash",
        "Exit status:",
        "  0  ",
        "  1  ",
        "  2  ",
        "  3  ",
        "NO_COLOR",
        "HOLDUP_DEBUG_ROOT",
        "--color <WHEN>",
        "--verbose",
        "--quiet",
        "completions",
        "man",
    ] {
        assert!(out.contains(want), "--help lacks {want:?}:\n{out}");
    }
    let (s, out, _) = run(&["triage", "--help"], &[]);
    assert_eq!(s, 0);
    for want in [
        "dump.<stamp>",
        "vmcore-dmesg.txt",
        "Examples:",
        "Exit status",
    ] {
        assert!(out.contains(want), "triage --help lacks {want:?}:\n{out}");
    }
}

#[test]
fn completions_and_man_page_generate() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef holdup"),
        ("fish", "complete -c holdup"),
    ] {
        let (s, out, err) = run(&["completions", shell], &[]);
        assert_eq!(s, 0, "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: no {marker:?}");
        assert!(out.contains("triage"), "{shell}: no triage subcommand");
        assert!(out.contains("vmlinux"), "{shell}: no --vmlinux");
    }
    let (s, _, _) = run(&["completions", "tcsh"], &[]);
    assert_eq!(s, 2);
    let (s, out, err) = run(&["man"], &[]);
    assert_eq!(s, 0, "{err}");
    assert!(out.contains(".TH holdup 1"), "{out}");
    assert!(out.contains("triage"), "{out}");
    assert!(out.contains("\\-\\-color"), "{out}");
    // Every page holdup(1) refers to exists: holdup-SUBCOMMAND(1), with its own options.
    let referred: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("holdup\\-")?.strip_suffix("(1)"))
        .map(String::from)
        .collect();
    assert!(referred.len() >= 8, "{referred:?}");
    for sub in &referred {
        let (s, page, err) = run(&["man", sub], &[]);
        assert_eq!(s, 0, "man {sub}: {err}");
        assert!(
            page.contains(&format!(".TH holdup-{sub} 1")),
            "man {sub}: {page}"
        );
    }
    let (_, bt, _) = run(&["man", "bt"], &[]);
    assert!(
        bt.contains("\\-\\-all") && bt.contains("\\-\\-state"),
        "{bt}"
    );
    let (s, _, err) = run(&["man", "nosuch"], &[]);
    assert_eq!(s, 2);
    assert!(
        err.contains("no such subcommand") && err.contains("triage"),
        "{err}"
    );
}

#[test]
fn colour_adds_escapes_only_and_honours_no_color() {
    let d = dump("6.1");
    let d = d.to_str().unwrap();
    let (_, plain, _) = run(&[d], &[]);
    assert!(!plain.contains('\x1b'), "colour on a pipe");
    let (_, never, _) = run(&["--color", "never", d], &[]);
    assert_eq!(never, plain);
    let (_, always, _) = run(&["--color", "always", d], &[]);
    assert!(always.contains("\x1b[1;31mROOT CAUSE 1: kscand (pid 99)\x1b[0m"));
    assert!(always.contains("\x1b[32mfact\x1b[0m"));
    assert!(always.contains("\x1b[33mguess "));
    assert_eq!(strip_ansi(&always), plain, "colour changed the text");
    // --color always is an explicit request: it wins over NO_COLOR.
    let (_, forced, _) = run(&["--color", "always", d], &[("NO_COLOR", "1")]);
    assert!(forced.contains('\x1b'));
    // JSON never has colour.
    let (_, json, _) = run(&["--color", "always", "--json", d], &[]);
    assert!(!json.contains('\x1b'));
}

/// On a terminal (a pseudo-terminal made by `script`), colour is on unless NO_COLOR is set.
#[test]
fn no_color_on_a_terminal() {
    let d = dump("6.1");
    let script = |env: &str| -> String {
        let cmd = format!(
            // No pager: the report is longer than script's terminal, and less would wait
            // for a key.
            "{env} {} --no-pager --color auto {} 2>/dev/null",
            holdup_bin().display(),
            d.display()
        );
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env_remove("NO_COLOR")
            .output()
            .expect("`script` (util-linux) runs a command on a pseudo-terminal");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tty = script("");
    assert!(tty.contains("ROOT CAUSE 1"), "{tty}");
    assert!(tty.contains('\x1b'), "no colour on a terminal");
    let no_color = script("NO_COLOR=1");
    assert!(no_color.contains("ROOT CAUSE 1"), "{no_color}");
    assert!(!no_color.contains('\x1b'), "colour despite NO_COLOR");
    let empty = script("NO_COLOR=");
    assert!(
        empty.contains('\x1b'),
        "an empty NO_COLOR turned colour off"
    );
}

#[test]
fn verbose_says_where_symbols_come_from_and_quiet_silences() {
    let d = dump("6.12-overfiltered");
    let d = d.to_str().unwrap();
    let root = fresh("no-debug");
    let env = [("HOLDUP_DEBUG_ROOT", root.to_str().unwrap())];
    let (s, _, err) = run(&["-v", "info", d], &env);
    assert_eq!(s, 0, "{err}");
    assert!(err.contains("no vmlinux"), "{err}");
    assert!(err.contains("kallsyms in the dump"), "{err}");
    let (_, _, err) = run(&["ps", d], &env);
    assert!(!err.contains("no vmlinux"), "said without -v: {err}");
    assert!(
        err.contains("holdup: ps:"),
        "the over-filtered dump has problems: {err}"
    );
    let (s, _, err) = run(&["-q", "ps", d], &env);
    assert_eq!(s, 0);
    assert!(err.is_empty(), "-q: {err}");
    let (s, _, _) = run(&["-q", "-v", "info", d], &env);
    assert_eq!(s, 2, "-q and -v conflict");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_debug_vmlinux_of_the_release_is_used_when_present() {
    // Debian's place for 6.1, Fedora's for 6.12: a file that is no ELF, so that using it
    // fails with its name.
    let root = fresh("debug-root");
    let deb = root
        .join("boot")
        .join(format!("vmlinux-{}", release("6.1")));
    let fed = root
        .join("lib/modules")
        .join(release("6.12"))
        .join("vmlinux");
    for p in [&deb, &fed] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"not an ELF file").unwrap();
    }
    let env = [("HOLDUP_DEBUG_ROOT", root.to_str().unwrap())];
    for (fx, vmlinux) in [("6.1", &deb), ("6.12", &fed)] {
        let d = dump(fx);
        let (s, _, err) = run(&["-v", "info", d.to_str().unwrap()], &env);
        assert_eq!(s, 2, "{fx}: {err}");
        let name = vmlinux.display().to_string();
        assert!(
            err.contains(&name),
            "{fx}: the error does not name {name}: {err}"
        );
        assert!(err.contains("found automatically"), "{fx}: {err}");
        assert!(err.contains(&release(fx)), "{fx}: {err}");
        // The report and triage look there too.
        let (s, _, err) = run(&[d.to_str().unwrap()], &env);
        assert_eq!(s, 2, "{err}");
        assert!(err.contains(&name), "{err}");
        let (s, out, _) = run(&["triage", d.to_str().unwrap()], &env);
        assert_eq!(s, 3);
        assert!(out.contains(&name), "{out}");
        assert!(out.contains("\"status\":\"error\""), "{out}");
    }
    // --vmlinux wins over the search; an empty HOLDUP_DEBUG_ROOT searches nowhere.
    let d = dump("6.1");
    let d = d.to_str().unwrap();
    let given = root.join("given-vmlinux");
    std::fs::write(&given, b"also not an ELF").unwrap();
    let (s, _, err) = run(&["info", "--vmlinux", given.to_str().unwrap(), d], &env);
    assert_eq!(s, 2);
    assert!(err.contains(&given.display().to_string()), "{err}");
    assert!(!err.contains("found automatically"), "{err}");
    let (s, _, err) = run(&["-v", "info", d], &[("HOLDUP_DEBUG_ROOT", "")]);
    assert_eq!(s, 0, "{err}");
    assert!(err.contains("not searched"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}

/// A reader that goes away (`holdup DUMP | head -1`, quitting `less`): holdup ends by SIGPIPE
/// as cat and git do (documented in `--help`), never with a panic or exit status 101.
#[test]
fn a_closed_stdout_ends_holdup_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let d = dump("6.1");
    for args in [
        vec![d.to_str().unwrap()],
        vec!["bt", d.to_str().unwrap(), "--all"],
        vec!["ps", d.to_str().unwrap()],
        vec!["triage", d.to_str().unwrap()],
    ] {
        let mut child = Command::new(holdup_bin())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run holdup");
        // Close the pipe before holdup writes its first line.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait for holdup");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(13),
            "holdup {args:?} must end by SIGPIPE; it ended {:?}: {err}",
            out.status
        );
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{err}"
        );
    }
    let (_, help, _) = run(&["--help"], &[]);
    assert!(help.contains("SIGPIPE"), "{help}");
}

//! holdup on a real terminal (a pty of a chosen size): the report fits the terminal's width,
//! read with TIOCGWINSZ, its table wraps cells between words and leaves out the least useful
//! columns when narrow (and says so); output longer than the screen goes through $PAGER;
//! in a pipe nothing changes.

use holdup_e2e::{holdup_bin, holdup_env, seed_dump};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// What a run on a pty gave: the exit status, what the terminal showed (CR LF made LF) and
/// stderr.
struct TtyRun {
    status: i32,
    screen: String,
    stderr: String,
}

/// Runs `holdup ARGS` with its standard output on a new pty of `cols` x `rows`, with `env`
/// set and the variables that change the output (COLUMNS, PAGER, colour) unset unless set
/// there.
fn run_on_pty(args: &[&str], cols: u16, rows: u16, env: &[(&str, &str)]) -> TtyRun {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors through the first two pointers; no name buffer
    // and no termios are asked for; the winsize is read only.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned here alone.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = Command::new(holdup_bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(Stdio::piped());
    for k in [
        "COLUMNS",
        "LINES",
        "PAGER",
        "NO_COLOR",
        "HOLDUP_LOG",
        "LESS",
    ] {
        cmd.env_remove(k);
    }
    cmd.env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run holdup");
    // The pty's slave end must be closed here, or the master never reads end of file.
    drop(cmd);
    let mut screen = Vec::new();
    let mut master = File::from(master);
    let mut buf = [0u8; 65536];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => screen.extend_from_slice(&buf[..n]),
            // Linux says EIO once every slave descriptor is closed: the end of the output.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("reading the pty: {e}"),
        }
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child.wait().expect("wait for holdup").code().unwrap_or(-1);
    TtyRun {
        status,
        screen: String::from_utf8_lossy(&screen).replace("\r\n", "\n"),
        stderr,
    }
}

/// Lines wider than `cols` terminal columns (one per character: the report is escaped).
fn too_wide(screen: &str, cols: usize) -> Vec<&str> {
    screen
        .lines()
        .filter(|l| l.chars().count() > cols)
        .collect()
}

/// The BLOCKED TASKS table of a report: its column headings and, for each, the words of its
/// cells. The columns are cut where the heading line puts them (every heading starts its
/// column).
fn table_columns(screen: &str) -> Vec<(String, BTreeSet<String>)> {
    let table: Vec<Vec<char>> = screen
        .split("\nBLOCKED TASKS")
        .nth(1)
        .expect("a BLOCKED TASKS table")
        .lines()
        .take_while(|l| !l.starts_with('└'))
        .filter(|l| l.starts_with('│'))
        .map(|l| l.chars().collect())
        .collect();
    let heading_line: String = table[0].iter().collect();
    // Columns are apart by two spaces or more; a heading's words by one.
    let mut starts: Vec<(usize, String)> = Vec::new();
    let chars = &table[0];
    let mut i = 1;
    while i < chars.len() - 1 {
        if chars[i] != ' ' && chars[i - 1] == ' ' && (i == 2 || chars[i - 2] == ' ') {
            let end = (i..chars.len() - 1)
                .find(|&j| chars[j] == ' ' && chars.get(j + 1) == Some(&' '))
                .unwrap_or(chars.len() - 1);
            starts.push((
                i,
                chars[i..end].iter().collect::<String>().trim().to_string(),
            ));
            i = end;
        } else {
            i += 1;
        }
    }
    assert!(
        starts.len() >= 3,
        "headings of {heading_line:?}: {starts:?}"
    );
    // Headings that wrap ("BLOCKED" over "FOR") have their second line in the next row of
    // the heading; rows of cells follow the ╞ line.
    let body: Vec<&Vec<char>> = screen_body(&table);
    let mut columns = Vec::new();
    for (k, (start, heading)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(table[0].len() - 1, |s| s.0);
        let mut words = BTreeSet::new();
        for row in &body {
            let cell: String = row[*start..end.min(row.len())].iter().collect();
            words.extend(cell.split_whitespace().map(String::from));
        }
        columns.push((heading.clone(), words));
    }
    columns
}

/// The rows of a table's cells: those after the heading's.
fn screen_body(table: &[Vec<char>]) -> Vec<&Vec<char>> {
    // The heading may take two lines; a body row starts with a pid.
    table
        .iter()
        .skip(1)
        .filter(|r| r.len() > 2)
        .filter(|r| {
            let first: String = r[2..].iter().take_while(|c| **c != ' ').collect();
            first.is_empty() || first.chars().all(|c| c.is_ascii_digit())
        })
        .collect()
}

#[test]
fn the_report_fits_80_and_200_columns_without_breaking_a_word() {
    let dump = seed_dump();
    let wide = run_on_pty(&["--no-pager", &dump], 200, 50, &[]);
    let narrow = run_on_pty(&["--no-pager", &dump], 80, 50, &[]);
    for (run, cols) in [(&wide, 200), (&narrow, 80)] {
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert!(
            run.screen.contains("ROOT CAUSE 1: kscand"),
            "{}",
            run.screen
        );
        let over = too_wide(&run.screen, cols);
        assert!(over.is_empty(), "{cols} columns: lines wider: {over:#?}");
    }
    // 200 columns hold every column; 80 leave some out and say which.
    assert!(!wide.screen.contains("left out to fit"), "{}", wide.screen);
    let note = narrow
        .screen
        .lines()
        .find(|l| l.contains("left out to fit"))
        .unwrap_or_else(|| panic!("no note of the columns left out: {}", narrow.screen));
    assert!(note.contains("ST"), "{note}");

    // No word broken: outside the table, every word of the wide report is a word of the
    // narrow one; in the table, every word of a column the narrow table keeps is in that
    // column there.
    let words = |s: &str| -> BTreeSet<String> {
        s.split("\nBLOCKED TASKS")
            .next()
            .unwrap()
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    let (wide_words, narrow_words) = (words(&wide.screen), words(&narrow.screen));
    let broken: Vec<&String> = wide_words.difference(&narrow_words).collect();
    assert!(
        broken.is_empty(),
        "words of the 200-column report broken at 80: {broken:?}"
    );
    let wide_table = table_columns(&wide.screen);
    let narrow_table = table_columns(&narrow.screen);
    assert_eq!(wide_table.len(), 7, "{wide_table:?}");
    assert!(narrow_table.len() < 7 && narrow_table.len() >= 3);
    for (heading, cells) in &narrow_table {
        let (_, wide_cells) = wide_table
            .iter()
            .find(|(h, _)| h == heading)
            .unwrap_or_else(|| panic!("{heading} is no column of the wide table"));
        let broken: Vec<&String> = wide_cells.difference(cells).collect();
        assert!(
            broken.is_empty(),
            "{heading}: words broken at 80 columns: {broken:?}"
        );
    }
    for (heading, _) in &wide_table {
        if !narrow_table.iter().any(|(h, _)| h == heading) {
            assert!(
                note.contains(heading.as_str()),
                "{heading} left out unsaid: {note}"
            );
        }
    }
    // What waits on what stays in the narrow table.
    assert!(narrow_table.iter().any(|(h, _)| h == "WAITS ON"));
    assert!(narrow_table.iter().any(|(h, _)| h == "HOLDS"));
}

#[test]
fn columns_overrides_the_terminal_and_a_pipe_is_as_before() {
    let dump = seed_dump();
    // $COLUMNS wins over the terminal's own width.
    let run = run_on_pty(&["--no-pager", &dump], 200, 50, &[("COLUMNS", "90")]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(too_wide(&run.screen, 90).is_empty(), "{}", run.screen);
    assert!(run.screen.lines().any(|l| l.chars().count() > 80));
    // A pipe: no line wrapped (each fact stays on one line for grep), the table at most
    // 160 columns.
    let (status, out, err) = holdup_env(&[&dump], &[("NO_COLOR", "1")], &["COLUMNS"]);
    assert_eq!(status, 0, "{err}");
    let (status, unbounded, err) =
        holdup_env(&[&dump], &[("NO_COLOR", "1"), ("COLUMNS", "100000")], &[]);
    assert_eq!(status, 0, "{err}");
    let prose = |s: &str| s.split("\nBLOCKED TASKS").next().unwrap().to_string();
    assert_eq!(prose(&out), prose(&unbounded), "a pipe wraps no line");
    let table = out.split("\nBLOCKED TASKS").nth(1).unwrap();
    assert!(
        table
            .lines()
            .all(|l| !l.starts_with('│') || l.chars().count() <= 160)
    );
    assert!(!out.contains("left out to fit"));
}

/// A pager that records that it ran (its arguments to `ran`) and what it was given (to
/// `paged`), in a folder of its own.
struct RecordingPager {
    dir: std::path::PathBuf,
}

impl RecordingPager {
    fn new(name: &str) -> Self {
        let dir = holdup_e2e::fresh_scratch(&format!("pager-{name}"));
        let script = dir.join("pager.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$LESS\" > '{0}/ran'\ncat > '{0}/paged'\n",
                dir.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        RecordingPager { dir }
    }

    fn command(&self) -> String {
        self.dir.join("pager.sh").to_string_lossy().into_owned()
    }

    fn ran(&self) -> bool {
        self.dir.join("ran").exists()
    }

    fn paged(&self) -> String {
        std::fs::read_to_string(self.dir.join("paged")).unwrap_or_default()
    }
}

impl Drop for RecordingPager {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_long_report_on_a_terminal_goes_through_the_pager() {
    let dump = seed_dump();
    let pager = RecordingPager::new("long");
    let run = run_on_pty(&[&dump], 100, 30, &[("PAGER", &pager.command())]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(pager.ran(), "the pager did not run: {}", run.screen);
    let paged = pager.paged();
    assert!(paged.contains("ROOT CAUSE 1: kscand"), "{paged}");
    assert!(paged.contains("BLOCKED TASKS"), "{paged}");
    // The whole report went to the pager, none of it around it.
    assert!(!run.screen.contains("ROOT CAUSE"), "{}", run.screen);
    // As git does, less gets its options through LESS when it is unset.
    assert_eq!(
        std::fs::read_to_string(pager.dir.join("ran"))
            .unwrap()
            .trim(),
        "FRX"
    );
}

#[test]
fn no_pager_for_a_pipe_for_no_pager_for_short_output_or_an_empty_pager() {
    let dump = seed_dump();
    // A pipe.
    let pager = RecordingPager::new("pipe");
    let (status, out, err) = holdup_env(
        &[&dump],
        &[("NO_COLOR", "1"), ("PAGER", &pager.command())],
        &["COLUMNS"],
    );
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("ROOT CAUSE 1: kscand"));
    assert!(!pager.ran(), "a pager ran for a pipe");
    // --no-pager.
    let run = run_on_pty(
        &["--no-pager", &dump],
        100,
        30,
        &[("PAGER", &pager.command())],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.screen.contains("ROOT CAUSE 1: kscand"),
        "{}",
        run.screen
    );
    assert!(!pager.ran(), "a pager ran with --no-pager");
    // Output that fits the screen: 500 lines hold the report.
    let run = run_on_pty(&[&dump], 100, 500, &[("PAGER", &pager.command())]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.screen.contains("BLOCKED TASKS"), "{}", run.screen);
    assert!(
        !pager.ran(),
        "a pager ran for output shorter than the screen"
    );
    // PAGER empty or cat: none.
    for none in ["", "cat"] {
        let run = run_on_pty(&[&dump], 100, 30, &[("PAGER", none)]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert!(
            run.screen.contains("BLOCKED TASKS"),
            "PAGER={none:?}: {}",
            run.screen
        );
    }
}

#[test]
fn an_error_comes_after_the_pager_and_keeps_its_status() {
    let dump = seed_dump();
    let pager = RecordingPager::new("status");
    // bt of a task that does not exist: nothing to page, status 1 as in a pipe.
    let run = run_on_pty(
        &["bt", &dump, "no_such_comm"],
        100,
        30,
        &[("PAGER", &pager.command())],
    );
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no task matches no_such_comm"),
        "{}",
        run.stderr
    );
    assert!(!pager.ran());
    // Every backtrace is long: paged, and the status is the command's.
    let run = run_on_pty(
        &["bt", &dump, "--state", "D"],
        100,
        30,
        &[("PAGER", &pager.command())],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(pager.ran());
    assert!(pager.paged().contains("PID: 99 "), "{}", pager.paged());
}

//! The tool runtime on the real file system and real processes: each
//! action's outcomes, the confinement wall, exec's process-group kills, and
//! the workspace bootstrap.

// Tests wait on real processes: they read the clock.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use gateway_proto::gateway::agents::tools::{
    ToolAction, ToolOutcome, MAX_OUTPUT_BYTES, MAX_WRITE_BYTES,
};
use gateway_smol::tools::{perform, prepare_workspace, ToolRuntime};

fn workspace() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    (dir, root)
}

fn run(root: &str, action: ToolAction) -> ToolOutcome {
    perform(root, &action, &AtomicBool::new(false))
}

fn at(root: &str, rel: &str) -> String {
    format!("{root}/{rel}")
}

fn read(root: &str, rel: &str, offset: Option<u64>, limit: Option<u64>) -> ToolOutcome {
    run(
        root,
        ToolAction::Read {
            path: at(root, rel),
            offset,
            limit,
            cursor: None,
        },
    )
}

fn write(root: &str, rel: &str, content: &str) -> ToolOutcome {
    run(
        root,
        ToolAction::Write {
            path: at(root, rel),
            content: content.into(),
        },
    )
}

fn exec(root: &str, command: &str, timeout_ms: u64) -> ToolOutcome {
    run(
        root,
        ToolAction::Exec {
            command: command.into(),
            cwd: root.into(),
            timeout_ms,
        },
    )
}

// ---- read ----------------------------------------------------------------

#[test]
fn read_returns_the_text_and_pages_with_the_reference_note() {
    let (_d, root) = workspace();
    std::fs::write(
        at(&root, "notes.txt"),
        "line one\nline two\nline three\nline four\nline five\n",
    )
    .unwrap();
    let whole = read(&root, "notes.txt", None, None);
    assert!(!whole.is_error);
    assert_eq!(
        whole.text,
        "line one\nline two\nline three\nline four\nline five\n"
    );
    assert_eq!(whole.details["kind"], "text");

    let page = read(&root, "notes.txt", Some(2), Some(2));
    assert!(!page.is_error);
    assert_eq!(
        page.text,
        "line two\nline three\n\n[2 more lines in file. Use offset=4 to continue.]"
    );
    assert_eq!(page.details["kind"], "truncated");
    assert_eq!(page.details["continuation"]["offset"], 4);

    let past = read(&root, "notes.txt", Some(9), None);
    assert_eq!(
        past.text,
        "Offset 9 is beyond end of file (5 lines total). Retry with offset <= 5."
    );
}

#[test]
fn read_caps_a_large_file_and_says_where_to_continue() {
    let (_d, root) = workspace();
    let line = "x".repeat(80);
    let text: String = (0..5000).map(|_| format!("{line}\n")).collect();
    std::fs::write(at(&root, "big.txt"), &text).unwrap();
    let page = read(&root, "big.txt", None, None);
    assert!(!page.is_error);
    assert!(page.text.len() <= gateway_proto::gateway::agents::tools::MAX_READ_BYTES);
    let kept = page.text.lines().filter(|l| *l == line).count();
    assert!(kept > 100, "{kept} lines kept");
    assert!(
        page.text.ends_with(&format!(
            "\n\n[Read output capped at 50KB for this call. Use offset={} to continue.]",
            kept + 1
        )),
        "{}",
        &page.text[page.text.len() - 120..]
    );
    // The note's offset continues exactly after the last line shown.
    let next = read(&root, "big.txt", Some(kept as u64 + 1), Some(1));
    assert!(
        next.text.starts_with(&format!("{line}\n\n[")),
        "{}",
        next.text
    );
}

#[test]
fn read_errors_missing_directory_and_binary() {
    let (_d, root) = workspace();
    let missing = read(&root, "missing.txt", None, None);
    assert!(missing.is_error);
    assert_eq!(missing.text, format!("File not found: {root}/missing.txt."));

    std::fs::create_dir(at(&root, "sub")).unwrap();
    let dir = read(&root, "sub", None, None);
    assert!(dir.is_error);
    assert!(dir.text.contains("sub is a directory"), "{}", dir.text);

    std::fs::write(at(&root, "empty.txt"), "").unwrap();
    assert_eq!(
        read(&root, "empty.txt", None, None).text,
        "File is empty (0 bytes)."
    );
    std::fs::write(at(&root, "blank.txt"), "\n\n").unwrap();
    assert_eq!(
        read(&root, "blank.txt", None, None).text,
        "File contains 2 blank lines."
    );

    std::fs::write(at(&root, "blob.bin"), [0xffu8, 0xfe, 0x00, 0x80, 0x81]).unwrap();
    let binary = read(&root, "blob.bin", None, None);
    assert!(binary.is_error);
    assert!(binary.text.contains("not UTF-8 text"), "{}", binary.text);
}

// ---- confinement ---------------------------------------------------------

#[test]
fn a_symlink_out_of_the_workspace_is_refused_for_every_action() {
    let (_d, root) = workspace();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), at(&root, "escape")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), at(&root, "secret-link"))
        .unwrap();
    // A dangling link whose target is outside: writing through it would
    // create the file outside.
    std::os::unix::fs::symlink(outside.path().join("new.txt"), at(&root, "dangling")).unwrap();

    for outcome in [
        read(&root, "escape/secret.txt", None, None),
        read(&root, "secret-link", None, None),
        write(&root, "escape/planted.txt", "x"),
        write(&root, "dangling", "x"),
        write(&root, "escape/deeper/new/file.txt", "x"),
        run(
            &root,
            ToolAction::Edit {
                path: at(&root, "secret-link"),
                edits: vec![("secret".into(), "changed".into())],
            },
        ),
        run(
            &root,
            ToolAction::List {
                path: at(&root, "escape"),
                limit: 10,
                after: None,
            },
        ),
        run(
            &root,
            ToolAction::Exec {
                command: "pwd".into(),
                cwd: at(&root, "escape"),
                timeout_ms: 5000,
            },
        ),
    ] {
        assert!(outcome.is_error, "{outcome:?}");
        assert!(
            outcome.text.contains("outside the workspace"),
            "{}",
            outcome.text
        );
    }
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(),
        "secret\n"
    );
    assert!(!outside.path().join("planted.txt").exists());
    assert!(!outside.path().join("new.txt").exists());
    assert!(!outside.path().join("deeper").exists());
}

#[test]
fn a_dot_dot_escape_is_refused_and_a_link_inside_is_fine() {
    let (_d, root) = workspace();
    let inner = tempfile::tempdir_in(&root).unwrap();
    let name = inner
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let up = read(&root, &format!("{name}/../../etc/passwd"), None, None);
    assert!(up.is_error);
    assert!(up.text.contains("outside the workspace"), "{}", up.text);
    let up_write = write(&root, "../sibling-of-workspace.txt", "x");
    assert!(up_write.is_error, "{up_write:?}");
    assert!(!Path::new(&root)
        .parent()
        .unwrap()
        .join("sibling-of-workspace.txt")
        .exists());

    std::fs::write(at(&root, "real.txt"), "inside\n").unwrap();
    std::os::unix::fs::symlink(at(&root, "real.txt"), at(&root, "alias.txt")).unwrap();
    let via_link = read(&root, "alias.txt", None, None);
    assert!(!via_link.is_error, "{via_link:?}");
    assert_eq!(via_link.text, "inside\n");
}

// ---- write / edit --------------------------------------------------------

#[test]
fn write_creates_parents_reports_bytes_and_keeps_the_cap() {
    let (_d, root) = workspace();
    let done = write(&root, "sub/new.txt", "hello\nworld\n");
    assert!(!done.is_error, "{done:?}");
    assert_eq!(done.text, "Successfully wrote 12 bytes to sub/new.txt");
    assert_eq!(done.details["created"], true);
    assert_eq!(
        std::fs::read_to_string(at(&root, "sub/new.txt")).unwrap(),
        "hello\nworld\n"
    );

    let same = write(&root, "sub/new.txt", "hello\nworld\n");
    assert_eq!(
        same.text,
        "No changes made to sub/new.txt. The file already has identical content."
    );

    let huge = "a".repeat(MAX_WRITE_BYTES + 1);
    let refused = write(&root, "huge.txt", &huge);
    assert!(refused.is_error);
    assert!(!Path::new(&at(&root, "huge.txt")).exists());
    let at_cap = write(&root, "cap.txt", &huge[..MAX_WRITE_BYTES]);
    assert!(!at_cap.is_error, "{}", at_cap.text);
}

#[test]
fn edit_replaces_exactly_one_match() {
    let (_d, root) = workspace();
    std::fs::write(
        at(&root, "notes.txt"),
        "line one\r\nline two\r\nline two\r\n",
    )
    .unwrap();
    let edit = |old: &str, new: &str| {
        run(
            &root,
            ToolAction::Edit {
                path: at(&root, "notes.txt"),
                edits: vec![(old.into(), new.into())],
            },
        )
    };
    let several = edit("line two", "LINE 2");
    assert!(several.is_error);
    assert_eq!(
        several.text,
        "Found 2 occurrences of the text in notes.txt. The text must be unique. Please provide more context to make it unique."
    );
    let missing = edit("line three", "x");
    assert!(missing.is_error);
    assert!(missing.text.starts_with(
        "Could not find the exact text in notes.txt. The old text must match exactly including all whitespace and newlines.\nCurrent file contents:\nline one\n"
    ), "{}", missing.text);

    let done = edit("line one\nline two", "LINE 1\nLINE 2");
    assert!(!done.is_error, "{done:?}");
    assert_eq!(done.text, "Successfully replaced 1 block(s) in notes.txt.");
    // The file keeps its CRLF line ends.
    assert_eq!(
        std::fs::read_to_string(at(&root, "notes.txt")).unwrap(),
        "LINE 1\r\nLINE 2\r\nline two\r\n"
    );

    // Several edits apply together, against the file as it was.
    std::fs::write(at(&root, "multi.txt"), "alpha beta gamma").unwrap();
    let both = run(
        &root,
        ToolAction::Edit {
            path: at(&root, "multi.txt"),
            edits: vec![("gamma".into(), "G".into()), ("alpha".into(), "A".into())],
        },
    );
    assert_eq!(both.text, "Successfully replaced 2 block(s) in multi.txt.");
    assert_eq!(
        std::fs::read_to_string(at(&root, "multi.txt")).unwrap(),
        "A beta G"
    );
    let overlapping = run(
        &root,
        ToolAction::Edit {
            path: at(&root, "multi.txt"),
            edits: vec![("A beta".into(), "x".into()), ("beta G".into(), "y".into())],
        },
    );
    assert!(overlapping.is_error);
    assert!(overlapping.text.contains("overlap"), "{}", overlapping.text);
    assert_eq!(
        std::fs::read_to_string(at(&root, "multi.txt")).unwrap(),
        "A beta G"
    );

    let absent = run(
        &root,
        ToolAction::Edit {
            path: at(&root, "absent.txt"),
            edits: vec![("a".into(), "b".into())],
        },
    );
    assert_eq!(
        absent.text,
        "Could not edit file: absent.txt. Error code: ENOENT."
    );
}

// ---- list ----------------------------------------------------------------

#[test]
fn list_sorts_marks_directories_includes_dotfiles_and_limits() {
    let (_d, root) = workspace();
    for name in ["b.txt", ".hidden", "A.md"] {
        std::fs::write(at(&root, name), "x").unwrap();
    }
    std::fs::create_dir(at(&root, "dir")).unwrap();
    std::os::unix::fs::symlink(at(&root, "dir"), at(&root, "link")).unwrap();
    let all = run(
        &root,
        ToolAction::List {
            path: root.clone(),
            limit: 500,
            after: None,
        },
    );
    assert!(!all.is_error, "{all:?}");
    assert_eq!(
        all.text,
        "\".hidden\"\n\"A.md\"\n\"b.txt\"\n\"dir/\"\n\"link\""
    );

    let two = run(
        &root,
        ToolAction::List {
            path: root.clone(),
            limit: 2,
            after: None,
        },
    );
    assert!(
        two.text
            .starts_with("\".hidden\"\n\"A.md\"\n\n[More entries"),
        "{}",
        two.text
    );

    // The next page starts after the last name shown.
    let next = run(
        &root,
        ToolAction::List {
            path: root.clone(),
            limit: 2,
            after: Some("A.md".into()),
        },
    );
    assert!(
        next.text.starts_with("\"b.txt\"\n\"dir/\""),
        "{}",
        next.text
    );
    assert!(two.text.contains("Use after=\"A.md\""), "{}", two.text);

    let empty = run(
        &root,
        ToolAction::List {
            path: at(&root, "dir"),
            limit: 10,
            after: None,
        },
    );
    assert_eq!(empty.text, "(empty directory)");
    let missing = run(
        &root,
        ToolAction::List {
            path: at(&root, "nope"),
            limit: 10,
            after: None,
        },
    );
    assert!(missing.is_error);
    assert!(missing.text.starts_with("ENOENT"), "{}", missing.text);
}

// ---- exec ----------------------------------------------------------------

#[test]
fn exec_combines_output_and_notes_a_failed_exit() {
    let (_d, root) = workspace();
    let failed = exec(&root, "echo out; echo err >&2; exit 3", 10_000);
    assert!(!failed.is_error, "{failed:?}");
    assert_eq!(failed.text, "out\nerr\n\n(Command exited with code 3)");
    assert_eq!(failed.details["exitCode"], 3);
    assert_eq!(failed.details["timedOut"], false);
    assert!(failed.details["durationMs"].is_u64());

    let nowhere = run(
        &root,
        ToolAction::Exec {
            command: "pwd".into(),
            cwd: at(&root, "missing-dir"),
            timeout_ms: 10_000,
        },
    );
    assert!(nowhere.is_error);
    assert!(nowhere.text.contains("does not exist"), "{}", nowhere.text);

    let ok = exec(&root, "pwd; echo ok", 10_000);
    let real_root = std::fs::canonicalize(&root).unwrap();
    assert_eq!(ok.text, format!("{}\nok", real_root.display()));
    assert_eq!(ok.details["exitCode"], 0);

    let silent = exec(&root, "true", 10_000);
    assert_eq!(silent.text, "(no output)");
    let not_found = exec(&root, "no-such-command-here", 10_000);
    assert!(not_found.is_error);
    assert!(
        not_found.text.ends_with("Command not found"),
        "{}",
        not_found.text
    );
}

#[test]
fn exec_keeps_the_tail_of_long_output() {
    let (_d, root) = workspace();
    let out = exec(&root, "seq 1 100000; echo last-line", 30_000);
    assert!(!out.is_error);
    assert!(
        out.text.starts_with("[earlier output was discarded"),
        "{}",
        &out.text[..80]
    );
    assert!(out.text.ends_with("100000\nlast-line"));
    assert!(out.text.len() <= MAX_OUTPUT_BYTES + 100);
}

#[test]
fn exec_gets_a_reduced_environment() {
    // Set for this test process only; exec must not pass it on.
    std::env::set_var("OPENCLAW_GATEWAY_TOKEN", "gateway-secret-token");
    std::env::set_var("OPENAI_API_KEY", "sk-test-not-real");
    let (_d, root) = workspace();
    let env = exec(&root, "env", 10_000);
    assert!(!env.is_error);
    assert!(!env.text.contains("gateway-secret-token"), "{}", env.text);
    assert!(!env.text.contains("OPENCLAW_GATEWAY_TOKEN"), "{}", env.text);
    assert!(!env.text.contains("OPENAI_API_KEY"), "{}", env.text);
    assert!(
        env.text.lines().any(|l| l.starts_with("PATH=")),
        "{}",
        env.text
    );
    assert!(
        env.text.lines().any(|l| l == "OPENCLAW_SHELL=exec"),
        "{}",
        env.text
    );
    let stdin = exec(&root, "cat; echo done", 10_000);
    assert_eq!(stdin.text, "done");
}

/// Whether `pid` is gone (or a zombie waiting for a parent that never reaps).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn wait_for_pid_file(path: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "the command never wrote its pid");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !is_gone(pid) {
        assert!(Instant::now() < deadline, "process {pid} survived");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exec_times_out_and_kills_the_whole_group() {
    let (_d, root) = workspace();
    let started = Instant::now();
    // SIGTERM is ignored (and the ignoring inherited): SIGKILL must follow.
    let out = exec(
        &root,
        "trap '' TERM; echo started; sleep 30 & echo $! > bg.pid; sleep 30",
        500,
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(out.is_error);
    assert!(
        out.text
            .starts_with("started\n\nCommand timed out after 0.5 seconds."),
        "{}",
        out.text
    );
    assert_eq!(out.details["timedOut"], true);
    assert_eq!(out.details["exitReason"], "overall-timeout");
    let pid = wait_for_pid_file(&at(&root, "bg.pid"));
    wait_gone(pid);
}

#[test]
fn cancel_kills_the_command_and_its_grandchildren() {
    let (_d, root) = workspace();
    let runtime = ToolRuntime::default();
    let work = runtime.run(
        7,
        root.clone(),
        ToolAction::Exec {
            command: "sleep 30 & echo $! > bg.pid; sleep 30".into(),
            cwd: root.clone(),
            timeout_ms: 60_000,
        },
    );
    let task = std::thread::spawn(move || smol::block_on(work));
    let pid = wait_for_pid_file(&at(&root, "bg.pid"));
    assert!(!is_gone(pid));
    let started = Instant::now();
    runtime.cancel(7);
    let outcome = task.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(outcome.is_error);
    assert!(outcome.text.contains("aborted"), "{}", outcome.text);
    wait_gone(pid);
    assert_eq!(runtime.admitted(), 0);
    // A finished or unknown token: nothing happens.
    runtime.cancel(7);
    runtime.cancel(12345);
}

#[test]
fn actions_past_the_running_and_waiting_bounds_are_refused_at_once() {
    let (_d, root) = workspace();
    let runtime = ToolRuntime::new(1, 1);
    let sleeper = |token: u64| {
        runtime.run(
            token,
            root.clone(),
            ToolAction::Exec {
                command: format!("touch started.{token}; sleep 30"),
                cwd: root.clone(),
                timeout_ms: 60_000,
            },
        )
    };
    let first = sleeper(1);
    let second = sleeper(2);
    let third = smol::block_on(sleeper(3));
    assert!(third.is_error);
    assert!(
        third.text.contains("Too many tool actions"),
        "{}",
        third.text
    );
    assert_eq!(runtime.admitted(), 2);
    // The first takes the one running slot before the second is polled at
    // all, so which one waits never depends on thread scheduling.
    let first = std::thread::spawn(move || smol::block_on(first));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::path::Path::new(&root).join("started.1").exists() {
        assert!(std::time::Instant::now() < deadline, "the first never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = std::thread::spawn(move || smol::block_on(second));
    std::thread::sleep(Duration::from_millis(200));
    // The waiting one first: it must not start once the running one ends.
    runtime.cancel(2);
    runtime.cancel(1);
    assert!(first.join().unwrap().is_error);
    // The waiting one never started its command.
    assert_eq!(second.join().unwrap().text, "Operation aborted");
    assert!(!std::path::Path::new(&root).join("started.2").exists());
    assert_eq!(runtime.admitted(), 0);
}

// ---- workspace -----------------------------------------------------------

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_new_workspace_is_created_private_and_seeded() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("state/workspace");
    let wanted = names(&[
        "AGENTS.md",
        "SOUL.md",
        "IDENTITY.md",
        "USER.md",
        "BOOTSTRAP.md",
    ]);
    let files = prepare_workspace(dir.to_str().unwrap(), &wanted).unwrap();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(files.len(), 5);
    for file in &files[..4] {
        let content = file.content.as_deref().expect("seeded");
        assert!(
            content.starts_with(&format!("# {}", file.name)),
            "{content}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(&file.name)).unwrap(),
            content
        );
    }
    // No template of ours for it: not created, reported missing.
    assert_eq!(files[4].name, "BOOTSTRAP.md");
    assert_eq!(files[4].content, None);
}

#[test]
fn an_existing_workspace_is_never_seeded_or_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("SOUL.md"), "my own soul").unwrap();
    let long = "é".repeat(30_000);
    std::fs::write(dir.path().join("USER.md"), &long).unwrap();
    let wanted = names(&["AGENTS.md", "SOUL.md", "USER.md"]);
    let files = prepare_workspace(dir.path().to_str().unwrap(), &wanted).unwrap();
    assert_eq!(files[0].content, None);
    assert!(!dir.path().join("AGENTS.md").exists());
    assert_eq!(files[1].content.as_deref(), Some("my own soul"));
    let cut = files[2].content.as_deref().unwrap();
    assert_eq!(
        cut.chars().count(),
        gateway_proto::gateway::agents::tools::MAX_BOOTSTRAP_FILE_CHARS
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("USER.md")).unwrap(),
        long
    );

    let bad = prepare_workspace(dir.path().to_str().unwrap(), &names(&["../x"]));
    assert!(bad.is_err());
}

#[test]
fn read_with_a_cursor_starts_inside_the_line() {
    let (_d, root) = workspace();
    std::fs::write(at(&root, "long.txt"), "0123456789\nnext\n").unwrap();
    let from_five = run(
        &root,
        ToolAction::Read {
            path: at(&root, "long.txt"),
            offset: Some(1),
            limit: Some(1),
            cursor: Some(5),
        },
    );
    assert!(!from_five.is_error, "{from_five:?}");
    assert!(from_five.text.starts_with("56789"), "{}", from_five.text);
}

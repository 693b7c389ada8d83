//! The user's desktop, as the CLI reaches it: a browser to open a URL in
//! and a clipboard to leave one on, each through the platform's own tool
//! (`open`/`xdg-open`, `pbcopy`/`xclip`/`wl-copy`), as the reference picks
//! them. Every helper process is bounded in time; none is required.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The command that opens a URL here, as the reference picks it: `open` on
/// macOS; on Linux `xdg-open`, only with a display (and never over SSH
/// without one).
pub fn browser_command() -> Option<String> {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    let display = set("DISPLAY") || set("WAYLAND_DISPLAY");
    if cfg!(target_os = "macos") {
        return on_path("open").then(|| "open".to_owned());
    }
    if !display {
        return None;
    }
    on_path("xdg-open").then(|| "xdg-open".to_owned())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

pub fn open_url(opener: &str, url: &str) -> bool {
    run_with_timeout(Command::new(opener).arg(url), None)
}

/// The first clipboard tool that takes the text.
pub fn copy_to_clipboard(text: &str) -> bool {
    let tools: [&[&str]; 3] = [
        &["pbcopy"],
        &["xclip", "-selection", "clipboard"],
        &["wl-copy"],
    ];
    tools.iter().any(|argv| {
        on_path(argv[0]) && run_with_timeout(Command::new(argv[0]).args(&argv[1..]), Some(text))
    })
}

/// Run a helper for at most 5 s (3 s with input, as the reference):
/// success is exit code 0.
fn run_with_timeout(command: &mut Command, input: Option<&str>) -> bool {
    let limit = Duration::from_secs(if input.is_some() { 3 } else { 5 });
    let child = command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(text.as_bytes());
    }
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

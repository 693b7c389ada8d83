//! Logs: human lines on the console (env_logger, stdout) and JSON lines in the
//! file that `logs.tail` serves (`/tmp/openclaw/openclaw-YYYY-MM-DD.log`, or
//! `OPENCLAW_LOG_FILE`). `--verbose` adds a debug line per frame to both.
//! `RUST_LOG` can still change the console's levels.

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use gateway_smol::logfile::{self, LogFile};
use log::{LevelFilter, Log, Metadata, Record};

struct Logger {
    console: env_logger::Logger,
    file: Option<LogFile>,
    file_level: LevelFilter,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.console.enabled(metadata)
            || (self.file.is_some() && metadata.level() <= self.file_level)
    }

    fn log(&self, record: &Record) {
        if self.console.matches(record) {
            self.console.log(record);
        }
        if let Some(file) = &self.file {
            if record.level() <= self.file_level && is_ours(record.target()) {
                let level = record.level().as_str().to_ascii_lowercase();
                file.write(
                    SystemTime::now(),
                    &level,
                    record.target(),
                    &record.args().to_string(),
                );
            }
        }
    }

    fn flush(&self) {
        self.console.flush();
    }
}

/// Only the gateway's own subsystems go to the file (not dependencies' chatter).
fn is_ours(target: &str) -> bool {
    target == "gateway" || target.starts_with("gateway/") || target.starts_with("gateway_")
}

/// The log file path: `OPENCLAW_LOG_FILE` or the reference's daily file.
pub fn file_path() -> PathBuf {
    std::env::var_os("OPENCLAW_LOG_FILE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| logfile::default_path(SystemTime::now()))
}

/// Install the logger; returns the file path if the file could be opened
/// (a gateway without a writable log file still runs, and says so).
pub fn init(verbose: bool) -> Option<PathBuf> {
    let level = if verbose {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let console = env_logger::Builder::new()
        .filter_level(LevelFilter::Warn)
        .filter_module("gateway", level)
        .filter_module("gateway/ws", level)
        .filter_module("gateway_smol", level)
        .filter_module("gateway_cli", level)
        .parse_default_env()
        .target(env_logger::Target::Stdout)
        .format(|buf, record| {
            // Warnings and errors say so; an info line stays plain.
            let level = match record.level() {
                log::Level::Error => "ERROR ",
                log::Level::Warn => "WARN ",
                _ => "",
            };
            writeln!(
                buf,
                "{} [{}] {level}{}",
                logfile::timestamp(SystemTime::now()),
                record.target(),
                record.args()
            )
        })
        .build();
    let path = file_path();
    let (file, opened) = match LogFile::open(&path) {
        Ok(file) => (Some(file), Some(path)),
        Err(e) => {
            eprintln!("warning: cannot open log file {}: {e}", path.display());
            (None, None)
        }
    };
    let max = console.filter().max(if file.is_some() {
        level
    } else {
        LevelFilter::Off
    });
    let logger = Logger {
        console,
        file,
        file_level: level,
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max);
    }
    opened
}

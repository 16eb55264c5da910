//! Standard output that a reader leaving early cannot turn into a panic.
//!
//! `println!` panics when a write to stdout fails, and a reader that exits
//! before the end (`sluice verify --data DIR | head -1`) makes every later
//! write fail with EPIPE: Rust ignores SIGPIPE, so the signal does not end
//! the process. Every line the CLI prints goes through [`outln!`] instead.
//! After a broken pipe the rest of the output goes nowhere, the command
//! finishes what it was doing (a run still syncs and removes its temporary
//! directory), and `sluice` exits 0 without a word, as ripgrep does: the
//! reader took what it wanted. Any other write error (a full disk behind a
//! redirect) is reported at exit, `sluice: error: writing standard output:
//! …`, with status 1.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The first write error, after which nothing more is written.
static FAILURE: Mutex<Option<io::Error>> = Mutex::new(None);

fn failure() -> MutexGuard<'static, Option<io::Error>> {
    FAILURE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Writes one line to stdout, unless an earlier write failed.
pub fn line(args: fmt::Arguments<'_>) {
    let mut failure = failure();
    if failure.is_none() {
        if let Err(error) = writeln!(io::stdout().lock(), "{args}") {
            *failure = Some(error);
        }
    }
}

/// Flushes stdout and says how the output went: `Ok` when it was all
/// written or when the reader left (a broken pipe), `Err` naming any other
/// write error.
pub fn finish() -> Result<(), String> {
    let mut failure = failure();
    if failure.is_none() {
        if let Err(error) = io::stdout().lock().flush() {
            *failure = Some(error);
        }
    }
    match failure.take() {
        None => Ok(()),
        Some(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Some(error) => Err(format!("writing standard output: {error}")),
    }
}

/// `println!` through [`line`]: never panics on a closed stdout.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// `eprintln!` that ignores a closed stderr: a warning or an error line
/// that cannot be written is no reason to panic.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
pub(crate) use errln;

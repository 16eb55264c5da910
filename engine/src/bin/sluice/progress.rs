//! Progress bars of `sluice run`, on stderr: signing ahead, then committing
//! blocks.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use sluice_engine::pipeline::{CommitError, CommitSink, CommittedBlock};

/// A progress bar on a terminal; nothing when piped or with `--json`, so
/// scripted output stays clean.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar towards `txs` signed transactions, for signing ahead.
    pub fn signing(txs: u64, json: bool) -> Progress {
        if json || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let template = "{spinner} signing {len} transactions [{bar:40}] {pos}/{len} {per_sec} ETA {eta}";
        let style = ProgressStyle::with_template(template).expect("static progress template is valid");
        let bar = ProgressBar::new(txs);
        bar.set_style(style.progress_chars("=> "));
        Progress(Some(bar))
    }

    /// A bar towards `blocks`, or a counter when the total is unknown.
    pub fn committing(blocks: Option<u64>, json: bool) -> Progress {
        if json || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let (bar, template) = match blocks {
            Some(blocks) => {
                (ProgressBar::new(blocks), "{spinner} committing blocks [{bar:40}] {pos}/{len} {per_sec} ETA {eta}")
            }
            None => (ProgressBar::no_length(), "{spinner} committing blocks {pos} {per_sec}, {elapsed} elapsed"),
        };
        let style = ProgressStyle::with_template(template).expect("static progress template is valid");
        bar.set_style(style.progress_chars("=> "));
        Progress(Some(bar))
    }

    fn tick(&self) {
        self.advance(1);
    }

    pub fn advance(&self, by: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(by);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Counts committed blocks on the progress bar, then hands them on; notes
/// when the first one was committed.
pub struct ProgressSink<'a, S: CommitSink> {
    pub inner: S,
    pub progress: &'a Progress,
    pub first_commit: Option<Instant>,
}

impl<S: CommitSink> CommitSink for ProgressSink<'_, S> {
    fn commit(&mut self, block: &CommittedBlock) -> Result<(), CommitError> {
        self.inner.commit(block)?;
        self.first_commit.get_or_insert_with(Instant::now);
        self.progress.tick();
        Ok(())
    }
}

//! Resident memory of this process, sampled while a run goes on.
//!
//! Linux only: the figures come from `/proc/self/status`, which splits the
//! resident set into anonymous memory (the heap, stacks) and file pages
//! (the binary, and the pages of the commit log's mapped segment that this
//! process touched). Splitting matters because the log's file pages come
//! and go with the active segment, while a leak shows up in the anonymous
//! part. Elsewhere every figure is `None` and a run goes on without them.
//!
//! [`RssSampler`] reads the figures on its own thread every
//! [`RSS_SAMPLE_INTERVAL_MS`] and keeps a series of at most
//! [`RSS_SERIES_POINTS_MAX`] points: when the series is full, every other
//! point is dropped and the spacing doubles, so a run of any length gets a
//! bounded, evenly spaced series.

use std::fmt;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use crate::limits::{RSS_SAMPLE_INTERVAL_MS, RSS_SERIES_POINTS_MAX};
use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

/// Samples between series points at first (one point a second).
const SERIES_EVERY_SAMPLES_INITIAL: u64 = 10;

const STATUS_PATH: &str = "/proc/self/status";

/// One reading of the resident set, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rss {
    /// `VmRSS`: everything resident.
    pub total_bytes: u64,
    /// `RssAnon`: heap, stacks and other anonymous pages.
    pub anon_bytes: u64,
    /// `RssFile`: resident pages of mapped files.
    pub file_bytes: u64,
}

impl Rss {
    /// This process's resident set now; `None` where `/proc` is missing or
    /// unreadable.
    pub fn read() -> Option<Rss> {
        Rss::parse_status(&std::fs::read_to_string(STATUS_PATH).ok()?)
    }

    /// Reads `VmRSS`, `RssAnon` and `RssFile` (in kB) out of the text of a
    /// `/proc/PID/status` file. `None` unless all three are there.
    pub fn parse_status(text: &str) -> Option<Rss> {
        let field = |name: &str| {
            let line = text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))?;
            let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
            kib.checked_mul(1024)
        };
        Some(Rss { total_bytes: field("VmRSS")?, anon_bytes: field("RssAnon")?, file_bytes: field("RssFile")? })
    }

    /// Each field's own maximum (they may have peaked at different times).
    fn max_each(self, other: Rss) -> Rss {
        Rss {
            total_bytes: self.total_bytes.max(other.total_bytes),
            anon_bytes: self.anon_bytes.max(other.anon_bytes),
            file_bytes: self.file_bytes.max(other.file_bytes),
        }
    }
}

/// One point of the series: a reading `t_s` seconds after the sampler started.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RssPoint {
    pub t_s: f64,
    pub rss: Rss,
}

/// What a sampler saw between `start` and `finish`. Every field is `None`
/// (and the series empty) where the figures cannot be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryReport {
    pub start: Option<Rss>,
    /// Each field's maximum over every sample, start and end included.
    pub max: Option<Rss>,
    pub end: Option<Rss>,
    /// At most `RSS_SERIES_POINTS_MAX` points, evenly spaced, then the end.
    pub series: Vec<RssPoint>,
    /// Readings taken, for the reader to judge how fine `max` is.
    pub samples: u64,
}

/// The series and maximum being built on the sampler thread.
struct Recorder {
    report: MemoryReport,
    started: Instant,
    every: u64,
}

impl Recorder {
    fn new(started: Instant) -> Recorder {
        Recorder { report: MemoryReport::default(), started, every: SERIES_EVERY_SAMPLES_INITIAL }
    }

    fn record(&mut self, rss: Option<Rss>) {
        let Some(rss) = rss else { return };
        let index = self.report.samples;
        self.report.samples += 1;
        self.report.start.get_or_insert(rss);
        self.report.max = Some(self.report.max.map_or(rss, |max| max.max_each(rss)));
        if index.is_multiple_of(self.every) {
            if self.report.series.len() == RSS_SERIES_POINTS_MAX {
                self.thin();
            }
            // Thinning may have made this index fall between points.
            if index.is_multiple_of(self.every) {
                self.report.series.push(RssPoint { t_s: self.started.elapsed().as_secs_f64(), rss });
            }
        }
    }

    /// Keeps every other point (those at multiples of twice the spacing).
    fn thin(&mut self) {
        let mut position = 0;
        self.report.series.retain(|_| {
            position += 1;
            position % 2 == 1
        });
        self.every *= 2;
    }

    /// The final reading: recorded as `end` and always as the last point.
    fn finish(mut self, rss: Option<Rss>) -> MemoryReport {
        if let Some(rss) = rss {
            self.report.samples += 1;
            self.report.start.get_or_insert(rss);
            self.report.max = Some(self.report.max.map_or(rss, |max| max.max_each(rss)));
            if self.report.series.len() == RSS_SERIES_POINTS_MAX {
                self.report.series.pop();
            }
            self.report.series.push(RssPoint { t_s: self.started.elapsed().as_secs_f64(), rss });
        }
        self.report.end = rss;
        self.report
    }
}

/// The memory sampler's thread could not be started.
#[derive(Debug)]
pub struct SamplerStartError(pub std::io::Error);

impl fmt::Display for SamplerStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot start the memory sampler thread: {}", self.0)
    }
}

impl std::error::Error for SamplerStartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Samples this process's resident set on a background thread until
/// [`RssSampler::finish`].
pub struct RssSampler {
    stop: Sender<()>,
    handle: JoinHandle<MemoryReport>,
}

impl RssSampler {
    /// Takes the first reading now, then one every `interval`.
    pub fn start(interval: Duration) -> Result<RssSampler, SamplerStartError> {
        RssSampler::start_with(interval, Rss::read)
    }

    fn start_with(interval: Duration, read: fn() -> Option<Rss>) -> Result<RssSampler, SamplerStartError> {
        let mut recorder = Recorder::new(Instant::now());
        recorder.record(read());
        let (stop, stopped) = bounded::<()>(1);
        let handle = std::thread::Builder::new()
            .name("sluice-rss".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => recorder.record(read()),
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return recorder.finish(read()),
                }
            })
            .map_err(SamplerStartError)?;
        Ok(RssSampler { stop, handle })
    }

    /// Takes the last reading and returns everything seen.
    pub fn finish(self) -> MemoryReport {
        let _ = self.stop.send(());
        // The sampler thread only reads a file and pushes to a bounded
        // vector; should it panic anyway, the run still reports, without
        // memory figures.
        self.handle.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tsluice\nVmPeak:\t  900 kB\nVmRSS:\t  5120 kB\nRssAnon:\t  4096 kB\n\
                          RssFile:\t 1000 kB\nRssShmem:\t 24 kB\nThreads:\t3\n";

    #[test]
    fn parses_the_resident_set_out_of_proc_status() {
        let rss = Rss::parse_status(STATUS).unwrap();
        assert_eq!(rss, Rss { total_bytes: 5120 * 1024, anon_bytes: 4096 * 1024, file_bytes: 1000 * 1024 });
        assert_eq!(Rss::parse_status("VmRSS:\t 1 kB\n"), None, "every field is needed");
        assert_eq!(Rss::parse_status("VmRSS: x kB\nRssAnon: 1 kB\nRssFile: 1 kB\n"), None);
        assert_eq!(Rss::parse_status(""), None);
    }

    #[test]
    fn the_series_stays_bounded_and_evenly_spaced() {
        let mut recorder = Recorder::new(Instant::now());
        let reading = |i: u64| Some(Rss { total_bytes: i, anon_bytes: 1000 - i % 1000, file_bytes: 0 });
        for i in 0..10_000u64 {
            recorder.record(reading(i));
        }
        let report = recorder.finish(reading(5));
        assert!(report.series.len() <= RSS_SERIES_POINTS_MAX, "{}", report.series.len());
        assert!(report.series.len() > RSS_SERIES_POINTS_MAX / 4);
        let totals: Vec<u64> = report.series.iter().map(|p| p.rss.total_bytes).collect();
        let step = totals[1] - totals[0];
        assert!(totals.windows(2).take(totals.len() - 2).all(|w| w[1] - w[0] == step), "{totals:?}");
        assert_eq!(report.start.unwrap().total_bytes, 0);
        assert_eq!(report.max.unwrap(), Rss { total_bytes: 9999, anon_bytes: 1000, file_bytes: 0 });
        assert_eq!(report.end.unwrap().total_bytes, 5);
        assert_eq!(report.series.last().unwrap().rss.total_bytes, 5, "the end is the last point");
        assert_eq!(report.samples, 10_001);
    }

    #[test]
    fn without_proc_the_report_is_empty() {
        let sampler = RssSampler::start_with(Duration::from_millis(1), || None).unwrap();
        let report = sampler.finish();
        assert_eq!(report, MemoryReport::default());
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn samples_this_process() {
        let sampler = RssSampler::start(Duration::from_millis(1)).unwrap();
        let report = sampler.finish();
        let (start, max, end) = (report.start.unwrap(), report.max.unwrap(), report.end.unwrap());
        assert!(start.total_bytes > 0 && max.total_bytes >= end.total_bytes.max(start.total_bytes));
        assert!(!report.series.is_empty());
    }
}

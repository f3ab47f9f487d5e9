//! Progress of a job: counters the job updates, an [`Observer`] that watches them, and a
//! reporter that shows them as a bar on a terminal or as plain periodic lines in a log.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cqlbulk_ring::{RING_SIZE, TokenRange};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use prometheus::core::Metric as _;

/// What a job's work is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Token-range splits of the ring (count, unload, verify): done is the ring's share.
    Ring,
    /// Source units (files, Iceberg data files) read in order (load): done is their share.
    Units,
}

/// Counters shared by the workers of one job: what the progress display shows, and the
/// rest of what metrics export and the summary records ([`Figures`]).
pub struct Progress {
    work: Work,
    started: Instant,
    rows_read: AtomicU64,
    rows_written: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    /// Tokens of finished splits; the whole ring is `u64::MAX` tokens, so this cannot overflow.
    tokens_done: AtomicU64,
    splits_done: AtomicU64,
    splits_failed: AtomicU64,
    /// Splits (or units) an earlier attempt finished, when the job resumes one.
    splits_resumed: AtomicU64,
    splits_total: u64,
    retries: AtomicU64,
    requests_ok: AtomicU64,
    requests_failed: AtomicU64,
    in_flight: AtomicI64,
    /// Seconds per request to the cluster, successful or not.
    latency: prometheus::Histogram,
    bad_records: AtomicU64,
}

/// Request latency buckets, in seconds: from a fast page to a timed-out write.
const LATENCY_BUCKETS: [f64; 14] =
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

/// A job's totals, for metrics and `summary.json`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    pub rows_read: u64,
    pub rows_written: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub splits_total: u64,
    pub splits_done: u64,
    pub splits_failed: u64,
    pub splits_resumed: u64,
    pub retries: u64,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub requests_in_flight: i64,
    /// Request latency: mean, and the upper bounds of the buckets holding the 50th and
    /// 99th percentiles (seconds).
    pub request_seconds_mean: f64,
    pub request_seconds_p50: f64,
    pub request_seconds_p99: f64,
    pub bad_records: u64,
    pub elapsed_seconds: f64,
}

/// A moment's reading of [`Progress`].
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    pub work: Work,
    pub rows: u64,
    pub bytes: u64,
    /// The share of the work done, 0 to 1: of the ring, or of the units.
    pub fraction: f64,
    pub splits_done: u64,
    pub splits_total: u64,
    pub retries: u64,
    pub elapsed: Duration,
}

impl Snapshot {
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }

    /// `N rows, N rows/s` and, when bytes were written, `N MiB`.
    pub fn describe(&self) -> String {
        let mut text = format!("{} rows, {} rows/s", self.rows, self.rows_per_second() as u64);
        if self.bytes > 0 {
            text.push_str(&format!(", {:.1} MiB", self.bytes as f64 / (1024.0 * 1024.0)));
        }
        text
    }

    /// Time left if the rest of the ring goes as fast as the part done.
    pub fn eta(&self) -> Option<Duration> {
        (self.fraction > 0.0).then(|| self.elapsed.mul_f64((1.0 - self.fraction) / self.fraction))
    }

    /// `of ring` or `of files`, after a percentage.
    fn of_what(&self) -> &'static str {
        match self.work {
            Work::Ring => "of ring",
            Work::Units => "of input",
        }
    }
}

impl Progress {
    /// Counters for `splits_total` splits (or units) of `work`.
    pub fn new(work: Work, splits_total: usize) -> Progress {
        let latency = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new(
                "cqlbulk_request_duration_seconds",
                "Time per request to Cassandra (a page read or a write), successful or not.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("valid histogram options");
        Progress {
            work,
            started: Instant::now(),
            rows_read: AtomicU64::new(0),
            rows_written: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            tokens_done: AtomicU64::new(0),
            splits_done: AtomicU64::new(0),
            splits_failed: AtomicU64::new(0),
            splits_resumed: AtomicU64::new(0),
            splits_total: splits_total as u64,
            retries: AtomicU64::new(0),
            requests_ok: AtomicU64::new(0),
            requests_failed: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            latency,
            bad_records: AtomicU64::new(0),
        }
    }

    /// Rows (and their bytes, where known) read: from Cassandra by a scan, from the source
    /// by a load.
    pub fn read(&self, rows: u64, bytes: u64) {
        self.rows_read.fetch_add(rows, Ordering::Relaxed);
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Rows (and bytes, where known) written: to the output by an unload, to Cassandra by a
    /// load.
    pub fn written(&self, rows: u64, bytes: u64) {
        self.rows_written.fetch_add(rows, Ordering::Relaxed);
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A request to the cluster begins; give the result to [`Progress::request_finished`].
    pub fn request_started(&self) -> Instant {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Instant::now()
    }

    pub fn request_finished(&self, started: Instant, ok: bool) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.latency.observe(started.elapsed().as_secs_f64());
        let counter = if ok { &self.requests_ok } else { &self.requests_failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn split_failed(&self) {
        self.splits_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// The job resumes an earlier attempt that finished `splits` splits (or units).
    pub fn resumed(&self, splits: usize) {
        self.splits_resumed.store(splits as u64, Ordering::Relaxed);
    }

    pub fn bad_records(&self, records: u64) {
        self.bad_records.fetch_add(records, Ordering::Relaxed);
    }

    /// The request latency histogram, for exporters.
    pub fn latency(&self) -> &prometheus::Histogram {
        &self.latency
    }

    /// Every figure, at this moment.
    pub fn figures(&self) -> Figures {
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let latency = self.latency.metric();
        let histogram = latency.get_histogram();
        let total = histogram.get_sample_count();
        let quantile = |q: f64| {
            let wanted = (total as f64 * q).ceil() as u64;
            histogram
                .get_bucket()
                .iter()
                .find(|b| b.cumulative_count() >= wanted.max(1))
                .map_or(f64::INFINITY, |b| b.upper_bound())
        };
        Figures {
            rows_read: count(&self.rows_read),
            rows_written: count(&self.rows_written),
            bytes_read: count(&self.bytes_read),
            bytes_written: count(&self.bytes_written),
            splits_total: self.splits_total,
            splits_done: count(&self.splits_done),
            splits_failed: count(&self.splits_failed),
            splits_resumed: count(&self.splits_resumed),
            retries: count(&self.retries),
            requests_ok: count(&self.requests_ok),
            requests_failed: count(&self.requests_failed),
            requests_in_flight: self.in_flight.load(Ordering::Relaxed),
            request_seconds_mean: if total == 0 { 0.0 } else { histogram.get_sample_sum() / total as f64 },
            request_seconds_p50: if total == 0 { 0.0 } else { quantile(0.5) },
            request_seconds_p99: if total == 0 { 0.0 } else { quantile(0.99) },
            bad_records: count(&self.bad_records),
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
        }
    }

    pub fn split_done(&self, range: &TokenRange) {
        self.tokens_done.fetch_add(range.size(), Ordering::Relaxed);
        self.splits_done.fetch_add(1, Ordering::Relaxed);
    }

    /// The first `units` units are finished (units are read in order).
    pub fn units_done(&self, units: usize) {
        self.splits_done.fetch_max(units as u64, Ordering::Relaxed);
    }

    pub fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let splits_done = self.splits_done.load(Ordering::Relaxed);
        let fraction = match self.work {
            Work::Ring => self.tokens_done.load(Ordering::Relaxed) as f64 / RING_SIZE as f64,
            Work::Units => splits_done as f64 / self.splits_total.max(1) as f64,
        };
        Snapshot {
            work: self.work,
            // The figure a job is about: rows read for a scan, rows written for a load.
            rows: match self.work {
                Work::Ring => self.rows_read.load(Ordering::Relaxed),
                Work::Units => self.rows_written.load(Ordering::Relaxed),
            },
            bytes: self.bytes_written.load(Ordering::Relaxed),
            fraction,
            splits_done,
            splits_total: self.splits_total,
            retries: self.retries.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
        }
    }
}

/// Watches a job: the job calls [`Observer::started`] once its work is planned, with the
/// counters it then updates, and [`Observer::finished`] when it stops reading. The CLI
/// renders them ([`Display`]); a library caller may poll the counters or ignore them (`()`).
pub trait Observer: Send + Sync {
    /// `job` (`count`, `unload`, `load`, `verify`) has planned its work.
    fn started(&self, job: &str, progress: Arc<Progress>);
    /// The job stopped reading: `completed` is false when it was interrupted.
    fn finished(&self, completed: bool);
}

/// Ignores progress.
impl Observer for () {
    fn started(&self, _: &str, _: Arc<Progress>) {}
    fn finished(&self, _: bool) {}
}

/// An observer borrowed, e.g. a caller's `&dyn Observer` beside a job's own exporter.
impl<T: Observer + ?Sized> Observer for &T {
    fn started(&self, job: &str, progress: Arc<Progress>) {
        (**self).started(job, progress);
    }

    fn finished(&self, completed: bool) {
        (**self).finished(completed);
    }
}

/// Two observers watching one job (e.g. the display and a metrics exporter).
impl<A: Observer, B: Observer> Observer for (A, B) {
    fn started(&self, job: &str, progress: Arc<Progress>) {
        self.0.started(job, progress.clone());
        self.1.started(job, progress);
    }

    fn finished(&self, completed: bool) {
        self.0.finished(completed);
        self.1.finished(completed);
    }
}

/// Shows a job's progress on stderr as [`Reporter`] does.
pub struct Display {
    choice: ProgressStyleChoice,
    reporter: std::sync::Mutex<Option<Reporter>>,
}

impl Display {
    pub fn new(choice: ProgressStyleChoice) -> Display {
        Display { choice, reporter: std::sync::Mutex::new(None) }
    }

    fn reporter(&self) -> std::sync::MutexGuard<'_, Option<Reporter>> {
        self.reporter.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Observer for Display {
    fn started(&self, job: &str, progress: Arc<Progress>) {
        *self.reporter() = Some(Reporter::start(job, progress, self.choice));
    }

    fn finished(&self, completed: bool) {
        // An interrupted run's last state is in its summary; a finished one's is printed.
        if let Some(reporter) = self.reporter().take()
            && completed
        {
            reporter.finish();
        }
    }
}

/// How progress is shown while a scan runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressStyleChoice {
    /// A bar when stderr is a terminal, plain lines every `interval` otherwise.
    Auto {
        interval: Duration,
    },
    Quiet,
}

/// Shows a [`Progress`] until dropped or finished.
pub struct Reporter {
    task: Option<tokio::task::JoinHandle<()>>,
    bar: Option<ProgressBar>,
    /// In plain mode, the line printed once more at the end, so a log always shows where
    /// the run finished.
    last_line: Option<Arc<PlainLine>>,
}

const BAR_STEPS: u64 = 10_000;

impl Reporter {
    pub fn start(what: &str, progress: Arc<Progress>, choice: ProgressStyleChoice) -> Reporter {
        let ProgressStyleChoice::Auto { interval } = choice else {
            return Reporter { task: None, bar: None, last_line: None };
        };
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(BAR_STEPS), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}%  {msg}  ETA {eta}")
                    .expect("template is valid")
                    .progress_chars("=> "),
            );
            bar.set_prefix(what.to_string());
            let shown = bar.clone();
            let task = tokio::spawn(async move {
                loop {
                    let now = progress.snapshot();
                    shown.set_position((now.fraction * BAR_STEPS as f64) as u64);
                    shown.set_message(now.describe());
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            Reporter { task: Some(task), bar: Some(bar), last_line: None }
        } else {
            let line = Arc::new(PlainLine { what: what.to_string(), progress });
            let printer = line.clone();
            let task = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    printer.print();
                }
            });
            Reporter { task: Some(task), bar: None, last_line: Some(line) }
        }
    }

    /// Stops reporting; in plain mode, prints the final state first.
    pub fn finish(mut self) {
        self.stop();
        if let Some(line) = self.last_line.take() {
            line.print();
        }
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop();
    }
}

struct PlainLine {
    what: String,
    progress: Arc<Progress>,
}

impl PlainLine {
    fn print(&self) {
        let now = self.progress.snapshot();
        let eta = now.eta().map_or("unknown".to_string(), |d| format!("{}s", d.as_secs()));
        crate::say!(
            "{}: {:.1}% {}, {}/{} {}, {}, ETA {eta}",
            self.what,
            now.fraction * 100.0,
            now.of_what(),
            now.splits_done,
            now.splits_total,
            match now.work {
                Work::Ring => "splits",
                Work::Units => "units",
            },
            now.describe()
        );
    }
}

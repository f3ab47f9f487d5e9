//! Progress of a job: counters the job updates, an [`Observer`] that watches them, and a
//! reporter that shows them as a bar on a terminal or as plain periodic lines in a log.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cqlbulk_ring::{RING_SIZE, TokenRange};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What a job's work is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Token-range splits of the ring (count, unload, verify): done is the ring's share.
    Ring,
    /// Source units (files, Iceberg data files) read in order (load): done is their share.
    Units,
}

/// Counters shared by the workers of one job.
pub struct Progress {
    work: Work,
    started: Instant,
    rows: AtomicU64,
    bytes: AtomicU64,
    /// Tokens of finished splits; the whole ring is `u64::MAX` tokens, so this cannot overflow.
    tokens_done: AtomicU64,
    splits_done: AtomicU64,
    splits_total: u64,
    retries: AtomicU64,
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
        Progress {
            work,
            started: Instant::now(),
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            tokens_done: AtomicU64::new(0),
            splits_done: AtomicU64::new(0),
            splits_total: splits_total as u64,
            retries: AtomicU64::new(0),
        }
    }

    pub fn add_rows(&self, rows: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }

    pub fn add_bytes(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
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
            rows: self.rows.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
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
        eprintln!(
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

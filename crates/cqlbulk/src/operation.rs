//! The operation directory of a run (DSBulk's `logs/<operation>` is the model):
//! `operation.json` (what the run does, including its exact splits), `checkpoint.jsonl` (one
//! line per finished split, with its files), `operation.log` (events in time order) and,
//! at the end, `summary.json`. Resume reads the first two and finishes only what is missing.
//!
//! An operation can also live under an object-store prefix, so that a run can be resumed
//! from a machine that shares no disk with the first: `operation.json` is one object, each
//! checkpoint record another (`checkpoint/<attempt>-<n>.json`, durable when its upload
//! completes), and the log and summary are uploaded with the summary. The run works in a
//! local copy meanwhile (see [`Operation::dir`]).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cqlbulk_ring::TokenRange;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::storage::{ObjectStore, Place};

/// What a run is, fixed at its start and checked again on resume.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OperationSpec {
    pub operation_id: String,
    /// Unique part of every output file name of this run.
    pub run_id: String,
    pub keyspace: String,
    pub table: String,
    pub format: String,
    /// Output directory, absolute; `-` for stdout.
    pub output: String,
    /// The splits as `(start, end]` pairs, in split index order.
    pub splits: Vec<(i64, i64)>,
    /// The part of a sharded export this run is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

/// Shard `index` of `count` (from 0) of an export several workers share (`--shard I/N`):
/// it reads its own part of the ring ([`TokenRange::shard`](cqlbulk_ring::TokenRange::shard))
/// and keeps its operation at `<job location>/shard-I-of-N`, which a rerun of the same shard
/// resumes.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// `I/N` with `0 <= I < N`.
    pub fn parse(text: &str) -> std::result::Result<Shard, String> {
        let bad = || {
            format!("{text}: a shard is I/N with 0 <= I < N, e.g. 0/4 (Kubernetes: $JOB_COMPLETION_INDEX/N)")
        };
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index: u64 = index.trim().parse().map_err(|_| bad())?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        if index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The name of the shard's operation inside the job location: `shard-0003-of-0010`.
    pub fn dir_name(&self) -> String {
        format!("shard-{:04}-of-{:04}", self.index, self.count)
    }

    /// The shard a [`Shard::dir_name`] names.
    pub fn from_dir_name(name: &str) -> Option<Shard> {
        let (index, count) = name.strip_prefix("shard-")?.split_once("-of-")?;
        let shard = Shard { index: index.parse().ok()?, count: count.parse().ok()? };
        (shard.index < shard.count && shard.dir_name() == name).then_some(shard)
    }

    /// The tokens this shard reads.
    pub fn range(&self) -> cqlbulk_ring::TokenRange {
        cqlbulk_ring::TokenRange::shard(self.index, self.count).expect("index < count")
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What an operation's `operation.json` holds: each kind of run has its own.
pub trait Spec: Serialize + DeserializeOwned {
    /// `unload`, `load`: the first word of the operation id.
    const VERB: &'static str;
    /// One line of `checkpoint.jsonl`: a finished piece of the work.
    type Done: Serialize + DeserializeOwned;
    fn keyspace(&self) -> &str;
    fn table(&self) -> &str;
    fn set_ids(&mut self, operation_id: String, run_id: String);
    fn operation_id(&self) -> &str;
    /// Whether a checkpoint record names a piece of this operation.
    fn contains(&self, done: &Self::Done) -> bool;
}

impl Spec for OperationSpec {
    const VERB: &'static str = "unload";
    type Done = SplitDone;

    fn keyspace(&self) -> &str {
        &self.keyspace
    }

    fn table(&self) -> &str {
        &self.table
    }

    fn set_ids(&mut self, operation_id: String, run_id: String) {
        self.operation_id = operation_id;
        self.run_id = run_id;
    }

    fn operation_id(&self) -> &str {
        &self.operation_id
    }

    fn contains(&self, done: &SplitDone) -> bool {
        done.split < self.splits.len()
    }
}

impl OperationSpec {
    pub fn ranges(&self) -> Result<Vec<TokenRange>> {
        self.splits
            .iter()
            .map(|(start, end)| {
                TokenRange::new(*start, *end).ok_or_else(|| {
                    Error::new(
                        ErrorKind::BadInput,
                        format!("operation.json: ({start}, {end}] is not a token range"),
                    )
                })
            })
            .collect()
    }
}

/// A finished output file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WrittenFile {
    /// File name inside the output directory.
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
}

/// One finished split, as recorded in the checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SplitDone {
    pub split: usize,
    pub start: i64,
    pub end: i64,
    pub rows: u64,
    pub files: Vec<WrittenFile>,
    /// Iceberg: the split's rows, sorted and kept on local disk until the end of the run
    /// writes them into data files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spill: Option<SpillFile>,
}

/// An Arrow IPC file in the operation directory holding one split's rows as sorted runs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpillFile {
    /// File name inside the operation's `spill/` directory.
    pub name: String,
    pub bytes: u64,
    pub runs: Vec<SpillRun>,
}

/// Consecutive record batches of a spill file holding rows of one partition, sorted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpillRun {
    /// Identifies the partition: equal for rows of one partition, whichever split read them.
    pub partition: String,
    pub first_batch: usize,
    pub batches: usize,
    pub rows: u64,
}

pub struct Operation<S: Spec = OperationSpec> {
    /// The operation directory, or for one kept in object storage its local working copy
    /// (spill files, the log until it is uploaded).
    pub dir: PathBuf,
    pub spec: S,
    /// Pieces finished by earlier attempts of this operation (resume).
    pub done: Vec<S::Done>,
    remote: Option<Remote>,
    checkpoint: Mutex<File>,
    log: Mutex<File>,
}

/// An operation kept under an object-store prefix, for runs whose machines share no disk.
/// Objects cannot be appended to, so each checkpoint record is an object of its own.
struct Remote {
    store: ObjectStore,
    /// The operation's prefix inside `store` (empty when the store is the operation).
    prefix: String,
    /// Names this process's records apart from other attempts', in time order.
    attempt: String,
    records: AtomicU64,
}

impl Remote {
    fn name(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}/{name}", self.prefix) }
    }
}

/// Checkpoint records of an operation in object storage: `checkpoint/<attempt>-<n>.json`.
const RECORDS: &str = "checkpoint/";

impl<S: Spec> Operation<S> {
    /// Creates `<log_dir>/<operation id>/` for a new run.
    pub async fn create(log_dir: &Place, spec: S) -> Result<Operation<S>> {
        Self::create_as(log_dir, None, spec).await
    }

    /// Creates `<log_dir>/<name>/` (default: the operation id) for a new run.
    pub async fn create_as(log_dir: &Place, name: Option<&str>, mut spec: S) -> Result<Operation<S>> {
        let (id, run_id) = new_ids(spec.keyspace(), spec.table(), S::VERB);
        spec.set_ids(id.clone(), run_id);
        let text = serde_json::to_string_pretty(&spec).expect("spec serializes");
        let name = name.unwrap_or(&id);
        match log_dir {
            Place::Directory(log_dir) => {
                let dir = log_dir.join(name);
                // The directory appears under its name only with operation.json in it, so a
                // run killed at any instant leaves either nothing to resume or something
                // resumable.
                let staging = log_dir.join(format!(".{name}.creating"));
                fs::create_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
                write_durably(&staging.join("operation.json"), text.as_bytes())?;
                fs::rename(&staging, &dir).map_err(|e| io_error(&dir, e))?;
                File::open(log_dir).and_then(|d| d.sync_all()).map_err(|e| io_error(log_dir, e))?;
                Self::open(dir, spec, Vec::new(), None)
            }
            Place::Objects(store) => {
                let remote = Remote::new(store.clone(), name.to_string());
                store.put(&remote.name("operation.json"), text.clone().into_bytes()).await?;
                let dir = working_copy(&id)?;
                write_durably(&dir.join("operation.json"), text.as_bytes())?;
                Self::open(dir, spec, Vec::new(), Some(remote))
            }
        }
    }

    /// Opens an existing operation to finish it: a directory, or the object-store prefix of
    /// one (from any machine: its working copy is made anew where missing).
    pub async fn resume(at: &Place) -> Result<Operation<S>> {
        let text = match at {
            Place::Directory(dir) => {
                fs::read_to_string(dir.join("operation.json")).map_err(|e| e.to_string())
            }
            Place::Objects(store) => match store.read("operation.json").await? {
                Some(bytes) => String::from_utf8(bytes).map_err(|e| e.to_string()),
                None => Err("no such object".to_string()),
            },
        };
        let text = text.map_err(|e| {
            Error::new(
                ErrorKind::BadInput,
                format!(
                    "--resume {}: cannot read operation.json ({e}): not the directory of a run \
                     cqlbulk began; name the directory the run printed, or start a new run",
                    at.describe()
                ),
            )
        })?;
        let spec: S = serde_json::from_str(&text).map_err(|e| {
            Error::new(
                ErrorKind::BadInput,
                format!("{}/operation.json: not a cqlbulk operation file: {e}", at.describe()),
            )
        })?;
        match at {
            Place::Directory(dir) => {
                let done = read_checkpoint(&dir.join("checkpoint.jsonl"), &spec)?;
                Self::open(dir.clone(), spec, done, None)
            }
            Place::Objects(store) => {
                let remote = Remote::new(store.clone(), String::new());
                let names: Vec<String> = store.list().await?.into_iter().map(|(name, _)| name).collect();
                let done = read_remote_checkpoint(store, &names, &spec).await?;
                let dir = working_copy(spec.operation_id())?;
                write_durably(&dir.join("operation.json"), text.as_bytes())?;
                // The log (and load's bad records) go on where the last attempt left them,
                // whichever machine ran it.
                for name in names.iter().filter(|n| !n.contains('/') && *n != "operation.json") {
                    let local = dir.join(name);
                    if !local.exists()
                        && let Some(bytes) = store.read(name).await?
                    {
                        write_durably(&local, &bytes)?;
                    }
                }
                Self::open(dir, spec, done, Some(remote))
            }
        }
    }

    fn open(dir: PathBuf, spec: S, done: Vec<S::Done>, remote: Option<Remote>) -> Result<Operation<S>> {
        let append = |name: &str| {
            let path = dir.join(name);
            OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io_error(&path, e))
        };
        let checkpoint = Mutex::new(append("checkpoint.jsonl")?);
        let log = Mutex::new(append("operation.log")?);
        Ok(Operation { dir, spec, done, remote, checkpoint, log })
    }

    /// Where the operation is: its directory, or its object-store URL. Give it to resume.
    pub fn location(&self) -> String {
        match &self.remote {
            Some(remote) => remote.store.url_of(&remote.prefix).trim_end_matches('/').to_string(),
            None => self.dir.display().to_string(),
        }
    }

    /// Where the operation is, as a place other operations can be kept in.
    pub fn place(&self) -> Result<Place> {
        match &self.remote {
            Some(remote) if remote.prefix.is_empty() => Ok(Place::Objects(remote.store.clone())),
            Some(remote) => remote.store.child(&remote.prefix).map(Place::Objects),
            None => Ok(Place::Directory(self.dir.clone())),
        }
    }

    /// Where file `name` of the operation is (or goes, for one in object storage, when the
    /// summary is written).
    pub fn location_of(&self, name: &str) -> String {
        match &self.remote {
            Some(remote) => remote.store.url_of(&remote.name(name)),
            None => self.dir.join(name).display().to_string(),
        }
    }

    /// Records a finished piece; durable when this returns.
    pub async fn record(&self, done: &S::Done) -> Result<()> {
        let mut line = serde_json::to_string(done).expect("checkpoint record serializes");
        line.push('\n');
        {
            let mut file = self.checkpoint.lock().expect("checkpoint lock");
            file.write_all(line.as_bytes())
                .and_then(|_| file.sync_data())
                .map_err(|e| io_error(&self.dir, e))?;
        }
        if let Some(remote) = &self.remote {
            let number = remote.records.fetch_add(1, Ordering::Relaxed);
            let name = remote.name(&format!("{RECORDS}{}-{number:08}.json", remote.attempt));
            remote.store.put(&name, line.into_bytes()).await?;
        }
        Ok(())
    }

    /// Appends a timestamped line to `operation.log`. Logging must not stop a run, so a
    /// failed write is ignored.
    pub fn log(&self, message: &str) {
        let line = if crate::logs::is_json() {
            crate::logs::json_line("INFO", message)
        } else {
            let mut now = String::new();
            crate::codec::text::write_timestamp(crate::codec::text::now_millis(), &mut now);
            format!("{now} {message}")
        };
        let mut file = self.log.lock().expect("log lock");
        let _ = writeln!(file, "{line}");
    }

    /// Writes `summary.json`; an operation in object storage also gets its log and every
    /// other file of its working copy's top level (e.g. load's `bad.jsonl`).
    pub async fn write_summary(&self, summary: &impl Serialize) -> Result<()> {
        let text = serde_json::to_string_pretty(summary).expect("summary serializes");
        write_durably(&self.dir.join("summary.json"), text.as_bytes())?;
        let Some(remote) = &self.remote else { return Ok(()) };
        let entries = fs::read_dir(&self.dir).map_err(|e| io_error(&self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if !is_file
                || matches!(name.as_str(), "operation.json" | "checkpoint.jsonl")
                || name.ends_with(".tmp")
            {
                continue;
            }
            let bytes = fs::read(entry.path()).map_err(|e| io_error(&entry.path(), e))?;
            remote.store.put(&remote.name(&name), bytes).await?;
        }
        Ok(())
    }
}

impl Remote {
    fn new(store: ObjectStore, prefix: String) -> Remote {
        let attempt = format!("{:013}-{:04x}", crate::codec::text::now_millis(), rand::random::<u16>());
        Remote { store, prefix, attempt, records: AtomicU64::new(0) }
    }
}

/// The local working copy of an operation kept in object storage:
/// `$CQLBULK_WORK_DIR/<operation id>` (default: the system's temporary directory).
fn working_copy(operation_id: &str) -> Result<PathBuf> {
    let root = std::env::var_os("CQLBULK_WORK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("cqlbulk"));
    let dir = root.join(operation_id);
    fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
    Ok(dir)
}

/// Every checkpoint record of an operation in object storage, in the order written. Objects
/// appear whole, so unlike a file's last line none can be torn: each must parse.
async fn read_remote_checkpoint<S: Spec>(
    store: &ObjectStore,
    names: &[String],
    spec: &S,
) -> Result<Vec<S::Done>> {
    use futures::{StreamExt, TryStreamExt};
    let records = names.iter().filter(|n| n.starts_with(RECORDS)).cloned();
    let texts: Vec<(String, Option<Vec<u8>>)> = futures::stream::iter(records)
        .map(|name| async move { store.read(&name).await.map(|bytes| (name, bytes)) })
        .buffered(16)
        .try_collect()
        .await?;
    let mut done = Vec::new();
    for (name, bytes) in texts {
        let record = bytes
            .and_then(|b| serde_json::from_slice::<S::Done>(&b).ok())
            .filter(|record| spec.contains(record))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::BadInput,
                    format!(
                        "{}: not a record of this operation; the checkpoint is damaged: start a new run without --resume (it redoes the whole operation)",
                        store.url_of(&name)
                    ),
                )
            })?;
        done.push(record);
    }
    Ok(done)
}

fn read_checkpoint<S: Spec>(path: &Path, spec: &S) -> Result<Vec<S::Done>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(path, e)),
    };
    let mut done = Vec::new();
    let damaged = |what: String| {
        Error::new(
            ErrorKind::BadInput,
            format!(
                "{}: {what}; the checkpoint is damaged: start a new run without --resume (it redoes the whole operation)",
                path.display()
            ),
        )
    };
    let lines: Vec<String> = BufReader::new(file).lines().collect::<std::io::Result<_>>().map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData { damaged(e.to_string()) } else { io_error(path, e) }
    })?;
    let last = lines.len();
    for (number, line) in lines.into_iter().enumerate() {
        match serde_json::from_str::<S::Done>(&line) {
            Ok(record) if spec.contains(&record) => done.push(record),
            // A crash can cut the last line short; that piece is simply not finished.
            Err(_) if number + 1 == last => break,
            _ => return Err(damaged(format!("line {} is not a record of this operation", number + 1))),
        }
    }
    Ok(done)
}

/// Writes a small file so that it is whole under its name, or absent, after any crash.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = path.with_extension("tmp");
    let mut file = File::create(&temp).map_err(|e| io_error(&temp, e))?;
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(|e| io_error(&temp, e))?;
    fs::rename(&temp, path).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, err: std::io::Error) -> Error {
    Error::io(path.display(), err)
}

/// `unload-ks.table-20261124-113000-ab12` and the run id `20261124113000ab12`.
fn new_ids(keyspace: &str, table: &str, verb: &str) -> (String, String) {
    let mut stamp = String::new();
    crate::codec::text::write_timestamp(crate::codec::text::now_millis() / 1000 * 1000, &mut stamp);
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let suffix = format!("{:04x}", rand::random::<u16>());
    let run_id = format!("{digits}{suffix}");
    let what = if table.is_empty() { keyspace.to_string() } else { format!("{keyspace}.{table}") };
    (format!("{verb}-{what}-{}-{}-{suffix}", &digits[..8], &digits[8..14]), run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What: a checkpoint cut short in its last line (what a crash leaves) counts the lines
    /// before it; a damaged line in the middle, a record of another operation, or bytes
    /// that are not text refuse the resume with a message saying to start anew. Why: a
    /// resume that trusts a damaged checkpoint could skip work that was never done.
    #[test]
    fn damaged_checkpoints_are_refused_and_torn_last_lines_ignored() {
        let spec = OperationSpec {
            operation_id: "op".into(),
            run_id: "run".into(),
            keyspace: "ks".into(),
            table: "t".into(),
            format: "csv".into(),
            output: "/out".into(),
            splits: vec![(-10, 0), (0, 10)],
            shard: None,
        };
        let dir = std::env::temp_dir().join(format!("cqlbulk-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.jsonl");
        let record = r#"{"split":1,"start":0,"end":10,"rows":5,"files":[]}"#;
        let read = |text: &[u8]| {
            std::fs::write(&path, text).unwrap();
            read_checkpoint(&path, &spec)
        };
        assert_eq!(read(format!("{record}\n{{\"split\": 0, \"sta").as_bytes()).unwrap().len(), 1);
        let damaged = read(format!("{{\"split\"\n{record}\n").as_bytes()).unwrap_err().to_string();
        assert!(damaged.contains("line 1") && damaged.contains("without --resume"), "{damaged}");
        let foreign = r#"{"split":7,"start":0,"end":10,"rows":5,"files":[]}"#;
        assert!(read(format!("{foreign}\n{record}\n").as_bytes()).is_err());
        let binary = read(b"\xff\xfe\x00garbage\n").unwrap_err().to_string();
        assert!(binary.contains("without --resume"), "{binary}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// What: a new operation directory holds operation.json when it first appears under
    /// its name, leaves no staging directory behind, and resumes. Why: a run killed just
    /// after starting left a directory without operation.json that `--resume` refused
    /// (CI soak at 0249987).
    #[test]
    fn a_new_operation_directory_appears_whole() {
        let log_dir = std::env::temp_dir().join(format!("cqlbulk-create-{}", std::process::id()));
        let spec = OperationSpec {
            operation_id: String::new(),
            run_id: String::new(),
            keyspace: "ks".into(),
            table: "t".into(),
            format: "csv".into(),
            output: "/out".into(),
            splits: vec![(-10, 0), (0, 10)],
            shard: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let place = Place::Directory(log_dir.clone());
        let created = runtime.block_on(Operation::create(&place, spec)).unwrap();
        let entries: Vec<_> = std::fs::read_dir(&log_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(entries, vec![created.dir.file_name().unwrap().to_owned()]);
        let resumed = runtime
            .block_on(Operation::<OperationSpec>::resume(&Place::Directory(created.dir.clone())))
            .unwrap();
        assert_eq!(resumed.spec.operation_id, created.spec.operation_id);
        let missing = runtime.block_on(Operation::<OperationSpec>::resume(&place)).err().unwrap().to_string();
        assert!(missing.contains("start a new run"), "{missing}");
        std::fs::remove_dir_all(&log_dir).unwrap();
    }
}

//! Where unloaded rows go: a directory of files, an Iceberg table, standard output, or nowhere.
//!
//! A run's [`Destination`] gives each split attempt a [`SplitSink`] (write batches, then
//! commit → what was written); before a resumed run writes, [`Destination::resume`] clears
//! what no finished split recorded; at the end [`Destination::finish`] closes the run.
//!
//! Each split writes its own files, rolled by rows or bytes. In a local directory they are
//! written under hidden temporary names and get their final names only when the whole split
//! has been read, so a crash leaves nothing visible that resume would repeat. In object
//! storage ([`crate::storage`]) an object appears only when its upload completes, and each
//! attempt at a split names its objects apart; what no finished split recorded (an attempt
//! that failed, or a crash before the checkpoint) is deleted when the run finishes or
//! resumes. An Iceberg run spills each split's rows to local disk and writes data files only
//! at the end, visible with the run's snapshot (see [`iceberg`]).

pub mod cassandra;
pub mod format;
pub mod iceberg;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::operation::SplitDone;
use crate::storage::ObjectWriter;
pub use crate::storage::Place;

pub use crate::compress::Compression;
pub use crate::operation::WrittenFile;
pub use format::{Format, FormatWriter, open_writer};

/// File naming and rolling limits of a file destination.
#[derive(Clone, Debug)]
pub struct FileLayout {
    pub place: Place,
    /// Start of every file name of this run: `<table>-<run id>`, unique per run.
    pub prefix: String,
    pub max_rows_per_file: u64,
    pub max_bytes_per_file: u64,
    /// Attempts started per split (object names of a retried split differ from the
    /// failed attempt's, whose objects may still be deleted in the background).
    attempts: Arc<Mutex<HashMap<usize, u32>>>,
}

impl FileLayout {
    pub fn new(place: Place, prefix: String, max_rows_per_file: u64, max_bytes_per_file: u64) -> FileLayout {
        FileLayout { place, prefix, max_rows_per_file, max_bytes_per_file, attempts: Default::default() }
    }

    fn final_name(&self, split: usize, attempt: u32, part: u32, extension: &str) -> String {
        match attempt {
            0 => format!("{}-{split:06}-{part:03}.{extension}", self.prefix),
            _ => format!("{}-{split:06}-r{attempt}-{part:03}.{extension}", self.prefix),
        }
    }

    fn next_attempt(&self, split: usize) -> u32 {
        let mut attempts = self.attempts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let attempt = attempts.entry(split).or_insert(0);
        *attempt += 1;
        *attempt - 1
    }

    /// Whether `name` is a file (final or temporary) of this run.
    pub fn is_run_file(&self, name: &str) -> bool {
        name.starts_with(&self.prefix) || name.strip_prefix('.').is_some_and(|n| n.starts_with(&self.prefix))
    }

    /// Removes this run's files that no finished split claims (temporary files, or files
    /// renamed just before a crash kept the checkpoint from recording them), so the output
    /// ends with each row exactly once.
    async fn remove_unrecorded_files(&self, done: &[SplitDone]) -> crate::Result<usize> {
        let recorded: std::collections::HashSet<&str> =
            done.iter().flat_map(|d| d.files.iter().map(|f| f.name.as_str())).collect();
        let dir = match &self.place {
            Place::Directory(dir) => dir,
            Place::Objects(store) => {
                let mut removed = 0;
                for (name, _) in store.list().await? {
                    // Only this run's objects directly under the prefix.
                    if !name.contains('/') && self.is_run_file(&name) && !recorded.contains(name.as_str()) {
                        store.delete(&name).await?;
                        removed += 1;
                    }
                }
                return Ok(removed);
            }
        };
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(write_error(with_path(e, dir))),
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if self.is_run_file(&name) && !recorded.contains(name.as_str()) {
                fs::remove_file(entry.path()).map_err(|e| write_error(with_path(e, &entry.path())))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Where the rows of a run go.
pub enum Destination {
    Directory {
        layout: FileLayout,
        format: Format,
        compression: Compression,
        schema: SchemaRef,
    },
    /// One stream shared by all splits; rows of different splits interleave by batch.
    Stdout(Arc<Mutex<Option<Box<dyn FormatWriter>>>>),
    Iceberg(Box<iceberg::IcebergSink>),
    Discard,
}

/// What [`Destination::resume`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resumed {
    /// Files of earlier attempts that no finished split recorded, now deleted.
    Removed(usize),
    /// An earlier attempt committed the run's Iceberg snapshot: nothing is left to do.
    Committed { snapshot_id: i64 },
}

/// How [`Destination::finish`] ended the run.
#[derive(Debug, Default)]
pub struct Finished {
    /// The Iceberg snapshot committed.
    pub snapshot_id: Option<i64>,
    /// The files the run wrote, when the end of the run writes them (Iceberg data files);
    /// otherwise the splits' files are the run's.
    pub files: Option<Vec<WrittenFile>>,
}

/// Facts about a run that an Iceberg snapshot records.
#[derive(Clone, Debug)]
pub struct RunFacts {
    pub source_cluster: String,
    /// `keyspace.table`.
    pub source_table: String,
    pub splits: usize,
}

impl Destination {
    pub fn stdout(format: &Format, compression: Compression, schema: SchemaRef) -> io::Result<Destination> {
        let writer = open_writer(format, compression, schema, BufWriter::new(io::stdout()))?;
        Ok(Destination::Stdout(Arc::new(Mutex::new(Some(writer)))))
    }

    /// The output of one attempt at one split. Dropping it without `commit` removes
    /// whatever it wrote to files.
    pub fn split_sink(&self, split: usize) -> SplitSink<'_> {
        match self {
            Destination::Iceberg(sink) => SplitSink::Iceberg(sink.split_writer(split)),
            _ => SplitSink::Files(FileSplitSink {
                destination: self,
                split,
                attempt: match self {
                    Destination::Directory { layout, .. } => layout.next_attempt(split),
                    _ => 0,
                },
                current: None,
                closed: Vec::new(),
                part: 0,
                rows: 0,
            }),
        }
    }

    /// Before a resumed run writes anything: see [`Resumed`]. `done` are the splits
    /// earlier attempts finished.
    pub async fn resume(&self, done: &[SplitDone]) -> crate::Result<Resumed> {
        match self {
            Destination::Directory { layout, .. } => {
                layout.remove_unrecorded_files(done).await.map(Resumed::Removed)
            }
            Destination::Iceberg(sink) => sink.resume(done).await,
            Destination::Stdout(_) | Destination::Discard => Ok(Resumed::Removed(0)),
        }
    }

    /// Ends the run once every split is `done`: ends the stdout stream (closing bracket,
    /// compression trailer), deletes the objects of failed split attempts, or writes the
    /// Iceberg data files and commits the snapshot. `log` notes what it did.
    pub async fn finish(
        &self,
        done: &[SplitDone],
        facts: &RunFacts,
        log: &dyn Fn(&str),
    ) -> crate::Result<Finished> {
        match self {
            Destination::Stdout(shared) => {
                if let Some(writer) = shared.lock().expect("writer lock").take() {
                    writer.finish().map_err(write_error)?;
                }
                Ok(Finished::default())
            }
            Destination::Iceberg(sink) => sink.commit(done, facts, log).await,
            Destination::Directory { layout, .. } => {
                if let Place::Objects(_) = layout.place {
                    layout.remove_unrecorded_files(done).await?;
                }
                Ok(Finished::default())
            }
            Destination::Discard => Ok(Finished::default()),
        }
    }
}

struct OpenFile {
    name: String,
    writer: Box<dyn FormatWriter>,
    target: Target,
    rows: u64,
    bytes: Arc<AtomicU64>,
}

/// Where an open file's bytes go.
enum Target {
    /// A temporary file, renamed at the split's commit.
    Local { temp: PathBuf, file: File },
    /// An upload; the format writer writes into `buffer`, which is handed to the upload
    /// after every batch.
    Object { buffer: Arc<Mutex<Vec<u8>>>, upload: ObjectWriter },
}

/// Bytes a format writer has written for an upload, taken after every batch.
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn take(buffer: &Mutex<Vec<u8>>) -> Vec<u8> {
    std::mem::take(&mut *buffer.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// Output of one split attempt.
pub enum SplitSink<'a> {
    Files(FileSplitSink<'a>),
    Iceberg(iceberg::SpillWriter),
}

/// What a finished split wrote.
pub struct SplitOutput {
    pub rows: u64,
    pub files: Vec<WrittenFile>,
    /// Iceberg: the split's rows on local disk, written into data files at the end of the run.
    pub spill: Option<crate::operation::SpillFile>,
}

impl SplitSink<'_> {
    pub fn rows(&self) -> u64 {
        match self {
            SplitSink::Files(sink) => sink.rows,
            SplitSink::Iceberg(writer) => writer.rows(),
        }
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> crate::Result<()> {
        match self {
            SplitSink::Files(sink) => sink.write(batch).await,
            SplitSink::Iceberg(writer) => writer.write(batch),
        }
    }

    pub async fn commit(self) -> crate::Result<SplitOutput> {
        match self {
            SplitSink::Files(sink) => {
                let rows = sink.rows;
                let files = sink.commit().await?;
                Ok(SplitOutput { rows, files, spill: None })
            }
            SplitSink::Iceberg(writer) => {
                let (rows, spill) = writer.commit()?;
                Ok(SplitOutput { rows, files: Vec::new(), spill })
            }
        }
    }
}

fn write_error(err: io::Error) -> crate::Error {
    crate::Error::io("cannot write output", err)
}

/// Output of one split attempt to files or stdout.
pub struct FileSplitSink<'a> {
    destination: &'a Destination,
    split: usize,
    attempt: u32,
    current: Option<OpenFile>,
    /// Complete files: local ones still under their temporary names (temp path, file),
    /// objects already uploaded (no path).
    closed: Vec<(Option<PathBuf>, WrittenFile)>,
    part: u32,
    rows: u64,
}

impl FileSplitSink<'_> {
    pub async fn write(&mut self, batch: &RecordBatch) -> crate::Result<()> {
        self.rows += batch.num_rows() as u64;
        let layout = match self.destination {
            Destination::Discard | Destination::Iceberg(_) => return Ok(()),
            Destination::Stdout(shared) => {
                let mut guard = shared.lock().expect("writer lock");
                let writer = guard.as_mut().ok_or_else(|| io::Error::other("stdout is already closed"));
                return writer.and_then(|w| w.write(batch)).map_err(write_error);
            }
            Destination::Directory { layout, .. } => layout,
        };
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.current.is_none() {
                let file = self.open_file().await?;
                self.current = Some(file);
            }
            let file = self.current.as_mut().expect("opened above");
            let room = layout.max_rows_per_file.saturating_sub(file.rows).max(1);
            let take_rows = (batch.num_rows() - offset).min(usize::try_from(room).unwrap_or(usize::MAX));
            file.writer.write(&batch.slice(offset, take_rows)).map_err(|e| self.file_error(e))?;
            let file = self.current.as_mut().expect("opened above");
            file.rows += take_rows as u64;
            offset += take_rows;
            if let Target::Object { buffer, upload } = &mut file.target {
                upload.write(take(buffer)).await?;
            }
            if file.rows >= layout.max_rows_per_file
                || file.bytes.load(Ordering::Relaxed) >= layout.max_bytes_per_file
            {
                self.close_current().await?;
            }
        }
        Ok(())
    }

    fn file_error(&self, err: io::Error) -> crate::Error {
        match &self.current {
            Some(OpenFile { target: Target::Local { temp, .. }, .. }) => write_error(with_path(err, temp)),
            Some(OpenFile { name, .. }) => crate::Error::io(format!("cannot write {name}"), err),
            None => write_error(err),
        }
    }

    async fn open_file(&mut self) -> crate::Result<OpenFile> {
        let Destination::Directory { layout, format, compression, schema } = self.destination else {
            unreachable!("only directories have files")
        };
        let name = layout.final_name(self.split, self.attempt, self.part, &format.extension(*compression));
        self.part += 1;
        let bytes = Arc::new(AtomicU64::new(0));
        let (target, out): (Target, Box<dyn Write + Send>) = match &layout.place {
            Place::Directory(dir) => {
                let temp = dir.join(format!(".{name}.tmp"));
                let file = File::create(&temp).map_err(|e| write_error(with_path(e, &temp)))?;
                let out = file.try_clone().map_err(|e| write_error(with_path(e, &temp)))?;
                (Target::Local { temp, file }, Box::new(out))
            }
            Place::Objects(store) => {
                let buffer = Arc::new(Mutex::new(Vec::new()));
                let upload = store.writer(&name).await?;
                (Target::Object { buffer: buffer.clone(), upload }, Box::new(SharedBuffer(buffer)))
            }
        };
        let counting = CountingWriter { inner: out, bytes: bytes.clone() };
        let buffered = BufWriter::with_capacity(256 * 1024, counting);
        let writer = open_writer(format, *compression, schema.clone(), buffered).map_err(write_error)?;
        Ok(OpenFile { name, writer, target, rows: 0, bytes })
    }

    async fn close_current(&mut self) -> crate::Result<()> {
        let Some(open) = self.current.take() else { return Ok(()) };
        let OpenFile { name, writer, target, rows, bytes } = open;
        match target {
            Target::Local { temp, file } => {
                writer.finish().map_err(|e| write_error(with_path(e, &temp)))?;
                file.sync_all().map_err(|e| write_error(with_path(e, &temp)))?;
                let bytes = bytes.load(Ordering::Relaxed);
                self.closed.push((Some(temp), WrittenFile { name, rows, bytes }));
            }
            Target::Object { buffer, mut upload } => {
                writer.finish().map_err(|e| crate::Error::io(format!("cannot write {name}"), e))?;
                upload.write(take(&buffer)).await?;
                upload.close().await?;
                let bytes = bytes.load(Ordering::Relaxed);
                self.closed.push((None, WrittenFile { name, rows, bytes }));
            }
        }
        Ok(())
    }

    /// Finishes the split: closes its last file and gives every local file its final name
    /// (objects have theirs since their upload completed).
    pub async fn commit(mut self) -> crate::Result<Vec<WrittenFile>> {
        self.close_current().await?;
        let Destination::Directory { layout, .. } = self.destination else {
            return Ok(Vec::new());
        };
        let mut written = Vec::with_capacity(self.closed.len());
        let mut renamed = false;
        for (temp, file) in std::mem::take(&mut self.closed) {
            if let (Some(temp), Place::Directory(dir)) = (temp, &layout.place) {
                let target = dir.join(&file.name);
                fs::rename(&temp, &target).map_err(|e| write_error(with_path(e, &target)))?;
                renamed = true;
            }
            written.push(file);
        }
        if let (true, Place::Directory(dir)) = (renamed, &layout.place) {
            // The renames are durable only once the directory itself is synced.
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| write_error(with_path(e, dir)))?;
        }
        Ok(written)
    }
}

impl Drop for FileSplitSink<'_> {
    fn drop(&mut self) {
        // An attempt that did not commit leaves nothing behind: local files are removed
        // now; an unfinished upload is aborted and finished objects deleted in the
        // background (and in any case when the run finishes or resumes).
        let mut objects = Vec::new();
        let mut upload = None;
        if let Some(open) = self.current.take() {
            match open.target {
                Target::Local { temp, .. } => {
                    drop(open.writer);
                    let _ = fs::remove_file(&temp);
                }
                Target::Object { upload: unfinished, .. } => upload = Some(unfinished),
            }
        }
        for (temp, file) in self.closed.drain(..) {
            match temp {
                Some(temp) => {
                    let _ = fs::remove_file(temp);
                }
                None => objects.push(file.name),
            }
        }
        if let Destination::Directory { layout: FileLayout { place: Place::Objects(store), .. }, .. } =
            self.destination
            && (upload.is_some() || !objects.is_empty())
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = store.clone();
            runtime.spawn(async move {
                if let Some(upload) = upload {
                    upload.abort().await;
                }
                for name in objects {
                    let _ = store.delete(&name).await;
                }
            });
        }
    }
}

fn with_path(err: io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

/// Counts bytes on their way to the file, for rolling by size and for the summary.
struct CountingWriter {
    inner: Box<dyn Write + Send>,
    bytes: Arc<AtomicU64>,
}

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

//! Where unloaded rows go: a directory of files, an Iceberg table, standard output, or nowhere.
//!
//! A run's [`Destination`] gives each split attempt a [`SplitSink`] (write batches, then
//! commit → what was written); before a resumed run writes, [`Destination::resume`] clears
//! what no finished split recorded; at the end [`Destination::finish`] closes the run.
//!
//! Each split writes its own files, rolled by rows or bytes, under hidden temporary names;
//! they get their final names only when the whole split has been read. So a file that is
//! visible is complete, and a crash leaves nothing visible that resume would repeat. Iceberg
//! data files become visible only with the run's snapshot (see [`iceberg`]).

pub mod format;
pub mod iceberg;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::operation::SplitDone;

pub use crate::compress::Compression;
pub use crate::operation::WrittenFile;
pub use format::{Format, FormatWriter, open_writer};

/// File naming and rolling limits of a directory destination.
#[derive(Clone, Debug)]
pub struct FileLayout {
    pub dir: PathBuf,
    /// Start of every file name of this run: `<table>-<run id>`, unique per run.
    pub prefix: String,
    pub max_rows_per_file: u64,
    pub max_bytes_per_file: u64,
}

impl FileLayout {
    fn final_name(&self, split: usize, part: u32, extension: &str) -> String {
        format!("{}-{split:06}-{part:03}.{extension}", self.prefix)
    }

    /// Whether `name` is a file (final or temporary) of this run.
    pub fn is_run_file(&self, name: &str) -> bool {
        name.starts_with(&self.prefix) || name.strip_prefix('.').is_some_and(|n| n.starts_with(&self.prefix))
    }

    /// Removes this run's files that no finished split claims (temporary files, or files
    /// renamed just before a crash kept the checkpoint from recording them), so the output
    /// ends with each row exactly once.
    fn remove_unrecorded_files(&self, done: &[SplitDone]) -> crate::Result<usize> {
        let recorded: std::collections::HashSet<&str> =
            done.iter().flat_map(|d| d.files.iter().map(|f| f.name.as_str())).collect();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(write_error(with_path(e, &self.dir))),
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
            Destination::Iceberg(sink) => SplitSink::Iceberg(sink.files.split_writer(split)),
            _ => SplitSink::Files(FileSplitSink {
                destination: self,
                split,
                current: None,
                closed: Vec::new(),
                part: 0,
                rows: 0,
            }),
        }
    }

    /// Before a resumed run writes anything: see [`Resumed`]. `done` are the splits
    /// earlier attempts finished.
    pub fn resume(&self, done: &[SplitDone]) -> crate::Result<Resumed> {
        match self {
            Destination::Directory { layout, .. } => {
                layout.remove_unrecorded_files(done).map(Resumed::Removed)
            }
            Destination::Iceberg(sink) => sink.resume(done),
            Destination::Stdout(_) | Destination::Discard => Ok(Resumed::Removed(0)),
        }
    }

    /// Ends the run once every split is `done`: ends the stdout stream (closing bracket,
    /// compression trailer) or commits the Iceberg snapshot, whose id it returns.
    pub async fn finish(&self, done: &[SplitDone], facts: &RunFacts) -> crate::Result<Option<i64>> {
        match self {
            Destination::Stdout(shared) => {
                if let Some(writer) = shared.lock().expect("writer lock").take() {
                    writer.finish().map_err(write_error)?;
                }
                Ok(None)
            }
            Destination::Iceberg(sink) => sink.commit(done, facts).await.map(Some),
            Destination::Directory { .. } | Destination::Discard => Ok(None),
        }
    }
}

struct OpenFile {
    temp: PathBuf,
    name: String,
    writer: Box<dyn FormatWriter>,
    file: File,
    rows: u64,
    bytes: Arc<AtomicU64>,
}

/// Output of one split attempt.
pub enum SplitSink<'a> {
    Files(FileSplitSink<'a>),
    Iceberg(iceberg::SplitWriter),
}

/// What a finished split wrote.
pub struct SplitOutput {
    pub rows: u64,
    pub files: Vec<WrittenFile>,
    /// Iceberg data files (iceberg-rust's JSON), committed at the end of the run.
    pub data_files: Vec<String>,
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
            SplitSink::Files(sink) => sink.write(batch).map_err(write_error),
            SplitSink::Iceberg(writer) => writer.write(batch).await,
        }
    }

    pub async fn commit(self) -> crate::Result<SplitOutput> {
        match self {
            SplitSink::Files(sink) => {
                let rows = sink.rows;
                let files = sink.commit().map_err(write_error)?;
                Ok(SplitOutput { rows, files, data_files: Vec::new() })
            }
            SplitSink::Iceberg(writer) => {
                let written = writer.commit().await?;
                Ok(SplitOutput { rows: written.rows, files: written.files, data_files: written.data_files })
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
    current: Option<OpenFile>,
    /// Complete files still under their temporary names: (temp path, final file).
    closed: Vec<(PathBuf, WrittenFile)>,
    part: u32,
    rows: u64,
}

impl FileSplitSink<'_> {
    pub fn write(&mut self, batch: &RecordBatch) -> io::Result<()> {
        self.rows += batch.num_rows() as u64;
        match self.destination {
            Destination::Discard | Destination::Iceberg(_) => Ok(()),
            Destination::Stdout(shared) => {
                let mut guard = shared.lock().expect("writer lock");
                guard.as_mut().ok_or_else(|| io::Error::other("stdout is already closed"))?.write(batch)
            }
            Destination::Directory { layout, .. } => {
                let mut offset = 0;
                while offset < batch.num_rows() {
                    if self.current.is_none() {
                        let file = self.open_file()?;
                        self.current = Some(file);
                    }
                    let file = self.current.as_mut().expect("opened above");
                    let room = layout.max_rows_per_file.saturating_sub(file.rows).max(1);
                    let take = (batch.num_rows() - offset).min(usize::try_from(room).unwrap_or(usize::MAX));
                    file.writer.write(&batch.slice(offset, take))?;
                    file.rows += take as u64;
                    offset += take;
                    if file.rows >= layout.max_rows_per_file
                        || file.bytes.load(Ordering::Relaxed) >= layout.max_bytes_per_file
                    {
                        self.close_current()?;
                    }
                }
                Ok(())
            }
        }
    }

    fn open_file(&mut self) -> io::Result<OpenFile> {
        let Destination::Directory { layout, format, compression, schema } = self.destination else {
            unreachable!("only directories have files")
        };
        let name = layout.final_name(self.split, self.part, &format.extension(*compression));
        self.part += 1;
        let temp = layout.dir.join(format!(".{name}.tmp"));
        let file = File::create(&temp).map_err(|e| with_path(e, &temp))?;
        let bytes = Arc::new(AtomicU64::new(0));
        let counting = CountingWriter { inner: file.try_clone()?, bytes: bytes.clone() };
        let writer = open_writer(
            format,
            *compression,
            schema.clone(),
            BufWriter::with_capacity(256 * 1024, counting),
        )?;
        Ok(OpenFile { temp, name, writer, file, rows: 0, bytes })
    }

    fn close_current(&mut self) -> io::Result<()> {
        if let Some(open) = self.current.take() {
            open.writer.finish().map_err(|e| with_path(e, &open.temp))?;
            open.file.sync_all().map_err(|e| with_path(e, &open.temp))?;
            let bytes = open.bytes.load(Ordering::Relaxed);
            self.closed.push((open.temp, WrittenFile { name: open.name, rows: open.rows, bytes }));
        }
        Ok(())
    }

    /// Finishes the split: closes its last file and gives every file its final name.
    pub fn commit(mut self) -> io::Result<Vec<WrittenFile>> {
        self.close_current()?;
        let Destination::Directory { layout, .. } = self.destination else {
            return Ok(Vec::new());
        };
        let mut written = Vec::with_capacity(self.closed.len());
        for (temp, file) in std::mem::take(&mut self.closed) {
            let target = layout.dir.join(&file.name);
            fs::rename(&temp, &target).map_err(|e| with_path(e, &target))?;
            written.push(file);
        }
        if !written.is_empty() {
            // The renames are durable only once the directory itself is synced.
            File::open(&layout.dir)?.sync_all()?;
        }
        Ok(written)
    }
}

impl Drop for FileSplitSink<'_> {
    fn drop(&mut self) {
        // An attempt that did not commit leaves nothing behind.
        if let Some(open) = self.current.take() {
            drop(open.writer);
            let _ = fs::remove_file(&open.temp);
        }
        for (temp, _) in self.closed.drain(..) {
            let _ = fs::remove_file(temp);
        }
    }
}

fn with_path(err: io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

/// Counts bytes on their way to the file, for rolling by size and for the summary.
struct CountingWriter {
    inner: File,
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

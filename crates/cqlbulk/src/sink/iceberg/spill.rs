//! One split's rows on local disk, until the end of the run writes data files from them.
//!
//! A split meets many partitions and holds a sliver of each, so data files written per split
//! would number splits × partitions whatever the data size. Instead each split converts its
//! rows to the table's schema, groups them by partition, sorts each group by the sort key,
//! and appends it to one Arrow IPC file in the operation directory as a *run*. Memory holds
//! at most `buffer_bytes` of rows before they are spilled as runs, so a large split gives
//! several runs per partition. The file is synced, then recorded in the checkpoint with its
//! runs; [`super::merge`] later merges each partition's runs from every split.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc::CompressionType;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_schema::SchemaRef;

use super::data_files::DataFileTarget;
use crate::error::{Error, Result};
use crate::operation::{SpillFile, SpillRun};

/// Largest record batch written to a spill file: merging reads one batch per run at a time.
const SPILL_BATCH_BYTES: usize = 256 << 10;
const SPILL_BATCH_ROWS: usize = 8192;

/// Rows of one partition waiting to be spilled.
struct Pending {
    batches: Vec<RecordBatch>,
}

/// An Arrow IPC file of sorted runs, written batch by batch.
pub struct RunFile {
    path: PathBuf,
    schema: SchemaRef,
    writer: Option<FileWriter<BufWriter<File>>>,
    /// Batches written so far.
    pub batches: usize,
}

impl RunFile {
    /// The file is created with the first batch.
    pub fn new(path: PathBuf, schema: SchemaRef) -> RunFile {
        RunFile { path, schema, writer: None, batches: 0 }
    }

    /// Appends `rows` (in order) as batches small enough to merge many at once.
    pub fn append(&mut self, rows: &RecordBatch) -> Result<()> {
        let total = rows.num_rows();
        let row_bytes = rows.get_array_memory_size() / total.max(1);
        let step = (SPILL_BATCH_BYTES / row_bytes.max(1)).clamp(1, SPILL_BATCH_ROWS);
        if self.writer.is_none() {
            let file = File::create(&self.path).map_err(|e| Error::io(self.path.display(), e))?;
            let options = IpcWriteOptions::default()
                .try_with_compression(Some(CompressionType::LZ4_FRAME))
                .map_err(arrow_error)?;
            let writer = FileWriter::try_new_with_options(BufWriter::new(file), &self.schema, options)
                .map_err(|e| self.io_error(e))?;
            self.writer = Some(writer);
        }
        let mut offset = 0;
        while offset < total {
            let length = step.min(total - offset);
            let writer = self.writer.as_mut().expect("writer open");
            writer.write(&rows.slice(offset, length)).map_err(|e| io_error(&self.path, e))?;
            offset += length;
            self.batches += 1;
        }
        Ok(())
    }

    /// Ends the file and syncs it; its size in bytes (0 when nothing was written).
    pub fn finish(mut self) -> Result<u64> {
        let Some(mut writer) = self.writer.take() else { return Ok(0) };
        writer.finish().map_err(|e| self.io_error(e))?;
        let file = writer
            .into_inner()
            .map_err(|e| self.io_error(e))?
            .into_inner()
            .map_err(|e| Error::io(self.path.display(), e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(self.path.display(), e))?;
        Ok(file.metadata().map_err(|e| Error::io(self.path.display(), e))?.len())
    }

    fn io_error(&self, err: arrow_schema::ArrowError) -> Error {
        io_error(&self.path, err)
    }
}

impl Drop for RunFile {
    /// An unfinished file is of no use to anyone.
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The spill file of one attempt at one split. Dropped without `commit`, it deletes the file
/// (see [`RunFile`]'s drop).
pub struct SpillWriter {
    target: Arc<DataFileTarget>,
    name: String,
    file: RunFile,
    pending: HashMap<String, Pending>,
    pending_bytes: usize,
    buffer_bytes: usize,
    runs: Vec<SpillRun>,
    rows: u64,
}

impl SpillWriter {
    /// A writer for `name` in `dir`, holding at most `buffer_bytes` of rows in memory.
    pub fn new(target: Arc<DataFileTarget>, dir: &Path, name: String, buffer_bytes: usize) -> SpillWriter {
        let file = RunFile::new(dir.join(&name), target.arrow_schema.clone());
        SpillWriter {
            target,
            name,
            file,
            pending: HashMap::new(),
            pending_bytes: 0,
            buffer_bytes,
            runs: Vec::new(),
            rows: 0,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        for (key, part) in self.target.partition(batch)? {
            // Debug of the partition values is exact (strings quoted, floats round-trip),
            // unlike the partition path, where a string "a/b" or "null" is ambiguous.
            let partition = key.map(|k| format!("{:?}", k.data().fields())).unwrap_or_default();
            self.pending_bytes += part.get_array_memory_size();
            self.pending
                .entry(partition)
                .or_insert_with(|| Pending { batches: Vec::new() })
                .batches
                .push(part);
        }
        self.rows += batch.num_rows() as u64;
        if self.pending_bytes >= self.buffer_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes every pending partition as one sorted run.
    fn spill(&mut self) -> Result<()> {
        let mut pending: Vec<_> = self.pending.drain().collect();
        self.pending_bytes = 0;
        pending.sort_by(|a, b| a.0.cmp(&b.0));
        let converter = if self.target.sort.is_empty() { None } else { Some(self.target.sort.converter()?) };
        for (partition, Pending { batches }) in pending {
            let first_batch = self.file.batches;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            // The rows as (batch, row), sorted by key when the table has a sort order, then
            // written a chunk at a time: no second copy of the whole partition.
            let mut order: Vec<(usize, usize)> = Vec::with_capacity(rows);
            for (index, batch) in batches.iter().enumerate() {
                order.extend((0..batch.num_rows()).map(|row| (index, row)));
            }
            if let Some(converter) = &converter {
                let keys = batches
                    .iter()
                    .map(|batch| self.target.sort.rows(converter, batch))
                    .collect::<Result<Vec<_>>>()?;
                // Stable: rows with equal keys keep the order they were read in.
                order.sort_by(|a, b| keys[a.0].row(a.1).cmp(&keys[b.0].row(b.1)));
            }
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            for chunk in order.chunks(SPILL_BATCH_ROWS) {
                let piece =
                    arrow_select::interleave::interleave_record_batch(&refs, chunk).map_err(arrow_error)?;
                self.file.append(&piece)?;
            }
            self.runs.push(SpillRun {
                partition,
                first_batch,
                batches: self.file.batches - first_batch,
                rows: rows as u64,
            });
        }
        Ok(())
    }

    /// Spills what is left, ends the file and syncs it: the split's rows are then safe to
    /// record as done. No file when the split had no rows.
    pub fn commit(mut self) -> Result<(u64, Option<SpillFile>)> {
        self.spill()?;
        let SpillWriter { name, file, runs, rows, .. } = self;
        let bytes = file.finish()?;
        Ok((rows, (!runs.is_empty()).then_some(SpillFile { name, bytes, runs })))
    }
}

fn io_error(path: &Path, err: arrow_schema::ArrowError) -> Error {
    Error::new(crate::error::ErrorKind::Io, format!("spill file {}: {err}", path.display()))
}

pub fn arrow_error(err: arrow_schema::ArrowError) -> Error {
    Error::new(crate::error::ErrorKind::Io, format!("spill: {err}"))
}

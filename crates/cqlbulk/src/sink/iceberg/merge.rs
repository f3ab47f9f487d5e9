//! The end of an Iceberg run: every partition's spilled runs (from every split, see
//! [`super::spill`]) merged by the sort key into data files of about the target size, so the
//! number of files follows the data (about one per partition per target size), not the
//! number of splits.
//!
//! A merge reads one record batch per run at a time. A partition with more than
//! [`MAX_MERGE_WIDTH`] runs is first merged in groups into fewer, longer runs (written to
//! new spill files), so memory stays bounded however many splits there were. Partitions are
//! written a few at a time, each with one open data file.
//!
//! Hand-written: DataFusion's sort-preserving merge does this, but would add a query engine
//! to the build for one operator.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_ipc::reader::FileReader;
use arrow_row::{OwnedRow, RowConverter, Rows};
use futures::StreamExt;
use iceberg::spec::DataFile;

use super::data_files::DataFileTarget;
use super::spill::{RunFile, arrow_error};
use crate::error::{Error, ErrorKind, Result};
use crate::operation::SpillFile;

/// Runs one merge reads at once; beyond this, runs are merged in groups first.
pub const MAX_MERGE_WIDTH: usize = 64;
/// Rows per batch handed to the data file writer.
const OUTPUT_ROWS: usize = 8192;

/// Batches `first_batch..first_batch + batches` of spill file `file`: one sorted run.
#[derive(Clone, Copy, Debug)]
struct Run {
    file: usize,
    first_batch: usize,
    batches: usize,
}

/// One spill file open for reading; the partitions merged at once share it.
type SharedReader = Arc<Mutex<FileReader<BufReader<File>>>>;

/// The spill files of a run, open for reading by batch index.
struct SpillFiles {
    dir: PathBuf,
    readers: Mutex<Vec<SharedReader>>,
}

impl SpillFiles {
    fn open(&self, name: &str) -> Result<usize> {
        let path = self.dir.join(name);
        let file = File::open(&path).map_err(|e| {
            Error::io(format!("spill file {} (recorded in the checkpoint)", path.display()), e)
        })?;
        let reader = FileReader::try_new(BufReader::new(file), None)
            .map_err(|e| Error::new(ErrorKind::Io, format!("spill file {}: {e}", path.display())))?;
        let mut readers = self.readers.lock().expect("spill readers lock");
        readers.push(Arc::new(Mutex::new(reader)));
        Ok(readers.len() - 1)
    }

    fn batch(&self, file: usize, index: usize) -> Result<RecordBatch> {
        let reader = self.readers.lock().expect("spill readers lock")[file].clone();
        let mut reader = reader.lock().expect("spill reader lock");
        reader.set_index(index).map_err(arrow_error)?;
        match reader.next() {
            Some(batch) => batch.map_err(arrow_error),
            None => Err(Error::new(ErrorKind::Io, format!("spill file {file}: batch {index} is missing"))),
        }
    }
}

/// What writing the data files did.
pub struct Written {
    pub data_files: Vec<DataFile>,
    pub partitions: usize,
    pub runs: usize,
}

/// Writes the data files of `spills` (the spill files every finished split recorded, in
/// `dir`), `concurrency` partitions at a time.
pub async fn write_data_files(
    target: Arc<DataFileTarget>,
    dir: &Path,
    spills: &[SpillFile],
    concurrency: usize,
) -> Result<Written> {
    let files = Arc::new(SpillFiles { dir: dir.to_path_buf(), readers: Mutex::new(Vec::new()) });
    let mut partitions: BTreeMap<&str, Vec<Run>> = BTreeMap::new();
    let mut runs = 0;
    for spill in spills {
        let file = files.open(&spill.name)?;
        for run in &spill.runs {
            partitions.entry(&run.partition).or_default().push(Run {
                file,
                first_batch: run.first_batch,
                batches: run.batches,
            });
            runs += 1;
        }
    }
    let count = partitions.len();
    let tasks = partitions.into_values().enumerate().map(|(number, runs)| {
        let (target, files) = (target.clone(), files.clone());
        tokio::spawn(async move { write_partition(&target, &files, number, runs).await })
    });
    let mut data_files = Vec::new();
    let mut results = futures::stream::iter(tasks).buffer_unordered(concurrency.max(1));
    while let Some(result) = results.next().await {
        let written = result.map_err(|e| Error::new(ErrorKind::Io, format!("writing data files: {e}")))??;
        data_files.extend(written);
    }
    Ok(Written { data_files, partitions: count, runs })
}

async fn write_partition(
    target: &DataFileTarget,
    files: &SpillFiles,
    number: usize,
    mut runs: Vec<Run>,
) -> Result<Vec<DataFile>> {
    // Too many runs to read at once: merge them in groups into longer runs first.
    let mut group = 0;
    while runs.len() > MAX_MERGE_WIDTH {
        let mut merged = Vec::new();
        for chunk in runs.chunks(MAX_MERGE_WIDTH) {
            if chunk.len() == 1 {
                merged.push(chunk[0]);
                continue;
            }
            let name = format!("merge-{number:06}-{group:04}.arrow");
            group += 1;
            let mut out = RunFile::new(files.dir.join(&name), target.arrow_schema.clone());
            for batch in Merge::new(target, files, chunk.to_vec())? {
                out.append(&batch?)?;
            }
            let batches = out.batches;
            out.finish()?;
            let file = files.open(&name)?;
            merged.push(Run { file, first_batch: 0, batches });
        }
        runs = merged;
    }
    let merge = Merge::new(target, files, runs)?;
    target.write_partition(number, merge).await
}

/// A run being read: its current batch and position.
struct Cursor {
    run: Run,
    next_batch: usize,
    batch: RecordBatch,
    keys: Option<Rows>,
    row: usize,
}

/// The rows of some runs of one partition in sort-key order, as batches (the runs one after
/// another when the table has no sort order).
struct Merge<'a> {
    files: &'a SpillFiles,
    sort: Option<(RowConverter, &'a super::data_files::SortKey)>,
    cursors: Vec<Option<Cursor>>,
    /// Smallest current key first; ties go to the earlier run, so equal keys keep run order.
    heap: BinaryHeap<Reverse<(OwnedRow, usize)>>,
    /// Runs still to read in order, when there is no sort key.
    sequential: usize,
}

impl<'a> Merge<'a> {
    fn new(target: &'a DataFileTarget, files: &'a SpillFiles, runs: Vec<Run>) -> Result<Merge<'a>> {
        let sort = if target.sort.is_empty() { None } else { Some((target.sort.converter()?, &target.sort)) };
        let mut merge = Merge { files, sort, cursors: Vec::new(), heap: BinaryHeap::new(), sequential: 0 };
        for run in runs {
            merge.cursors.push(None);
            let index = merge.cursors.len() - 1;
            if merge.sort.is_some() {
                if let Some(cursor) = merge.open(run, run.first_batch)? {
                    merge.cursors[index] = Some(cursor);
                    merge.push(index);
                }
            } else {
                merge.cursors[index] = Some(Cursor {
                    run,
                    next_batch: run.first_batch,
                    batch: RecordBatch::new_empty(Arc::new(arrow_schema::Schema::empty())),
                    keys: None,
                    row: 0,
                });
            }
        }
        Ok(merge)
    }

    /// The cursor of `run` at batch `index`, or `None` past the run's end.
    fn open(&self, run: Run, index: usize) -> Result<Option<Cursor>> {
        if index >= run.first_batch + run.batches {
            return Ok(None);
        }
        let batch = self.files.batch(run.file, index)?;
        let keys = match &self.sort {
            Some((converter, key)) => Some(key.rows(converter, &batch)?),
            None => None,
        };
        Ok(Some(Cursor { run, next_batch: index + 1, batch, keys, row: 0 }))
    }

    fn push(&mut self, index: usize) {
        let cursor = self.cursors[index].as_ref().expect("open cursor");
        let key = cursor.keys.as_ref().expect("sorted run").row(cursor.row).owned();
        self.heap.push(Reverse((key, index)));
    }

    /// Moves cursor `index` one row on; false once its run is exhausted.
    fn advance(&mut self, index: usize) -> Result<bool> {
        let cursor = self.cursors[index].as_mut().expect("open cursor");
        cursor.row += 1;
        if cursor.row < cursor.batch.num_rows() {
            return Ok(true);
        }
        let (run, next) = (cursor.run, cursor.next_batch);
        self.cursors[index] = self.open(run, next)?;
        Ok(self.cursors[index].is_some())
    }

    fn next_sorted(&mut self) -> Result<Option<RecordBatch>> {
        // Rows picked so far: (cursor's batch among `batches`, row).
        let mut batches: Vec<RecordBatch> = Vec::new();
        let mut slot_of: Vec<Option<usize>> = vec![None; self.cursors.len()];
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(OUTPUT_ROWS);
        while picks.len() < OUTPUT_ROWS {
            let Some(Reverse((_, index))) = self.heap.pop() else { break };
            let cursor = self.cursors[index].as_ref().expect("open cursor");
            let slot = *slot_of[index].get_or_insert_with(|| {
                batches.push(cursor.batch.clone());
                batches.len() - 1
            });
            picks.push((slot, cursor.row));
            let before = cursor.next_batch;
            if self.advance(index)? {
                // A new batch of the same run takes a new slot.
                if self.cursors[index].as_ref().is_some_and(|c| c.next_batch != before) {
                    slot_of[index] = None;
                }
                self.push(index);
            } else {
                slot_of[index] = None;
            }
        }
        if picks.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        arrow_select::interleave::interleave_record_batch(&refs, &picks).map(Some).map_err(arrow_error)
    }

    fn next_sequential(&mut self) -> Result<Option<RecordBatch>> {
        while self.sequential < self.cursors.len() {
            let cursor = self.cursors[self.sequential].as_mut().expect("sequential cursor");
            let run = cursor.run;
            if cursor.next_batch < run.first_batch + run.batches {
                let index = cursor.next_batch;
                cursor.next_batch += 1;
                return self.files.batch(run.file, index).map(Some);
            }
            self.sequential += 1;
        }
        Ok(None)
    }
}

impl Iterator for Merge<'_> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        let next = if self.sort.is_some() { self.next_sorted() } else { self.next_sequential() };
        next.transpose()
    }
}

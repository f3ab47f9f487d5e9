//! The Iceberg sink of an unload: every split's rows, converted and sorted by partition and
//! sort key, are spilled to local disk ([`spill`]) and the spill file recorded in the
//! checkpoint; when the whole ring is read, each partition's rows from every split are
//! merged into data files of about the target size ([`merge`], [`data_files`]) and
//! committed as one snapshot carrying the run id ([`table`]; with `--mode replace` the
//! snapshot holds only the run's files, [`replace`]). Nothing is visible before that
//! commit, and a run id already among the table's snapshots is never committed again, so
//! every attempt of a run, however it ended, adds each row exactly once.
//!
//! The CQL → Iceberg type mapping is [`schema`] (types, partitioning, evolution) and
//! [`convert`] (the Arrow arrays cqlbulk reads → the arrays of the Iceberg schema).

pub mod convert;
pub mod data_files;
pub mod expire;
pub mod merge;
pub mod replace;
pub mod schema;
pub mod shards;
pub mod spill;
pub mod table;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

pub use self::data_files::{DataFileOptions, DataFileTarget};
use self::schema::CqlColumn;
use self::shards::{ShardFiles, ShardRecord};
pub use self::spill::SpillWriter;
pub use self::table::{ExportConfig, ExportTable, WriteMode};
use super::{Finished, Resumed, RunFacts};
use crate::catalog::CatalogConfig;
use crate::error::{Error, Result};
use crate::operation::{SplitDone, WrittenFile};
use crate::storage::StorageOptions;

/// Rows all splits together hold in memory before spilling them (sorted) to local disk.
/// The directory of spill files inside the operation directory (its local working copy).
pub const SPILL_DIR: &str = "spill";

const SPILL_BUFFER_BYTES: usize = 64 << 20;
const MIN_SPLIT_BUFFER_BYTES: usize = 4 << 20;

pub struct IcebergSink {
    pub table: ExportTable,
    pub files: Arc<DataFileTarget>,
    run_id: String,
    /// How to reach the table's files when they are in object storage.
    storage: StorageOptions,
    /// The operation's `spill/` directory: splits' sorted rows until the end of the run.
    spill_dir: PathBuf,
    /// Splits read at once (they share the spill buffer); partitions written at once.
    workers: usize,
    /// Append or replace, and the catalog a replace commits through.
    mode: WriteMode,
    catalog: CatalogConfig,
    /// A shard of a sharded export records its data files there instead of committing.
    shard: Option<ShardRecord>,
}

impl IcebergSink {
    /// Opens (creating or evolving) the table `export` names for `columns`; data files of
    /// run `run_id` are named after it, and splits spill their rows into `spill_dir`.
    pub async fn open(
        export: &ExportConfig,
        columns: &[CqlColumn],
        run_id: &str,
        options: DataFileOptions,
        key_columns: Vec<String>,
        spill_dir: PathBuf,
        workers: usize,
    ) -> Result<IcebergSink> {
        let table = export.prepare(columns, &key_columns).await?;
        let files = DataFileTarget::new(&table.table, file_prefix(run_id), options, key_columns)?;
        std::fs::create_dir_all(&spill_dir).map_err(|e| Error::io(spill_dir.display(), e))?;
        let storage = export.catalog.storage();
        Ok(IcebergSink {
            table,
            files: Arc::new(files),
            run_id: run_id.to_string(),
            storage,
            spill_dir,
            workers: workers.max(1),
            mode: export.mode,
            catalog: export.catalog.clone(),
            shard: None,
        })
    }

    /// The sink of a shard: it records its data files at `record` instead of committing.
    pub fn recording(mut self, record: Option<ShardRecord>) -> IcebergSink {
        self.shard = record;
        self
    }

    /// The writer of one attempt at split `split`.
    pub fn split_writer(&self, split: usize) -> SpillWriter {
        // The attempt tag keeps names unique if the same split is written again (retry, resume).
        let name = format!("split-{split:06}-{:04x}.arrow", rand::random::<u16>());
        let buffer = (SPILL_BUFFER_BYTES / self.workers).max(MIN_SPLIT_BUFFER_BYTES);
        SpillWriter::new(self.files.clone(), &self.spill_dir, name, buffer)
    }

    /// Before a resumed run writes: either the run is already committed (an earlier
    /// attempt committed, then stopped before saying so), or the spill files no finished
    /// split recorded and every data file of the run are deleted (data files are only
    /// written at the end, and no snapshot references them yet).
    pub async fn resume(&self, done: &[SplitDone]) -> Result<Resumed> {
        if let Some(snapshot_id) = table::committed_snapshot(&self.table.table, &self.run_id) {
            self.remove_spill_dir();
            return Ok(Resumed::Committed { snapshot_id });
        }
        if let Some(old) = done.iter().find(|d| d.rows > 0 && d.spill.is_none()) {
            return Err(Error::new(
                crate::error::ErrorKind::BadInput,
                format!(
                    "split {} of this run was recorded by an older cqlbulk that wrote data files per split; \
                     it cannot be resumed by this version: start a new run without --resume",
                    old.split
                ),
            ));
        }
        let recorded: HashSet<&str> =
            done.iter().filter_map(|d| d.spill.as_ref()).map(|s| s.name.as_str()).collect();
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.spill_dir).map_err(|e| Error::io(self.spill_dir.display(), e))? {
            let entry = entry.map_err(|e| Error::io(self.spill_dir.display(), e))?;
            if !recorded.contains(entry.file_name().to_string_lossy().as_ref()) {
                std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path().display(), e))?;
                removed += 1;
            }
        }
        removed += table::remove_unrecorded_files(
            &self.table.table,
            &file_prefix(&self.run_id),
            &HashSet::new(),
            &self.storage,
        )
        .await?;
        Ok(Resumed::Removed(removed))
    }

    /// Writes the data files of every finished split's spilled rows, commits them as the
    /// run's one snapshot (a shard records them for `iceberg commit` instead), and deletes
    /// the spill files.
    pub async fn commit(&self, done: &[SplitDone], facts: &RunFacts, log: &dyn Fn(&str)) -> Result<Finished> {
        let spills: Vec<_> = done.iter().filter_map(|d| d.spill.clone()).collect();
        let spilled_mib = spills.iter().map(|s| s.bytes).sum::<u64>() >> 20;
        log(&format!(
            "every range is read; writing data files from {} spill files ({spilled_mib} MiB)",
            spills.len()
        ));
        let started = std::time::Instant::now();
        let written = merge::write_data_files(
            self.files.clone(),
            &self.spill_dir,
            &spills,
            self.workers.min(MAX_PARTITION_WRITERS),
        )
        .await?;
        log(&format!(
            "data files: {} written for {} partitions from {} sorted runs ({spilled_mib} MiB spilled) in {:.1} s",
            written.data_files.len(),
            written.partitions,
            written.runs,
            started.elapsed().as_secs_f64()
        ));
        let files_written: Vec<WrittenFile> = written
            .data_files
            .iter()
            .map(|f| WrittenFile {
                name: f.file_path().to_string(),
                rows: f.record_count(),
                bytes: f.file_size_in_bytes(),
            })
            .collect();
        let rows: u64 = done.iter().map(|d| d.rows).sum();
        if let Some(record) = &self.shard {
            let mut files = ShardFiles::new(
                record.shard,
                self.mode,
                &self.catalog,
                &self.table.table,
                written.data_files,
            )?;
            files.source_cluster = facts.source_cluster.clone();
            files.source_table = facts.source_table.clone();
            files.splits = facts.splits;
            files.rows = rows;
            let text = serde_json::to_vec_pretty(&files).expect("shard record serializes");
            crate::operation::write_durably(&record.path, &text)?;
            log(&format!(
                "shard {}: {} data files recorded in {}; `cqlbulk iceberg commit` commits them with the other shards'",
                record.shard,
                files.data_files.len(),
                shards::SHARD_FILES
            ));
            self.remove_spill_dir();
            return Ok(Finished { snapshot_id: None, files: Some(files_written) });
        }
        let properties = HashMap::from([
            (table::RUN_ID_PROPERTY.to_string(), self.run_id.clone()),
            (table::SOURCE_CLUSTER_PROPERTY.to_string(), facts.source_cluster.clone()),
            (table::SOURCE_TABLE_PROPERTY.to_string(), facts.source_table.clone()),
            (table::ROWS_PROPERTY.to_string(), rows.to_string()),
            (table::SPLITS_PROPERTY.to_string(), facts.splits.to_string()),
            (table::VERSION_PROPERTY.to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ]);
        let (catalog, ident, run_id) = (self.table.catalog.as_ref(), &self.table.ident, &self.run_id);
        let committed = match self.mode {
            WriteMode::Append => {
                table::commit_run(catalog, ident, run_id, written.data_files, properties).await?
            }
            WriteMode::Replace => {
                replace::commit_replace(&self.catalog, catalog, ident, run_id, written.data_files, properties)
                    .await?
            }
        };
        self.remove_spill_dir();
        Ok(Finished { snapshot_id: Some(committed.snapshot_id()), files: Some(files_written) })
    }

    /// Spill files are of no use once the run is committed.
    fn remove_spill_dir(&self) {
        let _ = std::fs::remove_dir_all(&self.spill_dir);
    }

    pub fn describe_table(&self) -> String {
        self.table.ident.to_string()
    }
}

/// Partitions whose data files are written at once at the end of a run: each holds a
/// Parquet row group and one batch per merged run in memory.
const MAX_PARTITION_WRITERS: usize = 3;

/// Start of every data file name of run `run_id`.
fn file_prefix(run_id: &str) -> String {
    format!("cqlbulk-{run_id}")
}

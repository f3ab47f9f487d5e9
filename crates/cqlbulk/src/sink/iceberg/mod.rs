//! The Iceberg sink of an unload: every split's rows become Parquet data files
//! ([`data_files`]), recorded in the checkpoint; when the whole ring is read, the run's
//! files are committed as one snapshot carrying the run id ([`table`]). Nothing is visible
//! before that commit, and a run id already among the table's snapshots is never committed
//! again, so every attempt of a run, however it ended, adds each row exactly once.
//!
//! The CQL → Iceberg type mapping is [`schema`] (types, partitioning, evolution) and
//! [`convert`] (the Arrow arrays cqlbulk reads → the arrays of the Iceberg schema).

pub mod convert;
pub mod data_files;
pub mod schema;
pub mod table;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub use self::data_files::{DataFileOptions, DataFileTarget, SplitFiles, SplitWriter};
use self::schema::CqlColumn;
pub use self::table::{ExportConfig, ExportTable};
use super::{Resumed, RunFacts};
use crate::error::Result;
use crate::operation::SplitDone;
use crate::storage::StorageOptions;

pub struct IcebergSink {
    pub table: ExportTable,
    pub files: Arc<DataFileTarget>,
    run_id: String,
    /// How to reach the table's files when they are in object storage.
    storage: StorageOptions,
}

impl IcebergSink {
    /// Opens (creating or evolving) the table `export` names for `columns`; data files of
    /// run `run_id` are named after it.
    pub async fn open(
        export: &ExportConfig,
        columns: &[CqlColumn],
        run_id: &str,
        options: DataFileOptions,
        key_columns: Vec<String>,
    ) -> Result<IcebergSink> {
        let table = export.prepare(columns).await?;
        let files = DataFileTarget::new(&table.table, file_prefix(run_id), options, key_columns)?;
        let storage = export.catalog.storage();
        Ok(IcebergSink { table, files: Arc::new(files), run_id: run_id.to_string(), storage })
    }

    /// Before a resumed run writes: either the run is already committed (an earlier
    /// attempt committed, then stopped before saying so), or the data files no finished
    /// split recorded are deleted (no snapshot references them yet).
    pub async fn resume(&self, done: &[SplitDone]) -> Result<Resumed> {
        if let Some(snapshot_id) = table::committed_snapshot(&self.table.table, &self.run_id) {
            return Ok(Resumed::Committed { snapshot_id });
        }
        let recorded: HashSet<String> =
            done.iter().flat_map(|d| d.files.iter().map(|f| f.name.clone())).collect();
        let removed = table::remove_unrecorded_files(
            &self.table.table,
            &file_prefix(&self.run_id),
            &recorded,
            &self.storage,
        )
        .await?;
        Ok(Resumed::Removed(removed))
    }

    /// Commits the data files of every finished split as the run's one snapshot.
    pub async fn commit(&self, done: &[SplitDone], facts: &RunFacts) -> Result<i64> {
        let data_files: Vec<String> = done.iter().flat_map(|d| d.data_files.iter().cloned()).collect();
        let rows: u64 = done.iter().map(|d| d.rows).sum();
        let properties = HashMap::from([
            (table::RUN_ID_PROPERTY.to_string(), self.run_id.clone()),
            (table::SOURCE_CLUSTER_PROPERTY.to_string(), facts.source_cluster.clone()),
            (table::SOURCE_TABLE_PROPERTY.to_string(), facts.source_table.clone()),
            (table::ROWS_PROPERTY.to_string(), rows.to_string()),
            (table::SPLITS_PROPERTY.to_string(), facts.splits.to_string()),
            (table::VERSION_PROPERTY.to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ]);
        let committed = table::commit_run(
            self.table.catalog.as_ref(),
            &self.table.ident,
            &self.run_id,
            &data_files,
            properties,
        )
        .await?;
        Ok(committed.snapshot_id())
    }

    pub fn describe_table(&self) -> String {
        self.table.ident.to_string()
    }
}

/// Start of every data file name of run `run_id`.
fn file_prefix(run_id: &str) -> String {
    format!("cqlbulk-{run_id}")
}

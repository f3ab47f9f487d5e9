//! Sharded Iceberg exports: each shard (`unload --shard I/N`) writes its data files and
//! records them in `data-files.json` of its operation instead of committing; `cqlbulk iceberg
//! commit` then commits every shard's files in one snapshot, once.
//!
//! The job location holds one operation per shard (`shard-I-of-N`). A shard run again
//! resumes its operation: an unfinished one deletes the data files it had not recorded and
//! writes them anew, a finished one does nothing. So each shard's record names exactly the
//! files of one complete attempt, and the commit, whose run id is the job location, lands
//! once however often it runs.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use iceberg::spec::{DataFile, FormatVersion, deserialize_data_file_from_json, serialize_data_file_to_json};
use iceberg::table::Table;
use serde::{Deserialize, Serialize};

use super::replace::commit_replace;
use super::table::{self, Committed, WriteMode};
use crate::catalog::{self, CatalogConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::operation::Shard;
use crate::storage::Place;

/// The record of a finished shard, in its operation.
pub const SHARD_FILES: &str = "data-files.json";

/// Where a shard records its data files instead of committing them.
#[derive(Clone, Debug)]
pub struct ShardRecord {
    pub shard: Shard,
    pub path: PathBuf,
}

/// What a finished shard wrote: everything the commit needs besides the catalog's secrets.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardFiles {
    pub shard: Shard,
    /// The catalog as [`CatalogConfig::describe`] names it (no secrets).
    pub catalog: String,
    pub namespace: String,
    pub table: String,
    /// `append` or `replace`.
    pub mode: String,
    pub source_cluster: String,
    pub source_table: String,
    pub splits: usize,
    pub rows: u64,
    pub partition_spec_id: i32,
    pub schema_id: i32,
    /// Each data file in Iceberg's JSON form of a manifest entry's data file.
    pub data_files: Vec<String>,
}

impl ShardFiles {
    /// The record of `files`, written into `table`.
    pub fn new(
        shard: Shard,
        mode: WriteMode,
        catalog: &CatalogConfig,
        table: &Table,
        files: Vec<DataFile>,
    ) -> Result<ShardFiles> {
        let metadata = table.metadata();
        let schema = metadata.current_schema();
        let spec = metadata.default_partition_spec();
        let context = format!("record the data files of shard {shard}");
        let err = |e| catalog::catalog_error(&context, e);
        let partition_type = spec.partition_type(schema).map_err(err)?;
        let data_files = files
            .into_iter()
            .map(|file| serialize_data_file_to_json(file, &partition_type, FormatVersion::V2))
            .collect::<iceberg::Result<Vec<_>>>()
            .map_err(err)?;
        let ident = table.identifier();
        Ok(ShardFiles {
            shard,
            catalog: catalog.describe(),
            namespace: ident.namespace().join("."),
            table: ident.name().to_string(),
            mode: mode_name(mode).to_string(),
            source_cluster: String::new(),
            source_table: String::new(),
            splits: 0,
            rows: 0,
            partition_spec_id: spec.spec_id(),
            schema_id: schema.schema_id(),
            data_files,
        })
    }
}

fn mode_name(mode: WriteMode) -> &'static str {
    match mode {
        WriteMode::Append => "append",
        WriteMode::Replace => "replace",
    }
}

/// What committing a sharded export did.
#[derive(Debug, Serialize, Deserialize)]
pub struct CommitSummary {
    /// `namespace.table`.
    pub table: String,
    pub snapshot_id: i64,
    /// An earlier commit of the same job landed: nothing was committed now.
    pub already_committed: bool,
    pub shards: u64,
    pub rows: u64,
    pub data_files: usize,
    pub mode: String,
}

/// Commits the data files of every shard under `job` in one snapshot of the table they were
/// written for, through `catalog` (the same catalog the shards wrote to). Refuses when a
/// shard is missing or unfinished, or when the shards disagree about the table.
pub async fn commit(catalog: &CatalogConfig, job: &Place) -> Result<CommitSummary> {
    let where_ = job.describe();
    let bad = |message: String| Error::new(ErrorKind::BadInput, format!("--operation {where_}: {message}"));
    let mut shards: BTreeMap<u64, ShardFiles> = BTreeMap::new();
    let names: Vec<(String, Shard)> = job
        .child_names()
        .await?
        .into_iter()
        .filter_map(|name| Shard::from_dir_name(&name).map(|shard| (name, shard)))
        .collect();
    let Some(count) = names.first().map(|(_, shard)| shard.count) else {
        return Err(bad(
            "holds no shard operation (shard-I-of-N): run the shards with --shard I/N --log-dir pointing here first"
                .to_string(),
        ));
    };
    if let Some((name, _)) = names.iter().find(|(_, shard)| shard.count != count) {
        return Err(bad(format!("holds shards of {count} and {name}: one job location per export")));
    }
    for (name, shard) in &names {
        let record = job.child(name)?.read(SHARD_FILES).await?.ok_or_else(|| {
            bad(format!(
                "shard {shard} has not finished ({name}/{SHARD_FILES} is missing): run that shard again (it resumes), then commit"
            ))
        })?;
        let files: ShardFiles = serde_json::from_slice(&record)
            .map_err(|e| bad(format!("{name}/{SHARD_FILES}: not a cqlbulk shard record: {e}")))?;
        shards.insert(shard.index, files);
    }
    let missing: Vec<String> =
        (0..count).filter(|i| !shards.contains_key(i)).map(|i| format!("{i}/{count}")).collect();
    if !missing.is_empty() {
        let shown = missing.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
        return Err(bad(format!(
            "{} of {count} shards never started ({shown}{}): run them, then commit",
            missing.len(),
            if missing.len() > 10 { ", …" } else { "" }
        )));
    }
    let first = &shards[&0];
    for files in shards.values() {
        let what = (&files.catalog, &files.namespace, &files.table, &files.mode);
        if what != (&first.catalog, &first.namespace, &first.table, &first.mode) {
            return Err(bad(format!(
                "shard {} wrote to {}#{}.{} ({}), shard {} to {}#{}.{} ({}): every shard of a job exports to one table",
                first.shard,
                first.catalog,
                first.namespace,
                first.table,
                first.mode,
                files.shard,
                files.catalog,
                files.namespace,
                files.table,
                files.mode
            )));
        }
    }
    if catalog.describe() != first.catalog {
        return Err(bad(format!(
            "the shards wrote through the catalog {}; give the same catalog flags (this command names {})",
            first.catalog,
            catalog.describe()
        )));
    }

    let opened = catalog.open().await?;
    let ident = catalog::table_ident(&first.namespace, &first.table)?;
    let context = format!("commit the shards of {where_} to {ident}");
    let err = |e| catalog::catalog_error(&context, e);
    let loaded = opened.load_table(&ident).await.map_err(err)?;
    let metadata = loaded.metadata();
    let mut data_files: Vec<DataFile> = Vec::new();
    for files in shards.values() {
        let schema = metadata.schema_by_id(files.schema_id).unwrap_or(metadata.current_schema());
        let spec = metadata.partition_spec_by_id(files.partition_spec_id).ok_or_else(|| {
            bad(format!(
                "shard {} wrote for partition spec {}, which {ident} no longer has",
                files.shard, files.partition_spec_id
            ))
        })?;
        let partition_type = spec.partition_type(schema).map_err(err)?;
        for json in &files.data_files {
            data_files.push(
                deserialize_data_file_from_json(json, files.partition_spec_id, &partition_type, schema)
                    .map_err(err)?,
            );
        }
    }
    let rows: u64 = shards.values().map(|f| f.rows).sum();
    let run_id = where_.clone();
    let properties = HashMap::from([
        (table::RUN_ID_PROPERTY.to_string(), run_id.clone()),
        (table::SOURCE_CLUSTER_PROPERTY.to_string(), first.source_cluster.clone()),
        (table::SOURCE_TABLE_PROPERTY.to_string(), first.source_table.clone()),
        (table::ROWS_PROPERTY.to_string(), rows.to_string()),
        (table::SPLITS_PROPERTY.to_string(), shards.values().map(|f| f.splits).sum::<usize>().to_string()),
        (table::SHARDS_PROPERTY.to_string(), count.to_string()),
        (table::VERSION_PROPERTY.to_string(), env!("CARGO_PKG_VERSION").to_string()),
    ]);
    let file_count = data_files.len();
    let committed = if first.mode == "replace" {
        commit_replace(catalog, opened.as_ref(), &ident, &run_id, data_files, properties).await?
    } else {
        table::commit_run(opened.as_ref(), &ident, &run_id, data_files, properties).await?
    };
    let summary = CommitSummary {
        table: ident.to_string(),
        snapshot_id: committed.snapshot_id(),
        already_committed: matches!(committed, Committed::Already { .. }),
        shards: count,
        rows,
        data_files: file_count,
        mode: first.mode.clone(),
    };
    // For whoever looks at the job later; the table's snapshot is what counts.
    let text = serde_json::to_vec_pretty(&summary).expect("summary serializes");
    job.write("commit.json", text).await?;
    Ok(summary)
}

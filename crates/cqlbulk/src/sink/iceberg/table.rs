//! The Iceberg table of an export: created or evolved to the Cassandra table's columns,
//! the commit of a run's data files as one append snapshot whose summary carries the run
//! id (a replace is [`super::replace`]), the check whether a run is already committed, and the removal of a run's data files
//! no checkpoint recorded. A table's snapshots, for `cqlbulk iceberg snapshots`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use iceberg::spec::{DataFile, NullOrder};
use iceberg::table::Table;
use iceberg::transaction::AddColumn;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};
use serde::Serialize;

use super::data_files as writer;
use super::schema::{self, CQL_COLUMNS_PROPERTY, CqlColumn, ExplicitOptions, PartitionTerm, TypeOptions};
use crate::catalog::{self, CatalogConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::storage::{ObjectStore, StorageOptions, is_object_url};

/// Snapshot summary keys cqlbulk writes.
pub const RUN_ID_PROPERTY: &str = "cqlbulk.run-id";
pub const SOURCE_CLUSTER_PROPERTY: &str = "cqlbulk.source-cluster";
pub const SOURCE_TABLE_PROPERTY: &str = "cqlbulk.source-table";
pub const ROWS_PROPERTY: &str = "cqlbulk.rows";
pub const SPLITS_PROPERTY: &str = "cqlbulk.splits";
pub const VERSION_PROPERTY: &str = "cqlbulk.version";
/// The number of shards whose files a sharded export's commit holds.
pub const SHARDS_PROPERTY: &str = "cqlbulk.shards";

/// The Iceberg side of an export, as the user asked for it.
#[derive(Clone, Debug)]
pub struct ExportConfig {
    pub catalog: CatalogConfig,
    pub namespace: String,
    pub table: String,
    pub types: TypeOptions,
    pub explicit: ExplicitOptions,
    /// Partitioning of a new table; for an existing table it must match or be `None`.
    pub partition_by: Option<Vec<PartitionTerm>>,
    /// Columns rows are sorted by within data files, recorded as the table's sort order
    /// (default: the primary key for a new or unsorted table, else the table's own order).
    pub sort_by: Option<Vec<String>>,
    /// Whether the run's snapshot adds to the table or becomes its whole content.
    pub mode: WriteMode,
}

/// What an export's one snapshot does to the table's content.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WriteMode {
    /// The run's rows are added to what the table holds.
    #[default]
    Append,
    /// The table holds exactly the run's rows; the snapshot before stays for time travel.
    Replace,
}

/// What preparing the table did.
#[derive(Debug, Default, Serialize)]
pub struct Prepared {
    pub created: bool,
    pub added_columns: Vec<String>,
    pub dropped_columns: Vec<String>,
}

/// An open catalog and the table an export writes to, ready for data files.
pub struct ExportTable {
    pub catalog: Arc<dyn Catalog>,
    pub ident: TableIdent,
    pub table: Table,
    pub prepared: Prepared,
}

impl ExportConfig {
    pub fn describe(&self) -> String {
        let mode = match self.mode {
            WriteMode::Append => "",
            WriteMode::Replace => " (replace)",
        };
        format!("iceberg:{}#{}.{}{mode}", self.catalog.describe(), self.namespace, self.table)
    }

    /// Opens the catalog, creates the namespace and table if missing, and evolves an existing
    /// table's schema to the export's columns (new columns added as optional fields, dropped
    /// ones kept). Schema changes are committed before any data file is written, so files
    /// carry the field ids they will be read with.
    pub async fn prepare(&self, columns: &[CqlColumn], key_columns: &[String]) -> Result<ExportTable> {
        let catalog = self.catalog.open().await?;
        let ident = catalog::table_ident(&self.namespace, &self.table)?;
        let context = format!("{} table {}", self.catalog.describe(), ident);
        let err = |e| catalog::catalog_error(&context, e);
        ensure_namespace(catalog.as_ref(), ident.namespace()).await.map_err(err)?;
        let property = schema::cql_columns_property(columns);
        let mut prepared = Prepared::default();

        if !catalog.table_exists(&ident).await.map_err(err)? {
            let schema = schema::new_table_schema(columns, &self.types)?;
            let mut creation = TableCreation::builder()
                .name(ident.name().to_string())
                .schema(schema.clone())
                .properties([
                    (CQL_COLUMNS_PROPERTY.to_string(), property.clone()),
                    ("write.format.default".to_string(), "parquet".to_string()),
                    ("write.parquet.compression-codec".to_string(), "zstd".to_string()),
                ])
                .build();
            if let Some(terms) = self.partition_by.as_ref().filter(|t| !t.is_empty()) {
                creation.partition_spec = Some(schema::partition_spec(terms, &schema)?);
            }
            match catalog.create_table(ident.namespace(), creation).await {
                Ok(_) => prepared.created = true,
                // Another run created it meanwhile (shards start together): evolve that one
                // like any existing table. The SQL catalog reports that race as a failed
                // unique constraint, not as "already exists", so the table is looked for.
                Err(e) if catalog.table_exists(&ident).await.unwrap_or(false) => {
                    tracing::debug!("{context}: created by another writer meanwhile ({e})");
                }
                Err(e) => return Err(err(e)),
            }
        }

        let table = catalog.load_table(&ident).await.map_err(err)?;
        if !prepared.created {
            if let Some(terms) = &self.partition_by {
                check_partitioning(&table, terms)?;
            }
            let current = table.metadata().current_schema();
            let evolution = schema::evolve(columns, current, &self.types, &self.explicit)
                .map_err(|e| e.context(&context))?;
            let same_property = table.metadata().properties().get(CQL_COLUMNS_PROPERTY) == Some(&property);
            if !evolution.added.is_empty() || !same_property {
                let tx = Transaction::new(&table);
                let mut tx = if evolution.added.is_empty() {
                    tx
                } else {
                    let mut update = tx.update_schema();
                    for (name, typ, cql) in &evolution.added {
                        update = update.add_column(
                            AddColumn::builder()
                                .name(name.clone())
                                .field_type(typ.clone())
                                .doc(cql.clone())
                                .build(),
                        );
                    }
                    update.apply(tx).map_err(err)?
                };
                tx = tx
                    .update_table_properties()
                    .set(CQL_COLUMNS_PROPERTY.to_string(), property.clone())
                    .apply(tx)
                    .map_err(err)?;
                tx.commit(catalog.as_ref()).await.map_err(err)?;
            }
            prepared.added_columns = evolution.added.into_iter().map(|(name, _, _)| name).collect();
            prepared.dropped_columns = evolution.dropped;
        }
        let table = catalog.load_table(&ident).await.map_err(err)?;
        let table = self
            .ensure_sort_order(catalog.as_ref(), table, key_columns)
            .await
            .map_err(|e| e.context(&context))?;
        Ok(ExportTable { catalog, ident, table, prepared })
    }

    /// Records the order rows are written in as the table's default sort order: `--sort-by`
    /// when given, else the primary key when the table has no order yet (an order someone set
    /// on the table is kept). Only top-level primitive columns can be sort fields, so the
    /// primary key contributes its leading such columns.
    async fn ensure_sort_order(
        &self,
        catalog: &dyn Catalog,
        table: Table,
        key_columns: &[String],
    ) -> Result<Table> {
        let schema = table.metadata().current_schema().clone();
        let sortable =
            |name: &str| schema.as_struct().field_by_name(name).is_some_and(|f| f.field_type.is_primitive());
        let wanted: Vec<String> = match &self.sort_by {
            Some(columns) => {
                for name in columns {
                    if !sortable(name) {
                        return Err(Error::new(
                            ErrorKind::BadInput,
                            format!(
                                "--sort-by {name}: not a column of the table with a primitive Iceberg type \
                                 (collections, tuples and UDTs cannot be sort fields)"
                            ),
                        ));
                    }
                }
                columns.clone()
            }
            None if table.metadata().default_sort_order().is_unsorted() => {
                key_columns.iter().take_while(|name| sortable(name)).cloned().collect()
            }
            None => return Ok(table),
        };
        let current: Vec<String> = table
            .metadata()
            .default_sort_order()
            .fields
            .iter()
            .map(|f| schema.field_by_id(f.source_id).map(|c| c.name.clone()).unwrap_or_default())
            .collect();
        if wanted.is_empty() || current == wanted {
            return Ok(table);
        }
        let tx = Transaction::new(&table);
        let mut order = tx.replace_sort_order();
        for name in &wanted {
            order = order.asc(name, NullOrder::First);
        }
        let tx = order.apply(tx).map_err(|e| catalog::catalog_error("sort order", e))?;
        tx.commit(catalog).await.map_err(|e| catalog::catalog_error("sort order", e))
    }
}

async fn ensure_namespace(catalog: &dyn Catalog, namespace: &NamespaceIdent) -> iceberg::Result<()> {
    if catalog.namespace_exists(namespace).await? {
        return Ok(());
    }
    match catalog.create_namespace(namespace, HashMap::new()).await {
        // Created by another writer meanwhile (the SQL catalog says so as a failed unique
        // constraint).
        Err(e)
            if e.kind() != iceberg::ErrorKind::NamespaceAlreadyExists
                && !catalog.namespace_exists(namespace).await.unwrap_or(false) =>
        {
            Err(e)
        }
        _ => Ok(()),
    }
}

/// iceberg-rust cannot evolve a partition spec yet, so `--partition-by` on an existing
/// table must say what the table already has.
fn check_partitioning(table: &Table, terms: &[PartitionTerm]) -> Result<()> {
    let metadata = table.metadata();
    let schema = metadata.current_schema();
    let current: Vec<String> = metadata
        .default_partition_spec()
        .fields()
        .iter()
        .map(|f| {
            let column = schema.field_by_id(f.source_id).map(|c| c.name.clone()).unwrap_or_default();
            PartitionTerm { column, transform: f.transform }.to_string()
        })
        .collect();
    let wanted: Vec<String> = terms.iter().map(ToString::to_string).collect();
    if current != wanted {
        return Err(Error::new(
            ErrorKind::BadInput,
            format!(
                "--partition-by {}: the Iceberg table is partitioned by {}; changing the partitioning \
                 of an existing table is not supported: drop --partition-by or export to a new table",
                wanted.join(", "),
                if current.is_empty() { "nothing".to_string() } else { current.join(", ") }
            ),
        ));
    }
    Ok(())
}

/// The outcome of committing a run.
#[derive(Debug)]
pub enum Committed {
    New {
        snapshot_id: i64,
    },
    /// The run id was already in the table: an earlier attempt committed, then crashed.
    Already {
        snapshot_id: i64,
    },
}

impl Committed {
    pub fn snapshot_id(&self) -> i64 {
        match self {
            Committed::New { snapshot_id } | Committed::Already { snapshot_id } => *snapshot_id,
        }
    }
}

/// The snapshot of `table` that run `run_id` committed, if any.
pub fn committed_snapshot(table: &Table, run_id: &str) -> Option<i64> {
    table
        .metadata()
        .snapshots()
        .find(|s| s.summary().additional_properties.get(RUN_ID_PROPERTY).map(String::as_str) == Some(run_id))
        .map(|s| s.snapshot_id())
}

/// Commits the data files of a run as one append snapshot, exactly once: if the run id is
/// already in the table, nothing is committed. Conflicts with other writers are retried on
/// fresh metadata (iceberg-rust's transaction does that for retryable errors).
pub async fn commit_run(
    catalog: &dyn Catalog,
    ident: &TableIdent,
    run_id: &str,
    files: Vec<DataFile>,
    properties: HashMap<String, String>,
) -> Result<Committed> {
    let context = format!("commit to {ident}");
    let err = |e| catalog::catalog_error(&context, e);
    let table = catalog.load_table(ident).await.map_err(err)?;
    if let Some(snapshot_id) = committed_snapshot(&table, run_id) {
        return Ok(Committed::Already { snapshot_id });
    }
    let tx = Transaction::new(&table);
    let tx =
        tx.fast_append().set_snapshot_properties(properties).add_data_files(files).apply(tx).map_err(err)?;
    let table = tx.commit(catalog).await.map_err(err)?;
    let snapshot_id = committed_snapshot(&table, run_id).ok_or_else(|| {
        Error::new(
            ErrorKind::Catalog,
            format!("{context}: the commit returned no snapshot with run id {run_id}"),
        )
    })?;
    Ok(Committed::New { snapshot_id })
}

/// Deletes data files of run `file_prefix` under the table's data directory that no
/// finished split recorded (an interrupted attempt's leftovers). Only called before the
/// run's snapshot exists, so no snapshot references them.
pub async fn remove_unrecorded_files(
    table: &Table,
    file_prefix: &str,
    recorded: &HashSet<String>,
    storage: &StorageOptions,
) -> Result<usize> {
    let location = table.metadata().location().trim_end_matches('/');
    if is_object_url(location) {
        let store = ObjectStore::open(&format!("{location}/data"), storage)?;
        let mut removed = 0;
        for (name, _) in store.list().await? {
            let base = name.rsplit('/').next().unwrap_or(&name);
            if base.starts_with(file_prefix) && !recorded.contains(&store.url_of(&name)) {
                store.delete(&name).await?;
                removed += 1;
            }
        }
        return Ok(removed);
    }
    let data_dir = writer::local_path(&format!("{}/data", table.metadata().location()));
    let recorded: HashSet<std::path::PathBuf> = recorded.iter().map(|l| writer::local_path(l)).collect();
    let mut removed = 0;
    let mut pending = vec![data_dir];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(dir.display(), e)),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            } else if entry.file_name().to_string_lossy().starts_with(file_prefix)
                && !recorded.contains(&path)
            {
                std::fs::remove_file(&path).map_err(|e| Error::io(path.display(), e))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// One snapshot of a table, for `cqlbulk iceberg snapshots`.
#[derive(Debug, Serialize)]
pub struct SnapshotInfo {
    pub snapshot_id: i64,
    pub parent_id: Option<i64>,
    pub timestamp_ms: i64,
    pub operation: String,
    pub added_records: Option<u64>,
    pub total_records: Option<u64>,
    pub run_id: Option<String>,
    pub source_table: Option<String>,
    pub current: bool,
}

/// The snapshots of a table, oldest first.
pub async fn snapshots(catalog: &CatalogConfig, namespace: &str, table: &str) -> Result<Vec<SnapshotInfo>> {
    let opened = catalog.open().await?;
    let ident = catalog::table_ident(namespace, table)?;
    let table = opened
        .load_table(&ident)
        .await
        .map_err(|e| catalog::catalog_error(&format!("{} table {ident}", catalog.describe()), e))?;
    let metadata = table.metadata();
    let current = metadata.current_snapshot_id();
    let mut list: Vec<SnapshotInfo> = metadata
        .snapshots()
        .map(|s| {
            let summary = s.summary();
            let number = |key: &str| summary.additional_properties.get(key).and_then(|v| v.parse().ok());
            SnapshotInfo {
                snapshot_id: s.snapshot_id(),
                parent_id: s.parent_snapshot_id(),
                timestamp_ms: s.timestamp_ms(),
                operation: summary.operation.as_str().to_string(),
                added_records: number("added-records"),
                total_records: number("total-records"),
                run_id: summary.additional_properties.get(RUN_ID_PROPERTY).cloned(),
                source_table: summary.additional_properties.get(SOURCE_TABLE_PROPERTY).cloned(),
                current: Some(s.snapshot_id()) == current,
            }
        })
        .collect();
    list.sort_by_key(|s| (s.timestamp_ms, s.snapshot_id));
    Ok(list)
}

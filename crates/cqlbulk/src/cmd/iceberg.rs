//! `cqlbulk iceberg …`: look at the Iceberg tables cqlbulk writes; and the catalog flags
//! that `unload --format iceberg` shares.

use std::path::PathBuf;

use anyhow::bail;
use cqlbulk::catalog::{CatalogConfig, SqlDatabase};
use cqlbulk::sink::iceberg::{expire, shards, table};
use cqlbulk::storage::{Place, StorageOptions, is_object_url};

use super::{EXIT_OK, StorageArgs};

/// Which Iceberg catalog: the embedded SQLite one in --warehouse, one in PostgreSQL, or a
/// REST catalog.
#[derive(clap::Args, Debug, Clone)]
pub struct CatalogArgs {
    /// Warehouse directory, or s3://bucket/path, gs://bucket/path. Alone, it holds an embedded SQL catalog
    /// (`catalog.db`, SQLite; PyIceberg's SqlCatalog opens it) and the tables. With a
    /// postgres:// --catalog-uri, it is where tables go; with a REST --catalog-uri, the
    /// warehouse name or location passed to the catalog.
    #[arg(long, value_name = "DIR|URL")]
    pub warehouse: Option<String>,

    /// The SQLite file of the embedded catalog when --warehouse is in object storage (a local file;
    /// with a local warehouse it is WAREHOUSE/catalog.db).
    #[arg(long, value_name = "FILE")]
    pub catalog_db: Option<PathBuf>,

    /// The catalog: a REST catalog's URI, e.g. http://localhost:8181 (tables where it puts
    /// them: a local path, s3:// or gs://, reached with the storage flags), or a SQL catalog in PostgreSQL, postgres://user@host:5432/db (password from
    /// PGPASSWORD, or in the URL; never printed or recorded), with tables in --warehouse.
    #[arg(long, value_name = "URL")]
    pub catalog_uri: Option<String>,

    /// Bearer token for the REST catalog.
    #[arg(long, env = "CQLBULK_CATALOG_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub catalog_token: Option<String>,

    /// OAuth2 client credential `id:secret` for the REST catalog.
    #[arg(long, env = "CQLBULK_CATALOG_CREDENTIAL", hide_env_values = true, value_name = "ID:SECRET")]
    pub catalog_credential: Option<String>,

    /// Catalog name (the SQL catalog keeps it in every row; PyIceberg must use the same).
    #[arg(long, default_value = "cqlbulk", value_name = "NAME")]
    pub catalog_name: String,
}

impl CatalogArgs {
    /// The catalog the flags name; `storage` reaches a warehouse in S3.
    pub fn catalog_config(&self, storage: &StorageOptions) -> anyhow::Result<CatalogConfig> {
        let in_s3 = self.warehouse.as_deref().is_some_and(is_object_url);
        if let Some(url) = self
            .warehouse
            .as_deref()
            .filter(|w| is_object_url(w) && !w.starts_with("s3://") && !w.starts_with("gs://"))
        {
            bail!("--warehouse {url}: Iceberg warehouses in object storage are s3:// or gs:// URLs");
        }
        let postgres = self
            .catalog_uri
            .as_deref()
            .filter(|uri| uri.starts_with("postgres://") || uri.starts_with("postgresql://"));
        if self.catalog_db.is_some() && (!in_s3 || self.catalog_uri.is_some()) {
            bail!(
                "--catalog-db is the SQLite file of the embedded catalog of a warehouse in object storage (--warehouse s3://… or gs://…, no --catalog-uri)"
            );
        }
        // The warehouse as the SQL catalog takes it: an object-store URL or an absolute path.
        let warehouse = |url: &str| -> anyhow::Result<String> {
            if is_object_url(url) {
                return Ok(url.to_string());
            }
            let path = std::path::absolute(PathBuf::from(url))
                .map_err(|e| anyhow::anyhow!("--warehouse {url}: {e}"))?;
            Ok(path.display().to_string())
        };
        let name = self.catalog_name.clone();
        Ok(match (&self.catalog_uri, &self.warehouse) {
            (Some(_), None) if postgres.is_some() => {
                bail!(
                    "--catalog-uri postgres://…: give --warehouse DIR or s3://bucket/path for the tables' files"
                )
            }
            (Some(_), Some(url)) if postgres.is_some() => CatalogConfig::Sql {
                database: SqlDatabase::Postgres(postgres.unwrap_or_default().to_string()),
                warehouse: warehouse(url)?,
                storage: storage.clone(),
                name,
            },
            (Some(uri), warehouse) => CatalogConfig::Rest {
                uri: uri.clone(),
                warehouse: warehouse.clone(),
                token: self.catalog_token.clone(),
                credential: self.catalog_credential.clone(),
                storage: storage.clone(),
                name,
            },
            (None, Some(url)) if in_s3 => {
                let Some(database) = &self.catalog_db else {
                    bail!(
                        "--warehouse {url}: a warehouse in object storage needs --catalog-db FILE (the local SQLite file of its catalog) or --catalog-uri postgres://…"
                    )
                };
                let database = std::path::absolute(database)
                    .map_err(|e| anyhow::anyhow!("--catalog-db {}: {e}", database.display()))?;
                CatalogConfig::Sql {
                    database: SqlDatabase::Sqlite(database),
                    warehouse: url.clone(),
                    storage: storage.clone(),
                    name,
                }
            }
            (None, Some(dir)) => {
                let dir = warehouse(dir)?;
                CatalogConfig::embedded(PathBuf::from(dir), &name)
            }
            (None, None) => {
                bail!(
                    "Iceberg needs a catalog: give --warehouse DIR (embedded) or --catalog-uri URL (REST or postgres://)"
                )
            }
        })
    }
}

/// Inspect and maintain Iceberg tables written by cqlbulk.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: IcebergCommand,
}

#[derive(clap::Subcommand, Debug)]
enum IcebergCommand {
    /// List a table's snapshots, oldest first: id, time, operation, rows, cqlbulk run id.
    Snapshots(SnapshotsArgs),
    /// Remove snapshots older than --older-than (the current one and each branch's newest
    /// --retain-last stay) through the catalog, then delete the files only they used.
    Expire(ExpireArgs),
    /// Commit the data files of every shard of a sharded export (`unload --shard I/N
    /// --log-dir LOCATION`) in one snapshot, once: running it again commits nothing.
    Commit(CommitArgs),
}

#[derive(clap::Args, Debug)]
struct CommitArgs {
    /// The job location the shards shared as --log-dir: a directory or an object-store URL.
    #[arg(long, value_name = "DIR|URL")]
    operation: String,

    #[command(flatten)]
    catalog: CatalogArgs,

    #[command(flatten)]
    storage: StorageArgs,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct ExpireArgs {
    #[command(flatten)]
    catalog: CatalogArgs,

    #[command(flatten)]
    storage: StorageArgs,

    /// Namespace of the Iceberg table.
    #[arg(long, value_name = "NAMESPACE")]
    namespace: String,

    /// Name of the Iceberg table.
    #[arg(long, value_name = "TABLE")]
    table: String,

    /// Expire snapshots older than this, e.g. `7d`, `12h`, `0s` (all but the kept ones).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    older_than: std::time::Duration,

    /// Keep at least this many of the newest snapshots of each branch, whatever their age
    /// (default: the table's `history.expire.min-snapshots-to-keep`, 1 if unset).
    #[arg(long, value_name = "N")]
    retain_last: Option<usize>,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct SnapshotsArgs {
    #[command(flatten)]
    catalog: CatalogArgs,

    #[command(flatten)]
    storage: StorageArgs,

    /// Namespace of the Iceberg table.
    #[arg(long, value_name = "NAMESPACE")]
    namespace: String,

    /// Name of the Iceberg table.
    #[arg(long, value_name = "TABLE")]
    table: String,

    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

impl CommitArgs {
    async fn commit(&self) -> anyhow::Result<shards::CommitSummary> {
        let storage = self.storage.options();
        let catalog = self.catalog.catalog_config(&storage)?;
        let job = Place::parse(&self.operation, &storage)?;
        Ok(shards::commit(&catalog, &job).await?)
    }
}

impl ExpireArgs {
    async fn expire(&self) -> anyhow::Result<expire::ExpireSummary> {
        let catalog = self.catalog.catalog_config(&self.storage.options())?;
        let age = i64::try_from(self.older_than.as_millis()).unwrap_or(i64::MAX);
        let cutoff = cqlbulk::codec::text::now_millis().saturating_sub(age);
        Ok(expire::expire(&catalog, &self.namespace, &self.table, cutoff, self.retain_last).await?)
    }
}

impl SnapshotsArgs {
    async fn snapshots(&self) -> anyhow::Result<Vec<table::SnapshotInfo>> {
        let catalog = self.catalog.catalog_config(&self.storage.options())?;
        Ok(table::snapshots(&catalog, &self.namespace, &self.table).await?)
    }
}

/// The summary of the `iceberg` subcommand `args` names, as JSON (for the Python package).
pub async fn job(args: Args) -> anyhow::Result<serde_json::Value> {
    Ok(match args.command {
        IcebergCommand::Commit(args) => serde_json::to_value(args.commit().await?)?,
        IcebergCommand::Expire(args) => serde_json::to_value(args.expire().await?)?,
        IcebergCommand::Snapshots(args) => serde_json::to_value(args.snapshots().await?)?,
    })
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    match args.command {
        IcebergCommand::Commit(args) => {
            let summary = args.commit().await?;
            if args.json {
                println!("{}", serde_json::to_string(&summary)?);
            } else if summary.already_committed {
                println!(
                    "{}: the {} shards of {} were already committed as snapshot {}; nothing to do",
                    summary.table, summary.shards, args.operation, summary.snapshot_id
                );
            } else {
                println!(
                    "{}: committed snapshot {} ({}): {} rows in {} data files from {} shards",
                    summary.table,
                    summary.snapshot_id,
                    summary.mode,
                    summary.rows,
                    summary.data_files,
                    summary.shards
                );
            }
            Ok(EXIT_OK)
        }
        IcebergCommand::Expire(args) => {
            let summary = args.expire().await?;
            if args.json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                println!(
                    "expired {} snapshots, {} kept; deleted {} data files, {} manifests, {} manifest lists, {} statistics files",
                    summary.expired_snapshots.len(),
                    summary.kept_snapshots,
                    summary.deleted_data_files,
                    summary.deleted_manifests,
                    summary.deleted_manifest_lists,
                    summary.deleted_statistics_files
                );
            }
            Ok(EXIT_OK)
        }
        IcebergCommand::Snapshots(args) => {
            let snapshots = args.snapshots().await?;
            if args.json {
                for snapshot in &snapshots {
                    println!("{}", serde_json::to_string(snapshot)?);
                }
                return Ok(EXIT_OK);
            }
            println!(
                "{:<20} {:<24} {:<9} {:>12} {:>12}  run_id",
                "snapshot_id", "time", "operation", "added_rows", "total_rows"
            );
            for s in &snapshots {
                let mut time = String::new();
                cqlbulk::codec::text::write_timestamp(s.timestamp_ms, &mut time);
                let number = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
                println!(
                    "{:<20} {:<24} {:<9} {:>12} {:>12}  {}{}",
                    s.snapshot_id,
                    time,
                    s.operation,
                    number(s.added_records),
                    number(s.total_records),
                    s.run_id.as_deref().unwrap_or("-"),
                    if s.current { "  (current)" } else { "" }
                );
            }
            Ok(EXIT_OK)
        }
    }
}

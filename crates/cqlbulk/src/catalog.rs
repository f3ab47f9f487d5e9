//! Which Iceberg catalog holds the tables: the SQL catalog (in a SQLite file, the embedded
//! default, or in PostgreSQL; PyIceberg's `SqlCatalog` opens either) with its warehouse on
//! local disk or in S3, or a REST catalog.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use iceberg::io::LocalFsStorageFactory;
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableIdent};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::SqlCatalogBuilder;
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;

use crate::error::{Error, ErrorKind, Result};
use crate::storage::{StorageOptions, is_object_url};

/// The SQLite file of the embedded catalog, inside the warehouse directory.
pub const SQL_CATALOG_FILE: &str = "catalog.db";

#[derive(Clone, Debug)]
pub enum CatalogConfig {
    /// The SQL catalog (the JDBC catalog's tables, which PyIceberg's `SqlCatalog` opens too)
    /// in `database`; tables under `warehouse`: a local directory (absolute path) or an
    /// `s3://bucket/path`, written and read through OpenDAL with `storage`.
    Sql { database: SqlDatabase, warehouse: String, storage: StorageOptions, name: String },
    /// A REST catalog; the tables' files are where it says (a local path, `s3://`, `gs://`).
    Rest {
        uri: String,
        warehouse: Option<String>,
        token: Option<String>,
        credential: Option<String>,
        /// How to reach the tables' files when the server puts them in object storage.
        storage: StorageOptions,
        name: String,
    },
}

/// Where the SQL catalog keeps its tables.
#[derive(Clone, Debug)]
pub enum SqlDatabase {
    /// A SQLite file, created on first use.
    Sqlite(PathBuf),
    /// A PostgreSQL database, `postgres://user@host:port/db`; the password from the URL or
    /// `PGPASSWORD`.
    Postgres(String),
}

impl SqlDatabase {
    /// The database as sqlx opens it.
    pub fn uri(&self) -> String {
        match self {
            // `mode=rwc` creates the database file on first use.
            SqlDatabase::Sqlite(path) => format!("sqlite:{}?mode=rwc", path.display()),
            SqlDatabase::Postgres(url) => url.clone(),
        }
    }
}

impl CatalogConfig {
    /// The embedded catalog of a local warehouse: `<dir>/catalog.db`, tables under `dir`.
    pub fn embedded(dir: PathBuf, name: &str) -> CatalogConfig {
        CatalogConfig::Sql {
            database: SqlDatabase::Sqlite(dir.join(SQL_CATALOG_FILE)),
            warehouse: dir.display().to_string(),
            storage: StorageOptions::default(),
            name: name.to_string(),
        }
    }

    /// A short stable description without secrets, e.g. `sql:/data/lake`,
    /// `sql:s3://bucket/lake`, `sql:s3://bucket/lake@postgres://user@host/db` or
    /// `rest:http://host:8181`.
    pub fn describe(&self) -> String {
        match self {
            CatalogConfig::Sql { database: SqlDatabase::Sqlite(_), warehouse, .. } => {
                format!("sql:{warehouse}")
            }
            CatalogConfig::Sql { database: SqlDatabase::Postgres(url), warehouse, .. } => {
                format!("sql:{warehouse}@{}", without_password(url))
            }
            CatalogConfig::Rest { uri, .. } => format!("rest:{uri}"),
        }
    }

    /// How to reach the warehouse's files when they are in object storage.
    pub fn storage(&self) -> StorageOptions {
        match self {
            CatalogConfig::Sql { storage, .. } | CatalogConfig::Rest { storage, .. } => storage.clone(),
        }
    }

    pub async fn open(&self) -> Result<Arc<dyn Catalog>> {
        match self {
            CatalogConfig::Sql { database, warehouse, storage, name } => {
                let (location, factory): (String, Arc<dyn iceberg::io::StorageFactory>) =
                    if is_object_url(warehouse) {
                        (
                            warehouse.trim_end_matches('/').to_string(),
                            Arc::new(OpenDalResolvingStorageFactory::new()),
                        )
                    } else {
                        std::fs::create_dir_all(warehouse).map_err(|e| {
                            Error::new(ErrorKind::BadInput, format!("--warehouse {warehouse}: {e}"))
                        })?;
                        (format!("file://{warehouse}"), Arc::new(LocalFsStorageFactory))
                    };
                let mut props = file_io_props(storage);
                let bind_style = match database {
                    SqlDatabase::Sqlite(path) => {
                        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                            std::fs::create_dir_all(dir).map_err(|e| {
                                Error::new(
                                    ErrorKind::BadInput,
                                    format!("catalog database {}: {e}", path.display()),
                                )
                            })?;
                        }
                        "QMark"
                    }
                    SqlDatabase::Postgres(_) => "DollarNumeric",
                };
                let uri = database.uri();
                props.extend([
                    ("uri".to_string(), uri),
                    ("warehouse".to_string(), location),
                    ("sql_bind_style".to_string(), bind_style.to_string()),
                ]);
                let catalog = SqlCatalogBuilder::default()
                    .with_storage_factory(factory)
                    .load(name, props)
                    .await
                    .map_err(|e| catalog_error(&self.describe(), e))?;
                Ok(Arc::new(catalog))
            }
            CatalogConfig::Rest { uri, warehouse, token, credential, storage, name } => {
                // The server assigns each table's location: local, s3:// or gs://, files are
                // reached by their scheme.
                let mut props = file_io_props(storage);
                props.insert("uri".to_string(), uri.clone());
                if let Some(warehouse) = warehouse {
                    props.insert("warehouse".to_string(), warehouse.clone());
                }
                if let Some(token) = token {
                    props.insert("token".to_string(), token.clone());
                }
                if let Some(credential) = credential {
                    props.insert("credential".to_string(), credential.clone());
                }
                let catalog = RestCatalogBuilder::default()
                    .with_storage_factory(Arc::new(OpenDalResolvingStorageFactory::new()))
                    .load(name, props)
                    .await
                    .map_err(|e| catalog_error(&self.describe(), e))?;
                Ok(Arc::new(catalog))
            }
        }
    }
}

/// How Iceberg's FileIO reaches object storage, as its properties. Credentials are not among
/// them: OpenDAL reads each cloud's standard chain.
fn file_io_props(storage: &StorageOptions) -> HashMap<String, String> {
    let mut props = HashMap::from([
        ("s3.region".to_string(), storage.region()),
        ("s3.path-style-access".to_string(), (!storage.s3_virtual_host_style).to_string()),
    ]);
    if let Some(endpoint) = &storage.s3_endpoint {
        props.insert("s3.endpoint".to_string(), endpoint.clone());
    }
    if let Some(endpoint) = &storage.gcs_endpoint {
        props.insert("gcs.service.path".to_string(), endpoint.clone());
    }
    if storage.gcs_anonymous {
        props.insert("gcs.no-auth".to_string(), "true".to_string());
    }
    props
}

/// `url` with the password of its user part left out, for messages and the operation
/// directory.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{}", &rest[at + 1..])
        }
        None => url.to_string(),
    }
}

/// `namespace.table` as an Iceberg identifier; the namespace may be dotted (`a.b`).
pub fn table_ident(namespace: &str, table: &str) -> Result<TableIdent> {
    let namespace = NamespaceIdent::from_strs(namespace.split('.'))
        .map_err(|e| Error::new(ErrorKind::BadInput, format!("namespace {namespace}: {e}")))?;
    Ok(TableIdent::new(namespace, table.to_string()))
}

/// An Iceberg error as one line with where it happened.
pub fn catalog_error(context: &str, err: iceberg::Error) -> Error {
    let retryable = err.retryable();
    let mut message = err.message().to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    let kind = match err.kind() {
        iceberg::ErrorKind::CatalogCommitConflicts => ErrorKind::Conflict,
        _ => ErrorKind::Catalog,
    };
    let error = Error::new(kind, format!("{context}: {}: {message}", err.kind().into_static()));
    if retryable { error.retryable() } else { error }
}

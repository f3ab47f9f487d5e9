//! Which Iceberg catalog holds the tables: the embedded SQL catalog (SQLite, which
//! PyIceberg's `SqlCatalog` opens too) with its warehouse on local disk or in S3, or a REST
//! catalog.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use iceberg::io::LocalFsStorageFactory;
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableIdent};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::SqlCatalogBuilder;
use iceberg_storage_opendal::OpenDalStorageFactory;

use crate::error::{Error, ErrorKind, Result};
use crate::storage::StorageOptions;

/// The SQLite file of the embedded catalog, inside the warehouse directory.
pub const SQL_CATALOG_FILE: &str = "catalog.db";

#[derive(Clone, Debug)]
pub enum CatalogConfig {
    /// SQLite catalog at `<warehouse>/catalog.db`; tables under `<warehouse>/<namespace>/<table>`.
    Sql { warehouse: PathBuf, name: String },
    /// SQLite catalog in the local file `database`; tables under the S3 `warehouse`
    /// (`s3://bucket/path`), written and read through OpenDAL.
    SqlS3 { warehouse: String, database: PathBuf, storage: StorageOptions, name: String },
    /// A REST catalog. Data files are written through the local file system, so the
    /// warehouse it assigns must be a path this machine can write (e.g. `file:/…`).
    Rest {
        uri: String,
        warehouse: Option<String>,
        token: Option<String>,
        credential: Option<String>,
        name: String,
    },
}

impl CatalogConfig {
    /// A short stable description, e.g. `sql:/data/lake` or `rest:http://host:8181`.
    pub fn describe(&self) -> String {
        match self {
            CatalogConfig::Sql { warehouse, .. } => format!("sql:{}", warehouse.display()),
            CatalogConfig::SqlS3 { warehouse, .. } => format!("sql:{warehouse}"),
            CatalogConfig::Rest { uri, .. } => format!("rest:{uri}"),
        }
    }

    /// How to reach the warehouse's files when they are in object storage.
    pub fn storage(&self) -> StorageOptions {
        match self {
            CatalogConfig::SqlS3 { storage, .. } => storage.clone(),
            _ => StorageOptions::default(),
        }
    }

    pub async fn open(&self) -> Result<Arc<dyn Catalog>> {
        let storage = Arc::new(LocalFsStorageFactory);
        match self {
            CatalogConfig::Sql { warehouse, name } => {
                std::fs::create_dir_all(warehouse).map_err(|e| {
                    Error::new(ErrorKind::BadInput, format!("--warehouse {}: {e}", warehouse.display()))
                })?;
                let location = format!("file://{}", warehouse.display());
                self.open_sql(name, &warehouse.join(SQL_CATALOG_FILE), location, HashMap::new(), storage)
                    .await
            }
            CatalogConfig::SqlS3 { warehouse, database, storage, name } => {
                if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        Error::new(ErrorKind::BadInput, format!("--catalog-db {}: {e}", database.display()))
                    })?;
                }
                // Credentials are not props: OpenDAL reads AWS's standard chain.
                let mut s3 = HashMap::from([
                    ("s3.region".to_string(), storage.region()),
                    ("s3.path-style-access".to_string(), (!storage.s3_virtual_host_style).to_string()),
                ]);
                if let Some(endpoint) = &storage.s3_endpoint {
                    s3.insert("s3.endpoint".to_string(), endpoint.clone());
                }
                let location = warehouse.trim_end_matches('/').to_string();
                let factory = Arc::new(OpenDalStorageFactory::S3 { customized_credential_load: None });
                self.open_sql(name, database, location, s3, factory).await
            }
            CatalogConfig::Rest { uri, warehouse, token, credential, name } => {
                let mut props = HashMap::from([("uri".to_string(), uri.clone())]);
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
                    .with_storage_factory(storage)
                    .load(name, props)
                    .await
                    .map_err(|e| catalog_error(&self.describe(), e))?;
                Ok(Arc::new(catalog))
            }
        }
    }
}

impl CatalogConfig {
    /// The SQL catalog in the SQLite file `database` (created on first use), with tables under
    /// `warehouse`, files reached through `factory` configured by `props`.
    async fn open_sql(
        &self,
        name: &str,
        database: &std::path::Path,
        warehouse: String,
        mut props: HashMap<String, String>,
        factory: Arc<dyn iceberg::io::StorageFactory>,
    ) -> Result<Arc<dyn Catalog>> {
        props.extend([
            // `mode=rwc` creates the database file on first use.
            ("uri".to_string(), format!("sqlite:{}?mode=rwc", database.display())),
            ("warehouse".to_string(), warehouse),
            ("sql_bind_style".to_string(), "QMark".to_string()),
        ]);
        let catalog = SqlCatalogBuilder::default()
            .with_storage_factory(factory)
            .load(name, props)
            .await
            .map_err(|e| catalog_error(&self.describe(), e))?;
        Ok(Arc::new(catalog))
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

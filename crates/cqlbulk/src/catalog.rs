//! Which Iceberg catalog holds the tables: the embedded SQL catalog (SQLite inside the
//! warehouse directory, which PyIceberg's `SqlCatalog` opens too) or a REST catalog.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use iceberg::io::LocalFsStorageFactory;
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableIdent};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::SqlCatalogBuilder;

use crate::error::{Error, ErrorKind, Result};

/// The SQLite file of the embedded catalog, inside the warehouse directory.
pub const SQL_CATALOG_FILE: &str = "catalog.db";

#[derive(Clone, Debug)]
pub enum CatalogConfig {
    /// SQLite catalog at `<warehouse>/catalog.db`; tables under `<warehouse>/<namespace>/<table>`.
    Sql { warehouse: PathBuf, name: String },
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
            CatalogConfig::Rest { uri, .. } => format!("rest:{uri}"),
        }
    }

    pub async fn open(&self) -> Result<Arc<dyn Catalog>> {
        let storage = Arc::new(LocalFsStorageFactory);
        match self {
            CatalogConfig::Sql { warehouse, name } => {
                std::fs::create_dir_all(warehouse).map_err(|e| {
                    Error::new(ErrorKind::BadInput, format!("--warehouse {}: {e}", warehouse.display()))
                })?;
                let database = warehouse.join(SQL_CATALOG_FILE);
                let props = HashMap::from([
                    // `mode=rwc` creates the database file on first use.
                    ("uri".to_string(), format!("sqlite:{}?mode=rwc", database.display())),
                    ("warehouse".to_string(), format!("file://{}", warehouse.display())),
                    ("sql_bind_style".to_string(), "QMark".to_string()),
                ]);
                let catalog = SqlCatalogBuilder::default()
                    .with_storage_factory(storage)
                    .load(name, props)
                    .await
                    .map_err(|e| catalog_error(&self.describe(), e))?;
                Ok(Arc::new(catalog))
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

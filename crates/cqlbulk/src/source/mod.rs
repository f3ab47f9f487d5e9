//! Sources: where `load` and `verify` read rows, as a stream of Arrow chunks.
//!
//! A source is files ([`files`]: CSV, JSON, Parquet) or an Iceberg table ([`iceberg`]).
//! [`OpenedSource::open`] resolves it into units (a file, stdin, an Iceberg data file) in a
//! fixed order, and [`OpenedSource::read`] streams their chunks. A chunk is a fixed slice of
//! one unit, numbered in reading order, so that a checkpoint can name it and `--resume` can
//! skip it; records that cannot be read travel with it as rejects. (The third source, a
//! token-range scan of a Cassandra table, is [`crate::scan`].)

pub mod cassandra;
pub mod csv;
pub mod files;
pub mod iceberg;

use std::collections::HashSet;
use std::path::PathBuf;

use arrow_array::{Array, RecordBatch};
use arrow_schema::SchemaRef;
use tokio::sync::mpsc;

pub use self::files::InputFormat;
pub use self::iceberg::{IcebergSource, SnapshotChoice};
use crate::error::{Error, ErrorKind, Result};
use crate::storage::{ObjectStore, StorageOptions, is_object_url};

/// Records per chunk (text files; the batch size of Parquet and Iceberg reads).
pub(crate) const CHUNK_RECORDS: usize = 10_000;

/// Where rows come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A file, a directory, a glob, `-` for stdin, or an object-store prefix
    /// (`s3://bucket/path`: every object of the format under it).
    Files {
        url: String,
        format: InputFormat,
        storage: StorageOptions,
    },
    Iceberg(IcebergSource),
}

impl Source {
    /// `csv`, `json`, `parquet` or `iceberg`: recorded in an operation, so that a resume
    /// reads the same kind of source.
    pub fn format_name(&self) -> &'static str {
        match self {
            Source::Files { format, .. } => format.name(),
            Source::Iceberg(_) => "iceberg",
        }
    }

    /// Where one table of a whole-keyspace load comes from: `<url>/<table>` (a directory or
    /// an object prefix) or the Iceberg table of that name in the namespace; `None` when
    /// the export holds nothing for it.
    pub async fn for_table(&self, table: &str) -> Result<Option<Source>> {
        match self {
            Source::Files { url, format, storage } => {
                let child = format!("{}/{table}", url.trim_end_matches('/'));
                let present = if is_object_url(url) {
                    !ObjectStore::open(&child, storage)?.list().await?.is_empty()
                } else {
                    std::path::Path::new(&child).is_dir()
                };
                Ok(present.then(|| Source::Files {
                    url: child,
                    format: format.clone(),
                    storage: storage.clone(),
                }))
            }
            Source::Iceberg(source) => {
                let catalog = source.catalog.open().await?;
                let ident =
                    ::iceberg::TableIdent::from_strs([source.namespace.as_str(), table]).map_err(|e| {
                        Error::new(ErrorKind::BadInput, format!("{}.{table}: {e}", source.namespace))
                    })?;
                let present = catalog.table_exists(&ident).await.map_err(|e| {
                    Error::new(ErrorKind::Io, format!("{}: cannot look the table up: {e}", ident))
                })?;
                Ok(present
                    .then(|| Source::Iceberg(IcebergSource { table: table.to_string(), ..source.clone() })))
            }
        }
    }

    /// The fields to read, when only some are wanted: an Iceberg scan reads only the fields
    /// a mapping names (files are read whole).
    pub fn projection(&self, mapping: Option<&[(String, String)]>) -> Option<Vec<String>> {
        match (self, mapping) {
            (Source::Iceberg(_), Some(mapping)) => Some(mapping.iter().map(|(f, _)| f.clone()).collect()),
            _ => None,
        }
    }
}

/// One input to read in order: a file, stdin, or an Iceberg data file.
#[derive(Clone, Debug)]
pub struct Unit {
    /// Shown in errors and the bad-records file, and recorded in the checkpoint.
    pub name: String,
    pub location: Location,
}

#[derive(Clone, Debug)]
pub enum Location {
    File(PathBuf),
    /// An object (name relative to the store's prefix), downloaded when its turn comes.
    Object {
        store: ObjectStore,
        name: String,
    },
    Stdin,
    Iceberg(Box<::iceberg::scan::FileScanTask>),
}

/// A record that could not be read, with where it was and why.
#[derive(Clone, Debug)]
pub struct Reject {
    pub position: u64,
    pub original: String,
    pub reason: String,
}

/// A slice of one unit's records.
pub struct Chunk {
    pub unit: usize,
    pub index: u64,
    /// The records that could be read, as the source's fields.
    pub batch: RecordBatch,
    /// Position of each batch row in its unit: the line for text, the row for Parquet.
    pub positions: Vec<u64>,
    /// Original text of each batch row (text formats), for the bad-records file.
    pub originals: Option<Vec<String>>,
    pub rejects: Vec<Reject>,
}

impl Chunk {
    /// Records in the chunk, read or not.
    pub fn records(&self) -> u64 {
        (self.batch.num_rows() + self.rejects.len()) as u64
    }

    /// A row as the source had it: its text, or (Parquet, Iceberg) JSON of its values.
    pub fn original(&self, row: usize) -> String {
        match &self.originals {
            Some(texts) => texts[row].clone(),
            None => row_as_json(&self.batch, row),
        }
    }
}

/// A row of a typed batch (Parquet, Iceberg) as JSON of its display values, for the
/// bad-records file.
fn row_as_json(batch: &RecordBatch, row: usize) -> String {
    let options = arrow_cast::display::FormatOptions::default();
    let mut object = serde_json::Map::new();
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let value = if array.is_null(row) {
            serde_json::Value::Null
        } else {
            match arrow_cast::display::ArrayFormatter::try_new(array.as_ref(), &options) {
                Ok(formatter) => serde_json::Value::String(formatter.value(row).to_string()),
                Err(_) => serde_json::Value::String("?".into()),
            }
        };
        object.insert(field.name().clone(), value);
    }
    serde_json::Value::Object(object).to_string()
}

/// A source resolved into units, the Arrow schema of its fields (none for JSON), and how
/// to start reading it.
pub struct OpenedSource {
    pub units: Vec<Unit>,
    pub schema: Option<SchemaRef>,
    /// Files: the url; Iceberg: catalog and table.
    pub description: String,
    pub snapshot_id: Option<i64>,
    reading: Reading,
}

enum Reading {
    Files(InputFormat),
    Iceberg(::iceberg::io::FileIO),
}

impl OpenedSource {
    /// Lists the source's units and finds its fields; `projection` limits an Iceberg scan.
    pub async fn open(source: &Source, projection: Option<&[String]>) -> Result<OpenedSource> {
        Ok(match source {
            Source::Files { url, format, storage } => {
                let units = if is_object_url(url) {
                    files::object_units(url, storage, format).await?
                } else {
                    files::file_units(url, format)?
                };
                // Fields come from the first file that has any; files that cannot be read
                // become bad records when their turn comes.
                let mut schema = None;
                let mut first_error = None;
                for unit in &units {
                    // Peeking reads stdin or downloads an object: blocking work.
                    let (unit, format) = (unit.clone(), format.clone());
                    let peeked = tokio::task::spawn_blocking(move || files::peek_fields(&unit, &format))
                        .await
                        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read the source: {e}")))?;
                    match peeked {
                        Ok(Some(fields)) if fields.fields().is_empty() => continue,
                        Ok(fields) => {
                            schema = fields;
                            first_error = None;
                            break;
                        }
                        Err(err) => {
                            first_error.get_or_insert(err);
                        }
                    }
                }
                if let Some(err) = first_error {
                    return Err(err);
                }
                OpenedSource {
                    units,
                    schema,
                    description: url.clone(),
                    snapshot_id: None,
                    reading: Reading::Files(format.clone()),
                }
            }
            Source::Iceberg(iceberg) => {
                let scan = iceberg.plan(projection).await?;
                OpenedSource {
                    units: scan.units,
                    schema: Some(scan.schema),
                    description: iceberg.describe(),
                    snapshot_id: scan.snapshot_id,
                    reading: Reading::Iceberg(scan.table.file_io().clone()),
                }
            }
        })
    }

    /// Without a mapping, every file must have only the fields the plan was made from
    /// (the first file's): a later file with another field would lose its values unseen.
    pub fn fields_every_file_must_fit(
        &self,
        mapping: Option<&[(String, String)]>,
    ) -> Option<HashSet<String>> {
        let schema = self.schema.as_ref().filter(|_| mapping.is_none())?;
        Some(schema.fields().iter().map(|f| f.name().clone()).collect())
    }

    /// Starts reading on a background task; chunks arrive on the returned channel, in
    /// unit order. `json_fields` are the keys to take from JSON objects.
    pub fn read(&self, json_fields: Vec<String>) -> mpsc::Receiver<Result<Chunk>> {
        let (sender, receiver) = mpsc::channel(4);
        let units = self.units.clone();
        match &self.reading {
            Reading::Files(format) => {
                let format = format.clone();
                tokio::task::spawn_blocking(move || files::read_files(&units, &format, &json_fields, sender));
            }
            Reading::Iceberg(file_io) => {
                let file_io = file_io.clone();
                tokio::spawn(async move { iceberg::read_iceberg(&units, file_io, sender).await });
            }
        }
        receiver
    }
}

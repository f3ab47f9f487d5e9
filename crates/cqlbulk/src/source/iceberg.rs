//! An Iceberg table as a source: pick the snapshot (current, by id, or as of a time),
//! project columns, push a row filter into the scan, list its data files as units in a
//! fixed order, and read them through iceberg-rust's Arrow reader.

use std::sync::Arc;

use arrow_schema::SchemaRef;
use futures::{StreamExt, TryStreamExt};
use iceberg::expr::{Predicate, Reference};
use iceberg::spec::{Datum, PrimitiveType, Type};
use iceberg::table::Table;
use tokio::sync::mpsc;

use super::{CHUNK_RECORDS, Chunk, Location, Unit};
use crate::catalog::{self, CatalogConfig};
use crate::error::{Error, ErrorKind, Result};

/// Which table state to read.
#[derive(Clone, Debug, Default)]
pub enum SnapshotChoice {
    #[default]
    Current,
    Id(i64),
    /// The snapshot current at this time (milliseconds since the epoch).
    AsOf(i64),
}

#[derive(Clone, Debug)]
pub struct IcebergSource {
    pub catalog: CatalogConfig,
    pub namespace: String,
    pub table: String,
    pub snapshot: SnapshotChoice,
    /// `col > 5 AND name = 'x'`: pushed into the scan (files and row groups are skipped).
    pub filter: Option<String>,
}

/// An opened scan: its data files and the Arrow schema of the projected columns.
pub struct PlannedScan {
    pub table: Table,
    pub snapshot_id: Option<i64>,
    pub schema: SchemaRef,
    pub units: Vec<Unit>,
}

impl IcebergSource {
    pub fn describe(&self) -> String {
        format!("{} table {}.{}", self.catalog.describe(), self.namespace, self.table)
    }

    /// Plans the scan of `columns` (all when `None`).
    pub async fn plan(&self, columns: Option<&[String]>) -> Result<PlannedScan> {
        let opened = self.catalog.open().await?;
        let ident = catalog::table_ident(&self.namespace, &self.table)?;
        let table =
            opened.load_table(&ident).await.map_err(|e| catalog::catalog_error(&self.describe(), e))?;
        let metadata = table.metadata();
        let snapshot = match self.snapshot {
            SnapshotChoice::Current => metadata.current_snapshot().cloned(),
            SnapshotChoice::Id(id) => Some(metadata.snapshot_by_id(id).cloned().ok_or_else(|| {
                invalid(format!("{}: no snapshot {id} (see `cqlbulk iceberg snapshots`)", self.describe()))
            })?),
            SnapshotChoice::AsOf(millis) => {
                let at = metadata
                    .snapshots()
                    .filter(|s| s.timestamp_ms() <= millis)
                    .max_by_key(|s| s.timestamp_ms());
                Some(at.cloned().ok_or_else(|| {
                    let mut when = String::new();
                    crate::codec::text::write_timestamp(millis, &mut when);
                    invalid(format!("{}: no snapshot at or before {when}", self.describe()))
                })?)
            }
        };
        let schema = match &snapshot {
            Some(s) => s.schema(metadata).map_err(|e| catalog::catalog_error(&self.describe(), e))?,
            None => metadata.current_schema().clone(),
        };
        let mut scan = table.scan();
        if let Some(s) = &snapshot {
            scan = scan.snapshot_id(s.snapshot_id());
        }
        scan = match columns {
            Some(columns) => scan.select(columns.iter()),
            None => scan.select_all(),
        };
        if let Some(filter) = &self.filter {
            scan = scan.with_filter(parse_filter(filter, &schema)?);
        }
        let scan = scan.build().map_err(|e| catalog::catalog_error(&self.describe(), e))?;
        let mut tasks: Vec<_> = match snapshot {
            // A table never written to has no snapshot and no rows.
            None => Vec::new(),
            Some(_) => scan
                .plan_files()
                .await
                .map_err(|e| catalog::catalog_error(&self.describe(), e))?
                .try_collect()
                .await
                .map_err(|e| catalog::catalog_error(&self.describe(), e))?,
        };
        // One order for every run, so chunk numbers mean the same rows on resume.
        tasks.sort_by(|a, b| (&a.data_file_path, a.start).cmp(&(&b.data_file_path, b.start)));
        let projected = match columns {
            Some(columns) => Arc::new(
                schema
                    .as_struct()
                    .fields()
                    .iter()
                    .filter(|f| columns.contains(&f.name))
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
            None => Arc::new(schema.as_struct().fields().to_vec()),
        };
        let projected = iceberg::spec::Schema::builder()
            .with_fields(projected.iter().cloned())
            .build()
            .map_err(|e| catalog::catalog_error(&self.describe(), e))?;
        let arrow = iceberg::arrow::schema_to_arrow_schema(&projected)
            .map_err(|e| catalog::catalog_error(&self.describe(), e))?;
        let units = tasks
            .into_iter()
            .map(|task| Unit {
                name: task.data_file_path.clone(),
                location: Location::Iceberg(Box::new(task)),
            })
            .collect();
        Ok(PlannedScan {
            snapshot_id: scan.snapshot().map(|s| s.snapshot_id()),
            table,
            schema: Arc::new(arrow),
            units,
        })
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadInput, message)
}

/// `a >= 5 AND b = 'x' AND c IS NULL`: comparisons of a column with a literal, joined by
/// AND; literals are typed by the column (`'…'` quotes text, dates and timestamps).
pub fn parse_filter(text: &str, schema: &iceberg::spec::Schema) -> Result<Predicate> {
    let bad = |what: String| invalid(format!("--where {text}: {what}"));
    let mut predicate: Option<Predicate> = None;
    for term in split_and(text) {
        let term = term.trim();
        let upper = term.to_ascii_uppercase();
        let next = if let Some(name) = upper.strip_suffix(" IS NOT NULL") {
            Reference::new(term[..name.len()].trim()).is_not_null()
        } else if let Some(name) = upper.strip_suffix(" IS NULL") {
            Reference::new(term[..name.len()].trim()).is_null()
        } else {
            let ops = ["!=", "<>", "<=", ">=", "=", "<", ">"];
            let (at, op) = ops
                .iter()
                .filter_map(|op| term.find(op).map(|at| (at, *op)))
                .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())))
                .ok_or_else(|| bad(format!("'{term}' is not `column op value`")))?;
            let name = term[..at].trim();
            let literal = term[at + op.len()..].trim();
            let field = schema.field_by_name(name).ok_or_else(|| bad(format!("no column '{name}'")))?;
            let Type::Primitive(primitive) = field.field_type.as_ref() else {
                return Err(bad(format!("column '{name}' is not a primitive type")));
            };
            let datum = datum(primitive, literal).map_err(|e| bad(format!("{name}: {e}")))?;
            let reference = Reference::new(name);
            match op {
                "=" => reference.equal_to(datum),
                "!=" | "<>" => reference.not_equal_to(datum),
                "<" => reference.less_than(datum),
                "<=" => reference.less_than_or_equal_to(datum),
                ">" => reference.greater_than(datum),
                _ => reference.greater_than_or_equal_to(datum),
            }
        };
        predicate = Some(match predicate {
            Some(p) => p.and(next),
            None => next,
        });
    }
    predicate.ok_or_else(|| bad("empty filter".into()))
}

/// Splits on `AND` outside quotes.
fn split_and(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut in_quote) = (0, false);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            in_quote = !in_quote;
        } else if !in_quote && text[i..].len() >= 5 && text[i..i + 5].eq_ignore_ascii_case(" and ") {
            parts.push(&text[start..i]);
            start = i + 5;
            i += 5;
            continue;
        }
        i += 1;
    }
    parts.push(&text[start..]);
    parts
}

fn datum(typ: &PrimitiveType, literal: &str) -> std::result::Result<Datum, String> {
    let text = literal.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')).unwrap_or(literal);
    let number = |what: &str| format!("'{literal}' is not {what}");
    Ok(match typ {
        PrimitiveType::Boolean => Datum::bool(text.parse::<bool>().map_err(|_| number("a boolean"))?),
        PrimitiveType::Int => Datum::int(text.parse::<i32>().map_err(|_| number("an int"))?),
        PrimitiveType::Long => Datum::long(text.parse::<i64>().map_err(|_| number("a long"))?),
        PrimitiveType::Float => Datum::float(text.parse::<f32>().map_err(|_| number("a float"))?),
        PrimitiveType::Double => Datum::double(text.parse::<f64>().map_err(|_| number("a double"))?),
        PrimitiveType::String => Datum::string(text),
        PrimitiveType::Date => Datum::date_from_str(text).map_err(|e| e.to_string())?,
        PrimitiveType::Timestamptz => Datum::timestamptz_from_str(text).map_err(|e| e.to_string())?,
        PrimitiveType::Timestamp => Datum::timestamp_from_str(text).map_err(|e| e.to_string())?,
        PrimitiveType::Uuid => Datum::uuid_from_str(text).map_err(|e| e.to_string())?,
        other => return Err(format!("filters on {other} columns are not supported")),
    })
}

/// Reads Iceberg data files (the scan's tasks) in order, each through iceberg-rust's Arrow
/// reader, which applies the scan's projection, filter and delete files.
pub async fn read_iceberg(units: &[Unit], file_io: iceberg::io::FileIO, chunks: mpsc::Sender<Result<Chunk>>) {
    for (index, unit) in units.iter().enumerate() {
        let Location::Iceberg(task) = &unit.location else { unreachable!("Iceberg units are scan tasks") };
        let reader = iceberg::arrow::ArrowReaderBuilder::new(file_io.clone(), iceberg::Runtime::current())
            .with_batch_size(CHUNK_RECORDS)
            .with_data_file_concurrency_limit(1)
            .build();
        let tasks = futures::stream::iter(vec![Ok(task.as_ref().clone())]).boxed();
        let mut stream = match reader.read(tasks) {
            Ok(result) => result.stream(),
            Err(e) => {
                let _ = chunks.send(Err(catalog::catalog_error(&unit.name, e))).await;
                return;
            }
        };
        let mut position = 0u64;
        let mut chunk_index = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    let _ = chunks.send(Err(catalog::catalog_error(&unit.name, e))).await;
                    return;
                }
            };
            let rows = batch.num_rows() as u64;
            let chunk = Chunk {
                unit: index,
                index: chunk_index,
                batch,
                positions: (position..position + rows).collect(),
                originals: None,
                rejects: Vec::new(),
            };
            position += rows;
            chunk_index += 1;
            if chunks.send(Ok(chunk)).await.is_err() {
                return;
            }
        }
    }
}

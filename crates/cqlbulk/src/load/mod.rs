//! `load`: a source's Arrow chunks → CQL values of the target table → Cassandra.
//!
//! The plan is fixed before any write: which source field feeds which column (by name, or
//! `--mapping`), checked against the column types, with every primary key column fed.
//! Then each chunk is encoded row by row (`encode.rs`); a row that cannot be read or
//! converted goes to `bad.jsonl` in the operation directory with its position and reason,
//! and the rest is written (`write.rs`). A chunk is recorded in the checkpoint once all its
//! rows are written or reported, so `--resume` skips it.

pub mod csv;
pub mod source;
pub mod write;

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, SchemaRef};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use scylla::client::session::Session;
use scylla::frame::response::result::{ColumnType, NativeType};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use self::source::{Chunk, InputFormat, Unit};
use self::write::{EncodedRows, Statement, WriteOptions, Writer};
use crate::cluster::{ClusterView, quote_identifier};
use crate::connect::one_line;
use crate::error::{Error, ErrorKind, Result};
use crate::lake::scan::IcebergSource;
use crate::operation::{Operation, Spec};

/// Where the rows come from.
#[derive(Clone, Debug)]
pub enum LoadSource {
    Files { url: String, format: InputFormat },
    Iceberg(IcebergSource),
}

/// When to give up on bad records.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ErrorLimit {
    Count(u64),
    /// Percent of the records read so far (checked once 100 records were read).
    Percent(f64),
}

impl ErrorLimit {
    fn exceeded(&self, failed: u64, read: u64) -> bool {
        match *self {
            ErrorLimit::Count(max) => failed > max,
            ErrorLimit::Percent(max) => read >= 100 && failed as f64 * 100.0 > max * read as f64,
        }
    }
}

pub struct LoadConfig {
    pub source: LoadSource,
    /// `field=column` pairs; only these fields load. `None`: fields map to columns of the
    /// same name.
    pub mapping: Option<Vec<(String, String)>>,
    pub write: WriteOptions,
    pub max_errors: ErrorLimit,
    pub dry_run: bool,
    /// Size the writer's request slots from the first chunk's row size.
    pub auto_concurrency: bool,
}

/// `operation.json` of a load.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LoadSpec {
    pub operation_id: String,
    pub run_id: String,
    pub keyspace: String,
    pub table: String,
    pub source: String,
    pub format: String,
    /// The units in reading order; chunks are numbered within each.
    pub units: Vec<String>,
}

/// One finished chunk: every record in it was written or reported as bad.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkDone {
    pub unit: usize,
    pub chunk: u64,
    pub records: u64,
    pub written: u64,
    pub failed: u64,
}

impl Spec for LoadSpec {
    const VERB: &'static str = "load";
    type Done = ChunkDone;

    fn keyspace(&self) -> &str {
        &self.keyspace
    }

    fn table(&self) -> &str {
        &self.table
    }

    fn set_ids(&mut self, operation_id: String, run_id: String) {
        self.operation_id = operation_id;
        self.run_id = run_id;
    }

    fn contains(&self, done: &ChunkDone) -> bool {
        done.unit < self.units.len()
    }
}

/// Counts of a load, including chunks finished by earlier attempts.
#[derive(Debug, Default, Clone, Serialize)]
pub struct LoadReport {
    pub read: u64,
    pub written: u64,
    pub failed: u64,
    /// Rows the cluster could not take after every attempt (replicas down, timeouts): their
    /// chunks are not recorded, so `--resume` writes them once the cluster is back.
    pub unwritten: u64,
    /// Tokens of unwritten rows' partitions (a sample), to name their token ranges.
    pub unwritten_tokens: Vec<i64>,
    /// The first unwritten request's error.
    pub unwritten_reason: Option<String>,
    pub retries: u64,
    pub overloads: u64,
    /// Stopped because `failed` passed `--max-errors`.
    pub too_many_errors: bool,
    pub counter: bool,
    pub dry_run: bool,
}

/// Which source field feeds which column, and the statements that write them.
pub struct LoadPlan {
    /// Target columns, in table order, each with the source field that feeds it.
    pub columns: Vec<PlannedColumn>,
    statement: Statement,
    /// For rows whose clustering columns are all null: partition key and static columns.
    static_statement: Option<Statement>,
    /// Indexes into `columns`.
    partition_key: Vec<usize>,
    clustering: Vec<usize>,
    pub counter: bool,
    /// With --preserve-writetime/--preserve-ttl: where each column's write time and TTL are.
    timing: Option<Timing>,
    /// Without --mapping, the fields the plan was made from (the first file's): a later
    /// file with another field would lose that field's values without a word.
    pub source_fields: Option<HashSet<String>>,
}

/// The write times and TTLs a load preserves. Each source row is written as one row per
/// distinct (write time, TTL) of its cells, every one with the key columns and the cells
/// sharing it, bound to the statement's `USING TIMESTAMP ? AND TTL ?` markers.
struct Timing {
    /// (value column, its write time column, its TTL column), indexes into `columns`.
    sources: Vec<(usize, Option<usize>, Option<usize>)>,
    /// Indexes of the timestamp and TTL values in a split row: right after `columns`.
    timestamp_slot: Option<usize>,
    ttl_slot: Option<usize>,
}

pub struct PlannedColumn {
    /// The column, or for a write time / TTL, `writetime(c)` / `ttl(c)`.
    pub name: String,
    pub typ: ColumnType<'static>,
    pub field: String,
    pub role: Role,
}

/// What a planned column's values are: a column's own, or the write time (µs) or TTL
/// (seconds) of a column's cells, as `unload --writetime/--ttl` writes them.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    Value,
    WriteTime { of: String },
    Ttl { of: String },
}

/// Which of the source's `writetime(c)` / `ttl(c)` fields to write back with
/// `USING TIMESTAMP` / `USING TTL`. Without these, such fields are not loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Preserve {
    pub writetime: bool,
    pub ttl: bool,
}

impl Preserve {
    fn any(&self) -> bool {
        self.writetime || self.ttl
    }
}

/// `writetime(c)` or `ttl(c)` of a non-key, non-counter column `c`, and its role.
fn timing_column(view: &ClusterView, name: &str) -> Option<Role> {
    let (kind, of) = name.strip_suffix(')')?.split_once('(')?;
    if !view.regular_columns.iter().any(|c| c == of) {
        return None;
    }
    match kind {
        "writetime" => Some(Role::WriteTime { of: of.to_string() }),
        "ttl" => Some(Role::Ttl { of: of.to_string() }),
        _ => None,
    }
}

/// How write times and TTLs are held once encoded: a list of `bigint`, with a null element
/// for a cell without TTL. Cassandra 5.0 gives a multi-cell column (non-frozen collection
/// or UDT) one write time and TTL per cell, as `list<bigint>` / `list<int>`, and a single
/// value for the others.
fn timing_type() -> ColumnType<'static> {
    ColumnType::Collection {
        frozen: true,
        typ: scylla::frame::response::result::CollectionType::List(Box::new(ColumnType::Native(
            NativeType::BigInt,
        ))),
    }
}

/// The Arrow type a write time or TTL field is read as: integers as Int64, lists of
/// integers as a list of Int64, text (a number, or a JSON list of numbers and nulls) as is.
fn timing_arrow_type(from: &DataType) -> std::result::Result<DataType, String> {
    let integers = |t: &DataType| t.is_integer() || *t == DataType::Null;
    match from {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => Ok(DataType::Utf8),
        DataType::Dictionary(_, value) => timing_arrow_type(value),
        t if t.is_integer() => Ok(DataType::Int64),
        DataType::List(item) | DataType::LargeList(item) if integers(item.data_type()) => {
            Ok(DataType::List(Arc::new(arrow_schema::Field::new("item", DataType::Int64, true))))
        }
        other => Err(format!("Arrow {other} is not a write time or TTL (an integer, or a list of them)")),
    }
}

/// Appends `array[row]` (of a `timing_arrow_type`) as a CQL `list<bigint>` whose elements
/// may be null; `Ok(false)` for null.
fn encode_timing(array: &dyn Array, row: usize, out: &mut Vec<u8>) -> std::result::Result<bool, String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    if array.is_null(row) {
        return Ok(false);
    }
    let values: Vec<Option<i64>> = match array.data_type() {
        DataType::Int64 => vec![Some(array.as_primitive::<Int64Type>().value(row))],
        DataType::List(_) => array.as_list::<i32>().value(row).as_primitive::<Int64Type>().iter().collect(),
        _ => {
            let text = array.as_string::<i32>().value(row).trim();
            if text.starts_with('[') {
                serde_json::from_str(text).map_err(|e| format!("'{text}' is not a list of integers: {e}"))?
            } else if text.is_empty() {
                return Ok(false);
            } else {
                vec![Some(text.parse().map_err(|_| format!("'{text}' is not an integer"))?)]
            }
        }
    };
    out.extend_from_slice(&(values.len() as i32).to_be_bytes());
    for value in values {
        match value {
            Some(value) => {
                out.extend_from_slice(&8i32.to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    Ok(true)
}

/// The target table's columns fed by the source's `fields` (`None` for JSON, which has no
/// schema: every column, or every mapped one, is looked up by name), then the write times
/// and TTLs to preserve. Refuses, in one line, a field with no column, a key column with
/// no field, and a type that cannot convert.
pub fn plan_columns(
    view: &ClusterView,
    source_schema: Option<&SchemaRef>,
    source_name: &str,
    mapping: Option<&[(String, String)]>,
    preserve: Preserve,
) -> Result<Vec<PlannedColumn>> {
    let table = &view.table.name;
    let column_type = |name: &str| view.columns.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone());
    let pairs: Vec<(String, String)> = match (mapping, source_schema) {
        (Some(mapping), _) => mapping.to_vec(),
        (None, Some(schema)) => {
            schema.fields().iter().map(|f| (f.name().clone(), f.name().clone())).collect()
        }
        (None, None) => {
            let mut pairs: Vec<(String, String)> =
                view.columns.iter().map(|(n, _)| (n.clone(), n.clone())).collect();
            for column in &view.regular_columns {
                for (kind, wanted) in [("writetime", preserve.writetime), ("ttl", preserve.ttl)] {
                    if wanted {
                        pairs.push((format!("{kind}({column})"), format!("{kind}({column})")));
                    }
                }
            }
            pairs
        }
    };
    if preserve.any()
        && view.columns.iter().any(|(_, t)| matches!(t, ColumnType::Native(NativeType::Counter)))
    {
        return Err(invalid(format!(
            "{table} is a counter table: counter updates take no USING TIMESTAMP or TTL; load without --preserve-writetime/--preserve-ttl"
        )));
    }
    let mut seen = HashSet::new();
    let mut planned = Vec::new();
    for (field, column) in pairs {
        let timing = if column_type(&column).is_none() { timing_column(view, &column) } else { None };
        let (typ, role) = match (column_type(&column), timing) {
            (Some(typ), _) => (typ, Role::Value),
            (None, Some(role)) => {
                let flag = match role {
                    Role::WriteTime { .. } if !preserve.writetime => Some("--preserve-writetime"),
                    Role::Ttl { .. } if !preserve.ttl => Some("--preserve-ttl"),
                    _ => None,
                };
                match (flag, mapping) {
                    (None, _) => (timing_type(), role),
                    // Exported with --writetime/--ttl, loaded without wanting them back.
                    (Some(_), None) => continue,
                    (Some(flag), Some(_)) => {
                        return Err(invalid(format!(
                            "{source_name}: --mapping feeds {column}; add {flag} to write it back, or leave it out"
                        )));
                    }
                }
            }
            (None, None) => {
                let hint = if mapping.is_some() {
                    "fix --mapping"
                } else {
                    "rename it or leave it out with --mapping"
                };
                return Err(invalid(format!(
                    "{source_name}: field '{field}' has no column '{column}' in {table}; {hint}"
                )));
            }
        };
        if !seen.insert(column.clone()) {
            return Err(invalid(format!(
                "{source_name}: two fields feed column '{column}' of {table}; fix --mapping"
            )));
        }
        if let Some(schema) = source_schema {
            let Ok(source_field) = schema.field_with_name(&field) else {
                return Err(invalid(format!(
                    "{source_name}: --mapping names field '{field}', which the source does not have"
                )));
            };
            let checked = if role == Role::Value {
                crate::encode::check(source_field.data_type(), &typ)
            } else {
                timing_arrow_type(source_field.data_type()).map(|_| ())
            };
            checked.map_err(|e| {
                invalid(format!(
                    "{source_name}: field '{field}' cannot load into column '{column}' of {table}: {e}"
                ))
            })?;
        }
        planned.push(PlannedColumn { name: column, typ, field, role });
    }
    for (wanted, flag, kind, unload_flag) in [
        (preserve.writetime, "--preserve-writetime", "writetime", "--writetime"),
        (preserve.ttl, "--preserve-ttl", "ttl", "--ttl"),
    ] {
        let found = planned.iter().any(|c| match &c.role {
            Role::WriteTime { .. } => kind == "writetime",
            Role::Ttl { .. } => kind == "ttl",
            Role::Value => false,
        });
        if wanted && !found {
            return Err(invalid(format!(
                "{source_name}: {flag} needs {kind}(c) fields, and the source has none; unload with {unload_flag}"
            )));
        }
    }
    for column in &planned {
        if let Role::WriteTime { of } | Role::Ttl { of } = &column.role
            && !seen.contains(of)
        {
            return Err(invalid(format!(
                "{source_name}: field '{}' is the {} of column '{of}', which nothing loads; load '{of}' too or leave it out",
                column.field,
                if matches!(column.role, Role::Ttl { .. }) { "TTL" } else { "write time" }
            )));
        }
    }
    let keys = view.table.partition_key.iter().chain(&view.table.clustering_key);
    for key in keys {
        if !seen.contains(key) {
            return Err(invalid(format!(
                "{source_name}: no field feeds primary key column '{key}' of {table}; add it or map a field to it with --mapping"
            )));
        }
    }
    // Table order: key columns first, as the statements bind them; write times and TTLs last.
    planned.sort_by_key(|c| (c.role != Role::Value, view.columns.iter().position(|(n, _)| *n == c.name)));
    Ok(planned)
}

impl LoadPlan {
    /// The statement of ordinary rows; its markers take every planned column.
    pub fn statement(&self) -> &Statement {
        &self.statement
    }

    pub async fn prepare(
        session: &Session,
        view: &ClusterView,
        columns: Vec<PlannedColumn>,
        options: &WriteOptions,
    ) -> Result<LoadPlan> {
        let table = &view.table;
        let index_of =
            |name: &String| columns.iter().position(|c| &c.name == name).expect("keys are planned");
        let partition_key: Vec<usize> = table.partition_key.iter().map(index_of).collect();
        let clustering: Vec<usize> = table.clustering_key.iter().map(index_of).collect();
        let counter = columns.iter().any(|c| matches!(c.typ, ColumnType::Native(NativeType::Counter)));
        let quoted = |i: &usize| quote_identifier(&columns[*i].name);
        let values: Vec<usize> = (0..columns.len()).filter(|i| columns[*i].role == Role::Value).collect();
        let timing = Timing::plan(&columns);
        // `USING TIMESTAMP ? AND TTL ?` and the split-row slots its markers take.
        let (using, using_bind) = match &timing {
            None => (String::new(), Vec::new()),
            Some(timing) => {
                let mut clauses = Vec::new();
                let mut bind = Vec::new();
                if let Some(slot) = timing.timestamp_slot {
                    clauses.push("TIMESTAMP ?");
                    bind.push(slot);
                }
                if let Some(slot) = timing.ttl_slot {
                    clauses.push("TTL ?");
                    bind.push(slot);
                }
                (format!(" USING {}", clauses.join(" AND ")), bind)
            }
        };
        let insert = |bind: &[usize]| {
            let names: Vec<String> = bind.iter().map(quoted).collect();
            let markers = vec!["?"; bind.len()].join(", ");
            let cql =
                format!("INSERT INTO {} ({}) VALUES ({markers}){using}", table.name.cql(), names.join(", "));
            (cql, bind.iter().chain(&using_bind).copied().collect::<Vec<_>>())
        };
        let (cql, bind) = if counter {
            let keys: Vec<usize> = partition_key.iter().chain(&clustering).copied().collect();
            let counters: Vec<usize> = values.iter().copied().filter(|i| !keys.contains(i)).collect();
            let sets: Vec<String> = counters.iter().map(|i| format!("{0} = {0} + ?", quoted(i))).collect();
            let conditions: Vec<String> = keys.iter().map(|i| format!("{} = ?", quoted(i))).collect();
            let cql = format!(
                "UPDATE {} SET {} WHERE {}",
                table.name.cql(),
                sets.join(", "),
                conditions.join(" AND ")
            );
            (cql, counters.into_iter().chain(keys).collect::<Vec<_>>())
        } else {
            insert(&values)
        };
        let statement = prepare(session, &cql, bind, options).await?;
        let static_columns: Vec<usize> =
            values.iter().copied().filter(|i| table.static_columns.contains(&columns[*i].name)).collect();
        let static_statement = if !counter && !clustering.is_empty() && !table.static_columns.is_empty() {
            let keyed: Vec<usize> = partition_key.iter().chain(&static_columns).copied().collect();
            let (cql, bind) = insert(&keyed);
            Some(prepare(session, &cql, bind, options).await?)
        } else {
            None
        };
        Ok(LoadPlan {
            columns,
            statement,
            static_statement,
            partition_key,
            clustering,
            counter,
            timing,
            source_fields: None,
        })
    }

    /// The value columns, without write times and TTLs.
    pub fn value_columns(&self) -> impl Iterator<Item = &PlannedColumn> {
        self.columns.iter().filter(|c| c.role == Role::Value)
    }
}

/// A cell's write time and TTL as bound: `None` leaves the marker unset (now, or the
/// table's default TTL).
type WriteTimeAndTtl = (Option<i64>, Option<i32>);

impl Timing {
    fn plan(columns: &[PlannedColumn]) -> Option<Timing> {
        let find = |wanted: &dyn Fn(&Role) -> bool| columns.iter().position(|c| wanted(&c.role));
        let mut sources = Vec::new();
        for (index, column) in columns.iter().enumerate() {
            if column.role != Role::Value {
                continue;
            }
            let name = &column.name;
            let writetime = find(&|r| matches!(r, Role::WriteTime { of } if of == name));
            let ttl = find(&|r| matches!(r, Role::Ttl { of } if of == name));
            sources.push((index, writetime, ttl));
        }
        let has = |wanted: &dyn Fn(&Role) -> bool| columns.iter().any(|c| wanted(&c.role));
        let timestamp = has(&|r| matches!(r, Role::WriteTime { .. }));
        let ttl = has(&|r| matches!(r, Role::Ttl { .. }));
        (timestamp || ttl).then(|| Timing {
            sources,
            timestamp_slot: timestamp.then_some(columns.len()),
            ttl_slot: ttl.then_some(columns.len() + 1),
        })
    }

    /// Splits each row into one row per distinct (write time, TTL) of its cells. Key
    /// columns go into every part; a row with no other cell is one part written now.
    /// Returns the split rows and, for each, the row it came from.
    fn split(
        &self,
        plan: &LoadPlan,
        encoded: &EncodedRows,
    ) -> (EncodedRows, Vec<usize>, Vec<(usize, String)>) {
        let width = plan.columns.len() + 2;
        let keys: Vec<usize> = plan.partition_key.iter().chain(&plan.clustering).copied().collect();
        let mut split = EncodedRows::new(width);
        let mut origin = Vec::new();
        let mut bad = Vec::new();
        for row in 0..encoded.rows() {
            // (write time, TTL) → the columns written with it; `None`: unset (now, or the
            // table's default TTL).
            let mut parts: Vec<(WriteTimeAndTtl, Vec<usize>)> = Vec::new();
            let mut failed = None;
            for &(column, writetime, ttl) in &self.sources {
                if keys.contains(&column) || encoded.cell(row, column).is_none() {
                    continue;
                }
                let timing = writetime.map(|c| write_time(encoded.cell(row, c))).transpose().and_then(|w| {
                    Ok((w.flatten(), ttl.map(|c| time_to_live(encoded.cell(row, c))).transpose()?))
                });
                match timing {
                    Ok(timing) => match parts.iter_mut().find(|(t, _)| *t == timing) {
                        Some((_, members)) => members.push(column),
                        None => parts.push((timing, vec![column])),
                    },
                    Err(reason) => {
                        failed = Some(format!("column {}: {reason}", plan.columns[column].name));
                        break;
                    }
                }
            }
            if let Some(reason) = failed {
                bad.push((row, reason));
                continue;
            }
            if parts.is_empty() {
                parts.push(((None, None), Vec::new()));
            }
            for ((timestamp, ttl), members) in parts {
                for column in 0..width {
                    let value = if column < plan.columns.len()
                        && (keys.contains(&column) || members.contains(&column))
                    {
                        encoded.cell(row, column)
                    } else {
                        None
                    };
                    split.push_cell(value);
                }
                let at = split.cells.len() - 2;
                if let Some(timestamp) = timestamp {
                    split.set_cell(at, &timestamp.to_be_bytes());
                }
                if let Some(ttl) = ttl {
                    split.set_cell(at + 1, &ttl.to_be_bytes());
                }
                origin.push(row);
            }
        }
        (split, origin, bad)
    }
}

/// A cell's write time: `bigint` µs, or for a multi-cell column a list of them, of which
/// the latest counts (what `maxwritetime` would say).
fn write_time(cell: Option<&[u8]>) -> std::result::Result<Option<i64>, String> {
    let Some(bytes) = cell else { return Ok(None) };
    let times = timing_values(bytes)?;
    Ok(times.into_iter().flatten().max())
}

/// A cell's remaining TTL in seconds, 0 for none (which overrides a table default, as the
/// source cell had none). For a multi-cell column, the longest, and none if any cell has
/// none: no cell expires before it did in the source.
fn time_to_live(cell: Option<&[u8]>) -> std::result::Result<i32, String> {
    let Some(bytes) = cell else { return Ok(0) };
    let ttls = timing_values(bytes)?;
    if ttls.iter().any(Option::is_none) {
        return Ok(0);
    }
    let ttl = ttls.into_iter().flatten().max().unwrap_or(0);
    if ttl < 0 {
        return Err(format!("TTL {ttl} is negative"));
    }
    i32::try_from(ttl).map_err(|_| format!("TTL {ttl} is out of range"))
}

/// The values of an `encode_timing` cell.
fn timing_values(bytes: &[u8]) -> std::result::Result<Vec<Option<i64>>, String> {
    let malformed = || "malformed list of write times or TTLs".to_string();
    let mut at = 0;
    let mut take = |n: usize| -> std::result::Result<&[u8], String> {
        let end = at + n;
        let slice = bytes.get(at..end).ok_or_else(malformed)?;
        at = end;
        Ok(slice)
    };
    let count = i32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
    let mut values = Vec::new();
    for _ in 0..count.max(0) {
        let length = i32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
        values.push(if length < 0 {
            None
        } else {
            Some(i64::from_be_bytes(take(8)?.try_into().expect("8 bytes")))
        });
    }
    Ok(values)
}

async fn prepare(
    session: &Session,
    cql: &str,
    bind: Vec<usize>,
    options: &WriteOptions,
) -> Result<Statement> {
    let mut prepared = session
        .prepare(cql)
        .await
        .map_err(|e| Error::new(ErrorKind::BadInput, format!("cannot prepare `{cql}`: {}", one_line(&e))))?;
    prepared.set_consistency(options.consistency);
    prepared.set_is_idempotent(!options.counter);
    Ok(Statement { prepared, bind: Arc::new(bind) })
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadInput, message)
}

/// A record that was not loaded, as one line of `bad.jsonl`. `chunk` (the source's chunk
/// the record was read in) lets `--resume` drop the lines of chunks it reads again.
#[derive(Serialize)]
struct BadRecord<'a> {
    source: &'a str,
    position: u64,
    reason: &'a str,
    record: &'a str,
    chunk: u64,
}

/// Keeps only the lines of `bad.jsonl` that belong to checkpointed chunks: the others
/// belong to chunks a resumed run reads again (a crash, or rows the cluster did not take),
/// which report their bad records anew. Without this, a resume would list them twice.
fn keep_bad_records_of_done_chunks(
    path: &std::path::Path,
    units: &[Unit],
    done: &HashSet<(usize, u64)>,
) -> Result<()> {
    #[derive(Deserialize)]
    struct Key {
        source: String,
        chunk: u64,
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(invalid(format!("{}: {e}", path.display()))),
    };
    let unit_of: HashMap<&str, usize> = units.iter().enumerate().map(|(i, u)| (u.name.as_str(), i)).collect();
    let mut kept = String::with_capacity(text.len());
    for line in text.lines() {
        // A torn last line (a crash while writing it) cannot be parsed and is dropped.
        let Ok(key) = serde_json::from_str::<Key>(line) else { continue };
        if unit_of.get(key.source.as_str()).is_some_and(|&unit| done.contains(&(unit, key.chunk))) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    if kept.len() != text.len() {
        let temporary = path.with_extension("jsonl.tmp");
        std::fs::write(&temporary, kept)
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// What one chunk came to.
struct ChunkOutcome {
    done: ChunkDone,
    /// (position, original, reason)
    bad: Vec<(u64, String, String)>,
    /// Rows the cluster could not take: their count, partition tokens, and first error.
    unwritten: u64,
    unwritten_tokens: Vec<i64>,
    unwritten_reason: Option<String>,
}

impl ChunkOutcome {
    fn new(done: ChunkDone, bad: Vec<(u64, String, String)>) -> ChunkOutcome {
        ChunkOutcome { done, bad, unwritten: 0, unwritten_tokens: Vec::new(), unwritten_reason: None }
    }
}

/// Runs a load of `units` read by `reader` (which sends their chunks), skipping the chunks
/// `operation` already finished.
pub async fn load(
    writer: Arc<Writer>,
    plan: &LoadPlan,
    units: &[Unit],
    mut chunks: mpsc::Receiver<Result<Chunk>>,
    operation: &Operation<LoadSpec>,
    config: &LoadConfig,
    progress: &crate::progress::Progress,
) -> Result<LoadReport> {
    let done: HashSet<(usize, u64)> = operation.done.iter().map(|d| (d.unit, d.chunk)).collect();
    let mut report = LoadReport { counter: plan.counter, dry_run: config.dry_run, ..LoadReport::default() };
    for earlier in &operation.done {
        report.read += earlier.records;
        report.written += earlier.written;
        report.failed += earlier.failed;
    }
    let bad_path = bad_file(operation);
    keep_bad_records_of_done_chunks(&bad_path, units, &done)?;
    let bad_file = Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&bad_path)
            .map_err(|e| invalid(format!("{}: {e}", bad_path.display())))?,
    );
    let mut in_flight = FuturesUnordered::new();
    // Chunks written at once: enough to keep the writer's request slots busy across chunk
    // boundaries, few enough to bound memory.
    let max_chunks = 4;
    let mut receiving = true;
    let mut sized = false;
    loop {
        while receiving && in_flight.len() < max_chunks {
            match chunks.recv().await {
                None => receiving = false,
                Some(Err(err)) => {
                    // A unit that cannot be opened or read on: one bad record, and go on.
                    let outcome = ChunkOutcome::new(
                        ChunkDone { unit: usize::MAX, chunk: 0, records: 1, written: 0, failed: 1 },
                        vec![(0, String::new(), err.to_string())],
                    );
                    in_flight.push(futures::future::Either::Left(async { outcome }));
                }
                Some(Ok(chunk)) => {
                    if done.contains(&(chunk.unit, chunk.index)) {
                        continue;
                    }
                    if !sized && chunk.batch.num_rows() > 0 {
                        sized = true;
                        if config.auto_concurrency {
                            let row_bytes = chunk.batch.get_array_memory_size() / chunk.batch.num_rows();
                            writer.size_for_rows(row_bytes);
                        }
                    }
                    let writer = writer.clone();
                    in_flight.push(futures::future::Either::Right(write_chunk(
                        writer,
                        plan,
                        chunk,
                        config.dry_run,
                    )));
                }
            }
        }
        let Some(outcome) = in_flight.next().await else { break };
        let unit_name = units.get(outcome.done.unit).map_or("", |u| u.name.as_str());
        if !outcome.bad.is_empty() {
            let mut file = bad_file.lock().expect("bad file lock");
            for (position, original, reason) in &outcome.bad {
                let line = serde_json::to_string(&BadRecord {
                    source: unit_name,
                    position: *position,
                    reason,
                    record: original,
                    chunk: outcome.done.chunk,
                })
                .expect("bad record serializes");
                writeln!(file, "{line}").map_err(|e| invalid(format!("{}: {e}", bad_path.display())))?;
            }
            file.flush().map_err(|e| invalid(format!("{}: {e}", bad_path.display())))?;
            for (position, _, reason) in outcome.bad.iter().take(3) {
                operation.log(&format!("bad record: {unit_name} at {position}: {reason}"));
            }
        }
        report.read += outcome.done.records;
        report.written += outcome.done.written;
        report.failed += outcome.done.failed;
        progress.add_rows(outcome.done.written);
        if outcome.unwritten > 0 {
            // Not recorded: a resumed run reads this chunk again and writes all of it.
            report.unwritten += outcome.unwritten;
            if report.unwritten_tokens.len() < 10_000 {
                report.unwritten_tokens.extend(outcome.unwritten_tokens);
            }
            if report.unwritten_reason.is_none() {
                report.unwritten_reason = outcome.unwritten_reason;
            }
        } else if outcome.done.unit != usize::MAX && !config.dry_run {
            operation.record(&outcome.done)?;
        }
        if config.max_errors.exceeded(report.failed + report.unwritten, report.read) {
            report.too_many_errors = true;
            break;
        }
    }
    report.retries = writer.retries.load(Ordering::Relaxed);
    report.overloads = writer.overloads.load(Ordering::Relaxed);
    Ok(report)
}

/// A chunk's rows as CQL values of the plan's columns.
pub struct EncodedChunk {
    pub encoded: EncodedRows,
    /// The batch row of each encoded row, ascending (with --preserve-writetime/ttl a
    /// batch row may be split into several encoded rows).
    pub rows: Vec<usize>,
    /// Records that could not be read or converted: (position, original, reason).
    pub bad: Vec<(u64, String, String)>,
    pub records: u64,
}

/// Encodes every row of `chunk` for `plan`; a row with a value that does not convert, or
/// a null key, goes to `bad`.
pub fn encode_chunk(plan: &LoadPlan, chunk: &Chunk) -> EncodedChunk {
    let records = chunk.records();
    let mut bad: Vec<(u64, String, String)> =
        chunk.rejects.iter().map(|r| (r.position, r.original.clone(), r.reason.clone())).collect();
    let rows = chunk.batch.num_rows();
    let mut encoded = EncodedRows::new(plan.columns.len());
    if let Some(known) = &plan.source_fields
        && let Some(field) = chunk.batch.schema().fields().iter().find(|f| !known.contains(f.name()))
    {
        let reason = format!(
            "field '{}' is not in the first file, whose fields decided what loads; give the files the same fields, or list them with --mapping",
            field.name()
        );
        bad.extend((0..rows).map(|row| (chunk.positions[row], chunk.original(row), reason.clone())));
        return EncodedChunk { encoded, rows: Vec::new(), bad, records };
    }
    // Each planned column's source array, read through a cast to a simpler type if needed.
    let mut arrays: Vec<Option<ArrayRef>> = Vec::with_capacity(plan.columns.len());
    for column in &plan.columns {
        let Some(array) = chunk.batch.column_by_name(&column.field) else {
            arrays.push(None);
            continue;
        };
        let readable = if column.role == Role::Value {
            crate::encode::normalize(array)
                .and_then(|a| crate::encode::check(a.data_type(), &column.typ).map(|()| a))
        } else {
            timing_arrow_type(array.data_type()).and_then(|t| {
                arrow_cast::cast(array, &t)
                    .map_err(|e| format!("cannot read Arrow {}: {e}", array.data_type()))
            })
        };
        let array = match readable {
            Ok(array) => Some(array),
            // The whole column cannot be read: every row of the chunk is a bad record.
            Err(reason) => {
                let reason = format!("column {}: {reason}", column.name);
                bad.extend((0..rows).map(|row| (chunk.positions[row], chunk.original(row), reason.clone())));
                return EncodedChunk { encoded, rows: Vec::new(), bad, records };
            }
        };
        arrays.push(array);
    }
    let mut good = Vec::with_capacity(rows);
    'rows: for row in 0..rows {
        let cells_at = encoded.cells.len();
        let data_at = encoded.data.len();
        for (column, array) in plan.columns.iter().zip(&arrays) {
            let start = encoded.data.len();
            let present = match array {
                None => Ok(false),
                Some(array) if column.role != Role::Value => {
                    encode_timing(array.as_ref(), row, &mut encoded.data)
                }
                Some(array) => crate::encode::encode(array.as_ref(), row, &column.typ, &mut encoded.data),
            };
            match present {
                Ok(true) => encoded.cells.push(Some((start as u32, encoded.data.len() as u32))),
                Ok(false) => encoded.cells.push(None),
                Err(reason) => {
                    encoded.cells.truncate(cells_at);
                    encoded.data.truncate(data_at);
                    bad.push((
                        chunk.positions[row],
                        chunk.original(row),
                        format!("column {}: {reason}", column.name),
                    ));
                    continue 'rows;
                }
            }
        }
        if let Err(reason) = check_key(plan, &encoded, good.len()) {
            encoded.cells.truncate(cells_at);
            encoded.data.truncate(data_at);
            bad.push((chunk.positions[row], chunk.original(row), reason));
            continue;
        }
        good.push(row);
    }
    if let Some(timing) = &plan.timing {
        let (split, origin, failed) = timing.split(plan, &encoded);
        for (row, reason) in failed {
            let row = good[row];
            bad.push((chunk.positions[row], chunk.original(row), reason));
        }
        let rows = origin.into_iter().map(|row| good[row]).collect();
        return EncodedChunk { encoded: split, rows, bad, records };
    }
    EncodedChunk { encoded, rows: good, bad, records }
}

/// Encodes a chunk's rows for the plan's columns, then writes them.
async fn write_chunk(writer: Arc<Writer>, plan: &LoadPlan, chunk: Chunk, dry_run: bool) -> ChunkOutcome {
    let EncodedChunk { encoded, rows: good, mut bad, records } = encode_chunk(plan, &chunk);
    if dry_run {
        return ChunkOutcome::new(done(&chunk, records, 0, bad.len() as u64), bad);
    }
    // Requests: rows of one partition together, in batches of bounded rows and bytes.
    let mut groups: Vec<(bool, Vec<usize>)> = Vec::new();
    let mut by_key: HashMap<(bool, Vec<u8>), usize> = HashMap::new();
    for encoded_row in 0..good.len() {
        let static_only = is_static_only(plan, &encoded, encoded_row);
        let key = encoded.key(encoded_row, &plan.partition_key);
        let group = *by_key.entry((static_only, key)).or_insert_with(|| {
            groups.push((static_only, Vec::new()));
            groups.len() - 1
        });
        groups[group].1.push(encoded_row);
    }
    let mut requests: Vec<(bool, Vec<usize>)> = Vec::new();
    for (static_only, members) in groups {
        let mut current: Vec<usize> = Vec::new();
        let mut bytes = 0;
        for row in members {
            let row_bytes = encoded.row_bytes(row);
            if !current.is_empty()
                && (current.len() >= writer.options.batch_rows
                    || bytes + row_bytes > writer.options.batch_bytes)
            {
                requests.push((static_only, std::mem::take(&mut current)));
                bytes = 0;
            }
            bytes += row_bytes;
            current.push(row);
        }
        requests.push((static_only, current));
    }
    let encoded = &encoded;
    type Written = (Vec<usize>, std::result::Result<(), write::WriteFailure>, Option<i64>);
    let results: Vec<Written> = futures::stream::iter(requests)
        .map(|(static_only, members)| {
            let writer = writer.clone();
            async move {
                let statement = if static_only {
                    plan.static_statement.as_ref().expect("static rows need it")
                } else {
                    &plan.statement
                };
                let result = writer.write(statement, encoded, &members).await;
                // The partition's token names the token range when the cluster failed it.
                let token = match &result {
                    Err(failure) if failure.retryable => {
                        let row = write::BoundRow { rows: encoded, row: members[0], bind: &statement.bind };
                        statement.prepared.calculate_token(&row).ok().flatten().map(|t| t.value())
                    }
                    _ => None,
                };
                (members, result, token)
            }
        })
        .buffer_unordered(writer.options.max_in_flight.max(1))
        .collect()
        .await;
    // A record is written when every request holding a part of it succeeded; if the
    // cluster failed one part, the whole record is written again on resume.
    let mut refused: std::collections::BTreeMap<usize, String> = Default::default();
    let mut unwritten: std::collections::BTreeSet<usize> = Default::default();
    let mut unwritten_tokens = Vec::new();
    let mut unwritten_reason = None;
    for (members, result, token) in results {
        match result {
            Ok(()) => {}
            Err(failure) if failure.retryable => {
                unwritten.extend(members.iter().map(|&row| good[row]));
                unwritten_tokens.extend(token);
                unwritten_reason.get_or_insert(failure.reason);
            }
            Err(failure) => {
                for row in members {
                    refused.entry(good[row]).or_insert_with(|| failure.reason.clone());
                }
            }
        }
    }
    refused.retain(|row, _| !unwritten.contains(row));
    for (&row, reason) in &refused {
        bad.push((chunk.positions[row], chunk.original(row), format!("write failed: {reason}")));
    }
    let mut distinct = good.clone();
    distinct.dedup();
    let written = (distinct.len() - refused.len() - unwritten.len()) as u64;
    let failed = records - written - unwritten.len() as u64;
    ChunkOutcome {
        done: done(&chunk, records, written, failed),
        bad,
        unwritten: unwritten.len() as u64,
        unwritten_tokens,
        unwritten_reason,
    }
}

fn done(chunk: &Chunk, records: u64, written: u64, failed: u64) -> ChunkDone {
    ChunkDone { unit: chunk.unit, chunk: chunk.index, records, written, failed }
}

/// Null in a key column is a bad record, except a static-only row: all clustering columns
/// null in a table with static columns.
fn check_key(plan: &LoadPlan, encoded: &EncodedRows, row: usize) -> std::result::Result<(), String> {
    for &column in &plan.partition_key {
        if encoded.cell(row, column).is_none() {
            return Err(format!("null in partition key column {}", plan.columns[column].name));
        }
    }
    if is_static_only(plan, encoded, row) {
        return Ok(());
    }
    for &column in &plan.clustering {
        if encoded.cell(row, column).is_none() {
            return Err(format!("null in clustering column {}", plan.columns[column].name));
        }
    }
    Ok(())
}

pub fn is_static_only(plan: &LoadPlan, encoded: &EncodedRows, row: usize) -> bool {
    plan.static_statement.is_some() && plan.clustering.iter().all(|&c| encoded.cell(row, c).is_none())
}

/// The operation directory of a new load or the one being resumed, with the units it reads.
pub fn open_operation(
    log_dir: &std::path::Path,
    resume: Option<&std::path::Path>,
    view: &ClusterView,
    source: &str,
    format: &str,
    units: &[Unit],
) -> Result<Operation<LoadSpec>> {
    let names: Vec<String> = units.iter().map(|u| u.name.clone()).collect();
    match resume {
        Some(dir) => {
            let operation = Operation::<LoadSpec>::resume(dir)?;
            let spec = &operation.spec;
            if spec.keyspace != view.table.name.keyspace || spec.table != view.table.name.table {
                return Err(invalid(format!(
                    "--resume {}: that operation loads {}.{}, not {}",
                    dir.display(),
                    spec.keyspace,
                    spec.table,
                    view.table.name
                )));
            }
            if spec.units != names || spec.format != format {
                return Err(invalid(format!(
                    "--resume {}: the source changed since that operation started ({} {} units then, {} {} now); start a new load",
                    dir.display(),
                    spec.units.len(),
                    spec.format,
                    names.len(),
                    format
                )));
            }
            Ok(operation)
        }
        None => Operation::create(
            log_dir,
            LoadSpec {
                operation_id: String::new(),
                run_id: String::new(),
                keyspace: view.table.name.keyspace.clone(),
                table: view.table.name.table.clone(),
                source: source.to_string(),
                format: format.to_string(),
                units: names,
            },
        ),
    }
}

pub fn bad_file(operation: &Operation<LoadSpec>) -> PathBuf {
    operation.dir.join("bad.jsonl")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::Int32Type;
    use arrow_array::{ArrayRef, Int32Array, ListArray, StringArray};

    use super::*;

    fn encoded(array: ArrayRef, row: usize) -> Option<Vec<u8>> {
        let array = arrow_cast::cast(&array, &timing_arrow_type(array.data_type()).unwrap()).unwrap();
        let mut out = Vec::new();
        encode_timing(array.as_ref(), row, &mut out).unwrap().then_some(out)
    }

    /// What: write times and TTLs read from text (a number, or a JSON list with nulls as
    /// Cassandra 5.0 gives them for a collection), integers and lists of integers, then
    /// reduced to the one write time (the latest) and TTL (none if any cell had none, else
    /// the longest) a statement can carry. Why: these decide which write wins after a
    /// migration and when data expires; a TTL list with a null must not be refused.
    #[test]
    fn write_times_and_ttls_from_every_form() {
        let text: ArrayRef =
            Arc::new(StringArray::from(vec![Some("1700"), Some("[4000, 5000]"), Some("[null, 90]"), None]));
        assert_eq!(write_time(encoded(text.clone(), 0).as_deref()), Ok(Some(1700)));
        assert_eq!(write_time(encoded(text.clone(), 1).as_deref()), Ok(Some(5000)));
        assert_eq!(time_to_live(encoded(text.clone(), 2).as_deref()), Ok(0));
        assert_eq!(encoded(text, 3), None);
        assert_eq!(time_to_live(None), Ok(0));
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![86_400]));
        assert_eq!(time_to_live(encoded(ints, 0).as_deref()), Ok(86_400));
        let lists: ArrayRef =
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(30), Some(90)])]));
        assert_eq!(time_to_live(encoded(lists, 0).as_deref()), Ok(90));
        let bad: ArrayRef = Arc::new(StringArray::from(vec!["soon"]));
        let array = arrow_cast::cast(&bad, &DataType::Utf8).unwrap();
        assert!(encode_timing(array.as_ref(), 0, &mut Vec::new()).is_err());
        let negative: ArrayRef = Arc::new(StringArray::from(vec!["-5"]));
        assert!(time_to_live(encoded(negative, 0).as_deref()).is_err());
        assert!(timing_arrow_type(&DataType::Float64).is_err());
    }
}

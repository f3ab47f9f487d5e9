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
use arrow_schema::SchemaRef;
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
}

pub struct PlannedColumn {
    pub name: String,
    pub typ: ColumnType<'static>,
    pub field: String,
}

/// The target table's columns fed by the source's `fields` (`None` for JSON, which has no
/// schema: every column, or every mapped one, is looked up by name). Refuses, in one line,
/// a field with no column, a key column with no field, and a type that cannot convert.
pub fn plan_columns(
    view: &ClusterView,
    source_schema: Option<&SchemaRef>,
    source_name: &str,
    mapping: Option<&[(String, String)]>,
) -> Result<Vec<PlannedColumn>> {
    let table = &view.table.name;
    let column_type = |name: &str| view.columns.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone());
    let pairs: Vec<(String, String)> = match (mapping, source_schema) {
        (Some(mapping), _) => mapping.to_vec(),
        (None, Some(schema)) => {
            schema.fields().iter().map(|f| (f.name().clone(), f.name().clone())).collect()
        }
        (None, None) => view.columns.iter().map(|(n, _)| (n.clone(), n.clone())).collect(),
    };
    let mut seen = HashSet::new();
    let mut planned = Vec::new();
    for (field, column) in pairs {
        let Some(typ) = column_type(&column) else {
            let hint =
                if mapping.is_some() { "fix --mapping" } else { "rename it or leave it out with --mapping" };
            return Err(invalid(format!(
                "{source_name}: field '{field}' has no column '{column}' in {table}; {hint}"
            )));
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
            crate::encode::check(source_field.data_type(), &typ).map_err(|e| {
                invalid(format!(
                    "{source_name}: field '{field}' cannot load into column '{column}' of {table}: {e}"
                ))
            })?;
        }
        planned.push(PlannedColumn { name: column, typ, field });
    }
    let keys = view.table.partition_key.iter().chain(&view.table.clustering_key);
    for key in keys {
        if !seen.contains(key) {
            return Err(invalid(format!(
                "{source_name}: no field feeds primary key column '{key}' of {table}; add it or map a field to it with --mapping"
            )));
        }
    }
    // Table order: key columns first, as the statements bind them.
    planned.sort_by_key(|c| view.columns.iter().position(|(n, _)| *n == c.name));
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
        let all: Vec<usize> = (0..columns.len()).collect();
        let insert = |bind: &[usize]| {
            let names: Vec<String> = bind.iter().map(quoted).collect();
            let markers = vec!["?"; bind.len()].join(", ");
            format!("INSERT INTO {} ({}) VALUES ({markers})", table.name.cql(), names.join(", "))
        };
        let (cql, bind) = if counter {
            let keys: Vec<usize> = partition_key.iter().chain(&clustering).copied().collect();
            let counters: Vec<usize> = all.iter().copied().filter(|i| !keys.contains(i)).collect();
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
            (insert(&all), all.clone())
        };
        let statement = prepare(session, &cql, bind, options).await?;
        let static_columns: Vec<usize> =
            (0..columns.len()).filter(|i| table.static_columns.contains(&columns[*i].name)).collect();
        let static_statement = if !counter && !clustering.is_empty() && !table.static_columns.is_empty() {
            let bind: Vec<usize> = partition_key.iter().chain(&static_columns).copied().collect();
            Some(prepare(session, &insert(&bind), bind, options).await?)
        } else {
            None
        };
        Ok(LoadPlan { columns, statement, static_statement, partition_key, clustering, counter })
    }
}

async fn prepare(
    session: &Session,
    cql: &str,
    bind: Vec<usize>,
    options: &WriteOptions,
) -> Result<Statement> {
    let mut prepared = session.prepare(cql).await.map_err(|e| {
        Error::new(ErrorKind::InvalidInput, format!("cannot prepare `{cql}`: {}", one_line(&e)))
    })?;
    prepared.set_consistency(options.consistency);
    prepared.set_is_idempotent(!options.counter);
    Ok(Statement { prepared, bind: Arc::new(bind) })
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

/// A record that was not loaded, as one line of `bad.jsonl`.
#[derive(Serialize)]
struct BadRecord<'a> {
    source: &'a str,
    position: u64,
    reason: &'a str,
    record: &'a str,
}

/// What one chunk came to.
struct ChunkOutcome {
    done: ChunkDone,
    /// (position, original, reason)
    bad: Vec<(u64, String, String)>,
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
                    let outcome = ChunkOutcome {
                        done: ChunkDone { unit: usize::MAX, chunk: 0, records: 1, written: 0, failed: 1 },
                        bad: vec![(0, String::new(), err.to_string())],
                    };
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
        if outcome.done.unit != usize::MAX && !config.dry_run {
            operation.record(&outcome.done)?;
        }
        if config.max_errors.exceeded(report.failed, report.read) {
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
    /// The batch row of each encoded row.
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
    // Each planned column's source array, read through a cast to a simpler type if needed.
    let mut arrays: Vec<Option<ArrayRef>> = Vec::with_capacity(plan.columns.len());
    for column in &plan.columns {
        let array = match chunk.batch.column_by_name(&column.field) {
            None => None,
            Some(array) => match crate::encode::normalize(array)
                .and_then(|a| crate::encode::check(a.data_type(), &column.typ).map(|()| a))
            {
                Ok(array) => Some(array),
                Err(reason) => {
                    let reason = format!("column {}: {reason}", column.name);
                    bad.extend(
                        (0..rows).map(|row| (chunk.positions[row], chunk.original(row), reason.clone())),
                    );
                    return EncodedChunk { encoded, rows: Vec::new(), bad, records };
                }
            },
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
    EncodedChunk { encoded, rows: good, bad, records }
}

/// Encodes a chunk's rows for the plan's columns, then writes them.
async fn write_chunk(writer: Arc<Writer>, plan: &LoadPlan, chunk: Chunk, dry_run: bool) -> ChunkOutcome {
    let EncodedChunk { encoded, rows: good, mut bad, records } = encode_chunk(plan, &chunk);
    if dry_run {
        return ChunkOutcome { done: done(&chunk, records, 0, bad.len() as u64), bad };
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
    let results: Vec<(Vec<usize>, std::result::Result<(), String>)> = futures::stream::iter(requests)
        .map(|(static_only, members)| {
            let writer = writer.clone();
            async move {
                let statement = if static_only {
                    plan.static_statement.as_ref().expect("static rows need it")
                } else {
                    &plan.statement
                };
                let result = writer.write(statement, encoded, &members).await.map_err(|f| f.reason);
                (members, result)
            }
        })
        .buffer_unordered(writer.options.max_in_flight.max(1))
        .collect()
        .await;
    let mut written = 0;
    for (members, result) in results {
        match result {
            Ok(()) => written += members.len() as u64,
            Err(reason) => {
                for row in members {
                    bad.push((
                        chunk.positions[good[row]],
                        chunk.original(good[row]),
                        format!("write failed: {reason}"),
                    ));
                }
            }
        }
    }
    let failed = records - written;
    ChunkOutcome { done: done(&chunk, records, written, failed), bad }
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

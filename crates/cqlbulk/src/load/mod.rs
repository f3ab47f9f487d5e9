//! The load job: a [`Source`]'s Arrow chunks → CQL values of the target table → Cassandra.
//!
//! [`run`] is the whole job (what `cqlbulk load` calls). The plan ([`plan`]) is fixed before
//! any write; then each chunk is encoded row by row; a row that cannot be read or converted
//! goes to `bad.jsonl` in the operation directory with its position and reason, and the
//! rest is written by the Cassandra sink ([`crate::sink::cassandra`]). A chunk is recorded in the checkpoint once all its rows are
//! written or reported, so a resumed run skips it.

pub mod plan;

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use scylla::client::session::Session;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::plan::{EncodedChunk, is_static_only};
pub use self::plan::{PlannedColumn, Preserve, Role, RowPlan, encode_chunk, plan_columns};
use crate::cluster::{ClusterView, TableName, quote_identifier};
use crate::connect::{ConnectionConfig, one_line};
use crate::error::{Error, ErrorKind, Result, unless_cancelled};
use crate::operation::{Operation, Spec};
use crate::progress::{Observer, Progress, Work};
use crate::sink::cassandra::{self as write, Statement, WriteOptions, Writer};
use crate::source::{Chunk, OpenedSource, Source, Unit};
use crate::storage::Place;

/// Everything a load needs: the source, the table, and how hard to write.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Its consistency is the writes' (LOCAL_QUORUM is the CLI's default for loads).
    pub connection: ConnectionConfig,
    pub table: TableName,
    pub source: Source,
    /// `field=column` pairs; only these fields load. `None`: fields map to columns of the
    /// same name.
    pub mapping: Option<Vec<(String, String)>>,
    pub preserve: Preserve,
    pub writes: WriteSettings,
    pub max_errors: ErrorLimit,
    /// Read and convert everything, write nothing.
    pub dry_run: bool,
    /// Where operation directories go (run log, checkpoint, bad records, summary): a local
    /// directory or an object-store prefix.
    pub log_dir: Place,
    /// The operation directory (or object-store prefix) of an earlier attempt to finish.
    pub resume: Option<Place>,
}

/// How hard a load pushes the cluster.
#[derive(Clone, Debug)]
pub struct WriteSettings {
    /// Rows of one partition per unlogged batch, at most (1: no batches).
    pub batch_rows: usize,
    /// Requests in flight at most; `None` sizes it from the first rows (about 1 MiB of values).
    pub max_concurrent_requests: Option<usize>,
    pub max_rows_per_second: Option<f64>,
    /// Attempts per write before its rows count as unwritten (retryable) or bad.
    pub max_attempts: u32,
}

impl Default for WriteSettings {
    fn default() -> WriteSettings {
        WriteSettings {
            batch_rows: 32,
            max_concurrent_requests: None,
            max_rows_per_second: None,
            max_attempts: 10,
        }
    }
}

/// How a load ended (the `status` of its summary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadStatus {
    #[serde(rename = "complete")]
    Complete,
    /// Some records were bad (see `bad.jsonl`); every other row is written.
    #[serde(rename = "complete with errors")]
    CompleteWithErrors,
    /// The cluster did not take some rows after every attempt; a resumed run writes them.
    #[serde(rename = "incomplete: rows not written, resume")]
    Incomplete,
    /// More records failed than `max_errors` allows.
    #[serde(rename = "stopped: too many errors")]
    TooManyErrors,
    #[serde(rename = "interrupted")]
    Interrupted,
}

/// What a load did: `summary.json` of its operation directory. Counts include the chunks
/// finished by earlier attempts of the operation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadSummary {
    pub operation: String,
    pub status: LoadStatus,
    pub keyspace: String,
    pub table: String,
    pub source: String,
    pub format: String,
    pub snapshot_id: Option<i64>,
    pub read: u64,
    pub written: u64,
    pub failed: u64,
    /// Rows the cluster could not take after every attempt: their chunks are not recorded,
    /// so a resumed run writes them once the cluster is back.
    pub unwritten: u64,
    pub retries: u64,
    pub overloads: u64,
    pub dry_run: bool,
    pub elapsed_seconds: f64,
    pub rows_per_second: f64,
    /// The first unwritten request's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unwritten_reason: Option<String>,
    /// The token ranges (with replicas) of unwritten rows: the first few, and how many more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unwritten_ranges: Option<String>,
    /// A counter table: loading the same rows again adds them again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counter: bool,
    /// The operation directory: give it to `resume` in [`LoadConfig`].
    /// Every figure of the run (what metrics export).
    #[serde(default)]
    pub metrics: crate::progress::Figures,
    #[serde(skip)]
    pub operation_dir: String,
    /// `bad.jsonl` of the operation: the records not loaded, with position and reason.
    #[serde(skip)]
    pub bad_records: String,
}

/// Loads a source into a table as `config` says. Progress goes to `observer`; when
/// `cancel` is cancelled the run stops, keeps what it recorded, and returns an
/// `Interrupted` error naming the operation directory to resume. Bad records, unwritten
/// rows and too many errors are not errors here: the summary's status says which.
pub async fn run(
    config: &LoadConfig,
    observer: &dyn Observer,
    cancel: &CancellationToken,
) -> Result<LoadSummary> {
    let table = &config.table;
    let session = Arc::new(unless_cancelled(cancel, config.connection.connect(&table.keyspace)).await?);
    let view = unless_cancelled(cancel, ClusterView::read(&session, table)).await?;
    let mapping = config.mapping.as_deref();
    let projection = config.source.projection(mapping);
    let opened = unless_cancelled(cancel, OpenedSource::open(&config.source, projection.as_deref())).await?;
    let columns = plan_columns(&view, opened.schema.as_ref(), &opened.description, mapping, config.preserve)?;
    let json_fields: Vec<String> = columns.iter().map(|c| c.field.clone()).collect();
    let mut plan = RowPlan::new(&view, columns);
    plan.source_fields = opened.fields_every_file_must_fit(mapping);
    let options = WriteOptions {
        consistency: config.connection.consistency,
        // Without a limit, the writer is sized from the first chunk's rows.
        max_in_flight: config.writes.max_concurrent_requests.unwrap_or(256).max(1),
        batch_rows: config.writes.batch_rows.max(1),
        batch_bytes: 5 * 1024,
        max_rows_per_second: config.writes.max_rows_per_second.filter(|r| *r > 0.0),
        max_attempts: config.writes.max_attempts.max(1),
        counter: plan.counter,
    };
    let statements = unless_cancelled(cancel, Statements::prepare(&session, &view, &plan, &options)).await?;

    let format = config.source.format_name();
    let operation = open_operation(
        &config.log_dir,
        config.resume.as_ref(),
        &view,
        &opened.description,
        format,
        &opened.units,
    )
    .await?;
    operation.log(&format!(
        "start: {} from {} ({} units, {format}){}; columns: {}",
        table,
        opened.description,
        opened.units.len(),
        opened.snapshot_id.map_or(String::new(), |id| format!(", snapshot {id}")),
        plan.columns.iter().map(|c| format!("{}←{}", c.name, c.field)).collect::<Vec<_>>().join(", ")
    ));
    if config.resume.is_some() {
        operation.log(&format!("resume: {} chunks already done", operation.done.len()));
    }

    let progress = Arc::new(Progress::new(Work::Units, opened.units.len()));
    progress.resumed(operation.done.len());
    let writer = Arc::new(Writer::new(session.clone(), options, progress.clone()));
    observer.started("load", progress.clone());
    let chunks = opened.read(json_fields);
    let batches = Batches { writer, plan: &plan, statements: &statements };
    let report = load(batches, &opened.units, chunks, &operation, config, &progress, cancel).await;
    observer.finished(report.as_ref().is_ok_and(|r| !r.interrupted));
    let report = report?;

    let elapsed = progress.snapshot().elapsed.as_secs_f64();
    let status = if report.interrupted {
        LoadStatus::Interrupted
    } else if report.too_many_errors {
        LoadStatus::TooManyErrors
    } else if report.unwritten > 0 {
        LoadStatus::Incomplete
    } else if report.failed > 0 {
        LoadStatus::CompleteWithErrors
    } else {
        LoadStatus::Complete
    };
    let summary = LoadSummary {
        operation: operation.spec.operation_id.clone(),
        status,
        keyspace: table.keyspace.clone(),
        table: table.table.clone(),
        source: opened.description.clone(),
        format: format.to_string(),
        snapshot_id: opened.snapshot_id,
        read: report.read,
        written: report.written,
        failed: report.failed,
        unwritten: report.unwritten,
        retries: report.retries,
        overloads: report.overloads,
        dry_run: config.dry_run,
        elapsed_seconds: elapsed,
        rows_per_second: report.written as f64 / elapsed.max(1e-3),
        unwritten_reason: report.unwritten_reason.clone(),
        unwritten_ranges: (report.unwritten > 0).then(|| unwritten_ranges(&view, &report.unwritten_tokens)),
        counter: plan.counter,
        metrics: progress.figures(),
        operation_dir: operation.location(),
        bad_records: operation.location_of(BAD_RECORDS),
    };
    operation.write_summary(&summary).await?;
    if report.interrupted {
        operation.log("interrupted");
        return Err(Error::new(
            ErrorKind::Interrupted,
            format!(
                "interrupted; finished chunks are recorded: resume with --resume {}",
                operation.location()
            ),
        ));
    }
    operation.log(&format!(
        "end: {}; read {}, written {}, failed {}",
        serde_json::to_value(status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
        report.read,
        report.written,
        report.failed
    ));
    Ok(summary)
}

/// The prepared statements of a plan: INSERT (counter tables: UPDATE c = c + ?), and for
/// static-only rows an INSERT of the partition key and static columns.
pub struct Statements {
    pub rows: Statement,
    pub static_rows: Option<Statement>,
}

impl Statements {
    pub async fn prepare(
        session: &Session,
        view: &ClusterView,
        plan: &RowPlan,
        options: &WriteOptions,
    ) -> Result<Statements> {
        let table = &view.table;
        let columns = &plan.columns;
        let quoted = |i: &usize| quote_identifier(&columns[*i].name);
        // `USING TIMESTAMP ? AND TTL ?` and the split-row slots its markers take.
        let (timestamp_slot, ttl_slot) = plan.timing_slots();
        let mut clauses = Vec::new();
        if timestamp_slot.is_some() {
            clauses.push("TIMESTAMP ?");
        }
        if ttl_slot.is_some() {
            clauses.push("TTL ?");
        }
        let using =
            if clauses.is_empty() { String::new() } else { format!(" USING {}", clauses.join(" AND ")) };
        let using_bind: Vec<usize> = timestamp_slot.into_iter().chain(ttl_slot).collect();
        let insert = |bind: &[usize]| {
            let names: Vec<String> = bind.iter().map(quoted).collect();
            let markers = vec!["?"; bind.len()].join(", ");
            let cql =
                format!("INSERT INTO {} ({}) VALUES ({markers}){using}", table.name.cql(), names.join(", "));
            (cql, bind.iter().chain(&using_bind).copied().collect::<Vec<_>>())
        };
        let values = plan.values();
        let (cql, bind) = if plan.counter {
            let keys: Vec<usize> = plan.partition_key.iter().chain(&plan.clustering).copied().collect();
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
        let rows = prepare(session, &cql, bind, options).await?;
        let static_rows = if plan.static_rows {
            let keyed: Vec<usize> = plan.partition_key.iter().chain(&plan.static_columns).copied().collect();
            let (cql, bind) = insert(&keyed);
            Some(prepare(session, &cql, bind, options).await?)
        } else {
            None
        };
        Ok(Statements { rows, static_rows })
    }
}

/// What writes a chunk: the writer, the plan, its statements.
struct Batches<'a> {
    writer: Arc<Writer>,
    plan: &'a RowPlan,
    statements: &'a Statements,
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

    fn operation_id(&self) -> &str {
        &self.operation_id
    }

    fn contains(&self, done: &ChunkDone) -> bool {
        done.unit < self.units.len()
    }
}

/// Counts of a load, including chunks finished by earlier attempts.
#[derive(Debug, Default, Clone)]
struct LoadReport {
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
    /// Stopped by the cancellation token.
    pub interrupted: bool,
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
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
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
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
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

/// Writes the chunks of `units` arriving on `chunks`, skipping those `operation` already
/// finished, until the source ends, `max_errors` is passed, or `cancel` (chunks being
/// written then are dropped unrecorded: a resumed run writes them again).
async fn load(
    batches: Batches<'_>,
    units: &[Unit],
    mut chunks: mpsc::Receiver<Result<Chunk>>,
    operation: &Operation<LoadSpec>,
    config: &LoadConfig,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<LoadReport> {
    let Batches { writer, plan, statements } = batches;
    let done: HashSet<(usize, u64)> = operation.done.iter().map(|d| (d.unit, d.chunk)).collect();
    let mut report = LoadReport::default();
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
            .map_err(|e| Error::io(format!("cannot write {}", bad_path.display()), e))?,
    );
    let mut in_flight = FuturesUnordered::new();
    // Chunks written at once: enough to keep the writer's request slots busy across chunk
    // boundaries, few enough to bound memory.
    let max_chunks = 4;
    let mut receiving = true;
    let mut sized = false;
    loop {
        while receiving && in_flight.len() < max_chunks {
            let received = tokio::select! {
                received = chunks.recv() => received,
                () = cancel.cancelled() => {
                    report.interrupted = true;
                    break;
                }
            };
            match received {
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
                        if config.writes.max_concurrent_requests.is_none() {
                            let row_bytes = chunk.batch.get_array_memory_size() / chunk.batch.num_rows();
                            writer.size_for_rows(row_bytes);
                        }
                    }
                    let writer = writer.clone();
                    let batches = Batches { writer, plan, statements };
                    in_flight.push(futures::future::Either::Right(write_chunk(
                        batches,
                        chunk,
                        config.dry_run,
                    )));
                }
            }
        }
        if report.interrupted {
            break;
        }
        let outcome = tokio::select! {
            outcome = in_flight.next() => outcome,
            () = cancel.cancelled() => {
                report.interrupted = true;
                break;
            }
        };
        let Some(outcome) = outcome else {
            progress.units_done(units.len());
            break;
        };
        let unit_name = units.get(outcome.done.unit).map_or("", |u| u.name.as_str());
        if !outcome.bad.is_empty() {
            progress.bad_records(outcome.bad.len() as u64);
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
                writeln!(file, "{line}")
                    .map_err(|e| Error::io(format!("cannot write {}", bad_path.display()), e))?;
            }
            file.flush().map_err(|e| Error::io(format!("cannot write {}", bad_path.display()), e))?;
            for (position, _, reason) in outcome.bad.iter().take(3) {
                operation.log(&format!("bad record: {unit_name} at {position}: {reason}"));
            }
        }
        if outcome.done.unit != usize::MAX {
            // Units are read in order: the ones before this chunk's are finished.
            progress.units_done(outcome.done.unit);
        }
        report.read += outcome.done.records;
        report.written += outcome.done.written;
        report.failed += outcome.done.failed;
        progress.read(outcome.done.records, 0);
        progress.written(outcome.done.written, 0);
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
            operation.record(&outcome.done).await?;
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

/// Encodes a chunk's rows for the plan's columns, then writes them.
async fn write_chunk(batches: Batches<'_>, chunk: Chunk, dry_run: bool) -> ChunkOutcome {
    let Batches { writer, plan, statements } = batches;
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
                    statements.static_rows.as_ref().expect("static rows need it")
                } else {
                    &statements.rows
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

/// The operation directory of a new load or the one being resumed, with the units it reads.
pub async fn open_operation(
    log_dir: &Place,
    resume: Option<&Place>,
    view: &ClusterView,
    source: &str,
    format: &str,
    units: &[Unit],
) -> Result<Operation<LoadSpec>> {
    let names: Vec<String> = units.iter().map(|u| u.name.clone()).collect();
    match resume {
        Some(dir) => {
            let operation = Operation::<LoadSpec>::resume(dir).await?;
            let spec = &operation.spec;
            if spec.keyspace != view.table.name.keyspace || spec.table != view.table.name.table {
                return Err(invalid(format!(
                    "--resume {}: that operation loads {}.{}, not {}",
                    dir.describe(),
                    spec.keyspace,
                    spec.table,
                    view.table.name
                )));
            }
            if spec.units != names || spec.format != format {
                return Err(invalid(format!(
                    "--resume {}: the source changed since that operation started ({} {} units then, {} {} now); start a new load",
                    dir.describe(),
                    spec.units.len(),
                    spec.format,
                    names.len(),
                    format
                )));
            }
            Ok(operation)
        }
        None => {
            Operation::create(
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
            )
            .await
        }
    }
}

/// Records that could not be loaded, in the operation directory.
pub const BAD_RECORDS: &str = "bad.jsonl";

pub fn bad_file(operation: &Operation<LoadSpec>) -> PathBuf {
    operation.dir.join(BAD_RECORDS)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadInput, message)
}

/// The token ranges holding `tokens`, with their replicas: `(-3074457345618258603, …] on
/// 127.0.0.3`, the first few and how many more.
fn unwritten_ranges(view: &ClusterView, tokens: &[i64]) -> String {
    let Ok(ranges) = view.replicated_ranges() else { return "unknown".to_string() };
    let mut hit: Vec<&cqlbulk_ring::ReplicatedRange> = Vec::new();
    for token in tokens {
        if let Some(range) = ranges.iter().find(|r| r.range.contains(*token))
            && !hit.iter().any(|h| std::ptr::eq(*h, range))
        {
            hit.push(range);
        }
    }
    hit.sort_by_key(|r| r.range.start());
    let shown: Vec<String> = hit
        .iter()
        .take(5)
        .map(|r| {
            let replicas: Vec<String> =
                r.replicas.iter().map(|id| view.node(*id).address.ip().to_string()).collect();
            format!("{} on {}", r.range, replicas.join(", "))
        })
        .collect();
    let more = hit.len().saturating_sub(shown.len());
    if more > 0 { format!("{} and {more} more", shown.join("; ")) } else { shown.join("; ") }
}

/// Loads every table of `config.table.keyspace` (its table name is not used) that the
/// source holds ([`Source::for_table`]: `<url>/<table>`, or the Iceberg table of that name),
/// under one keyspace operation (see [`crate::keyspace`]). Tables the source lacks are
/// skipped with a line; a table that fails is recorded and the next one runs.
pub async fn run_keyspace(
    config: &LoadConfig,
    observer: &dyn Observer,
    cancel: &CancellationToken,
) -> Result<crate::keyspace::KeyspaceSummary> {
    use crate::keyspace::{TableOutcome, needs_table, run_tables, tables_of};
    if config.mapping.is_some() {
        return Err(needs_table("--mapping"));
    }
    let keyspace = &config.table.keyspace;
    let session = unless_cancelled(cancel, config.connection.connect(keyspace)).await?;
    let (tables, mut skipped) = tables_of(&session, keyspace).await?;
    drop(session);
    let mut present = Vec::new();
    for table in tables {
        match config.source.for_table(&table).await? {
            Some(_) => present.push(table),
            None => skipped.push(format!("{table}: nothing for it in the source")),
        }
    }
    let target = format!("{} ({})", describe_source(&config.source), config.source.format_name());
    run_tables(
        "load",
        keyspace,
        present,
        skipped,
        target,
        &config.log_dir,
        config.resume.as_ref(),
        cancel,
        |run| async move {
            let source = config.source.for_table(&run.table).await?.ok_or_else(|| {
                Error::new(
                    ErrorKind::BadInput,
                    format!("{}: the source no longer holds this table", run.table),
                )
            })?;
            let table_config = LoadConfig {
                table: TableName::new(keyspace, &run.table),
                source,
                log_dir: run.log_dir,
                resume: run.resume,
                ..config.clone()
            };
            let summary = self::run(&table_config, observer, cancel).await?;
            Ok(TableOutcome {
                table: run.table,
                status: serde_json::to_value(summary.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                rows: summary.written,
                operation: summary.operation_dir.clone(),
                error: summary.unwritten_reason.clone(),
            })
        },
    )
    .await
}

/// The source as a keyspace operation records it.
fn describe_source(source: &Source) -> String {
    match source {
        Source::Files { url, .. } => url.clone(),
        Source::Iceberg(iceberg) => format!("{}.*", iceberg.namespace),
    }
}

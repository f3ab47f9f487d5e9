//! The unload job: a token-range scan of a table into Arrow batches, written to a
//! [`Destination`], with every finished split recorded so that a resumed run writes each row
//! exactly once.
//!
//! [`run`] is the whole job (what `cqlbulk unload` calls): connect, plan the splits, create
//! or resume the operation directory, open the destination, read every split, finish the
//! destination (an Iceberg commit), write `summary.json`.

use std::collections::HashSet;
use std::sync::Arc;

use cqlbulk_ring::TokenRange;
use scylla::client::session::Session;
use scylla::frame::response::result::ColumnType;
use scylla::statement::prepared::PreparedStatement;
use serde::{Deserialize, Serialize};

use crate::cluster::{ClusterView, TableName};
use crate::codec::decode::BatchBuilder;
use crate::connect::ConnectionConfig;
use crate::error::{Error, ErrorKind, Result, unless_cancelled};
use crate::operation::{Operation, OperationSpec, Shard, SplitDone};
use crate::progress::{Observer, Progress, Work};
use crate::scan::{self, BATCH_BYTES, BATCH_ROWS, ScanConfig, ScanPlan};
pub use crate::scan::{Selection, select_cql};
use crate::sink::iceberg::shards::{self, ShardRecord};
use crate::sink::iceberg::{DataFileOptions, ExportConfig, IcebergSink};
use crate::sink::{Compression, Destination, FileLayout, Format, Place, Resumed, RunFacts};

/// Everything an unload needs: what to read, from where, and where it goes.
#[derive(Clone, Debug)]
pub struct UnloadConfig {
    pub connection: ConnectionConfig,
    pub table: TableName,
    pub scan: ScanConfig,
    pub selection: Selection,
    pub output: Output,
    /// Where operation directories go (run log, checkpoint, summary): a local directory or
    /// an object-store prefix.
    pub log_dir: Place,
    /// The operation directory (or object-store prefix) of an earlier attempt to finish.
    pub resume: Option<Place>,
    /// This run is one shard of an export several workers share: it reads its part of the
    /// ring, keeps its operation at `<log_dir>/shard-I-of-N` (resumed when it exists), and an
    /// Iceberg shard records its data files for `iceberg commit` instead of committing.
    pub shard: Option<Shard>,
}

/// Where the rows go.
#[derive(Clone, Debug)]
pub enum Output {
    /// Files in a local directory (absolute) or under an object-store prefix, one set per
    /// split, rolled by rows or bytes.
    Directory {
        place: Place,
        format: Format,
        compression: Compression,
        max_rows_per_file: Option<u64>,
        max_bytes_per_file: Option<u64>,
    },
    /// One stream on standard output (CSV or JSON; cannot be resumed).
    Stdout { format: Format, compression: Compression },
    /// An Iceberg table, committed as one snapshot at the end.
    Iceberg { export: Box<ExportConfig>, files: DataFileOptions },
    /// Nowhere: measures the scan alone.
    Discard,
}

impl Output {
    /// `csv`, `json`, `parquet`, `iceberg` or `null`: recorded in the operation.
    pub fn format_name(&self) -> &'static str {
        match self {
            Output::Directory { format, .. } | Output::Stdout { format, .. } => format.name(),
            Output::Iceberg { .. } => "iceberg",
            Output::Discard => "null",
        }
    }

    /// Where one table of a whole-keyspace unload goes: `<dir>/<table>` or the Iceberg table
    /// of that name in the namespace.
    pub fn for_table(&self, table: &str) -> Result<Output> {
        Ok(match self {
            Output::Directory { place, format, compression, max_rows_per_file, max_bytes_per_file } => {
                Output::Directory {
                    place: place.child(&file_name_part(table))?,
                    format: format.clone(),
                    compression: *compression,
                    max_rows_per_file: *max_rows_per_file,
                    max_bytes_per_file: *max_bytes_per_file,
                }
            }
            Output::Iceberg { export, files } => {
                let mut export = export.clone();
                export.table = table.to_string();
                Output::Iceberg { export, files: *files }
            }
            Output::Discard => Output::Discard,
            Output::Stdout { .. } => {
                return Err(Error::new(
                    ErrorKind::BadInput,
                    "a whole keyspace goes to files or Iceberg tables: give --url DIR or --warehouse, or -t TABLE for stdout",
                ));
            }
        })
    }

    /// Where the rows go, as the operation records it: resume must name the same.
    pub fn describe(&self) -> String {
        match self {
            Output::Directory { place, .. } => place.describe(),
            Output::Stdout { .. } => "-".to_string(),
            Output::Iceberg { export, .. } => export.describe(),
            Output::Discard => "null".to_string(),
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Complete,
    /// Some token ranges failed after every retry; `--resume` reads just those.
    Failed,
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Complete => "complete",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
        }
    }
}

/// What an unload did: `summary.json` of its operation directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UnloadSummary {
    pub operation: String,
    pub status: Status,
    pub keyspace: String,
    pub table: String,
    pub format: String,
    pub output: String,
    pub rows: u64,
    pub bytes: u64,
    pub files: usize,
    pub splits: usize,
    pub splits_done: usize,
    pub splits_failed: usize,
    pub retries: u64,
    /// The Iceberg snapshot of the run.
    pub snapshot_id: Option<i64>,
    /// The Iceberg table written, e.g. `ks.t`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iceberg_table: Option<String>,
    /// A resumed run found its snapshot already committed by an earlier attempt.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already_committed: bool,
    pub elapsed_seconds: f64,
    pub rows_per_second: f64,
    /// One line per failed token range.
    pub errors: Vec<String>,
    /// The operation directory: give it to `--resume` (`resume` in [`UnloadConfig`]).
    /// Every figure of the run (what metrics export).
    #[serde(default)]
    pub metrics: crate::progress::Figures,
    #[serde(skip)]
    pub operation_dir: String,
}

/// Unloads a whole table as `config` says. Progress goes to `observer`; when `cancel` is
/// cancelled the run stops, records what it finished, and returns an `Interrupted` error
/// naming the operation directory to resume. Failed token ranges are not an error here:
/// the summary's status is [`Status::Failed`] and `errors` names them.
pub async fn run(
    config: &UnloadConfig,
    observer: &dyn Observer,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<UnloadSummary> {
    if matches!(config.output, Output::Stdout { .. }) && config.resume.is_some() {
        return Err(Error::new(
            ErrorKind::BadInput,
            "--resume needs files to finish: give --url DIR (stdout output cannot be resumed)",
        ));
    }
    let table = &config.table;
    let session = unless_cancelled(cancel, config.connection.connect(&table.keyspace)).await?;
    let view = unless_cancelled(cancel, ClusterView::read(&session, table)).await?;
    let cql = select_cql(&view, &config.selection)?;
    let (statement, columns) =
        unless_cancelled(cancel, scan::prepare(&session, &view, &cql, config.connection.page_size)).await?;
    let mut plan = ScanPlan::new(&view, &config.scan)?;

    let format_name = config.output.format_name();
    let output_text = config.output.describe();
    let mut resume = config.resume.clone();
    if let Some(shard) = &config.shard {
        if resume.is_some() {
            return Err(Error::new(
                ErrorKind::BadInput,
                "--shard resumes its own operation (<log-dir>/shard-I-of-N): drop --resume",
            ));
        }
        if matches!(config.output, Output::Stdout { .. }) {
            return Err(Error::new(
                ErrorKind::BadInput,
                "--shard writes files or Iceberg data files: give --url or --format iceberg",
            ));
        }
        plan.restrict(&shard.range());
        let at = config.log_dir.child(&shard.dir_name())?;
        if at.read("operation.json").await?.is_some() {
            resume = Some(at);
        }
    }
    let operation = match &resume {
        None => {
            let mut ranges: Vec<_> = plan.splits.iter().map(|s| (s.index, s.range)).collect();
            ranges.sort_by_key(|(index, _)| *index);
            // A shard's operation has a name its reruns find; a run's is its id.
            let name = config.shard.map(|shard| shard.dir_name());
            Operation::create_as(
                &config.log_dir,
                name.as_deref(),
                OperationSpec {
                    operation_id: String::new(),
                    run_id: String::new(),
                    keyspace: table.keyspace.clone(),
                    table: table.table.clone(),
                    format: format_name.to_string(),
                    output: output_text.clone(),
                    splits: ranges.iter().map(|(_, r)| (r.start(), r.end())).collect(),
                    shard: config.shard,
                },
            )
            .await?
        }
        Some(dir) => {
            let mut operation = Operation::<OperationSpec>::resume(dir).await?;
            let missing;
            (operation.done, missing) = reusable_splits(std::mem::take(&mut operation.done), &operation.dir);
            if missing > 0 {
                operation.log(&format!(
                    "resume: {missing} finished splits are read again: their spill files are not on this machine"
                ));
            }
            let spec = &operation.spec;
            if (
                spec.keyspace.as_str(),
                spec.table.as_str(),
                spec.format.as_str(),
                spec.output.as_str(),
                spec.shard,
            ) != (
                table.keyspace.as_str(),
                table.table.as_str(),
                format_name,
                output_text.as_str(),
                config.shard,
            ) {
                let flag = if config.shard.is_some() { "the shard's operation" } else { "--resume" };
                return Err(Error::new(
                    ErrorKind::BadInput,
                    format!(
                        "{flag} {}: that run unloaded {}.{} as {} to {}; give the same table, --format and --url",
                        dir.describe(),
                        spec.keyspace,
                        spec.table,
                        spec.format,
                        spec.output
                    ),
                ));
            }
            plan = resume_plan(&view, &plan, &spec.ranges()?, &operation.done)?;
            operation
        }
    };

    let schema = Arc::new(crate::codec::types::arrow_schema(columns.iter().map(|(n, t)| (n.as_str(), t))));
    let destination = unless_cancelled(
        cancel,
        open_destination(config, &view, &columns, schema, &operation, plan.concurrency),
    )
    .await?;
    let mut summary = UnloadSummary {
        operation: operation.spec.operation_id.clone(),
        status: Status::Complete,
        keyspace: table.keyspace.clone(),
        table: table.table.clone(),
        format: format_name.to_string(),
        output: output_text.clone(),
        rows: 0,
        bytes: 0,
        files: 0,
        splits: operation.spec.splits.len(),
        splits_done: 0,
        splits_failed: 0,
        retries: 0,
        snapshot_id: None,
        iceberg_table: match &destination {
            Destination::Iceberg(sink) => Some(sink.describe_table()),
            _ => None,
        },
        already_committed: false,
        elapsed_seconds: 0.0,
        rows_per_second: 0.0,
        errors: Vec::new(),
        metrics: Default::default(),
        operation_dir: operation.location(),
    };
    if resume.is_some() {
        if let Some(record) = finished_shard(&operation) {
            operation.log(&format!("shard already finished: its data files are recorded in {record}"));
            let earlier: Option<UnloadSummary> = std::fs::read(operation.dir.join("summary.json"))
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok());
            summary.rows = operation.done.iter().map(|d| d.rows).sum();
            summary.splits_done = operation.done.len();
            if let Some(earlier) = earlier {
                (summary.files, summary.bytes) = (earlier.files, earlier.bytes);
            }
            operation.write_summary(&summary).await?;
            return Ok(summary);
        }
        match destination.resume(&operation.done).await? {
            Resumed::Committed { snapshot_id } => {
                operation.log(&format!("resume: run already committed as snapshot {snapshot_id}"));
                summary.rows = operation.done.iter().map(|d| d.rows).sum();
                summary.splits_done = operation.done.len();
                summary.snapshot_id = Some(snapshot_id);
                summary.already_committed = true;
                operation.write_summary(&summary).await?;
                return Ok(summary);
            }
            Resumed::Removed(removed) => operation.log(&format!(
                "resume: {} splits already done, {removed} unrecorded files removed",
                operation.done.len()
            )),
        }
    }
    operation.log(&format!(
        "start: {table} as {format_name} to {output_text}; {} splits to read; query: {cql}",
        plan.splits.len()
    ));

    let progress = Arc::new(Progress::new(Work::Ring, operation.spec.splits.len()));
    progress.resumed(operation.done.len());
    // A resumed run starts where the last one stopped.
    for done in &operation.done {
        if let Some(range) = TokenRange::new(done.start, done.end) {
            progress.split_done(&range);
        }
    }
    observer.started("unload", progress.clone());
    let report = tokio::select! {
        report = unload(&session, &plan, &statement, &columns, &destination, &operation, &progress) => report,
        () = cancel.cancelled() => {
            observer.finished(false);
            operation.log("interrupted");
            summary.status = Status::Interrupted;
            summary.metrics = progress.figures();
    operation.write_summary(&summary).await?;
            return Err(Error::new(
                ErrorKind::Interrupted,
                format!("interrupted; finished ranges are recorded: resume with --resume {}", operation.location()),
            ));
        }
    };
    observer.finished(true);
    if let Some(failure) = report.output_failure {
        operation.log(&format!("stopped: the output failed: {failure}"));
        summary.status = Status::Failed;
        summary.rows = report.done.iter().map(|d| d.rows).sum();
        summary.splits_done = report.done.len();
        summary.splits_failed = summary.splits - summary.splits_done;
        summary.errors = vec![failure.to_string()];
        summary.metrics = progress.figures();
        operation.write_summary(&summary).await?;
        return Err(Error::new(
            failure.kind(),
            format!(
                "{failure}; the run stopped there, finished ranges are recorded: once the output works again, resume with --resume {}",
                operation.location()
            ),
        ));
    }

    // Stdout is ended even when ranges failed (its stream must still be well formed); an
    // Iceberg snapshot is committed only for a complete run.
    let mut files_written = None;
    if report.failures.is_empty() || !matches!(destination, Destination::Iceberg(_)) {
        let facts = RunFacts {
            source_cluster: view.cluster_name.clone(),
            source_table: format!("{}.{}", table.keyspace, table.table),
            splits: operation.spec.splits.len(),
        };
        let log = |line: &str| operation.log(line);
        let finished = destination.finish(&report.done, &facts, &log).await.map_err(|e| {
            operation.log(&format!("cannot finish the output: {e}"));
            match destination {
                Destination::Iceberg(_) => e.context(format!(
                    "every range is read; write the data files and commit with --resume {}",
                    operation.location()
                )),
                _ => e.context("cannot finish the output"),
            }
        })?;
        summary.snapshot_id = finished.snapshot_id;
        if let Some(snapshot_id) = summary.snapshot_id {
            operation.log(&format!("committed snapshot {snapshot_id}"));
        }
        files_written = finished.files;
    }

    let now = progress.snapshot();
    summary.status = if report.failures.is_empty() { Status::Complete } else { Status::Failed };
    summary.rows = report.rows();
    (summary.files, summary.bytes) = match &files_written {
        Some(files) => (files.len(), files.iter().map(|f| f.bytes).sum()),
        None => (report.files(), report.bytes()),
    };
    summary.splits_done = report.done.len();
    summary.splits_failed = report.failures.len();
    summary.retries = now.retries;
    summary.elapsed_seconds = now.elapsed.as_secs_f64();
    summary.rows_per_second = summary.rows as f64 / summary.elapsed_seconds.max(1e-3);
    summary.errors = report.failures.iter().map(ToString::to_string).collect();
    summary.metrics = progress.figures();
    operation.write_summary(&summary).await?;
    operation.log(&format!(
        "end: {}, {} rows, {} files",
        summary.status.as_str(),
        summary.rows,
        summary.files
    ));
    Ok(summary)
}

/// The record of a shard whose Iceberg data files are written and recorded: a rerun of it
/// has nothing left to do (and must not delete those files as unrecorded).
fn finished_shard(operation: &Operation) -> Option<String> {
    operation.spec.shard?;
    let record = crate::sink::iceberg::shards::SHARD_FILES;
    operation.dir.join(record).exists().then(|| operation.location_of(record))
}

/// The destination `config.output` names, ready for this operation's splits.
async fn open_destination(
    config: &UnloadConfig,
    view: &ClusterView,
    columns: &[(String, ColumnType<'static>)],
    schema: arrow_schema::SchemaRef,
    operation: &Operation,
    workers: usize,
) -> Result<Destination> {
    Ok(match &config.output {
        Output::Discard => Destination::Discard,
        Output::Stdout { format, compression } => Destination::stdout(format, *compression, schema)
            .map_err(|e| Error::io("cannot write to stdout", e))?,
        Output::Directory { place, format, compression, max_rows_per_file, max_bytes_per_file } => {
            if let Place::Directory(dir) = place {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::io(format!("cannot create the output directory {}", dir.display()), e)
                })?;
            }
            let layout = FileLayout::new(
                place.clone(),
                format!("{}-{}", file_name_part(&config.table.table), operation.spec.run_id),
                max_rows_per_file.unwrap_or(u64::MAX).max(1),
                max_bytes_per_file.unwrap_or(u64::MAX),
            );
            Destination::Directory { layout, format: format.clone(), compression: *compression, schema }
        }
        Output::Iceberg { export, files } => {
            let cql_columns = crate::sink::iceberg::schema::cql_columns(view, columns);
            let keys = view.table.partition_key.iter().chain(&view.table.clustering_key).cloned().collect();
            let spill_dir = operation.dir.join(crate::sink::iceberg::SPILL_DIR);
            let sink = IcebergSink::open(
                export,
                &cql_columns,
                &operation.spec.run_id,
                *files,
                keys,
                spill_dir,
                workers,
            )
            .await?
            .recording(
                config
                    .shard
                    .map(|shard| ShardRecord { shard, path: operation.dir.join(shards::SHARD_FILES) }),
            );
            let prepared = &sink.table.prepared;
            operation.log(&format!(
                "iceberg: {} {}{}{}",
                sink.table.ident,
                if prepared.created { "created" } else { "exists" },
                if prepared.added_columns.is_empty() {
                    String::new()
                } else {
                    format!("; columns added: {}", prepared.added_columns.join(", "))
                },
                if prepared.dropped_columns.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; columns no longer in Cassandra (written as null): {}",
                        prepared.dropped_columns.join(", ")
                    )
                },
            ));
            Destination::Iceberg(Box::new(sink))
        }
    })
}

/// A table name as a safe file name part.
fn file_name_part(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// The outcome of an unload.
pub struct UnloadReport {
    /// Every finished split, from this and earlier attempts.
    pub done: Vec<SplitDone>,
    pub failures: Vec<Error>,
    /// The output failed (then the splits not yet started were not read at all).
    pub output_failure: Option<Error>,
}

impl UnloadReport {
    pub fn rows(&self) -> u64 {
        self.done.iter().map(|d| d.rows).sum()
    }

    pub fn files(&self) -> usize {
        self.done.iter().map(|d| d.files.len()).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.done.iter().flat_map(|d| &d.files).map(|f| f.bytes).sum()
    }
}

/// Reads every split of `plan` not yet in `operation.done` and writes it to `destination`.
pub async fn unload(
    session: &Session,
    plan: &ScanPlan,
    statement: &PreparedStatement,
    columns: &[(String, ColumnType<'static>)],
    destination: &Destination,
    operation: &Operation,
    progress: &Progress,
) -> UnloadReport {
    let attempts = plan.max_attempts;
    // The first failure to store output (the disk, the object store, the operation
    // directory) stops the run: it is no replica's fault, so every other split would fail
    // the same way. A value the output cannot take (BadInput) fails its split only.
    let output_failure: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
    let fail_output = |err: Error| {
        if matches!(err.kind(), ErrorKind::Io | ErrorKind::Auth) {
            let mut first = output_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if first.is_none() {
                *first = Some(Error::new(err.kind(), err.to_string()));
            }
        }
        err
    };
    let stopped = || output_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_some();
    let reports = scan::run(plan, progress, |split| async move {
        if stopped() {
            return Ok(None);
        }
        let index = split.index;
        let mut visitor = UnloadVisitor {
            sink: destination.split_sink(index),
            builder: BatchBuilder::new(columns),
            range: split.range,
            output_failed: false,
        };
        let read = scan::read_split(session, split, statement, attempts, progress, &mut visitor).await;
        if let Err(err) = read {
            return Err(if visitor.output_failed { fail_output(err) } else { err });
        }
        let UnloadVisitor { mut sink, mut builder, .. } = visitor;
        let in_range = |e: Error| fail_output(e.context(format!("token range {}", split.range)));
        if !builder.is_empty() {
            sink.write(&builder.finish()).await.map_err(in_range)?;
        }
        let output = sink.commit().await.map_err(in_range)?;
        progress.written(output.rows, output.files.iter().map(|f| f.bytes).sum());
        let done = SplitDone {
            split: index,
            start: split.range.start(),
            end: split.range.end(),
            rows: output.rows,
            files: output.files,
            spill: output.spill,
        };
        operation.record(&done).await.map_err(fail_output)?;
        Ok(Some(done))
    })
    .await;

    let mut done = operation.done.clone();
    let mut failures = Vec::new();
    for report in reports {
        match report.result {
            Ok(Some(split)) => done.push(split),
            Ok(None) => {}
            Err(err) => {
                operation.log(&format!("split {} {} failed: {err}", report.split.index, report.split.range));
                failures.push(err);
            }
        }
    }
    done.sort_by_key(|d| d.split);
    let output_failure = output_failure.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    UnloadReport { done, failures, output_failure }
}

/// Rows of a split → Arrow batches → the split's sink.
struct UnloadVisitor<'a> {
    sink: crate::sink::SplitSink<'a>,
    builder: BatchBuilder,
    range: TokenRange,
    /// The error that ended the split came from the output, not from reading.
    output_failed: bool,
}

impl scan::PageVisitor for UnloadVisitor<'_> {
    fn row(&mut self, values: &[Option<&[u8]>]) -> Result<()> {
        self.builder.append_row(values.iter().copied()).map_err(|e| {
            Error::new(ErrorKind::Query, format!("token range {}: cannot decode a row: {e}", self.range))
        })
    }

    async fn page_done(&mut self) -> Result<()> {
        if self.builder.len() >= BATCH_ROWS || self.builder.bytes() >= BATCH_BYTES {
            let written = self.sink.write(&self.builder.finish()).await;
            self.output_failed = written.is_err();
            written.map_err(|e| e.context(format!("token range {}", self.range)))?;
        }
        Ok(())
    }
}

/// Splits to read on resume: the recorded ranges not yet finished, each routed to the
/// replicas the current topology gives it (any coordinator would be correct; a replica
/// saves a hop).
/// The finished splits a resumed run need not read again: the last record of each split,
/// except an Iceberg split whose spill file is not in `operation_dir` (the run began on
/// another machine, its operation in object storage): that split is read again. Also
/// returns how many those were.
fn reusable_splits(done: Vec<SplitDone>, operation_dir: &std::path::Path) -> (Vec<SplitDone>, usize) {
    let mut last: std::collections::BTreeMap<usize, SplitDone> = Default::default();
    for record in done {
        last.insert(record.split, record);
    }
    let spill_dir = operation_dir.join(crate::sink::iceberg::SPILL_DIR);
    let (kept, missing): (Vec<SplitDone>, Vec<SplitDone>) = last
        .into_values()
        .partition(|d| d.spill.as_ref().is_none_or(|spill| spill_dir.join(&spill.name).is_file()));
    (kept, missing.len())
}

pub fn resume_plan(
    view: &ClusterView,
    base: &ScanPlan,
    ranges: &[TokenRange],
    done: &[SplitDone],
) -> Result<ScanPlan> {
    let finished: HashSet<usize> = done.iter().map(|d| d.split).collect();
    let unfinished = ranges.iter().copied().enumerate().filter(|(index, _)| !finished.contains(index));
    ScanPlan::for_ranges(view, base, unfinished)
}

/// Unloads every table of `config.table.keyspace` (its table name is not used), each to
/// [`Output::for_table`], under one keyspace operation (see [`crate::keyspace`]). A table
/// that fails is recorded and the next one runs; the summary says which.
pub async fn run_keyspace(
    config: &UnloadConfig,
    observer: &dyn Observer,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<crate::keyspace::KeyspaceSummary> {
    use crate::keyspace::{TableOutcome, needs_table, run_tables, tables_of};
    if config.selection.columns.is_some() || config.selection.query.is_some() {
        return Err(needs_table("--columns or --query"));
    }
    config.output.for_table("t")?;
    let keyspace = &config.table.keyspace;
    let session = unless_cancelled(cancel, config.connection.connect(keyspace)).await?;
    let (tables, skipped) = tables_of(&session, keyspace).await?;
    drop(session);
    let target = format!("{} as {}", config.output.describe(), config.output.format_name());
    run_tables(
        "unload",
        keyspace,
        tables,
        skipped,
        target,
        &config.log_dir,
        config.resume.as_ref(),
        cancel,
        |run| async move {
            let table_config = UnloadConfig {
                table: TableName::new(keyspace, &run.table),
                output: config.output.for_table(&run.table)?,
                log_dir: run.log_dir,
                resume: run.resume,
                ..config.clone()
            };
            let summary = self::run(&table_config, observer, cancel).await?;
            Ok(TableOutcome {
                table: run.table,
                status: summary.status.as_str().to_string(),
                rows: summary.rows,
                operation: summary.operation_dir.clone(),
                error: summary.errors.first().cloned(),
            })
        },
    )
    .await
}

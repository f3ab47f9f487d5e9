//! `cqlbulk load`: CSV, JSON or Parquet files, or an Iceberg table, into a Cassandra table.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::ValueEnum;
use cqlbulk::cluster::ClusterView;
use cqlbulk::lake::scan::{IcebergSource, SnapshotChoice};
use cqlbulk::load::csv::CsvReadOptions;
use cqlbulk::load::source::{self, InputFormat};
use cqlbulk::load::write::{WriteOptions, Writer};
use cqlbulk::load::{self, ErrorLimit, LoadConfig, LoadPlan, LoadSource, Preserve};
use cqlbulk::progress::Progress;
use cqlbulk::{Error, ErrorKind};
use scylla::statement::Consistency;
use tokio::sync::mpsc;

use super::iceberg::CatalogArgs;
use super::{ConnectionArgs, EXIT_COMPLETED_WITH_ERRORS, EXIT_OK, EXIT_TOO_MANY_ERRORS};

/// Load CSV, JSON or Parquet files, or an Iceberg table (any snapshot), into a table.
///
/// Fields map to columns by name (the CSV header, JSON keys, Parquet and Iceberg columns),
/// or as --mapping says. Each value is converted to its column's CQL type; a record that
/// cannot be read or converted goes to bad.jsonl in the operation directory with its
/// position and the reason, and the load goes on until --max-errors. Rows are written with
/// prepared INSERTs (counter tables: UPDATE c = c + ?), rows of one partition grouped into
/// small unlogged batches. After a crash or Ctrl-C, the same command with --resume
/// <operation dir> loads only the chunks not yet recorded.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,

    #[command(flatten)]
    source: SourceArgs,

    /// Stop after this many bad records (N), or this percentage of records read (N%).
    #[arg(long, default_value = "100", value_name = "N|N%", value_parser = parse_error_limit)]
    max_errors: ErrorLimit,

    /// Write each cell with the write time of the source's `writetime(c)` field (`unload
    /// --writetime`) through `USING TIMESTAMP`, so newer writes made since the unload win.
    #[arg(long)]
    preserve_writetime: bool,

    /// Write each cell with the TTL of the source's `ttl(c)` field (`unload --ttl`): the
    /// time it had left at unload time starts again at load time.
    #[arg(long)]
    preserve_ttl: bool,

    /// Read and convert everything, write nothing; bad records are reported as usual.
    #[arg(long)]
    dry_run: bool,

    /// Write at most this many rows per second (over all requests).
    #[arg(long, value_name = "ROWS")]
    max_rows_per_second: Option<f64>,

    /// Requests in flight at most (default: about 1 MiB of values, from the first rows'
    /// size: 256 for small rows, 8 for 128 KiB rows). Overload answers lower it for a while.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_concurrent_requests: Option<u32>,

    /// Rows of one partition per unlogged batch, at most (1 disables batching).
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    batch_rows: u32,

    /// Attempts per write (timeouts, overload, unavailable) before its rows count as bad.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: u32,

    /// No progress output, only the result and errors.
    #[arg(short, long)]
    quiet: bool,

    /// Seconds between progress lines.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    progress_interval: u64,

    /// Where operation directories go (run log, checkpoint, bad records, summary).
    #[arg(long, default_value = "cqlbulk-logs", value_name = "DIR")]
    log_dir: PathBuf,

    /// Finish an interrupted run: its operation directory. Give the same table and source.
    #[arg(long, value_name = "OPERATION_DIR")]
    resume: Option<PathBuf>,

    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

/// Where rows come from: the flags `load` and `verify` share.
#[derive(clap::Args, Debug)]
pub struct SourceArgs {
    /// Input format.
    #[arg(long, default_value = "csv", value_name = "FORMAT")]
    format: FormatArg,

    /// A file, a directory (every file of the format under it, compressed ones too), a glob
    /// such as 'dir/*.csv.gz', or `-` for stdin (CSV and JSON). Compression (gzip, zstd,
    /// lz4, bzip2, xz) is detected from the file name.
    #[arg(long, value_name = "PATH|DIR|GLOB|-")]
    url: Option<String>,

    #[command(flatten)]
    catalog: CatalogArgs,

    /// Iceberg: namespace of the table to read (default: the keyspace).
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,

    /// Iceberg: table to read (default: the Cassandra table's name).
    #[arg(long, value_name = "TABLE")]
    iceberg_table: Option<String>,

    /// Iceberg: read this snapshot instead of the current one.
    #[arg(long, value_name = "ID", conflicts_with = "as_of")]
    snapshot_id: Option<i64>,

    /// Iceberg: read the snapshot that was current at this time, e.g. 2026-11-24T10:00:00Z.
    #[arg(long, value_name = "TIMESTAMP")]
    as_of: Option<String>,

    /// Iceberg: load only rows matching this filter, pushed into the scan so whole files
    /// are skipped: comparisons of a column with a literal joined by AND, e.g.
    /// "day >= '2026-01-01' AND id < 100" (also `IS NULL`, `IS NOT NULL`).
    #[arg(long = "where", value_name = "FILTER")]
    filter: Option<String>,

    /// Which source field feeds which column, comma-separated `field=column` pairs, or bare
    /// names for fields named like their column; fields not listed are not loaded. For CSV
    /// without header, fields are positions: `0=id,1=name`.
    #[arg(long, value_name = "MAPPING")]
    mapping: Option<String>,

    /// CSV: the first line names the fields (default true). Without it, use --mapping.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    header: bool,

    /// CSV: field delimiter.
    #[arg(long, default_value_t = ',', value_name = "CHAR")]
    delimiter: char,

    /// CSV: quote character.
    #[arg(long, default_value_t = '"', value_name = "CHAR")]
    quote: char,

    /// CSV: escapes a quote or itself inside quotes, besides a doubled quote (default \, as
    /// DSBulk and unload write); the quote character reads RFC 4180 files, backslashes as text.
    #[arg(long, default_value_t = '\\', value_name = "CHAR")]
    escape: char,

    /// CSV: unquoted text read as null (default: the empty field; "" is the empty string).
    #[arg(long, default_value = "", value_name = "TEXT")]
    null_string: String,

    /// CSV: skip lines starting with this character.
    #[arg(long, value_name = "CHAR")]
    comment: Option<char>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum FormatArg {
    Csv,
    Json,
    Parquet,
    Iceberg,
}

fn parse_error_limit(text: &str) -> Result<ErrorLimit, String> {
    let bad = || format!("'{text}' is not a count (100) or a percentage (5%)");
    match text.trim().strip_suffix('%') {
        Some(percent) => {
            let value: f64 = percent.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&value) {
                return Err(bad());
            }
            Ok(ErrorLimit::Percent(value))
        }
        None => text.trim().parse().map(ErrorLimit::Count).map_err(|_| bad()),
    }
}

fn one_byte(name: &str, c: char) -> anyhow::Result<u8> {
    if !c.is_ascii() {
        bail!("--{name} '{c}': must be one ASCII character");
    }
    Ok(c as u8)
}

/// `--mapping` as (field, column) pairs.
pub type Mapping = Vec<(String, String)>;

/// `a=x, b` → [(a, x), (b, b)].
pub fn parse_mapping(text: &str) -> anyhow::Result<Mapping> {
    let mut pairs = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (field, column) = match part.split_once('=') {
            Some((f, c)) => (f.trim(), c.trim()),
            None => (part, part),
        };
        if field.is_empty() || column.is_empty() {
            bail!("--mapping: '{part}' is not `field=column`");
        }
        pairs.push((field.to_string(), column.to_string()));
    }
    if pairs.is_empty() {
        bail!("--mapping is empty");
    }
    Ok(pairs)
}

pub fn parse_timestamp_arg(flag: &str, text: &str) -> anyhow::Result<i64> {
    cqlbulk::parse::parse_timestamp(text.trim())
        .ok_or_else(|| anyhow::anyhow!("{flag} {text}: not a timestamp like 2026-11-24T10:00:00Z"))
}

/// The source as the flags describe it, with its input format when it is files.
pub fn load_source(
    format: &str,
    url: Option<&String>,
    csv: CsvReadOptions,
    catalog: &CatalogArgs,
    iceberg: IcebergNames<'_>,
) -> anyhow::Result<LoadSource> {
    Ok(match format {
        "iceberg" => {
            if url.is_some() {
                bail!(
                    "--url is for files; an Iceberg table is named by --warehouse/--catalog-uri, --namespace and --iceberg-table"
                );
            }
            let snapshot = match (iceberg.snapshot_id, iceberg.as_of) {
                (Some(id), _) => SnapshotChoice::Id(id),
                (None, Some(text)) => SnapshotChoice::AsOf(parse_timestamp_arg("--as-of", text)?),
                (None, None) => SnapshotChoice::Current,
            };
            LoadSource::Iceberg(IcebergSource {
                catalog: catalog.catalog_config()?,
                namespace: iceberg.namespace.to_string(),
                table: iceberg.table.to_string(),
                snapshot,
                filter: iceberg.filter.cloned(),
            })
        }
        _ => {
            let Some(url) = url else {
                bail!("--url is required: a file, a directory, a glob, or - for stdin")
            };
            if iceberg.snapshot_id.is_some() || iceberg.as_of.is_some() || iceberg.filter.is_some() {
                bail!("--snapshot-id, --as-of and --where apply to --format iceberg");
            }
            let format = match format {
                "csv" => InputFormat::Csv(csv),
                "json" => InputFormat::Json,
                _ => InputFormat::Parquet,
            };
            LoadSource::Files { url: url.clone(), format }
        }
    })
}

pub struct IcebergNames<'a> {
    pub namespace: &'a str,
    pub table: &'a str,
    pub snapshot_id: Option<i64>,
    pub as_of: Option<&'a String>,
    pub filter: Option<&'a String>,
}

impl SourceArgs {
    fn csv_options(&self) -> anyhow::Result<CsvReadOptions> {
        Ok(CsvReadOptions {
            delimiter: one_byte("delimiter", self.delimiter)?,
            quote: one_byte("quote", self.quote)?,
            escape: one_byte("escape", self.escape)?,
            null: self.null_string.clone(),
            header: self.header,
            comment: self.comment.map(|c| one_byte("comment", c)).transpose()?,
        })
    }
}

/// A source resolved into units, the Arrow schema of its fields (none for JSON), and how
/// to start reading it.
pub struct OpenedSource {
    pub units: Vec<source::Unit>,
    pub schema: Option<arrow_schema::SchemaRef>,
    pub description: String,
    file_format: Option<InputFormat>,
    file_io: Option<iceberg::io::FileIO>,
    pub snapshot_id: Option<i64>,
}

impl OpenedSource {
    pub async fn open(source: &LoadSource, projection: Option<&[String]>) -> anyhow::Result<OpenedSource> {
        Ok(match source {
            LoadSource::Files { url, format } => {
                let units = source::file_units(url, format)?;
                // Fields come from the first file that has any; files that cannot be read
                // become bad records when their turn comes.
                let mut schema = None;
                let mut first_error = None;
                for unit in &units {
                    match source::peek_fields(unit, format) {
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
                    return Err(err.into());
                }
                OpenedSource {
                    units,
                    schema,
                    description: url.clone(),
                    file_format: Some(format.clone()),
                    file_io: None,
                    snapshot_id: None,
                }
            }
            LoadSource::Iceberg(iceberg) => {
                let scan = iceberg.plan(projection).await?;
                OpenedSource {
                    units: scan.units,
                    schema: Some(scan.schema),
                    description: iceberg.describe(),
                    file_format: None,
                    file_io: Some(scan.table.file_io().clone()),
                    snapshot_id: scan.snapshot_id,
                }
            }
        })
    }

    /// Without a mapping, every file must have only the fields the plan was made from
    /// (see `LoadPlan::source_fields`).
    pub fn fields_every_file_must_fit(
        &self,
        mapping: Option<&Mapping>,
    ) -> Option<std::collections::HashSet<String>> {
        let schema = self.schema.as_ref().filter(|_| mapping.is_none())?;
        Some(schema.fields().iter().map(|f| f.name().clone()).collect())
    }

    /// Starts reading on a background task; chunks arrive on the returned channel.
    pub fn read(&self, json_fields: Vec<String>) -> mpsc::Receiver<cqlbulk::Result<source::Chunk>> {
        let (sender, receiver) = mpsc::channel(4);
        let units = self.units.clone();
        match (&self.file_format, &self.file_io) {
            (Some(format), _) => {
                let format = format.clone();
                tokio::task::spawn_blocking(move || {
                    source::read_files(&units, &format, &json_fields, sender)
                });
            }
            (None, Some(file_io)) => {
                let file_io = file_io.clone();
                tokio::spawn(async move { source::read_iceberg(&units, file_io, sender).await });
            }
            (None, None) => unreachable!("a source is files or Iceberg"),
        }
        receiver
    }
}

impl SourceArgs {
    /// The source, its format name, and the mapping, for the table `table`.
    pub fn resolve(
        &self,
        table: &cqlbulk::cluster::TableName,
    ) -> anyhow::Result<(LoadSource, String, Option<Mapping>)> {
        let format = format!("{:?}", self.format).to_lowercase();
        let source = load_source(
            &format,
            self.url.as_ref(),
            self.csv_options()?,
            &self.catalog,
            IcebergNames {
                namespace: self.namespace.as_deref().unwrap_or(&table.keyspace),
                table: self.iceberg_table.as_deref().unwrap_or(&table.table),
                snapshot_id: self.snapshot_id,
                as_of: self.as_of.as_ref(),
                filter: self.filter.as_ref(),
            },
        )?;
        let mapping = self.mapping.as_deref().map(parse_mapping).transpose()?;
        Ok((source, format, mapping))
    }

    /// Iceberg reads only the fields that feed columns.
    pub fn projection(source: &LoadSource, mapping: Option<&Mapping>) -> Option<Vec<String>> {
        match (source, mapping) {
            (LoadSource::Iceberg(_), Some(mapping)) => Some(mapping.iter().map(|(f, _)| f.clone()).collect()),
            _ => None,
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let table = args.connection.table_name();
    let (source, format, mapping) = args.source.resolve(&table)?;
    let connection = args.connection.connection_config(Consistency::LocalQuorum)?;
    let session = Arc::new(connection.connect(&table.keyspace).await?);
    let view = ClusterView::read(&session, &table).await?;

    let projection = SourceArgs::projection(&source, mapping.as_ref());
    let opened = OpenedSource::open(&source, projection.as_deref()).await?;
    let preserve = Preserve { writetime: args.preserve_writetime, ttl: args.preserve_ttl };
    let columns =
        load::plan_columns(&view, opened.schema.as_ref(), &opened.description, mapping.as_deref(), preserve)?;
    let json_fields: Vec<String> = columns.iter().map(|c| c.field.clone()).collect();

    // Without --max-concurrent-requests, the writer is sized from the first chunk's rows.
    let max_in_flight = args.max_concurrent_requests.map_or(256, |n| n as usize);
    let options = WriteOptions {
        consistency: connection.consistency,
        max_in_flight,
        batch_rows: args.batch_rows as usize,
        batch_bytes: 5 * 1024,
        max_rows_per_second: args.max_rows_per_second.filter(|r| *r > 0.0),
        max_attempts: args.max_attempts,
        counter: false,
    };
    let mut plan = LoadPlan::prepare(&session, &view, columns, &options).await?;
    plan.source_fields = opened.fields_every_file_must_fit(mapping.as_ref());
    let options = WriteOptions { counter: plan.counter, ..options };
    let config = LoadConfig {
        source,
        mapping,
        write: options.clone(),
        max_errors: args.max_errors,
        dry_run: args.dry_run,
        auto_concurrency: args.max_concurrent_requests.is_none(),
    };

    let operation = load::open_operation(
        &args.log_dir,
        args.resume.as_deref(),
        &view,
        &opened.description,
        &format,
        &opened.units,
    )?;
    operation.log(&format!(
        "start: {} from {} ({} units, {}){}; columns: {}",
        table,
        opened.description,
        opened.units.len(),
        format,
        opened.snapshot_id.map_or(String::new(), |id| format!(", snapshot {id}")),
        plan.columns.iter().map(|c| format!("{}←{}", c.name, c.field)).collect::<Vec<_>>().join(", ")
    ));
    if args.resume.is_some() {
        operation.log(&format!("resume: {} chunks already done", operation.done.len()));
    }

    let writer = Arc::new(Writer::new(session.clone(), options));
    let progress = Arc::new(Progress::new(opened.units.len()));
    let printer = (!args.quiet).then(|| {
        let progress = progress.clone();
        let interval = Duration::from_secs(args.progress_interval.max(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                eprintln!("load: {}", progress.snapshot().describe());
            }
        })
    });
    let chunks = opened.read(json_fields);
    let result = tokio::select! {
        report = load::load(writer, &plan, &opened.units, chunks, &operation, &config, &progress) => report,
        err = super::interrupted() => {
            if let Some(printer) = printer { printer.abort(); }
            operation.log("interrupted");
            operation.write_summary(&serde_json::json!({"operation": operation.spec.operation_id, "status": "interrupted"}))?;
            return Err(Error::new(
                ErrorKind::Interrupted,
                format!("{err}; finished chunks are recorded: resume with --resume {}", operation.dir.display()),
            )
            .into());
        }
    };
    if let Some(printer) = printer {
        printer.abort();
    }
    let report = result?;
    let elapsed = progress.snapshot().elapsed.as_secs_f64();
    let status = if report.too_many_errors {
        "stopped: too many errors"
    } else if report.unwritten > 0 {
        "incomplete: rows not written, resume"
    } else if report.failed > 0 {
        "complete with errors"
    } else {
        "complete"
    };
    operation.write_summary(&serde_json::json!({
        "operation": operation.spec.operation_id,
        "status": status,
        "keyspace": table.keyspace,
        "table": table.table,
        "source": opened.description,
        "format": format,
        "snapshot_id": opened.snapshot_id,
        "read": report.read,
        "written": report.written,
        "failed": report.failed,
        "unwritten": report.unwritten,
        "retries": report.retries,
        "overloads": report.overloads,
        "dry_run": report.dry_run,
        "elapsed_seconds": elapsed,
        "rows_per_second": report.written as f64 / elapsed.max(1e-3),
    }))?;
    operation.log(&format!(
        "end: {status}; read {}, written {}, failed {}",
        report.read, report.written, report.failed
    ));
    let bad = load::bad_file(&operation);
    if !args.quiet || report.failed > 0 {
        eprintln!(
            "load: {table}: read {}, written {}{}, failed {} in {:.2}s ({} rows/s{}); operation {}",
            report.read,
            report.written,
            if report.dry_run { " (dry run: nothing written)" } else { "" },
            report.failed,
            elapsed,
            (report.written as f64 / elapsed.max(1e-3)) as u64,
            match (report.retries, report.overloads) {
                (0, _) => String::new(),
                (retries, 0) => format!(", {retries} retries"),
                (retries, overloads) => format!(", {retries} retries, {overloads} overload answers"),
            },
            operation.dir.display()
        );
    }
    if report.counter && report.written > 0 {
        eprintln!("load: {table} is a counter table: loading the same rows again adds them again");
    }
    if report.unwritten > 0 {
        eprintln!(
            "load: {} rows were not written: the cluster did not take them ({}); token ranges: {}; their chunks are not recorded: once the nodes are back, run the same command with --resume {}",
            report.unwritten,
            report.unwritten_reason.as_deref().unwrap_or("unknown error"),
            unwritten_ranges(&view, &report.unwritten_tokens),
            operation.dir.display()
        );
    }
    if report.too_many_errors {
        if report.failed > 0 {
            eprintln!(
                "load: stopped: {} bad records exceed --max-errors; see {}; fix them and run again (loaded rows are overwritten with the same values)",
                report.failed,
                bad.display()
            );
        } else {
            eprintln!("load: stopped: {} unwritten rows exceed --max-errors", report.unwritten);
        }
        return Ok(EXIT_TOO_MANY_ERRORS);
    }
    if report.unwritten > 0 {
        return Ok(EXIT_COMPLETED_WITH_ERRORS);
    }
    if report.failed > 0 {
        eprintln!("load: {} records were not loaded; see {}", report.failed, bad.display());
        return Ok(EXIT_COMPLETED_WITH_ERRORS);
    }
    Ok(EXIT_OK)
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

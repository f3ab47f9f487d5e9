//! `cqlbulk load`: CSV, JSON or Parquet files, or an Iceberg table, into a Cassandra table.

use std::time::Duration;

use anyhow::bail;
use clap::ValueEnum;
use cqlbulk::CancellationToken;
use cqlbulk::load::{self, ErrorLimit, LoadConfig, LoadStatus, Preserve, WriteSettings};
use cqlbulk::progress::{Display, Observer, ProgressStyleChoice};
use cqlbulk::source::csv::CsvReadOptions;
use cqlbulk::source::{IcebergSource, InputFormat, SnapshotChoice, Source};
use scylla::statement::Consistency;

use super::iceberg::CatalogArgs;
use super::{
    ConnectionArgs, EXIT_COMPLETED_WITH_ERRORS, EXIT_OK, EXIT_TOO_MANY_ERRORS, Outcome, StorageArgs,
};

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
    #[arg(long, value_name = "ROWS", value_parser = super::parse_rate)]
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

    #[command(flatten)]
    operation: super::OperationArgs,

    #[command(flatten)]
    metrics: super::MetricsArgs,

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
    /// such as 'dir/*.csv.gz', an object-store prefix such as s3://bucket/exports/t (every
    /// object of the format under it), or `-` for stdin (CSV and JSON). Compression (gzip,
    /// zstd, lz4, bzip2, xz) is detected from the file name.
    #[arg(long, value_name = "PATH|DIR|GLOB|URL|-")]
    url: Option<String>,

    #[command(flatten)]
    storage: StorageArgs,

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
    cqlbulk::codec::parse::parse_timestamp(text.trim())
        .ok_or_else(|| anyhow::anyhow!("{flag} {text}: not a timestamp like 2026-11-24T10:00:00Z"))
}

impl SourceArgs {
    /// The source and the mapping the flags describe, for the table `table`.
    pub fn resolve(&self, table: &cqlbulk::cluster::TableName) -> anyhow::Result<(Source, Option<Mapping>)> {
        let mapping = self.mapping.as_deref().map(parse_mapping).transpose()?;
        Ok((self.source(table)?, mapping))
    }

    fn source(&self, table: &cqlbulk::cluster::TableName) -> anyhow::Result<Source> {
        let iceberg_only = self.snapshot_id.is_some() || self.as_of.is_some() || self.filter.is_some();
        Ok(match self.format {
            FormatArg::Iceberg => {
                if self.url.is_some() {
                    bail!(
                        "--url is for files; an Iceberg table is named by --warehouse/--catalog-uri, --namespace and --iceberg-table"
                    );
                }
                let snapshot = match (self.snapshot_id, &self.as_of) {
                    (Some(id), _) => SnapshotChoice::Id(id),
                    (None, Some(text)) => SnapshotChoice::AsOf(parse_timestamp_arg("--as-of", text)?),
                    (None, None) => SnapshotChoice::Current,
                };
                Source::Iceberg(IcebergSource {
                    catalog: self.catalog.catalog_config(&self.storage.options())?,
                    namespace: self.namespace.clone().unwrap_or_else(|| table.keyspace.clone()),
                    table: self.iceberg_table.clone().unwrap_or_else(|| table.table.clone()),
                    snapshot,
                    filter: self.filter.clone(),
                })
            }
            files => {
                let Some(url) = &self.url else {
                    bail!("--url is required: a file, a directory, a glob, s3://bucket/path, or - for stdin")
                };
                if iceberg_only {
                    bail!("--snapshot-id, --as-of and --where apply to --format iceberg");
                }
                let format = match files {
                    FormatArg::Csv => InputFormat::Csv(self.csv_options()?),
                    FormatArg::Json => InputFormat::Json,
                    FormatArg::Parquet | FormatArg::Iceberg => InputFormat::Parquet,
                };
                Source::Files { url: url.clone(), format, storage: self.storage.options() }
            }
        })
    }

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

/// The load these flags describe, watched by `observer`: the command line's and the
/// Python package's one way in.
pub async fn job(
    args: &Args,
    observer: &dyn Observer,
    cancel: &CancellationToken,
) -> anyhow::Result<Outcome<load::LoadSummary>> {
    let table = args.connection.table_name();
    let (source, mapping) = args.source.resolve(&table)?;
    let (log_dir, resume) = args.operation.places(&args.source.storage.options())?;
    let config = LoadConfig {
        connection: args.connection.connection_config(Consistency::LocalQuorum)?,
        table,
        source,
        mapping,
        preserve: Preserve { writetime: args.preserve_writetime, ttl: args.preserve_ttl },
        writes: WriteSettings {
            batch_rows: args.batch_rows as usize,
            max_concurrent_requests: args.max_concurrent_requests.map(|n| n as usize),
            max_rows_per_second: args.max_rows_per_second,
            max_attempts: args.max_attempts,
        },
        max_errors: args.max_errors,
        dry_run: args.dry_run,
        log_dir,
        resume,
    };
    if args.connection.table.is_none() && args.source.iceberg_table.is_some() {
        bail!(
            "--iceberg-table names one table: give -t TABLE, or leave it out to load every table of the namespace"
        );
    }
    let exporter = args.metrics.exporter("load", &config.table, None).await?;
    let observer = (observer, exporter.clone());
    let result = if args.connection.table.is_none() {
        load::run_keyspace(&config, &observer, cancel).await.map(Outcome::Keyspace)
    } else {
        load::run(&config, &observer, cancel).await.map(Outcome::Table)
    };
    super::finish_metrics(&exporter).await;
    Ok(result?)
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let display = Display::new(if args.quiet {
        ProgressStyleChoice::Quiet
    } else {
        ProgressStyleChoice::Auto { interval: Duration::from_secs(args.progress_interval.max(1)) }
    });
    let summary = match job(&args, &display, &super::cancel_on_signal()).await? {
        Outcome::Keyspace(summary) => return super::report_keyspace(&summary, args.quiet),
        Outcome::Table(summary) => summary,
    };
    let table = &args.connection.table_name();
    if !args.quiet || summary.failed > 0 {
        cqlbulk::say!(
            "load: {table}: read {}, written {}{}, failed {} in {:.2}s ({} rows/s{}); operation {}",
            summary.read,
            summary.written,
            if summary.dry_run { " (dry run: nothing written)" } else { "" },
            summary.failed,
            summary.elapsed_seconds,
            summary.rows_per_second as u64,
            match (summary.retries, summary.overloads) {
                (0, _) => String::new(),
                (retries, 0) => format!(", {retries} retries"),
                (retries, overloads) => format!(", {retries} retries, {overloads} overload answers"),
            },
            summary.operation_dir
        );
    }
    if summary.counter && summary.written > 0 {
        cqlbulk::say!("load: {table} is a counter table: loading the same rows again adds them again");
    }
    if summary.unwritten > 0 {
        cqlbulk::say!(
            "load: {} rows were not written: the cluster did not take them ({}); token ranges: {}; their chunks are not recorded: once the nodes are back, run the same command with --resume {}",
            summary.unwritten,
            summary.unwritten_reason.as_deref().unwrap_or("unknown error"),
            summary.unwritten_ranges.as_deref().unwrap_or("unknown"),
            summary.operation_dir
        );
    }
    let bad = &summary.bad_records;
    Ok(match summary.status {
        LoadStatus::TooManyErrors => {
            if summary.failed > 0 {
                cqlbulk::say!(
                    "load: stopped: {} bad records exceed --max-errors; see {bad}; fix them and run again (loaded rows are overwritten with the same values)",
                    summary.failed
                );
            } else {
                cqlbulk::say!("load: stopped: {} unwritten rows exceed --max-errors", summary.unwritten);
            }
            EXIT_TOO_MANY_ERRORS
        }
        LoadStatus::Incomplete => EXIT_COMPLETED_WITH_ERRORS,
        LoadStatus::CompleteWithErrors => {
            cqlbulk::say!("load: {} records were not loaded; see {bad}", summary.failed);
            EXIT_COMPLETED_WITH_ERRORS
        }
        LoadStatus::Complete | LoadStatus::Interrupted => EXIT_OK,
    })
}

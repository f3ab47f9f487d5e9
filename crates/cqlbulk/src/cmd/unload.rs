//! `cqlbulk unload`: a whole table to CSV, JSON or Parquet files (or stdout), or to an
//! Apache Iceberg table.

use anyhow::{Context, bail};
use clap::ValueEnum;
use cqlbulk::CancellationToken;
use cqlbulk::operation::Shard;
use cqlbulk::progress::{Display, Observer};
use cqlbulk::sink::format::{CsvOptions, JsonOptions, ParquetCompression, ParquetOptions};
use cqlbulk::sink::iceberg::schema::{
    self, DecimalAs, ExplicitOptions, TimeAs, TimestampAs, TypeOptions, VarintAs,
};
use cqlbulk::sink::iceberg::{DataFileOptions, ExportConfig, WriteMode};
use cqlbulk::sink::{Compression, Format, Place};
use cqlbulk::source::cassandra::TableScan;
use cqlbulk::storage::{ObjectStore, is_object_url};
use cqlbulk::unload::{self, Output, Selection, Status, UnloadConfig};
use cqlbulk::{Error, ErrorKind};

use super::iceberg::CatalogArgs;
use super::{ConnectionArgs, EXIT_OK, Outcome, ScanArgs, StorageArgs, parse_size};

/// Export a whole table to CSV, JSON or Parquet files, or to an Iceberg table, each row
/// exactly once.
///
/// Every token range is written to its own files, which appear under their final names only
/// when complete (Iceberg: when the run's one snapshot is committed). The operation
/// directory (--log-dir) records finished ranges, so that after a crash or Ctrl-C, the same
/// command with --resume <operation dir> writes only what is missing.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,

    #[command(flatten)]
    scan: ScanArgs,

    /// Output format. `iceberg` writes an Iceberg table (see --warehouse, --catalog-uri).
    /// `null` reads everything and writes nothing (to measure the scan).
    #[arg(long, default_value = "csv", value_name = "FORMAT")]
    format: FormatArg,

    #[command(flatten)]
    catalog: CatalogArgs,

    /// Iceberg: namespace of the table (default: the keyspace).
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,

    /// Iceberg: table name (default: the Cassandra table's). Created on first export; later
    /// exports add a snapshot (see --mode) and add columns that are new in Cassandra.
    #[arg(long, value_name = "TABLE")]
    iceberg_table: Option<String>,

    /// Iceberg: partitioning of a new table, e.g. `day(ts), bucket(16, id)`; transforms
    /// identity (or the bare column), year, month, day, hour, bucket(N, c), truncate(W, c).
    /// Each partition gets about one data file per --target-file-size, however many splits.
    #[arg(long, value_name = "TERMS")]
    partition_by: Option<String>,

    /// Iceberg type of `decimal` columns: `string` (default; every value exact, with its own
    /// scale) or `decimal(P,S)`, which stops the run on any value that does not fit exactly.
    #[arg(long, value_name = "TYPE")]
    decimal_as: Option<String>,

    /// Iceberg type of `varint` columns: `string` (default; any size), `long`, or
    /// `decimal(P,0)`; values that do not fit stop the run.
    #[arg(long, value_name = "TYPE")]
    varint_as: Option<String>,

    /// Iceberg type of `time` columns: `long` (default; nanoseconds since midnight) or `time`
    /// (microseconds), which stops the run on a value with nanoseconds.
    #[arg(long, value_name = "TYPE")]
    time_as: Option<String>,

    /// Iceberg type of `timestamp` columns: `timestamptz` (default; microseconds, ±292,000
    /// years, beyond that the run stops) or `long` (milliseconds since the epoch).
    #[arg(long, value_name = "TYPE")]
    timestamp_as: Option<String>,

    /// Iceberg: start a new data file after about this many bytes.
    #[arg(long, default_value = "512M", value_name = "SIZE", value_parser = parse_size)]
    target_file_size: u64,

    /// Iceberg: columns rows are sorted by within each data file, comma-separated, recorded as
    /// the table's sort order (default: the primary key's leading columns of primitive type,
    /// for a new table or one without a sort order). Rows are spilled sorted to the operation
    /// directory while splits are read and merged into data files at the end.
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    sort_by: Option<Vec<String>>,

    /// Run as shard I of N (from 0) of an export N workers share: read 1/N of the ring and
    /// keep this shard's operation in <--log-dir>/shard-I-of-N, which running the shard again
    /// resumes (a finished one does nothing). Iceberg shards write their data files but
    /// commit nothing: `cqlbulk iceberg commit --operation <--log-dir>` commits all shards'
    /// files in one snapshot. Give every shard the same --log-dir (shared storage), and each
    /// export a new one.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    shard: Option<Shard>,

    /// Iceberg: `append` adds the run's rows to the table; `replace` makes them the table's
    /// whole content in one snapshot (the snapshots before stay for time travel until
    /// `cqlbulk iceberg expire`).
    #[arg(long, value_enum, default_value = "append", value_name = "MODE")]
    mode: ModeArg,

    /// Output directory (created if missing), an object-store prefix such as
    /// s3://bucket/exports/t, or `-` for stdout (CSV and JSON only; no resume).
    #[arg(long, value_name = "DIR|URL|-")]
    url: Option<String>,

    #[command(flatten)]
    storage: StorageArgs,

    /// Columns to export, comma-separated, in this order (default: all).
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    columns: Option<Vec<String>>,

    /// Add a `writetime(c)` column for every regular column: microseconds since the epoch.
    #[arg(long)]
    writetime: bool,

    /// Add a `ttl(c)` column for every regular column: seconds left, or null.
    #[arg(long)]
    ttl: bool,

    /// Custom SELECT, with `:start` and `:end` for the token bounds, read in parallel like
    /// the default one, e.g. `SELECT a, b FROM ks.t WHERE token(k) > :start AND token(k) <= :end`.
    #[arg(long, value_name = "CQL")]
    query: Option<String>,

    /// CSV/JSON: none, gzip, zstd, lz4, bzip2, xz (default none). Parquet: zstd (default),
    /// snappy, gzip, lz4, none.
    #[arg(long, value_name = "CODEC")]
    compression: Option<String>,

    /// CSV: write a header line with the column names.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    header: bool,

    /// CSV: field delimiter.
    #[arg(long, default_value_t = ',', value_name = "CHAR")]
    delimiter: char,

    /// CSV: quote character.
    #[arg(long, default_value_t = '"', value_name = "CHAR")]
    quote: char,

    /// CSV: escapes a quote or itself inside a quoted field (default \, as DSBulk; give the
    /// quote character for RFC 4180 doubled quotes).
    #[arg(long, default_value_t = '\\', value_name = "CHAR")]
    escape: char,

    /// CSV: text written for null (default: nothing; the empty string is written as "").
    #[arg(long, default_value = "", value_name = "TEXT")]
    null_string: String,

    /// JSON: `lines` (one object per line, NDJSON) or `array` (one array per file).
    #[arg(long, default_value = "lines", value_name = "MODE")]
    json_mode: JsonMode,

    /// Parquet and Iceberg: rows per row group; each open file holds one row group in memory.
    #[arg(long, default_value_t = 131_072, value_name = "ROWS")]
    row_group_rows: usize,

    /// Start a new file after this many rows.
    #[arg(long, value_name = "ROWS")]
    max_rows_per_file: Option<u64>,

    /// Start a new file after about this many bytes (e.g. 512M, 2G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_bytes_per_file: Option<u64>,

    #[command(flatten)]
    operation: super::OperationArgs,

    #[command(flatten)]
    metrics: super::MetricsArgs,

    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Csv,
    Json,
    Parquet,
    Iceberg,
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    Append,
    Replace,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum JsonMode {
    Lines,
    Array,
}

impl Args {
    /// The Iceberg side of an export; `keyspace`/`table` give the default names.
    fn export_config(&self, keyspace: &str, table: &str) -> anyhow::Result<ExportConfig> {
        let mut types = TypeOptions::default();
        if let Some(text) = &self.decimal_as {
            types.decimal = DecimalAs::parse(text)?;
        }
        if let Some(text) = &self.varint_as {
            types.varint = VarintAs::parse(text)?;
        }
        if let Some(text) = &self.time_as {
            types.time = TimeAs::parse(text)?;
        }
        if let Some(text) = &self.timestamp_as {
            types.timestamp = TimestampAs::parse(text)?;
        }
        let partition_by = self.partition_by.as_deref().map(schema::parse_partition_by).transpose()?;
        Ok(ExportConfig {
            catalog: self.catalog.catalog_config(&self.storage.options())?,
            namespace: self.namespace.clone().unwrap_or_else(|| keyspace.to_string()),
            table: self.iceberg_table.clone().unwrap_or_else(|| table.to_string()),
            types,
            explicit: ExplicitOptions {
                decimal: self.decimal_as.is_some(),
                varint: self.varint_as.is_some(),
                time: self.time_as.is_some(),
                timestamp: self.timestamp_as.is_some(),
            },
            partition_by,
            sort_by: self.sort_by.clone(),
            mode: match self.mode {
                ModeArg::Append => WriteMode::Append,
                ModeArg::Replace => WriteMode::Replace,
            },
        })
    }

    fn format_and_compression(&self) -> anyhow::Result<(Format, Compression)> {
        let codec = self.compression.as_deref().map(str::to_ascii_lowercase);
        if matches!(self.format, FormatArg::Iceberg) && self.compression.is_some() {
            bail!("--compression: Iceberg data files are always Parquet with zstd");
        }
        Ok(match self.format {
            FormatArg::Parquet => {
                let codec = match codec.as_deref().unwrap_or("zstd") {
                    "zstd" => ParquetCompression::Zstd,
                    "snappy" => ParquetCompression::Snappy,
                    "gzip" => ParquetCompression::Gzip,
                    "lz4" => ParquetCompression::Lz4,
                    "none" => ParquetCompression::None,
                    other => bail!("--compression {other}: Parquet takes zstd, snappy, gzip, lz4 or none"),
                };
                (
                    Format::Parquet(ParquetOptions { codec, row_group_rows: self.row_group_rows }),
                    Compression::None,
                )
            }
            text_format => {
                let compression = match codec.as_deref().unwrap_or("none") {
                    "none" => Compression::None,
                    "gzip" | "gz" => Compression::Gzip,
                    "zstd" => Compression::Zstd,
                    "lz4" => Compression::Lz4,
                    "bzip2" | "bz2" => Compression::Bzip2,
                    "xz" => Compression::Xz,
                    other => {
                        bail!("--compression {other}: CSV and JSON take none, gzip, zstd, lz4, bzip2 or xz")
                    }
                };
                let format = match text_format {
                    FormatArg::Csv => Format::Csv(CsvOptions {
                        header: self.header,
                        delimiter: self.delimiter,
                        quote: self.quote,
                        escape: self.escape,
                        null: self.null_string.clone(),
                    }),
                    FormatArg::Json => {
                        Format::Json(JsonOptions { array: matches!(self.json_mode, JsonMode::Array) })
                    }
                    // Iceberg data files are written by the Iceberg sink, not a Format.
                    FormatArg::Iceberg | FormatArg::Null | FormatArg::Parquet => Format::Null,
                };
                (format, compression)
            }
        })
    }
}

impl Args {
    /// Where the rows go, as the library's job takes it.
    fn output(&self) -> anyhow::Result<Output> {
        let (format, compression) = self.format_and_compression()?;
        let table = self.connection.table_name();
        if self.mode == ModeArg::Replace && !matches!(self.format, FormatArg::Iceberg) {
            bail!("--mode replace replaces an Iceberg table's content: it needs --format iceberg");
        }
        Ok(match (&self.format, self.url.as_deref()) {
            (FormatArg::Null, _) => Output::Discard,
            (FormatArg::Iceberg, Some(_)) => bail!(
                "--format iceberg writes to a catalog: give --warehouse DIR or --catalog-uri URL, not --url"
            ),
            (FormatArg::Iceberg, None) => Output::Iceberg {
                export: Box::new(self.export_config(&table.keyspace, &table.table)?),
                files: DataFileOptions {
                    target_file_size: usize::try_from(self.target_file_size).unwrap_or(usize::MAX),
                    row_group_rows: self.row_group_rows,
                },
            },
            (_, Some("-")) | (FormatArg::Csv | FormatArg::Json, None) => {
                Output::Stdout { format, compression }
            }
            (FormatArg::Parquet, None) => bail!("--format parquet needs --url DIR"),
            (_, Some(url)) if is_object_url(url) => Output::Directory {
                place: Place::Objects(ObjectStore::open(url, &self.storage.options())?),
                format,
                compression,
                max_rows_per_file: self.max_rows_per_file,
                max_bytes_per_file: self.max_bytes_per_file,
            },
            (_, Some(dir)) => Output::Directory {
                place: Place::Directory(
                    std::path::absolute(dir).with_context(|| format!("bad output path {dir}"))?,
                ),
                format,
                compression,
                max_rows_per_file: self.max_rows_per_file,
                max_bytes_per_file: self.max_bytes_per_file,
            },
        })
    }
}

impl Args {
    fn config(&self) -> anyhow::Result<UnloadConfig> {
        let (log_dir, resume) = self.operation.places(&self.storage.options())?;
        Ok(UnloadConfig {
            connection: self.connection.connection_config(scylla::statement::Consistency::LocalOne)?,
            table: self.connection.table_name(),
            scan: self.scan.scan_config(&self.connection),
            selection: Selection {
                columns: self.columns.clone(),
                writetime: self.writetime,
                ttl: self.ttl,
                query: self.query.clone(),
            },
            output: self.output()?,
            log_dir,
            resume,
            shard: self.shard,
        })
    }
}

/// The scan these flags describe (connection, table, columns, splits, limits), opened:
/// the Python package's `scan`, `plan` and `read_split`.
pub async fn open_scan(args: &Args) -> anyhow::Result<TableScan> {
    args.connection.require_table("scan")?;
    let config = args.config()?;
    Ok(TableScan::open(&config.connection, &config.table, &config.selection, &config.scan).await?)
}

/// The unload these flags describe, watched by `observer`: the command line's and the
/// Python package's one way in.
pub async fn job(
    args: &Args,
    observer: &dyn Observer,
    cancel: &CancellationToken,
) -> anyhow::Result<Outcome<unload::UnloadSummary>> {
    let config = args.config()?;
    if args.connection.table.is_none() {
        if args.iceberg_table.is_some() {
            bail!(
                "--iceberg-table names one table: give -t TABLE, or leave it out to export every table under its own name"
            );
        }
        if args.shard.is_some() {
            bail!("--shard works on one table: give -t TABLE");
        }
    }
    let exporter = args.metrics.exporter("unload", &config.table, args.shard).await?;
    let observer = (observer, exporter.clone());
    let result = if args.connection.table.is_none() {
        unload::run_keyspace(&config, &observer, cancel).await.map(Outcome::Keyspace)
    } else {
        unload::run(&config, &observer, cancel).await.map(Outcome::Table)
    };
    super::finish_metrics(&exporter).await;
    Ok(result?)
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let display = Display::new(args.scan.progress());
    let summary = match job(&args, &display, &super::cancel_on_signal()).await? {
        Outcome::Keyspace(summary) => return super::report_keyspace(&summary, args.scan.quiet),
        Outcome::Table(summary) => summary,
    };
    let log_dir = args.operation.places(&args.storage.options())?.0;
    let table = &args.connection.table_name();
    if !args.scan.quiet {
        if summary.already_committed {
            cqlbulk::say!(
                "unload: {table}: already committed as snapshot {} of {}; nothing to do",
                summary.snapshot_id.unwrap_or_default(),
                summary.iceberg_table.as_deref().unwrap_or_default()
            );
            return Ok(EXIT_OK);
        }
        let snapshot = match (&summary.iceberg_table, summary.snapshot_id, args.shard) {
            (Some(ident), Some(id), _) => format!("; snapshot {id} of {ident}"),
            (Some(_), None, Some(shard)) => format!(
                "; shard {shard}'s data files are recorded: once every shard is done, commit them with \
                 `cqlbulk iceberg commit --operation {}`",
                log_dir.describe()
            ),
            _ => String::new(),
        };
        cqlbulk::say!(
            "unload: {table}: {} rows, {} files, {:.1} MiB in {:.2}s ({} rows/s){snapshot}; operation {}",
            summary.rows,
            summary.files,
            summary.bytes as f64 / (1024.0 * 1024.0),
            summary.elapsed_seconds,
            summary.rows_per_second as u64,
            summary.operation_dir
        );
    }
    if summary.status == Status::Failed {
        for failure in &summary.errors {
            cqlbulk::logs::say("ERROR", &format!("unload: failed: {failure}"));
        }
        return Err(Error::new(
            ErrorKind::IncompleteScan,
            format!(
                "{table}: {} of {} token ranges failed and are not in the output; after fixing the cause, \
                 resume with --resume {}",
                summary.splits_failed, summary.splits, summary.operation_dir
            ),
        )
        .into());
    }
    Ok(EXIT_OK)
}

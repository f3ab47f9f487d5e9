//! `cqlbulk unload`: a whole table to CSV, JSON or Parquet files (or stdout), or to an
//! Apache Iceberg table.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::ValueEnum;
use cqlbulk::cluster::ClusterView;
use cqlbulk::lake::schema::{self, DecimalAs, ExplicitOptions, TimeAs, TimestampAs, TypeOptions, VarintAs};
use cqlbulk::lake::{self, DataFileOptions, DataFileTarget, ExportConfig};
use cqlbulk::operation::{Operation, OperationSpec};
use cqlbulk::progress::{Progress, Reporter};
use cqlbulk::scan::ScanPlan;
use cqlbulk::sink::format::{CsvOptions, JsonOptions, ParquetCompression, ParquetOptions};
use cqlbulk::sink::{Compression, Destination, FileLayout, Format};
use cqlbulk::unload::{self, Selection};
use cqlbulk::{Error, ErrorKind};

use super::iceberg::CatalogArgs;
use super::{ConnectionArgs, EXIT_OK, ScanArgs};

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
    /// exports append a snapshot and add columns that are new in Cassandra.
    #[arg(long, value_name = "TABLE")]
    iceberg_table: Option<String>,

    /// Iceberg: partitioning of a new table, e.g. `day(ts), bucket(16, id)`; transforms
    /// identity (or the bare column), year, month, day, hour, bucket(N, c), truncate(W, c).
    /// Rows of many partitions mean more, smaller files (see --max-open-files).
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

    /// Iceberg: data files each worker keeps open at once (one per partition it meets); when
    /// more are needed, the least recently used is closed, so more partitions mean more,
    /// smaller files. A worker's open files share 64 MiB of row-group buffers.
    #[arg(long, default_value_t = 16, value_name = "N")]
    max_open_files: usize,

    /// Output directory (created if missing), or `-` for stdout (CSV and JSON only; no resume).
    #[arg(long, value_name = "DIR|-")]
    url: Option<String>,

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

    /// Where operation directories go (run log, checkpoint, summary).
    #[arg(long, default_value = "cqlbulk-logs", value_name = "DIR")]
    log_dir: PathBuf,

    /// Finish an interrupted or failed run: its operation directory. Give the same
    /// table, format and --url as the first run.
    #[arg(long, value_name = "OPERATION_DIR")]
    resume: Option<PathBuf>,

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

#[derive(Clone, Copy, Debug, ValueEnum)]
enum JsonMode {
    Lines,
    Array,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = digits.parse().map_err(|_| format!("'{text}' is not a size like 512M"))?;
    let factor: u64 = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("unknown size unit in '{text}' (use K, M, G or T)")),
    };
    number.checked_mul(factor).filter(|n| *n > 0).ok_or_else(|| format!("'{text}' is not a usable size"))
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
            catalog: self.catalog.catalog_config()?,
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
                    // Iceberg data files are written by the lake module, not a Format.
                    FormatArg::Iceberg | FormatArg::Null | FormatArg::Parquet => Format::Null,
                };
                (format, compression)
            }
        })
    }
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let connection = args.connection.connection_config(scylla::statement::Consistency::LocalOne)?;
    let table = args.connection.table_name();
    let (format, compression) = args.format_and_compression()?;
    let output = match (&args.format, args.url.as_deref()) {
        (FormatArg::Null, _) => Output::Discard,
        (FormatArg::Iceberg, Some(_)) => bail!(
            "--format iceberg writes to a catalog: give --warehouse DIR or --catalog-uri URL, not --url"
        ),
        (FormatArg::Iceberg, None) => Output::Iceberg(args.export_config(&table.keyspace, &table.table)?),
        (_, Some("-")) | (FormatArg::Csv | FormatArg::Json, None) => Output::Stdout,
        (FormatArg::Parquet, None) => bail!("--format parquet needs --url DIR"),
        (_, Some(dir)) => Output::Directory(absolute(Path::new(dir))?),
    };
    if matches!(output, Output::Stdout) && args.resume.is_some() {
        bail!("--resume needs files to finish: give --url DIR (stdout output cannot be resumed)");
    }
    let selection = Selection {
        columns: args.columns.clone(),
        writetime: args.writetime,
        ttl: args.ttl,
        query: args.query.clone(),
    };

    let session = connection.connect(&table.keyspace).await?;
    let view = ClusterView::read(&session, &table).await?;
    let cql = unload::select_cql(&view, &selection)?;
    let (statement, columns) = unload::prepare(&session, &view, &cql, connection.page_size).await?;
    let schema = Arc::new(cqlbulk::types::arrow_schema(columns.iter().map(|(n, t)| (n.as_str(), t))));
    let mut plan = ScanPlan::new(&view, &args.scan.scan_config(&args.connection))?;

    let output_text = match &output {
        Output::Iceberg(export) => export.describe(),
        Output::Directory(dir) => dir.display().to_string(),
        Output::Stdout => "-".to_string(),
        Output::Discard => "null".to_string(),
    };
    let format_name = format!("{:?}", args.format).to_lowercase();
    let operation = match &args.resume {
        None => {
            let mut ranges: Vec<_> = plan.splits.iter().map(|s| (s.index, s.range)).collect();
            ranges.sort_by_key(|(index, _)| *index);
            Operation::create(
                &args.log_dir,
                OperationSpec {
                    operation_id: String::new(),
                    run_id: String::new(),
                    keyspace: table.keyspace.clone(),
                    table: table.table.clone(),
                    format: format_name.clone(),
                    output: output_text.clone(),
                    splits: ranges.iter().map(|(_, r)| (r.start(), r.end())).collect(),
                },
            )?
        }
        Some(dir) => {
            let operation = Operation::<OperationSpec>::resume(dir)?;
            let spec = &operation.spec;
            if (spec.keyspace.as_str(), spec.table.as_str(), spec.format.as_str(), spec.output.as_str())
                != (table.keyspace.as_str(), table.table.as_str(), format_name.as_str(), output_text.as_str())
            {
                bail!(
                    "--resume {}: that run unloaded {}.{} as {} to {}; give the same table, --format and --url",
                    dir.display(),
                    spec.keyspace,
                    spec.table,
                    spec.format,
                    spec.output
                );
            }
            plan = unload::resume_plan(&view, &plan, &spec.ranges()?, &operation.done)?;
            operation
        }
    };

    let mut iceberg = None;
    let destination = match &output {
        Output::Iceberg(export) => {
            let columns = schema::cql_columns(&view, &columns);
            let target = export.prepare(&columns).await?;
            let prepared = &target.prepared;
            operation.log(&format!(
                "iceberg: {} {}{}{}",
                target.ident,
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
            let file_prefix = format!("cqlbulk-{}", operation.spec.run_id);
            if args.resume.is_some() {
                if let Some(snapshot_id) = lake::committed_snapshot(&target.table, &operation.spec.run_id) {
                    // The last attempt committed and then stopped before it could say so.
                    operation.log(&format!("resume: run already committed as snapshot {snapshot_id}"));
                    let rows: u64 = operation.done.iter().map(|d| d.rows).sum();
                    operation.write_summary(&serde_json::json!({
                        "operation": operation.spec.operation_id,
                        "status": "complete",
                        "output": output_text,
                        "rows": rows,
                        "snapshot_id": snapshot_id,
                    }))?;
                    if !args.scan.quiet {
                        eprintln!(
                            "unload: {table}: already committed as snapshot {snapshot_id} of {}; nothing to do",
                            target.ident
                        );
                    }
                    return Ok(EXIT_OK);
                }
                let recorded =
                    operation.done.iter().flat_map(|d| d.files.iter().map(|f| f.name.clone())).collect();
                let removed = lake::remove_unrecorded_files(&target.table, &file_prefix, &recorded)?;
                operation.log(&format!(
                    "resume: {} splits already done, {removed} unrecorded data files removed",
                    operation.done.len()
                ));
            }
            let options = DataFileOptions {
                target_file_size: usize::try_from(args.target_file_size).unwrap_or(usize::MAX),
                max_open_files: args.max_open_files,
                row_group_rows: args.row_group_rows,
            };
            let keys = view.table.partition_key.iter().chain(&view.table.clustering_key).cloned().collect();
            let data_files = DataFileTarget::new(&target.table, file_prefix, options, keys)?;
            iceberg = Some(target);
            Destination::Iceberg(Arc::new(data_files))
        }
        Output::Discard => Destination::Discard,
        Output::Stdout => Destination::stdout(&format, compression, schema.clone())?,
        Output::Directory(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the output directory {}", dir.display()))?;
            let layout = FileLayout {
                dir: dir.clone(),
                prefix: format!("{}-{}", sanitize(&table.table), operation.spec.run_id),
                max_rows_per_file: args.max_rows_per_file.unwrap_or(u64::MAX).max(1),
                max_bytes_per_file: args.max_bytes_per_file.unwrap_or(u64::MAX),
            };
            if args.resume.is_some() {
                let removed = unload::remove_unrecorded_files(&layout, &operation.done)?;
                operation.log(&format!(
                    "resume: {} splits already done, {removed} unrecorded files removed",
                    operation.done.len()
                ));
            }
            Destination::Directory { layout, format: format.clone(), compression, schema: schema.clone() }
        }
    };
    operation.log(&format!(
        "start: {table} as {format_name} to {output_text}; {} splits to read; query: {cql}",
        plan.splits.len()
    ));

    let progress = Arc::new(Progress::new(operation.spec.splits.len()));
    // A resumed run starts where the last one stopped.
    for done in &operation.done {
        if let Some(range) = cqlbulk_ring::TokenRange::new(done.start, done.end) {
            progress.split_done(&range);
        }
    }
    let reporter = Reporter::start("unload", progress.clone(), args.scan.progress());
    let report = tokio::select! {
        report = unload::unload(&session, &plan, &statement, &columns, &destination, &operation, &progress) => report,
        err = super::interrupted() => {
            drop(reporter);
            operation.log("interrupted");
            let summary = serde_json::json!({"operation": operation.spec.operation_id, "status": "interrupted"});
            operation.write_summary(&summary)?;
            return Err(Error::new(
                ErrorKind::Interrupted,
                format!("{err}; finished ranges are recorded: resume with --resume {}", operation.dir.display()),
            )
            .into());
        }
    };
    reporter.finish();
    destination.finish().context("cannot finish the output")?;

    let mut snapshot_id = None;
    if let (Some(target), true) = (&iceberg, report.failures.is_empty()) {
        let data_files: Vec<String> = report.done.iter().flat_map(|d| d.data_files.iter().cloned()).collect();
        let properties = std::collections::HashMap::from([
            (lake::RUN_ID_PROPERTY.to_string(), operation.spec.run_id.clone()),
            (lake::SOURCE_CLUSTER_PROPERTY.to_string(), view.cluster_name.clone()),
            (lake::SOURCE_TABLE_PROPERTY.to_string(), format!("{}.{}", table.keyspace, table.table)),
            (lake::ROWS_PROPERTY.to_string(), report.rows().to_string()),
            (lake::SPLITS_PROPERTY.to_string(), operation.spec.splits.len().to_string()),
            (lake::VERSION_PROPERTY.to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ]);
        let committed = lake::commit_run(
            target.catalog.as_ref(),
            &target.ident,
            &operation.spec.run_id,
            &data_files,
            properties,
        )
        .await
        .map_err(|e| {
            operation.log(&format!("commit failed: {e}"));
            e.context(format!(
                "data files are written; retry the commit with --resume {}",
                operation.dir.display()
            ))
        })?;
        operation.log(&format!(
            "committed snapshot {} ({} data files)",
            committed.snapshot_id(),
            data_files.len()
        ));
        snapshot_id = Some(committed.snapshot_id());
    }

    let elapsed = progress.snapshot().elapsed.as_secs_f64();
    let status = if report.failures.is_empty() { "complete" } else { "failed" };
    let summary = serde_json::json!({
        "operation": operation.spec.operation_id,
        "status": status,
        "keyspace": table.keyspace,
        "table": table.table,
        "format": format_name,
        "output": output_text,
        "rows": report.rows(),
        "bytes": report.bytes(),
        "files": report.files(),
        "splits": operation.spec.splits.len(),
        "splits_done": report.done.len(),
        "splits_failed": report.failures.len(),
        "retries": progress.snapshot().retries,
        "snapshot_id": snapshot_id,
        "elapsed_seconds": elapsed,
        "rows_per_second": report.rows() as f64 / elapsed.max(1e-3),
        "errors": report.failures.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    operation.write_summary(&summary)?;
    operation.log(&format!("end: {status}, {} rows, {} files", report.rows(), report.files()));
    if !args.scan.quiet {
        let snapshot = match (&iceberg, snapshot_id) {
            (Some(target), Some(id)) => format!("; snapshot {id} of {}", target.ident),
            _ => String::new(),
        };
        eprintln!(
            "unload: {table}: {} rows, {} files, {:.1} MiB in {:.2}s ({} rows/s){snapshot}; operation {}",
            report.rows(),
            report.files(),
            report.bytes() as f64 / (1024.0 * 1024.0),
            elapsed,
            (report.rows() as f64 / elapsed.max(1e-3)) as u64,
            operation.dir.display()
        );
    }
    if !report.failures.is_empty() {
        for failure in &report.failures {
            eprintln!("unload: failed: {failure}");
        }
        return Err(Error::new(
            ErrorKind::IncompleteScan,
            format!(
                "{table}: {} of {} token ranges failed and are not in the output; after fixing the cause, \
                 resume with --resume {}",
                report.failures.len(),
                operation.spec.splits.len(),
                operation.dir.display()
            ),
        )
        .into());
    }
    Ok(EXIT_OK)
}

enum Output {
    Iceberg(ExportConfig),
    Directory(PathBuf),
    Stdout,
    Discard,
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("bad output path {}", path.display()))
}

/// A table name as a safe file name part.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

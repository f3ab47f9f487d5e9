//! `cqlbulk verify`: proves that a table and a dataset hold the same rows.

use cqlbulk::CancellationToken;
use cqlbulk::progress::{Display, Observer};
use cqlbulk::verify::{self, VerifyConfig, VerifyStatus, VerifySummary};
use scylla::statement::Consistency;

use super::load::SourceArgs;
use super::{ConnectionArgs, EXIT_COMPLETED_WITH_ERRORS, EXIT_OK, ScanArgs};

/// Compare a table with a dataset (CSV, JSON or Parquet files, or an Iceberg snapshot).
///
/// Both sides are cut into the same token ranges. For each range, the row count and an
/// order-independent checksum of every row's values (the columns the dataset maps to) are
/// computed on each side and compared; ranges that differ are read again row by row to
/// show sample keys. Exit 0 only when every range matches; 1 when they differ.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,

    #[command(flatten)]
    scan: ScanArgs,

    #[command(flatten)]
    source: SourceArgs,

    /// Differing ranges to examine row by row for sample keys.
    #[arg(long, default_value_t = 3, value_name = "N")]
    detail_ranges: usize,

    #[command(flatten)]
    metrics: super::MetricsArgs,

    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

/// The verify these flags describe, watched by `observer`: the command line's and the
/// Python package's one way in.
pub async fn job(
    args: &Args,
    observer: &dyn Observer,
    cancel: &CancellationToken,
) -> anyhow::Result<VerifySummary> {
    args.connection.require_table("verify")?;
    let table = args.connection.table_name();
    let (source, mapping) = args.source.resolve(&table)?;
    let config = VerifyConfig {
        connection: args.connection.connection_config(Consistency::LocalOne)?,
        table,
        scan: args.scan.scan_config(&args.connection),
        source,
        mapping,
        detail_ranges: args.detail_ranges,
    };
    let exporter = args.metrics.exporter("verify", &config.table, None).await?;
    let result = verify::run(&config, &(observer, exporter.clone()), cancel).await;
    super::finish_metrics(&exporter).await;
    Ok(result?)
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let display = Display::new(args.scan.progress());
    let summary = job(&args, &display, &super::cancel_on_signal()).await?;
    let table = &args.connection.table_name();
    for unreadable in &summary.unreadable {
        cqlbulk::say!(
            "verify: dataset record at {} cannot be compared: {}",
            unreadable.position,
            unreadable.reason
        );
    }
    if summary.status == VerifyStatus::Same {
        println!(
            "verify: {table} and {} hold the same {} rows ({} token ranges match)",
            summary.source, summary.table_rows, summary.token_ranges
        );
        return Ok(EXIT_OK);
    }
    println!(
        "verify: {table} and {} differ: table {} rows, dataset {} rows ({} unreadable records); {} of {} token ranges differ",
        summary.source,
        summary.table_rows,
        summary.dataset_rows,
        summary.unreadable_records,
        summary.differing_ranges,
        summary.token_ranges
    );
    for range in &summary.details {
        println!(
            "  range ({}, {}]: table {} rows, dataset {} rows",
            range.start, range.end, range.table_rows, range.dataset_rows
        );
        for key in &range.only_in_table {
            println!("    only in the table:   {key}");
        }
        for key in &range.only_in_dataset {
            println!("    only in the dataset: {key}");
        }
        for key in &range.values_differ {
            println!("    values differ:       {key}");
        }
    }
    let rest = summary.differing_ranges.saturating_sub(summary.details.len());
    if rest > 0 {
        println!("  … and {rest} more differing ranges");
    }
    Ok(EXIT_COMPLETED_WITH_ERRORS)
}

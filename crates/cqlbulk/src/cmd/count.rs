//! `cqlbulk count`: the exact number of rows of a table.

use std::io::Write;

use clap::ValueEnum;
use cqlbulk::CancellationToken;
use cqlbulk::count::{self, CountConfig, CountMethod, CountSummary};
use cqlbulk::progress::{Display, Observer};
use cqlbulk::{Error, ErrorKind};

use super::{ConnectionArgs, EXIT_OK, ScanArgs};

/// Count the rows of a table exactly, reading every token range from one of its replicas.
///
/// Prints the total on stdout. With --by, prints one line per range or host first, then
/// `total N`; the parts always add up to the total.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,

    #[command(flatten)]
    scan: ScanArgs,

    /// Also print the rows of each token range (`range`), of each node (`host`, ranges
    /// counted under their primary replica), or of the largest partitions (`partition`,
    /// see --top; this reads every row's partition key, like --method fetch).
    #[arg(long, value_name = "WHAT")]
    by: Option<Breakdown>,

    /// With --by partition: how many of the largest partitions to print.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    top: u32,

    /// `server`: the replica counts each range with count(*) and sends one number back.
    /// `fetch`: page through the partition-key tokens of every row and count them here
    /// (DSBulk's way; it moves every key over the network).
    #[arg(long, default_value = "server", value_name = "METHOD")]
    method: Method,

    #[command(flatten)]
    metrics: super::MetricsArgs,

    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Breakdown {
    Range,
    Host,
    Partition,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Method {
    Server,
    Fetch,
}

/// The count these flags describe, watched by `observer`: the command line's and the
/// Python package's one way in.
pub async fn job(
    args: &Args,
    observer: &dyn Observer,
    cancel: &CancellationToken,
) -> anyhow::Result<CountSummary> {
    args.connection.require_table("count")?;
    let config = CountConfig {
        connection: args.connection.connection_config(scylla::statement::Consistency::LocalOne)?,
        table: args.connection.table_name(),
        scan: args.scan.scan_config(&args.connection),
        method: match args.method {
            Method::Server => CountMethod::Server,
            Method::Fetch => CountMethod::Fetch,
        },
        top_partitions: matches!(args.by, Some(Breakdown::Partition)).then_some(args.top as usize),
    };
    let exporter = args.metrics.exporter("count", &config.table, None).await?;
    let result = count::run(&config, &(observer, exporter.clone()), cancel).await;
    super::finish_metrics(&exporter).await;
    Ok(result?)
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let display = Display::new(args.scan.progress());
    let summary = job(&args, &display, &super::cancel_on_signal()).await?;
    let table = &args.connection.table_name();
    print_summary(&summary, args.by)?;
    if !args.scan.quiet {
        cqlbulk::say!(
            "count: {table}: {} rows in {} splits on {} node{}, {:.2}s, {} rows/s{}",
            summary.rows,
            summary.splits,
            summary.nodes,
            if summary.nodes == 1 { "" } else { "s" },
            summary.elapsed_seconds,
            summary.rows_per_second as u64,
            if summary.retries > 0 { format!(", {} retries", summary.retries) } else { String::new() }
        );
    }
    if !summary.errors.is_empty() {
        for failure in &summary.errors {
            cqlbulk::logs::say("ERROR", &format!("count: failed: {failure}"));
        }
        return Err(Error::new(
            ErrorKind::IncompleteScan,
            format!(
                "{table}: {} of {} token ranges could not be read; the total above is missing their rows",
                summary.splits_failed, summary.splits
            ),
        )
        .into());
    }
    Ok(EXIT_OK)
}

fn print_summary(summary: &CountSummary, by: Option<Breakdown>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match by {
        None => writeln!(out, "{}", summary.total())?,
        Some(Breakdown::Range) => {
            for range in summary.by_range() {
                writeln!(out, "{} {} {} {}", range.start, range.end, range.rows, range.primary)?;
            }
            writeln!(out, "total {}", summary.total())?;
        }
        Some(Breakdown::Host) => {
            for (host, rows) in summary.by_host() {
                writeln!(out, "{host} {rows}")?;
            }
            writeln!(out, "total {}", summary.total())?;
        }
        Some(Breakdown::Partition) => {
            for partition in &summary.top_partitions {
                writeln!(out, "{} {}", partition.rows, partition.key)?;
            }
            writeln!(out, "total {}", summary.total())?;
        }
    }
    out.flush()
}

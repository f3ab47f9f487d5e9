//! `cqlbulk count`: the exact number of rows of a table.

use std::io::Write;
use std::sync::Arc;

use clap::ValueEnum;
use cqlbulk::cluster::ClusterView;
use cqlbulk::count::{CountMethod, CountReport};
use cqlbulk::progress::{Progress, Reporter};
use cqlbulk::scan::ScanPlan;
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

    /// Also print the rows of each token range (`range`) or of each node (`host`, ranges
    /// counted under their primary replica).
    #[arg(long, value_name = "WHAT")]
    by: Option<Breakdown>,

    /// `server`: the replica counts each range with count(*) and sends one number back.
    /// `fetch`: page through the partition-key tokens of every row and count them here
    /// (DSBulk's way; it moves every key over the network).
    #[arg(long, default_value = "server", value_name = "METHOD")]
    method: Method,

    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Breakdown {
    Range,
    Host,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Method {
    Server,
    Fetch,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let connection = args.connection.connection_config(scylla::statement::Consistency::LocalOne)?;
    let table = args.connection.table_name();
    let scan_config = args.scan.scan_config(&args.connection);
    let method = match args.method {
        Method::Server => CountMethod::Server,
        Method::Fetch => CountMethod::Fetch,
    };

    let session = connection.connect(&table.keyspace).await?;
    let view = ClusterView::read(&session, &table).await?;
    let plan = ScanPlan::new(&view, &scan_config)?;
    let progress = Arc::new(Progress::new(plan.splits.len()));
    let reporter = Reporter::start("count", progress.clone(), args.scan.progress());
    let report = tokio::select! {
        report = cqlbulk::count::count(&session, &view, &plan, method, connection.page_size, &progress) => report?,
        err = super::interrupted() => return Err(err.into()),
    };
    reporter.finish();

    print_report(&report, args.by)?;
    if !args.scan.quiet {
        eprintln!(
            "count: {table}: {} rows in {} splits on {} node{}, {:.2}s, {} rows/s{}",
            report.total(),
            plan.splits.len(),
            view.nodes.len(),
            if view.nodes.len() == 1 { "" } else { "s" },
            report.elapsed.as_secs_f64(),
            (report.total() as f64 / report.elapsed.as_secs_f64().max(1e-3)) as u64,
            if report.retries > 0 { format!(", {} retries", report.retries) } else { String::new() }
        );
    }
    if !report.failures.is_empty() {
        for failure in &report.failures {
            eprintln!("count: failed: {failure}");
        }
        return Err(Error::new(
            ErrorKind::IncompleteScan,
            format!(
                "{table}: {} of {} token ranges could not be read; the total above is missing their rows",
                report.failures.len(),
                plan.splits.len()
            ),
        )
        .into());
    }
    Ok(EXIT_OK)
}

fn print_report(report: &CountReport, by: Option<Breakdown>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match by {
        None => writeln!(out, "{}", report.total())?,
        Some(Breakdown::Range) => {
            for range in report.by_range() {
                writeln!(
                    out,
                    "{} {} {} {}",
                    range.range.start(),
                    range.range.end(),
                    range.rows,
                    range.primary
                )?;
            }
            writeln!(out, "total {}", report.total())?;
        }
        Some(Breakdown::Host) => {
            for (host, rows) in report.by_host() {
                writeln!(out, "{host} {rows}")?;
            }
            writeln!(out, "total {}", report.total())?;
        }
    }
    out.flush()
}

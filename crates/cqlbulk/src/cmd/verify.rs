//! `cqlbulk verify`: proves that a table and a dataset hold the same rows.

use std::collections::{BTreeSet, HashMap};

use cqlbulk::cluster::{ClusterView, quote_identifier};
use cqlbulk::load::write::WriteOptions;
use cqlbulk::load::{self, LoadPlan};
use cqlbulk::progress::Progress;
use cqlbulk::scan::{self, ScanPlan};
use cqlbulk::verify::{DatasetSide, Digest, RangeIndex, RowShape, SplitVisitor, compare_rows};
use scylla::statement::Consistency;

use super::load::{OpenedSource, SourceArgs};
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

    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let table = args.connection.table_name();
    let (source, _format, mapping) = args.source.resolve(&table)?;
    let connection = args.connection.connection_config(Consistency::LocalOne)?;
    let session = connection.connect(&table.keyspace).await?;
    let view = ClusterView::read(&session, &table).await?;
    let projection = SourceArgs::projection(&source, mapping.as_ref());
    let opened = OpenedSource::open(&source, projection.as_deref()).await?;
    let columns = load::plan_columns(
        &view,
        opened.schema.as_ref(),
        &opened.description,
        mapping.as_deref(),
        load::Preserve::default(),
    )?;
    let json_fields: Vec<String> = columns.iter().map(|c| c.field.clone()).collect();
    let select: Vec<String> = columns.iter().map(|c| quote_identifier(&c.name)).collect();
    let options = WriteOptions {
        consistency: connection.consistency,
        max_in_flight: 1,
        batch_rows: 1,
        batch_bytes: 0,
        max_rows_per_second: None,
        max_attempts: 1,
        counter: false,
    };
    // The INSERT is prepared, never run: it computes each dataset row's token.
    let mut plan = LoadPlan::prepare(&session, &view, columns, &options).await?;
    plan.source_fields = opened.fields_every_file_must_fit(mapping.as_ref());
    let key_names: Vec<String> =
        view.table.partition_key.iter().chain(&view.table.clustering_key).cloned().collect();
    let shape = RowShape::new(&plan, &key_names);

    let scan_plan = ScanPlan::new(&view, &args.scan.scan_config(&args.connection))?;
    let index = RangeIndex::new(scan_plan.splits.iter().map(|s| (s.index, s.range)));
    let cql = format!(
        "SELECT {} FROM {} WHERE {t} > ? AND {t} <= ?",
        select.join(", "),
        table.cql(),
        t = view.table.token_expression()
    );
    let (statement, _) = cqlbulk::unload::prepare(&session, &view, &cql, connection.page_size).await?;

    // Pass 1: digests of both sides, concurrently.
    let progress = Progress::new(scan_plan.splits.len());
    let table_side = table_digests(&session, &scan_plan, &statement, &shape, &progress, &[]);
    let dataset_side = dataset_digests(&opened, json_fields.clone(), &plan, &shape, &index, &[]);
    let (table_side, dataset_side) = tokio::join!(table_side, dataset_side);
    let (table_sums, _) = table_side?;
    let dataset = dataset_side?;

    let mut differing: Vec<usize> = Vec::new();
    let mut table_rows = 0;
    let mut dataset_rows = 0;
    for split in &scan_plan.splits {
        let t = table_sums.get(&split.index).copied().unwrap_or_default();
        let d = dataset.digests.get(&split.index).copied().unwrap_or_default();
        table_rows += t.rows;
        dataset_rows += d.rows;
        if t != d {
            differing.push(split.index);
        }
    }
    differing.sort_unstable();
    let ranges = scan_plan.splits.len();
    if !dataset.unreadable.is_empty() {
        for (position, _, reason) in dataset.unreadable.iter().take(5) {
            eprintln!("verify: dataset record at {position} cannot be compared: {reason}");
        }
    }
    if differing.is_empty() && dataset.unreadable.is_empty() {
        println!(
            "verify: {table} and {} hold the same {table_rows} rows ({ranges} token ranges match)",
            opened.description
        );
        return Ok(EXIT_OK);
    }
    println!(
        "verify: {table} and {} differ: table {table_rows} rows, dataset {dataset_rows} rows ({} unreadable records); {} of {ranges} token ranges differ",
        opened.description,
        dataset.records.saturating_sub(dataset_rows),
        differing.len()
    );
    // Pass 2: the first differing ranges, row by row.
    let detail: Vec<usize> = differing.iter().copied().take(args.detail_ranges).collect();
    if !detail.is_empty() {
        let detail_plan = ScanPlan {
            splits: scan_plan.splits.iter().filter(|s| detail.contains(&s.index)).cloned().collect(),
            concurrency: scan_plan.concurrency,
            max_attempts: scan_plan.max_attempts,
        };
        let (_, table_rows_by_split) =
            table_digests(&session, &detail_plan, &statement, &shape, &progress, &detail).await?;
        let dataset_detail = dataset_digests(&opened, json_fields, &plan, &shape, &index, &detail).await?;
        let empty = HashMap::new();
        for split in &detail_plan.splits {
            let t = table_sums.get(&split.index).copied().unwrap_or_default();
            let d = dataset.digests.get(&split.index).copied().unwrap_or_default();
            println!("  range {}: table {} rows, dataset {} rows", split.range, t.rows, d.rows);
            let diff = compare_rows(
                table_rows_by_split.get(&split.index).unwrap_or(&empty),
                dataset_detail.rows.get(&split.index).unwrap_or(&empty),
                5,
            );
            for key in &diff.only_in_table {
                println!("    only in the table:   {}", shape.describe_key(key));
            }
            for key in &diff.only_in_dataset {
                println!("    only in the dataset: {}", shape.describe_key(key));
            }
            for key in &diff.different {
                println!("    values differ:       {}", shape.describe_key(key));
            }
        }
    }
    let rest: BTreeSet<usize> = differing.iter().copied().skip(args.detail_ranges).collect();
    if !rest.is_empty() {
        println!("  … and {} more differing ranges", rest.len());
    }
    Ok(EXIT_COMPLETED_WITH_ERRORS)
}

type SplitRows = HashMap<usize, HashMap<Vec<u8>, u64>>;

/// Digests of the table's splits; rows too for the splits in `detail`.
async fn table_digests(
    session: &scylla::client::session::Session,
    plan: &ScanPlan,
    statement: &scylla::statement::prepared::PreparedStatement,
    shape: &RowShape,
    progress: &Progress,
    detail: &[usize],
) -> anyhow::Result<(HashMap<usize, Digest>, SplitRows)> {
    let reports = scan::run(plan, progress, |split| async move {
        let mut visitor = SplitVisitor {
            shape,
            digest: Digest::default(),
            rows: detail.contains(&split.index).then(HashMap::new),
        };
        scan::read_split(session, split, statement, plan.max_attempts, progress, &mut visitor).await?;
        Ok((visitor.digest, visitor.rows))
    })
    .await;
    let mut digests = HashMap::new();
    let mut rows = HashMap::new();
    for report in reports {
        let (digest, split_rows) = report.result?;
        digests.insert(report.split.index, digest);
        if let Some(split_rows) = split_rows {
            rows.insert(report.split.index, split_rows);
        }
    }
    Ok((digests, rows))
}

async fn dataset_digests(
    opened: &OpenedSource,
    json_fields: Vec<String>,
    plan: &LoadPlan,
    shape: &RowShape,
    index: &RangeIndex,
    detail: &[usize],
) -> anyhow::Result<DatasetSide> {
    let mut chunks = opened.read(json_fields);
    let mut side = DatasetSide::default();
    while let Some(chunk) = chunks.recv().await {
        match chunk {
            Ok(chunk) => side.add_chunk(plan, shape, index, &chunk, detail)?,
            Err(err) => {
                side.records += 1;
                side.unreadable.push((0, String::new(), err.to_string()));
            }
        }
    }
    Ok(side)
}

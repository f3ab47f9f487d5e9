//! The count job: the exact number of rows of a table, every token range counted on one
//! of its replicas (`count(*)` there, or by paging through the rows' tokens).
//!
//! [`run`] is the whole job (what `cqlbulk count` calls).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use cqlbulk_ring::TokenRange;
use scylla::client::session::Session;
use scylla::cluster::Node;
use scylla::frame::response::result::ColumnType;
use scylla::statement::prepared::PreparedStatement;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::cluster::{ClusterView, TableName, quote_identifier};
use crate::connect::{ConnectionConfig, request_error};
use crate::error::{Error, ErrorKind, Result, unless_cancelled};
use crate::progress::{Observer, Progress, Work};
use crate::scan::{self, ScanConfig, ScanPlan, routed_to};

/// What to count, and how.
#[derive(Clone, Debug)]
pub struct CountConfig {
    pub connection: ConnectionConfig,
    pub table: TableName,
    pub scan: ScanConfig,
    pub method: CountMethod,
    /// Also find the largest partitions, by rows: this many (DSBulk's `count -stats
    /// partitions`). Reads every row's partition key, like [`CountMethod::Fetch`].
    pub top_partitions: Option<usize>,
}

/// A partition and its rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionCount {
    /// The partition key, `name=value, …`.
    pub key: String,
    pub rows: u64,
}

/// How rows are counted in a split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CountMethod {
    /// `SELECT count(*)` per split: the replica counts, one small answer comes back.
    #[default]
    Server,
    /// Page through `SELECT token(pk)` and count the rows on the client (what DSBulk does).
    Fetch,
}

/// The rows of one split: the token range `(start, end]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RangeCount {
    pub start: i64,
    pub end: i64,
    /// The primary replica's address.
    pub primary: IpAddr,
    pub rows: u64,
}

impl RangeCount {
    pub fn range(&self) -> Option<TokenRange> {
        TokenRange::new(self.start, self.end)
    }
}

/// What a count found: the total, every split's rows, and the splits that could not be read
/// (then `rows` lacks theirs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CountSummary {
    pub keyspace: String,
    pub table: String,
    pub method: CountMethod,
    /// Rows of the splits that were read: the table's rows when `errors` is empty.
    pub rows: u64,
    pub splits: usize,
    pub splits_failed: usize,
    pub nodes: usize,
    pub retries: u64,
    pub elapsed_seconds: f64,
    pub rows_per_second: f64,
    pub ranges: Vec<RangeCount>,
    /// One line per token range that could not be read.
    pub errors: Vec<String>,
    /// The largest partitions, most rows first, when asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_partitions: Vec<PartitionCount>,
    /// Every figure of the run (what metrics export).
    #[serde(default)]
    pub metrics: crate::progress::Figures,
}

impl CountSummary {
    pub fn total(&self) -> u64 {
        self.rows
    }

    /// Rows per node, each range counted once, under its primary replica.
    pub fn by_host(&self) -> BTreeMap<IpAddr, u64> {
        let mut hosts = BTreeMap::new();
        for range in &self.ranges {
            *hosts.entry(range.primary).or_insert(0) += range.rows;
        }
        hosts
    }

    /// Ranges sorted by token.
    pub fn by_range(&self) -> Vec<RangeCount> {
        let mut ranges = self.ranges.clone();
        ranges.sort_by_key(|r| (r.start, r.end));
        ranges
    }
}

/// Counts the rows of a table as `config` says. Progress goes to `observer`; `cancel` stops
/// the count with an `Interrupted` error. Token ranges that cannot be read are not an
/// error here: the summary's `errors` names them, and its total lacks their rows.
pub async fn run(
    config: &CountConfig,
    observer: &dyn Observer,
    cancel: &CancellationToken,
) -> Result<CountSummary> {
    let table = &config.table;
    let session = unless_cancelled(cancel, config.connection.connect(&table.keyspace)).await?;
    let view = unless_cancelled(cancel, ClusterView::read(&session, table)).await?;
    let plan = ScanPlan::new(&view, &config.scan)?;
    let progress = Arc::new(Progress::new(Work::Ring, plan.splits.len()));
    observer.started("count", progress.clone());
    let counted = count(&session, &view, &plan, config, &progress);
    let report = tokio::select! {
        report = counted => report,
        () = cancel.cancelled() => {
            observer.finished(false);
            return Err(Error::new(ErrorKind::Interrupted, "interrupted"));
        }
    };
    observer.finished(report.is_ok());
    let report = report?;
    let rows = report.ranges.iter().map(|r| r.rows).sum();
    let elapsed_seconds = report.elapsed.as_secs_f64();
    Ok(CountSummary {
        keyspace: table.keyspace.clone(),
        table: table.table.clone(),
        method: config.method,
        rows,
        splits: plan.splits.len(),
        splits_failed: report.failures.len(),
        nodes: view.nodes.len(),
        retries: report.retries,
        elapsed_seconds,
        rows_per_second: rows as f64 / elapsed_seconds.max(1e-3),
        ranges: report.ranges,
        errors: report.failures.iter().map(ToString::to_string).collect(),
        top_partitions: report.top_partitions,
        metrics: progress.figures(),
    })
}

/// Every split's rows, and the splits that could not be read.
struct CountReport {
    ranges: Vec<RangeCount>,
    top_partitions: Vec<PartitionCount>,
    failures: Vec<Error>,
    retries: u64,
    elapsed: Duration,
}

/// Counts the rows of the table in `view`, reading the splits of `plan`.
async fn count(
    session: &Session,
    view: &ClusterView,
    plan: &ScanPlan,
    config: &CountConfig,
    progress: &Progress,
) -> Result<CountReport> {
    let (method, page_size, top) = (config.method, config.connection.page_size, config.top_partitions);
    let table = &view.table;
    let token = table.token_expression();
    let selection = match (method, top) {
        (_, Some(_)) => {
            table.partition_key.iter().map(|c| quote_identifier(c)).collect::<Vec<_>>().join(", ")
        }
        (CountMethod::Server, None) => "count(*)".to_string(),
        (CountMethod::Fetch, None) => token.clone(),
    };
    let cql = format!("SELECT {selection} FROM {} WHERE {token} > ? AND {token} <= ?", table.name.cql());
    let mut statement = session
        .prepare(cql)
        .await
        .map_err(|e| Error::new(ErrorKind::Query, crate::connect::one_line(&e)).context(&table.name))?;
    statement.set_page_size(page_size);
    statement.set_is_idempotent(true);
    let statement = &statement;
    let attempts = plan.max_attempts;
    let key_columns: Vec<(String, ColumnType<'static>)> = statement
        .get_current_result_set_col_specs()
        .get()
        .iter()
        .map(|spec| (spec.name().to_string(), spec.typ().clone().into_owned()))
        .collect();
    let reports = scan::run(plan, progress, |split| async move {
        if let Some(top) = top {
            let mut visitor = PartitionSizes { largest: Largest::new(top), current: None };
            let rows = scan::read_split(session, split, statement, attempts, progress, &mut visitor).await?;
            return Ok((rows, visitor.finish()));
        }
        match method {
            CountMethod::Server => {
                let rows = split
                    .request(attempts, progress, |node| {
                        count_on_server(session, statement, node, split.range)
                    })
                    .await?;
                progress.read(rows, 0);
                split.throttle.pace(rows, 0).await;
                Ok((rows, Vec::new()))
            }
            // The rows' tokens are paged through and counted here.
            CountMethod::Fetch => {
                scan::read_split(session, split, statement, attempts, progress, &mut CountOnly)
                    .await
                    .map(|rows| (rows, Vec::new()))
            }
        }
    })
    .await;
    let mut ranges = Vec::with_capacity(reports.len());
    let mut failures = Vec::new();
    let mut largest = Largest::new(top.unwrap_or(0));
    for report in reports {
        match report.result {
            Ok((rows, partitions)) => {
                for (rows, key) in partitions {
                    largest.offer(rows, key);
                }
                ranges.push(RangeCount {
                    start: report.split.range.start(),
                    end: report.split.range.end(),
                    primary: report.split.primary.address.ip(),
                    rows,
                })
            }
            Err(err) => failures.push(err.context(&table.name)),
        }
    }
    let now = progress.snapshot();
    let top_partitions = largest
        .into_sorted()
        .into_iter()
        .map(|(rows, key)| PartitionCount { key: crate::codec::key::describe_key(&key_columns, &key), rows })
        .collect();
    Ok(CountReport { ranges, top_partitions, failures, retries: now.retries, elapsed: now.elapsed })
}

async fn count_on_server(
    session: &Session,
    statement: &PreparedStatement,
    node: Arc<Node>,
    range: TokenRange,
) -> Result<u64> {
    let routed = routed_to(statement, node);
    let result =
        session.execute_unpaged(&routed, (range.start(), range.end())).await.map_err(request_error)?;
    let rows = result
        .into_rows_result()
        .map_err(|e| Error::new(ErrorKind::Query, format!("count(*) returned no rows: {e}")))?;
    let (count,): (i64,) = rows
        .single_row()
        .map_err(|e| Error::new(ErrorKind::Query, format!("unexpected count(*) result: {e}")))?;
    Ok(count as u64)
}

/// The `n` partitions with the most rows seen so far (ties: the smaller key first).
struct Largest {
    n: usize,
    heap: BinaryHeap<Reverse<(u64, Reverse<Vec<u8>>)>>,
}

impl Largest {
    fn new(n: usize) -> Largest {
        Largest { n, heap: BinaryHeap::new() }
    }

    fn offer(&mut self, rows: u64, key: Vec<u8>) {
        if self.n == 0 {
            return;
        }
        let entry = Reverse((rows, Reverse(key)));
        if self.heap.len() < self.n {
            self.heap.push(entry);
        } else if self.heap.peek().is_some_and(|smallest| entry < *smallest) {
            self.heap.pop();
            self.heap.push(entry);
        }
    }

    /// Most rows first.
    fn into_sorted(self) -> Vec<(u64, Vec<u8>)> {
        let mut all: Vec<(u64, Vec<u8>)> =
            self.heap.into_iter().map(|Reverse((rows, Reverse(key)))| (rows, key)).collect();
        all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        all
    }
}

/// Rows of a split are only counted (by [`scan::read_split`]).
struct CountOnly;

impl scan::PageVisitor for CountOnly {
    fn row(&mut self, _: &[Option<&[u8]>]) -> Result<()> {
        Ok(())
    }

    async fn page_done(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Counts each partition's rows as a split's partition keys go by (rows of a partition
/// come together, in token order), keeping the largest.
struct PartitionSizes {
    largest: Largest,
    current: Option<(Vec<u8>, u64)>,
}

impl PartitionSizes {
    /// The split's largest partitions, as (rows, key bytes).
    fn finish(mut self) -> Vec<(u64, Vec<u8>)> {
        if let Some((key, rows)) = self.current.take() {
            self.largest.offer(rows, key);
        }
        self.largest.into_sorted()
    }
}

impl scan::PageVisitor for PartitionSizes {
    fn row(&mut self, values: &[Option<&[u8]>]) -> Result<()> {
        let key = crate::codec::key::key_bytes(values.iter().copied());
        match &mut self.current {
            Some((same, rows)) if *same == key => *rows += 1,
            _ => {
                if let Some((done, rows)) = self.current.replace((key, 1)) {
                    self.largest.offer(rows, done);
                }
            }
        }
        Ok(())
    }

    async fn page_done(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod largest_tests {
    use super::Largest;

    /// What: of partitions offered in any order, the n with most rows are kept, most first,
    /// ties by key. Why: `--by partition --top N` must name the true largest partitions.
    #[test]
    fn keeps_the_largest() {
        let mut largest = Largest::new(3);
        for (rows, key) in [(5, "a"), (9, "b"), (1, "c"), (9, "a"), (7, "d"), (2, "e")] {
            largest.offer(rows, key.as_bytes().to_vec());
        }
        let kept: Vec<(u64, String)> =
            largest.into_sorted().into_iter().map(|(r, k)| (r, String::from_utf8(k).unwrap())).collect();
        assert_eq!(kept, vec![(9, "a".into()), (9, "b".into()), (7, "d".into())]);
    }
}

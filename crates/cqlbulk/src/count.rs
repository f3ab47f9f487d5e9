//! Exact row count of a table through the scan engine.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use cqlbulk_ring::TokenRange;
use scylla::client::session::Session;
use scylla::cluster::Node;
use scylla::response::PagingState;
use scylla::statement::prepared::PreparedStatement;

use crate::cluster::ClusterView;
use crate::connect::request_error;
use crate::error::{Error, ErrorKind, Result};
use crate::progress::Progress;
use crate::scan::{self, ScanPlan, Split, routed_to};

/// How rows are counted in a split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CountMethod {
    /// `SELECT count(*)` per split: the replica counts, one small answer comes back.
    #[default]
    Server,
    /// Page through `SELECT token(pk)` and count the rows on the client (what DSBulk does).
    Fetch,
}

/// The rows of one split.
#[derive(Clone, Debug)]
pub struct RangeCount {
    pub range: TokenRange,
    /// The primary replica's address.
    pub primary: IpAddr,
    pub rows: u64,
}

/// The outcome of a count: every split's rows, and the splits that could not be read.
pub struct CountReport {
    pub ranges: Vec<RangeCount>,
    pub failures: Vec<Error>,
    pub retries: u64,
    pub elapsed: Duration,
}

impl CountReport {
    pub fn total(&self) -> u64 {
        self.ranges.iter().map(|r| r.rows).sum()
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
        ranges.sort_by_key(|r| r.range);
        ranges
    }
}

/// Counts the rows of the table in `view`, reading the splits of `plan`.
pub async fn count(
    session: &Session,
    view: &ClusterView,
    plan: &ScanPlan,
    method: CountMethod,
    page_size: i32,
    progress: &Progress,
) -> Result<CountReport> {
    let table = &view.table;
    let token = table.token_expression();
    let selection = match method {
        CountMethod::Server => "count(*)".to_string(),
        CountMethod::Fetch => token.clone(),
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
    let reports = scan::run(plan, progress, |split| async move {
        match method {
            CountMethod::Server => {
                split
                    .request(attempts, progress, |node| {
                        count_on_server(session, statement, node, split.range)
                    })
                    .await
            }
            CountMethod::Fetch => count_fetched(session, statement, split, attempts, progress).await,
        }
        .inspect(|rows| progress.add_rows(*rows))
    })
    .await;
    let mut ranges = Vec::with_capacity(reports.len());
    let mut failures = Vec::new();
    for report in reports {
        match report.result {
            Ok(rows) => ranges.push(RangeCount {
                range: report.split.range,
                primary: report.split.primary.address.ip(),
                rows,
            }),
            Err(err) => failures.push(err.context(&table.name)),
        }
    }
    let now = progress.snapshot();
    Ok(CountReport { ranges, failures, retries: now.retries, elapsed: now.elapsed })
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

/// Pages through the split, each page sent with fail-over, so a failed page is asked of
/// another replica from where the last one stopped.
async fn count_fetched(
    session: &Session,
    statement: &PreparedStatement,
    split: &Split,
    attempts: u32,
    progress: &Progress,
) -> Result<u64> {
    let mut rows = 0u64;
    let mut paging = PagingState::start();
    loop {
        let (page_rows, next) = split
            .request(attempts, progress, |node| {
                let paging = paging.clone();
                async move {
                    let routed = routed_to(statement, node);
                    let (result, next) = session
                        .execute_single_page(&routed, (split.range.start(), split.range.end()), paging)
                        .await
                        .map_err(request_error)?;
                    let rows = result
                        .into_rows_result()
                        .map_err(|e| {
                            Error::new(ErrorKind::Query, format!("token query returned no rows: {e}"))
                        })?
                        .rows_num() as u64;
                    Ok((rows, next))
                }
            })
            .await?;
        rows += page_rows;
        match next.into_paging_control_flow() {
            std::ops::ControlFlow::Continue(state) => paging = state,
            std::ops::ControlFlow::Break(()) => return Ok(rows),
        }
    }
}

//! The token-range scan engine: plan splits over the ring, send each split's queries to one
//! of its replicas, fail over to the others, and run a bounded number of splits at a time.
//!
//! What is read from a split is up to the caller (a count, a stream of pages), so the
//! engine takes the per-split work as a function of `(node, range)`.

use std::future::Future;
use std::sync::Arc;

use cqlbulk_ring::{TokenRange, plan_splits};
use futures::StreamExt;
use rand::seq::SliceRandom;
use scylla::client::session::Session;
use scylla::cluster::Node;
use scylla::deserialize::row::ColumnIterator;
use scylla::frame::response::result::ColumnType;
use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
use scylla::policies::retry::FallthroughRetryPolicy;
use scylla::response::PagingState;
use scylla::statement::prepared::PreparedStatement;

use crate::cluster::{ClusterView, quote_identifier};
use crate::connect::{one_line, request_error};
use crate::error::{Error, ErrorKind, Result};
use crate::progress::Progress;
use crate::throttle::{Limits, Throttle};

/// How a table is cut and read; every field has a default from the topology.
#[derive(Clone, Debug, Default)]
pub struct ScanConfig {
    /// Minimum number of splits. More splits mean smaller queries, finer progress and
    /// cheaper retries, at the cost of more requests. Default: 8 × nodes × client cores.
    pub splits: Option<usize>,
    /// Splits read at the same time. Each one keeps one query in flight on one replica, so
    /// this is the load the scan puts on the cluster. Default: nodes × client cores.
    pub concurrency: Option<usize>,
    /// Attempts per split, rotating over its replicas, before the split counts as failed.
    /// Default: 6.
    pub max_attempts: Option<u32>,
    /// Prefer replicas in this datacenter (other replicas are tried after them).
    pub datacenter: Option<String>,
    /// Rows and bytes per second, and requests in flight, for the whole scan.
    pub limits: Limits,
}

/// One piece of the ring and the replicas to ask for it, in the order to try them.
#[derive(Clone, Debug)]
pub struct Split {
    /// Position of the split in token order: its stable name in checkpoints and files.
    pub index: usize,
    pub range: TokenRange,
    /// The node Cassandra's placement puts first; reports group rows by it.
    pub primary: Arc<Node>,
    /// Every replica, preferred datacenter first, shuffled within each group so that
    /// load spreads over nodes.
    pub replicas: Vec<Arc<Node>>,
    /// The scan's limits, shared by all its splits.
    pub throttle: Arc<Throttle>,
}

/// The splits of one scan, in the (shuffled) order they are read.
pub struct ScanPlan {
    pub splits: Vec<Split>,
    pub concurrency: usize,
    pub max_attempts: u32,
    /// The limits every split of this plan shares.
    pub throttle: Arc<Throttle>,
}

impl ScanPlan {
    pub fn new(view: &ClusterView, config: &ScanConfig) -> Result<ScanPlan> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let node_count = view.nodes.len().max(1);
        let target = config.splits.unwrap_or(8 * node_count * cores).max(1);
        let concurrency = config.concurrency.unwrap_or(node_count * cores).max(1);
        if let Some(dc) = &config.datacenter
            && !view.nodes.iter().any(|node| node.datacenter.as_ref() == Some(dc))
        {
            let mut known: Vec<&str> = view.nodes.iter().filter_map(|n| n.datacenter.as_deref()).collect();
            known.sort_unstable();
            known.dedup();
            return Err(Error::new(
                ErrorKind::BadInput,
                format!("--dc {dc}: no node is in that datacenter; known datacenters: {}", known.join(", ")),
            ));
        }
        let ranges = view.replicated_ranges()?;
        let throttle = Arc::new(Throttle::new(config.limits));
        let mut rng = rand::rng();
        let mut splits: Vec<Split> = plan_splits(&ranges, target)
            .into_iter()
            .enumerate()
            .map(|(index, planned)| {
                let nodes = planned.replicas.iter().map(|id| view.node(*id).clone());
                let (mut local, mut remote): (Vec<_>, Vec<_>) = nodes.partition(|node| {
                    config.datacenter.as_ref().is_none_or(|dc| node.datacenter.as_ref() == Some(dc))
                });
                local.shuffle(&mut rng);
                remote.shuffle(&mut rng);
                local.extend(remote);
                Split {
                    index,
                    range: planned.range,
                    primary: view.node(planned.replicas[0]).clone(),
                    replicas: local,
                    throttle: throttle.clone(),
                }
            })
            .collect();
        // Token order would send neighbouring splits, which share replicas, at once.
        splits.shuffle(&mut rng);
        Ok(ScanPlan { splits, concurrency, max_attempts: config.max_attempts.unwrap_or(6).max(1), throttle })
    }

    /// A plan of the given `(index, range)` splits, each routed to the replicas the current
    /// topology gives it (any coordinator would be correct; a replica saves a hop), with
    /// `base`'s concurrency, attempts and limits.
    pub fn for_ranges(
        view: &ClusterView,
        base: &ScanPlan,
        ranges: impl IntoIterator<Item = (usize, TokenRange)>,
    ) -> Result<ScanPlan> {
        let current = view.replicated_ranges()?;
        let mut splits = Vec::new();
        for (index, range) in ranges {
            let mut replicas: Vec<Arc<Node>> = Vec::new();
            for owner in
                current.iter().filter(|r| r.range.start() < range.end() && range.start() < r.range.end())
            {
                for id in &owner.replicas {
                    let node = view.node(*id);
                    if !replicas.iter().any(|n| Arc::ptr_eq(n, node)) {
                        replicas.push(node.clone());
                    }
                }
            }
            let primary = replicas
                .first()
                .cloned()
                .ok_or_else(|| Error::new(ErrorKind::Schema, format!("no replica for {range}")))?;
            splits.push(Split { index, range, primary, replicas, throttle: base.throttle.clone() });
        }
        Ok(ScanPlan {
            splits,
            concurrency: base.concurrency,
            max_attempts: base.max_attempts,
            throttle: base.throttle.clone(),
        })
    }

    /// Keeps only the parts of the splits inside `range` (a shard's part of the ring),
    /// renumbered in token order.
    pub fn restrict(&mut self, range: &TokenRange) {
        let mut kept: Vec<Split> = std::mem::take(&mut self.splits)
            .into_iter()
            .filter_map(|split| split.range.intersection(range).map(|part| Split { range: part, ..split }))
            .collect();
        kept.sort_by_key(|split| split.range);
        for (index, split) in kept.iter_mut().enumerate() {
            split.index = index;
        }
        kept.shuffle(&mut rand::rng());
        self.splits = kept;
    }
}

/// What happened to one split.
pub struct SplitReport<T> {
    pub split: Split,
    pub result: Result<T>,
}

/// Runs `read(split)` for every split of `plan`, at most `plan.concurrency` at once; `read`
/// reports its rows to `progress` as it goes. Failed
/// splits are reported, not dropped: the caller decides what a partial result is worth.
pub async fn run<'a, T, F, Fut>(plan: &'a ScanPlan, progress: &'a Progress, read: F) -> Vec<SplitReport<T>>
where
    F: Fn(&'a Split) -> Fut,
    Fut: Future<Output = Result<T>> + 'a,
{
    let read = &read;
    futures::stream::iter(plan.splits.iter())
        .map(|split| async move {
            let result = read(split).await;
            progress.split_done(&split.range);
            if result.is_err() {
                progress.split_failed();
            }
            SplitReport { split: split.clone(), result }
        })
        .buffer_unordered(plan.concurrency)
        .collect()
        .await
}

impl Split {
    /// Sends `request` to this split's replicas in turn until one answers. A retryable error
    /// moves on to the next replica at once; after every replica has failed, it pauses with
    /// growing back-off before the next round, so an overloaded cluster gets room to
    /// recover. Gives up after `max_attempts` attempts, or at once on an error that retrying
    /// cannot fix. This is the one place where reads are retried.
    pub async fn request<T, F, Fut>(&self, max_attempts: u32, progress: &Progress, request: F) -> Result<T>
    where
        F: Fn(Arc<Node>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 0;
        loop {
            let node = self.replicas[attempt as usize % self.replicas.len()].clone();
            attempt += 1;
            let slot = self.throttle.request_slot().await;
            let started = progress.request_started();
            let answer = request(node.clone()).await;
            progress.request_finished(started, answer.is_ok());
            drop(slot);
            match answer {
                Ok(value) => return Ok(value),
                Err(err) if err.is_retryable() && attempt < max_attempts => {
                    tracing::warn!(range = %self.range, node = %node.address, attempt, "retrying: {err}");
                    progress.retried();
                    if (attempt as usize).is_multiple_of(self.replicas.len()) {
                        let round = attempt / self.replicas.len() as u32;
                        tokio::time::sleep(crate::retry::Backoff::SCAN.delay(round)).await;
                    }
                }
                Err(err) => {
                    return Err(err.context(format!(
                        "token range {} on {}, attempt {attempt}",
                        self.range, node.address
                    )));
                }
            }
        }
    }
}

/// Bytes a page should hold at most, once the row size is known from the first page.
const PAGE_BYTES: usize = 4 << 20;
/// The first page is small, so that a table of 10 KB rows does not start with a 5000-row
/// page; later pages follow the measured row size.
const FIRST_PAGE_ROWS: i32 = 500;

/// What a split's rows are handed to as they are read.
pub trait PageVisitor {
    /// One row: each column's raw CQL value, `None` for null.
    fn row(&mut self, values: &[Option<&[u8]>]) -> Result<()>;
    /// After each page, where a visitor can pass on what it collected.
    fn page_done(&mut self) -> impl Future<Output = Result<()>>;
}

/// Reads every page of `statement` (which takes the split's token bounds) from the split's
/// replicas, handing each row to `visitor`. Returns the rows read.
pub async fn read_split<V: PageVisitor>(
    session: &Session,
    split: &Split,
    statement: &PreparedStatement,
    max_attempts: u32,
    progress: &Progress,
    visitor: &mut V,
) -> Result<u64> {
    let decode_error = |e: &dyn std::fmt::Display| {
        Error::new(ErrorKind::Query, format!("token range {}: cannot decode a row: {e}", split.range))
    };
    let mut paging = PagingState::start();
    let mut page_size = statement.get_page_size().min(FIRST_PAGE_ROWS);
    let mut total = 0;
    loop {
        let (result, next) = split
            .request(max_attempts, progress, |node| {
                let paging = paging.clone();
                async move {
                    let mut routed = routed_to(statement, node);
                    routed.set_page_size(page_size);
                    session
                        .execute_single_page(&routed, (split.range.start(), split.range.end()), paging)
                        .await
                        .map_err(request_error)
                }
            })
            .await?;
        let rows = result
            .into_rows_result()
            .map_err(|e| Error::new(ErrorKind::Query, format!("the query returned no rows: {e}")))?;
        let page_bytes = rows.rows_bytes_size();
        if rows.rows_num() > 0 {
            // Pages are asked for in rows; memory is spent in bytes. With wide rows, ask
            // for fewer, so that a page stays near PAGE_BYTES (never above the user's size).
            // Under a rate limit, a page is at most about a second of it, so that the
            // pace stays even rather than a burst and a long pause.
            let limits = split.throttle.limits();
            let page_bytes = limits.max_bytes_per_second.map_or(PAGE_BYTES, |r| PAGE_BYTES.min(r as usize));
            let row_bytes = (rows.rows_bytes_size() / rows.rows_num()).max(1);
            let most = limits
                .max_rows_per_second
                .map_or(usize::MAX, |r| r as usize)
                .min(statement.get_page_size().max(1) as usize);
            page_size = (page_bytes / row_bytes).max(100).min(most).max(1) as i32;
        }
        let mut page_rows = 0;
        let mut values = Vec::new();
        for row in rows.rows::<ColumnIterator>().map_err(|e| decode_error(&e))? {
            let row = row.map_err(|e| decode_error(&e))?;
            values.clear();
            for column in row {
                values.push(column.map_err(|e| decode_error(&e))?.slice.map(|s| s.as_slice()));
            }
            visitor.row(&values)?;
            page_rows += 1;
        }
        visitor.page_done().await?;
        progress.read(page_rows, page_bytes as u64);
        split.throttle.pace(page_rows, page_bytes as u64).await;
        total += page_rows;
        match next.into_paging_control_flow() {
            std::ops::ControlFlow::Continue(state) => paging = state,
            std::ops::ControlFlow::Break(()) => break,
        }
    }
    Ok(total)
}

/// `statement` sent to `node` only: a token-range query has no partition key for the
/// driver to route by, so the engine picks the replica itself.
pub fn routed_to(statement: &PreparedStatement, node: Arc<Node>) -> PreparedStatement {
    let mut routed = statement.clone();
    routed.set_load_balancing_policy(Some(SingleTargetLoadBalancingPolicy::new(
        NodeIdentifier::Node(node),
        None,
    )));
    // Retries are decided in one place, `read_split`, which also moves to another replica.
    routed.set_retry_policy(Some(Arc::new(FallthroughRetryPolicy::new())));
    routed
}

/// Prepares a per-split query (`… WHERE token(k) > ? AND token(k) <= ?`): idempotent, so
/// the driver may retry it, paged by `page_size`. Returns it with the columns it returns.
pub async fn prepare(
    session: &Session,
    view: &ClusterView,
    cql: &str,
    page_size: i32,
) -> Result<(PreparedStatement, Vec<(String, ColumnType<'static>)>)> {
    let mut statement = session.prepare(cql).await.map_err(|e| {
        Error::new(ErrorKind::BadInput, format!("cannot prepare `{cql}`: {}", one_line(&e)))
            .context(&view.table.name)
    })?;
    if statement.get_variable_col_specs().len() != 2 {
        return Err(Error::new(
            ErrorKind::BadInput,
            format!("`{cql}` must have exactly two bind markers, the token bounds"),
        ));
    }
    statement.set_page_size(page_size);
    statement.set_is_idempotent(true);
    let columns = statement
        .get_current_result_set_col_specs()
        .get()
        .iter()
        .map(|spec| (spec.name().to_string(), spec.typ().clone().into_owned()))
        .collect();
    Ok((statement, columns))
}

/// What to select.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Columns to export, in this order; all of them (as `SELECT *` orders them) if `None`.
    pub columns: Option<Vec<String>>,
    /// Add `writetime(c)` for every selected regular column.
    pub writetime: bool,
    /// Add `ttl(c)` for every selected regular column.
    pub ttl: bool,
    /// A custom SELECT with `:start` and `:end` where the token bounds go.
    pub query: Option<String>,
}

/// A batch goes to the writer at this many rows or bytes, whichever comes first: large
/// enough to amortize per-batch work, small enough that concurrency × batch stays a few
/// MiB even with 10 KB rows.
pub const BATCH_ROWS: usize = 8192;
pub const BATCH_BYTES: usize = 8 << 20;

/// The CQL of the per-split query, with two `?` for the token bounds.
pub fn select_cql(view: &ClusterView, selection: &Selection) -> Result<String> {
    let table = &view.table;
    if let Some(query) = &selection.query {
        if !(query.contains(":start") && query.contains(":end")) {
            return Err(Error::new(
                ErrorKind::BadInput,
                "--query must restrict the token with :start and :end, e.g. \
                 `SELECT * FROM ks.t WHERE token(pk) > :start AND token(pk) <= :end`",
            ));
        }
        return Ok(query.replace(":start", "?").replace(":end", "?"));
    }
    let mut items: Vec<String> = match &selection.columns {
        Some(columns) => {
            for column in columns {
                if !view.columns.iter().any(|(name, _)| name == column) {
                    return Err(Error::new(
                        ErrorKind::BadInput,
                        format!("--columns: {} has no column {column}", table.name),
                    ));
                }
            }
            columns.iter().map(|c| quote_identifier(c)).collect()
        }
        // `*` cannot be combined with writetime()/ttl(): name every column then.
        None if selection.writetime || selection.ttl => {
            view.columns.iter().map(|(name, _)| quote_identifier(name)).collect()
        }
        None => vec!["*".to_string()],
    };
    if selection.writetime || selection.ttl {
        let selected: Vec<&String> = match &selection.columns {
            Some(columns) => columns.iter().collect(),
            None => view.columns.iter().map(|(name, _)| name).collect(),
        };
        for name in selected {
            if !view.regular_columns.contains(name) {
                continue;
            }
            let quoted = quote_identifier(name);
            if selection.writetime {
                items.push(format!(
                    "writetime({quoted}) AS {}",
                    quote_identifier(&format!("writetime({name})"))
                ));
            }
            if selection.ttl {
                items.push(format!("ttl({quoted}) AS {}", quote_identifier(&format!("ttl({name})"))));
            }
        }
    }
    let token = table.token_expression();
    Ok(format!("SELECT {} FROM {} WHERE {token} > ? AND {token} <= ?", items.join(", "), table.name.cql()))
}

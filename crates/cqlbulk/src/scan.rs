//! The token-range scan engine: plan splits over the ring, send each split's queries to one
//! of its replicas, fail over to the others, and run a bounded number of splits at a time.
//!
//! What is read from a split is up to the caller (a count, a stream of pages), so the
//! engine takes the per-split work as a function of `(node, range)`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cqlbulk_ring::{TokenRange, plan_splits};
use futures::StreamExt;
use rand::seq::SliceRandom;
use scylla::cluster::Node;
use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
use scylla::policies::retry::FallthroughRetryPolicy;
use scylla::statement::prepared::PreparedStatement;

use crate::cluster::ClusterView;
use crate::error::{Error, ErrorKind, Result};
use crate::progress::Progress;

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
}

/// One piece of the ring and the replicas to ask for it, in the order to try them.
#[derive(Clone, Debug)]
pub struct Split {
    pub range: TokenRange,
    /// The node Cassandra's placement puts first; reports group rows by it.
    pub primary: Arc<Node>,
    /// Every replica, preferred datacenter first, shuffled within each group so that
    /// load spreads over nodes.
    pub replicas: Vec<Arc<Node>>,
}

/// The splits of one scan, in the (shuffled) order they are read.
pub struct ScanPlan {
    pub splits: Vec<Split>,
    pub concurrency: usize,
    pub max_attempts: u32,
}

impl ScanPlan {
    pub fn new(view: &ClusterView, config: &ScanConfig) -> Result<ScanPlan> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let node_count = view.nodes.len().max(1);
        let target = config.splits.unwrap_or(8 * node_count * cores).max(1);
        let concurrency = config.concurrency.unwrap_or(node_count * cores).max(1);
        if let Some(dc) = &config.datacenter {
            if !view.nodes.iter().any(|node| node.datacenter.as_ref() == Some(dc)) {
                let mut known: Vec<&str> =
                    view.nodes.iter().filter_map(|n| n.datacenter.as_deref()).collect();
                known.sort_unstable();
                known.dedup();
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "--dc {dc}: no node is in that datacenter; known datacenters: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        let ranges = view.replicated_ranges()?;
        let mut rng = rand::rng();
        let mut splits: Vec<Split> = plan_splits(&ranges, target)
            .into_iter()
            .map(|planned| {
                let nodes = planned.replicas.iter().map(|id| view.node(*id).clone());
                let (mut local, mut remote): (Vec<_>, Vec<_>) = nodes.partition(|node| {
                    config.datacenter.as_ref().is_none_or(|dc| node.datacenter.as_ref() == Some(dc))
                });
                local.shuffle(&mut rng);
                remote.shuffle(&mut rng);
                local.extend(remote);
                Split {
                    range: planned.range,
                    primary: view.node(planned.replicas[0]).clone(),
                    replicas: local,
                }
            })
            .collect();
        // Token order would send neighbouring splits, which share replicas, at once.
        splits.shuffle(&mut rng);
        Ok(ScanPlan { splits, concurrency, max_attempts: config.max_attempts.unwrap_or(6).max(1) })
    }
}

/// What happened to one split.
pub struct SplitReport<T> {
    pub split: Split,
    /// The node that gave the answer (or the last one tried).
    pub served_by: Arc<Node>,
    pub attempts: u32,
    pub result: Result<T>,
}

/// A split's result knows how many rows it covered, for progress.
pub trait RowCount {
    fn rows(&self) -> u64;
}

impl RowCount for u64 {
    fn rows(&self) -> u64 {
        *self
    }
}

/// Runs `read(node, range)` for every split of `plan`, at most `plan.concurrency` at once.
/// A split whose read fails with a retryable error is tried again on its next replica,
/// backing off each time all replicas have been tried; it fails for good after
/// `plan.max_attempts` attempts or on an error that retrying cannot fix. Failed splits are
/// reported, not dropped: the caller decides what a partial result is worth.
pub async fn run<T, F, Fut>(plan: &ScanPlan, progress: &Progress, read: F) -> Vec<SplitReport<T>>
where
    T: RowCount,
    F: Fn(Arc<Node>, TokenRange) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let read = &read;
    futures::stream::iter(plan.splits.iter().cloned())
        .map(|split| async move {
            let report = read_split(split, plan.max_attempts, progress, read).await;
            progress.split_done(&report.split.range, report.result.as_ref().map_or(0, RowCount::rows));
            report
        })
        .buffer_unordered(plan.concurrency)
        .collect()
        .await
}

async fn read_split<T, F, Fut>(
    split: Split,
    max_attempts: u32,
    progress: &Progress,
    read: &F,
) -> SplitReport<T>
where
    F: Fn(Arc<Node>, TokenRange) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        let node = split.replicas[attempt as usize % split.replicas.len()].clone();
        attempt += 1;
        match read(node.clone(), split.range).await {
            Ok(value) => {
                return SplitReport { split, served_by: node, attempts: attempt, result: Ok(value) };
            }
            Err(err) if err.is_retryable() && attempt < max_attempts => {
                tracing::warn!(range = %split.range, node = %node.address, attempt, "retrying: {err}");
                progress.retried();
                // Fail over to the next replica at once; pause only before asking a node
                // that has already failed, so an overloaded cluster gets room to recover.
                if attempt as usize % split.replicas.len() == 0 {
                    let round = attempt / split.replicas.len() as u32;
                    tokio::time::sleep(backoff(round)).await;
                }
            }
            Err(err) => {
                let err = err
                    .context(format!("token range {} on {}, attempt {attempt}", split.range, node.address));
                return SplitReport { split, served_by: node, attempts: attempt, result: Err(err) };
            }
        }
    }
}

/// Pause before the `round`-th pass over a split's replicas: 200 ms doubling, at most 10 s.
fn backoff(round: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << round.min(6))).min(Duration::from_secs(10))
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

/// Errors of failed splits, one line each, for a summary.
pub fn failures<T>(reports: &[SplitReport<T>]) -> Vec<&Error> {
    reports.iter().filter_map(|r| r.result.as_ref().err()).collect()
}

//! A Cassandra table as a stream of Arrow batches: the token-range scan of `unload`, for
//! callers that want the rows rather than files (the Python package's `scan`, and engines
//! that spread [`SplitSpec`]s over their workers and read each with [`TableScan::read`]).
//!
//! Memory stays bounded: batches go through a channel of a few slots, and a split waits
//! for room before it asks its replica for the next page.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use cqlbulk_ring::TokenRange;
use futures::StreamExt;
use scylla::client::session::Session;
use scylla::frame::response::result::ColumnType;
use scylla::statement::prepared::PreparedStatement;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::cluster::{ClusterView, TableName};
use crate::codec::decode::BatchBuilder;
use crate::connect::ConnectionConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::progress::{Progress, Work};
use crate::scan::{self, BATCH_BYTES, BATCH_ROWS, ScanConfig, ScanPlan, Selection};

/// One split of a table's scan, as plain data an engine can ship to a worker (serde, so
/// pickle, JSON or a Spark row carry it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSpec {
    /// Position in token order.
    pub index: usize,
    /// The tokens `(start, end]`.
    pub start: i64,
    pub end: i64,
    /// The replicas' addresses, preferred first: where an engine may place the task.
    pub replicas: Vec<String>,
}

/// An open scan of one table: connected, its query prepared, its splits planned.
pub struct TableScan {
    session: Session,
    view: ClusterView,
    statement: PreparedStatement,
    columns: Vec<(String, ColumnType<'static>)>,
    schema: SchemaRef,
    plan: ScanPlan,
}

impl TableScan {
    /// Connects to the cluster and plans the scan of `table` as `scan` says (split count,
    /// concurrency, datacenter, limits), reading the columns `selection` names.
    pub async fn open(
        connection: &ConnectionConfig,
        table: &TableName,
        selection: &Selection,
        scan: &ScanConfig,
    ) -> Result<TableScan> {
        let session = connection.connect(&table.keyspace).await?;
        let view = ClusterView::read(&session, table).await?;
        let cql = scan::select_cql(&view, selection)?;
        let (statement, columns) = scan::prepare(&session, &view, &cql, connection.page_size).await?;
        let plan = ScanPlan::new(&view, scan)?;
        let schema =
            Arc::new(crate::codec::types::arrow_schema(columns.iter().map(|(n, t)| (n.as_str(), t))));
        Ok(TableScan { session, view, statement, columns, schema, plan })
    }

    /// The schema of every batch (the documented CQL → Arrow mapping).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The planned splits in token order; together they cover the ring once.
    pub fn splits(&self) -> Vec<SplitSpec> {
        let mut splits: Vec<SplitSpec> = self
            .plan
            .splits
            .iter()
            .map(|split| SplitSpec {
                index: split.index,
                start: split.range.start(),
                end: split.range.end(),
                replicas: split.replicas.iter().map(|node| node.address.ip().to_string()).collect(),
            })
            .collect();
        splits.sort_by_key(|split| split.index);
        splits
    }

    /// Reads `splits` (every planned split when `None`), at most the plan's concurrency at
    /// once, into a stream of batches; an error ends the stream. Each split is routed to the
    /// replicas the current topology gives its range, so a split planned elsewhere (another
    /// process, another machine) reads the same rows.
    pub fn read(
        self: Arc<Self>,
        splits: Option<Vec<SplitSpec>>,
    ) -> Result<mpsc::Receiver<Result<RecordBatch>>> {
        let plan = match splits {
            None => None,
            Some(specs) => {
                let mut ranges = Vec::with_capacity(specs.len());
                for spec in specs {
                    let range = TokenRange::new(spec.start, spec.end).ok_or_else(|| {
                        Error::new(
                            ErrorKind::BadInput,
                            format!(
                                "split {}: ({}, {}] is not a token range",
                                spec.index, spec.start, spec.end
                            ),
                        )
                    })?;
                    ranges.push((spec.index, range));
                }
                Some(ScanPlan::for_ranges(&self.view, &self.plan, ranges)?)
            }
        };
        let plan = plan.as_ref().unwrap_or(&self.plan);
        let (splits, concurrency, attempts) = (plan.splits.clone(), plan.concurrency, plan.max_attempts);
        let progress = Arc::new(Progress::new(Work::Ring, splits.len()));
        // Two batches a reader may hold while the others wait: bounded memory.
        let (sender, receiver) = mpsc::channel(2);
        let errors = sender.clone();
        let reads = splits.into_iter().map(move |split| {
            let (scan, progress, sender) = (self.clone(), progress.clone(), sender.clone());
            async move {
                let mut visitor =
                    BatchSender { builder: BatchBuilder::new(&scan.columns), sender, range: split.range };
                scan::read_split(&scan.session, &split, &scan.statement, attempts, &progress, &mut visitor)
                    .await?;
                visitor.flush().await
            }
        });
        tokio::spawn(async move {
            let mut reads = futures::stream::iter(reads).buffer_unordered(concurrency);
            while let Some(result) = reads.next().await {
                if let Err(err) = result {
                    // The reader has gone when this fails: nothing is left to tell.
                    let _ = errors.send(Err(err)).await;
                    return;
                }
            }
        });
        Ok(receiver)
    }
}

/// Rows of a split → Arrow batches → the channel, a batch at a time.
struct BatchSender {
    builder: BatchBuilder,
    sender: mpsc::Sender<Result<RecordBatch>>,
    range: TokenRange,
}

impl BatchSender {
    async fn flush(&mut self) -> Result<()> {
        if self.builder.is_empty() {
            return Ok(());
        }
        let batch = self.builder.finish();
        self.sender
            .send(Ok(batch))
            .await
            .map_err(|_| Error::new(ErrorKind::Interrupted, "the reader of the scan has stopped"))
    }
}

impl scan::PageVisitor for BatchSender {
    fn row(&mut self, values: &[Option<&[u8]>]) -> Result<()> {
        self.builder.append_row(values.iter().copied()).map_err(|e| {
            Error::new(ErrorKind::Query, format!("token range {}: cannot decode a row: {e}", self.range))
        })
    }

    async fn page_done(&mut self) -> Result<()> {
        if self.builder.len() >= BATCH_ROWS || self.builder.bytes() >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }
}

//! The Cassandra sink of `load`: encoded rows → prepared INSERTs (or counter UPDATEs),
//! routed token-aware by the driver, rows of one partition grouped into small unlogged
//! batches, a bounded number of requests in flight, an optional rate limit, and retries
//! with back-off. Overload answers take a request slot away until the cluster keeps up
//! again, so a struggling cluster slows the load down instead of failing it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use scylla::client::session::Session;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::serialize::SerializationError;
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::writers::RowWriter;
use scylla::statement::Consistency;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use tokio::sync::Semaphore;

use crate::connect::one_line;
use crate::progress::Progress;
use crate::throttle::{Limits, Throttle};

/// The values of a chunk's rows, encoded: one byte buffer and, per row and bound column,
/// a range in it (`None`: unset, so no tombstone is written for a missing value).
#[derive(Default)]
pub struct EncodedRows {
    pub data: Vec<u8>,
    pub cells: Vec<Option<(u32, u32)>>,
    pub width: usize,
}

impl EncodedRows {
    pub fn new(width: usize) -> EncodedRows {
        EncodedRows { data: Vec::new(), cells: Vec::new(), width }
    }

    pub fn rows(&self) -> usize {
        self.cells.len() / self.width.max(1)
    }

    pub fn cell(&self, row: usize, column: usize) -> Option<&[u8]> {
        self.cells[row * self.width + column].map(|(start, end)| &self.data[start as usize..end as usize])
    }

    /// The serialized partition key columns of a row: rows with equal keys are one partition.
    pub fn key(&self, row: usize, key_columns: &[usize]) -> Vec<u8> {
        let mut key = Vec::new();
        for &column in key_columns {
            let cell = self.cell(row, column).unwrap_or_default();
            key.extend_from_slice(&(cell.len() as u32).to_be_bytes());
            key.extend_from_slice(cell);
        }
        key
    }

    pub fn push_cell(&mut self, value: Option<&[u8]>) {
        let cell = value.map(|bytes| {
            let start = self.data.len() as u32;
            self.data.extend_from_slice(bytes);
            (start, self.data.len() as u32)
        });
        self.cells.push(cell);
    }

    /// Sets the cell at `index` of `cells` to `bytes`.
    pub fn set_cell(&mut self, index: usize, bytes: &[u8]) {
        let start = self.data.len() as u32;
        self.data.extend_from_slice(bytes);
        self.cells[index] = Some((start, self.data.len() as u32));
    }

    pub fn row_bytes(&self, row: usize) -> usize {
        (0..self.width).map(|c| self.cell(row, c).map_or(0, <[u8]>::len)).sum()
    }
}

/// One row's values as bound to a statement: `bind[i]` is the encoded column of the
/// statement's i-th marker. Hand-written `SerializeRow`: the values are already CQL bytes.
pub struct BoundRow<'a> {
    pub rows: &'a EncodedRows,
    pub row: usize,
    pub bind: &'a [usize],
}

impl SerializeRow for BoundRow<'_> {
    fn serialize(
        &self,
        _ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter,
    ) -> Result<(), SerializationError> {
        for &column in self.bind {
            let cell = writer.make_cell_writer();
            match self.rows.cell(self.row, column) {
                Some(bytes) => {
                    cell.set_value(bytes).map_err(SerializationError::new)?;
                }
                None => {
                    cell.set_unset();
                }
            }
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.bind.is_empty()
    }
}

/// A statement and which encoded columns its markers take.
#[derive(Clone)]
pub struct Statement {
    pub prepared: PreparedStatement,
    pub bind: Arc<Vec<usize>>,
}

#[derive(Clone, Debug)]
pub struct WriteOptions {
    pub consistency: Consistency,
    /// Requests in flight at most (each a row or a batch of one partition's rows).
    pub max_in_flight: usize,
    /// Rows of one partition per unlogged batch, at most.
    pub batch_rows: usize,
    /// Bytes of values per batch, at most (Cassandra warns above 5 KiB by default).
    pub batch_bytes: usize,
    pub max_rows_per_second: Option<f64>,
    /// Attempts per request before its rows count as failed.
    pub max_attempts: u32,
    pub counter: bool,
}

/// Shared by every request of a load: the in-flight limit (which overload lowers), the
/// rate limit, and counters.
pub struct Writer {
    pub session: Arc<Session>,
    pub options: WriteOptions,
    slots: Semaphore,
    /// Slots taken away after overload answers, given back one per 100 successes.
    withheld: AtomicUsize,
    successes: AtomicU64,
    /// Slots removed by `size_for_rows`, never given back.
    withheld_for_size: AtomicUsize,
    pace: Throttle,
    /// Where requests are counted and timed.
    progress: Arc<Progress>,
    pub retries: AtomicU64,
    pub overloads: AtomicU64,
}

/// Why a request's rows could not be written.
pub struct WriteFailure {
    pub reason: String,
    /// The cluster could not take the rows (unavailable replicas, timeouts) through every
    /// attempt; a later run may. Otherwise the rows themselves were refused.
    pub retryable: bool,
}

impl Writer {
    pub fn new(session: Arc<Session>, options: WriteOptions, progress: Arc<Progress>) -> Writer {
        let pace =
            Throttle::new(Limits { max_rows_per_second: options.max_rows_per_second, ..Limits::default() });
        Writer {
            session,
            slots: Semaphore::new(options.max_in_flight.max(1)),
            options,
            withheld: AtomicUsize::new(0),
            successes: AtomicU64::new(0),
            withheld_for_size: AtomicUsize::new(0),
            pace,
            progress,
            retries: AtomicU64::new(0),
            overloads: AtomicU64::new(0),
        }
    }

    /// Writes `rows` (all of one partition when more than one) with `statement`, retrying
    /// what may succeed later.
    pub async fn write(
        &self,
        statement: &Statement,
        rows: &EncodedRows,
        members: &[usize],
    ) -> Result<(), WriteFailure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace.pace(members.len() as u64, 0).await;
            let permit = self.slots.acquire().await.expect("the semaphore is never closed");
            let started = self.progress.request_started();
            let result = self.send(statement, rows, members).await;
            self.progress.request_finished(started, result.is_ok());
            match result {
                Ok(()) => {
                    drop(permit);
                    if self.successes.fetch_add(1, Ordering::Relaxed) % 100 == 99 {
                        self.give_back_slot();
                    }
                    return Ok(());
                }
                Err(err) => {
                    let overloaded = is_overload(&err);
                    let in_use = self.options.max_in_flight - self.withheld_for_size.load(Ordering::Relaxed);
                    if overloaded && self.withheld.load(Ordering::Relaxed) + 1 < in_use {
                        // Keep this slot out of use: fewer requests in flight from now on.
                        permit.forget();
                        self.withheld.fetch_add(1, Ordering::Relaxed);
                        self.overloads.fetch_add(1, Ordering::Relaxed);
                    } else {
                        drop(permit);
                    }
                    let retryable = is_retryable(&err);
                    if !retryable || attempt >= self.options.max_attempts {
                        let reason = one_line(&err);
                        return Err(WriteFailure {
                            reason: if attempt > 1 {
                                format!("{reason} (after {attempt} attempts)")
                            } else {
                                reason
                            },
                            retryable,
                        });
                    }
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(crate::retry::Backoff::WRITE.delay(attempt)).await;
                }
            }
        }
    }

    async fn send(
        &self,
        statement: &Statement,
        rows: &EncodedRows,
        members: &[usize],
    ) -> Result<(), ExecutionError> {
        if let [row] = members {
            let values = BoundRow { rows, row: *row, bind: &statement.bind };
            self.session.execute_unpaged(&statement.prepared, values).await?;
            return Ok(());
        }
        let kind = if self.options.counter { BatchType::Counter } else { BatchType::Unlogged };
        let mut batch = Batch::new(kind);
        batch.set_consistency(self.options.consistency);
        batch.set_is_idempotent(!self.options.counter);
        let values: Vec<BoundRow> = members
            .iter()
            .map(|&row| {
                batch.append_statement(statement.prepared.clone());
                BoundRow { rows, row, bind: &statement.bind }
            })
            .collect();
        self.session.batch(&batch, values).await?;
        Ok(())
    }

    /// Sizes the request slots for rows of about `row_bytes` (when no --max-concurrent-requests
    /// was given): about 1 MiB of values in flight, between 8 and `max_in_flight` requests,
    /// so 10 KB rows do not pile up on a small cluster while small rows keep it busy.
    pub fn size_for_rows(&self, row_bytes: usize) {
        let wanted = ((1 << 20) / row_bytes.max(1)).clamp(8, self.options.max_in_flight);
        let surplus = self.options.max_in_flight - wanted;
        let taken = self.slots.forget_permits(surplus);
        self.withheld_for_size.store(taken, Ordering::Relaxed);
    }

    fn give_back_slot(&self) {
        let withheld = self.withheld.load(Ordering::Relaxed);
        if withheld > 0
            && self
                .withheld
                .compare_exchange(withheld, withheld - 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.slots.add_permits(1);
        }
    }
}

fn is_overload(err: &ExecutionError) -> bool {
    matches!(
        err,
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            DbError::Overloaded | DbError::RateLimitReached { .. } | DbError::WriteTimeout { .. },
            _
        ))
    )
}

/// Inserts are idempotent: whatever may have been a passing fault is tried again.
fn is_retryable(err: &ExecutionError) -> bool {
    crate::connect::request_error(err.clone()).is_retryable()
}

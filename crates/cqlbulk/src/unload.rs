//! Unload: a token-range scan of a table into Arrow batches, written by a sink, with every
//! finished split recorded so that a resumed run writes each row exactly once.

use std::collections::HashSet;
use std::fs;
use std::sync::Arc;

use cqlbulk_ring::TokenRange;
use scylla::client::session::Session;
use scylla::frame::response::result::ColumnType;
use scylla::statement::prepared::PreparedStatement;

use crate::cluster::{ClusterView, quote_identifier};
use crate::connect::one_line;
use crate::decode::BatchBuilder;
use crate::error::{Error, ErrorKind, Result};
use crate::operation::{Operation, SplitDone};
use crate::progress::Progress;
use crate::scan::{self, ScanPlan, Split};
use crate::sink::Destination;

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
const BATCH_ROWS: usize = 8192;
const BATCH_BYTES: usize = 8 << 20;

/// The CQL of the per-split query, with two `?` for the token bounds.
pub fn select_cql(view: &ClusterView, selection: &Selection) -> Result<String> {
    let table = &view.table;
    if let Some(query) = &selection.query {
        if !(query.contains(":start") && query.contains(":end")) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
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
                        ErrorKind::InvalidInput,
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

/// The prepared per-split query and the columns it returns.
pub async fn prepare(
    session: &Session,
    view: &ClusterView,
    cql: &str,
    page_size: i32,
) -> Result<(PreparedStatement, Vec<(String, ColumnType<'static>)>)> {
    let mut statement = session.prepare(cql).await.map_err(|e| {
        Error::new(ErrorKind::InvalidInput, format!("cannot prepare `{cql}`: {}", one_line(&e)))
            .context(&view.table.name)
    })?;
    if statement.get_variable_col_specs().len() != 2 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
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

/// The outcome of an unload.
pub struct UnloadReport {
    /// Every finished split, from this and earlier attempts.
    pub done: Vec<SplitDone>,
    pub failures: Vec<Error>,
}

impl UnloadReport {
    pub fn rows(&self) -> u64 {
        self.done.iter().map(|d| d.rows).sum()
    }

    pub fn files(&self) -> usize {
        self.done.iter().map(|d| d.files.len()).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.done.iter().flat_map(|d| &d.files).map(|f| f.bytes).sum()
    }
}

/// Reads every split of `plan` not yet in `operation.done` and writes it to `destination`.
pub async fn unload(
    session: &Session,
    plan: &ScanPlan,
    statement: &PreparedStatement,
    columns: &[(String, ColumnType<'static>)],
    destination: &Destination,
    operation: &Operation,
    progress: &Progress,
) -> UnloadReport {
    let attempts = plan.max_attempts;
    let reports = scan::run(plan, progress, |split| async move {
        let index = split.index;
        let mut visitor = UnloadVisitor {
            sink: destination.split_sink(index),
            builder: BatchBuilder::new(columns),
            range: split.range,
        };
        scan::read_split(session, split, statement, attempts, progress, &mut visitor).await?;
        let UnloadVisitor { mut sink, mut builder, .. } = visitor;
        let in_range = |e: Error| e.context(format!("token range {}", split.range));
        if !builder.is_empty() {
            sink.write(&builder.finish()).await.map_err(in_range)?;
        }
        let output = sink.commit().await.map_err(in_range)?;
        progress.add_bytes(output.files.iter().map(|f| f.bytes).sum());
        let done = SplitDone {
            split: index,
            start: split.range.start(),
            end: split.range.end(),
            rows: output.rows,
            files: output.files,
            data_files: output.data_files,
        };
        operation.record(&done)?;
        Ok(done)
    })
    .await;

    let mut done = operation.done.clone();
    let mut failures = Vec::new();
    for report in reports {
        match report.result {
            Ok(split) => done.push(split),
            Err(err) => {
                operation.log(&format!("split {} {} failed: {err}", report.split.index, report.split.range));
                failures.push(err);
            }
        }
    }
    done.sort_by_key(|d| d.split);
    UnloadReport { done, failures }
}

/// Rows of a split → Arrow batches → the split's sink.
struct UnloadVisitor<'a> {
    sink: crate::sink::SplitSink<'a>,
    builder: BatchBuilder,
    range: TokenRange,
}

impl scan::PageVisitor for UnloadVisitor<'_> {
    fn row(&mut self, values: &[Option<&[u8]>]) -> Result<()> {
        self.builder.append_row(values.iter().copied()).map_err(|e| {
            Error::new(ErrorKind::Query, format!("token range {}: cannot decode a row: {e}", self.range))
        })
    }

    async fn page_done(&mut self) -> Result<()> {
        if self.builder.len() >= BATCH_ROWS || self.builder.bytes() >= BATCH_BYTES {
            self.sink
                .write(&self.builder.finish())
                .await
                .map_err(|e| e.context(format!("token range {}", self.range)))?;
        }
        Ok(())
    }
}

/// Before a resumed run writes anything: removes this run's files that no finished split
/// claims (temporary files, or files renamed just before a crash kept the checkpoint from
/// recording them), so the output ends with each row exactly once.
pub fn remove_unrecorded_files(layout: &crate::sink::FileLayout, done: &[SplitDone]) -> Result<usize> {
    let recorded: HashSet<&str> = done.iter().flat_map(|d| d.files.iter().map(|f| f.name.as_str())).collect();
    let entries = match fs::read_dir(&layout.dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::new(ErrorKind::InvalidInput, format!("{}: {e}", layout.dir.display()))),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if layout.is_run_file(&name) && !recorded.contains(name.as_str()) {
            fs::remove_file(entry.path()).map_err(|e| {
                Error::new(ErrorKind::InvalidInput, format!("{}: {e}", entry.path().display()))
            })?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Splits to read on resume: the recorded ranges not yet finished, each routed to the
/// replicas the current topology gives it (any coordinator would be correct; a replica
/// saves a hop).
pub fn resume_plan(
    view: &ClusterView,
    base: &ScanPlan,
    ranges: &[TokenRange],
    done: &[SplitDone],
) -> Result<ScanPlan> {
    let finished: HashSet<usize> = done.iter().map(|d| d.split).collect();
    let current = view.replicated_ranges()?;
    let mut splits = Vec::new();
    for (index, range) in ranges.iter().enumerate() {
        if finished.contains(&index) {
            continue;
        }
        let mut replicas: Vec<Arc<scylla::cluster::Node>> = Vec::new();
        for owner in current.iter().filter(|r| r.range.start() < range.end() && range.start() < r.range.end())
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
            .ok_or_else(|| Error::new(ErrorKind::Metadata, format!("no replica for {range}")))?;
        splits.push(Split { index, range: *range, primary, replicas });
    }
    Ok(ScanPlan { splits, concurrency: base.concurrency, max_attempts: base.max_attempts })
}

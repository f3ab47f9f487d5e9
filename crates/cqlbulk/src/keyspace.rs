//! Whole keyspaces: `unload -k KS` and `load -k KS` without `-t` run the table job for
//! every table of the keyspace, one after another, under one operation directory
//! (`keyspace-<ks>-<time>`) that holds each table's own operation. Resuming it skips the
//! tables recorded complete, resumes the one a crash interrupted from its own operation,
//! and starts the rest. Materialized views (derived from their base tables) and system
//! keyspaces are skipped with a line saying so.

use std::future::Future;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorKind, Result};
use crate::operation::{Operation, Spec};
use crate::storage::Place;

/// What a keyspace operation's `operation.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyspaceSpec {
    pub operation_id: String,
    pub run_id: String,
    /// `unload` or `load`.
    pub command: String,
    pub keyspace: String,
    /// The tables, in the order they run.
    pub tables: Vec<String>,
    /// Where the tables go (or come from), as the run was given it.
    pub target: String,
}

impl Spec for KeyspaceSpec {
    const VERB: &'static str = "keyspace";
    type Done = TableOutcome;

    fn keyspace(&self) -> &str {
        &self.keyspace
    }

    fn table(&self) -> &str {
        ""
    }

    fn set_ids(&mut self, operation_id: String, run_id: String) {
        self.operation_id = operation_id;
        self.run_id = run_id;
    }

    fn operation_id(&self) -> &str {
        &self.operation_id
    }

    fn contains(&self, done: &TableOutcome) -> bool {
        self.tables.contains(&done.table)
    }
}

/// What one table's job did: a record of the keyspace operation's checkpoint, and a line
/// of its summary.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableOutcome {
    pub table: String,
    /// `complete`, or the job's own status (`failed`, `complete with errors`, …).
    pub status: String,
    pub rows: u64,
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a keyspace run did: `summary.json` of its operation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyspaceSummary {
    pub operation: String,
    pub command: String,
    pub keyspace: String,
    /// Every table, in order: done now or by an earlier attempt.
    pub tables: Vec<TableOutcome>,
    /// Skipped, with why (`orders_by_day: a materialized view`).
    pub skipped: Vec<String>,
    pub rows: u64,
    pub elapsed_seconds: f64,
    /// The keyspace operation: give it to `--resume`.
    #[serde(skip)]
    pub operation_dir: String,
}

impl KeyspaceSummary {
    /// Tables whose job did not complete.
    pub fn failed(&self) -> impl Iterator<Item = &TableOutcome> {
        self.tables.iter().filter(|t| t.status != "complete")
    }
}

/// The tables of `keyspace`, and its views as skipped lines; a system keyspace has nothing
/// to move.
pub async fn tables_of(
    session: &scylla::client::session::Session,
    keyspace: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    if is_system_keyspace(keyspace) {
        return Ok((Vec::new(), Vec::new()));
    }
    let (tables, views) = crate::schema::list_keyspace(session, keyspace).await?;
    Ok((
        tables,
        views
            .into_iter()
            .map(|v| format!("{v}: a materialized view (derived from its base table)"))
            .collect(),
    ))
}

/// The one-line error for options that name one table's columns.
pub fn needs_table(what: &str) -> Error {
    Error::new(
        ErrorKind::BadInput,
        format!(
            "{what} names one table's columns: give -t TABLE (without -t every table of the keyspace is moved)"
        ),
    )
}

/// Cassandra's own keyspaces: never exported or loaded as a whole.
pub fn is_system_keyspace(keyspace: &str) -> bool {
    matches!(
        keyspace,
        "system"
            | "system_schema"
            | "system_auth"
            | "system_distributed"
            | "system_traces"
            | "system_views"
            | "system_virtual_schema"
            | "system_cluster_metadata"
    )
}

/// How one table's job is run: with the keyspace operation's place as its log directory
/// and, when resuming, its own earlier operation.
pub struct TableRun {
    pub table: String,
    pub log_dir: Place,
    pub resume: Option<Place>,
}

/// Runs `job` for each of `tables` under a keyspace operation in `log_dir` (or resumes the
/// one `resume` names), recording each table as it ends; what is skipped is in the
/// summary's `skipped`. A table's failure is recorded and the next table runs; an
/// interruption stops at once.
#[allow(clippy::too_many_arguments)]
pub async fn run_tables<F, Fut>(
    command: &str,
    keyspace: &str,
    tables: Vec<String>,
    skipped: Vec<String>,
    target: String,
    log_dir: &Place,
    resume: Option<&Place>,
    cancel: &CancellationToken,
    mut job: F,
) -> Result<KeyspaceSummary>
where
    F: FnMut(TableRun) -> Fut,
    Fut: Future<Output = Result<TableOutcome>>,
{
    let started = std::time::Instant::now();
    let mut skipped = skipped;
    if is_system_keyspace(keyspace) {
        skipped.push(format!("{keyspace}: a system keyspace"));
    }
    let operation = match resume {
        None => {
            let spec = KeyspaceSpec {
                operation_id: String::new(),
                run_id: String::new(),
                command: command.to_string(),
                keyspace: keyspace.to_string(),
                tables,
                target: target.clone(),
            };
            Operation::create(log_dir, spec).await?
        }
        Some(at) => {
            let operation = Operation::<KeyspaceSpec>::resume(at).await?;
            let spec = &operation.spec;
            if spec.command != command || spec.keyspace != keyspace || spec.target != target {
                return Err(Error::new(
                    ErrorKind::BadInput,
                    format!(
                        "--resume {}: that operation is `{} -k {}` to {}; give the same command, keyspace and target",
                        at.describe(),
                        spec.command,
                        spec.keyspace,
                        spec.target
                    ),
                ));
            }
            operation
        }
    };
    for line in &skipped {
        operation.log(&format!("skipped {line}"));
    }
    let place = operation.place()?;
    let children = place.child_names().await?;
    let mut outcomes = Vec::new();
    for table in operation.spec.tables.clone() {
        let earlier = operation.done.iter().rev().find(|d| d.table == table);
        if let Some(done) = earlier.filter(|d| d.status == "complete") {
            outcomes.push(done.clone());
            continue;
        }
        if cancel.is_cancelled() {
            break;
        }
        // The table's own operation from an earlier attempt, if it got that far.
        let own = table_operation(&children, command, keyspace, &table)
            .map(|name| place.child(&name))
            .transpose()?;
        operation.log(&format!("{table}: {}", if own.is_some() { "resume" } else { "start" }));
        let outcome = match job(TableRun { table: table.clone(), log_dir: place.clone(), resume: own }).await
        {
            Ok(outcome) => outcome,
            Err(err) if err.kind() == ErrorKind::Interrupted => {
                operation.log(&format!("{table}: interrupted"));
                return Err(err.context(format!(
                    "keyspace {keyspace}: resume every table with --resume {}",
                    operation.location()
                )));
            }
            Err(err) => TableOutcome {
                table: table.clone(),
                status: "failed".into(),
                rows: 0,
                operation: String::new(),
                error: Some(err.to_string()),
            },
        };
        operation.log(&format!("{table}: {} ({} rows)", outcome.status, outcome.rows));
        operation.record(&outcome).await?;
        outcomes.push(outcome);
    }
    let summary = KeyspaceSummary {
        operation: operation.spec.operation_id.clone(),
        command: command.to_string(),
        keyspace: keyspace.to_string(),
        rows: outcomes.iter().map(|t| t.rows).sum(),
        tables: outcomes,
        skipped,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        operation_dir: operation.location(),
    };
    operation.write_summary(&summary).await?;
    Ok(summary)
}

/// The newest operation of `table` among `children` (`unload-ks.t-20261201-101500-ab12`):
/// the name must be exactly the table's, so `t` does not take `t-2`'s.
fn table_operation(children: &[String], command: &str, keyspace: &str, table: &str) -> Option<String> {
    let prefix = format!("{command}-{keyspace}.{table}-");
    children
        .iter()
        .filter(|name| {
            name.strip_prefix(&prefix).is_some_and(|stamp| {
                let parts: Vec<&str> = stamp.split('-').collect();
                matches!(parts.as_slice(), [date, time, suffix]
                    if date.len() == 8 && time.len() == 6 && suffix.len() == 4
                        && date.chars().chain(time.chars()).all(|c| c.is_ascii_digit()))
            })
        })
        .max()
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What: a table's operation is found by its exact name, the newest when there are
    /// several, and never another table's whose name starts the same. Why: resuming the
    /// wrong table's operation would write one table's rows as another's.
    #[test]
    fn a_table_finds_its_own_operation() {
        let children: Vec<String> = [
            "unload-ks.t-2-20261201-101500-ab12",
            "unload-ks.t-20261201-101500-ab12",
            "unload-ks.t-20261201-111500-cd34",
            "load-ks.t-20261201-121500-ef56",
            "operation.json",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            table_operation(&children, "unload", "ks", "t").as_deref(),
            Some("unload-ks.t-20261201-111500-cd34")
        );
        assert_eq!(
            table_operation(&children, "unload", "ks", "t-2").as_deref(),
            Some("unload-ks.t-2-20261201-101500-ab12")
        );
        assert_eq!(table_operation(&children, "unload", "ks", "u"), None);
    }
}

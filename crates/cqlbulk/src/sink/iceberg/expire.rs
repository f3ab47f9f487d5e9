//! `cqlbulk iceberg expire`: removes old snapshots of a table through the catalog, then
//! deletes the files only they referenced.
//!
//! Which snapshots go is iceberg-rust's `ExpireSnapshotsAction` (Java's `RemoveSnapshots`
//! rules: the current snapshot and branch heads stay, each branch keeps its `retain_last`
//! newest). It only rewrites metadata, so the files are ours to delete, and only after the
//! catalog accepted the commit: a file is deleted when an expired snapshot reached it and no
//! snapshot the catalog kept does (manifest lists, manifests, data and delete files of any
//! status, statistics). Writers that commit meanwhile build on the current snapshot, which
//! is never expired, so they cannot need a deleted file.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use iceberg::spec::{ManifestFile, SnapshotRef};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use serde::Serialize;

use crate::catalog::{self, CatalogConfig};
use crate::error::{Error, ErrorKind, Result};

/// What expiring did.
#[derive(Debug, Default, Serialize)]
pub struct ExpireSummary {
    pub expired_snapshots: Vec<i64>,
    pub kept_snapshots: usize,
    pub deleted_data_files: usize,
    pub deleted_manifests: usize,
    pub deleted_manifest_lists: usize,
    pub deleted_statistics_files: usize,
}

/// Expires the snapshots of `namespace.table` older than `older_than_ms` (milliseconds since
/// the epoch), keeping at least `retain_last` per branch, and deletes what only they used.
pub async fn expire(
    config: &CatalogConfig,
    namespace: &str,
    table: &str,
    older_than_ms: i64,
    retain_last: Option<usize>,
) -> Result<ExpireSummary> {
    let catalog = config.open().await?;
    let ident = catalog::table_ident(namespace, table)?;
    let context = format!("{} table {ident}", config.describe());
    let err = |e| catalog::catalog_error(&context, e);
    if retain_last == Some(0) {
        return Err(Error::new(
            ErrorKind::BadInput,
            "--retain-last must be at least 1 (the current snapshot)",
        ));
    }
    let before = catalog.load_table(&ident).await.map_err(err)?;
    let tx = Transaction::new(&before);
    let mut action = tx.expire_snapshots().expire_older_than_ms(older_than_ms);
    if let Some(n) = retain_last {
        action = action.retain_last(n);
    }
    let tx = action.apply(tx).map_err(err)?;
    let after = tx.commit(catalog.as_ref()).await.map_err(err)?;

    let kept: HashSet<i64> = after.metadata().snapshots().map(|s| s.snapshot_id()).collect();
    let expired: Vec<SnapshotRef> =
        before.metadata().snapshots().filter(|s| !kept.contains(&s.snapshot_id())).cloned().collect();
    let mut summary = ExpireSummary {
        expired_snapshots: expired.iter().map(|s| s.snapshot_id()).collect(),
        kept_snapshots: kept.len(),
        ..ExpireSummary::default()
    };
    if expired.is_empty() {
        return Ok(summary);
    }
    let live_snapshots: Vec<SnapshotRef> = after.metadata().snapshots().cloned().collect();
    let live = Reachable::of(&after, &live_snapshots).await.map_err(err)?;
    let dead = Reachable::of(&before, &expired).await.map_err(err)?;
    let statistics = |table: &Table| -> Vec<String> {
        let metadata = table.metadata();
        let table_level = metadata.statistics_iter().map(|s| s.statistics_path.clone());
        table_level.chain(metadata.partition_statistics_iter().map(|s| s.statistics_path.clone())).collect()
    };
    let live_statistics: HashSet<String> = statistics(&after).into_iter().collect();
    let dead_statistics: Vec<String> =
        statistics(&before).into_iter().filter(|p| !live_statistics.contains(p)).collect();

    // The catalog no longer lists the expired snapshots, so no reader reaches these files;
    // a run stopped halfway leaves some unreferenced files behind, nothing broken.
    let io = after.file_io();
    let data: Vec<String> = dead.data_files.difference(&live.data_files).cloned().collect();
    let manifests: Vec<String> = dead.manifests.difference(&live.manifests).cloned().collect();
    let lists: Vec<String> = dead.manifest_lists.difference(&live.manifest_lists).cloned().collect();
    summary.deleted_data_files = data.len();
    summary.deleted_manifests = manifests.len();
    summary.deleted_manifest_lists = lists.len();
    summary.deleted_statistics_files = dead_statistics.len();
    for paths in [data, manifests, lists, dead_statistics] {
        io.delete_stream(futures::stream::iter(paths)).await.map_err(err)?;
    }
    Ok(summary)
}

/// Every file some snapshots reach.
#[derive(Default)]
struct Reachable {
    manifest_lists: HashSet<String>,
    manifests: HashSet<String>,
    data_files: HashSet<String>,
}

impl Reachable {
    async fn of(table: &Table, snapshots: &[SnapshotRef]) -> iceberg::Result<Reachable> {
        let mut reachable = Reachable::default();
        // Snapshots share manifests: each is read once.
        let mut manifests: HashMap<String, ManifestFile> = HashMap::new();
        for snapshot in snapshots {
            reachable.manifest_lists.insert(snapshot.manifest_list().to_string());
            let list = table.manifest_list_reader(snapshot).load().await?;
            for manifest in list.entries() {
                manifests.entry(manifest.manifest_path.clone()).or_insert_with(|| manifest.clone());
            }
        }
        let io = table.file_io();
        let mut loads = futures::stream::iter(manifests.into_values().map(|m| async move {
            let path = m.manifest_path.clone();
            m.load_manifest(io).await.map(|manifest| (path, manifest))
        }))
        .buffer_unordered(8);
        while let Some(loaded) = loads.next().await {
            let (path, manifest) = loaded?;
            reachable.manifests.insert(path);
            for entry in manifest.entries() {
                reachable.data_files.insert(entry.data_file().file_path().to_string());
            }
        }
        Ok(reachable)
    }
}

//! `--mode replace`: the run's one snapshot holds exactly the run's own data files, an
//! overwrite of the whole table whose parent (the snapshot it replaced) stays for time travel.
//!
//! apache `iceberg` 0.10.1 has only fast-append, and a `TableCommit` cannot be built outside
//! that crate, so the snapshot is built here from the crate's public writers (manifest,
//! manifest list, snapshot, table metadata) and committed through each catalog's own
//! protocol, with the requirement every Iceberg writer sends: `main` still points at the
//! snapshot this one was built on.
//! - REST: the table's commit endpoint, the same request iceberg-catalog-rest sends.
//! - SQL: the new metadata file, then the compare-and-swap of `metadata_location` the JDBC
//!   catalog (and iceberg-catalog-sql) commit with.
//!
//! Another writer committing first is a conflict: the snapshot is built again on the new
//! current one. A commit whose outcome is unknown (the REST server failed mid-request) is
//! settled on the next attempt by the run id in the table's snapshots, so it never lands twice.

use std::collections::HashMap;
use std::str::FromStr;

use iceberg::spec::{
    DataFile, FormatVersion, MAIN_BRANCH, ManifestListWriter, ManifestWriterBuilder, Operation, Snapshot,
    SnapshotReference, SnapshotRetention, SnapshotSummaryCollector, Summary,
};
use iceberg::table::Table;
use iceberg::{Catalog, MetadataLocation, TableIdent, TableRequirement, TableUpdate};
use iceberg_catalog_rest::CommitTableRequest;
use uuid::Uuid;

use super::table::{Committed, committed_snapshot};
use crate::catalog::{self, CatalogConfig, SqlDatabase};
use crate::error::{Error, ErrorKind, Result};
use crate::retry::Backoff;

/// Commits with conflicts in between before the replace gives up.
const MAX_ATTEMPTS: u32 = 10;
const CONFLICT_BACKOFF: Backoff =
    Backoff { first: std::time::Duration::from_millis(100), max: std::time::Duration::from_secs(5) };

/// Commits `files` as the table's whole content, once: if run `run_id` is already among the
/// table's snapshots, nothing is committed.
pub async fn commit_replace(
    config: &CatalogConfig,
    catalog: &dyn Catalog,
    ident: &TableIdent,
    run_id: &str,
    files: Vec<DataFile>,
    properties: HashMap<String, String>,
) -> Result<Committed> {
    let context = format!("replace the content of {ident}");
    let err = |e| catalog::catalog_error(&context, e);
    let mut attempt = 1;
    loop {
        let table = catalog.load_table(ident).await.map_err(err)?;
        if let Some(snapshot_id) = committed_snapshot(&table, run_id) {
            return Ok(Committed::Already { snapshot_id });
        }
        let staged = Staged::write(&table, &files, &properties).await.map_err(err)?;
        let snapshot_id = staged.snapshot_id;
        let outcome = match config {
            CatalogConfig::Sql { database, name, .. } => sql_commit(database, name, &table, staged).await,
            CatalogConfig::Rest { .. } => rest_commit(config, &table, staged).await,
        };
        match outcome {
            Ok(Outcome::Committed) => return Ok(Committed::New { snapshot_id }),
            Ok(outcome) if attempt < MAX_ATTEMPTS => {
                tracing::info!("{context}: attempt {attempt}: {}; trying again", outcome.describe());
                tokio::time::sleep(CONFLICT_BACKOFF.delay(attempt)).await;
                attempt += 1;
            }
            Ok(outcome) => {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "{context}: none of {MAX_ATTEMPTS} attempts committed (the last: {}); \
                         run again with --resume when the other writers are done",
                        outcome.describe()
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

/// How a commit request ended, when it did not fail outright.
enum Outcome {
    Committed,
    /// Another writer moved the table on first; nothing of this attempt is in the table.
    Conflict,
    /// The catalog failed in a way that leaves unknown whether the commit happened.
    Unknown(String),
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Outcome::Committed => "committed".to_string(),
            Outcome::Conflict => "another writer committed first".to_string(),
            Outcome::Unknown(why) => format!("the catalog's answer leaves the outcome unknown: {why}"),
        }
    }
}

/// A snapshot holding only the run's files, written (manifest and manifest list) but not
/// yet committed, with the metadata changes and requirements that commit it.
struct Staged {
    snapshot_id: i64,
    updates: Vec<TableUpdate>,
    requirements: Vec<TableRequirement>,
    /// The files this attempt wrote: removed when the commit surely did not take them.
    written: Vec<String>,
}

impl Staged {
    async fn write(
        table: &Table,
        files: &[DataFile],
        properties: &HashMap<String, String>,
    ) -> iceberg::Result<Staged> {
        let metadata = table.metadata();
        if metadata.format_version() != FormatVersion::V2 {
            return Err(iceberg::Error::new(
                iceberg::ErrorKind::FeatureUnsupported,
                format!(
                    "the table is Iceberg format {}; --mode replace writes format 2 tables (the format cqlbulk \
                     creates): export to a new table or use --mode append",
                    metadata.format_version()
                ),
            ));
        }
        let snapshot_id = unique_snapshot_id(table);
        let sequence_number = metadata.next_sequence_number();
        let parent = metadata.current_snapshot_id();
        let commit_id = Uuid::new_v4();
        let schema = metadata.current_schema().clone();
        let spec = metadata.default_partition_spec().clone();
        let mut written = Vec::new();

        let mut manifests = Vec::new();
        if !files.is_empty() {
            let path = format!("{}/metadata/{commit_id}-m0.avro", metadata.location());
            let mut writer = ManifestWriterBuilder::new(
                table.file_io().new_output(&path)?,
                Some(snapshot_id),
                schema.clone(),
                spec.as_ref().clone(),
            )
            .build_v2_data();
            for file in files {
                writer.add_file(file.clone(), sequence_number)?;
            }
            written.push(path);
            manifests.push(writer.write_manifest_file().await?);
        }
        let list_path = format!("{}/metadata/snap-{snapshot_id}-0-{commit_id}.avro", metadata.location());
        let mut list = ManifestListWriter::v2(
            table.file_io().new_output(&list_path)?.writer().await?,
            snapshot_id,
            parent,
            sequence_number,
        );
        list.add_manifests(manifests.into_iter())?;
        written.push(list_path.clone());
        list.close().await?;

        let mut collector = SnapshotSummaryCollector::default();
        for file in files {
            collector.add_file(file, schema.clone(), spec.clone());
        }
        let mut summary = properties.clone();
        summary.extend(collector.build());
        let previous = metadata.current_snapshot().map(|s| s.summary().additional_properties.clone());
        replaced_totals(&mut summary, &previous.unwrap_or_default());

        let snapshot = Snapshot::builder()
            .with_snapshot_id(snapshot_id)
            .with_parent_snapshot_id(parent)
            .with_sequence_number(sequence_number)
            .with_timestamp_ms(chrono_now_millis())
            .with_manifest_list(list_path)
            .with_summary(Summary { operation: Operation::Overwrite, additional_properties: summary })
            .with_schema_id(metadata.current_schema_id())
            .build();
        Ok(Staged {
            snapshot_id,
            updates: vec![
                TableUpdate::AddSnapshot { snapshot },
                TableUpdate::SetSnapshotRef {
                    ref_name: MAIN_BRANCH.to_string(),
                    reference: SnapshotReference::new(
                        snapshot_id,
                        SnapshotRetention::branch(None, None, None),
                    ),
                },
            ],
            requirements: vec![
                TableRequirement::UuidMatch { uuid: metadata.uuid() },
                TableRequirement::RefSnapshotIdMatch { r#ref: MAIN_BRANCH.to_string(), snapshot_id: parent },
            ],
            written,
        })
    }

    /// Deletes what this attempt wrote; the commit surely did not take it.
    async fn discard(&self, table: &Table) {
        let _ = table.file_io().delete_stream(futures::stream::iter(self.written.clone())).await;
    }
}

/// The summary's `total-*` figures of a snapshot that replaced everything: the totals are
/// what it added, and what the replaced snapshot held is deleted (the Java implementation's
/// figures for an overwrite of the whole table).
fn replaced_totals(summary: &mut HashMap<String, String>, previous: &HashMap<String, String>) {
    let figure = |map: &HashMap<String, String>, key: &str| {
        map.get(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    for (removed, total) in [
        ("deleted-data-files", "total-data-files"),
        ("deleted-records", "total-records"),
        ("removed-files-size", "total-files-size"),
        ("removed-delete-files", "total-delete-files"),
        ("removed-position-deletes", "total-position-deletes"),
        ("removed-equality-deletes", "total-equality-deletes"),
    ] {
        let before = figure(previous, total);
        if before > 0 {
            summary.insert(removed.to_string(), before.to_string());
        }
    }
    for (added, total) in [
        ("added-data-files", "total-data-files"),
        ("added-records", "total-records"),
        ("added-files-size", "total-files-size"),
        ("added-delete-files", "total-delete-files"),
        ("added-position-deletes", "total-position-deletes"),
        ("added-equality-deletes", "total-equality-deletes"),
    ] {
        let now = figure(summary, added);
        summary.insert(total.to_string(), now.to_string());
    }
}

fn unique_snapshot_id(table: &Table) -> i64 {
    loop {
        let (high, low) = Uuid::new_v4().as_u64_pair();
        let id = ((high ^ low) >> 1) as i64;
        if id != 0 && table.metadata().snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

fn chrono_now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The SQL catalog's commit: a new metadata file, then `metadata_location` swapped from the
/// file this snapshot was built on to the new one, in one UPDATE that changes nothing if
/// another writer swapped it first.
async fn sql_commit(
    database: &SqlDatabase,
    catalog_name: &str,
    table: &Table,
    staged: Staged,
) -> Result<Outcome> {
    let ident = table.identifier();
    let context = format!("replace the content of {ident}");
    let err = |e| catalog::catalog_error(&context, e);
    let current = table.metadata_location_result().map_err(err)?.to_string();
    let mut builder = table.metadata().clone().into_builder(Some(current.clone()));
    for update in staged.updates.clone() {
        builder = update.apply(builder).map_err(err)?;
    }
    let metadata = builder.build().map_err(err)?.metadata;
    let location =
        MetadataLocation::from_str(&current).map_err(err)?.with_next_version().with_new_metadata(&metadata);
    metadata.write_to(table.file_io(), &location).await.map_err(err)?;
    let new = location.to_string();

    let db_error =
        |e: sqlx::Error| Error::new(ErrorKind::Catalog, format!("{context}: catalog database: {e}"));
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&database.uri())
        .await
        .map_err(db_error)?;
    let placeholders: Vec<String> = match database {
        SqlDatabase::Sqlite(_) => vec!["?".to_string(); 6],
        SqlDatabase::Postgres(_) => (1..=6).map(|n| format!("${n}")).collect(),
    };
    let [new_at, old_at, name_at, table_at, namespace_at, expected_at] = &placeholders[..] else {
        unreachable!("six placeholders")
    };
    let statement = format!(
        "UPDATE iceberg_tables SET metadata_location = {new_at}, previous_metadata_location = {old_at} \
         WHERE catalog_name = {name_at} AND table_name = {table_at} AND table_namespace = {namespace_at} \
         AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL) AND metadata_location = {expected_at}"
    );
    let updated = sqlx::query(&statement)
        .bind(&new)
        .bind(&current)
        .bind(catalog_name)
        .bind(ident.name())
        .bind(ident.namespace().join("."))
        .bind(&current)
        .execute(&pool)
        .await
        .map_err(db_error)?;
    pool.close().await;
    if updated.rows_affected() == 0 {
        staged.discard(table).await;
        let _ = table.file_io().delete(&new).await;
        return Ok(Outcome::Conflict);
    }
    Ok(Outcome::Committed)
}

/// The REST catalog's commit: `POST /v1/{prefix}/namespaces/{ns}/tables/{table}` with the
/// updates and requirements; 409 is a conflict, 5xx leaves the outcome unknown (the spec's
/// CommitStateUnknown), so the files stay until the next attempt has looked.
async fn rest_commit(config: &CatalogConfig, table: &Table, staged: Staged) -> Result<Outcome> {
    let CatalogConfig::Rest { uri, warehouse, token, credential, .. } = config else {
        unreachable!("a REST catalog")
    };
    let ident = table.identifier();
    let context = format!("replace the content of {ident}: REST catalog {uri}");
    let failed = |what: String| Error::new(ErrorKind::Catalog, format!("{context}: {what}"));
    let client = reqwest::Client::new();
    let token = match (token, credential) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(credential)) => Some(oauth_token(&client, uri, credential).await.map_err(failed)?),
        (None, None) => None,
    };
    let authorized = |request: reqwest::RequestBuilder| match &token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };

    // The server may put every path under a prefix it names in its configuration.
    let mut config_url = endpoint(uri, &[], &["config"]).map_err(failed)?;
    if let Some(warehouse) = warehouse {
        config_url.query_pairs_mut().append_pair("warehouse", warehouse);
    }
    let response = authorized(client.get(config_url)).send().await.map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| failed(e.to_string()))?;
    if !status.is_success() {
        return Err(failed(format!("GET config: {status}: {}", server_message(&body))));
    }
    let server_config: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| failed(format!("GET config: {e}")))?;
    let prefix = ["overrides", "defaults"]
        .iter()
        .find_map(|level| server_config[level]["prefix"].as_str())
        .unwrap_or_default();
    let prefix: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();

    let namespace = ident.namespace().join("\u{1f}");
    let url = endpoint(uri, &prefix, &["namespaces", &namespace, "tables", ident.name()]).map_err(failed)?;
    let request = CommitTableRequest {
        identifier: Some(ident.clone()),
        requirements: staged.requirements.clone(),
        updates: staged.updates.clone(),
    };
    let body = serde_json::to_vec(&request).map_err(|e| failed(e.to_string()))?;
    let sent = authorized(client.post(url))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        // The request may have reached the server: the next attempt looks for the run id.
        Err(e) => return Ok(Outcome::Unknown(e.to_string())),
    };
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    match status.as_u16() {
        200 => Ok(Outcome::Committed),
        409 => {
            staged.discard(table).await;
            Ok(Outcome::Conflict)
        }
        500 | 502 | 503 | 504 => Ok(Outcome::Unknown(format!("{status}: {}", server_message(&body)))),
        _ => {
            staged.discard(table).await;
            Err(failed(format!("{status}: {}", server_message(&body))))
        }
    }
}

/// `uri/v1/<prefix…>/<segments…>`, each segment percent-encoded.
fn endpoint(uri: &str, prefix: &[&str], segments: &[&str]) -> std::result::Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(uri).map_err(|e| format!("--catalog-uri {uri}: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| format!("--catalog-uri {uri}: not an http(s) URL"))?
        .pop_if_empty()
        .push("v1")
        .extend(prefix)
        .extend(segments);
    Ok(url)
}

/// A bearer token for `credential` (`client_id:secret` or `secret`) from the catalog's
/// OAuth2 token endpoint, as iceberg-catalog-rest obtains one.
async fn oauth_token(
    client: &reqwest::Client,
    uri: &str,
    credential: &str,
) -> std::result::Result<String, String> {
    let (id, secret) =
        credential.split_once(':').map_or((None, credential), |(id, secret)| (Some(id), secret));
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if let Some(id) = id {
        form.append_pair("client_id", id);
    }
    form.append_pair("client_secret", secret).append_pair("scope", "catalog");
    let url = endpoint(uri, &[], &["oauth", "tokens"])?;
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .map_err(|e| format!("token request: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| format!("token request: {e}"))?;
    if !status.is_success() {
        return Err(format!("token request: {status}: {}", server_message(&body)));
    }
    let answer: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("token request: {e}"))?;
    answer["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "token request: no access_token in the answer".to_string())
}

/// The message of a REST error response (`{"error": {"message": …}}`), else its first line.
fn server_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.lines().next().unwrap_or_default().chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replace's totals are what it added; what the replaced snapshot held is reported
    /// deleted, so engines' and PyIceberg's table statistics stay right.
    #[test]
    fn replaced_totals_count_only_the_new_files() {
        let previous = HashMap::from([
            ("total-records".to_string(), "500".to_string()),
            ("total-data-files".to_string(), "3".to_string()),
            ("total-files-size".to_string(), "9000".to_string()),
        ]);
        let mut summary = HashMap::from([
            ("added-records".to_string(), "40".to_string()),
            ("added-data-files".to_string(), "1".to_string()),
            ("added-files-size".to_string(), "700".to_string()),
        ]);
        replaced_totals(&mut summary, &previous);
        assert_eq!(summary["total-records"], "40");
        assert_eq!(summary["deleted-records"], "500");
        assert_eq!(summary["deleted-data-files"], "3");
        assert_eq!(summary["removed-files-size"], "9000");
        assert_eq!(summary["total-data-files"], "1");
        assert_eq!(summary["total-delete-files"], "0");
        assert!(!summary.contains_key("removed-delete-files"));
    }

    /// Namespaces of several levels and names with reserved characters reach the REST path
    /// encoded once, as the REST spec's unit separator and percent-encoding say.
    #[test]
    fn endpoints_encode_each_segment() {
        let url =
            endpoint("http://h:8181/", &["wh"], &["namespaces", "a\u{1f}b", "tables", "My Table/x"]).unwrap();
        assert_eq!(url.as_str(), "http://h:8181/v1/wh/namespaces/a%1Fb/tables/My%20Table%2Fx");
        assert!(endpoint("not a url", &[], &["config"]).is_err());
    }
}

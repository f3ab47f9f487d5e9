//! Object storage: files of `unload` and `load` under a prefix of a bucket, named by a URL:
//! `s3://bucket/path` (AWS or any S3-compatible store), `az://container/path` (Azure Blob
//! Storage; `abfss://container@account.dfs.core.windows.net/path` for ADLS Gen2 accounts,
//! through their Blob endpoint), `gs://bucket/path` (Google Cloud Storage).
//!
//! Built on OpenDAL, the layer Iceberg's own object storage (`iceberg-storage-opendal`)
//! uses, so files and Iceberg tables share one client. Credentials come from each cloud's
//! standard chain inside OpenDAL: AWS (environment, profile, web identity, instance
//! metadata), Azure (AZURE_STORAGE_ACCOUNT_KEY or _SAS_TOKEN, Entra client secret or
//! certificate, workload identity, managed identity, the az CLI), Google (application
//! default credentials, the metadata server); cqlbulk never sees, prints or records them. An object appears under its name only when its upload
//! completes (a multipart upload's completion, or one PUT for a small object), so a reader
//! never sees half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use opendal::Operator;
use opendal::layers::{RetryLayer, TimeoutLayer};

use crate::error::{Error, ErrorKind, Result};

/// Bytes per uploaded part (S3's minimum is 5 MiB): what one open object holds in memory
/// besides its format writer.
const PART_BYTES: usize = 8 << 20;

/// How to reach an object store, besides the URL.
#[derive(Clone, Debug, Default)]
pub struct StorageOptions {
    /// An S3-compatible endpoint, e.g. `http://127.0.0.1:7070` (default: AWS, or
    /// `AWS_ENDPOINT_URL`).
    pub s3_endpoint: Option<String>,
    /// The bucket's region (default: `AWS_REGION`, else `us-east-1`).
    pub s3_region: Option<String>,
    /// Address buckets as `bucket.host` instead of `host/bucket` (AWS's virtual-hosted style).
    pub s3_virtual_host_style: bool,
    /// The Blob service endpoint, e.g. `http://127.0.0.1:10000/devstoreaccount1` (Azurite)
    /// (default: `https://<AZURE_STORAGE_ACCOUNT_NAME>.blob.core.windows.net`).
    pub azure_endpoint: Option<String>,
    /// A GCS endpoint, e.g. an emulator's `http://127.0.0.1:4443` (default: Google's).
    pub gcs_endpoint: Option<String>,
    /// Send unsigned GCS requests (an emulator, or public buckets): no credentials looked up.
    pub gcs_anonymous: bool,
}

impl StorageOptions {
    /// The region to sign requests for: `s3_region`, else AWS_REGION or AWS_DEFAULT_REGION,
    /// else `us-east-1` (S3-compatible stores mostly ignore it).
    pub fn region(&self) -> String {
        self.s3_region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".to_string())
    }
}

/// Whether `url` names object storage rather than a local path (`file://` is local).
pub fn is_object_url(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) && scheme != "file"
    })
}

/// Where a run's files (or its operation directories) go.
#[derive(Clone, Debug)]
pub enum Place {
    /// A local directory.
    Directory(PathBuf),
    /// A prefix in a bucket.
    Objects(ObjectStore),
}

impl Place {
    /// A local directory, or the object-store prefix `text` names as a URL.
    pub fn parse(text: &str, options: &StorageOptions) -> Result<Place> {
        if is_object_url(text) {
            ObjectStore::open(text, options).map(Place::Objects)
        } else {
            Ok(Place::Directory(PathBuf::from(text.strip_prefix("file://").unwrap_or(text))))
        }
    }

    /// The directory path or the `s3://` URL.
    pub fn describe(&self) -> String {
        match self {
            Place::Directory(dir) => dir.display().to_string(),
            Place::Objects(store) => store.url().to_string(),
        }
    }

    /// The directory or prefix `name` inside this one.
    pub fn child(&self, name: &str) -> Result<Place> {
        Ok(match self {
            Place::Directory(dir) => Place::Directory(dir.join(name)),
            Place::Objects(store) => Place::Objects(store.child(name)?),
        })
    }

    /// The whole of the small file or object `name` inside, or `None` when there is none.
    pub async fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Place::Directory(dir) => match std::fs::read(dir.join(name)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(dir.join(name).display(), e)),
            },
            Place::Objects(store) => store.read(name).await,
        }
    }

    /// Writes the small file or object `name` inside, so that it appears whole or not at all.
    pub async fn write(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        match self {
            Place::Directory(dir) => {
                let path = dir.join(name);
                let temp = dir.join(format!(".{name}.tmp"));
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&temp, &bytes))
                    .and_then(|()| std::fs::rename(&temp, &path))
                    .map_err(|e| Error::io(path.display(), e))
            }
            Place::Objects(store) => store.put(name, bytes).await,
        }
    }

    /// The names directly inside: entries of a directory (none when it does not exist),
    /// first path segments of the objects under a prefix.
    pub async fn child_names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = match self {
            Place::Directory(dir) => match std::fs::read_dir(dir) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(Error::io(dir.display(), e)),
            },
            Place::Objects(store) => store
                .list()
                .await?
                .into_iter()
                .filter_map(|(name, _)| name.split('/').next().map(str::to_string))
                .collect(),
        };
        names.sort();
        names.dedup();
        Ok(names)
    }
}

impl From<&str> for Place {
    /// A local directory.
    fn from(dir: &str) -> Place {
        Place::Directory(dir.into())
    }
}

/// A prefix in a bucket: objects are named relative to it.
#[derive(Clone)]
pub struct ObjectStore {
    operator: Operator,
    /// How it was opened: a prefix inside it opens the same way.
    options: std::sync::Arc<StorageOptions>,
    /// `s3://bucket/prefix` (or `az://`, `gs://`), without a trailing slash: for messages.
    url: String,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl ObjectStore {
    /// The store and prefix `url` names (`s3://bucket[/prefix]`, `az://container[/prefix]`,
    /// `abfss://container@account.dfs.core.windows.net[/prefix]`, `gs://bucket[/prefix]`).
    pub fn open(url: &str, options: &StorageOptions) -> Result<ObjectStore> {
        let bad = |why: &str| Error::new(ErrorKind::BadInput, format!("{url}: {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("not a URL like s3://bucket/path"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        let root = format!("/{prefix}");
        let (operator, scheme) = match scheme {
            "s3" | "s3a" => {
                let bucket = Some(bucket)
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad("no bucket: give s3://bucket/path"))?;
                let mut builder =
                    opendal::services::S3::default().bucket(bucket).root(&root).region(&options.region());
                if let Some(endpoint) = &options.s3_endpoint {
                    builder = builder.endpoint(endpoint);
                }
                if options.s3_virtual_host_style {
                    builder = builder.enable_virtual_host_style();
                }
                (
                    Operator::new(builder)
                        .map_err(|e| bad(&format!("cannot configure S3: {}", one_line(&e))))?
                        .finish(),
                    "s3",
                )
            }
            "az" | "azblob" | "abfs" | "abfss" => {
                // ADLS Gen2 names `container@account.dfs.core.windows.net`; its Blob endpoint
                // serves the same files.
                let (container, account) = match bucket.split_once('@') {
                    Some((container, host)) => (container, host.split('.').next()),
                    None => (bucket, None),
                };
                if container.is_empty() {
                    return Err(bad("no container: give az://container/path"));
                }
                let account =
                    account.map(str::to_string).or_else(|| std::env::var("AZURE_STORAGE_ACCOUNT_NAME").ok());
                let endpoint = match (&options.azure_endpoint, &account) {
                    (Some(endpoint), _) => endpoint.clone(),
                    (None, Some(account)) => format!("https://{account}.blob.core.windows.net"),
                    (None, None) => {
                        return Err(bad(
                            "which storage account? set AZURE_STORAGE_ACCOUNT_NAME or give --azure-endpoint",
                        ));
                    }
                };
                let mut builder =
                    opendal::services::Azblob::default().container(container).root(&root).endpoint(&endpoint);
                if let Some(account) = &account {
                    builder = builder.account_name(account);
                }
                let operator = Operator::new(builder)
                    .map_err(|e| bad(&format!("cannot configure Azure Blob Storage: {}", one_line(&e))))?
                    .finish();
                (operator, "az")
            }
            "gs" | "gcs" => {
                let bucket = Some(bucket)
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad("no bucket: give gs://bucket/path"))?;
                let mut builder = opendal::services::Gcs::default().bucket(bucket).root(&root);
                if let Some(endpoint) = &options.gcs_endpoint {
                    builder = builder.endpoint(endpoint);
                }
                if options.gcs_anonymous {
                    builder = builder.skip_signature().disable_vm_metadata().disable_config_load();
                }
                let operator = Operator::new(builder)
                    .map_err(|e| bad(&format!("cannot configure Google Cloud Storage: {}", one_line(&e))))?
                    .finish();
                (operator, "gs")
            }
            _ => {
                return Err(bad(
                    "unknown object store: give s3://bucket/path (S3 or S3-compatible), az://container/path (Azure) or gs://bucket/path (Google Cloud Storage)",
                ));
            }
        };
        let operator = operator.layer(TimeoutLayer::new()).layer(RetryLayer::new().with_jitter());
        let container = bucket.split('@').next().unwrap_or(bucket);
        let url = if prefix.is_empty() {
            format!("{scheme}://{container}")
        } else {
            format!("{scheme}://{container}/{prefix}")
        };
        Ok(ObjectStore { operator, options: std::sync::Arc::new(options.clone()), url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The store at the prefix `name` inside this one.
    pub fn child(&self, name: &str) -> Result<ObjectStore> {
        ObjectStore::open(&self.url_of(name.trim_matches('/')), &self.options)
    }

    /// `s3://bucket/prefix/name`.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }

    fn error(&self, what: &str, name: &str, err: opendal::Error) -> Error {
        let kind = match err.kind() {
            opendal::ErrorKind::PermissionDenied | opendal::ErrorKind::ConfigInvalid => ErrorKind::Auth,
            opendal::ErrorKind::NotFound => ErrorKind::BadInput,
            _ => ErrorKind::Io,
        };
        let target = if name.is_empty() { self.url.clone() } else { self.url_of(name) };
        Error::new(kind, format!("{target}: cannot {what}: {}", one_line(&err)))
    }

    /// Starts the upload of object `name`; it appears only when [`ObjectWriter::close`]
    /// completes.
    pub async fn writer(&self, name: &str) -> Result<ObjectWriter> {
        let upload = self
            .operator
            .writer_with(name)
            .chunk(PART_BYTES)
            .concurrent(2)
            .await
            .map_err(|e| self.error("start the upload", name, e))?;
        Ok(ObjectWriter { store: self.clone(), name: name.to_string(), upload })
    }

    /// Every object under the prefix (recursively), as (name relative to it, size), sorted.
    pub async fn list(&self) -> Result<Vec<(String, u64)>> {
        let entries = self
            .operator
            .list_with("/")
            .recursive(true)
            .await
            .map_err(|e| self.error("list the objects", "", e))?;
        let mut objects: Vec<(String, u64)> = entries
            .into_iter()
            .filter(|e| e.metadata().is_file())
            .map(|e| (e.path().trim_start_matches('/').to_string(), e.metadata().content_length()))
            .collect();
        objects.sort();
        Ok(objects)
    }

    /// Whether object `name` exists (a file, not a prefix).
    pub async fn exists(&self, name: &str) -> Result<bool> {
        match self.operator.stat(name).await {
            Ok(metadata) => Ok(metadata.is_file()),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.error("look it up", name, e)),
        }
    }

    /// Uploads the small object `name` in one request: it appears whole or not at all.
    pub async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        self.operator.write(name, bytes).await.map(|_| ()).map_err(|e| self.error("upload it", name, e))
    }

    /// The whole of the small object `name`, or `None` when there is none.
    pub async fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self.operator.read(name).await {
            Ok(buffer) => Ok(Some(buffer.to_vec())),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error("read it", name, e)),
        }
    }

    pub async fn delete(&self, name: &str) -> Result<()> {
        self.operator.delete(name).await.map_err(|e| self.error("delete it", name, e))
    }

    /// Copies object `name` into the local file `to`, streaming (memory stays bounded).
    pub async fn download(&self, name: &str, to: &Path) -> Result<()> {
        let reader = self
            .operator
            .reader_with(name)
            .chunk(PART_BYTES)
            .await
            .map_err(|e| self.error("read it", name, e))?;
        let mut stream = reader.into_bytes_stream(..).await.map_err(|e| self.error("read it", name, e))?;
        let mut file =
            std::fs::File::create(to).map_err(|e| Error::io(format!("cannot create {}", to.display()), e))?;
        while let Some(bytes) = stream.next().await {
            let bytes = bytes.map_err(|e| {
                Error::new(ErrorKind::Io, format!("{}: cannot read it: {e}", self.url_of(name)))
            })?;
            file.write_all(&bytes).map_err(|e| Error::io(format!("cannot write {}", to.display()), e))?;
        }
        Ok(())
    }
}

/// An object being uploaded: bytes written go out in parts; [`close`](Self::close) makes
/// the object appear, dropping it unclosed leaves nothing under its name.
pub struct ObjectWriter {
    store: ObjectStore,
    name: String,
    upload: opendal::Writer,
}

impl ObjectWriter {
    /// Hands `bytes` to the upload, which sends a part whenever it has [`PART_BYTES`].
    pub async fn write(&mut self, bytes: Vec<u8>) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.upload.write(bytes).await.map_err(|e| self.store.error("upload it", &self.name, e))
    }

    /// Completes the upload: the object appears under its name.
    pub async fn close(mut self) -> Result<()> {
        self.upload
            .close()
            .await
            .map(|_| ())
            .map_err(|e| self.store.error("complete the upload", &self.name, e))
    }

    /// Cancels the upload (its parts are discarded by the store).
    pub async fn abort(mut self) {
        let _ = self.upload.abort().await;
    }
}

/// An OpenDAL error in one line: its message and its root cause (e.g. `send http request:
/// tcp connect error: Connection refused`), without OpenDAL's request context, which repeats
/// the URL the caller names.
fn one_line(err: &opendal::Error) -> String {
    let mut text = err.message().to_string();
    let mut cause = std::error::Error::source(err);
    let mut root = None;
    while let Some(inner) = cause {
        root = Some(inner.to_string());
        cause = inner.source();
    }
    if let Some(root) = root.filter(|r| !text.contains(r.as_str())) {
        text = if text.is_empty() { root } else { format!("{text}: {root}") };
    }
    if text.is_empty() {
        text = format!("{}", err.kind());
    }
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What: only `scheme://` names object storage; Windows-like or relative paths do not.
    /// Why: a local directory mistaken for a bucket (or the reverse) writes data elsewhere.
    #[test]
    fn object_urls_are_told_from_paths() {
        assert!(is_object_url("s3://bucket/path"));
        assert!(!is_object_url("/data/out"));
        assert!(!is_object_url("out/dir"));
        assert!(!is_object_url("-"));
        assert!(!is_object_url("://x"));
        assert!(!is_object_url("file:///data/lake/t/data"));
    }

    /// What: a bucket and a prefix are read from the URL, an unknown scheme or a missing
    /// bucket is one clear error. Why: a typo must not write to the wrong place.
    #[test]
    fn urls_name_bucket_and_prefix() {
        let options = StorageOptions { s3_endpoint: Some("http://127.0.0.1:1".into()), ..Default::default() };
        assert_eq!(ObjectStore::open("s3://b/x/y/", &options).unwrap().url(), "s3://b/x/y");
        assert_eq!(ObjectStore::open("s3://b", &options).unwrap().url(), "s3://b");
        let err = ObjectStore::open("ftp://b/x", &options).unwrap_err().to_string();
        assert!(err.contains("unknown object store"), "{err}");
        assert!(ObjectStore::open("s3:///x", &options).is_err());
    }
}

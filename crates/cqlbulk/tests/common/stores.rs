//! The object stores of the tests, each a real server the harness builds and starts:
//! versitygw for S3 (harness/s3.py), Azurite for Azure Blob Storage (harness/azurite.py),
//! fake-gcs-server for Google Cloud Storage (harness/gcs.py). What cqlbulk writes there is
//! read back by pyarrow's own client for that store, never by cqlbulk's.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{cqlbulk_with_env, python, python_snippet, repo_root, stderr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    S3,
    Azure,
    Gcs,
}

/// Tests of one binary run in parallel; one that kills a server must run alone.
static SERVERS: RwLock<()> = RwLock::new(());

/// Azurite's published development account.
const AZURE_ACCOUNT: &str = "devstoreaccount1";
const AZURE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl Store {
    fn harness(self) -> &'static str {
        match self {
            Store::S3 => "harness/s3.py",
            Store::Azure => "harness/azurite.py",
            Store::Gcs => "harness/gcs.py",
        }
    }

    pub fn harness_run(self, args: &[&str]) -> String {
        let output = Command::new("python3")
            .arg(repo_root().join(self.harness()))
            .args(args)
            .output()
            .expect("python3 runs the harness");
        assert!(output.status.success(), "{} {args:?} failed:\n{}", self.harness(), stderr(&output));
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    /// The server's endpoint, started once per test binary.
    pub fn endpoint(self) -> &'static str {
        static S3: OnceLock<String> = OnceLock::new();
        static AZURE: OnceLock<String> = OnceLock::new();
        static GCS: OnceLock<String> = OnceLock::new();
        let cell = match self {
            Store::S3 => &S3,
            Store::Azure => &AZURE,
            Store::Gcs => &GCS,
        };
        cell.get_or_init(|| self.harness_run(&["start"]))
    }

    /// `s3`, `az` or `gs`: the URL scheme cqlbulk takes.
    pub fn scheme(self) -> &'static str {
        match self {
            Store::S3 => "s3",
            Store::Azure => "az",
            Store::Gcs => "gs",
        }
    }

    /// The credentials of the test server, as each cloud's standard variables.
    pub fn env(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Store::S3 => {
                vec![("AWS_ACCESS_KEY_ID", "cqlbulk-test"), ("AWS_SECRET_ACCESS_KEY", "cqlbulk-test-secret")]
            }
            Store::Azure => {
                vec![("AZURE_STORAGE_ACCOUNT_NAME", AZURE_ACCOUNT), ("AZURE_STORAGE_ACCOUNT_KEY", AZURE_KEY)]
            }
            Store::Gcs => Vec::new(),
        }
    }

    /// The flags that point cqlbulk at the test server.
    pub fn flags(self) -> Vec<&'static str> {
        match self {
            Store::S3 => vec!["--s3-endpoint", self.endpoint()],
            Store::Azure => vec!["--azure-endpoint", self.endpoint()],
            Store::Gcs => vec!["--gcs-endpoint", self.endpoint(), "--gcs-anonymous"],
        }
    }

    /// Python source that makes `fs`, pyarrow's client of this store; the endpoint is
    /// `sys.argv[1]`.
    pub fn python_fs(self) -> String {
        let host = "sys.argv[1].split('://')[1].split('/')[0]";
        match self {
            Store::S3 => "import sys, pyarrow.fs as pafs\n\
                fs = pafs.S3FileSystem(access_key='cqlbulk-test', secret_key='cqlbulk-test-secret', \
                endpoint_override=sys.argv[1], scheme='http', region='us-east-1', \
                allow_bucket_creation=True, allow_bucket_deletion=True)\n"
                .to_string(),
            // The DFS authority too, or pyarrow asks *.dfs.core.windows.net.
            Store::Azure => format!(
                "import sys, pyarrow.fs as pafs\n\
                 fs = pafs.AzureFileSystem(account_name='{AZURE_ACCOUNT}', account_key='{AZURE_KEY}', \
                 blob_storage_authority={host}, dfs_storage_authority={host}, \
                 blob_storage_scheme='http', dfs_storage_scheme='http')\n"
            ),
            Store::Gcs => format!(
                "import sys, pyarrow.fs as pafs\n\
                 fs = pafs.GcsFileSystem(anonymous=True, endpoint_override={host}, scheme='http', project_id='cqlbulk-test')\n"
            ),
        }
    }

    /// Held by a test using the server while it runs, so that a test that kills the server
    /// ([`Store::exclusive`]) waits for it.
    pub fn shared(self) -> RwLockReadGuard<'static, ()> {
        SERVERS.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Held by a test that stops or kills the server: no other test uses it meanwhile.
    pub fn exclusive(self) -> RwLockWriteGuard<'static, ()> {
        SERVERS.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `cqlbulk` with the test server's flags and credentials.
    pub fn cqlbulk(self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.flags());
        cqlbulk_with_env(&all, &self.env())
    }
}

/// A bucket (container) of one test, created through the store's API and deleted with its
/// objects at the end.
pub struct Bucket {
    pub store: Store,
    pub name: String,
}

impl Bucket {
    pub fn create(store: Store, test: &str) -> Bucket {
        let name = format!("cqlbulk-{test}-{}", std::process::id());
        python_snippet(
            &format!("{}fs.create_dir(sys.argv[2])", store.python_fs()),
            &[store.endpoint(), &name],
        );
        Bucket { store, name }
    }

    /// `scheme://bucket/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("{}://{}/{prefix}", self.store.scheme(), self.name)
    }

    /// (bucket/path, size) of every object under `prefix`, as pyarrow lists them.
    pub fn objects(&self, prefix: &str) -> Vec<(String, u64)> {
        let code = format!(
            "{}sel = pafs.FileSelector(sys.argv[2], recursive=True, allow_not_found=True)\n\
             for f in fs.get_file_info(sel):\n    \
                 if f.type == pafs.FileType.File: print(f.path, f.size)",
            self.store.python_fs()
        );
        python_snippet(&code, &[self.store.endpoint(), &format!("{}/{prefix}", self.name)])
            .lines()
            .map(|line| {
                let (path, size) = line.rsplit_once(' ').unwrap();
                (path.to_string(), size.parse().unwrap())
            })
            .collect()
    }

    /// Copies the objects under `prefix` into `dir` with pyarrow, for the local oracles.
    pub fn download(&self, prefix: &str, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let code = format!(
            "{}pafs.copy_files(sys.argv[2], sys.argv[3], source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())",
            self.store.python_fs()
        );
        python_snippet(
            &code,
            &[self.store.endpoint(), &format!("{}/{prefix}", self.name), dir.to_str().unwrap()],
        );
    }

    /// Runs Python with `fs` (see [`Store::python_fs`]) and `args` after the endpoint.
    pub fn python(&self, code: &str, args: &[&str]) -> String {
        let code = format!("{}{code}", self.store.python_fs());
        python_snippet(&code, &[&[self.store.endpoint()][..], args].concat())
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        // Objects first, then the directory markers deepest first (versitygw's POSIX backend
        // keeps `dir/` objects, which a one-call delete_dir finds not empty), then the bucket.
        let code = format!(
            "{}b = sys.argv[2]\n\
             infos = fs.get_file_info(pafs.FileSelector(b, recursive=True))\n\
             for i in infos:\n    if i.type == pafs.FileType.File: fs.delete_file(i.path)\n\
             for i in sorted((i for i in infos if i.type == pafs.FileType.Directory), key=lambda i: -i.path.count('/')):\n    \
                 fs.delete_dir(i.path)\n\
             fs.delete_dir(b)",
            self.store.python_fs()
        );
        let output =
            Command::new(python()).arg("-c").arg(code).args([self.store.endpoint(), &self.name]).output();
        if let Ok(output) = output
            && !output.status.success()
        {
            eprintln!("bucket {} was not deleted: {}", self.name, stderr(&output));
        }
    }
}

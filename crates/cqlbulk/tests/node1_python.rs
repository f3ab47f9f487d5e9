//! The Python package (python/, built with maturin and installed into the oracle virtualenv
//! by scripts/test.sh) against one node.

mod common;

use std::process::Command;

use common::scenarios::{create_all_types, fill_100k};
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false, tls: false };

/// What: through `import cqlbulk` (tests/python/check_package.py): `count` equals the driver's
/// count; `scan` of the all-types table is a pyarrow RecordBatchReader holding exactly what
/// `unload` writes to Parquet (uuid as the arrow.uuid extension type); `plan` gives
/// picklable splits that worker processes read with `read_split`, covering 100,000 rows
/// once; a reader dropped early stops its scan; errors raise CqlbulkError with the program's
/// one-line message, kind and exit code; unload, load and verify round-trip a table; two
/// shard tasks (one retried) and a commit run twice make one Iceberg snapshot equal to the
/// table; the installed `cqlbulk` command is the program. Why: Python users and engines
/// reach cqlbulk through this package; it must be the same tool, not a look-alike.
#[tokio::test(flavor = "multi_thread")]
async fn python_package_runs_jobs_and_streams_scans() {
    let hosts = cluster(SHAPE);
    let ks = TestKeyspace::connect(hosts, "py_package", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    fill_100k(&ks).await;
    ks.execute("CREATE TABLE {ks}.rows100k_copy (id bigint, c int, v text, PRIMARY KEY (id, c))").await;
    let scratch = scratch_dir("py-package");
    let output = Command::new(python())
        .arg(crate_dir().join("tests/python/check_package.py"))
        .args(["--hosts", hosts, "--keyspace", &ks.name, "--dir"])
        .arg(&scratch)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the Python package failed a check:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

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
    let ks = TestKeyspace::connect(cluster(SHAPE), "py_package", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    fill_100k(&ks).await;
    ks.execute("CREATE TABLE {ks}.rows100k_copy (id bigint, c int, v text, PRIMARY KEY (id, c))").await;
    run_check("check_package.py", &ks);
}

/// What: through Ray (`ray.init` here) and Spark (pyspark, `local[2,3]`),
/// tests/python/check_engines.py: a Ray Data datasource and a Spark DataFrame (`mapInArrow`
/// over cqlbulk splits) read 100,000 rows once each, and Spark's all-types rows equal the
/// driver's (uuid as text); each engine's Iceberg export (shard tasks, one commit from the
/// driver) equals the table, key by key as PyIceberg reads it and by `verify`; a shard task whose worker is SIGKILLed mid-run and retried by
/// the engine still leaves every row once, and a second commit commits nothing. Why: a 30 TB
/// table is exported by an engine's tasks, and engines kill and retry tasks.
#[tokio::test(flavor = "multi_thread")]
async fn engines_read_and_export_every_row_once() {
    let ks = TestKeyspace::connect(cluster(SHAPE), "py_engines", SIMPLE_RF1).await;
    create_all_types(&ks).await;
    fill_100k(&ks).await;
    run_check("check_engines.py", &ks);
}

/// Runs tests/python/`script` in the oracle virtualenv on `ks`, with a scratch directory.
fn run_check(script: &str, ks: &TestKeyspace) {
    let scratch = scratch_dir(&ks.name);
    let output = Command::new(python())
        .arg(crate_dir().join("tests/python").join(script))
        .args(["--hosts", cluster(SHAPE), "--keyspace", &ks.name, "--dir"])
        .arg(&scratch)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script} failed a check:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

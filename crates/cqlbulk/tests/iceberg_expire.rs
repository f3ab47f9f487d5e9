//! `cqlbulk iceberg expire` on a table another tool wrote, no Cassandra: PyIceberg creates
//! a table in an embedded SQLite catalog, appends twice and overwrites (so old data files
//! leave the current state), cqlbulk expires everything but the current snapshot, and
//! PyIceberg checks that the current rows are intact, every file the kept snapshot uses is
//! still there, and the files only expired snapshots used are gone.
//! Why: expiring is the one cqlbulk command that deletes table files; deleting a live file
//! corrupts the table for every engine, keeping dead ones fills the bucket forever.

mod common;

use common::{cqlbulk, expect_success, python_snippet, scratch_dir};

const SETUP: &str = r#"
import sys, json
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
w = sys.argv[1]
c = SqlCatalog("cqlbulk", uri=f"sqlite:///{w}/catalog.db", warehouse=f"file://{w}")
c.create_namespace("ns")
schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("v", pa.string())])
t = c.create_table("ns.t", schema=schema)
for start in (0, 100):
    t.append(pa.table({"id": list(range(start, start + 100)), "v": [f"'\"\\,\n{i}" for i in range(100)]}, schema=schema))
old = sorted({task.file.file_path for task in t.scan().plan_files()})
t.overwrite(pa.table({"id": list(range(1000, 1050)), "v": ["new"] * 50}, schema=schema))
t = c.load_table("ns.t")
current = sorted({task.file.file_path for task in t.scan().plan_files()})
print(json.dumps({"old": old, "current": current, "snapshots": len(t.snapshots())}))
"#;

const CHECK: &str = r#"
import sys, json, os
from pyiceberg.catalog.sql import SqlCatalog
w, old, current = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
t = SqlCatalog("cqlbulk", uri=f"sqlite:///{w}/catalog.db", warehouse=f"file://{w}").load_table("ns.t")
rows = t.scan().to_arrow()
ids = sorted(rows.column("id").to_pylist())
assert ids == list(range(1000, 1050)), ids
path = lambda p: p.replace("file://", "")
for s in t.snapshots():
    assert os.path.exists(path(s.manifest_list)), s.manifest_list
    for m in s.manifests(t.io):
        assert os.path.exists(path(m.manifest_path)), m.manifest_path
for p in current:
    assert os.path.exists(path(p)), p
gone = [p for p in old if not os.path.exists(path(p))]
print("snapshots", len(t.snapshots()), "old files gone", len(gone), "of", len(old))
"#;

/// What: see the file doc. Also: a second expire with nothing old enough expires nothing.
#[test]
fn expire_deletes_only_what_expired_snapshots_used() {
    let dir = scratch_dir("ice-expire");
    let warehouse = dir.join("lake");
    std::fs::create_dir_all(&warehouse).unwrap();
    let w = warehouse.to_str().unwrap();
    let setup: serde_json::Value = serde_json::from_str(python_snippet(SETUP, &[w]).trim()).unwrap();
    assert!(setup["snapshots"].as_u64().unwrap() >= 3, "{setup}");
    let old = setup["old"].to_string();
    let current = setup["current"].to_string();

    let expire = |older_than: &str| -> serde_json::Value {
        let out = expect_success(&cqlbulk(&[
            "iceberg",
            "expire",
            "--warehouse",
            w,
            "--namespace",
            "ns",
            "--table",
            "t",
            "--older-than",
            older_than,
            "--retain-last",
            "1",
            "--json",
        ]));
        serde_json::from_str(out.trim()).unwrap()
    };
    // Nothing is a day old: nothing goes.
    let none = expire("1d");
    assert_eq!(none["expired_snapshots"].as_array().unwrap().len(), 0, "{none}");
    assert_eq!(none["deleted_data_files"], 0, "{none}");

    let summary = expire("0s");
    assert_eq!(summary["kept_snapshots"], 1, "{summary}");
    assert_eq!(
        summary["expired_snapshots"].as_array().unwrap().len() as u64,
        setup["snapshots"].as_u64().unwrap() - 1,
        "{summary}"
    );
    assert_eq!(summary["deleted_data_files"], 2, "the two appended files left with the overwrite: {summary}");
    assert!(summary["deleted_manifest_lists"].as_u64().unwrap() >= 2, "{summary}");
    let out = python_snippet(CHECK, &[w, &old, &current]);
    assert!(out.contains("snapshots 1 old files gone 2 of 2"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Iceberg data files follow the data, not the splits, no server: many splits' rows written
//! through the Iceberg sink into an embedded SQLite catalog become one file per partition
//! (per target size), each sorted by the primary key, which the table records as its sort
//! order. Files are read back by the parquet crate, not by cqlbulk.
//! Why: engines plan one task per file and skip row groups by min/max; thousands of tiny
//! unsorted files (splits × partitions) make every query slow, however fast the export was.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_schema::DataType;
use cqlbulk::catalog::CatalogConfig;
use cqlbulk::codec::decode::BatchBuilder;
use cqlbulk::operation::SplitDone;
use cqlbulk::sink::iceberg::schema::{ColumnKind, CqlColumn, TypeOptions, parse_partition_by};
use cqlbulk::sink::iceberg::{DataFileOptions, ExportConfig, IcebergSink};
use cqlbulk::sink::{Destination, RunFacts};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::Rng;
use scylla::frame::response::result::{ColumnType, NativeType};

/// (id, ck, v): what a row holds, comparable in the sort order (ck by UTF-8 bytes).
type Row = (i64, String, Vec<u8>);

struct Export {
    dir: PathBuf,
    rows: Vec<Row>,
    finished_files: usize,
}

fn tempdir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cqlbulk-icefiles-{what}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Keys that sort differently as bytes, as text and as numbers; quotes, separators, newlines.
fn random_ck(rng: &mut impl Rng) -> String {
    const PIECES: &[&str] =
        &["a", "B", "é", "日本", "\"", "\\", ",", "\n", "/", "=", "null", "10", "9", "🦀", ""];
    (0..rng.random_range(0..4)).map(|_| PIECES[rng.random_range(0..PIECES.len())]).collect()
}

/// Writes `splits` splits of `rows_per_split` random rows through the Iceberg sink of a new
/// table `ks.t` (partitioned by `partition_by`), finishes the run, and returns what was written.
fn export(
    what: &str,
    splits: usize,
    rows_per_split: usize,
    partition_by: Option<&str>,
    target_file_size: usize,
) -> Export {
    let dir = tempdir(what);
    let mut rng = rand::rng();
    let columns: Vec<(String, ColumnType<'static>)> = vec![
        ("id".into(), ColumnType::Native(NativeType::BigInt)),
        ("ck".into(), ColumnType::Native(NativeType::Text)),
        ("v".into(), ColumnType::Native(NativeType::Blob)),
    ];
    let cql: Vec<CqlColumn> = columns
        .iter()
        .zip([ColumnKind::PartitionKey, ColumnKind::Clustering, ColumnKind::Regular])
        .map(|((name, typ), kind)| CqlColumn {
            name: name.clone(),
            cql_type: format!("{typ:?}"),
            kind,
            typ: typ.clone(),
        })
        .collect();
    let export = ExportConfig {
        catalog: CatalogConfig::embedded(dir.clone(), "files"),
        namespace: "ks".into(),
        table: "t".into(),
        types: TypeOptions::default(),
        explicit: Default::default(),
        partition_by: partition_by.map(|text| parse_partition_by(text).unwrap()),
        sort_by: None,
        mode: Default::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut rows = Vec::new();
    let finished_files = runtime.block_on(async {
        let options = DataFileOptions { target_file_size, row_group_rows: 256 };
        let keys = vec!["id".to_string(), "ck".to_string()];
        let sink =
            IcebergSink::open(&export, &cql, "run1", options, keys, dir.join("spill"), 4).await.unwrap();
        let destination = Destination::Iceberg(Box::new(sink));
        let mut done = Vec::new();
        for split in 0..splits {
            let mut sink = destination.split_sink(split);
            // Several small batches per split, like pages of a scan.
            for _ in 0..4 {
                let mut builder = BatchBuilder::new(&columns);
                for _ in 0..rows_per_split / 4 {
                    let row: Row = (
                        rng.random_range(-1000..1000),
                        random_ck(&mut rng),
                        (0..rng.random_range(0..300)).map(|_| rng.random()).collect(),
                    );
                    let id = row.0.to_be_bytes();
                    builder.append_row([Some(&id[..]), Some(row.1.as_bytes()), Some(&row.2[..])]).unwrap();
                    rows.push(row);
                }
                sink.write(&builder.finish()).await.unwrap();
            }
            let output = sink.commit().await.unwrap();
            done.push(SplitDone {
                split,
                start: 0,
                end: 0,
                rows: output.rows,
                files: output.files,
                spill: output.spill,
            });
        }
        let facts = RunFacts { source_cluster: "none".into(), source_table: "ks.t".into(), splits };
        let finished = destination.finish(&done, &facts, &|_| {}).await.unwrap();
        assert!(finished.snapshot_id.is_some());
        finished.files.expect("an Iceberg run reports its data files").len()
    });
    assert!(!dir.join("spill").exists(), "spill files are deleted once the run is committed");
    Export { dir, rows, finished_files }
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The rows of one data file, in file order.
fn file_rows(path: &Path) -> Vec<Row> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let id = batch.column_by_name("id").unwrap().as_primitive::<Int64Type>().clone();
        let ck = arrow_cast::cast(batch.column_by_name("ck").unwrap(), &DataType::Utf8).unwrap();
        let v = arrow_cast::cast(batch.column_by_name("v").unwrap(), &DataType::Binary).unwrap();
        let (ck, v) = (ck.as_string::<i32>(), v.as_binary::<i32>());
        for i in 0..batch.num_rows() {
            rows.push((id.value(i), ck.value(i).to_string(), v.value(i).to_vec()));
        }
    }
    rows
}

fn sort_order_columns(dir: &Path) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let catalog = CatalogConfig::embedded(dir.to_path_buf(), "files").open().await.unwrap();
        let table = catalog.load_table(&iceberg::TableIdent::from_strs(["ks", "t"]).unwrap()).await.unwrap();
        let schema = table.metadata().current_schema().clone();
        table
            .metadata()
            .default_sort_order()
            .fields
            .iter()
            .map(|f| schema.field_by_id(f.source_id).unwrap().name.clone())
            .collect()
    })
}

/// Every file sorted by (id, ck bytes); all files together hold exactly the written rows.
fn check_files(export: &Export, files: &[PathBuf]) {
    let mut all = Vec::new();
    for file in files {
        let rows = file_rows(file);
        let keys: Vec<(i64, &[u8])> = rows.iter().map(|r| (r.0, r.1.as_bytes())).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{} is not sorted by (id, ck)", file.display());
        all.extend(rows);
    }
    let mut written = export.rows.clone();
    written.sort();
    all.sort();
    assert_eq!(all.len(), written.len(), "row count");
    assert!(all == written, "the files hold other rows than were written");
}

/// What: 100 splits (more than one merge reads at once, so runs are merged in groups first)
/// of an unpartitioned table → one data file, sorted by the primary key, and the table's
/// sort order is (id, ck). Why: the file count must not follow the split count.
#[test]
fn unpartitioned_export_writes_one_sorted_file() {
    let export = export("flat", 100, 80, None, 512 << 20);
    let files = parquet_files(&export.dir.join("ks").join("t").join("data"));
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(export.finished_files, 1);
    check_files(&export, &files);
    assert_eq!(sort_order_columns(&export.dir), ["id", "ck"]);
    std::fs::remove_dir_all(&export.dir).unwrap();
}

/// What: 30 splits of a table partitioned by bucket(4, id) → exactly 4 data files, one per
/// partition, each sorted. Why: files = splits × partitions was the defect.
#[test]
fn partitioned_export_writes_one_file_per_partition() {
    let export = export("buckets", 30, 40, Some("bucket(4, id)"), 512 << 20);
    let files = parquet_files(&export.dir.join("ks").join("t").join("data"));
    assert_eq!(files.len(), 4, "{files:?}");
    check_files(&export, &files);
    let ids: BTreeSet<i64> = export.rows.iter().map(|r| r.0).collect();
    assert!(ids.len() > 100);
    std::fs::remove_dir_all(&export.dir).unwrap();
}

/// What: with a small target file size, files roll near the target: every file but the last
/// of its partition holds at least half the target. Why: `--target-file-size` is the knob
/// engines' planners are tuned for.
#[test]
fn files_roll_near_the_target_size() {
    let target = 64 << 10;
    let export = export("roll", 20, 400, None, target);
    let files = parquet_files(&export.dir.join("ks").join("t").join("data"));
    let sizes: Vec<u64> = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).collect();
    assert!(files.len() >= 4, "about 1.2 MB of rows in 64 KiB files: {sizes:?}");
    let small = sizes.iter().filter(|&&s| s < target as u64 / 2).count();
    assert!(small <= 1, "only the last file may be small: {sizes:?}");
    check_files(&export, &files);
    std::fs::remove_dir_all(&export.dir).unwrap();
}

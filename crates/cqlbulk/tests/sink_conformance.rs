//! Sink conformance, no server: the sinks of `unload` take batches of random tables (every
//! CQL type nested in every other, awkward names, adversarial strings), commit a split, and
//! then the directory holds exactly the files the split reported, under their final names,
//! and reading them gives back every row once, in order, unchanged. Parquet is read by the
//! parquet crate's Arrow reader (arrays equal); CSV and JSON, rolled into several files and
//! compressed, by `load`'s own readers and text codec (CQL wire bytes equal); an Iceberg
//! table in an embedded SQLite catalog, after the run's commit, through the Iceberg source
//! and `load`'s Arrow → CQL codec (CQL wire bytes equal).
//! Why: whatever a reader finds in an output directory is what users trust; a sink that
//! rolls, compresses or renames badly loses or repeats rows silently.

mod common;

use std::path::Path;

use arrow_array::RecordBatch;
use common::values::{Columns, Rows, table};
use cqlbulk::catalog::CatalogConfig;
use cqlbulk::codec::decode::BatchBuilder;
use cqlbulk::codec::encode::{encode, normalize};
use cqlbulk::codec::parse::encode_text;
use cqlbulk::codec::types::cql_type_name;
use cqlbulk::operation::{SplitDone, WrittenFile};
use cqlbulk::sink::format::{CsvOptions, JsonOptions, ParquetCompression, ParquetOptions};
use cqlbulk::sink::iceberg::schema::{ColumnKind, CqlColumn, TimestampAs, TypeOptions};
use cqlbulk::sink::iceberg::{DataFileOptions, ExportConfig, IcebergSink};
use cqlbulk::sink::{Compression, Destination, FileLayout, Format, Place, RunFacts};
use cqlbulk::source::csv::CsvReadOptions;
use cqlbulk::source::files::{file_units, read_files};
use cqlbulk::source::{IcebergSource, InputFormat, OpenedSource, SnapshotChoice, Source};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;

fn batch_of(columns: &Columns, rows: &Rows) -> RecordBatch {
    let mut builder = BatchBuilder::new(columns);
    for row in rows {
        builder.append_row(row.iter().map(|v| v.as_deref())).expect("generated values decode");
    }
    builder.finish()
}

/// Writes `batch` as split 7 of a directory destination, one row at a time (so files roll
/// every `max_rows_per_file` rows), commits, and returns what the split reported.
fn write_split(
    dir: &Path,
    format: Format,
    compression: Compression,
    batch: &RecordBatch,
) -> Vec<WrittenFile> {
    let destination = Destination::Directory {
        layout: FileLayout::new(Place::Directory(dir.to_path_buf()), "t-run1".to_string(), 2, u64::MAX),
        format,
        compression,
        schema: batch.schema(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let mut sink = destination.split_sink(7);
        for row in 0..batch.num_rows() {
            sink.write(&batch.slice(row, 1)).await.unwrap();
        }
        let output = sink.commit().await.unwrap();
        assert_eq!(output.rows, batch.num_rows() as u64);
        output.files
    })
}

/// The directory holds exactly `files` (no temporary file left), each of the size reported.
fn only_reported_files(dir: &Path, files: &[WrittenFile]) -> Result<(), TestCaseError> {
    let mut on_disk: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len())
        })
        .collect();
    on_disk.sort();
    let mut reported: Vec<(String, u64)> = files.iter().map(|f| (f.name.clone(), f.bytes)).collect();
    reported.sort();
    prop_assert_eq!(on_disk, reported);
    Ok(())
}

fn parquet_roundtrip(columns: &Columns, rows: &Rows) -> Result<(), TestCaseError> {
    let dir = tempdir("parquet");
    let batch = batch_of(columns, rows);
    let format = Format::Parquet(ParquetOptions { codec: ParquetCompression::Zstd, row_group_rows: 1 });
    let files = write_split(&dir, format, Compression::None, &batch);
    only_reported_files(&dir, &files)?;
    prop_assert_eq!(files.len(), rows.len().div_ceil(2));
    let mut offset = 0;
    for file in &files {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(dir.join(&file.name)).unwrap())
                .unwrap()
                .build()
                .unwrap();
        let mut rows_in_file = 0;
        for read in reader {
            let read = read.unwrap();
            let expected = batch.slice(offset, read.num_rows());
            prop_assert_eq!(read.columns(), expected.columns(), "{} rows {}..", file.name, offset);
            offset += read.num_rows();
            rows_in_file += read.num_rows() as u64;
        }
        prop_assert_eq!(rows_in_file, file.rows);
    }
    prop_assert_eq!(offset, batch.num_rows());
    std::fs::remove_dir_all(&dir).unwrap();
    Ok(())
}

/// Writes `rows` as `format` through the sink, reads the files back with `load`'s readers,
/// and compares the CQL wire bytes `load` would write.
fn text_roundtrip(
    columns: &Columns,
    rows: &Rows,
    format: Format,
    read_as: InputFormat,
    compression: Compression,
) -> Result<(), TestCaseError> {
    let dir = tempdir(format.name());
    let files = write_split(&dir, format, compression, &batch_of(columns, rows));
    only_reported_files(&dir, &files)?;
    prop_assert_eq!(files.len(), rows.len().div_ceil(2));
    let units = file_units(dir.to_str().unwrap(), &read_as).unwrap();
    let names: Vec<String> = columns.iter().map(|(name, _)| name.clone()).collect();
    let (sender, mut chunks) = tokio::sync::mpsc::channel(1024);
    read_files(&units, &read_as, &names, sender);
    let mut back = Vec::new();
    while let Ok(chunk) = chunks.try_recv() {
        let chunk = chunk.unwrap();
        prop_assert!(
            chunk.rejects.is_empty(),
            "{:?}",
            chunk.rejects.iter().map(|r| &r.reason).collect::<Vec<_>>()
        );
        let texts: Vec<&arrow_array::StringArray> =
            chunk.batch.columns().iter().map(|c| c.as_any().downcast_ref().unwrap()).collect();
        for row in 0..chunk.batch.num_rows() {
            let mut values = Vec::new();
            for (column, (name, typ)) in columns.iter().enumerate() {
                let text = texts[column];
                values.push(if arrow_array::Array::is_null(text, row) {
                    None
                } else {
                    let mut out = Vec::new();
                    encode_text(typ, text.value(row), &mut out)
                        .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
                    Some(out)
                });
            }
            back.push(values);
        }
    }
    prop_assert_eq!(&back, rows);
    std::fs::remove_dir_all(&dir).unwrap();
    Ok(())
}

/// Writes `rows` through the Iceberg sink into a new table of an embedded SQLite catalog
/// (one row per write, row groups of 2 rows), commits the run, reads the current snapshot
/// through the Iceberg source, and compares the CQL wire bytes `load` would write.
/// Timestamps go as milliseconds (`--timestamp-as long`): the default microseconds hold
/// ±292,000 years and refuse the rest, which random timestamps reach.
fn iceberg_roundtrip(columns: &Columns, rows: &Rows) -> Result<(), TestCaseError> {
    let dir = tempdir("iceberg");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let back = runtime.block_on(async {
        let catalog = CatalogConfig::embedded(dir.clone(), "conformance");
        let export = ExportConfig {
            catalog: catalog.clone(),
            namespace: "ks".into(),
            table: "t".into(),
            types: TypeOptions { timestamp: TimestampAs::Millis, ..TypeOptions::default() },
            explicit: Default::default(),
            partition_by: None,
            sort_by: None,
            mode: Default::default(),
        };
        let cql: Vec<CqlColumn> = columns
            .iter()
            .map(|(name, typ)| CqlColumn {
                name: name.clone(),
                cql_type: cql_type_name(typ),
                kind: ColumnKind::Regular,
                typ: typ.clone(),
            })
            .collect();
        let files = DataFileOptions { target_file_size: 64 << 20, row_group_rows: 2 };
        let spill = dir.join("spill");
        let sink = IcebergSink::open(&export, &cql, "run1", files, Vec::new(), spill, 1).await.unwrap();
        let destination = Destination::Iceberg(Box::new(sink));
        let batch = batch_of(columns, rows);
        let mut split = destination.split_sink(7);
        for row in 0..batch.num_rows() {
            split.write(&batch.slice(row, 1)).await.unwrap();
        }
        let output = split.commit().await.unwrap();
        assert_eq!(output.rows, rows.len() as u64);
        let done = SplitDone {
            split: 7,
            start: i64::MIN,
            end: i64::MAX,
            rows: output.rows,
            files: output.files,
            spill: output.spill,
        };
        let facts = RunFacts { source_cluster: "none".into(), source_table: "ks.t".into(), splits: 1 };
        let finished = destination.finish(&[done], &facts, &|_| {}).await.unwrap();
        finished.snapshot_id.expect("the run is committed as a snapshot");

        let source = Source::Iceberg(IcebergSource {
            catalog,
            namespace: "ks".into(),
            table: "t".into(),
            snapshot: SnapshotChoice::Current,
            filter: None,
        });
        let opened = OpenedSource::open(&source, None).await.unwrap();
        let mut chunks = opened.read(Vec::new());
        let mut back: Rows = Vec::new();
        while let Some(chunk) = chunks.recv().await {
            let chunk = chunk.unwrap();
            assert!(chunk.rejects.is_empty());
            let arrays: Vec<_> = columns
                .iter()
                .map(|(name, _)| normalize(chunk.batch.column_by_name(name).expect("every column")).unwrap())
                .collect();
            for row in 0..chunk.batch.num_rows() {
                let mut values = Vec::new();
                for ((name, typ), array) in columns.iter().zip(&arrays) {
                    let mut out = Vec::new();
                    let present =
                        encode(array.as_ref(), row, typ, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
                    values.push(present.then_some(out));
                }
                back.push(values);
            }
        }
        back
    });
    prop_assert_eq!(&back, rows);
    std::fs::remove_dir_all(&dir).unwrap();
    Ok(())
}

fn tempdir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cqlbulk-sink-{what}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn parquet_files_hold_what_was_written((columns, rows) in table()) {
        parquet_roundtrip(&columns, &rows)?;
    }

    #[test]
    fn csv_files_hold_what_was_written((columns, rows) in table()) {
        let read = InputFormat::Csv(CsvReadOptions::default());
        text_roundtrip(&columns, &rows, Format::Csv(CsvOptions::default()), read, Compression::Gzip)?;
    }

    #[test]
    fn json_files_hold_what_was_written((columns, rows) in table(), array in any::<bool>()) {
        let format = Format::Json(JsonOptions { array });
        text_roundtrip(&columns, &rows, format, InputFormat::Json, Compression::Zstd)?;
    }
}

proptest! {
    // Each case creates a catalog, a table and a snapshot: fewer cases than the file sinks.
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn iceberg_tables_hold_what_was_written((columns, rows) in table()) {
        iceberg_roundtrip(&columns, &rows)?;
    }
}

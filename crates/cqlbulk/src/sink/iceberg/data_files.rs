//! The Iceberg data files of one split: rows converted to the table's schema, routed to their
//! partition, written by iceberg-rust's Parquet writer stack (which also collects the column
//! metrics engines prune with).
//!
//! A token-order scan meets partitions in random order, so each split keeps at most
//! `max_open_files` files open and closes the least recently used one when it needs
//! another; memory stays bounded at the cost of more, smaller files.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef as ArrowSchemaRef;
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, DataFileFormat, FormatVersion, PartitionKey, PartitionSpecRef, SchemaRef, Struct, StructType,
    serialize_data_file_to_json,
};
use iceberg::writer::base_writer::data_file_writer::{DataFileWriter, DataFileWriterBuilder};
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator, LocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};

use super::convert::{ConvertError, convert_batch};
use crate::codec::text::ColumnText;
use crate::error::{Error, ErrorKind, Result};
use crate::operation::WrittenFile;
use crate::sink::format::{ParquetCompression, ParquetOptions};

/// Row-group memory one worker's open data files may hold together.
const WORKER_BUFFER_BYTES: usize = 64 << 20;
const MIN_ROW_GROUP_BYTES: usize = 2 << 20;

/// Where and how a run writes data files; shared by every split.
pub struct DataFileTarget {
    pub schema: SchemaRef,
    pub arrow_schema: ArrowSchemaRef,
    pub spec: PartitionSpecRef,
    pub partition_type: StructType,
    pub format_version: FormatVersion,
    splitter: Option<RecordBatchPartitionSplitter>,
    parquet: ParquetWriterBuilder,
    file_io: FileIO,
    locations: DefaultLocationGenerator,
    /// Start of every data file name of this run.
    pub file_prefix: String,
    pub target_file_size: usize,
    pub max_open_files: usize,
    /// Primary-key columns, to name the row in a conversion error.
    pub key_columns: Vec<String>,
}

/// Writer settings chosen by the user.
#[derive(Clone, Copy, Debug)]
pub struct DataFileOptions {
    pub target_file_size: usize,
    pub max_open_files: usize,
    pub row_group_rows: usize,
}

impl DataFileTarget {
    pub fn new(
        table: &iceberg::table::Table,
        file_prefix: String,
        options: DataFileOptions,
        key_columns: Vec<String>,
    ) -> Result<DataFileTarget> {
        let metadata = table.metadata();
        let schema = metadata.current_schema().clone();
        let spec = metadata.default_partition_spec().clone();
        let partition_type = spec.partition_type(&schema).map_err(|e| iceberg_error("partition spec", e))?;
        let arrow_schema = Arc::new(
            iceberg::arrow::schema_to_arrow_schema(&schema).map_err(|e| iceberg_error("schema", e))?,
        );
        let splitter = if spec.is_unpartitioned() {
            None
        } else {
            Some(
                RecordBatchPartitionSplitter::try_new_with_computed_values(schema.clone(), spec.clone())
                    .map_err(|e| iceberg_error("partition spec", e))?,
            )
        };
        // Each open file buffers its row group in memory: a worker's open files share one
        // budget, so partitioned exports get smaller row groups rather than more memory.
        let open_files = if spec.is_unpartitioned() { 1 } else { options.max_open_files.max(1) };
        let row_group_bytes = (WORKER_BUFFER_BYTES / open_files).max(MIN_ROW_GROUP_BYTES);
        let parquet =
            ParquetOptions { codec: ParquetCompression::Zstd, row_group_rows: options.row_group_rows };
        let properties = parquet.writer_properties().set_max_row_group_bytes(Some(row_group_bytes)).build();
        let locations =
            DefaultLocationGenerator::new(metadata).map_err(|e| iceberg_error("data location", e))?;
        Ok(DataFileTarget {
            parquet: ParquetWriterBuilder::new(properties, schema.clone()),
            schema,
            arrow_schema,
            spec,
            partition_type,
            format_version: metadata.format_version(),
            splitter,
            file_io: table.file_io().clone(),
            locations,
            file_prefix,
            target_file_size: options.target_file_size,
            max_open_files: options.max_open_files.max(1),
            key_columns,
        })
    }

    /// The writer of one attempt at split `split`.
    pub fn split_writer(self: &Arc<Self>, split: usize) -> SplitWriter {
        // The attempt tag keeps names unique if the same split is written again (resume).
        let attempt = format!("{:04x}", rand::random::<u16>());
        let names = DefaultFileNameGenerator::new(
            format!("{}-{split:06}-{attempt}", self.file_prefix),
            None,
            DataFileFormat::Parquet,
        );
        let created = RecordingLocations { inner: self.locations.clone(), created: Arc::default() };
        SplitWriter {
            target: self.clone(),
            names,
            created,
            open: Vec::new(),
            closed: Vec::new(),
            clock: 0,
            rows: 0,
            committed: false,
        }
    }
}

/// Remembers every file location handed out, so that an abandoned attempt can delete them.
#[derive(Clone)]
struct RecordingLocations {
    inner: DefaultLocationGenerator,
    created: Arc<Mutex<Vec<String>>>,
}

impl LocationGenerator for RecordingLocations {
    fn generate_location(&self, partition_key: Option<&PartitionKey>, file_name: &str) -> String {
        let location = self.inner.generate_location(partition_key, file_name);
        self.created.lock().expect("locations lock").push(location.clone());
        location
    }
}

type PartitionWriter = DataFileWriter<ParquetWriterBuilder, RecordingLocations, DefaultFileNameGenerator>;

struct OpenPartition {
    key: Option<Struct>,
    writer: PartitionWriter,
    last_used: u64,
}

/// What one split wrote: data files ready to commit.
pub struct SplitFiles {
    pub rows: u64,
    pub files: Vec<WrittenFile>,
    /// Each data file as iceberg-rust's JSON, kept in the checkpoint until the commit.
    pub data_files: Vec<String>,
}

/// Data files of one split attempt. Dropped without `commit`, it deletes what it wrote.
pub struct SplitWriter {
    target: Arc<DataFileTarget>,
    names: DefaultFileNameGenerator,
    created: RecordingLocations,
    open: Vec<OpenPartition>,
    closed: Vec<DataFile>,
    clock: u64,
    rows: u64,
    committed: bool,
}

impl SplitWriter {
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let converted =
            convert_batch(batch, &self.target.arrow_schema).map_err(|e| self.explain(batch, e))?;
        self.rows += batch.num_rows() as u64;
        match &self.target.splitter {
            None => self.write_partition(None, converted).await,
            Some(splitter) => {
                let parts = splitter.split(&converted).map_err(|e| iceberg_error("partitioning", e))?;
                for (key, part) in parts {
                    self.write_partition(Some(key), part).await?;
                }
                Ok(())
            }
        }
    }

    async fn write_partition(&mut self, key: Option<PartitionKey>, batch: RecordBatch) -> Result<()> {
        self.clock += 1;
        let data = key.as_ref().map(|k| k.data().clone());
        let index = match self.open.iter().position(|p| p.key == data) {
            Some(index) => index,
            None => {
                if self.open.len() >= self.target.max_open_files {
                    self.close_least_recent().await?;
                }
                let rolling = RollingFileWriterBuilder::new(
                    self.target.parquet.clone(),
                    self.target.target_file_size,
                    self.target.file_io.clone(),
                    self.created.clone(),
                    self.names.clone(),
                );
                let writer = DataFileWriterBuilder::new(rolling)
                    .build(key)
                    .await
                    .map_err(|e| iceberg_error("data file writer", e))?;
                self.open.push(OpenPartition { key: data, writer, last_used: 0 });
                self.open.len() - 1
            }
        };
        let partition = &mut self.open[index];
        partition.last_used = self.clock;
        partition.writer.write(batch).await.map_err(|e| iceberg_error("data file", e))
    }

    async fn close_least_recent(&mut self) -> Result<()> {
        let Some(index) = (0..self.open.len()).min_by_key(|&i| self.open[i].last_used) else {
            return Ok(());
        };
        let mut partition = self.open.swap_remove(index);
        let files = partition.writer.close().await.map_err(|e| iceberg_error("data file", e))?;
        self.closed.extend(files);
        Ok(())
    }

    /// Closes every file; the files stay invisible until the run's snapshot is committed.
    pub async fn commit(mut self) -> Result<SplitFiles> {
        while !self.open.is_empty() {
            self.close_least_recent().await?;
        }
        let mut files = Vec::with_capacity(self.closed.len());
        let mut data_files = Vec::with_capacity(self.closed.len());
        for data_file in std::mem::take(&mut self.closed) {
            files.push(WrittenFile {
                name: data_file.file_path().to_string(),
                rows: data_file.record_count(),
                bytes: data_file.file_size_in_bytes(),
            });
            let json = serialize_data_file_to_json(
                data_file,
                &self.target.partition_type,
                self.target.format_version,
            )
            .map_err(|e| iceberg_error("data file record", e))?;
            data_files.push(json);
        }
        self.committed = true;
        Ok(SplitFiles { rows: self.rows, files, data_files })
    }

    /// A conversion error with the primary key of the row, e.g.
    /// `column dec, key (id=4, ck=2): 1.234 does not fit decimal(10,2): …`.
    fn explain(&self, batch: &RecordBatch, err: ConvertError) -> Error {
        let mut key = Vec::new();
        for name in &self.target.key_columns {
            if let Some(array) = batch.column_by_name(name) {
                let field = batch.schema().field_with_name(name).expect("column exists").clone();
                let text = ColumnText::new(array, &field);
                let mut value = String::new();
                if err.row < array.len() {
                    text.write_text(err.row, &mut value);
                }
                key.push(format!("{name}={value}"));
            }
        }
        Error::new(
            ErrorKind::BadInput,
            format!("column {}, key ({}): {}", err.path, key.join(", "), err.message),
        )
    }
}

impl Drop for SplitWriter {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Close file handles before deleting; the files were never part of a snapshot.
        self.open.clear();
        for location in self.created.created.lock().expect("locations lock").drain(..) {
            let _ = std::fs::remove_file(local_path(&location));
        }
    }
}

/// The file-system path of a `file:` location.
pub fn local_path(location: &str) -> std::path::PathBuf {
    let path =
        location.strip_prefix("file://").or_else(|| location.strip_prefix("file:")).unwrap_or(location);
    std::path::PathBuf::from(path)
}

pub fn iceberg_error(what: &str, err: iceberg::Error) -> Error {
    crate::catalog::catalog_error(what, err)
}

//! Where and how a run writes Iceberg data files: rows converted to the table's schema and
//! routed to their partition ([`DataFileTarget::partition`]), and one partition's rows, in
//! order, written by iceberg-rust's Parquet writer stack into files of about the target size
//! ([`DataFileTarget::write_partition`]; the stack also collects the column metrics engines
//! prune with).
//!
//! Rows within a file are ordered by the table's sort order ([`SortKey`]): the primary key
//! unless `--sort-by` or the table says otherwise.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::{SchemaRef as ArrowSchemaRef, SortOptions};
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, DataFileFormat, FormatVersion, PartitionKey, PartitionSpecRef, SchemaRef, StructType, Transform,
};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{DefaultFileNameGenerator, DefaultLocationGenerator};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};

use super::convert::{ConvertError, convert_batch};
use crate::codec::text::ColumnText;
use crate::error::{Error, ErrorKind, Result};
use crate::sink::format::{ParquetCompression, ParquetOptions};

/// Row-group memory of one open data file. The end of a run writes a few partitions at once,
/// each with one open file.
const ROW_GROUP_BYTES: usize = 32 << 20;

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
    pub sort: SortKey,
    /// Primary-key columns, to name the row in a conversion error.
    pub key_columns: Vec<String>,
}

/// Writer settings chosen by the user.
#[derive(Clone, Copy, Debug)]
pub struct DataFileOptions {
    pub target_file_size: usize,
    pub row_group_rows: usize,
}

/// The columns rows are ordered by within a data file: the leading fields of the table's
/// default sort order that are top-level primitive columns sorted by their own value
/// (identity transform), ascending, nulls first — the order cqlbulk records.
#[derive(Clone, Debug, Default)]
pub struct SortKey {
    /// Indexes into the table's Arrow schema.
    pub columns: Vec<usize>,
    pub names: Vec<String>,
    fields: Vec<SortField>,
}

impl SortKey {
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// A converter to arrow-row's byte-comparable rows; one per thread of work.
    pub fn converter(&self) -> Result<RowConverter> {
        RowConverter::new(self.fields.clone())
            .map_err(|e| Error::new(ErrorKind::Schema, format!("sort key {:?}: {e}", self.names)))
    }

    /// The sort key of every row of `batch` (a batch of the table's schema).
    pub fn rows(&self, converter: &RowConverter, batch: &RecordBatch) -> Result<Rows> {
        let arrays: Vec<_> = self.columns.iter().map(|&i| batch.column(i).clone()).collect();
        converter
            .convert_columns(&arrays)
            .map_err(|e| Error::new(ErrorKind::Schema, format!("sort key {:?}: {e}", self.names)))
    }

    fn of_table(metadata: &iceberg::spec::TableMetadata, arrow_schema: &ArrowSchemaRef) -> SortKey {
        let schema = metadata.current_schema();
        let mut key = SortKey::default();
        for field in &metadata.default_sort_order().fields {
            let Some(column) = schema.field_by_id(field.source_id) else { break };
            let top_level = schema.as_struct().fields().iter().any(|f| f.id == field.source_id);
            let ascending_nulls_first = field.direction == iceberg::spec::SortDirection::Ascending
                && field.null_order == iceberg::spec::NullOrder::First;
            let Ok(index) = arrow_schema.index_of(&column.name) else { break };
            if field.transform != Transform::Identity
                || !top_level
                || !column.field_type.is_primitive()
                || !ascending_nulls_first
            {
                break;
            }
            let options = SortOptions { descending: false, nulls_first: true };
            key.fields
                .push(SortField::new_with_options(arrow_schema.field(index).data_type().clone(), options));
            key.columns.push(index);
            key.names.push(column.name.clone());
        }
        key
    }
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
        let parquet =
            ParquetOptions { codec: ParquetCompression::Zstd, row_group_rows: options.row_group_rows };
        let properties = parquet.writer_properties().set_max_row_group_bytes(Some(ROW_GROUP_BYTES)).build();
        let locations =
            DefaultLocationGenerator::new(metadata).map_err(|e| iceberg_error("data location", e))?;
        Ok(DataFileTarget {
            parquet: ParquetWriterBuilder::new(properties, schema.clone()),
            sort: SortKey::of_table(metadata, &arrow_schema),
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
            key_columns,
        })
    }

    /// `batch` (as cqlbulk reads it) converted to the table's schema and split by partition
    /// (one piece, without a key, for an unpartitioned table).
    pub fn partition(&self, batch: &RecordBatch) -> Result<Vec<(Option<PartitionKey>, RecordBatch)>> {
        let converted = convert_batch(batch, &self.arrow_schema).map_err(|e| self.explain(batch, e))?;
        match &self.splitter {
            None => Ok(vec![(None, converted)]),
            Some(splitter) => Ok(splitter
                .split(&converted)
                .map_err(|e| iceberg_error("partitioning", e))?
                .into_iter()
                .map(|(key, part)| (Some(key), part))
                .collect()),
        }
    }

    /// Writes the rows of one partition, in the order `batches` gives them, into data files
    /// of about the target size; `number` tells this partition's file names apart from the
    /// other partitions' of the run. The files stay invisible until the run's snapshot is
    /// committed.
    pub async fn write_partition(
        &self,
        number: usize,
        mut batches: impl Iterator<Item = Result<RecordBatch>>,
    ) -> Result<Vec<DataFile>> {
        let Some(first) = batches.next().transpose()? else { return Ok(Vec::new()) };
        // The partition's key, recomputed from its first row: spill files keep rows only.
        let key = match &self.splitter {
            None => None,
            Some(splitter) => {
                let mut parts =
                    splitter.split(&first.slice(0, 1)).map_err(|e| iceberg_error("partitioning", e))?;
                parts.pop().map(|(key, _)| key)
            }
        };
        let names = DefaultFileNameGenerator::new(
            format!("{}-{number:06}", self.file_prefix),
            None,
            DataFileFormat::Parquet,
        );
        let rolling = RollingFileWriterBuilder::new(
            self.parquet.clone(),
            self.target_file_size,
            self.file_io.clone(),
            self.locations.clone(),
            names,
        );
        let mut writer = DataFileWriterBuilder::new(rolling)
            .build(key)
            .await
            .map_err(|e| iceberg_error("data file writer", e))?;
        for batch in std::iter::once(Ok(first)).chain(batches) {
            let batch = batch?;
            // The writer decides to roll only between writes: pieces of about an eighth of
            // the target keep files near it when the target is small.
            let row_bytes = (batch.get_array_memory_size() / batch.num_rows().max(1)).max(1);
            let step = (self.target_file_size / 8 / row_bytes).max(1);
            let mut offset = 0;
            while offset < batch.num_rows() {
                let length = step.min(batch.num_rows() - offset);
                writer.write(batch.slice(offset, length)).await.map_err(|e| iceberg_error("data file", e))?;
                offset += length;
            }
        }
        writer.close().await.map_err(|e| iceberg_error("data file", e))
    }

    /// A conversion error with the primary key of the row, e.g.
    /// `column dec, key (id=4, ck=2): 1.234 does not fit decimal(10,2): …`.
    fn explain(&self, batch: &RecordBatch, err: ConvertError) -> Error {
        let mut key = Vec::new();
        for name in &self.key_columns {
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

/// The file-system path of a `file:` location.
pub fn local_path(location: &str) -> std::path::PathBuf {
    let path =
        location.strip_prefix("file://").or_else(|| location.strip_prefix("file:")).unwrap_or(location);
    std::path::PathBuf::from(path)
}

pub fn iceberg_error(what: &str, err: iceberg::Error) -> Error {
    crate::catalog::catalog_error(what, err)
}

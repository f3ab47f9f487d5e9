//! Files as a source: CSV, JSON lines or arrays, Parquet; plain or compressed (detected from
//! the name); a file, every file under a directory, a glob, or stdin. Text formats become
//! Utf8 columns holding each value's text form (scalars as text, nested values as JSON);
//! Parquet keeps its Arrow types.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::csv::{CsvReadOptions, CsvReader, UTF8_BOM};
use super::{CHUNK_RECORDS, Chunk, Location, Reject, Unit};
use crate::codec::parse::json_as_text;
use crate::compress::Compression;
use crate::error::{Error, ErrorKind, Result};
use crate::storage::{ObjectStore, StorageOptions};

/// The most text one chunk holds (besides `CHUNK_RECORDS` records).
const CHUNK_TEXT_BYTES: usize = 8 << 20;

#[derive(Clone, Debug)]
pub enum InputFormat {
    Csv(CsvReadOptions),
    /// One JSON object per line (DSBulk's default), optionally inside `[` … `]` lines.
    Json,
    Parquet,
}

impl InputFormat {
    pub fn name(&self) -> &'static str {
        match self {
            InputFormat::Csv(_) => "csv",
            InputFormat::Json => "json",
            InputFormat::Parquet => "parquet",
        }
    }

    fn extension(&self) -> &'static str {
        self.name()
    }
}

/// The files `url` names: a file, every file of `format` under a directory (recursively,
/// compressed ones too), a glob, or `-` for stdin.
pub fn file_units(url: &str, format: &InputFormat) -> Result<Vec<Unit>> {
    if url == "-" {
        if let InputFormat::Parquet = format {
            return Err(invalid(
                "--url -: Parquet cannot be read from stdin (it needs to seek); give a file",
            ));
        }
        return Ok(vec![Unit { name: "stdin".into(), location: Location::Stdin }]);
    }
    let path = Path::new(url);
    let mut files = Vec::new();
    if path.is_dir() {
        collect_files(path, format.extension(), &mut files)
            .map_err(|e| invalid(format!("--url {url}: cannot list the directory: {e}")))?;
        if files.is_empty() {
            return Err(invalid(format!(
                "--url {url}: no .{} files (or compressed ones) in the directory",
                format.extension()
            )));
        }
    } else if path.is_file() {
        files.push(path.to_path_buf());
    } else if url.contains(['*', '?', '[']) {
        let paths = glob::glob(url).map_err(|e| invalid(format!("--url {url}: bad pattern: {e}")))?;
        for entry in paths {
            let file = entry.map_err(|e| invalid(format!("--url {url}: {e}")))?;
            if file.is_file() {
                files.push(file);
            }
        }
        if files.is_empty() {
            return Err(invalid(format!("--url {url}: the pattern matches no file")));
        }
    } else {
        return Err(invalid(format!("--url {url}: no such file or directory")));
    }
    files.sort();
    Ok(files
        .into_iter()
        .map(|file| Unit { name: file.display().to_string(), location: Location::File(file) })
        .collect())
}

/// The objects `url` names: every object of `format` under it as a prefix (recursively,
/// compressed ones too), or else the one object it names.
pub async fn object_units(url: &str, storage: &StorageOptions, format: &InputFormat) -> Result<Vec<Unit>> {
    let store = ObjectStore::open(url, storage)?;
    let units = objects_of_format(&store, format).await?;
    if !units.is_empty() {
        return Ok(units);
    }
    // Not a prefix of any such object: one object, named in its parent prefix.
    if let Some((parent, name)) = store.url().rsplit_once('/')
        && parent.contains("://")
        && !parent.ends_with("://")
    {
        let parent = ObjectStore::open(parent, storage)?;
        if parent.exists(name).await? {
            return Ok(vec![Unit {
                name: parent.url_of(name),
                location: Location::Object { store: parent, name: name.to_string() },
            }]);
        }
    }
    Err(invalid(format!(
        "--url {}: no .{} objects (or compressed ones) under that prefix, and no such object",
        store.url(),
        format.extension()
    )))
}

/// The objects of `format` under the store's prefix (recursively, compressed ones too).
async fn objects_of_format(store: &ObjectStore, format: &InputFormat) -> Result<Vec<Unit>> {
    let wanted = |name: &str| {
        let base = name.rsplit('/').next().unwrap_or(name);
        let (_, stem) = Compression::from_file_name(base);
        !base.starts_with('.') && stem.ends_with(&format!(".{}", format.extension()))
    };
    let units: Vec<Unit> = store
        .list()
        .await?
        .into_iter()
        .filter(|(name, _)| wanted(name))
        .map(|(name, _)| Unit {
            name: store.url_of(&name),
            location: Location::Object { store: store.clone(), name },
        })
        .collect();
    Ok(units)
}

/// A unit's bytes as a local file: the file itself, or the object downloaded to a
/// temporary file, unlinked once open (so it takes disk space only while it is read).
/// Blocking: call it on a blocking thread.
fn open_file(unit: &Unit) -> Result<File> {
    match &unit.location {
        Location::File(path) => File::open(path).map_err(|e| invalid(format!("{}: {e}", unit.name))),
        Location::Object { store, name } => {
            let temp = std::env::temp_dir().join(format!(
                "cqlbulk-{}-{}.download",
                std::process::id(),
                rand::random::<u64>()
            ));
            let downloaded = tokio::runtime::Handle::current().block_on(store.download(name, &temp));
            let opened = downloaded.and_then(|()| {
                File::open(&temp).map_err(|e| Error::io(format!("cannot read {}", temp.display()), e))
            });
            let _ = std::fs::remove_file(&temp);
            opened
        }
        Location::Stdin | Location::Iceberg(_) => unreachable!("stdin and Iceberg have no file"),
    }
}

/// The name that tells a unit's compression: its file or object name.
fn compressed_name(unit: &Unit) -> &str {
    match &unit.location {
        Location::File(path) => path.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
        Location::Object { name, .. } => name.rsplit('/').next().unwrap_or(name),
        Location::Stdin | Location::Iceberg(_) => "",
    }
}

fn collect_files(dir: &Path, extension: &str, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, extension, out)?;
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let (_, stem) = Compression::from_file_name(name);
        if stem.ends_with(&format!(".{extension}")) {
            out.push(path);
        }
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadInput, message)
}

/// The bytes of stdin that `peek_fields` read: stdin cannot be opened a second time, so
/// the data reading gets them first, then the rest of stdin.
static STDIN_SEEN: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

fn stdin_seen() -> std::sync::MutexGuard<'static, Vec<u8>> {
    STDIN_SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stdin as a fresh reader would see it: the bytes seen so far, then the unread rest.
fn stdin_from_start() -> impl Read + Send {
    std::io::Cursor::new(std::mem::take(&mut *stdin_seen())).chain(std::io::stdin())
}

/// Stdin from its start for a peek: what the next reader will see again.
fn stdin_peek() -> impl Read + Send {
    std::io::Cursor::new(stdin_seen().clone()).chain(StdinKept)
}

/// The unread rest of stdin, each byte read also kept in `STDIN_SEEN`.
struct StdinKept;

impl Read for StdinKept {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::io::stdin().read(buf)?;
        stdin_seen().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// The unit's bytes, decompressed by what its name says.
fn open_text(unit: &Unit) -> Result<Box<dyn BufRead + Send>> {
    let reader: Box<dyn Read + Send> = match &unit.location {
        Location::Stdin => Box::new(stdin_from_start()),
        Location::File(_) | Location::Object { .. } => {
            let file = open_file(unit)?;
            let (codec, _) = Compression::from_file_name(compressed_name(unit));
            codec.decoder(file).map_err(|e| invalid(format!("{}: {e}", unit.name)))?
        }
        Location::Iceberg(_) => unreachable!("Iceberg units are read by the Iceberg scan"),
    };
    Ok(Box::new(BufReader::with_capacity(256 * 1024, reader)))
}

/// The field names of a unit before reading its data: the CSV header (or positions
/// `0`, `1`, … without one, from the first record), or the Parquet schema. JSON has no
/// schema: `None`.
pub fn peek_fields(unit: &Unit, format: &InputFormat) -> Result<Option<SchemaRef>> {
    match format {
        InputFormat::Csv(options) => {
            let input = match unit.location {
                Location::Stdin => Box::new(BufReader::new(stdin_peek())),
                _ => open_text(unit)?,
            };
            let mut reader = CsvReader::new(input, options.clone());
            let first = match reader.next_record() {
                None => return Ok(Some(Arc::new(Schema::empty()))),
                Some(Ok(record)) => record,
                Some(Err(e)) => {
                    return Err(invalid(format!(
                        "{} line {}: cannot read the first record: {}",
                        unit.name, e.line, e.reason
                    )));
                }
            };
            let names: Vec<String> = if options.header {
                first.fields.into_iter().map(Option::unwrap_or_default).collect()
            } else {
                (0..first.fields.len()).map(|i| i.to_string()).collect()
            };
            Ok(Some(text_schema(&names)))
        }
        InputFormat::Json => Ok(None),
        InputFormat::Parquet => {
            let file = open_file(unit)?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| invalid(format!("{}: not a readable Parquet file: {e}", unit.name)))?;
            Ok(Some(builder.schema().clone()))
        }
    }
}

fn text_schema(names: &[String]) -> SchemaRef {
    Arc::new(Schema::new(names.iter().map(|n| Field::new(n, DataType::Utf8, true)).collect::<Vec<_>>()))
}

/// Reads `units` in order (blocking I/O: run it on a blocking thread) and sends their
/// chunks. `json_fields` are the keys to take from JSON objects. Stops early when the
/// receiver is gone.
pub fn read_files(
    units: &[Unit],
    format: &InputFormat,
    json_fields: &[String],
    chunks: mpsc::Sender<Result<Chunk>>,
) {
    for (index, unit) in units.iter().enumerate() {
        let sent = match format {
            InputFormat::Csv(options) => read_csv(index, unit, options, &chunks),
            InputFormat::Json => read_json(index, unit, json_fields, &chunks),
            InputFormat::Parquet => read_parquet(index, unit, &chunks),
        };
        // A unit that cannot be opened is one bad record of that unit (readers fail this
        // way only before their first chunk).
        if let Err(err) = sent {
            let chunk = Chunk {
                unit: index,
                index: 0,
                batch: RecordBatch::new_empty(Arc::new(Schema::empty())),
                positions: Vec::new(),
                originals: None,
                rejects: vec![Reject { position: 0, original: String::new(), reason: err.to_string() }],
            };
            if chunks.blocking_send(Ok(chunk)).is_err() {
                return;
            }
        }
        if chunks.is_closed() {
            return;
        }
    }
}

/// Collects text records into Utf8 columns, cutting a chunk every `CHUNK_RECORDS` records
/// or `CHUNK_TEXT_BYTES` bytes.
struct TextChunker<'a> {
    unit: usize,
    next_index: u64,
    schema: SchemaRef,
    columns: Vec<StringBuilder>,
    positions: Vec<u64>,
    originals: Vec<String>,
    rejects: Vec<Reject>,
    bytes: usize,
    chunks: &'a mpsc::Sender<Result<Chunk>>,
}

impl<'a> TextChunker<'a> {
    fn new(unit: usize, schema: SchemaRef, chunks: &'a mpsc::Sender<Result<Chunk>>) -> TextChunker<'a> {
        let columns = (0..schema.fields().len()).map(|_| StringBuilder::new()).collect();
        TextChunker {
            unit,
            next_index: 0,
            schema,
            columns,
            positions: Vec::new(),
            originals: Vec::new(),
            rejects: Vec::new(),
            bytes: 0,
            chunks,
        }
    }

    fn push_row<'v>(
        &mut self,
        position: u64,
        original: String,
        values: impl IntoIterator<Item = Option<&'v str>>,
    ) {
        for (builder, value) in self.columns.iter_mut().zip(values) {
            builder.append_option(value);
        }
        self.bytes += original.len();
        self.positions.push(position);
        self.originals.push(original);
        self.after_record();
    }

    fn reject(&mut self, position: u64, original: String, reason: String) {
        self.bytes += original.len();
        self.rejects.push(Reject { position, original, reason });
        self.after_record();
    }

    fn after_record(&mut self) {
        if self.positions.len() + self.rejects.len() >= CHUNK_RECORDS || self.bytes >= CHUNK_TEXT_BYTES {
            self.flush();
        }
    }

    /// Sends what is collected; false when the receiver is gone.
    fn flush(&mut self) -> bool {
        if self.positions.is_empty() && self.rejects.is_empty() {
            return true;
        }
        let arrays: Vec<ArrayRef> =
            self.columns.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
        let rows = self.positions.len();
        let batch = RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .expect("text columns follow the schema");
        let chunk = Chunk {
            unit: self.unit,
            index: self.next_index,
            batch,
            positions: std::mem::take(&mut self.positions),
            originals: Some(std::mem::take(&mut self.originals)),
            rejects: std::mem::take(&mut self.rejects),
        };
        self.next_index += 1;
        self.bytes = 0;
        self.chunks.blocking_send(Ok(chunk)).is_ok()
    }
}

fn read_csv(
    index: usize,
    unit: &Unit,
    options: &CsvReadOptions,
    chunks: &mpsc::Sender<Result<Chunk>>,
) -> Result<()> {
    let mut reader = CsvReader::new(open_text(unit)?, options.clone());
    let mut chunker: Option<TextChunker> = None;
    let mut width = 0;
    while let Some(record) = reader.next_record() {
        if chunker.is_none() {
            // The first record fixes the fields: the header, or the width of a headerless file.
            let names: Vec<String> = match (&record, options.header) {
                (Ok(first), true) => first.fields.iter().map(|f| f.clone().unwrap_or_default()).collect(),
                (Ok(first), false) => (0..first.fields.len()).map(|i| i.to_string()).collect(),
                (Err(e), _) => {
                    // Without its first record the file cannot be read on.
                    let mut chunker = TextChunker::new(index, text_schema(&[]), chunks);
                    let original = String::from_utf8_lossy(&e.original).trim_end().to_string();
                    chunker.reject(e.line, original, format!("cannot read the first record: {}", e.reason));
                    chunker.flush();
                    return Ok(());
                }
            };
            width = names.len();
            chunker = Some(TextChunker::new(index, text_schema(&names), chunks));
            if options.header {
                continue;
            }
        }
        let chunker = chunker.as_mut().expect("set above");
        match record {
            Ok(record) => {
                let original = String::from_utf8_lossy(&record.original).trim_end().to_string();
                if record.fields.len() != width {
                    let reason = format!("{} fields where the file has {width}", record.fields.len());
                    chunker.reject(record.line, original, reason);
                } else {
                    chunker.push_row(record.line, original, record.fields.iter().map(Option::as_deref));
                }
            }
            Err(e) => {
                let original = String::from_utf8_lossy(&e.original).trim_end().to_string();
                chunker.reject(e.line, original, e.reason);
            }
        }
        if chunks.is_closed() {
            return Ok(());
        }
    }
    if let Some(mut chunker) = chunker {
        chunker.flush();
    }
    Ok(())
}

fn read_json(
    index: usize,
    unit: &Unit,
    fields: &[String],
    chunks: &mpsc::Sender<Result<Chunk>>,
) -> Result<()> {
    let mut input = open_text(unit)?;
    let names: Vec<String> = fields.to_vec();
    let mut chunker = TextChunker::new(index, text_schema(&names), chunks);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                chunker.reject(number + 1, String::new(), format!("cannot read: {e}"));
                break;
            }
        }
        number += 1;
        let bytes = if number == 1 { line.strip_prefix(UTF8_BOM).unwrap_or(&line) } else { &line };
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text.trim(),
            Err(e) => {
                let original = String::from_utf8_lossy(&line).trim_end().to_string();
                chunker.reject(number, original, format!("invalid UTF-8 at byte {}", e.valid_up_to()));
                continue;
            }
        };
        // JSON lines, or an array with one object per line.
        let text = text.trim_start_matches('[').trim_end_matches([']', ',']).trim();
        if text.is_empty() {
            continue;
        }
        match json_record(text, &names) {
            Ok(values) => chunker.push_row(number, text.to_string(), values.iter().map(|v| v.as_deref())),
            Err(reason) => chunker.reject(number, text.to_string(), reason),
        }
        if chunks.is_closed() {
            return Ok(());
        }
    }
    chunker.flush();
    Ok(())
}

/// The text forms of `names` in one JSON object; absent keys are null.
pub fn json_record(text: &str, names: &[String]) -> std::result::Result<Vec<Option<String>>, String> {
    let object: std::collections::HashMap<std::borrow::Cow<str>, &RawValue> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    names
        .iter()
        .map(|name| match object.get(name.as_str()) {
            None => Ok(None),
            Some(raw) => json_as_text(raw).map(|v| v.map(|c| c.into_owned())),
        })
        .collect()
}

fn read_parquet(index: usize, unit: &Unit, chunks: &mpsc::Sender<Result<Chunk>>) -> Result<()> {
    let file = open_file(unit)?;
    let reject_all = |reason: String| Chunk {
        unit: index,
        index: 0,
        batch: RecordBatch::new_empty(Arc::new(Schema::empty())),
        positions: Vec::new(),
        originals: None,
        rejects: vec![Reject { position: 0, original: String::new(), reason }],
    };
    let builder = match ParquetRecordBatchReaderBuilder::try_new(file) {
        Ok(builder) => builder,
        Err(e) => {
            let _ = chunks.blocking_send(Ok(reject_all(format!("not a readable Parquet file: {e}"))));
            return Ok(());
        }
    };
    // Batches of about 8 MiB, from the file's own sizes.
    let metadata = builder.metadata();
    let rows: i64 = metadata.row_groups().iter().map(|g| g.num_rows()).sum();
    let bytes: i64 = metadata.row_groups().iter().map(|g| g.total_byte_size()).sum();
    let row_bytes = (bytes / rows.max(1)).max(1) as usize;
    let batch_rows = (CHUNK_TEXT_BYTES / row_bytes).clamp(64, CHUNK_RECORDS);
    let reader = match builder.with_batch_size(batch_rows).build() {
        Ok(reader) => reader,
        Err(e) => {
            let _ = chunks.blocking_send(Ok(reject_all(format!("cannot read Parquet: {e}"))));
            return Ok(());
        }
    };
    let mut position = 0u64;
    for (chunk_index, batch) in reader.enumerate() {
        let chunk = match batch {
            Ok(batch) => {
                let rows = batch.num_rows() as u64;
                let positions = (position..position + rows).collect();
                position += rows;
                Chunk {
                    unit: index,
                    index: chunk_index as u64,
                    batch,
                    positions,
                    originals: None,
                    rejects: Vec::new(),
                }
            }
            Err(e) => {
                let reason = format!("cannot read Parquet from row {position} on: {e}");
                let mut chunk = reject_all(reason);
                chunk.index = chunk_index as u64;
                chunk.rejects[0].position = position;
                let _ = chunks.blocking_send(Ok(chunk));
                return Ok(());
            }
        };
        if chunks.blocking_send(Ok(chunk)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

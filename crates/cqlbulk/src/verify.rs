//! `verify`: does a table hold exactly the rows of a dataset?
//!
//! Both sides are reduced to the same thing: each row's CQL wire values for the compared
//! columns. The table's come straight from a token-range scan; the dataset's are its Arrow
//! rows encoded for the table's types, as `load` would write them. Each row is hashed, and
//! per token range the row count and the sum of the hashes (order-independent) are
//! compared. Ranges that differ are then read again row by row to name sample keys.
//!
//! [`run`] is the whole job (what `cqlbulk verify` calls).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use cqlbulk_ring::TokenRange;
use scylla::client::session::Session;
use scylla::frame::response::result::{CollectionType, ColumnType};
use scylla::statement::prepared::PreparedStatement;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::cluster::{ClusterView, TableName, quote_identifier};
use crate::connect::ConnectionConfig;
use crate::error::{Error, ErrorKind, Result, unless_cancelled};
use crate::load::{Preserve, RowPlan, encode_chunk, plan_columns};
use crate::progress::{Observer, Progress, Work};
use crate::scan::{self, PageVisitor, ScanConfig, ScanPlan};
use crate::sink::cassandra::EncodedRows;
use crate::source::{Chunk, OpenedSource, Source};

/// What to compare: a table, and a dataset in the shape `load` reads.
#[derive(Clone, Debug)]
pub struct VerifyConfig {
    pub connection: ConnectionConfig,
    pub table: TableName,
    pub scan: ScanConfig,
    pub source: Source,
    /// `field=column` pairs, as for `load`; `None`: fields map to columns of the same name.
    pub mapping: Option<Vec<(String, String)>>,
    /// Differing ranges to read again row by row for sample keys.
    pub detail_ranges: usize,
}

/// Whether the table and the dataset hold the same rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyStatus {
    Same,
    Different,
}

/// What verify found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VerifySummary {
    pub status: VerifyStatus,
    pub keyspace: String,
    pub table: String,
    pub source: String,
    pub token_ranges: usize,
    pub differing_ranges: usize,
    pub table_rows: u64,
    pub dataset_rows: u64,
    /// Dataset records that could not be read or converted (so not compared).
    pub unreadable_records: u64,
    /// The first few of them.
    pub unreadable: Vec<UnreadableRecord>,
    /// The first differing ranges, row by row.
    pub details: Vec<RangeDetails>,
    pub elapsed_seconds: f64,
    /// Every figure of the run (what metrics export).
    #[serde(default)]
    pub metrics: crate::progress::Figures,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UnreadableRecord {
    pub position: u64,
    pub reason: String,
}

/// One differing token range `(start, end]`: its rows on each side and sample keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RangeDetails {
    pub start: i64,
    pub end: i64,
    pub table_rows: u64,
    pub dataset_rows: u64,
    /// Keys as `id=5, ck=…`.
    pub only_in_table: Vec<String>,
    pub only_in_dataset: Vec<String>,
    pub values_differ: Vec<String>,
}

/// Compares the table and the dataset of `config`. Progress of the table scan goes to
/// `observer`; `cancel` stops the comparison with an `Interrupted` error. Differences are
/// not an error: the summary's status says [`VerifyStatus::Different`].
pub async fn run(
    config: &VerifyConfig,
    observer: &dyn Observer,
    cancel: &CancellationToken,
) -> Result<VerifySummary> {
    let table = &config.table;
    let session = unless_cancelled(cancel, config.connection.connect(&table.keyspace)).await?;
    let view = unless_cancelled(cancel, ClusterView::read(&session, table)).await?;
    let mapping = config.mapping.as_deref();
    let projection = config.source.projection(mapping);
    let opened = unless_cancelled(cancel, OpenedSource::open(&config.source, projection.as_deref())).await?;
    let columns =
        plan_columns(&view, opened.schema.as_ref(), &opened.description, mapping, Preserve::default())?;
    let json_fields: Vec<String> = columns.iter().map(|c| c.field.clone()).collect();
    let select: Vec<String> = columns.iter().map(|c| quote_identifier(&c.name)).collect();
    let mut plan = RowPlan::new(&view, columns);
    plan.source_fields = opened.fields_every_file_must_fit(mapping);
    let key_names: Vec<String> =
        view.table.partition_key.iter().chain(&view.table.clustering_key).cloned().collect();
    let shape = RowShape::new(&plan, &key_names);

    let scan_plan = ScanPlan::new(&view, &config.scan)?;
    let index = RangeIndex::new(scan_plan.splits.iter().map(|s| (s.index, s.range)));
    let cql = format!(
        "SELECT {} FROM {} WHERE {t} > ? AND {t} <= ?",
        select.join(", "),
        table.cql(),
        t = view.table.token_expression()
    );
    let (statement, _) =
        unless_cancelled(cancel, scan::prepare(&session, &view, &cql, config.connection.page_size)).await?;

    // Pass 1: digests of both sides, concurrently.
    let progress = Arc::new(Progress::new(Work::Ring, scan_plan.splits.len()));
    observer.started("verify", progress.clone());
    let sides = async {
        let table_side = table_digests(&session, &scan_plan, &statement, &shape, &progress, &[]);
        let dataset_side = dataset_digests(&opened, json_fields.clone(), &plan, &shape, &index, &[]);
        tokio::join!(table_side, dataset_side)
    };
    let (table_side, dataset_side) = tokio::select! {
        sides = sides => sides,
        () = cancel.cancelled() => {
            observer.finished(false);
            return Err(Error::new(ErrorKind::Interrupted, "interrupted"));
        }
    };
    observer.finished(table_side.is_ok() && dataset_side.is_ok());
    let (table_sums, _) = table_side?;
    let dataset = dataset_side?;

    let mut differing: Vec<usize> = Vec::new();
    let mut summary = VerifySummary {
        status: VerifyStatus::Same,
        keyspace: table.keyspace.clone(),
        table: table.table.clone(),
        source: opened.description.clone(),
        token_ranges: scan_plan.splits.len(),
        differing_ranges: 0,
        table_rows: 0,
        dataset_rows: 0,
        unreadable_records: 0,
        unreadable: dataset
            .unreadable
            .iter()
            .take(5)
            .map(|(position, _, reason)| UnreadableRecord { position: *position, reason: reason.clone() })
            .collect(),
        details: Vec::new(),
        elapsed_seconds: 0.0,
        metrics: Default::default(),
    };
    for split in &scan_plan.splits {
        let t = table_sums.get(&split.index).copied().unwrap_or_default();
        let d = dataset.digests.get(&split.index).copied().unwrap_or_default();
        summary.table_rows += t.rows;
        summary.dataset_rows += d.rows;
        if t != d {
            differing.push(split.index);
        }
    }
    differing.sort_unstable();
    summary.differing_ranges = differing.len();
    summary.unreadable_records = dataset.records.saturating_sub(summary.dataset_rows);
    if !differing.is_empty() || !dataset.unreadable.is_empty() {
        summary.status = VerifyStatus::Different;
    }

    // Pass 2: the first differing ranges, row by row.
    let detail: Vec<usize> = differing.iter().copied().take(config.detail_ranges).collect();
    if !detail.is_empty() {
        let detail_plan = ScanPlan {
            splits: scan_plan.splits.iter().filter(|s| detail.contains(&s.index)).cloned().collect(),
            concurrency: scan_plan.concurrency,
            max_attempts: scan_plan.max_attempts,
            throttle: scan_plan.throttle.clone(),
        };
        let details = async {
            let (_, table_rows) =
                table_digests(&session, &detail_plan, &statement, &shape, &progress, &detail).await?;
            let dataset_rows = dataset_digests(&opened, json_fields, &plan, &shape, &index, &detail).await?;
            Ok::<_, Error>((table_rows, dataset_rows))
        };
        let (table_rows, dataset_detail) = unless_cancelled(cancel, details).await?;
        let empty = HashMap::new();
        let describe = |keys: &[Vec<u8>]| keys.iter().map(|k| shape.describe_key(k)).collect();
        for split in &detail_plan.splits {
            let diff = compare_rows(
                table_rows.get(&split.index).unwrap_or(&empty),
                dataset_detail.rows.get(&split.index).unwrap_or(&empty),
                5,
            );
            summary.details.push(RangeDetails {
                start: split.range.start(),
                end: split.range.end(),
                table_rows: table_sums.get(&split.index).copied().unwrap_or_default().rows,
                dataset_rows: dataset.digests.get(&split.index).copied().unwrap_or_default().rows,
                only_in_table: describe(&diff.only_in_table),
                only_in_dataset: describe(&diff.only_in_dataset),
                values_differ: describe(&diff.different),
            });
        }
    }
    summary.elapsed_seconds = progress.snapshot().elapsed.as_secs_f64();
    summary.metrics = progress.figures();
    Ok(summary)
}

type SplitRows = HashMap<usize, HashMap<Vec<u8>, u64>>;

/// Digests of the table's splits; rows too for the splits in `detail`.
async fn table_digests(
    session: &Session,
    plan: &ScanPlan,
    statement: &PreparedStatement,
    shape: &RowShape,
    progress: &Progress,
    detail: &[usize],
) -> Result<(HashMap<usize, Digest>, SplitRows)> {
    let reports = scan::run(plan, progress, |split| async move {
        let mut visitor = SplitVisitor {
            shape,
            digest: Digest::default(),
            rows: detail.contains(&split.index).then(HashMap::new),
        };
        scan::read_split(session, split, statement, plan.max_attempts, progress, &mut visitor).await?;
        Ok((visitor.digest, visitor.rows))
    })
    .await;
    let mut digests = HashMap::new();
    let mut rows = HashMap::new();
    for report in reports {
        let (digest, split_rows) = report.result?;
        digests.insert(report.split.index, digest);
        if let Some(split_rows) = split_rows {
            rows.insert(report.split.index, split_rows);
        }
    }
    Ok((digests, rows))
}

/// Digests of the dataset's rows by the split their token falls in; rows too for the
/// splits in `detail`.
async fn dataset_digests(
    opened: &OpenedSource,
    json_fields: Vec<String>,
    plan: &RowPlan,
    shape: &RowShape,
    index: &RangeIndex,
    detail: &[usize],
) -> Result<DatasetSide> {
    let mut chunks = opened.read(json_fields);
    let mut side = DatasetSide::default();
    while let Some(chunk) = chunks.recv().await {
        match chunk {
            Ok(chunk) => side.add_chunk(plan, shape, index, &chunk, detail)?,
            Err(err) => {
                side.records += 1;
                side.unreadable.push((0, String::new(), err.to_string()));
            }
        }
    }
    Ok(side)
}

/// Row count and order-independent checksum of one token range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digest {
    pub rows: u64,
    pub sum: u64,
}

impl Digest {
    fn add(&mut self, hash: u64) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(hash);
    }
}

/// The compared columns' types, in plan order, and which of them form the primary key.
pub struct RowShape {
    pub types: Vec<ColumnType<'static>>,
    pub names: Vec<String>,
    pub key: Vec<usize>,
}

impl RowShape {
    pub fn new(plan: &RowPlan, key_names: &[String]) -> RowShape {
        RowShape {
            types: plan.columns.iter().map(|c| c.typ.clone()).collect(),
            names: plan.columns.iter().map(|c| c.name.clone()).collect(),
            key: key_names.iter().filter_map(|k| plan.columns.iter().position(|c| &c.name == k)).collect(),
        }
    }

    /// A row's hash over its canonical cells.
    pub fn hash<'a>(&self, cells: impl Iterator<Item = Option<&'a [u8]>>) -> u64 {
        let mut hasher = DefaultHasher::new();
        for (typ, cell) in self.types.iter().zip(cells) {
            match canonical(typ, cell) {
                None => hasher.write_u8(0),
                Some(bytes) => {
                    hasher.write_u8(1);
                    bytes.hash(&mut hasher);
                }
            }
        }
        hasher.finish()
    }

    /// A row's primary key as its canonical bytes (to match rows of both sides).
    pub fn key_bytes<'a>(&self, cell: impl Fn(usize) -> Option<&'a [u8]>) -> Vec<u8> {
        crate::codec::key::key_bytes(self.key.iter().map(|&column| cell(column)))
    }

    /// `id=5, ck=2026-01-01T00:00:00Z`, from key bytes made by `key_bytes`.
    pub fn describe_key(&self, key: &[u8]) -> String {
        let columns: Vec<(String, ColumnType<'static>)> =
            self.key.iter().map(|&c| (self.names[c].clone(), self.types[c].clone())).collect();
        crate::codec::key::describe_key(&columns, key)
    }
}

/// The form both sides agree on, where Cassandra keeps a value differently from how a
/// file may list it: set and map entries in byte order at any depth (Cassandra keeps its
/// own order), trailing null fields of a UDT or tuple dropped (a frozen UDT written
/// before `ALTER TYPE … ADD` has fewer fields), and an empty non-frozen collection or an
/// all-null non-frozen UDT is null (Cassandra stores no cells for either).
fn canonical<'a>(typ: &ColumnType, cell: Option<&'a [u8]>) -> Option<std::borrow::Cow<'a, [u8]>> {
    let bytes = cell?;
    let out: std::borrow::Cow<[u8]> = if has_canonical_form(typ) {
        let mut out = Vec::with_capacity(bytes.len());
        if canonical_into(typ, bytes, &mut out).is_none() {
            // Not a well-formed value of the type: compared as it is.
            return Some(bytes.into());
        }
        out.into()
    } else {
        bytes.into()
    };
    let multi_cell = match typ {
        ColumnType::Collection { frozen, .. } | ColumnType::UserDefinedType { frozen, .. } => !frozen,
        _ => false,
    };
    let no_cells = match typ {
        ColumnType::Collection { .. } => out.get(..4) == Some(&[0; 4][..]),
        _ => out.is_empty(),
    };
    if multi_cell && no_cells { None } else { Some(out) }
}

/// Whether two byte forms of a `typ` value can be equal for Cassandra: only through a
/// set, map, UDT or tuple somewhere inside. Other values (most cells) are hashed as they are.
fn has_canonical_form(typ: &ColumnType) -> bool {
    match typ {
        ColumnType::Native(_) | ColumnType::Vector { .. } => false,
        ColumnType::Collection { typ: CollectionType::List(element), .. } => has_canonical_form(element),
        _ => true,
    }
}

/// Appends the canonical form of `bytes`, a value of `typ`; `None` if it is malformed.
fn canonical_into(typ: &ColumnType, bytes: &[u8], out: &mut Vec<u8>) -> Option<()> {
    match typ {
        ColumnType::Collection { typ: collection, .. } => {
            let (count, mut rest) = bytes.split_at_checked(4)?;
            let count = usize::try_from(i32::from_be_bytes(count.try_into().ok()?)).ok()?;
            let (types, sorted): (Vec<&ColumnType>, bool) = match collection {
                CollectionType::List(element) => (vec![element], false),
                CollectionType::Set(element) => (vec![element], true),
                CollectionType::Map(key, value) => (vec![key, value], true),
                _ => return None,
            };
            // Every entry is at least one 4-byte length: a count beyond that is malformed.
            let mut entries = Vec::with_capacity(count.min(rest.len() / 4));
            for _ in 0..count {
                let mut entry = Vec::new();
                for typ in &types {
                    canonical_element(typ, read_value(&mut rest)?, &mut entry)?;
                }
                entries.push(entry);
            }
            if !rest.is_empty() {
                return None;
            }
            if sorted {
                entries.sort();
            }
            out.extend_from_slice(&bytes[..4]);
            entries.iter().for_each(|entry| out.extend_from_slice(entry));
        }
        ColumnType::UserDefinedType { definition, .. } => {
            canonical_fields(definition.field_types.iter().map(|(_, typ)| typ), bytes, out)?;
        }
        ColumnType::Tuple(types) => canonical_fields(types.iter(), bytes, out)?,
        // Vector elements are compared as they are: sets inside vectors are left unsorted.
        _ => out.extend_from_slice(bytes),
    }
    Some(())
}

/// The fields of a UDT or tuple value, without trailing nulls (or missing fields).
fn canonical_fields<'t, 'c: 't>(
    types: impl Iterator<Item = &'t ColumnType<'c>>,
    mut rest: &[u8],
    out: &mut Vec<u8>,
) -> Option<()> {
    let mut fields = Vec::new();
    let mut last_non_null = 0;
    for typ in types {
        if rest.is_empty() {
            break;
        }
        let value = read_value(&mut rest)?;
        canonical_element(typ, value, &mut fields)?;
        if value.is_some() {
            last_non_null = fields.len();
        }
    }
    if !rest.is_empty() {
        return None;
    }
    out.extend_from_slice(&fields[..last_non_null]);
    Some(())
}

/// One `[int length][bytes]` value (length < 0: null) taken from the front of `rest`.
fn read_value<'a>(rest: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    let (length, after) = rest.split_at_checked(4)?;
    let length = i32::from_be_bytes(length.try_into().ok()?);
    let Ok(length) = usize::try_from(length) else {
        *rest = after;
        return Some(None);
    };
    let (value, after) = after.split_at_checked(length)?;
    *rest = after;
    Some(Some(value))
}

/// Appends a length-prefixed element in canonical form.
fn canonical_element(typ: &ColumnType, value: Option<&[u8]>, out: &mut Vec<u8>) -> Option<()> {
    let Some(value) = value else {
        out.extend_from_slice(&(-1i32).to_be_bytes());
        return Some(());
    };
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    canonical_into(typ, value, out)?;
    let length = i32::try_from(out.len() - at - 4).ok()?;
    out[at..at + 4].copy_from_slice(&length.to_be_bytes());
    Some(())
}

/// Where each token falls: the ranges of a scan plan, found by their ends.
pub struct RangeIndex {
    /// (end, split index), sorted by end.
    ends: Vec<(i64, usize)>,
}

impl RangeIndex {
    pub fn new(ranges: impl IntoIterator<Item = (usize, TokenRange)>) -> RangeIndex {
        let mut ends: Vec<(i64, usize)> = ranges.into_iter().map(|(i, r)| (r.end(), i)).collect();
        ends.sort();
        RangeIndex { ends }
    }

    /// The split whose range `(start, end]` holds `token`.
    pub fn split_of(&self, token: i64) -> usize {
        let at = self.ends.partition_point(|(end, _)| *end < token);
        self.ends[at.min(self.ends.len() - 1)].1
    }
}

/// The dataset side: per split digests, and rows that could not be compared.
#[derive(Default)]
pub struct DatasetSide {
    pub digests: HashMap<usize, Digest>,
    /// Row keys and hashes of the splits asked for in detail.
    pub rows: HashMap<usize, HashMap<Vec<u8>, u64>>,
    pub unreadable: Vec<(u64, String, String)>,
    pub records: u64,
}

impl DatasetSide {
    /// Adds a chunk's rows; rows of the splits in `detail` are also kept one by one.
    pub fn add_chunk(
        &mut self,
        plan: &RowPlan,
        shape: &RowShape,
        index: &RangeIndex,
        chunk: &Chunk,
        detail: &[usize],
    ) -> Result<()> {
        let encoded = encode_chunk(plan, chunk);
        self.records += encoded.records;
        if self.unreadable.len() < 100 {
            self.unreadable.extend(encoded.bad.into_iter().take(100));
        }
        let rows = &encoded.encoded;
        for row in 0..encoded.rows.len() {
            let split = index.split_of(token(plan, rows, row)?);
            let hash = shape.hash((0..rows.width).map(|c| rows.cell(row, c)));
            self.digests.entry(split).or_default().add(hash);
            if detail.contains(&split) {
                let key = shape.key_bytes(|c| rows.cell(row, c));
                self.rows.entry(split).or_default().insert(key, hash);
            }
        }
        Ok(())
    }
}

/// The Murmur3 token of a row's partition key, computed here as Cassandra does (through
/// the driver's partitioner): one column's value, or each column's as (u16 length, value, 0).
fn token(plan: &RowPlan, rows: &EncodedRows, row: usize) -> Result<i64> {
    use scylla::routing::partitioner::{Murmur3Partitioner, Partitioner, PartitionerHasher};
    let mut hasher = Murmur3Partitioner.build_hasher();
    match plan.partition_key[..] {
        [only] => hasher.write(rows.cell(row, only).unwrap_or_default()),
        ref columns => {
            for &column in columns {
                let value = rows.cell(row, column).unwrap_or_default();
                let length = u16::try_from(value.len()).map_err(|_| {
                    Error::new(
                        ErrorKind::BadInput,
                        format!(
                            "partition key column {}: a value of {} bytes is over the 65,535 bytes of a composite key",
                            plan.columns[column].name,
                            value.len()
                        ),
                    )
                })?;
                hasher.write(&length.to_be_bytes());
                hasher.write(value);
                hasher.write(&[0]);
            }
        }
    }
    Ok(hasher.finish().value())
}

/// The table side of one split: its digest and, in detail mode, its rows.
pub struct SplitVisitor<'a> {
    pub shape: &'a RowShape,
    pub digest: Digest,
    pub rows: Option<HashMap<Vec<u8>, u64>>,
}

impl PageVisitor for SplitVisitor<'_> {
    fn row(&mut self, values: &[Option<&[u8]>]) -> Result<()> {
        let hash = self.shape.hash(values.iter().copied());
        self.digest.add(hash);
        if let Some(rows) = &mut self.rows {
            rows.insert(self.shape.key_bytes(|c| values[c]), hash);
        }
        Ok(())
    }

    async fn page_done(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Sample differences between the two sides' rows of one split.
#[derive(Debug, Default)]
pub struct RowDifferences {
    pub only_in_table: Vec<Vec<u8>>,
    pub only_in_dataset: Vec<Vec<u8>>,
    pub different: Vec<Vec<u8>>,
}

pub fn compare_rows(
    table: &HashMap<Vec<u8>, u64>,
    dataset: &HashMap<Vec<u8>, u64>,
    samples: usize,
) -> RowDifferences {
    let mut out = RowDifferences::default();
    for (key, hash) in table {
        match dataset.get(key) {
            None if out.only_in_table.len() < samples => out.only_in_table.push(key.clone()),
            Some(other) if other != hash && out.different.len() < samples => out.different.push(key.clone()),
            _ => {}
        }
    }
    for key in dataset.keys() {
        if !table.contains_key(key) && out.only_in_dataset.len() < samples {
            out.only_in_dataset.push(key.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scylla::frame::response::result::NativeType;
    use std::sync::Arc;

    fn set_of_ints(values: &[i32]) -> Vec<u8> {
        let mut out = (values.len() as i32).to_be_bytes().to_vec();
        for v in values {
            out.extend_from_slice(&4i32.to_be_bytes());
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    /// What: set order and empty collections do not change a row's hash; why: a file may
    /// list a set in any order and write `[]` for null, and Cassandra stores both the same.
    #[test]
    fn hashes_are_canonical() {
        let set = ColumnType::Collection {
            frozen: false,
            typ: CollectionType::Set(Box::new(ColumnType::Native(NativeType::Int))),
        };
        let shape = RowShape { types: vec![set], names: vec!["s".into()], key: vec![] };
        let a = set_of_ints(&[1, 2, 3]);
        let b = set_of_ints(&[3, 1, 2]);
        assert_eq!(
            shape.hash([Some(a.as_slice())].into_iter()),
            shape.hash([Some(b.as_slice())].into_iter())
        );
        let empty = set_of_ints(&[]);
        assert_eq!(shape.hash([Some(empty.as_slice())].into_iter()), shape.hash([None].into_iter()));
        assert_ne!(shape.hash([Some(a.as_slice())].into_iter()), shape.hash([None].into_iter()));
    }

    fn with_length(value: &[u8]) -> Vec<u8> {
        [&(value.len() as i32).to_be_bytes()[..], value].concat()
    }

    /// What: sets nested in a frozen list are compared in any order, a UDT value with fewer
    /// fields equals one whose missing fields are null, an all-null non-frozen UDT is null
    /// but a frozen one is not. Why: Cassandra keeps nested sets in its own order, returns
    /// old frozen UDT values without fields added later, and stores no cells for an all-null
    /// non-frozen UDT; a file may say each of these the other way, and verify must not call
    /// equal data different.
    #[test]
    fn nested_values_are_canonical() {
        use scylla::frame::response::result::UserDefinedType;
        let int = || ColumnType::Native(NativeType::Int);
        let set = ColumnType::Collection { frozen: true, typ: CollectionType::Set(Box::new(int())) };
        let list = ColumnType::Collection { frozen: true, typ: CollectionType::List(Box::new(set)) };
        let list_of_sets = |sets: &[&[i32]]| {
            let mut out = (sets.len() as i32).to_be_bytes().to_vec();
            sets.iter().for_each(|s| out.extend(with_length(&set_of_ints(s))));
            out
        };
        let a = list_of_sets(&[&[1, 2], &[3, 4]]);
        assert_eq!(canonical(&list, Some(&a)), canonical(&list, Some(&list_of_sets(&[&[2, 1], &[4, 3]]))));
        // A list's own order counts.
        assert_ne!(canonical(&list, Some(&a)), canonical(&list, Some(&list_of_sets(&[&[3, 4], &[1, 2]]))));

        let udt = |frozen| ColumnType::UserDefinedType {
            frozen,
            definition: Arc::new(UserDefinedType {
                name: "u".into(),
                keyspace: "k".into(),
                field_types: vec![("a".into(), int()), ("b".into(), int())],
            }),
        };
        let null = (-1i32).to_be_bytes();
        let one_field = with_length(&7i32.to_be_bytes());
        let trailing_null = [one_field.as_slice(), &null].concat();
        let all_null = [null, null].concat();
        for frozen in [true, false] {
            assert_eq!(
                canonical(&udt(frozen), Some(&one_field)),
                canonical(&udt(frozen), Some(&trailing_null))
            );
            assert_ne!(canonical(&udt(frozen), Some(&one_field)), canonical(&udt(frozen), Some(&all_null)));
        }
        assert_eq!(canonical(&udt(false), Some(&all_null)), None);
        assert!(canonical(&udt(true), Some(&all_null)).is_some());
        // Malformed bytes are compared as they are, never a panic.
        assert_eq!(canonical(&list, Some(&[0, 0, 0, 9, 1][..])).as_deref(), Some(&[0, 0, 0, 9, 1][..]));
    }

    /// What: tokens fall in the range whose end is at or above them; why: a row counted in
    /// the wrong range shows as two differences.
    #[test]
    fn tokens_find_their_range() {
        let ranges = [
            (0, TokenRange::new(i64::MIN, -10).unwrap()),
            (1, TokenRange::new(-10, 10).unwrap()),
            (2, TokenRange::new(10, i64::MAX).unwrap()),
        ];
        let index = RangeIndex::new(ranges);
        assert_eq!(index.split_of(-10), 0);
        assert_eq!(index.split_of(-9), 1);
        assert_eq!(index.split_of(10), 1);
        assert_eq!(index.split_of(i64::MAX), 2);
    }
}

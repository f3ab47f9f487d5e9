//! `verify`: does a table hold exactly the rows of a dataset?
//!
//! Both sides are reduced to the same thing: each row's CQL wire values for the compared
//! columns. The table's come straight from a token-range scan; the dataset's are its Arrow
//! rows encoded for the table's types, as `load` would write them. Each row is hashed, and
//! per token range the row count and the sum of the hashes (order-independent) are
//! compared. Ranges that differ are then read again row by row to name sample keys.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use cqlbulk_ring::TokenRange;
use scylla::frame::response::result::{CollectionType, ColumnType};

use crate::decode::BatchBuilder;
use crate::error::Result;
use crate::load::source::Chunk;
use crate::load::write::{BoundRow, EncodedRows};
use crate::load::{LoadPlan, encode_chunk};
use crate::scan::PageVisitor;
use crate::text::ColumnText;

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
    pub fn new(plan: &LoadPlan, key_names: &[String]) -> RowShape {
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
        let mut out = Vec::new();
        for &column in &self.key {
            match cell(column) {
                Some(bytes) => {
                    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out
    }

    /// `id=5, ck=2026-01-01T00:00:00Z`, from key bytes made by `key_bytes`.
    pub fn describe_key(&self, key: &[u8]) -> String {
        let columns: Vec<(String, ColumnType<'static>)> =
            self.key.iter().map(|&c| (self.names[c].clone(), self.types[c].clone())).collect();
        let mut builder = BatchBuilder::new(&columns);
        let mut rest = key;
        let mut values = Vec::new();
        for _ in &columns {
            let len = i32::from_be_bytes(rest[..4].try_into().expect("4 bytes"));
            rest = &rest[4..];
            if len < 0 {
                values.push(None);
            } else {
                values.push(Some(&rest[..len as usize]));
                rest = &rest[len as usize..];
            }
        }
        if builder.append_row(values).is_err() {
            return "(undecodable key)".into();
        }
        let batch = builder.finish();
        let mut parts = Vec::new();
        for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
            let text = ColumnText::new(array, field);
            let mut value = String::new();
            if text.is_null(0) {
                value.push_str("null");
            } else {
                text.write_text(0, &mut value);
            }
            parts.push(format!("{}={value}", field.name()));
        }
        parts.join(", ")
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
        plan: &LoadPlan,
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

fn token(plan: &LoadPlan, rows: &EncodedRows, row: usize) -> Result<i64> {
    let statement = plan.statement();
    let values = BoundRow { rows, row, bind: &statement.bind };
    match statement.prepared.calculate_token(&values) {
        Ok(Some(token)) => Ok(token.value()),
        Ok(None) => Err(crate::error::Error::new(
            crate::error::ErrorKind::Schema,
            "the driver cannot compute tokens for this table (no partitioner)",
        )),
        Err(e) => Err(crate::error::Error::new(
            crate::error::ErrorKind::BadInput,
            format!("cannot compute a row's token: {e}"),
        )),
    }
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

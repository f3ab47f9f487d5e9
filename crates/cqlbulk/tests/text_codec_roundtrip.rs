//! Property tests of the text codecs, no server: for random values of every CQL type nested
//! at random, with adversarial strings, what `unload` writes as CSV or JSON, `load` reads
//! back to the same CQL wire bytes. Bytes, not a looser equality: a map nested in a tuple
//! that comes back reordered is another value, of a key even.
//!
//! The chain is the product's own: wire bytes → Arrow (`decode`) → CSV/JSON text (the
//! `unload` writers) → records (the `load` readers) → wire bytes (`parse`).

use std::io::Write;
use std::sync::{Arc, Mutex};

use cqlbulk::decode::BatchBuilder;
use cqlbulk::load::csv::{CsvReadOptions, CsvReader};
use cqlbulk::load::source::json_record;
use cqlbulk::parse::encode_text;
use cqlbulk::sink::format::{CsvOptions, JsonOptions};
use cqlbulk::sink::{Compression, Format, open_writer};
use cqlbulk::types::cql_type_name;
use num_bigint::BigInt;
use proptest::prelude::*;
use scylla::frame::response::result::{CollectionType, ColumnType, NativeType, UserDefinedType};

/// Characters that break naive CSV and JSON code: quotes, escapes, delimiters, line breaks,
/// NUL, a byte order mark, 4-byte UTF-8, JSON punctuation.
const NASTY: &[char] = &[
    '"', '\\', ',', ';', '\t', '\r', '\n', '\0', '\u{feff}', '😀', 'é', ' ', '\'', '{', '}', '[', ']', ':',
    'n', 'u', 'l', '0', '1', 'e', '-', '.', 'a', 'Z', '#', '\u{7f}', '\u{1}',
];

/// Whole strings that look like something else: null, numbers, JSON, DSBulk's null.
const LOOKALIKES: &[&str] = &[
    "",
    "null",
    "NULL",
    "\\N",
    "123",
    "-1.5e10",
    "true",
    "[1,2]",
    "{\"a\":1}",
    " ",
    "\t",
    "\"\"",
    "\\",
    "\\\"",
    "a\\",
    "\"",
    " lead",
    "trail ",
    "\u{feff}bom",
    "nul\0",
    "\r\n",
];

fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(prop::sample::select(NASTY), 0..12).prop_map(|c| c.into_iter().collect()),
        1 => prop::sample::select(LOOKALIKES).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn nasty_ascii() -> impl Strategy<Value = String> {
    nasty_string().prop_map(|s| s.chars().filter(char::is_ascii).collect())
}

const NATIVE: &[NativeType] = &[
    NativeType::Ascii,
    NativeType::Boolean,
    NativeType::Blob,
    NativeType::Date,
    NativeType::Decimal,
    NativeType::Double,
    NativeType::Duration,
    NativeType::Float,
    NativeType::Int,
    NativeType::BigInt,
    NativeType::Text,
    NativeType::Timestamp,
    NativeType::Inet,
    NativeType::SmallInt,
    NativeType::TinyInt,
    NativeType::Time,
    NativeType::Timeuuid,
    NativeType::Uuid,
    NativeType::Varint,
];

/// A CQL type nested up to 3 levels: every native type, lists, sets, maps, tuples, UDTs
/// (with awkward field names) and vectors, frozen or not.
fn cql_type() -> impl Strategy<Value = ColumnType<'static>> {
    let leaf = prop::sample::select(NATIVE).prop_map(ColumnType::Native);
    leaf.prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), any::<bool>()).prop_map(|(t, frozen)| ColumnType::Collection {
                frozen,
                typ: CollectionType::List(Box::new(t))
            }),
            (inner.clone(), any::<bool>()).prop_map(|(t, frozen)| ColumnType::Collection {
                frozen,
                typ: CollectionType::Set(Box::new(t))
            }),
            (inner.clone(), inner.clone(), any::<bool>()).prop_map(|(k, v, frozen)| ColumnType::Collection {
                frozen,
                typ: CollectionType::Map(Box::new(k), Box::new(v))
            }),
            prop::collection::vec(inner.clone(), 1..4).prop_map(ColumnType::Tuple),
            (prop::collection::vec(inner.clone(), 1..4), any::<bool>()).prop_map(|(types, frozen)| {
                let names = ["a", "Mixed Case", "select", "with \"quote\"", "ünï"];
                ColumnType::UserDefinedType {
                    frozen,
                    definition: Arc::new(UserDefinedType {
                        name: "Udt".into(),
                        keyspace: "ks".into(),
                        field_types: types
                            .into_iter()
                            .enumerate()
                            .map(|(i, t)| (names[i % 5].into(), t))
                            .collect(),
                    }),
                }
            }),
            (inner, 1u16..4).prop_map(|(t, dimensions)| ColumnType::Vector { typ: Box::new(t), dimensions }),
        ]
    })
}

fn length_prefixed(value: Vec<u8>) -> Vec<u8> {
    let mut out = (value.len() as i32).to_be_bytes().to_vec();
    out.extend(value);
    out
}

fn unsigned_vint(mut v: u64, out: &mut Vec<u8>) {
    // Cassandra's vint: the count of extra bytes as leading ones of the first byte.
    let mut bytes = Vec::new();
    loop {
        bytes.push((v & 0xff) as u8);
        v >>= 8;
        if v == 0 {
            break;
        }
    }
    let mut extra = bytes.len() - 1;
    let first_bits = 8 - extra - 1;
    if extra < 8 && u64::from(*bytes.last().unwrap()) >= (1u64 << first_bits) {
        bytes.push(0);
        extra += 1;
    }
    bytes.reverse();
    if extra >= 8 {
        out.push(0xff);
        out.extend(&bytes[bytes.len() - 8..]);
        return;
    }
    bytes[0] |= !(0xffu8 >> extra);
    out.extend(bytes);
}

fn signed_vint(v: i64, out: &mut Vec<u8>) {
    unsigned_vint(((v << 1) ^ (v >> 63)) as u64, out);
}

/// Wire bytes of a random value of `typ` (never null at the top; nested nulls where CQL
/// allows them: tuple and UDT fields).
fn value(typ: &ColumnType<'static>) -> BoxedStrategy<Vec<u8>> {
    match typ {
        ColumnType::Native(native) => native_value(native),
        ColumnType::Collection { typ: CollectionType::List(item) | CollectionType::Set(item), .. } => {
            prop::collection::vec(value(item), 0..4)
                .prop_map(|items| {
                    let mut out = (items.len() as i32).to_be_bytes().to_vec();
                    items.into_iter().for_each(|i| out.extend(length_prefixed(i)));
                    out
                })
                .boxed()
        }
        ColumnType::Collection { typ: CollectionType::Map(key, val), .. } => {
            prop::collection::vec((value(key), value(val)), 0..4)
                .prop_map(|mut entries| {
                    // Keys are unique in any map Cassandra returns.
                    let mut seen = std::collections::HashSet::new();
                    entries.retain(|(k, _)| seen.insert(k.clone()));
                    let mut out = (entries.len() as i32).to_be_bytes().to_vec();
                    for (k, v) in entries {
                        out.extend(length_prefixed(k));
                        out.extend(length_prefixed(v));
                    }
                    out
                })
                .boxed()
        }
        ColumnType::Tuple(types) => fields(types.iter().collect()),
        ColumnType::UserDefinedType { definition, .. } => {
            fields(definition.field_types.iter().map(|(_, t)| t).collect())
        }
        ColumnType::Vector { typ: element, dimensions } => {
            let fixed = element.type_size_for_vector().is_some();
            prop::collection::vec(value(element), usize::from(*dimensions))
                .prop_map(move |items| {
                    let mut out = Vec::new();
                    for item in items {
                        if !fixed {
                            unsigned_vint(item.len() as u64, &mut out);
                        }
                        out.extend(item);
                    }
                    out
                })
                .boxed()
        }
        other => panic!("no generator for {other:?}"),
    }
}

fn fields(types: Vec<&ColumnType<'static>>) -> BoxedStrategy<Vec<u8>> {
    let parts: Vec<BoxedStrategy<Option<Vec<u8>>>> =
        types.into_iter().map(|t| prop::option::weighted(0.8, value(t)).boxed()).collect();
    parts
        .prop_map(|values| {
            let mut out = Vec::new();
            for v in values {
                match v {
                    Some(v) => out.extend(length_prefixed(v)),
                    None => out.extend((-1i32).to_be_bytes()),
                }
            }
            out
        })
        .boxed()
}

fn native_value(native: &NativeType) -> BoxedStrategy<Vec<u8>> {
    match native {
        NativeType::Ascii => nasty_ascii().prop_map(String::into_bytes).boxed(),
        NativeType::Text => nasty_string().prop_map(String::into_bytes).boxed(),
        NativeType::Boolean => any::<bool>().prop_map(|b| vec![u8::from(b)]).boxed(),
        NativeType::Blob => prop::collection::vec(any::<u8>(), 0..12).boxed(),
        NativeType::TinyInt => any::<i8>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::SmallInt => any::<i16>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::Int => any::<i32>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::BigInt => any::<i64>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        // Every bit pattern but NaN payloads other than the canonical one (text has one NaN).
        NativeType::Float => any::<f32>()
            .prop_map(|v| if v.is_nan() { f32::NAN } else { v })
            .prop_map(|v| v.to_be_bytes().to_vec())
            .boxed(),
        NativeType::Double => any::<f64>()
            .prop_map(|v| if v.is_nan() { f64::NAN } else { v })
            .prop_map(|v| v.to_be_bytes().to_vec())
            .boxed(),
        NativeType::Varint => prop::collection::vec(any::<u8>(), 1..20)
            .prop_map(|b| BigInt::from_signed_bytes_be(&b).to_signed_bytes_be())
            .boxed(),
        NativeType::Decimal => (any::<i32>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(scale, b)| {
                let mut out = scale.to_be_bytes().to_vec();
                out.extend(BigInt::from_signed_bytes_be(&b).to_signed_bytes_be());
                out
            })
            .boxed(),
        NativeType::Date => any::<u32>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::Time => (0i64..86_400_000_000_000).prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::Timestamp => any::<i64>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::Uuid => any::<[u8; 16]>().prop_map(|b| b.to_vec()).boxed(),
        NativeType::Timeuuid => any::<[u8; 16]>()
            .prop_map(|mut b| {
                b[6] = (b[6] & 0x0f) | 0x10;
                b[8] = (b[8] & 0x3f) | 0x80;
                b.to_vec()
            })
            .boxed(),
        NativeType::Inet => {
            prop_oneof![any::<[u8; 4]>().prop_map(|b| b.to_vec()), any::<[u8; 16]>().prop_map(|b| b.to_vec())]
                .boxed()
        }
        // Months, days and nanoseconds share one sign in Cassandra.
        NativeType::Duration => (any::<bool>(), 0..=i32::MAX, 0..=i32::MAX, 0..=i64::MAX)
            .prop_map(|(negative, months, days, nanos)| {
                let sign = if negative { -1 } else { 1 };
                let mut out = Vec::new();
                signed_vint(i64::from(months) * sign, &mut out);
                signed_vint(i64::from(days) * sign, &mut out);
                signed_vint(nanos * sign, &mut out);
                out
            })
            .boxed(),
        other => panic!("no generator for {other:?}"),
    }
}

/// A table's worth: columns with awkward names and types, and rows of values (null where
/// a column may be null).
/// Named columns and rows of wire values (`None` for null).
type Columns = Vec<(String, ColumnType<'static>)>;
type Rows = Vec<Vec<Option<Vec<u8>>>>;

fn table() -> impl Strategy<Value = (Columns, Rows)> {
    let names =
        ["id", "Mixed Case", "select", "with,comma", "with \"quote\"", "ünï 😀", "back\\slash", "tab\there"];
    prop::collection::vec(cql_type(), 1..4)
        .prop_flat_map(move |types| {
            let columns: Vec<(String, ColumnType<'static>)> =
                types.into_iter().enumerate().map(|(i, t)| (names[i % names.len()].to_string(), t)).collect();
            let row: Vec<BoxedStrategy<Option<Vec<u8>>>> =
                columns.iter().map(|(_, t)| prop::option::weighted(0.9, value(t)).boxed()).collect();
            (Just(columns), prop::collection::vec(row, 1..5))
        })
        .prop_filter("a row of only nulls is no row", |(_, rows)| {
            rows.iter().all(|r| r.iter().any(Option::is_some))
        })
}

/// An in-memory file the writers can own.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes `rows` of `columns` in `format` as `unload` does; returns the file's bytes.
fn unload(
    format: &Format,
    columns: &[(String, ColumnType<'static>)],
    rows: &[Vec<Option<Vec<u8>>>],
) -> Vec<u8> {
    let mut builder = BatchBuilder::new(columns);
    for row in rows {
        builder.append_row(row.iter().map(|v| v.as_deref())).expect("generated values decode");
    }
    let batch = builder.finish();
    let file = Shared::default();
    let mut writer = open_writer(format, Compression::None, builder.schema().clone(), file.clone()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    file.0.lock().unwrap().clone()
}

/// Text fields back to wire bytes, as `load` converts them.
fn to_wire(
    columns: &[(String, ColumnType<'static>)],
    fields: &[Option<String>],
) -> Result<Vec<Option<Vec<u8>>>, String> {
    columns
        .iter()
        .zip(fields)
        .map(|((name, typ), field)| {
            field
                .as_deref()
                .map(|text| {
                    let mut out = Vec::new();
                    encode_text(typ, text, &mut out).map(|()| out).map_err(|e| format!("{name}: {e}"))
                })
                .transpose()
        })
        .collect()
}

fn describe(columns: &[(String, ColumnType<'static>)]) -> String {
    columns.iter().map(|(n, t)| format!("{n:?} {}", cql_type_name(t))).collect::<Vec<_>>().join(", ")
}

fn csv_roundtrip(
    write: CsvOptions,
    read: CsvReadOptions,
    columns: &[(String, ColumnType<'static>)],
    rows: &[Vec<Option<Vec<u8>>>],
) -> Result<(), TestCaseError> {
    let file = unload(&Format::Csv(write), columns, rows);
    let text = String::from_utf8_lossy(&file);
    let mut reader = CsvReader::new(file.as_slice(), read);
    let header = reader.next_record().expect("a header").map_err(|e| TestCaseError::fail(e.reason))?;
    let names: Vec<Option<String>> = columns.iter().map(|(n, _)| Some(n.clone())).collect();
    prop_assert_eq!(header.fields, names, "header of {}:\n{}", describe(columns), text);
    for row in rows {
        let record = reader.next_record().expect("a record per row").map_err(|e| {
            TestCaseError::fail(format!("line {}: {} in {}:\n{text}", e.line, e.reason, describe(columns)))
        })?;
        let back =
            to_wire(columns, &record.fields).map_err(|e| TestCaseError::fail(format!("{e}:\n{text}")))?;
        prop_assert_eq!(&back, row, "{}:\n{}", describe(columns), text);
    }
    prop_assert!(reader.next_record().is_none(), "more records than rows:\n{}", text);
    Ok(())
}

/// What: single-column rows whose text is only white space, a byte order mark, or looks
/// like null, in every dialect; why: such a line must not read as a blank line (skipped),
/// a BOM at the start of a file (dropped) or null.
#[test]
fn lone_awkward_text_values_are_records() {
    let columns = vec![("v".to_string(), ColumnType::Native(NativeType::Text))];
    let rows: Vec<Vec<Option<Vec<u8>>>> =
        ["\t", " ", "\r", "\u{feff}", "\u{feff}x", "\\N", "", "\u{a0}", "\u{2028}"]
            .iter()
            .map(|t| vec![Some(t.as_bytes().to_vec())])
            .collect();
    csv_roundtrip(CsvOptions::default(), CsvReadOptions::default(), &columns, &rows).unwrap();
    let no_header = CsvOptions { header: false, ..CsvOptions::default() };
    let file = unload(&Format::Csv(no_header), &columns, &rows);
    let mut reader =
        CsvReader::new(file.as_slice(), CsvReadOptions { header: false, ..CsvReadOptions::default() });
    for row in &rows {
        let record = reader.next_record().expect("a record per row").unwrap();
        assert_eq!(to_wire(&columns, &record.fields).unwrap(), *row);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    /// What: the default CSV dialect (backslash escapes, DSBulk's) reads back every value;
    /// why: `unload` then `load` with default flags must be the identity.
    #[test]
    fn csv_default_dialect_is_the_identity((columns, rows) in table()) {
        csv_roundtrip(CsvOptions::default(), CsvReadOptions::default(), &columns, &rows)?;
    }

    /// What: RFC 4180 (`--escape '"'` on both sides: doubled quotes, backslashes as text),
    /// a tab delimiter and `\N` for null read back every value; why: the dialect flags must
    /// not lose data either.
    #[test]
    fn csv_other_dialects_are_the_identity((columns, rows) in table()) {
        let rfc_write = CsvOptions { escape: '"', ..CsvOptions::default() };
        let rfc_read = CsvReadOptions { escape: b'"', ..CsvReadOptions::default() };
        csv_roundtrip(rfc_write, rfc_read, &columns, &rows)?;
        let tsv_write = CsvOptions { delimiter: '\t', null: "\\N".into(), ..CsvOptions::default() };
        let tsv_read = CsvReadOptions { delimiter: b'\t', null: "\\N".into(), ..CsvReadOptions::default() };
        csv_roundtrip(tsv_write, tsv_read, &columns, &rows)?;
    }

    /// What: JSON lines and JSON arrays read back every value, map entries in their order;
    /// why: JSON is the other text format both cqlbulk and DSBulk read and write.
    #[test]
    fn json_is_the_identity((columns, rows) in table(), array in any::<bool>()) {
        let file = unload(&Format::Json(JsonOptions { array }), &columns, &rows);
        let text = String::from_utf8(file).expect("JSON is UTF-8");
        let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
        // As `load` reads them: a record per line, array brackets and commas around it.
        let records: Vec<&str> = text
            .lines()
            .map(|l| l.trim().trim_start_matches('[').trim_end_matches([']', ',']).trim())
            .filter(|l| !l.is_empty())
            .collect();
        prop_assert_eq!(records.len(), rows.len(), "{}", text);
        for (record, row) in records.iter().zip(&rows) {
            let fields = json_record(record, &names).map_err(|e| TestCaseError::fail(format!("{e}: {record}")))?;
            let back = to_wire(&columns, &fields).map_err(|e| TestCaseError::fail(format!("{e}: {record}")))?;
            prop_assert_eq!(&back, row, "{}: {}", describe(&columns), record);
        }
    }
}

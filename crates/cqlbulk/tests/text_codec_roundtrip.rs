//! Property tests of the text codecs, no server: for random values of every CQL type nested
//! at random, with adversarial strings, what `unload` writes as CSV or JSON, `load` reads
//! back to the same CQL wire bytes. Bytes, not a looser equality: a map nested in a tuple
//! that comes back reordered is another value, of a key even.
//!
//! The chain is the product's own: wire bytes → Arrow (`decode`) → CSV/JSON text (the
//! `unload` writers) → records (the `load` readers) → wire bytes (`parse`).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::values::table;

use cqlbulk::codec::decode::BatchBuilder;
use cqlbulk::codec::parse::encode_text;
use cqlbulk::codec::types::cql_type_name;
use cqlbulk::sink::format::{CsvOptions, JsonOptions};
use cqlbulk::sink::{Compression, Format, open_writer};
use cqlbulk::source::csv::{CsvReadOptions, CsvReader};
use cqlbulk::source::files::json_record;
use proptest::prelude::*;
use scylla::frame::response::result::{ColumnType, NativeType};

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

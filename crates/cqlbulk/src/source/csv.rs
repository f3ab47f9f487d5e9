//! A CSV record reader that keeps what `load` needs and the `csv` crate does not expose:
//! whether a field was quoted (so `""` is an empty text and an empty field is null, as
//! cqlbulk and DSBulk write them), the line each record starts on, and its original bytes
//! for the bad-records file. Quotes are escaped by doubling (RFC 4180) or, as DSBulk
//! writes them, with a backslash; both are read, whatever the options say.

use std::io::BufRead;

pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How the text is delimited.
#[derive(Clone, Debug)]
pub struct CsvReadOptions {
    pub delimiter: u8,
    pub quote: u8,
    /// Escapes a quote (or itself) inside a quoted field, besides doubling the quote.
    pub escape: u8,
    /// Unquoted text read as null (default: the empty field).
    pub null: String,
    /// The first record names the fields.
    pub header: bool,
    /// Lines starting with this byte are skipped (none by default).
    pub comment: Option<u8>,
}

impl Default for CsvReadOptions {
    fn default() -> Self {
        CsvReadOptions {
            delimiter: b',',
            quote: b'"',
            escape: b'\\',
            null: String::new(),
            header: true,
            comment: None,
        }
    }
}

/// One record: its fields (`None` for null), first line, and original bytes.
#[derive(Debug, Default)]
pub struct Record {
    pub fields: Vec<Option<String>>,
    pub line: u64,
    pub original: Vec<u8>,
}

/// Why a record could not be read; the reader goes on with the next one unless the input
/// itself broke (`fatal`).
#[derive(Debug)]
pub struct RecordError {
    pub line: u64,
    pub original: Vec<u8>,
    pub reason: String,
    /// The input cannot be read further (I/O error, truncated compressed stream).
    pub fatal: bool,
}

/// A record's fields as read, each with whether it was quoted.
type RawFields = Vec<(Vec<u8>, bool)>;

pub struct CsvReader<R> {
    input: R,
    options: CsvReadOptions,
    line: u64,
    done: bool,
}

impl<R: BufRead> CsvReader<R> {
    pub fn new(input: R, options: CsvReadOptions) -> CsvReader<R> {
        CsvReader { input, options, line: 0, done: false }
    }

    /// The next record, or `None` at the end of the input.
    pub fn next_record(&mut self) -> Option<Result<Record, RecordError>> {
        loop {
            if self.done {
                return None;
            }
            let start_line = self.line + 1;
            let mut original = Vec::new();
            match self.read_record(&mut original) {
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Ok(Some(fields)) => {
                    if let Some(comment) = self.options.comment
                        && original.first() == Some(&comment)
                    {
                        continue;
                    }
                    // A blank line is no record.
                    if fields.len() == 1 && original.iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    return Some(self.to_strings(fields, start_line, original));
                }
                Err((reason, fatal)) => {
                    self.done |= fatal;
                    return Some(Err(RecordError { line: start_line, original, reason, fatal }));
                }
            }
        }
    }

    fn to_strings(&self, fields: RawFields, line: u64, original: Vec<u8>) -> Result<Record, RecordError> {
        let mut out = Vec::with_capacity(fields.len());
        for (index, (bytes, quoted)) in fields.into_iter().enumerate() {
            let text = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    return Err(RecordError {
                        line,
                        original,
                        reason: format!(
                            "field {}: invalid UTF-8 at byte {}",
                            index + 1,
                            e.utf8_error().valid_up_to()
                        ),
                        fatal: false,
                    });
                }
            };
            out.push(if !quoted && text == self.options.null { None } else { Some(text) });
        }
        Ok(Record { fields: out, line, original })
    }

    /// Reads one record's fields as raw bytes with their quoted flag; `Ok(None)` at the end.
    fn read_record(&mut self, original: &mut Vec<u8>) -> Result<Option<RawFields>, (String, bool)> {
        let CsvReadOptions { delimiter, quote, escape, .. } = self.options;
        let mut fields = Vec::new();
        let mut field = Vec::new();
        let mut quoted = false;
        let mut in_quotes = false;
        let mut line = Vec::new();
        let quote_line = self.line + 1;
        loop {
            line.clear();
            let read =
                self.input.read_until(b'\n', &mut line).map_err(|e| (format!("cannot read: {e}"), true))?;
            if read == 0 {
                if in_quotes {
                    return Err((
                        format!("unterminated quote (the quoted field starts on line {quote_line})"),
                        true,
                    ));
                }
                if original.is_empty() {
                    return Ok(None);
                }
                fields.push((field, quoted));
                return Ok(Some(fields));
            }
            self.line += 1;
            original.extend_from_slice(&line);
            // The line ending ends the record, or belongs to a quoted field that goes on.
            let mut bytes = line.as_slice();
            bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
            bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            let ending = &line[bytes.len()..];
            if self.line == 1 {
                // Spreadsheet programs start UTF-8 CSV with a byte order mark; it is not data.
                bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
            }
            let mut i = 0;
            while i < bytes.len() {
                let b = bytes[i];
                if in_quotes {
                    if b == quote && bytes.get(i + 1) == Some(&quote) {
                        field.push(quote);
                        i += 2;
                        continue;
                    }
                    if b == escape
                        && escape != quote
                        && matches!(bytes.get(i + 1), Some(&n) if n == quote || n == escape)
                    {
                        field.push(bytes[i + 1]);
                        i += 2;
                        continue;
                    }
                    if b == quote {
                        in_quotes = false;
                    } else {
                        field.push(b);
                    }
                } else if b == delimiter {
                    fields.push((std::mem::take(&mut field), quoted));
                    quoted = false;
                } else if b == quote && field.is_empty() && !quoted {
                    in_quotes = true;
                    quoted = true;
                } else if quoted {
                    // The whole line is read already: the next record starts on the next one.
                    return Err((
                        format!("text after the closing quote of field {}", fields.len() + 1),
                        false,
                    ));
                } else {
                    field.push(b);
                }
                i += 1;
            }
            if !in_quotes {
                fields.push((field, quoted));
                return Ok(Some(fields));
            }
            field.extend_from_slice(ending);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<Result<Vec<Option<String>>, String>> {
        let mut reader = CsvReader::new(text.as_bytes(), CsvReadOptions::default());
        std::iter::from_fn(|| reader.next_record())
            .map(|r| r.map(|r| r.fields).map_err(|e| format!("line {}: {}", e.line, e.reason)))
            .collect()
    }

    fn some(texts: &[&str]) -> Vec<Option<String>> {
        texts.iter().map(|t| Some(t.to_string())).collect()
    }

    /// What: null, empty text, both quote escapes and newlines inside quotes; why: these
    /// are how cqlbulk and DSBulk tell values apart in CSV.
    #[test]
    fn quoting_nulls_and_escapes() {
        let out = records("a,,\"\"\n\"x\"\"y\",\"p\\\"q\",\"l1\nl2\"\r\n\n");
        assert_eq!(out[0], Ok(vec![Some("a".into()), None, Some(String::new())]));
        assert_eq!(out[1], Ok(some(&["x\"y", "p\"q", "l1\nl2"])));
        assert_eq!(out.len(), 2);
    }

    /// What: a bad record is reported with its line and the next record still reads; an
    /// unterminated quote ends the input; why: one bad line must not lose the good ones.
    #[test]
    fn bad_records_are_isolated() {
        let out = records("1,\"a\"b\n2,ok\n3,\"open\n4,x\n");
        assert_eq!(out[0], Err("line 1: text after the closing quote of field 2".into()));
        assert_eq!(out[1], Ok(some(&["2", "ok"])));
        assert_eq!(out[2], Err("line 3: unterminated quote (the quoted field starts on line 3)".into()));
        assert_eq!(out.len(), 3);
    }

    /// What: a byte order mark before the header is dropped, one inside the data is kept.
    /// Why: Excel writes "UTF-8 CSV" with a BOM; kept, it would rename the first column.
    #[test]
    fn a_byte_order_mark_at_the_start_is_not_data() {
        assert_eq!(
            records("\u{feff}id,v\n1,\u{feff}x\n"),
            vec![Ok(some(&["id", "v"])), Ok(some(&["1", "\u{feff}x"]))]
        );
        assert_eq!(records("\u{feff}\"id\",v\n"), vec![Ok(some(&["id", "v"]))]);
    }

    /// What: invalid UTF-8 is a bad record, not a lossy replacement; why: loading
    /// U+FFFD instead of the user's bytes would be silent corruption.
    #[test]
    fn invalid_utf8_is_a_bad_record() {
        let mut reader = CsvReader::new(&b"1,\xff\n2,b\n"[..], CsvReadOptions::default());
        let first = reader.next_record().unwrap().unwrap_err();
        assert_eq!((first.line, first.reason.as_str()), (1, "field 2: invalid UTF-8 at byte 0"));
        assert_eq!(reader.next_record().unwrap().unwrap().fields, some(&["2", "b"]));
    }
}

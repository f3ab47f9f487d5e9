//! Arrow values as text: the CSV field and JSON forms of every CQL type.
//!
//! Follows DSBulk's defaults where they are lossless (ISO-8601 dates and timestamps in UTC,
//! base64 blobs, collections, tuples and UDTs as JSON inside a CSV field), so files move
//! between the two tools. Hand-written: arrow-csv and arrow-json cannot format nested
//! values or know the CQL type behind an Arrow type (a `Utf8` varint is a JSON number).

use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, Time64NanosecondType,
    TimestampMillisecondType,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Field};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::codec::types::CQL_TYPE_KEY;

/// Formats the values of one column of one batch.
pub struct ColumnText {
    array: ArrayRef,
    kind: Kind,
}

enum Kind {
    /// Text-held values that are text in JSON: text, ascii, inet.
    String,
    /// Text-held values that are numbers in JSON: varint, decimal.
    NumberText,
    Boolean,
    Int,
    Float,
    Blob,
    Uuid,
    Date,
    Time,
    Timestamp,
    Duration,
    List(Box<ColumnText>),
    Map(Box<ColumnText>, Box<ColumnText>),
    /// A UDT (JSON object) or a tuple (JSON array).
    Struct {
        names: Vec<String>,
        children: Vec<ColumnText>,
        is_tuple: bool,
    },
}

impl ColumnText {
    pub fn new(array: &ArrayRef, field: &Field) -> ColumnText {
        let cql = field.metadata().get(CQL_TYPE_KEY).map(String::as_str).unwrap_or("");
        let kind = match array.data_type() {
            DataType::Utf8 if matches!(cql, "varint" | "decimal") => Kind::NumberText,
            DataType::Utf8 => Kind::String,
            DataType::Boolean => Kind::Boolean,
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => Kind::Int,
            DataType::Float32 | DataType::Float64 => Kind::Float,
            DataType::Binary => Kind::Blob,
            DataType::FixedSizeBinary(16) => Kind::Uuid,
            DataType::Date32 => Kind::Date,
            DataType::Time64(_) => Kind::Time,
            DataType::Timestamp(_, _) => Kind::Timestamp,
            DataType::Struct(_) if cql == "duration" => Kind::Duration,
            DataType::List(item) => {
                let list = array.as_list::<i32>();
                Kind::List(Box::new(ColumnText::new(list.values(), item)))
            }
            DataType::FixedSizeList(item, _) => {
                let list = array.as_fixed_size_list();
                Kind::List(Box::new(ColumnText::new(list.values(), item)))
            }
            DataType::Map(entries, _) => {
                let DataType::Struct(fields) = entries.data_type() else {
                    unreachable!("map entries are a struct")
                };
                let map = array.as_map();
                Kind::Map(
                    Box::new(ColumnText::new(map.keys(), &fields[0])),
                    Box::new(ColumnText::new(map.values(), &fields[1])),
                )
            }
            DataType::Struct(fields) => {
                let structs = array.as_struct();
                Kind::Struct {
                    names: fields.iter().map(|f| f.name().clone()).collect(),
                    children: structs
                        .columns()
                        .iter()
                        .zip(fields.iter())
                        .map(|(a, f)| ColumnText::new(a, f))
                        .collect(),
                    is_tuple: cql.starts_with("frozen<tuple<") || cql.starts_with("tuple<"),
                }
            }
            other => unreachable!("cqlbulk never builds {other}"),
        };
        ColumnText { array: array.clone(), kind }
    }

    /// Whether this column's CSV text is drawn only from `[0-9A-Za-z+/=.:_ -]` (numbers,
    /// base64, UUIDs, dates, times, durations, booleans), so it never needs quoting unless
    /// the delimiter or quote is one of those characters.
    pub fn is_plain_text(&self) -> bool {
        matches!(
            self.kind,
            Kind::NumberText
                | Kind::Boolean
                | Kind::Int
                | Kind::Float
                | Kind::Blob
                | Kind::Uuid
                | Kind::Date
                | Kind::Time
                | Kind::Timestamp
                | Kind::Duration
        )
    }

    pub fn is_null(&self, row: usize) -> bool {
        self.array.is_null(row)
    }

    /// The value as a CSV field: scalars as plain text, nested values as JSON.
    /// The caller handles nulls.
    pub fn write_text(&self, row: usize, out: &mut String) {
        match &self.kind {
            Kind::String | Kind::NumberText => out.push_str(self.array.as_string::<i32>().value(row)),
            Kind::List(_) | Kind::Map(..) | Kind::Struct { .. } => self.write_json(row, out),
            _ => self.write_scalar(row, out),
        }
    }

    /// The value as JSON (null included).
    pub fn write_json(&self, row: usize, out: &mut String) {
        if self.array.is_null(row) {
            out.push_str("null");
            return;
        }
        match &self.kind {
            Kind::NumberText | Kind::Int | Kind::Boolean => self.write_scalar(row, out),
            Kind::Float => {
                // NaN and the infinities are not JSON numbers: they go as strings.
                let mut text = String::new();
                self.write_scalar(row, &mut text);
                if self.float_value(row).is_finite() { out.push_str(&text) } else { json_string(&text, out) }
            }
            Kind::String => json_string(self.array.as_string::<i32>().value(row), out),
            Kind::Blob | Kind::Uuid | Kind::Date | Kind::Time | Kind::Timestamp | Kind::Duration => {
                let mut text = String::new();
                self.write_scalar(row, &mut text);
                json_string(&text, out);
            }
            Kind::List(item) => {
                let range = self.child_range(row);
                out.push('[');
                for (n, i) in range.enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    item.write_json(i, out);
                }
                out.push(']');
            }
            Kind::Map(keys, values) => {
                let range = self.child_range(row);
                out.push('{');
                for (n, i) in range.enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    // JSON keys are strings: each key's text form, as DSBulk writes them.
                    let mut key = String::new();
                    keys.write_text(i, &mut key);
                    json_string(&key, out);
                    out.push(':');
                    values.write_json(i, out);
                }
                out.push('}');
            }
            Kind::Struct { names, children, is_tuple } => {
                out.push(if *is_tuple { '[' } else { '{' });
                for (n, (name, child)) in names.iter().zip(children).enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    if !is_tuple {
                        json_string(name, out);
                        out.push(':');
                    }
                    child.write_json(row, out);
                }
                out.push(if *is_tuple { ']' } else { '}' });
            }
        }
    }

    fn float_value(&self, row: usize) -> f64 {
        match self.array.data_type() {
            DataType::Float32 => f64::from(self.array.as_primitive::<Float32Type>().value(row)),
            _ => self.array.as_primitive::<Float64Type>().value(row),
        }
    }

    fn child_range(&self, row: usize) -> std::ops::Range<usize> {
        match self.array.data_type() {
            DataType::List(_) => {
                let offsets = self.array.as_list::<i32>().value_offsets();
                offsets[row] as usize..offsets[row + 1] as usize
            }
            DataType::FixedSizeList(_, size) => {
                let size = *size as usize;
                row * size..(row + 1) * size
            }
            DataType::Map(..) => {
                let offsets = self.array.as_map().value_offsets();
                offsets[row] as usize..offsets[row + 1] as usize
            }
            _ => unreachable!("only lists and maps have children ranges"),
        }
    }

    fn write_scalar(&self, row: usize, out: &mut String) {
        let a = &self.array;
        match &self.kind {
            Kind::String | Kind::NumberText => out.push_str(a.as_string::<i32>().value(row)),
            Kind::Boolean => out.push_str(if a.as_boolean().value(row) { "true" } else { "false" }),
            Kind::Int => {
                let _ = match a.data_type() {
                    DataType::Int8 => write!(out, "{}", a.as_primitive::<Int8Type>().value(row)),
                    DataType::Int16 => write!(out, "{}", a.as_primitive::<Int16Type>().value(row)),
                    DataType::Int32 => write!(out, "{}", a.as_primitive::<Int32Type>().value(row)),
                    _ => write!(out, "{}", a.as_primitive::<Int64Type>().value(row)),
                };
            }
            Kind::Float => {
                let value = self.float_value(row);
                if value.is_nan() {
                    out.push_str("NaN");
                } else if value.is_infinite() {
                    out.push_str(if value > 0.0 { "Infinity" } else { "-Infinity" });
                } else if let DataType::Float32 = a.data_type() {
                    // The f32's own text, not that of its f64 widening.
                    write_float(a.as_primitive::<Float32Type>().value(row), out);
                } else {
                    write_float(value, out);
                }
            }
            Kind::Blob => write_blob(a.as_binary::<i32>().value(row), out),
            Kind::Uuid => {
                let bytes: [u8; 16] = a.as_fixed_size_binary().value(row).try_into().expect("16 bytes");
                let _ = write!(out, "{}", uuid::Uuid::from_bytes(bytes).hyphenated());
            }
            Kind::Date => write_date(i64::from(a.as_primitive::<Date32Type>().value(row)), out),
            Kind::Time => write_time(a.as_primitive::<Time64NanosecondType>().value(row), out),
            Kind::Timestamp => write_timestamp(a.as_primitive::<TimestampMillisecondType>().value(row), out),
            Kind::Duration => {
                let parts = a.as_struct();
                let months = parts.column(0).as_primitive::<Int32Type>().value(row);
                let days = parts.column(1).as_primitive::<Int32Type>().value(row);
                let nanos = parts.column(2).as_primitive::<Int64Type>().value(row);
                write_duration(months, days, nanos, out);
            }
            Kind::List(_) | Kind::Map(..) | Kind::Struct { .. } => self.write_json(row, out),
        }
    }
}

/// Milliseconds since the Unix epoch, now (0 if the clock is before it).
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The shortest text that reads back as the same float; where that has one significant
/// digit and the value lies far from it (only the smallest subnormals: `5e-324` for
/// 4.94…e-324), the closest two-digit text, as Java writes it (`4.9E-324`). DSBulk refuses
/// a number whose text is not Java's reading of the float ("Cannot convert 5E-324").
pub fn write_float<T: std::fmt::Debug + std::fmt::LowerExp>(value: T, out: &mut String) {
    let start = out.len();
    let _ = write!(out, "{value:?}");
    // Far from its one digit only where floats are sparse, among the subnormals, which
    // always print with a negative exponent: the common 1.0 or 0.5 is not formatted twice.
    let Some((mantissa, exponent)) = out[start..].split_once('e') else { return };
    let digits = mantissa.trim_start_matches(['-', '0', '.']).trim_end_matches(['0', '.']);
    if exponent.starts_with('-') && digits.len() == 1 {
        let two_digits = format!("{value:.1e}");
        if !two_digits.contains(".0e") {
            out.truncate(start);
            out.push_str(&two_digits);
        }
    }
}

/// A blob as base64, as DSBulk writes it; where the base64 would start with `0x` or `0X`,
/// which cqlbulk reads as hex (two blobs in 4096), as `0x` hex instead.
pub fn write_blob(bytes: &[u8], out: &mut String) {
    let start = out.len();
    BASE64.encode_string(bytes, out);
    if out[start..].starts_with("0x") || out[start..].starts_with("0X") {
        out.truncate(start);
        out.push_str("0x");
        for byte in bytes {
            let _ = write!(out, "{byte:02x}");
        }
    }
}

pub fn json_string(text: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(text).expect("strings always serialize"));
}

/// Days since 1970-01-01 as a proleptic Gregorian (year, month, day), for any i64 day count.
/// Hand-written (Howard Hinnant's `civil_from_days`): date crates stop at year ±9999 or
/// ±262143, and CQL dates and timestamps reach far beyond.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// ISO-8601 `yyyy-mm-dd`; years outside 0000–9999 get a sign and more digits, as Java's
/// `LocalDate` writes them (`+10000-01-01`, `-0001-12-31`).
pub fn write_date(days: i64, out: &mut String) {
    let (year, month, day) = civil_from_days(days);
    write_year(year, out);
    let _ = write!(out, "-{month:02}-{day:02}");
}

fn write_year(year: i64, out: &mut String) {
    let _ = if (0..=9999).contains(&year) {
        write!(out, "{year:04}")
    } else if year > 9999 {
        write!(out, "+{year}")
    } else {
        write!(out, "-{:04}", -year)
    };
}

/// `hh:mm:ss` with `.fffffffff` when there are nanoseconds.
pub fn write_time(nanos: i64, out: &mut String) {
    let (secs, frac) = (nanos / 1_000_000_000, nanos % 1_000_000_000);
    let _ = write!(out, "{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        let _ = write!(out, ".{frac:09}");
    }
}

/// ISO-8601 in UTC: `2024-05-01T12:00:00Z`, with `.SSS` when there are milliseconds.
pub fn write_timestamp(millis: i64, out: &mut String) {
    let days = millis.div_euclid(86_400_000);
    let ms_of_day = millis.rem_euclid(86_400_000);
    write_date(days, out);
    let secs = ms_of_day / 1000;
    let _ = write!(out, "T{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if ms_of_day % 1000 != 0 {
        let _ = write!(out, ".{:03}", ms_of_day % 1000);
    }
    out.push('Z');
}

/// CQL's duration literal: `1y2mo3d4h5m6s7ms8us9ns`, one sign for the whole value, `0s`
/// for zero.
pub fn write_duration(months: i32, days: i32, nanos: i64, out: &mut String) {
    if months < 0 || days < 0 || nanos < 0 {
        out.push('-');
    }
    let (months, days, nanos) = (months.unsigned_abs(), days.unsigned_abs(), nanos.unsigned_abs());
    if months == 0 && days == 0 && nanos == 0 {
        out.push_str("0s");
        return;
    }
    let parts: [(u64, &str); 9] = [
        (u64::from(months / 12), "y"),
        (u64::from(months % 12), "mo"),
        (u64::from(days), "d"),
        (nanos / 3_600_000_000_000, "h"),
        (nanos / 60_000_000_000 % 60, "m"),
        (nanos / 1_000_000_000 % 60, "s"),
        (nanos / 1_000_000 % 1000, "ms"),
        (nanos / 1000 % 1000, "us"),
        (nanos % 1000, "ns"),
    ];
    for (value, unit) in parts {
        if value != 0 {
            let _ = write!(out, "{value}{unit}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl Fn(&mut String)) -> String {
        let mut out = String::new();
        f(&mut out);
        out
    }

    /// What: blobs whose base64 would start with `0x` or `0X` (read back as hex) are written
    /// as hex; others as base64. Why: found by the JSON round-trip property test: the bytes
    /// d1 70 1a are base64 `0XAa`, which read back as the one byte aa.
    #[test]
    fn blobs_that_would_read_as_hex_are_written_as_hex() {
        assert_eq!(text(|out| write_blob(&[0xd1, 0x70, 0x1a], out)), "0xd1701a");
        assert_eq!(text(|out| write_blob(&[0xd3, 0x10], out)), "0xd310");
        assert_eq!(text(|out| write_blob(&[0xaa], out)), "qg==");
        for bytes in [[0xd1u8, 0x70, 0x1a], [0xd3, 0x10, 0x00], [0xaa, 0x00, 0x01]] {
            let written = text(|out| write_blob(&bytes, out));
            let mut back = Vec::new();
            let blob = scylla::frame::response::result::ColumnType::Native(
                scylla::frame::response::result::NativeType::Blob,
            );
            crate::codec::parse::encode_text(&blob, &written, &mut back).unwrap();
            assert_eq!(back, bytes, "{written}");
        }
    }

    /// What: floats print as the shortest text that reads back, and the smallest subnormals
    /// as Java prints them; why: DSBulk refuses `5e-324`, and a lossy text loses data.
    #[test]
    fn floats_read_back_and_suit_java() {
        for (value, text) in
            [(5e-324, "4.9e-324"), (1e-323, "9.9e-324"), (100.0, "100.0"), (0.1, "0.1"), (-2.5, "-2.5")]
        {
            let mut out = String::new();
            write_float(value, &mut out);
            assert_eq!(out, text);
            assert_eq!(out.parse::<f64>().unwrap().to_bits(), f64::to_bits(value), "{text}");
        }
        let mut out = String::new();
        write_float(f32::from_bits(1), &mut out);
        assert_eq!(out, "1.4e-45");
        assert_eq!(out.parse::<f32>().unwrap().to_bits(), 1);
    }

    /// What: dates and timestamps at and beyond the usual year range; why: CQL dates span
    /// ±5.8 million years and timestamps ±292 million, and they must print and not panic.
    #[test]
    fn dates_and_timestamps_everywhere_on_the_calendar() {
        assert_eq!(text(|o| write_date(0, o)), "1970-01-01");
        assert_eq!(text(|o| write_date(-1, o)), "1969-12-31");
        assert_eq!(text(|o| write_date(-719_528, o)), "0000-01-01");
        assert_eq!(text(|o| write_date(2_932_897, o)), "+10000-01-01");
        assert_eq!(text(|o| write_date(i64::from(i32::MIN), o)), "-5877641-06-23");
        assert_eq!(text(|o| write_date(i64::from(i32::MAX), o)), "+5881580-07-11");
        assert_eq!(text(|o| write_timestamp(0, o)), "1970-01-01T00:00:00Z");
        assert_eq!(text(|o| write_timestamp(-1, o)), "1969-12-31T23:59:59.999Z");
        assert_eq!(text(|o| write_timestamp(1_700_000_000_123, o)), "2023-11-14T22:13:20.123Z");
        assert_eq!(text(|o| write_timestamp(i64::MIN, o)), "-292275055-05-16T16:47:04.192Z");
        assert_eq!(text(|o| write_timestamp(i64::MAX, o)), "+292278994-08-17T07:12:55.807Z");
    }

    /// What: time and duration literals; why: nanoseconds and negative durations are the
    /// parts other tools drop.
    #[test]
    fn times_and_durations() {
        assert_eq!(text(|o| write_time(86_399_999_999_999, o)), "23:59:59.999999999");
        assert_eq!(text(|o| write_time(0, o)), "00:00:00");
        assert_eq!(text(|o| write_duration(14, 3, 3_723_004_005_006, o)), "1y2mo3d1h2m3s4ms5us6ns");
        assert_eq!(text(|o| write_duration(-1, -2, -3, o)), "-1mo2d3ns");
        assert_eq!(text(|o| write_duration(0, 0, 0, o)), "0s");
    }
}

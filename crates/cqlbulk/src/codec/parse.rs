//! Text → CQL values: the inverse of `text.rs`, for `load` from CSV and JSON.
//!
//! A scalar is parsed from its text form (what cqlbulk and DSBulk write: ISO-8601 dates and
//! timestamps, base64 or `0x` hex blobs, CQL duration literals); a collection, tuple or UDT
//! from JSON. The result is the value's CQL wire bytes (protocol v4 §6), which the writer
//! sends as they are. Hand-written for the reason `decode.rs` is: the target type is known
//! only at run time, and numbers must keep every digit (serde_json's `Value` turns a big
//! varint into a float, so nested JSON is walked as raw text).

use std::borrow::Cow;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use indexmap::IndexMap;
use num_bigint::BigInt;
use scylla::frame::response::result::{CollectionType, ColumnType, NativeType};
use serde_json::value::RawValue;

use crate::codec::types::cql_type_name;

pub type ParseResult<T> = Result<T, String>;

/// Appends the wire bytes of `text` read as a value of `target`. Nested types read `text`
/// as JSON. The caller handles null.
pub fn encode_text(target: &ColumnType, text: &str, out: &mut Vec<u8>) -> ParseResult<()> {
    match target {
        ColumnType::Native(native) => encode_scalar(native, text, out),
        _ => {
            let raw: &RawValue = serde_json::from_str(text.trim())
                .map_err(|e| format!("'{}' is not JSON for {}: {e}", clip(text), cql_type_name(target)))?;
            encode_json(target, raw, out)
        }
    }
}

/// A JSON value, its numbers kept as their text.
enum Json<'a> {
    Null,
    Bool(bool),
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<&'a RawValue>),
    /// Entries in the order the text gives them: a map's order is part of its bytes, and
    /// where Cassandra does not sort it again (a map nested in a tuple or a UDT) it is part
    /// of the value, of a key even. A sorted map would order `"10"` before `"9"`.
    Object(IndexMap<Cow<'a, str>, &'a RawValue>),
}

fn json(raw: &RawValue) -> ParseResult<Json<'_>> {
    let text = raw.get().trim();
    let bad = |e: serde_json::Error| format!("bad JSON '{}': {e}", clip(text));
    Ok(match text.as_bytes().first() {
        Some(b'n') => Json::Null,
        Some(b't') => Json::Bool(true),
        Some(b'f') => Json::Bool(false),
        Some(b'"') => Json::String(serde_json::from_str::<Cow<str>>(text).map_err(bad)?),
        Some(b'[') => Json::Array(serde_json::from_str(text).map_err(bad)?),
        Some(b'{') => Json::Object(serde_json::from_str(text).map_err(bad)?),
        _ => Json::Number(text),
    })
}

/// The text form of a JSON value for a scalar column or a CSV-like cell: strings unquoted,
/// numbers and booleans as written, arrays and objects as their JSON text; `None` for null.
pub fn json_as_text(raw: &RawValue) -> ParseResult<Option<Cow<'_, str>>> {
    Ok(match json(raw)? {
        Json::Null => None,
        Json::String(s) => Some(s),
        _ => Some(Cow::Borrowed(raw.get().trim())),
    })
}

/// Appends the wire bytes of one non-null JSON value of type `target`.
fn encode_json(target: &ColumnType, raw: &RawValue, out: &mut Vec<u8>) -> ParseResult<()> {
    let value = json(raw)?;
    let type_name = || cql_type_name(target);
    match (target, value) {
        (_, Json::Null) => Err(format!("null where {} needs a value", type_name())),
        (ColumnType::Native(native), Json::String(s)) => encode_scalar(native, &s, out),
        (ColumnType::Native(native), Json::Number(n)) => encode_scalar(native, n, out),
        (ColumnType::Native(native), Json::Bool(b)) => {
            encode_scalar(native, if b { "true" } else { "false" }, out)
        }
        (ColumnType::Native(_), _) => Err(format!("{} is not a {}", clip(raw.get()), type_name())),
        // A nested value written as a JSON string holding JSON (some tools quote them).
        (_, Json::String(s)) => encode_text(target, &s, out),
        (
            ColumnType::Collection { typ: CollectionType::List(item) | CollectionType::Set(item), .. },
            Json::Array(items),
        ) => {
            write_count(items.len(), out)?;
            for item_raw in items {
                with_length(out, |out| encode_json(item, item_raw, out))?;
            }
            Ok(())
        }
        (ColumnType::Collection { typ: CollectionType::Map(key, value), .. }, Json::Object(entries)) => {
            write_count(entries.len(), out)?;
            for (key_text, value_raw) in entries {
                with_length(out, |out| encode_text(key, &key_text, out))?;
                with_length(out, |out| encode_json(value, value_raw, out))?;
            }
            Ok(())
        }
        // A map as an array of [key, value] pairs: how JSON writes keys that are not text.
        (ColumnType::Collection { typ: CollectionType::Map(key, value), .. }, Json::Array(pairs)) => {
            write_count(pairs.len(), out)?;
            for pair in pairs {
                let Json::Array(kv) = json(pair)? else {
                    return Err(format!("map entry {} is not a [key, value] pair", clip(pair.get())));
                };
                let [k, v] = kv.as_slice() else {
                    return Err(format!("map entry {} is not a [key, value] pair", clip(pair.get())));
                };
                with_length(out, |out| encode_json(key, k, out))?;
                with_length(out, |out| encode_json(value, v, out))?;
            }
            Ok(())
        }
        (ColumnType::Vector { typ: element, dimensions }, Json::Array(items)) => {
            if items.len() != usize::from(*dimensions) {
                return Err(format!("{} has {} elements, not {dimensions}", type_name(), items.len()));
            }
            for item_raw in items {
                encode_vector_element(element, out, |out| encode_json(element, item_raw, out))?;
            }
            Ok(())
        }
        (ColumnType::Tuple(types), Json::Array(items)) => {
            if items.len() > types.len() {
                return Err(format!("{} has {} elements, more than its type", type_name(), items.len()));
            }
            for (i, typ) in types.iter().enumerate() {
                match items.get(i) {
                    Some(raw) if !matches!(json(raw)?, Json::Null) => {
                        with_length(out, |out| encode_json(typ, raw, out))?
                    }
                    _ => write_null(out),
                }
            }
            Ok(())
        }
        (ColumnType::UserDefinedType { definition, .. }, Json::Object(fields)) => {
            if let Some(unknown) =
                fields.keys().find(|name| !definition.field_types.iter().any(|(n, _)| n == name.as_ref()))
            {
                return Err(format!("{} has no field '{unknown}'", type_name()));
            }
            for (name, typ) in &definition.field_types {
                match fields.get(name.as_ref()) {
                    Some(raw) if !matches!(json(raw)?, Json::Null) => {
                        with_length(out, |out| encode_json(typ, raw, out))?
                    }
                    _ => write_null(out),
                }
            }
            Ok(())
        }
        _ => Err(format!("{} is not a {}", clip(raw.get()), type_name())),
    }
}

/// Vector elements of fixed-size types are concatenated; others carry a vint length.
pub(crate) fn encode_vector_element(
    element: &ColumnType,
    out: &mut Vec<u8>,
    encode: impl FnOnce(&mut Vec<u8>) -> ParseResult<()>,
) -> ParseResult<()> {
    match element.type_size_for_vector() {
        Some(_) => encode(out),
        None => {
            let mut value = Vec::new();
            encode(&mut value)?;
            write_unsigned_vint(value.len() as u64, out);
            out.extend_from_slice(&value);
            Ok(())
        }
    }
}

/// Writes `[bytes]`: an i32 length, then what `encode` appends.
pub(crate) fn with_length(
    out: &mut Vec<u8>,
    encode: impl FnOnce(&mut Vec<u8>) -> ParseResult<()>,
) -> ParseResult<()> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    encode(out)?;
    let len = i32::try_from(out.len() - at - 4).map_err(|_| "value longer than 2 GiB".to_string())?;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

pub(crate) fn write_null(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i32).to_be_bytes());
}

pub(crate) fn write_count(count: usize, out: &mut Vec<u8>) -> ParseResult<()> {
    let count = i32::try_from(count).map_err(|_| "collection has more than 2^31 elements".to_string())?;
    out.extend_from_slice(&count.to_be_bytes());
    Ok(())
}

pub(crate) fn write_unsigned_vint(value: u64, out: &mut Vec<u8>) {
    // The count of leading one bits in the first byte is the number of extra bytes.
    let bits = 64 - value.leading_zeros() as usize;
    let extra = if bits <= 7 { 0 } else { ((bits - 1) / 7).min(8) };
    if extra == 8 {
        out.push(0xff);
        out.extend_from_slice(&value.to_be_bytes());
        return;
    }
    let mut bytes = value.to_be_bytes()[8 - (extra + 1)..].to_vec();
    bytes[0] |= !(0xffu8 >> extra);
    out.extend_from_slice(&bytes);
}

pub(crate) fn write_signed_vint(value: i64, out: &mut Vec<u8>) {
    write_unsigned_vint(((value << 1) ^ (value >> 63)) as u64, out);
}

/// Appends the wire bytes of a scalar written as text.
pub fn encode_scalar(native: &NativeType, text: &str, out: &mut Vec<u8>) -> ParseResult<()> {
    let type_name = || cql_type_name(&ColumnType::Native(native.clone()));
    let what = || format!("'{}' is not a valid {}", clip(text), type_name());
    match native {
        NativeType::Text => out.extend_from_slice(text.as_bytes()),
        NativeType::Ascii => {
            if !text.is_ascii() {
                return Err(format!("'{}' is not ascii", clip(text)));
            }
            out.extend_from_slice(text.as_bytes())
        }
        NativeType::Boolean => {
            let value = match text.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" => true,
                "false" | "f" | "no" | "n" | "0" => false,
                _ => return Err(what()),
            };
            out.push(u8::from(value));
        }
        NativeType::TinyInt => out.extend_from_slice(&(parse_integer(text, type_name)? as i8).to_be_bytes()),
        NativeType::SmallInt => {
            out.extend_from_slice(&(parse_integer(text, type_name)? as i16).to_be_bytes())
        }
        NativeType::Int => out.extend_from_slice(&(parse_integer(text, type_name)? as i32).to_be_bytes()),
        NativeType::BigInt | NativeType::Counter => {
            out.extend_from_slice(&(parse_integer(text, type_name)? as i64).to_be_bytes())
        }
        NativeType::Varint => {
            let value: BigInt = text.trim().parse().map_err(|_| what())?;
            out.extend_from_slice(&value.to_signed_bytes_be());
        }
        NativeType::Decimal => {
            let (unscaled, scale) = parse_decimal(text).ok_or_else(what)?;
            write_decimal(&unscaled, scale, out);
        }
        NativeType::Float => {
            let value: f32 = parse_float(text).ok_or_else(what)?;
            out.extend_from_slice(&value.to_be_bytes());
        }
        NativeType::Double => {
            let value: f64 = parse_float(text).ok_or_else(what)?;
            out.extend_from_slice(&value.to_be_bytes());
        }
        NativeType::Uuid | NativeType::Timeuuid => {
            let value = uuid::Uuid::parse_str(text.trim()).map_err(|_| what())?;
            write_uuid(native, value.as_bytes(), out)?;
        }
        NativeType::Date => write_date(parse_date(text.trim()).ok_or_else(what)?, out)?,
        NativeType::Time => write_time(parse_time(text.trim()).ok_or_else(what)?, out)?,
        NativeType::Timestamp => {
            out.extend_from_slice(&parse_timestamp(text.trim()).ok_or_else(what)?.to_be_bytes())
        }
        NativeType::Duration => {
            let (months, days, nanos) = parse_duration(text.trim()).ok_or_else(what)?;
            write_duration(months, days, nanos, out);
        }
        NativeType::Inet => {
            let text = text.trim();
            let address: IpAddr = text.strip_prefix('/').unwrap_or(text).parse().map_err(|_| what())?;
            match address {
                IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
            }
        }
        NativeType::Blob => {
            let text = text.trim();
            // `0x` starts hex, as in CQL; base64 that happens to start with `0x` and is not
            // hex (DSBulk writes such blobs, `0xA=`) is read as base64.
            let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).and_then(decode_hex);
            let bytes = match hex {
                Some(bytes) => bytes,
                None => BASE64
                    .decode(text)
                    .map_err(|_| format!("'{}' is neither base64 nor 0x-prefixed hex", clip(text)))?,
            };
            out.extend_from_slice(&bytes);
        }
        _ => return Err(format!("cqlbulk cannot load values of type {}", type_name())),
    }
    Ok(())
}

/// An integer within the range of `target`.
fn parse_integer(text: &str, type_name: impl Fn() -> String) -> ParseResult<i64> {
    let text = text.trim();
    let value: i128 = text.parse().map_err(|_| format!("'{}' is not a valid {}", clip(text), type_name()))?;
    let name = type_name();
    let (min, max) = integer_range(&name);
    if value < min || value > max {
        return Err(format!("{value} is out of range for {name} ({min}..{max})"));
    }
    Ok(value as i64)
}

pub(crate) fn integer_range(name: &str) -> (i128, i128) {
    match name {
        "tinyint" => (i8::MIN.into(), i8::MAX.into()),
        "smallint" => (i16::MIN.into(), i16::MAX.into()),
        "int" => (i32::MIN.into(), i32::MAX.into()),
        _ => (i64::MIN.into(), i64::MAX.into()),
    }
}

fn parse_float<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.trim().parse().ok()
}

/// Java `BigDecimal` text (`-1.20`, `1.2E+3`) → unscaled value and scale.
pub fn parse_decimal(text: &str) -> Option<(BigInt, i32)> {
    let text = text.trim();
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int_part}{frac_part}");
    let unsigned = digits.strip_prefix(['-', '+']).unwrap_or(&digits);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = i32::try_from(frac_part.len() as i64 - exponent).ok()?;
    Some((digits.parse().ok()?, scale))
}

pub(crate) fn write_decimal(unscaled: &BigInt, scale: i32, out: &mut Vec<u8>) {
    out.extend_from_slice(&scale.to_be_bytes());
    out.extend_from_slice(&unscaled.to_signed_bytes_be());
}

pub(crate) fn write_uuid(native: &NativeType, bytes: &[u8; 16], out: &mut Vec<u8>) -> ParseResult<()> {
    if matches!(native, NativeType::Timeuuid) && bytes[6] >> 4 != 1 {
        return Err(format!("{} is not a time-based (version 1) UUID", uuid::Uuid::from_bytes(*bytes)));
    }
    out.extend_from_slice(bytes);
    Ok(())
}

/// CQL `date`: days since the epoch, stored with 2^31 at the epoch.
pub(crate) fn write_date(days: i64, out: &mut Vec<u8>) -> ParseResult<()> {
    let stored =
        u32::try_from(days + (1i64 << 31)).map_err(|_| format!("{days} days is out of range for date"))?;
    out.extend_from_slice(&stored.to_be_bytes());
    Ok(())
}

pub(crate) fn write_time(nanos: i64, out: &mut Vec<u8>) -> ParseResult<()> {
    if !(0..86_400_000_000_000).contains(&nanos) {
        return Err(format!("{nanos} ns is not a time of day"));
    }
    out.extend_from_slice(&nanos.to_be_bytes());
    Ok(())
}

pub(crate) fn write_duration(months: i32, days: i32, nanos: i64, out: &mut Vec<u8>) {
    write_signed_vint(months.into(), out);
    write_signed_vint(days.into(), out);
    write_signed_vint(nanos, out);
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// Proleptic Gregorian date → days since 1970-01-01 (Hinnant's `days_from_civil`, the
/// inverse of `text::civil_from_days`), or `None` for an invalid day.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    // Far beyond any CQL date or timestamp (about ±5.8 million and ±292 million years), and
    // small enough that the arithmetic below cannot overflow (found by fuzzing).
    if year.unsigned_abs() > 10_000_000_000 {
        return None;
    }
    let month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let max_day = if month == 2 && leap { 29 } else { *month_days.get(month.checked_sub(1)? as usize)? };
    if day == 0 || day > max_day {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `yyyy-mm-dd`, with a sign and more digits for years outside 0000–9999.
pub fn parse_date(text: &str) -> Option<i64> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    let mut parts = rest.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month_text = parts.next()?;
    let day_text = parts.next()?;
    if month_text.len() != 2 || day_text.len() != 2 {
        return None;
    }
    days_from_civil(sign * year, month_text.parse().ok()?, day_text.parse().ok()?)
}

/// `hh:mm[:ss[.fffffffff]]`, or nanoseconds since midnight as an integer.
pub fn parse_time(text: &str) -> Option<i64> {
    if let Ok(nanos) = text.parse::<i64>() {
        return Some(nanos);
    }
    let (clock, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut parts = clock.split(':');
    let hours: i64 = two_digits(parts.next()?)?;
    let minutes: i64 = two_digits(parts.next()?)?;
    let seconds: i64 = parts.next().map_or(Some(0), two_digits)?;
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    Some(((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000 + fraction_nanos(fraction)?)
}

fn two_digits(text: &str) -> Option<i64> {
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit()) { text.parse().ok() } else { None }
}

/// `.123` → 123_000_000: up to nine digits.
fn fraction_nanos(fraction: &str) -> Option<i64> {
    if fraction.is_empty() {
        return Some(0);
    }
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(fraction.parse::<i64>().ok()? * 10i64.pow(9 - fraction.len() as u32))
}

/// ISO-8601 date-time (`T` or a space between date and time, optional seconds and
/// fraction, `Z` or an offset like `+01:00`/`+0100`; none means UTC), a date alone
/// (midnight UTC), or milliseconds since the epoch. Digits below the millisecond are
/// dropped (rounding down, as Java's `Instant.toEpochMilli` does).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    if let Ok(millis) = text.parse::<i64>() {
        return Some(millis);
    }
    // The date ends at the first 'T' or space after the year's digits.
    let split = text.char_indices().skip(1).find(|(_, c)| *c == 'T' || *c == ' ').map(|(i, _)| i);
    let (date_text, rest) = match split {
        Some(at) => (&text[..at], text[at + 1..].trim_start()),
        None => (text, ""),
    };
    let days = parse_date(date_text)?;
    let (clock, offset_seconds) = split_offset(rest)?;
    let nanos = if clock.is_empty() { 0 } else { parse_time(clock)? };
    // In i128: the day's start may lie below i64::MIN milliseconds while the instant does not.
    let millis = i128::from(days) * 86_400_000 + i128::from(nanos.div_euclid(1_000_000))
        - i128::from(offset_seconds) * 1000;
    i64::try_from(millis).ok()
}

/// Splits `12:00:00+01:00` into the clock and the offset in seconds.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(clock) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        return Some((clock, 0));
    }
    match text.rfind(['+', '-']) {
        Some(at) => {
            let offset = &text[at + 1..];
            let sign = if text.as_bytes()[at] == b'-' { -1 } else { 1 };
            let digits: String = offset.chars().filter(|c| *c != ':').collect();
            if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
                return None;
            }
            let hours: i64 = digits[..2].parse().ok()?;
            let minutes: i64 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
            Some((text[..at].trim_end(), sign * (hours * 3600 + minutes * 60)))
        }
        None => Some((text, 0)),
    }
}

/// CQL duration literals (`1y2mo3d4h5m6s7ms8us9ns`, `-3h`) and ISO-8601 (`P1Y2M3DT4H5M6S`,
/// `P2W`) → (months, days, nanoseconds), all with the value's sign.
pub fn parse_duration(text: &str) -> Option<(i32, i32, i64)> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (months, days, nanos) = if let Some(iso) = body.strip_prefix(['P', 'p']) {
        parse_iso_duration(iso)?
    } else {
        parse_cql_duration(body)?
    };
    let sign = if negative { -1 } else { 1 };
    // Checked: the parts come from arbitrarily long digit strings (found by fuzzing).
    Some((
        i32::try_from(months.checked_mul(sign)?).ok()?,
        i32::try_from(days.checked_mul(sign)?).ok()?,
        i64::try_from(nanos.checked_mul(i128::from(sign))?).ok()?,
    ))
}

const NANOS_PER: [(&str, i128); 7] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1000),
    ("µs", 1000),
    ("ns", 1),
];

fn parse_cql_duration(text: &str) -> Option<(i64, i64, i128)> {
    let (mut months, mut days, mut nanos) = (0i64, 0i64, 0i128);
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = rest[..unit_len].to_ascii_lowercase();
        rest = &rest[unit_len..];
        match unit.as_str() {
            "y" => months = months.checked_add(number.checked_mul(12)?)?,
            "mo" => months = months.checked_add(number)?,
            "w" => days = days.checked_add(number.checked_mul(7)?)?,
            "d" => days = days.checked_add(number)?,
            other => {
                let (_, factor) = NANOS_PER.iter().find(|(u, _)| *u == other)?;
                nanos = nanos.checked_add(i128::from(number).checked_mul(*factor)?)?;
            }
        }
    }
    Some((months, days, nanos))
}

fn parse_iso_duration(text: &str) -> Option<(i64, i64, i128)> {
    let (date_part, time_part) = match text.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let (mut months, mut days, mut nanos) = (0i64, 0i64, 0i128);
    for (number, unit) in iso_parts(date_part)? {
        let whole: i64 = number.parse().ok()?;
        match unit {
            'Y' => months = months.checked_add(whole.checked_mul(12)?)?,
            'M' => months = months.checked_add(whole)?,
            'W' => days = days.checked_add(whole.checked_mul(7)?)?,
            'D' => days = days.checked_add(whole)?,
            _ => return None,
        }
    }
    if let Some(time_part) = time_part {
        if time_part.is_empty() {
            return None;
        }
        for (number, unit) in iso_parts(time_part)? {
            let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
            let whole: i128 = whole.parse().ok()?;
            let part = match unit {
                'H' => whole.checked_mul(3_600_000_000_000)?,
                'M' => whole.checked_mul(60_000_000_000)?,
                'S' => {
                    whole.checked_mul(1_000_000_000)?.checked_add(i128::from(fraction_nanos(fraction)?))?
                }
                _ => return None,
            };
            nanos = nanos.checked_add(part)?;
        }
    }
    Some((months, days, nanos))
}

/// `1Y2M` → [("1", 'Y'), ("2", 'M')], units upper-cased.
fn iso_parts(text: &str) -> Option<Vec<(&str, char)>> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_ascii_alphabetic() {
            if i == start {
                return None;
            }
            parts.push((&text[start..i], c.to_ascii_uppercase()));
            start = i + 1;
        }
    }
    (start == text.len()).then_some(parts)
}

/// At most 40 characters of a value, for error messages.
pub fn clip(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(40) {
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::text;

    fn native(name: &str) -> NativeType {
        match name {
            "date" => NativeType::Date,
            "timestamp" => NativeType::Timestamp,
            "decimal" => NativeType::Decimal,
            "tinyint" => NativeType::TinyInt,
            "boolean" => NativeType::Boolean,
            _ => unreachable!(),
        }
    }

    fn bytes(name: &str, text: &str) -> ParseResult<Vec<u8>> {
        let mut out = Vec::new();
        encode_scalar(&native(name), text, &mut out)?;
        Ok(out)
    }

    /// What: every date that `text::write_date` prints parses back to the same day; why:
    /// CSV and JSON round trips of dates far outside 0000–9999 depend on it.
    #[test]
    fn dates_round_trip_through_text() {
        for days in [0, -1, -719_528, 2_932_897, i64::from(i32::MIN), i64::from(i32::MAX), 19_000, -500_000] {
            let mut printed = String::new();
            text::write_date(days, &mut printed);
            assert_eq!(parse_date(&printed), Some(days), "{printed}");
        }
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2024-13-01"), None);
    }

    /// What: timestamps as cqlbulk, DSBulk and cqlsh write them; why: each is a file format
    /// users bring to `load`.
    #[test]
    fn timestamps_in_their_common_spellings() {
        for millis in [0, -1, 1_700_000_000_123, i64::MIN, i64::MAX, -62_135_596_800_000] {
            let mut printed = String::new();
            text::write_timestamp(millis, &mut printed);
            assert_eq!(parse_timestamp(&printed), Some(millis), "{printed}");
        }
        let expected = Some(1_700_000_000_123);
        assert_eq!(parse_timestamp("2023-11-14T22:13:20.123Z"), expected);
        assert_eq!(parse_timestamp("2023-11-14 22:13:20.123000+0000"), expected);
        assert_eq!(parse_timestamp("2023-11-14T23:13:20.123456+01:00"), expected);
        assert_eq!(parse_timestamp("1700000000123"), expected);
        assert_eq!(parse_timestamp("2023-11-14"), Some(1_699_920_000_000));
        assert_eq!(parse_timestamp("2023-11-14T25:00:00Z"), None);
        // Below a millisecond rounds down, also before the epoch.
        assert_eq!(parse_timestamp("1969-12-31T23:59:59.9995Z"), Some(-1));
    }

    /// What: duration literals in CQL and ISO-8601 spelling; why: DSBulk writes the ISO
    /// form, cqlbulk and cqlsh the CQL form.
    #[test]
    fn durations_in_both_spellings() {
        for (months, days, nanos) in [(14, 3, 3_723_004_005_006), (-1, -2, -3), (0, 0, 0), (0, 0, i64::MAX)] {
            let mut printed = String::new();
            text::write_duration(months, days, nanos, &mut printed);
            assert_eq!(parse_duration(&printed), Some((months, days, nanos)), "{printed}");
        }
        assert_eq!(parse_duration("P1Y2M3DT4H5M6.5S"), Some((14, 3, 14_706_500_000_000)));
        assert_eq!(parse_duration("P2W"), Some((0, 14, 0)));
        assert_eq!(parse_duration("-PT1S"), Some((0, 0, -1_000_000_000)));
        assert_eq!(parse_duration("1x"), None);
        // Found by fuzzing (fuzz/artifacts, cql_text): digits past i128 in a time part
        // overflowed the multiplication instead of being refused.
        assert_eq!(parse_duration("PT880122222888880122222888000000000M"), None);
        assert_eq!(parse_duration("-P9223372036854775807D"), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
        // Also found by fuzzing (cql_text): a 20-digit year overflowed the day count.
        assert_eq!(parse_date("20555555555555555555-05-06"), None);
        assert_eq!(parse_timestamp("-9223372036854775807-01-01T00:00:00Z"), None);
    }

    /// What: decimals keep their scale, and integers their range; why: `1.20` and `1.2` are
    /// different values in Cassandra, and an out-of-range number must be a bad record.
    #[test]
    fn decimals_and_integer_ranges() {
        assert_eq!(parse_decimal("1.20"), Some((BigInt::from(120), 2)));
        assert_eq!(parse_decimal("1.2E+3"), Some((BigInt::from(12), -2)));
        assert_eq!(parse_decimal("-0.000012"), Some((BigInt::from(-12), 6)));
        assert_eq!(parse_decimal("1.2.3"), None);
        assert_eq!(bytes("tinyint", "-128").unwrap(), vec![0x80]);
        assert_eq!(bytes("tinyint", "128").unwrap_err(), "128 is out of range for tinyint (-128..127)");
        assert!(bytes("boolean", "maybe").is_err());
    }

    /// What: nested values from JSON, numbers exact; why: a varint beyond 64 bits inside a
    /// list must not pass through a float.
    #[test]
    fn nested_json_keeps_big_numbers() {
        let typ = ColumnType::Collection {
            frozen: false,
            typ: CollectionType::List(Box::new(ColumnType::Native(NativeType::Varint))),
        };
        let mut out = Vec::new();
        encode_text(&typ, "[123456789012345678901234567890, -1]", &mut out).unwrap();
        let big: BigInt = "123456789012345678901234567890".parse().unwrap();
        let big_bytes = big.to_signed_bytes_be();
        let mut expected = 2i32.to_be_bytes().to_vec();
        expected.extend_from_slice(&(big_bytes.len() as i32).to_be_bytes());
        expected.extend_from_slice(&big_bytes);
        expected.extend_from_slice(&1i32.to_be_bytes());
        expected.push(0xff);
        assert_eq!(out, expected);
        assert!(encode_text(&typ, "[1, null]", &mut Vec::new()).is_err());
        assert!(encode_text(&typ, "[1, 2", &mut Vec::new()).is_err());
    }

    /// What: vints at their size boundaries; why: a wrong length byte shifts the other two
    /// parts of a duration.
    #[test]
    fn vints_encode() {
        let cases: &[(u64, &[u8])] =
            &[(0, &[0x00]), (127, &[0x7f]), (128, &[0x80, 0x80]), (0x4000, &[0xc0, 0x40, 0x00])];
        for (value, expected) in cases {
            let mut out = Vec::new();
            write_unsigned_vint(*value, &mut out);
            assert_eq!(out.as_slice(), *expected, "{value}");
        }
        let mut out = Vec::new();
        write_signed_vint(i64::MAX, &mut out);
        assert_eq!(out, vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    }

    /// What: timestamps' `date` part also checks; why: `timestamp` reuses date parsing.
    #[test]
    fn timestamp_bytes() {
        assert_eq!(bytes("timestamp", "1970-01-01T00:00:00.001Z").unwrap(), 1i64.to_be_bytes().to_vec());
        assert!(bytes("date", "2024-1-1").is_err());
        assert!(bytes("decimal", "abc").is_err());
    }
}

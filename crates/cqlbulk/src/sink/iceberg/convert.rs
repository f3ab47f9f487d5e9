//! From the Arrow arrays a scan produces (one shape per CQL type, see `types.rs`) to the
//! Arrow arrays of an Iceberg schema (with its field ids, names and types).
//!
//! Most columns pass through unchanged. The rest are widened (tinyint → int), rescaled
//! (milliseconds → microseconds) or parsed (decimal text → decimal(P,S)); each such step
//! checks every value and reports the first that does not fit, never rounding or truncating.

use std::str::FromStr;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Time64NanosecondType, TimestampMillisecondType};
use arrow_array::{
    Array, ArrayRef, Decimal128Array, FixedSizeListArray, Int64Array, ListArray, MapArray, RecordBatch,
    StructArray, Time64MicrosecondArray, TimestampMicrosecondArray, new_null_array,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, FieldRef, SchemaRef, TimeUnit};
use num_bigint::BigInt;

/// A value that does not fit its Iceberg type: the row (of the batch) and why.
#[derive(Debug)]
pub struct ConvertError {
    pub row: usize,
    /// Dotted path of the nested field, e.g. `prices.value`.
    pub path: String,
    pub message: String,
}

/// Converts `batch` to `target`, matching top-level columns by name. Target columns the
/// batch lacks (dropped in Cassandra) are all null.
pub fn convert_batch(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch, ConvertError> {
    let mut columns = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        let column = match batch.column_by_name(field.name()) {
            Some(array) => convert(array, field).map_err(|mut e| {
                e.path = join_path(field.name(), &e.path);
                e
            })?,
            None => new_null_array(field.data_type(), batch.num_rows()),
        };
        if !field.is_nullable()
            && let Some(row) = first_null(&column)
        {
            return Err(ConvertError {
                row,
                path: field.name().clone(),
                message: "is null, but the Iceberg field is required".into(),
            });
        }
        columns.push(column);
    }
    RecordBatch::try_new(target.clone(), columns).map_err(|e| ConvertError {
        row: 0,
        path: String::new(),
        message: format!("cannot assemble the Iceberg batch: {e}"),
    })
}

fn join_path(parent: &str, child: &str) -> String {
    if child.is_empty() { parent.to_string() } else { format!("{parent}.{child}") }
}

fn first_null(array: &ArrayRef) -> Option<usize> {
    array.logical_nulls().and_then(|nulls| (0..array.len()).find(|&i| nulls.is_null(i)))
}

fn error(row: usize, message: impl Into<String>) -> ConvertError {
    ConvertError { row, path: String::new(), message: message.into() }
}

/// One array to the type of `target`.
pub fn convert(array: &ArrayRef, target: &FieldRef) -> Result<ArrayRef, ConvertError> {
    let to = target.data_type();
    match (array.data_type(), to) {
        (from, to) if from == to => Ok(array.clone()),
        (DataType::Int8 | DataType::Int16, DataType::Int32) | (DataType::Binary, DataType::LargeBinary) => {
            arrow_cast::cast(array, to).map_err(|e| error(0, e.to_string()))
        }
        (DataType::FixedSizeBinary(16), DataType::FixedSizeBinary(16)) => Ok(array.clone()),
        (DataType::Timestamp(TimeUnit::Millisecond, _), DataType::Timestamp(TimeUnit::Microsecond, zone)) => {
            let millis = array.as_primitive::<TimestampMillisecondType>();
            let mut micros = Vec::with_capacity(millis.len());
            for (row, value) in millis.values().iter().enumerate() {
                match value.checked_mul(1000) {
                    Some(v) => micros.push(v),
                    None if millis.is_null(row) => micros.push(0),
                    None => {
                        return Err(error(
                            row,
                            format!(
                                "{} is beyond timestamptz (±292,000 years); export with --timestamp-as long",
                                timestamp_text(*value)
                            ),
                        ));
                    }
                }
            }
            let out = TimestampMicrosecondArray::new(ScalarBuffer::from(micros), millis.nulls().cloned())
                .with_timezone_opt(zone.clone());
            Ok(Arc::new(out))
        }
        (DataType::Timestamp(TimeUnit::Millisecond, _), DataType::Int64) => {
            let millis = array.as_primitive::<TimestampMillisecondType>();
            Ok(Arc::new(Int64Array::new(millis.values().clone(), millis.nulls().cloned())))
        }
        (DataType::Time64(TimeUnit::Nanosecond), DataType::Int64) => {
            let nanos = array.as_primitive::<Time64NanosecondType>();
            Ok(Arc::new(Int64Array::new(nanos.values().clone(), nanos.nulls().cloned())))
        }
        (DataType::Time64(TimeUnit::Nanosecond), DataType::Time64(TimeUnit::Microsecond)) => {
            let nanos = array.as_primitive::<Time64NanosecondType>();
            let mut micros = Vec::with_capacity(nanos.len());
            for (row, value) in nanos.values().iter().enumerate() {
                if value % 1000 != 0 && !nanos.is_null(row) {
                    let mut text = String::new();
                    crate::codec::text::write_time(*value, &mut text);
                    return Err(error(
                        row,
                        format!(
                            "{text} has nanoseconds, which Iceberg's time (microseconds) cannot hold; export with --time-as long"
                        ),
                    ));
                }
                micros.push(value / 1000);
            }
            Ok(Arc::new(Time64MicrosecondArray::new(ScalarBuffer::from(micros), nanos.nulls().cloned())))
        }
        (DataType::Utf8, DataType::Decimal128(precision, scale)) => {
            let (values, nulls) = parse_texts(array, |text| {
                decimal_to_unscaled(text, *precision, *scale)
                    .map_err(|why| format!("{text} does not fit decimal({precision},{scale}): {why}"))
            })?;
            let out = Decimal128Array::new(ScalarBuffer::from(values), nulls)
                .with_precision_and_scale(*precision, *scale)
                .map_err(|e| error(0, e.to_string()))?;
            Ok(Arc::new(out))
        }
        (DataType::Utf8, DataType::Int64) => {
            let (values, nulls) = parse_texts(array, |text| {
                text.parse::<i64>().map_err(|_| {
                    format!("{text} does not fit long (64 bits); export with --varint-as string")
                })
            })?;
            Ok(Arc::new(Int64Array::new(ScalarBuffer::from(values), nulls)))
        }
        (DataType::List(_), DataType::List(element)) => {
            let list = array.as_list::<i32>();
            let values = convert(list.values(), element)
                .map_err(|e| nested(e, element, |i| row_of(list.offsets(), i)))?;
            let out =
                ListArray::try_new(element.clone(), list.offsets().clone(), values, list.nulls().cloned())
                    .map_err(|e| error(0, e.to_string()))?;
            Ok(Arc::new(out))
        }
        (DataType::FixedSizeList(_, size), DataType::List(element)) => {
            let list = array.as_any().downcast_ref::<FixedSizeListArray>().expect("fixed size list");
            let size = *size as usize;
            let values =
                convert(list.values(), element).map_err(|e| nested(e, element, |i| i / size.max(1)))?;
            let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(size, list.len()));
            let out = ListArray::try_new(element.clone(), offsets, values, list.nulls().cloned())
                .map_err(|e| error(0, e.to_string()))?;
            Ok(Arc::new(out))
        }
        (DataType::Map(_, _), DataType::Map(entries, sorted)) => {
            let map = array.as_any().downcast_ref::<MapArray>().expect("map");
            let entries_array: ArrayRef = Arc::new(map.entries().clone());
            let converted = convert(&entries_array, entries).map_err(|mut e| {
                e.row = row_of(map.offsets(), e.row);
                e
            })?;
            let out = MapArray::try_new(
                entries.clone(),
                map.offsets().clone(),
                converted.as_struct().clone(),
                map.nulls().cloned(),
                *sorted,
            )
            .map_err(|e| error(0, e.to_string()))?;
            Ok(Arc::new(out))
        }
        (DataType::Struct(_), DataType::Struct(fields)) => {
            let source = array.as_struct();
            if source.num_columns() != fields.len() {
                return Err(error(
                    0,
                    format!("has {} fields, the Iceberg struct {}", source.num_columns(), fields.len()),
                ));
            }
            let mut children = Vec::with_capacity(fields.len());
            // Same CQL type on both sides, so the fields match by position.
            for (child, field) in source.columns().iter().zip(fields.iter()) {
                children.push(convert(child, field).map_err(|e| nested(e, field, |i| i))?);
            }
            let out = StructArray::try_new(fields.clone(), children, source.nulls().cloned())
                .map_err(|e| error(0, e.to_string()))?;
            Ok(Arc::new(out))
        }
        (from, to) => Err(error(0, format!("no conversion from Arrow {from} to {to}"))),
    }
}

/// Parses every non-null value of a text array; the first that fails is the error.
fn parse_texts<T: Default>(
    array: &ArrayRef,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<(Vec<T>, Option<arrow_buffer::NullBuffer>), ConvertError> {
    let texts = array.as_string::<i32>();
    let mut values = Vec::with_capacity(texts.len());
    for row in 0..texts.len() {
        values.push(if texts.is_null(row) {
            T::default()
        } else {
            parse(texts.value(row)).map_err(|m| error(row, m))?
        });
    }
    Ok((values, texts.nulls().cloned()))
}

fn nested(mut e: ConvertError, field: &Field, parent_row: impl Fn(usize) -> usize) -> ConvertError {
    e.row = parent_row(e.row);
    e.path = join_path(field.name(), &e.path);
    e
}

/// The list slot holding child value `child`.
fn row_of(offsets: &OffsetBuffer<i32>, child: usize) -> usize {
    let child = child as i32;
    offsets.partition_point(|o| *o <= child).saturating_sub(1)
}

fn timestamp_text(millis: i64) -> String {
    let mut text = String::new();
    crate::codec::text::write_timestamp(millis, &mut text);
    text
}

/// The unscaled value of decimal `text` (Java `BigDecimal` text or plain digits) at `scale`,
/// if that is exact and has at most `precision` digits.
pub fn decimal_to_unscaled(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().map_err(|_| "not a number".to_string())?),
        None => (text, 0),
    };
    let (negative, digits) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err("not a number".to_string());
    }
    let mut unscaled = BigInt::from_str(&format!("{whole}{fraction}")).map_err(|e| e.to_string())?;
    // value = unscaled × 10^(exponent − fraction digits)
    let value_scale = fraction.len() as i64 - exponent;
    let shift = i64::from(scale) - value_scale;
    if shift >= 0 {
        if shift > 76 {
            return Err("too many digits".to_string());
        }
        unscaled *= BigInt::from(10u8).pow(shift as u32);
    } else {
        let divisor = BigInt::from(10u8).pow((-shift).min(400) as u32);
        if &unscaled % &divisor != BigInt::ZERO {
            return Err(format!("it has more than {scale} digits after the point"));
        }
        unscaled /= divisor;
    }
    let limit = BigInt::from(10u8).pow(u32::from(precision));
    if unscaled >= limit {
        return Err(format!("it has more than {precision} digits"));
    }
    let value = i128::try_from(unscaled).map_err(|_| format!("it has more than {precision} digits"))?;
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int8Array, StringArray, TimestampMillisecondArray};

    #[test]
    fn decimals_convert_exactly_or_not_at_all() {
        assert_eq!(decimal_to_unscaled("1.20", 38, 6), Ok(1_200_000));
        assert_eq!(decimal_to_unscaled("-1.2E+3", 38, 2), Ok(-120_000));
        assert_eq!(decimal_to_unscaled("1.23E-3", 10, 5), Ok(123));
        assert_eq!(decimal_to_unscaled("42", 38, 0), Ok(42));
        assert!(decimal_to_unscaled("1.234", 38, 2).unwrap_err().contains("after the point"));
        assert!(decimal_to_unscaled("123456", 5, 0).unwrap_err().contains("more than 5 digits"));
        assert!(decimal_to_unscaled("1E-400", 38, 6).is_err());
        assert!(decimal_to_unscaled("abc", 38, 6).is_err());
        assert_eq!(
            decimal_to_unscaled("99999999999999999999999999999999999999", 38, 0),
            Ok(99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
    }

    #[test]
    fn widening_and_rescaling_check_every_value() {
        let bytes: ArrayRef = Arc::new(Int8Array::from(vec![Some(-128), None, Some(127)]));
        let out = convert(&bytes, &Arc::new(Field::new("x", DataType::Int32, true))).unwrap();
        assert_eq!(out.data_type(), &DataType::Int32);
        assert_eq!(out.null_count(), 1);

        let far: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![Some(1), None, Some(i64::MAX)]));
        let target = Arc::new(Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        ));
        let err = convert(&far, &target).unwrap_err();
        assert_eq!(err.row, 2);
        assert!(err.message.contains("--timestamp-as long"), "{}", err.message);

        let texts: ArrayRef = Arc::new(StringArray::from(vec![Some("1.5"), Some("0.125")]));
        let err = convert(&texts, &Arc::new(Field::new("d", DataType::Decimal128(10, 2), true))).unwrap_err();
        assert_eq!(err.row, 1);
    }
}

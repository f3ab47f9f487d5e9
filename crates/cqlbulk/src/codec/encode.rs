//! Arrow values → CQL wire bytes of a target column type: how `load` writes any Arrow
//! source (cqlbulk's own files, Parquet from pyarrow or Spark, Iceberg scans, and the text
//! columns of CSV and JSON) into Cassandra.
//!
//! The inverse of `decode.rs`, and hand-written for the same reason: the target type is
//! known only at run time. The Arrow type says how a value is held, the CQL type what it
//! must become; every pair that converts without guessing is accepted (an Int64 into a
//! `tinyint` if it fits, a Decimal128 into a `decimal`, microseconds into a millisecond
//! `timestamp`), and a value that does not fit is an error for its row alone.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, IntervalUnit, TimeUnit};
use num_bigint::BigInt;
use scylla::frame::response::result::{CollectionType, ColumnType, NativeType};

use crate::codec::parse::{
    self, ParseResult, encode_vector_element, integer_range, with_length, write_count, write_date,
    write_decimal, write_duration, write_null, write_time, write_uuid,
};
use crate::codec::types::cql_type_name;

/// Arrow types read through a cast to a simpler one first (views, large offsets,
/// dictionaries), so the encoder knows one type per kind.
pub fn normalize(array: &ArrayRef) -> ParseResult<ArrayRef> {
    let target = normal_type(array.data_type());
    if &target == array.data_type() {
        return Ok(array.clone());
    }
    arrow_cast::cast(array, &target).map_err(|e| format!("cannot read Arrow {}: {e}", array.data_type()))
}

fn normal_type(typ: &DataType) -> DataType {
    match typ {
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        DataType::Dictionary(_, value) => normal_type(value),
        DataType::LargeList(item) | DataType::ListView(item) | DataType::LargeListView(item) => {
            DataType::List(Arc::new(item.as_ref().clone().with_data_type(normal_type(item.data_type()))))
        }
        DataType::List(item) => {
            DataType::List(Arc::new(item.as_ref().clone().with_data_type(normal_type(item.data_type()))))
        }
        DataType::FixedSizeList(item, n) => DataType::FixedSizeList(
            Arc::new(item.as_ref().clone().with_data_type(normal_type(item.data_type()))),
            *n,
        ),
        DataType::Struct(fields) => DataType::Struct(
            fields.iter().map(|f| f.as_ref().clone().with_data_type(normal_type(f.data_type()))).collect(),
        ),
        DataType::Map(entries, sorted) => DataType::Map(
            Arc::new(entries.as_ref().clone().with_data_type(normal_type(entries.data_type()))),
            *sorted,
        ),
        other => other.clone(),
    }
}

/// Whether values of Arrow type `from` can be loaded into CQL type `to` (some values may
/// still fail, e.g. out of range). `Err` says why not, for a message before any write.
pub fn check(from: &DataType, to: &ColumnType) -> ParseResult<()> {
    let normal = normal_type(from);
    if &normal != from {
        return check(&normal, to);
    }
    let ok = match (to, from) {
        (_, DataType::Null) => true,
        // Text holds every type: scalars in their text form, nested values as JSON.
        (_, DataType::Utf8) => true,
        (ColumnType::Native(native), _) => native_accepts(native, from),
        (
            ColumnType::Collection { typ: CollectionType::List(item) | CollectionType::Set(item), .. }
            | ColumnType::Vector { typ: item, .. },
            DataType::List(field) | DataType::FixedSizeList(field, _),
        ) => return check(field.data_type(), item),
        (ColumnType::Collection { typ: CollectionType::Map(k, v), .. }, DataType::Map(entries, _)) => {
            let DataType::Struct(fields) = entries.data_type() else { return Err("bad map".into()) };
            check(fields[0].data_type(), k)?;
            return check(fields[1].data_type(), v);
        }
        (ColumnType::UserDefinedType { definition, .. }, DataType::Struct(fields)) => {
            for field in fields {
                let Some((_, typ)) = definition.field_types.iter().find(|(n, _)| n == field.name()) else {
                    return Err(format!("{} has no field '{}'", cql_type_name(to), field.name()));
                };
                check(field.data_type(), typ)?;
            }
            return Ok(());
        }
        (ColumnType::Tuple(types), DataType::Struct(fields)) => {
            if fields.len() > types.len() {
                return Err(format!("a struct of {} fields cannot be a {}", fields.len(), cql_type_name(to)));
            }
            for (field, typ) in fields.iter().zip(types) {
                check(field.data_type(), typ)?;
            }
            return Ok(());
        }
        _ => false,
    };
    if ok { Ok(()) } else { Err(format!("Arrow {from} cannot be loaded into CQL {}", cql_type_name(to))) }
}

fn native_accepts(native: &NativeType, from: &DataType) -> bool {
    use DataType as D;
    let integer = from.is_integer();
    match native {
        NativeType::Text | NativeType::Ascii => false,
        NativeType::Boolean => matches!(from, D::Boolean),
        NativeType::TinyInt
        | NativeType::SmallInt
        | NativeType::Int
        | NativeType::BigInt
        | NativeType::Counter => integer || matches!(from, D::Decimal128(..) | D::Decimal256(..)),
        NativeType::Varint | NativeType::Decimal => {
            integer || matches!(from, D::Decimal128(..) | D::Decimal256(..))
        }
        NativeType::Float | NativeType::Double => {
            integer || from.is_floating() || matches!(from, D::Decimal128(..) | D::Decimal256(..))
        }
        NativeType::Uuid | NativeType::Timeuuid => matches!(from, D::FixedSizeBinary(16) | D::Binary),
        NativeType::Blob => matches!(from, D::Binary | D::FixedSizeBinary(_)),
        NativeType::Inet => matches!(from, D::Binary | D::FixedSizeBinary(4 | 16)),
        NativeType::Date => matches!(from, D::Date32 | D::Date64 | D::Int32 | D::Timestamp(..)),
        NativeType::Time => matches!(from, D::Time32(_) | D::Time64(_) | D::Int64),
        NativeType::Timestamp => matches!(from, D::Timestamp(..) | D::Int64 | D::Date32 | D::Date64),
        NativeType::Duration => {
            matches!(from, D::Interval(IntervalUnit::MonthDayNano))
                || matches!(from, D::Struct(fields) if fields.len() == 3)
        }
        _ => false,
    }
}

/// Appends the wire bytes of `array[row]` as a value of `target`; `Ok(false)` for null
/// (nothing appended). `array` must be normalized and pass `check`.
pub fn encode(array: &dyn Array, row: usize, target: &ColumnType, out: &mut Vec<u8>) -> ParseResult<bool> {
    if is_null(array, row) {
        return Ok(false);
    }
    // An empty text is null for types without an empty form (a CSV's `""` in a number
    // column).
    if let DataType::Utf8 = array.data_type()
        && array.as_string::<i32>().value(row).is_empty()
        && !matches!(target, ColumnType::Native(NativeType::Text | NativeType::Ascii | NativeType::Blob))
    {
        return Ok(false);
    }
    let start = out.len();
    let result = encode_value(array, row, target, out);
    if result.is_err() {
        out.truncate(start);
    }
    result.map(|()| true)
}

/// Whether `array[row]` is null. A `NullArray` has no validity buffer, so `is_null` says
/// false for its rows (found by fuzzing: it then reached a struct downcast).
fn is_null(array: &dyn Array, row: usize) -> bool {
    array.is_null(row) || *array.data_type() == DataType::Null
}

fn encode_value(array: &dyn Array, row: usize, target: &ColumnType, out: &mut Vec<u8>) -> ParseResult<()> {
    if let DataType::Utf8 = array.data_type() {
        return parse::encode_text(target, array.as_string::<i32>().value(row), out);
    }
    match target {
        ColumnType::Native(native) => encode_native(array, row, native, out),
        ColumnType::Collection { typ: CollectionType::List(item) | CollectionType::Set(item), .. } => {
            let (values, range) = children(array, row);
            write_count(range.len(), out)?;
            for i in range {
                if is_null(values.as_ref(), i) {
                    return Err(format!("{} cannot hold null", cql_type_name(target)));
                }
                with_length(out, |out| encode_value(values.as_ref(), i, item, out))?;
            }
            Ok(())
        }
        ColumnType::Collection { typ: CollectionType::Map(key, value), .. } => {
            let map = array.as_map();
            let offsets = map.value_offsets();
            let range = offsets[row] as usize..offsets[row + 1] as usize;
            write_count(range.len(), out)?;
            for i in range {
                if is_null(map.keys().as_ref(), i) || is_null(map.values().as_ref(), i) {
                    return Err(format!("{} cannot hold null", cql_type_name(target)));
                }
                with_length(out, |out| encode_value(map.keys().as_ref(), i, key, out))?;
                with_length(out, |out| encode_value(map.values().as_ref(), i, value, out))?;
            }
            Ok(())
        }
        ColumnType::Vector { typ: element, dimensions } => {
            let (values, range) = children(array, row);
            if range.len() != usize::from(*dimensions) {
                return Err(format!(
                    "{} has {} elements, not {dimensions}",
                    cql_type_name(target),
                    range.len()
                ));
            }
            for i in range {
                if is_null(values.as_ref(), i) {
                    return Err(format!("{} cannot hold null", cql_type_name(target)));
                }
                encode_vector_element(element, out, |out| encode_value(values.as_ref(), i, element, out))?;
            }
            Ok(())
        }
        ColumnType::UserDefinedType { definition, .. } => {
            let structs = array.as_struct();
            for (name, typ) in &definition.field_types {
                match structs.column_by_name(name) {
                    Some(child) if !is_null(child.as_ref(), row) => {
                        with_length(out, |out| encode_value(child.as_ref(), row, typ, out))?
                    }
                    _ => write_null(out),
                }
            }
            Ok(())
        }
        ColumnType::Tuple(types) => {
            let structs = array.as_struct();
            for (i, typ) in types.iter().enumerate() {
                match structs.columns().get(i) {
                    Some(child) if !is_null(child.as_ref(), row) => {
                        with_length(out, |out| encode_value(child.as_ref(), row, typ, out))?
                    }
                    _ => write_null(out),
                }
            }
            Ok(())
        }
        other => Err(format!("cqlbulk cannot load values of type {}", cql_type_name(other))),
    }
}

fn children(array: &dyn Array, row: usize) -> (ArrayRef, std::ops::Range<usize>) {
    match array.data_type() {
        DataType::FixedSizeList(_, size) => {
            let size = *size as usize;
            (array.as_fixed_size_list().values().clone(), row * size..(row + 1) * size)
        }
        _ => {
            let list = array.as_list::<i32>();
            let offsets = list.value_offsets();
            (list.values().clone(), offsets[row] as usize..offsets[row + 1] as usize)
        }
    }
}

/// An integer-valued Arrow cell, widened; `None` for a non-integer type.
fn integer_value(array: &dyn Array, row: usize) -> Option<i128> {
    Some(match array.data_type() {
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).into(),
        _ => return None,
    })
}

/// A decimal Arrow cell as (unscaled, scale).
fn decimal_value(array: &dyn Array, row: usize) -> Option<(BigInt, i32)> {
    match array.data_type() {
        DataType::Decimal128(_, scale) => {
            Some((BigInt::from(array.as_primitive::<Decimal128Type>().value(row)), i32::from(*scale)))
        }
        DataType::Decimal256(_, scale) => {
            let value = array.as_primitive::<Decimal256Type>().value(row);
            Some((BigInt::from_signed_bytes_le(&value.to_le_bytes()), i32::from(*scale)))
        }
        _ => integer_value(array, row).map(|v| (BigInt::from(v), 0)),
    }
}

fn encode_native(array: &dyn Array, row: usize, native: &NativeType, out: &mut Vec<u8>) -> ParseResult<()> {
    let type_name = || cql_type_name(&ColumnType::Native(native.clone()));
    match native {
        NativeType::Boolean => out.push(u8::from(array.as_boolean().value(row))),
        NativeType::TinyInt
        | NativeType::SmallInt
        | NativeType::Int
        | NativeType::BigInt
        | NativeType::Counter => {
            let value = match integer_value(array, row) {
                Some(v) => v,
                None => {
                    let (unscaled, scale) = decimal_value(array, row).expect("checked: a decimal");
                    let text = crate::codec::decode::format_decimal(&unscaled, scale);
                    exact_integer(&unscaled, scale)
                        .ok_or_else(|| format!("{text} is not a whole number, as {} needs", type_name()))?
                }
            };
            let name = type_name();
            let (min, max) = integer_range(&name);
            if value < min || value > max {
                return Err(format!("{value} is out of range for {name} ({min}..{max})"));
            }
            match native {
                NativeType::TinyInt => out.extend_from_slice(&(value as i8).to_be_bytes()),
                NativeType::SmallInt => out.extend_from_slice(&(value as i16).to_be_bytes()),
                NativeType::Int => out.extend_from_slice(&(value as i32).to_be_bytes()),
                _ => out.extend_from_slice(&(value as i64).to_be_bytes()),
            }
        }
        NativeType::Varint => {
            let (unscaled, scale) = decimal_value(array, row).expect("checked: a number");
            let value = exact_integer_big(&unscaled, scale).ok_or_else(|| {
                format!(
                    "{} is not a whole number, as varint needs",
                    crate::codec::decode::format_decimal(&unscaled, scale)
                )
            })?;
            out.extend_from_slice(&value.to_signed_bytes_be());
        }
        NativeType::Decimal => {
            let (unscaled, scale) = decimal_value(array, row).expect("checked: a number");
            write_decimal(&unscaled, scale, out);
        }
        NativeType::Float | NativeType::Double => {
            let value = match array.data_type() {
                DataType::Float16 => f64::from(array.as_primitive::<Float16Type>().value(row)),
                DataType::Float32 => f64::from(array.as_primitive::<Float32Type>().value(row)),
                DataType::Float64 => array.as_primitive::<Float64Type>().value(row),
                _ => {
                    let (unscaled, scale) = decimal_value(array, row).expect("checked: a number");
                    crate::codec::decode::format_decimal(&unscaled, scale)
                        .parse()
                        .expect("decimal text is a float")
                }
            };
            if let NativeType::Float = native {
                out.extend_from_slice(&(value as f32).to_be_bytes());
            } else {
                out.extend_from_slice(&value.to_be_bytes());
            }
        }
        NativeType::Uuid | NativeType::Timeuuid => {
            let bytes = binary_value(array, row);
            let bytes: [u8; 16] =
                bytes.try_into().map_err(|_| format!("{} bytes are not a UUID (16 bytes)", bytes.len()))?;
            write_uuid(native, &bytes, out)?;
        }
        NativeType::Blob => out.extend_from_slice(binary_value(array, row)),
        NativeType::Inet => {
            let bytes = binary_value(array, row);
            if !matches!(bytes.len(), 4 | 16) {
                return Err(format!("{} bytes are not an inet address (4 or 16 bytes)", bytes.len()));
            }
            out.extend_from_slice(bytes);
        }
        NativeType::Date => {
            let days = match array.data_type() {
                DataType::Date32 => i64::from(array.as_primitive::<Date32Type>().value(row)),
                DataType::Int32 => i64::from(array.as_primitive::<Int32Type>().value(row)),
                DataType::Date64 => array.as_primitive::<Date64Type>().value(row).div_euclid(86_400_000),
                _ => timestamp_millis(array, row)?.div_euclid(86_400_000),
            };
            write_date(days, out)?;
        }
        NativeType::Time => {
            let nanos = match array.data_type() {
                DataType::Time32(TimeUnit::Second) => {
                    i64::from(array.as_primitive::<Time32SecondType>().value(row)) * 1_000_000_000
                }
                DataType::Time32(_) => {
                    i64::from(array.as_primitive::<Time32MillisecondType>().value(row)) * 1_000_000
                }
                // Checked: any i64 of microseconds can be given (found by fuzzing); one that
                // does not fit is out of range for `time` anyway.
                DataType::Time64(TimeUnit::Microsecond) => array
                    .as_primitive::<Time64MicrosecondType>()
                    .value(row)
                    .checked_mul(1000)
                    .ok_or("time out of range for CQL (0 to 24h)")?,
                DataType::Time64(_) => array.as_primitive::<Time64NanosecondType>().value(row),
                _ => array.as_primitive::<Int64Type>().value(row),
            };
            write_time(nanos, out)?;
        }
        NativeType::Timestamp => {
            let millis = match array.data_type() {
                DataType::Int64 => array.as_primitive::<Int64Type>().value(row),
                DataType::Date32 => i64::from(array.as_primitive::<Date32Type>().value(row)) * 86_400_000,
                DataType::Date64 => array.as_primitive::<Date64Type>().value(row),
                _ => timestamp_millis(array, row)?,
            };
            out.extend_from_slice(&millis.to_be_bytes());
        }
        NativeType::Duration => {
            let (months, days, nanos) = match array.data_type() {
                DataType::Interval(_) => {
                    let value = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
                    (value.months, value.days, value.nanoseconds)
                }
                _ => {
                    let parts = array.as_struct();
                    let part = |i: usize| integer_value(parts.column(i).as_ref(), row);
                    let (Some(m), Some(d), Some(n)) = (part(0), part(1), part(2)) else {
                        return Err("a duration struct needs integer months, days and nanoseconds".into());
                    };
                    let months = i32::try_from(m).map_err(|_| format!("{m} months is out of range"))?;
                    let days = i32::try_from(d).map_err(|_| format!("{d} days is out of range"))?;
                    let nanos = i64::try_from(n).map_err(|_| format!("{n} ns is out of range"))?;
                    (months, days, nanos)
                }
            };
            if !((months >= 0 && days >= 0 && nanos >= 0) || (months <= 0 && days <= 0 && nanos <= 0)) {
                return Err("a duration's months, days and nanoseconds must have the same sign".into());
            }
            write_duration(months, days, nanos, out);
        }
        _ => return Err(format!("cqlbulk cannot load values of type {}", type_name())),
    }
    Ok(())
}

fn binary_value(array: &dyn Array, row: usize) -> &[u8] {
    match array.data_type() {
        DataType::FixedSizeBinary(_) => array.as_fixed_size_binary().value(row),
        _ => array.as_binary::<i32>().value(row),
    }
}

/// Milliseconds since the epoch of an Arrow timestamp of any unit; below a millisecond
/// rounds down (as Java's `Instant.toEpochMilli`).
fn timestamp_millis(array: &dyn Array, row: usize) -> ParseResult<i64> {
    let DataType::Timestamp(unit, _) = array.data_type() else {
        return Err(format!("Arrow {} is not a timestamp", array.data_type()));
    };
    Ok(match unit {
        TimeUnit::Second => array
            .as_primitive::<TimestampSecondType>()
            .value(row)
            .checked_mul(1000)
            .ok_or("timestamp out of range for CQL")?,
        TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(row),
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(row).div_euclid(1000),
        TimeUnit::Nanosecond => {
            array.as_primitive::<TimestampNanosecondType>().value(row).div_euclid(1_000_000)
        }
    })
}

fn exact_integer(unscaled: &BigInt, scale: i32) -> Option<i128> {
    i128::try_from(exact_integer_big(unscaled, scale)?).ok()
}

fn exact_integer_big(unscaled: &BigInt, scale: i32) -> Option<BigInt> {
    if scale <= 0 {
        return Some(unscaled * BigInt::from(10).pow(scale.unsigned_abs()));
    }
    let divisor = BigInt::from(10).pow(scale.unsigned_abs());
    (unscaled % &divisor == BigInt::from(0)).then(|| unscaled / divisor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray};

    fn bytes(array: ArrayRef, target: ColumnType) -> Vec<ParseResult<Option<Vec<u8>>>> {
        check(array.data_type(), &target).unwrap();
        (0..array.len())
            .map(|row| {
                let mut out = Vec::new();
                encode(array.as_ref(), row, &target, &mut out).map(|present| present.then_some(out))
            })
            .collect()
    }

    /// What: an Arrow `Null` column (no validity buffer: `is_null` says false) is null for
    /// every target, also as a struct field or a list element. Why: found by fuzzing
    /// (arrow_to_cql): it passed `check` and then panicked in a struct downcast.
    #[test]
    fn null_arrays_are_null_for_every_target() {
        use scylla::frame::response::result::UserDefinedType;
        let nulls = Arc::new(arrow_array::NullArray::new(2)) as ArrayRef;
        let udt = ColumnType::UserDefinedType {
            frozen: true,
            definition: Arc::new(UserDefinedType {
                name: "u".into(),
                keyspace: "k".into(),
                field_types: vec![("a".into(), ColumnType::Native(NativeType::Int))],
            }),
        };
        for target in [udt.clone(), ColumnType::Native(NativeType::Duration), ColumnType::Tuple(vec![])] {
            assert!(bytes(nulls.clone(), target).iter().all(|v| v == &Ok(None)));
        }
        let field = arrow_schema::Field::new("a", DataType::Null, true);
        let structs = arrow_array::StructArray::new(vec![field].into(), vec![nulls.clone()], None);
        let out = bytes(Arc::new(structs), udt);
        // One field, null: length -1.
        assert_eq!(out[0], Ok(Some((-1i32).to_be_bytes().to_vec())));
    }

    /// What: a `Time64(µs)` too large for nanoseconds is a bad value, not an overflow.
    /// Why: found by fuzzing (arrow_to_cql); a release build would have wrapped it.
    #[test]
    fn huge_times_are_out_of_range() {
        let times = Arc::new(arrow_array::Time64MicrosecondArray::from(vec![i64::MAX, 1])) as ArrayRef;
        let out = bytes(times, ColumnType::Native(NativeType::Time));
        assert!(out[0].is_err(), "{out:?}");
        assert_eq!(out[1], Ok(Some(1000i64.to_be_bytes().to_vec())));
    }

    /// What: integers narrow only when they fit, decimals keep their scale; why: a foreign
    /// Parquet's int64 or decimal(38,10) column loads into a smaller CQL type value by value.
    #[test]
    fn numbers_convert_exactly_or_fail_their_row() {
        let ints = Arc::new(Int64Array::from(vec![Some(5), Some(300), None])) as ArrayRef;
        let out = bytes(ints, ColumnType::Native(NativeType::TinyInt));
        assert_eq!(out[0], Ok(Some(vec![5])));
        assert_eq!(out[1], Err("300 is out of range for tinyint (-128..127)".to_string()));
        assert_eq!(out[2], Ok(None));

        let decimals =
            Arc::new(Decimal128Array::from(vec![120, 125]).with_precision_and_scale(10, 2).unwrap())
                as ArrayRef;
        let out = bytes(decimals.clone(), ColumnType::Native(NativeType::Decimal));
        assert_eq!(out[0], Ok(Some(vec![0, 0, 0, 2, 120])));
        let out = bytes(decimals, ColumnType::Native(NativeType::Int));
        assert_eq!(out[0], Err("1.20 is not a whole number, as int needs".to_string()));
    }

    /// What: microsecond timestamps round down to milliseconds, before the epoch too; why:
    /// Spark and Iceberg write microseconds and CQL keeps milliseconds.
    #[test]
    fn timestamps_from_any_unit() {
        let micros = Arc::new(TimestampMicrosecondArray::from(vec![1_500, -1_500])) as ArrayRef;
        let out = bytes(micros, ColumnType::Native(NativeType::Timestamp));
        assert_eq!(out[0], Ok(Some(1i64.to_be_bytes().to_vec())));
        assert_eq!(out[1], Ok(Some((-2i64).to_be_bytes().to_vec())));
    }

    /// What: text columns parse by target type and an empty text in a number column is
    /// null; why: CSV cells are text, and `""` there means no value.
    #[test]
    fn text_parses_by_target_type() {
        let texts = Arc::new(StringArray::from(vec!["42", "", "x"])) as ArrayRef;
        let out = bytes(texts.clone(), ColumnType::Native(NativeType::Int));
        assert_eq!(out[0], Ok(Some(42i32.to_be_bytes().to_vec())));
        assert_eq!(out[1], Ok(None));
        assert!(out[2].is_err());
        let out = bytes(texts, ColumnType::Native(NativeType::Text));
        assert_eq!(out[1], Ok(Some(vec![])));
    }

    /// What: a type that can never convert is refused before reading values; why: a wrong
    /// mapping must stop the load before any write, in one line.
    #[test]
    fn impossible_types_are_refused_up_front() {
        assert!(check(&DataType::Boolean, &ColumnType::Native(NativeType::Uuid)).is_err());
        assert!(check(&DataType::Float64, &ColumnType::Native(NativeType::Int)).is_err());
        assert!(check(&DataType::Utf8, &ColumnType::Native(NativeType::Uuid)).is_ok());
    }
}

//! Arrow values of many types and shapes (nulls, nested lists, structs and maps, decimals
//! of any precision, every time unit) converted to any CQL type: `check` and `encode` give
//! a value or a reason, never a panic, and every value is well-formed for its type.
#![no_main]

use std::sync::Arc;

use arbitrary::{Result, Unstructured};
use arrow_array::types::{Int32Type, IntervalMonthDayNanoType};
use arrow_array::*;
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Fields};
use cqlbulk::codec::encode;
use libfuzzer_sys::fuzz_target;
use scylla::frame::response::result::{CollectionType, ColumnType};

/// `len` values, nullable; shaped like `hint` most of the time, so nested conversions are
/// reached, and of any type otherwise.
fn array(u: &mut Unstructured, hint: &ColumnType, depth: u32, len: usize) -> Result<ArrayRef> {
    let nested = |u: &mut Unstructured, item: &ColumnType| -> Result<ArrayRef> {
        let (offsets, total) = offsets(u, len)?;
        let child = array(u, item, depth.saturating_sub(1), total)?;
        let field = Arc::new(Field::new("item", child.data_type().clone(), true));
        Ok(Arc::new(ListArray::new(field, offsets, child, nulls(u, len)?)))
    };
    if depth > 0 && u.ratio(3, 4)? {
        match hint {
            ColumnType::Collection { typ: CollectionType::List(item) | CollectionType::Set(item), .. }
            | ColumnType::Vector { typ: item, .. } => return nested(u, item),
            ColumnType::Collection { typ: CollectionType::Map(key, value), .. } => {
                let (offsets, total) = offsets(u, len)?;
                let keys = array(u, key, depth - 1, total)?;
                let values = array(u, value, depth - 1, total)?;
                let fields = Fields::from(vec![
                    Field::new("key", keys.data_type().clone(), false),
                    Field::new("value", values.data_type().clone(), true),
                ]);
                let Ok(entries) = StructArray::try_new(fields.clone(), vec![keys, values], None) else {
                    return Ok(Arc::new(NullArray::new(len)));
                };
                let field = Arc::new(Field::new("entries", DataType::Struct(fields), false));
                return Ok(match MapArray::try_new(field, offsets, entries, nulls(u, len)?, false) {
                    Ok(map) => Arc::new(map),
                    Err(_) => Arc::new(NullArray::new(len)),
                });
            }
            ColumnType::UserDefinedType { definition, .. } => {
                let mut fields = Vec::new();
                let mut columns = Vec::new();
                for (name, typ) in &definition.field_types {
                    if u.ratio(1, 5)? {
                        continue;
                    }
                    let column = array(u, typ, depth - 1, len)?;
                    fields.push(Field::new(name.as_ref(), column.data_type().clone(), true));
                    columns.push(column);
                }
                return structs(u, fields, columns, len);
            }
            ColumnType::Tuple(types) => {
                let mut fields = Vec::new();
                let mut columns = Vec::new();
                for (i, typ) in types.iter().enumerate() {
                    let column = array(u, typ, depth - 1, len)?;
                    fields.push(Field::new(format!("f{i}"), column.data_type().clone(), true));
                    columns.push(column);
                }
                return structs(u, fields, columns, len);
            }
            _ => {}
        }
    }
    scalar(u, len)
}

fn structs(u: &mut Unstructured, fields: Vec<Field>, columns: Vec<ArrayRef>, len: usize) -> Result<ArrayRef> {
    if fields.is_empty() {
        return Ok(Arc::new(NullArray::new(len)));
    }
    Ok(match StructArray::try_new(Fields::from(fields), columns, nulls(u, len)?) {
        Ok(array) => Arc::new(array),
        Err(_) => Arc::new(NullArray::new(len)),
    })
}

/// Offsets of `len` lists of 0 to 3 items, and the item count.
fn offsets(u: &mut Unstructured, len: usize) -> Result<(OffsetBuffer<i32>, usize)> {
    let lengths: Vec<usize> = (0..len).map(|_| u.int_in_range(0..=3)).collect::<Result<_>>()?;
    let total = lengths.iter().sum();
    Ok((OffsetBuffer::from_lengths(lengths), total))
}

fn nulls(u: &mut Unstructured, len: usize) -> Result<Option<NullBuffer>> {
    if !u.arbitrary::<bool>()? {
        return Ok(None);
    }
    let valid: Vec<bool> = (0..len).map(|_| u.arbitrary()).collect::<Result<_>>()?;
    Ok(Some(NullBuffer::from(valid)))
}

fn values<T: for<'a> arbitrary::Arbitrary<'a>>(u: &mut Unstructured, len: usize) -> Result<Vec<Option<T>>> {
    (0..len).map(|_| u.arbitrary()).collect()
}

fn scalar(u: &mut Unstructured, len: usize) -> Result<ArrayRef> {
    Ok(match u.choose_index(24)? {
        0 => Arc::new(BooleanArray::from(values::<bool>(u, len)?)),
        1 => Arc::new(Int8Array::from(values::<i8>(u, len)?)),
        2 => Arc::new(Int16Array::from(values::<i16>(u, len)?)),
        3 => Arc::new(Int32Array::from(values::<i32>(u, len)?)),
        4 => Arc::new(Int64Array::from(values::<i64>(u, len)?)),
        5 => Arc::new(UInt8Array::from(values::<u8>(u, len)?)),
        6 => Arc::new(UInt64Array::from(values::<u64>(u, len)?)),
        7 => Arc::new(Float32Array::from(values::<f32>(u, len)?)),
        8 => Arc::new(Float64Array::from(values::<f64>(u, len)?)),
        9 => {
            let precision = u.int_in_range(1..=38)?;
            let scale = u.int_in_range(-10..=precision as i8)?;
            match Decimal128Array::from(values::<i128>(u, len)?).with_precision_and_scale(precision, scale) {
                Ok(array) => Arc::new(array),
                Err(_) => Arc::new(NullArray::new(len)),
            }
        }
        10 => Arc::new(StringArray::from(values::<String>(u, len)?)),
        11 => Arc::new(LargeStringArray::from(values::<String>(u, len)?)),
        12 => {
            let bytes = values::<Vec<u8>>(u, len)?;
            Arc::new(BinaryArray::from(bytes.iter().map(|b| b.as_deref()).collect::<Vec<_>>()))
        }
        13 => {
            let size = if u.arbitrary()? { 16 } else { u.int_in_range(1..=20)? };
            let items: Vec<Option<Vec<u8>>> = (0..len)
                .map(|_| Ok(if u.arbitrary()? { Some(u.bytes(size as usize)?.to_vec()) } else { None }))
                .collect::<Result<_>>()?;
            match FixedSizeBinaryArray::try_from_sparse_iter_with_size(items.into_iter(), size) {
                Ok(array) => Arc::new(array),
                Err(_) => Arc::new(NullArray::new(len)),
            }
        }
        14 => Arc::new(Date32Array::from(values::<i32>(u, len)?)),
        15 => Arc::new(Date64Array::from(values::<i64>(u, len)?)),
        16 => Arc::new(Time32SecondArray::from(values::<i32>(u, len)?)),
        17 => Arc::new(Time32MillisecondArray::from(values::<i32>(u, len)?)),
        18 => Arc::new(Time64MicrosecondArray::from(values::<i64>(u, len)?)),
        19 => Arc::new(Time64NanosecondArray::from(values::<i64>(u, len)?)),
        20 => {
            let raw = values::<i64>(u, len)?;
            let array: ArrayRef = match u.choose_index(4)? {
                0 => Arc::new(TimestampSecondArray::from(raw)),
                1 => Arc::new(TimestampMillisecondArray::from(raw).with_timezone("UTC")),
                2 => Arc::new(TimestampMicrosecondArray::from(raw)),
                _ => Arc::new(TimestampNanosecondArray::from(raw).with_timezone("+02:00")),
            };
            array
        }
        21 => {
            let raw: Vec<Option<(i32, i32, i64)>> = values(u, len)?;
            let items = raw.into_iter().map(|v| v.map(|(m, d, n)| IntervalMonthDayNanoType::make_value(m, d, n)));
            Arc::new(IntervalMonthDayNanoArray::from_iter(items))
        }
        22 => {
            let keys = Int32Array::from((0..len as i32).map(|i| Some(i % 2)).collect::<Vec<_>>());
            let dictionary = StringArray::from(vec!["1", "x"]);
            Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(dictionary)).expect("valid keys"))
        }
        _ => Arc::new(NullArray::new(len)),
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(target) = cqlbulk_fuzz::column_type(&mut u, 2) else { return };
    let Ok(len) = u.int_in_range(1..=4usize) else { return };
    let Ok(array) = array(&mut u, &target, 2, len) else { return };
    let Ok(array) = encode::normalize(&array) else { return };
    if encode::check(array.data_type(), &target).is_err() {
        return;
    }
    for row in 0..array.len() {
        let mut out = Vec::new();
        if let Ok(true) = encode::encode(array.as_ref(), row, &target, &mut out) {
            cqlbulk_fuzz::assert_well_formed(&target, &out, &(array.data_type(), row));
        }
    }
});

//! Rows of a CQL result page → an Arrow `RecordBatch`.
//!
//! Hand-written on purpose: the driver's typed deserializers need each column's Rust type
//! at compile time, but a table's schema is known only at run time. So values are decoded
//! straight from their CQL wire bytes (protocol v4 §6) into one Arrow builder per column,
//! with no intermediate value per cell. The driver still supplies the framing
//! (`ColumnIterator`) and the vector element sizes.

use std::net::IpAddr;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, FixedSizeBinaryBuilder, Float32Builder, Float64Builder,
    Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder, Time64NanosecondBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, FixedSizeListArray, ListArray, MapArray, RecordBatch, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer};
use arrow_schema::{DataType, FieldRef, Fields, SchemaRef};
use num_bigint::BigInt;
use scylla::frame::response::result::{CollectionType, ColumnType, NativeType};

use crate::codec::types::{arrow_field, arrow_schema, duration_fields};

/// A value that does not match its declared CQL type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

type Result<T> = std::result::Result<T, DecodeError>;

fn bad(what: impl Into<String>) -> DecodeError {
    DecodeError(what.into())
}

/// Builds `RecordBatch`es from rows of raw CQL values, one builder per column.
pub struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    names: Vec<String>,
    rows: usize,
    /// Raw value bytes appended since the last batch: a cheap measure of its memory.
    bytes: usize,
}

impl BatchBuilder {
    pub fn new(columns: &[(String, ColumnType<'static>)]) -> BatchBuilder {
        let schema = Arc::new(arrow_schema(columns.iter().map(|(n, t)| (n.as_str(), t))));
        BatchBuilder {
            schema,
            columns: columns.iter().map(|(_, t)| ColumnBuilder::new(t)).collect(),
            names: columns.iter().map(|(n, _)| n.clone()).collect(),
            rows: 0,
            bytes: 0,
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Raw bytes of the values appended since the last batch.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends one row: one raw value (or `None` for null) per column, in schema order.
    /// On error the builder is left unusable for this batch: the caller drops it.
    pub fn append_row<'a>(&mut self, values: impl IntoIterator<Item = Option<&'a [u8]>>) -> Result<()> {
        let mut count = 0;
        for (index, value) in values.into_iter().enumerate() {
            let column =
                self.columns.get_mut(index).ok_or_else(|| bad("row has more values than columns"))?;
            column.append(value).map_err(|e| bad(format!("column {}: {e}", self.names[index])))?;
            self.bytes += value.map_or(0, <[u8]>::len);
            count += 1;
        }
        if count != self.columns.len() {
            return Err(bad(format!("row has {count} values for {} columns", self.columns.len())));
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows appended since the last call, as one batch.
    pub fn finish(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        let rows = std::mem::take(&mut self.rows);
        self.bytes = 0;
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .expect("builders follow the schema")
    }
}

/// How a text-held type is decoded into its text.
#[derive(Clone, Copy)]
enum TextKind {
    Utf8,
    Varint,
    Decimal,
    Inet,
}

// One builder a column, made once per batch: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum ColumnBuilder {
    Text(StringBuilder, TextKind),
    Binary(BinaryBuilder),
    Boolean(BooleanBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Uuid(FixedSizeBinaryBuilder),
    Date(Date32Builder),
    Time(Time64NanosecondBuilder),
    Timestamp(TimestampMillisecondBuilder),
    Duration {
        months: Int32Builder,
        days: Int32Builder,
        nanos: Int64Builder,
        nulls: NullBufferBuilder,
    },
    List {
        item: FieldRef,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        child: Box<ColumnBuilder>,
    },
    Map {
        entries: FieldRef,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        keys: Box<ColumnBuilder>,
        values: Box<ColumnBuilder>,
    },
    /// UDTs and tuples: fields in order, missing trailing fields are null.
    Struct {
        fields: Fields,
        children: Vec<ColumnBuilder>,
        nulls: NullBufferBuilder,
    },
    Vector {
        item: FieldRef,
        size: i32,
        element_size: Option<usize>,
        nulls: NullBufferBuilder,
        child: Box<ColumnBuilder>,
    },
}

impl ColumnBuilder {
    fn new(typ: &ColumnType) -> ColumnBuilder {
        match typ {
            ColumnType::Native(native) => match native {
                NativeType::Ascii | NativeType::Text => {
                    ColumnBuilder::Text(StringBuilder::new(), TextKind::Utf8)
                }
                NativeType::Varint => ColumnBuilder::Text(StringBuilder::new(), TextKind::Varint),
                NativeType::Decimal => ColumnBuilder::Text(StringBuilder::new(), TextKind::Decimal),
                NativeType::Inet => ColumnBuilder::Text(StringBuilder::new(), TextKind::Inet),
                NativeType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::new()),
                NativeType::TinyInt => ColumnBuilder::Int8(Int8Builder::new()),
                NativeType::SmallInt => ColumnBuilder::Int16(Int16Builder::new()),
                NativeType::Int => ColumnBuilder::Int32(Int32Builder::new()),
                NativeType::BigInt | NativeType::Counter => ColumnBuilder::Int64(Int64Builder::new()),
                NativeType::Float => ColumnBuilder::Float32(Float32Builder::new()),
                NativeType::Double => ColumnBuilder::Float64(Float64Builder::new()),
                NativeType::Uuid | NativeType::Timeuuid => {
                    ColumnBuilder::Uuid(FixedSizeBinaryBuilder::new(16))
                }
                NativeType::Date => ColumnBuilder::Date(Date32Builder::new()),
                NativeType::Time => ColumnBuilder::Time(Time64NanosecondBuilder::new()),
                NativeType::Timestamp => {
                    ColumnBuilder::Timestamp(TimestampMillisecondBuilder::new().with_timezone("UTC"))
                }
                NativeType::Duration => ColumnBuilder::Duration {
                    months: Int32Builder::new(),
                    days: Int32Builder::new(),
                    nanos: Int64Builder::new(),
                    nulls: NullBufferBuilder::new(0),
                },
                _ => ColumnBuilder::Binary(BinaryBuilder::new()),
            },
            ColumnType::Collection { typ: CollectionType::List(t) | CollectionType::Set(t), .. } => {
                ColumnBuilder::List {
                    item: Arc::new(arrow_field("item", t, true)),
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(0),
                    child: Box::new(ColumnBuilder::new(t)),
                }
            }
            ColumnType::Collection { typ: CollectionType::Map(k, v), .. } => {
                let DataType::Map(entries, _) = crate::codec::types::arrow_type(typ) else {
                    unreachable!("map maps to Map")
                };
                ColumnBuilder::Map {
                    entries,
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(0),
                    keys: Box::new(ColumnBuilder::new(k)),
                    values: Box::new(ColumnBuilder::new(v)),
                }
            }
            ColumnType::Vector { typ: element, dimensions } => ColumnBuilder::Vector {
                item: Arc::new(arrow_field("item", element, true)),
                size: i32::from(*dimensions),
                element_size: element.type_size_for_vector(),
                nulls: NullBufferBuilder::new(0),
                child: Box::new(ColumnBuilder::new(element)),
            },
            ColumnType::UserDefinedType { definition, .. } => {
                let DataType::Struct(fields) = crate::codec::types::arrow_type(typ) else {
                    unreachable!("UDT maps to Struct")
                };
                ColumnBuilder::Struct {
                    fields,
                    children: definition.field_types.iter().map(|(_, t)| ColumnBuilder::new(t)).collect(),
                    nulls: NullBufferBuilder::new(0),
                }
            }
            ColumnType::Tuple(types) => {
                let DataType::Struct(fields) = crate::codec::types::arrow_type(typ) else {
                    unreachable!("tuple maps to Struct")
                };
                ColumnBuilder::Struct {
                    fields,
                    children: types.iter().map(ColumnBuilder::new).collect(),
                    nulls: NullBufferBuilder::new(0),
                }
            }
            _ => ColumnBuilder::Binary(BinaryBuilder::new()),
        }
    }

    fn append(&mut self, value: Option<&[u8]>) -> Result<()> {
        let Some(bytes) = value else {
            self.append_null();
            return Ok(());
        };
        // A zero-length value is CQL's "empty", distinct from null. Text-held types keep it
        // as the empty string; types with a fixed width have no place for it.
        if bytes.is_empty() && !matches!(self, ColumnBuilder::Text(..) | ColumnBuilder::Binary(_)) {
            return Err(bad(
                "an empty (zero-byte) value, which only text and blob columns can hold in Arrow; \
                 select the column as blob (e.g. with --query) to export it",
            ));
        }
        match self {
            ColumnBuilder::Text(builder, kind) => {
                if bytes.is_empty() {
                    builder.append_value("");
                } else {
                    match kind {
                        TextKind::Utf8 => builder.append_value(utf8(bytes)?),
                        TextKind::Varint => {
                            builder.append_value(BigInt::from_signed_bytes_be(bytes).to_string())
                        }
                        TextKind::Decimal => builder.append_value(decimal_text(bytes)?),
                        TextKind::Inet => builder.append_value(inet_text(bytes)?),
                    }
                }
            }
            ColumnBuilder::Binary(builder) => builder.append_value(bytes),
            ColumnBuilder::Boolean(builder) => builder.append_value(fixed::<1>(bytes, "boolean")?[0] != 0),
            ColumnBuilder::Int8(builder) => builder.append_value(i8::from_be_bytes(fixed(bytes, "tinyint")?)),
            ColumnBuilder::Int16(builder) => {
                builder.append_value(i16::from_be_bytes(fixed(bytes, "smallint")?))
            }
            ColumnBuilder::Int32(builder) => builder.append_value(i32::from_be_bytes(fixed(bytes, "int")?)),
            ColumnBuilder::Int64(builder) => {
                builder.append_value(i64::from_be_bytes(fixed(bytes, "bigint")?))
            }
            ColumnBuilder::Float32(builder) => {
                builder.append_value(f32::from_be_bytes(fixed(bytes, "float")?))
            }
            ColumnBuilder::Float64(builder) => {
                builder.append_value(f64::from_be_bytes(fixed(bytes, "double")?))
            }
            ColumnBuilder::Uuid(builder) => {
                builder.append_value(fixed::<16>(bytes, "uuid")?).expect("16 bytes for a 16-byte column")
            }
            ColumnBuilder::Date(builder) => {
                // CQL dates count days from 2^31 = 1970-01-01; every value fits Date32.
                let days = u32::from_be_bytes(fixed(bytes, "date")?);
                builder.append_value((i64::from(days) - (1i64 << 31)) as i32)
            }
            ColumnBuilder::Time(builder) => builder.append_value(i64::from_be_bytes(fixed(bytes, "time")?)),
            ColumnBuilder::Timestamp(builder) => {
                builder.append_value(i64::from_be_bytes(fixed(bytes, "timestamp")?))
            }
            ColumnBuilder::Duration { months, days, nanos, nulls } => {
                let mut rest = bytes;
                let m = read_signed_vint(&mut rest)?;
                let d = read_signed_vint(&mut rest)?;
                let n = read_signed_vint(&mut rest)?;
                if !rest.is_empty() {
                    return Err(bad("duration has trailing bytes"));
                }
                let month = i32::try_from(m).map_err(|_| bad("duration months out of range"))?;
                let day = i32::try_from(d).map_err(|_| bad("duration days out of range"))?;
                months.append_value(month);
                days.append_value(day);
                nanos.append_value(n);
                nulls.append_non_null();
            }
            ColumnBuilder::List { offsets, nulls, child, .. } => {
                let mut rest = bytes;
                let count = read_count(&mut rest)?;
                for _ in 0..count {
                    child.append(read_value(&mut rest)?)?;
                }
                if !rest.is_empty() {
                    return Err(bad("collection has trailing bytes"));
                }
                let last = *offsets.last().expect("offsets start with 0");
                offsets.push(last + count as i32);
                nulls.append_non_null();
            }
            ColumnBuilder::Map { offsets, nulls, keys, values, .. } => {
                let mut rest = bytes;
                let count = read_count(&mut rest)?;
                for _ in 0..count {
                    keys.append(read_value(&mut rest)?)?;
                    values.append(read_value(&mut rest)?)?;
                }
                if !rest.is_empty() {
                    return Err(bad("map has trailing bytes"));
                }
                let last = *offsets.last().expect("offsets start with 0");
                offsets.push(last + count as i32);
                nulls.append_non_null();
            }
            ColumnBuilder::Struct { children, nulls, .. } => {
                let mut rest = bytes;
                for child in children.iter_mut() {
                    if rest.is_empty() {
                        child.append_null();
                    } else {
                        child.append(read_value(&mut rest)?)?;
                    }
                }
                if !rest.is_empty() {
                    return Err(bad("tuple or UDT has more fields than its type"));
                }
                nulls.append_non_null();
            }
            ColumnBuilder::Vector { size, element_size, nulls, child, .. } => {
                let mut rest = bytes;
                for _ in 0..*size {
                    let element = match element_size {
                        Some(width) => take(&mut rest, *width)?,
                        None => {
                            let len = read_unsigned_vint(&mut rest)?;
                            take(
                                &mut rest,
                                usize::try_from(len).map_err(|_| bad("vector element too long"))?,
                            )?
                        }
                    };
                    child.append(Some(element))?;
                }
                if !rest.is_empty() {
                    return Err(bad("vector has more elements than its dimension"));
                }
                nulls.append_non_null();
            }
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Text(b, _) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::Boolean(b) => b.append_null(),
            ColumnBuilder::Int8(b) => b.append_null(),
            ColumnBuilder::Int16(b) => b.append_null(),
            ColumnBuilder::Int32(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Float32(b) => b.append_null(),
            ColumnBuilder::Float64(b) => b.append_null(),
            ColumnBuilder::Uuid(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Time(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
            ColumnBuilder::Duration { months, days, nanos, nulls } => {
                // Struct children keep one slot per row, null rows included.
                months.append_value(0);
                days.append_value(0);
                nanos.append_value(0);
                nulls.append_null();
            }
            ColumnBuilder::List { offsets, nulls, .. } | ColumnBuilder::Map { offsets, nulls, .. } => {
                let last = *offsets.last().expect("offsets start with 0");
                offsets.push(last);
                nulls.append_null();
            }
            ColumnBuilder::Struct { children, nulls, .. } => {
                children.iter_mut().for_each(ColumnBuilder::append_null);
                nulls.append_null();
            }
            ColumnBuilder::Vector { size, nulls, child, .. } => {
                for _ in 0..*size {
                    child.append_null();
                }
                nulls.append_null();
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Text(b, _) => Arc::new(b.finish()),
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
            ColumnBuilder::Boolean(b) => Arc::new(b.finish()),
            ColumnBuilder::Int8(b) => Arc::new(b.finish()),
            ColumnBuilder::Int16(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float32(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Uuid(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Time(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Duration { months, days, nanos, nulls } => Arc::new(
                StructArray::try_new(
                    duration_fields(),
                    vec![Arc::new(months.finish()), Arc::new(days.finish()), Arc::new(nanos.finish())],
                    nulls.finish(),
                )
                .expect("duration parts have one slot per row"),
            ),
            ColumnBuilder::List { item, offsets, nulls, child } => {
                let offsets = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(
                    ListArray::try_new(item.clone(), offsets, child.finish(), nulls.finish())
                        .expect("list offsets are valid"),
                )
            }
            ColumnBuilder::Map { entries, offsets, nulls, keys, values } => {
                let DataType::Struct(entry_fields) = entries.data_type() else {
                    unreachable!("map entries are a struct")
                };
                let pairs =
                    StructArray::try_new(entry_fields.clone(), vec![keys.finish(), values.finish()], None)
                        .expect("keys and values have the same length");
                let offsets = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(
                    MapArray::try_new(entries.clone(), offsets, pairs, nulls.finish(), false)
                        .expect("map offsets are valid"),
                )
            }
            ColumnBuilder::Struct { fields, children, nulls } => {
                let arrays = children.iter_mut().map(ColumnBuilder::finish).collect();
                Arc::new(
                    StructArray::try_new(fields.clone(), arrays, nulls.finish())
                        .expect("fields have one slot per row"),
                )
            }
            ColumnBuilder::Vector { item, size, nulls, child, .. } => Arc::new(
                FixedSizeListArray::try_new(item.clone(), *size, child.finish(), nulls.finish())
                    .expect("vectors have `size` slots per row"),
            ),
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| bad(format!("text is not valid UTF-8: {e}")))
}

fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| bad(format!("{what} needs {N} bytes, got {}", bytes.len())))
}

fn take<'a>(rest: &mut &'a [u8], len: usize) -> Result<&'a [u8]> {
    if rest.len() < len {
        return Err(bad(format!("value truncated: needed {len} bytes, {} left", rest.len())));
    }
    let (head, tail) = rest.split_at(len);
    *rest = tail;
    Ok(head)
}

fn read_count(rest: &mut &[u8]) -> Result<usize> {
    let count = i32::from_be_bytes(fixed(take(rest, 4)?, "count")?);
    usize::try_from(count).map_err(|_| bad(format!("negative element count {count}")))
}

/// `[bytes]`: an i32 length, negative for null, then that many bytes.
fn read_value<'a>(rest: &mut &'a [u8]) -> Result<Option<&'a [u8]>> {
    let len = i32::from_be_bytes(fixed(take(rest, 4)?, "length")?);
    if len < 0 { Ok(None) } else { take(rest, len as usize).map(Some) }
}

/// CQL's unsigned vint: the count of leading one bits in the first byte is the number of
/// extra bytes; the rest of the first byte and the extra bytes are the value, big-endian.
fn read_unsigned_vint(rest: &mut &[u8]) -> Result<u64> {
    let first = *take(rest, 1)?.first().expect("one byte");
    let extra = first.leading_ones() as usize;
    let mut value = if extra >= 8 { 0 } else { u64::from(first & (0xff >> extra)) };
    for byte in take(rest, extra)? {
        value = (value << 8) | u64::from(*byte);
    }
    Ok(value)
}

/// A signed vint is an unsigned one in zig-zag encoding.
fn read_signed_vint(rest: &mut &[u8]) -> Result<i64> {
    let n = read_unsigned_vint(rest)?;
    Ok((n >> 1) as i64 ^ -((n & 1) as i64))
}

/// A CQL decimal (i32 scale, then a varint unscaled value) as Java's
/// `BigDecimal.toString()` writes it, which keeps the scale: `1.20`, `1.2E+3`, `0.000012`.
/// Python's `Decimal` reads and writes the same text.
fn decimal_text(bytes: &[u8]) -> Result<String> {
    let scale = i32::from_be_bytes(fixed(&bytes[..bytes.len().min(4)], "decimal scale")?);
    let unscaled = &bytes[4..];
    if unscaled.is_empty() {
        return Err(bad("decimal has no unscaled value"));
    }
    Ok(format_decimal(&BigInt::from_signed_bytes_be(unscaled), scale))
}

pub(crate) fn format_decimal(unscaled: &BigInt, scale: i32) -> String {
    let text = unscaled.to_string();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(digits) => ("-", digits),
        None => ("", text.as_str()),
    };
    let len = digits.len() as i64;
    let scale = i64::from(scale);
    let adjusted = -scale + (len - 1);
    if scale >= 0 && adjusted >= -6 {
        if scale == 0 {
            return format!("{sign}{digits}");
        }
        if len > scale {
            let point = (len - scale) as usize;
            return format!("{sign}{}.{}", &digits[..point], &digits[point..]);
        }
        return format!("{sign}0.{}{digits}", "0".repeat((scale - len) as usize));
    }
    let mantissa = if len > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits.to_string() };
    let exponent_sign = if adjusted > 0 { "+" } else { "" };
    format!("{sign}{mantissa}E{exponent_sign}{adjusted}")
}

fn inet_text(bytes: &[u8]) -> Result<String> {
    let address = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).expect("4 bytes")),
        16 => IpAddr::from(<[u8; 16]>::try_from(bytes).expect("16 bytes")),
        n => return Err(bad(format!("inet needs 4 or 16 bytes, got {n}"))),
    };
    Ok(address.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(unscaled: i64, scale: i32) -> String {
        format_decimal(&BigInt::from(unscaled), scale)
    }

    /// What: decimals print like Java's BigDecimal.toString; why: that text is how the
    /// scale of each value survives CSV, JSON and Parquet (as a string).
    #[test]
    fn decimal_text_keeps_scale() {
        assert_eq!(decimal(120, 2), "1.20");
        assert_eq!(decimal(12, -2), "1.2E+3");
        assert_eq!(decimal(-12, 6), "-0.000012");
        assert_eq!(decimal(12, 8), "1.2E-7");
        assert_eq!(decimal(0, 0), "0");
        assert_eq!(decimal(0, 3), "0.000");
        assert_eq!(decimal(5, -1), "5E+1");
        assert_eq!(decimal(123456789, 0), "123456789");
    }

    /// What: the builder counts the raw bytes it holds and forgets them with each batch;
    /// why: unload cuts batches by bytes, so 10 KB rows do not pile up 8192 to a batch.
    #[test]
    fn batch_builder_counts_bytes() {
        let columns = vec![("b".to_string(), ColumnType::Native(NativeType::Blob))];
        let mut builder = BatchBuilder::new(&columns);
        let value = vec![7u8; 10_240];
        for _ in 0..3 {
            builder.append_row([Some(value.as_slice())]).unwrap();
        }
        builder.append_row([None]).unwrap();
        assert_eq!((builder.len(), builder.bytes()), (4, 30_720));
        let batch = builder.finish();
        assert_eq!(batch.num_rows(), 4);
        assert_eq!((builder.len(), builder.bytes()), (0, 0));
    }

    /// What: vint decoding at the size boundaries; why: durations are three vints and a
    /// misread length shifts the other two parts.
    #[test]
    fn vints_decode() {
        let cases: &[(&[u8], u64)] =
            &[(&[0x00], 0), (&[0x7f], 127), (&[0x80, 0x80], 128), (&[0xc0, 0x40, 0x00], 0x4000)];
        for (bytes, expected) in cases {
            let mut rest = *bytes;
            assert_eq!(read_unsigned_vint(&mut rest).unwrap(), *expected);
            assert!(rest.is_empty());
        }
        let mut rest: &[u8] = &[0x01];
        assert_eq!(read_signed_vint(&mut rest).unwrap(), -1);
        let mut rest: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe];
        assert_eq!(read_signed_vint(&mut rest).unwrap(), i64::MAX);
    }
}

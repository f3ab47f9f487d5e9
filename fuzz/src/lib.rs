//! What the fuzz targets share: CQL types drawn from the fuzzer's bytes, and the check that
//! encoded bytes are a well-formed value of their type.

use std::borrow::Cow;
use std::sync::Arc;

use arbitrary::{Result, Unstructured};
use scylla::frame::response::result::{CollectionType, ColumnType, NativeType, UserDefinedType};
use scylla::deserialize::FrameSlice;
use scylla::deserialize::value::DeserializeValue;
use scylla::value::CqlValue;

const NATIVE: &[NativeType] = &[
    NativeType::Ascii,
    NativeType::Boolean,
    NativeType::Blob,
    NativeType::Counter,
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

/// A CQL type, nested at most `depth` levels: scalars, lists, sets, maps, tuples, UDTs and
/// vectors, frozen or not.
pub fn column_type(u: &mut Unstructured, depth: u32) -> Result<ColumnType<'static>> {
    let kinds = if depth == 0 { 1 } else { 7 };
    Ok(match u.choose_index(kinds)? {
        0 => ColumnType::Native(NATIVE[u.choose_index(NATIVE.len())?].clone()),
        1 => {
            let item = column_type(u, depth - 1)?;
            collection(u, CollectionType::List(Box::new(item)))?
        }
        2 => {
            let item = column_type(u, depth - 1)?;
            collection(u, CollectionType::Set(Box::new(item)))?
        }
        3 => {
            let key = column_type(u, depth - 1)?;
            let value = column_type(u, depth - 1)?;
            collection(u, CollectionType::Map(Box::new(key), Box::new(value)))?
        }
        4 => {
            let arity = u.int_in_range(1..=3)?;
            ColumnType::Tuple((0..arity).map(|_| column_type(u, depth - 1)).collect::<Result<_>>()?)
        }
        5 => {
            let arity = u.int_in_range(1..=3)?;
            let field_types = (0..arity)
                .map(|i| Ok((Cow::Owned(format!("f{i}")), column_type(u, depth - 1)?)))
                .collect::<Result<_>>()?;
            ColumnType::UserDefinedType {
                frozen: u.arbitrary()?,
                definition: Arc::new(UserDefinedType {
                    name: Cow::Borrowed("fuzzed"),
                    keyspace: Cow::Borrowed("fuzz"),
                    field_types,
                }),
            }
        }
        _ => ColumnType::Vector { typ: Box::new(column_type(u, depth - 1)?), dimensions: u.int_in_range(1..=4)? },
    })
}

fn collection(u: &mut Unstructured, typ: CollectionType<'static>) -> Result<ColumnType<'static>> {
    Ok(ColumnType::Collection { frozen: u.arbitrary()?, typ })
}

/// Panics unless `bytes` is a well-formed value of `typ` as the driver reads it: what
/// cqlbulk sends must be something Cassandra can take.
pub fn assert_well_formed(typ: &ColumnType, bytes: &[u8], what: &dyn std::fmt::Debug) {
    if let Err(e) = CqlValue::type_check(typ) {
        // A type the driver cannot read (none expected): nothing to check against.
        panic!("the driver cannot read {typ:?}: {e}");
    }
    if let Err(e) = CqlValue::deserialize(typ, Some(FrameSlice::new_borrowed(bytes))) {
        // The driver (1.9) reads a zero-length element of a vector of variable-length
        // values (an empty text) as null; Cassandra 5.0 stores it and the Python driver
        // reads it back as '' (checked by hand), so that bytes are well-formed.
        if e.to_string().contains("got null") && has_vector_of_variable_values(typ) {
            return;
        }
        panic!("{what:?} encoded as {typ:?} gives bytes the driver cannot read: {e}\n{bytes:?}");
    }
}

/// Whether `typ` holds, at any depth, a vector whose elements have no fixed size.
fn has_vector_of_variable_values(typ: &ColumnType) -> bool {
    match typ {
        ColumnType::Vector { typ: element, .. } => {
            element.type_size_for_vector().is_none() || has_vector_of_variable_values(element)
        }
        ColumnType::Collection { typ: CollectionType::List(item) | CollectionType::Set(item), .. } => {
            has_vector_of_variable_values(item)
        }
        ColumnType::Collection { typ: CollectionType::Map(key, value), .. } => {
            has_vector_of_variable_values(key) || has_vector_of_variable_values(value)
        }
        ColumnType::Tuple(types) => types.iter().any(has_vector_of_variable_values),
        ColumnType::UserDefinedType { definition, .. } => {
            definition.field_types.iter().any(|(_, t)| has_vector_of_variable_values(t))
        }
        _ => false,
    }
}

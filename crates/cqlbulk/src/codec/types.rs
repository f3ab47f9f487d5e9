//! How each CQL type is held in Arrow, the one in-memory model every format reads from.
//!
//! The mapping is lossless: where Arrow has no exact type (varint beyond 128 bits, decimal
//! with a per-value scale, inet), the value is kept as its canonical text. Every field
//! carries its CQL type in the `cql_type` metadata key, so writers can format values the
//! CQL way and `load` can restore the exact type. `docs/types.md` has the full table.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use scylla::frame::response::result::{CollectionType, ColumnType, NativeType};

/// Field metadata key holding the column's CQL type, e.g. `frozen<map<text, int>>`.
pub const CQL_TYPE_KEY: &str = "cql_type";
/// Arrow's canonical extension type for UUIDs (16-byte fixed binary).
const ARROW_EXTENSION_NAME: &str = "ARROW:extension:name";
const ARROW_UUID: &str = "arrow.uuid";

/// The CQL text of a type, as `DESCRIBE` would write it.
pub fn cql_type_name(typ: &ColumnType) -> String {
    match typ {
        ColumnType::Native(native) => native_name(native).to_string(),
        ColumnType::Collection { frozen, typ } => {
            let inner = match typ {
                CollectionType::List(t) => format!("list<{}>", cql_type_name(t)),
                CollectionType::Set(t) => format!("set<{}>", cql_type_name(t)),
                CollectionType::Map(k, v) => format!("map<{}, {}>", cql_type_name(k), cql_type_name(v)),
                other => format!("{other:?}"),
            };
            if *frozen { format!("frozen<{inner}>") } else { inner }
        }
        ColumnType::Vector { typ, dimensions } => format!("vector<{}, {dimensions}>", cql_type_name(typ)),
        ColumnType::UserDefinedType { frozen, definition } => {
            let name =
                format!("{}.{}", cql_identifier(&definition.keyspace), cql_identifier(&definition.name));
            if *frozen { format!("frozen<{name}>") } else { name }
        }
        ColumnType::Tuple(types) => {
            let inner: Vec<String> = types.iter().map(cql_type_name).collect();
            format!("frozen<tuple<{}>>", inner.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// `name` as CQL writes it: bare when it reads back as itself (lower case letters, digits,
/// `_`), quoted otherwise.
pub fn cql_identifier(name: &str) -> String {
    let bare = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if bare { name.to_string() } else { format!("\"{}\"", name.replace('"', "\"\"")) }
}

fn native_name(native: &NativeType) -> &'static str {
    match native {
        NativeType::Ascii => "ascii",
        NativeType::Boolean => "boolean",
        NativeType::Blob => "blob",
        NativeType::Counter => "counter",
        NativeType::Date => "date",
        NativeType::Decimal => "decimal",
        NativeType::Double => "double",
        NativeType::Duration => "duration",
        NativeType::Float => "float",
        NativeType::Int => "int",
        NativeType::BigInt => "bigint",
        NativeType::Text => "text",
        NativeType::Timestamp => "timestamp",
        NativeType::Inet => "inet",
        NativeType::SmallInt => "smallint",
        NativeType::TinyInt => "tinyint",
        NativeType::Time => "time",
        NativeType::Timeuuid => "timeuuid",
        NativeType::Uuid => "uuid",
        NativeType::Varint => "varint",
        _ => "unknown",
    }
}

/// The Arrow field for a column (or a nested element) named `name` of CQL type `typ`.
pub fn arrow_field(name: &str, typ: &ColumnType, nullable: bool) -> Field {
    let mut metadata = HashMap::from([(CQL_TYPE_KEY.to_string(), cql_type_name(typ))]);
    if matches!(typ, ColumnType::Native(NativeType::Uuid | NativeType::Timeuuid)) {
        metadata.insert(ARROW_EXTENSION_NAME.to_string(), ARROW_UUID.to_string());
    }
    Field::new(name, arrow_type(typ), nullable).with_metadata(metadata)
}

/// The Arrow type holding values of CQL type `typ`.
pub fn arrow_type(typ: &ColumnType) -> DataType {
    match typ {
        ColumnType::Native(native) => match native {
            NativeType::Ascii | NativeType::Text => DataType::Utf8,
            // Arbitrary precision, or a scale per value: canonical text is the only lossless
            // Arrow home (Decimal128 has one scale per column and 38 digits).
            NativeType::Varint | NativeType::Decimal => DataType::Utf8,
            NativeType::Inet => DataType::Utf8,
            NativeType::Boolean => DataType::Boolean,
            NativeType::Blob => DataType::Binary,
            NativeType::TinyInt => DataType::Int8,
            NativeType::SmallInt => DataType::Int16,
            NativeType::Int => DataType::Int32,
            NativeType::BigInt | NativeType::Counter => DataType::Int64,
            NativeType::Float => DataType::Float32,
            NativeType::Double => DataType::Float64,
            NativeType::Uuid | NativeType::Timeuuid => DataType::FixedSizeBinary(16),
            NativeType::Date => DataType::Date32,
            NativeType::Time => DataType::Time64(TimeUnit::Nanosecond),
            NativeType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            // Parquet cannot store Arrow's month-day-nano interval; a struct of the three
            // parts goes everywhere.
            NativeType::Duration => DataType::Struct(duration_fields()),
            _ => DataType::Binary,
        },
        ColumnType::Collection { typ, .. } => match typ {
            CollectionType::List(t) | CollectionType::Set(t) => {
                DataType::List(Arc::new(arrow_field("item", t, true)))
            }
            CollectionType::Map(k, v) => DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        arrow_field("key", k, false),
                        arrow_field("value", v, true),
                    ])),
                    false,
                )),
                false,
            ),
            _ => DataType::Binary,
        },
        ColumnType::Vector { typ, dimensions } => {
            DataType::FixedSizeList(Arc::new(arrow_field("item", typ, true)), i32::from(*dimensions))
        }
        ColumnType::UserDefinedType { definition, .. } => DataType::Struct(Fields::from(
            definition.field_types.iter().map(|(name, t)| arrow_field(name, t, true)).collect::<Vec<_>>(),
        )),
        ColumnType::Tuple(types) => DataType::Struct(tuple_fields(types)),
        _ => DataType::Binary,
    }
}

/// Tuple elements become struct fields `f0`, `f1`, …
fn tuple_fields(types: &[ColumnType]) -> Fields {
    Fields::from(
        types.iter().enumerate().map(|(i, t)| arrow_field(&format!("f{i}"), t, true)).collect::<Vec<_>>(),
    )
}

/// `duration` as a struct: months, days and nanoseconds, each with the value's sign.
pub fn duration_fields() -> Fields {
    Fields::from(vec![
        Field::new("months", DataType::Int32, false),
        Field::new("days", DataType::Int32, false),
        Field::new("nanoseconds", DataType::Int64, false),
    ])
}

/// The Arrow schema of a result with these `(name, type)` columns.
pub fn arrow_schema<'a>(columns: impl IntoIterator<Item = (&'a str, &'a ColumnType<'a>)>) -> Schema {
    Schema::new(columns.into_iter().map(|(name, typ)| arrow_field(name, typ, true)).collect::<Vec<_>>())
}

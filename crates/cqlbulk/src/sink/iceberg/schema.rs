//! How each CQL type is held in an Iceberg table, and how the Iceberg schema follows the
//! Cassandra table across exports (new columns added, dropped ones kept).
//!
//! Defaults lose nothing: where Iceberg's type is narrower than CQL's (`decimal` with a
//! per-value scale, `varint` of any size, `time` in nanoseconds), the value is kept as text
//! or as a plain number. The typed options (`--decimal-as`, `--varint-as`, `--time-as`,
//! `--timestamp-as`) give analytics-friendly types instead and fail on any value that does
//! not fit. Every top-level field's doc is its CQL type, so `load` can restore the table.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use iceberg::spec::{
    ListType, MapType, NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Transform, Type,
    UnboundPartitionSpec,
};
use scylla::frame::response::result::{CollectionType, ColumnType, NativeType};
use serde::Serialize;

use crate::cluster::ClusterView;
use crate::codec::types::cql_type_name;
use crate::error::{Error, ErrorKind, Result};

/// Table property holding the Cassandra table's columns (name, CQL type, kind) as JSON.
pub const CQL_COLUMNS_PROPERTY: &str = "cqlbulk.cql-columns";

/// Iceberg types for the CQL types that have more than one sensible home.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeOptions {
    pub decimal: DecimalAs,
    pub varint: VarintAs,
    pub time: TimeAs,
    pub timestamp: TimestampAs,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DecimalAs {
    /// Java `BigDecimal.toString()` text: every value with its own scale.
    #[default]
    Text,
    Decimal {
        precision: u32,
        scale: u32,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VarintAs {
    /// Decimal digits, any length.
    #[default]
    Text,
    Long,
    Decimal {
        precision: u32,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeAs {
    /// Nanoseconds since midnight as `long`: Iceberg's `time` has microseconds only.
    #[default]
    Nanos,
    Time,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimestampAs {
    /// Microseconds, UTC: holds ±292,000 years; values beyond fail.
    #[default]
    Timestamptz,
    /// Milliseconds since the epoch as `long`: every CQL timestamp.
    Millis,
}

impl DecimalAs {
    pub fn parse(text: &str) -> Result<DecimalAs> {
        let text = text.trim().to_ascii_lowercase();
        if text == "string" {
            return Ok(DecimalAs::Text);
        }
        match parse_call(&text, "decimal").as_deref() {
            Some([p, s]) => {
                let (precision, scale) = (parse_number(p)?, parse_number(s)?);
                if !(1..=38).contains(&precision) || scale > precision {
                    return Err(invalid(format!(
                        "--decimal-as {text}: precision must be 1..38 and scale at most the precision"
                    )));
                }
                Ok(DecimalAs::Decimal { precision, scale })
            }
            _ => Err(invalid(format!(
                "--decimal-as {text}: use `string` or `decimal(P,S)`, e.g. decimal(38,6)"
            ))),
        }
    }
}

impl VarintAs {
    pub fn parse(text: &str) -> Result<VarintAs> {
        let text = text.trim().to_ascii_lowercase();
        match text.as_str() {
            "string" => return Ok(VarintAs::Text),
            "long" => return Ok(VarintAs::Long),
            _ => {}
        }
        match parse_call(&text, "decimal").as_deref() {
            Some([p, s]) if s == "0" => {
                let precision = parse_number(p)?;
                if !(1..=38).contains(&precision) {
                    return Err(invalid(format!("--varint-as {text}: precision must be 1..38")));
                }
                Ok(VarintAs::Decimal { precision })
            }
            _ => Err(invalid(format!("--varint-as {text}: use `string`, `long` or `decimal(P,0)`"))),
        }
    }
}

impl TimeAs {
    pub fn parse(text: &str) -> Result<TimeAs> {
        match text.trim().to_ascii_lowercase().as_str() {
            "long" => Ok(TimeAs::Nanos),
            "time" => Ok(TimeAs::Time),
            other => {
                Err(invalid(format!("--time-as {other}: use `long` (nanoseconds) or `time` (microseconds)")))
            }
        }
    }
}

impl TimestampAs {
    pub fn parse(text: &str) -> Result<TimestampAs> {
        match text.trim().to_ascii_lowercase().as_str() {
            "timestamptz" => Ok(TimestampAs::Timestamptz),
            "long" => Ok(TimestampAs::Millis),
            other => {
                Err(invalid(format!("--timestamp-as {other}: use `timestamptz` or `long` (milliseconds)")))
            }
        }
    }
}

/// `name(a, b)` → `[a, b]`.
fn parse_call(text: &str, name: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix(name)?.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|s| s.trim().to_string()).collect())
}

fn parse_number(text: &str) -> Result<u32> {
    text.parse().map_err(|_| invalid(format!("'{text}' is not a number")))
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::BadInput, message)
}

/// The Iceberg type of a CQL type. Field ids are placeholders from `ids`; the catalog assigns
/// the real ones when the table is created or a column added.
pub fn iceberg_type(typ: &ColumnType, options: &TypeOptions, ids: &mut i32) -> Result<Type> {
    Ok(match typ {
        ColumnType::Native(native) => Type::Primitive(match native {
            NativeType::Ascii | NativeType::Text | NativeType::Inet => PrimitiveType::String,
            NativeType::Boolean => PrimitiveType::Boolean,
            NativeType::Blob => PrimitiveType::Binary,
            // Iceberg has no 8- or 16-bit integers; `int` holds them exactly.
            NativeType::TinyInt | NativeType::SmallInt | NativeType::Int => PrimitiveType::Int,
            NativeType::BigInt | NativeType::Counter => PrimitiveType::Long,
            NativeType::Float => PrimitiveType::Float,
            NativeType::Double => PrimitiveType::Double,
            NativeType::Uuid | NativeType::Timeuuid => PrimitiveType::Uuid,
            NativeType::Date => PrimitiveType::Date,
            NativeType::Time => match options.time {
                TimeAs::Nanos => PrimitiveType::Long,
                TimeAs::Time => PrimitiveType::Time,
            },
            NativeType::Timestamp => match options.timestamp {
                TimestampAs::Timestamptz => PrimitiveType::Timestamptz,
                TimestampAs::Millis => PrimitiveType::Long,
            },
            NativeType::Decimal => match options.decimal {
                DecimalAs::Text => PrimitiveType::String,
                DecimalAs::Decimal { precision, scale } => PrimitiveType::Decimal { precision, scale },
            },
            NativeType::Varint => match options.varint {
                VarintAs::Text => PrimitiveType::String,
                VarintAs::Long => PrimitiveType::Long,
                VarintAs::Decimal { precision } => PrimitiveType::Decimal { precision, scale: 0 },
            },
            NativeType::Duration => {
                let fields = vec![
                    required(ids, "months", Type::Primitive(PrimitiveType::Int)),
                    required(ids, "days", Type::Primitive(PrimitiveType::Int)),
                    required(ids, "nanoseconds", Type::Primitive(PrimitiveType::Long)),
                ];
                return Ok(Type::Struct(StructType::new(fields)));
            }
            other => return Err(unsupported(&format!("{other:?}"))),
        }),
        ColumnType::Collection { typ, .. } => match typ {
            // A set is a list whose CQL type (in the field doc) says set.
            CollectionType::List(element) | CollectionType::Set(element) => {
                let element = iceberg_type(element, options, ids)?;
                Type::List(ListType::new(optional(ids, "element", element)))
            }
            CollectionType::Map(key, value) => {
                let key = iceberg_type(key, options, ids)?;
                let value = iceberg_type(value, options, ids)?;
                Type::Map(MapType::new(required(ids, "key", key), optional(ids, "value", value)))
            }
            other => return Err(unsupported(&format!("{other:?}"))),
        },
        // Iceberg lists have no fixed length; the CQL type in the doc keeps the dimension.
        ColumnType::Vector { typ, .. } => {
            let element = iceberg_type(typ, options, ids)?;
            Type::List(ListType::new(optional(ids, "element", element)))
        }
        ColumnType::UserDefinedType { definition, .. } => {
            let mut fields = Vec::with_capacity(definition.field_types.len());
            for (name, t) in &definition.field_types {
                let t = iceberg_type(t, options, ids)?;
                fields.push(optional(ids, name, t));
            }
            Type::Struct(StructType::new(fields))
        }
        ColumnType::Tuple(types) => {
            let mut fields = Vec::with_capacity(types.len());
            for (i, t) in types.iter().enumerate() {
                let t = iceberg_type(t, options, ids)?;
                fields.push(optional(ids, &format!("f{i}"), t));
            }
            Type::Struct(StructType::new(fields))
        }
        other => return Err(unsupported(&format!("{other:?}"))),
    })
}

fn next(ids: &mut i32) -> i32 {
    *ids += 1;
    *ids
}

fn required(ids: &mut i32, name: &str, typ: Type) -> NestedFieldRef {
    Arc::new(NestedField::required(next(ids), name, typ))
}

fn optional(ids: &mut i32, name: &str, typ: Type) -> NestedFieldRef {
    Arc::new(NestedField::optional(next(ids), name, typ))
}

fn unsupported(what: &str) -> Error {
    Error::new(ErrorKind::BadInput, format!("the CQL type {what} has no Iceberg mapping"))
}

/// What a column is in the Cassandra table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    PartitionKey,
    Clustering,
    Static,
    Regular,
}

/// A column of the export: its name, CQL type and kind.
#[derive(Clone, Debug, Serialize)]
pub struct CqlColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub cql_type: String,
    pub kind: ColumnKind,
    #[serde(skip)]
    pub typ: ColumnType<'static>,
}

/// The exported columns (as the scan returns them) with their kinds.
pub fn cql_columns(view: &ClusterView, columns: &[(String, ColumnType<'static>)]) -> Vec<CqlColumn> {
    columns
        .iter()
        .map(|(name, typ)| CqlColumn {
            name: name.clone(),
            cql_type: cql_type_name(typ),
            kind: if view.table.partition_key.contains(name) {
                ColumnKind::PartitionKey
            } else if view.table.clustering_key.contains(name) {
                ColumnKind::Clustering
            } else if view.table.static_columns.contains(name) {
                ColumnKind::Static
            } else {
                ColumnKind::Regular
            },
            typ: typ.clone(),
        })
        .collect()
}

/// The Iceberg schema of a new table for these columns.
///
/// Partition-key columns are required; clustering columns too, unless the table has static
/// columns (a partition with only static values is a row with null clustering columns).
/// The primary key becomes the identifier fields when Iceberg allows it (required
/// primitive, non-floating columns); otherwise the table has none rather than a wrong one.
pub fn new_table_schema(columns: &[CqlColumn], options: &TypeOptions) -> Result<Schema> {
    let has_static = columns.iter().any(|c| c.kind == ColumnKind::Static);
    // Top-level fields take ids 1..=n, nested ones follow; the catalog may renumber.
    let mut ids = columns.len() as i32;
    let mut fields = Vec::with_capacity(columns.len());
    let mut identifier = Vec::new();
    let mut identifier_possible = true;
    for (index, column) in columns.iter().enumerate() {
        let id = index as i32 + 1;
        let typ = iceberg_type(&column.typ, options, &mut ids)?;
        let is_key = matches!(column.kind, ColumnKind::PartitionKey | ColumnKind::Clustering);
        let required =
            column.kind == ColumnKind::PartitionKey || (column.kind == ColumnKind::Clustering && !has_static);
        if is_key {
            let fits = required
                && matches!(&typ, Type::Primitive(p) if !matches!(p, PrimitiveType::Float | PrimitiveType::Double));
            identifier_possible &= fits;
            identifier.push(id);
        }
        let field = NestedField::new(id, &column.name, typ, required).with_doc(&column.cql_type);
        fields.push(Arc::new(field));
    }
    let mut builder = Schema::builder().with_schema_id(0).with_fields(fields);
    if identifier_possible {
        builder = builder.with_identifier_field_ids(identifier);
    }
    builder.build().map_err(|e| Error::new(ErrorKind::BadInput, format!("Iceberg schema: {e}")))
}

/// The `cqlbulk.cql-columns` property value.
pub fn cql_columns_property(columns: &[CqlColumn]) -> String {
    serde_json::to_string(columns).expect("columns serialize")
}

/// How an existing Iceberg table has to change before this export writes to it.
#[derive(Debug, Default)]
pub struct Evolution {
    /// Columns new in Cassandra: added as optional fields.
    pub added: Vec<(String, Type, String)>,
    /// Fields the Cassandra table no longer has: kept, written as null.
    pub dropped: Vec<String>,
}

/// Compares the export's columns with an existing table's schema.
///
/// A column keeps the Iceberg type it already has when that type is one of the homes of its
/// CQL type (so a table first exported with `--decimal-as decimal(38,6)` stays so); a type
/// that cannot hold the column, or that contradicts an explicit option, is refused.
pub fn evolve(
    columns: &[CqlColumn],
    schema: &Schema,
    options: &TypeOptions,
    explicit: &ExplicitOptions,
) -> Result<Evolution> {
    let mut evolution = Evolution::default();
    for column in columns {
        let mut ids = 0;
        let wanted = iceberg_type(&column.typ, options, &mut ids)?;
        match schema.field_by_name(&column.name) {
            None => evolution.added.push((column.name.clone(), wanted, column.cql_type.clone())),
            Some(field) => {
                let existing = field.field_type.as_ref();
                let same = same_shape(existing, &wanted, false);
                if !same && (explicit.any() || !is_home_of(existing, &column.typ)) {
                    return Err(Error::new(
                        ErrorKind::BadInput,
                        format!(
                            "column {} ({}) is {} in the Iceberg table, but this export maps it to {}; \
                             give the type options the table was created with, or export to a new table",
                            column.name, column.cql_type, existing, wanted
                        ),
                    ));
                }
                if let Some(doc) = &field.doc
                    && doc != &column.cql_type
                {
                    return Err(Error::new(
                        ErrorKind::BadInput,
                        format!(
                            "column {} is {} in Cassandra but was exported as {doc}; \
                             a column whose type changed needs a new Iceberg table",
                            column.name, column.cql_type
                        ),
                    ));
                }
            }
        }
    }
    for field in schema.as_struct().fields() {
        if !columns.iter().any(|c| c.name == field.name) {
            if field.required {
                return Err(Error::new(
                    ErrorKind::BadInput,
                    format!(
                        "the Iceberg table requires column {}, which the export does not have",
                        field.name
                    ),
                ));
            }
            evolution.dropped.push(field.name.clone());
        }
    }
    Ok(evolution)
}

/// Which type options the user gave on the command line (as opposed to defaults).
#[derive(Clone, Copy, Debug, Default)]
pub struct ExplicitOptions {
    pub decimal: bool,
    pub varint: bool,
    pub time: bool,
    pub timestamp: bool,
}

impl ExplicitOptions {
    fn any(&self) -> bool {
        self.decimal || self.varint || self.time || self.timestamp
    }
}

/// Equal types, ignoring field ids (which differ between a fresh mapping and the table);
/// with `any_decimal`, every decimal matches every decimal.
fn same_shape(a: &Type, b: &Type, any_decimal: bool) -> bool {
    let same = |x: &Type, y: &Type| same_shape(x, y, any_decimal);
    match (a, b) {
        (Type::Primitive(PrimitiveType::Decimal { .. }), Type::Primitive(PrimitiveType::Decimal { .. }))
            if any_decimal =>
        {
            true
        }
        (Type::Primitive(a), Type::Primitive(b)) => a == b,
        (Type::List(a), Type::List(b)) => same(&a.element_field.field_type, &b.element_field.field_type),
        (Type::Map(a), Type::Map(b)) => {
            same(&a.key_field.field_type, &b.key_field.field_type)
                && same(&a.value_field.field_type, &b.value_field.field_type)
        }
        (Type::Struct(a), Type::Struct(b)) => {
            a.fields().len() == b.fields().len()
                && a.fields()
                    .iter()
                    .zip(b.fields())
                    .all(|(x, y)| x.name == y.name && same(&x.field_type, &y.field_type))
        }
        _ => false,
    }
}

/// Whether `existing` is a type some combination of options maps `typ` to.
fn is_home_of(existing: &Type, typ: &ColumnType) -> bool {
    let variants = [
        TypeOptions::default(),
        TypeOptions {
            decimal: DecimalAs::Decimal { precision: 38, scale: 0 },
            varint: VarintAs::Long,
            time: TimeAs::Time,
            timestamp: TimestampAs::Millis,
        },
    ];
    variants.iter().any(|options| {
        let mut ids = 0;
        iceberg_type(typ, options, &mut ids).is_ok_and(|t| same_shape(existing, &t, true))
    })
}

/// One `--partition-by` term: a transform of a column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionTerm {
    pub column: String,
    pub transform: Transform,
}

impl fmt::Display for PartitionTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transform {
            Transform::Identity => write!(f, "{}", self.column),
            Transform::Bucket(n) => write!(f, "bucket({n}, {})", self.column),
            Transform::Truncate(w) => write!(f, "truncate({w}, {})", self.column),
            other => write!(f, "{other}({})", self.column),
        }
    }
}

/// Parses `day(ts), bucket(16, id), truncate(4, name), region` (Spark SQL's spelling).
pub fn parse_partition_by(text: &str) -> Result<Vec<PartitionTerm>> {
    let bad =
        |term: &str, why: &str| Error::new(ErrorKind::BadInput, format!("--partition-by: '{term}': {why}"));
    let mut terms = Vec::new();
    for term in split_top_level(text) {
        let term = term.trim();
        if term.is_empty() {
            continue;
        }
        let Some(open) = term.find('(') else {
            terms.push(PartitionTerm { column: unquote(term), transform: Transform::Identity });
            continue;
        };
        let name = term[..open].trim().to_ascii_lowercase();
        let args: Vec<&str> = term[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| bad(term, "missing ')'"))?
            .split(',')
            .map(str::trim)
            .collect();
        let number = |text: &str| -> Result<u32> {
            text.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(term, "the first argument must be a positive number"))
        };
        let (transform, column) = match (name.as_str(), args.as_slice()) {
            ("identity", [c]) => (Transform::Identity, c),
            ("year" | "years", [c]) => (Transform::Year, c),
            ("month" | "months", [c]) => (Transform::Month, c),
            ("day" | "days", [c]) => (Transform::Day, c),
            ("hour" | "hours", [c]) => (Transform::Hour, c),
            ("bucket", [n, c]) => (Transform::Bucket(number(n)?), c),
            ("truncate", [w, c]) => (Transform::Truncate(number(w)?), c),
            _ => {
                return Err(bad(
                    term,
                    "use identity(c) or c, year(c), month(c), day(c), hour(c), bucket(N, c), truncate(W, c)",
                ));
            }
        };
        terms.push(PartitionTerm { column: unquote(column), transform });
    }
    Ok(terms)
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn unquote(text: &str) -> String {
    let text = text.trim();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => text.to_string(),
    }
}

/// The partition spec of a new table, bound to `schema` by column name.
pub fn partition_spec(terms: &[PartitionTerm], schema: &Schema) -> Result<UnboundPartitionSpec> {
    let mut builder = UnboundPartitionSpec::builder().with_spec_id(0);
    for term in terms {
        let field = schema.field_by_name(&term.column).ok_or_else(|| {
            Error::new(
                ErrorKind::BadInput,
                format!("--partition-by {term}: the table has no column {}", term.column),
            )
        })?;
        if !matches!(field.field_type.as_ref(), Type::Primitive(_)) {
            return Err(Error::new(
                ErrorKind::BadInput,
                format!(
                    "--partition-by {term}: {} is a {}, not a primitive type",
                    term.column, field.field_type
                ),
            ));
        }
        term.transform.result_type(&field.field_type).map_err(|_| {
            Error::new(
                ErrorKind::BadInput,
                format!(
                    "--partition-by {term}: {} cannot apply to {} ({})",
                    term.transform, term.column, field.field_type
                ),
            )
        })?;
        let name = match term.transform {
            Transform::Identity => term.column.clone(),
            Transform::Bucket(n) => format!("{}_bucket_{n}", term.column),
            Transform::Truncate(w) => format!("{}_trunc_{w}", term.column),
            other => format!("{}_{other}", term.column),
        };
        builder = builder
            .add_partition_field(field.id, name, term.transform)
            .map_err(|e| Error::new(ErrorKind::BadInput, format!("--partition-by {term}: {e}")))?;
    }
    Ok(builder.build())
}

/// `(name, CQL type)` of each field doc, for messages and for `load`.
pub fn field_docs(schema: &Schema) -> HashMap<String, String> {
    schema.as_struct().fields().iter().filter_map(|f| f.doc.clone().map(|d| (f.name.clone(), d))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_options_parse_and_refuse() {
        assert_eq!(
            DecimalAs::parse("decimal(38, 6)").unwrap(),
            DecimalAs::Decimal { precision: 38, scale: 6 }
        );
        assert_eq!(DecimalAs::parse("string").unwrap(), DecimalAs::Text);
        assert!(DecimalAs::parse("decimal(39,0)").is_err());
        assert!(DecimalAs::parse("decimal(5,6)").is_err());
        assert_eq!(VarintAs::parse("decimal(38,0)").unwrap(), VarintAs::Decimal { precision: 38 });
        assert!(VarintAs::parse("decimal(38,2)").is_err());
        assert_eq!(TimeAs::parse("time").unwrap(), TimeAs::Time);
        assert_eq!(TimestampAs::parse("long").unwrap(), TimestampAs::Millis);
    }

    fn column(name: &str, typ: ColumnType<'static>, kind: ColumnKind) -> CqlColumn {
        CqlColumn { name: name.into(), cql_type: cql_type_name(&typ), kind, typ }
    }

    /// What: key columns become required identifier fields, except where Iceberg forbids
    /// it or a static-only row makes clustering columns null. Why: engines use identifier
    /// fields as the row key; a wrong one is worse than none.
    #[test]
    fn keys_become_required_identifier_fields_only_when_valid() {
        let int = ColumnType::Native(NativeType::Int);
        let plain = [
            column("p", int.clone(), ColumnKind::PartitionKey),
            column("c", ColumnType::Native(NativeType::TinyInt), ColumnKind::Clustering),
            column(
                "v",
                ColumnType::Vector { typ: Box::new(ColumnType::Native(NativeType::Float)), dimensions: 3 },
                ColumnKind::Regular,
            ),
        ];
        let schema = new_table_schema(&plain, &TypeOptions::default()).unwrap();
        // Iceberg keeps identifier ids in a set: compare them sorted.
        let mut identifiers: Vec<i32> = schema.identifier_field_ids().collect();
        identifiers.sort();
        assert_eq!(identifiers, vec![1, 2]);
        let c = schema.field_by_name("c").unwrap();
        assert!(c.required);
        assert_eq!(c.field_type.to_string(), "int");
        assert_eq!(c.doc.as_deref(), Some("tinyint"));
        let v = schema.field_by_name("v").unwrap();
        assert!(!v.required);
        assert!(
            matches!(v.field_type.as_ref(), Type::List(l) if *l.element_field.field_type == Type::Primitive(PrimitiveType::Float))
        );
        assert_eq!(v.doc.as_deref(), Some("vector<float, 3>"));

        let with_static = [
            column("p", int.clone(), ColumnKind::PartitionKey),
            column("c", int.clone(), ColumnKind::Clustering),
            column("s", int.clone(), ColumnKind::Static),
        ];
        let schema = new_table_schema(&with_static, &TypeOptions::default()).unwrap();
        assert!(!schema.field_by_name("c").unwrap().required);
        assert_eq!(schema.identifier_field_ids().count(), 0);

        let float_key = [column("p", ColumnType::Native(NativeType::Double), ColumnKind::PartitionKey)];
        let schema = new_table_schema(&float_key, &TypeOptions::default()).unwrap();
        assert!(schema.field_by_name("p").unwrap().required);
        assert_eq!(schema.identifier_field_ids().count(), 0);
    }

    #[test]
    fn partition_by_parses_spark_spelling() {
        let terms = parse_partition_by("day(ts), bucket(16, id),truncate(4,name), region, \"Odd\"").unwrap();
        assert_eq!(
            terms,
            vec![
                PartitionTerm { column: "ts".into(), transform: Transform::Day },
                PartitionTerm { column: "id".into(), transform: Transform::Bucket(16) },
                PartitionTerm { column: "name".into(), transform: Transform::Truncate(4) },
                PartitionTerm { column: "region".into(), transform: Transform::Identity },
                PartitionTerm { column: "Odd".into(), transform: Transform::Identity },
            ]
        );
        assert!(parse_partition_by("bucket(id)").is_err());
        assert!(parse_partition_by("week(ts)").is_err());
        assert!(parse_partition_by("day(ts").is_err());
    }
}

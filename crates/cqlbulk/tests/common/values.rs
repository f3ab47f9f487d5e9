//! Random tables for property tests: columns of every CQL type nested at random, with
//! awkward names, and rows of CQL wire values full of adversarial strings.

use std::sync::Arc;

use num_bigint::BigInt;
use proptest::prelude::*;
use scylla::frame::response::result::{CollectionType, ColumnType, NativeType, UserDefinedType};

/// Characters that break naive CSV and JSON code: quotes, escapes, delimiters, line breaks,
/// NUL, a byte order mark, 4-byte UTF-8, JSON punctuation.
const NASTY: &[char] = &[
    '"', '\\', ',', ';', '\t', '\r', '\n', '\0', '\u{feff}', '😀', 'é', ' ', '\'', '{', '}', '[', ']', ':',
    'n', 'u', 'l', '0', '1', 'e', '-', '.', 'a', 'Z', '#', '\u{7f}', '\u{1}',
];

/// Whole strings that look like something else: null, numbers, JSON, DSBulk's null.
const LOOKALIKES: &[&str] = &[
    "",
    "null",
    "NULL",
    "\\N",
    "123",
    "-1.5e10",
    "true",
    "[1,2]",
    "{\"a\":1}",
    " ",
    "\t",
    "\"\"",
    "\\",
    "\\\"",
    "a\\",
    "\"",
    " lead",
    "trail ",
    "\u{feff}bom",
    "nul\0",
    "\r\n",
];

fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(prop::sample::select(NASTY), 0..12).prop_map(|c| c.into_iter().collect()),
        1 => prop::sample::select(LOOKALIKES).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn nasty_ascii() -> impl Strategy<Value = String> {
    nasty_string().prop_map(|s| s.chars().filter(char::is_ascii).collect())
}

pub const NATIVE: &[NativeType] = &[
    NativeType::Ascii,
    NativeType::Boolean,
    NativeType::Blob,
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

/// A CQL type nested up to 3 levels: every native type, lists, sets, maps, tuples, UDTs
/// (with awkward field names) and vectors, frozen or not.
pub fn cql_type() -> impl Strategy<Value = ColumnType<'static>> {
    let leaf = prop::sample::select(NATIVE).prop_map(ColumnType::Native);
    leaf.prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), any::<bool>()).prop_map(|(t, frozen)| ColumnType::Collection {
                frozen,
                typ: CollectionType::List(Box::new(t))
            }),
            (inner.clone(), any::<bool>()).prop_map(|(t, frozen)| ColumnType::Collection {
                frozen,
                typ: CollectionType::Set(Box::new(t))
            }),
            (inner.clone(), inner.clone(), any::<bool>()).prop_map(|(k, v, frozen)| ColumnType::Collection {
                frozen,
                typ: CollectionType::Map(Box::new(k), Box::new(v))
            }),
            prop::collection::vec(inner.clone(), 1..4).prop_map(ColumnType::Tuple),
            (prop::collection::vec(inner.clone(), 1..4), any::<bool>()).prop_map(|(types, frozen)| {
                let names = ["a", "Mixed Case", "select", "with \"quote\"", "ünï"];
                ColumnType::UserDefinedType {
                    frozen,
                    definition: Arc::new(UserDefinedType {
                        name: "Udt".into(),
                        keyspace: "ks".into(),
                        field_types: types
                            .into_iter()
                            .enumerate()
                            .map(|(i, t)| (names[i % 5].into(), t))
                            .collect(),
                    }),
                }
            }),
            (inner, 1u16..4).prop_map(|(t, dimensions)| ColumnType::Vector { typ: Box::new(t), dimensions }),
        ]
    })
}

fn length_prefixed(value: Vec<u8>) -> Vec<u8> {
    let mut out = (value.len() as i32).to_be_bytes().to_vec();
    out.extend(value);
    out
}

fn unsigned_vint(mut v: u64, out: &mut Vec<u8>) {
    // Cassandra's vint: the count of extra bytes as leading ones of the first byte.
    let mut bytes = Vec::new();
    loop {
        bytes.push((v & 0xff) as u8);
        v >>= 8;
        if v == 0 {
            break;
        }
    }
    let mut extra = bytes.len() - 1;
    let first_bits = 8 - extra - 1;
    if extra < 8 && u64::from(*bytes.last().unwrap()) >= (1u64 << first_bits) {
        bytes.push(0);
        extra += 1;
    }
    bytes.reverse();
    if extra >= 8 {
        out.push(0xff);
        out.extend(&bytes[bytes.len() - 8..]);
        return;
    }
    bytes[0] |= !(0xffu8 >> extra);
    out.extend(bytes);
}

fn signed_vint(v: i64, out: &mut Vec<u8>) {
    unsigned_vint(((v << 1) ^ (v >> 63)) as u64, out);
}

/// Wire bytes of a random value of `typ` (never null at the top; nested nulls where CQL
/// allows them: tuple and UDT fields).
pub fn value(typ: &ColumnType<'static>) -> BoxedStrategy<Vec<u8>> {
    match typ {
        ColumnType::Native(native) => native_value(native),
        ColumnType::Collection { typ: CollectionType::List(item) | CollectionType::Set(item), .. } => {
            prop::collection::vec(value(item), 0..4)
                .prop_map(|items| {
                    let mut out = (items.len() as i32).to_be_bytes().to_vec();
                    items.into_iter().for_each(|i| out.extend(length_prefixed(i)));
                    out
                })
                .boxed()
        }
        ColumnType::Collection { typ: CollectionType::Map(key, val), .. } => {
            prop::collection::vec((value(key), value(val)), 0..4)
                .prop_map(|mut entries| {
                    // Keys are unique in any map Cassandra returns.
                    let mut seen = std::collections::HashSet::new();
                    entries.retain(|(k, _)| seen.insert(k.clone()));
                    let mut out = (entries.len() as i32).to_be_bytes().to_vec();
                    for (k, v) in entries {
                        out.extend(length_prefixed(k));
                        out.extend(length_prefixed(v));
                    }
                    out
                })
                .boxed()
        }
        ColumnType::Tuple(types) => fields(types.iter().collect()),
        ColumnType::UserDefinedType { definition, .. } => {
            fields(definition.field_types.iter().map(|(_, t)| t).collect())
        }
        ColumnType::Vector { typ: element, dimensions } => {
            let fixed = element.type_size_for_vector().is_some();
            prop::collection::vec(value(element), usize::from(*dimensions))
                .prop_map(move |items| {
                    let mut out = Vec::new();
                    for item in items {
                        if !fixed {
                            unsigned_vint(item.len() as u64, &mut out);
                        }
                        out.extend(item);
                    }
                    out
                })
                .boxed()
        }
        other => panic!("no generator for {other:?}"),
    }
}

fn fields(types: Vec<&ColumnType<'static>>) -> BoxedStrategy<Vec<u8>> {
    let parts: Vec<BoxedStrategy<Option<Vec<u8>>>> =
        types.into_iter().map(|t| prop::option::weighted(0.8, value(t)).boxed()).collect();
    parts
        .prop_map(|values| {
            let mut out = Vec::new();
            for v in values {
                match v {
                    Some(v) => out.extend(length_prefixed(v)),
                    None => out.extend((-1i32).to_be_bytes()),
                }
            }
            out
        })
        .boxed()
}

fn native_value(native: &NativeType) -> BoxedStrategy<Vec<u8>> {
    match native {
        NativeType::Ascii => nasty_ascii().prop_map(String::into_bytes).boxed(),
        NativeType::Text => nasty_string().prop_map(String::into_bytes).boxed(),
        NativeType::Boolean => any::<bool>().prop_map(|b| vec![u8::from(b)]).boxed(),
        NativeType::Blob => prop::collection::vec(any::<u8>(), 0..12).boxed(),
        NativeType::TinyInt => any::<i8>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::SmallInt => any::<i16>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::Int => any::<i32>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::BigInt => any::<i64>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        // Every bit pattern but NaN payloads other than the canonical one (text has one NaN).
        NativeType::Float => any::<f32>()
            .prop_map(|v| if v.is_nan() { f32::NAN } else { v })
            .prop_map(|v| v.to_be_bytes().to_vec())
            .boxed(),
        NativeType::Double => any::<f64>()
            .prop_map(|v| if v.is_nan() { f64::NAN } else { v })
            .prop_map(|v| v.to_be_bytes().to_vec())
            .boxed(),
        NativeType::Varint => prop::collection::vec(any::<u8>(), 1..20)
            .prop_map(|b| BigInt::from_signed_bytes_be(&b).to_signed_bytes_be())
            .boxed(),
        NativeType::Decimal => (any::<i32>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(scale, b)| {
                let mut out = scale.to_be_bytes().to_vec();
                out.extend(BigInt::from_signed_bytes_be(&b).to_signed_bytes_be());
                out
            })
            .boxed(),
        NativeType::Date => any::<u32>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::Time => (0i64..86_400_000_000_000).prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::Timestamp => any::<i64>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        NativeType::Uuid => any::<[u8; 16]>().prop_map(|b| b.to_vec()).boxed(),
        NativeType::Timeuuid => any::<[u8; 16]>()
            .prop_map(|mut b| {
                b[6] = (b[6] & 0x0f) | 0x10;
                b[8] = (b[8] & 0x3f) | 0x80;
                b.to_vec()
            })
            .boxed(),
        NativeType::Inet => {
            prop_oneof![any::<[u8; 4]>().prop_map(|b| b.to_vec()), any::<[u8; 16]>().prop_map(|b| b.to_vec())]
                .boxed()
        }
        // Months, days and nanoseconds share one sign in Cassandra.
        NativeType::Duration => (any::<bool>(), 0..=i32::MAX, 0..=i32::MAX, 0..=i64::MAX)
            .prop_map(|(negative, months, days, nanos)| {
                let sign = if negative { -1 } else { 1 };
                let mut out = Vec::new();
                signed_vint(i64::from(months) * sign, &mut out);
                signed_vint(i64::from(days) * sign, &mut out);
                signed_vint(nanos * sign, &mut out);
                out
            })
            .boxed(),
        other => panic!("no generator for {other:?}"),
    }
}

/// A table's worth: columns with awkward names and types, and rows of values (null where
/// a column may be null).
/// Named columns and rows of wire values (`None` for null).
pub type Columns = Vec<(String, ColumnType<'static>)>;
pub type Rows = Vec<Vec<Option<Vec<u8>>>>;

pub fn table() -> impl Strategy<Value = (Columns, Rows)> {
    let names =
        ["id", "Mixed Case", "select", "with,comma", "with \"quote\"", "ünï 😀", "back\\slash", "tab\there"];
    prop::collection::vec(cql_type(), 1..4)
        .prop_flat_map(move |types| {
            let columns: Vec<(String, ColumnType<'static>)> =
                types.into_iter().enumerate().map(|(i, t)| (names[i % names.len()].to_string(), t)).collect();
            let row: Vec<BoxedStrategy<Option<Vec<u8>>>> =
                columns.iter().map(|(_, t)| prop::option::weighted(0.9, value(t)).boxed()).collect();
            (Just(columns), prop::collection::vec(row, 1..5))
        })
        .prop_filter("a row of only nulls is no row", |(_, rows)| {
            rows.iter().all(|r| r.iter().any(Option::is_some))
        })
}

//! A table's schema and its keyspace's replication, read from `system_schema` for that one
//! keyspace, with a parser for the CQL type text Cassandra keeps there.
//!
//! Hand-written instead of the driver's schema metadata: scylla 1.9 reads a user type name
//! only as a bare identifier (`parse_user_defined_type` in its cluster/metadata/fetching.rs),
//! so one quoted, case-sensitive type name (`frozen<"Addr">`) anywhere in the cluster made
//! its whole schema read fail, and every keyspace looked missing. The driver now fetches
//! only the replication of the keyspace in use (for routing); a table or type cqlbulk does
//! not need never stops it.

use std::collections::HashMap;
use std::sync::Arc;

use cqlbulk_ring::Replication;
use scylla::client::session::Session;
use scylla::frame::response::result::{CollectionType, ColumnType, NativeType, UserDefinedType};
use scylla::statement::Consistency;
use scylla::statement::unprepared::Statement;

use crate::error::{Error, ErrorKind, Result};

/// What a column is in the table's primary key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    PartitionKey,
    Clustering,
    Static,
    Regular,
}

#[derive(Clone, Debug)]
pub struct SchemaColumn {
    pub name: String,
    pub kind: ColumnKind,
    pub typ: ColumnType<'static>,
}

/// A table as `system_schema` describes it.
#[derive(Clone, Debug)]
pub struct TableSchema {
    /// Partition key columns in key order.
    pub partition_key: Vec<String>,
    /// Clustering columns in key order.
    pub clustering_key: Vec<String>,
    /// Every column, in no particular order.
    pub columns: Vec<SchemaColumn>,
}

/// Reads `keyspace`'s replication and `table`'s columns with their types (names as stored,
/// case-sensitive).
pub async fn read_table(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> Result<(Replication, TableSchema)> {
    let name = format!("{keyspace}.{table}");
    let replication_rows: Vec<(HashMap<String, String>,)> = select(
        session,
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
        (keyspace,),
    )
    .await?;
    let Some((replication_map,)) = replication_rows.into_iter().next() else {
        let known: Vec<(String,)> =
            select(session, "SELECT keyspace_name FROM system_schema.keyspaces", ()).await?;
        let known: Vec<&str> = known.iter().map(|(k,)| k.as_str()).collect();
        return Err(not_found("keyspace", keyspace, keyspace, &known));
    };
    let replication = replication(&replication_map).map_err(|e| e.context(keyspace))?;

    let views: Vec<(String,)> = select(
        session,
        "SELECT view_name FROM system_schema.views WHERE keyspace_name = ? AND view_name = ?",
        (keyspace, table),
    )
    .await?;
    if !views.is_empty() {
        return Err(Error::new(
            ErrorKind::BadInput,
            format!("{name} is a materialized view; give its base table instead"),
        ));
    }
    let rows: Vec<(String, String, i32, String)> = select(
        session,
        "SELECT column_name, kind, position, type FROM system_schema.columns \
         WHERE keyspace_name = ? AND table_name = ?",
        (keyspace, table),
    )
    .await?;
    if rows.is_empty() {
        let known: Vec<(String,)> = select(
            session,
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
            (keyspace,),
        )
        .await?;
        let known: Vec<&str> = known.iter().map(|(t,)| t.as_str()).collect();
        return Err(not_found("table", table, &name, &known));
    }
    let type_rows: Vec<(String, Vec<String>, Vec<String>)> = select(
        session,
        "SELECT type_name, field_names, field_types FROM system_schema.types WHERE keyspace_name = ?",
        (keyspace,),
    )
    .await?;
    let mut types = TypeParser::new(
        keyspace,
        type_rows.into_iter().map(|(type_name, names, types)| (type_name, (names, types))).collect(),
    );
    let schema = table_schema(rows, &mut types).map_err(|e| e.context(&name))?;
    Ok((replication, schema))
}

/// The tables and the materialized views of `keyspace`, sorted; an error naming the known
/// keyspaces when there is no such keyspace.
pub async fn list_keyspace(session: &Session, keyspace: &str) -> Result<(Vec<String>, Vec<String>)> {
    let exists: Vec<(String,)> = select(
        session,
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
        (keyspace,),
    )
    .await?;
    if exists.is_empty() {
        let known: Vec<(String,)> =
            select(session, "SELECT keyspace_name FROM system_schema.keyspaces", ()).await?;
        let known: Vec<&str> = known.iter().map(|(k,)| k.as_str()).collect();
        return Err(not_found("keyspace", keyspace, keyspace, &known));
    }
    let tables: Vec<(String,)> =
        select(session, "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", (keyspace,))
            .await?;
    let views: Vec<(String,)> =
        select(session, "SELECT view_name FROM system_schema.views WHERE keyspace_name = ?", (keyspace,))
            .await?;
    let mut tables: Vec<String> = tables.into_iter().map(|(t,)| t).collect();
    let mut views: Vec<String> = views.into_iter().map(|(v,)| v).collect();
    tables.sort();
    views.sort();
    Ok((tables, views))
}

/// How long a schema query may take, whatever --request-timeout says.
const SCHEMA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs a schema query at consistency ONE: `system_schema` is local to each node.
async fn select<R>(
    session: &Session,
    cql: &str,
    values: impl scylla::serialize::row::SerializeRow,
) -> Result<Vec<R>>
where
    R: for<'frame, 'metadata> scylla::deserialize::row::DeserializeRow<'frame, 'metadata>,
{
    let failed = |e: &dyn std::fmt::Display| {
        Error::new(ErrorKind::Schema, format!("cannot read the schema ({cql}): {e}")).retryable()
    };
    let mut statement = Statement::new(cql);
    statement.set_consistency(Consistency::One);
    // --request-timeout is for the rows; a few small schema reads before any of them get
    // time of their own, so that a tight timeout meant for a loaded cluster cannot fail the
    // run before it starts.
    statement.set_request_timeout(Some(SCHEMA_TIMEOUT));
    let result = session.query_unpaged(statement, values).await.map_err(|e| failed(&e))?;
    let rows = result.into_rows_result().map_err(|e| failed(&e))?;
    rows.rows::<R>().map_err(|e| failed(&e))?.collect::<Result<Vec<R>, _>>().map_err(|e| failed(&e))
}

fn table_schema(rows: Vec<(String, String, i32, String)>, types: &mut TypeParser) -> Result<TableSchema> {
    let mut partition_key = Vec::new();
    let mut clustering_key = Vec::new();
    let mut columns = Vec::with_capacity(rows.len());
    for (column, kind, position, type_text) in rows {
        let typ = types.parse(&type_text).map_err(|why| {
            Error::new(ErrorKind::Schema, format!("column {column}: cannot read its type {type_text}: {why}"))
        })?;
        let kind = match kind.as_str() {
            "partition_key" => {
                partition_key.push((position, column.clone()));
                ColumnKind::PartitionKey
            }
            "clustering" => {
                clustering_key.push((position, column.clone()));
                ColumnKind::Clustering
            }
            "static" => ColumnKind::Static,
            _ => ColumnKind::Regular,
        };
        columns.push(SchemaColumn { name: column, kind, typ });
    }
    partition_key.sort();
    clustering_key.sort();
    Ok(TableSchema {
        partition_key: partition_key.into_iter().map(|(_, c)| c).collect(),
        clustering_key: clustering_key.into_iter().map(|(_, c)| c).collect(),
        columns,
    })
}

fn not_found(what: &str, wanted: &str, full_name: &str, known: &[&str]) -> Error {
    let hint = match known.iter().find(|k| k.eq_ignore_ascii_case(wanted)) {
        // Names are case-sensitive; the unquoted CQL habit lower-cases them.
        Some(close) => format!("; names are case-sensitive, did you mean '{close}'?"),
        None => String::new(),
    };
    Error::new(ErrorKind::Schema, format!("{what} {full_name} does not exist{hint}"))
}

/// The ring's replication from `system_schema.keyspaces.replication`.
fn replication(map: &HashMap<String, String>) -> Result<Replication> {
    let class = map.get("class").map(String::as_str).unwrap_or("");
    let class = class.rsplit('.').next().unwrap_or(class);
    // Transient replication writes `3/1`: three replicas, one of them transient.
    let factor =
        |key: &str, text: &str| -> Result<usize> {
            text.split('/').next().unwrap_or("").trim().parse().map_err(|_| {
                Error::new(ErrorKind::Schema, format!("replication {key} '{text}' is not a number"))
            })
        };
    Ok(match class {
        "SimpleStrategy" => Replication::Simple {
            factor: factor("replication_factor", map.get("replication_factor").map_or("", String::as_str))?,
        },
        "NetworkTopologyStrategy" => Replication::NetworkTopology {
            factors: map
                .iter()
                .filter(|(key, _)| key.as_str() != "class")
                .map(|(dc, f)| Ok((dc.clone(), factor(dc, f)?)))
                .collect::<Result<_>>()?,
        },
        "LocalStrategy" => Replication::Local,
        other if other.ends_with("EverywhereStrategy") => Replication::Local,
        other => {
            return Err(Error::new(ErrorKind::Schema, format!("unsupported replication strategy {other}")));
        }
    })
}

/// User types of one keyspace: their field names and field type texts.
type TypeDefinitions = HashMap<String, (Vec<String>, Vec<String>)>;

/// Parses CQL type text as `system_schema` keeps it (`map<text, frozen<list<int>>>`,
/// `frozen<"Addr">`, `vector<float, 3>`), resolving user types of one keyspace.
pub struct TypeParser {
    keyspace: String,
    definitions: TypeDefinitions,
    resolved: HashMap<String, Arc<UserDefinedType<'static>>>,
}

/// User types nest at most this deep: a guard against a cycle in damaged metadata.
const MAX_DEPTH: usize = 64;

impl TypeParser {
    pub fn new(keyspace: &str, definitions: TypeDefinitions) -> TypeParser {
        TypeParser { keyspace: keyspace.to_string(), definitions, resolved: HashMap::new() }
    }

    /// The type `text` names.
    pub fn parse(&mut self, text: &str) -> Result<ColumnType<'static>, String> {
        self.parse_nested(text, 0)
    }

    fn parse_nested(&mut self, text: &str, depth: usize) -> Result<ColumnType<'static>, String> {
        let mut cursor = Cursor { text, at: 0 };
        let typ = self.parse_type(&mut cursor, depth)?;
        cursor.skip_spaces();
        if cursor.at < text.len() {
            return Err(format!("unexpected '{}' at character {}", &text[cursor.at..], cursor.at + 1));
        }
        Ok(typ)
    }

    fn parse_type(&mut self, cursor: &mut Cursor, depth: usize) -> Result<ColumnType<'static>, String> {
        cursor.skip_spaces();
        match cursor.peek() {
            Some('"') => {
                let name = cursor.quoted_identifier()?;
                return self.user_type(&name, false, depth);
            }
            Some('\'') => {
                return Err("custom types (a Java class name) are not supported".into());
            }
            _ => {}
        }
        let word = cursor.word();
        if word.is_empty() {
            return Err(match cursor.peek() {
                Some(c) => format!("unexpected '{c}' at character {}", cursor.at + 1),
                None => "a type is missing at the end".into(),
            });
        }
        cursor.skip_spaces();
        if cursor.peek() != Some('<') {
            return match native(word) {
                Some(native) => Ok(ColumnType::Native(native)),
                // A bare user type name, perhaps keyspace-qualified.
                None => self.user_type(word.rsplit('.').next().unwrap_or(word), false, depth),
            };
        }
        cursor.expect('<')?;
        let typ = match word.to_ascii_lowercase().as_str() {
            "frozen" => match self.parse_type(cursor, depth)? {
                ColumnType::Collection { typ, .. } => ColumnType::Collection { frozen: true, typ },
                ColumnType::UserDefinedType { definition, .. } => {
                    ColumnType::UserDefinedType { frozen: true, definition }
                }
                other => other,
            },
            "list" => collection(CollectionType::List(Box::new(self.parse_type(cursor, depth)?))),
            "set" => collection(CollectionType::Set(Box::new(self.parse_type(cursor, depth)?))),
            "map" => {
                let key = self.parse_type(cursor, depth)?;
                cursor.expect(',')?;
                let value = self.parse_type(cursor, depth)?;
                collection(CollectionType::Map(Box::new(key), Box::new(value)))
            }
            "tuple" => {
                let mut types = vec![self.parse_type(cursor, depth)?];
                while cursor.accept(',') {
                    types.push(self.parse_type(cursor, depth)?);
                }
                ColumnType::Tuple(types)
            }
            "vector" => {
                let element = self.parse_type(cursor, depth)?;
                cursor.expect(',')?;
                cursor.skip_spaces();
                let digits = cursor.word();
                let dimensions =
                    digits.parse().map_err(|_| format!("vector dimension '{digits}' is not a number"))?;
                ColumnType::Vector { typ: Box::new(element), dimensions }
            }
            other => return Err(format!("unknown type {other}<…>")),
        };
        cursor.expect('>')?;
        Ok(typ)
    }

    fn user_type(&mut self, name: &str, frozen: bool, depth: usize) -> Result<ColumnType<'static>, String> {
        if let Some(definition) = self.resolved.get(name) {
            return Ok(ColumnType::UserDefinedType { frozen, definition: definition.clone() });
        }
        if depth >= MAX_DEPTH {
            return Err(format!("user type {name} nests more than {MAX_DEPTH} deep"));
        }
        let Some((field_names, field_texts)) = self.definitions.get(name).cloned() else {
            return Err(format!("no user type {name} in keyspace {}", self.keyspace));
        };
        let mut field_types = Vec::with_capacity(field_names.len());
        for (field, text) in field_names.into_iter().zip(field_texts) {
            let typ = self
                .parse_nested(&text, depth + 1)
                .map_err(|why| format!("user type {name}, field {field} ({text}): {why}"))?;
            field_types.push((field.into(), typ));
        }
        let definition = Arc::new(UserDefinedType {
            name: name.to_string().into(),
            keyspace: self.keyspace.clone().into(),
            field_types,
        });
        self.resolved.insert(name.to_string(), definition.clone());
        Ok(ColumnType::UserDefinedType { frozen, definition })
    }
}

fn collection(typ: CollectionType<'static>) -> ColumnType<'static> {
    ColumnType::Collection { frozen: false, typ }
}

fn native(word: &str) -> Option<NativeType> {
    Some(match word.to_ascii_lowercase().as_str() {
        "ascii" => NativeType::Ascii,
        "bigint" => NativeType::BigInt,
        "blob" => NativeType::Blob,
        "boolean" => NativeType::Boolean,
        "counter" => NativeType::Counter,
        "date" => NativeType::Date,
        "decimal" => NativeType::Decimal,
        "double" => NativeType::Double,
        "duration" => NativeType::Duration,
        "float" => NativeType::Float,
        "inet" => NativeType::Inet,
        "int" => NativeType::Int,
        "smallint" => NativeType::SmallInt,
        "text" | "varchar" => NativeType::Text,
        "time" => NativeType::Time,
        "timestamp" => NativeType::Timestamp,
        "timeuuid" => NativeType::Timeuuid,
        "tinyint" => NativeType::TinyInt,
        "uuid" => NativeType::Uuid,
        "varint" => NativeType::Varint,
        _ => return None,
    })
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn skip_spaces(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    /// A run of identifier characters (letters, digits, `_`, and `.` of a qualified name).
    fn word(&mut self) -> &'a str {
        let rest = &self.text[self.at..];
        let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    /// `"..."` with `""` standing for a quote inside; returns the name unquoted.
    fn quoted_identifier(&mut self) -> Result<String, String> {
        let start = self.at;
        self.at += 1;
        let mut name = String::new();
        loop {
            let rest = &self.text[self.at..];
            let Some(end) = rest.find('"') else {
                return Err(format!("unterminated quoted name at character {}", start + 1));
            };
            name.push_str(&rest[..end]);
            self.at += end + 1;
            if self.text[self.at..].starts_with('"') {
                name.push('"');
                self.at += 1;
            } else {
                return Ok(name);
            }
        }
    }

    fn accept(&mut self, c: char) -> bool {
        self.skip_spaces();
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.accept(c) {
            return Ok(());
        }
        Err(match self.peek() {
            Some(found) => format!("expected '{c}' at character {}, found '{found}'", self.at + 1),
            None => format!("expected '{c}' at the end"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::types::cql_type_name;

    fn parser() -> TypeParser {
        let definitions = TypeDefinitions::from([
            (
                "Addr".to_string(),
                (vec!["Street".into(), "zip code".into()], vec!["text".into(), "int".into()]),
            ),
            (
                "with \"quote\"".to_string(),
                (vec!["inner".into(), "l".into()], vec!["frozen<\"Addr\">".into(), "list<text>".into()]),
            ),
            ("plain".to_string(), (vec!["a".into()], vec!["frozen<tuple<int, \"Addr\">>".into()])),
            ("loop".to_string(), (vec!["me".into()], vec!["frozen<loop>".into()])),
        ]);
        TypeParser::new("ks", definitions)
    }

    /// What: every kind of type text Cassandra 5.0 keeps, quoted user type names among them,
    /// parses to the type it names; why: the driver's parser failed on quoted names and
    /// stopped every command on every keyspace.
    #[test]
    fn type_texts_parse_to_their_types() {
        let mut types = parser();
        for (text, expected) in [
            ("int", "int"),
            ("varchar", "text"),
            ("map<text, frozen<list<int>>>", "map<text, frozen<list<int>>>"),
            ("set<frozen<tuple<int, text>>>", "set<frozen<tuple<int, text>>>"),
            ("frozen<tuple<int,text>>", "frozen<tuple<int, text>>"),
            ("vector<float, 3>", "vector<float, 3>"),
            ("vector<text,2>", "vector<text, 2>"),
            ("frozen<\"Addr\">", "frozen<ks.\"Addr\">"),
            ("\"Addr\"", "ks.\"Addr\""),
            ("frozen<\"with \"\"quote\"\"\">", "frozen<ks.\"with \"\"quote\"\"\">"),
            ("list<frozen<plain>>", "list<frozen<ks.plain>>"),
        ] {
            let typ = types.parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(cql_type_name(&typ), expected, "{text}");
        }
        let ColumnType::UserDefinedType { definition, frozen: true } =
            types.parse("frozen<\"with \"\"quote\"\"\">").unwrap()
        else {
            panic!("not a frozen user type")
        };
        assert_eq!(definition.name, "with \"quote\"");
        assert_eq!(cql_type_name(&definition.field_types[0].1), "frozen<ks.\"Addr\">");
        let ColumnType::UserDefinedType { definition: addr, .. } = &definition.field_types[0].1 else {
            panic!("inner is a user type")
        };
        assert_eq!(addr.field_types[1].0, "zip code");
    }

    /// What: bad or unsupported type text is a one-line reason, never a panic or a loop.
    #[test]
    fn bad_type_texts_are_reasons() {
        let mut types = parser();
        for (text, reason) in [
            ("frozen<missing>", "no user type missing in keyspace ks"),
            ("'org.apache.cassandra.db.marshal.DynamicCompositeType'", "custom types"),
            ("map<int>", "expected ','"),
            ("list<int", "expected '>' at the end"),
            ("vector<int, x>", "vector dimension 'x'"),
            ("\"open", "unterminated quoted name"),
            ("frozen<loop>", "nests more than 64 deep"),
            ("int extra", "unexpected 'extra'"),
        ] {
            let err = types.parse(text).unwrap_err();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    /// What: replication maps as system_schema keeps them, short and full class names,
    /// transient factors; why: replica placement, hence routing, comes from them.
    #[test]
    fn replication_maps() {
        let map =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(
            replication(&map(&[
                ("class", "org.apache.cassandra.locator.SimpleStrategy"),
                ("replication_factor", "3")
            ]))
            .unwrap(),
            Replication::Simple { factor: 3 }
        );
        assert_eq!(
            replication(&map(&[("class", "NetworkTopologyStrategy"), ("dc1", "3/1"), ("dc2", "2")])).unwrap(),
            Replication::NetworkTopology { factors: [("dc1".into(), 3), ("dc2".into(), 2)].into() }
        );
        assert!(replication(&map(&[("class", "Nope")])).unwrap_err().to_string().contains("unsupported"));
    }
}

//! The plan of a load, fixed before any write: which source field feeds which column (by
//! name, or a mapping), checked against the column types, with every primary key column
//! fed; and how a chunk's Arrow rows become CQL values of those columns ([`encode_chunk`]).
//! Pure: no session. `verify` encodes its dataset side with the same plan.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, SchemaRef};
use scylla::frame::response::result::{ColumnType, NativeType};

use crate::cluster::ClusterView;
use crate::error::{Error, ErrorKind, Result};
use crate::sink::cassandra::EncodedRows;
use crate::source::Chunk;

/// Which source field feeds which column, and where the keys and timings are.
pub struct RowPlan {
    /// Target columns, in table order, each with the source field that feeds it.
    pub columns: Vec<PlannedColumn>,
    /// Indexes into `columns`.
    pub partition_key: Vec<usize>,
    pub clustering: Vec<usize>,
    /// Value columns that are static columns.
    pub static_columns: Vec<usize>,
    /// Rows whose clustering columns are all null write only the partition key and static
    /// columns (tables with clustering and static columns, not counters).
    pub static_rows: bool,
    pub counter: bool,
    /// With --preserve-writetime/--preserve-ttl: where each column's write time and TTL are.
    pub(crate) timing: Option<Timing>,
    /// Without a mapping, the fields the plan was made from (the first file's): a later
    /// file with another field would lose that field's values without a word.
    pub source_fields: Option<HashSet<String>>,
}

impl RowPlan {
    /// The plan of `columns` (from [`plan_columns`]) for the table of `view`.
    pub fn new(view: &ClusterView, columns: Vec<PlannedColumn>) -> RowPlan {
        let table = &view.table;
        let index_of =
            |name: &String| columns.iter().position(|c| &c.name == name).expect("keys are planned");
        let partition_key: Vec<usize> = table.partition_key.iter().map(index_of).collect();
        let clustering: Vec<usize> = table.clustering_key.iter().map(index_of).collect();
        let counter = columns.iter().any(|c| matches!(c.typ, ColumnType::Native(NativeType::Counter)));
        let static_columns = (0..columns.len())
            .filter(|i| columns[*i].role == Role::Value && table.static_columns.contains(&columns[*i].name))
            .collect();
        let static_rows = !counter && !clustering.is_empty() && !table.static_columns.is_empty();
        let timing = Timing::plan(&columns);
        RowPlan {
            columns,
            partition_key,
            clustering,
            static_columns,
            static_rows,
            counter,
            timing,
            source_fields: None,
        }
    }

    /// Indexes of the value columns (not write times or TTLs).
    pub fn values(&self) -> Vec<usize> {
        (0..self.columns.len()).filter(|i| self.columns[*i].role == Role::Value).collect()
    }

    /// The value columns, without write times and TTLs.
    pub fn value_columns(&self) -> impl Iterator<Item = &PlannedColumn> {
        self.columns.iter().filter(|c| c.role == Role::Value)
    }

    /// The indexes of the split row's `USING TIMESTAMP ?` and `TTL ?` values, when preserved.
    pub fn timing_slots(&self) -> (Option<usize>, Option<usize>) {
        self.timing.as_ref().map_or((None, None), |t| (t.timestamp_slot, t.ttl_slot))
    }
}

/// The write times and TTLs a load preserves. Each source row is written as one row per
/// distinct (write time, TTL) of its cells, every one with the key columns and the cells
/// sharing it, bound to the statement's `USING TIMESTAMP ? AND TTL ?` markers.
pub(crate) struct Timing {
    /// (value column, its write time column, its TTL column), indexes into `columns`.
    sources: Vec<(usize, Option<usize>, Option<usize>)>,
    /// Indexes of the timestamp and TTL values in a split row: right after `columns`.
    timestamp_slot: Option<usize>,
    ttl_slot: Option<usize>,
}

pub struct PlannedColumn {
    /// The column, or for a write time / TTL, `writetime(c)` / `ttl(c)`.
    pub name: String,
    pub typ: ColumnType<'static>,
    pub field: String,
    pub role: Role,
}

/// What a planned column's values are: a column's own, or the write time (µs) or TTL
/// (seconds) of a column's cells, as `unload --writetime/--ttl` writes them.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    Value,
    WriteTime { of: String },
    Ttl { of: String },
}

/// Which of the source's `writetime(c)` / `ttl(c)` fields to write back with
/// `USING TIMESTAMP` / `USING TTL`. Without these, such fields are not loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Preserve {
    pub writetime: bool,
    pub ttl: bool,
}

impl Preserve {
    fn any(&self) -> bool {
        self.writetime || self.ttl
    }
}

/// `writetime(c)` or `ttl(c)` of a non-key, non-counter column `c`, and its role.
fn timing_column(view: &ClusterView, name: &str) -> Option<Role> {
    let (kind, of) = name.strip_suffix(')')?.split_once('(')?;
    if !view.regular_columns.iter().any(|c| c == of) {
        return None;
    }
    match kind {
        "writetime" => Some(Role::WriteTime { of: of.to_string() }),
        "ttl" => Some(Role::Ttl { of: of.to_string() }),
        _ => None,
    }
}

/// How write times and TTLs are held once encoded: a list of `bigint`, with a null element
/// for a cell without TTL. Cassandra 5.0 gives a multi-cell column (non-frozen collection
/// or UDT) one write time and TTL per cell, as `list<bigint>` / `list<int>`, and a single
/// value for the others.
fn timing_type() -> ColumnType<'static> {
    ColumnType::Collection {
        frozen: true,
        typ: scylla::frame::response::result::CollectionType::List(Box::new(ColumnType::Native(
            NativeType::BigInt,
        ))),
    }
}

/// The Arrow type a write time or TTL field is read as: integers as Int64, lists of
/// integers as a list of Int64, text (a number, or a JSON list of numbers and nulls) as is.
fn timing_arrow_type(from: &DataType) -> std::result::Result<DataType, String> {
    let integers = |t: &DataType| t.is_integer() || *t == DataType::Null;
    match from {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => Ok(DataType::Utf8),
        DataType::Dictionary(_, value) => timing_arrow_type(value),
        t if t.is_integer() => Ok(DataType::Int64),
        DataType::List(item) | DataType::LargeList(item) if integers(item.data_type()) => {
            Ok(DataType::List(Arc::new(arrow_schema::Field::new("item", DataType::Int64, true))))
        }
        other => Err(format!("Arrow {other} is not a write time or TTL (an integer, or a list of them)")),
    }
}

/// Appends `array[row]` (of a `timing_arrow_type`) as a CQL `list<bigint>` whose elements
/// may be null; `Ok(false)` for null.
fn encode_timing(array: &dyn Array, row: usize, out: &mut Vec<u8>) -> std::result::Result<bool, String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    if array.is_null(row) {
        return Ok(false);
    }
    let values: Vec<Option<i64>> = match array.data_type() {
        DataType::Int64 => vec![Some(array.as_primitive::<Int64Type>().value(row))],
        DataType::List(_) => array.as_list::<i32>().value(row).as_primitive::<Int64Type>().iter().collect(),
        _ => {
            let text = array.as_string::<i32>().value(row).trim();
            if text.starts_with('[') {
                serde_json::from_str(text).map_err(|e| format!("'{text}' is not a list of integers: {e}"))?
            } else if text.is_empty() {
                return Ok(false);
            } else {
                vec![Some(text.parse().map_err(|_| format!("'{text}' is not an integer"))?)]
            }
        }
    };
    out.extend_from_slice(&(values.len() as i32).to_be_bytes());
    for value in values {
        match value {
            Some(value) => {
                out.extend_from_slice(&8i32.to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    Ok(true)
}

/// The target table's columns fed by the source's `fields` (`None` for JSON, which has no
/// schema: every column, or every mapped one, is looked up by name), then the write times
/// and TTLs to preserve. Refuses, in one line, a field with no column, a key column with
/// no field, and a type that cannot convert.
pub fn plan_columns(
    view: &ClusterView,
    source_schema: Option<&SchemaRef>,
    source_name: &str,
    mapping: Option<&[(String, String)]>,
    preserve: Preserve,
) -> Result<Vec<PlannedColumn>> {
    let table = &view.table.name;
    let column_type = |name: &str| view.columns.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone());
    let pairs: Vec<(String, String)> = match (mapping, source_schema) {
        (Some(mapping), _) => mapping.to_vec(),
        (None, Some(schema)) => {
            schema.fields().iter().map(|f| (f.name().clone(), f.name().clone())).collect()
        }
        (None, None) => {
            let mut pairs: Vec<(String, String)> =
                view.columns.iter().map(|(n, _)| (n.clone(), n.clone())).collect();
            for column in &view.regular_columns {
                for (kind, wanted) in [("writetime", preserve.writetime), ("ttl", preserve.ttl)] {
                    if wanted {
                        pairs.push((format!("{kind}({column})"), format!("{kind}({column})")));
                    }
                }
            }
            pairs
        }
    };
    if preserve.any()
        && view.columns.iter().any(|(_, t)| matches!(t, ColumnType::Native(NativeType::Counter)))
    {
        return Err(invalid(format!(
            "{table} is a counter table: counter updates take no USING TIMESTAMP or TTL; load without --preserve-writetime/--preserve-ttl"
        )));
    }
    let mut seen = HashSet::new();
    let mut planned = Vec::new();
    for (field, column) in pairs {
        let timing = if column_type(&column).is_none() { timing_column(view, &column) } else { None };
        let (typ, role) = match (column_type(&column), timing) {
            (Some(typ), _) => (typ, Role::Value),
            (None, Some(role)) => {
                let flag = match role {
                    Role::WriteTime { .. } if !preserve.writetime => Some("--preserve-writetime"),
                    Role::Ttl { .. } if !preserve.ttl => Some("--preserve-ttl"),
                    _ => None,
                };
                match (flag, mapping) {
                    (None, _) => (timing_type(), role),
                    // Exported with --writetime/--ttl, loaded without wanting them back.
                    (Some(_), None) => continue,
                    (Some(flag), Some(_)) => {
                        return Err(invalid(format!(
                            "{source_name}: --mapping feeds {column}; add {flag} to write it back, or leave it out"
                        )));
                    }
                }
            }
            (None, None) => {
                let hint = if mapping.is_some() {
                    "fix --mapping"
                } else {
                    "rename it or leave it out with --mapping"
                };
                return Err(invalid(format!(
                    "{source_name}: field '{field}' has no column '{column}' in {table}; {hint}"
                )));
            }
        };
        if !seen.insert(column.clone()) {
            return Err(invalid(format!(
                "{source_name}: two fields feed column '{column}' of {table}; fix --mapping"
            )));
        }
        if let Some(schema) = source_schema {
            let Ok(source_field) = schema.field_with_name(&field) else {
                return Err(invalid(format!(
                    "{source_name}: --mapping names field '{field}', which the source does not have"
                )));
            };
            let checked = if role == Role::Value {
                crate::codec::encode::check(source_field.data_type(), &typ)
            } else {
                timing_arrow_type(source_field.data_type()).map(|_| ())
            };
            checked.map_err(|e| {
                invalid(format!(
                    "{source_name}: field '{field}' cannot load into column '{column}' of {table}: {e}"
                ))
            })?;
        }
        planned.push(PlannedColumn { name: column, typ, field, role });
    }
    for (wanted, flag, kind, unload_flag) in [
        (preserve.writetime, "--preserve-writetime", "writetime", "--writetime"),
        (preserve.ttl, "--preserve-ttl", "ttl", "--ttl"),
    ] {
        let found = planned.iter().any(|c| match &c.role {
            Role::WriteTime { .. } => kind == "writetime",
            Role::Ttl { .. } => kind == "ttl",
            Role::Value => false,
        });
        if wanted && !found {
            return Err(invalid(format!(
                "{source_name}: {flag} needs {kind}(c) fields, and the source has none; unload with {unload_flag}"
            )));
        }
    }
    for column in &planned {
        if let Role::WriteTime { of } | Role::Ttl { of } = &column.role
            && !seen.contains(of)
        {
            return Err(invalid(format!(
                "{source_name}: field '{}' is the {} of column '{of}', which nothing loads; load '{of}' too or leave it out",
                column.field,
                if matches!(column.role, Role::Ttl { .. }) { "TTL" } else { "write time" }
            )));
        }
    }
    let keys = view.table.partition_key.iter().chain(&view.table.clustering_key);
    for key in keys {
        if !seen.contains(key) {
            return Err(invalid(format!(
                "{source_name}: no field feeds primary key column '{key}' of {table}; add it or map a field to it with --mapping"
            )));
        }
    }
    // Table order: key columns first, as the statements bind them; write times and TTLs last.
    planned.sort_by_key(|c| (c.role != Role::Value, view.columns.iter().position(|(n, _)| *n == c.name)));
    Ok(planned)
}

/// A cell's write time and TTL as bound: `None` leaves the marker unset (now, or the
/// table's default TTL).
type WriteTimeAndTtl = (Option<i64>, Option<i32>);

impl Timing {
    fn plan(columns: &[PlannedColumn]) -> Option<Timing> {
        let find = |wanted: &dyn Fn(&Role) -> bool| columns.iter().position(|c| wanted(&c.role));
        let mut sources = Vec::new();
        for (index, column) in columns.iter().enumerate() {
            if column.role != Role::Value {
                continue;
            }
            let name = &column.name;
            let writetime = find(&|r| matches!(r, Role::WriteTime { of } if of == name));
            let ttl = find(&|r| matches!(r, Role::Ttl { of } if of == name));
            sources.push((index, writetime, ttl));
        }
        let has = |wanted: &dyn Fn(&Role) -> bool| columns.iter().any(|c| wanted(&c.role));
        let timestamp = has(&|r| matches!(r, Role::WriteTime { .. }));
        let ttl = has(&|r| matches!(r, Role::Ttl { .. }));
        (timestamp || ttl).then(|| Timing {
            sources,
            timestamp_slot: timestamp.then_some(columns.len()),
            ttl_slot: ttl.then_some(columns.len() + 1),
        })
    }

    /// Splits each row into one row per distinct (write time, TTL) of its cells. Key
    /// columns go into every part; a row with no other cell is one part written now.
    /// Returns the split rows and, for each, the row it came from.
    fn split(
        &self,
        plan: &RowPlan,
        encoded: &EncodedRows,
    ) -> (EncodedRows, Vec<usize>, Vec<(usize, String)>) {
        let width = plan.columns.len() + 2;
        let keys: Vec<usize> = plan.partition_key.iter().chain(&plan.clustering).copied().collect();
        let mut split = EncodedRows::new(width);
        let mut origin = Vec::new();
        let mut bad = Vec::new();
        for row in 0..encoded.rows() {
            // (write time, TTL) → the columns written with it; `None`: unset (now, or the
            // table's default TTL).
            let mut parts: Vec<(WriteTimeAndTtl, Vec<usize>)> = Vec::new();
            let mut failed = None;
            for &(column, writetime, ttl) in &self.sources {
                if keys.contains(&column) || encoded.cell(row, column).is_none() {
                    continue;
                }
                let timing = writetime.map(|c| write_time(encoded.cell(row, c))).transpose().and_then(|w| {
                    Ok((w.flatten(), ttl.map(|c| time_to_live(encoded.cell(row, c))).transpose()?))
                });
                match timing {
                    Ok(timing) => match parts.iter_mut().find(|(t, _)| *t == timing) {
                        Some((_, members)) => members.push(column),
                        None => parts.push((timing, vec![column])),
                    },
                    Err(reason) => {
                        failed = Some(format!("column {}: {reason}", plan.columns[column].name));
                        break;
                    }
                }
            }
            if let Some(reason) = failed {
                bad.push((row, reason));
                continue;
            }
            if parts.is_empty() {
                parts.push(((None, None), Vec::new()));
            }
            for ((timestamp, ttl), members) in parts {
                for column in 0..width {
                    let value = if column < plan.columns.len()
                        && (keys.contains(&column) || members.contains(&column))
                    {
                        encoded.cell(row, column)
                    } else {
                        None
                    };
                    split.push_cell(value);
                }
                let at = split.cells.len() - 2;
                if let Some(timestamp) = timestamp {
                    split.set_cell(at, &timestamp.to_be_bytes());
                }
                if let Some(ttl) = ttl {
                    split.set_cell(at + 1, &ttl.to_be_bytes());
                }
                origin.push(row);
            }
        }
        (split, origin, bad)
    }
}

/// A cell's write time: `bigint` µs, or for a multi-cell column a list of them, of which
/// the latest counts (what `maxwritetime` would say).
fn write_time(cell: Option<&[u8]>) -> std::result::Result<Option<i64>, String> {
    let Some(bytes) = cell else { return Ok(None) };
    let times = timing_values(bytes)?;
    Ok(times.into_iter().flatten().max())
}

/// A cell's remaining TTL in seconds, 0 for none (which overrides a table default, as the
/// source cell had none). For a multi-cell column, the longest, and none if any cell has
/// none: no cell expires before it did in the source.
fn time_to_live(cell: Option<&[u8]>) -> std::result::Result<i32, String> {
    let Some(bytes) = cell else { return Ok(0) };
    let ttls = timing_values(bytes)?;
    if ttls.iter().any(Option::is_none) {
        return Ok(0);
    }
    let ttl = ttls.into_iter().flatten().max().unwrap_or(0);
    if ttl < 0 {
        return Err(format!("TTL {ttl} is negative"));
    }
    i32::try_from(ttl).map_err(|_| format!("TTL {ttl} is out of range"))
}

/// The values of an `encode_timing` cell.
fn timing_values(bytes: &[u8]) -> std::result::Result<Vec<Option<i64>>, String> {
    let malformed = || "malformed list of write times or TTLs".to_string();
    let mut at = 0;
    let mut take = |n: usize| -> std::result::Result<&[u8], String> {
        let end = at + n;
        let slice = bytes.get(at..end).ok_or_else(malformed)?;
        at = end;
        Ok(slice)
    };
    let count = i32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
    let mut values = Vec::new();
    for _ in 0..count.max(0) {
        let length = i32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
        values.push(if length < 0 {
            None
        } else {
            Some(i64::from_be_bytes(take(8)?.try_into().expect("8 bytes")))
        });
    }
    Ok(values)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadInput, message)
}

/// A chunk's rows as CQL values of the plan's columns.
pub struct EncodedChunk {
    pub encoded: EncodedRows,
    /// The batch row of each encoded row, ascending (with --preserve-writetime/ttl a
    /// batch row may be split into several encoded rows).
    pub rows: Vec<usize>,
    /// Records that could not be read or converted: (position, original, reason).
    pub bad: Vec<(u64, String, String)>,
    pub records: u64,
}

/// Encodes every row of `chunk` for `plan`; a row with a value that does not convert, or
/// a null key, goes to `bad`.
pub fn encode_chunk(plan: &RowPlan, chunk: &Chunk) -> EncodedChunk {
    let records = chunk.records();
    let mut bad: Vec<(u64, String, String)> =
        chunk.rejects.iter().map(|r| (r.position, r.original.clone(), r.reason.clone())).collect();
    let rows = chunk.batch.num_rows();
    let mut encoded = EncodedRows::new(plan.columns.len());
    if let Some(known) = &plan.source_fields
        && let Some(field) = chunk.batch.schema().fields().iter().find(|f| !known.contains(f.name()))
    {
        let reason = format!(
            "field '{}' is not in the first file, whose fields decided what loads; give the files the same fields, or list them with --mapping",
            field.name()
        );
        bad.extend((0..rows).map(|row| (chunk.positions[row], chunk.original(row), reason.clone())));
        return EncodedChunk { encoded, rows: Vec::new(), bad, records };
    }
    // Each planned column's source array, read through a cast to a simpler type if needed.
    let mut arrays: Vec<Option<ArrayRef>> = Vec::with_capacity(plan.columns.len());
    for column in &plan.columns {
        let Some(array) = chunk.batch.column_by_name(&column.field) else {
            arrays.push(None);
            continue;
        };
        let readable = if column.role == Role::Value {
            crate::codec::encode::normalize(array)
                .and_then(|a| crate::codec::encode::check(a.data_type(), &column.typ).map(|()| a))
        } else {
            timing_arrow_type(array.data_type()).and_then(|t| {
                arrow_cast::cast(array, &t)
                    .map_err(|e| format!("cannot read Arrow {}: {e}", array.data_type()))
            })
        };
        let array = match readable {
            Ok(array) => Some(array),
            // The whole column cannot be read: every row of the chunk is a bad record.
            Err(reason) => {
                let reason = format!("column {}: {reason}", column.name);
                bad.extend((0..rows).map(|row| (chunk.positions[row], chunk.original(row), reason.clone())));
                return EncodedChunk { encoded, rows: Vec::new(), bad, records };
            }
        };
        arrays.push(array);
    }
    let mut good = Vec::with_capacity(rows);
    'rows: for row in 0..rows {
        let cells_at = encoded.cells.len();
        let data_at = encoded.data.len();
        for (column, array) in plan.columns.iter().zip(&arrays) {
            let start = encoded.data.len();
            let present = match array {
                None => Ok(false),
                Some(array) if column.role != Role::Value => {
                    encode_timing(array.as_ref(), row, &mut encoded.data)
                }
                Some(array) => {
                    crate::codec::encode::encode(array.as_ref(), row, &column.typ, &mut encoded.data)
                }
            };
            match present {
                Ok(true) => encoded.cells.push(Some((start as u32, encoded.data.len() as u32))),
                Ok(false) => encoded.cells.push(None),
                Err(reason) => {
                    encoded.cells.truncate(cells_at);
                    encoded.data.truncate(data_at);
                    bad.push((
                        chunk.positions[row],
                        chunk.original(row),
                        format!("column {}: {reason}", column.name),
                    ));
                    continue 'rows;
                }
            }
        }
        if let Err(reason) = check_key(plan, &encoded, good.len()) {
            encoded.cells.truncate(cells_at);
            encoded.data.truncate(data_at);
            bad.push((chunk.positions[row], chunk.original(row), reason));
            continue;
        }
        good.push(row);
    }
    if let Some(timing) = &plan.timing {
        let (split, origin, failed) = timing.split(plan, &encoded);
        for (row, reason) in failed {
            let row = good[row];
            bad.push((chunk.positions[row], chunk.original(row), reason));
        }
        let rows = origin.into_iter().map(|row| good[row]).collect();
        return EncodedChunk { encoded: split, rows, bad, records };
    }
    EncodedChunk { encoded, rows: good, bad, records }
}

/// Null in a key column is a bad record, except a static-only row: all clustering columns
/// null in a table with static columns.
fn check_key(plan: &RowPlan, encoded: &EncodedRows, row: usize) -> std::result::Result<(), String> {
    for &column in &plan.partition_key {
        if encoded.cell(row, column).is_none() {
            return Err(format!("null in partition key column {}", plan.columns[column].name));
        }
    }
    if is_static_only(plan, encoded, row) {
        return Ok(());
    }
    for &column in &plan.clustering {
        if encoded.cell(row, column).is_none() {
            return Err(format!("null in clustering column {}", plan.columns[column].name));
        }
    }
    Ok(())
}

pub fn is_static_only(plan: &RowPlan, encoded: &EncodedRows, row: usize) -> bool {
    plan.static_rows && plan.clustering.iter().all(|&c| encoded.cell(row, c).is_none())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::Int32Type;
    use arrow_array::{ArrayRef, Int32Array, ListArray, StringArray};

    use super::*;

    fn encoded(array: ArrayRef, row: usize) -> Option<Vec<u8>> {
        let array = arrow_cast::cast(&array, &timing_arrow_type(array.data_type()).unwrap()).unwrap();
        let mut out = Vec::new();
        encode_timing(array.as_ref(), row, &mut out).unwrap().then_some(out)
    }

    /// What: write times and TTLs read from text (a number, or a JSON list with nulls as
    /// Cassandra 5.0 gives them for a collection), integers and lists of integers, then
    /// reduced to the one write time (the latest) and TTL (none if any cell had none, else
    /// the longest) a statement can carry. Why: these decide which write wins after a
    /// migration and when data expires; a TTL list with a null must not be refused.
    #[test]
    fn write_times_and_ttls_from_every_form() {
        let text: ArrayRef =
            Arc::new(StringArray::from(vec![Some("1700"), Some("[4000, 5000]"), Some("[null, 90]"), None]));
        assert_eq!(write_time(encoded(text.clone(), 0).as_deref()), Ok(Some(1700)));
        assert_eq!(write_time(encoded(text.clone(), 1).as_deref()), Ok(Some(5000)));
        assert_eq!(time_to_live(encoded(text.clone(), 2).as_deref()), Ok(0));
        assert_eq!(encoded(text, 3), None);
        assert_eq!(time_to_live(None), Ok(0));
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![86_400]));
        assert_eq!(time_to_live(encoded(ints, 0).as_deref()), Ok(86_400));
        let lists: ArrayRef =
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(30), Some(90)])]));
        assert_eq!(time_to_live(encoded(lists, 0).as_deref()), Ok(90));
        let bad: ArrayRef = Arc::new(StringArray::from(vec!["soon"]));
        let array = arrow_cast::cast(&bad, &DataType::Utf8).unwrap();
        assert!(encode_timing(array.as_ref(), 0, &mut Vec::new()).is_err());
        let negative: ArrayRef = Arc::new(StringArray::from(vec!["-5"]));
        assert!(time_to_live(encoded(negative, 0).as_deref()).is_err());
        assert!(timing_arrow_type(&DataType::Float64).is_err());
    }
}

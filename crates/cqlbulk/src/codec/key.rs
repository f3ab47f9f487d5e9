//! A row's key as bytes (each cell length-prefixed, -1 for null) to group and match rows by,
//! and back as text to name them in reports (`id=5, day=2026-01-01`).

use scylla::frame::response::result::ColumnType;

use crate::codec::decode::BatchBuilder;
use crate::codec::text::ColumnText;

/// The key bytes of `cells` (raw CQL values, `None` for null), in order.
pub fn key_bytes<'a>(cells: impl Iterator<Item = Option<&'a [u8]>>) -> Vec<u8> {
    let mut out = Vec::new();
    for cell in cells {
        match cell {
            Some(bytes) => {
                out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                out.extend_from_slice(bytes);
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    out
}

/// `name=value, …` for key bytes made by [`key_bytes`] from cells of `columns`, on one line
/// (control characters in values escaped as `\n`, `\t`, `\u{1b}`).
pub fn describe_key(columns: &[(String, ColumnType<'static>)], key: &[u8]) -> String {
    let mut builder = BatchBuilder::new(columns);
    let mut rest = key;
    let mut values = Vec::new();
    for _ in columns {
        let Some(len) = rest.get(..4).map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes"))) else {
            return "(undecodable key)".into();
        };
        rest = &rest[4..];
        if len < 0 {
            values.push(None);
        } else {
            let Some(value) = rest.get(..len as usize) else { return "(undecodable key)".into() };
            values.push(Some(value));
            rest = &rest[len as usize..];
        }
    }
    if builder.append_row(values).is_err() {
        return "(undecodable key)".into();
    }
    let batch = builder.finish();
    let mut parts = Vec::new();
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let text = ColumnText::new(array, field);
        let mut value = String::new();
        if text.is_null(0) {
            value.push_str("null");
        } else {
            text.write_text(0, &mut value);
        }
        parts.push(format!("{}={}", field.name(), one_line(&value)));
    }
    parts.join(", ")
}

fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| match c {
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect::<String>()
        .into()
}

//! One JSON-lines record on any text: its fields' text forms come out or a reason does,
//! never a panic; and every field's text loads into a text column.
#![no_main]

use cqlbulk::source::files::json_record;
use libfuzzer_sys::fuzz_target;
use scylla::frame::response::result::{ColumnType, NativeType};

fuzz_target!(|text: &str| {
    let names = ["id", "v", "a b", "writetime(v)", ""].map(String::from);
    if let Ok(values) = json_record(text, &names) {
        assert_eq!(values.len(), names.len());
        for value in values.into_iter().flatten() {
            let mut out = Vec::new();
            cqlbulk::codec::parse::encode_text(&ColumnType::Native(NativeType::Text), &value, &mut out)
                .expect("any text is a text value");
            assert_eq!(out, value.as_bytes());
        }
    }
});

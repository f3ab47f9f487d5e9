//! Text read as a value of any CQL type (scalars in cqlbulk's and DSBulk's forms, nested
//! values as JSON, durations, timestamps): a value or a reason, never a panic, and every
//! value it produces is well-formed for its type.
#![no_main]

use arbitrary::Unstructured;
use cqlbulk::codec::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(typ) = cqlbulk_fuzz::column_type(&mut u, 3) else { return };
    let Ok(text) = std::str::from_utf8(u.take_rest()) else { return };
    let mut out = Vec::new();
    if parse::encode_text(&typ, text, &mut out).is_ok() {
        cqlbulk_fuzz::assert_well_formed(&typ, &out, &text);
    }
    // The scalar parsers on their own.
    let _ = parse::parse_timestamp(text);
    let _ = parse::parse_date(text);
    let _ = parse::parse_time(text);
    let _ = parse::parse_duration(text);
    let _ = parse::parse_decimal(text);
});

//! The CSV record reader on any bytes, under every option it has: it ends, never panics,
//! and each record starts on a later line than the one before.
#![no_main]

use cqlbulk::load::csv::{CsvReadOptions, CsvReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, input)) = data.split_first() else { return };
    let options = CsvReadOptions {
        delimiter: [b',', b';', b'\t', b'|'][usize::from(flags & 3)],
        escape: if flags & 4 != 0 { b'"' } else { b'\\' },
        header: flags & 8 != 0,
        comment: (flags & 16 != 0).then_some(b'#'),
        null: if flags & 32 != 0 { "NULL".to_string() } else { String::new() },
        ..CsvReadOptions::default()
    };
    let mut reader = CsvReader::new(input, options);
    let mut last_line = 0;
    // Every record takes at least one byte or ends the input.
    for _ in 0..input.len() + 2 {
        let line = match reader.next_record() {
            None => return,
            Some(Ok(record)) => record.line,
            Some(Err(error)) => error.line,
        };
        assert!(line > last_line, "record at line {line} after one at line {last_line}");
        last_line = line;
    }
    panic!("more records than bytes in the input");
});

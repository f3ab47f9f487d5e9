//! How cqlbulk's own lines look, on stderr and in operation logs: plain text (the default),
//! or one JSON object per line (`--log-format json`) for log shippers, with `timestamp`,
//! `level` and `message`. Process-wide: a process runs one command.

use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Lines from now on are JSON objects (`true`) or text.
pub fn set_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// `{"timestamp":"2026-12-01T10:00:00.123Z","level":"INFO","message":"…"}`.
pub fn json_line(level: &str, message: &str) -> String {
    let mut timestamp = String::new();
    crate::codec::text::write_timestamp(crate::codec::text::now_millis(), &mut timestamp);
    serde_json::json!({ "timestamp": timestamp, "level": level, "message": message }).to_string()
}

/// One line of cqlbulk's own output on stderr at `level` (`INFO`, `WARN`, `ERROR`).
pub fn say(level: &str, message: &str) {
    if is_json() {
        eprintln!("{}", json_line(level, message));
    } else {
        eprintln!("{message}");
    }
}

/// `say!("unload: {rows} rows")`: an INFO line on stderr, as text or JSON.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::logs::say("INFO", &format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    /// What: a JSON line is one object with the three fields, quotes and newlines in the
    /// message escaped. Why: a log shipper drops a line it cannot parse.
    #[test]
    fn json_lines_are_objects() {
        let line = super::json_line("WARN", "a \"quoted\"\nmessage");
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "WARN");
        assert_eq!(value["message"], "a \"quoted\"\nmessage");
        assert!(value["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
    }
}

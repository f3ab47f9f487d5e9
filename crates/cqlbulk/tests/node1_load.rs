//! `cqlbulk load` on one node: bad records in every input format, DSBulk's own files, and a
//! load killed mid-run then finished with `--resume`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use futures::TryStreamExt;
use scylla::value::{CqlTimestamp, Row};
use uuid::Uuid;

use common::scenarios::fill_100k;
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false, tls: false };

fn hosts() -> &'static str {
    cluster(SHAPE)
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `cqlbulk load` of `url` into `keyspace.table` with its own log directory.
fn load(keyspace: &str, table: &str, format: &str, url: &Path, log_dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "load",
        "-h",
        hosts(),
        "-k",
        keyspace,
        "-t",
        table,
        "--format",
        format,
        "--url",
        path_str(url),
        "--log-dir",
        path_str(log_dir),
        "-q",
    ];
    args.extend_from_slice(extra);
    cqlbulk(&args)
}

/// Asserts the exit code of a `cqlbulk` run, showing its output when it differs.
fn expect_code(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "cqlbulk exited with {:?}, expected {code}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

/// The one operation directory (`load-*`) a load created under `log_dir`.
fn operation_dir(log_dir: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(log_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", log_dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("load-"))
        .collect();
    assert_eq!(dirs.len(), 1, "one operation directory expected in {}: {dirs:?}", log_dir.display());
    dirs.into_iter().next().unwrap()
}

fn summary(operation: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(operation.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `bad.jsonl` of an operation as (file name of the source, position, reason).
fn bad_records(operation: &Path) -> (Vec<(String, u64, String)>, String) {
    let text = std::fs::read_to_string(operation.join("bad.jsonl")).unwrap_or_default();
    let records = text
        .lines()
        .map(|line| {
            let record: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let source = record["source"].as_str().unwrap_or_else(|| panic!("no source: {line}"));
            let file =
                Path::new(source).file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
            let position = record["position"].as_u64().unwrap_or_else(|| panic!("no position: {line}"));
            let reason = record["reason"].as_str().unwrap_or_else(|| panic!("no reason: {line}")).to_string();
            (file, position, reason)
        })
        .collect();
    (records, text)
}

// ------------------------------------------------------------------------------------------
// The bad-input zoo

/// The zoo table's columns after the key: n, u, txt, ts (milliseconds), big.
type ZooRow = (Option<i32>, Option<Uuid>, Option<String>, Option<i64>, Option<i64>);

const ZOO_TABLE: &str =
    "CREATE TABLE {ks}.t (id int PRIMARY KEY, n int, u uuid, txt text, ts timestamp, big bigint)";
const UUID_1: &str = "123e4567-e89b-12d3-a456-426614174000";
/// 2024-01-02T03:04:05.678Z
const TS_1: i64 = 1_704_164_645_678;

fn row(n: Option<i32>, u: Option<&str>, txt: Option<&str>, ts: Option<i64>, big: Option<i64>) -> ZooRow {
    (n, u.map(|u| Uuid::parse_str(u).unwrap()), txt.map(str::to_string), ts, big)
}

fn txt_only(txt: &str) -> ZooRow {
    row(None, None, Some(txt), None, None)
}

/// What a load of a zoo directory must come to.
#[derive(Default)]
struct Expected {
    rows: BTreeMap<i32, ZooRow>,
    /// (file name, position, words the reason must contain), one per bad record.
    bad: Vec<(String, u64, String)>,
    /// Records in the input, good or bad.
    records: u64,
}

impl Expected {
    fn bad(&mut self, file: &str, position: u64, words: &str) {
        self.bad.push((file.to_string(), position, words.to_string()));
        self.records += 1;
    }

    fn good(&mut self, id: i32, row: ZooRow) {
        assert!(self.rows.insert(id, row).is_none(), "the zoo reuses id {id}");
        self.records += 1;
    }
}

/// What one record of a text file must come to.
enum Rec {
    Good(i32, ZooRow),
    /// A bad record whose reason contains these words.
    Bad(&'static str),
    /// Lines that are no record of their own: blank, or inside an unterminated quote.
    NotARecord,
}

/// Writes `name` in `dir` — `header` (with its line ending), then each record's bytes — and
/// notes in `expected` what each record must come to, at the line it starts on.
fn text_file(dir: &Path, name: &str, header: &str, records: Vec<(&[u8], Rec)>, expected: &mut Expected) {
    let mut bytes = header.as_bytes().to_vec();
    let mut line = 1 + header.matches('\n').count() as u64;
    for (record, what) in records {
        match what {
            Rec::Good(id, row) => expected.good(id, row),
            Rec::Bad(words) => expected.bad(name, line, words),
            Rec::NotARecord => {}
        }
        line += record.iter().filter(|b| **b == b'\n').count() as u64;
        bytes.extend_from_slice(record);
    }
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// Writes `name` in `dir`: `lines` gzip-compressed, then cut in the middle of the compressed
/// bytes. Returns how many of `lines` come out whole before the cut, as a decoder
/// independent of cqlbulk (Python's zlib) reads them.
fn truncated_gzip(dir: &Path, name: &str, lines: &[String]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for line in lines {
        writeln!(encoder, "{line}").unwrap();
    }
    let bytes = encoder.finish().unwrap();
    let path = dir.join(name);
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let whole = python_snippet(
        "import sys, zlib\n\
         d = zlib.decompressobj(31)\n\
         text = d.decompress(open(sys.argv[1], 'rb').read())\n\
         assert not d.eof, 'the gzip stream is not cut'\n\
         print(text.count(b'\\n'))",
        &[path_str(&path)],
    );
    let whole: usize = whole.trim().parse().unwrap();
    assert!(whole > 1 && whole < lines.len(), "the cut left {whole} of {} lines", lines.len());
    whole
}

/// CSV files: good rows among every kind of bad record, a truncated `.csv.gz`, and a file
/// with its columns in another order (CRLF line endings, fields missing).
fn csv_zoo(dir: &Path) -> Expected {
    let mut expected = Expected::default();
    let first = format!("1,10,{UUID_1},first,2024-01-02T03:04:05.678Z,9000000000\n");
    text_file(
        dir,
        "a-mixed.csv",
        "id,n,u,txt,ts,big\n",
        vec![
            (
                first.as_bytes(),
                Rec::Good(1, row(Some(10), Some(UUID_1), Some("first"), Some(TS_1), Some(9_000_000_000))),
            ),
            (b"2,20,,two\n", Rec::Bad("4 fields where the file has 6")),
            (
                b"3,30,,\"quoted, \"\"three\"\"\",,-3\n",
                Rec::Good(3, row(Some(30), None, Some("quoted, \"three\""), None, Some(-3))),
            ),
            (b"4,abc,,four,,\n", Rec::Bad("'abc' is not a valid int")),
            (b"5,50,not-a-uuid,five,,\n", Rec::Bad("not a valid uuid")),
            (b"6,60,,caf\xff,,\n", Rec::Bad("UTF-8")),
            (b"7,3000000000,,seven,,\n", Rec::Bad("out of range")),
            (b",80,,no key,,\n", Rec::Bad("null in partition key")),
            (b"9,90,,\"two\nlines\",,\n", Rec::Good(9, row(Some(90), None, Some("two\nlines"), None, None))),
            (b"10,,,,,\n", Rec::Good(10, row(None, None, None, None, None))),
            (b"11,110,,\"\",,\n", Rec::Good(11, row(Some(110), None, Some(""), None, None))),
            (
                b"12,120,,millis,1700000000123,\n",
                Rec::Good(12, row(Some(120), None, Some("millis"), Some(1_700_000_000_123), None)),
            ),
            (b"16,160,,too big,,9223372036854775808\n", Rec::Bad("out of range")),
            (b"17,170,,bad month,2024-13-01T00:00:00Z,\n", Rec::Bad("not a valid timestamp")),
            (b"13,130,,\"open quote,,\n", Rec::Bad("unterminated quote")),
            (b"14,140,,swallowed,,\n", Rec::NotARecord),
            (b"15,150,,swallowed too,,\n", Rec::NotARecord),
        ],
        &mut expected,
    );
    text_file(
        dir,
        "c-reordered.csv",
        // Starts with a byte order mark, as spreadsheet programs write UTF-8 CSV.
        "\u{feff}txt,id,ts\r\n",
        vec![
            (
                b"crlf row,20,2024-06-01T00:00:00Z\r\n",
                Rec::Good(20, row(None, None, Some("crlf row"), Some(1_717_200_000_000), None)),
            ),
            (b"\"q,\r\nr\",21,\r\n", Rec::Good(21, txt_only("q,\r\nr"))),
            (b"epoch,22,0\r\n", Rec::Good(22, row(None, None, Some("epoch"), Some(0), None))),
        ],
        &mut expected,
    );
    // A header with the columns in another order, then 2000 rows; the cut loses the rest.
    let mut lines = vec!["id,big,txt".to_string()];
    lines.extend(
        (1000..3000).map(|i| format!("{i},{},row {i} of a file cut in the middle", i64::from(i) * 1000)),
    );
    let whole = truncated_gzip(dir, "b-truncated.csv.gz", &lines);
    // The rows whole before the cut are loaded, the one the cut went through is one bad
    // record (its text is lost with the stream), and nothing after it exists.
    for i in 1000..1000 + (whole as i32 - 1) {
        expected.good(
            i,
            row(
                None,
                None,
                Some(&format!("row {i} of a file cut in the middle")),
                None,
                Some(i64::from(i) * 1000),
            ),
        );
    }
    expected.bad("b-truncated.csv.gz", whole as u64 + 1, "cannot read");
    expected
}

/// JSON files: good objects among bad ones, and a truncated `.json.gz`.
fn json_zoo(dir: &Path) -> Expected {
    let mut expected = Expected::default();
    let first = format!(
        "{{\"id\":1,\"n\":10,\"u\":\"{UUID_1}\",\"txt\":\"first\",\"ts\":\"2024-01-02T03:04:05.678Z\",\"big\":9000000000}}\n"
    );
    text_file(
        dir,
        "a-mixed.json",
        "",
        vec![
            (
                first.as_bytes(),
                Rec::Good(1, row(Some(10), Some(UUID_1), Some("first"), Some(TS_1), Some(9_000_000_000))),
            ),
            (b"{\"id\":2,\"n\":[1]}\n", Rec::Bad("is not a valid int")),
            (b"{\"id\":3,\"n\":\"abc\"}\n", Rec::Bad("'abc' is not a valid int")),
            (b"{\"id\":4,\"u\":\"not-a-uuid\"}\n", Rec::Bad("not a valid uuid")),
            (b"{\"id\":5,\"txt\":\"caf\xff\"}\n", Rec::Bad("UTF-8")),
            (b"{\"id\":6,\"n\":3000000000}\n", Rec::Bad("out of range")),
            (b"{\"id\":null,\"n\":7}\n", Rec::Bad("null in partition key")),
            (b"{\"n\":8,\"txt\":\"no id at all\"}\n", Rec::Bad("null in partition key")),
            (b"{\"id\":9,\"n\":9\n", Rec::Bad("not a JSON object")),
            (
                b"{\"id\":10,\"n\":null,\"txt\":\"\",\"big\":-1}\n",
                Rec::Good(10, row(None, None, Some(""), None, Some(-1))),
            ),
            (
                b"  {\"id\": 11, \"txt\": \"spaced \\\"out\\\"\\n\"}  \n",
                Rec::Good(11, txt_only("spaced \"out\"\n")),
            ),
            (b"\n", Rec::NotARecord),
            (b"{\"id\":13,\"ts\":\"2024-13-01T00:00:00Z\"}\n", Rec::Bad("not a valid timestamp")),
            (
                b"{\"id\":14,\"ts\":1700000000123,\"n\":-2147483648}\n",
                Rec::Good(14, row(Some(i32::MIN), None, None, Some(1_700_000_000_123), None)),
            ),
        ],
        &mut expected,
    );
    text_file(
        dir,
        "c-bom.json",
        "\u{feff}",
        vec![(
            b"{\"id\":30,\"txt\":\"after a byte order mark\"}\n",
            Rec::Good(30, txt_only("after a byte order mark")),
        )],
        &mut expected,
    );
    let lines: Vec<String> = (1000..3000)
        .map(|i| {
            format!(
                "{{\"id\":{i},\"big\":{},\"txt\":\"row {i} of a file cut in the middle\"}}",
                i64::from(i) * 1000
            )
        })
        .collect();
    let whole = truncated_gzip(dir, "b-truncated.json.gz", &lines);
    for i in 1000..1000 + whole as i32 {
        expected.good(
            i,
            row(
                None,
                None,
                Some(&format!("row {i} of a file cut in the middle")),
                None,
                Some(i64::from(i) * 1000),
            ),
        );
    }
    expected.bad("b-truncated.json.gz", whole as u64 + 1, "cannot read");
    expected
}

/// Parquet files written by pyarrow: bad values among good ones, a second file with other
/// column types and order, and a file cut in half (the last in reading order).
fn parquet_zoo(dir: &Path) -> Expected {
    python_snippet(
        r#"
import sys, uuid
import pyarrow as pa, pyarrow.parquet as pq
d = sys.argv[1]
u = uuid.UUID(sys.argv[2]).bytes
pq.write_table(pa.table({
    'id': pa.array([1, 2, None, 4, 5, 6], pa.int32()),
    'n': pa.array([10, 3000000000, 30, 40, None, -2147483648], pa.int64()),
    'u': pa.array([u, None, None, b'short', None, u], pa.binary()),
    'txt': pa.array(['first', 'two', 'no key', 'four', None, 'min']),
    'ts': pa.array([1704164645678000, None, None, None, None, -1500], pa.timestamp('us', tz='UTC')),
    'big': pa.array([9000000000, 2, 3, 4, None, -1], pa.int64()),
}), d + '/a-mixed.parquet')
pq.write_table(pa.table({
    'txt': pa.array([f'row {i}' for i in range(100, 200)] + ['too big'], pa.large_string()),
    'id': pa.array(list(range(100, 200)) + [2 ** 40], pa.int64()),
}), d + '/b-other-types.parquet')
whole = pa.table({'id': pa.array(range(1000, 3000), pa.int32()), 'txt': [f'lost {i}' for i in range(1000, 3000)]})
pq.write_table(whole, d + '/z-whole.tmp')
data = open(d + '/z-whole.tmp', 'rb').read()
open(d + '/z-truncated.parquet', 'wb').write(data[: len(data) // 2])
"#,
        &[path_str(dir), UUID_1],
    );
    std::fs::remove_file(dir.join("z-whole.tmp")).unwrap();
    let mut expected = Expected::default();
    // Parquet positions are row indexes in the file, from 0.
    expected.good(1, row(Some(10), Some(UUID_1), Some("first"), Some(TS_1), Some(9_000_000_000)));
    expected.bad("a-mixed.parquet", 1, "out of range");
    expected.bad("a-mixed.parquet", 2, "null in partition key");
    expected.bad("a-mixed.parquet", 3, "not a UUID");
    expected.good(5, row(None, None, None, None, None));
    // -1500 µs rounds down to -2 ms, as Java's Instant.toEpochMilli does.
    expected.good(6, row(Some(i32::MIN), Some(UUID_1), Some("min"), Some(-2), Some(-1)));
    for i in 100..200 {
        expected.good(i, txt_only(&format!("row {i}")));
    }
    expected.bad("b-other-types.parquet", 100, "out of range");
    expected.bad("z-truncated.parquet", 0, "Parquet");
    expected
}

/// Every row of the zoo table.
async fn zoo_table(ks: &TestKeyspace, table: &str) -> BTreeMap<i32, ZooRow> {
    type Raw = (i32, Option<i32>, Option<Uuid>, Option<String>, Option<CqlTimestamp>, Option<i64>);
    let result = ks
        .session
        .query_unpaged(format!("SELECT id, n, u, txt, ts, big FROM {}.{table}", ks.name), ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    result
        .rows::<Raw>()
        .unwrap()
        .map(|r| {
            let (id, n, u, txt, ts, big) = r.unwrap();
            (id, (n, u, txt, ts.map(|t| t.0), big))
        })
        .collect()
}

/// Checks `bad.jsonl` of `operation` against `expected`: each expected bad record exactly
/// once, at its file and position, with the words in its reason, and no other. Returns the
/// records found.
fn check_bad(operation: &Path, expected: &Expected) -> BTreeSet<(String, u64, String)> {
    let (found, text) = bad_records(operation);
    for (file, position, words) in &expected.bad {
        let at: Vec<_> = found.iter().filter(|(f, p, _)| f == file && p == position).collect();
        assert_eq!(
            at.len(),
            1,
            "one bad record expected for {file} at {position} ({words}); bad.jsonl:\n{text}"
        );
        assert!(
            at[0].2.contains(words.as_str()),
            "{file} at {position}: the reason should say {words:?}; bad.jsonl:\n{text}"
        );
    }
    assert_eq!(
        found.len(),
        expected.bad.len(),
        "bad records other than the expected ones; bad.jsonl:\n{text}"
    );
    found.into_iter().collect()
}

fn check_counts(operation: &Path, expected: &Expected, dry_run: bool) {
    let summary = summary(operation);
    let written = if dry_run { 0 } else { expected.rows.len() as u64 };
    assert_eq!(summary["read"], expected.records, "records read; {summary}");
    assert_eq!(summary["written"], written, "rows written; {summary}");
    assert_eq!(summary["failed"], expected.bad.len() as u64, "records failed; {summary}");
    assert_eq!(summary["dry_run"], dry_run, "{summary}");
    if !dry_run {
        assert_eq!(
            summary["read"].as_u64().unwrap(),
            summary["written"].as_u64().unwrap() + summary["failed"].as_u64().unwrap(),
            "read = written + failed; {summary}"
        );
    }
    assert_eq!(summary["status"], "complete with errors", "{summary}");
}

/// A zoo directory through a dry run, a load, and a load with `--max-errors 2`.
async fn load_zoo(ks: &TestKeyspace, format: &str, dir: &Path, expected: &Expected) {
    let root = dir.parent().unwrap();

    // A dry run reads and converts everything, reports the bad records, writes nothing.
    let log_dir = root.join(format!("{format}-dry-run-logs"));
    let out = load(&ks.name, "t", format, dir, &log_dir, &["--dry-run"]);
    expect_code(&out, 1);
    assert!(zoo_table(ks, "t").await.is_empty(), "a dry run wrote rows");
    let operation = operation_dir(&log_dir);
    let dry_run_bad = check_bad(&operation, expected);
    check_counts(&operation, expected, true);

    // The load: every good row with its values, every bad record reported, exit code 1.
    let log_dir = root.join(format!("{format}-logs"));
    let out = load(&ks.name, "t", format, dir, &log_dir, &[]);
    expect_code(&out, 1);
    assert!(stderr(&out).contains("bad.jsonl"), "the message points to the bad records: {}", stderr(&out));
    let operation = operation_dir(&log_dir);
    let bad = check_bad(&operation, expected);
    assert_eq!(bad, dry_run_bad, "the dry run reported other bad records than the load");
    check_counts(&operation, expected, false);
    let table = zoo_table(ks, "t").await;
    let missing: Vec<_> = expected.rows.iter().filter(|(id, row)| table.get(id) != Some(row)).collect();
    let extra: Vec<_> = table.iter().filter(|(id, _)| !expected.rows.contains_key(id)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "rows missing or wrong: {missing:?}\nrows that should not be there: {extra:?}\ntable: {table:?}"
    );

    // More bad records than --max-errors: the load stops with exit code 2.
    ks.execute("TRUNCATE {ks}.t").await;
    let log_dir = root.join(format!("{format}-max-errors-logs"));
    let out = load(&ks.name, "t", format, dir, &log_dir, &["--max-errors", "2"]);
    expect_code(&out, 2);
    assert!(stderr(&out).contains("--max-errors"), "the message names --max-errors: {}", stderr(&out));
    let operation = operation_dir(&log_dir);
    let summary = summary(&operation);
    assert_eq!(summary["status"], "stopped: too many errors", "{summary}");
    assert!(summary["failed"].as_u64().unwrap() > 2, "{summary}");
    let (found, text) = bad_records(&operation);
    assert_eq!(found.len() as u64, summary["failed"].as_u64().unwrap(), "bad.jsonl:\n{text}");
}

/// What: CSV files holding good rows among every kind of bad record — wrong field count,
/// unparsable number, bad UUID, invalid UTF-8, int and bigint out of range, bad timestamp,
/// empty key, an unterminated quote swallowing the rest of its file — plus a `.csv.gz` cut
/// in the middle and a file with its columns in another order, CRLF endings and a byte
/// order mark; loaded, dry
/// run, and with `--max-errors 2`. Why: one bad record must cost exactly that record, be
/// reported where it is and why, and never corrupt or lose the good rows around it.
#[tokio::test(flavor = "multi_thread")]
async fn csv_bad_records_are_reported_and_good_rows_loaded() {
    let ks = TestKeyspace::connect(hosts(), "load_zoo_csv", SIMPLE_RF1).await;
    ks.execute(ZOO_TABLE).await;
    let dir = scratch_dir("load-zoo-csv").join("input");
    std::fs::create_dir_all(&dir).unwrap();
    let expected = csv_zoo(&dir);
    load_zoo(&ks, "csv", &dir, &expected).await;
}

/// What: JSON lines with good objects among bad ones — a list where an int goes, text that
/// is no number, bad UUID, invalid UTF-8, out of range, `"id": null`, no id at all, a
/// broken object, a bad timestamp — plus a `.json.gz` cut in the middle and a file
/// starting with a byte order mark; loaded, dry run,
/// and with `--max-errors 2`. Why: as for CSV, each bad record is reported at its line and
/// costs only itself.
#[tokio::test(flavor = "multi_thread")]
async fn json_bad_records_are_reported_and_good_rows_loaded() {
    let ks = TestKeyspace::connect(hosts(), "load_zoo_json", SIMPLE_RF1).await;
    ks.execute(ZOO_TABLE).await;
    let dir = scratch_dir("load-zoo-json").join("input");
    std::fs::create_dir_all(&dir).unwrap();
    let expected = json_zoo(&dir);
    load_zoo(&ks, "json", &dir, &expected).await;
}

/// What: Parquet files from pyarrow with bad values (int64 out of int range, null key, a
/// 5-byte UUID), a file with other column types (int64 id, large_string) and order, and a
/// file cut in half that is one bad record; loaded, dry run, and with `--max-errors 2`.
/// Why: foreign Parquet is typed differently from the table; a value that does not fit
/// costs its row, and an unreadable file costs only itself.
#[tokio::test(flavor = "multi_thread")]
async fn parquet_bad_records_are_reported_and_good_rows_loaded() {
    let ks = TestKeyspace::connect(hosts(), "load_zoo_parquet", SIMPLE_RF1).await;
    ks.execute(ZOO_TABLE).await;
    let dir = scratch_dir("load-zoo-parquet").join("input");
    std::fs::create_dir_all(&dir).unwrap();
    let expected = parquet_zoo(&dir);
    load_zoo(&ks, "parquet", &dir, &expected).await;
}

/// What: a CSV header naming a column the table does not have, a CSV without the key
/// column, and Parquet files with an unknown column or without the key, are each refused
/// before any write: exit code 3, one stderr line naming the field, no operation directory,
/// the table untouched. Why: a wrong file or a wrong table must stop at once and say which
/// field, not write part of the rows.
#[tokio::test(flavor = "multi_thread")]
async fn fields_that_do_not_fit_the_table_are_refused_before_any_write() {
    let ks = TestKeyspace::connect(hosts(), "load_refuse", SIMPLE_RF1).await;
    ks.execute(ZOO_TABLE).await;
    let root = scratch_dir("load-refuse");
    let cases: [(&str, &str, &str); 4] = [
        ("csv", "unknown-column", "'bogus'"),
        ("csv", "no-key", "'id'"),
        ("parquet", "parquet-unknown-column", "'extra'"),
        ("parquet", "parquet-no-key", "'id'"),
    ];
    for (_, name, _) in &cases {
        std::fs::create_dir_all(root.join(name)).unwrap();
    }
    std::fs::write(root.join("unknown-column/a.csv"), "id,n,bogus\n1,2,3\n").unwrap();
    std::fs::write(root.join("no-key/a.csv"), "n,txt\n1,x\n").unwrap();
    python_snippet(
        "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
         pq.write_table(pa.table({'id': pa.array([1], pa.int32()), 'extra': ['x']}), sys.argv[1] + '/parquet-unknown-column/a.parquet')\n\
         pq.write_table(pa.table({'n': pa.array([1], pa.int32()), 'txt': ['x']}), sys.argv[1] + '/parquet-no-key/a.parquet')",
        &[path_str(&root)],
    );
    for (format, name, needle) in cases {
        let log_dir = root.join(format!("{name}-logs"));
        let out = load(&ks.name, "t", format, &root.join(name), &log_dir, &[]);
        expect_code(&out, 3);
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{name}: one line expected on stderr:\n{err}");
        assert!(err.contains(needle), "{name}: stderr should name {needle}:\n{err}");
        assert!(!log_dir.exists(), "{name}: an operation directory was created for a refused load");
        assert!(zoo_table(&ks, "t").await.is_empty(), "{name}: rows were written");
    }
}

/// What: a directory whose first file (in reading order) is empty, then a good CSV file,
/// loads the good file's rows with exit code 0. Why: an empty file holds no record and no
/// header; it must not decide the columns of the whole load (today the load is refused with
/// "no field feeds primary key column 'id'", because only the first file's header is read
/// to plan the columns).
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_first_csv_file_does_not_refuse_the_load() {
    let ks = TestKeyspace::connect(hosts(), "load_empty_first", SIMPLE_RF1).await;
    ks.execute(ZOO_TABLE).await;
    let root = scratch_dir("load-empty-first");
    let dir = root.join("input");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("0-empty.csv"), "").unwrap();
    std::fs::write(dir.join("a.csv"), "id,n\n1,10\n2,20\n").unwrap();
    let log_dir = root.join("logs");
    let out = load(&ks.name, "t", "csv", &dir, &log_dir, &[]);
    expect_code(&out, 0);
    let expected: BTreeMap<i32, ZooRow> =
        [(1, row(Some(10), None, None, None, None)), (2, row(Some(20), None, None, None, None))].into();
    assert_eq!(zoo_table(&ks, "t").await, expected);
    let summary = summary(&operation_dir(&log_dir));
    assert_eq!((summary["read"].as_u64(), summary["written"].as_u64()), (Some(2), Some(2)), "{summary}");
}

/// What: a Parquet file cut in half that comes first in reading order is one bad record,
/// and the good file after it loads (exit code 1), as when the same file comes last. Why:
/// whether a corrupt file stops the whole load must not depend on its name (today it does:
/// the first file's schema plans the columns, so a corrupt first file is a fatal error).
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_first_parquet_file_is_one_bad_record() {
    let ks = TestKeyspace::connect(hosts(), "load_corrupt_first", SIMPLE_RF1).await;
    ks.execute(ZOO_TABLE).await;
    let root = scratch_dir("load-corrupt-first");
    let dir = root.join("input");
    std::fs::create_dir_all(&dir).unwrap();
    python_snippet(
        "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
         d = sys.argv[1]\n\
         pq.write_table(pa.table({'id': pa.array(range(1000, 3000), pa.int32()), 'txt': [f'lost {i}' for i in range(2000)]}), d + '/whole.tmp')\n\
         data = open(d + '/whole.tmp', 'rb').read()\n\
         open(d + '/0-truncated.parquet', 'wb').write(data[: len(data) // 2])\n\
         pq.write_table(pa.table({'id': pa.array([1, 2, 3], pa.int32()), 'txt': ['a', 'b', 'c']}), d + '/a.parquet')",
        &[path_str(&dir)],
    );
    std::fs::remove_file(dir.join("whole.tmp")).unwrap();
    let log_dir = root.join("logs");
    let out = load(&ks.name, "t", "parquet", &dir, &log_dir, &[]);
    expect_code(&out, 1);
    let expected: BTreeMap<i32, ZooRow> = [(1, txt_only("a")), (2, txt_only("b")), (3, txt_only("c"))].into();
    assert_eq!(zoo_table(&ks, "t").await, expected);
    let (bad, text) = bad_records(&operation_dir(&log_dir));
    assert_eq!(bad.len(), 1, "bad.jsonl:\n{text}");
    assert_eq!((bad[0].0.as_str(), bad[0].1), ("0-truncated.parquet", 0), "bad.jsonl:\n{text}");
}

/// What: a CSV file after the first whose header cannot be read (an unterminated quote on
/// line 1) is one bad record in bad.jsonl naming that file and line 1, and the other files
/// load. Why: bad.jsonl is what an operator fixes the input from; a record without its
/// source and position (today: `"source":"","position":0`) cannot be found.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_header_is_a_bad_record_naming_its_file() {
    let ks = TestKeyspace::connect(hosts(), "load_bad_header", SIMPLE_RF1).await;
    ks.execute(ZOO_TABLE).await;
    let root = scratch_dir("load-bad-header");
    let dir = root.join("input");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.csv"), "id,n\n1,10\n").unwrap();
    std::fs::write(dir.join("b.csv"), "\"id,n\n2,20\n").unwrap();
    std::fs::write(dir.join("c.csv"), "id,n\n3,30\n").unwrap();
    let log_dir = root.join("logs");
    let out = load(&ks.name, "t", "csv", &dir, &log_dir, &[]);
    expect_code(&out, 1);
    let expected: BTreeMap<i32, ZooRow> =
        [(1, row(Some(10), None, None, None, None)), (3, row(Some(30), None, None, None, None))].into();
    assert_eq!(zoo_table(&ks, "t").await, expected);
    let (bad, text) = bad_records(&operation_dir(&log_dir));
    assert_eq!(bad.len(), 1, "bad.jsonl:\n{text}");
    assert_eq!((bad[0].0.as_str(), bad[0].1), ("b.csv", 1), "bad.jsonl:\n{text}");
    assert!(bad[0].2.contains("unterminated quote"), "bad.jsonl:\n{text}");
}

/// What: without --mapping, a CSV file after the first whose header has a field the first
/// file's has not (a typo, or a column added later) has every record in bad.jsonl with a
/// reason naming the field, and the other files load. Why: loading it anyway would drop that
/// field's values without a word; the first file's fields are what the load was checked on.
#[tokio::test(flavor = "multi_thread")]
async fn a_later_file_with_a_field_the_first_has_not_is_bad_records() {
    let ks = TestKeyspace::connect(hosts(), "load_later_fields", SIMPLE_RF1).await;
    ks.execute(ZOO_TABLE).await;
    let root = scratch_dir("load-later-fields");
    let dir = root.join("input");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.csv"), "id,n\n1,10\n").unwrap();
    std::fs::write(dir.join("b.csv"), "id,n,txt\n2,20,lost\n3,30,lost\n").unwrap();
    std::fs::write(dir.join("c.csv"), "n,id\n40,4\n").unwrap();
    let log_dir = root.join("logs");
    let out = load(&ks.name, "t", "csv", &dir, &log_dir, &[]);
    expect_code(&out, 1);
    let expected: BTreeMap<i32, ZooRow> =
        [(1, row(Some(10), None, None, None, None)), (4, row(Some(40), None, None, None, None))].into();
    assert_eq!(zoo_table(&ks, "t").await, expected);
    let (bad, text) = bad_records(&operation_dir(&log_dir));
    let positions: Vec<(&str, u64)> = bad.iter().map(|(file, line, _)| (file.as_str(), *line)).collect();
    assert_eq!(positions, [("b.csv", 2), ("b.csv", 3)], "bad.jsonl:\n{text}");
    assert!(
        bad.iter().all(|(_, _, reason)| reason.contains("field 'txt' is not in the first file")),
        "{text}"
    );
}

// ------------------------------------------------------------------------------------------
// DSBulk's files

const TYPES_COLUMNS: &str = "(id int PRIMARY KEY, t text, a ascii, ts timestamp, d date, tm time, \
     dec decimal, vi varint, db double, f float, bi bigint, si smallint, ti tinyint, b boolean, bl blob, \
     u uuid, tu timeuuid, ip inet, l list<int>, s set<text>, m map<text, int>, \
     tup frozen<tuple<int, text, double>>, du duration, lt list<text>, mf map<text, frozen<list<int>>>, \
     st set<frozen<tuple<int, text>>>)";

/// Edge values of every column, as CQL literals (so Cassandra parsed them, not cqlbulk).
/// Two values are left out because DSBulk's files cannot hold them: the zero duration
/// (DSBulk writes it as an empty string, which reads back as null) and an IPv4-mapped IPv6
/// address (Java turns `::ffff:1.2.3.4` into the IPv4 address `1.2.3.4`).
const TYPES_ROWS: &[&str] = &[
    "(id, t, a, ts, d, tm, dec, vi, db, f, bi, si, ti, b, bl, u, tu, ip, l, s, m, tup, du) VALUES (1, \
     'quotes \"a\" and ''b'', commas, and\nnewline', 'plain', '2024-05-01T10:11:12.345Z', '2024-02-29', \
     '12:34:56.789', 3.14159, 123456789012345678901234567890, 2.25, 1.5, 9223372036854775807, 32767, 127, \
     true, 0xcafe, 3f1f3c2c-1d4a-4a8e-9a3a-2b3c4d5e6f70, 50554d6e-29bb-11e5-b345-feff819cdc9f, '192.168.0.1', \
     [1, 2, 2, 3], {'a', 'b, c', 'd \"e\"'}, {'k1': 1, 'k,2': 2, 'k\"3': 3}, (1, 'one', 1.5), \
     1y2mo3d4h5m6s7ms8us9ns)",
    "(id, t, a, bl, l, s, m, b) VALUES (2, '', '', 0x, [], {}, {}, false)",
    "(id) VALUES (3)",
    "(id, t, db, f, dec, vi, ts, d, tm, du, bi, si, ti) VALUES (4, 'C:\\path\\', NaN, NaN, -0.000, \
     -98765432109876543210987654321098765432109876543210, -1, '1970-01-01', '00:00:00', -1mo2d3ns, \
     -9223372036854775808, -32768, -128)",
    "(id, t, db, f, dec, ts, d, tm, du) VALUES (5, 'back\\\\slash \\\" mixed \\\\\"', Infinity, -Infinity, 1E-7, \
     -8000000000000000, '-0001-01-01', '23:59:59.999999999', 1ns)",
    "(id, t, db, f, dec, ts, d) VALUES (6, '😀 𝄞 漢字 ünïcödé', -Infinity, -0.0, 1.2E+3, 8000000000000000, '9999-12-31')",
    "(id, t, db, dec, ts, d) VALUES (7, '   padded   ', -0.0, 12345678901234567890.123456789012345678901234567890, \
     253402300800000, 0)",
    "(id, t, db, d, ip) VALUES (8, 'null', 1.7976931348623157E308, 4294967295, '::1')",
    "(id, t, db, ip, tup) VALUES (9, 'NULL', 4.9E-324, '2001:db8::8a2e:370:7334', (1, null, null))",
    "(id, t, db, ip, tup) VALUES (10, 'tab\tinside', 0.1, '10.0.0.1', (null, 'x \"y\", z', NaN))",
    "(id, t, tup, l) VALUES (11, '#comment-like', (-2147483648, '', Infinity), [-2147483648, 2147483647])",
    "(id, t, s, m) VALUES (12, 'crlf\r\nline', {'', ' ', '\\'}, {'': 0, ' ': -1})",
    "(id, t) VALUES (13, '\"')",
    "(id, t) VALUES (14, ',')",
    "(id, t) VALUES (15, '\\')",
    "(id, t) VALUES (16, '\\\"')",
    "(id, t, du) VALUES (17, '\"\"', 9223372036854775807ns)",
    "(id, t, bl) VALUES (18, ' ', 0x00ff00ff)",
    "(id, t, tup) VALUES (19, '[1,2]', (0, '[', -0.0))",
    "(id, t, tup) VALUES (20, '{\"id\": 5}', (1, '\\', 1e300))",
    "(id, t, tu) VALUES (-2147483648, 'min key', 00000000-0000-1000-8000-000000000000)",
    "(id, t, s) VALUES (2147483647, 'max key', {'😀', 'z', 'a'})",
    // Strings with JSON's and CSV's special characters inside collections and tuples: the
    // values that once came back as bad records from cqlbulk's own CSV.
    "(id, lt, mf, st, tup) VALUES (21, ['back\\slash', 'quote \"', 'both \\\"', 'tab\tand\nnewline', '', 'end\\'], \
     {'k \"1\"': [1, -1], 'k\\2': [], '': [0]}, {(1, 'a,b'), (2, 'c\"d'), (3, '\\'), (-1, '')}, \
     (7, '\\\"\\', 0.5))",
    "(id, lt, mf, st) VALUES (22, ['{\"0\":0}', '[\"x\"]', 'null', '\\u0041', '\r\n'], {'{}': [2147483647]}, \
     {(0, '\\\\')})",
];

/// Every row of a table as the Rust driver reads it, each value in its Debug form (so NaN
/// equals NaN, and -0.0 differs from 0.0), sorted.
async fn all_rows(ks: &TestKeyspace, table: &str) -> Vec<Vec<String>> {
    let result = ks
        .session
        .query_unpaged(format!("SELECT * FROM {}.{table}", ks.name), ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let mut rows: Vec<Vec<String>> = result
        .rows::<Row>()
        .unwrap()
        .map(|r| r.unwrap().columns.iter().map(|c| format!("{c:?}")).collect())
        .collect();
    rows.sort();
    rows
}

/// What: a table of every common CQL type with edge values (quotes, commas, newlines, CRLF
/// and backslashes in text, empty text versus null, NaN, ±Infinity, -0.0, huge varints and
/// decimals, far dates and timestamps, extreme integers, empty blobs, IPv6, collections,
/// tuples with nulls, durations) unloaded by DSBulk 1.10 with its default settings to CSV
/// and to JSON, each loaded by `cqlbulk load` with no options into an empty copy: exit 0 and
/// the copy equals the original value for value. Why: DSBulk's files are what users bring
/// to `load` first.
#[tokio::test(flavor = "multi_thread")]
async fn dsbulk_files_load_back_identically() {
    let ks = TestKeyspace::connect(hosts(), "load_dsbulk", SIMPLE_RF1).await;
    let original = create_types_tables(&ks).await;
    let root = scratch_dir("load-dsbulk");
    for (format, connector) in [("csv", &[][..]), ("json", &["-c", "json"][..])] {
        let dir = root.join(format);
        let mut args =
            vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "original", "-url", path_str(&dir)];
        args.extend_from_slice(connector);
        dsbulk(&args, &root.join(format!("{format}-dsbulk-logs")));

        ks.execute("TRUNCATE {ks}.copy").await;
        let log_dir = root.join(format!("{format}-logs"));
        let mut args = vec!["load", "-h", hosts(), "-k", &ks.name, "-t", "copy", "--url", path_str(&dir)];
        args.extend_from_slice(&["--log-dir", path_str(&log_dir), "-q"]);
        if format == "json" {
            args.extend_from_slice(&["--format", "json"]);
        }
        let out = cqlbulk(&args);
        expect_code(&out, 0);
        assert_same(&original, &all_rows(&ks, "copy").await, &format!("{format} from DSBulk"));
    }
}

/// What: the same table unloaded by `cqlbulk unload` with default flags to CSV and to JSON,
/// each loaded by DSBulk 1.10 with its default settings into an empty copy: DSBulk takes
/// every row and the copy equals the original value for value. Why: cqlbulk's files must
/// go where DSBulk's go; DSBulk once read cqlbulk's doubled quotes literally and split
/// records into the wrong number of fields.
#[tokio::test(flavor = "multi_thread")]
async fn cqlbulk_files_load_into_dsbulk_identically() {
    let ks = TestKeyspace::connect(hosts(), "dsbulk_reads_ours", SIMPLE_RF1).await;
    let original = create_types_tables(&ks).await;
    let root = scratch_dir("dsbulk-reads-ours");
    for (format, connector) in [("csv", &[][..]), ("json", &["-c", "json"][..])] {
        let dir = root.join(format);
        let log_dir = root.join(format!("{format}-logs"));
        let mut args = vec!["unload", "-h", hosts(), "-k", &ks.name, "-t", "original", "--format", format];
        args.extend_from_slice(&["--url", path_str(&dir), "--log-dir", path_str(&log_dir), "-q"]);
        expect_code(&cqlbulk(&args), 0);

        ks.execute("TRUNCATE {ks}.copy").await;
        let mut args = vec!["load", "-h", hosts(), "-k", &ks.name, "-t", "copy", "-url", path_str(&dir)];
        args.extend_from_slice(connector);
        let out = dsbulk(&args, &root.join(format!("{format}-dsbulk-logs")));
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(said.contains("completed successfully"), "DSBulk load of {format}:\n{said}");
        assert_same(
            &dsbulk_reading(&original, format),
            &all_rows(&ks, "copy").await,
            &format!("{format} into DSBulk"),
        );
    }
}

/// The rows as DSBulk 1.10 loads them: it reads numbers through BigDecimal, which has no
/// negative zero, so a float or double -0.0 becomes 0.0: in a column always, nested in a
/// tuple or collection only from JSON (from CSV, the nested JSON keeps it). Its own unload →
/// load does the same.
fn dsbulk_reading(rows: &[Vec<String>], format: &str) -> Vec<Vec<String>> {
    let positive = |v: &String| {
        let top_level = v.starts_with("Some(Double(") || v.starts_with("Some(Float(");
        if top_level || format == "json" {
            v.replace("Double(-0.0)", "Double(0.0)").replace("Float(-0.0)", "Float(0.0)")
        } else {
            v.clone()
        }
    };
    let mut rows: Vec<Vec<String>> = rows.iter().map(|row| row.iter().map(positive).collect()).collect();
    rows.sort();
    rows
}

/// Creates `original` (every row of TYPES_ROWS, written as CQL literals) and an empty
/// `copy`; returns the original's rows.
async fn create_types_tables(ks: &TestKeyspace) -> Vec<Vec<String>> {
    ks.execute(&format!("CREATE TABLE {{ks}}.original {TYPES_COLUMNS}")).await;
    ks.execute(&format!("CREATE TABLE {{ks}}.copy {TYPES_COLUMNS}")).await;
    for values in TYPES_ROWS {
        ks.execute(&format!("INSERT INTO {{ks}}.original {values}")).await;
    }
    let original = all_rows(ks, "original").await;
    assert_eq!(original.len(), TYPES_ROWS.len());
    original
}

/// Runs DSBulk 1.10 with its default settings (harness/dsbulk.py), logs under `log_dir`;
/// fails the test unless it exits 0.
fn dsbulk(args: &[&str], log_dir: &Path) -> Output {
    let out = Command::new("python3")
        .arg(repo_root().join("harness/dsbulk.py"))
        .arg("run")
        .args(args)
        .args(["--log.directory", path_str(log_dir)])
        .output()
        .expect("run harness/dsbulk.py");
    assert!(out.status.success(), "DSBulk {args:?} failed:\n{}\n{}", stdout(&out), stderr(&out));
    out
}

fn assert_same(original: &[Vec<String>], copy: &[Vec<String>], what: &str) {
    if copy != original {
        let only_original: Vec<_> = original.iter().filter(|r| !copy.contains(r)).collect();
        let only_copy: Vec<_> = copy.iter().filter(|r| !original.contains(r)).collect();
        panic!(
            "{what}: the copy differs\nonly in the original:\n{only_original:#?}\nonly in the copy:\n{only_copy:#?}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Resume

async fn rows_100k(ks: &TestKeyspace, table: &str) -> Vec<(i64, i32, String)> {
    let mut rows: Vec<(i64, i32, String)> = ks
        .session
        .query_iter(format!("SELECT id, c, v FROM {}.{table}", ks.name), ())
        .await
        .unwrap()
        .rows_stream::<(i64, i32, String)>()
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    rows.sort();
    rows
}

/// What: 100,000 rows unloaded to CSV (5,000 rows per file), loaded into an empty copy at
/// 20,000 rows/s, SIGKILLed once two chunks are recorded, then the same command with
/// `--resume`: exit 0, the copy holds exactly the source's rows and values, each chunk is
/// recorded once, the summary counts every row once; and `cqlbulk verify` (once it exists)
/// agrees, and notices a deleted row. Why: a crash in the middle of a long load must be
/// finished without starting over and without losing a row.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_load_then_resume_loads_every_row() {
    let ks = TestKeyspace::connect(hosts(), "load_resume", SIMPLE_RF1).await;
    fill_100k(&ks).await;
    ks.execute("CREATE TABLE {ks}.copy (id bigint, c int, v text, PRIMARY KEY (id, c))").await;
    let root = scratch_dir("load-resume");
    let dir = root.join("csv");
    expect_success(&cqlbulk(&[
        "unload",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "rows100k",
        "--format",
        "csv",
        "--url",
        path_str(&dir),
        "--max-rows-per-file",
        "5000",
        "--log-dir",
        path_str(&root.join("unload-logs")),
        "-q",
    ]));
    // Files with rows: each is one chunk of the load (at most 5,000 records, under the
    // 10,000 of a chunk).
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| std::fs::read_to_string(e.as_ref().unwrap().path()).unwrap().lines().count() > 1)
        .count();
    assert!(files >= 20, "{files} files for 100,000 rows at 5,000 per file");

    let log_dir = root.join("load-logs");
    let command = |resume: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cqlbulk"));
        cmd.args(["load", "-h", hosts(), "-k", &ks.name, "-t", "copy", "--format", "csv", "-q"]).args([
            "--url",
            path_str(&dir),
            "--log-dir",
            path_str(&log_dir),
            "--max-rows-per-second",
            "20000",
        ]);
        if let Some(operation) = resume {
            cmd.arg("--resume").arg(operation);
        }
        cmd
    };
    let mut child = command(None).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let operation = wait_for_checkpoint(&log_dir, 2);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(status.code().is_none(), "the load finished before it could be killed: {status:?}");
    let recorded = std::fs::read_to_string(operation.join("checkpoint.jsonl")).unwrap().lines().count();
    assert!(recorded < files, "every chunk was recorded before the kill");
    let before = count_rows(hosts(), &ks.name, "copy", &[]);
    assert!(before < 100_000, "the copy was complete before the kill ({before} rows)");

    let out = command(Some(operation.as_path())).output().unwrap();
    expect_code(&out, 0);
    assert_eq!(count_rows(hosts(), &ks.name, "copy", &[]), 100_000);
    let source = rows_100k(&ks, "rows100k").await;
    assert_eq!(source.len(), 100_000);
    assert!(rows_100k(&ks, "copy").await == source, "the copy's rows differ from the source's");

    // Each chunk (one per file here) is recorded once: resume skipped the finished ones.
    let checkpoint = std::fs::read_to_string(operation.join("checkpoint.jsonl")).unwrap();
    let chunks: Vec<serde_json::Value> =
        checkpoint.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let distinct: BTreeSet<(u64, u64)> =
        chunks.iter().map(|c| (c["unit"].as_u64().unwrap(), c["chunk"].as_u64().unwrap())).collect();
    assert_eq!(chunks.len(), distinct.len(), "a chunk was recorded twice:\n{checkpoint}");
    assert_eq!(distinct.len(), files, "one chunk per file:\n{checkpoint}");
    assert_eq!(chunks.iter().map(|c| c["written"].as_u64().unwrap()).sum::<u64>(), 100_000);
    let summary = summary(&operation);
    assert_eq!(summary["status"], "complete", "{summary}");
    assert_eq!(
        (summary["read"].as_u64(), summary["written"].as_u64(), summary["failed"].as_u64()),
        (Some(100_000), Some(100_000), Some(0)),
        "{summary}"
    );

    // `cqlbulk verify`: the files against the source and the copy, then a difference it
    // must find.
    let verify = |table: &str| {
        Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
            .current_dir(&root)
            .args([
                "verify",
                "-h",
                hosts(),
                "-k",
                &ks.name,
                "-t",
                table,
                "--format",
                "csv",
                "--url",
                path_str(&dir),
            ])
            .output()
            .unwrap()
    };
    expect_code(&verify("rows100k"), 0);
    expect_code(&verify("copy"), 0);
    ks.execute("DELETE FROM {ks}.copy WHERE id = 0 AND c = 0").await;
    expect_code(&verify("copy"), 1);
}

/// What: 20,000 rows loaded with `--max-rows-per-second 5000` take at least 3.6 s (the
/// rate is never exceeded by more than 10%), and every row arrives. Why: the rate limit is
/// how an operator keeps a load from hurting a production cluster; being slower than the
/// target is measured in bench/, being faster is a broken promise this test catches.
#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_is_never_exceeded() {
    let ks = TestKeyspace::connect(hosts(), "load_rate", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, v text)").await;
    let root = scratch_dir("load-rate");
    let file = root.join("rows.csv");
    write_id_value_csv(&file, 20_000);
    let out = load(&ks.name, "t", "csv", &file, &root.join("logs"), &["--max-rows-per-second", "5000"]);
    expect_code(&out, 0);
    let summary = summary(&operation_dir(&root.join("logs")));
    let elapsed = summary["elapsed_seconds"].as_f64().unwrap();
    assert_eq!(summary["written"].as_u64(), Some(20_000), "{summary}");
    assert!(elapsed >= 0.9 * 20_000.0 / 5_000.0, "20,000 rows in {elapsed:.2} s at 5,000 rows/s: {summary}");
    assert_eq!(count_rows(hosts(), &ks.name, "t", &[]), 20_000);
}

/// What: a load with 512 requests in flight and a 10 ms request timeout, so that the
/// node cannot answer in time and requests time out over and over: every row arrives
/// exactly (count and verify), the run exits 0, and the summary and the last line report
/// the retries. Why: an overloaded cluster must slow a load down, never lose rows, and the
/// operator must see that it struggled.
#[tokio::test(flavor = "multi_thread")]
async fn timeouts_under_overload_are_retried_without_losing_rows() {
    let ks = TestKeyspace::connect(hosts(), "load_overload", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, v text)").await;
    let root = scratch_dir("load-overload");
    let file = root.join("rows.csv");
    write_id_value_csv(&file, 50_000);
    let logs = root.join("logs");
    let extra = ["--max-concurrent-requests", "512", "--request-timeout", "10ms"];
    let mut args = vec!["load", "-h", hosts(), "-k", &ks.name, "-t", "t", "--format", "csv"];
    args.extend_from_slice(&["--url", path_str(&file), "--log-dir", path_str(&logs)]);
    args.extend_from_slice(&extra);
    let out = cqlbulk(&args);
    expect_code(&out, 0);
    let summary = summary(&operation_dir(&logs));
    let retries = summary["retries"].as_u64().unwrap();
    assert!(retries > 0, "no request timed out, so nothing was tested: {summary}");
    assert!(stderr(&out).contains(&format!("{retries} retries")), "{}", stderr(&out));
    assert_eq!(summary["written"].as_u64(), Some(50_000), "{summary}");
    assert_eq!(count_rows(hosts(), &ks.name, "t", &[]), 50_000);
    let verified =
        cqlbulk(&["verify", "-h", hosts(), "-k", &ks.name, "-t", "t", "-q", "--url", path_str(&file)]);
    expect_code(&verified, 0);
}

/// What: a `.csv.zst` cut in the middle of its compressed bytes loads the rows before the
/// cut, exactly rows 0..n with none skipped, and reports the rest as one bad record whose
/// reason says the file cannot be read further; exit 1. Why: a truncated download must
/// neither crash the load nor pass for a complete file.
#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_zstd_file_loads_what_precedes_the_cut() {
    let ks = TestKeyspace::connect(hosts(), "load_zstd_cut", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, v text)").await;
    let root = scratch_dir("load-zstd-cut");
    let plain = root.join("rows.csv");
    // Many 128 KiB zstd blocks, so that the first half holds whole ones.
    write_id_value_csv(&plain, 200_000);
    let compressed = zstd::encode_all(std::fs::read(&plain).unwrap().as_slice(), 3).unwrap();
    let file = root.join("cut.csv.zst");
    std::fs::write(&file, &compressed[..compressed.len() / 2]).unwrap();
    let logs = root.join("logs");
    let out = load(&ks.name, "t", "csv", &file, &logs, &[]);
    expect_code(&out, 1);
    let operation = operation_dir(&logs);
    let (bad, _) = bad_records(&operation);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].2.starts_with("cannot read"), "{bad:?}");
    let ids: Vec<i32> = ks
        .session
        .query_unpaged(format!("SELECT id FROM {}.t", ks.name), ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows::<(i32,)>()
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    let mut ids = ids;
    ids.sort();
    assert!(ids.len() > 1_000 && ids.len() < 200_000, "{} rows before the cut", ids.len());
    assert!(ids.iter().enumerate().all(|(i, id)| *id == i as i32), "the rows loaded are not rows 0..n");
    let summary = summary(&operation);
    assert_eq!(summary["written"].as_u64(), Some(ids.len() as u64), "{summary}");
    assert_eq!(summary["failed"].as_u64(), Some(1), "{summary}");
}

/// What: CSV (larger than one read of the pipe, and a tiny one) and JSON lines piped into
/// `load --url -` land whole: every row, the header read once. Why: stdin cannot be read
/// twice; the CSV header is looked at before the data is read, and the bytes that look
/// takes must still reach the data (they were once lost: 4,234 rows of a pipe silently
/// became one "header" and bad records).
#[tokio::test(flavor = "multi_thread")]
async fn rows_piped_into_stdin_all_load() {
    let ks = TestKeyspace::connect(hosts(), "load_stdin", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, v text)").await;
    let dir = scratch_dir("load-stdin");
    let big: String = std::iter::once("id,v\n".to_string())
        .chain((0..50_000).map(|id| format!("{id},\"value, {id}\"\n")))
        .collect();
    let inputs = [
        ("csv", big),
        ("csv", "id,v\n50000,tiny\n".to_string()),
        ("json", "{\"id\": 50001, \"v\": \"json\"}\n[{\"id\": 50002, \"v\": null}]\n".to_string()),
    ];
    for (n, (format, text)) in inputs.into_iter().enumerate() {
        let logs = dir.join(format!("logs{n}"));
        let args = ["load", "-h", hosts(), "-k", &ks.name, "-t", "t", "-q", "--format", format, "--url", "-"];
        let mut child = Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
            .args(args)
            .args(["--log-dir", path_str(&logs)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        expect_code(&output, 0);
    }
    let rows: BTreeMap<i32, Option<String>> = ks
        .session
        .query_iter(format!("SELECT id, v FROM {}.t", quote(&ks.name)), ())
        .await
        .unwrap()
        .rows_stream::<(i32, Option<String>)>()
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(rows.len(), 50_003);
    assert!((0..50_000).all(|id| rows[&id].as_deref() == Some(format!("value, {id}").as_str())));
    assert_eq!(rows[&50_000].as_deref(), Some("tiny"));
    assert_eq!(rows[&50_001].as_deref(), Some("json"));
    assert_eq!(rows[&50_002], None);
}

//! `cqlbulk count` on one node with 16 vnodes (Cassandra 5.0's default), including the
//! table shapes and bad inputs that only need one node.

mod common;

use common::scenarios::*;
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: false, tls: false };

fn hosts() -> &'static str {
    cluster(SHAPE)
}

/// What: count, `--by range` and `--by host` on 50,000 rows with keys at both ring ends.
/// Why: the base case every user starts with; the edge keys sit in the wrapping range.
#[tokio::test(flavor = "multi_thread")]
async fn count_exact_on_one_node() {
    let ks = TestKeyspace::connect(hosts(), "one_node_rows", SIMPLE_RF1).await;
    let tokens = fill_rows_table(&ks).await;
    count_matches_inserted(hosts(), &ks, &tokens).await;
}

/// What: the engine's ring and replicas against the node's own tokens. Why: see the scenario.
#[tokio::test(flavor = "multi_thread")]
async fn ring_matches_single_node() {
    let ks = TestKeyspace::connect(
        hosts(),
        "one_node_ring",
        "{'class': 'NetworkTopologyStrategy', 'datacenter1': 1}",
    )
    .await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY)").await;
    ring_matches_node_view(hosts(), &ks, "t", 16).await;
}

/// What: a composite partition key `((tenant, day), seq)`. Why: the token expression must
/// name every partition-key column in order, or Cassandra refuses the query.
#[tokio::test(flavor = "multi_thread")]
async fn count_composite_partition_key() {
    let ks = TestKeyspace::connect(hosts(), "composite", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.events (tenant text, day int, seq int, body text, PRIMARY KEY ((tenant, day), seq))").await;
    let insert = ks.prepare("INSERT INTO {ks}.events (tenant, day, seq, body) VALUES (?, ?, ?, 'b')").await;
    let rows =
        (0..300).flat_map(|t| (0..10).flat_map(move |d| (0..4).map(move |s| (format!("tenant-{t}"), d, s))));
    insert_all(&ks.session, &insert, rows).await;
    assert_eq!(count_rows(hosts(), &ks.name, "events", &[]), 12_000);
    assert_eq!(count_rows(hosts(), &ks.name, "events", &["--method", "fetch"]), 12_000);
}

/// What: an empty table counts 0 with exit 0. Why: zero is a real answer, not an error.
#[tokio::test(flavor = "multi_thread")]
async fn count_empty_table() {
    let ks = TestKeyspace::connect(hosts(), "empty", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.nothing (id uuid PRIMARY KEY, v int)").await;
    assert_eq!(count_rows(hosts(), &ks.name, "nothing", &[]), 0);
    let out = expect_success(&cqlbulk(&[
        "count",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "nothing",
        "--by",
        "host",
        "-q",
    ]));
    assert_eq!(breakdown(&out).1, 0);
}

/// What: one partition holding 30,000 clustering rows, plus a partition with only a static
/// value. Why: a whole partition lands in one split, so count must page through it (fetch)
/// or aggregate it (server) without a timeout; a static-only partition is one row to
/// `SELECT *`, so it is one row to count too.
#[tokio::test(flavor = "multi_thread")]
async fn count_one_wide_partition() {
    let ks = TestKeyspace::connect(hosts(), "wide", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.wide (p int, c int, s text STATIC, v text, PRIMARY KEY (p, c))").await;
    let insert = ks.prepare("INSERT INTO {ks}.wide (p, c, v) VALUES (1, ?, 'value')").await;
    insert_all(&ks.session, &insert, (0..30_000).map(|c| (c,))).await;
    ks.execute("INSERT INTO {ks}.wide (p, s) VALUES (2, 'only static')").await;
    let select_all = ks
        .session
        .query_unpaged(format!("SELECT count(*) FROM {}.wide WHERE p = 2", ks.name), ())
        .await
        .unwrap();
    let (static_rows,): (i64,) = select_all.into_rows_result().unwrap().single_row().unwrap();
    assert_eq!(static_rows, 1, "Cassandra counts a static-only partition as one row");
    assert_eq!(count_rows(hosts(), &ks.name, "wide", &[]), 30_001);
    assert_eq!(count_rows(hosts(), &ks.name, "wide", &["--method", "fetch", "--page-size", "500"]), 30_001);
}

/// What: unknown keyspace, unknown table (and a case mistake), a materialized view, and an
/// unreachable port each give exit code 3 and one line naming the problem. Why: operators
/// read these in scripts and pagers; a panic or a driver dump helps nobody.
#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gives_one_clear_line() {
    let ks = TestKeyspace::connect(hosts(), "bad_input", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.\"MixedCase\" (id int PRIMARY KEY, v int)").await;
    ks.execute("CREATE MATERIALIZED VIEW {ks}.by_v AS SELECT * FROM {ks}.\"MixedCase\" WHERE v IS NOT NULL AND id IS NOT NULL PRIMARY KEY (v, id)").await;

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-k", "no_such_keyspace", "-t", "t"], "keyspace no_such_keyspace does not exist"),
        (vec!["-k", &ks.name, "-t", "no_such_table"], "does not exist"),
        (vec!["-k", &ks.name, "-t", "mixedcase"], "did you mean 'MixedCase'"),
        (vec!["-k", &ks.name, "-t", "by_v"], "is a materialized view"),
        (
            vec!["-k", &ks.name, "-t", "MixedCase", "--dc", "dc9"],
            "--dc dc9: no node is in that datacenter; known datacenters: datacenter1",
        ),
        (vec!["-k", &ks.name, "-t", "t", "--port", "9"], "cannot connect to 127.0.0.1:9"),
        (vec!["-k", &ks.name, "-t", "t", "-h", "127.0.0.1:1"], "cannot connect"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["count"];
        if !args.contains(&"-h") {
            full.extend(["-h", hosts()]);
        }
        full.extend(args.iter());
        let out = cqlbulk(&full);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{full:?}: {err}");
        assert!(err.contains(expected), "{full:?}: expected {expected:?} in {err:?}");
        assert_eq!(err.trim().lines().count(), 1, "{full:?}: more than one line: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // The table itself, quoted correctly, counts fine.
    assert_eq!(count_rows(hosts(), &ks.name, "MixedCase", &[]), 0);
}

/// What: without a terminal, progress comes as plain lines, ending with one at 100% of the
/// ring, then the summary. Why: runs under cron or CI leave only their log behind.
#[tokio::test(flavor = "multi_thread")]
async fn progress_lines_without_terminal() {
    let ks = TestKeyspace::connect(hosts(), "progress", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY)").await;
    let insert = ks.prepare("INSERT INTO {ks}.t (id) VALUES (?)").await;
    insert_all(&ks.session, &insert, (0..5000).map(|i| (i,))).await;
    let out = cqlbulk(&[
        "count",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "t",
        "--splits",
        "100",
        "--progress-interval",
        "1",
    ]);
    assert_eq!(expect_success(&out).trim(), "5000");
    let err = stderr(&out);
    assert!(err.contains("count: 100.0% of ring, 100/100 splits, 5000 rows"), "{err}");
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with(&format!("count: {}.t: 5000 rows in 100 splits on 1 node,", ks.name)),
        "{err}"
    );
}

/// What: SIGINT during a count stops it promptly with exit code 4 and no total on stdout.
/// Why: Ctrl-C must never look like a finished (and therefore trusted) count.
#[tokio::test(flavor = "multi_thread")]
async fn interrupt_exits_4() {
    let ks = TestKeyspace::connect(hosts(), "interrupt", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY)").await;
    // Many one-at-a-time splits make a count that runs for many seconds.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_cqlbulk"))
        .args([
            "count",
            "-h",
            hosts(),
            "-k",
            &ks.name,
            "-t",
            "t",
            "-q",
            "--splits",
            "100000",
            "--concurrency",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let started = std::time::Instant::now();
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?} to stop", started.elapsed());
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "printed a total: {}", stdout(&out));
    assert!(stderr(&out).contains("interrupted"));
}

/// What: `count --by partition --top 3` on a table with a composite partition key
/// `((tenant text, day date), seq)` whose partitions hold 1..=40 rows (and one tenant name
/// full of quotes, commas and a newline holding the most): prints the three largest
/// partitions, most rows first, each named by its key, then the exact total. Why: finding
/// the partitions that hurt a cluster is what operators use DSBulk's partition stats for.
#[tokio::test(flavor = "multi_thread")]
async fn count_by_partition_names_the_largest() {
    let ks = TestKeyspace::connect(hosts(), "by_partition", SIMPLE_RF1).await;
    ks.execute(
        "CREATE TABLE {ks}.t (tenant text, day date, seq int, v int, PRIMARY KEY ((tenant, day), seq))",
    )
    .await;
    let insert = ks.prepare("INSERT INTO {ks}.t (tenant, day, seq, v) VALUES (?, ?, ?, 0)").await;
    let odd = "it's, \"odd\"\nname";
    let mut rows = Vec::new();
    for partition in 1..=40i32 {
        let tenant = if partition == 40 { odd.to_string() } else { format!("t{partition}") };
        let day = scylla::value::CqlDate((1u32 << 31) + partition as u32);
        for seq in 0..partition {
            rows.push((tenant.clone(), day, seq));
        }
    }
    let total: usize = rows.len();
    insert_all(&ks.session, &insert, rows).await;
    let printed = expect_success(&cqlbulk(&[
        "count",
        "-h",
        hosts(),
        "-k",
        &ks.name,
        "-t",
        "t",
        "--by",
        "partition",
        "--top",
        "3",
        "--splits",
        "7",
        "-q",
    ]));
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 4, "{printed}");
    assert!(lines[0].starts_with("40 tenant=") && lines[0].ends_with(", day=1970-02-10"), "{printed}");
    assert!(lines[0].contains("tenant=it's, \"odd\"\\nname"), "control characters are escaped: {printed}");
    assert_eq!(lines[1], "39 tenant=t39, day=1970-02-09", "{printed}");
    assert_eq!(lines[2], "38 tenant=t38, day=1970-02-08", "{printed}");
    assert_eq!(lines[3], format!("total {total}"));
}

//! Checks that every cluster shape must pass; each test binary runs them on its own shape.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use cqlbulk::cluster::{ClusterView, TableName};
use cqlbulk_ring::{MAX_TOKEN, MIN_TOKEN, RING_SIZE, plan_splits};

use super::*;

pub const ROWS: i64 = 50_000;
/// Keys this close to either end of the ring exercise the wraparound range and the
/// minimum-token boundary.
pub const NEAR_END: u64 = 1 << 50;

/// Fills `{ks}.rows` with `ROWS` single-row partitions, ten of whose keys hash within 2^50
/// of each end of the ring, and returns every key's token (from the driver's Murmur3).
pub async fn fill_rows_table(ks: &TestKeyspace) -> BTreeMap<i64, i64> {
    ks.execute("CREATE TABLE {ks}.rows (id bigint, c bigint, v text, PRIMARY KEY (id, c))").await;
    let insert = ks.prepare("INSERT INTO {ks}.rows (id, c, v) VALUES (?, ?, 'x')").await;
    let (low, high) = keys_near_ring_ends(&insert, NEAR_END, 10);
    let mut keys: Vec<i64> = (0..ROWS - 20).collect();
    keys.extend(&low);
    keys.extend(&high);
    insert_all(&ks.session, &insert, keys.iter().map(|k| (*k, 0i64))).await;

    // Cassandra's own token function confirms the edge keys, independently of the driver.
    let token_of = ks.prepare("SELECT token(id) FROM {ks}.rows WHERE id = ?").await;
    for key in low.iter().chain(&high) {
        let (token,): (i64,) = ks
            .session
            .execute_unpaged(&token_of, (key,))
            .await
            .unwrap()
            .into_rows_result()
            .unwrap()
            .single_row()
            .unwrap();
        let distance =
            (i128::from(token) - i128::from(MIN_TOKEN)).min(i128::from(MAX_TOKEN) - i128::from(token));
        assert!(distance <= i128::from(NEAR_END), "key {key} has token {token}, not near a ring end");
    }
    keys.iter().map(|k| (*k, insert.calculate_token(&(*k, 0i64)).unwrap().unwrap().value())).collect()
}

/// Tokens of every node as the nodes themselves report them (`system.local` on each node
/// and `system.peers`), as `token → node address`.
pub async fn ring_from_system_tables(hosts: &str) -> BTreeMap<i64, IpAddr> {
    let mut ring = BTreeMap::new();
    for host in hosts.split(',') {
        // One session per node, so `system.local` is that node's own view.
        let session = SessionBuilder::new()
            .known_node(format!("{host}:9042"))
            .host_filter(Arc::new(OnlyHost(host.parse().unwrap())))
            .build()
            .await
            .unwrap();
        let rows = session
            .query_unpaged("SELECT listen_address, tokens FROM system.local", ())
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        let (address, tokens): (IpAddr, Vec<String>) = rows.single_row().unwrap();
        for token in tokens {
            ring.insert(token.parse().unwrap(), address);
        }
    }
    ring
}

struct OnlyHost(IpAddr);

impl scylla::policies::host_filter::HostFilter for OnlyHost {
    fn accept(&self, peer: &scylla::cluster::metadata::Peer) -> bool {
        peer.address.ip() == self.0
    }
}

/// What: the engine's ring (tokens, owners, vnode ranges, replicas, splits) against the
/// nodes' own `system.local` tokens and the driver's replica placement. Why: every scan is
/// only as exact as this plan; a wrong owner turns reads remote, a missing token loses rows.
pub async fn ring_matches_node_view(hosts: &str, ks: &TestKeyspace, table: &str, expected_tokens: usize) {
    let session = &ks.session;
    let view = ClusterView::read(session, &TableName::new(&ks.name, table)).await.unwrap();
    let from_nodes = ring_from_system_tables(hosts).await;
    assert_eq!(from_nodes.len(), expected_tokens, "nodes report {} tokens", from_nodes.len());
    let engine_ring: BTreeMap<i64, IpAddr> =
        view.topology.ring().iter().map(|(t, id)| (*t, view.node(*id).address.ip())).collect();
    assert_eq!(engine_ring, from_nodes, "the engine's ring differs from the nodes' own tokens");

    let ranges = view.replicated_ranges().unwrap();
    // One range per token, plus one because the wrapping range is cut at the minimum token.
    assert_eq!(ranges.len(), expected_tokens + 1);
    let state = session.get_cluster_state();
    for range in &ranges {
        let ours: Vec<IpAddr> = range.replicas.iter().map(|id| view.node(*id).address.ip()).collect();
        let mut drivers: Vec<IpAddr> = state
            .get_token_endpoints(&ks.name, table, scylla::routing::Token::new(range.range.end()))
            .iter()
            .map(|(node, _)| node.address.ip())
            .collect();
        let mut sorted_ours = ours.clone();
        sorted_ours.sort();
        drivers.sort();
        assert_eq!(sorted_ours, drivers, "replicas of {} differ from the driver's", range.range);
        // The primary replica owns the token that ends the vnode range.
        let owner = from_nodes.range(range.range.end()..).next().or(from_nodes.iter().next()).unwrap().1;
        assert_eq!(&ours[0], owner, "primary of {}", range.range);
    }
    for target in [1, 7, 64, 1000] {
        let splits = plan_splits(&ranges, target);
        assert!(splits.len() >= target);
        assert_eq!(splits[0].range.start(), MIN_TOKEN);
        assert_eq!(splits.last().unwrap().range.end(), MAX_TOKEN);
        assert!(splits.windows(2).all(|w| w[0].range.end() == w[1].range.start()));
        assert_eq!(splits.iter().map(|s| u128::from(s.range.size())).sum::<u128>(), RING_SIZE);
    }
}

/// What: `cqlbulk count` equals the rows inserted, with both count methods and several
/// split/concurrency settings, and `--by range` / `--by host` add up to it, with each
/// host's part equal to the rows whose tokens it owns. Why: count is the exactness proof
/// of the engine that every other command reads through.
pub async fn count_matches_inserted(hosts: &str, ks: &TestKeyspace, tokens: &BTreeMap<i64, i64>) {
    let expected = tokens.len() as u64;
    assert_eq!(count_rows(hosts, &ks.name, "rows", &[]), expected);
    assert_eq!(count_rows(hosts, &ks.name, "rows", &["--method", "fetch", "--page-size", "1000"]), expected);
    assert_eq!(count_rows(hosts, &ks.name, "rows", &["--splits", "997", "--concurrency", "7"]), expected);
    assert_eq!(count_rows(hosts, &ks.name, "rows", &["--splits", "1", "--concurrency", "1"]), expected);

    let out = expect_success(&cqlbulk(&[
        "count", "-h", hosts, "-k", &ks.name, "-t", "rows", "--by", "range", "-q",
    ]));
    let (parts, total) = breakdown(&out);
    assert_eq!(total, expected);
    assert_eq!(parts.iter().map(|p| p[2].parse::<u64>().unwrap()).sum::<u64>(), expected);
    let bounds: Vec<(i64, i64)> =
        parts.iter().map(|p| (p[0].parse().unwrap(), p[1].parse().unwrap())).collect();
    assert_eq!(bounds[0].0, MIN_TOKEN);
    assert_eq!(bounds.last().unwrap().1, MAX_TOKEN);
    assert!(bounds.windows(2).all(|w| w[0].1 == w[1].0), "ranges do not tile the ring");
    // Each range's rows are exactly the keys whose tokens fall in it.
    for (part, (start, end)) in parts.iter().zip(&bounds) {
        let inside = tokens.values().filter(|t| start < *t && *t <= end).count() as u64;
        assert_eq!(part[2].parse::<u64>().unwrap(), inside, "range ({start}, {end}]");
    }

    let out =
        expect_success(&cqlbulk(&["count", "-h", hosts, "-k", &ks.name, "-t", "rows", "--by", "host", "-q"]));
    let (parts, total) = breakdown(&out);
    assert_eq!(total, expected);
    let ring = ring_from_system_tables(hosts).await;
    let mut owned: BTreeMap<IpAddr, u64> = BTreeMap::new();
    for token in tokens.values() {
        let owner = ring.range(token..).next().or(ring.iter().next()).unwrap().1;
        *owned.entry(*owner).or_default() += 1;
    }
    let reported: BTreeMap<IpAddr, u64> =
        parts.iter().map(|p| (p[0].parse().unwrap(), p[1].parse().unwrap())).collect();
    assert_eq!(reported, owned, "rows per primary replica");
}

/// Fills `{ks}.rows100k` with 100,000 rows in 20,000 partitions of 5 rows.
pub async fn fill_100k(ks: &TestKeyspace) {
    ks.execute("CREATE TABLE {ks}.rows100k (id bigint, c int, v text, PRIMARY KEY (id, c))").await;
    let insert = ks.prepare("INSERT INTO {ks}.rows100k (id, c, v) VALUES (?, ?, ?)").await;
    insert_all(
        &ks.session,
        &insert,
        (0..100_000i64).map(|i| (i / 5 * 7919, (i % 5) as i32, format!("value {i}"))),
    )
    .await;
}

/// What: 100,000 rows unloaded to CSV, JSON and Parquet hold every primary key exactly once,
/// each with its values, as the Python driver reads them. Why: exactly once is the promise
/// of the tool, and it must hold on every cluster shape.
pub async fn unload_exactly_once(hosts: &str, ks: &TestKeyspace) {
    fill_100k(ks).await;
    let root = scratch_dir(&format!("exactly-once-{}", ks.name));
    for format in ["csv", "json", "parquet"] {
        let dir = root.join(format);
        let log_dir = root.join(format!("{format}-logs"));
        expect_success(&cqlbulk(&[
            "unload",
            "-h",
            hosts,
            "-k",
            &ks.name,
            "-t",
            "rows100k",
            "--format",
            format,
            "--url",
            dir.to_str().unwrap(),
            "--log-dir",
            log_dir.to_str().unwrap(),
            "-q",
        ]));
        check_unload(hosts, &ks.name, "rows100k", format, &dir);
    }
}

/// The all-types table, filled with CQL literals (so the values are what Cassandra itself
/// parsed, not what cqlbulk thinks they are): extremes, NaN and infinities, -0.0, huge
/// varint, decimals with large and negative scales, negative durations, far dates and
/// timestamps, 4-byte UTF-8, empty versus null, nested frozen UDTs, tuples and maps,
/// vectors, a static column and a static-only partition.
pub async fn create_all_types(ks: &TestKeyspace) {
    for cql in [
        "CREATE TYPE {ks}.address (street text, zip int, tags frozen<set<text>>)",
        "CREATE TYPE {ks}.person (name text, home frozen<address>, points frozen<list<frozen<tuple<int, text>>>>)",
        "CREATE TABLE {ks}.all_types (id int, ck int, s text static, a ascii, t text, ti tinyint, si smallint, \
         i int, bi bigint, vi varint, f float, d double, dec decimal, b boolean, bl blob, u uuid, tu timeuuid, \
         ip inet, dt date, tm time, ts timestamp, du duration, l list<int>, st set<text>, m map<text, int>, \
         fl frozen<list<int>>, tup frozen<tuple<int, text, frozen<map<int, text>>>>, who frozen<person>, \
         nest map<int, frozen<map<text, frozen<list<bigint>>>>>, vec vector<float, 3>, PRIMARY KEY (id, ck))",
        "INSERT INTO {ks}.all_types (id, ck, s, a, t, ti, si, i, bi, vi, f, d, dec, b, bl, u, tu, ip, dt, tm, ts, du, \
         l, st, m, fl, tup, who, nest, vec) VALUES (1, 1, 'static one', 'plain ascii', 'héllo, \"world\"\nnew line', \
         1, 2, 3, 4, 5, 1.5, 2.25, 3.14159, true, 0xcafe, 3f1f3c2c-1d4a-4a8e-9a3a-2b3c4d5e6f70, \
         50554d6e-29bb-11e5-b345-feff819cdc9f, '192.168.0.1', '2024-02-29', '12:34:56.789', '2024-05-01T10:11:12.345Z', \
         1y2mo3d4h5m6s7ms8us9ns, [1, 2, 2, 3], {'a', 'b'}, {'k1': 1, 'k2': 2}, [7, 8], (1, 'one', {1: 'x'}), \
         {name: 'Ada', home: {street: 'Main', zip: 12345, tags: {'home', 'work'}}, points: [(1, 'p'), (2, 'q')]}, \
         {1: {'a': [1, 2]}, 2: {}}, [0.5, -1.25, 3.0])",
        "INSERT INTO {ks}.all_types (id, ck, a, t, ti, si, i, bi, vi, f, d, dec, b, bl, ip, dt, tm, ts, du, fl, tup, vec) \
         VALUES (2, 1, '', '', -128, -32768, -2147483648, -9223372036854775808, \
         -123456789012345678901234567890123456789012345678901234567890, NaN, -0.0, 1.2E+3, false, 0x, '::1', \
         0, '23:59:59.999999999', -8000000000000000, -1mo2d3ns, [], (1, null, null), [-0.0, 3.4028235E38, 1.0E-45])",
        "INSERT INTO {ks}.all_types (id, ck, ti, si, i, bi, vi, f, d, dec, dt, tm, ts, du, t) VALUES (3, 1, 127, 32767, \
         2147483647, 9223372036854775807, 98765432109876543210987654321098765432109876543210, Infinity, -Infinity, \
         -0.000000000000000000000000000001230, 4294967295, '00:00:00', 8000000000000000, 0s, '😀 𝄞 漢字')",
        "INSERT INTO {ks}.all_types (id, ck) VALUES (4, 1)",
        "INSERT INTO {ks}.all_types (id, ck, dec, d, f, vi) VALUES (4, 2, 12345678901234567890.123456789012345678901234567890, \
         1.7976931348623157E308, 1.4E-45, 0)",
        "INSERT INTO {ks}.all_types (id, s) VALUES (5, 'static only')",
        "INSERT INTO {ks}.all_types (id, ck, dt, ts, dec) VALUES (6, 1, '-0001-01-01', '1969-12-31T23:59:59.999Z', 1E-7)",
        "CREATE TABLE {ks}.counters (id int PRIMARY KEY, hits counter, misses counter)",
        "UPDATE {ks}.counters SET hits = hits + 9223372036854775807, misses = misses - 5 WHERE id = 1",
        "UPDATE {ks}.counters SET hits = hits + 1 WHERE id = 2",
    ] {
        ks.execute(cql).await;
    }
}

//! `cqlbulk count` while a node is down: fail-over to other replicas with RF 3, and a clear
//! partial failure with RF 1.

mod common;

use common::*;

const SHAPE: Shape = Shape { nodes: 3, num_tokens: 16, auth: false, tls: false };

/// What: with node 3 killed, RF 3 still counts every row (its ranges are read from the
/// other replicas), while RF 1 exits with code 1 and names the unreadable ranges instead
/// of reporting a short result as success (unload and load: nodes3_node_loss.rs). Why: a
/// bulk tool that reports success with rows missing is worse than one that fails.
#[tokio::test(flavor = "multi_thread")]
async fn count_survives_a_dead_replica_and_reports_lost_ranges() {
    let hosts = cluster(SHAPE);
    let session = std::sync::Arc::new(connect(hosts).await);
    let rf3 = TestKeyspace::create(
        session.clone(),
        "failover_rf3",
        "{'class': 'SimpleStrategy', 'replication_factor': 3}",
    )
    .await;
    let rf1 = TestKeyspace::create(session.clone(), "failover_rf1", SIMPLE_RF1).await;
    for ks in [&rf3, &rf1] {
        ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, v text)").await;
        let insert = ks.prepare("INSERT INTO {ks}.t (id, v) VALUES (?, 'v')").await;
        insert_all(&ks.session, &insert, (0..20_000).map(|i| (i,))).await;
    }

    harness(&["stop", "--node", "3", "--kill"]);
    let rf3_count =
        cqlbulk(&["count", "-h", hosts, "-k", &rf3.name, "-t", "t", "-q", "--request-timeout", "5s"]);
    let rf1_count = cqlbulk(&[
        "count",
        "-h",
        hosts,
        "-k",
        &rf1.name,
        "-t",
        "t",
        "-q",
        "--request-timeout",
        "5s",
        "--max-attempts",
        "2",
    ]);
    harness(&["start-node", "3"]);

    assert_eq!(expect_success(&rf3_count).trim(), "20000");
    let err = stderr(&rf1_count);
    assert_eq!(rf1_count.status.code(), Some(1), "{err}");
    assert!(err.contains("token ranges could not be read"), "{err}");
    assert!(
        err.contains("count: failed: ") && err.contains("127.0.0.3"),
        "the failed ranges are named: {err}"
    );
}

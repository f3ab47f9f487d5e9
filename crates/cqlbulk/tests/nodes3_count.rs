//! `cqlbulk count` on three nodes with 16 vnodes each, RF 1 and RF 3.

mod common;

use common::scenarios::*;
use common::*;

const SHAPE: Shape = Shape { nodes: 3, num_tokens: 16, auth: false, tls: false };

/// What: exact count and per-host parts with RF 1, where each row lives on one node only.
/// Why: a split routed to a non-replica, or a range left out, shows up as a wrong count.
#[tokio::test(flavor = "multi_thread")]
async fn count_exact_rf1() {
    let hosts = cluster(SHAPE);
    let ks = TestKeyspace::connect(hosts, "three_rf1", SIMPLE_RF1).await;
    let tokens = fill_rows_table(&ks).await;
    ring_matches_node_view(hosts, &ks, "rows", 48).await;
    count_matches_inserted(hosts, &ks, &tokens).await;
}

/// What: exact count with RF 3 under NetworkTopologyStrategy, at ONE and at QUORUM. Why:
/// each row is on every node; it must still be counted once.
#[tokio::test(flavor = "multi_thread")]
async fn count_exact_rf3() {
    let hosts = cluster(SHAPE);
    let ks =
        TestKeyspace::connect(hosts, "three_rf3", "{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}")
            .await;
    let tokens = fill_rows_table(&ks).await;
    ring_matches_node_view(hosts, &ks, "rows", 48).await;
    count_matches_inserted(hosts, &ks, &tokens).await;
    assert_eq!(count_rows(hosts, &ks.name, "rows", &["--consistency", "QUORUM"]), tokens.len() as u64);
}

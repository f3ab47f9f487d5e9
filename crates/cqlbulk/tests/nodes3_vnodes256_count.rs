//! `cqlbulk count` on three nodes with 256 vnodes each, RF 1 and RF 3.

mod common;

use common::scenarios::*;
use common::*;

const SHAPE: Shape = Shape { nodes: 3, num_tokens: 256, auth: false, tls: false };

/// What: exact count, ring view and breakdowns on 768 vnodes with RF 1. Why: many tiny
/// ranges with alternating owners are where off-by-one and merge mistakes hide.
#[tokio::test(flavor = "multi_thread")]
async fn count_exact_rf1_256() {
    let hosts = cluster(SHAPE);
    let ks = TestKeyspace::connect(hosts, "three256_rf1", SIMPLE_RF1).await;
    let tokens = fill_rows_table(&ks).await;
    ring_matches_node_view(hosts, &ks, "rows", 768).await;
    count_matches_inserted(hosts, &ks, &tokens).await;
}

/// What: the same with RF 3. Why: every node holds every row; each must be counted once.
#[tokio::test(flavor = "multi_thread")]
async fn count_exact_rf3_256() {
    let hosts = cluster(SHAPE);
    let ks =
        TestKeyspace::connect(hosts, "three256_rf3", "{'class': 'SimpleStrategy', 'replication_factor': 3}")
            .await;
    let tokens = fill_rows_table(&ks).await;
    ring_matches_node_view(hosts, &ks, "rows", 768).await;
    count_matches_inserted(hosts, &ks, &tokens).await;
}

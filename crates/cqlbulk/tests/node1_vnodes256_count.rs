//! `cqlbulk count` on one node with 256 vnodes, the pre-5.0 default many clusters still use.

mod common;

use common::scenarios::*;
use common::*;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 256, auth: false, tls: false };

/// What: exact count, breakdowns and ring view with 256 vnodes on one node. Why: 256 small
/// ranges with one owner must merge into even splits and still cover the ring exactly.
#[tokio::test(flavor = "multi_thread")]
async fn count_exact_with_256_vnodes() {
    let hosts = cluster(SHAPE);
    let ks = TestKeyspace::connect(hosts, "vnodes256", SIMPLE_RF1).await;
    let tokens = fill_rows_table(&ks).await;
    ring_matches_node_view(hosts, &ks, "rows", 256).await;
    count_matches_inserted(hosts, &ks, &tokens).await;
}

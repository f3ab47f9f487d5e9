//! `cqlbulk unload` on three nodes.

mod common;

use common::scenarios::*;
use common::*;

const SHAPE: Shape = Shape { nodes: 3, num_tokens: 16, auth: false, tls: false };

/// What: 100,000 rows exactly once per format with RF 1 (each row on one node only) and
/// RF 3. Why: every split must be read from a node that has it, and only once.
#[tokio::test(flavor = "multi_thread")]
async fn unload_100k_exactly_once_on_three_nodes() {
    let hosts = cluster(SHAPE);
    let rf1 = TestKeyspace::connect(hosts, "exactly_once_rf1", SIMPLE_RF1).await;
    unload_exactly_once(hosts, &rf1).await;
    let rf3 = TestKeyspace::connect(
        hosts,
        "exactly_once_rf3",
        "{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}",
    )
    .await;
    unload_exactly_once(hosts, &rf3).await;
}

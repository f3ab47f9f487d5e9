use super::*;
use proptest::prelude::*;

fn dc_nodes(specs: &[(&str, &str)]) -> Vec<NodeInfo> {
    specs.iter().map(|(dc, rack)| NodeInfo::new(*dc, *rack)).collect()
}

fn simple(factor: usize) -> Replication {
    Replication::Simple { factor }
}

fn nts(factors: &[(&str, usize)]) -> Replication {
    Replication::NetworkTopology { factors: factors.iter().map(|(dc, f)| (dc.to_string(), *f)).collect() }
}

/// Asserts that `ranges` are sorted, disjoint and cover `(MIN_TOKEN, MAX_TOKEN]` with no gap.
fn assert_covers_ring(ranges: &[ReplicatedRange]) {
    assert!(!ranges.is_empty());
    assert_eq!(ranges[0].range.start(), MIN_TOKEN, "first range must start at the minimum token");
    assert_eq!(ranges.last().unwrap().range.end(), MAX_TOKEN, "last range must end at the maximum token");
    for pair in ranges.windows(2) {
        assert_eq!(
            pair[0].range.end(),
            pair[1].range.start(),
            "gap or overlap between {} and {}",
            pair[0].range,
            pair[1].range
        );
    }
    let covered: u128 = ranges.iter().map(|r| u128::from(r.range.size())).sum();
    assert_eq!(covered, RING_SIZE);
}

/// The replicas Cassandra would pick for `token`: those of the vnode range containing it.
fn replicas_for_token(ranges: &[ReplicatedRange], token: i64) -> &[NodeId] {
    &ranges.iter().find(|r| r.range.contains(token)).expect("every token but MIN is covered").replicas
}

/// What: a split of a range into pieces; why: the pieces' bounds become query parameters, so
/// an off-by-one here would skip or repeat the rows of one token.
#[test]
fn split_is_exact_and_even() {
    let range = TokenRange::new(-10, 10).unwrap();
    let pieces = range.split(3);
    assert_eq!(
        pieces,
        vec![
            TokenRange::new(-10, -4).unwrap(),
            TokenRange::new(-4, 3).unwrap(),
            TokenRange::new(3, 10).unwrap()
        ]
    );
    let full = TokenRange::full_ring().split(4);
    assert_eq!(full.len(), 4);
    assert_eq!(full[0].start(), MIN_TOKEN);
    assert_eq!(full[3].end(), MAX_TOKEN);
}

/// What: a range with fewer tokens than requested pieces; why: tiny vnode ranges exist on
/// real rings and must yield one-token pieces, not empty or reversed ranges.
#[test]
fn split_tiny_range_gives_one_piece_per_token() {
    let range = TokenRange::new(5, 8).unwrap();
    let pieces = range.split(100);
    assert_eq!(pieces.iter().map(|p| (p.start(), p.end())).collect::<Vec<_>>(), vec![(5, 6), (6, 7), (7, 8)]);
}

/// What: the range that wraps past the maximum token; why: it is the one the Python
/// predecessor lost rows in, so both halves and their boundaries are checked by hand.
#[test]
fn wrapping_range_is_unwrapped_at_min_token() {
    let topology =
        Topology::new(dc_nodes(&[("dc1", "r1"), ("dc1", "r1")]), vec![(-50, NodeId(0)), (50, NodeId(1))])
            .unwrap();
    let ranges = topology.replicated_ranges(&simple(1)).unwrap();
    let bounds: Vec<_> = ranges.iter().map(|r| (r.range.start(), r.range.end(), r.replicas[0].0)).collect();
    // (50, -50] wraps and belongs to the owner of -50.
    assert_eq!(bounds, vec![(MIN_TOKEN, -50, 0), (-50, 50, 1), (50, MAX_TOKEN, 0)]);
}

/// What: a ring of one token; why: a single-node cluster with num_tokens 1 owns the whole
/// ring through one range that starts and ends at the same token.
#[test]
fn single_token_ring_covers_everything() {
    for token in [MIN_TOKEN, -1, 0, 7, MAX_TOKEN] {
        let topology = Topology::new(dc_nodes(&[("dc1", "r1")]), vec![(token, NodeId(0))]).unwrap();
        let ranges = topology.replicated_ranges(&simple(3)).unwrap();
        assert_covers_ring(&ranges);
        assert!(ranges.iter().all(|r| r.replicas == vec![NodeId(0)]));
    }
}

/// What: SimpleStrategy walks clockwise from the range's end token and skips repeated
/// nodes; why: routing a split to a node that is not a replica turns every read remote.
#[test]
fn simple_strategy_walks_clockwise_skipping_repeats() {
    let tokens = vec![(0, NodeId(0)), (10, NodeId(0)), (20, NodeId(1)), (30, NodeId(2))];
    let topology = Topology::new(dc_nodes(&[("dc1", "r1"); 3]), tokens).unwrap();
    let ranges = topology.replicated_ranges(&simple(2)).unwrap();
    assert_eq!(replicas_for_token(&ranges, 5), &[NodeId(0), NodeId(1)]);
    assert_eq!(replicas_for_token(&ranges, 15), &[NodeId(1), NodeId(2)]);
    assert_eq!(replicas_for_token(&ranges, 25), &[NodeId(2), NodeId(0)]);
    assert_eq!(replicas_for_token(&ranges, 35), &[NodeId(0), NodeId(1)]);
    // A factor above the node count places one replica per node.
    let ranges = topology.replicated_ranges(&simple(5)).unwrap();
    assert_eq!(replicas_for_token(&ranges, 5).len(), 3);
}

/// What: NetworkTopologyStrategy places replicas on distinct racks first and per
/// datacenter; why: this is the strategy production keyspaces use.
#[test]
fn network_topology_prefers_distinct_racks() {
    // Ring order: n0(r1) n1(r1) n2(r2) n3(dc2) n4(r3)
    let nodes = dc_nodes(&[("dc1", "r1"), ("dc1", "r1"), ("dc1", "r2"), ("dc2", "r1"), ("dc1", "r3")]);
    let tokens = vec![(0, NodeId(0)), (10, NodeId(1)), (20, NodeId(2)), (30, NodeId(3)), (40, NodeId(4))];
    let topology = Topology::new(nodes, tokens).unwrap();
    let ranges = topology.replicated_ranges(&nts(&[("dc1", 3), ("dc2", 1)])).unwrap();
    // From n0: n0 (r1), n1 skipped (r1 again, 3 racks for 3 replicas), n2 (r2), n3 (dc2), n4 (r3).
    assert_eq!(replicas_for_token(&ranges, -5), &[NodeId(0), NodeId(2), NodeId(3), NodeId(4)]);
    // A datacenter that is not in the strategy holds nothing.
    let ranges = topology.replicated_ranges(&nts(&[("dc2", 1)])).unwrap();
    assert!(ranges.iter().all(|r| r.replicas == vec![NodeId(3)]));
}

/// What: with fewer racks than replicas, the first nodes met fill the difference; why: the
/// common one-rack test cluster with RF 3 must get three replicas, not one.
#[test]
fn network_topology_repeats_racks_when_short_of_racks() {
    let nodes = dc_nodes(&[("dc1", "r1"), ("dc1", "r1"), ("dc1", "r1"), ("dc1", "r2")]);
    let tokens = vec![(0, NodeId(0)), (10, NodeId(1)), (20, NodeId(2)), (30, NodeId(3))];
    let topology = Topology::new(nodes, tokens).unwrap();
    let ranges = topology.replicated_ranges(&nts(&[("dc1", 3)])).unwrap();
    // 2 racks, RF 3: one repeat allowed; n0 (r1), n1 (r1, the repeat), n2 skipped, n3 (r2).
    assert_eq!(replicas_for_token(&ranges, -5), &[NodeId(0), NodeId(1), NodeId(3)]);
}

/// What: bad topologies are refused with a reason; why: a silent empty plan would count zero.
#[test]
fn bad_topologies_are_refused() {
    assert_eq!(Topology::new(vec![], vec![]).unwrap_err(), RingError::EmptyRing);
    assert_eq!(
        Topology::new(dc_nodes(&[("dc1", "r1"); 2]), vec![(1, NodeId(0)), (1, NodeId(1))]).unwrap_err(),
        RingError::DuplicateToken { token: 1 }
    );
    assert_eq!(
        Topology::new(dc_nodes(&[("dc1", "r1")]), vec![(1, NodeId(4))]).unwrap_err(),
        RingError::UnknownNode { node: NodeId(4) }
    );
    let topology = Topology::new(dc_nodes(&[("dc1", "r1")]), vec![(1, NodeId(0))]).unwrap();
    assert_eq!(topology.replicated_ranges(&nts(&[("dc9", 3)])).unwrap_err(), RingError::NoReplicas);
}

/// What: adjacent ranges with the same replicas become one before splitting; why: a
/// one-node cluster with 256 vnodes should be read as even splits of one range, not as
/// hundreds of uneven ones.
#[test]
fn adjacent_ranges_with_same_replicas_merge() {
    let tokens: Vec<_> = (0..256i128)
        .map(|i| ((i128::from(i64::MIN) + 1 + i * (u64::MAX / 256) as i128) as i64, NodeId(0)))
        .collect();
    let topology = Topology::new(dc_nodes(&[("dc1", "r1")]), tokens).unwrap();
    let ranges = topology.replicated_ranges(&simple(1)).unwrap();
    assert_eq!(ranges.len(), 257);
    let splits = plan_splits(&ranges, 16);
    assert_eq!(splits.len(), 16);
    assert_covers_ring(&splits);
}

// ---------------------------------------------------------------------------------------
// Properties over random rings.

fn arb_token() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        // Tokens near both ends and clustered tokens make tiny and wrapping ranges likely.
        (0i64..4).prop_map(|d| MIN_TOKEN + d),
        (0i64..4).prop_map(|d| MAX_TOKEN - d),
        (-8i64..8),
    ]
}

prop_compose! {
    fn arb_cluster()(node_count in 1usize..8, dcs in 1usize..3, racks in 1usize..4)
        (nodes in Just((0..node_count).map(|i| NodeInfo::new(format!("dc{}", i % dcs), format!("r{}", i % racks))).collect::<Vec<_>>()),
         tokens in prop::collection::btree_set(arb_token(), 1..64),
         owners in prop::collection::vec(0..node_count, 64))
        -> (Vec<NodeInfo>, Vec<(i64, NodeId)>)
    {
        let tokens = tokens.into_iter().zip(owners).map(|(t, o)| (t, NodeId(o))).collect();
        (nodes, tokens)
    }
}

fn arb_replication() -> impl Strategy<Value = Replication> {
    prop_oneof![
        (1usize..5).prop_map(|factor| Replication::Simple { factor }),
        ((1usize..4), (0usize..3)).prop_map(|(a, b)| nts(&[("dc0", a), ("dc1", b)])),
        Just(Replication::Local),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// What: vnode ranges of any ring cover (MIN, MAX] exactly, one range per token (two for
    /// the wrapping one); why: a gap loses rows, an overlap counts them twice.
    #[test]
    fn prop_vnode_ranges_cover_ring_once((nodes, tokens) in arb_cluster(), replication in arb_replication()) {
        let topology = Topology::new(nodes.clone(), tokens.clone()).unwrap();
        let Ok(ranges) = topology.replicated_ranges(&replication) else {
            // Legitimate only when no datacenter of the strategy owns a token.
            let Replication::NetworkTopology { factors } = &replication else { panic!("placement failed") };
            prop_assert!(factors.iter().all(|(dc, f)| *f == 0 || tokens.iter().all(|(_, n)| &nodes[n.0].datacenter != dc)));
            return Ok(());
        };
        assert_covers_ring(&ranges);
        let ring_has_min = tokens.iter().any(|(t, _)| *t == MIN_TOKEN);
        let ring_has_max = tokens.iter().any(|(t, _)| *t == MAX_TOKEN);
        let expected = tokens.len() + 1 - usize::from(ring_has_min) - usize::from(ring_has_max);
        prop_assert_eq!(ranges.len(), expected);
        // Each token's own range ends at it and its primary replica is its owner.
        for (token, owner) in &tokens {
            if *token == MIN_TOKEN { continue; }
            let holder = ranges.iter().find(|r| r.range.end() == *token).unwrap();
            if !matches!(replication, Replication::NetworkTopology { .. }) {
                prop_assert_eq!(holder.replicas[0], *owner);
            }
        }
    }

    /// What: replica lists hold distinct nodes, as many as the strategy asks per datacenter;
    /// why: a split routed by a short or repeated list loses its fail-over.
    #[test]
    fn prop_replica_counts_follow_strategy((nodes, tokens) in arb_cluster(), replication in arb_replication()) {
        let topology = Topology::new(nodes.clone(), tokens).unwrap();
        let owners: BTreeSet<NodeId> = topology.ring().iter().map(|(_, n)| *n).collect();
        let Ok(ranges) = topology.replicated_ranges(&replication) else {
            // Only a strategy whose datacenters own no token may place nothing.
            let Replication::NetworkTopology { factors } = &replication else { panic!("placement failed") };
            prop_assert!(factors.iter().all(|(dc, f)| *f == 0 || owners.iter().all(|n| &nodes[n.0].datacenter != dc)));
            return Ok(());
        };
        for range in &ranges {
            let distinct: BTreeSet<_> = range.replicas.iter().collect();
            prop_assert_eq!(distinct.len(), range.replicas.len());
            match &replication {
                Replication::Simple { factor } => prop_assert_eq!(range.replicas.len(), (*factor).min(owners.len())),
                Replication::Local => prop_assert_eq!(range.replicas.len(), owners.len()),
                Replication::NetworkTopology { factors } => {
                    for (dc, factor) in factors {
                        let in_dc = owners.iter().filter(|n| &nodes[n.0].datacenter == dc).count();
                        let placed = range.replicas.iter().filter(|n| &nodes[n.0].datacenter == dc).count();
                        prop_assert_eq!(placed, (*factor).min(in_dc));
                    }
                }
            }
        }
    }

    /// What: splits of any ring cover (MIN, MAX] exactly, are at least `target`, keep the
    /// replicas of the range they came from, and shares follow range sizes; why: this plan is
    /// what every scan executes.
    #[test]
    fn prop_splits_cover_ring_once((nodes, tokens) in arb_cluster(), replication in arb_replication(), target in 1usize..300) {
        let topology = Topology::new(nodes, tokens).unwrap();
        let Ok(ranges) = topology.replicated_ranges(&replication) else { return Ok(()); };
        let splits = plan_splits(&ranges, target);
        assert_covers_ring(&splits);
        prop_assert!(splits.len() >= target);
        // At most one extra split per merged range, from rounding up.
        prop_assert!(splits.len() <= target + ranges.len());
        for split in &splits {
            prop_assert_eq!(&split.replicas[..], replicas_for_token(&ranges, split.range.end()));
            prop_assert_eq!(&split.replicas[..], replicas_for_token(&ranges, split.range.start().saturating_add(1)));
        }
    }

    /// What: splitting any range into any number of pieces is exact; why: split bounds are
    /// computed with wide integers, and the edges of the ring are where overflow would bite.
    #[test]
    fn prop_split_range_exact(a in arb_token(), b in arb_token(), pieces in 1u64..1000) {
        prop_assume!(a != b);
        let range = TokenRange::new(a.min(b), a.max(b)).unwrap();
        let parts = range.split(pieces);
        prop_assert_eq!(parts.len() as u64, pieces.min(range.size()));
        prop_assert_eq!(parts[0].start(), range.start());
        prop_assert_eq!(parts.last().unwrap().end(), range.end());
        for pair in parts.windows(2) {
            prop_assert_eq!(pair[0].end(), pair[1].start());
        }
        let smallest = parts.iter().map(|p| p.size()).min().unwrap();
        let largest = parts.iter().map(|p| p.size()).max().unwrap();
        prop_assert!(largest - smallest <= 1, "pieces differ by more than one token");
    }

    /// What: for any plan of splits and any number of shards, each shard keeps the parts of
    /// the splits inside its own range, and the shards' parts together cover the ring once,
    /// whatever split counts two shards planned with; why: shards on machines with other core
    /// counts plan other splits, and a gap or an overlap between shards loses or doubles rows.
    #[test]
    fn prop_shards_cover_ring_once((nodes, tokens) in arb_cluster(), targets in (1usize..200, 1usize..200), count in 1u64..40) {
        let topology = Topology::new(nodes, tokens).unwrap();
        let Ok(ranges) = topology.replicated_ranges(&Replication::Simple { factor: 1 }) else { return Ok(()); };
        let mut parts: Vec<ReplicatedRange> = Vec::new();
        for index in 0..count {
            let shard = TokenRange::shard(index, count).unwrap();
            // Even shards plan with one split count, odd ones with another.
            let target = if index % 2 == 0 { targets.0 } else { targets.1 };
            for split in plan_splits(&ranges, target) {
                if let Some(range) = split.range.intersection(&shard) {
                    prop_assert!(shard.start() <= range.start() && range.end() <= shard.end());
                    parts.push(ReplicatedRange { range, ..split });
                }
            }
        }
        parts.sort_by_key(|p| p.range);
        assert_covers_ring(&parts);
        prop_assert!(TokenRange::shard(count, count).is_none());
    }
}

//! The Cassandra token ring as plain data: which token ranges exist, which nodes hold each
//! one, and how to cut the ring into splits that a parallel scan can query independently.
//!
//! The main types are [`Topology`] (nodes and their vnode tokens, as read from cluster
//! metadata), [`Replication`] (a keyspace's strategy), [`TokenRange`] (a non-wrapping
//! range of tokens) and [`ReplicatedRange`] (a range with the nodes that hold it). The
//! crate does no I/O: callers read metadata with a driver and hand it over.
//!
//! ```
//! use cqlbulk_ring::{NodeInfo, NodeId, Replication, Topology, plan_splits};
//!
//! let nodes = vec![NodeInfo::new("dc1", "rack1"), NodeInfo::new("dc1", "rack1")];
//! let tokens = vec![(-100, NodeId(0)), (100, NodeId(1))];
//! let topology = Topology::new(nodes, tokens).unwrap();
//! let ranges = topology.replicated_ranges(&Replication::Simple { factor: 1 }).unwrap();
//! let splits = plan_splits(&ranges, 8);
//! assert!(splits.len() >= 8);
//! // Together the splits cover the whole ring exactly once.
//! let covered: u128 = splits.iter().map(|s| s.range.size() as u128).sum();
//! assert_eq!(covered, cqlbulk_ring::RING_SIZE);
//! ```
//!
//! # Why ranges never wrap
//!
//! Cassandra's vnode ranges are `(previous token, token]`, and the range of the first token
//! wraps around the end of the ring. CQL cannot express a wrapping range in one
//! `token(pk) > ? AND token(pk) <= ?` restriction, and a wrapping pair of bounds is read as
//! an empty or a full range depending on the server. So every range here is unwrapped at the
//! minimum token into `(start, i64::MAX]` and `(i64::MIN, end]`. The minimum token itself is
//! never covered, and needs no query: Murmur3 never yields it (Cassandra maps a hash of
//! `i64::MIN` to `i64::MAX`), so `(i64::MIN, i64::MAX]` holds every row there is.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// The smallest Murmur3 token; no row ever has it (see the crate doc).
pub const MIN_TOKEN: i64 = i64::MIN;
/// The largest Murmur3 token.
pub const MAX_TOKEN: i64 = i64::MAX;
/// Number of tokens a complete set of splits covers: all of `(MIN_TOKEN, MAX_TOKEN]`.
pub const RING_SIZE: u128 = u64::MAX as u128;

/// A non-wrapping range of tokens `(start, end]`: `start` exclusive, `end` inclusive, the
/// same bounds as `token(pk) > start AND token(pk) <= end`. Never empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenRange {
    start: i64,
    end: i64,
}

impl TokenRange {
    /// The range `(start, end]`, or `None` when it would be empty (`start >= end`).
    pub fn new(start: i64, end: i64) -> Option<TokenRange> {
        (start < end).then_some(TokenRange { start, end })
    }

    /// The whole ring, `(MIN_TOKEN, MAX_TOKEN]`.
    pub fn full_ring() -> TokenRange {
        TokenRange { start: MIN_TOKEN, end: MAX_TOKEN }
    }

    /// Exclusive lower bound.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// Inclusive upper bound.
    pub fn end(&self) -> i64 {
        self.end
    }

    /// Number of tokens in the range (at most `u64::MAX`, for the full ring).
    pub fn size(&self) -> u64 {
        (i128::from(self.end) - i128::from(self.start)) as u64
    }

    /// Share of the ring this range covers, in `(0, 1]`.
    pub fn ring_fraction(&self) -> f64 {
        self.size() as f64 / RING_SIZE as f64
    }

    /// Whether `token` lies in `(start, end]`.
    pub fn contains(&self, token: i64) -> bool {
        self.start < token && token <= self.end
    }

    /// Cuts the range into `pieces` adjacent ranges of near-equal size, in ring order.
    /// Asking for more pieces than the range has tokens yields one piece per token.
    pub fn split(&self, pieces: u64) -> Vec<TokenRange> {
        let pieces = pieces.clamp(1, self.size());
        let size = u128::from(self.size());
        let start = i128::from(self.start);
        let bound = |i: u64| (start + (size * u128::from(i) / u128::from(pieces)) as i128) as i64;
        (0..pieces).map(|i| TokenRange { start: bound(i), end: bound(i + 1) }).collect()
    }
}

impl TokenRange {
    /// The tokens both ranges hold, if any.
    pub fn intersection(&self, other: &TokenRange) -> Option<TokenRange> {
        TokenRange::new(self.start.max(other.start), self.end.min(other.end))
    }

    /// Shard `index` of `count` (from 0): the ring cut into `count` ranges of near-equal
    /// size, so that workers that plan their splits differently (other core counts, other
    /// `--splits`) still read disjoint parts that together are the whole ring.
    pub fn shard(index: u64, count: u64) -> Option<TokenRange> {
        if index >= count {
            return None;
        }
        // `split` gives fewer pieces only for more than 2^64 - 1 of them.
        TokenRange::full_ring().split(count).get(usize::try_from(index).ok()?).copied()
    }
}

impl fmt::Display for TokenRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {}]", self.start, self.end)
    }
}

/// Index of a node in [`Topology::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub usize);

/// Where a node stands, as far as replica placement cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub datacenter: String,
    pub rack: String,
}

impl NodeInfo {
    pub fn new(datacenter: impl Into<String>, rack: impl Into<String>) -> NodeInfo {
        NodeInfo { datacenter: datacenter.into(), rack: rack.into() }
    }
}

/// A keyspace's replication strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replication {
    /// `SimpleStrategy`: the next `factor` distinct nodes clockwise.
    Simple { factor: usize },
    /// `NetworkTopologyStrategy`: per datacenter, the next distinct nodes clockwise,
    /// on distinct racks while there are racks left.
    NetworkTopology { factors: BTreeMap<String, usize> },
    /// `LocalStrategy` (system keyspaces): each node holds its own data. Only the node a
    /// query goes to can answer for it, so every node is listed as a replica.
    Local,
}

/// A token range and the nodes holding it, primary replica first (the order in which
/// Cassandra's own placement walk finds them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicatedRange {
    pub range: TokenRange,
    pub replicas: Vec<NodeId>,
}

/// What is wrong with a topology handed to [`Topology::new`] or a replication strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingError {
    /// No node owns any token: metadata was not read, or the cluster is empty.
    EmptyRing,
    /// Two nodes claim the same token: metadata is being updated; read it again.
    DuplicateToken { token: i64 },
    /// A token names a node that is not in the node list.
    UnknownNode { node: NodeId },
    /// The strategy places no replica at all (every factor is zero or names an
    /// unknown datacenter).
    NoReplicas,
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::EmptyRing => write!(f, "the token ring is empty: no node owns a token"),
            RingError::DuplicateToken { token } => {
                write!(f, "token {token} is owned by two nodes; the ring is changing, retry later")
            }
            RingError::UnknownNode { node } => write!(f, "a token names unknown node #{}", node.0),
            RingError::NoReplicas => {
                write!(f, "the replication strategy places no replicas on the known datacenters")
            }
        }
    }
}

impl std::error::Error for RingError {}

/// The nodes of a cluster and the ring of their tokens.
#[derive(Clone, Debug)]
pub struct Topology {
    nodes: Vec<NodeInfo>,
    /// Sorted by token; tokens are distinct.
    ring: Vec<(i64, NodeId)>,
}

impl Topology {
    /// A topology from the node list and every `(token, owner)` pair of the ring.
    pub fn new(
        nodes: Vec<NodeInfo>,
        tokens: impl IntoIterator<Item = (i64, NodeId)>,
    ) -> Result<Topology, RingError> {
        let mut ring: Vec<(i64, NodeId)> = tokens.into_iter().collect();
        if let Some(&(_, node)) = ring.iter().find(|(_, node)| node.0 >= nodes.len()) {
            return Err(RingError::UnknownNode { node });
        }
        ring.sort_unstable();
        if ring.is_empty() {
            return Err(RingError::EmptyRing);
        }
        if let Some(pair) = ring.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(RingError::DuplicateToken { token: pair[0].0 });
        }
        Ok(Topology { nodes, ring })
    }

    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// The `(token, owner)` pairs, sorted by token.
    pub fn ring(&self) -> &[(i64, NodeId)] {
        &self.ring
    }

    /// One range per vnode token, `(previous token, token]`, with its replicas; the range
    /// that wraps past the end of the ring comes out unwrapped in two pieces (see the crate
    /// doc). Sorted by start; together they cover `(MIN_TOKEN, MAX_TOKEN]` exactly.
    pub fn replicated_ranges(&self, replication: &Replication) -> Result<Vec<ReplicatedRange>, RingError> {
        let placement = Placement::new(self, replication);
        let mut ranges = Vec::with_capacity(self.ring.len() + 1);
        for (index, &(end, _)) in self.ring.iter().enumerate() {
            let previous = self.ring[(index + self.ring.len() - 1) % self.ring.len()].0;
            let replicas = placement.replicas(index);
            if replicas.is_empty() {
                return Err(RingError::NoReplicas);
            }
            for range in unwrap(previous, end) {
                ranges.push(ReplicatedRange { range, replicas: replicas.clone() });
            }
        }
        ranges.sort_by_key(|r| r.range);
        Ok(ranges)
    }
}

/// The Cassandra range `(start, end]`, which wraps when `start >= end` (with one token,
/// `start == end` is the whole ring), as at most two non-wrapping ranges.
fn unwrap(start: i64, end: i64) -> impl Iterator<Item = TokenRange> {
    let pieces = if start < end {
        [TokenRange::new(start, end), None]
    } else {
        [TokenRange::new(start, MAX_TOKEN), TokenRange::new(MIN_TOKEN, end)]
    };
    pieces.into_iter().flatten()
}

/// Replica placement for one strategy over one topology: Cassandra's walk, clockwise from
/// the token that ends a range, collecting the nodes the strategy accepts.
struct Placement<'a> {
    topology: &'a Topology,
    replication: &'a Replication,
    /// Per datacenter with a positive factor: (replicas to place, node count, rack count).
    datacenters: HashMap<&'a str, DatacenterQuota>,
}

#[derive(Clone, Copy)]
struct DatacenterQuota {
    /// Replicas to place: the factor, or fewer when the datacenter has fewer nodes.
    wanted: usize,
    /// How many replicas may share a rack with an earlier one: the factor minus the
    /// number of racks, when there are fewer racks than replicas.
    rack_repeats: isize,
}

impl<'a> Placement<'a> {
    fn new(topology: &'a Topology, replication: &'a Replication) -> Placement<'a> {
        let mut datacenters = HashMap::new();
        if let Replication::NetworkTopology { factors } = replication {
            // Like Cassandra, count only nodes that own tokens: a node without tokens holds no data.
            let owners: BTreeSet<NodeId> = topology.ring.iter().map(|(_, node)| *node).collect();
            for (dc, &factor) in factors {
                let in_dc = || owners.iter().map(|id| &topology.nodes[id.0]).filter(|n| &n.datacenter == dc);
                let node_count = in_dc().count();
                let rack_count = in_dc().map(|n| n.rack.as_str()).collect::<BTreeSet<_>>().len();
                if factor > 0 && node_count > 0 {
                    datacenters.insert(
                        dc.as_str(),
                        DatacenterQuota {
                            wanted: factor.min(node_count),
                            rack_repeats: factor as isize - rack_count as isize,
                        },
                    );
                }
            }
        }
        Placement { topology, replication, datacenters }
    }

    /// Replicas of the range ending at ring position `index`, primary first.
    fn replicas(&self, index: usize) -> Vec<NodeId> {
        let ring = &self.topology.ring;
        let walk = (0..ring.len()).map(|step| ring[(index + step) % ring.len()].1);
        match self.replication {
            Replication::Simple { factor } => {
                let mut replicas = Vec::with_capacity(*factor);
                for node in walk {
                    if replicas.len() == *factor {
                        break;
                    }
                    if !replicas.contains(&node) {
                        replicas.push(node);
                    }
                }
                replicas
            }
            Replication::NetworkTopology { .. } => self.network_topology_replicas(walk),
            Replication::Local => {
                let mut all: Vec<NodeId> = Vec::new();
                for node in walk {
                    if !all.contains(&node) {
                        all.push(node);
                    }
                }
                all
            }
        }
    }

    fn network_topology_replicas(&self, walk: impl Iterator<Item = NodeId>) -> Vec<NodeId> {
        let mut quotas = self.datacenters.clone();
        let mut unfilled = quotas.len();
        let mut replicas = Vec::new();
        let mut seen_racks: BTreeSet<(&str, &str)> = BTreeSet::new();
        for node in walk {
            if unfilled == 0 {
                break;
            }
            let info = &self.topology.nodes[node.0];
            let Some(quota) = quotas.get_mut(info.datacenter.as_str()) else {
                continue;
            };
            if quota.wanted == 0 || replicas.contains(&node) {
                continue;
            }
            if seen_racks.insert((info.datacenter.as_str(), info.rack.as_str())) {
                // First replica on this rack.
            } else if quota.rack_repeats > 0 {
                // Fewer racks than replicas: the nodes met first fill the difference.
                quota.rack_repeats -= 1;
            } else {
                continue;
            }
            replicas.push(node);
            quota.wanted -= 1;
            if quota.wanted == 0 {
                unfilled -= 1;
            }
        }
        replicas
    }
}

/// Cuts the ring into at least `target` splits for a parallel scan.
///
/// First, adjacent ranges with the same replicas (in the same order, so the same primary)
/// are merged: one query can read them from the same node. Then each merged range gets a
/// number of pieces proportional to its size, rounded up, so a range holding a tenth of
/// the ring gets a tenth of the splits; a range with fewer tokens than its share gets one
/// piece per token. The result is sorted by token and covers what `ranges` covers, exactly.
pub fn plan_splits(ranges: &[ReplicatedRange], target: usize) -> Vec<ReplicatedRange> {
    let merged = merge_adjacent(ranges);
    let total: u128 = merged.iter().map(|r| u128::from(r.range.size())).sum();
    let target = target.max(1) as u128;
    let mut splits = Vec::new();
    for group in merged {
        let size = u128::from(group.range.size());
        let pieces = (size * target).div_ceil(total) as u64;
        for range in group.range.split(pieces) {
            splits.push(ReplicatedRange { range, replicas: group.replicas.clone() });
        }
    }
    splits
}

fn merge_adjacent(ranges: &[ReplicatedRange]) -> Vec<ReplicatedRange> {
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| r.range);
    let mut merged: Vec<ReplicatedRange> = Vec::with_capacity(sorted.len());
    for next in sorted {
        match merged.last_mut() {
            Some(last) if last.range.end == next.range.start && last.replicas == next.replicas => {
                last.range.end = next.range.end;
            }
            _ => merged.push(next),
        }
    }
    merged
}

#[cfg(test)]
mod tests;

//! What cqlbulk needs of cluster metadata: the ring with each node's location, the
//! keyspace's replication, and the table's partition key, read from the driver's view and
//! handed to the pure ring module.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use cqlbulk_ring::{NodeId, NodeInfo, ReplicatedRange, Replication, Topology};
use scylla::client::session::Session;
use scylla::cluster::metadata::{ColumnKind, Strategy, Table};
use scylla::cluster::{ClusterState, Node};
use scylla::frame::response::result::{ColumnType, NativeType};

use crate::error::{Error, ErrorKind, Result};

/// `keyspace.table` with the names as stored in the schema (case-sensitive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName {
    pub keyspace: String,
    pub table: String,
}

impl TableName {
    pub fn new(keyspace: impl Into<String>, table: impl Into<String>) -> TableName {
        TableName { keyspace: keyspace.into(), table: table.into() }
    }

    /// The name as CQL text, each part quoted so that any case and character survive.
    pub fn cql(&self) -> String {
        format!("{}.{}", quote_identifier(&self.keyspace), quote_identifier(&self.table))
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.keyspace, self.table)
    }
}

/// `name` as a quoted CQL identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table's shape, as far as scanning it needs.
#[derive(Clone, Debug)]
pub struct TableInfo {
    pub name: TableName,
    /// Partition key columns in key order.
    pub partition_key: Vec<String>,
    /// Clustering columns in key order.
    pub clustering_key: Vec<String>,
    pub static_columns: Vec<String>,
}

/// A column's name and CQL type.
pub type ColumnDef = (String, ColumnType<'static>);

impl TableInfo {
    /// `token("pk1", "pk2")`, the expression token-range restrictions apply to.
    pub fn token_expression(&self) -> String {
        let columns: Vec<String> = self.partition_key.iter().map(|c| quote_identifier(c)).collect();
        format!("token({})", columns.join(", "))
    }
}

/// The cluster's ring and the table to scan, resolved once at the start of a run.
pub struct ClusterView {
    pub cluster_name: String,
    pub table: TableInfo,
    pub topology: Topology,
    pub replication: Replication,
    /// Driver node handles, indexed by [`NodeId`].
    pub nodes: Vec<Arc<Node>>,
    /// Every column of the table in `SELECT *` order: partition key, clustering key, static
    /// columns, regular columns.
    pub columns: Vec<ColumnDef>,
    /// Columns that have a write time and a TTL: neither key nor counter columns.
    pub regular_columns: Vec<String>,
}

impl ClusterView {
    /// Reads the driver's current metadata for `name`.
    pub fn read(session: &Session, name: &TableName) -> Result<ClusterView> {
        let state = session.get_cluster_state();
        let table = table_info(&state, name)?;
        let keyspace = state.get_keyspace(&name.keyspace).expect("checked by table_info");
        let replication = replication(&keyspace.strategy).map_err(|e| e.context(&name.keyspace))?;
        let (topology, nodes) = topology(&state)?;
        let (columns, regular_columns) = columns(&keyspace.tables[&name.table]);
        Ok(ClusterView {
            cluster_name: state.cluster_name().to_string(),
            table,
            topology,
            replication,
            nodes,
            columns,
            regular_columns,
        })
    }

    /// Vnode ranges with their replicas, unwrapped at the minimum token.
    pub fn replicated_ranges(&self) -> Result<Vec<ReplicatedRange>> {
        self.topology
            .replicated_ranges(&self.replication)
            .map_err(|e| Error::new(ErrorKind::Metadata, e.to_string()).context(&self.table.name.keyspace))
    }

    pub fn node(&self, id: NodeId) -> &Arc<Node> {
        &self.nodes[id.0]
    }
}

fn table_info(state: &ClusterState, name: &TableName) -> Result<TableInfo> {
    let Some(keyspace) = state.get_keyspace(&name.keyspace) else {
        let known: Vec<&str> = state.keyspaces_iter().map(|(k, _)| k).collect();
        return Err(not_found("keyspace", &name.keyspace, &name.keyspace, &known));
    };
    let Some(table) = keyspace.tables.get(&name.table) else {
        if keyspace.views.contains_key(&name.table) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{name} is a materialized view; give its base table instead"),
            ));
        }
        let known: Vec<&str> = keyspace.tables.keys().map(String::as_str).collect();
        return Err(not_found("table", &name.table, &name.to_string(), &known));
    };
    if table.partition_key.is_empty() {
        return Err(Error::new(
            ErrorKind::Metadata,
            format!("{name}: the schema lists no partition key column, so it cannot be read by token range"),
        ));
    }
    let static_columns =
        table.columns.iter().filter(|(_, c)| c.kind == ColumnKind::Static).map(|(n, _)| n.clone()).collect();
    Ok(TableInfo {
        name: name.clone(),
        partition_key: table.partition_key.clone(),
        clustering_key: table.clustering_key.clone(),
        static_columns,
    })
}

fn columns(table: &Table) -> (Vec<ColumnDef>, Vec<String>) {
    let mut rest: Vec<(&String, &scylla::cluster::metadata::Column)> = table
        .columns
        .iter()
        .filter(|(name, _)| !table.partition_key.contains(name) && !table.clustering_key.contains(name))
        .collect();
    // As `SELECT *` orders them: static columns, then regular ones, each by name.
    rest.sort_by_key(|(name, column)| (column.kind != ColumnKind::Static, *name));
    let keys =
        table.partition_key.iter().chain(&table.clustering_key).map(|name| (name, &table.columns[name]));
    let columns: Vec<ColumnDef> =
        keys.chain(rest.iter().copied()).map(|(name, c)| (name.clone(), c.typ.clone())).collect();
    let regular = rest
        .iter()
        .filter(|(_, c)| !matches!(c.typ, ColumnType::Native(NativeType::Counter)))
        .map(|(name, _)| (*name).clone())
        .collect();
    (columns, regular)
}

fn not_found(what: &str, wanted: &str, full_name: &str, known: &[&str]) -> Error {
    let hint = match known.iter().find(|k| k.eq_ignore_ascii_case(wanted)) {
        // Names are case-sensitive; the unquoted CQL habit lower-cases them.
        Some(close) => format!("; names are case-sensitive, did you mean '{close}'?"),
        None => String::new(),
    };
    Error::new(ErrorKind::NotFound, format!("{what} {full_name} does not exist{hint}"))
}

fn replication(strategy: &Strategy) -> Result<Replication> {
    Ok(match strategy {
        Strategy::SimpleStrategy { replication_factor } => {
            Replication::Simple { factor: *replication_factor }
        }
        Strategy::NetworkTopologyStrategy { datacenter_repfactors } => Replication::NetworkTopology {
            factors: datacenter_repfactors.iter().map(|(dc, f)| (dc.clone(), *f)).collect(),
        },
        Strategy::LocalStrategy => Replication::Local,
        Strategy::Other { name, .. } if name.ends_with("EverywhereStrategy") => Replication::Local,
        other => {
            return Err(Error::new(
                ErrorKind::Metadata,
                format!("unsupported replication strategy {other:?}"),
            ));
        }
    })
}

fn topology(state: &ClusterState) -> Result<(Topology, Vec<Arc<Node>>)> {
    let mut nodes: Vec<Arc<Node>> = Vec::new();
    // Nodes are told apart by host id, which a node keeps across address changes.
    let mut index = HashMap::new();
    let mut tokens = Vec::new();
    for (token, node) in state.replica_locator().ring().iter() {
        let id = *index.entry(node.host_id).or_insert_with(|| {
            nodes.push(node.clone());
            NodeId(nodes.len() - 1)
        });
        tokens.push((token.value(), id));
    }
    let infos = nodes
        .iter()
        .map(|n| NodeInfo::new(n.datacenter.clone().unwrap_or_default(), n.rack.clone().unwrap_or_default()))
        .collect();
    let topology = Topology::new(infos, tokens)
        .map_err(|e| Error::new(ErrorKind::Metadata, format!("cluster metadata: {e}")))?;
    Ok((topology, nodes))
}

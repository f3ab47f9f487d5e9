//! What cqlbulk needs of cluster metadata: the ring with each node's location (the
//! driver's view), the keyspace's replication and the table's columns (`schema`), handed
//! to the pure ring module.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use cqlbulk_ring::{NodeId, NodeInfo, ReplicatedRange, Replication, Topology};
use scylla::client::session::Session;
use scylla::cluster::{ClusterState, Node};
use scylla::frame::response::result::{ColumnType, NativeType};

use crate::error::{Error, ErrorKind, Result};
use crate::schema::{ColumnKind, SchemaColumn, TableSchema};

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
    /// Reads the ring from the driver and `name`'s schema from `system_schema`.
    pub async fn read(session: &Session, name: &TableName) -> Result<ClusterView> {
        let (replication, schema) = crate::schema::read_table(session, &name.keyspace, &name.table).await?;
        let table = table_info(name, &schema)?;
        let state = session.get_cluster_state();
        let (topology, nodes) = topology(&state)?;
        let (columns, regular_columns) = columns(&schema);
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
            .map_err(|e| Error::new(ErrorKind::Schema, e.to_string()).context(&self.table.name.keyspace))
    }

    pub fn node(&self, id: NodeId) -> &Arc<Node> {
        &self.nodes[id.0]
    }
}

fn table_info(name: &TableName, schema: &TableSchema) -> Result<TableInfo> {
    if schema.partition_key.is_empty() {
        return Err(Error::new(
            ErrorKind::Schema,
            format!("{name}: the schema lists no partition key column, so it cannot be read by token range"),
        ));
    }
    let static_columns =
        schema.columns.iter().filter(|c| c.kind == ColumnKind::Static).map(|c| c.name.clone()).collect();
    Ok(TableInfo {
        name: name.clone(),
        partition_key: schema.partition_key.clone(),
        clustering_key: schema.clustering_key.clone(),
        static_columns,
    })
}

fn columns(schema: &TableSchema) -> (Vec<ColumnDef>, Vec<String>) {
    let by_name: HashMap<&str, &SchemaColumn> = schema.columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut rest: Vec<&SchemaColumn> = schema
        .columns
        .iter()
        .filter(|c| matches!(c.kind, ColumnKind::Static | ColumnKind::Regular))
        .collect();
    // As `SELECT *` orders them: static columns, then regular ones, each by name.
    rest.sort_by_key(|c| (c.kind != ColumnKind::Static, &c.name));
    let keys = schema.partition_key.iter().chain(&schema.clustering_key).map(|name| by_name[name.as_str()]);
    let columns: Vec<ColumnDef> =
        keys.chain(rest.iter().copied()).map(|c| (c.name.clone(), c.typ.clone())).collect();
    let regular = rest
        .iter()
        .filter(|c| !matches!(c.typ, ColumnType::Native(NativeType::Counter)))
        .map(|c| c.name.clone())
        .collect();
    (columns, regular)
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
        .map_err(|e| Error::new(ErrorKind::Schema, format!("cluster metadata: {e}")))?;
    Ok((topology, nodes))
}

//! cqlbulk moves whole Apache Cassandra tables in and out: it splits the token ring into
//! ranges ([`cqlbulk_ring`]), reads them in parallel from their replicas ([`scan`]), and
//! hands the rows to an operation such as [`count`].
//!
//! The `cqlbulk` binary is glue over this library: it turns command-line flags into the
//! configs here ([`connect::ConnectionConfig`], [`scan::ScanConfig`]) and prints reports.

pub mod cluster;
pub mod connect;
pub mod count;
pub mod decode;
pub mod encode;
pub mod error;
pub mod lake;
pub mod load;
pub mod operation;
pub mod parse;
pub mod progress;
pub mod scan;
pub mod schema;
pub mod sink;
pub mod text;
pub mod types;
pub mod unload;
pub mod verify;

pub use error::{Error, ErrorKind, Result};

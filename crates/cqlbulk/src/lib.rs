//! cqlbulk moves whole Apache Cassandra tables in and out.
//!
//! Every job is one pipeline: **source → Arrow `RecordBatch` stream → sink**.
//!
//! - Sources: a token-range scan of a table ([`scan`]: the ring split by
//!   [`cqlbulk_ring`], each split read from a replica), files and Iceberg tables
//!   ([`source`]: CSV, JSON, Parquet; any snapshot of an Iceberg table).
//! - Sinks: files or stdout ([`sink`]), an Iceberg table ([`sink::iceberg`]: one snapshot
//!   per run, committed exactly once), a Cassandra table ([`sink::cassandra`]).
//! - Codecs between them ([`codec`]): CQL wire values → Arrow, Arrow → CQL, text forms
//!   both ways.
//!
//! The jobs: [`count`] (exact, token-aware), [`unload`] (table → files or Iceberg),
//! [`load`] (files or Iceberg → table) and [`verify`] (table = dataset?). A run that writes
//! keeps an operation directory ([`operation`]) so that a resumed run finishes it exactly
//! once. Each job is one call, `run(&config, &observer, &cancel)`, returning a typed
//! summary ([`unload::UnloadSummary`], [`load::LoadSummary`], …): progress goes to a
//! [`progress::Observer`] and a [`CancellationToken`] stops it. The command line ([`cmd`],
//! which the `cqlbulk` binary and the Python package call) is glue: flags → a job's config →
//! the job → a printed (or returned) summary.
//!
//! Unloading a table to Parquet files from Rust:
//!
//! ```no_run
//! use cqlbulk::cluster::TableName;
//! use cqlbulk::connect::ConnectionConfig;
//! use cqlbulk::sink::format::{Format, ParquetCompression, ParquetOptions};
//! use cqlbulk::sink::{Compression, Place};
//! use cqlbulk::unload::{self, Output, Status, UnloadConfig};
//!
//! # async fn example() -> cqlbulk::Result<()> {
//! let config = UnloadConfig {
//!     connection: ConnectionConfig { hosts: vec!["10.0.0.5".to_string()], ..Default::default() },
//!     table: TableName::new("shop", "orders"),
//!     scan: Default::default(),
//!     selection: Default::default(),
//!     output: Output::Directory {
//!         place: Place::Directory("/data/orders".into()),
//!         format: Format::Parquet(ParquetOptions { codec: ParquetCompression::Zstd, row_group_rows: 131_072 }),
//!         compression: Compression::None,
//!         max_rows_per_file: None,
//!         max_bytes_per_file: None,
//!     },
//!     log_dir: "cqlbulk-logs".into(),
//!     resume: None,
//!     shard: None,
//! };
//! // `()` ignores progress; a CancellationToken stops the run (resume it with `resume`).
//! let summary = unload::run(&config, &(), &Default::default()).await?;
//! assert_eq!(summary.status, Status::Complete);
//! println!("{} rows in {} files", summary.rows, summary.files);
//! # Ok(())
//! # }
//! ```

// `cqlbulk::…` paths name this crate from inside too, so the command line ([`cmd`]) reads
// the same as any other user of the library.
extern crate self as cqlbulk;

pub mod catalog;
pub mod cluster;
pub mod cmd;
pub mod codec;
pub mod compress;
pub mod connect;
pub mod count;
pub mod error;
pub mod keyspace;
pub mod load;
pub mod logs;
pub mod metrics;
pub mod operation;
pub mod progress;
pub mod retry;
pub mod scan;
pub mod schema;
pub mod sink;
pub mod source;
pub mod storage;
pub mod throttle;
pub mod unload;
pub mod verify;

pub use error::{Error, ErrorKind, Result};
pub use tokio_util::sync::CancellationToken;

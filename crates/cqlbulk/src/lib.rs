//! cqlbulk moves whole Apache Cassandra tables in and out.
//!
//! Every job is one pipeline: **source → Arrow `RecordBatch` stream → sink**.
//!
//! - Sources: a token-range scan of a table ([`scan`]: the ring split by
//!   [`cqlbulk_ring`], each split read from a replica), files ([`load::source`]: CSV, JSON,
//!   Parquet), an Iceberg table ([`lake::scan`]).
//! - Sinks: files or stdout ([`sink`]), an Iceberg table ([`sink::iceberg`]: one snapshot
//!   per run, committed exactly once), a Cassandra table ([`load::write`]).
//! - Codecs between them: CQL wire values → Arrow ([`decode`]), Arrow → CQL ([`encode`]),
//!   text forms both ways ([`text`], [`parse`]).
//!
//! The jobs: [`count`] (exact, token-aware), [`unload`] (table → files or Iceberg),
//! [`load`] (files or Iceberg → table) and [`verify`] (table = dataset?). A run that writes
//! keeps an operation directory ([`operation`]) so that a resumed run finishes it exactly
//! once. The `cqlbulk` binary is glue: flags → a job's config → the job → a printed summary.
//!
//! Unloading a table to Parquet files from Rust:
//!
//! ```no_run
//! use cqlbulk::cluster::TableName;
//! use cqlbulk::connect::ConnectionConfig;
//! use cqlbulk::sink::format::{Format, ParquetCompression, ParquetOptions};
//! use cqlbulk::sink::Compression;
//! use cqlbulk::unload::{self, Output, Status, UnloadConfig};
//!
//! # async fn example() -> cqlbulk::Result<()> {
//! let config = UnloadConfig {
//!     connection: ConnectionConfig { hosts: vec!["10.0.0.5".to_string()], ..Default::default() },
//!     table: TableName::new("shop", "orders"),
//!     scan: Default::default(),
//!     selection: Default::default(),
//!     output: Output::Directory {
//!         dir: "/data/orders".into(),
//!         format: Format::Parquet(ParquetOptions { codec: ParquetCompression::Zstd, row_group_rows: 131_072 }),
//!         compression: Compression::None,
//!         max_rows_per_file: None,
//!         max_bytes_per_file: None,
//!     },
//!     log_dir: "cqlbulk-logs".into(),
//!     resume: None,
//! };
//! // `()` ignores progress; a CancellationToken stops the run (resume it with `resume`).
//! let summary = unload::run(&config, &(), &Default::default()).await?;
//! assert_eq!(summary.status, Status::Complete);
//! println!("{} rows in {} files", summary.rows, summary.files);
//! # Ok(())
//! # }
//! ```

pub mod cluster;
pub mod compress;
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
pub mod retry;
pub mod scan;
pub mod schema;
pub mod sink;
pub mod text;
pub mod types;
pub mod unload;
pub mod verify;

pub use error::{Error, ErrorKind, Result};
pub use tokio_util::sync::CancellationToken;

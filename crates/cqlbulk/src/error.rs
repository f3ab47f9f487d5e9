//! The library's one error type: what went wrong (a kind), where (context such as
//! `ks.t: token range (a, b]`), and whether trying again could help.

use std::fmt;

/// What kind of failure, for exit codes and for deciding what to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No contact point answered, or the connection broke.
    Connect,
    /// Wrong credentials or missing permissions.
    Auth,
    /// The keyspace or table does not exist.
    NotFound,
    /// The user asked for something impossible (bad option value, bad table shape).
    InvalidInput,
    /// Cluster metadata is missing or inconsistent.
    Metadata,
    /// A query failed on the server or timed out.
    Query,
    /// Some token ranges could not be read after all retries.
    IncompleteScan,
    /// The run was stopped by the user.
    Interrupted,
    /// An Iceberg catalog or its files refused or failed a request.
    Catalog,
}

/// A failure with its context, e.g. `ks.t: token range (-5, 10]: read timeout on 127.0.0.2`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    retryable: bool,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), retryable: false }
    }

    /// Marks the error as one that may go away when the request is sent again.
    pub fn retryable(mut self) -> Error {
        self.retryable = true;
        self
    }

    /// Prefixes the message with where the error happened.
    pub fn context(mut self, context: impl fmt::Display) -> Error {
        self.message = format!("{context}: {}", self.message);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

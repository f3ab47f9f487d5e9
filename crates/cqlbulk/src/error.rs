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
    /// The keyspace, table or a column does not exist, or the cluster's schema or ring
    /// metadata is missing, inconsistent, or of a kind cqlbulk cannot use.
    Schema,
    /// The user asked for something impossible: a bad option value, an input file that does
    /// not fit the table, a resume of a different run.
    BadInput,
    /// A local file or directory could not be read or written (output files, the
    /// operation directory).
    Io,
    /// A query failed on the server or timed out.
    Query,
    /// Some token ranges could not be read after all retries.
    IncompleteScan,
    /// The run was stopped by the user.
    Interrupted,
    /// An Iceberg catalog or its files refused or failed a request.
    Catalog,
    /// Another writer changed the same thing first (an Iceberg commit that kept conflicting).
    Conflict,
}

impl ErrorKind {
    /// The process exit code of a run that stopped with this kind of error (DSBulk's
    /// meanings): 1 the run finished but some token ranges failed, 4 interrupted, 3 any
    /// other fatal error. (2, too many bad records, is a load's outcome, not an error kind.)
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::IncompleteScan => 1,
            ErrorKind::Interrupted => 4,
            _ => 3,
        }
    }
}

/// A failure with its context, e.g. `ks.t: token range (-5, 10]: read timeout on 127.0.0.2`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    retryable: bool,
    /// The lower-level error this one explains, if any (`std::error::Error::source`).
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), retryable: false, source: None }
    }

    /// A local file error: `what` (e.g. the path) and the I/O error, kept as the cause.
    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("{what}: {err}")).with_source(err)
    }

    /// Keeps `source` as the cause, for callers that walk the chain.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(Box::new(source));
        self
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

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `work`, or an `Interrupted` error as soon as `cancel` is cancelled: for a job's steps
/// before it has anything to record (connecting, planning, opening the output).
pub async fn unless_cancelled<T>(
    cancel: &tokio_util::sync::CancellationToken,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        result = work => result,
        () = cancel.cancelled() => Err(Error::new(ErrorKind::Interrupted, "interrupted")),
    }
}

//! Opening a driver session from user-facing connection settings.

use std::fmt;
use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::DbError;
use scylla::errors::{
    ConnectionError, ConnectionPoolError, ExecutionError, NewSessionError, RequestAttemptError,
};
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::Consistency;

use crate::error::{Error, ErrorKind, Result};

/// How to reach the cluster and how every request is sent.
#[derive(Clone)]
pub struct ConnectionConfig {
    /// Contact points, `host` or `host:port`; the rest of the cluster is discovered.
    pub hosts: Vec<String>,
    /// CQL port for contact points given without one.
    pub port: u16,
    /// Local datacenter: the driver prefers its nodes, and scans read from its replicas.
    pub datacenter: Option<String>,
    pub username: Option<String>,
    /// Kept out of `Debug` output, logs and summaries.
    pub password: Option<String>,
    pub consistency: Consistency,
    /// Rows per page of a scan (Cassandra's default is 5000).
    pub page_size: i32,
    /// How long one request may take before it counts as failed and is retried.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("hosts", &self.hosts)
            .field("port", &self.port)
            .field("datacenter", &self.datacenter)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("consistency", &self.consistency)
            .field("page_size", &self.page_size)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            hosts: vec!["127.0.0.1".to_string()],
            port: 9042,
            datacenter: None,
            username: None,
            password: None,
            consistency: Consistency::LocalOne,
            page_size: 5000,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl ConnectionConfig {
    /// Contact points with the default port added where none is given.
    fn contact_points(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|host| {
                let has_port = match host.rsplit_once(':') {
                    // A bare IPv6 address has colons but no port; `[::1]:9042` has both.
                    Some((addr, port)) => {
                        port.parse::<u16>().is_ok() && (!addr.contains(':') || addr.ends_with(']'))
                    }
                    None => false,
                };
                if has_port { host.clone() } else { format!("{host}:{}", self.port) }
            })
            .collect()
    }

    /// Opens a session and reads the cluster's metadata.
    pub async fn connect(&self) -> Result<Session> {
        let contact_points = self.contact_points();
        let mut policy = DefaultPolicy::builder().token_aware(true);
        if let Some(dc) = &self.datacenter {
            policy = policy.prefer_datacenter(dc.clone()).permit_dc_failover(true);
        }
        let profile = ExecutionProfile::builder()
            .consistency(self.consistency)
            .request_timeout(Some(self.request_timeout))
            .load_balancing_policy(policy.build())
            .build();
        let mut builder = SessionBuilder::new()
            .known_nodes(&contact_points)
            .connection_timeout(self.connect_timeout)
            .default_execution_profile_handle(profile.into_handle());
        if let Some(user) = &self.username {
            builder = builder.user(user.clone(), self.password.clone().unwrap_or_default());
        }
        builder.build().await.map_err(|err| session_error(&contact_points.join(", "), err))
    }
}

fn session_error(hosts: &str, err: NewSessionError) -> Error {
    let last_connection_error = match &err {
        NewSessionError::MetadataError(scylla::errors::MetadataError::ConnectionPoolError(
            ConnectionPoolError::Broken { last_connection_error },
        )) => Some(last_connection_error),
        _ => None,
    };
    if let Some(reason) = last_connection_error.and_then(auth_failure) {
        return Error::new(
            ErrorKind::Auth,
            format!("authentication failed at {hosts}: {reason}; check --username and CQLBULK_PASSWORD"),
        );
    }
    let detail = match &err {
        NewSessionError::FailedToResolveAnyHostname(names) => {
            format!("cannot resolve any of {}", names.join(", "))
        }
        other => match last_connection_error {
            Some(last) => one_line(last),
            None => one_line(other),
        },
    };
    Error::new(
        ErrorKind::Connect,
        format!("cannot connect to {hosts}: {detail}; check --host, --port and that Cassandra is running"),
    )
}

/// The server's reason when a connection was refused for its credentials.
fn auth_failure(err: &ConnectionError) -> Option<String> {
    if let ConnectionError::ConnectionSetupRequestError(setup) = err {
        if let scylla::errors::ConnectionSetupRequestErrorKind::DbError(DbError::AuthenticationError, msg) =
            setup.get_error()
        {
            return Some(msg.clone());
        }
    }
    None
}

/// The error's message and its causes on one line.
pub fn one_line(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Turns a failed request into an [`Error`], deciding whether sending it again (to the same
/// or another replica) could succeed.
pub fn request_error(err: ExecutionError) -> Error {
    let retryable = match &err {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => !matches!(
            db,
            DbError::SyntaxError
                | DbError::Invalid
                | DbError::AlreadyExists { .. }
                | DbError::AuthenticationError
                | DbError::Unauthorized
                | DbError::ConfigError
                | DbError::FunctionFailure { .. }
                | DbError::ProtocolError
        ),
        ExecutionError::LastAttemptError(_)
        | ExecutionError::ConnectionPoolError(_)
        | ExecutionError::RequestTimeout(_)
        | ExecutionError::EmptyPlan => true,
        _ => false,
    };
    let kind = match &err {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            DbError::Unauthorized | DbError::AuthenticationError,
            _,
        )) => ErrorKind::Auth,
        _ => ErrorKind::Query,
    };
    let error = Error::new(kind, one_line(&err));
    if retryable { error.retryable() } else { error }
}

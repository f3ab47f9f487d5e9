//! Opening a driver session from user-facing connection settings.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
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
    /// Client-to-node encryption; `None`: plain connections.
    pub tls: Option<TlsConfig>,
}

/// Client-to-node TLS: which certificate authorities sign the nodes' certificates, and the
/// client's own certificate for nodes that require one.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// PEM file with the CA certificate(s).
    pub ca: PathBuf,
    /// PEM files of the client certificate chain and its private key.
    pub client: Option<(PathBuf, PathBuf)>,
    /// Check that a node's certificate names the address it was reached at (the driver
    /// connects by IP, so the certificate needs an IP subject alternative name). Off, the
    /// certificate must still be signed by the CA.
    pub verify_hostname: bool,
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
            .field("tls", &self.tls)
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
            tls: None,
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

    /// Opens a session to work on `keyspace`: the driver reads the ring and that keyspace's
    /// replication (for routing), not the schema, which `schema` reads for the one keyspace.
    pub async fn connect(&self, keyspace: &str) -> Result<Session> {
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
            .fetch_full_schema_metadata(false)
            .keyspaces_to_fetch([keyspace])
            .default_execution_profile_handle(profile.into_handle());
        if let Some(user) = &self.username {
            builder = builder.user(user.clone(), self.password.clone().unwrap_or_default());
        }
        if let Some(tls) = &self.tls {
            builder = builder.tls_context(Some(tls.client_config()?));
        }
        builder.build().await.map_err(|err| session_error(&contact_points.join(", "), self.tls.as_ref(), err))
    }
}

impl TlsConfig {
    /// The rustls configuration: the CA from `ca`, the client certificate if given.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let bad = |flag: &str, path: &PathBuf, why: String| {
            Error::new(ErrorKind::BadInput, format!("{flag} {}: {why}", path.display()))
        };
        let certificates = |flag: &str, path: &PathBuf| -> Result<Vec<CertificateDer<'static>>> {
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect())
                .map_err(|e| bad(flag, path, pem_error(e)))?;
            if certificates.is_empty() {
                return Err(bad(flag, path, "no PEM certificate (BEGIN CERTIFICATE) in it".into()));
            }
            Ok(certificates)
        };
        let mut roots = rustls::RootCertStore::empty();
        for certificate in certificates("--tls-ca", &self.ca)? {
            roots.add(certificate).map_err(|e| bad("--tls-ca", &self.ca, e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(ErrorKind::BadInput, format!("TLS: {e}")))?;
        let builder = if self.verify_hostname {
            builder.with_root_certificates(roots)
        } else {
            let verifier =
                rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| bad("--tls-ca", &self.ca, e.to_string()))?;
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyAddress(verifier)))
        };
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = certificates("--tls-cert", cert)?;
                let key =
                    PrivateKeyDer::from_pem_file(key).map_err(|e| bad("--tls-key", key, pem_error(e)))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| Error::new(ErrorKind::BadInput, format!("--tls-cert/--tls-key: {e}")))?
            }
        };
        Ok(Arc::new(config))
    }
}

fn pem_error(err: rustls::pki_types::pem::Error) -> String {
    match err {
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of the right kind in it".into(),
        other => format!("not valid PEM: {other:?}"),
    }
}

/// `--tls-no-hostname-check`: the node's certificate chain is verified against the CA as
/// usual; only a certificate that does not name the node's address is let through.
#[derive(Debug)]
struct AnyAddress(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for AnyAddress {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        // The chain is checked before the name, so a name error means a trusted chain.
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. })) => {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn session_error(hosts: &str, tls: Option<&TlsConfig>, err: NewSessionError) -> Error {
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
    let closed = detail.contains("eof") || detail.contains("reset") || detail.contains("broken");
    let hint = if detail.contains("CertificateRequired") {
        "the nodes require a client certificate: give --tls-cert and --tls-key"
    } else if closed && tls.is_some_and(|tls| tls.client.is_none()) {
        // With TLS 1.3 the client may finish its handshake before the node's alert arrives,
        // and then only sees the node close the connection.
        "the node closed the connection after the TLS handshake: if the nodes require a client certificate, give --tls-cert and --tls-key"
    } else if detail.contains("UnknownIssuer") {
        "the node's certificate is not signed by a CA in --tls-ca: give the CA that signed the nodes' certificates"
    } else if detail.contains("NotValidForName") {
        "the node's certificate does not name the address it was reached at: fix the certificate's subject alternative names, or accept that with --tls-no-hostname-check"
    } else if detail.contains("certificate") || detail.contains("alert") {
        // The handshake failed: the node's certificate, or ours.
        "check --tls-ca (the CA that signed the nodes' certificates), --tls-cert/--tls-key if the nodes require a client certificate, and that the certificates name the nodes' addresses"
    } else if tls.is_none() && closed {
        "check --host, --port, that Cassandra is running, and whether its port requires TLS (--tls)"
    } else if tls.is_some() && (detail.contains("InvalidContentType") || detail.contains("corrupt message")) {
        "the node answered without TLS: drop --tls, or check --port"
    } else {
        "check --host, --port and that Cassandra is running"
    };
    Error::new(ErrorKind::Connect, format!("cannot connect to {hosts}: {detail}; {hint}"))
}

/// The server's reason when a connection was refused for its credentials.
fn auth_failure(err: &ConnectionError) -> Option<String> {
    if let ConnectionError::ConnectionSetupRequestError(setup) = err
        && let scylla::errors::ConnectionSetupRequestErrorKind::DbError(DbError::AuthenticationError, msg) =
            setup.get_error()
    {
        return Some(msg.clone());
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
    // Some driver messages span lines; an error is one line.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
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

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("request failed: {0}")]
    struct Outer(#[source] std::io::Error);

    /// What: a driver message that spans lines, with a cause, becomes one line that keeps
    /// every word. Why: errors are one line (scripts grep them, logs keep them whole); the
    /// driver's "connection broken" message has embedded newlines.
    #[test]
    fn errors_are_one_line() {
        let cause = std::io::Error::other(
            "Connection broken.\n        It implies that the other half\n was dropped.",
        );
        let text = one_line(&Outer(cause));
        assert_eq!(text, "request failed: Connection broken. It implies that the other half was dropped.");
    }
}

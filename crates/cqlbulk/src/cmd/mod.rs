//! The command line: subcommands, one file each, and the flags they share. [`main`] is the
//! `cqlbulk` program; [`summary`] runs the same jobs from the same flags without printing,
//! for the Python package.
//!
//! Flags are parsed and validated here; `job()` of each subcommand turns them into the
//! library's typed configs and runs the library's job. Nothing touches the network until then.

pub mod config;
mod count;
mod iceberg;
mod load;
mod unload;
mod verify;

use std::ffi::OsString;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use cqlbulk::connect::{ConnectionConfig, TlsConfig};
use cqlbulk::scan::ScanConfig;
use cqlbulk::{CancellationToken, Error, ErrorKind};
use scylla::statement::Consistency;

/// Everything went as asked.
pub const EXIT_OK: u8 = 0;
/// The run finished, but some token ranges or records failed; the summary says which
/// (`verify`: the table and the dataset differ).
pub const EXIT_COMPLETED_WITH_ERRORS: u8 = 1;
/// `load` stopped because more records failed than --max-errors allows.
pub const EXIT_TOO_MANY_ERRORS: u8 = 2;
/// The run could not start or had to stop (bad command line, no connection, unknown
/// table, bad input). Errors get their code from their kind (`ErrorKind::exit_code`:
/// also 1 for failed token ranges and 4 for Ctrl-C or SIGTERM).
pub const EXIT_FATAL: u8 = 3;

/// What an unload or a load did: one table's summary, or a whole keyspace's.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum Outcome<S> {
    Table(S),
    Keyspace(cqlbulk::keyspace::KeyspaceSummary),
}

#[derive(Parser)]
#[command(
    name = "cqlbulk",
    version,
    about = "Move whole Apache Cassandra tables in and out, fast and exactly once",
    long_about = "Move whole Apache Cassandra tables in and out, fast and exactly once.\n\n\
        cqlbulk splits the token ring into ranges, reads them in parallel from their \
        replicas with prepared token-range queries, and never misses or repeats a row.\n\n\
        Exit codes (DSBulk's): 0 success; 1 finished with errors (some ranges or records \
        failed; verify: differences found); 2 load stopped at --max-errors; 3 fatal error \
        (including a bad command line); 4 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More log output on stderr: -v for info, -vv for debug. CQLBULK_LOG (e.g.
    /// `cqlbulk=debug`) overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Options from a TOML file (also CQLBULK_CONFIG): a flag beats CQLBULK_<OPTION> (e.g.
    /// CQLBULK_MAX_ROWS_PER_SECOND), which beats the file, which beats the default. See
    /// `cqlbulk config example`.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Lines on stderr and in the operation log: `text`, or `json` (one object per line
    /// with timestamp, level and message, for log shippers).
    #[arg(long, global = true, value_enum, default_value = "text", value_name = "FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    Count(count::Args),
    // Boxed: parsed once, and the largest by far.
    Unload(Box<unload::Args>),
    Load(load::Args),
    Verify(verify::Args),
    Iceberg(iceberg::Args),
    Config(ConfigArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

/// Print a shell completion script: `cqlbulk completions bash > /etc/bash_completion.d/cqlbulk`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Write the man pages: cqlbulk.1 and one per command (cqlbulk-unload.1, …).
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Directory to write them into (e.g. /usr/local/share/man/man1).
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

/// Configuration files: `cqlbulk config example > cqlbulk.toml`.
#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    #[command(subcommand)]
    what: ConfigCommand,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print a config file with every option of every command, commented out at its
    /// default.
    Example,
}

/// The `cqlbulk` program on `argv` (its name first): the process exit code.
pub fn main(argv: Vec<OsString>) -> u8 {
    // A command line clap cannot parse is a fatal error (3), so that 2 can keep DSBulk's
    // meaning (too many errors); help and version are not errors.
    let cli = match config::parse(argv) {
        Ok(cli) => cli,
        Err(config::ParseError::Clap(err)) => {
            let _ = err.print();
            return if err.use_stderr() { EXIT_FATAL } else { EXIT_OK };
        }
        Err(config::ParseError::Config(message)) => {
            eprintln!("cqlbulk: error: {message}");
            return EXIT_FATAL;
        }
    };
    let json = cli.log_format == LogFormat::Json;
    cqlbulk::logs::set_json(json);
    init_logging(cli.verbose, json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cqlbulk: cannot start the async runtime: {err}");
            return EXIT_FATAL;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`cqlbulk count … | head`) is the reader's choice, not a failure.
            if is_broken_pipe(&err) {
                return EXIT_OK;
            }
            cqlbulk::logs::say("ERROR", &format!("cqlbulk: error: {err:#}"));
            exit_code(&err)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(verbose: u8, json: bool) {
    let default = match verbose {
        // The driver logs every failed connection attempt; what matters reaches the user as
        // cqlbulk's own error.
        0 => "warn,scylla=off",
        1 => "info,scylla=warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CQLBULK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    // A second program run in one process (the Python package's command) keeps the first's.
    let _ = if json { logs.json().flatten_event(true).try_init() } else { logs.try_init() };
}

/// A command line that failed: what the program would print and exit with.
#[derive(Debug)]
pub struct Failure {
    /// The one-line message.
    pub message: String,
    /// The error's kind in snake case (`bad_input`, `connection`, `incomplete_scan`, …).
    pub kind: String,
    /// The program's exit code for it.
    pub exit_code: u8,
}

impl Failure {
    fn of(err: &anyhow::Error) -> Failure {
        let kind = err.downcast_ref::<Error>().map_or(ErrorKind::BadInput, |e| e.kind());
        Failure { message: format!("{err:#}"), kind: Self::kind_name(kind), exit_code: exit_code(err) }
    }

    /// A job's error as the program reports it.
    pub fn from_error(err: &Error) -> Failure {
        Failure {
            message: err.to_string(),
            kind: Self::kind_name(err.kind()),
            exit_code: err.kind().exit_code(),
        }
    }

    fn kind_name(kind: ErrorKind) -> String {
        let debug = format!("{kind:?}");
        let mut snake = String::new();
        for (i, c) in debug.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        }
        snake
    }
}

/// Runs the job the command line `argv` names (`["cqlbulk", "unload", …]`) as the program
/// would, printing nothing, and returns its summary as JSON: the Python package's `count`,
/// `unload`, `load`, `verify` and `iceberg` calls. `cancel` stops it as Ctrl-C stops the
/// program.
pub async fn summary(argv: Vec<OsString>, cancel: &CancellationToken) -> Result<serde_json::Value, Failure> {
    let cli = config::parse(argv).map_err(|e| Failure::of(&anyhow::anyhow!(parse_error_line(e))))?;
    let value = match cli.command {
        Command::Count(args) => count::job(&args, &(), cancel).await.and_then(to_json),
        Command::Unload(args) => unload::job(&args, &(), cancel).await.and_then(to_json),
        Command::Load(args) => load::job(&args, &(), cancel).await.and_then(to_json),
        Command::Verify(args) => verify::job(&args, &(), cancel).await.and_then(to_json),
        Command::Iceberg(args) => iceberg::job(args).await,
        _ => Err(anyhow::anyhow!("only count, unload, load, verify and iceberg have a summary")),
    };
    value.map_err(|e| Failure::of(&e))
}

/// Opens the table scan an `unload` command line describes (`["cqlbulk", "unload", "-h", …,
/// "-k", …, "-t", …]` with any of its connection, column and scan flags).
pub async fn open_scan(argv: Vec<OsString>) -> Result<cqlbulk::source::cassandra::TableScan, Failure> {
    let cli = config::parse(argv).map_err(|e| Failure::of(&anyhow::anyhow!(parse_error_line(e))))?;
    match cli.command {
        Command::Unload(args) => unload::open_scan(&args).await.map_err(|e| Failure::of(&e)),
        _ => Err(Failure::of(&anyhow::anyhow!("a scan is described by unload's flags"))),
    }
}

fn parse_error_line(e: config::ParseError) -> String {
    match e {
        config::ParseError::Clap(err) => {
            let first = err.to_string().lines().next().unwrap_or_default().to_string();
            first.strip_prefix("error: ").unwrap_or(&first).to_string()
        }
        config::ParseError::Config(message) => message,
    }
}

fn to_json<T: serde::Serialize>(summary: T) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(summary)?)
}

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Count(args) => count::run(args).await,
        Command::Unload(args) => unload::run(*args).await,
        Command::Load(args) => load::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Iceberg(args) => iceberg::run(args).await,
        Command::Completions(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut command, "cqlbulk", &mut std::io::stdout());
            Ok(EXIT_OK)
        }
        Command::Man(args) => {
            let written = write_man_pages(&args.dir)?;
            cqlbulk::say!("man: {written} pages in {}", args.dir.display());
            Ok(EXIT_OK)
        }
        Command::Config(ConfigArgs { what: ConfigCommand::Example }) => {
            print!("{}", config::example());
            Ok(EXIT_OK)
        }
    }
}

/// The exit code for an error that ended the run.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<Error>().map_or(EXIT_FATAL, |e| e.kind().exit_code())
}

/// Which table, and how to reach its cluster: the flags every subcommand shares. Short
/// names follow DSBulk (`-k`, `-t`, `-h`, `-u`).
#[derive(Args, Debug)]
pub struct ConnectionArgs {
    /// Keyspace of the table (case-sensitive, as stored in the schema).
    #[arg(short = 'k', long, value_name = "NAME")]
    pub keyspace: String,

    /// Table to operate on (case-sensitive, as stored in the schema). unload and load
    /// without it move every table of the keyspace, each in its own directory (or Iceberg
    /// table) under --url (or the namespace), with one operation to resume.
    #[arg(short = 't', long, value_name = "NAME")]
    pub table: Option<String>,

    /// Contact points, comma-separated, each `host` or `host:port`. The rest of the cluster
    /// is discovered from them.
    #[arg(
        short = 'h',
        long = "host",
        value_name = "HOSTS",
        value_delimiter = ',',
        default_value = "127.0.0.1",
        env = "CQLBULK_HOST"
    )]
    pub hosts: Vec<String>,

    /// CQL native port of contact points given without a port.
    #[arg(long, default_value_t = 9042, value_name = "PORT")]
    pub port: u16,

    /// Local datacenter: queries go to its replicas first. Needed with LOCAL_* consistency
    /// on multi-datacenter clusters to keep reads out of remote datacenters.
    #[arg(long, value_name = "NAME")]
    pub dc: Option<String>,

    /// Consistency level: ANY, ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM,
    /// LOCAL_ONE. Reads default to LOCAL_ONE: above ONE, each range is read from several
    /// replicas, which multiplies the load on the cluster. `load` defaults to LOCAL_QUORUM,
    /// so that an acknowledged row survives the loss of a replica.
    #[arg(long, value_parser = parse_consistency, value_name = "LEVEL")]
    pub consistency: Option<Consistency>,

    /// Rows per page. Larger pages mean fewer round trips but more memory on both sides.
    #[arg(long, default_value_t = 5000, value_name = "ROWS", value_parser = clap::value_parser!(i32).range(1..))]
    pub page_size: i32,

    /// How long one request may take before it fails and is retried on another replica
    /// (e.g. `60s`, `2m`).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,

    /// How long to wait for a connection to a node.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub connect_timeout: Duration,

    /// User name for PasswordAuthenticator. The password is read from CQLBULK_PASSWORD, or
    /// asked for on the terminal without echo; it is never taken as a flag, where other
    /// users could read it in the process list.
    #[arg(short = 'u', long, value_name = "NAME", env = "CQLBULK_USERNAME")]
    pub username: Option<String>,

    /// Read the password from the first line of this file (readable by you alone, ideally)
    /// instead of CQLBULK_PASSWORD or the terminal.
    #[arg(long, value_name = "FILE", requires = "username")]
    pub password_file: Option<PathBuf>,

    /// Encrypt connections to the nodes (client-to-node TLS); give the CA with --tls-ca.
    #[arg(long)]
    pub tls: bool,

    /// PEM file of the certificate authority (or authorities) that signed the nodes'
    /// certificates.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub tls_ca: Option<PathBuf>,

    /// PEM file of this client's certificate (chain), for nodes that require one
    /// (require_client_auth); needs --tls-key.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "tls_key"])]
    pub tls_cert: Option<PathBuf>,

    /// PEM file of the private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Accept node certificates that do not name the node's address. They must still be
    /// signed by --tls-ca; use only where certificates cannot carry the nodes' IPs.
    #[arg(long, requires = "tls")]
    pub tls_no_hostname_check: bool,
}

impl ConnectionArgs {
    /// The table, or an empty name for the whole keyspace (unload, load).
    pub fn table_name(&self) -> cqlbulk::cluster::TableName {
        cqlbulk::cluster::TableName::new(&self.keyspace, self.table.as_deref().unwrap_or_default())
    }

    /// For commands that work on one table only.
    pub fn require_table(&self, command: &str) -> anyhow::Result<()> {
        if self.table.is_none() {
            anyhow::bail!("{command} works on one table: give -t TABLE");
        }
        Ok(())
    }

    /// The connection settings; `consistency` unless --consistency says otherwise.
    pub fn connection_config(&self, consistency: Consistency) -> anyhow::Result<ConnectionConfig> {
        let password = match &self.username {
            None => None,
            Some(user) => Some(read_password(user, self.password_file.as_deref())?),
        };
        let tls = match (self.tls, &self.tls_ca) {
            (false, _) => None,
            (true, None) => bail!(
                "--tls needs --tls-ca FILE: the PEM certificate of the CA that signed the nodes' certificates"
            ),
            (true, Some(ca)) => Some(TlsConfig {
                ca: ca.clone(),
                client: self.tls_cert.clone().zip(self.tls_key.clone()),
                verify_hostname: !self.tls_no_hostname_check,
            }),
        };
        Ok(ConnectionConfig {
            hosts: self.hosts.clone(),
            port: self.port,
            datacenter: self.dc.clone(),
            username: self.username.clone(),
            password,
            consistency: self.consistency.unwrap_or(consistency),
            page_size: self.page_size,
            request_timeout: self.request_timeout,
            connect_timeout: self.connect_timeout,
            tls,
        })
    }
}

fn read_password(user: &str, file: Option<&std::path::Path>) -> anyhow::Result<String> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("--password-file {}: cannot read it", file.display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_string());
    }
    if let Ok(password) = std::env::var("CQLBULK_PASSWORD") {
        return Ok(password);
    }
    if let Some(password) = config::password() {
        return Ok(password.to_string());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "--username {user} needs a password: set CQLBULK_PASSWORD or give --password-file (no terminal to ask on)"
        );
    }
    rpassword::prompt_password(format!("Password for {user}: "))
        .context("cannot read the password from the terminal")
}

fn parse_consistency(text: &str) -> Result<Consistency, String> {
    Ok(match text.to_ascii_uppercase().replace('-', "_").as_str() {
        "ANY" => Consistency::Any,
        "ONE" => Consistency::One,
        "TWO" => Consistency::Two,
        "THREE" => Consistency::Three,
        "QUORUM" => Consistency::Quorum,
        "ALL" => Consistency::All,
        "LOCAL_QUORUM" => Consistency::LocalQuorum,
        "EACH_QUORUM" => Consistency::EachQuorum,
        "LOCAL_ONE" => Consistency::LocalOne,
        _ => return Err(format!("unknown consistency level '{text}'")),
    })
}

/// How to reach object storage named by an `s3://`, `az://` or `gs://` URL. Credentials come
/// from each cloud's standard chain (AWS: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
/// AWS_PROFILE, web identity, instance metadata; Azure: AZURE_STORAGE_ACCOUNT_KEY or
/// AZURE_STORAGE_SAS_TOKEN, Entra, managed identity; Google: application default
/// credentials); they are never flags.
#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// S3-compatible endpoint, e.g. http://127.0.0.1:7070 (default: AWS, or AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// Region of the bucket (default: AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// Address buckets as bucket.host (AWS virtual-hosted style) instead of host/bucket.
    #[arg(long)]
    pub s3_virtual_host_style: bool,

    /// Azure Blob endpoint, e.g. http://127.0.0.1:10000/devstoreaccount1 for Azurite
    /// (default: https://$AZURE_STORAGE_ACCOUNT_NAME.blob.core.windows.net).
    #[arg(long, value_name = "URL")]
    pub azure_endpoint: Option<String>,

    /// Google Cloud Storage endpoint, e.g. an emulator's http://127.0.0.1:4443.
    #[arg(long, value_name = "URL")]
    pub gcs_endpoint: Option<String>,

    /// Unsigned GCS requests (an emulator or a public bucket): no credentials are looked up.
    #[arg(long)]
    pub gcs_anonymous: bool,
}

impl StorageArgs {
    pub fn options(&self) -> cqlbulk::storage::StorageOptions {
        cqlbulk::storage::StorageOptions {
            s3_endpoint: self.s3_endpoint.clone(),
            s3_region: self.s3_region.clone(),
            s3_virtual_host_style: self.s3_virtual_host_style,
            azure_endpoint: self.azure_endpoint.clone(),
            gcs_endpoint: self.gcs_endpoint.clone(),
            gcs_anonymous: self.gcs_anonymous,
        }
    }
}

/// How the ring is cut and how hard the cluster is pushed.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Minimum number of token-range splits (default: 8 × nodes × client cores). More splits
    /// give finer progress and cheaper retries, for more requests.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub splits: Option<u32>,

    /// Splits read at once, each with one query in flight on one replica (default: nodes ×
    /// client cores). This is the load put on the cluster: raise it on a big idle cluster,
    /// lower it to protect live traffic.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,

    /// Read at most this many rows per second, over the whole run.
    #[arg(long, value_name = "ROWS", value_parser = parse_rate)]
    pub max_rows_per_second: Option<f64>,

    /// Read at most about this many bytes per second (as Cassandra sends them; e.g. 20M),
    /// over the whole run.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_bytes_per_second: Option<u64>,

    /// Read requests in flight at most, over the whole run (default: --concurrency).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: Option<u32>,

    /// Attempts per split, rotating over its replicas with back-off, before it fails.
    #[arg(long, default_value_t = 6, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,

    /// No progress output, only the result and errors.
    #[arg(short, long)]
    pub quiet: bool,

    /// Seconds between progress lines when stderr is not a terminal.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub progress_interval: u64,
}

impl ScanArgs {
    pub fn scan_config(&self, connection: &ConnectionArgs) -> ScanConfig {
        ScanConfig {
            splits: self.splits.map(|n| n as usize),
            concurrency: self.concurrency.map(|n| n as usize),
            max_attempts: Some(self.max_attempts),
            datacenter: connection.dc.clone(),
            limits: cqlbulk::throttle::Limits {
                max_rows_per_second: self.max_rows_per_second,
                max_bytes_per_second: self.max_bytes_per_second.map(|b| b as f64),
                max_concurrent_requests: self.max_concurrent_requests.map(|n| n as usize),
            },
        }
    }

    pub fn progress(&self) -> cqlbulk::progress::ProgressStyleChoice {
        if self.quiet {
            cqlbulk::progress::ProgressStyleChoice::Quiet
        } else {
            cqlbulk::progress::ProgressStyleChoice::Auto {
                interval: Duration::from_secs(self.progress_interval.max(1)),
            }
        }
    }
}

/// Resolves when the user asks the run to stop (Ctrl-C or SIGTERM).
/// A token cancelled on the first Ctrl-C or SIGTERM: how the CLI stops a library job.
pub fn cancel_on_signal() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        interrupted().await;
        cancel.cancel();
    });
    token
}

pub async fn interrupted() -> Error {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return Error::new(ErrorKind::Interrupted, "interrupted");
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    Error::new(ErrorKind::Interrupted, "interrupted")
}

/// A size like 512M or 2G, in bytes.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = digits.parse().map_err(|_| format!("'{text}' is not a size like 512M"))?;
    let factor: u64 = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("unknown size unit in '{text}' (use K, M, G or T)")),
    };
    number.checked_mul(factor).filter(|n| *n > 0).ok_or_else(|| format!("'{text}' is not a usable size"))
}

/// A rate: a positive number.
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err(format!("'{text}' is not a rate: give a positive number")),
    }
}

/// Prometheus metrics of the run.
#[derive(Args, Debug, Clone)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics on http://HOST:PORT/metrics while the run lasts.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Push metrics to this Prometheus Pushgateway (e.g. http://pushgateway:9091) while
    /// the run lasts and once at its end, grouped by command, keyspace and table.
    #[arg(long, value_name = "URL")]
    pub metrics_push: Option<String>,

    /// Seconds between pushes.
    #[arg(long, default_value_t = 15, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub metrics_push_interval: u64,
}

impl MetricsArgs {
    /// An exporter for `command` on `table` (doing nothing when no metrics are asked for).
    pub async fn exporter(
        &self,
        command: &str,
        table: &cqlbulk::cluster::TableName,
        shard: Option<cqlbulk::operation::Shard>,
    ) -> cqlbulk::Result<cqlbulk::metrics::Exporter> {
        let config = cqlbulk::metrics::MetricsConfig {
            listen: self.metrics_addr,
            push: self.metrics_push.clone(),
            push_interval: Duration::from_secs(self.metrics_push_interval),
        };
        let labels = cqlbulk::metrics::JobLabels {
            command: command.to_string(),
            keyspace: table.keyspace.clone(),
            table: table.table.clone(),
            shard: shard.map(|shard| format!("{}-of-{}", shard.index, shard.count)),
        };
        cqlbulk::metrics::Exporter::start(&config, labels).await
    }
}

/// Ends the metrics of a run: a push failure is reported, not fatal (the run's own result
/// stands).
pub async fn finish_metrics(exporter: &cqlbulk::metrics::Exporter) {
    if let Err(err) = exporter.finish().await {
        cqlbulk::logs::say("WARN", &format!("cqlbulk: warning: {err}"));
    }
}

/// `cqlbulk.1` and a page per command and subcommand (`cqlbulk-iceberg-expire.1`).
fn write_man_pages(dir: &std::path::Path) -> anyhow::Result<usize> {
    use anyhow::Context;
    fn write(
        command: &clap::Command,
        name: String,
        dir: &std::path::Path,
        count: &mut usize,
    ) -> anyhow::Result<()> {
        let command = command.clone().name(name.clone());
        let path = dir.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(command.clone()).render(&mut page)?;
        std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
        *count += 1;
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            write(sub, format!("{name}-{}", sub.get_name()), dir, count)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut count = 0;
    write(&<Cli as clap::CommandFactory>::command(), "cqlbulk".to_string(), dir, &mut count)?;
    Ok(count)
}

/// Prints what a whole-keyspace run did, a line per table and per skipped one; a table
/// that did not complete makes it exit 1 with the resume command.
pub fn report_keyspace(summary: &cqlbulk::keyspace::KeyspaceSummary, quiet: bool) -> anyhow::Result<u8> {
    let command = &summary.command;
    for line in &summary.skipped {
        cqlbulk::say!("{command}: skipped {}.{line}", summary.keyspace);
    }
    if !quiet {
        for table in &summary.tables {
            cqlbulk::say!(
                "{command}: {}.{}: {}, {} rows; operation {}",
                summary.keyspace,
                table.table,
                table.status,
                table.rows,
                table.operation
            );
        }
        cqlbulk::say!(
            "{command}: keyspace {}: {} tables, {} rows in {:.2}s; operation {}",
            summary.keyspace,
            summary.tables.len(),
            summary.rows,
            summary.elapsed_seconds,
            summary.operation_dir
        );
    }
    let failed: Vec<String> = summary
        .failed()
        .map(|t| {
            format!(
                "{} ({}{})",
                t.table,
                t.status,
                t.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            )
        })
        .collect();
    if failed.is_empty() {
        return Ok(EXIT_OK);
    }
    Err(Error::new(
        ErrorKind::IncompleteScan,
        format!(
            "keyspace {}: {} of {} tables did not complete: {}; after fixing the cause, resume with --resume {}",
            summary.keyspace,
            failed.len(),
            summary.tables.len(),
            failed.join("; "),
            summary.operation_dir
        ),
    )
    .into())
}

/// Where a run keeps its operation (log, checkpoint, summary), and the one to finish.
#[derive(Args, Debug, Clone)]
pub struct OperationArgs {
    /// Where operation directories go: a directory, or an object-store prefix (s3://,
    /// gs://, az://) that machines sharing no disk can all reach; its local working copy is
    /// under $CQLBULK_WORK_DIR (default: the temporary directory).
    #[arg(long, default_value = "cqlbulk-logs", value_name = "DIR|URL")]
    pub log_dir: String,

    /// Finish an interrupted or failed run: its operation directory (or URL). Give the same
    /// table (or keyspace), format and source or output as the first run.
    #[arg(long, value_name = "OPERATION_DIR|URL")]
    pub resume: Option<String>,
}

impl OperationArgs {
    /// The log directory and the operation to resume, as places.
    pub fn places(
        &self,
        storage: &cqlbulk::storage::StorageOptions,
    ) -> cqlbulk::Result<(cqlbulk::storage::Place, Option<cqlbulk::storage::Place>)> {
        use cqlbulk::storage::Place;
        Ok((
            Place::parse(&self.log_dir, storage)?,
            self.resume.as_deref().map(|r| Place::parse(r, storage)).transpose()?,
        ))
    }
}

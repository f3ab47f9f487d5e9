//! Every command against a node that takes only TLS connections with a client certificate,
//! and PasswordAuthenticator: the right credentials work, each wrong one fails in one line,
//! and the password never shows anywhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use cqlbulk::connect::TlsConfig;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: true, tls: true };
const PASSWORD: &str = "cassandra";

fn hosts() -> &'static str {
    cluster(SHAPE)
}

/// The directory of the harness's test certificates (ca.pem, client.pem, client.key, and
/// other-ca.pem, a CA that signed nothing here).
fn tls_dir() -> PathBuf {
    let out = Command::new("python3")
        .arg(repo_root().join("harness/cluster.py"))
        .arg("tls-dir")
        .output()
        .expect("python3 runs harness/cluster.py");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn file(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

/// The flags of a TLS connection with the client certificate, as `user` with the password
/// in `password_file`: `--tls --tls-ca F --tls-cert F --tls-key F -u USER --password-file F`.
fn secure_flags(tls: &Path, user: &str, password_file: &Path) -> Vec<String> {
    [
        "--tls",
        "--tls-ca",
        &file(tls, "ca.pem"),
        "--tls-cert",
        &file(tls, "client.pem"),
        "--tls-key",
        &file(tls, "client.key"),
        "-u",
        user,
        "--password-file",
        password_file.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

/// The default superuser is created a moment after the node starts serving CQL.
async fn superuser_session(hosts: &str, tls: &Path) -> Session {
    let config = TlsConfig {
        ca: tls.join("ca.pem"),
        client: Some((tls.join("client.pem"), tls.join("client.key"))),
        verify_hostname: true,
    }
    .client_config()
    .unwrap();
    let mut last_error = String::new();
    for _ in 0..60 {
        match SessionBuilder::new()
            .known_node(format!("{hosts}:9042"))
            .user("cassandra", PASSWORD)
            .tls_context(Some(config.clone()))
            .build()
            .await
        {
            Ok(session) => return session,
            Err(err) => last_error = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("cannot log in as cassandra over TLS: {last_error}");
}

fn run(args: &[String], env: &[(&str, &str)]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cqlbulk_with_env(&args, env)
}

/// Asserts a failure with exit 3 and one line on stderr containing `wanted`; returns it.
fn expect_refusal(output: &std::process::Output, wanted: &str) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line expected:\n{err}");
    assert!(err.contains(wanted), "expected '{wanted}' in:\n{err}");
    err
}

/// What: count, unload (CSV and Iceberg), load and verify all work over TLS with the CA,
/// the client certificate, and a role whose password comes from a file; no file the runs
/// leave behind (operation directories, summaries, logs, exports) holds the password.
/// Why: clusters holding data worth moving are the ones that require TLS and
/// authentication, and a bulk tool that leaks the password into its logs hands it to
/// everyone who reads them.
#[tokio::test(flavor = "multi_thread")]
async fn every_command_works_over_tls_with_a_password() {
    let hosts = hosts();
    let tls = tls_dir();
    let ks = TestKeyspace::create(Arc::new(superuser_session(hosts, &tls).await), "secure", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY, v text)").await;
    ks.execute("CREATE TABLE {ks}.copy (id int PRIMARY KEY, v text)").await;
    let insert = ks.prepare("INSERT INTO {ks}.t (id, v) VALUES (?, ?)").await;
    insert_all(&ks.session, &insert, (0..1000).map(|i| (i, format!("v{i}")))).await;

    let dir = scratch_dir("secure");
    let secret = "secret-pw-5d1c";
    ks.execute("DROP ROLE IF EXISTS mover").await;
    ks.execute(&format!("CREATE ROLE mover WITH PASSWORD = '{secret}' AND LOGIN = true")).await;
    ks.execute("GRANT ALL PERMISSIONS ON KEYSPACE {ks} TO mover").await;
    let password_file = dir.join("password");
    std::fs::write(&password_file, format!("{secret}\n")).unwrap();
    let secure = secure_flags(&tls, "mover", &password_file);
    let logs = dir.join("logs");
    let logs_text = logs.to_str().unwrap();
    let csv = dir.join("csv");
    let lake = dir.join("lake");
    let command = |verb: &str, table: &str, extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> =
            [verb, "-h", hosts, "-k", &ks.name, "-t", table, "-q"].map(String::from).to_vec();
        args.extend(secure.iter().cloned());
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let csv_source = ["--format", "csv", "--url", csv.to_str().unwrap(), "--log-dir", logs_text];
    let iceberg = ["--format", "iceberg", "--warehouse", lake.to_str().unwrap(), "--log-dir", logs_text];

    assert_eq!(expect_success(&run(&command("count", "t", &[]), &[])).trim(), "1000");
    expect_success(&run(&command("unload", "t", &csv_source), &[]));
    expect_success(&run(&command("unload", "t", &iceberg), &[]));
    expect_success(&run(&command("load", "copy", &csv_source), &[]));
    assert_eq!(expect_success(&run(&command("count", "copy", &[]), &[])).trim(), "1000");
    let verified = run(&command("verify", "copy", &csv_source[..4]), &[]);
    assert_eq!(verified.status.code(), Some(0), "{}{}", stdout(&verified), stderr(&verified));
    let verified = run(&command("verify", "copy", &[&iceberg[..4], &["--iceberg-table", "t"]].concat()), &[]);
    assert_eq!(verified.status.code(), Some(0), "{}{}", stdout(&verified), stderr(&verified));

    // The password is in none of the files the runs wrote.
    let mut pending = vec![dir.clone()];
    let mut checked = 0;
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path != password_file {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the password is in {}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} files written");
    ks.execute("DROP ROLE mover").await;
}

/// What: a wrong password, no password, no user, a wrong CA, no client certificate,
/// plaintext against the TLS-only port, --tls without --tls-ca, and a CA file with no
/// certificate each fail with exit 3 and one line saying what to fix, and the wrong
/// password never shows. Why: these are the first-run mistakes on a secured cluster; each
/// needs an answer that names its cause.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_and_certificates_fail_in_one_line() {
    let hosts = hosts();
    let tls = tls_dir();
    // Wait for the superuser to exist, so each refusal below is about what it tests.
    drop(superuser_session(hosts, &tls).await);
    let dir = scratch_dir("secure-refusals");
    let password_file = dir.join("password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    let base: Vec<String> =
        ["count", "-h", hosts, "-k", "system", "-t", "local", "-q"].map(String::from).to_vec();
    let with = |flags: &[String]| -> Vec<String> { base.iter().chain(flags).cloned().collect() };
    let secure = secure_flags(&tls, "cassandra", &password_file);
    let (tls_flags, login) = secure.split_at(7);

    assert_eq!(expect_success(&run(&with(&secure), &[])).trim(), "1");

    // The password from the environment instead of the file: wrong, then missing.
    let user_only = &secure[..9];
    let wrong_secret = "not-the-password-8e1f";
    let wrong = run(&with(user_only), &[("CQLBULK_PASSWORD", wrong_secret)]);
    let err = expect_refusal(&wrong, "authentication failed");
    assert!(!err.contains(wrong_secret) && !stdout(&wrong).contains(wrong_secret), "the password leaked");
    expect_refusal(&run(&with(user_only), &[]), "CQLBULK_PASSWORD");
    let anonymous = run(&with(tls_flags), &[]);
    let err = stderr(&anonymous);
    assert_eq!(anonymous.status.code(), Some(3), "{err}");
    assert!(err.contains("authentication") || err.contains("credentials"), "{err}");

    // A CA that did not sign the node's certificate.
    let mut wrong_ca = secure.clone();
    wrong_ca[2] = file(&tls, "other-ca.pem");
    expect_refusal(&run(&with(&wrong_ca), &[]), "--tls-ca");
    // No client certificate: the node requires one.
    let no_client: Vec<String> = secure[..3].iter().chain(login).cloned().collect();
    expect_refusal(&run(&with(&no_client), &[]), "--tls-cert");
    // Plaintext against the TLS-only port.
    expect_refusal(&run(&with(login), &[]), "--tls");
    // --tls without a CA.
    let no_ca: Vec<String> = std::iter::once("--tls".to_string()).chain(login.iter().cloned()).collect();
    expect_refusal(&run(&with(&no_ca), &[]), "--tls-ca");
    // A CA file that holds no certificate.
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let mut empty_ca = secure.clone();
    empty_ca[2] = empty.to_str().unwrap().to_string();
    expect_refusal(&run(&with(&empty_ca), &[]), "no PEM certificate");
}

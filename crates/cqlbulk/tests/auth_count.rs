//! `cqlbulk count` against a node with PasswordAuthenticator.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

const SHAPE: Shape = Shape { nodes: 1, num_tokens: 16, auth: true };
const PASSWORD: &str = "cassandra";

/// The default superuser is created a moment after the node starts serving CQL.
async fn superuser_session(hosts: &str) -> Session {
    let mut last_error = String::new();
    for _ in 0..60 {
        match SessionBuilder::new()
            .known_node(format!("{hosts}:9042"))
            .user("cassandra", PASSWORD)
            .build()
            .await
        {
            Ok(session) => return session,
            Err(err) => last_error = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("cannot log in as cassandra: {last_error}");
}

/// What: the right password counts; a wrong one, a missing one and none at all each fail
/// with exit 3 and one line, and the password never shows in the output. Why: credentials
/// mistakes are the most common first-run failure, and a leaked password is worse.
#[tokio::test(flavor = "multi_thread")]
async fn password_authentication() {
    let hosts = cluster(SHAPE);
    let ks = TestKeyspace::create(Arc::new(superuser_session(hosts).await), "auth", SIMPLE_RF1).await;
    ks.execute("CREATE TABLE {ks}.t (id int PRIMARY KEY)").await;
    let insert = ks.prepare("INSERT INTO {ks}.t (id) VALUES (?)").await;
    insert_all(&ks.session, &insert, (0..1000).map(|i| (i,))).await;

    let base = ["count", "-h", hosts, "-k", &ks.name, "-t", "t", "-q"];
    let with_user: Vec<&str> = base.iter().copied().chain(["-u", "cassandra"]).collect();

    let ok = cqlbulk_with_env(&with_user, &[("CQLBULK_PASSWORD", PASSWORD)]);
    assert_eq!(expect_success(&ok).trim(), "1000");

    let secret = "not-the-password-8e1f";
    let wrong = cqlbulk_with_env(&with_user, &[("CQLBULK_PASSWORD", secret)]);
    let err = stderr(&wrong);
    assert_eq!(wrong.status.code(), Some(3), "{err}");
    assert!(err.contains("authentication failed"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains(secret) && !stdout(&wrong).contains(secret), "the password leaked: {err}");

    // No terminal to prompt on and no CQLBULK_PASSWORD: say how to give it.
    let missing = cqlbulk(&with_user);
    assert_eq!(missing.status.code(), Some(3));
    assert!(stderr(&missing).contains("CQLBULK_PASSWORD"), "{}", stderr(&missing));

    let anonymous = cqlbulk(&base);
    let err = stderr(&anonymous);
    assert_eq!(anonymous.status.code(), Some(3), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("authentication") || err.contains("credentials"), "{err}");
}

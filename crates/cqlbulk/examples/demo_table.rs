//! Creates and fills the demo table `cqlbulk_demo.readings` that `scripts/demo.sh` runs
//! cqlbulk on: sensor readings, a few hundred rows per sensor.
//!
//! Usage: demo_table [--rows N] [--sensors N] [--table NAME] [--host HOST:PORT]

use std::time::Instant;

use futures::StreamExt;
use scylla::client::session_builder::SessionBuilder;
use scylla::value::CqlTimestamp;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut rows: u64 = 200_000;
    let mut sensors: u64 = 1000;
    let mut table = "readings".to_string();
    let mut host = "127.0.0.1:9042".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rows" => {
                rows = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| anyhow::anyhow!("--rows needs a number"))?
            }
            "--sensors" => {
                sensors = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| anyhow::anyhow!("--sensors needs a positive number"))?
            }
            "--table" => table = args.next().ok_or_else(|| anyhow::anyhow!("--table needs a name"))?,
            "--host" => host = args.next().ok_or_else(|| anyhow::anyhow!("--host needs a value"))?,
            other => anyhow::bail!(
                "unknown argument {other}; usage: demo_table [--rows N] [--sensors N] [--table NAME] [--host HOST:PORT]"
            ),
        }
    }
    let session = SessionBuilder::new().known_node(&host).build().await?;
    for cql in [
        "CREATE KEYSPACE IF NOT EXISTS cqlbulk_demo WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}".to_string(),
        format!("CREATE TABLE IF NOT EXISTS cqlbulk_demo.{table} (sensor uuid, ts timestamp, value double, unit text, tags map<text, text>, PRIMARY KEY (sensor, ts))"),
        format!("TRUNCATE cqlbulk_demo.{table}"),
    ] {
        session.query_unpaged(cql, ()).await?;
    }
    let insert = session
        .prepare(format!(
            "INSERT INTO cqlbulk_demo.{table} (sensor, ts, value, unit, tags) VALUES (?, ?, ?, ?, ?)"
        ))
        .await?;
    let started = Instant::now();
    let start_ms: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    futures::stream::iter(0..rows)
        .map(|i| {
            let sensor =
                uuid::Uuid::from_u128(0x5e45_0000_0000_4000_8000_0000_0000_0000 | u128::from(i % sensors));
            let ts = CqlTimestamp(start_ms + (i / sensors) as i64 * 60_000);
            let value = (i as f64 * 0.37).sin() * 20.0 + 15.0;
            let tags = std::collections::HashMap::from([("site".to_string(), format!("site-{}", i % 7))]);
            let insert = &insert;
            let session = &session;
            async move { session.execute_unpaged(insert, (sensor, ts, value, "celsius", tags)).await }
        })
        .buffer_unordered(128)
        .for_each(|r| async move {
            r.expect("insert a demo row");
        })
        .await;
    eprintln!(
        "demo_table: wrote {rows} rows to cqlbulk_demo.{table} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

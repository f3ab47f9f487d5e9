//! Creates and fills the benchmark tables in keyspace `cqlbulk_bench`:
//! `narrow` (bigint key + 10 bigints), `typical` (~200 B: uuid key, timestamp clustering,
//! text, double, map<text,text>, set<int>), `wide` (100 mixed scalar columns) and `fat`
//! (10 KB blobs).
//!
//! Usage: bench_data --dataset narrow|typical|wide|fat --rows N [--host HOST:PORT]

use std::time::Instant;

use futures::StreamExt;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::batch::{Batch, BatchType};
use scylla::value::{CqlTimestamp, CqlValue};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut dataset = String::new();
    let mut rows: u64 = 0;
    let mut host = "127.0.0.1:9042".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| anyhow::anyhow!("{arg} needs a value"))?;
        match arg.as_str() {
            "--dataset" => dataset = value,
            "--rows" => rows = value.parse()?,
            "--host" => host = value,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let session = SessionBuilder::new().known_node(&host).build().await?;
    session
        .query_unpaged(
            "CREATE KEYSPACE IF NOT EXISTS cqlbulk_bench WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
            (),
        )
        .await?;
    let wide_types = ["int", "bigint", "text", "double", "boolean", "timestamp", "uuid"];
    let (ddl, columns) = match dataset.as_str() {
        "narrow" => (
            format!("id bigint PRIMARY KEY, {}", (1..=10).map(|i| format!("c{i} bigint")).collect::<Vec<_>>().join(", ")),
            11,
        ),
        "typical" => (
            "id uuid, ts timestamp, name text, score double, attrs map<text, text>, tags set<int>, PRIMARY KEY (id, ts)"
                .to_string(),
            6,
        ),
        "wide" => (
            format!(
                "id bigint PRIMARY KEY, {}",
                (0..99).map(|i| format!("c{i} {}", wide_types[i % wide_types.len()])).collect::<Vec<_>>().join(", ")
            ),
            100,
        ),
        "fat" => ("id bigint PRIMARY KEY, payload blob".to_string(), 2),
        other => anyhow::bail!("unknown dataset {other:?}: narrow, typical, wide or fat"),
    };
    session.query_unpaged(format!("DROP TABLE IF EXISTS cqlbulk_bench.{dataset}"), ()).await?;
    session.query_unpaged(format!("CREATE TABLE cqlbulk_bench.{dataset} ({ddl})"), ()).await?;
    session.refresh_metadata().await?;
    let state = session.get_cluster_state();
    let table = state
        .get_keyspace("cqlbulk_bench")
        .and_then(|ks| ks.tables.get(&dataset))
        .ok_or_else(|| anyhow::anyhow!("cqlbulk_bench.{dataset} is not in the metadata"))?;
    let mut names: Vec<String> = table.partition_key.iter().chain(&table.clustering_key).cloned().collect();
    let mut rest: Vec<String> = table.columns.keys().filter(|c| !names.contains(c)).cloned().collect();
    rest.sort();
    names.extend(rest);
    anyhow::ensure!(names.len() == columns, "expected {columns} columns, found {}", names.len());
    let markers = vec!["?"; columns].join(", ");
    let insert = session
        .prepare(format!("INSERT INTO cqlbulk_bench.{dataset} ({}) VALUES ({markers})", names.join(", ")))
        .await?;
    // Rows go in unlogged batches of many partitions (about 4 KiB, under Cassandra's
    // 5 KiB warning): one request per batch costs the single node far less per row than
    // one per row (narrow 1M rows: 55-60k rows/s against 28k). A bulk loader must not
    // batch across partitions (the coordinator fans out on a real cluster); a one-node
    // test-data generator may.
    let row_bytes = match dataset.as_str() {
        "narrow" => 130,
        "typical" => 200,
        "wide" => 1_500,
        _ => 10_300,
    };
    let batch_rows = (4 * 1024 / row_bytes).max(1);
    let started = Instant::now();
    let payload: Vec<u8> = (0..10_240u32).map(|i| (i * 31 % 251) as u8).collect();
    let starts: Vec<u64> = (0..rows).step_by(batch_rows as usize).collect();
    futures::stream::iter(starts)
        .map(|start| {
            let end = (start + batch_rows).min(rows);
            let mut batch = Batch::new(BatchType::Unlogged);
            let values: Vec<Vec<CqlValue>> = (start..end)
                .map(|i| {
                    batch.append_statement(insert.clone());
                    names.iter().map(|name| value(&dataset, name, i, &payload)).collect()
                })
                .collect();
            let session = &session;
            async move { session.batch(&batch, values).await }
        })
        .buffer_unordered(32)
        .for_each(|r| async move {
            r.expect("insert a batch of benchmark rows");
        })
        .await;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "bench_data: {rows} rows into cqlbulk_bench.{dataset} in {secs:.1}s ({:.0} rows/s)",
        rows as f64 / secs
    );
    Ok(())
}

/// A deterministic value for column `name` of row `i`.
fn value(dataset: &str, name: &str, i: u64, payload: &[u8]) -> CqlValue {
    let n = i as i64;
    let uuid_of = |i: u64| uuid::Uuid::from_u128(0xbe4c_0000_0000_4000_8000_0000_0000_0000 | u128::from(i));
    match (dataset, name) {
        (_, "id") if dataset == "typical" => CqlValue::Uuid(uuid_of(i / 2)),
        (_, "id") => CqlValue::BigInt(n),
        ("narrow", _) => CqlValue::BigInt(n.wrapping_mul(31).wrapping_add(name.len() as i64)),
        ("typical", "ts") => CqlValue::Timestamp(CqlTimestamp(1_767_225_600_000 + (n % 2) * 60_000)),
        ("typical", "name") => CqlValue::Text(format!("customer number {i} of the benchmark")),
        ("typical", "score") => CqlValue::Double((n as f64).sqrt()),
        ("typical", "attrs") => CqlValue::Map(vec![
            (CqlValue::Text("region".into()), CqlValue::Text(format!("region-{}", i % 17))),
            (
                CqlValue::Text("tier".into()),
                CqlValue::Text(["gold", "silver", "bronze"][(i % 3) as usize].into()),
            ),
        ]),
        ("typical", "tags") => CqlValue::Set((0..3).map(|k| CqlValue::Int((i % 100) as i32 + k)).collect()),
        ("fat", "payload") => CqlValue::Blob(payload.iter().map(|b| b ^ (i as u8)).collect()),
        ("wide", column) => {
            let index: usize = column.trim_start_matches('c').parse().unwrap_or(0);
            match index % 7 {
                0 => CqlValue::Int((n as i32).wrapping_mul(7)),
                1 => CqlValue::BigInt(n * 1000 + index as i64),
                2 => CqlValue::Text(format!("v{i}-{index}")),
                3 => CqlValue::Double(n as f64 / (index as f64 + 1.0)),
                4 => CqlValue::Boolean(i % 2 == 0),
                5 => CqlValue::Timestamp(CqlTimestamp(1_767_225_600_000 + n)),
                _ => CqlValue::Uuid(uuid_of(i * 100 + index as u64)),
            }
        }
        _ => CqlValue::Empty,
    }
}

//! Prometheus metrics of a running job: served for scraping (`--metrics-addr`) and pushed
//! to a Pushgateway (`--metrics-push`) every interval and once at the end, for batch jobs
//! that end before a scrape would find them. The figures are the job's [`Progress`], the
//! same ones its summary records.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::Full;
use prometheus::{Encoder as _, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::error::{Error, ErrorKind, Result};
use crate::progress::{Observer, Progress};

/// Where a job's metrics go.
#[derive(Clone, Debug, Default)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address while the job runs.
    pub listen: Option<SocketAddr>,
    /// A Pushgateway's base URL, e.g. `http://pushgateway:9091`.
    pub push: Option<String>,
    /// Between pushes while the job runs.
    pub push_interval: Duration,
}

/// The job's identity in every series: `command`, `keyspace`, `table`.
#[derive(Clone, Debug)]
pub struct JobLabels {
    pub command: String,
    pub keyspace: String,
    pub table: String,
    /// `I-of-N` for a shard of a sharded export: shards of one table push to their own groups.
    pub shard: Option<String>,
}

/// Exports one job's figures; watch the job with it (it is an [`Observer`]), then call
/// [`Exporter::finish`].
#[derive(Clone)]
pub struct Exporter {
    shared: Arc<Shared>,
}

struct Shared {
    labels: JobLabels,
    progress: Mutex<Option<Arc<Progress>>>,
    running: IntGauge,
    push: Option<String>,
    client: reqwest::Client,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pusher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Exporter {
    /// Binds the metrics address now (so a taken port fails before the job starts) and
    /// starts serving and pushing.
    pub async fn start(config: &MetricsConfig, labels: JobLabels) -> Result<Exporter> {
        let running = IntGauge::new("cqlbulk_running", "1 while the job runs, 0 once it has ended.")
            .expect("valid gauge");
        let push = config.push.as_ref().map(|url| push_url(url, &labels)).transpose()?;
        let shared = Arc::new(Shared {
            labels,
            progress: Mutex::new(None),
            running,
            push,
            client: reqwest::Client::new(),
            server: Mutex::new(None),
            pusher: Mutex::new(None),
        });
        if let Some(addr) = config.listen {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                Error::new(
                    ErrorKind::BadInput,
                    format!("--metrics-addr {addr}: cannot listen there: {e}; give a free HOST:PORT"),
                )
            })?;
            let server = tokio::spawn(serve(listener, shared.clone()));
            *shared.server.lock().expect("server lock") = Some(server);
        }
        if shared.push.is_some() {
            let interval = config.push_interval.max(Duration::from_secs(1));
            let pushing = shared.clone();
            let pusher = tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.tick().await;
                let mut warned = false;
                loop {
                    ticks.tick().await;
                    if let Err(err) = pushing.push().await
                        && !warned
                    {
                        tracing::warn!("{err}");
                        warned = true;
                    }
                }
            });
            *shared.pusher.lock().expect("pusher lock") = Some(pusher);
        }
        Ok(Exporter { shared })
    }

    /// The job has ended: a last push with its final figures (`cqlbulk_running` 0), then
    /// the server stops.
    pub async fn finish(&self) -> Result<()> {
        self.shared.running.set(0);
        if let Some(pusher) = self.shared.pusher.lock().expect("pusher lock").take() {
            pusher.abort();
        }
        let pushed = if self.shared.push.is_some() { self.shared.push().await } else { Ok(()) };
        if let Some(server) = self.shared.server.lock().expect("server lock").take() {
            server.abort();
        }
        pushed
    }

    /// The Prometheus text of the job's figures now.
    pub fn render(&self) -> String {
        self.shared.render()
    }
}

impl Observer for Exporter {
    fn started(&self, _job: &str, progress: Arc<Progress>) {
        *self.shared.progress.lock().expect("progress lock") = Some(progress);
        self.shared.running.set(1);
    }

    fn finished(&self, _completed: bool) {}
}

impl Shared {
    fn render(&self) -> String {
        let labels = [
            ("command".to_string(), self.labels.command.clone()),
            ("keyspace".to_string(), self.labels.keyspace.clone()),
            ("table".to_string(), self.labels.table.clone()),
        ];
        let registry = Registry::new_custom(None, Some(labels.into_iter().collect())).expect("valid labels");
        registry.register(Box::new(self.running.clone())).expect("one registration");
        if let Some(progress) = self.progress.lock().expect("progress lock").clone() {
            register_figures(&registry, &progress);
        }
        let mut text = Vec::new();
        TextEncoder::new().encode(&registry.gather(), &mut text).expect("text encoding");
        String::from_utf8(text).expect("the text format is UTF-8")
    }

    /// Replaces this job's group on the Pushgateway with its figures now.
    async fn push(&self) -> Result<()> {
        let Some(url) = &self.push else { return Ok(()) };
        let failed =
            |why: String| Error::new(ErrorKind::Io, format!("--metrics-push: cannot push to {url}: {why}"));
        let response = self
            .client
            .put(url)
            .header("Content-Type", prometheus::TEXT_FORMAT)
            .timeout(Duration::from_secs(10))
            .body(self.render())
            .send()
            .await
            .map_err(|e| failed(crate::connect::one_line(&e)))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(failed(format!("{status}: {}", body.trim())));
        }
        Ok(())
    }
}

/// The job's figures as Prometheus series, built afresh for each scrape from the counters.
fn register_figures(registry: &Registry, progress: &Progress) {
    let figures = progress.figures();
    let snapshot = progress.snapshot();
    let counter = |name: &str, help: &str, value: u64| {
        let metric = IntCounter::new(name, help).expect("valid counter");
        metric.inc_by(value);
        registry.register(Box::new(metric)).expect("one registration");
    };
    let gauge = |name: &str, help: &str, value: i64| {
        let metric = IntGauge::new(name, help).expect("valid gauge");
        metric.set(value);
        registry.register(Box::new(metric)).expect("one registration");
    };
    counter(
        "cqlbulk_rows_read_total",
        "Rows read: from Cassandra by a scan, from the source by a load.",
        figures.rows_read,
    );
    counter(
        "cqlbulk_rows_written_total",
        "Rows written: to the output by an unload, to Cassandra by a load.",
        figures.rows_written,
    );
    counter(
        "cqlbulk_bytes_read_total",
        "Bytes of rows read from Cassandra, as it sent them.",
        figures.bytes_read,
    );
    counter("cqlbulk_bytes_written_total", "Bytes of output files written.", figures.bytes_written);
    gauge("cqlbulk_splits", "Token-range splits (or source units) of the job.", figures.splits_total as i64);
    counter(
        "cqlbulk_splits_done_total",
        "Splits (or units) finished, including resumed ones.",
        figures.splits_done,
    );
    counter("cqlbulk_splits_failed_total", "Splits that failed after every attempt.", figures.splits_failed);
    gauge(
        "cqlbulk_splits_resumed",
        "Splits (or units) an earlier attempt had finished, when resuming.",
        figures.splits_resumed as i64,
    );
    counter("cqlbulk_retries_total", "Requests retried.", figures.retries);
    counter("cqlbulk_bad_records_total", "Source records that could not be loaded.", figures.bad_records);
    gauge("cqlbulk_requests_in_flight", "Requests to Cassandra in flight.", figures.requests_in_flight);
    let requests = IntCounterVec::new(
        Opts::new("cqlbulk_requests_total", "Requests to Cassandra, by outcome."),
        &["outcome"],
    )
    .expect("valid counter");
    requests.with_label_values(&["ok"]).inc_by(figures.requests_ok);
    requests.with_label_values(&["error"]).inc_by(figures.requests_failed);
    registry.register(Box::new(requests)).expect("one registration");
    registry.register(Box::new(progress.latency().clone())).expect("one registration");
    let ratio = prometheus::Gauge::new("cqlbulk_progress_ratio", "Share of the work done, 0 to 1.")
        .expect("valid gauge");
    ratio.set(snapshot.fraction);
    registry.register(Box::new(ratio)).expect("one registration");
    let elapsed = prometheus::Gauge::new("cqlbulk_elapsed_seconds", "Seconds since the job started.")
        .expect("valid gauge");
    elapsed.set(figures.elapsed_seconds);
    registry.register(Box::new(elapsed)).expect("one registration");
}

/// `<base>/metrics/job/cqlbulk/command/<c>/keyspace@base64/<k>/table@base64/<t>[/shard/I-of-N]`:
/// one group per command and table (and shard), so concurrent jobs on other tables keep their own series (names
/// are base64url, the Pushgateway's way to carry any character in a path).
fn push_url(base: &str, labels: &JobLabels) -> Result<String> {
    let parsed = reqwest::Url::parse(base).map_err(|e| {
        Error::new(
            ErrorKind::BadInput,
            format!("--metrics-push {base}: not a URL ({e}); give e.g. http://pushgateway:9091"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::new(
            ErrorKind::BadInput,
            format!("--metrics-push {base}: give an http:// or https:// URL"),
        ));
    }
    let encode = |value: &str| if value.is_empty() { "=".to_string() } else { URL_SAFE_NO_PAD.encode(value) };
    let shard = labels.shard.as_ref().map(|shard| format!("/shard/{shard}")).unwrap_or_default();
    Ok(format!(
        "{}/metrics/job/cqlbulk/command/{}/keyspace@base64/{}/table@base64/{}{shard}",
        base.trim_end_matches('/'),
        labels.command,
        encode(&labels.keyspace),
        encode(&labels.table)
    ))
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let shared = shared.clone();
                    async move {
                        let response = if request.uri().path() == "/metrics" {
                            hyper::Response::builder()
                                .header("Content-Type", prometheus::TEXT_FORMAT)
                                .body(Full::new(Bytes::from(shared.render())))
                        } else {
                            hyper::Response::builder()
                                .status(404)
                                .body(Full::new(Bytes::from_static(b"cqlbulk serves /metrics\n")))
                        };
                        Ok::<_, Infallible>(response.expect("a valid response"))
                    }
                });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What: the push URL carries the command and base64url names (a table name with a
    /// slash and a quote stays one path segment); a URL that is not http(s) is refused.
    /// Why: a wrong path would push into another job's group or fail at the end of a run.
    #[test]
    fn push_urls_name_the_job() {
        let mut labels = JobLabels {
            command: "unload".into(),
            keyspace: "Shop".into(),
            table: "odd/\"name".into(),
            shard: None,
        };
        let url = push_url("http://gw:9091/", &labels).unwrap();
        assert_eq!(
            url,
            "http://gw:9091/metrics/job/cqlbulk/command/unload/keyspace@base64/U2hvcA/table@base64/b2RkLyJuYW1l"
        );
        labels.shard = Some("2-of-8".into());
        assert!(
            push_url("http://gw:9091", &labels).unwrap().ends_with("/table@base64/b2RkLyJuYW1l/shard/2-of-8")
        );
        assert!(push_url("gw:9091", &labels).is_err());
    }
}

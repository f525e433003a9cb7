//! Request counts and latency histograms by route and status, and the client connections
//! open and accepted, in Prometheus text format.
//!
//! The route is the matched route pattern (`/rest/tasks/{tenant}`), never the raw path, so
//! the number of series stays bounded whatever clients send.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Default)]
struct Series {
    count: AtomicU64,
    sum_micros: AtomicU64,
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
}

/// The series of one route, by status.
type ByStatus = Vec<(u16, Arc<Series>)>;

/// The registry. Reads take a shared lock; a new (route, status) pair takes the write lock
/// once.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Route -> (status, series). Looked up by `&str`, so a request allocates nothing.
    series: RwLock<HashMap<String, ByStatus>>,
    connections_open: AtomicU64,
    connections_total: AtomicU64,
}

impl Metrics {
    /// A client connection was accepted (the connection loop, `server.rs`).
    pub(crate) fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        let series = self.series_for(route, status);
        series.count.fetch_add(1, Ordering::Relaxed);
        series.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        let slot = BUCKETS.iter().position(|bound| seconds <= *bound).unwrap_or(BUCKETS.len());
        series.buckets[slot].fetch_add(1, Ordering::Relaxed);
    }

    fn series_for(&self, route: &str, status: u16) -> Arc<Series> {
        let find = |statuses: &[(u16, Arc<Series>)]| {
            statuses.iter().find(|(s, _)| *s == status).map(|(_, series)| series.clone())
        };
        if let Some(series) = self.series.read().ok().and_then(|map| map.get(route).and_then(|s| find(s))) {
            return series;
        }
        let mut map = match self.series.write() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        let statuses = map.entry(route.to_owned()).or_default();
        if let Some(series) = find(statuses) {
            return series;
        }
        let series = Arc::new(Series::default());
        statuses.push((status, series.clone()));
        series
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let map = match self.series.read() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut keys: Vec<(&str, u16, &Series)> = map
            .iter()
            .flat_map(|(route, statuses)| {
                statuses.iter().map(move |(status, series)| (route.as_str(), *status, &**series))
            })
            .collect();
        keys.sort_by_key(|(route, status, _)| (*route, *status));
        let mut out = String::with_capacity(512 + keys.len() * 1024);
        out.push_str(
            "# HELP caretaker_http_connections_open Client connections open now (the server serves at most 4096).\n",
        );
        out.push_str("# TYPE caretaker_http_connections_open gauge\n");
        let _ = writeln!(out, "caretaker_http_connections_open {}", self.connections_open.load(Ordering::Relaxed));
        out.push_str("# HELP caretaker_http_connections_total Client connections accepted.\n");
        out.push_str("# TYPE caretaker_http_connections_total counter\n");
        let _ = writeln!(out, "caretaker_http_connections_total {}", self.connections_total.load(Ordering::Relaxed));
        out.push_str("# HELP caretaker_http_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE caretaker_http_requests_total counter\n");
        for (route, status, series) in &keys {
            let _ = writeln!(
                out,
                "caretaker_http_requests_total{{route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                series.count.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP caretaker_http_request_duration_seconds Time to answer HTTP requests, by route and status.\n",
        );
        out.push_str("# TYPE caretaker_http_request_duration_seconds histogram\n");
        for (route, status, series) in &keys {
            let labels = format!("route=\"{}\",status=\"{status}\"", escape(route));
            let mut cumulative = 0;
            for (slot, bound) in BUCKETS.iter().enumerate() {
                cumulative += series.buckets[slot].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "caretaker_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += series.buckets[BUCKETS.len()].load(Ordering::Relaxed);
            let _ =
                writeln!(out, "caretaker_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
            let sum = series.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "caretaker_http_request_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(
                out,
                "caretaker_http_request_duration_seconds_count{{{labels}}} {}",
                series.count.load(Ordering::Relaxed)
            );
        }
        out
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Middleware: times every request and files it under its matched route.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| String::from("unmatched"), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics.observe(&route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.observe("/healthz", 200, 0.0001);
        metrics.observe("/healthz", 200, 0.003);
        metrics.observe("/healthz", 200, 20.0);
        metrics.observe("/readyz", 503, 0.0001);
        let text = metrics.render();
        assert!(text.contains("caretaker_http_requests_total{route=\"/healthz\",status=\"200\"} 3\n"));
        assert!(text.contains("caretaker_http_requests_total{route=\"/readyz\",status=\"503\"} 1\n"));
        assert!(text.contains(
            "caretaker_http_request_duration_seconds_bucket{route=\"/healthz\",status=\"200\",le=\"0.0005\"} 1\n"
        ));
        assert!(text.contains(
            "caretaker_http_request_duration_seconds_bucket{route=\"/healthz\",status=\"200\",le=\"0.005\"} 2\n"
        ));
        assert!(text.contains(
            "caretaker_http_request_duration_seconds_bucket{route=\"/healthz\",status=\"200\",le=\"10\"} 2\n"
        ));
        assert!(text.contains(
            "caretaker_http_request_duration_seconds_bucket{route=\"/healthz\",status=\"200\",le=\"+Inf\"} 3\n"
        ));
        assert!(text.contains("caretaker_http_request_duration_seconds_count{route=\"/healthz\",status=\"200\"} 3\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

//! `/metrics` in the Prometheus text format: requests and latency per route (the matched
//! route template, so the label set stays small) and status class; tile cache size.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request counters and latency histograms.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    if let Ok(mut m) = state.metrics.series.lock() {
        let s = m.entry((route, method, status)).or_default();
        s.count += 1;
        s.sum += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                s.buckets[i] += 1;
            }
        }
    }
    res
}

async fn render(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    out.push_str(
        "# HELP buurtmeter_http_requests_total HTTP requests by route, method and status.\n# TYPE buurtmeter_http_requests_total counter\n",
    );
    let series = match state.metrics.series.lock() {
        Ok(m) => m.iter().map(|(k, v)| (k.clone(), v.count, v.sum, v.buckets)).collect::<Vec<_>>(),
        Err(_) => Vec::new(),
    };
    for ((route, method, status), count, _, _) in &series {
        out.push_str(&format!("buurtmeter_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}\n"));
    }
    out.push_str("# HELP buurtmeter_http_request_duration_seconds Request latency by route.\n# TYPE buurtmeter_http_request_duration_seconds histogram\n");
    let mut by_route: BTreeMap<(String, String), (u64, f64, [u64; BUCKETS.len()])> = BTreeMap::new();
    for ((route, method, _), count, sum, buckets) in &series {
        let e = by_route.entry((route.clone(), method.clone())).or_insert((0, 0.0, [0; BUCKETS.len()]));
        e.0 += count;
        e.1 += sum;
        for i in 0..BUCKETS.len() {
            e.2[i] += buckets[i];
        }
    }
    for ((route, method), (count, sum, buckets)) in by_route {
        for (i, b) in BUCKETS.iter().enumerate() {
            out.push_str(&format!(
                "buurtmeter_http_request_duration_seconds_bucket{{route=\"{route}\",method=\"{method}\",le=\"{b}\"}} {}\n",
                buckets[i]
            ));
        }
        out.push_str(&format!(
            "buurtmeter_http_request_duration_seconds_bucket{{route=\"{route}\",method=\"{method}\",le=\"+Inf\"}} {count}\n"
        ));
        out.push_str(&format!("buurtmeter_http_request_duration_seconds_sum{{route=\"{route}\",method=\"{method}\"}} {sum}\n"));
        out.push_str(&format!("buurtmeter_http_request_duration_seconds_count{{route=\"{route}\",method=\"{method}\"}} {count}\n"));
    }
    out.push_str(&format!(
        "# HELP buurtmeter_tile_cache_bytes Bytes held by the tile cache.\n# TYPE buurtmeter_tile_cache_bytes gauge\nbuurtmeter_tile_cache_bytes {}\n# HELP buurtmeter_tile_cache_entries Tiles held by the tile cache.\n# TYPE buurtmeter_tile_cache_entries gauge\nbuurtmeter_tile_cache_entries {}\n",
        state.tile_cache.weight(),
        state.tile_cache.len()
    ));
    let snap = state.current();
    out.push_str(&format!("# HELP buurtmeter_snapshot_info The data version being served.\n# TYPE buurtmeter_snapshot_info gauge\nbuurtmeter_snapshot_info{{version=\"{}\"}} 1\n", snap.version));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

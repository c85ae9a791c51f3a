//! `/metrics` in the Prometheus text format: requests and latency per route (the matched
//! route template, so the label set stays small) and status class; tile cache size.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Request counters and latency histograms: those of requests without a key (public),
/// and those of requests with one, shown only with the admin token, so a key holder's
/// use of a restricted layer leaves no trace in what anyone can read.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<SeriesMap>,
    keyed: Mutex<SeriesMap>,
    /// The tile route's common answers (200, 204, 304), counted without a lock: a cached
    /// tile is answered in a few microseconds, and a shared lock would be most of them.
    tiles: [AtomicSeries; 3],
    tiles_keyed: [AtomicSeries; 3],
}

/// The route template the tile route is counted under.
pub(crate) const TILE_ROUTE: &str = "/tiles/{tileset}/{z}/{x}/{y}";
const TILE_STATUSES: [u16; 3] = [200, 204, 304];

#[derive(Default)]
struct AtomicSeries {
    count: AtomicU64,
    nanos: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

impl Metrics {
    /// Count one answer of the tile route (which has no middleware: see `tiles::router`).
    pub(crate) fn record_tile(&self, keyed: bool, status: u16, secs: f64) {
        match TILE_STATUSES.iter().position(|&s| s == status) {
            Some(i) => {
                let s = if keyed { &self.tiles_keyed[i] } else { &self.tiles[i] };
                s.count.fetch_add(1, Ordering::Relaxed);
                s.nanos.fetch_add((secs * 1e9) as u64, Ordering::Relaxed);
                if let Some(b) = BUCKETS.iter().position(|b| secs <= *b) {
                    s.buckets[b].fetch_add(1, Ordering::Relaxed);
                }
            }
            None => record(if keyed { &self.keyed } else { &self.series }, TILE_ROUTE.to_string(), "GET".into(), status, secs),
        }
    }

    /// The lock-free tile counters as series, to merge with the others.
    fn tile_series(&self, keyed: bool) -> SeriesMap {
        let mut out = SeriesMap::new();
        for (i, s) in (if keyed { &self.tiles_keyed } else { &self.tiles }).iter().enumerate() {
            let count = s.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            // Stored per bucket it fell in; the histogram is cumulative.
            let mut buckets = [0u64; BUCKETS.len()];
            let mut run = 0;
            for (b, slot) in buckets.iter_mut().enumerate() {
                run += s.buckets[b].load(Ordering::Relaxed);
                *slot = run;
            }
            let series = Series { count, sum: s.nanos.load(Ordering::Relaxed) as f64 / 1e9, buckets };
            out.insert((TILE_ROUTE.to_string(), "GET".to_string(), TILE_STATUSES[i]), series);
        }
        out
    }
}

/// Whether a request offers a key (valid or not): counted apart from the public ones.
pub(crate) fn offers_key(req_headers: &axum::http::HeaderMap, query: Option<&str>) -> bool {
    req_headers.contains_key(header::AUTHORIZATION)
        || req_headers.contains_key("x-api-key")
        || query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("api_key=")))
}

fn record(series: &Mutex<SeriesMap>, route: String, method: String, status: u16, secs: f64) {
    if let Ok(mut m) = series.lock() {
        let s = m.entry((route, method, status)).or_default();
        s.count += 1;
        s.sum += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                s.buckets[i] += 1;
            }
        }
    }
}

/// (route, method, status) → counters.
type SeriesMap = BTreeMap<(String, String, u16), Series>;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    // Any request that offers a key (valid or not) is counted apart from the public ones.
    let keyed = offers_key(req.headers(), req.uri().query());
    let start = Instant::now();
    let res = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    record(if keyed { &state.metrics.keyed } else { &state.metrics.series }, route, method, res.status().as_u16(), secs);
    res
}

async fn render(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let admin = super::auth::is_admin(&state, &headers);
    let mut out = String::new();
    out.push_str(
        "# HELP buurtmeter_http_requests_total HTTP requests by route, method and status.\n# TYPE buurtmeter_http_requests_total counter\n",
    );
    let mut merged = SeriesMap::new();
    let sources: &[&Mutex<SeriesMap>] = if admin { &[&state.metrics.series, &state.metrics.keyed] } else { &[&state.metrics.series] };
    let tiles = [state.metrics.tile_series(false), if admin { state.metrics.tile_series(true) } else { SeriesMap::new() }];
    let mut add = |k: &(String, String, u16), v: &Series| {
        let e = merged.entry(k.clone()).or_default();
        e.count += v.count;
        e.sum += v.sum;
        (0..BUCKETS.len()).for_each(|i| e.buckets[i] += v.buckets[i]);
    };
    for source in sources {
        if let Ok(m) = source.lock() {
            m.iter().for_each(|(k, v)| add(k, v));
        }
    }
    tiles.iter().flatten().for_each(|(k, v)| add(k, v));
    let series: Vec<_> = merged.into_iter().map(|(k, v)| (k, v.count, v.sum, v.buckets)).collect();
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
    if admin {
        out.push_str(&format!(
            "# HELP buurtmeter_keyed_tile_cache_bytes Bytes held by the cache of restricted tiles.\n# TYPE buurtmeter_keyed_tile_cache_bytes gauge\nbuurtmeter_keyed_tile_cache_bytes {}\n",
            state.keyed_tile_cache.weight()
        ));
    }
    let snap = state.current();
    out.push_str(&format!("# HELP buurtmeter_snapshot_info The data version being served.\n# TYPE buurtmeter_snapshot_info gauge\nbuurtmeter_snapshot_info{{version=\"{}\"}} 1\n", snap.version));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4"), (header::CACHE_CONTROL, "no-store")], out).into_response()
}

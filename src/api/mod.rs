//! HTTP (axum). The only module that knows axum, status codes and wire formats. Each
//! route family owns a `router()`; [`app`] assembles them so tests can call it without a
//! socket. Requests only read the shared [`Snapshot`].

mod analysis;
mod areas;
mod auth;
mod features;
mod health;
mod hotspots;
mod i18n;
mod indicators;
mod metrics;
mod openapi;
mod profile;
pub mod reload;
mod styles;
pub mod tiles;
mod views;
mod web;

/// The OGC API query parameters' parsers: pure functions of the text (and the storage
/// CRS), public for the fuzz targets and their corpus replay test.
pub mod query {
    pub use super::features::{Crs, MAX_LIMIT, parse_bbox, parse_crs, parse_datetime, parse_limit, parse_offset};
}

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::snapshot::Snapshot;

pub use analysis::{AnalysisOptions, Limits};
pub use auth::{ApiKeys, KeysError, load_api_key_hashes};
pub(crate) use auth::{has_valid_key, sees_exact};
pub(crate) use i18n::Lang;
pub(crate) use web::{site_assets, site_page};

/// Tile cache key: (data version hash, tileset, z, x, y).
pub type TileKey = (u64, u16, u8, u32, u32);

/// Weighs cached tiles by their bytes.
#[derive(Clone)]
pub struct TileWeighter;

impl quick_cache::Weighter<TileKey, tiles::CachedTile> for TileWeighter {
    fn weight(&self, _key: &TileKey, val: &tiles::CachedTile) -> u64 {
        val.weight()
    }
}

/// Server settings that are not part of the project.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The URL clients reach the server at (behind a proxy); from the request otherwise.
    pub public_url: Option<String>,
    /// Upper bound of the in-memory tile cache.
    pub tile_cache_bytes: u64,
    /// SHA-256 (hex) of the API keys that open restricted layers. Keys themselves are
    /// never held: see [`load_api_key_hashes`].
    pub api_key_hashes: Vec<String>,
    /// Use `X-Forwarded-Host`/`X-Forwarded-Proto` for links (only behind a proxy that sets
    /// them; otherwise any client could write its own host into cacheable responses).
    pub trust_forwarded_headers: bool,
    /// Keys (SHA-256 hex) that see the exact values of protected layers, with the layers
    /// they may (empty: all). Every other key sees the protected values, like the public.
    pub exact_keys: Vec<(String, Vec<String>)>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            public_url: None,
            tile_cache_bytes: 256 << 20,
            api_key_hashes: Vec::new(),
            trust_forwarded_headers: false,
            exact_keys: Vec::new(),
        }
    }
}

type TileCache = quick_cache::sync::Cache<TileKey, tiles::CachedTile, TileWeighter>;

/// Shared, read-only state: the current snapshot (swappable as a whole), the tile cache
/// and the metrics.
#[derive(Clone)]
pub struct AppState {
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    /// Tiles everyone may see, keyed on the public data version: a restricted file that
    /// changes, or a key holder who views restricted tiles, leaves it as it was.
    pub(crate) tile_cache: Arc<TileCache>,
    /// Restricted tiles (key holders only), keyed on every input: a cache of its own, so
    /// nothing about it shows in the public cache or its metrics.
    pub(crate) keyed_tile_cache: Arc<TileCache>,
    pub(crate) options: Arc<ServerOptions>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) reloader: Option<Arc<reload::Reloader>>,
    /// Weights, hot spots and trends: their workers, limits and cache (`analysis`).
    pub(crate) analysis: Arc<analysis::Analysis>,
    /// Tiles rendered at once on the blocking pool (twice the cores): a burst of uncached
    /// tiles queues here instead of starting hundreds of threads.
    pub(crate) tile_renders: Arc<tokio::sync::Semaphore>,
    /// `items?f=fgb`: whole collections per public data version, and the writers' permits.
    pub(crate) fgb: Arc<features::FgbFiles>,
}

impl AppState {
    pub fn new(snapshot: Snapshot) -> AppState {
        AppState::with_options(snapshot, ServerOptions::default())
    }

    pub fn with_options(snapshot: Snapshot, options: ServerOptions) -> AppState {
        let cache = TileCache::with_weighter(4096, options.tile_cache_bytes.max(1), TileWeighter);
        let keyed = TileCache::with_weighter(1024, (options.tile_cache_bytes / 4).max(1), TileWeighter);
        AppState {
            snapshot: Arc::new(RwLock::new(Arc::new(snapshot))),
            tile_cache: Arc::new(cache),
            keyed_tile_cache: Arc::new(keyed),
            options: Arc::new(options),
            metrics: Arc::new(metrics::Metrics::default()),
            reloader: None,
            analysis: Arc::new(analysis::Analysis::new(AnalysisOptions::default())),
            tile_renders: Arc::new(tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
            fgb: Arc::new(features::FgbFiles::new()),
        }
    }

    /// Enable hot reload of this project file.
    pub fn with_reloader(mut self, reloader: reload::Reloader) -> AppState {
        self.reloader = Some(Arc::new(reloader));
        self
    }

    /// Replace the snapshot atomically; requests in flight keep the one they hold.
    pub fn swap(&self, snapshot: Snapshot) {
        let new = Arc::new(snapshot);
        match self.snapshot.write() {
            Ok(mut g) => *g = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    /// The snapshot to answer one request from.
    pub fn current(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(web::router())
        .merge(health::router())
        .merge(metrics::router())
        .merge(indicators::router())
        .merge(areas::router())
        .merge(hotspots::router())
        .merge(tiles::router())
        .merge(features::router())
        .merge(styles::router())
        .merge(reload::router())
        .merge(openapi::router())
        .fallback(|| async {
            ApiError::NotFound("no such path; see / (the map), /ogc, /tiles, /styles, /indicators, /openapi.json, /health".into())
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), vary_on_host))
        .layer(axum::middleware::from_fn_with_state(state.clone(), web::csp_on_html))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, std::time::Duration::from_secs(30)))
        .layer(tower_http::cors::CorsLayer::permissive())
        // Tiles: no middleware (see `tiles::tile_router`).
        .merge(tiles::tile_router())
        .with_state(state)
}

/// The base URL of this server as the client sees it: `--public-url`, else the
/// (forwarded) host and scheme of the request.
pub fn base_url(headers: &axum::http::HeaderMap, state: &AppState) -> String {
    if let Some(u) = &state.options.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok()).map(|v| v.split(',').next().unwrap_or("").trim().to_string());
    let trust = state.options.trust_forwarded_headers;
    let scheme = get("x-forwarded-proto").filter(|s| trust && (s == "https" || s == "http")).unwrap_or_else(|| "http".into());
    let host = get("x-forwarded-host")
        .filter(|_| trust)
        .or_else(|| get("host"))
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        .unwrap_or_else(|| "localhost".into());
    format!("{scheme}://{host}")
}

/// Responses embed the base URL (from the Host header, or the forwarded headers when they
/// are trusted) unless `--public-url` fixes it: say so to caches with `Vary`.
async fn vary_on_host(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut res = next.run(req).await;
    if state.options.public_url.is_none() {
        let v = if state.options.trust_forwarded_headers { "Host, X-Forwarded-Host, X-Forwarded-Proto" } else { "Host" };
        res.headers_mut().append(header::VARY, axum::http::HeaderValue::from_static(v));
    }
    res
}

/// An error answered as an RFC 9457 problem document.
#[derive(Debug)]
pub enum ApiError {
    NotFound(String),
    BadRequest(String),
    /// No credentials: 401, and no hint of what is behind it.
    Unauthorized,
    /// Wrong credentials: 403, and no hint of what is behind it.
    Forbidden,
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, d),
            ApiError::BadRequest(d) => (StatusCode::BAD_REQUEST, d),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "an API key is required (Authorization: Bearer <key>)".to_string()),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "this key is not valid here".to_string()),
            ApiError::Internal(d) => {
                tracing::error!(error = %d, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".to_string())
            }
        };
        problem_response(status, detail, [])
    }
}

/// A problem document (`views::Problem`) with its status and extra headers.
pub(crate) fn problem_response<const N: usize>(status: StatusCode, detail: String, headers: [(header::HeaderName, String); N]) -> Response {
    let body = serde_json::to_string(&views::Problem::new(status, detail)).unwrap_or_default();
    let mut res = (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response();
    for (name, value) in headers {
        if let Ok(v) = header::HeaderValue::from_str(&value) {
            res.headers_mut().insert(name, v);
        }
    }
    res
}

/// Serve until Ctrl-C or SIGTERM, finishing requests in flight.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

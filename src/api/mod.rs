//! HTTP (axum). The only module that knows axum, status codes and wire formats. Each
//! route family owns a `router()`; [`app`] assembles them so tests can call it without a
//! socket. Requests only read the shared [`Snapshot`].

mod features;
mod health;
mod indicators;
mod metrics;
pub mod reload;
mod styles;
pub mod tiles;
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

/// API key hashes from `BUURTMETER_API_KEYS_FILE` (one SHA-256 hex per line, `#`
/// comments) and `BUURTMETER_API_KEYS` (comma-separated hashes), kept outside the
/// project. Make a hash with `printf %s 'the key' | sha256sum`. In the file, a role may
/// follow the hash: `protected` (the default: the same protected values as the public,
/// plus restricted layers) or `exact` / `exact:layer1,layer2` (internal analysts: the
/// exact values of protected layers, all or the ones named). Returns every key's hash
/// and the exact keys with their layers.
pub type ApiKeys = (Vec<String>, Vec<(String, Vec<String>)>);

pub fn load_api_key_hashes() -> crate::Result<ApiKeys> {
    let mut out = Vec::new();
    let mut exact = Vec::new();
    let mut add = |h: &str, role: Option<&str>, origin: &str| -> crate::Result<()> {
        let h = h.trim().to_ascii_lowercase();
        if h.is_empty() || h.starts_with('#') {
            return Ok(());
        }
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(crate::Error::Usage(format!("{origin}: '{h}' is not a SHA-256 hex hash (printf %s 'key' | sha256sum)")));
        }
        match role.map(str::trim) {
            None | Some("protected") => {}
            Some("exact") => exact.push((h.clone(), Vec::new())),
            Some(r) if r.starts_with("exact:") => {
                exact.push((h.clone(), r["exact:".len()..].split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()))
            }
            Some(r) => {
                return Err(crate::Error::Usage(format!("{origin}: role '{r}' is not 'protected', 'exact' or 'exact:<layer>,<layer>'")));
            }
        }
        out.push(h);
        Ok(())
    };
    if let Ok(path) = std::env::var("BUURTMETER_API_KEYS_FILE") {
        let text = std::fs::read_to_string(&path).map_err(|e| crate::Error::input(&path, format!("cannot read the API key file: {e}")))?;
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let hash = words.next().unwrap_or("");
            let role = words.next().filter(|w| !w.starts_with('#'));
            add(hash, role, &path)?;
        }
    }
    if let Ok(list) = std::env::var("BUURTMETER_API_KEYS") {
        for h in list.split(',') {
            add(h, None, "BUURTMETER_API_KEYS")?;
        }
    }
    Ok((out, exact))
}

/// True when the request's key may see the exact values of point layer `layer`.
pub(crate) fn sees_exact(state: &AppState, headers: &axum::http::HeaderMap, query: Option<&str>, layer: &str) -> bool {
    let Some(key) = request_key(headers, query) else { return false };
    let hash = reload::sha256_hex(&key);
    state.options.exact_keys.iter().any(|(h, layers)| {
        reload::constant_time_eq(h.as_bytes(), hash.as_bytes()) && (layers.is_empty() || layers.iter().any(|l| l == layer))
    })
}

/// The API key a request carries: `Authorization: Bearer`, `X-API-Key`, or `?api_key=`.
fn request_key(headers: &axum::http::HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(k) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(k.trim().to_string());
    }
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.trim().to_string());
    }
    // Percent-decoded, as every client encodes it (`%2B` is `+`).
    form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == "api_key").map(|(_, v)| v.into_owned())
}

/// `Ok(true)` with a valid key, `Ok(false)` without one; `Err(Forbidden)` for a wrong one.
pub(crate) fn has_valid_key(state: &AppState, headers: &axum::http::HeaderMap, query: Option<&str>) -> Result<bool, ApiError> {
    let Some(key) = request_key(headers, query) else { return Ok(false) };
    let hash = reload::sha256_hex(&key);
    if state.options.api_key_hashes.iter().any(|h| reload::constant_time_eq(h.as_bytes(), hash.as_bytes())) {
        Ok(true)
    } else {
        Err(ApiError::Forbidden)
    }
}

type TileCache = quick_cache::sync::Cache<TileKey, tiles::CachedTile, TileWeighter>;

/// Shared, read-only state: the current snapshot (swappable as a whole), the tile cache
/// and the metrics.
#[derive(Clone)]
pub struct AppState {
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    pub(crate) tile_cache: Arc<TileCache>,
    pub(crate) options: Arc<ServerOptions>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) reloader: Option<Arc<reload::Reloader>>,
}

impl AppState {
    pub fn new(snapshot: Snapshot) -> AppState {
        AppState::with_options(snapshot, ServerOptions::default())
    }

    pub fn with_options(snapshot: Snapshot, options: ServerOptions) -> AppState {
        let cache = TileCache::with_weighter(4096, options.tile_cache_bytes.max(1), TileWeighter);
        AppState {
            snapshot: Arc::new(RwLock::new(Arc::new(snapshot))),
            tile_cache: Arc::new(cache),
            options: Arc::new(options),
            metrics: Arc::new(metrics::Metrics::default()),
            reloader: None,
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
        .merge(tiles::router())
        .merge(features::router())
        .merge(styles::router())
        .merge(reload::router())
        .fallback(|| async { ApiError::NotFound("no such path; see / (the map), /ogc, /tiles, /styles, /indicators, /health".into()) })
        .layer(axum::middleware::from_fn_with_state(state.clone(), vary_on_host))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, std::time::Duration::from_secs(30)))
        .layer(tower_http::cors::CorsLayer::permissive())
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
        let body = serde_json::json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        (status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response()
    }
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

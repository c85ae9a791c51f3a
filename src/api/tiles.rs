//! `/tiles` (list), `/tiles/{tileset}` (TileJSON 3.0.0) and
//! `/tiles/{tileset}/{z}/{x}/{y}.mvt`: empty tile → 204, `ETag` + 304, gzip only with
//! `Content-Encoding: gzip` when the client accepts it, a bounded cache keyed by the data
//! version, CPU work off the async workers.

use std::io::Write;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{ApiError, AppState, base_url};
use crate::tiles::grid;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/tiles", get(list)).route("/tiles/{tileset}", get(tilejson))
}

/// The tile route, apart from the others: a cached tile is a few microseconds of work,
/// so it passes no middleware (each costs an allocation, a boxed future, a lock or a
/// timer per request). What the layers of `api::app` do for the other routes it does
/// itself: lock-free metrics, CORS for any origin (and the preflight of a request with
/// an API key), a time limit on rendering; it sets no `Vary: Host` (a tile holds no URL).
pub(crate) fn tile_router() -> Router<AppState> {
    Router::new().route(super::metrics::TILE_ROUTE, get(lean_tile).options(preflight))
}

async fn lean_tile(
    State(state): State<AppState>,
    path: Path<(String, String, String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let start = std::time::Instant::now();
    let keyed = super::metrics::offers_key(&headers, query.as_deref());
    let mut res = match tile(State(state.clone()), path, headers, RawQuery(query)).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("*"));
    state.metrics.record_tile(keyed, res.status().as_u16(), start.elapsed().as_secs_f64());
    res
}

/// CORS preflight (a browser asks before sending `Authorization`): any origin, GET.
async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "*"),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
        .into_response()
}

/// The XYZ template of a tileset, as QGIS wants it pasted.
pub fn xyz_template(base: &str, id: &str, version: &str) -> String {
    format!("{base}/tiles/{id}/{{z}}/{{x}}/{{y}}.mvt?v={version}")
}

async fn list(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let snap = state.current();
    let base = base_url(&headers, &state);
    let keyed = super::has_valid_key(&state, &headers, query.as_deref())?;
    let items: Vec<Value> = snap
        .tiles
        .tilesets
        .iter()
        .filter(|t| keyed || !t.restricted)
        .map(|t| {
            json!({
                "id": t.id,
                "title": t.title,
                "tilejson": format!("{base}/tiles/{}", t.id),
                "xyz": xyz_template(&base, &t.id, &snap.version),
                "minzoom": 0,
                "maxzoom": t.maxzoom,
            })
        })
        .collect();
    let body = Json(json!({"tilesets": items}));
    // What a key sees must not land in a shared cache.
    Ok(if keyed { ([(header::CACHE_CONTROL, "private")], body).into_response() } else { body.into_response() })
}

async fn tilejson(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let snap = state.current();
    // Without a valid key a restricted tileset does not exist: the same 404 as an unknown id.
    let keyed = super::has_valid_key(&state, &headers, query.as_deref())?;
    let i = snap.tiles.tileset(&id).filter(|&i| keyed || !snap.tiles.tilesets[i].restricted).ok_or_else(|| not_found(&snap, &id))?;
    let t = &snap.tiles.tilesets[i];
    let base = base_url(&headers, &state);
    let mut body = tilejson_of(&snap, t);
    body["tiles"] = json!([xyz_template(&base, &t.id, &snap.version)]);
    Ok(([(header::CACHE_CONTROL, if t.restricted { "private" } else { "public, max-age=60" })], Json(body)).into_response())
}

/// A tileset's TileJSON 3.0.0 without its `tiles` URLs (which depend on where it is read):
/// the server's `/tiles/{id}`, and the metadata of a published PMTiles archive.
pub(crate) fn tilejson_of(snap: &crate::snapshot::Snapshot, t: &crate::tiles::Tileset) -> Value {
    // TileJSON's words for the kinds of properties.
    let kind = |k: &crate::tiles::FieldKind| match k {
        crate::tiles::FieldKind::Text => "String",
        crate::tiles::FieldKind::Number => "Number",
    };
    let fields: serde_json::Map<String, Value> = t.fields.iter().map(|(k, ty)| (k.clone(), json!(kind(ty)))).collect();
    let b = t.bounds;
    json!({
        "tilejson": "3.0.0",
        "name": t.title,
        "description": format!("{} — {}", snap.name, t.title),
        "attribution": snap.attribution.clone().unwrap_or_default(),
        "version": "1.0.0",
        "scheme": "xyz",
        "minzoom": 0,
        "maxzoom": t.maxzoom,
        "bounds": b,
        "center": [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, 11],
        "vector_layers": [{"id": t.id, "description": t.title, "minzoom": 0, "maxzoom": t.maxzoom, "fields": fields}],
    })
}

fn not_found(snap: &crate::snapshot::Snapshot, id: &str) -> ApiError {
    let ids: Vec<&str> = snap.tiles.tilesets.iter().filter(|t| !t.restricted).map(|t| t.id.as_str()).collect();
    ApiError::NotFound(format!("no tileset '{id}'; the tilesets are: {}", ids.join(", ")))
}

/// A cached tile: the raw bytes, their gzip, and the ETag.
#[derive(Clone)]
pub struct CachedTile {
    raw: bytes::Bytes,
    gzip: bytes::Bytes,
    etag: String,
}

impl CachedTile {
    pub(crate) fn weight(&self) -> u64 {
        (self.raw.len() + self.gzip.len() + self.etag.len() + 64) as u64
    }
}

/// Tiles smaller than this are not compressed (like nginx's `gzip_min_length`).
const GZIP_MIN_BYTES: usize = 1024;
/// From this zoom on, area tiles are rendered on the async worker itself.
const INLINE_RENDER_MIN_ZOOM: u8 = 13;

/// `z`, `x` and `y` (with `.mvt` or `.pbf`) of a tile URL, inside the pyramid.
fn tile_address(id: &str, z: &str, x: &str, y: &str) -> Result<(u8, u32, u32), ApiError> {
    let y = y.strip_suffix(".mvt").or_else(|| y.strip_suffix(".pbf")).unwrap_or(y);
    let parse = |s: &str, what: &str| {
        s.parse::<u32>()
            .map_err(|_| ApiError::BadRequest(format!("{what} '{s}' is not a whole number: use /tiles/{id}/{{z}}/{{x}}/{{y}}.mvt")))
    };
    let (z, x, y) = (parse(z, "z")?, parse(x, "x")?, parse(y, "y")?);
    if z > u32::from(grid::MAX_ZOOM) || !grid::valid(z as u8, x, y) {
        return Err(ApiError::NotFound(format!(
            "tile {z}/{x}/{y} is outside the pyramid (zoom 0–{}, x and y below 2^z); clients overzoom beyond {}",
            grid::MAX_ZOOM,
            grid::MAX_ZOOM
        )));
    }
    Ok((z as u8, x, y))
}

/// The MVT bytes of a tile as the server sends them (before any gzip); empty: no tile (204).
/// `buurtmeter publish` writes these very bytes into its archives.
pub fn tile_bytes(snap: &crate::snapshot::Snapshot, tileset: usize, z: u8, x: u32, y: u32) -> Vec<u8> {
    snap.tiles.render(tileset, z, x, y)
}

/// A rendered tile with its ETag, as the cache keeps it; with its gzip form when the
/// client that caused the render takes gzip (a client that does not would pay for a
/// compressor it never uses: the window's set-up was a tenth of an uncached z14 tile).
fn encoded_tile(raw: Vec<u8>, version: &str, gzip: bool) -> CachedTile {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    raw.hash(&mut h);
    let etag = format!("\"{version}-{:016x}\"", h.finish());
    let gzip = if gzip { gzipped(&raw) } else { Vec::new() };
    CachedTile { etag, raw: raw.into(), gzip: gzip.into() }
}

/// The gzip form of a tile; none for a small tile: gzip saves next to nothing on it and
/// setting up the compressor costs more than rendering (perf, z14).
fn gzipped(raw: &[u8]) -> Vec<u8> {
    if raw.len() < GZIP_MIN_BYTES {
        return Vec::new();
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = enc.write_all(raw);
    enc.finish().unwrap_or_default()
}

/// The public data version (12 hex digits) as a cache key.
fn public_version_key(version: &str) -> u64 {
    u64::from_str_radix(version, 16).unwrap_or_else(|_| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        version.hash(&mut h);
        h.finish()
    })
}

async fn tile(
    State(state): State<AppState>,
    Path((id, z, x, y)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let snap = state.current();
    let keyed = super::has_valid_key(&state, &headers, query.as_deref())?;
    let ts = snap.tiles.tileset(&id).filter(|&i| keyed || !snap.tiles.tilesets[i].restricted).ok_or_else(|| not_found(&snap, &id))?;
    let restricted = snap.tiles.tilesets[ts].restricted;
    let (z, x, y) = tile_address(&id, &z, &x, &y)?;
    let maxzoom = snap.tiles.tilesets[ts].maxzoom;
    if z > maxzoom {
        // A protected layer's tiles stop where a tile is its smallest published cell.
        return Err(ApiError::NotFound(format!("'{id}' has tiles up to zoom {maxzoom}: clients overzoom beyond it (see /tiles/{id})")));
    }
    // Public tiles depend on public inputs only: keyed on the public data version, so a
    // change in a restricted file does not empty the public cache (which anyone could see
    // in the latency of the next request).
    let (cache, version) =
        if restricted { (&state.keyed_tile_cache, snap.version_hash) } else { (&state.tile_cache, public_version_key(&snap.version)) };
    let key = (version, ts as u16, z, x, y);
    let gzip_ok = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")));
    let cached = match cache.get(&key) {
        // Rendered for a client that took no gzip: compressed now, once, for this one.
        Some(t) if gzip_ok && t.gzip.is_empty() && t.raw.len() >= GZIP_MIN_BYTES => {
            let raw = t.raw.clone();
            let gzip =
                tokio::task::spawn_blocking(move || gzipped(&raw)).await.map_err(|e| ApiError::Internal(format!("tile task: {e}")))?;
            let t = CachedTile { gzip: gzip.into(), ..t };
            cache.insert(key, t.clone());
            t
        }
        Some(t) => t,
        None => {
            let snap2 = snap.clone();
            let version = snap.version.clone();
            let make = move || encoded_tile(tile_bytes(&snap2, ts, z, x, y), &version, gzip_ok);
            // Area tiles from zoom 13 on hold a few clipped polygons and render in tens of
            // microseconds: on the worker, as a hop to the blocking pool costs as much.
            // Everything else (low zooms, point layers) may take milliseconds: off it.
            let cheap = z >= INLINE_RENDER_MIN_ZOOM && matches!(snap.tiles.tilesets[ts].source, crate::tiles::Source::Level(_));
            let t = if cheap {
                make()
            } else {
                // The time limit the other routes get from a layer: waiting for a render
                // slot and rendering, at most 30 s.
                let render = async {
                    let _permit = state.tile_renders.acquire().await.map_err(|e| ApiError::Internal(format!("tile task: {e}")))?;
                    tokio::task::spawn_blocking(make).await.map_err(|e| ApiError::Internal(format!("tile task: {e}")))
                };
                match tokio::time::timeout(std::time::Duration::from_secs(30), render).await {
                    Ok(t) => t?,
                    Err(_) => return Ok((StatusCode::REQUEST_TIMEOUT, "tile took too long").into_response()),
                }
            };
            cache.insert(key, t.clone());
            t
        }
    };
    let mut h = HeaderMap::new();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(if restricted { "private" } else { "public, max-age=300" }));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(v) = HeaderValue::from_str(&cached.etag) {
        h.insert(header::ETAG, v);
    }
    if cached.raw.is_empty() {
        return Ok((StatusCode::NO_CONTENT, h).into_response());
    }
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|e| e.trim() == cached.etag)) {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.mapbox-vector-tile"));
    if gzip_ok && !cached.gzip.is_empty() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        Ok((h, cached.gzip).into_response())
    } else {
        Ok((h, cached.raw).into_response())
    }
}

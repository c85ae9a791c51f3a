//! The web map at `/` and its static files under `/static/`, all compiled into the
//! binary (MapLibre GL JS from npm via build.rs): no CDN, works offline. Only the fixed
//! file names below are served, so no request path reaches the file system.

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ApiError, AppState};

const INDEX: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");
const MAPLIBRE_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/maplibre-gl.js"));
const MAPLIBRE_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/maplibre-gl.css"));

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/", get(index)).route("/static/{file}", get(asset))
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX).into_response()
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (body, ct): (&'static [u8], &str) = match file.as_str() {
        "app.js" => (APP_JS.as_bytes(), "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS.as_bytes(), "text/css; charset=utf-8"),
        "maplibre-gl.js" => (MAPLIBRE_JS, "text/javascript; charset=utf-8"),
        "maplibre-gl.css" => (MAPLIBRE_CSS, "text/css; charset=utf-8"),
        _ => return Err(ApiError::NotFound(format!("no static file '{file}'"))),
    };
    Ok(([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response())
}

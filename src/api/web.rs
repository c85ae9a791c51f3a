//! The web map at `/` and its static files under `/static/`, all compiled into the
//! binary (MapLibre GL JS from npm via build.rs): no CDN, works offline. Only the fixed
//! file names below are served, so no request path reaches the file system.

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ApiError, AppState};

/// The areas around the project's region (see `region::context_areas`) as GeoJSON, with
/// a label point each: drawn grey under the data, so the region has surroundings.
async fn context(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    use geo::InteriorPoint;
    let snap = state.current();
    let features: Vec<serde_json::Value> = snap
        .context
        .iter()
        .map(|(code, name, g)| {
            let label = g.interior_point().map(|p| [p.x(), p.y()]);
            serde_json::json!({
                "type": "Feature",
                "properties": {"code": code, "name": name.as_deref().unwrap_or(code), "label": label},
                "geometry": geojson::Geometry::new(geojson::GeometryValue::from(g)),
            })
        })
        .collect();
    (
        [(header::CONTENT_TYPE, "application/geo+json"), (header::CACHE_CONTROL, "public, max-age=300")],
        serde_json::json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
        .into_response()
}

/// Label positions for the web map: per area of a level its code, name, a point inside
/// it (lon/lat) and its size, so the map can name the largest areas in view. Levels are
/// public; this says nothing the OGC API does not.
async fn labels(axum::extract::State(state): axum::extract::State<AppState>, Path(level): Path<String>) -> Result<Response, ApiError> {
    use geo::InteriorPoint;
    let snap = state.current();
    let li = snap.level_index(&level).ok_or_else(|| ApiError::NotFound(format!("no level '{level}'")))?;
    let body = snap.labels[li].get_or_init(|| {
        let rows: Vec<serde_json::Value> = snap.levels[li]
            .areas
            .iter()
            .zip(&snap.wgs84[li])
            .filter_map(|(a, g)| {
                let p = g.interior_point()?;
                let round = |x: f64| (x * 1e6).round() / 1e6;
                Some(serde_json::json!({"code": a.code, "name": a.name.as_deref().unwrap_or(&a.code), "lon": round(p.x()), "lat": round(p.y()), "km2": (a.geometry_km2 * 1e3).round() / 1e3}))
            })
            .collect();
        serde_json::json!({"level": level, "labels": rows}).to_string()
    });
    Ok(([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "public, max-age=300")], body.clone()).into_response())
}

const INDEX: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");
const MAPLIBRE_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/maplibre-gl.js"));
const MAPLIBRE_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/maplibre-gl.css"));
const UPLOT_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/uPlot.iife.min.js"));
const UPLOT_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/uPlot.min.css"));

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/static/{file}", get(asset))
        .route("/labels/{level}", get(labels))
        .route("/context.geojson", get(context))
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
        "uplot.js" => (UPLOT_JS, "text/javascript; charset=utf-8"),
        "uplot.css" => (UPLOT_CSS, "text/css; charset=utf-8"),
        _ => return Err(ApiError::NotFound(format!("no static file '{file}'"))),
    };
    Ok(([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response())
}

//! `/styles` (list), `/styles/{id}.json` (MapLibre style v8, absolute URLs) and
//! `/styles/{id}.qml` (QGIS graduated style). Only indicator ids are accepted: no path
//! ever reaches the file system.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{ApiError, AppState, base_url};
use crate::export::styles;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/styles", get(list)).route("/styles/{file}", get(style))
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let snap = state.current();
    let base = base_url(&headers, &state);
    let items: Vec<Value> = snap
        .indicators
        .iter()
        .filter(|i| !i.restricted)
        .map(|i| json!({"id": i.def.id, "title": i.def.title, "maplibre": format!("{base}/styles/{}.json", i.def.id), "qml": format!("{base}/styles/{}.qml", i.def.id)}))
        .collect();
    Json(json!({"styles": items}))
}

#[derive(serde::Deserialize)]
struct StyleQuery {
    /// For QML: the level whose classes to use (default: the finest).
    level: Option<String>,
}

async fn style(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    Query(q): Query<StyleQuery>,
) -> Result<Response, ApiError> {
    let snap = state.current();
    let (id, ext) =
        file.rsplit_once('.').ok_or_else(|| ApiError::NotFound(format!("no style '{file}': use /styles/{{id}}.json or .qml")))?;
    let ind = snap.indicator(id).filter(|i| !i.restricted).ok_or_else(|| {
        let ids: Vec<&str> = snap.indicators.iter().filter(|i| !i.restricted).map(|i| i.def.id.as_str()).collect();
        ApiError::NotFound(format!("no style '{id}'; the styles are: {}", ids.join(", ")))
    })?;
    match ext {
        "json" => {
            let base = base_url(&headers, &state);
            Ok((
                [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "public, max-age=60")],
                styles::maplibre_style(&snap, ind, &base).to_string(),
            )
                .into_response())
        }
        "qml" => {
            let level = match q.level.as_deref() {
                None => 0,
                Some(l) => snap.level_index(l).ok_or_else(|| ApiError::BadRequest(format!("unknown level '{l}'")))?,
            };
            Ok((
                [(header::CONTENT_TYPE, "application/xml; charset=utf-8"), (header::CONTENT_DISPOSITION, "inline")],
                styles::qml_style(ind, level),
            )
                .into_response())
        }
        other => Err(ApiError::NotFound(format!("no style format '{other}': use .json (MapLibre) or .qml (QGIS)"))),
    }
}

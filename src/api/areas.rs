//! `/areas/{level}/{code}`: the area profile, as HTML for people (`?f=html`, or a browser's
//! `Accept`) and as JSON for tools (`?f=json`); `?period=` picks a period where an
//! indicator has it. Public indicators only.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::indicators::find_level;
use super::{ApiError, AppState};
use crate::export::profile::{profile_html, profile_json};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/areas/{level}/{code}", get(profile))
}

#[derive(Debug, Deserialize)]
struct ProfileQuery {
    f: Option<String>,
    period: Option<String>,
}

async fn profile(
    State(state): State<AppState>,
    Path((level, code)): Path<(String, String)>,
    Query(q): Query<ProfileQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let snap = state.current();
    let li = find_level(&snap, Some(&level))?;
    let l = &snap.levels[li];
    let a = *l.by_code.get(code.trim()).ok_or_else(|| ApiError::NotFound(format!("no area '{code}' in level '{}'", l.id)))?;
    let html = match q.f.as_deref() {
        Some("json") => false,
        Some("html") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("f={other}: give f=html or f=json"))),
        None => headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html")),
    };
    let period = q.period.as_deref();
    Ok(if html {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], profile_html(&snap, li, a, period)).into_response()
    } else {
        Json(profile_json(&snap, li, a, period)).into_response()
    })
}

//! `/areas/{level}/{code}`: the area profile, as HTML for people (`?f=html`, or a browser's
//! `Accept`) and as JSON for tools (`?f=json`); `?period=` picks a period where an
//! indicator has it; the page is in Dutch, German or English (`?lang=`, else the
//! browser's `Accept-Language`: `api::i18n`). Public indicators only.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

use super::i18n::{Lang, language_headers};
use super::indicators::find_level;
use super::profile::{profile, profile_html};
use super::views::{Problem, Profile};
use super::{ApiError, AppState};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/areas/{level}/{code}", get(area_profile))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProfileQuery {
    /// `json` or `html` (default: HTML when the `Accept` header asks for it, else JSON).
    #[param(pattern = "^(json|html)$")]
    f: Option<String>,
    /// A period: each indicator at this period where it has it, else at its latest.
    #[param(example = "2024")]
    period: Option<String>,
    /// The language of the HTML page: `nl`, `de` or `en` (default: the browser's
    /// `Accept-Language`, else Dutch). The JSON is the same in every language.
    #[param(example = "de")]
    lang: Option<String>,
}

/// The profile of one area: every public indicator, compared with its parent areas, with
/// all areas of its level and over time.
#[utoipa::path(
    get,
    path = "/areas/{level}/{code}",
    tag = "areas",
    params(
        ("level" = String, Path, description = "`buurt`, `wijk`, `gemeente` or a level id", example = "buurten"),
        ("code" = String, Path, description = "the area's code in that level", example = "BU99990000"),
        ProfileQuery,
    ),
    responses(
        (status = 200, description = "the profile, as JSON or as an HTML page (A4 when printed)", content(
            (Profile = "application/json"),
            (String = "text/html"),
        )),
        (status = 400, description = "an unknown level, or f= other than json or html", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such area in the level", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn area_profile(
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
    let p = profile(&snap, li, a, q.period.as_deref());
    Ok(if html {
        let lang = Lang::negotiate(q.lang.as_deref(), &headers);
        let mut res = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], profile_html(&snap, li, a, &p, lang)).into_response();
        language_headers(lang, res.headers_mut());
        res
    } else {
        Json(p).into_response()
    })
}

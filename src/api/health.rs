//! `/health`: liveness plus what is loaded. Without the admin token it counts and names
//! public things only and says nothing about inputs (no paths, no reload errors), so it
//! reads the same whether a restricted file exists, is broken or is absent. With
//! `Authorization: Bearer <BUURTMETER_ADMIN_TOKEN>` it adds the reload status, its last
//! error, the warnings and the restricted layers.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use crate::config::Access;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let snap = state.current();
    let admin = super::auth::is_admin(&state, &headers);
    let levels: Vec<_> = snap.levels.iter().map(|l| serde_json::json!({"id": l.id, "areas": l.areas.len()})).collect();
    let points: Vec<_> = snap
        .points
        .iter()
        .filter(|p| admin || p.access != Access::Restricted)
        .map(|p| {
            // A protected layer's true counts exist only inside the build: none of them here
            // (its published counts are in the indicators, with their noise).
            if p.ptable.is_some() && !admin {
                let mut v = serde_json::json!({"id": p.layer.id, "protected": true});
                if let Some(live) = &p.live {
                    v["release"] = live.release.clone().into();
                }
                return v;
            }
            let a = &p.layer.accounting;
            // Counted on the live records (a layer published at release points serves others).
            let n_live = p.live.as_ref().map_or(p.layer.records(), |l| l.layer.records());
            let per_level: Vec<_> = snap
                .levels
                .iter()
                .zip(&p.joined_per_level)
                .map(|(l, &j)| serde_json::json!({"level": l.id, "joined": j, "outside": n_live - j}))
                .collect();
            let partly: serde_json::Map<String, serde_json::Value> =
                a.field_issues.iter().map(|(k, n)| (k.key().to_string(), (*n).into())).collect();
            let mut v = serde_json::json!({
                "id": p.layer.id,
                "rows": a.rows,
                "joined": a.joined,
                "outside": a.outside,
                "outside_region": a.outside_region,
                "rejected": a.rejected_total(),
                "partly_used": partly,
                "not_records": a.not_records,
                "per_level": per_level,
            });
            if let Some(live) = &p.live {
                v["release"] = live.release.clone().into();
                v["released_records"] = p.layer.len().into();
            }
            v
        })
        .collect();
    let mut body = serde_json::json!({
        "status": "ok",
        "project": snap.name,
        "data_version": snap.version,
        "levels": levels,
        "points": points,
        "indicators": snap.indicators.iter().filter(|i| admin || !i.restricted).count(),
    });
    if admin {
        let reload = state.reloader.as_ref().map(|r| {
            let s = r.status();
            serde_json::json!({
                "project_file": r.project_file.display().to_string(),
                "reloads": s.reloads,
                "failures": s.failures,
                "last_error": s.last_error,
                "last_attempt_unix": s.last_attempt_unix,
                "last_success_unix": s.last_success_unix,
            })
        });
        if reload.as_ref().is_some_and(|r| !r["last_error"].is_null()) {
            body["status"] = "degraded".into();
        }
        body["reload"] = reload.unwrap_or_default();
        body["warnings"] = snap.warnings.clone().into();
        return ([(header::CACHE_CONTROL, "private, no-store")], Json(body)).into_response();
    }
    ([(header::CACHE_CONTROL, "no-store"), (header::VARY, "Authorization")], Json(body)).into_response()
}

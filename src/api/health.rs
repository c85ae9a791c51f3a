//! `/health`: liveness plus what is loaded.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    let snap = state.current();
    let levels: Vec<_> = snap.levels.iter().map(|l| serde_json::json!({"id": l.id, "areas": l.areas.len()})).collect();
    let points: Vec<_> = snap
        .points
        .iter()
        .filter(|p| p.access != crate::config::Access::Restricted)
        .map(|p| {
            let a = &p.layer.accounting;
            let per_level: Vec<_> = snap
                .levels
                .iter()
                .zip(&p.joined_per_level)
                .map(|(l, &j)| serde_json::json!({"level": l.id, "joined": j, "outside": p.layer.len() as u64 - j}))
                .collect();
            serde_json::json!({"id": p.layer.id, "rows": a.rows, "joined": a.joined, "outside": a.outside, "rejected": a.rejected_total(), "per_level": per_level})
        })
        .collect();
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
    let status = match &reload {
        Some(r) if !r["last_error"].is_null() => "degraded",
        _ => "ok",
    };
    Json(serde_json::json!({
        "status": status,
        "reload": reload,
        "project": snap.name,
        "data_version": snap.version,
        "levels": levels,
        "points": points,
        "indicators": snap.indicators.len(),
        "warnings": snap.warnings.len(),
    }))
}

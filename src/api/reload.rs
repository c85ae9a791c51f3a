//! Hot reload: when an input file or the project file changes (polled), on SIGHUP, or on
//! an authenticated `POST /admin/reload`, the snapshot is rebuilt in the background and
//! swapped in atomically. Requests in flight finish on the snapshot they started with.
//! A reload that fails keeps the old snapshot serving and reports why on `/health` and
//! in the log; the data version (and so tile caches and TileJSON URLs) only moves on
//! success.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use super::{ApiError, AppState};
use crate::snapshot;

/// What the reloader knows: where the project is and how the last attempt went.
#[derive(Debug)]
pub struct Reloader {
    pub project_file: PathBuf,
    /// Hex SHA-256 of the admin token (from `BUURTMETER_ADMIN_TOKEN`), if any.
    pub admin_token_sha256: Option<String>,
    pub status: Mutex<ReloadStatus>,
    /// Serialises rebuilds.
    busy: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub reloads: u64,
    pub failures: u64,
    pub last_error: Option<String>,
    pub last_attempt_unix: Option<u64>,
    pub last_success_unix: Option<u64>,
}

impl Reloader {
    pub fn new(project_file: PathBuf, admin_token_sha256: Option<String>) -> Reloader {
        Reloader { project_file, admin_token_sha256, status: Mutex::new(ReloadStatus::default()), busy: tokio::sync::Mutex::new(()) }
    }

    pub fn status(&self) -> ReloadStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("reload is not enabled")]
    Disabled,
    /// The project or an input could not be read: the previous data stays served.
    #[error(transparent)]
    Build(#[from] crate::Error),
    #[error("the rebuild thread stopped without an answer")]
    ThreadDied,
}

/// Rebuild and swap. The build runs on its own OS thread (GDAL and polars block), never
/// on an async worker. Returns the new data version, or why it failed.
pub async fn reload(state: &AppState, why: &str) -> Result<String, ReloadError> {
    let Some(r) = state.reloader.clone() else { return Err(ReloadError::Disabled) };
    let _guard = r.busy.lock().await;
    let started = Instant::now();
    let file = r.project_file.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result = crate::init::load_project(&file).and_then(|p| Ok(snapshot::build(&p)?)).map_err(ReloadError::Build);
        let _ = tx.send(result);
    });
    let result = rx.await.unwrap_or(Err(ReloadError::ThreadDied));
    let mut status = match r.status.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    status.last_attempt_unix = Some(now_unix());
    match result {
        Ok(snap) => {
            let version = snap.version.clone();
            state.swap(snap);
            status.reloads += 1;
            status.last_error = None;
            status.last_success_unix = Some(now_unix());
            tracing::warn!(%why, %version, seconds = started.elapsed().as_secs_f64(), "reloaded");
            Ok(version)
        }
        Err(e) => {
            status.failures += 1;
            status.last_error = Some(e.to_string());
            tracing::error!(%why, error = %e, "reload failed; still serving the previous data");
            Err(e)
        }
    }
}

/// Poll the inputs' size and modification time; reload when they change (and settle).
/// The rebuilt snapshot's version comes from the content, so touching a file without
/// changing it reloads but keeps the version (and every cached tile URL).
pub async fn watch(state: AppState, every: Duration) {
    let Some(r) = state.reloader.clone() else { return };
    // Off the async workers: the fingerprint reads file metadata and may ask a database.
    let fingerprint = |file: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || match crate::init::load_project_cached(&file) {
            Ok(p) => snapshot::inputs_fingerprint(&p),
            Err(_) => 0,
        })
        .await
        .unwrap_or(0)
    };
    let mut loaded = fingerprint(r.project_file.clone()).await;
    let mut last_seen = loaded;
    loop {
        tokio::time::sleep(every).await;
        let seen = fingerprint(r.project_file.clone()).await;
        if seen != last_seen {
            // Wait one more round so a file being written settles.
            last_seen = seen;
            continue;
        }
        if seen != loaded {
            loaded = seen;
            let _ = reload(&state, "an input file changed").await;
        }
    }
}

/// Reload on SIGHUP.
pub async fn on_sighup(state: AppState) {
    #[cfg(unix)]
    {
        let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while s.recv().await.is_some() {
            let _ = reload(&state, "SIGHUP").await;
        }
    }
    #[cfg(not(unix))]
    let _ = state;
}

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/admin/reload", post(admin_reload))
}

/// Hex SHA-256 of a secret.
pub fn sha256_hex(secret: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

async fn admin_reload(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some(r) = state.reloader.clone() else { return Err(ApiError::NotFound("no such path".into())) };
    let Some(expected) = &r.admin_token_sha256 else { return Err(ApiError::NotFound("no such path".into())) };
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    if token.is_empty() {
        return Err(ApiError::Unauthorized);
    }
    if !constant_time_eq(sha256_hex(token).as_bytes(), expected.as_bytes()) {
        return Err(ApiError::Forbidden);
    }
    match reload(&state, "admin request").await {
        Ok(version) => Ok(Json(json!({"status": "reloaded", "data_version": version})).into_response()),
        Err(e) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"status": "failed", "error": e.to_string(), "data_version": state.current().version})),
        )
            .into_response()),
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

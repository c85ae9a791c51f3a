//! HTTP (axum). The only module that knows axum, status codes and wire formats. Each
//! route family owns a `router()`; [`app`] assembles them so tests can call it without a
//! socket. Requests only read the shared [`Snapshot`].

mod health;
mod indicators;

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::snapshot::Snapshot;

/// Shared, read-only state: the current snapshot (swappable as a whole).
#[derive(Clone)]
pub struct AppState {
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
}

impl AppState {
    pub fn new(snapshot: Snapshot) -> AppState {
        AppState {
            snapshot: Arc::new(RwLock::new(Arc::new(snapshot))),
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
        .merge(health::router())
        .merge(indicators::router())
        .fallback(|| async {
            ApiError::NotFound("no such path; see /indicators and /health".into())
        })
        .layer(tower_http::cors::CorsLayer::permissive())
        .with_state(state)
}

/// An error answered as an RFC 9457 problem document.
#[derive(Debug)]
pub enum ApiError {
    NotFound(String),
    BadRequest(String),
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, d),
            ApiError::BadRequest(d) => (StatusCode::BAD_REQUEST, d),
            ApiError::Internal(d) => {
                tracing::error!(error = %d, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        };
        let body = serde_json::json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// Serve until Ctrl-C or SIGTERM, finishing requests in flight.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
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

//! Probes and metrics: `/healthz`, `/readyz`, and `/metrics` (Prometheus).

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::HttpState;
use crate::auth;

pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub(super) async fn readyz(
    State(state): State<HttpState>,
) -> (StatusCode, Json<serde_json::Value>) {
    match tokio::time::timeout(Duration::from_secs(2), state.app.db.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "database": "ok"})),
        ),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": "unreachable"})),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "database": "timeout"})),
        ),
    }
}

/// `GET /metrics`: Prometheus text format. Open unless
/// `GATEHOUSE_METRICS_TOKEN` is set; then that bearer token is required.
pub(super) async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(auth::bearer_token)
            .unwrap_or_default();
        // Compare digests so the comparison time does not reveal a prefix.
        use sha2::{Digest, Sha256};
        if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    "Bearer realm=\"gatehouse-metrics\"",
                )],
                "a metrics token is required: Authorization: Bearer <GATEHOUSE_METRICS_TOKEN>\n",
            )
                .into_response();
        }
    }
    let app = &state.app;
    match app
        .monitoring
        .render(&app.db, &app.queries, app.clock.now())
        .await
    {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error, "rendering metrics failed");
            (StatusCode::SERVICE_UNAVAILABLE, "internal error\n").into_response()
        }
    }
}

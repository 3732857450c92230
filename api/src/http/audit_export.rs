//! `GET /audit/export?from=RFC3339&to=RFC3339`: the evidence pack of a
//! period as a tar archive (auditor, admin). Same content as
//! `gatehouse audit export`.

use std::io::{Seek, SeekFrom};

use axum::{
    Json,
    body::Body,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use tokio_util::io::ReaderStream;

use super::HttpState;
use crate::{
    auth::Actor,
    domain::evidence_pack::Period,
    error::{ServiceError, ServiceResult},
    service::{Caller, evidence},
};

#[derive(Debug, Deserialize)]
pub struct ExportParams {
    from: Option<String>,
    to: Option<String>,
}

pub async fn export(
    State(state): State<HttpState>,
    address: super::gate::ClientAddress,
    headers: HeaderMap,
    Query(params): Query<ExportParams>,
) -> Response {
    let actor = match super::gate::authenticate(&state, &headers, address).await {
        Ok(actor) => actor,
        Err(refused) => return refused.into_response(),
    };
    match build(&state, actor, params).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

fn parse_instant(field: &str, value: Option<&str>) -> ServiceResult<DateTime<Utc>> {
    let value = value.ok_or_else(|| ServiceError::validation(field, "is required (RFC 3339)"))?;
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ServiceError::validation(
                field,
                "must be an RFC 3339 instant, e.g. 2026-11-01T00:00:00Z",
            )
        })
}

async fn build(state: &HttpState, actor: Actor, params: ExportParams) -> ServiceResult<Response> {
    let caller = Caller::Account(actor);
    // Who may export is checked before any input, so a caller without the
    // role learns nothing about what the endpoint accepts.
    caller.authorize(crate::domain::permissions::read_audit_trail)?;
    let period = Period::new(
        parse_instant("from", params.from.as_deref())?,
        parse_instant("to", params.to.as_deref())?,
    )?;
    let name = period.pack_name();
    let staging = tempfile::tempdir().map_err(internal)?;
    let dir = staging.path().join(&name);
    evidence::export(&state.app.db, &state.app.policy, &caller, period, &dir).await?;
    let archive_name = name.clone();
    let archive = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        // An unnamed temporary file: gone once the response is sent.
        let mut builder = tar::Builder::new(tempfile::tempfile()?);
        builder.mode(tar::HeaderMode::Deterministic);
        builder.append_dir_all(&archive_name, &dir)?;
        let mut file = builder.into_inner()?;
        file.sync_all()?;
        file.seek(SeekFrom::Start(0))?;
        drop(staging);
        Ok(file)
    })
    .await
    .map_err(|e| ServiceError::internal_from("archiving the evidence pack", e))?
    .map_err(internal)?;
    let length = archive.metadata().map_err(internal)?.len();
    let body = Body::from_stream(ReaderStream::new(tokio::fs::File::from_std(archive)));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.tar\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn internal(error: std::io::Error) -> ServiceError {
    ServiceError::internal_from("building the evidence pack", error)
}

/// The GraphQL error shape, so clients handle both endpoints alike.
fn error_response(error: &ServiceError) -> Response {
    use async_graphql::ErrorExtensions;
    let status = match error {
        ServiceError::Unauthenticated => StatusCode::UNAUTHORIZED,
        ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
        ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
        ServiceError::Validation { .. } => StatusCode::BAD_REQUEST,
        ServiceError::Conflict(_) => StatusCode::CONFLICT,
        ServiceError::PolicyViolation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::Database(_) | ServiceError::Internal { .. } | ServiceError::Lagged { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        ServiceError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
    };
    // `extend` logs internal detail and keeps it out of the message.
    let message = error.extend().message;
    let mut extensions = json!({"code": error.code()});
    if let ServiceError::Validation { field, .. } = error {
        extensions["field"] = json!(field);
    }
    let body = json!({"errors": [{"message": message, "extensions": extensions}]});
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"gatehouse\""),
        );
    }
    response
}

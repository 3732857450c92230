//! `GET /calendar.ics`: the iCalendar feed, authenticated by a feed token.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use headers::{ETag, HeaderMapExt, IfModifiedSince, IfNoneMatch, LastModified};

use super::{HttpState, gate};
use crate::{error::ServiceError, service::ical::Feed};

#[derive(Debug, serde::Deserialize)]
pub(super) struct FeedQuery {
    token: Option<String>,
    /// Comma-separated system ids.
    system: Option<String>,
    /// Comma-separated change type keys.
    #[serde(rename = "type")]
    change_type: Option<String>,
}

/// `GET /calendar.ics?token=...`: calendar clients cannot send bearer
/// headers, so a read-only feed token travels in the URL (never logged:
/// the request span records the route, not the query).
pub(super) async fn calendar_feed(
    State(state): State<HttpState>,
    address: gate::ClientAddress,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<FeedQuery>,
) -> Response {
    let plain = |status: StatusCode, text: &str| {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text.to_owned(),
        )
            .into_response()
    };
    let Some(secret) = query.token.as_deref() else {
        return plain(
            StatusCode::UNAUTHORIZED,
            "a feed token is required: /calendar.ics?token=...",
        );
    };
    if let Err(refused) = gate::admit_address(&state, address) {
        return refused.into_response();
    }
    match crate::service::calendar::authenticate_feed(&state.app.db, secret).await {
        Ok(owner) => {
            if let Err(refused) = gate::charge_account(&state, owner) {
                return refused.into_response();
            }
        }
        Err(ServiceError::Unauthenticated | ServiceError::NotFound { .. }) => {
            gate::charge_failed_attempt(&state, address);
            return plain(StatusCode::UNAUTHORIZED, "unknown or revoked feed token");
        }
        Err(error) => {
            tracing::error!(error = %error, "feed authentication failed");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "internal error");
        }
    }
    let split = |value: &Option<String>| -> Vec<String> {
        value
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut systems = Vec::new();
    for id in split(&query.system) {
        // A system's global id (`System:uuid`, its GraphQL `id`) or the
        // bare uuid.
        match crate::domain::node_id::parse_as(
            "system",
            &id,
            crate::domain::node_id::NodeType::System,
        ) {
            Ok(id) => systems.push(id),
            Err(_) => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    "system must be a comma-separated list of system ids",
                );
            }
        }
    }
    let filter = crate::service::ical::FeedFilter {
        systems,
        change_types: split(&query.change_type),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base_url = format!("http://{host}");
    let rendered = crate::service::ical::render(
        &state.app.db,
        &state.app.policy,
        state.app.policy_loaded_at,
        &base_url,
        &filter,
    )
    .await;
    match rendered {
        Ok(feed) => conditional(&headers, feed),
        Err(error) => {
            tracing::error!(error = %error, "rendering the calendar feed failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// The feed, or 304 when the client's copy is current: by its entity tag
/// when it sends If-None-Match, which then decides alone, else by its date
/// (RFC 9110 §13.2.2). Either answer carries both validators.
fn conditional(request: &HeaderMap, feed: Feed) -> Response {
    let etag = format!("\"{}\"", feed.digest).parse::<ETag>().ok();
    let current = match (request.typed_get::<IfNoneMatch>(), &etag) {
        (Some(if_none_match), Some(etag)) => !if_none_match.precondition_passes(etag),
        (Some(_), None) => false,
        (None, _) => request
            .typed_get::<IfModifiedSince>()
            .is_some_and(|since| !since.is_modified(feed.changed_at.into())),
    };
    let mut response = if current {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
            feed.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    if let Some(etag) = etag {
        headers.typed_insert(etag);
    }
    headers.typed_insert(LastModified::from(std::time::SystemTime::from(
        feed.last_modified,
    )));
    response
}

//! Who gets in, and how often: the one place every authenticated route
//! (GraphQL over HTTP and WebSocket, reports, the audit export, the
//! calendar feed) identifies its caller and charges the rate limit.
//!
//! Budgets belong to accounts, not tokens, so issuing more tokens buys no
//! more requests. A request whose token is unknown (or missing) has no
//! account to charge: it is charged to its client address, and once that
//! address has used its budget of failed attempts it is refused before its
//! token is even looked up, so guessing tokens costs the database nothing.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use async_graphql::ErrorExtensions;
use axum::{
    Json,
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde_json::json;
use uuid::Uuid;

use super::HttpState;
use crate::{auth, auth::Actor, error::ServiceError, service::tokens};

/// The peer's address, when the server was started with connection info
/// (it always is; a router driven in-process may not be). Proxy headers
/// such as `X-Forwarded-For` are not trusted: any client can send them.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

/// The bearer token of `Authorization: Bearer <token>`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(auth::bearer_token)
}

fn address_key(address: ClientAddress) -> String {
    match address.0 {
        Some(ip) => format!("address:{ip}"),
        None => "address:unknown".to_owned(),
    }
}

pub fn account_key(account: Uuid) -> String {
    format!("account:{account}")
}

/// Refuses an address that has used up its budget of failed attempts,
/// before anything is looked up for it.
pub fn admit_address(state: &HttpState, address: ClientAddress) -> Result<(), Refusal> {
    match state
        .rate_limiter
        .exhausted(&address_key(address), std::time::Instant::now())
    {
        Some(retry_after) => Err(Refusal::RateLimited(retry_after)),
        None => Ok(()),
    }
}

/// Charges a failed authentication to its client address.
pub fn charge_failed_attempt(state: &HttpState, address: ClientAddress) {
    let _ = state
        .rate_limiter
        .check(&address_key(address), std::time::Instant::now());
}

/// Charges one request to an account's budget.
pub fn charge_account(state: &HttpState, account: Uuid) -> Result<(), Refusal> {
    state
        .rate_limiter
        .check(&account_key(account), std::time::Instant::now())
        .map_err(Refusal::RateLimited)
}

/// Why a request was turned away before it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    RateLimited(Duration),
    /// No, an unknown, a revoked or an expired token.
    Unauthenticated,
    /// The token could not be checked: the database did not answer.
    Unavailable,
}

impl Refusal {
    /// The refusal of a failed token check; an unknown token is charged
    /// to the client address.
    pub fn of_failed_authentication(
        state: &HttpState,
        address: ClientAddress,
        error: &ServiceError,
    ) -> Self {
        if matches!(error, ServiceError::Unauthenticated) {
            charge_failed_attempt(state, address);
            Self::Unauthenticated
        } else {
            Self::Unavailable
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::RateLimited(retry_after) => rate_limited(retry_after),
            Self::Unauthenticated => authentication_failed(ServiceError::Unauthenticated),
            Self::Unavailable => refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable; retry later",
                "INTERNAL",
            ),
        }
    }
}

/// The caller of a bearer-authenticated route, rate limited; or why it
/// is refused (401, 429 or 503).
pub async fn authenticate(
    state: &HttpState,
    headers: &HeaderMap,
    address: ClientAddress,
) -> Result<Actor, Refusal> {
    admit_address(state, address)?;
    let Some(secret) = bearer(headers) else {
        charge_failed_attempt(state, address);
        return Err(Refusal::Unauthenticated);
    };
    let actor = tokens::authenticate(&state.app.db, secret)
        .await
        .map_err(|error| Refusal::of_failed_authentication(state, address, &error))?;
    charge_account(state, actor.user_id)?;
    Ok(actor)
}

/// 429 with `Retry-After`, in the GraphQL error shape.
fn rate_limited(retry_after: Duration) -> Response {
    let mut response = refusal(
        StatusCode::TOO_MANY_REQUESTS,
        "rate limit exceeded; retry later",
        "RATE_LIMITED",
    );
    if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// 401 for an unknown, revoked or expired token.
fn authentication_failed(error: ServiceError) -> Response {
    let message = error.extend().message;
    let mut response = refusal(StatusCode::UNAUTHORIZED, &message, "UNAUTHENTICATED");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"gatehouse\""),
    );
    response
}

/// A request refused before it ran, in the GraphQL error shape.
pub fn refusal(status: StatusCode, message: &str, code: &str) -> Response {
    // No `data` entry: nothing was executed.
    let body = json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    (status, Json(body)).into_response()
}

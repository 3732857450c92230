//! HTTP routes: GraphQL (with GraphiQL), health and readiness, the
//! calendar feed, report downloads and evidence pack export.

mod audit_export;
pub mod gate;
pub mod limits;
mod reports;
pub mod request_shape;
pub mod response_cache;
pub mod socket;

use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::GraphQLResponse;
use axum::{
    Json, Router,
    body::Bytes,
    extract::{MatchedPath, State},
    http::{HeaderMap, HeaderName, Request, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use tracing::Span;

use crate::{
    auth,
    error::ServiceError,
    graphql::{AppSchema, context::AppState, loaders},
    http::response_cache::Lookup,
    monitoring::CacheResult,
    service::tokens,
    store::audit,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
pub struct HttpState {
    pub schema: AppSchema,
    pub app: AppState,
    pub limits: crate::config::Limits,
    pub rate_limiter: std::sync::Arc<limits::RateLimiter>,
    /// See `Settings::metrics_token`.
    pub metrics_token: Option<String>,
    /// `None` when turned off (`Settings::response_cache`).
    pub response_cache: Option<std::sync::Arc<response_cache::ResponseCache>>,
    /// Started by the first WebSocket connection (`socket`).
    pub credentials: socket::CredentialsWatch,
}

pub fn router(state: HttpState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    let monitoring = state.app.monitoring.clone();
    let graphql_route = if state.limits.graphiql {
        get(graphiql).post(graphql)
    } else {
        axum::routing::post(graphql)
    };
    Router::new()
        .route("/graphql", graphql_route)
        .route("/graphql/ws", get(socket::upgrade))
        .route("/calendar.ics", get(calendar_feed))
        .route("/reports/{kind}", get(reports::download))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/audit/export", get(audit_export::export))
        .route("/metrics", get(metrics))
        .with_state(state)
        // Enforced by the body extractor, so the GraphQL route can answer
        // an oversized body in the GraphQL error shape.
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(monitoring, track_http))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let matched = request.extensions().get::<MatchedPath>();
                    let route = matched.map_or_else(
                        || request.uri().path().to_owned(),
                        |p| p.as_str().to_owned(),
                    );
                    // Named by the route template, never by a raw path (a
                    // probe of random paths must not mint span names).
                    let span_name = match matched {
                        Some(template) => format!("{} {}", request.method(), template.as_str()),
                        None => request.method().to_string(),
                    };
                    let request_id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    // `otel.*` fields name the exported span (`POST /graphql`)
                    // and its kind; other layers treat them as plain fields.
                    let span = tracing::info_span!(
                        "http_request",
                        otel.name = %span_name,
                        otel.kind = "server",
                        method = %request.method(),
                        route = %route,
                        request_id = %request_id,
                        status = tracing::field::Empty,
                        latency_ms = tracing::field::Empty,
                        otel.status_code = tracing::field::Empty,
                    );
                    crate::telemetry::continue_remote_trace(&span, request.headers());
                    span
                })
                .on_request(())
                .on_response(|response: &Response, latency: Duration, span: &Span| {
                    span.record("status", response.status().as_u16());
                    if response.status().is_server_error() {
                        span.record("otel.status_code", "error");
                    }
                    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
                    tracing::info!(
                        status = response.status().as_u16(),
                        latency_ms = latency.as_secs_f64() * 1000.0,
                        "request completed"
                    );
                })
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// GraphiQL is a static page holding no data; the queries it sends carry
/// the user's token like any other client's.
async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

async fn graphql(
    State(state): State<HttpState>,
    address: gate::ClientAddress,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        // Over `max_body_bytes` (or a broken upload): said in the GraphQL
        // error shape like every other refusal.
        Err(rejection) => {
            let message = format!(
                "the request body could not be read: {} (at most {} bytes)",
                rejection.body_text(),
                state.limits.max_body_bytes
            );
            return gate::refusal(rejection.status(), &message, "VALIDATION");
        }
    };
    // A bounded look at the request comes first: nothing that recurses
    // (serde_json, the GraphQL parser) reads it before its nesting is known.
    let (mut request, shape) = match read_request(&body, &state.limits) {
        Ok(read) => read,
        Err(message) => return gate::refusal(StatusCode::BAD_REQUEST, &message, "VALIDATION"),
    };
    if let Err(refused) = gate::admit_address(&state, address) {
        return refused.into_response();
    }
    let Some(secret) = gate::bearer(&headers) else {
        gate::charge_failed_attempt(&state, address);
        return gate::Refusal::Unauthenticated.into_response();
    };
    // Keyed by the token's hash so the cache never holds secrets.
    let key = auth::hash_token(secret);
    let answer_key = state
        .response_cache
        .as_ref()
        .and_then(|_| cacheable_key(&key, &request));
    let operation_name = request.operation_name.clone();
    // From the scan, not a parse: the document is parsed only once its
    // caller is known. A scan that misreads a document only costs a
    // cache look-up; what is stored is decided on the parsed document.
    let is_query = answer_key.is_some()
        && shape.selected(operation_name.as_deref()) == Some(request_shape::OperationKind::Query);
    // Read before the token and the query, so whatever they see is at
    // least as new as the generation they are remembered under.
    let cache = match &state.response_cache {
        Some(cache) if is_query => audit::data_generation(&state.app.db)
            .await
            .ok()
            .flatten()
            .map(|generation| (cache.as_ref(), generation)),
        _ => None,
    };
    let now = state.app.clock.now();
    let remembered = cache.and_then(|(cache, generation)| cache.caller(generation, &key, now));
    let actor = match remembered {
        Some(actor) => actor,
        None => match tokens::authenticate_until(&state.app.db, secret).await {
            Ok((actor, expires_at)) => {
                if let Some((cache, generation)) = cache {
                    cache.store_caller(generation, &key, actor.clone(), expires_at, now);
                }
                actor
            }
            Err(error) => {
                return gate::Refusal::of_failed_authentication(&state, address, &error)
                    .into_response();
            }
        },
    };
    if let Err(refused) = gate::charge_account(&state, actor.user_id) {
        return refused.into_response();
    }
    let monitoring = &state.app.monitoring;
    let mut flight = None;
    if let (Some((cache, generation)), Some(answer_key)) = (cache, &answer_key) {
        let mut waited = false;
        loop {
            match cache.lookup(generation, answer_key, now) {
                Lookup::Hit(answer) => {
                    monitoring.observe_graphql(answer.operation.as_deref(), []);
                    monitoring.observe_response_cache(CacheResult::Hit);
                    return cached_answer(answer.body, CacheResult::Hit);
                }
                // Once: if that request's answer was not storable, this
                // one computes its own rather than queueing again.
                Lookup::Wait(mut done) if !waited => {
                    waited = true;
                    let _ = done.changed().await;
                }
                Lookup::Wait(_) => break,
                Lookup::Compute(leading) => {
                    flight = leading;
                    break;
                }
            }
        }
    }
    // Parsed once, here; the schema executes this parsed document (a
    // parse error is left for the schema to report).
    let mut operation = operation_name;
    let mut parsed_query = false;
    if let Ok(document) = request.parsed_query() {
        if let Err(message) = limits::check_document(document, state.limits.max_aliases) {
            return gate::refusal(StatusCode::BAD_REQUEST, &message, "VALIDATION");
        }
        parsed_query = selects_query(document, operation.as_deref());
        operation = operation.or_else(|| single_operation_name(document));
    }
    let request = request
        .data(actor)
        .data(loaders::for_request(&state.app.db));
    let mut response = state.schema.execute(request).await;
    limits::normalize_errors(&mut response.errors);
    monitoring.observe_graphql(operation.as_deref(), response.errors.iter().map(error_code));
    // Only a query's complete answer is kept: never a mutation's, an
    // error (it may be transient), or one that reads the audit trail
    // (`no_cache` fields: an auditor sees what the database holds now).
    let storable = is_query
        && parsed_query
        && response.is_ok()
        && response.cache_control.max_age != -1
        && response.http_headers.is_empty();
    let answer = match (cache, answer_key) {
        (Some((cache, generation)), Some(answer_key)) if storable => {
            let body = match serde_json::to_vec(&response) {
                Ok(body) => Bytes::from(body),
                Err(error) => {
                    tracing::error!(%error, "a GraphQL response does not serialise");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            };
            cache.store_answer(generation, answer_key, body.clone(), operation, now);
            monitoring.observe_response_cache(CacheResult::Miss);
            cached_answer(body, CacheResult::Miss)
        }
        _ => {
            monitoring.observe_response_cache(CacheResult::Bypass);
            let mut http = GraphQLResponse::from(response).into_response();
            http.headers_mut()
                .insert(CACHE_STATUS, header::HeaderValue::from_static("bypass"));
            http
        }
    };
    // Stored (or not storable): whoever waits for this answer looks again.
    drop(flight);
    answer
}

/// Reads a GraphQL request from a JSON body after the bounded look: the
/// body's nesting first (variables included), then the JSON, then the
/// document's size and nesting. Each refusal is a client error message.
fn read_request(
    body: &[u8],
    limits: &crate::config::Limits,
) -> Result<(async_graphql::Request, request_shape::DocumentShape), String> {
    request_shape::check_json_nesting(body, request_shape::MAX_NESTING)
        .map_err(|too_deep| too_deep.message("request body"))?;
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err("batched requests are not supported: send one operation per request".into());
    }
    let request: async_graphql::Request = serde_json::from_slice(body)
        .map_err(|error| format!("the body is not a GraphQL request in JSON: {error}"))?;
    let shape = vet_query(&request.query, limits)?;
    Ok((request, shape))
}

/// The checks every document passes before it is parsed, over HTTP and
/// WebSocket alike: its size and its nesting.
fn vet_query(
    query: &str,
    limits: &crate::config::Limits,
) -> Result<request_shape::DocumentShape, String> {
    if query.len() > limits.max_body_bytes {
        return Err(format!(
            "the document is {} bytes (at most {})",
            query.len(),
            limits.max_body_bytes
        ));
    }
    request_shape::scan_document(query, request_shape::MAX_NESTING)
        .map_err(|too_deep| too_deep.message("document"))
}

/// Tells clients (and tests) whether an answer came from memory.
const CACHE_STATUS: HeaderName = HeaderName::from_static("x-gatehouse-cache");

/// The answer's key, for a request the cache can tell apart from every
/// other (no request extensions, whose meaning the key would not cover).
fn cacheable_key(
    token_hash: &str,
    request: &async_graphql::Request,
) -> Option<response_cache::AnswerKey> {
    if !request.extensions.is_empty() {
        return None;
    }
    let variables = serde_json::to_string(&request.variables).ok()?;
    Some(response_cache::AnswerKey::new(
        token_hash,
        request.operation_name.as_deref(),
        &request.query,
        &variables,
    ))
}

/// A stored or storable answer, sent as `GraphQLResponse` would send it.
fn cached_answer(body: Bytes, result: CacheResult) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/graphql-response+json"),
    );
    headers.insert(
        CACHE_STATUS,
        header::HeaderValue::from_static(result.label()),
    );
    response
}

/// Whether the operation the request runs is a query (not a mutation or
/// a subscription): the named one, or the document's only one.
fn selects_query(
    document: &async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let selected = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        _ => None,
    };
    selected.is_some_and(|operation| operation.node.ty == OperationType::Query)
}

/// The name of the document's only operation, for a request that selects
/// none (clients rarely send `operationName` then).
fn single_operation_name(
    document: &async_graphql::parser::types::ExecutableDocument,
) -> Option<String> {
    use async_graphql::parser::types::DocumentOperations;
    match &document.operations {
        DocumentOperations::Multiple(operations) if operations.len() == 1 => {
            operations.keys().next().map(ToString::to_string)
        }
        _ => None,
    }
}

/// The `extensions.code` of an error (`INTERNAL` for one without, which
/// async-graphql produces for parse and validation failures of its own).
fn error_code(error: &async_graphql::ServerError) -> &str {
    match error.extensions.as_ref().and_then(|e| e.get("code")) {
        Some(async_graphql::Value::String(code)) => code.as_str(),
        _ if error.locations.is_empty() && error.path.is_empty() => "INTERNAL",
        _ => "GRAPHQL",
    }
}

/// Counts every request by its matched route template (`unmatched` for a
/// 404 without a route, so probing paths cannot create series).
async fn track_http(
    State(monitoring): State<std::sync::Arc<crate::monitoring::Monitoring>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    monitoring.observe_http(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// `GET /metrics`: Prometheus text format. Open unless
/// `GATEHOUSE_METRICS_TOKEN` is set; then that bearer token is required.
async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
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

#[derive(Debug, serde::Deserialize)]
struct FeedQuery {
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
async fn calendar_feed(
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
        match id.parse() {
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
    match crate::service::ical::render(&state.app.db, &state.app.policy, &base_url, &filter).await {
        Ok(body) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (header::CACHE_CONTROL, "private, max-age=300"),
            ],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error, "rendering the calendar feed failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<HttpState>) -> (StatusCode, Json<serde_json::Value>) {
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

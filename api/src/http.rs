//! HTTP routes: GraphQL (with GraphiQL), health and readiness, the
//! calendar feed, report downloads and evidence pack export. This file
//! holds the router and the layers every route passes; each route group
//! has a file of its own.

mod absent_variables;
mod audit_export;
mod feed;
pub mod gate;
mod graphql;
mod graphql_media;
mod hooks;
pub mod limits;
mod persisted;
mod probes;
mod reports;
pub mod request_shape;
pub mod response_cache;
mod revalidation;
pub mod socket;

use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use axum::{
    Router,
    extract::{MatchedPath, State},
    http::{HeaderName, Request},
    response::{Html, Response},
    routing::get,
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use tracing::Span;

use crate::graphql::{AppSchema, context::AppState};

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
    /// See `Settings::hooks`.
    pub hooks: crate::config::HookSecrets,
    /// See `Settings::cors_allowed_origins`.
    pub cors_allowed_origins: Vec<String>,
    /// Documents of automatic persisted queries (`persisted`).
    pub persisted_queries: std::sync::Arc<persisted::PersistedQueries>,
}

pub fn router(state: HttpState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    let monitoring = state.app.monitoring.clone();
    let cors = cors(&state.cors_allowed_origins);
    // GET runs queries (persisted ones, usually) and shows GraphiQL to a
    // browser that asks for nothing, where GraphiQL is switched on.
    let graphql_route = get(graphql::graphql_get).post(graphql::graphql);
    let router = Router::new()
        .route("/graphql", graphql_route)
        .route("/graphql/ws", get(socket::upgrade))
        .route("/calendar.ics", get(feed::calendar_feed))
        .route("/reports/{kind}", get(reports::download))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/audit/export", get(audit_export::export))
        .route("/metrics", get(probes::metrics))
        .route("/hooks/github", axum::routing::post(hooks::github))
        .route("/hooks/gitlab", axum::routing::post(hooks::gitlab))
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
                    // Attribute names of OpenTelemetry's HTTP semantic
                    // conventions, which tracing backends read.
                    let span = tracing::info_span!(
                        "http_request",
                        otel.name = %span_name,
                        otel.kind = "server",
                        http.request.method = %request.method(),
                        http.route = %route,
                        url.path = %request.uri().path(),
                        request_id = %request_id,
                        http.response.status_code = tracing::field::Empty,
                        latency_ms = tracing::field::Empty,
                        otel.status_code = tracing::field::Empty,
                    );
                    crate::telemetry::continue_remote_trace(&span, request.headers());
                    span
                })
                .on_request(())
                .on_response(|response: &Response, latency: Duration, span: &Span| {
                    span.record("http.response.status_code", response.status().as_u16());
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
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    // Outermost, so a preflight is answered before anything asks for a
    // token (a browser sends none with it), and refusals carry the headers
    // a page needs to read them.
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Browser pages of the allowed origins may call every route with a
/// bearer token: the preflight is answered, `Authorization` is allowed,
/// and the headers a client reads are exposed. No origin is allowed unless
/// configured; cookies play no part (`Access-Control-Allow-Credentials` is
/// not sent), since every request authenticates with its token.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    use axum::http::{Method, header};
    if origins.is_empty() {
        return None;
    }
    let origins = origins
        .iter()
        .filter_map(|origin| origin.parse().ok())
        .collect::<Vec<axum::http::HeaderValue>>();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::IF_NONE_MATCH,
                header::IF_MODIFIED_SINCE,
                REQUEST_ID,
            ])
            .expose_headers([
                header::ETAG,
                header::LAST_MODIFIED,
                header::RETRY_AFTER,
                header::CONTENT_DISPOSITION,
                REQUEST_ID,
                graphql::CACHE_STATUS,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// GraphiQL is a static page holding no data; the queries it sends carry
/// the user's token like any other client's.
async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
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

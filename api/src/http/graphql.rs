//! `POST /graphql`: one request from bytes to answer, in the order that
//! keeps the server safe. A bounded look at the body comes before anything
//! recursive reads it; the address and then the account are admitted by
//! the rate limiter around authentication; queries may be answered from
//! the response cache (with single flight); everything else executes.

use async_graphql_axum::GraphQLResponse;
use axum::{
    body::Bytes,
    extract::{
        Query, State,
        rejection::{BytesRejection, QueryRejection},
    },
    http::{HeaderMap, HeaderName, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{
    HttpState, gate,
    graphql_media::{self, Answering},
    limits,
    persisted::{Refused, Resolution},
    request_shape, response_cache, revalidation,
};
use crate::{
    auth::{self, Actor},
    graphql::loaders,
    http::response_cache::{Lookup, ResponseCache},
    monitoring::CacheResult,
    service::tokens,
    store::audit,
};

/// Tells clients (and tests) whether an answer came from memory.
pub(super) const CACHE_STATUS: HeaderName = HeaderName::from_static("x-gatehouse-cache");

/// The response cache as this request may use it: the cache and the data
/// generation its entries must match.
type CacheAt<'a> = Option<(&'a ResponseCache, i64)>;

/// A request as it arrived: a POST's body, or a GET's parameters.
enum Incoming {
    Post(Result<Bytes, BytesRejection>),
    Get(GetParameters),
}

/// The parameters of `GET /graphql?query=...` (GraphQL over HTTP): the
/// variables and extensions as JSON text.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct GetParameters {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// How the request was sent and what its answer should be.
#[derive(Clone, Copy)]
struct Exchange {
    answering: Answering,
    /// Sent with GET: only queries run, and the answer can be revalidated.
    via_get: bool,
}

pub(super) async fn graphql(
    State(state): State<HttpState>,
    address: gate::ClientAddress,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(&state, address, &headers, Incoming::Post(body)).await
}

/// `GET /graphql`: a query (or a persisted query's hash) in the URL; with
/// no parameters, GraphiQL where it is switched on.
pub(super) async fn graphql_get(
    State(state): State<HttpState>,
    address: gate::ClientAddress,
    headers: HeaderMap,
    parameters: Result<Query<GetParameters>, QueryRejection>,
) -> Response {
    let bad_request = |message: &str| {
        let mut refused = gate::refusal(StatusCode::BAD_REQUEST, message, "VALIDATION");
        Answering::negotiate(&headers).label(&mut refused);
        refused
    };
    let parameters = match parameters {
        Ok(Query(parameters)) => parameters,
        Err(rejection) => return bad_request(&rejection.body_text()),
    };
    let nothing_asked = parameters.query.is_none() && parameters.extensions.is_none();
    match (nothing_asked, state.limits.graphiql) {
        (true, true) => super::graphiql().await.into_response(),
        (true, false) => bad_request(
            "a GET to /graphql names a query (`query`) or a persisted query's hash (`extensions`); GraphiQL is switched off (the setting graphiql)",
        ),
        (false, _) => respond(&state, address, &headers, Incoming::Get(parameters)).await,
    }
}

async fn respond(
    state: &HttpState,
    address: gate::ClientAddress,
    headers: &HeaderMap,
    incoming: Incoming,
) -> Response {
    let exchange = Exchange {
        answering: Answering::negotiate(headers),
        via_get: matches!(incoming, Incoming::Get(_)),
    };
    let mut response = match answer(state, address, headers, incoming, exchange).await {
        Ok(response) | Err(response) => response,
    };
    // Every answer here is JSON, refusals included: in the type asked for.
    exchange.answering.label(&mut response);
    if exchange.via_get && response.status() == StatusCode::OK {
        response = revalidation::tag(headers, response).await;
    }
    response
}

async fn answer(
    state: &HttpState,
    address: gate::ClientAddress,
    headers: &HeaderMap,
    incoming: Incoming,
    exchange: Exchange,
) -> Result<Response, Response> {
    let bad_request =
        |message: String| gate::refusal(StatusCode::BAD_REQUEST, &message, "VALIDATION");
    // A bounded look at the request comes first: nothing that recurses
    // (serde_json, the GraphQL parser) reads it before its nesting is known.
    let mut request = match incoming {
        Incoming::Post(body) => {
            graphql_media::check_request_type(headers).map_err(|message| {
                gate::refusal(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &message,
                    "UNSUPPORTED_MEDIA_TYPE",
                )
            })?;
            let body = body.map_err(|rejection| unreadable_body(state, &rejection))?;
            read_request(&body).map_err(bad_request)?
        }
        Incoming::Get(parameters) => read_get_request(parameters).map_err(bad_request)?,
    };
    let register = resolve_persisted(state, &mut request).map_err(|refused| {
        gate::refusal(
            exchange.answering.document_error_status(),
            &refused.message,
            refused.code,
        )
    })?;
    let shape = vet_query(&request.query, &state.limits).map_err(bad_request)?;
    gate::admit_address(state, address).map_err(IntoResponse::into_response)?;
    let Some(secret) = gate::bearer(headers) else {
        gate::charge_failed_attempt(state, address);
        return Err(gate::Refusal::Unauthenticated.into_response());
    };
    // Keyed by the token's hash so the cache never holds secrets.
    let key = auth::hash_token(secret);
    let answer_key = state
        .response_cache
        .as_ref()
        .and_then(|_| cacheable_key(&key, &request));
    // From the scan, not a parse: the document is parsed only once its
    // caller is known. A scan that misreads a document only costs a
    // cache look-up; what is stored is decided on the parsed document.
    let is_query = answer_key.is_some()
        && shape.selected(request.operation_name.as_deref())
            == Some(request_shape::OperationKind::Query);
    let cache = if is_query {
        cache_generation(state).await
    } else {
        None
    };
    let now = state.app.clock.now();
    let actor = authenticate(state, address, secret, &key, cache, now).await?;
    gate::charge_account(state, actor.user_id).map_err(IntoResponse::into_response)?;
    if let Some(hash) = register {
        state.persisted_queries.keep(hash, &request.query);
    }
    let flight = match (cache, &answer_key) {
        (Some((cache, generation)), Some(answer_key)) => {
            look_up(state, cache, generation, answer_key, now).await?
        }
        _ => None,
    };
    let answer = execute(
        state, request, actor, is_query, cache, answer_key, now, exchange,
    )
    .await;
    // Stored (or not storable): whoever waits for this answer looks again.
    drop(flight);
    answer
}

/// Over `max_body_bytes` (or a broken upload): said in the GraphQL error
/// shape like every other refusal.
fn unreadable_body(state: &HttpState, rejection: &BytesRejection) -> Response {
    let message = format!(
        "the request body could not be read: {} (at most {} bytes)",
        rejection.body_text(),
        state.limits.max_body_bytes
    );
    gate::refusal(rejection.status(), &message, "VALIDATION")
}

/// The cache and its current data generation, read before the token and
/// the query so whatever they see is at least as new as the generation
/// they are remembered under. `None` with the cache off, or while events
/// wait in the outbox.
async fn cache_generation(state: &HttpState) -> CacheAt<'_> {
    let cache = state.response_cache.as_deref()?;
    let generation = audit::data_generation(&state.app.db).await.ok().flatten()?;
    Some((cache, generation))
}

/// The account behind `secret`: remembered by the cache for this data
/// generation, or looked up (and then remembered).
async fn authenticate(
    state: &HttpState,
    address: gate::ClientAddress,
    secret: &str,
    key: &str,
    cache: CacheAt<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Actor, Response> {
    if let Some(actor) = cache.and_then(|(cache, generation)| cache.caller(generation, key, now)) {
        return Ok(actor);
    }
    match tokens::authenticate_until(&state.app.db, secret).await {
        Ok((actor, expires_at)) => {
            if let Some((cache, generation)) = cache {
                cache.store_caller(generation, key, actor.clone(), expires_at, now);
            }
            Ok(actor)
        }
        Err(error) => {
            Err(gate::Refusal::of_failed_authentication(state, address, &error).into_response())
        }
    }
}

/// A remembered answer (`Err`, to be sent as it is), or the right to
/// compute it: a flight others with the same question wait on, or `None`
/// when this request computes without leading one.
async fn look_up<'a>(
    state: &HttpState,
    cache: &'a ResponseCache,
    generation: i64,
    answer_key: &response_cache::AnswerKey,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<response_cache::Flight<'a>>, Response> {
    let monitoring = &state.app.monitoring;
    let mut waited = false;
    loop {
        match cache.lookup(generation, answer_key, now) {
            Lookup::Hit(answer) => {
                monitoring.observe_graphql(answer.operation.as_deref(), []);
                monitoring.observe_response_cache(CacheResult::Hit);
                return Err(cached_answer(answer.body, CacheResult::Hit));
            }
            // Once: if that request's answer was not storable, this one
            // computes its own rather than queueing again.
            Lookup::Wait(mut done) if !waited => {
                waited = true;
                let _ = done.changed().await;
            }
            Lookup::Wait(_) => return Ok(None),
            Lookup::Compute(leading) => return Ok(leading),
        }
    }
}

/// Executes the request as `actor` and answers it, keeping a query's
/// complete answer in the cache.
#[allow(clippy::too_many_arguments)]
async fn execute(
    state: &HttpState,
    request: async_graphql::Request,
    actor: Actor,
    is_query: bool,
    cache: CacheAt<'_>,
    answer_key: Option<response_cache::AnswerKey>,
    now: chrono::DateTime<chrono::Utc>,
    exchange: Exchange,
) -> Result<Response, Response> {
    let answering = exchange.answering;
    let monitoring = &state.app.monitoring;
    // Parsed once, here; the schema executes this parsed document (a
    // parse error is left for the schema to report).
    let mut request = request;
    let mut operation = request.operation_name.clone();
    let mut parsed_query = false;
    // Set aside while the parsed document borrows the request.
    let variables = std::mem::take(&mut request.variables);
    if let Ok(document) = request.parsed_query() {
        limits::check_document(document, state.limits.max_aliases)
            .map_err(|message| gate::refusal(StatusCode::BAD_REQUEST, &message, "VALIDATION"))?;
        // Said, not answered with `__schema: null`: a client generating
        // code from introspection learns why it got nothing.
        if !state.limits.introspection && limits::selects_introspection(document) {
            return Err(gate::refusal(
                answering.document_error_status(),
                "introspection is switched off on this server (the setting introspection, --introspection, GATEHOUSE_INTROSPECTION); the schema is published as api/schema.graphql",
                "VALIDATION",
            ));
        }
        parsed_query = selects_query(document, operation.as_deref());
        // GraphQL over HTTP: a GET never changes anything.
        let selected = selected_operation(document, operation.as_deref());
        if exchange.via_get && selected.is_some() && !parsed_query {
            let mut refused = gate::refusal(
                StatusCode::METHOD_NOT_ALLOWED,
                "only queries are sent with GET; send mutations and subscriptions with POST",
                "VALIDATION",
            );
            refused
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return Err(refused);
        }
        let missing = missing_variables(document, operation.as_deref(), &variables);
        if !missing.is_empty() {
            return Err(gate::refusal(
                answering.document_error_status(),
                &format!("required variables not given: {}", missing.join(", ")),
                "VALIDATION",
            ));
        }
        operation = operation.or_else(|| single_operation_name(document));
        // Arguments whose variable was not sent take their defaults.
        if super::absent_variables::any_absent(document, &variables) {
            let mut document = document.clone();
            super::absent_variables::remove_absent(&mut document, &variables);
            request.set_parsed_query(document);
        }
    }
    request.variables = variables;
    let request = request.data(actor).data(loaders::for_request(&state.app));
    let mut response = state.schema.execute(request).await;
    limits::normalize_errors(&mut response.errors);
    monitoring.observe_graphql(operation.as_deref(), response.errors.iter().map(error_code));
    if not_executed(&response) {
        // A request error: the document did not parse or validate, or
        // its variables did not coerce. No `data` entry, as the GraphQL
        // specification says of errors raised before execution.
        monitoring.observe_response_cache(CacheResult::Bypass);
        let body = serde_json::json!({"errors": response.errors});
        return Ok((
            answering.document_error_status(),
            [(CACHE_STATUS, header::HeaderValue::from_static("bypass"))],
            axum::Json(body),
        )
            .into_response());
    }
    // Only a query's complete answer is kept: never a mutation's, an
    // error (it may be transient), or one that reads the audit trail
    // (`no_cache` fields: an auditor sees what the database holds now).
    let storable = is_query
        && parsed_query
        && response.is_ok()
        && response.cache_control.max_age != -1
        && response.http_headers.is_empty();
    match (cache, answer_key) {
        (Some((cache, generation)), Some(answer_key)) if storable => {
            let body = match serde_json::to_vec(&response) {
                Ok(body) => Bytes::from(body),
                Err(error) => {
                    tracing::error!(%error, "a GraphQL response does not serialise");
                    return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
                }
            };
            cache.store_answer(generation, answer_key, body.clone(), operation, now);
            monitoring.observe_response_cache(CacheResult::Miss);
            Ok(cached_answer(body, CacheResult::Miss))
        }
        _ => {
            monitoring.observe_response_cache(CacheResult::Bypass);
            let mut http = GraphQLResponse::from(response).into_response();
            http.headers_mut()
                .insert(CACHE_STATUS, header::HeaderValue::from_static("bypass"));
            Ok(http)
        }
    }
}

/// Reads a GraphQL request from a JSON body after the bounded look: the
/// body's nesting first (variables included), then the JSON. The document
/// is vetted once a persisted query has been resolved. Each refusal is a
/// client error message.
fn read_request(body: &[u8]) -> Result<async_graphql::Request, String> {
    request_shape::check_json_nesting(body, request_shape::MAX_NESTING)
        .map_err(|too_deep| too_deep.message("request body"))?;
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err("batched requests are not supported: send one operation per request".into());
    }
    serde_json::from_slice(body)
        .map_err(|error| format!("the body is not a GraphQL request in JSON: {error}"))
}

/// A GET's parameters as a request: `variables` and `extensions` are JSON
/// objects, read after the same bounded look as a body.
fn read_get_request(parameters: GetParameters) -> Result<async_graphql::Request, String> {
    let object = |name: &str,
                  text: Option<String>|
     -> Result<serde_json::Map<String, serde_json::Value>, String> {
        let Some(text) = text else {
            return Ok(serde_json::Map::new());
        };
        request_shape::check_json_nesting(text.as_bytes(), request_shape::MAX_NESTING)
            .map_err(|too_deep| too_deep.message(name))?;
        match serde_json::from_str(&text) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(serde_json::Value::Null) => Ok(serde_json::Map::new()),
            _ => Err(format!("the `{name}` parameter is a JSON object")),
        }
    };
    let variables = object("variables", parameters.variables)?;
    let extensions = object("extensions", parameters.extensions)?;
    let mut request = async_graphql::Request::new(parameters.query.unwrap_or_default()).variables(
        async_graphql::Variables::from_json(serde_json::Value::Object(variables)),
    );
    request.operation_name = parameters.operation_name;
    for (key, value) in extensions {
        let value = async_graphql::Value::from_json(value)
            .map_err(|_| format!("the `extensions` parameter's `{key}` is not a GraphQL value"))?;
        request.extensions.insert(key, value);
    }
    Ok(request)
}

/// Fills the document of a persisted query sent by its hash, and says
/// which document to keep once the caller has authenticated. The extension
/// is then taken off the request: what runs is the document.
fn resolve_persisted(
    state: &HttpState,
    request: &mut async_graphql::Request,
) -> Result<Option<[u8; 32]>, Refused> {
    let extension = request
        .extensions
        .remove("persistedQuery")
        .and_then(|value| value.into_json().ok());
    match state
        .persisted_queries
        .resolve(extension.as_ref(), &request.query)?
    {
        Resolution::NotPersisted => Ok(None),
        Resolution::Found(document) => {
            request.query = document;
            Ok(None)
        }
        Resolution::Register(hash) => Ok(Some(hash)),
    }
}

/// The checks every document passes before it is parsed, over HTTP and
/// WebSocket alike: its size and its nesting.
pub(super) fn vet_query(
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

/// The operation the request runs: the named one, or the document's only
/// one.
fn selected_operation<'d>(
    document: &'d async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'d async_graphql::parser::types::OperationDefinition> {
    use async_graphql::parser::types::DocumentOperations;
    let selected = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        _ => None,
    };
    selected.map(|operation| &operation.node)
}

/// Whether the operation the request runs is a query (not a mutation or
/// a subscription).
fn selects_query(
    document: &async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
) -> bool {
    use async_graphql::parser::types::OperationType;
    selected_operation(document, operation_name)
        .is_some_and(|operation| operation.ty == OperationType::Query)
}

/// The variables the operation declares required (`ID!`, no default) that
/// the request does not give, or gives as null. async-graphql finds them
/// only when a resolver reads one, as a field error; they are the
/// request's, and refused before anything runs.
fn missing_variables(
    document: &async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
    variables: &async_graphql::Variables,
) -> Vec<String> {
    let Some(operation) = selected_operation(document, operation_name) else {
        return Vec::new();
    };
    operation
        .variable_definitions
        .iter()
        .map(|definition| &definition.node)
        .filter(|definition| {
            !definition.var_type.node.nullable
                && definition.default_value.is_none()
                && variables
                    .get(&definition.name.node)
                    .is_none_or(|value| *value == async_graphql::Value::Null)
        })
        .map(|definition| format!("${}: {}", definition.name.node, definition.var_type.node))
        .collect()
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

/// Whether the schema refused the request before executing it: no data
/// and only errors that no field raised (a field's error has a path).
fn not_executed(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
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

//! `/graphql/ws`: GraphQL over WebSocket (`graphql-transport-ws`, and the
//! legacy `graphql-ws` subprotocol). The client authenticates in
//! `connection_init` with `{"authorization": "Bearer <token>"}`; without a
//! valid token the server closes the connection before any operation.
//!
//! A socket lives for hours, so the identity it showed at
//! `connection_init` is never trusted for long:
//! - every operation re-authenticates the connection's token and acts with
//!   the account's roles as they are now; it is charged to the account's
//!   rate limit and vetted like an HTTP request (nesting, document size,
//!   aliases, depth and complexity);
//! - when any account or token changes (on any Gatehouse process sharing
//!   the database), every open socket re-checks its token; one that no
//!   longer authenticates as the same account with the same roles has its
//!   subscriptions ended and is closed with 4403.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use async_graphql::{
    Data, Executor, Request, Response, ServerError,
    http::{
        ALL_WEBSOCKET_PROTOCOLS, ClientMessage, WebSocket as GraphqlSocket,
        WebSocketProtocols as Protocols, WsMessage,
    },
};
use axum::{
    extract::{
        FromRequestParts, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    http::{StatusCode, header, request::Parts},
    response::Response as HttpResponse,
};
use futures::{SinkExt, StreamExt, future, stream::BoxStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{
    HttpState,
    gate::{self, ClientAddress},
    limits, request_shape,
};
use crate::{
    auth::{self, Actor},
    error::ServiceError,
    graphql::loaders,
    service::{credential_changes, tokens},
};

/// The close code for a connection whose credentials were revoked or
/// changed (graphql-ws uses 4403 for "Forbidden").
pub const CLOSE_FORBIDDEN: u16 = 4403;

/// How often the credentials watch looks at the audit trail; with the
/// re-check that follows, a revocation reaches open sockets within a second.
const WATCH_INTERVAL: Duration = Duration::from_millis(400);

pub async fn upgrade(
    State(state): State<HttpState>,
    address: ClientAddress,
    SocketProtocol(protocol): SocketProtocol,
    upgrade: WebSocketUpgrade,
) -> HttpResponse {
    if let Err(refused) = gate::admit_address(&state, address) {
        return axum::response::IntoResponse::into_response(refused);
    }
    let max = state.limits.max_body_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(state, address, protocol, socket))
}

/// What a connection authenticated with. Holds the token secret for the
/// connection's lifetime (it is re-checked); never printed.
#[derive(Clone)]
struct Identity {
    secret: String,
    actor: Actor,
}

#[derive(Default)]
struct Session {
    identity: Mutex<Option<Identity>>,
    /// Cancelled when the credentials no longer hold: subscriptions end
    /// and the socket closes.
    ended: CancellationToken,
}

impl Session {
    fn identity(&self) -> Option<Identity> {
        self.identity
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether `now` is still the identity the connection showed: the same
    /// account with the same roles. Anything else ends the session.
    fn confirm(&self, identity: &Identity, now: &Actor) -> bool {
        let same = now.user_id == identity.actor.user_id && now.roles == identity.actor.roles;
        if !same {
            self.ended.cancel();
        }
        same
    }

    /// Re-authenticates the connection's token after a credentials change.
    async fn recheck(&self, state: &HttpState) {
        let Some(identity) = self.identity() else {
            return;
        };
        match tokens::authenticate(&state.app.db, &identity.secret).await {
            Ok(actor) => {
                self.confirm(&identity, &actor);
            }
            Err(ServiceError::Unauthenticated) => self.ended.cancel(),
            // The database could not be asked: the next operation asks again.
            Err(error) => tracing::warn!(%error, "re-checking a socket's credentials failed"),
        }
    }
}

/// The GraphQL-over-WebSocket protocol the client asked for in
/// `Sec-WebSocket-Protocol` (400 when none it names is known).
pub struct SocketProtocol(Protocols);

impl<S: Send + Sync> FromRequestParts<S> for SocketProtocol {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|value| value.to_str().ok())
            .and_then(|protocols| {
                protocols
                    .split(',')
                    .find_map(|name| name.trim().parse::<Protocols>().ok())
            })
            .map(Self)
            .ok_or(StatusCode::BAD_REQUEST)
    }
}

async fn serve(state: HttpState, address: ClientAddress, protocol: Protocols, socket: WebSocket) {
    let session = Arc::new(Session::default());
    let mut credentials = credentials_watch(&state);
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(Message::Text(text)) => Some(read_client_message(text.as_bytes())),
                Ok(Message::Binary(bytes)) => Some(read_client_message(&bytes)),
                _ => None,
            })
        });
    let executor = SocketExecutor {
        state: state.clone(),
        session: session.clone(),
    };
    let init_state = state.clone();
    let init_session = session.clone();
    let graphql = GraphqlSocket::from_message_stream(executor, input, protocol).on_connection_init(
        move |payload| async move {
            let identity = authenticate_init(&init_state, &payload)
                .await
                .inspect_err(|_| {
                    gate::charge_failed_attempt(&init_state, address);
                })?;
            *init_session
                .identity
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(identity);
            Ok(Data::default())
        },
    );
    futures::pin_mut!(graphql);
    loop {
        let outgoing = tokio::select! {
            message = graphql.next() => match message {
                Some(WsMessage::Text(text)) => Message::Text(text.into()),
                Some(WsMessage::Close(code, reason)) => close(code, &reason),
                None => break,
            },
            () = session.ended.cancelled() => {
                close(CLOSE_FORBIDDEN, "the connection's credentials were revoked or changed")
            }
            changed = credentials.changed() => {
                if changed.is_err() {
                    // The watch is gone (shutting down); operations still
                    // re-authenticate one by one.
                    credentials = watch::channel(0).1;
                }
                // In a task of its own: this loop also drives the
                // socket's operations, and one may hold the connection
                // the re-check waits for (SQLite has one).
                let (session, state) = (session.clone(), state.clone());
                tokio::spawn(async move { session.recheck(&state).await });
                continue;
            }
        };
        let closing = matches!(outgoing, Message::Close(_));
        if sink.send(outgoing).await.is_err() || closing {
            break;
        }
    }
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// A client message, its nesting bounded before serde_json (which
/// recurses) reads it. A message that fails closes the connection (4400 in
/// graphql-ws terms; async-graphql sends 1002).
fn read_client_message(bytes: &[u8]) -> serde_json::Result<ClientMessage> {
    request_shape::check_json_nesting(bytes, request_shape::MAX_NESTING).map_err(|too_deep| {
        <serde_json::Error as serde::de::Error>::custom(too_deep.message("message"))
    })?;
    ClientMessage::from_bytes(bytes)
}

async fn authenticate_init(
    state: &HttpState,
    payload: &serde_json::Value,
) -> async_graphql::Result<Identity> {
    use async_graphql::ErrorExtensions;
    let secret = ["authorization", "Authorization"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()))
        .and_then(auth::bearer_token)
        .ok_or_else(|| ServiceError::Unauthenticated.extend())?;
    let actor = tokens::authenticate(&state.app.db, secret)
        .await
        .map_err(|error| error.extend())?;
    Ok(Identity {
        secret: secret.to_owned(),
        actor,
    })
}

/// Runs a socket's operations: each one admitted like an HTTP request.
#[derive(Clone)]
struct SocketExecutor {
    state: HttpState,
    session: Arc<Session>,
}

impl SocketExecutor {
    /// The operation ready to run with the caller's current identity, or
    /// the response refusing it.
    async fn admit(&self, mut request: Request) -> Result<Request, Response> {
        let Some(identity) = self.session.identity() else {
            return Err(refusal(
                "the connection is not initialised",
                "UNAUTHENTICATED",
            ));
        };
        let revoked = || {
            refusal(
                "the connection's credentials were revoked or changed",
                "FORBIDDEN",
            )
        };
        if self.session.ended.is_cancelled() {
            return Err(revoked());
        }
        let actor = match tokens::authenticate(&self.state.app.db, &identity.secret).await {
            Ok(actor) if self.session.confirm(&identity, &actor) => actor,
            Ok(_) => return Err(revoked()),
            Err(ServiceError::Unauthenticated) => {
                self.session.ended.cancel();
                return Err(revoked());
            }
            Err(error) => {
                tracing::warn!(%error, "re-authenticating a socket operation failed");
                return Err(refusal(
                    "the database is unavailable; retry later",
                    "INTERNAL",
                ));
            }
        };
        if gate::charge_account(&self.state, actor.user_id).is_err() {
            return Err(refusal("rate limit exceeded; retry later", "RATE_LIMITED"));
        }
        super::graphql::vet_query(&request.query, &self.state.limits)
            .map_err(|message| refusal(&message, "VALIDATION"))?;
        // Set aside while the parsed document borrows the request.
        let variables = std::mem::take(&mut request.variables);
        let mut without_absent = None;
        if let Ok(document) = request.parsed_query() {
            limits::check_document(document, self.state.limits.max_aliases)
                .map_err(|message| refusal(&message, "VALIDATION"))?;
            // Arguments whose variable was not sent take their defaults.
            if super::absent_variables::any_absent(document, &variables) {
                let mut document = document.clone();
                super::absent_variables::remove_absent(&mut document, &variables);
                without_absent = Some(document);
            }
        }
        if let Some(document) = without_absent {
            request.set_parsed_query(document);
        }
        request.variables = variables;
        Ok(request
            .data(actor)
            .data(loaders::for_request(&self.state.app)))
    }
}

impl Executor for SocketExecutor {
    async fn execute(&self, request: Request) -> Response {
        match self.admit(request).await {
            Ok(request) => {
                let mut response = self.state.schema.execute(request).await;
                limits::normalize_errors(&mut response.errors);
                response
            }
            Err(refused) => refused,
        }
    }

    fn execute_stream(
        &self,
        request: Request,
        _session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let this = self.clone();
        let ended = self.session.ended.clone().cancelled_owned();
        futures::stream::once(async move {
            match this.admit(request).await {
                Ok(request) => this
                    .state
                    .schema
                    .execute_stream(request)
                    .map(|mut response| {
                        limits::normalize_errors(&mut response.errors);
                        response
                    })
                    .boxed(),
                Err(refused) => futures::stream::once(future::ready(refused)).boxed(),
            }
        })
        .flatten()
        .take_until(ended)
        .boxed()
    }
}

fn refusal(message: &str, code: &str) -> Response {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    Response::from_errors(vec![error])
}

/// A receiver that changes whenever an account or token changed: one
/// watcher per process, started with the first socket.
fn credentials_watch(state: &HttpState) -> watch::Receiver<u64> {
    state
        .credentials
        .get_or_init(|| {
            let (sender, receiver) = watch::channel(0);
            tokio::spawn(watch_credentials(state.app.db.clone(), sender));
            receiver
        })
        .clone()
}

async fn watch_credentials(db: sea_orm::DatabaseConnection, sender: watch::Sender<u64>) {
    let mut head = None;
    let mut ticks = tokio::time::interval(WATCH_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let look = match head {
            None => credential_changes::head(&db)
                .await
                .map(|head| credential_changes::Look {
                    head,
                    changed: false,
                }),
            Some(after) => credential_changes::since(&db, after).await,
        };
        match look {
            Ok(look) => {
                head = Some(look.head);
                if look.changed {
                    sender.send_modify(|generation| *generation += 1);
                }
            }
            Err(error) => tracing::warn!(%error, "watching for credential changes failed"),
        }
    }
}

/// Set once per process by the first socket (`HttpState::credentials`).
pub type CredentialsWatch = Arc<OnceLock<watch::Receiver<u64>>>;

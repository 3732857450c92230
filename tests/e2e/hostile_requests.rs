//! The request path under attack (issue #17): nesting that would exhaust
//! the stack, sockets that outlive their credentials, budgets that more
//! tokens or fragment spreads would multiply, secrets in trace logs.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, http::HeaderValue};

use crate::helpers::{ADMIN_TOKEN, TestApp, error_code, spawn_app, spawn_app_with};

const DEPTHS: [usize; 4] = [100, 1_000, 10_000, 100_000];

/// Posts a raw body (no JSON encoding of our own: the nesting is built by
/// hand), returning the status and the JSON answer.
async fn post_raw(app: &TestApp, token: Option<&str>, body: String) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// A deep list, a deep object literal and deep variables, each `depth`
/// levels, in `changes(filter: ...)`.
fn deep_bodies(depth: usize) -> Vec<(&'static str, String)> {
    let list = format!(
        "{{ changes(filter: {{titleContains: {}\"x\"{}}}) {{ totalCount }} }}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let object = format!(
        "{{ changes(filter: {}\"x\"{}) {{ totalCount }} }}",
        "{titleContains: ".repeat(depth),
        "}".repeat(depth)
    );
    let variables = format!(
        r#"{{"query": "query($f: ChangeFilterInput) {{ changes(filter: $f) {{ totalCount }} }}", "variables": {{"f": {{"titleContains": {}"x"{}}}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let object_variables = format!(
        r#"{{"query": "query($f: ChangeFilterInput) {{ changes(filter: $f) {{ totalCount }} }}", "variables": {{"f": {}"x"{}}}}}"#,
        r#"{"titleContains": "#.repeat(depth),
        "}".repeat(depth)
    );
    vec![
        ("list literal", json!({"query": list}).to_string()),
        ("object literal", json!({"query": object}).to_string()),
        ("list variable", variables),
        ("object variable", object_variables),
    ]
}

#[tokio::test]
async fn nesting_of_any_depth_is_refused_before_authentication_and_the_server_survives() {
    for cache in [true, false] {
        let app = spawn_app_with(|settings| {
            if !cache {
                settings.response_cache.max_bytes = 0;
            }
        })
        .await;
        let user = app.user("Nadia Nested", &["requester"]).await;
        for depth in DEPTHS {
            for (what, body) in deep_bodies(depth) {
                for token in [Some("gh_garbage"), Some(user.token.as_str()), None] {
                    let (status, answer) = post_raw(&app, token, body.clone()).await;
                    // Over the 1 MiB body limit: 413, in the same shape.
                    let expected = if body.len() > 1024 * 1024 { 413 } else { 400 };
                    assert_eq!(
                        status, expected,
                        "{what} at {depth}, cache {cache}: {answer}"
                    );
                    assert_eq!(
                        error_code(&answer),
                        "VALIDATION",
                        "{what} at {depth}: {answer}"
                    );
                }
            }
        }
        // Nesting within the bound reaches the schema as before.
        let shallow = format!(
            "{{ changes(filter: {{titleContains: {}\"x\"{}}}) {{ totalCount }} }}",
            "[".repeat(10),
            "]".repeat(10)
        );
        let answer = app.graphql(&user.token, &shallow, json!({})).await;
        assert_eq!(error_code(&answer), "VALIDATION", "{answer}");
        let me = app.data(&user.token, "{ me { email } }", json!({})).await;
        assert_eq!(me["me"]["email"], user.email);
    }
}

#[tokio::test]
async fn malformed_and_batched_bodies_get_a_graphql_error() {
    let app = spawn_app().await;
    for body in [
        "",
        "{",
        "[]",
        r#"[{"query": "{ me { id } }"}]"#,
        "42",
        r#"{"query": 1}"#,
    ] {
        let (status, answer) = post_raw(&app, Some(ADMIN_TOKEN), body.to_owned()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(error_code(&answer), "VALIDATION", "{body}: {answer}");
    }
}

#[tokio::test]
async fn aliases_reached_through_fragment_spreads_count() {
    let app = spawn_app().await;
    // Ten aliases in a fragment, spread four times: 40 > 30.
    let aliases: String = (0..10).map(|i| format!(" a{i}: me {{ id }}")).collect();
    let query = format!(
        "query {{ ...F ...F ...G }} fragment G on Query {{ ...F ...F }} fragment F on Query {{{aliases} }}"
    );
    let answer = app.graphql(ADMIN_TOKEN, &query, json!({})).await;
    assert_eq!(error_code(&answer), "VALIDATION", "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("40"),
        "{answer}"
    );
    // Spread twice: 20 aliases, within the limit.
    let fine = format!("query {{ ...F ...F }} fragment F on Query {{{aliases} }}");
    let answer = app.graphql(ADMIN_TOKEN, &fine, json!({})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
}

#[tokio::test]
async fn budgets_belong_to_accounts_and_strangers_are_limited_by_address() {
    let app = spawn_app_with(|settings| settings.limits.rate_limit_per_minute = 6).await;
    let ada = app.user("Ada Budget", &["requester"]).await;
    // A second token of her own gives Ada no second budget.
    let second = app
        .data(
            &ada.token,
            "mutation($u: ID!) { issueToken(userId: $u, name: \"second\") { secret } }",
            json!({"u": ada.id}),
        )
        .await["issueToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let token = if i % 2 == 0 { &ada.token } else { &second };
        let (status, _) = post_raw(
            &app,
            Some(token),
            json!({"query": "{ me { id } }"}).to_string(),
        )
        .await;
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429],
        "one budget of 6 across both tokens"
    );
    // Reports and the audit export are charged to the same budget.
    let report = app
        .client
        .get(format!("{}/reports/monthly?period=2026-10", app.base_url))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 429);

    // Unknown tokens are charged to the client address; once it has used
    // its budget it is refused before any token is looked up, on every
    // route.
    for _ in 0..6 {
        let (status, _) = post_raw(
            &app,
            Some("gh_guess"),
            json!({"query": "{ me { id } }"}).to_string(),
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, answer) = post_raw(
        &app,
        Some("gh_guess"),
        json!({"query": "{ me { id } }"}).to_string(),
    )
    .await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(error_code(&answer), "RATE_LIMITED");
    for path in [
        "/reports/monthly?period=2026-10",
        "/audit/export?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z",
        "/calendar.ics?token=guess",
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.base_url))
            .bearer_auth("gh_guess")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429, "{path}");
    }
}

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn text(message: Value) -> tungstenite::Message {
    tungstenite::Message::Text(message.to_string().into())
}

/// An initialised graphql-transport-ws connection.
async fn connect(app: &TestApp, token: &str) -> Socket {
    connect_to(&app.base_url, token).await
}

pub(crate) async fn connect_to(base_url: &str, token: &str) -> Socket {
    try_connect(base_url, token)
        .await
        .expect("the connection is acknowledged")
}

/// A connection initialised with `token`; `None` when the server does not
/// acknowledge it.
pub(crate) async fn try_connect(base_url: &str, token: &str) -> Option<Socket> {
    let url = format!("{}/graphql/ws", base_url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(text(json!({"type": "connection_init",
                          "payload": {"authorization": format!("Bearer {token}")}})))
        .await
        .unwrap();
    match read(&mut socket, Duration::from_secs(10)).await {
        Read::Message(ack) if ack["type"] == "connection_ack" => Some(socket),
        _ => None,
    }
}

/// A `subscribe` message running `query` (any operation type).
pub(crate) fn subscribe_message(id: &str, query: &str, variables: Value) -> tungstenite::Message {
    text(
        json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}),
    )
}

#[derive(Debug)]
pub(crate) enum Read {
    Message(Value),
    Closed(Option<u16>),
    Nothing,
}

pub(crate) async fn read(socket: &mut Socket, wait: Duration) -> Read {
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => return Read::Nothing,
            Ok(None | Some(Err(_))) => return Read::Closed(None),
            Ok(Some(Ok(tungstenite::Message::Close(frame)))) => {
                return Read::Closed(frame.map(|f| u16::from(f.code)));
            }
            Ok(Some(Ok(tungstenite::Message::Text(body)))) => {
                return Read::Message(serde_json::from_str(body.as_str()).unwrap());
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Reads until the socket closes, returning every message and the code.
async fn drain(socket: &mut Socket) -> (Vec<Value>, Option<u16>) {
    let mut messages = Vec::new();
    loop {
        match read(socket, Duration::from_secs(10)).await {
            Read::Message(message) => messages.push(message),
            Read::Closed(code) => return (messages, code),
            Read::Nothing => panic!("the socket stayed open: {messages:?}"),
        }
    }
}

const CREATE: &str =
    "mutation($input: CreateChangeInput!) { createChange(input: $input) { number } }";

fn create_message(id: &str, title: &str) -> tungstenite::Message {
    text(
        json!({"id": id, "type": "subscribe", "payload": {"query": CREATE, "variables": {"input": {
        "title": title, "description": "d", "businessJustification": "b",
        "type": "normal", "likelihood": 2, "impact": 3}}}}),
    )
}

async fn changes_titled(app: &TestApp, title: &str) -> i64 {
    app.data(
        ADMIN_TOKEN,
        "query($t: String) { changes(filter: {titleContains: $t}) { totalCount } }",
        json!({"t": title}),
    )
    .await["changes"]["totalCount"]
        .as_i64()
        .unwrap()
}

/// Revoking the token, deactivating the account or changing its roles
/// each end the socket's subscriptions and close it with 4403, and the
/// socket cannot write afterwards.
#[tokio::test]
async fn credential_changes_reach_open_sockets() {
    let app = spawn_app().await;
    let cases = ["revokeToken", "deactivateUser", "setUserRoles"];
    for (n, case) in cases.into_iter().enumerate() {
        let user = app.user(&format!("Sam Socket{n}"), &["requester"]).await;
        let mut socket = connect(&app, &user.token).await;
        socket
            .send(text(
                json!({"id": "events", "type": "subscribe", "payload": {"query":
                "subscription { changeEvents { number } }"}}),
            ))
            .await
            .unwrap();
        // The socket works before the change.
        socket
            .send(create_message("before", &format!("before {case}")))
            .await
            .unwrap();
        let mut created = false;
        while !created {
            match read(&mut socket, Duration::from_secs(10)).await {
                Read::Message(message)
                    if message["id"] == "before" && message["type"] == "next" =>
                {
                    assert!(
                        message["payload"]["data"]["createChange"]["number"].is_string(),
                        "{message}"
                    );
                    created = true;
                }
                Read::Message(_) => {}
                other => panic!("{case}: {other:?}"),
            }
        }
        match case {
            "revokeToken" => {
                let tokens = app
                    .data(
                        ADMIN_TOKEN,
                        "query($u: ID!) { tokens(userId: $u) { id } }",
                        json!({"u": user.id}),
                    )
                    .await;
                for token in tokens["tokens"].as_array().unwrap() {
                    app.data(
                        ADMIN_TOKEN,
                        "mutation($t: ID!) { revokeToken(id: $t) { id } }",
                        json!({"t": token["id"]}),
                    )
                    .await;
                }
            }
            "deactivateUser" => {
                app.data(
                    ADMIN_TOKEN,
                    "mutation($u: ID!) { deactivateUser(userId: $u) { id } }",
                    json!({"u": user.id}),
                )
                .await;
            }
            _ => {
                app.data(
                    ADMIN_TOKEN,
                    "mutation($u: ID!) { setUserRoles(userId: $u, roles: [\"requester\", \"change_manager\"]) { id } }",
                    json!({"u": user.id}),
                )
                .await;
            }
        }
        // Straight after the change the socket may not write, whether or
        // not the close has reached it yet.
        let after = format!("after {case}");
        let _ = socket.send(create_message("after", &after)).await;
        let (messages, code) = drain(&mut socket).await;
        assert_eq!(code, Some(4403), "{case}: {messages:?}");
        for message in &messages {
            assert!(
                message["payload"]["data"]["createChange"].is_null(),
                "{case}: a write went through: {message}"
            );
        }
        assert_eq!(changes_titled(&app, &after).await, 0, "{case}");
    }
}

#[tokio::test]
async fn socket_operations_get_the_limits_of_http() {
    let app = spawn_app_with(|settings| settings.limits.rate_limit_per_minute = 8).await;
    let user = app.user("Wes Socket", &["requester"]).await;
    let mut socket = connect(&app, &user.token).await;
    // Deep documents are refused with VALIDATION; the socket stays usable.
    for (n, depth) in DEPTHS.into_iter().enumerate() {
        let query = format!(
            "{{ changes(filter: {{titleContains: {}\"x\"{}}}) {{ totalCount }} }}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let id = format!("deep{n}");
        socket
            .send(text(
                json!({"id": id, "type": "subscribe", "payload": {"query": query}}),
            ))
            .await
            .unwrap();
        match read(&mut socket, Duration::from_secs(10)).await {
            Read::Message(message) => {
                assert_eq!(message["id"], id.as_str());
                assert_eq!(
                    message["payload"]["errors"][0]["extensions"]["code"], "VALIDATION",
                    "{message}"
                );
            }
            other => panic!("depth {depth}: {other:?}"),
        }
        let _complete = read(&mut socket, Duration::from_secs(10)).await;
    }
    // Aliases through fragments, as over HTTP.
    let aliases: String = (0..16).map(|i| format!(" a{i}: me {{ id }}")).collect();
    let query = format!("query {{ ...F ...F }} fragment F on Query {{{aliases} }}");
    socket
        .send(text(
            json!({"id": "aliases", "type": "subscribe", "payload": {"query": query}}),
        ))
        .await
        .unwrap();
    match read(&mut socket, Duration::from_secs(10)).await {
        Read::Message(message) => {
            assert_eq!(
                message["payload"]["errors"][0]["extensions"]["code"], "VALIDATION",
                "{message}"
            );
        }
        other => panic!("aliases: {other:?}"),
    }
    let _complete = read(&mut socket, Duration::from_secs(10)).await;
    // The account's budget of 8 is shared with HTTP: 5 operations above,
    // two queries here, one over HTTP, and the next is refused.
    for id in ["q1", "q2"] {
        socket
            .send(text(
                json!({"id": id, "type": "subscribe", "payload": {"query": "{ me { id } }"}}),
            ))
            .await
            .unwrap();
        match read(&mut socket, Duration::from_secs(10)).await {
            Read::Message(message) => assert!(
                message["payload"]["data"]["me"]["id"].is_string(),
                "{message}"
            ),
            other => panic!("{id}: {other:?}"),
        }
        let _complete = read(&mut socket, Duration::from_secs(10)).await;
    }
    assert!(
        app.graphql(&user.token, "{ me { id } }", json!({}))
            .await
            .get("errors")
            .is_none()
    );
    socket
        .send(text(
            json!({"id": "over", "type": "subscribe", "payload": {"query": "{ me { id } }"}}),
        ))
        .await
        .unwrap();
    match read(&mut socket, Duration::from_secs(10)).await {
        Read::Message(message) => {
            assert_eq!(
                message["payload"]["errors"][0]["extensions"]["code"], "RATE_LIMITED",
                "{message}"
            );
        }
        other => panic!("over budget: {other:?}"),
    }
    // A message nesting too deep for the JSON reader closes the socket;
    // the server goes on answering.
    let deep = format!(
        r#"{{"id": "v", "type": "subscribe", "payload": {{"query": "{{ me {{ id }} }}", "variables": {{"x": {}1{}}}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    socket
        .send(tungstenite::Message::Text(deep.into()))
        .await
        .unwrap();
    let (_, code) = drain(&mut socket).await;
    assert!(code.is_some(), "closed with a code");
    let other = app.user("Other Person", &["requester"]).await;
    assert!(
        app.graphql(&other.token, "{ me { id } }", json!({}))
            .await
            .get("errors")
            .is_none()
    );
}

/// At `RUST_LOG=trace` the bearer token of a WebSocket `connection_init`
/// (and of HTTP requests) appears nowhere in the server's output.
#[tokio::test]
async fn no_log_level_shows_a_token() {
    let database_url = crate::helpers::fresh_database_url().await;
    let log = std::env::temp_dir().join(format!("gh-trace-{}.log", uuid::Uuid::new_v4().simple()));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("GATEHOUSE_DATABASE_URL", &database_url)
        .env("GATEHOUSE_BOOTSTRAP_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn().unwrap();
    let base_url = {
        use std::io::{BufRead, BufReader};
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("serve prints its address").unwrap();
            if let Some(rest) = line.strip_prefix("Gatehouse listening on ") {
                break rest.trim_end_matches("/graphql").to_owned();
            }
        }
    };
    let mut socket = connect_to(&base_url, ADMIN_TOKEN).await;
    socket
        .send(text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": "{ me { id } }"}}),
        ))
        .await
        .unwrap();
    let answer = read(&mut socket, Duration::from_secs(10)).await;
    assert!(matches!(answer, Read::Message(_)), "{answer:?}");
    socket.close(None).await.ok();
    let over_http = reqwest::Client::new()
        .post(format!("{base_url}/graphql"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(over_http.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().ok();
    child.wait().ok();
    let written = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).ok();
    assert!(
        written.contains("TRACE"),
        "trace logging was on: {} bytes",
        written.len()
    );
    assert!(
        !written.contains(ADMIN_TOKEN),
        "the token appears in the trace log"
    );
    assert!(
        !written.contains(&ADMIN_TOKEN[3..20]),
        "part of the token appears in the trace log"
    );
}

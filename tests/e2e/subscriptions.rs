//! Live change events over graphql-ws, driven by the reference `graphql-ws`
//! npm client (tests/node). On PostgreSQL the subscriber and the writer are
//! two server processes sharing the database; on SQLite (one process by
//! design) both roles are the same server.

use std::{path::PathBuf, process::Command, sync::Mutex};

use futures::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, http::HeaderValue};

use crate::helpers::{TestApp, postgres_admin_url, serve, spawn_app};

pub(crate) fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Installs the pinned clients from package-lock.json on first use.
pub(crate) fn ensure_node_modules() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let installed = [
        "graphql-ws",
        "graphql-http",
        "@graphql-codegen/cli",
        "typescript",
        "ical.js",
    ]
    .iter()
    .all(|package| node_dir().join("node_modules").join(package).exists());
    if installed {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(node_dir())
        .status()
        .expect("npm runs (Node.js 20+ is required for this test)");
    assert!(status.success(), "npm ci in tests/node failed");
}

#[tokio::test]
async fn graphql_ws_client_receives_committed_events_from_another_process() {
    ensure_node_modules();
    let a = spawn_app().await;
    let requester = a.user("Rita Requester", &["requester"]).await;
    let system = a.system("Edge proxies", None).await;
    let second = postgres_admin_url().map(|_| serve(&a.database_url, &[]));
    let b_url = second
        .as_ref()
        .map_or_else(|| a.base_url.clone(), |s| s.base_url.clone());
    if second.is_none() {
        eprintln!(
            "SQLite: one process subscribes and writes (cross-process part runs on PostgreSQL)"
        );
    }
    let output = tokio::process::Command::new("node")
        .arg("subscribe.mjs")
        .current_dir(node_dir())
        .env("A_URL", &a.base_url)
        .env("B_URL", &b_url)
        .env("TOKEN", &requester.token)
        .env("SYSTEM_ID", &system)
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    let number = result["created"]["number"].as_str().unwrap();
    let id = result["created"]["id"].as_str().unwrap();
    assert_eq!(result["refused"], "POLICY_VIOLATION", "{result:#}");

    let events = result["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{result:#}");
    assert_eq!(events[0]["action"], "change.created");
    assert_eq!(events[0]["statusBefore"], Value::Null);
    assert_eq!(events[0]["statusAfter"], "DRAFT");
    assert_eq!(events[1]["action"], "change.updated");
    assert_eq!(events[1]["statusBefore"], "DRAFT");
    assert_eq!(events[1]["statusAfter"], "DRAFT");
    assert_eq!(events[2]["action"], "change.submitted");
    assert_eq!(events[2]["statusBefore"], "DRAFT");
    assert_eq!(events[2]["statusAfter"], "AWAITING_APPROVAL");
    for event in events {
        assert_eq!(event["changeId"], id);
        assert_eq!(event["number"], number);
        assert_eq!(event["type"], "normal");
        assert_eq!(event["actorEmail"], requester.email.as_str());
        assert!(event["occurredAt"].as_str().is_some());
    }
    // Filters: only the status asked for, nothing for another change.
    assert_eq!(result["submitted"].as_array().unwrap().len(), 1);
    assert_eq!(result["submitted"][0]["action"], "change.submitted");
    assert_eq!(result["unrelated"], serde_json::json!([]));
    // No token or an unknown one: the connection is refused.
    assert_eq!(result["refusedNoToken"], true);
    assert_eq!(result["refusedBadToken"], true);
    // Every subscription stream ended with its client.
    assert_eq!(result["gaugeBefore"], 0);
    assert_eq!(result["gaugeAfter"], 0);
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `changeEvents` subscription over graphql-transport-ws, spoken by hand
/// so the test controls exactly when it reads.
async fn subscribe(base_url: &str, token: &str) -> Socket {
    let url = format!("{}/graphql/ws", base_url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |message: Value| tungstenite::Message::Text(message.to_string().into());
    socket
        .send(send(json!({"type": "connection_init",
                          "payload": {"authorization": format!("Bearer {token}")}})))
        .await
        .unwrap();
    let ack = next_message(&mut socket, std::time::Duration::from_secs(10))
        .await
        .expect("connection_ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
        .send(send(
            json!({"id": "1", "type": "subscribe", "payload": {"query":
            "subscription { changeEvents { number action statusAfter } }"}}),
        ))
        .await
        .unwrap();
    socket
}

async fn next_message(socket: &mut Socket, wait: std::time::Duration) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(wait, socket.next())
            .await
            .ok()??
            .ok()?;
        if let tungstenite::Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).ok();
        }
    }
}

/// The next change event, `None` when none arrives within `wait`.
async fn next_event(socket: &mut Socket, wait: std::time::Duration) -> Option<Value> {
    let message = next_message(socket, wait).await?;
    assert_eq!(message["type"], "next", "{message}");
    Some(message["payload"]["data"]["changeEvents"].clone())
}

async fn graphql_on(base_url: &str, token: &str, query: &str, variables: Value) -> Value {
    let body: Value = reqwest::Client::new()
        .post(format!("{base_url}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"].clone()
}

/// Files a normal change stating what the default policy asks before
/// submission, on `system`.
async fn create_on(base_url: &str, token: &str, title: &str, system: &str) -> Value {
    graphql_on(
        base_url,
        token,
        "mutation($input: CreateChangeInput!) { createChange(input: $input) { id number version } }",
        json!({"input": {"title": title, "description": "d", "businessJustification": "b",
                         "type": "normal", "likelihood": 2, "impact": 3, "systemIds": [system],
                         "implementationPlan": {"steps": ["deploy"], "deploymentMethod": "CANARY"}, "testPlan": "smoke tests",
                         "rollbackPlan": {"trigger": "errors", "steps": ["redeploy"]},
                         "plannedStart": "2030-01-07T02:00:00Z", "plannedEnd": "2030-01-07T03:00:00Z"}}),
    )
    .await["createChange"]
        .clone()
}

/// PostgreSQL: the listener of the subscribing process loses its
/// connection and cannot reconnect while another process commits events;
/// once it is back, the subscriber still gets every event, once, in order.
#[tokio::test]
async fn events_committed_while_the_listener_is_away_are_replayed_once() {
    let Some(admin_url) = postgres_admin_url() else {
        eprintln!("PostgreSQL only: LISTEN/NOTIFY reconnection (SQLite has one process)");
        return;
    };
    let a: TestApp = spawn_app().await;
    let requester = a.user("Rita Requester", &["requester"]).await;
    let system = a.system("Payments API", None).await;
    let b = serve(&a.database_url, &[]);
    let mut socket = subscribe(&a.base_url, &requester.token).await;
    let wait = std::time::Duration::from_secs(15);

    // The live path first: the listener is up.
    let first = create_on(&b.base_url, &requester.token, "Before the outage", &system).await;
    let event = next_event(&mut socket, wait).await.expect("live event");
    assert_eq!(event["number"], first["number"]);

    // Cut every listener off and keep them from reconnecting. The servers'
    // pooled connections stay up, so writes still commit.
    let admin = Database::connect(&admin_url).await.unwrap();
    let database = a.database_url.rsplit('/').next().unwrap().to_owned();
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE {database} ALLOW_CONNECTIONS false"
        ))
        .await
        .unwrap();
    let terminated = admin
        .query_all_raw(sea_orm::Statement::from_string(
            admin.get_database_backend(),
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{database}' AND application_name = '{}'",
                api::store::events::LISTENER_APPLICATION_NAME
            ),
        ))
        .await
        .unwrap();
    assert_eq!(terminated.len(), 2, "one listener per process");

    let version = first["version"].as_i64().unwrap();
    graphql_on(
        &b.base_url,
        &requester.token,
        "mutation($id: ID!, $v: Int!) { updateChange(id: $id, expectedVersion: $v, input: {title: \"During\"}) { version } }",
        json!({"id": first["id"], "v": version}),
    )
    .await;
    graphql_on(
        &b.base_url,
        &requester.token,
        "mutation($id: ID!) { submitChange(id: $id) { status } }",
        json!({"id": first["id"]}),
    )
    .await;
    let during = create_on(&b.base_url, &requester.token, "During the outage", &system).await;
    // Nothing can arrive while the listener is away.
    assert_eq!(
        next_event(&mut socket, std::time::Duration::from_secs(2)).await,
        None
    );
    admin
        .execute_unprepared(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();

    let mut received = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut socket, wait).await.expect("replayed event");
        received.push((event["number"].clone(), event["action"].clone()));
    }
    assert_eq!(
        received,
        [
            (first["number"].clone(), json!("change.updated")),
            (first["number"].clone(), json!("change.submitted")),
            (during["number"].clone(), json!("change.created")),
        ]
    );
    // Live again, and nothing delivered twice.
    let after = create_on(&b.base_url, &requester.token, "After the outage", &system).await;
    let event = next_event(&mut socket, wait)
        .await
        .expect("live event after");
    assert_eq!(event["number"], after["number"]);
    assert_eq!(event["action"], "change.created");
    assert_eq!(
        next_event(&mut socket, std::time::Duration::from_secs(1)).await,
        None
    );
    admin.close().await.ok();
}

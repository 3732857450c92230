//! Outbound webhooks against a local receiver: signed deliveries, retried
//! with backoff while the receiver is down, handed over to another process
//! through the durable outbox, sent once however many replicas run, and
//! refused towards private addresses unless the operator allows them.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2_next::Sha256;

use crate::helpers::{ADMIN_TOKEN, TestApp, error_code, spawn_app_with};

const SECRET: &str = "webhook-secret-0123456789abcdef";

/// What the receiver got: headers of interest and the body.
#[derive(Debug, Clone)]
struct Received {
    delivery: String,
    event: String,
    signature: String,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    down: Arc<AtomicBool>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if receiver.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    receiver.received.lock().unwrap().push(Received {
        delivery: header("x-gatehouse-delivery"),
        event: header("x-gatehouse-event"),
        signature: header("x-gatehouse-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    StatusCode::NO_CONTENT
}

/// A receiver on a free loopback port; returns its URL.
async fn start_receiver(receiver: &Receiver) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/gatehouse", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hooks/gatehouse", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn fast(settings: &mut api::config::Settings) {
    settings.webhooks.allow_private = true;
    settings.webhooks.retry_base = Duration::from_millis(200);
    settings.webhooks.poll = Duration::from_millis(100);
}

async fn create_webhook(app: &TestApp, url: &str, events: Value) -> Value {
    app.graphql(
        ADMIN_TOKEN,
        "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { id url events active } }",
        json!({"input": {"url": url, "events": events, "secret": SECRET}}),
    )
    .await
}

async fn deliveries(app: &TestApp) -> Value {
    app.data(
        ADMIN_TOKEN,
        "{ webhooks { active consecutiveFailures deliveries { event status attempts lastStatusCode lastError deliveredAt } } }",
        json!({}),
    )
    .await["webhooks"][0]["deliveries"]
        .clone()
}

/// Waits (bounded) until `done` holds.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..150 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn verifies(received: &Received) -> bool {
    let Some((t, v1)) = received
        .signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", received.body).as_bytes());
    hex::encode(mac.finalize().into_bytes()) == v1
}

#[tokio::test]
async fn deliveries_are_signed_and_retried_until_the_receiver_answers() {
    let app = spawn_app_with(fast).await;
    let receiver = Receiver::default();
    receiver.down.store(true, Ordering::SeqCst);
    let url = start_receiver(&receiver).await;
    let created = create_webhook(&app, &url, json!(["CHANGE", "INCIDENT"])).await;
    assert_eq!(
        created["data"]["createWebhook"]["active"], true,
        "{created:#}"
    );
    let requester = app.user("Rita Requester", &["requester"]).await;
    let change = app.create_change(&requester.token, json!({})).await;

    // The receiver is down: the delivery is attempted, logged and kept.
    eventually("a failed attempt", async || {
        let log = deliveries(&app).await;
        log[0]["attempts"].as_i64().unwrap_or(0) >= 2
    })
    .await;
    let log = deliveries(&app).await;
    assert_eq!(log[0]["status"], "PENDING");
    assert_eq!(log[0]["lastStatusCode"], 503);
    assert!(receiver.received.lock().unwrap().is_empty());

    // Back up: delivered on a later attempt, once, signed.
    receiver.down.store(false, Ordering::SeqCst);
    eventually("the delivery", async || {
        deliveries(&app).await[0]["status"] == "DELIVERED"
    })
    .await;
    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:#?}");
    let got = &received[0];
    assert_eq!(got.event, "change.created");
    assert!(verifies(got), "{got:#?}");
    let body: Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(body["kind"], "CHANGE");
    assert_eq!(
        body["entityId"],
        json!(crate::helpers::uuid_of(change["id"].as_str().unwrap()))
    );
    assert_eq!(body["delivery"], got.delivery.as_str());
    // A tampered body would not verify.
    let tampered = Received {
        body: got.body.replace("change.created", "change.closed"),
        ..got.clone()
    };
    assert!(!verifies(&tampered));
    // Not subscribed: a deployment (a kind of event the webhook did not
    // ask for) is not sent.
    let pipeline = app.user("Deploy Pipeline", &["pipeline", "service"]).await;
    app.data(
        &pipeline.token,
        "mutation { recordDeployment(input: {environment: \"staging\", status: SUCCESS}) { changed } }",
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_outbox_outlives_the_process_and_each_delivery_is_sent_once() {
    // The first process fills no outbox after its first pass (it sleeps
    // for an hour): it stands for one that stopped.
    let first = spawn_app_with(|settings| {
        fast(settings);
        settings.webhooks.poll = Duration::from_secs(3600);
    })
    .await;
    let receiver = Receiver::default();
    let url = start_receiver(&receiver).await;
    let created = create_webhook(&first, &url, json!(["CHANGE"])).await;
    assert!(created.get("errors").is_none(), "{created:#}");
    let requester = first.user("Rita Requester", &["requester"]).await;
    for _ in 0..5 {
        first.create_change(&requester.token, json!({})).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received.lock().unwrap().is_empty());

    // Two more processes on the same database pick the work up between
    // them: every event delivered, none twice.
    let database_url = first.database_url.clone();
    let second = {
        let url = database_url.clone();
        spawn_app_with(move |settings| {
            fast(settings);
            settings.database_url = url;
        })
        .await
    };
    let _third = spawn_app_with(move |settings| {
        fast(settings);
        settings.database_url = database_url;
    })
    .await;
    eventually("five deliveries", async || {
        receiver.received.lock().unwrap().len() >= 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let received = receiver.received.lock().unwrap().clone();
    let mut ids: Vec<&str> = received.iter().map(|r| r.delivery.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(received.len(), 5, "{received:#?}");
    assert_eq!(ids.len(), 5);
    let log = deliveries(&second).await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "DELIVERED" && d["attempts"] == 1),
        "{log:#}"
    );
}

#[tokio::test]
async fn webhooks_are_the_admins_and_never_reach_private_addresses_by_default() {
    let app = spawn_app_with(|_| {}).await;
    let refused = create_webhook(&app, "http://127.0.0.1:9/hooks", json!(["CHANGE"])).await;
    assert_eq!(error_code(&refused), "VALIDATION", "{refused:#}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "url");
    for url in [
        "http://169.254.169.254/latest",
        "http://[::1]:80/",
        "http://10.0.0.1/",
    ] {
        let refused = create_webhook(&app, url, json!(["CHANGE"])).await;
        assert_eq!(error_code(&refused), "VALIDATION", "{url}: {refused:#}");
    }
    let manager = app.user("Cam Manager", &["change_manager"]).await;
    let forbidden = app
        .graphql(
            &manager.token,
            "mutation { createWebhook(input: {url: \"https://hooks.example.com/x\", events: [CHANGE], secret: \"0123456789abcdef\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN");
    let short = app
        .graphql(
            ADMIN_TOKEN,
            "mutation { createWebhook(input: {url: \"https://93.184.216.34/x\", events: [CHANGE], secret: \"short\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(short["errors"][0]["extensions"]["field"], "secret");
    let listed = app
        .graphql(&manager.token, "{ webhooks { id } }", json!({}))
        .await;
    assert_eq!(error_code(&listed), "FORBIDDEN");
}

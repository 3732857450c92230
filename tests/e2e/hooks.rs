//! The GitHub and GitLab deployment receivers, fed the payloads the forges
//! document (`fixtures/`), with good and bad signatures, redeliveries and
//! replays: an authenticated delivery is recorded once, linked to the
//! change its ref names; anything unauthenticated stores nothing.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2_next::Sha256;

use crate::{helpers::ADMIN_TOKEN, lifecycle::Flow};

const GITHUB_SECRET: &str = "github-webhook-secret-0123456789";
const GITLAB_TOKEN: &str = "gitlab-webhook-token-0123456789";
const GITHUB_EVENT: &str = include_str!("fixtures/github_deployment_status.json");
const GITLAB_EVENT: &str = include_str!("fixtures/gitlab_deployment.json");

async fn flow() -> Flow {
    Flow::new_with("tiered-cab", |settings| {
        settings.hooks.github_secret = Some(GITHUB_SECRET.into());
        settings.hooks.gitlab_token = Some(GITLAB_TOKEN.into());
    })
    .await
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post(flow: &Flow, path: &str, headers: &[(&str, String)], body: &str) -> (u16, Value) {
    let mut request = flow
        .app
        .client
        .post(format!("{}{path}", flow.app.base_url))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn deployments(flow: &Flow) -> Value {
    flow.app
        .data(
            ADMIN_TOKEN,
            "{ deployments { totalCount edges { node { externalId changeNumber status source environment commitSha startedAt finishedAt url exception } } } }",
            json!({}),
        )
        .await["deployments"]
        .clone()
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The GitHub fixture for `number`, deployed `minutes` after `start`.
fn github_event(number: &str, start: DateTime<Utc>) -> String {
    GITHUB_EVENT
        .replace("CR-2026-0042", number)
        .replace("2026-11-15T15:20:53Z", &at(start + Duration::minutes(1)))
        .replace("2026-11-15T15:20:55Z", &at(start + Duration::minutes(3)))
}

#[tokio::test]
async fn github_deployment_statuses_are_recorded_once_and_only_when_signed() {
    let flow = flow().await;
    let manager = flow.person("Cam Manager", &["change_manager"]).await;
    let change = flow.started_normal(&manager).await;
    let number = change["number"].as_str().unwrap();
    let body = github_event(number, flow.app.clock.now());
    let headers = |signature: String, delivery: &str| {
        vec![
            ("x-github-event", "deployment_status".to_owned()),
            ("x-github-delivery", delivery.to_owned()),
            ("x-hub-signature-256", signature),
        ]
    };

    // Unsigned, signed with another secret, or a body changed after
    // signing: 401, nothing stored.
    let wrong = signature("another-secret-0123456789", body.as_bytes());
    let tampered = body.replace("\"production\"", "\"staging\"");
    for (signature, body) in [
        (String::new(), body.as_str()),
        (wrong, body.as_str()),
        (signature(GITHUB_SECRET, body.as_bytes()), tampered.as_str()),
    ] {
        let (status, answer) = post(&flow, "/hooks/github", &headers(signature, "d-1"), body).await;
        assert_eq!(status, 401, "{answer:#}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
    assert_eq!(deployments(&flow).await["totalCount"], 0);

    // Signed: recorded under the change its ref names, authorised.
    let signed = signature(GITHUB_SECRET, body.as_bytes());
    let (status, answer) = post(
        &flow,
        "/hooks/github",
        &headers(signed.clone(), "d-1"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["changeNumber"], number);
    assert_eq!(answer["exception"], Value::Null);
    let listed = deployments(&flow).await;
    assert_eq!(listed["totalCount"], 1);
    let recorded = &listed["edges"][0]["node"];
    assert_eq!(recorded["externalId"], "github:145988746");
    assert_eq!(recorded["source"], "GITHUB");
    assert_eq!(recorded["status"], "SUCCESS");
    assert_eq!(
        recorded["commitSha"],
        "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    );
    assert_eq!(
        recorded["url"],
        "https://github.com/acme/payments/actions/runs/7001"
    );

    // The same delivery again (a redelivery, or a replay of the captured
    // request): acknowledged, nothing new.
    let events_before = flow.app.audit_event_count().await;
    let (status, answer) = post(&flow, "/hooks/github", &headers(signed, "d-1"), &body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["duplicate"], true);
    assert_eq!(flow.app.audit_event_count().await, events_before);
    assert_eq!(deployments(&flow).await["totalCount"], 1);

    // A later `inactive` status (superseded) changes nothing; a ping is
    // answered; other events are acknowledged and ignored.
    let inactive = body.replace("\"state\": \"success\"", "\"state\": \"inactive\"");
    let (status, _) = post(
        &flow,
        "/hooks/github",
        &headers(signature(GITHUB_SECRET, inactive.as_bytes()), "d-2"),
        &inactive,
    )
    .await;
    assert_eq!(status, 202);
    let ping = r#"{"zen":"Design for failure."}"#;
    let (status, _) = post(
        &flow,
        "/hooks/github",
        &[
            ("x-github-event", "ping".to_owned()),
            ("x-github-delivery", "d-3".to_owned()),
            (
                "x-hub-signature-256",
                signature(GITHUB_SECRET, ping.as_bytes()),
            ),
        ],
        ping,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(deployments(&flow).await["totalCount"], 1);

    // A deployment naming no change reaches production: an exception.
    let unnamed = body
        .replace(&format!("release/{number}"), "main")
        .replace("145988746", "145988999");
    let (status, answer) = post(
        &flow,
        "/hooks/github",
        &headers(signature(GITHUB_SECRET, unnamed.as_bytes()), "d-4"),
        &unnamed,
    )
    .await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["exception"], "production deployment names no change");
    // Signed garbage is a client error, not a crash.
    let garbage = "{\"deployment\": 5}";
    let (status, answer) = post(
        &flow,
        "/hooks/github",
        &headers(signature(GITHUB_SECRET, garbage.as_bytes()), "d-5"),
        garbage,
    )
    .await;
    assert_eq!(status, 400, "{answer:#}");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "VALIDATION");
}

#[tokio::test]
async fn gitlab_deployment_events_need_the_token() {
    let flow = flow().await;
    let manager = flow.person("Cam Manager", &["change_manager"]).await;
    let change = flow.started_normal(&manager).await;
    let number = change["number"].as_str().unwrap();
    // GitLab's time format, an hour after the start, at +02:00.
    let finished = (flow.app.clock.now() + Duration::hours(1))
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .format("%Y-%m-%d %H:%M:%S %z")
        .to_string();
    let body = GITLAB_EVENT
        .replace("CR-2026-0042", number)
        .replace("2026-11-15 21:50:00 +0200", &finished);
    let headers = |token: &str, delivery: &str| {
        vec![
            ("x-gitlab-event", "Deployment Hook".to_owned()),
            ("x-gitlab-token", token.to_owned()),
            ("x-gitlab-event-uuid", delivery.to_owned()),
        ]
    };
    for token in ["", "gitlab-webhook-token-012345678", "wrong"] {
        let (status, _) = post(&flow, "/hooks/gitlab", &headers(token, "g-1"), &body).await;
        assert_eq!(status, 401);
    }
    assert_eq!(deployments(&flow).await["totalCount"], 0);
    let (status, answer) = post(&flow, "/hooks/gitlab", &headers(GITLAB_TOKEN, "g-1"), &body).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["changeNumber"], number);
    assert_eq!(answer["exception"], Value::Null);
    let (_, again) = post(&flow, "/hooks/gitlab", &headers(GITLAB_TOKEN, "g-1"), &body).await;
    assert_eq!(again["duplicate"], true);
    let listed = deployments(&flow).await;
    assert_eq!(listed["totalCount"], 1);
    let recorded = &listed["edges"][0]["node"];
    assert_eq!(recorded["externalId"], "gitlab:30:15");
    assert_eq!(recorded["source"], "GITLAB");
    assert_eq!(
        recorded["commitSha"],
        "279484c09fbe69ededfced8c1bb6e6d24616b468"
    );
}

#[tokio::test]
async fn receivers_without_a_secret_are_off() {
    let flow = Flow::new("tiered-cab").await;
    let (status, answer) = post(&flow, "/hooks/github", &[], GITHUB_EVENT).await;
    assert_eq!(status, 404, "{answer:#}");
    let (status, _) = post(&flow, "/hooks/gitlab", &[], GITLAB_EVENT).await;
    assert_eq!(status, 404);
}

//! `/metrics`: what a Prometheus scrape sees after real traffic.

use std::collections::BTreeMap;

use chrono::Duration;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    helpers::{ADMIN_TOKEN, TestApp, spawn_app_with},
    lifecycle::Flow,
};

/// One sample of the text exposition format.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap();
                    (key.to_owned(), value.trim_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().unwrap(),
            }
        })
        .collect()
}

/// The value of the one series with `name` whose labels include `labels`
/// (0 when there is none, as Prometheus would read an absent counter).
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(matching.len() <= 1, "{name} {labels:?}: {matching:?}");
    matching.first().map_or(0.0, |s| s.value)
}

pub async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}/metrics", app.base_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

pub async fn samples(app: &TestApp) -> Vec<Sample> {
    let response = scrape(app, None).await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    parse(&response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_count_requests_operations_errors_and_domain_state() {
    let flow = Flow::new("tiered-cab").await;
    let app = &flow.app;
    let change = flow
        .create("normal", json!({"title": "Secret project Falcon"}))
        .await;
    let submitted = app
        .data(
            &flow.requester.token,
            "mutation Submit($id: ID!) { submitChange(id: $id) { status } }",
            json!({"id": change["id"]}),
        )
        .await;
    assert_eq!(submitted["submitChange"]["status"], "AWAITING_APPROVAL");
    let refused = app
        .graphql(
            &flow.requester.token,
            "mutation Submit($id: ID!) { submitChange(id: $id) { status } }",
            json!({"id": "not-an-id"}),
        )
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "VALIDATION");
    for _ in 0..3 {
        let response = app
            .client
            .get(format!("{}/healthz", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let missing = app
        .client
        .get(format!("{}/no/such/{}", app.base_url, uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let response = scrape(app, None).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains("Falcon"), "titles never reach metrics");
    assert!(!text.contains("example.com"), "emails never reach metrics");
    let m = parse(&text);

    let healthz = [("method", "GET"), ("route", "/healthz"), ("status", "200")];
    assert_eq!(value(&m, "gatehouse_http_requests_total", &healthz), 3.0);
    assert_eq!(
        value(
            &m,
            "gatehouse_http_request_duration_seconds_count",
            &healthz
        ),
        3.0
    );
    assert_eq!(
        value(
            &m,
            "gatehouse_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "gatehouse_graphql_operations_total",
            &[("operation", "Submit")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &m,
            "gatehouse_graphql_errors_total",
            &[("operation", "Submit"), ("code", "VALIDATION")]
        ),
        1.0
    );
    assert_eq!(
        value(&m, "gatehouse_changes", &[("status", "AWAITING_APPROVAL")]),
        1.0
    );
    assert_eq!(value(&m, "gatehouse_changes", &[("status", "DRAFT")]), 0.0);
    assert_eq!(value(&m, "gatehouse_changes_awaiting_approval", &[]), 1.0);
    assert_eq!(
        value(&m, "gatehouse_changes_overdue", &[("kind", "approval")]),
        0.0
    );
    let max_pool = if app.database_url.starts_with("sqlite:") {
        1.0
    } else {
        16.0
    };
    assert_eq!(
        value(&m, "gatehouse_db_pool_max_connections", &[]),
        max_pool
    );
    let open = value(&m, "gatehouse_db_pool_connections", &[("state", "idle")])
        + value(&m, "gatehouse_db_pool_connections", &[("state", "in_use")]);
    assert!((1.0..=max_pool).contains(&open), "{open}");
    assert_eq!(
        value(
            &m,
            "gatehouse_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // The process metrics every Prometheus client exports, unprefixed.
    assert!(value(&m, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(value(&m, "process_open_fds", &[]) > 0.0);
    let statements = value(&m, "gatehouse_db_statements_total", &[]);
    assert!(statements >= 10.0, "{statements}");

    // Only an emergency change started before approval has an approval
    // deadline; set one directly to keep this test about the metric.
    let id = crate::helpers::uuid_of(change["id"].as_str().unwrap());
    entity::change::Entity::update_many()
        .col_expr(
            entity::change::Column::ApprovalDueAt,
            sea_orm::sea_query::Expr::value(app.clock.now() + Duration::days(1)),
        )
        .filter(entity::change::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
    let m = samples(app).await;
    assert_eq!(
        value(&m, "gatehouse_changes_overdue", &[("kind", "approval")]),
        0.0
    );
    // Past the approval deadline the change counts as overdue.
    app.clock.advance(Duration::days(2));
    let m = samples(app).await;
    assert_eq!(
        value(&m, "gatehouse_changes_overdue", &[("kind", "approval")]),
        1.0
    );
    assert_eq!(
        value(&m, "gatehouse_changes_overdue", &[("kind", "review")]),
        0.0
    );
    assert!(value(&m, "gatehouse_db_statements_total", &[]) > statements);
}

#[tokio::test]
async fn metrics_require_the_metrics_token_when_one_is_configured() {
    let app = spawn_app_with(|settings| {
        settings.metrics_token = Some("scrape-secret-0123456789".into());
    })
    .await;
    assert_eq!(scrape(&app, None).await.status(), 401);
    assert_eq!(scrape(&app, Some(ADMIN_TOKEN)).await.status(), 401);
    let response = scrape(&app, Some("scrape-secret-0123456789")).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("gatehouse_http_requests_total")
    );
}

//! The `metrics` query over HTTP, on data shaped like a real history.

use chrono::{DateTime, Utc};
use entity::{ChangeOutcome, IncidentPriority, change, incident};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, spawn_app};

pub(crate) const METRICS: &str = r#"query($from: DateTime!, $to: DateTime!, $g: MetricsGranularity!, $tz: String! = "UTC") {
  metrics(from: $from, to: $to, granularity: $g, timeZone: $tz) {
    period start end implemented
    volume { byType { key count } byOutcome { key count } bySystem { key count } }
    successRate rollbackRate failureRate emergencyShare withIssuesRate
    leadTimeHours { p50 p90 mean }
    changeDurationHours { mean p50 plannedMean plannedP50 }
    approvalTimeHours { p50 mean }
    cabApprovalRate emergencyDocsOnTimeRate
    targets { metric comparison threshold target value status }
  }
}"#;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[allow(clippy::too_many_arguments)]
/// Files a change over GraphQL, then records its history directly (the
/// lifecycle mutations are another issue's work).
pub(crate) async fn implemented(
    app: &TestApp,
    token: &str,
    kind: &str,
    outcome: ChangeOutcome,
    submitted: &str,
    start: &str,
    end: &str,
    systems: Vec<String>,
) -> String {
    let created = app
        .create_change(token, json!({"type": kind, "systemIds": systems}))
        .await;
    let id = crate::helpers::uuid_of(created["id"].as_str().unwrap());
    change::Entity::update_many()
        .col_expr(change::Column::Outcome, Expr::value(outcome))
        .col_expr(change::Column::SubmittedAt, Expr::value(t(submitted)))
        .col_expr(change::Column::ActualStart, Expr::value(t(start)))
        .col_expr(change::Column::ActualEnd, Expr::value(t(end)))
        .filter(change::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

pub(crate) fn close(value: &Value, expected: f64) {
    let actual = value
        .as_f64()
        .unwrap_or_else(|| panic!("expected {expected}, got {value}"));
    assert!(
        (actual - expected).abs() < 1e-9,
        "expected {expected}, got {actual}"
    );
}

#[tokio::test]
async fn monthly_metrics_over_http_with_empty_months_and_targets() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let api = app.system("api", None).await;
    implemented(
        &app,
        &ada.token,
        "normal",
        ChangeOutcome::Successful,
        "2026-10-01T00:00:00Z",
        "2026-10-02T00:00:00Z",
        "2026-10-02T01:00:00Z",
        vec![api.clone()],
    )
    .await;
    implemented(
        &app,
        &ada.token,
        "normal",
        ChangeOutcome::Successful,
        "2026-10-03T00:00:00Z",
        "2026-10-04T00:00:00Z",
        "2026-10-04T03:00:00Z",
        vec![api.clone()],
    )
    .await;
    let rolled = implemented(
        &app,
        &ada.token,
        "emergency",
        ChangeOutcome::RolledBack,
        "2026-10-10T00:00:00Z",
        "2026-10-10T01:00:00Z",
        "2026-10-10T02:00:00Z",
        vec![],
    )
    .await;
    incident::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        change_id: Set(Some(crate::helpers::uuid_of(&rolled))),
        priority: Set(IncidentPriority::P3),
        title: Set("Rollback".into()),
        description: Set(None),
        opened_by: Set(crate::helpers::uuid_of(&ada.id)),
        opened_at: Set(t("2026-10-10T02:00:00Z")),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    // A change that never ended is in no period.
    app.create_change(&ada.token, json!({})).await;

    let data = app
        .data(
            &ada.token,
            METRICS,
            json!({"from": "2026-10-01T00:00:00Z", "to": "2027-01-01T00:00:00Z", "g": "MONTH"}),
        )
        .await;
    let buckets = data["metrics"].as_array().unwrap();
    let periods: Vec<_> = buckets
        .iter()
        .map(|b| b["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods, ["2026-10", "2026-11", "2026-12"]);
    let oct = &buckets[0];
    assert_eq!(oct["implemented"], 3);
    close(&oct["successRate"], 2.0 / 3.0);
    close(&oct["rollbackRate"], 1.0 / 3.0);
    close(&oct["failureRate"], 1.0 / 3.0);
    close(&oct["emergencyShare"], 1.0 / 3.0);
    close(&oct["withIssuesRate"], 1.0 / 3.0);
    // Lead times 25, 27 and 2 hours; durations 1, 3 and 1 hours.
    close(&oct["leadTimeHours"]["p50"], 25.0);
    close(&oct["leadTimeHours"]["p90"], 25.0 + 0.8 * 2.0);
    close(&oct["leadTimeHours"]["mean"], 18.0);
    close(&oct["changeDurationHours"]["mean"], 5.0 / 3.0);
    close(&oct["changeDurationHours"]["p50"], 1.0);
    assert_eq!(oct["changeDurationHours"]["plannedMean"], Value::Null);
    assert_eq!(oct["approvalTimeHours"]["p50"], Value::Null);
    assert_eq!(oct["cabApprovalRate"], Value::Null);
    close(&oct["emergencyDocsOnTimeRate"], 0.0);
    assert_eq!(
        oct["volume"]["bySystem"],
        json!([{"key": "api", "count": 2}])
    );
    assert_eq!(
        oct["volume"]["byType"],
        json!([{"key": "normal", "count": 2}, {"key": "emergency", "count": 1}])
    );
    // tiered-cab (the default policy): seed 001's monthly targets.
    let target = |bucket: &Value, metric: &str| {
        bucket["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["metric"] == metric)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        target(oct, "SUCCESS_RATE"),
        json!({"metric": "SUCCESS_RATE", "comparison": "GREATER_THAN", "threshold": 0.95,
               "target": "> 95 %", "value": 2.0 / 3.0, "status": "MISSED"})
    );
    assert_eq!(target(oct, "CHANGE_DURATION_MEAN_HOURS")["status"], "MET");
    let nov = &buckets[1];
    assert_eq!(nov["implemented"], 0);
    assert_eq!(nov["successRate"], Value::Null);
    assert_eq!(target(nov, "SUCCESS_RATE")["status"], "NO_DATA");
    // The same targets, as the policy's [targets] table states them.
    let policy = app
        .data(
            &ada.token,
            "{ policy { targets { metric key target threshold } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        policy["policy"]["targets"],
        json!([
            {"metric": "SUCCESS_RATE", "key": "success_rate", "target": "> 95 %", "threshold": 0.95},
            {"metric": "ROLLBACK_RATE", "key": "rollback_rate", "target": "< 5 %", "threshold": 0.05},
            {"metric": "EMERGENCY_SHARE", "key": "emergency_share", "target": "< 5 %", "threshold": 0.05},
            {"metric": "WITH_ISSUES_RATE", "key": "with_issues_rate", "target": "< 10 %", "threshold": 0.1},
            {"metric": "CHANGE_DURATION_MEAN_HOURS", "key": "change_duration_mean_hours", "target": "< 2 h", "threshold": 2.0},
        ])
    );

    // The same changes by quarter, in a zone where the first one ended on
    // 1 October too.
    let data = app
        .data(&ada.token, METRICS, json!({"from": "2026-07-01T04:00:00Z", "to": "2027-01-01T00:00:00Z", "g": "QUARTER", "tz": "America/New_York"}))
        .await;
    let periods: Vec<_> = data["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["period"].as_str().unwrap().to_owned(),
                b["implemented"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        periods,
        [("2026-Q3".to_owned(), 0), ("2026-Q4".to_owned(), 3)]
    );
}

#[tokio::test]
async fn bad_metrics_arguments_are_validation_errors() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    for (variables, field) in [
        (
            json!({"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "g": "MONTH", "tz": "Mars/Olympus"}),
            "timeZone",
        ),
        (
            json!({"from": "2026-10-01T00:00:00Z", "to": "2026-10-01T00:00:00Z", "g": "MONTH"}),
            "to",
        ),
        (
            json!({"from": "1900-01-01T00:00:00Z", "to": "2026-10-01T00:00:00Z", "g": "MONTH"}),
            "granularity",
        ),
    ] {
        let response = app.graphql(&ada.token, METRICS, variables).await;
        assert_eq!(error_code(&response), "VALIDATION", "{response:#}");
        assert_eq!(response["errors"][0]["extensions"]["field"], field);
    }
    let anonymous = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .json(&json!({"query": METRICS, "variables": {"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "g": "MONTH"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

//! `gatehouse import` and `gatehouse demo-data` through the real binary,
//! checked over HTTP with the `metrics` query.

use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, fresh_database_url, spawn_app_with},
    metrics::{METRICS, close},
};

pub(crate) fn gatehouse(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env_remove("GATEHOUSE_BOOTSTRAP_TOKEN")
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_POLICY")
        .output()
        .expect("gatehouse runs")
}

pub(crate) fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn failed(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "unexpectedly succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("gh_import_{}_{name}", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A database with the requester Ada, a server on it and Ada's token.
pub(crate) async fn setup() -> (String, TestApp, String) {
    let database_url = fresh_database_url().await;
    succeeded(&gatehouse(
        &database_url,
        &[
            "users",
            "add",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
            "--roles",
            "requester",
        ],
    ));
    let token = succeeded(&gatehouse(
        &database_url,
        &["tokens", "issue", "--user", "ada@example.com"],
    ))
    .trim()
    .to_owned();
    let url = database_url.clone();
    let app = spawn_app_with(move |settings| settings.database_url = url).await;
    (database_url, app, token)
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

use sea_orm::ConnectionTrait;

const JSONL: &str = r#"{"title":"Rotate TLS certificates","description":"Replace expiring certificates","businessJustification":"Avoid an outage","type":"normal","status":"CLOSED","likelihood":2,"impact":3,"requesterEmail":"ada@example.com","systems":["api"],"createdAt":"2026-09-28T00:00:00Z","submittedAt":"2026-10-01T00:00:00Z","approvedAt":"2026-10-01T04:00:00Z","scheduledStart":"2026-10-02T00:00:00Z","scheduledEnd":"2026-10-02T02:00:00Z","actualStart":"2026-10-02T00:00:00Z","actualEnd":"2026-10-02T01:00:00Z","outcome":"SUCCESSFUL","closedAt":"2026-10-03T00:00:00Z"}
{"title":"Upgrade the database","description":"PostgreSQL 16 to 17","businessJustification":"Support ends","type":"major","status":"IMPLEMENTED","likelihood":3,"impact":4,"residualLikelihood":2,"residualImpact":3,"priority":"HIGH","requesterEmail":"ada@example.com","systems":["api","db"],"createdAt":"2026-10-02T00:00:00Z","submittedAt":"2026-10-03T00:00:00Z","approvedAt":"2026-10-03T10:00:00Z","boardOutcome":"APPROVED","boardDecidedAt":"2026-10-03T10:00:00Z","scheduledStart":"2026-10-04T00:00:00Z","scheduledEnd":"2026-10-04T04:00:00Z","actualStart":"2026-10-04T00:00:00Z","actualEnd":"2026-10-04T03:00:00Z","outcome":"SUCCESSFUL_WITH_ISSUES"}

{"title":"Hotfix the login loop","description":"Revert the session change","businessJustification":"Nobody can sign in","type":"emergency","status":"ROLLED_BACK","likelihood":4,"impact":5,"urgency":"CRITICAL","requesterEmail":"ada@example.com","createdAt":"2026-10-09T23:00:00Z","submittedAt":"2026-10-10T00:00:00Z","actualStart":"2026-10-10T01:00:00Z","actualEnd":"2026-10-10T02:00:00Z","approvalDueAt":"2026-10-11T01:00:00Z","approvedAt":"2026-10-10T12:00:00Z","documentedAt":"2026-10-10T20:00:00Z","outcome":"ROLLED_BACK","rollbackReason":"Error rate doubled"}
{"number":"OLD-17","title":"Tidy the runbooks","description":"Never started","businessJustification":"Hygiene","type":"standard","status":"DRAFT","likelihood":1,"impact":1,"requesterEmail":"ada@example.com","createdAt":"2025-12-30T10:00:00+02:00"}
"#;

const CSV: &str = "title,description,businessJustification,type,status,likelihood,impact,requesterEmail,systems,createdAt,submittedAt,actualStart,actualEnd,outcome,incident,boardOutcome,boardDecidedAt\n\
Resize the queue,\"Double the partitions, then rebalance\",Throughput,normal,FAILED,2,2,ada@example.com,db,2026-10-19T00:00:00Z,2026-10-20T00:00:00Z,2026-10-21T00:00:00Z,2026-10-21T02:00:00Z,FAILED,P2,,\n\
Rotate logs,Standard procedure,Disk space,standard,CLOSED,1,1,ada@example.com,api;cache,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,2026-11-02T01:00:00Z,2026-11-02T01:30:00Z,SUCCESSFUL,,,\n\
Replace the load balancer,Move to the managed one,Cost,major,REJECTED,3,4,ada@example.com,api,2026-10-28T00:00:00Z,2026-10-29T00:00:00Z,,,,,REJECTED,2026-11-03T10:00:00+01:00\n";

fn key_counts(value: &Value) -> Vec<(String, i64)> {
    let mut pairs: Vec<_> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["key"].as_str().unwrap().to_owned(),
                p["count"].as_i64().unwrap(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_jsonl_and_csv_then_metrics_over_http() {
    let (database_url, app, token) = setup().await;
    let jsonl = write("history.jsonl", JSONL);
    let out = succeeded(&gatehouse(&database_url, &["import", &jsonl]));
    assert!(
        out.contains("imported 4 change(s) (CR-2025-0001 .. CR-2026-0003), skipped 0 row(s)"),
        "{out}"
    );
    assert!(
        out.contains("created system api") && out.contains("created system db"),
        "{out}"
    );
    let csv = write("history.data", CSV);
    let out = succeeded(&gatehouse(
        &database_url,
        &["import", &csv, "--format", "csv"],
    ));
    assert!(
        out.contains("imported 3 change(s) (CR-2026-0004 .. CR-2026-0006)"),
        "{out}"
    );
    assert!(
        out.contains("created system cache") && !out.contains("system db"),
        "{out}"
    );

    // Numbers per year of createdAt, in creation order; the rest of the row
    // as written.
    let draft = app
        .data(
            &token,
            r#"{ change(number: "CR-2025-0001") { title status createdAt } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        draft["change"],
        json!({"title": "Tidy the runbooks", "status": "DRAFT", "createdAt": "2025-12-30T08:00:00+00:00"})
    );
    let rolled = app
        .data(
            &token,
            r#"{ change(number: "CR-2026-0003") { title status outcome } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        rolled["change"],
        json!({"title": "Hotfix the login loop", "status": "ROLLED_BACK", "outcome": "ROLLED_BACK"})
    );
    assert_eq!(count(&app, "incidents").await, 2);
    // One audit event per change and per created system, one chain.
    let verified = succeeded(&gatehouse(&database_url, &["audit", "verify"]));
    // users add + tokens issue + 3 systems + 7 changes
    assert!(verified.starts_with("OK: 12 events"), "{verified}");
    let rejected = app
        .data(
            &token,
            r#"{ change(number: "CR-2026-0005") { status boardOutcome boardDecidedAt } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        rejected["change"],
        json!({"status": "REJECTED", "boardOutcome": "REJECTED", "boardDecidedAt": "2026-11-03T09:00:00+00:00"})
    );

    let data = app
        .data(
            &token,
            METRICS,
            json!({"from": "2026-10-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "g": "MONTH"}),
        )
        .await;
    let oct = &data["metrics"][0];
    assert_eq!(oct["period"], "2026-10");
    assert_eq!(oct["implemented"], 4);
    close(&oct["successRate"], 0.5);
    close(&oct["rollbackRate"], 0.25);
    close(&oct["failureRate"], 0.5);
    close(&oct["emergencyShare"], 0.25);
    // with issues, the rollback (incident) and the failure with incident P2
    close(&oct["withIssuesRate"], 0.75);
    // lead times 25, 27, 2, 26 hours
    close(&oct["leadTimeHours"]["p50"], 25.5);
    close(&oct["leadTimeHours"]["p90"], 26.7);
    close(&oct["leadTimeHours"]["mean"], 20.0);
    // durations 1, 3, 1, 2 hours; planned 2 and 4 hours
    close(&oct["changeDurationHours"]["mean"], 1.75);
    close(&oct["changeDurationHours"]["p50"], 1.5);
    close(&oct["changeDurationHours"]["plannedMean"], 3.0);
    // approval times 4, 10, 12 hours
    close(&oct["approvalTimeHours"]["p50"], 10.0);
    close(&oct["approvalTimeHours"]["mean"], 26.0 / 3.0);
    close(&oct["cabApprovalRate"], 1.0);
    close(&oct["emergencyDocsOnTimeRate"], 1.0);
    assert_eq!(
        key_counts(&oct["volume"]["byType"]),
        [
            ("emergency".into(), 1),
            ("major".into(), 1),
            ("normal".into(), 2)
        ]
    );
    assert_eq!(
        key_counts(&oct["volume"]["bySystem"]),
        [("api".into(), 2), ("db".into(), 2)]
    );
    assert_eq!(
        key_counts(&oct["volume"]["byOutcome"]),
        [
            ("FAILED".into(), 1),
            ("ROLLED_BACK".into(), 1),
            ("SUCCESSFUL".into(), 1),
            ("SUCCESSFUL_WITH_ISSUES".into(), 1)
        ]
    );
    let nov = &data["metrics"][1];
    assert_eq!(nov["implemented"], 1);
    close(&nov["successRate"], 1.0);
    close(&nov["leadTimeHours"]["p50"], 1.5);
    // The rejection counts in November, when the board took it, although
    // the change was submitted in October and never implemented.
    close(&nov["cabApprovalRate"], 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_fails_the_whole_import_and_skip_invalid_lists_it() {
    let (database_url, app, _token) = setup().await;
    let events_before = app.audit_event_count().await;
    let good = |title: &str, start: &str, end: &str| {
        json!({"title": title, "description": "d", "businessJustification": "b", "type": "normal",
               "status": "CLOSED", "likelihood": 2, "impact": 2, "requesterEmail": "ada@example.com",
               "systems": ["api"], "createdAt": "2026-03-01T00:00:00Z", "actualStart": start,
               "actualEnd": end, "outcome": "SUCCESSFUL"})
        .to_string()
    };
    let text = [
        good("first", "2026-03-02T00:00:00Z", "2026-03-02T01:00:00Z"),
        good("backwards", "2026-03-02T05:00:00Z", "2026-03-02T04:00:00Z"),
        good("third", "2026-03-03T00:00:00Z", "2026-03-03T01:00:00Z"),
    ]
    .join("\n");
    let file = write("bad.jsonl", &text);
    let stderr = failed(&gatehouse(&database_url, &["import", &file]));
    assert!(
        stderr.contains("nothing was written: 1 invalid row(s)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 2: actualEnd: must not be before actualStart"),
        "{stderr}"
    );
    assert_eq!(count(&app, "changes").await, 0);
    assert_eq!(count(&app, "systems").await, 0);
    assert_eq!(count(&app, "change_sequences").await, 0);
    assert_eq!(app.audit_event_count().await, events_before);

    // CSV: an unknown requester on line 3 and a bad enum on line 4.
    let csv = "title,description,businessJustification,type,status,likelihood,impact,requesterEmail,createdAt\n\
        ok,d,b,normal,DRAFT,1,1,ada@example.com,2026-03-01T00:00:00Z\n\
        ghost,d,b,normal,DRAFT,1,1,ghost@example.com,2026-03-01T00:00:00Z\n\
        odd,d,b,normal,PENDING,1,1,ada@example.com,2026-03-01T00:00:00Z\n";
    let csv = write("bad.csv", csv);
    let stderr = failed(&gatehouse(&database_url, &["import", &csv]));
    assert!(stderr.contains("2 invalid row(s)"), "{stderr}");
    assert!(
        stderr.contains("line 3: requesterEmail: no account with email ghost@example.com"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 4: status: `PENDING` is not one of"),
        "{stderr}"
    );
    assert_eq!(count(&app, "changes").await, 0);

    let out = succeeded(&gatehouse(
        &database_url,
        &["import", &file, "--skip-invalid"],
    ));
    assert!(
        out.contains("skipped line 2: actualEnd: must not be before actualStart"),
        "{out}"
    );
    assert!(
        out.contains("imported 2 change(s) (CR-2026-0001 .. CR-2026-0002), skipped 1 row(s)"),
        "{out}"
    );
    assert_eq!(count(&app, "changes").await, 2);

    let missing = failed(&gatehouse(
        &database_url,
        &["import", "/nonexistent/file.csv"],
    ));
    assert!(
        missing.contains("reading /nonexistent/file.csv"),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_with_the_same_seed_gives_the_same_metrics() {
    let mut metrics = Vec::new();
    for _ in 0..2 {
        let (database_url, app, token) = setup().await;
        let out = succeeded(&gatehouse(
            &database_url,
            &[
                "demo-data",
                "--changes",
                "300",
                "--months",
                "6",
                "--seed",
                "42",
                "--end",
                "2026-11-01T00:00:00Z",
            ],
        ));
        assert!(
            out.contains("generated 300 change(s) over 6 month(s)"),
            "{out}"
        );
        assert_eq!(count(&app, "changes").await, 300);
        assert_eq!(count(&app, "systems").await, 12);
        let data = app
            .data(
                &token,
                METRICS,
                json!({"from": "2026-05-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "g": "MONTH"}),
            )
            .await;
        let buckets = data["metrics"].as_array().unwrap().clone();
        assert_eq!(buckets.len(), 6);
        let implemented: i64 = buckets
            .iter()
            .map(|b| b["implemented"].as_i64().unwrap())
            .sum();
        assert!(implemented > 200, "{implemented}");
        metrics.push(buckets);
    }
    assert_eq!(metrics[0], metrics[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_and_incidents_come_from_other_tools() {
    let (database_url, app, token) = setup().await;
    let changes = write("changes.jsonl", JSONL);
    succeeded(&gatehouse(&database_url, &["import", &changes]));
    let found = app
        .data(
            &token,
            "{ changes(filter: {titleContains: \"Rotate TLS\"}) { edges { node { number } } } }",
            json!({}),
        )
        .await;
    let number = found["changes"]["edges"][0]["node"]["number"]
        .as_str()
        .unwrap()
        .to_owned();
    // One deployment inside that change's implementation (2026-10-02
    // 00:00-01:00), 4 h after its commit; one under no change.
    let deployments = format!(
        "{{\"externalId\":\"jenkins-1\",\"changeNumber\":\"{number}\",\"environment\":\"production\",\"systems\":[\"api\"],\"status\":\"SUCCESS\",\"commitSha\":\"a1b2c3d4\",\"commitTime\":\"2026-10-01T20:20:00Z\",\"startedAt\":\"2026-10-02T00:10:00Z\",\"finishedAt\":\"2026-10-02T00:20:00Z\"}}\n\
         {{\"externalId\":\"jenkins-2\",\"environment\":\"production\",\"status\":\"SUCCESS\",\"startedAt\":\"2026-10-05T10:00:00Z\",\"finishedAt\":\"2026-10-05T10:05:00Z\"}}\n"
    );
    let file = write("deployments.jsonl", &deployments);
    let out = succeeded(&gatehouse(
        &database_url,
        &["import", "--kind", "deployments", &file],
    ));
    assert!(
        out.contains("imported 2 deployment(s), 1 of them unauthorised"),
        "{out}"
    );
    // Again: the external ids make it a no-op.
    succeeded(&gatehouse(
        &database_url,
        &["import", "--kind", "deployments", &file],
    ));
    assert_eq!(count(&app, "deployments").await, 2);

    // An incident whose reporter has no account fails the file; with
    // --skip-invalid the valid one is imported, resolved.
    let incidents = "title,priority,systems,openedAt,restoredAt,resolution,reportedBy\n\
        Checkout errors,P2,api,2026-10-06T00:00:00Z,2026-10-06T02:00:00Z,Rolled the config back,ada@example.com\n\
        Ghost,P4,api,2026-10-07T00:00:00Z,,,nobody@example.com\n";
    let file = write("incidents.csv", incidents);
    let stderr = failed(&gatehouse(
        &database_url,
        &["import", "--kind", "incidents", &file],
    ));
    assert!(stderr.contains("line 3: reportedBy"), "{stderr}");
    let before = count(&app, "incidents").await;
    let out = succeeded(&gatehouse(
        &database_url,
        &["import", "--kind", "incidents", "--skip-invalid", &file],
    ));
    assert!(
        out.contains("imported 1 incident(s), skipped 1 row(s)"),
        "{out}"
    );
    assert_eq!(count(&app, "incidents").await, before + 1);

    let metrics = app
        .data(
            &token,
            "{ metrics(from: \"2026-10-01T00:00:00Z\", to: \"2026-11-01T00:00:00Z\", granularity: MONTH) {
                deployments unauthorisedDeployments deploymentLeadTimeHours { mean } incidentsRestored timeToRestoreHours { mean } } }",
            json!({}),
        )
        .await;
    let october = &metrics["metrics"][0];
    assert_eq!(october["deployments"], 2, "{metrics:#}");
    assert_eq!(october["unauthorisedDeployments"], 1);
    close(&october["deploymentLeadTimeHours"]["mean"], 4.0);
    assert_eq!(october["incidentsRestored"], 1);
    close(&october["timeToRestoreHours"]["mean"], 2.0);
    let verified = succeeded(&gatehouse(&database_url, &["audit", "verify"]));
    assert!(verified.starts_with("OK: "), "{verified}");
}

/// What another tool's export leaves out is derived as Gatehouse would
/// have set it, and what the policy never asks of the CAB is refused.
#[tokio::test]
async fn imports_take_the_policys_deadlines_and_refuse_decisions_it_never_asks() {
    let (database_url, app, token) = setup().await;
    let row = |extra: Value| {
        let mut row = json!({"title": "Hotfix the login loop", "description": "Revert the session change",
            "businessJustification": "Nobody can sign in", "type": "emergency", "status": "CLOSED",
            "likelihood": 4, "impact": 5, "urgency": "CRITICAL", "requesterEmail": "ada@example.com",
            "systems": "[\"auth\", \"api\"]", "createdAt": "2026-10-09T23:00:00Z",
            "submittedAt": "2026-10-10T00:00:00Z", "actualStart": "2026-10-10T01:00:00Z",
            "actualEnd": "2026-10-10T02:00:00Z", "approvedAt": "2026-10-10T12:00:00Z",
            "documentedAt": "2026-10-10T20:00:00Z", "outcome": "SUCCESSFUL"});
        for (key, value) in extra.as_object().cloned().unwrap_or_default() {
            row[key] = value;
        }
        row.to_string()
    };
    // The board (tiered-cab: it decides major changes) never decides a
    // normal one; nothing is written.
    let decided = row(
        json!({"type": "normal", "urgency": "MEDIUM", "boardOutcome": "APPROVED",
        "boardDecidedAt": "2026-10-10T00:30:00Z", "approvedAt": "2026-10-10T00:30:00Z"}),
    );
    let stderr = failed(&gatehouse(
        &database_url,
        &["import", &write("board.jsonl", &decided)],
    ));
    assert!(
        stderr.contains(
            "line 1: boardOutcome: the CAB does not decide normal changes under this policy"
        ),
        "{stderr}"
    );
    assert_eq!(count(&app, "changes").await, 0);

    // The emergency's retroactive approval was due 24 hours after its
    // start (tiered-cab), as for one filed here; approved 11 hours in, on
    // time. The systems cell's JSON array names two systems.
    succeeded(&gatehouse(
        &database_url,
        &["import", &write("emergency.jsonl", &row(json!({})))],
    ));
    let change = app
        .data(
            &token,
            r#"{ change(number: "CR-2026-0001") { deadlines { approvalDueAt } systems { name } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        change["change"]["deadlines"]["approvalDueAt"],
        "2026-10-11T01:00:00+00:00"
    );
    let mut systems: Vec<&str> = change["change"]["systems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    systems.sort();
    assert_eq!(systems, ["api", "auth"]);
}

/// Implemented changes whose source never recorded a time are kept; each
/// metric needing the missing time leaves them out, the others count
/// them, and the change's own read paths and the evidence pack work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_missing_a_time_count_in_every_metric_that_does_not_need_it() {
    let (database_url, app, token) = setup().await;
    let row = |extra: Value| {
        let mut row = json!({"description": "d", "businessJustification": "b",
            "type": "normal", "status": "CLOSED", "likelihood": 2, "impact": 2,
            "requesterEmail": "ada@example.com", "systems": ["api"],
            "createdAt": "2026-10-01T00:00:00Z", "outcome": "SUCCESSFUL"});
        for (key, value) in extra.as_object().cloned().unwrap_or_default() {
            row[key] = value;
        }
        row.to_string()
    };
    let text = [
        // No start: 10 hours' lead time, 2 hours' approval; no duration.
        row(
            json!({"title": "no start", "submittedAt": "2026-10-02T00:00:00Z",
            "approvedAt": "2026-10-02T02:00:00Z", "actualEnd": "2026-10-02T10:00:00Z",
            "closedAt": "2026-10-03T00:00:00Z"}),
        ),
        // No submission: 3 hours' duration; no lead or approval time.
        row(
            json!({"title": "no submission", "status": "FAILED", "outcome": "FAILED",
            "approvedAt": "2026-10-04T00:00:00Z", "actualStart": "2026-10-05T00:00:00Z",
            "actualEnd": "2026-10-05T03:00:00Z"}),
        ),
        // An emergency with no end is in no period; with no start its
        // retroactive approval has no deadline either.
        row(
            json!({"title": "no end", "type": "emergency", "submittedAt": "2026-10-06T00:00:00Z",
            "approvedAt": "2026-10-06T05:00:00Z"}),
        ),
    ]
    .join("\n");
    let out = succeeded(&gatehouse(
        &database_url,
        &["import", &write("gaps.jsonl", &text)],
    ));
    assert!(
        out.contains("imported 3 change(s) (CR-2026-0001 .. CR-2026-0003)"),
        "{out}"
    );
    assert!(
        out.contains("note: 1 implemented change(s) without actualEnd: in no period of the change metrics (only the CAB approval rate counts their board decision) (line 3)")
            && out.contains("note: 2 implemented change(s) without actualStart: left out of the change duration (line 1, 3)")
            && out.contains("note: 1 implemented change(s) without submittedAt: left out of the lead time and the approval time (line 2)"),
        "{out}"
    );

    let data = app
        .data(
            &token,
            METRICS,
            json!({"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "g": "MONTH"}),
        )
        .await;
    let oct = &data["metrics"][0];
    assert_eq!(oct["implemented"], 2, "{oct:#}");
    close(&oct["successRate"], 0.5);
    close(&oct["failureRate"], 0.5);
    close(&oct["leadTimeHours"]["p50"], 10.0);
    close(&oct["leadTimeHours"]["mean"], 10.0);
    close(&oct["changeDurationHours"]["mean"], 3.0);
    close(&oct["changeDurationHours"]["p50"], 3.0);
    close(&oct["approvalTimeHours"]["mean"], 2.0);
    assert_eq!(oct["emergencyShare"], 0.0);
    assert_eq!(oct["emergencyDocsOnTimeRate"], Value::Null);
    assert_eq!(
        key_counts(&oct["volume"]["byOutcome"]),
        [("FAILED".into(), 1), ("SUCCESSFUL".into(), 1)]
    );

    // Every read of the change works without the missing times.
    const DETAIL: &str = r#"query($n: String!) { change(number: $n) {
        status actualStart actualEnd submittedAt rollback { reason }
        deadlines { approvalDueAt documentationDueAt reviewDueAt }
        approvalStatus { outcome } gates { key met before } overdue { kind dueAt }
        incidents { id } history { action } } }"#;
    for number in ["CR-2026-0001", "CR-2026-0002", "CR-2026-0003"] {
        let detail = app.graphql(&token, DETAIL, json!({"n": number})).await;
        assert_eq!(detail["errors"], Value::Null, "{number}: {detail:#}");
        assert_eq!(
            detail["data"]["change"]["history"][0]["action"], "change.imported",
            "{number}"
        );
    }
    let no_end = app.data(&token, DETAIL, json!({"n": "CR-2026-0003"})).await;
    assert_eq!(
        no_end["change"]["deadlines"],
        json!({"approvalDueAt": null, "documentationDueAt": null, "reviewDueAt": null})
    );
    assert_eq!(no_end["change"]["actualStart"], Value::Null);

    // The evidence pack of the import holds the three changes as written.
    let out = std::env::temp_dir().join(format!("gh_import_pack_{}", uuid::Uuid::new_v4()));
    let manifest = crate::evidence::cli_export(&database_url, &out).await;
    let datasets = manifest["datasets"].as_array().unwrap();
    let changes_dataset = datasets.iter().find(|d| d["key"] == "changes").unwrap();
    assert_eq!(changes_dataset["rows"], 3, "{manifest:#}");
    let changes = std::fs::read_to_string(out.join("changes.jsonl")).unwrap();
    let mut times: Vec<(String, Value, Value)> = changes
        .lines()
        .map(|line| {
            let change: Value = serde_json::from_str(line).unwrap();
            (
                change["number"].as_str().unwrap().to_owned(),
                change["actualStart"].clone(),
                change["submittedAt"].clone(),
            )
        })
        .collect();
    times.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        times,
        [
            (
                "CR-2026-0001".into(),
                Value::Null,
                json!("2026-10-02T00:00:00.000000Z")
            ),
            (
                "CR-2026-0002".into(),
                json!("2026-10-05T00:00:00.000000Z"),
                Value::Null
            ),
            (
                "CR-2026-0003".into(),
                Value::Null,
                json!("2026-10-06T00:00:00.000000Z")
            ),
        ]
    );
}

fn fixture(name: &str) -> String {
    format!("{}/tests/e2e/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

const MAPPED_CHANGE: &str = r#"query($n: String!) { change(number: $n) {
    title description businessJustification type status outcome priority
    risk { inherentScore } systems { name } createdAt submittedAt plannedStart
    scheduledStart scheduledEnd actualStart actualEnd closedAt } }"#;

/// The change's fields `MAPPED_CHANGE` reads, systems sorted.
async fn mapped_change(app: &TestApp, token: &str, number: &str) -> Value {
    let mut change = app.data(token, MAPPED_CHANGE, json!({"n": number})).await["change"].take();
    let mut systems: Vec<String> = change["systems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    systems.sort();
    change["systems"] = json!(systems);
    change
}

/// A Jira Service Management export (all fields, the default date format)
/// through the built-in `jsm` map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jira_service_management_export_imports_through_the_jsm_map() {
    let (database_url, app, token) = setup().await;
    let out = succeeded(&gatehouse(
        &database_url,
        &["import", &fixture("jsm_changes.csv"), "--map", "jsm"],
    ));
    assert!(
        out.contains("imported 8 change(s) (CR-2026-0001 .. CR-2026-0008), skipped 0 row(s)"),
        "{out}"
    );
    assert!(
        out.contains(
            "note: 1 implemented change(s) without actualStart: left out of the change duration (line 7)"
        ),
        "{out}"
    );
    assert!(!out.contains("without actualEnd"), "{out}");

    // Two "Affected services" columns, "Completed" as closed and
    // successful, Jira's dates in UTC, the planned window booked.
    assert_eq!(
        mapped_change(&app, &token, "CR-2026-0001").await,
        json!({"title": "Rotate TLS certificates",
            "description": "Replace the certificates that expire this month",
            "businessJustification": "Maintenance", "type": "normal", "status": "CLOSED",
            "outcome": "SUCCESSFUL", "priority": "MEDIUM", "risk": {"inherentScore": 4},
            "systems": ["api", "payments"], "createdAt": "2026-11-02T09:00:00+00:00",
            "submittedAt": "2026-11-02T09:00:00+00:00", "plannedStart": "2026-11-03T22:00:00+00:00",
            "scheduledStart": "2026-11-03T22:00:00+00:00", "scheduledEnd": "2026-11-03T23:30:00+00:00",
            "actualStart": "2026-11-03T22:00:00+00:00", "actualEnd": "2026-11-03T23:00:00+00:00",
            "closedAt": "2026-11-04T09:00:00+00:00"})
    );
    let failed = mapped_change(&app, &token, "CR-2026-0002").await;
    assert_eq!(
        (
            &failed["status"],
            &failed["outcome"],
            &failed["description"]
        ),
        (
            &json!("FAILED"),
            &json!("FAILED"),
            &json!("Upgrade the primary,\nthen vacuum")
        )
    );
    let emergency = mapped_change(&app, &token, "CR-2026-0003").await;
    assert_eq!(
        (
            &emergency["type"],
            &emergency["priority"],
            &emergency["risk"]
        ),
        (
            &json!("emergency"),
            &json!("CRITICAL"),
            &json!({"inherentScore": 25})
        )
    );
    // Cancelled, with no description in Jira.
    let cancelled = mapped_change(&app, &token, "CR-2026-0004").await;
    assert_eq!(
        (
            &cancelled["status"],
            &cancelled["outcome"],
            &cancelled["description"]
        ),
        (
            &json!("CANCELLED"),
            &Value::Null,
            &json!("No description in the Jira Service Management export.")
        )
    );
    // Completed without an actual start: kept, with its end.
    let no_start = mapped_change(&app, &token, "CR-2026-0005").await;
    assert_eq!(
        (
            &no_start["type"],
            &no_start["actualStart"],
            &no_start["actualEnd"]
        ),
        (
            &json!("standard"),
            &Value::Null,
            &json!("2026-11-17T14:45:00+00:00")
        )
    );
    let mut statuses = Vec::new();
    for number in ["CR-2026-0006", "CR-2026-0007", "CR-2026-0008"] {
        statuses.push(mapped_change(&app, &token, number).await["status"].clone());
    }
    assert_eq!(statuses, ["APPROVED", "REJECTED", "IMPLEMENTING"]);
    // Declined with no change reason in Jira.
    assert_eq!(
        mapped_change(&app, &token, "CR-2026-0007").await["businessJustification"],
        "No change reason in the Jira Service Management export."
    );

    let data = app
        .data(
            &token,
            METRICS,
            json!({"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "g": "MONTH"}),
        )
        .await;
    let nov = &data["metrics"][0];
    assert_eq!(nov["implemented"], 4, "{nov:#}");
    close(&nov["successRate"], 0.75);
    close(&nov["failureRate"], 0.25);
    close(&nov["rollbackRate"], 0.0);
    close(&nov["emergencyShare"], 0.25);
    close(&nov["withIssuesRate"], 0.0);
    // Lead times 38, 18.5, 35/60 and 29.75 hours (Created to the end).
    close(&nov["leadTimeHours"]["p50"], 24.125);
    close(&nov["leadTimeHours"]["p90"], 35.525);
    close(
        &nov["leadTimeHours"]["mean"],
        (38.0 + 18.5 + 35.0 / 60.0 + 29.75) / 4.0,
    );
    // Durations 1, 1.5 and 0.5 hours: the change without a start is not
    // among them. Planned 1.5, 2 and 1 hours.
    close(&nov["changeDurationHours"]["mean"], 1.0);
    close(&nov["changeDurationHours"]["p50"], 1.0);
    close(&nov["changeDurationHours"]["plannedMean"], 1.5);
    // Jira's export has no approval time.
    assert_eq!(nov["approvalTimeHours"]["p50"], Value::Null);
    assert_eq!(nov["cabApprovalRate"], Value::Null);
    close(&nov["emergencyDocsOnTimeRate"], 0.0);
    assert_eq!(
        key_counts(&nov["volume"]["byType"]),
        [
            ("emergency".into(), 1),
            ("normal".into(), 2),
            ("standard".into(), 1)
        ]
    );
    assert_eq!(
        key_counts(&nov["volume"]["bySystem"]),
        [
            ("api".into(), 1),
            ("auth".into(), 1),
            ("db".into(), 1),
            ("logging".into(), 1),
            ("payments".into(), 1)
        ]
    );
    assert_eq!(
        key_counts(&nov["volume"]["byOutcome"]),
        [("FAILED".into(), 1), ("SUCCESSFUL".into(), 3)]
    );
}

/// A ServiceNow change_request list export through a map file that
/// extends the built-in `servicenow` map with the exporting user's time
/// zone and the requesters' accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servicenow_export_imports_through_a_map_extending_the_servicenow_map() {
    let (database_url, app, token) = setup().await;
    succeeded(&gatehouse(
        &database_url,
        &[
            "users",
            "add",
            "--name",
            "Grace",
            "--email",
            "grace@example.com",
            "--roles",
            "requester",
        ],
    ));
    let export = fixture("servicenow_change_request.csv");
    // The built-in map reads requested_by as an email; the export has
    // display names. Nothing is written, and the error names the column.
    let stderr = failed(&gatehouse(
        &database_url,
        &["import", &export, "--map", "servicenow"],
    ));
    assert!(
        stderr.contains(
            "line 2: requesterEmail (from \"requested_by\"): no account with email ada lovelace"
        ),
        "{stderr}"
    );
    assert_eq!(count(&app, "changes").await, 0);

    let out = succeeded(&gatehouse(
        &database_url,
        &[
            "import",
            &export,
            "--map",
            &fixture("servicenow_people.toml"),
        ],
    ));
    assert!(
        out.contains("imported 8 change(s) (CR-2026-0001 .. CR-2026-0008), skipped 0 row(s)"),
        "{out}"
    );
    assert!(
        out.contains(
            "note: 1 implemented change(s) without actualStart: left out of the change duration (line 6)"
        ),
        "{out}"
    );
    // New York wall times (EDT, UTC-4) as instants.
    assert_eq!(
        mapped_change(&app, &token, "CR-2026-0001").await,
        json!({"title": "Patch the web tier", "description": "Apply the October security patches",
            "businessJustification": "Security patches are due within 30 days", "type": "normal",
            "status": "CLOSED", "outcome": "SUCCESSFUL", "priority": "MEDIUM",
            "risk": {"inherentScore": 9}, "systems": ["web"],
            "createdAt": "2026-10-01T13:00:00+00:00", "submittedAt": "2026-10-01T13:00:00+00:00",
            "plannedStart": "2026-10-03T00:00:00+00:00", "scheduledStart": "2026-10-03T00:00:00+00:00",
            "scheduledEnd": "2026-10-03T02:00:00+00:00", "actualStart": "2026-10-03T00:00:00+00:00",
            "actualEnd": "2026-10-03T01:30:00+00:00", "closedAt": "2026-10-03T13:00:00+00:00"})
    );
    // Closed unsuccessful: closed, and failed.
    let unsuccessful = mapped_change(&app, &token, "CR-2026-0003").await;
    assert_eq!(
        (&unsuccessful["status"], &unsuccessful["outcome"]),
        (&json!("CLOSED"), &json!("FAILED"))
    );
    let cancelled = mapped_change(&app, &token, "CR-2026-0004").await;
    assert_eq!(
        (
            &cancelled["status"],
            &cancelled["outcome"],
            &cancelled["actualStart"]
        ),
        (&json!("CANCELLED"), &Value::Null, &Value::Null)
    );
    // In review without work_start: implemented, with issues, no start.
    let in_review = mapped_change(&app, &token, "CR-2026-0005").await;
    assert_eq!(
        (
            &in_review["type"],
            &in_review["status"],
            &in_review["outcome"],
            &in_review["actualStart"],
            &in_review["actualEnd"]
        ),
        (
            &json!("standard"),
            &json!("IMPLEMENTED"),
            &json!("SUCCESSFUL_WITH_ISSUES"),
            &Value::Null,
            &json!("2026-10-15T22:00:00+00:00")
        )
    );
    // Still New: a draft, never submitted, with the default justification.
    let draft = mapped_change(&app, &token, "CR-2026-0006").await;
    assert_eq!(
        (
            &draft["status"],
            &draft["submittedAt"],
            &draft["businessJustification"]
        ),
        (
            &json!("DRAFT"),
            &Value::Null,
            &json!("No justification in the ServiceNow export.")
        )
    );
    // Numeric choice values (state -2, risk 2, impact 2, priority 2).
    let scheduled = mapped_change(&app, &token, "CR-2026-0007").await;
    assert_eq!(
        (
            &scheduled["status"],
            &scheduled["priority"],
            &scheduled["risk"]
        ),
        (
            &json!("SCHEDULED"),
            &json!("HIGH"),
            &json!({"inherentScore": 12})
        )
    );

    let data = app
        .data(
            &token,
            METRICS,
            json!({"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "g": "MONTH"}),
        )
        .await;
    let oct = &data["metrics"][0];
    assert_eq!(oct["implemented"], 5, "{oct:#}");
    close(&oct["successRate"], 0.6);
    close(&oct["failureRate"], 0.4);
    close(&oct["rollbackRate"], 0.0);
    close(&oct["emergencyShare"], 0.4);
    close(&oct["withIssuesRate"], 0.2);
    // Lead times 36.5, 2/3, 37, 33 and 1.75 hours (opened_at to work_end).
    close(&oct["leadTimeHours"]["p50"], 33.0);
    close(&oct["leadTimeHours"]["p90"], 36.8);
    close(
        &oct["leadTimeHours"]["mean"],
        (36.5 + 2.0 / 3.0 + 37.0 + 33.0 + 1.75) / 5.0,
    );
    // Durations 1.5, 0.5, 1 and 1.25 hours; the change in review has no
    // start. Planned: three two-hour windows.
    close(&oct["changeDurationHours"]["mean"], 1.0625);
    close(&oct["changeDurationHours"]["p50"], 1.125);
    close(&oct["changeDurationHours"]["plannedMean"], 2.0);
    assert_eq!(oct["approvalTimeHours"]["mean"], Value::Null);
    close(&oct["emergencyDocsOnTimeRate"], 0.0);
    assert_eq!(
        key_counts(&oct["volume"]["byType"]),
        [
            ("emergency".into(), 2),
            ("normal".into(), 2),
            ("standard".into(), 1)
        ]
    );
    assert_eq!(
        key_counts(&oct["volume"]["bySystem"]),
        [
            ("dns".into(), 1),
            ("kafka".into(), 1),
            ("payments".into(), 1),
            ("web".into(), 2)
        ]
    );
    assert_eq!(
        key_counts(&oct["volume"]["byOutcome"]),
        [
            ("FAILED".into(), 2),
            ("SUCCESSFUL".into(), 2),
            ("SUCCESSFUL_WITH_ISSUES".into(), 1)
        ]
    );
}

/// What a map cannot read is named: a column it needs that the export
/// lacks, and a value its value map does not list.
#[tokio::test]
async fn a_map_names_the_missing_column_and_the_value_it_does_not_know() {
    let (database_url, app, _token) = setup().await;
    let export = std::fs::read_to_string(fixture("servicenow_change_request.csv")).unwrap();
    let without_work_end = export.replace(",work_end,", ",finished,");
    let stderr = failed(&gatehouse(
        &database_url,
        &[
            "import",
            &write("no_work_end.csv", &without_work_end),
            "--map",
            "servicenow",
        ],
    ));
    assert!(
        stderr.contains(
            "line 1: work_end: the map servicenow reads this column, which is missing from the file's header"
        ),
        "{stderr}"
    );
    let waiting = export.replace("Normal,Closed,Moderate", "Normal,Waiting,Moderate");
    let stderr = failed(&gatehouse(
        &database_url,
        &[
            "import",
            &write("waiting.csv", &waiting),
            "--map",
            &fixture("servicenow_people.toml"),
        ],
    ));
    let people = fixture("servicenow_people.toml");
    assert!(
        stderr.contains(&format!(
            "line 2: state: `Waiting` is not a value the map {people} knows for status \
             (accepted: -1, -2, -3, -4, -5, 0, 3, 4, Assess, Authorize, Canceled, Closed, \
             Implement, New, Review, Scheduled)"
        )),
        "{stderr}"
    );
    assert_eq!(count(&app, "changes").await, 0);
}

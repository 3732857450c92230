use std::collections::BTreeSet;

use chrono::{Datelike, Utc};
use futures::future::join_all;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::{
    ADMIN_TOKEN, CHANGE_FIELDS, TestApp, fresh_database_url, postgres_admin_url, spawn_app,
    spawn_app_with,
};

/// Change numbers are unique and gap-free even when many clients create
/// changes at the same moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_get_unique_gap_free_numbers() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let create = format!(
        "mutation($input: CreateChangeInput!) {{ createChange(input: $input) {{ {CHANGE_FIELDS} }} }}"
    );
    let requests = (0..24).map(|index| {
        let app = &app;
        let create = create.clone();
        let token = ada.token.clone();
        async move {
            app.data(
                &token,
                &create,
                json!({"input": {"title": format!("Concurrent {index}"), "description": "D", "businessJustification": "B",
                                 "type": "standard", "likelihood": 1, "impact": 1}}),
            )
            .await["createChange"]["number"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    });
    let numbers: BTreeSet<String> = join_all(requests).await.into_iter().collect();
    let year = Utc::now().year();
    let expected: BTreeSet<String> = (1..=24).map(|n| format!("CR-{year}-{n:04}")).collect();
    assert_eq!(numbers, expected);
}

/// Two editors holding the same version: exactly one wins, the other gets
/// CONFLICT, and the stored version moved by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_edits_of_one_version_never_both_land() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let change = app.create_change(&ada.token, json!({})).await;
    let update = "mutation($id: ID!, $input: UpdateChangeInput!) { updateChange(id: $id, expectedVersion: 1, input: $input) { version } }";
    let attempts = (0..8).map(|index| {
        let app = &app;
        let token = ada.token.clone();
        let id = change["id"].clone();
        async move {
            app.graphql(
                &token,
                update,
                json!({"id": id, "input": {"title": format!("Edit {index}")}}),
            )
            .await
        }
    });
    let responses = join_all(attempts).await;
    let winners = responses
        .iter()
        .filter(|r| r.get("errors").is_none())
        .count();
    let conflicts = responses
        .iter()
        .filter(|r| r["errors"][0]["extensions"]["code"] == "CONFLICT")
        .count();
    assert_eq!((winners, conflicts), (1, 7), "{responses:#?}");
    let stored = app
        .data(
            &ada.token,
            "query($id: ID) { change(id: $id) { version } }",
            json!({"id": change["id"]}),
        )
        .await;
    assert_eq!(stored["change"]["version"], 2);
}

/// Two approvers deciding at the same moment: both votes count and the
/// change ends APPROVED (no lost update of the status).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_approvers_are_both_counted() {
    for _ in 0..3 {
        let flow = crate::lifecycle::Flow::new("dual-approval").await;
        let lead = flow.person("Lena Lead", &["engineering_lead"]).await;
        let qa = flow.person("Quinn QA", &["qa"]).await;
        let change = flow.create("normal", json!({})).await;
        let id = change["id"].clone();
        flow.submit(&id).await;
        let (a, b) = tokio::join!(
            flow.decide(&lead.token, &id, "APPROVE"),
            flow.decide(&qa.token, &id, "APPROVE")
        );
        assert!(
            a.get("errors").is_none() && b.get("errors").is_none(),
            "{a:#} {b:#}"
        );
        let stored = flow.get(&id).await;
        assert_eq!(stored["status"], "APPROVED", "{stored:#}");
        let approvals = flow
            .app
            .data(
                crate::helpers::ADMIN_TOKEN,
                "query($id: ID) { change(id: $id) { approvals { decision } } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            approvals["change"]["approvals"].as_array().unwrap().len(),
            2
        );
    }
}

/// The same approver clicking twice at once casts one vote.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_person_one_vote_under_concurrency() {
    let flow = crate::lifecycle::Flow::new("tiered-cab").await;
    let board = flow.board(4).await;
    let change = flow.create("major", json!({})).await;
    let id = change["id"].clone();
    flow.submit_to_board(&id).await;
    let attempts = (0..4).map(|_| flow.decide(&board[1].token, &id, "APPROVE"));
    let responses = join_all(attempts).await;
    assert_eq!(
        responses
            .iter()
            .filter(|r| r.get("errors").is_none())
            .count(),
        1,
        "{responses:#?}"
    );
    let stored = flow.get(&id).await;
    // Step 0 is the Change Manager's review, step 1 the CAB.
    assert_eq!(stored["approvalStatus"]["steps"][1]["board"]["approve"], 1);
}

/// Two transitions racing: exactly one start, recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_transitions_never_double_transition() {
    let flow = crate::lifecycle::Flow::new("tiered-cab").await;
    let change = flow.create("emergency", json!({})).await;
    let id = change["id"].clone();
    flow.submit(&id).await;
    flow.pass(&id, &["unit_tests"]).await;
    let events_before = flow.app.audit_event_count().await;
    let responses = join_all((0..4).map(|_| flow.start(&id))).await;
    let started = responses
        .iter()
        .filter(|r| r.get("errors").is_none())
        .count();
    assert_eq!(started, 1, "{responses:#?}");
    for refused in responses.iter().filter(|r| r.get("errors").is_some()) {
        assert_eq!(
            refused["errors"][0]["extensions"]["code"],
            "POLICY_VIOLATION"
        );
    }
    assert_eq!(flow.app.audit_event_count().await, events_before + 1);
}

/// Fires `rounds` rounds of createUser, createSystem and createChange at
/// once, spread over `apps` (round `i` goes to `apps[i % apps.len()]`).
/// Returns the number of audit events they wrote.
async fn concurrent_writes(apps: &[&TestApp], requester_token: &str, rounds: usize) -> i64 {
    let writes = (0..rounds).map(|i| {
        let app = apps[i % apps.len()];
        async move {
            let create_user = app.data(
                ADMIN_TOKEN,
                "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
                json!({"input": {"name": format!("User {i}"), "email": format!("user{i}@example.com"), "roles": ["requester"]}}),
            );
            let create_system = app.data(
                ADMIN_TOKEN,
                "mutation($input: CreateSystemInput!) { createSystem(input: $input) { id } }",
                json!({"input": {"name": format!("system-{i}")}}),
            );
            let create_change = app.create_change(
                requester_token,
                json!({"title": format!("Concurrent change {i}")}),
            );
            futures::join!(create_user, create_system, create_change);
        }
    });
    join_all(writes).await;
    (rounds * 3) as i64
}

async fn assert_one_intact_chain(app: &TestApp, expected_events: i64) {
    assert_eq!(app.audit_event_count().await, expected_events);
    let verified = app
        .data(
            ADMIN_TOKEN,
            "{ verifyAuditLog { ok events brokenAt reason } }",
            json!({}),
        )
        .await["verifyAuditLog"]
        .clone();
    assert_eq!(
        verified,
        json!({"ok": true, "events": expected_events, "brokenAt": null, "reason": null})
    );
    // One chain: sequence numbers 1..=N with no gap or duplicate.
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT MIN(seq) AS lo, MAX(seq) AS hi, COUNT(DISTINCT prev_hash) AS links FROM audit_events",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "lo").unwrap(), 1);
    assert_eq!(row.try_get::<i64>("", "hi").unwrap(), expected_events);
    assert_eq!(row.try_get::<i64>("", "links").unwrap(), expected_events);
}

/// Many writers in one process (SQLite by default, PostgreSQL when
/// configured): every write's event lands in one unbroken chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_in_one_process_keep_one_chain() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let before = app.audit_event_count().await;
    let written = concurrent_writes(&[&app], &ada.token, 20).await;
    assert_one_intact_chain(&app, before + written).await;
}

/// Two Gatehouse servers, each with its own connection pool, on one
/// PostgreSQL database, written to at the same time: the advisory lock
/// keeps their events one chain. (SQLite serves one process; this test
/// runs when GATEHOUSE_TEST_POSTGRES_URL is set.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgres_keep_one_chain() {
    if postgres_admin_url().is_none() {
        eprintln!("skipped: GATEHOUSE_TEST_POSTGRES_URL is not set");
        return;
    }
    let database_url = fresh_database_url().await;
    let url = database_url.clone();
    let first = spawn_app_with(move |settings| settings.database_url = url).await;
    let url = database_url.clone();
    let second = spawn_app_with(move |settings| settings.database_url = url).await;
    assert_ne!(first.base_url, second.base_url);
    let ada = first.user("Ada", &["requester"]).await;
    let before = first.audit_event_count().await;
    let written = concurrent_writes(&[&first, &second], &ada.token, 40).await;
    assert_one_intact_chain(&second, before + written).await;
}

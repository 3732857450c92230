use chrono::{Datelike, Utc};
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, CHANGE_FIELDS, error_code, spawn_app};

const FULL: &str = "id number title description businessJustification expectedBenefit urgency priority
    type typeLabel status version createdAt updatedAt submittedAt
    risk { likelihood impact inherentScore mitigations residualLikelihood residualImpact residualScore level }
    requester { email } systems { name parent { name } } services customersAffected downtimeRequired performanceImpact
    implementationPlan { steps deploymentMethod canaryStages } testPlan
    rollbackPlan { trigger steps owner verification timeEstimateMinutes }
    links { kind url title } plannedStart plannedEnd";

#[tokio::test]
async fn a_change_is_stored_with_every_field_and_read_back_by_id_and_number() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let cluster = app.system("payments-cluster", None).await;
    let database = app.system("payments-db", Some(&cluster)).await;

    let input = json!({
        "title": "Upgrade payments database to PostgreSQL 16",
        "description": "In-place minor upgrade with a failover",
        "businessJustification": "Security fixes in 16.4",
        "expectedBenefit": "Closes CVE backlog",
        "urgency": "HIGH",
        "priority": "HIGH",
        "type": "major",
        "likelihood": 4,
        "impact": 5,
        "mitigations": "Tested failover in staging",
        "residualLikelihood": 2,
        "residualImpact": 4,
        "systemIds": [database],
        "services": ["checkout", "refunds"],
        "customersAffected": "All EU customers",
        "downtimeRequired": true,
        "performanceImpact": "Minimal",
        "implementationPlan": {"steps": ["Deploy to canary", "Monitor 30 min", "Full rollout"], "deploymentMethod": "CANARY", "canaryStages": [5, 25, 50, 100]},
        "testPlan": "Integration suite against staging",
        "rollbackPlan": {"trigger": "error rate > 5%", "steps": ["Fail back"], "owner": "DBA on call", "verification": ["Smoke tests"], "timeEstimateMinutes": 15},
        "links": [{"kind": "PULL_REQUEST", "url": "https://git.example.com/pr/42", "title": "PR 42"}],
        "plannedStart": "2026-12-06T07:00:00Z",
        "plannedEnd": "2026-12-06T09:00:00Z",
    });
    let created = app
        .data(
            &ada.token,
            &format!("mutation($input: CreateChangeInput!) {{ createChange(input: $input) {{ {FULL} }} }}"),
            json!({"input": input}),
        )
        .await["createChange"]
        .clone();

    let year = Utc::now().year();
    assert_eq!(created["number"], format!("CR-{year}-0001"));
    assert_eq!(created["status"], "DRAFT");
    assert_eq!(created["version"], 1);
    assert_eq!(created["typeLabel"], "Major");
    assert_eq!(created["submittedAt"], serde_json::Value::Null);
    assert_eq!(
        created["risk"],
        json!({"likelihood": 4, "impact": 5, "inherentScore": 20, "mitigations": "Tested failover in staging",
               "residualLikelihood": 2, "residualImpact": 4, "residualScore": 8, "level": "MEDIUM"})
    );
    assert_eq!(created["requester"]["email"], ada.email);
    assert_eq!(
        created["systems"],
        json!([{"name": "payments-db", "parent": {"name": "payments-cluster"}}])
    );
    assert_eq!(created["services"], json!(["checkout", "refunds"]));
    assert_eq!(created["implementationPlan"], input["implementationPlan"]);
    assert_eq!(created["rollbackPlan"], input["rollbackPlan"]);
    assert_eq!(created["links"], input["links"]);
    assert_eq!(created["downtimeRequired"], true);
    assert_eq!(created["plannedStart"], "2026-12-06T07:00:00+00:00");

    let by_id = app
        .data(
            &ada.token,
            &format!("query($id: ID) {{ change(id: $id) {{ {FULL} }} }}"),
            json!({"id": created["id"]}),
        )
        .await;
    assert_eq!(by_id["change"], created);
    // Anyone signed in may read; auditors read everything.
    let auditor = app.user("Audrey", &["auditor"]).await;
    let by_number = app
        .data(
            &auditor.token,
            &format!("query($n: String) {{ change(number: $n) {{ {FULL} }} }}"),
            json!({"n": created["number"]}),
        )
        .await;
    assert_eq!(by_number["change"], created);
}

#[tokio::test]
async fn unknown_and_malformed_keys_are_distinguished() {
    let app = spawn_app().await;
    let query = "query($id: ID, $n: String) { change(id: $id, number: $n) { id } }";
    let missing = app
        .graphql(ADMIN_TOKEN, query, json!({"n": "CR-2026-9999"}))
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
    let missing = app
        .graphql(ADMIN_TOKEN, query, json!({"id": uuid::Uuid::new_v4()}))
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
    let malformed = app
        .graphql(ADMIN_TOKEN, query, json!({"n": "CR-26-1"}))
        .await;
    assert_eq!(error_code(&malformed), "VALIDATION");
    let malformed = app.graphql(ADMIN_TOKEN, query, json!({"id": "nope"})).await;
    assert_eq!(error_code(&malformed), "VALIDATION");
    let both = app.graphql(ADMIN_TOKEN, query, json!({})).await;
    assert_eq!(error_code(&both), "VALIDATION");
}

#[tokio::test]
async fn invalid_changes_are_refused_naming_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let events_before = app.audit_event_count().await;
    let create = format!(
        "mutation($input: CreateChangeInput!) {{ createChange(input: $input) {{ {CHANGE_FIELDS} }} }}"
    );
    let base = json!({"title": "T", "description": "D", "businessJustification": "B", "type": "normal", "likelihood": 2, "impact": 2});
    let cases = [
        (json!({"likelihood": 0}), "likelihood"),
        (json!({"impact": 9}), "impact"),
        (json!({"type": "yolo"}), "type"),
        (json!({"title": ""}), "title"),
        (json!({"description": "  "}), "description"),
        (
            json!({"businessJustification": ""}),
            "businessJustification",
        ),
        (json!({"residualImpact": 2}), "residualLikelihood"),
        (json!({"systemIds": [uuid::Uuid::new_v4()]}), "systemIds[0]"),
        (json!({"systemIds": ["not-an-id"]}), "systemIds[0]"),
        (
            json!({"plannedStart": "2026-12-06T09:00:00Z", "plannedEnd": "2026-12-06T07:00:00Z"}),
            "plannedEnd",
        ),
        (
            json!({"links": [{"kind": "TICKET", "url": "ftp://x"}]}),
            "links[0].url",
        ),
        (
            json!({"implementationPlan": {"deploymentMethod": "ROLLING", "canaryStages": [10]}}),
            "implementationPlan.canaryStages",
        ),
    ];
    for (overrides, field) in cases {
        let mut input = base.clone();
        for (key, value) in overrides.as_object().unwrap() {
            input[key] = value.clone();
        }
        let response = app
            .graphql(&ada.token, &create, json!({"input": input}))
            .await;
        assert_eq!(
            error_code(&response),
            "VALIDATION",
            "{overrides}: {response}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{overrides}"
        );
    }
    let list = app
        .data(&ada.token, "{ changes { totalCount } }", json!({}))
        .await;
    assert_eq!(list["changes"]["totalCount"], 0);
    assert_eq!(
        app.audit_event_count().await,
        events_before,
        "refusals write no audit events"
    );
    // A refused create consumes no number.
    let first = app.create_change(&ada.token, json!({})).await;
    assert!(first["number"].as_str().unwrap().ends_with("-0001"));
}

#[tokio::test]
async fn only_requesters_file_changes() {
    let app = spawn_app().await;
    for roles in [&["auditor"][..], &["admin"][..], &["cto"][..]] {
        let user = app.user(&format!("User {}", roles[0]), roles).await;
        let response = app
            .graphql(
                &user.token,
                "mutation { createChange(input: {title: \"T\", description: \"D\", businessJustification: \"B\", type: \"normal\", likelihood: 1, impact: 1}) { id } }",
                json!({}),
            )
            .await;
        assert_eq!(error_code(&response), "FORBIDDEN", "{roles:?}");
    }
}

const UPDATE: &str = "mutation($id: ID!, $v: Int!, $input: UpdateChangeInput!) {
    updateChange(id: $id, expectedVersion: $v, input: $input) { title version mitigations: risk { mitigations residualScore level } systems { name } plannedStart } }";

#[tokio::test]
async fn a_draft_is_edited_with_its_expected_version() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let api_system = app.system("api", None).await;
    let change = app
        .create_change(
            &ada.token,
            json!({"mitigations": "flag", "residualLikelihood": 1, "residualImpact": 1}),
        )
        .await;

    let updated = app
        .data(
            &ada.token,
            UPDATE,
            json!({"id": change["id"], "v": 1, "input": {"title": "Rotate TLS certificates now", "residualLikelihood": null, "residualImpact": null, "systemIds": [api_system]}}),
        )
        .await["updateChange"]
        .clone();
    assert_eq!(updated["title"], "Rotate TLS certificates now");
    assert_eq!(updated["version"], 2);
    // Cleared residual risk falls back to inherent (2 x 3 = 6, medium);
    // omitted fields stay.
    assert_eq!(
        updated["mitigations"],
        json!({"mitigations": "flag", "residualScore": null, "level": "MEDIUM"})
    );
    assert_eq!(updated["systems"], json!([{"name": "api"}]));

    // A client still holding version 1 gets CONFLICT and changes nothing.
    let stale = app
        .graphql(
            &ada.token,
            UPDATE,
            json!({"id": change["id"], "v": 1, "input": {"title": "Lost update"}}),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    assert!(
        stale["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("current version is 2")
    );
    let stored = app
        .data(
            &ada.token,
            "query($id: ID) { change(id: $id) { title version } }",
            json!({"id": change["id"]}),
        )
        .await;
    assert_eq!(
        stored["change"],
        json!({"title": "Rotate TLS certificates now", "version": 2})
    );

    // Invalid edits roll back the version claim too.
    let invalid = app
        .graphql(
            &ada.token,
            UPDATE,
            json!({"id": change["id"], "v": 2, "input": {"likelihood": 7}}),
        )
        .await;
    assert_eq!(error_code(&invalid), "VALIDATION");
    let stored = app
        .data(
            &ada.token,
            "query($id: ID) { change(id: $id) { version } }",
            json!({"id": change["id"]}),
        )
        .await;
    assert_eq!(stored["change"]["version"], 2);
}

#[tokio::test]
async fn only_the_requester_edits_a_change() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let bob = app.user("Bob", &["requester", "change_manager"]).await;
    let change = app.create_change(&ada.token, json!({})).await;
    for token in [bob.token.as_str(), ADMIN_TOKEN] {
        let response = app
            .graphql(
                token,
                UPDATE,
                json!({"id": change["id"], "v": 1, "input": {"title": "Hijacked"}}),
            )
            .await;
        assert_eq!(error_code(&response), "FORBIDDEN");
    }
    let stored = app
        .data(
            &ada.token,
            "query($id: ID) { change(id: $id) { title version } }",
            json!({"id": change["id"]}),
        )
        .await;
    assert_eq!(
        stored["change"],
        json!({"title": "Rotate TLS certificates", "version": 1})
    );
}

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, error_code, spawn_app};

const VERIFY: &str = "{ verifyAuditLog { ok events headHash brokenAt reason } }";

#[tokio::test]
async fn every_write_appends_one_verified_event() {
    let app = spawn_app().await;
    // Bootstrap: the admin account and its token.
    assert_eq!(app.audit_event_count().await, 2);
    let ada = app.user("Ada", &["requester"]).await; // user + token
    let system = app.system("api", None).await;
    let change = app
        .create_change(&ada.token, json!({"systemIds": [system]}))
        .await;
    app.data(
        &ada.token,
        "mutation($id: ID!) { updateChange(id: $id, expectedVersion: 1, input: {title: \"New\"}) { version } }",
        json!({"id": change["id"]}),
    )
    .await;
    assert_eq!(app.audit_event_count().await, 7);

    let auditor = app.user("Audrey", &["auditor"]).await;
    let verified = app.data(&auditor.token, VERIFY, json!({})).await["verifyAuditLog"].clone();
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["events"], 9);
    assert_eq!(verified["headHash"].as_str().unwrap().len(), 64);

    // The update event records what changed, before and after.
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT actor_label, payload FROM audit_events WHERE action = 'change.updated'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<String>("", "actor_label").unwrap(), ada.email);
    let payload: serde_json::Value =
        serde_json::from_str(&row.try_get::<String>("", "payload").unwrap()).unwrap();
    assert_eq!(
        payload["changes"]["title"],
        json!({"before": "Rotate TLS certificates", "after": "New"})
    );
    assert_eq!(payload["changes"].as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn only_auditors_and_admins_verify() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester", "cto"]).await;
    assert_eq!(
        error_code(&app.graphql(&ada.token, VERIFY, json!({})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        app.data(ADMIN_TOKEN, VERIFY, json!({})).await["verifyAuditLog"]["ok"],
        true
    );
}

#[tokio::test]
async fn the_database_refuses_to_rewrite_the_audit_trail() {
    let app = spawn_app().await;
    let backend = app.db.get_database_backend();
    for statement in [
        "UPDATE audit_events SET payload = '{}' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 2",
    ] {
        let result = app
            .db
            .execute_raw(Statement::from_string(backend, statement))
            .await;
        assert!(result.is_err(), "{statement} must be refused");
    }
    assert_eq!(
        app.data(ADMIN_TOKEN, VERIFY, json!({})).await["verifyAuditLog"]["ok"],
        true
    );
}

#[tokio::test]
async fn a_tampered_event_is_reported_with_its_sequence_number() {
    let app = spawn_app().await;
    app.user("Ada", &["requester"]).await;
    let backend = app.db.get_database_backend();
    // An attacker with owner rights lifts the guard and edits event 3.
    let lift = match backend {
        sea_orm::DbBackend::Postgres => {
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"
        }
        _ => "DROP TRIGGER audit_events_no_update",
    };
    app.db.execute_unprepared(lift).await.unwrap();
    app.db
        .execute_unprepared(
            "UPDATE audit_events SET payload = '{\"name\":\"Mallory\"}' WHERE seq = 3",
        )
        .await
        .unwrap();
    let verified = app.data(ADMIN_TOKEN, VERIFY, json!({})).await["verifyAuditLog"].clone();
    assert_eq!(verified["ok"], false);
    assert_eq!(verified["brokenAt"], 3);
    assert!(
        verified["reason"].as_str().unwrap().contains("edited"),
        "{verified}"
    );
}

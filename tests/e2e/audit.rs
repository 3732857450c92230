use api::domain::audit_chain::{EventContent, event_hash};
use entity::audit_event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement, sea_query::Expr,
};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, error_code, spawn_app};

const VERIFY: &str = "{ verifyAuditLog { ok events headHash brokenAt reason } }";
const VERIFY_ANCHORED: &str = "query($seq: Int, $hash: String) {
    verifyAuditLog(anchorSeq: $seq, anchorHash: $hash) { ok events headSeq headHash brokenAt reason } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

/// Lifts the append-only guard, as an attacker with owner rights on the
/// database could.
pub async fn lift_guard(app: &TestApp) {
    let statements: &[&str] = match app.db.get_database_backend() {
        DbBackend::Postgres => {
            &["ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"]
        }
        _ => &[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ],
    };
    for statement in statements {
        app.db.execute_unprepared(statement).await.unwrap();
    }
}

/// A trail of 8 events: the bootstrap (2) and three accounts with a token
/// each (2 apiece).
async fn trail_of_eight() -> TestApp {
    let app = spawn_app().await;
    for name in ["Ada", "Grace", "Linus"] {
        app.user(name, &["requester"]).await;
    }
    assert_eq!(app.audit_event_count().await, 8);
    app
}

async fn verify(app: &TestApp, anchor: Option<(i64, &str)>) -> Value {
    let variables = match anchor {
        Some((seq, hash)) => json!({"seq": seq, "hash": hash}),
        None => json!({}),
    };
    app.data(ADMIN_TOKEN, VERIFY_ANCHORED, variables).await["verifyAuditLog"].clone()
}

fn assert_broken_at(verified: &Value, seq: i64, reason_contains: &str) {
    assert_eq!(verified["ok"], false, "{verified}");
    assert_eq!(verified["brokenAt"], seq, "{verified}");
    assert_eq!(verified["events"], seq - 1, "{verified}");
    assert!(
        verified["reason"]
            .as_str()
            .unwrap()
            .contains(reason_contains),
        "{verified}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_payload_is_reported_with_its_sequence_number() {
    let app = trail_of_eight().await;
    lift_guard(&app).await;
    app.db
        .execute_unprepared(
            "UPDATE audit_events SET payload = '{\"name\":\"Mallory\"}' WHERE seq = 3",
        )
        .await
        .unwrap();
    assert_broken_at(&verify(&app, None).await, 3, "edited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_event_is_reported_with_its_sequence_number() {
    let app = trail_of_eight().await;
    lift_guard(&app).await;
    app.db
        .execute_unprepared("DELETE FROM audit_events WHERE seq = 5")
        .await
        .unwrap();
    assert_broken_at(&verify(&app, None).await, 5, "deleted or reordered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_swapped_events_are_reported_at_the_first() {
    let app = trail_of_eight().await;
    lift_guard(&app).await;
    // Events 4 and 5 trade places: each row now sits at the other's seq.
    for statement in [
        "UPDATE audit_events SET seq = -5 WHERE seq = 5",
        "UPDATE audit_events SET seq = 5 WHERE seq = 4",
        "UPDATE audit_events SET seq = 4 WHERE seq = -5",
    ] {
        app.db.execute_unprepared(statement).await.unwrap();
    }
    assert_broken_at(&verify(&app, None).await, 4, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_rehash_of_one_event_breaks_the_next_link() {
    let app = trail_of_eight().await;
    lift_guard(&app).await;
    // The attacker edits event 3 and recomputes its hash, but cannot
    // recompute the rest of the chain without it showing elsewhere.
    let event = audit_event::Entity::find_by_id(3i64)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let forged_payload = "{\"name\":\"Mallory\"}";
    let forged_hash = event_hash(&EventContent {
        seq: event.seq,
        occurred_at: event.occurred_at,
        actor_id: event.actor_id,
        actor_label: &event.actor_label,
        action: &event.action,
        entity_type: &event.entity_type,
        entity_id: &event.entity_id,
        payload: forged_payload,
        prev_hash: &event.prev_hash,
    });
    audit_event::Entity::update_many()
        .col_expr(audit_event::Column::Payload, Expr::value(forged_payload))
        .col_expr(audit_event::Column::Hash, Expr::value(forged_hash))
        .filter(audit_event::Column::Seq.eq(3))
        .exec(&app.db)
        .await
        .unwrap();
    assert_broken_at(&verify(&app, None).await, 4, "prev_hash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_tail_is_detected_against_the_evidence_pack_head() {
    let app = trail_of_eight().await;
    let database_url = app.database_url.clone();
    let out = crate::evidence::scratch_dir("truncated");
    let manifest = crate::evidence::cli_export(&database_url, &out).await;
    let head_seq = manifest["chainHead"]["seq"].as_i64().unwrap();
    let head_hash = manifest["chainHead"]["hash"].as_str().unwrap().to_owned();
    assert_eq!(head_seq, 8);
    assert!(verify(&app, Some((head_seq, &head_hash))).await["ok"] == true);

    lift_guard(&app).await;
    app.db
        .execute_unprepared("DELETE FROM audit_events WHERE seq >= 7")
        .await
        .unwrap();
    // Without an anchor a clean cut at the end looks like a shorter trail.
    let unanchored = verify(&app, None).await;
    assert_eq!(
        (unanchored["ok"].clone(), unanchored["events"].clone()),
        (json!(true), json!(6))
    );
    // Against the head recorded in the pack it is caught, at the first
    // missing event.
    assert_broken_at(
        &verify(&app, Some((head_seq, &head_hash))).await,
        7,
        "truncated",
    );
    let cli = crate::evidence::gatehouse(
        &database_url,
        &[
            "audit",
            "verify",
            "--anchor-seq",
            &head_seq.to_string(),
            "--anchor-hash",
            &head_hash,
        ],
    );
    assert_eq!(cli.status.code(), Some(2));
    let printed = String::from_utf8_lossy(&cli.stdout);
    assert!(printed.starts_with("BROKEN at event 7:"), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchors_are_validated() {
    let app = spawn_app().await;
    let response = app
        .graphql(ADMIN_TOKEN, VERIFY_ANCHORED, json!({"seq": 1}))
        .await;
    assert_eq!(error_code(&response), "VALIDATION");
    assert_eq!(response["errors"][0]["extensions"]["field"], "anchorHash");
    let response = app
        .graphql(
            ADMIN_TOKEN,
            VERIFY_ANCHORED,
            json!({"seq": 1, "hash": "nothex"}),
        )
        .await;
    assert_eq!(error_code(&response), "VALIDATION");
    // A wrong hash for an existing event is a break, not an error.
    let verified = verify(&app, Some((2, &"0".repeat(64)))).await;
    assert_broken_at(&verified, 2, "anchor");
}

const EVENTS: &str = "query($filter: AuditEventFilterInput, $first: Int, $after: String) {
    auditEvents(filter: $filter, first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage endCursor }
        edges { node { seq occurredAt action entityType entityId actorLabel actor { email } payload prevHash hash } }
    } }";

fn seqs(connection: &Value) -> Vec<i64> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["seq"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_list_the_trail_filtered_and_paged() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await; // events 3, 4
    let change = app.create_change(&ada.token, json!({})).await; // 5
    app.data(
        &ada.token,
        "mutation($id: ID!) { updateChange(id: $id, expectedVersion: 1, input: {title: \"New\"}) { version } }",
        json!({"id": change["id"]}),
    )
    .await; // 6
    let auditor = app.user("Audrey", &["auditor"]).await; // 7, 8

    let page = app.data(&auditor.token, EVENTS, json!({"first": 3})).await["auditEvents"].clone();
    assert_eq!(page["totalCount"], 8);
    assert_eq!(seqs(&page), [1, 2, 3]);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    // Each event links to the one before it.
    assert_eq!(
        page["edges"][1]["node"]["prevHash"],
        page["edges"][0]["node"]["hash"]
    );
    let next = app
        .data(
            &auditor.token,
            EVENTS,
            json!({"first": 3, "after": page["pageInfo"]["endCursor"]}),
        )
        .await["auditEvents"]
        .clone();
    assert_eq!(seqs(&next), [4, 5, 6]);
    assert_eq!(next["pageInfo"]["hasPreviousPage"], true);

    let of_change = app
        .data(
            &auditor.token,
            EVENTS,
            json!({"filter": {"entityType": "change", "entityId": change["id"]}}),
        )
        .await["auditEvents"]
        .clone();
    assert_eq!(of_change["totalCount"], 2);
    let updated = &of_change["edges"][1]["node"];
    assert_eq!(updated["action"], "change.updated");
    assert_eq!(updated["actor"]["email"], ada.email);
    assert_eq!(updated["actorLabel"], ada.email);
    assert_eq!(
        updated["payload"]["changes"]["title"],
        json!({"before": "Rotate TLS certificates", "after": "New"})
    );

    let by_actor = app
        .data(
            &auditor.token,
            EVENTS,
            json!({"filter": {"actorId": ada.id}}),
        )
        .await["auditEvents"]
        .clone();
    assert_eq!(seqs(&by_actor), [5, 6]);
    let by_action = app
        .data(
            &auditor.token,
            EVENTS,
            json!({"filter": {"action": "token.issued"}}),
        )
        .await["auditEvents"]
        .clone();
    assert_eq!(seqs(&by_action), [2, 4, 8]);
    // The period is [from, to).
    let fifth_at = next["edges"][1]["node"]["occurredAt"].clone();
    let sixth_at = next["edges"][2]["node"]["occurredAt"].clone();
    let in_period = app
        .data(
            &auditor.token,
            EVENTS,
            json!({"filter": {"from": fifth_at, "to": sixth_at}}),
        )
        .await["auditEvents"]
        .clone();
    assert_eq!(seqs(&in_period), [5]);
    // The bootstrap acts before any account exists: no actor, a label.
    assert_eq!(page["edges"][0]["node"]["actorLabel"], "bootstrap");
    assert_eq!(page["edges"][0]["node"]["actor"], Value::Null);

    assert_eq!(
        error_code(&app.graphql(&ada.token, EVENTS, json!({})).await),
        "FORBIDDEN"
    );
    let oversized = app
        .graphql(&auditor.token, EVENTS, json!({"first": 101}))
        .await;
    assert_eq!(error_code(&oversized), "VALIDATION");
    let bad_actor = app
        .graphql(
            &auditor.token,
            EVENTS,
            json!({"filter": {"actorId": "nope"}}),
        )
        .await;
    assert_eq!(
        bad_actor["errors"][0]["extensions"]["field"],
        "filter.actorId"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anyone_signed_in_reads_the_history_of_a_change() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let bob = app.user("Bob", &["requester"]).await;
    let change = app.create_change(&ada.token, json!({})).await;
    app.data(
        &ada.token,
        "mutation($id: ID!) { updateChange(id: $id, expectedVersion: 1, input: {title: \"New\"}) { version } }",
        json!({"id": change["id"]}),
    )
    .await;
    app.create_change(&ada.token, json!({"title": "Another"}))
        .await;
    let history = app
        .data(
            &bob.token,
            "query($id: ID) { change(id: $id) { history { seq action actor { email } payload } } }",
            json!({"id": change["id"]}),
        )
        .await["change"]["history"]
        .clone();
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["change.created", "change.updated"]);
    assert!(history[0]["seq"].as_i64() < history[1]["seq"].as_i64());
    assert_eq!(history[0]["actor"]["email"], ada.email);
    assert_eq!(history[0]["payload"]["number"], change["number"]);

    // A page of changes loads every history in one query.
    let listed = app
        .data(
            &bob.token,
            "{ changes(first: 10, orderBy: {field: CREATED_AT, direction: ASC}) { edges { node { number history { action } } } } }",
            json!({}),
        )
        .await;
    let edges = listed["changes"]["edges"].as_array().unwrap();
    assert_eq!(edges[0]["node"]["history"].as_array().unwrap().len(), 2);
    assert_eq!(edges[1]["node"]["history"].as_array().unwrap().len(), 1);
}

/// `gatehouse audit purge` under a given policy (preset name or file).
///
/// Tests that run the CLI while an in-process server is up use the
/// multi-threaded runtime: the CLI blocks the test's thread, and on
/// PostgreSQL the server's sealer may hold the chain's lock the CLI waits
/// for, so the sealer must keep running on a worker meanwhile.
fn purge(app: &TestApp, policy: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["audit", "purge"])
        .args(args)
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .env("GATEHOUSE_POLICY", policy)
        .env_remove("GATEHOUSE_BOOTSTRAP_TOKEN")
        .env_remove("GATEHOUSE_CONFIG")
        .output()
        .expect("gatehouse runs")
}

/// The dual-approval preset with a different retention period, as a file.
fn policy_keeping_events_for(years: u32) -> std::path::PathBuf {
    let preset = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/api/src/policy/presets/dual-approval.toml"
    ))
    .unwrap();
    assert!(preset.contains("audit_retention_years = 3"));
    let path = std::env::temp_dir().join(format!(
        "gh_policy_retention_{years}_{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(
        &path,
        preset.replace(
            "audit_retention_years = 3",
            &format!("audit_retention_years = {years}"),
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_purged_only_past_the_retention_period_and_the_chain_still_verifies() {
    let app = trail_of_eight().await;
    let before = chrono::Utc::now().to_rfc3339();

    // No retention period in the policy: kept forever.
    let refused = purge(&app, "tiered-cab", &["--before", &before]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("kept forever"), "{said}");
    // Seed 002 keeps change logs 3 years: yesterday's events stay.
    let refused = purge(&app, "dual-approval", &["--before", &before]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("3 years"), "{said}");
    assert_eq!(app.audit_event_count().await, 8);
    // And the database itself refuses a plain DELETE.
    assert!(
        app.db
            .execute_unprepared("DELETE FROM audit_events WHERE seq = 1")
            .await
            .is_err()
    );

    // A policy whose period has passed for every event.
    let policy = policy_keeping_events_for(0);
    let policy = policy.to_str().unwrap();
    let dry = purge(&app, policy, &["--before", &before, "--dry-run"]);
    assert!(dry.status.success(), "{dry:?}");
    let said = String::from_utf8_lossy(&dry.stdout);
    assert!(
        said.contains("would purge 7 events (seq up to 7)"),
        "{said}"
    );
    assert_eq!(app.audit_event_count().await, 8);

    let done = purge(&app, policy, &["--before", &before]);
    assert!(done.status.success(), "{done:?}");
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(said.contains("purged 7 events (seq up to 7)"), "{said}");
    // The newest event stays, and the purge is itself in the chain.
    let trail = app
        .data(
            ADMIN_TOKEN,
            "{ auditEvents(first: 10) { edges { node { seq action payload } } } }",
            json!({}),
        )
        .await["auditEvents"]["edges"]
        .clone();
    assert_eq!(seqs(&json!({ "edges": trail })), [8, 9]);
    let record = &trail[1]["node"];
    assert_eq!(record["action"], "audit.purged");
    assert_eq!(record["payload"]["throughSeq"], 7);
    assert_eq!(record["payload"]["events"], 7);
    assert_eq!(record["payload"]["retentionYears"], 0);

    let verified = verify(&app, None).await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["events"], 2, "{verified}");
    assert_eq!(verified["headSeq"], 9, "{verified}");

    // Deleting the first kept event as well, without a purge record for
    // it, is caught.
    lift_guard(&app).await;
    app.db
        .execute_unprepared("DELETE FROM audit_events WHERE seq = 8")
        .await
        .unwrap();
    assert_broken_at(&verify(&app, None).await, 1, "no audit.purged event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_but_not_yet_sealed_joins_the_chain() {
    let app = spawn_app().await;
    if app.db.get_database_backend() != DbBackend::Postgres {
        // SQLite links each event inside its write's transaction.
        return;
    }
    // A writer that committed its change and event, then died before
    // sealing: the event waits in the outbox.
    app.db
        .execute_unprepared(
            "INSERT INTO audit_outbox (occurred_at, actor_id, actor_label, action, entity_type, \
             entity_id, payload) VALUES (now(), NULL, 'cli:crashed', 'system.created', 'system', \
             'orphan', '{}')",
        )
        .await
        .unwrap();
    // Not in the chain yet (counted without sealing, as a reader would seal).
    let chained = app
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM audit_events",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(chained, 2);
    // The next write seals it before its own event.
    app.system("api", None).await;
    let trail = app
        .data(
            ADMIN_TOKEN,
            "{ auditEvents(first: 10) { edges { node { seq actorLabel entityId } } } }",
            json!({}),
        )
        .await["auditEvents"]["edges"]
        .clone();
    assert_eq!(trail.as_array().unwrap().len(), 4, "{trail:#}");
    assert_eq!(trail[2]["node"]["actorLabel"], "cli:crashed");
    assert_eq!(trail[3]["node"]["entityId"].as_str().unwrap().len(), 36);
    let left = app
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) FROM audit_outbox",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(verify(&app, None).await["ok"], true);
}

/// What `audit::recording` is for: the event travels in the write's own
/// statement (PostgreSQL: one statement where there were two), commits
/// with it, rolls back with it, and is never lost when no statement
/// carried it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_travels_with_its_write_and_shares_its_fate() {
    use api::{
        db::{self, QueryCounter},
        service::Caller,
        store::audit,
    };
    use entity::system;
    use sea_orm::{ActiveModelTrait, Set, TransactionTrait};

    let url = crate::helpers::fresh_database_url().await;
    let counter = QueryCounter::default();
    let db = db::connect(&url, &counter).await.unwrap();
    db::migrate_up(&db).await.unwrap();
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    // The event for the entity named `entity_id`, to travel with a write.
    fn event_of<'a>(
        txn: &'a sea_orm::DatabaseTransaction,
        action: &str,
        entity_id: &str,
    ) -> audit::Recording<'a> {
        let caller = Caller::Operator {
            label: "cli:test".into(),
        };
        audit::recording(txn, &caller, action, "system", entity_id, &json!({}))
    }
    let new_system = |name: &str| system::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        name: Set(name.to_owned()),
        description: Set(None),
        parent_id: Set(None),
        team: Set(None),
        created_at: Set(db::now()),
    };
    let count = |table: &'static str| {
        let db = db.clone();
        async move {
            db.query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
        }
    };

    // Carried: on PostgreSQL the write is the only statement; on SQLite
    // the event is linked just before it (reading the head, inserting).
    let txn = db.begin().await.unwrap();
    let before = counter.get();
    let recording = event_of(&txn, "system.created", "carried");
    new_system("carried").insert(&recording).await.unwrap();
    let linked = recording.finish().await.unwrap();
    assert_eq!(counter.get() - before, if postgres { 1 } else { 3 });
    assert_eq!(linked.is_some(), !postgres);
    audit::commit(txn, &db).await.unwrap();

    // Rolled back: neither the write nor its event exists anywhere.
    let txn = db.begin().await.unwrap();
    let recording = event_of(&txn, "system.created", "rolled-back");
    new_system("rolled-back").insert(&recording).await.unwrap();
    recording.finish().await.unwrap();
    txn.rollback().await.unwrap();

    // A failed write takes its event with it (the name is taken).
    let txn = db.begin().await.unwrap();
    let recording = event_of(&txn, "system.created", "clash");
    assert!(new_system("carried").insert(&recording).await.is_err());
    drop(recording);
    txn.rollback().await.unwrap();

    // Nothing ran through it: `finish` writes the event by itself.
    let txn = db.begin().await.unwrap();
    let recording = event_of(&txn, "system.noted", "alone");
    recording.finish().await.unwrap();
    audit::commit(txn, &db).await.unwrap();

    // A statement with a `WITH` of its own cannot take a prefix: the event
    // goes first, by a statement of its own.
    let txn = db.begin().await.unwrap();
    let before = counter.get();
    let recording = event_of(&txn, "system.noted", "with");
    recording
        .execute_raw(Statement::from_string(
            db.get_database_backend(),
            "WITH n AS (SELECT 1 AS one) SELECT one FROM n",
        ))
        .await
        .unwrap();
    recording.finish().await.unwrap();
    assert_eq!(counter.get() - before, if postgres { 2 } else { 3 });
    audit::commit(txn, &db).await.unwrap();

    audit::seal(&db).await.unwrap();
    let entities: Vec<String> = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT entity_id FROM audit_events ORDER BY seq",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "entity_id").unwrap())
        .filter(|id| ["carried", "rolled-back", "clash", "alone", "with"].contains(&id.as_str()))
        .collect();
    assert_eq!(entities, ["carried", "alone", "with"]);
    assert_eq!(count("systems").await, 1);
    if postgres {
        assert_eq!(count("audit_outbox").await, 0);
    }
    let outcome = api::store::audit::verify(&db, None, api::domain::budget::Deadline::unbounded())
        .await
        .unwrap();
    assert!(
        matches!(outcome, audit::Verification::Intact { .. }),
        "{outcome:?}"
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn trail_pages_hold_their_place_while_events_are_written() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    for _ in 0..3 {
        app.create_change(&ada.token, json!({})).await;
    }
    let page = |variables: Value| {
        let app = &app;
        async move {
            let data = app
                .data(
                    ADMIN_TOKEN,
                    "query($first: Int, $after: String, $last: Int, $before: String) {
                        auditEvents(first: $first, after: $after, last: $last, before: $before) {
                            totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
                            edges { node { seq } } } }",
                    variables,
                )
                .await;
            let seqs: Vec<i64> = data["auditEvents"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|edge| edge["node"]["seq"].as_i64().unwrap())
                .collect();
            (seqs, data["auditEvents"]["pageInfo"].clone())
        }
    };
    let (first, info) = page(json!({"first": 2})).await;
    // Events written between two requests come after every earlier one:
    // the next page continues where this one ended.
    app.create_change(&ada.token, json!({})).await;
    let (second, second_info) = page(json!({"first": 2, "after": info["endCursor"]})).await;
    let (all, _) = page(json!({"first": 100})).await;
    assert_eq!(
        &all[..4],
        [first.clone(), second.clone()].concat().as_slice()
    );
    assert_eq!(second_info["hasPreviousPage"], true);
    let mut seen = [first, second].concat();
    let mut cursor = second_info["endCursor"].clone();
    loop {
        let (seqs, info) = page(json!({"first": 2, "after": cursor})).await;
        seen.extend(seqs);
        if info["hasNextPage"] != true {
            break;
        }
        cursor = info["endCursor"].clone();
    }
    assert_eq!(seen, all);

    let n = all.len();
    let (last, last_info) = page(json!({"last": 2})).await;
    assert_eq!(last, all[n - 2..]);
    assert_eq!(
        (
            last_info["hasPreviousPage"].clone(),
            last_info["hasNextPage"].clone()
        ),
        (json!(true), json!(false))
    );
    let (before, before_info) = page(json!({"last": 2, "before": last_info["startCursor"]})).await;
    assert_eq!(before, all[n - 4..n - 2]);
    assert_eq!(before_info["hasNextPage"], true);
}

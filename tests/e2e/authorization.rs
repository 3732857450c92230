//! The authorisation matrix: every operation below, called by every kind
//! of caller. The table is the documentation of who may do what; approval
//! authority itself comes from the policy and is covered by the lifecycle
//! scenarios (a non-approver gets POLICY_VIOLATION, not FORBIDDEN).
//!
//! A cell passes when the call is refused with exactly the expected code,
//! or, for allowed callers, when it is not refused for authorisation
//! reasons (it may still be refused by a rule, e.g. POLICY_VIOLATION).

use chrono::{Duration, Utc};
use entity::api_token;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, spawn_app};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Admin,
    Auditor,
    Owner,
    OtherRequester,
    ChangeManager,
    Pipeline,
    NoToken,
    Expired,
    Revoked,
}
use Caller::*;

const SIGNED_IN: &[Caller] = &[
    Admin,
    Auditor,
    Owner,
    OtherRequester,
    ChangeManager,
    Pipeline,
];

/// (operation, callers allowed). Everyone else gets FORBIDDEN when signed
/// in, UNAUTHENTICATED otherwise.
fn matrix() -> Vec<(&'static str, Vec<Caller>)> {
    vec![
        ("query { me { id } }", SIGNED_IN.to_vec()),
        (
            "query { changes(first: 5) { totalCount } }",
            SIGNED_IN.to_vec(),
        ),
        (
            "query($c: ID) { change(id: $c) { number } }",
            SIGNED_IN.to_vec(),
        ),
        ("query { policy { name } }", SIGNED_IN.to_vec()),
        ("query { systems { id } }", SIGNED_IN.to_vec()),
        (
            "query { board { members { boardRole } } }",
            SIGNED_IN.to_vec(),
        ),
        ("query { templates { key } }", SIGNED_IN.to_vec()),
        ("query { overdue { number } }", SIGNED_IN.to_vec()),
        (
            "query($n: String!) { gateStatus(number: $n) { mayDeploy } }",
            SIGNED_IN.to_vec(),
        ),
        (
            "query($f: DateTime!, $t: DateTime!) { calendar(from: $f, to: $t) { windows { name } } }",
            SIGNED_IN.to_vec(),
        ),
        (
            "query($f: DateTime!, $t: DateTime!) { metrics(from: $f, to: $t, granularity: MONTH) { implemented } }",
            SIGNED_IN.to_vec(),
        ),
        (
            "query { deployments(first: 5) { totalCount } }",
            SIGNED_IN.to_vec(),
        ),
        (
            "query($f: DateTime!, $t: DateTime!) { exceptions(from: $f, to: $t) { totalCount } }",
            SIGNED_IN.to_vec(),
        ),
        (
            "query { incidents(first: 5) { totalCount } }",
            SIGNED_IN.to_vec(),
        ),
        ("query { users { id } }", vec![Admin, Auditor]),
        ("query { webhooks { id } }", vec![Admin, Auditor]),
        (
            "mutation { createWebhook(input: {url: \"https://93.184.216.34/hooks\", events: [CHANGE], secret: \"0123456789abcdef\"}) { id } }",
            vec![Admin],
        ),
        ("query { verifyAuditLog { ok } }", vec![Admin, Auditor]),
        (
            "query { auditEvents(first: 5) { totalCount } }",
            vec![Admin, Auditor],
        ),
        (
            "query($o: ID) { tokens(userId: $o) { id } }",
            vec![Admin, Auditor, Owner],
        ),
        (
            "mutation { createUser(input: {name: \"N\", email: \"n@example.com\", roles: []}) { id } }",
            vec![Admin],
        ),
        (
            // The roles the owner holds already: the CAB seat below is
            // open only to the roles seed 001 §4.1 names (qa_lead).
            "mutation($o: ID!) { setUserRoles(userId: $o, roles: [\"requester\", \"qa_lead\"]) { id } }",
            vec![Admin],
        ),
        (
            // An admin issues tokens only for service accounts, never a
            // person's (tests/e2e/segregation_accounts.rs).
            "mutation($o: ID) { issueToken(userId: $o, name: \"x\") { secret } }",
            vec![Owner],
        ),
        (
            "mutation { createSystem(input: {name: \"sys\"}) { id } }",
            vec![Admin, ChangeManager],
        ),
        (
            "mutation { createChange(input: {title: \"T\", description: \"D\", businessJustification: \"B\", type: \"normal\", likelihood: 1, impact: 1}) { id } }",
            vec![Owner, OtherRequester],
        ),
        (
            "mutation($c: ID!) { updateChange(id: $c, expectedVersion: 99, input: {title: \"X\"}) { id } }",
            vec![Owner],
        ),
        (
            "mutation($c: ID!) { submitChange(id: $c) { status } }",
            vec![Owner],
        ),
        (
            "mutation($c: ID!) { scheduleChange(id: $c, start: \"2030-01-06T02:00:00Z\", end: \"2030-01-06T03:00:00Z\") { status } }",
            vec![Owner, ChangeManager],
        ),
        (
            "mutation($c: ID!) { startImplementation(id: $c) { status } }",
            vec![Owner, ChangeManager],
        ),
        (
            "mutation($c: ID!) { recordEvidence(changeId: $c, input: {gate: \"unit_tests\", status: PASSED}) { id } }",
            vec![Owner, ChangeManager, Pipeline],
        ),
        (
            "mutation($n: String!) { checkGate(number: $n) { mayDeploy } }",
            vec![Owner, OtherRequester, ChangeManager, Pipeline],
        ),
        (
            "mutation { recordDeployment(input: {environment: \"staging\", status: SUCCESS}) { changed } }",
            vec![ChangeManager, Pipeline],
        ),
        (
            "mutation { recordIncident(input: {title: \"Outage\", systems: [\"sys\"]}) { id } }",
            vec![Owner, OtherRequester, ChangeManager, Pipeline],
        ),
        (
            "mutation($c: ID!) { closeChange(id: $c) { status } }",
            vec![Owner, ChangeManager],
        ),
        (
            "mutation($c: ID!) { recordReview(id: $c, summary: \"s\") { id } }",
            vec![ChangeManager],
        ),
        (
            "mutation { createTemplate(input: {key: \"k\", name: \"n\", changeType: \"standard\", description: \"d\", procedure: [\"s\"]}) { id } }",
            vec![ChangeManager],
        ),
        (
            "mutation($o: ID!) { setBoardMember(userId: $o, boardRole: MEMBER) { boardRole } }",
            vec![Admin, ChangeManager],
        ),
        (
            "mutation { scheduleCabMeeting(at: \"2030-01-01T10:00:00Z\") { id } }",
            vec![ChangeManager],
        ),
        (
            "mutation { createWindow(input: {name: \"w\", dtstart: \"2030-01-06T02:00\", rrule: \"FREQ=WEEKLY\", durationMinutes: 60, timeZone: \"UTC\"}, changeTypes: [\"normal\"]) { id } }",
            // The default policy (seed 001 §9.2): "edit for Change Manager
            // and CAB"; the owner sits on the CAB (seated by the row above),
            // the admin does not edit.
            vec![ChangeManager, Owner],
        ),
        (
            "mutation { issueFeedToken(name: \"cal\") { secret } }",
            SIGNED_IN.to_vec(),
        ),
    ]
}

/// The code of the first error, or "OK".
fn outcome(response: &Value) -> String {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .map_or_else(|| "OK".to_owned(), str::to_owned)
}

/// The variables among `variables` that `operation` declares.
fn variables_used(operation: &str, variables: &Value) -> Value {
    variables
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| operation.contains(&format!("${name}")))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The code a caller must be refused with, `None` when it is allowed.
fn expected_denial(caller: Caller, allowed: &[Caller]) -> Option<&'static str> {
    match caller {
        NoToken | Expired | Revoked => Some("UNAUTHENTICATED"),
        _ if allowed.contains(&caller) => None,
        _ => Some("FORBIDDEN"),
    }
}

fn passes(expected_denial: Option<&str>, got: &str) -> bool {
    match expected_denial {
        Some(code) => got == code,
        None => got != "FORBIDDEN" && got != "UNAUTHENTICATED" && got != "INTERNAL",
    }
}

#[tokio::test]
async fn every_operation_for_every_caller() {
    let app = spawn_app().await;
    // The owner is seated on the CAB below: tiered-cab seats members from
    // the roles seed 001 §4.1 names.
    let owner = app.user("Rita Owner", &["requester", "qa_lead"]).await;
    let other = app.user("Oscar Other", &["requester"]).await;
    let auditor = app.user("Audrey Auditor", &["auditor"]).await;
    let manager = app.user("Carl Manager", &["change_manager"]).await;
    let pipeline = app.user("CI Pipeline", &["pipeline"]).await;
    let change = app.create_change(&owner.token, json!({})).await;

    // A revoked and an expired token of an otherwise valid account.
    let revoked = app
        .data(
            &other.token,
            "mutation { issueToken(name: \"old\") { secret token { id } } }",
            json!({}),
        )
        .await["issueToken"]
        .clone();
    app.data(
        &other.token,
        "mutation($id: ID!) { revokeToken(id: $id) { id } }",
        json!({"id": revoked["token"]["id"]}),
    )
    .await;
    let expired_secret = "gh_expired_matrix_token_000000000000000000";
    api_token::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(crate::helpers::uuid_of(&other.id)),
        name: Set("expired".into()),
        secret_hash: Set(api::auth::hash_token(expired_secret)),
        created_at: Set(Utc::now() - Duration::days(2)),
        expires_at: Set(Some(Utc::now() - Duration::days(1))),
        revoked_at: Set(None),
        issued_by: Set(None),
        issued_by_label: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();

    let token = |caller: Caller| -> String {
        match caller {
            Admin => ADMIN_TOKEN.into(),
            Auditor => auditor.token.clone(),
            Owner => owner.token.clone(),
            OtherRequester => other.token.clone(),
            ChangeManager => manager.token.clone(),
            Pipeline => pipeline.token.clone(),
            NoToken => String::new(),
            Expired => expired_secret.into(),
            Revoked => revoked["secret"].as_str().unwrap().to_owned(),
        }
    };
    let variables = json!({
        "c": change["id"], "n": change["number"], "o": owner.id,
        "f": (Utc::now() - Duration::days(30)).to_rfc3339(), "t": Utc::now().to_rfc3339(),
    });
    let mut failures = Vec::new();
    for (operation, allowed) in matrix() {
        for caller in [
            Admin,
            Auditor,
            Owner,
            OtherRequester,
            ChangeManager,
            Pipeline,
            NoToken,
            Expired,
            Revoked,
        ] {
            let used = variables_used(operation, &variables);
            let response = app.graphql(&token(caller), operation, used).await;
            let got = outcome(&response);
            let expected_denial = expected_denial(caller, &allowed);
            if !passes(expected_denial, &got) {
                failures.push(format!(
                    "{caller:?} {operation}: expected {expected_denial:?}, got {got}: {response}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The same matrix over WebSocket: every operation sent on a signed-in
/// caller's socket gets the answer it gets over HTTP, and a socket with
/// no, an expired or a revoked token never gets to send one.
#[tokio::test]
async fn every_operation_for_every_caller_over_websocket() {
    use crate::hostile_requests::{Read, connect_to, read, subscribe_message};
    let app = spawn_app().await;
    // The owner is seated on the CAB below: tiered-cab seats members from
    // the roles seed 001 §4.1 names.
    let owner = app.user("Rita Owner", &["requester", "qa_lead"]).await;
    let other = app.user("Oscar Other", &["requester"]).await;
    let auditor = app.user("Audrey Auditor", &["auditor"]).await;
    let manager = app.user("Carl Manager", &["change_manager"]).await;
    let pipeline = app.user("CI Pipeline", &["pipeline"]).await;
    let change = app.create_change(&owner.token, json!({})).await;
    let callers = [
        (Admin, ADMIN_TOKEN.to_owned()),
        (Auditor, auditor.token.clone()),
        (Owner, owner.token.clone()),
        (OtherRequester, other.token.clone()),
        (ChangeManager, manager.token.clone()),
        (Pipeline, pipeline.token.clone()),
    ];
    let mut sockets = Vec::new();
    for (caller, token) in &callers {
        sockets.push((*caller, connect_to(&app.base_url, token).await));
    }
    let variables = json!({
        "c": change["id"], "n": change["number"], "o": owner.id,
        "f": (Utc::now() - Duration::days(30)).to_rfc3339(), "t": Utc::now().to_rfc3339(),
    });
    let mut failures = Vec::new();
    for (n, (operation, allowed)) in matrix().into_iter().enumerate() {
        let used = variables_used(operation, &variables);
        for (caller, socket) in &mut sockets {
            let id = format!("op{n}");
            use futures::SinkExt;
            socket
                .send(subscribe_message(&id, operation, used.clone()))
                .await
                .unwrap();
            let response = loop {
                match read(socket, std::time::Duration::from_secs(10)).await {
                    Read::Message(message)
                        if message["id"] == id.as_str() && message["type"] == "next" =>
                    {
                        break message["payload"].clone();
                    }
                    Read::Message(_) => {}
                    other => panic!("{caller:?} {operation}: the socket ended: {other:?}"),
                }
            };
            let got = outcome(&response);
            let expected = expected_denial(*caller, &allowed);
            if !passes(expected, &got) {
                failures.push(format!(
                    "{caller:?} {operation}: expected {expected:?}, got {got}: {response}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // No token, a revoked or an expired one: the connection never opens.
    let revoked = app
        .data(
            &other.token,
            "mutation { issueToken(name: \"old\") { secret token { id } } }",
            json!({}),
        )
        .await["issueToken"]
        .clone();
    app.data(
        &other.token,
        "mutation($id: ID!) { revokeToken(id: $id) { id } }",
        json!({"id": revoked["token"]["id"]}),
    )
    .await;
    for token in ["", "gh_unknown", revoked["secret"].as_str().unwrap()] {
        assert!(
            crate::hostile_requests::try_connect(&app.base_url, token)
                .await
                .is_none(),
            "a socket opened with {token:?}"
        );
    }
}

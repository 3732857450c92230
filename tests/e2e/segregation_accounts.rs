//! Segregation of duties (CC8.1) around accounts, tokens and reviews,
//! tried as a hostile user would: an admin acting as an approver, granting
//! themselves approval power, reviving revoked tokens by re-activating an
//! account, and a requester satisfying the review gates of their own
//! change. Each case is refused or held; the audit trail names the token
//! that acted and who issued it.

use entity::{EvidenceStatus, evidence};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_TOKEN, TestApp, error_code, uuid_of},
    lifecycle::Flow,
};

const ME: &str = "{ me { id email roles } }";
const CREATE_USER: &str =
    "mutation($input: CreateUserInput!) { createUser(input: $input) { id roles } }";
const SET_ROLES: &str = "mutation($id: ID!, $roles: [String!]!) { setUserRoles(userId: $id, roles: $roles) { id roles } }";
const ISSUE_FOR: &str = "mutation($user: ID!) { issueToken(userId: $user, name: \"borrowed\") { secret token { id } } }";
const GATES: &str = "query($id: ID!) { change(id: $id) { gates { key met reason } } }";

async fn my_id(app: &TestApp, token: &str) -> String {
    app.data(token, ME, json!({})).await["me"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn create_user(app: &TestApp, name: &str, roles: &[&str]) -> Value {
    let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
    app.graphql(
        ADMIN_TOKEN,
        CREATE_USER,
        json!({"input": {"name": name, "email": email, "roles": roles}}),
    )
    .await
}

/// Why `gate` of change `id` is unmet (`None` when met).
async fn gate_reason(app: &TestApp, token: &str, id: &Value, gate: &str) -> Option<String> {
    let data = app.data(token, GATES, json!({"id": id})).await;
    let found = data["change"]["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == gate)
        .unwrap_or_else(|| panic!("no gate {gate}: {data:#}"))
        .clone();
    found["reason"].as_str().map(str::to_owned)
}

/// The payload of the newest audit event with `action`.
async fn last_payload(app: &TestApp, action: &str) -> Value {
    let events = app
        .data(
            ADMIN_TOKEN,
            "query($f: AuditEventFilterInput) { auditEvents(filter: $f, first: 100) { edges { node { actorLabel payload } } } }",
            json!({"f": {"action": action}}),
        )
        .await;
    events["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .last()
        .unwrap_or_else(|| panic!("no {action} event"))["node"]["payload"]
        .clone()
}

#[tokio::test]
async fn an_admin_cannot_issue_a_token_for_an_approver_and_approve_in_their_name() {
    let flow = Flow::new("tiered-cab").await;
    let app = &flow.app;
    // tiered-cab: the change manager approves normal changes.
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;

    let borrowed = app
        .graphql(ADMIN_TOKEN, ISSUE_FOR, json!({"user": manager.id}))
        .await;
    assert_eq!(error_code(&borrowed), "FORBIDDEN", "{borrowed:#}");
    let message = borrowed["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("service accounts"), "{message}");
    // Nor for any other person, approver or not.
    let requester = app
        .graphql(ADMIN_TOKEN, ISSUE_FOR, json!({"user": flow.requester.id}))
        .await;
    assert_eq!(error_code(&requester), "FORBIDDEN");
    // The manager holds only the token the operator issued them.
    let tokens = app
        .data(
            &manager.token,
            "query($u: ID) { tokens(userId: $u) { id issuedById issuedByLabel } }",
            json!({"u": manager.id}),
        )
        .await;
    assert_eq!(
        tokens["tokens"],
        json!([{"id": tokens["tokens"][0]["id"], "issuedById": null, "issuedByLabel": "cli:tests"}])
    );
    assert_eq!(flow.get(id).await["status"], "AWAITING_APPROVAL");
    // A person issues their own tokens.
    let own = app
        .data(
            &manager.token,
            "mutation($u: ID!) { issueToken(userId: $u, name: \"laptop\") { token { issuedById } } }",
            json!({"u": manager.id}),
        )
        .await;
    assert_eq!(own["issueToken"]["token"]["issuedById"], json!(manager.id));
}

#[tokio::test]
async fn an_admin_held_service_token_stops_working_once_the_account_becomes_an_approver() {
    let flow = Flow::new("tiered-cab").await;
    let app = &flow.app;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;

    // A service account holds no admin and no approval role.
    for roles in [
        &["service", "change_manager"][..],
        &["service", "admin"][..],
    ] {
        let refused = create_user(app, &format!("Bot {}", roles[1]), roles).await;
        assert_eq!(error_code(&refused), "VALIDATION", "{roles:?}: {refused:#}");
    }
    let bot = create_user(app, "CI Bot", &["service", "pipeline"]).await;
    let bot_id = bot["data"]["createUser"]["id"].clone();
    let issued = app
        .data(ADMIN_TOKEN, ISSUE_FOR, json!({"user": bot_id}))
        .await;
    let secret = issued["issueToken"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(my_id(app, &secret).await, bot_id.as_str().unwrap());
    let to_approver = app
        .graphql(
            ADMIN_TOKEN,
            SET_ROLES,
            json!({"id": bot_id, "roles": ["service", "change_manager"]}),
        )
        .await;
    assert_eq!(error_code(&to_approver), "VALIDATION");

    // The admin turns the service account into an approver and tries to
    // approve with the token they hold: it no longer authenticates.
    app.data(
        ADMIN_TOKEN,
        SET_ROLES,
        json!({"id": bot_id, "roles": ["change_manager"]}),
    )
    .await;
    assert_eq!(
        error_code(&app.graphql(&secret, ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    let approval = flow.decide(&secret, id, "APPROVE").await;
    assert_eq!(error_code(&approval), "UNAUTHENTICATED");
    assert_eq!(flow.get(id).await["status"], "AWAITING_APPROVAL");
    // Nor can the admin issue a new one for the account now.
    let again = app
        .graphql(ADMIN_TOKEN, ISSUE_FOR, json!({"user": bot_id}))
        .await;
    assert_eq!(error_code(&again), "FORBIDDEN");
}

#[tokio::test]
async fn an_admin_cannot_grant_themselves_approval_power() {
    let flow = Flow::new("tiered-cab").await;
    let app = &flow.app;
    let admin_id = my_id(app, ADMIN_TOKEN).await;
    // change_manager approves normal changes, cto stands in for major ones.
    for roles in [json!(["admin", "change_manager"]), json!(["admin", "cto"])] {
        let response = app
            .graphql(
                ADMIN_TOKEN,
                SET_ROLES,
                json!({"id": admin_id, "roles": roles}),
            )
            .await;
        assert_eq!(error_code(&response), "VALIDATION", "{response:#}");
        let message = response["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("approval roles"), "{message}");
    }
    // Dropping admin on the way does not help: nobody grants themselves
    // an approval role, admin or not.
    let swap = app
        .graphql(
            ADMIN_TOKEN,
            SET_ROLES,
            json!({"id": admin_id, "roles": ["change_manager"]}),
        )
        .await;
    assert_eq!(error_code(&swap), "FORBIDDEN", "{swap:#}");
    let message = swap["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("nobody grants themselves"), "{message}");
    // Nor may an admin account be created with, or given, approval power.
    assert_eq!(
        error_code(&create_user(app, "Second Admin", &["admin", "change_manager"]).await),
        "VALIDATION"
    );
    let second = create_user(app, "Second Admin", &["admin"]).await;
    let second_id = second["data"]["createUser"]["id"].clone();
    let granted = app
        .graphql(
            ADMIN_TOKEN,
            SET_ROLES,
            json!({"id": second_id, "roles": ["admin", "change_manager"]}),
        )
        .await;
    assert_eq!(error_code(&granted), "VALIDATION");
    assert_eq!(
        app.data(ADMIN_TOKEN, ME, json!({})).await["me"]["roles"],
        json!(["admin"])
    );

    // So the admin cannot approve a change.
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    let approval = flow.decide(ADMIN_TOKEN, id, "APPROVE").await;
    assert!(approval.get("errors").is_some(), "{approval:#}");
    assert_eq!(flow.get(id).await["status"], "AWAITING_APPROVAL");

    // Another admin may make a non-admin account an approver.
    let person = create_user(app, "Pat Person", &["requester"]).await;
    let promoted = app
        .data(
            ADMIN_TOKEN,
            SET_ROLES,
            json!({"id": person["data"]["createUser"]["id"], "roles": ["requester", "change_manager"]}),
        )
        .await;
    assert_eq!(
        promoted["setUserRoles"]["roles"],
        json!(["change_manager", "requester"])
    );
}

#[tokio::test]
async fn every_audit_event_names_the_token_that_acted_and_who_issued_it() {
    let flow = Flow::new("tiered-cab").await;
    let app = &flow.app;
    let ada = flow.person("Ada", &["requester"]).await;
    let ci = app
        .data(
            &ada.token,
            "mutation { issueToken(name: \"ci\") { secret token { id } } }",
            json!({}),
        )
        .await["issueToken"]
        .clone();
    app.create_change(ci["secret"].as_str().unwrap(), json!({"title": "Via CI"}))
        .await;
    let created = last_payload(app, "change.created").await;
    assert_eq!(
        created["actorToken"],
        json!({
            "id": uuid_of(ci["token"]["id"].as_str().unwrap()),
            "issuedById": uuid_of(&ada.id),
            "issuedBy": ada.email
        })
    );
    // Ada's first token came from the operator, and the admin's from the
    // bootstrap: both issuers are named.
    app.create_change(&ada.token, json!({"title": "By hand"}))
        .await;
    let by_hand = last_payload(app, "change.created").await;
    assert_eq!(by_hand["actorToken"]["issuedById"], Value::Null);
    assert_eq!(by_hand["actorToken"]["issuedBy"], "cli:tests");
    let user_created = last_payload(app, "user.created").await;
    assert_eq!(user_created["actorToken"]["issuedBy"], "bootstrap");
    let issued = last_payload(app, "token.issued").await;
    assert_eq!(issued["issuedBy"], json!(uuid_of(&ada.id)));

    // The operator's own events carry no token; old and new events verify.
    let verification = app
        .data(
            ADMIN_TOKEN,
            "{ verifyAuditLog { ok events brokenAt } }",
            json!({}),
        )
        .await;
    assert_eq!(
        verification["verifyAuditLog"]["ok"], true,
        "{verification:#}"
    );
    assert_eq!(verification["verifyAuditLog"]["brokenAt"], Value::Null);
}

#[tokio::test]
async fn reactivating_an_account_does_not_revive_its_tokens() {
    let flow = Flow::new("tiered-cab").await;
    let app = &flow.app;
    let ada = flow.person("Ada", &["requester"]).await;
    let second = app
        .data(
            &ada.token,
            "mutation { issueToken(name: \"second\") { secret } }",
            json!({}),
        )
        .await["issueToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.data(
        ADMIN_TOKEN,
        "mutation($id: ID!) { deactivateUser(userId: $id) { active } }",
        json!({"id": ada.id}),
    )
    .await;
    let deactivated = last_payload(app, "user.deactivated").await;
    assert_eq!(deactivated["revokedTokens"].as_array().unwrap().len(), 2);
    app.data(
        ADMIN_TOKEN,
        "mutation($id: ID!) { activateUser(userId: $id) { active } }",
        json!({"id": ada.id}),
    )
    .await;
    for token in [&ada.token, &second] {
        assert_eq!(
            error_code(&app.graphql(token, ME, json!({})).await),
            "UNAUTHENTICATED"
        );
    }
    let tokens = app
        .data(
            ADMIN_TOKEN,
            "query($u: ID) { tokens(userId: $u) { active revokedAt } }",
            json!({"u": ada.id}),
        )
        .await;
    for token in tokens["tokens"].as_array().unwrap() {
        assert_eq!(token["active"], false, "{tokens:#}");
        assert!(token["revokedAt"].is_string(), "{tokens:#}");
    }
    // The re-activated account works again with a newly issued token.
    let fresh = app.operator_token(&ada.id).await;
    assert_eq!(my_id(app, &fresh).await, ada.id);
}

#[tokio::test]
async fn the_requester_never_satisfies_a_qa_review_of_their_own_change() {
    // The flow's requester holds `qa` too.
    let flow = Flow::new("tiered-cab").await;
    let app = &flow.app;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    let own = flow
        .evidence(&flow.requester.token, id, "qa_review", "PASSED", json!({}))
        .await;
    assert_eq!(error_code(&own), "FORBIDDEN", "{own:#}");
    // Pipeline results stay the requester's to record.
    flow.pass(id, &["unit_tests"]).await;

    // A review the requester got on record anyway (written before this
    // rule, or straight into the table) does not satisfy the gate.
    evidence::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        change_id: Set(uuid_of(id.as_str().unwrap())),
        gate: Set("qa_review".into()),
        status: Set(EvidenceStatus::Passed),
        summary: Set(None),
        url: Set(None),
        data: Set(json!({})),
        recorded_by: Set(uuid_of(&flow.requester.id)),
        recorded_at: Set(app.clock.now()),
    }
    .insert(&app.db)
    .await
    .unwrap();
    assert_eq!(
        gate_reason(app, &flow.requester.token, id, "qa_review")
            .await
            .unwrap(),
        "gate missing: qa_review (a review recorded by the requester does not count)"
    );
    flow.pass(id, &["qa_review"]).await;
    assert_eq!(
        gate_reason(app, &flow.requester.token, id, "qa_review").await,
        None
    );
}

#[tokio::test]
async fn code_reviewers_are_distinct_active_accounts_other_than_the_requester() {
    let flow = Flow::new("dual-approval").await;
    let app = &flow.app;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    // The reported attack: two names differing by a zero-width space, one
    // "senior", recorded by the requester on their own change.
    let zero_width =
        json!({"reviewers": [{"name": "Ann", "senior": true}, {"name": "Ann\u{200b}"}]});
    let own = flow
        .evidence(
            &flow.requester.token,
            id,
            "code_review",
            "PASSED",
            zero_width.clone(),
        )
        .await;
    // Refused twice over: names are not accounts, and the requester does
    // not record reviews of their own change whatever they name.
    assert_eq!(error_code(&own), "VALIDATION", "{own:#}");
    let (qa, senior) = flow.reviewers().await;
    let own = flow
        .evidence(
            &flow.requester.token,
            id,
            "code_review",
            "PASSED",
            json!({"reviewers": [{"id": senior.id}, {"id": qa.id}]}),
        )
        .await;
    assert_eq!(error_code(&own), "FORBIDDEN", "{own:#}");

    let junior = flow.person("Jo Junior", &["requester"]).await;
    let gone = flow.person("Gone Senior", &["senior_engineer"]).await;
    app.data(
        ADMIN_TOKEN,
        "mutation($id: ID!) { deactivateUser(userId: $id) { active } }",
        json!({"id": gone.id}),
    )
    .await;
    let review = |ids: &[&str]| json!({"reviewers": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()});
    for (data, why) in [
        (zero_width, "free-text names"),
        (
            json!({"reviewers": [{"id": senior.id, "senior": true}]}),
            "claimed seniority",
        ),
        (
            review(&[senior.id.as_str(), flow.requester.id.as_str()]),
            "the requester",
        ),
        (
            review(&[junior.id.as_str(), junior.id.as_str()]),
            "one account twice",
        ),
        (
            review(&[gone.id.as_str(), junior.id.as_str()]),
            "a deactivated account",
        ),
        (
            review(&[junior.id.as_str(), "01890000-0000-7000-8000-000000000000"]),
            "no such account",
        ),
    ] {
        let refused = flow
            .evidence(&qa.token, id, "code_review", "PASSED", data)
            .await;
        assert_eq!(error_code(&refused), "VALIDATION", "{why}: {refused:#}");
    }
    assert_eq!(
        gate_reason(app, &qa.token, id, "code_review")
            .await
            .unwrap(),
        "gate missing: code_review"
    );

    // Two juniors: enough reviewers, none senior by their accounts.
    let juniors = flow
        .evidence(
            &qa.token,
            id,
            "code_review",
            "PASSED",
            review(&[qa.id.as_str(), junior.id.as_str()]),
        )
        .await;
    assert!(juniors.get("errors").is_none(), "{juniors:#}");
    assert_eq!(
        gate_reason(app, &qa.token, id, "code_review")
            .await
            .unwrap(),
        "gate missing: code_review (2 of 2 reviewers, 0 of 1 senior)"
    );
    let good = flow
        .evidence(
            &qa.token,
            id,
            "code_review",
            "PASSED",
            review(&[senior.id.as_str(), junior.id.as_str()]),
        )
        .await;
    assert!(good.get("errors").is_none(), "{good:#}");
    assert_eq!(gate_reason(app, &qa.token, id, "code_review").await, None);
    // The record names the accounts, with seniority read from their roles.
    let recorded = last_payload(app, "change.evidence_recorded").await;
    assert_eq!(
        recorded["data"],
        json!({"reviewers": [
            {"id": uuid_of(&senior.id), "email": senior.email, "senior": true},
            {"id": uuid_of(&junior.id), "email": junior.email, "senior": false},
        ]})
    );
}

use chrono::{Duration, Utc};
use entity::api_token;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, error_code, spawn_app};

const ME: &str = "{ me { id email roles } }";

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthenticated() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.base_url);
    let body = json!({"query": ME});

    let missing = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let missing: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(error_code(&missing), "UNAUTHENTICATED");

    for header in [
        "Bearer gh_not_a_real_token",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer",
    ] {
        let response = app
            .client
            .post(&url)
            .header("authorization", header)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
    }
}

#[tokio::test]
async fn the_bootstrap_admin_can_create_accounts_and_issue_tokens() {
    let app = spawn_app().await;
    let me = app.data(ADMIN_TOKEN, ME, json!({})).await;
    assert_eq!(me["me"]["email"], "admin@localhost");
    assert_eq!(me["me"]["roles"], json!(["admin"]));

    let ada = app.user("Ada", &["requester", "change_manager"]).await;
    let me = app.data(&ada.token, ME, json!({})).await;
    assert_eq!(me["me"]["email"], "ada@example.com");
    assert_eq!(me["me"]["roles"], json!(["change_manager", "requester"]));
}

#[tokio::test]
async fn only_admins_manage_accounts() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester", "cto"]).await;
    let response = app
        .graphql(
            &ada.token,
            "mutation { createUser(input: {name: \"Eve\", email: \"eve@example.com\", roles: [\"admin\"]}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let response = app.graphql(&ada.token, "{ users { id } }", json!({})).await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    // Nothing was created.
    let users = app
        .data(ADMIN_TOKEN, "{ users { email } }", json!({}))
        .await;
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn account_input_is_validated() {
    let app = spawn_app().await;
    let create = "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }";
    for (input, field) in [
        (
            json!({"name": "X", "email": "not-an-email", "roles": []}),
            "email",
        ),
        (
            json!({"name": " ", "email": "x@example.com", "roles": []}),
            "name",
        ),
        (
            json!({"name": "X", "email": "x@example.com", "roles": ["Admin"]}),
            "roles",
        ),
        (
            json!({"name": "X", "email": "x@example.com", "roles": ["auditor", "requester"]}),
            "roles",
        ),
    ] {
        let response = app
            .graphql(ADMIN_TOKEN, create, json!({"input": input}))
            .await;
        assert_eq!(error_code(&response), "VALIDATION", "{input}");
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{input}"
        );
    }
    app.user("Ada", &["requester"]).await;
    let duplicate = app
        .graphql(
            ADMIN_TOKEN,
            create,
            json!({"input": {"name": "Ada 2", "email": "ADA@example.com", "roles": []}}),
        )
        .await;
    assert_eq!(error_code(&duplicate), "CONFLICT");
}

#[tokio::test]
async fn revoked_and_expired_tokens_and_deactivated_accounts_stop_working() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;

    // A second token, revoked by its owner.
    let issued = app
        .data(
            &ada.token,
            "mutation { issueToken(name: \"ci\") { secret token { id active } } }",
            json!({}),
        )
        .await;
    let secret = issued["issueToken"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(issued["issueToken"]["token"]["active"], true);
    app.data(&secret, ME, json!({})).await;
    let revoke = app
        .data(
            &ada.token,
            "mutation($id: ID!) { revokeToken(id: $id) { active revokedAt } }",
            json!({"id": issued["issueToken"]["token"]["id"]}),
        )
        .await;
    assert_eq!(revoke["revokeToken"]["active"], false);
    assert_eq!(
        error_code(&app.graphql(&secret, ME, json!({})).await),
        "UNAUTHENTICATED"
    );

    // A token past its expiry.
    let expired_secret = "gh_expired_token_for_tests_0000000000000";
    api_token::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(crate::helpers::uuid_of(&ada.id)),
        name: Set("old".into()),
        secret_hash: Set(api::auth::hash_token(expired_secret)),
        created_at: Set(Utc::now() - Duration::days(10)),
        expires_at: Set(Some(Utc::now() - Duration::days(1))),
        revoked_at: Set(None),
        issued_by: Set(None),
        issued_by_label: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
    assert_eq!(
        error_code(&app.graphql(expired_secret, ME, json!({})).await),
        "UNAUTHENTICATED"
    );

    // Expiry in the past is refused at issue.
    let past = app
        .graphql(
            &ada.token,
            "mutation($at: DateTime) { issueToken(name: \"x\", expiresAt: $at) { secret } }",
            json!({"at": (Utc::now() - Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    assert_eq!(error_code(&past), "VALIDATION");

    // Deactivation shuts every token of the account.
    app.data(
        ADMIN_TOKEN,
        "mutation($id: ID!) { deactivateUser(userId: $id) { active } }",
        json!({"id": ada.id}),
    )
    .await;
    assert_eq!(
        error_code(&app.graphql(&ada.token, ME, json!({})).await),
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn users_manage_only_their_own_tokens() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let bob = app.user("Bob", &["requester"]).await;
    let response = app
        .graphql(
            &ada.token,
            "mutation($user: ID!) { issueToken(userId: $user, name: \"stolen\") { secret } }",
            json!({"user": bob.id}),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let response = app
        .graphql(
            &ada.token,
            "query($user: ID) { tokens(userId: $user) { id } }",
            json!({"user": bob.id}),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let own = app
        .data(&ada.token, "{ tokens { name active } }", json!({}))
        .await;
    assert_eq!(own["tokens"], json!([{"name": "test", "active": true}]));
}

#[tokio::test]
async fn an_admin_cannot_lock_themselves_out() {
    let app = spawn_app().await;
    let me = app.data(ADMIN_TOKEN, "{ me { id } }", json!({})).await;
    let response = app
        .graphql(
            ADMIN_TOKEN,
            "mutation($id: ID!) { setUserRoles(userId: $id, roles: [\"requester\"]) { roles } }",
            json!({"id": me["me"]["id"]}),
        )
        .await;
    assert_eq!(error_code(&response), "VALIDATION");
    let response = app
        .graphql(
            ADMIN_TOKEN,
            "mutation($id: ID!) { deactivateUser(userId: $id) { active } }",
            json!({"id": me["me"]["id"]}),
        )
        .await;
    assert_eq!(error_code(&response), "VALIDATION");
}

const DEACTIVATE: &str = "mutation($id: ID!) { deactivateUser(userId: $id) { active } }";

/// The emails of the active admins, read from the database.
async fn active_admins(app: &crate::helpers::TestApp) -> Vec<String> {
    use sea_orm::{EntityTrait, QueryOrder};
    entity::user::Entity::find()
        .order_by_asc(entity::user::Column::Email)
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.active && u.roles.as_array().unwrap().contains(&json!("admin")))
        .map(|u| u.email)
        .collect()
}

async fn audit_event_count(app: &crate::helpers::TestApp) -> u64 {
    let data = app
        .data(ADMIN_TOKEN, "{ auditEvents { totalCount } }", json!({}))
        .await;
    data["auditEvents"]["totalCount"].as_u64().unwrap()
}

/// From the CLI (no account of its own) the last active admin can be
/// neither deactivated nor demoted; nothing is written or recorded.
#[tokio::test]
async fn the_last_active_admin_cannot_be_removed_from_the_cli() {
    let app = spawn_app().await;
    assert_eq!(active_admins(&app).await, ["admin@localhost"]);
    let events = audit_event_count(&app).await;
    for args in [
        &["users", "deactivate", "--user", "admin@localhost"][..],
        &[
            "users",
            "set-roles",
            "--user",
            "admin@localhost",
            "--roles",
            "requester",
        ][..],
    ] {
        let output = crate::cli::gatehouse(&app.database_url, args);
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("admin@localhost is the last active admin account"),
            "{stderr}"
        );
    }
    assert_eq!(active_admins(&app).await, ["admin@localhost"]);
    assert_eq!(audit_event_count(&app).await, events);
    // Changing the last admin's other roles, keeping admin, is fine.
    let output = crate::cli::gatehouse(
        &app.database_url,
        &[
            "users",
            "set-roles",
            "--user",
            "admin@localhost",
            "--roles",
            "admin,requester",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Two admins deactivating each other at the same moment: one of them
/// wins, the other is refused (CONFLICT, or UNAUTHENTICATED when the
/// winner's write landed before the loser's request was authenticated),
/// and one active admin always remains.
#[tokio::test]
async fn admins_deactivating_each_other_at_once_leave_one_active_admin() {
    let app = spawn_app().await;
    let me = app.data(ADMIN_TOKEN, "{ me { id } }", json!({})).await;
    // (id, token) of the one active admin.
    let mut survivor = (
        me["me"]["id"].as_str().unwrap().to_owned(),
        ADMIN_TOKEN.to_owned(),
    );
    for round in 0..3 {
        // The survivor makes a second admin (the bootstrap token may be
        // deactivated by now, so the helpers that use it are avoided).
        let created = app
            .data(
                &survivor.1,
                "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
                json!({"input": {"name": format!("Admin {round}"),
                    "email": format!("admin{round}@example.com"), "roles": ["admin"]}}),
            )
            .await;
        let other_id = created["createUser"]["id"].as_str().unwrap().to_owned();
        // Its token comes from the operator: an admin holds no other
        // person's credentials.
        let token = app.operator_token(&other_id).await;
        let other = (other_id, token);
        let (a, b) = tokio::join!(
            app.graphql(&survivor.1, DEACTIVATE, json!({"id": other.0})),
            app.graphql(&other.1, DEACTIVATE, json!({"id": survivor.0})),
        );
        let refused: Vec<&str> = [&a, &b]
            .into_iter()
            .filter(|r| r.get("errors").is_some())
            .map(error_code)
            .collect();
        assert_eq!(refused.len(), 1, "round {round}: {a:#} {b:#}");
        assert!(
            matches!(refused[0], "CONFLICT" | "UNAUTHENTICATED"),
            "round {round}: {refused:?}"
        );
        assert_eq!(active_admins(&app).await.len(), 1, "round {round}");
        if b.get("errors").is_none() {
            survivor = other;
        }
    }
}

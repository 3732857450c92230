//! The response cache: repeated queries answered from memory, never
//! anything older than the last committed write, never across tokens,
//! never the audit trail.

use serde_json::{Value, json};

use sea_orm::ConnectionTrait;

use crate::helpers::{ADMIN_TOKEN, TestApp, TestUser, error_code, spawn_app, spawn_app_with};

const PAGE: &str = "query Page { changes(first: 10) { totalCount edges { node { id title version requester { email } systems { name } approvals(allRounds: true) { decision } } } } }";

/// A response: status, what the cache did (`x-gatehouse-cache`), body.
async fn post(app: &TestApp, token: &str, query: &str, variables: Value) -> (u16, String, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("x-gatehouse-cache")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, cache, response.json().await.expect("JSON response"))
}

/// Links committed audit events into the chain (PostgreSQL seals them
/// just after each commit, in the background): until then the writes are
/// not counted by the chain's head and nothing is cached.
async fn settle(app: &TestApp) {
    api::store::audit::seal(&app.db).await.expect("seal");
}

/// Retitles a change just created (version as returned).
async fn rename(app: &TestApp, token: &str, change: &Value, title: &str) {
    let renamed = app
        .data(
            token,
            "mutation($id: ID!, $v: Int!, $t: String!) { updateChange(id: $id, expectedVersion: $v, input: {title: $t}) { title } }",
            json!({"id": change["id"], "v": change["version"], "t": title}),
        )
        .await;
    assert_eq!(renamed["updateChange"]["title"], title);
}

/// A fresh server with one change filed by a requester, its events sealed.
async fn app_with_change(title: &str) -> (TestApp, TestUser, Value) {
    let app = spawn_app().await;
    let requester = app.user("Rex Requester", &["requester"]).await;
    let change = app
        .create_change(&requester.token, json!({"title": title}))
        .await;
    settle(&app).await;
    (app, requester, change)
}

async fn page_titles(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let (status, cache, body) = post(app, token, PAGE, json!({})).await;
    assert_eq!(status, 200, "{body:#}");
    assert!(body.get("errors").is_none(), "{body:#}");
    let titles = body["data"]["changes"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["title"].as_str().unwrap().to_owned())
        .collect();
    (cache, titles)
}

#[tokio::test]
async fn a_repeated_query_is_answered_from_memory_until_the_next_write() {
    let (app, requester, change) = app_with_change("First title").await;

    let first = post(&app, ADMIN_TOKEN, PAGE, json!({})).await;
    let second = post(&app, ADMIN_TOKEN, PAGE, json!({})).await;
    assert_eq!(first.1, "miss");
    assert_eq!(second.1, "hit");
    assert_eq!(first.2, second.2, "a hit is the answer as first sent");
    // Other variables are another request.
    let (_, cache, _) = post(
        &app,
        ADMIN_TOKEN,
        "query Page($n: Int) { changes(first: $n) { totalCount } }",
        json!({"n": 5}),
    )
    .await;
    assert_eq!(cache, "miss");

    rename(&app, &requester.token, &change, "Second title").await;
    // Read from the database once the write committed: on PostgreSQL the
    // page bypasses the cache until the write's event is sealed into the
    // chain, then it is stored under the new head.
    let (cache, titles) = page_titles(&app, ADMIN_TOKEN).await;
    assert_eq!(titles, ["Second title"]);
    assert!(cache == "bypass" || cache == "miss", "{cache}");
    settle(&app).await;
    let (cache, titles) = page_titles(&app, ADMIN_TOKEN).await;
    assert_eq!(titles, ["Second title"]);
    assert!(cache == "miss" || cache == "hit", "{cache}");
    assert_eq!(page_titles(&app, ADMIN_TOKEN).await.0, "hit");

    let metrics = app
        .client
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for result in ["hit", "miss", "bypass"] {
        let series = format!("gatehouse_graphql_response_cache_total{{result=\"{result}\"}}");
        assert!(metrics.contains(&series), "{series} in {metrics}");
    }
}

#[tokio::test]
async fn answers_are_kept_per_token() {
    let app = spawn_app().await;
    let requester = app.user("Rita Requester", &["requester"]).await;
    settle(&app).await;
    let users = "{ users { email } }";
    let (_, cache, admin_view) = post(&app, ADMIN_TOKEN, users, json!({})).await;
    assert_eq!(cache, "miss");
    assert!(admin_view["data"]["users"].as_array().unwrap().len() >= 2);
    // The same query from a token that may not list accounts is refused,
    // not served the admin's answer.
    let (_, cache, refused) = post(&app, &requester.token, users, json!({})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused:#}");
    assert_eq!(cache, "bypass", "errors are never stored");
    let (_, cache, refused_again) = post(&app, &requester.token, users, json!({})).await;
    assert_eq!(error_code(&refused_again), "FORBIDDEN");
    assert_eq!(cache, "bypass");
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once() {
    let app = spawn_app().await;
    let user = app.user("Rob Requester", &["requester"]).await;
    settle(&app).await;
    assert_eq!(page_titles(&app, &user.token).await.0, "miss");
    assert_eq!(page_titles(&app, &user.token).await.0, "hit");

    let tokens = app
        .data(
            ADMIN_TOKEN,
            "query($id: ID!) { tokens(userId: $id) { id } }",
            json!({"id": user.id}),
        )
        .await;
    let token_id = tokens["tokens"][0]["id"].clone();
    app.data(
        ADMIN_TOKEN,
        "mutation($id: ID!) { revokeToken(id: $id) { revokedAt } }",
        json!({"id": token_id}),
    )
    .await;
    // Straight after the commit, sealed or not.
    let (status, _, body) = post(&app, &user.token, PAGE, json!({})).await;
    assert_eq!(status, 401, "{body:#}");
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    settle(&app).await;
    let (status, _, _) = post(&app, &user.token, PAGE, json!({})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn role_changes_apply_to_the_next_request() {
    let app = spawn_app().await;
    let user = app.user("Cara Auditor", &["auditor"]).await;
    settle(&app).await;
    let users = "{ users { email } }";
    let (_, cache, allowed) = post(&app, &user.token, users, json!({})).await;
    assert!(allowed.get("errors").is_none(), "{allowed:#}");
    assert_eq!(cache, "miss");
    assert_eq!(post(&app, &user.token, users, json!({})).await.1, "hit");
    app.data(
        ADMIN_TOKEN,
        "mutation($id: ID!) { setUserRoles(userId: $id, roles: [\"requester\"]) { id } }",
        json!({"id": user.id}),
    )
    .await;
    let (_, _, refused) = post(&app, &user.token, users, json!({})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused:#}");
}

#[tokio::test]
async fn the_audit_trail_is_always_read_from_the_database() {
    let (app, _, _) = app_with_change("Rotate TLS certificates").await;
    let auditor = app.user("Ada Auditor", &["auditor"]).await;
    settle(&app).await;
    let verify = "{ verifyAuditLog { ok brokenAt } }";
    let events = "{ auditEvents(first: 50) { edges { node { seq payload } } } }";
    let history = "{ changes(first: 1) { edges { node { history { seq } } } } }";
    for query in [verify, events, history] {
        for _ in 0..2 {
            let (_, cache, body) = post(&app, &auditor.token, query, json!({})).await;
            assert!(body.get("errors").is_none(), "{body:#}");
            assert_eq!(cache, "bypass", "{query}");
        }
    }
    // Edited behind Gatehouse's back: the very next verification sees it.
    crate::audit::lift_guard(&app).await;
    app.db
        .execute_unprepared("UPDATE audit_events SET payload = '{}' WHERE seq = 1")
        .await
        .unwrap();
    let (_, _, body) = post(&app, &auditor.token, verify, json!({})).await;
    assert_eq!(body["data"]["verifyAuditLog"]["ok"], false, "{body:#}");
    assert_eq!(body["data"]["verifyAuditLog"]["brokenAt"], 1);
}

#[tokio::test]
async fn mutations_are_never_answered_from_memory() {
    let app = spawn_app().await;
    settle(&app).await;
    let create = "mutation { createSystem(input: {name: \"payments\"}) { id } }";
    let (_, cache, first) = post(&app, ADMIN_TOKEN, create, json!({})).await;
    assert_eq!(cache, "bypass");
    settle(&app).await;
    let (_, cache, second) = post(&app, ADMIN_TOKEN, create, json!({})).await;
    assert_eq!(cache, "bypass");
    // Executed twice: the second is a real attempt, refused as a duplicate
    // or a second system, never the first answer replayed.
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_write_through_another_server_reaches_this_one() {
    let (first, requester, change) = app_with_change("Before").await;
    let database_url = first.database_url.clone();
    let second = spawn_app_with(move |settings| settings.database_url = database_url).await;
    settle(&first).await;
    assert_eq!(
        page_titles(&second, ADMIN_TOKEN).await,
        ("miss".into(), vec!["Before".into()])
    );
    assert_eq!(page_titles(&second, ADMIN_TOKEN).await.0, "hit");

    rename(&first, &requester.token, &change, "After").await;
    let (_, titles) = page_titles(&second, ADMIN_TOKEN).await;
    assert_eq!(titles, ["After"]);
    settle(&first).await;
    let (_, titles) = page_titles(&second, ADMIN_TOKEN).await;
    assert_eq!(titles, ["After"]);
}

#[tokio::test]
async fn answers_expire_with_the_clock() {
    let (app, _, _) = app_with_change("Rotate TLS certificates").await;
    assert_eq!(page_titles(&app, ADMIN_TOKEN).await.0, "miss");
    assert_eq!(page_titles(&app, ADMIN_TOKEN).await.0, "hit");
    // Time-dependent answers (overdue flags, deadlines) are at most the
    // configured age old.
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(page_titles(&app, ADMIN_TOKEN).await.0, "miss");
}

#[tokio::test]
async fn the_cache_can_be_switched_off() {
    let app = spawn_app_with(|settings| settings.response_cache.max_bytes = 0).await;
    let requester = app.user("Rex Requester", &["requester"]).await;
    app.create_change(&requester.token, json!({})).await;
    settle(&app).await;
    for _ in 0..2 {
        assert_eq!(page_titles(&app, ADMIN_TOKEN).await.0, "bypass");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_a_missing_answer_compute_it_once() {
    let (app, _, _) = app_with_change("Rotate TLS certificates").await;
    let requests = (0..16).map(|_| post(&app, ADMIN_TOKEN, PAGE, json!({})));
    let responses = futures::future::join_all(requests).await;
    let misses = responses
        .iter()
        .filter(|(_, cache, _)| cache == "miss")
        .count();
    let hits = responses
        .iter()
        .filter(|(_, cache, _)| cache == "hit")
        .count();
    assert_eq!(
        (misses, hits),
        (1, 15),
        "one computes, the others wait for it"
    );
    assert!(responses.iter().all(|(_, _, body)| *body == responses[0].2));
}

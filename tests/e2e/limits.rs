//! Abuse limits: rejected before execution with a clear error and a code.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, error_code, spawn_app, spawn_app_with};

async fn post(app: &crate::helpers::TestApp, body: Value) -> (u16, Option<String>, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

#[tokio::test]
async fn depth_complexity_aliases_and_directives_are_limited() {
    let app = spawn_app_with(|settings| settings.limits.max_query_complexity = 200).await;
    let nested = format!(
        "{{ systems {{ {} id {} }} }}",
        "parent { ".repeat(16),
        "} ".repeat(16)
    );
    let (_, _, deep) = post(&app, json!({"query": nested})).await;
    assert_eq!(error_code(&deep), "VALIDATION", "{deep}");
    assert!(
        deep["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{deep}"
    );

    let wide = "{ changes(first: 100) { edges { node { id number title status version } } } }";
    let (_, _, complex) = post(&app, json!({"query": wide})).await;
    assert_eq!(error_code(&complex), "VALIDATION", "{complex}");
    assert!(
        complex["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{complex}"
    );
    let (_, _, small) = post(
        &app,
        json!({"query": "{ changes(first: 10) { edges { node { id number } } } }"}),
    )
    .await;
    assert!(small.get("errors").is_none(), "{small}");

    let aliases: String = (0..31).map(|i| format!("a{i}: me {{ id }} ")).collect();
    let (status, _, many) = post(&app, json!({"query": format!("{{ {aliases} }}")})).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&many), "VALIDATION");

    let directives = "{ me { id @include(if: true) @include(if: true) @include(if: true) @include(if: true) @include(if: true) @include(if: true) } }";
    let (_, _, directive_heavy) = post(&app, json!({"query": directives})).await;
    assert_eq!(
        error_code(&directive_heavy),
        "VALIDATION",
        "{directive_heavy}"
    );

    let (_, _, unknown) = post(&app, json!({"query": "{ nope }"})).await;
    assert_eq!(error_code(&unknown), "VALIDATION");
}

#[tokio::test]
async fn batches_and_oversized_bodies_are_refused() {
    let app = spawn_app().await;
    let (status, _, _) = post(
        &app,
        json!([{"query": "{ me { id } }"}, {"query": "{ me { id } }"}]),
    )
    .await;
    assert_eq!(status, 400, "batched operations are not accepted");
    let huge = "x".repeat(2 * 1024 * 1024);
    let (status, _, _) = post(
        &app,
        json!({"query": "{ me { id } }", "variables": {"pad": huge}}),
    )
    .await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn introspection_and_graphiql_can_be_switched_off() {
    let app = spawn_app_with(|settings| {
        settings.limits.introspection = false;
        settings.limits.graphiql = false;
    })
    .await;
    let (_, _, introspection) =
        post(&app, json!({"query": "{ __schema { types { name } } }"})).await;
    // The schema is not revealed, and the answer says why.
    assert!(introspection.get("data").is_none(), "{introspection}");
    assert_eq!(error_code(&introspection), "VALIDATION");
    let page = app
        .client
        .get(format!("{}/graphql", app.base_url))
        .send()
        .await
        .unwrap();
    // No GraphiQL page: a GET asking for nothing is a bad request.
    assert_eq!(page.status(), 400);
    assert!(!page.text().await.unwrap().contains("<html"));
    let (_, _, normal) = post(&app, json!({"query": "{ me { email } }"})).await;
    assert_eq!(normal["data"]["me"]["email"], "admin@localhost");
}

#[tokio::test]
async fn tokens_are_rate_limited_with_retry_after() {
    let app = spawn_app_with(|settings| settings.limits.rate_limit_per_minute = 3).await;
    // Creating the account spends one of the admin's three (its token
    // comes from the operator, not from the admin).
    let other = app.user("Ada", &["requester"]).await;
    for _ in 0..2 {
        let (status, _, _) = post(&app, json!({"query": "{ me { id } }"})).await;
        assert_eq!(status, 200);
    }
    let (status, retry_after, body) = post(&app, json!({"query": "{ me { id } }"})).await;
    assert_eq!(status, 429);
    assert_eq!(error_code(&body), "RATE_LIMITED");
    let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&seconds));
    // Another token has its own bucket.
    assert!(
        app.graphql(&other.token, "{ me { id } }", json!({}))
            .await
            .get("errors")
            .is_none()
    );
}

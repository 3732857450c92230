use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness_answer_json_without_a_token() {
    let app = spawn_app().await;
    for (path, key, value) in [("/healthz", "status", "ok"), ("/readyz", "database", "ok")] {
        let response = app
            .client
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers().contains_key("x-request-id"));
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body[key], value, "{path}: {body}");
    }
}

#[tokio::test]
async fn graphiql_is_served_on_get() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/graphql", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("graphiql")
    );
}

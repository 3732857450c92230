use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, error_code, spawn_app};

const LIST: &str = "query($filter: ChangeFilterInput, $order: ChangeOrderInput, $first: Int, $after: String, $last: Int, $before: String) {
    changes(filter: $filter, orderBy: $order, first: $first, after: $after, last: $last, before: $before) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { number title type risk { level } requester { email } systems { name } } }
    } }";

fn titles(data: &Value) -> Vec<String> {
    data["changes"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn filters_narrow_the_list_and_total_count_follows() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let bob = app.user("Bob", &["requester"]).await;
    let cluster = app.system("k8s-cluster", None).await;
    let node = app.system("k8s-node-pool", Some(&cluster)).await;
    let other = app.system("billing", None).await;

    app.create_change(
        &ada.token,
        json!({"title": "Alpha node upgrade", "type": "normal", "systemIds": [node],
        "plannedStart": "2026-12-01T02:00:00Z", "plannedEnd": "2026-12-01T03:00:00Z"}),
    )
    .await;
    app.create_change(&ada.token, json!({"title": "Beta cluster 100%_done", "type": "major", "likelihood": 5, "impact": 5, "systemIds": [cluster]})).await;
    app.create_change(&bob.token, json!({"title": "Gamma billing fix", "type": "emergency", "likelihood": 1, "impact": 1, "systemIds": [other],
        "plannedStart": "2026-12-20T02:00:00Z", "plannedEnd": "2026-12-20T03:00:00Z"})).await;

    let list = |filter: Value| {
        let app = &app;
        async move {
            let data = app
                .data(
                    ADMIN_TOKEN,
                    LIST,
                    json!({"filter": filter, "order": {"field": "CREATED_AT", "direction": "ASC"}}),
                )
                .await;
            (
                titles(&data),
                data["changes"]["totalCount"].as_u64().unwrap(),
            )
        }
    };

    assert_eq!(list(json!({})).await.1, 3);
    assert_eq!(
        list(json!({"types": ["major", "emergency"]})).await.0,
        vec!["Beta cluster 100%_done", "Gamma billing fix"]
    );
    assert_eq!(list(json!({"statuses": ["DRAFT"]})).await.1, 3);
    assert_eq!(list(json!({"statuses": ["APPROVED"]})).await.1, 0);
    assert_eq!(
        list(json!({"riskLevels": ["CRITICAL"]})).await.0,
        vec!["Beta cluster 100%_done"]
    );
    assert_eq!(
        list(json!({"requesterId": bob.id})).await.0,
        vec!["Gamma billing fix"]
    );
    // A system matches changes to it and to its subsystems.
    assert_eq!(
        list(json!({"systemId": cluster})).await.0,
        vec!["Alpha node upgrade", "Beta cluster 100%_done"]
    );
    assert_eq!(
        list(json!({"systemId": node})).await.0,
        vec!["Alpha node upgrade"]
    );
    assert_eq!(
        list(json!({"titleContains": "BILLING"})).await.0,
        vec!["Gamma billing fix"]
    );
    // LIKE wildcards in the search text are literal.
    assert_eq!(
        list(json!({"titleContains": "%_"})).await.0,
        vec!["Beta cluster 100%_done"]
    );
    assert_eq!(
        list(json!({"plannedFrom": "2026-12-01T00:00:00Z", "plannedTo": "2026-12-02T00:00:00Z"}))
            .await
            .0,
        vec!["Alpha node upgrade"]
    );
    assert_eq!(
        list(json!({"createdFrom": "2000-01-01T00:00:00Z", "createdTo": "2000-01-02T00:00:00Z"}))
            .await
            .1,
        0
    );
    assert_eq!(
        list(json!({"createdFrom": "2000-01-01T00:00:00Z", "types": ["normal"]}))
            .await
            .1,
        1
    );

    let by_risk = app
        .data(
            ADMIN_TOKEN,
            LIST,
            json!({"order": {"field": "RISK_SCORE", "direction": "DESC"}}),
        )
        .await;
    assert_eq!(
        titles(&by_risk),
        vec![
            "Beta cluster 100%_done",
            "Alpha node upgrade",
            "Gamma billing fix"
        ]
    );
    let by_plan = app
        .data(
            ADMIN_TOKEN,
            LIST,
            json!({"order": {"field": "PLANNED_START", "direction": "ASC"}}),
        )
        .await;
    assert_eq!(
        titles(&by_plan),
        vec![
            "Alpha node upgrade",
            "Gamma billing fix",
            "Beta cluster 100%_done"
        ]
    );
}

#[tokio::test]
async fn pages_walk_forward_and_backward_without_overlap() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    for index in 0..7 {
        app.create_change(&ada.token, json!({"title": format!("Change {index}")}))
            .await;
    }
    let order = json!({"field": "CREATED_AT", "direction": "ASC"});
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .data(
                ADMIN_TOKEN,
                LIST,
                json!({"order": order, "first": 3, "after": after}),
            )
            .await;
        assert_eq!(data["changes"]["totalCount"], 7);
        seen.extend(titles(&data));
        let info = &data["changes"]["pageInfo"];
        if !info["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = info["endCursor"].as_str().map(str::to_owned);
    }
    let expected: Vec<String> = (0..7).map(|i| format!("Change {i}")).collect();
    assert_eq!(seen, expected);

    let last = app
        .data(ADMIN_TOKEN, LIST, json!({"order": order, "last": 2}))
        .await;
    assert_eq!(titles(&last), vec!["Change 5", "Change 6"]);
    assert_eq!(last["changes"]["pageInfo"]["hasPreviousPage"], true);
    let before = last["changes"]["pageInfo"]["startCursor"].as_str().unwrap();
    let previous = app
        .data(
            ADMIN_TOKEN,
            LIST,
            json!({"order": order, "last": 2, "before": before}),
        )
        .await;
    assert_eq!(titles(&previous), vec!["Change 3", "Change 4"]);
}

#[tokio::test]
async fn page_size_is_capped_and_bad_cursors_are_validation_errors() {
    let app = spawn_app_with_cap().await;
    let too_big = app.graphql(ADMIN_TOKEN, LIST, json!({"first": 11})).await;
    assert_eq!(error_code(&too_big), "VALIDATION");
    assert_eq!(too_big["errors"][0]["extensions"]["field"], "first");
    let negative = app.graphql(ADMIN_TOKEN, LIST, json!({"last": -1})).await;
    assert_eq!(error_code(&negative), "VALIDATION");
    let cursor = app
        .graphql(ADMIN_TOKEN, LIST, json!({"after": "garbage!"}))
        .await;
    assert_eq!(error_code(&cursor), "VALIDATION");
}

async fn spawn_app_with_cap() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|settings| settings.max_page_size = 10).await
}

/// Listing a page with requesters and systems costs the same number of SQL
/// statements for 5 rows as for 50: related records are batch-loaded.
#[tokio::test]
async fn listing_issues_a_constant_number_of_queries() {
    let app = spawn_app().await;
    let systems = [app.system("web", None).await, app.system("db", None).await];
    let mut requesters = Vec::new();
    for index in 0..5 {
        requesters.push(
            app.user(&format!("Requester {index}"), &["requester"])
                .await,
        );
    }
    for index in 0..50 {
        let requester = &requesters[index % requesters.len()];
        app.create_change(
            &requester.token,
            json!({"title": format!("Change {index}"), "systemIds": [systems[index % 2]]}),
        )
        .await;
    }
    let mut counts = Vec::new();
    for first in [5, 50] {
        let before = app.queries.get();
        let data = app.data(ADMIN_TOKEN, LIST, json!({"first": first})).await;
        counts.push(app.queries.get() - before);
        let edges = data["changes"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), first);
        assert!(
            edges
                .iter()
                .all(|e| e["node"]["requester"]["email"].is_string()
                    && e["node"]["systems"][0]["name"].is_string())
        );
    }
    assert_eq!(
        counts[0], counts[1],
        "statements for 5 rows vs 50 rows: {counts:?}"
    );
    assert!(
        counts[1] <= 6,
        "expected a handful of statements, got {}",
        counts[1]
    );
}

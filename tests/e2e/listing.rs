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

/// For counting a request's statements: with the response cache on, a
/// repeated request is answered from memory (one statement, the data
/// generation), or not, depending on whether the sealer has linked the
/// last writes' events yet.
async fn spawn_app_without_response_cache() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|settings| settings.response_cache.max_bytes = 0).await
}

/// The SQL statements one request costs, and its data. The counter is the
/// request pool's (the PostgreSQL audit sealer has a pool of its own), but
/// reading `history` seals committed events first, which costs more while
/// the sealer has not yet linked the page's events: the fewest of three
/// identical requests is the request's own count.
async fn statements_for(
    app: &crate::helpers::TestApp,
    query: &str,
    variables: Value,
) -> (u64, Value) {
    let mut fewest = u64::MAX;
    let mut data = Value::Null;
    for _ in 0..3 {
        let before = app.queries.get();
        data = app.data(ADMIN_TOKEN, query, variables.clone()).await;
        fewest = fewest.min(app.queries.get() - before);
    }
    (fewest, data)
}

/// Listing a page with requesters and systems costs the same number of SQL
/// statements for 5 rows as for 50: related records are batch-loaded.
#[tokio::test]
async fn listing_issues_a_constant_number_of_queries() {
    let app = spawn_app_without_response_cache().await;
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
        let (statements, data) = statements_for(&app, LIST, json!({"first": first})).await;
        counts.push(statements);
        let edges = data["changes"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), first);
        assert!(
            edges
                .iter()
                .all(|e| e["node"]["requester"]["email"].is_string()
                    && e["node"]["systems"][0]["name"].is_string())
        );
    }
    // Not one per row: 50 rows cost what 5 do.
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

const NESTED: &str = "query($first: Int) { changes(first: $first) { edges { node {
    number requester { email } systems { name } template { key }
    approvals(allRounds: true) { decision round approver { email } }
    evidence { gate status recordedBy { email } }
    incidents { priority openedBy { email } }
    reviews { kind reviewer { email } }
    history { action }
} } } }";

/// A page of changes with their approvals, evidence, incidents, reviews
/// and the people in them costs the same number of SQL statements for 5
/// rows as for 50: each list is batch-loaded for the whole page.
#[tokio::test]
async fn nested_lifecycle_lists_issue_a_constant_number_of_queries() {
    use entity::{Decision, EvidenceStatus, IncidentPriority, ReviewKind};
    use sea_orm::{ActiveModelTrait, Set};

    let app = spawn_app_without_response_cache().await;
    let system = app.system("web", None).await;
    let people = [
        app.user("Requester", &["requester"]).await,
        app.user("Approver One", &["change_manager"]).await,
        app.user("Approver Two", &["cto"]).await,
    ];
    let id_of = |user: &crate::helpers::TestUser| crate::helpers::uuid_of(&user.id);
    let now = app.clock.now();
    for index in 0..50 {
        let change = app
            .create_change(
                &people[0].token,
                json!({"title": format!("Change {index}"), "systemIds": [system]}),
            )
            .await;
        let change_id = crate::helpers::uuid_of(change["id"].as_str().unwrap());
        // The lifecycle records are written directly: this test is about
        // reading them back, and driving 50 changes through approval,
        // implementation and review over HTTP would only make it slow.
        for (round, approver, roles) in [
            (1, &people[1], json!(["change_manager"])),
            (2, &people[2], json!(["cto"])),
        ] {
            entity::approval::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                change_id: Set(change_id),
                round: Set(round),
                approver_id: Set(id_of(approver)),
                decision: Set(Decision::Approve),
                comment: Set(None),
                decided_at: Set(now),
                meeting_id: Set(None),
                retroactive: Set(false),
                approver_roles: Set(roles),
                board_role: Set(None),
                freeze_entry: Set(false),
            }
            .insert(&app.db)
            .await
            .unwrap();
        }
        entity::evidence::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            change_id: Set(change_id),
            gate: Set("unit_tests".into()),
            status: Set(EvidenceStatus::Passed),
            summary: Set(None),
            url: Set(None),
            data: Set(json!({})),
            recorded_by: Set(id_of(&people[0])),
            recorded_at: Set(now),
        }
        .insert(&app.db)
        .await
        .unwrap();
        entity::incident::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            change_id: Set(Some(change_id)),
            priority: Set(IncidentPriority::P3),
            title: Set(format!("Incident {index}")),
            description: Set(None),
            opened_by: Set(id_of(&people[0])),
            opened_at: Set(now),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .unwrap();
        entity::review::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            change_id: Set(change_id),
            kind: Set(ReviewKind::PostImplementation),
            reviewer_id: Set(id_of(&people[1])),
            summary: Set("Went fine".into()),
            lessons_learned: Set(None),
            root_cause: Set(None),
            reviewed_at: Set(now),
        }
        .insert(&app.db)
        .await
        .unwrap();
    }

    let mut counts = Vec::new();
    for first in [5, 50] {
        let (statements, data) = statements_for(&app, NESTED, json!({"first": first})).await;
        counts.push(statements);
        let edges = data["changes"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), first);
        for edge in edges {
            let node = &edge["node"];
            let approvers: Vec<&str> = node["approvals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["approver"]["email"].as_str().unwrap())
                .collect();
            assert_eq!(approvers.len(), 2, "{node:#}");
            assert!(approvers.contains(&"approver.one@example.com"));
            assert!(approvers.contains(&"approver.two@example.com"));
            assert_eq!(
                node["evidence"],
                json!([{"gate": "unit_tests", "status": "PASSED",
                    "recordedBy": {"email": "requester@example.com"}}])
            );
            assert_eq!(
                node["incidents"],
                json!([{"priority": "P3", "openedBy": {"email": "requester@example.com"}}])
            );
            assert_eq!(
                node["reviews"],
                json!([{"kind": "POST_IMPLEMENTATION",
                    "reviewer": {"email": "approver.one@example.com"}}])
            );
            assert_eq!(node["history"][0]["action"], "change.created");
        }
    }
    // As in the test above: 50 rows cost what 5 do.
    assert_eq!(
        counts[0], counts[1],
        "statements for 5 rows vs 50 rows: {counts:?}"
    );
    // The page, and one query per relation: not one per row.
    assert!(
        counts[1] <= 12,
        "expected about a dozen statements, got {}",
        counts[1]
    );
}

/// Walks `changes` in `order` with pages of `size`, calling `between`
/// after the first page: forwards with `first`/`after`, or backwards with
/// `last`/`before`. The titles in list order.
async fn walk(
    app: &crate::helpers::TestApp,
    order: &Value,
    size: i32,
    backwards: bool,
    between: impl AsyncFnOnce(),
) -> Vec<String> {
    let mut between = Some(between);
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let variables = if backwards {
            json!({"order": order, "last": size, "before": cursor})
        } else {
            json!({"order": order, "first": size, "after": cursor})
        };
        let data = app.data(ADMIN_TOKEN, LIST, variables).await;
        pages.push(titles(&data));
        let info = &data["changes"]["pageInfo"];
        let (more, next) = if backwards {
            (
                info["hasPreviousPage"].as_bool().unwrap(),
                &info["startCursor"],
            )
        } else {
            (info["hasNextPage"].as_bool().unwrap(), &info["endCursor"])
        };
        if let Some(between) = between.take() {
            between().await;
        }
        if !more {
            break;
        }
        cursor = next.as_str().map(str::to_owned);
    }
    if backwards {
        pages.reverse();
    }
    pages.concat()
}

#[tokio::test]
async fn cursors_stay_on_their_row_while_changes_are_created_in_every_order() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let create = |index: usize| {
        let (app, token) = (&app, ada.token.clone());
        async move {
            // Every third change has no planned start (listed last), and
            // risk scores repeat, so ties are broken by id.
            let mut input = json!({"title": format!("Change {index}"),
                "likelihood": 1 + index % 3, "impact": 2});
            if !index.is_multiple_of(3) {
                let day = 1 + (index * 7) % 27;
                input["plannedStart"] = json!(format!("2027-01-{day:02}T02:00:00Z"));
                input["plannedEnd"] = json!(format!("2027-01-{day:02}T03:00:00Z"));
            }
            app.create_change(&token, input).await;
        }
    };
    for index in 0..9 {
        create(index).await;
    }
    let originals: Vec<String> = (0..9).map(|i| format!("Change {i}")).collect();
    let mut next = 9;
    for field in ["CREATED_AT", "UPDATED_AT", "PLANNED_START", "RISK_SCORE"] {
        for direction in ["ASC", "DESC"] {
            for backwards in [false, true] {
                let order = json!({"field": field, "direction": direction});
                let first_new = next;
                next += 3;
                let seen = walk(&app, &order, 2, backwards, async || {
                    for index in first_new..first_new + 3 {
                        create(index).await;
                    }
                })
                .await;
                let whole = titles(
                    &app.data(ADMIN_TOKEN, LIST, json!({"order": order, "first": 100}))
                        .await,
                );
                let case = format!("{field} {direction} backwards={backwards}: {seen:?}");
                // In list order, without repeats, and nothing that was there
                // before the walk began is skipped.
                let mut rest = whole.iter();
                assert!(
                    seen.iter().all(|title| rest.any(|t| t == title)),
                    "{case} is not in the order of {whole:?}"
                );
                for original in &originals {
                    assert!(seen.contains(original), "{case} skipped {original}");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_cursor_is_refused_by_another_order_and_page_info_is_exact() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    for index in 0..4 {
        app.create_change(&ada.token, json!({"title": format!("Change {index}")}))
            .await;
    }
    let by_created = json!({"field": "CREATED_AT", "direction": "ASC"});
    let first = app
        .data(ADMIN_TOKEN, LIST, json!({"order": by_created, "first": 2}))
        .await;
    let info = &first["changes"]["pageInfo"];
    assert_eq!(
        (info["hasPreviousPage"].clone(), info["hasNextPage"].clone()),
        (json!(false), json!(true))
    );
    let cursor = info["endCursor"].as_str().unwrap();
    let second = app
        .data(
            ADMIN_TOKEN,
            LIST,
            json!({"order": by_created, "first": 2, "after": cursor}),
        )
        .await;
    assert_eq!(titles(&second), ["Change 2", "Change 3"]);
    let info = &second["changes"]["pageInfo"];
    assert_eq!(
        (info["hasPreviousPage"].clone(), info["hasNextPage"].clone()),
        (json!(true), json!(false))
    );
    let back = app
        .data(
            ADMIN_TOKEN,
            LIST,
            json!({"order": by_created, "last": 5, "before": cursor}),
        )
        .await;
    assert_eq!(titles(&back), ["Change 0"]);
    assert_eq!(back["changes"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(back["changes"]["pageInfo"]["hasPreviousPage"], false);

    let other_order = app
        .graphql(
            ADMIN_TOKEN,
            LIST,
            json!({"order": {"field": "RISK_SCORE", "direction": "ASC"}, "after": cursor}),
        )
        .await;
    assert_eq!(error_code(&other_order), "VALIDATION");
    assert_eq!(other_order["errors"][0]["extensions"]["field"], "after");
}

//! A bad request never harms the next one, arithmetic does not wrap, and
//! exports carry no payloads (issue #17, sections 5 to 7). On SQLite by
//! default and on PostgreSQL with GATEHOUSE_TEST_POSTGRES_URL.

use entity::{ChangeOutcome, change};
use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_TOKEN, TestApp, TestUser, error_code, spawn_app, spawn_app_with},
    metrics::implemented,
};

const METRICS: &str = "query($from: DateTime!, $to: DateTime!) { metrics(from: $from, to: $to, granularity: MONTH) { implemented } }";

/// 100 requests of `user`, 20 at a time so that they spread over the
/// pool's connections, alternating a metrics query (the `COPY` path on
/// PostgreSQL) with a count of the changes; every one must succeed with
/// the right answer (`changes` changes in all).
async fn next_hundred_succeed(app: &TestApp, user: &TestUser, changes: u64, after: &str) {
    for round in 0..5 {
        let requests = (0..20).map(|i| async move {
            if i % 2 == 0 {
                let response = app
                    .graphql(
                        &user.token,
                        METRICS,
                        json!({"from": "2026-09-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}),
                    )
                    .await;
                (
                    response.clone(),
                    response["data"]["metrics"][1]["implemented"] == json!(2),
                )
            } else {
                let response = app
                    .graphql(&user.token, "{ changes { totalCount } }", json!({}))
                    .await;
                (
                    response.clone(),
                    response["data"]["changes"]["totalCount"] == json!(changes),
                )
            }
        });
        for (i, (response, right)) in join_all(requests).await.into_iter().enumerate() {
            assert!(
                right && response.get("errors").is_none(),
                "request {} after {after}: {response:#}",
                round * 20 + i
            );
        }
    }
}

/// An app with three implemented changes (one in September, two in
/// October 2026) and a requester who only reads.
async fn app_with_history() -> (TestApp, TestUser) {
    // Some 2,000 requests a minute from one reader: off the rate limit,
    // which is not what these tests are about.
    let app = spawn_app_with(|settings| settings.limits.rate_limit_per_minute = 0).await;
    let reader = app.user("Rhea Reader", &["requester"]).await;
    let api = app.system("api", None).await;
    for end in [
        "2026-09-10T02:00:00Z",
        "2026-10-02T01:00:00Z",
        "2026-10-20T02:00:00Z",
    ] {
        implemented(
            &app,
            &reader.token,
            "normal",
            ChangeOutcome::Successful,
            "2026-09-01T00:00:00Z",
            "2026-09-01T00:00:00Z",
            end,
            vec![api.clone()],
        )
        .await;
    }
    (app, reader)
}

/// GraphQL requests with an instant neither database can hold, each with
/// the argument the error must name.
fn out_of_range_requests(change_id: &str) -> Vec<(&'static str, String, Value)> {
    vec![
        (
            "from",
            METRICS.to_owned(),
            json!({"from": "0000-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
        ),
        (
            "to",
            METRICS.to_owned(),
            // Year 9999 in the client's offset, year 10000 in UTC.
            json!({"from": "2026-01-01T00:00:00Z", "to": "9999-12-31T23:30:00-01:00"}),
        ),
        (
            "filter.createdFrom",
            "query($at: DateTime) { changes(filter: {createdFrom: $at}) { totalCount } }".into(),
            json!({"at": "0000-06-01T00:00:00Z"}),
        ),
        (
            "filter.plannedTo",
            "query($at: DateTime) { changes(filter: {plannedTo: $at}) { totalCount } }".into(),
            // Year 1 in the client's offset, year 0 in UTC.
            json!({"at": "0001-01-01T00:30:00+01:00"}),
        ),
        (
            "filter.from",
            "query($at: DateTime) { auditEvents(filter: {from: $at}) { totalCount } }".into(),
            json!({"at": "0000-01-01T00:00:00Z"}),
        ),
        (
            "plannedStart",
            "mutation($input: CreateChangeInput!) { createChange(input: $input) { id } }".into(),
            json!({"input": {
                "title": "Rotate keys", "description": "d", "businessJustification": "b",
                "type": "normal", "likelihood": 2, "impact": 2,
                "plannedStart": "0000-01-01T00:00:00Z", "plannedEnd": "2026-01-01T00:00:00Z",
            }}),
        ),
        (
            "plannedEnd",
            "mutation($id: ID!, $at: DateTime) { updateChange(id: $id, expectedVersion: 1, input: {plannedStart: \"2026-01-01T00:00:00Z\", plannedEnd: $at}) { id } }".into(),
            json!({"id": change_id, "at": "9999-12-31T23:30:00-01:00"}),
        ),
        (
            "start",
            "mutation($id: ID!, $at: DateTime!) { scheduleChange(id: $id, start: $at, end: \"2026-01-01T00:00:00Z\") { id } }".into(),
            json!({"id": change_id, "at": "0000-01-01T00:00:00Z"}),
        ),
        (
            "expiresAt",
            "mutation($at: DateTime) { issueToken(name: \"ci\", expiresAt: $at) { secret } }"
                .into(),
            json!({"at": "0000-01-01T00:00:00Z"}),
        ),
    ]
}

/// GraphQL requests with a NUL character in a string argument that
/// reaches a query, each with the argument the error must name.
fn nul_requests(change_id: &str) -> Vec<(&'static str, String, Value)> {
    let nul = "a\u{0}b";
    vec![
        (
            "data",
            "mutation($id: ID!, $t: String!) { recordEvidence(changeId: $id, input: {gate: \"unit_tests\", status: PASSED, data: {note: $t}}) { id } }".into(),
            json!({"id": change_id, "t": nul}),
        ),
        (
            "name",
            "mutation($t: String!) { issueToken(name: $t) { secret } }".into(),
            json!({"t": nul}),
        ),
        (
            "name",
            "mutation($t: String!) { createSystem(input: {name: $t}) { id } }".into(),
            json!({"t": nul}),
        ),
        (
            "description",
            "mutation($t: String!) { createSystem(input: {name: \"db\", description: $t}) { id } }".into(),
            json!({"t": nul}),
        ),
        (
            "name",
            "mutation($t: String!) { createUser(input: {name: $t, email: \"n@example.com\", roles: []}) { id } }".into(),
            json!({"t": nul}),
        ),
        (
            "comment",
            "mutation($id: ID!, $t: String!) { decideApproval(changeId: $id, decision: APPROVE, comment: $t) { id } }".into(),
            json!({"id": change_id, "t": nul}),
        ),
        (
            "reason",
            "mutation($id: ID!, $t: String!) { cancelChange(id: $id, reason: $t) { id } }".into(),
            json!({"id": change_id, "t": nul}),
        ),
        (
            "anchorHash",
            "query($t: String!) { verifyAuditLog(anchorSeq: 1, anchorHash: $t) { ok } }".into(),
            json!({"t": nul}),
        ),
        (
            "filter.entityType",
            "query($t: String) { auditEvents(filter: {entityType: $t}) { totalCount } }".into(),
            json!({"t": nul}),
        ),
        (
            "filter.entityId",
            "query($t: String) { auditEvents(filter: {entityId: $t}) { totalCount } }".into(),
            json!({"t": nul}),
        ),
        (
            "filter.action",
            "query($t: String) { auditEvents(filter: {action: $t}) { totalCount } }".into(),
            json!({"t": nul}),
        ),
        (
            "filter",
            "query($t: String) { changes(filter: {titleContains: $t}) { totalCount } }".into(),
            json!({"t": nul}),
        ),
        (
            "title",
            "mutation($t: String!) { createChange(input: {title: $t, description: \"d\", businessJustification: \"b\", type: \"normal\", likelihood: 2, impact: 2}) { id } }".into(),
            json!({"t": nul}),
        ),
    ]
}

#[tokio::test]
async fn every_failed_request_leaves_the_next_hundred_of_another_user_unharmed() {
    let (app, reader) = app_with_history().await;
    let mallory = app.user("Mallory", &["requester"]).await;
    let change = app.create_change(&mallory.token, json!({})).await;
    let change_id = change["id"].as_str().unwrap();
    next_hundred_succeed(&app, &reader, 4, "nothing").await;
    let mut problems = Vec::new();
    for (field, query, variables) in out_of_range_requests(change_id)
        .into_iter()
        .chain(nul_requests(change_id))
    {
        // As a requester, or as the admin where only an admin may ask
        // (audit events, accounts, systems).
        let mut response = app.graphql(&mallory.token, &query, variables.clone()).await;
        if error_code(&response) == "FORBIDDEN" {
            response = app.graphql(ADMIN_TOKEN, &query, variables.clone()).await;
        }
        let error = &response["errors"][0]["extensions"];
        if *error != json!({"code": "VALIDATION", "field": field}) {
            problems.push(format!("{query} {variables}: {response}"));
        }
        next_hundred_succeed(&app, &reader, 4, &variables.to_string()).await;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The change the mutations named is as it was.
    let unchanged = app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { version plannedStart } }",
            json!({"id": change_id}),
        )
        .await;
    assert_eq!(
        unchanged["change"],
        json!({"version": 1, "plannedStart": null})
    );
}

async fn report(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.base_url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn report_periods_at_the_edges_of_the_calendar_are_refused_with_a_code() {
    let (app, reader) = app_with_history().await;
    for (path, field) in [
        ("/reports/monthly?period=0000-01", "period"),
        ("/reports/monthly?period=9999-12", "period"),
        // Its twelve trailing months reach back into year 0.
        ("/reports/monthly?period=0001-06", "period"),
        ("/reports/quarterly?period=9999-Q4", "period"),
        ("/reports/trends?from=0000-Q1&to=0000-Q4", "from"),
        ("/reports/trends?from=9999-Q1&to=9999-Q4", "to"),
        ("/reports/cab-weekly?week=9999-W52&format=md", "week"),
    ] {
        let response = report(&app, path).await;
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"],
            json!({"code": "VALIDATION", "field": field}),
            "{path}: {body:#}"
        );
        next_hundred_succeed(&app, &reader, 3, path).await;
    }
    // The last month a report can cover still renders.
    let edge = report(&app, "/reports/monthly?period=9999-11&format=json").await;
    assert_eq!(edge.status(), 200);
    let body: Value = edge.json().await.unwrap();
    assert_eq!(body["headline"]["period"], "9999-11");
}

#[tokio::test]
async fn a_sast_record_whose_counts_would_wrap_to_zero_fails_its_gate() {
    let app = spawn_app_with(|settings| settings.policy = "dual-approval".into()).await;
    let requester = app.user("Rita Requester", &["requester"]).await;
    let change = app.create_change(&requester.token, json!({})).await;
    let recorded = app
        .graphql(
            &requester.token,
            "mutation($id: ID!, $input: EvidenceInput!) { recordEvidence(changeId: $id, input: $input) { status } }",
            json!({"id": change["id"], "input": {"gate": "sast", "status": "PASSED",
                   "data": {"unaddressedCritical": 4_294_967_295_u64, "unaddressedHigh": 1}}}),
        )
        .await;
    assert!(recorded.get("errors").is_none(), "{recorded:#}");
    let gates = app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { gates { key met reason } } }",
            json!({"id": change["id"]}),
        )
        .await;
    let sast = gates["change"]["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|gate| gate["key"] == "sast")
        .unwrap()
        .clone();
    assert_eq!(
        sast,
        json!({"key": "sast", "met": false,
               "reason": "gate failed: sast (4294967295 critical and 1 high findings unaddressed)"})
    );
    // One more than u32 holds is not a count of findings.
    let too_many = app
        .graphql(
            &requester.token,
            "mutation($id: ID!, $input: EvidenceInput!) { recordEvidence(changeId: $id, input: $input) { status } }",
            json!({"id": change["id"], "input": {"gate": "sast", "status": "PASSED",
                   "data": {"unaddressedCritical": 4_294_967_296_u64, "unaddressedHigh": 0}}}),
        )
        .await;
    assert_eq!(error_code(&too_many), "VALIDATION", "{too_many:#}");
}

#[tokio::test]
async fn report_exports_neutralise_formulas_and_escape_html() {
    let app = spawn_app().await;
    let requester = app.user("Ada", &["requester"]).await;
    let api = app.system("api", None).await;
    for (title, reason) in [
        (
            "=HYPERLINK(\"https://evil.example\",\"open\")",
            "@SUM(1+1)*cmd|' /C calc'!A0",
        ),
        (
            "<script>alert(1)</script> **bold**",
            "<img src=x onerror=alert(1)> | forged | cell |\n| forged | row |",
        ),
        ("-2+3", "+1"),
    ] {
        let id = implemented(
            &app,
            &requester.token,
            "emergency",
            ChangeOutcome::RolledBack,
            "2026-10-01T00:00:00Z",
            "2026-10-01T00:00:00Z",
            "2026-10-02T01:00:00Z",
            vec![api.clone()],
        )
        .await;
        // Straight into the store: the exports must be safe whatever the
        // inputs let through.
        change::Entity::update_many()
            .col_expr(change::Column::Title, Expr::value(title))
            .col_expr(change::Column::RollbackReason, Expr::value(reason))
            .filter(change::Column::Id.eq(crate::helpers::uuid_of(&id)))
            .exec(&app.db)
            .await
            .unwrap();
    }

    let csv = report(
        &app,
        "/reports/monthly?period=2026-10&format=csv&table=rollbacks",
    )
    .await;
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    let cells: Vec<String> = csv_cells(&csv);
    for expected in [
        "'=HYPERLINK(\"https://evil.example\",\"open\")",
        "'@SUM(1+1)*cmd|' /C calc'!A0",
        "'-2+3",
        "'+1",
    ] {
        assert!(
            cells.iter().any(|cell| cell == expected),
            "{expected} in {csv}"
        );
    }
    assert!(
        cells
            .iter()
            .all(|cell| !cell.starts_with(['=', '+', '-', '@', '\t', '\r'])),
        "{cells:?}"
    );

    let markdown = report(&app, "/reports/monthly?period=2026-10&format=md").await;
    assert_eq!(markdown.status(), 200);
    let markdown = markdown.text().await.unwrap();
    assert!(!markdown.contains("<script>"), "{markdown}");
    assert!(!markdown.contains("<img"), "{markdown}");
    assert!(
        markdown.contains("&lt;script&gt;alert(1)&lt;/script&gt; \\*\\*bold\\*\\*"),
        "{markdown}"
    );
    assert!(
        markdown.contains(
            "&lt;img src=x onerror=alert(1)&gt; \\| forged \\| cell \\| \\| forged \\| row \\|"
        ),
        "{markdown}"
    );
    // Every row of the rollbacks table still has its six cells.
    let rollbacks = markdown.split("## Rollbacks").nth(1).unwrap();
    let rows: Vec<&str> = rollbacks
        .lines()
        .filter(|line| line.starts_with('|'))
        .collect();
    assert_eq!(rows.len(), 2 + 3, "{rollbacks}");
    for row in rows {
        let separators = row.matches('|').count() - row.matches("\\|").count();
        assert_eq!(separators, 7, "{row}");
    }
}

/// The cells of a CSV file (RFC 4180 quoting), for the assertions above.
fn csv_cells(text: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',' | '\n', false) => cells.push(std::mem::take(&mut cell)),
            (c, _) => cell.push(c),
        }
    }
    if !cell.is_empty() {
        cells.push(cell);
    }
    cells
}

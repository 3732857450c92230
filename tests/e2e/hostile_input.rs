//! Hostile input over HTTP: odd, huge, unicode and injection-shaped values
//! in every kind of argument get VALIDATION (or a well-formed answer),
//! never INTERNAL, a 5xx or a panic.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, spawn_app};

fn nasty_strings() -> Vec<String> {
    vec![
        String::new(),
        " ".into(),
        "\u{0}".into(),
        "💥".repeat(5_000),
        "x".repeat(200_000),
        "'; DROP TABLE changes; --".into(),
        "%_\\".into(),
        "<script>alert(1)</script>".into(),
        "\u{202e}gnp.exe".into(),
        "CR-9999-99999999999999999999".into(),
        "2026-13-45T99:99:99Z".into(),
        "-1".into(),
    ]
}

#[tokio::test]
async fn hostile_values_never_cause_internal_errors() {
    let app = spawn_app().await;
    let requester = app.user("Rita", &["requester"]).await;
    let change = app.create_change(&requester.token, json!({})).await;
    let mut problems = Vec::new();
    let mut check = |what: String, response: Value| {
        let code = response["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("OK")
            .to_owned();
        if code == "INTERNAL" || response.is_null() {
            problems.push(format!("{what}: {response}"));
        }
    };
    for text in nasty_strings() {
        let short: String = text.chars().take(60).collect();
        let create = app
            .graphql(
                &requester.token,
                "mutation($t: String!) { createChange(input: {title: $t, description: $t, businessJustification: $t, type: $t, likelihood: 3, impact: 3, services: [$t]}) { id } }",
                json!({"t": text}),
            )
            .await;
        check(format!("createChange {short:?}"), create);
        let filter = app
            .graphql(&requester.token, "query($t: String) { changes(filter: {titleContains: $t, types: [$t]}) { totalCount } }", json!({"t": text}))
            .await;
        check(format!("changes filter {short:?}"), filter);
        let by_number = app
            .graphql(
                &requester.token,
                "query($t: String) { change(number: $t) { id } }",
                json!({"t": text}),
            )
            .await;
        check(format!("change(number) {short:?}"), by_number);
        let by_id = app
            .graphql(
                &requester.token,
                "query($t: ID) { change(id: $t) { id } }",
                json!({"t": text}),
            )
            .await;
        check(format!("change(id) {short:?}"), by_id);
        let evidence = app
            .graphql(
                &requester.token,
                "mutation($c: ID!, $t: String!) { recordEvidence(changeId: $c, input: {gate: $t, status: PASSED, summary: $t, url: $t}) { id } }",
                json!({"c": change["id"], "t": text}),
            )
            .await;
        check(format!("recordEvidence {short:?}"), evidence);
        let window = app
            .graphql(
                ADMIN_TOKEN,
                "mutation($t: String!) { createWindow(input: {name: $t, dtstart: $t, rrule: $t, durationMinutes: 60, timeZone: $t}, changeTypes: [$t]) { id } }",
                json!({"t": text}),
            )
            .await;
        check(format!("createWindow {short:?}"), window);
        let metrics = app
            .graphql(
                &requester.token,
                "query($t: String!) { metrics(from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\", granularity: MONTH, timeZone: $t) { implemented } }",
                json!({"t": text}),
            )
            .await;
        check(format!("metrics timeZone {short:?}"), metrics);
    }
    for (from, to) in [
        ("2026-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ] {
        let calendar = app
            .graphql(&requester.token, "query($f: DateTime!, $t: DateTime!) { calendar(from: $f, to: $t) { windows { name } } }", json!({"f": from, "t": to}))
            .await;
        check(format!("calendar {from}..{to}"), calendar);
        let metrics = app
            .graphql(&requester.token, "query($f: DateTime!, $t: DateTime!) { metrics(from: $f, to: $t, granularity: QUARTER) { implemented } }", json!({"f": from, "t": to}))
            .await;
        check(format!("metrics {from}..{to}"), metrics);
    }
    for number in [i64::MIN, -1, 0, 6, i64::from(i32::MAX) + 1] {
        let update = app
            .graphql(
                &requester.token,
                "mutation($c: ID!, $n: Int!) { updateChange(id: $c, expectedVersion: $n, input: {likelihood: $n, impact: $n}) { id } }",
                json!({"c": change["id"], "n": number}),
            )
            .await;
        check(format!("updateChange {number}"), update);
        let page = app
            .graphql(
                &requester.token,
                "query($n: Int) { changes(first: $n) { totalCount } }",
                json!({"n": number}),
            )
            .await;
        check(format!("changes(first: {number})"), page);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

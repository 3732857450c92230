//! No request can starve the others (issue #17, 4): calendar rules are
//! refused when their expansion would cost more than a change calendar
//! needs, expansion starts at the requested range (year 9999 answers like
//! next month), and heavy work runs off the async workers with a time
//! budget, so `/healthz` and other users are answered while it runs.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_TOKEN, TestApp, error_code, spawn_app},
    lifecycle::Flow,
};

/// Generous: answering at all within it is what is checked, never speed.
const ANSWERS_WITHIN: StdDuration = StdDuration::from_secs(120);

const CREATE_FREEZE: &str =
    "mutation($input: CalendarRuleInput!) { createFreeze(input: $input, kind: HARD) { id } }";
const CALENDAR: &str = "query($from: DateTime!, $to: DateTime!) { calendar(from: $from, to: $to) { windows { name start end } freezes { name start end } } }";

fn freeze(rrule: &str) -> Value {
    json!({"input": {"name": "Hostile", "dtstart": "2026-01-01T00:00", "rrule": rrule, "durationMinutes": 1, "timeZone": "UTC"}})
}

#[tokio::test]
async fn rules_finer_than_daily_or_without_occurrences_are_refused() {
    let app = spawn_app().await;
    // The default policy's calendar is the change manager's (seed 001 §9.2).
    let manager = app.user("Cal Manager", &["change_manager"]).await;
    let editor = manager.token.as_str();
    for rrule in [
        "FREQ=SECONDLY",
        "FREQ=MINUTELY",
        "FREQ=HOURLY",
        "FREQ=SECONDLY;INTERVAL=1;BYSECOND=0,30",
        // Daily, but 1,440 starts a day.
        "FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;BYMINUTE=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59",
        "FREQ=DAILY;COUNT=100000",
        // Never occurs: every expansion would spend the crate's whole step limit.
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    ] {
        let refused = app.graphql(editor, CREATE_FREEZE, freeze(rrule)).await;
        assert_eq!(error_code(&refused), "VALIDATION", "{rrule}: {refused:#}");
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], "rrule",
            "{rrule}"
        );
    }
    let secondly = app
        .graphql(editor, CREATE_FREEZE, freeze("FREQ=SECONDLY"))
        .await;
    assert!(
        secondly["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("DAILY, WEEKLY, MONTHLY or YEARLY"),
        "{secondly:#}"
    );
    // What a change calendar does need is still accepted.
    for rrule in [
        "FREQ=DAILY",
        "FREQ=DAILY;BYHOUR=2,14;BYMINUTE=0,30",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA",
        "FREQ=MONTHLY;BYDAY=1SU",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
    ] {
        app.data(editor, CREATE_FREEZE, freeze(rrule)).await;
    }
    let rules = app
        .data(ADMIN_TOKEN, "{ calendarRules { rrule } }", json!({}))
        .await;
    assert_eq!(
        rules["calendarRules"].as_array().unwrap().len(),
        5,
        "{rules}"
    );
}

fn starts(occurrences: &Value) -> Vec<DateTime<Utc>> {
    occurrences
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["start"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn calendar_and_suggestions_in_year_9999_answer_with_correct_results() {
    // tiered-cab: deployments Sunday-Thursday 02:00-06:00 UTC since 2025,
    // a Christmas/New Year hard freeze every year.
    let flow = Flow::new("tiered-cab").await;
    let app = &flow.app;
    // Eight starts a day since 2026: expanded from its first date, one day
    // in 9999 cost 23 million steps.
    let manager = flow.person("Cal Manager", &["change_manager"]).await;
    app.data(
        &manager.token,
        "mutation($input: CalendarRuleInput!) { createWindow(input: $input, changeTypes: [\"standard\"]) { id } }",
        json!({"input": {"name": "Every three hours", "dtstart": "2026-01-01T00:00", "rrule": "FREQ=DAILY;BYHOUR=0,3,6,9,12,15,18,21", "durationMinutes": 30, "timeZone": "UTC"}}),
    )
    .await;
    let view = tokio::time::timeout(
        ANSWERS_WITHIN,
        app.data(
            &flow.requester.token,
            CALENDAR,
            json!({"from": "9999-12-19T00:00:00Z", "to": "9999-12-31T23:59:59Z"}),
        ),
    )
    .await
    .expect("the calendar for December 9999 answers")["calendar"]
        .clone();
    let deployments: Vec<DateTime<Utc>> = starts(&view["windows"])
        .into_iter()
        .filter(|s| s.hour() == 2)
        .collect();
    // 19 December 9999 is a Sunday: Sunday-Thursday of the 19th and of the
    // 26th, ten deployment days.
    assert_eq!(deployments.len(), 10, "{view:#}");
    for start in &deployments {
        assert!(
            !matches!(start.weekday(), Weekday::Fri | Weekday::Sat),
            "{start}"
        );
        assert_eq!((start.year(), start.month(), start.minute()), (9999, 12, 0));
    }
    let every_three_hours = view["windows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["name"] == "Every three hours")
        .count();
    // 19 Dec 00:00 to 31 Dec 23:59: 13 days of 8 starts.
    assert_eq!(every_three_hours, 13 * 8);
    let freezes = starts(&view["freezes"]);
    assert_eq!(
        freezes,
        vec!["9999-12-24T00:00:00Z".parse::<DateTime<Utc>>().unwrap()],
        "{view:#}"
    );

    let change = flow.create("normal", json!({})).await;
    let slots = tokio::time::timeout(
        ANSWERS_WITHIN,
        app.data(
            &flow.requester.token,
            "query($id: ID!, $after: DateTime) { suggestSlots(changeId: $id, after: $after, count: 3) { start end } }",
            json!({"id": change["id"], "after": "9999-06-04T12:00:00Z"}),
        ),
    )
    .await
    .expect("suggestions in 9999 answer")["suggestSlots"]
        .clone();
    // 4 June 9999 is a Friday: the next deployment day is Sunday the 6th.
    assert_eq!(
        starts(&slots),
        [
            "9999-06-06T02:00:00Z",
            "9999-06-06T02:15:00Z",
            "9999-06-06T02:30:00Z"
        ]
        .map(|s| s.parse::<DateTime<Utc>>().unwrap())
        .to_vec(),
        "{slots:#}"
    );
    // Near the end of 9999 the horizon stops at the last supported instant.
    let late = app
        .data(
            &flow.requester.token,
            "query($id: ID!, $after: DateTime) { suggestSlots(changeId: $id, after: $after, count: 3) { start } }",
            json!({"id": change["id"], "after": "9999-12-29T12:00:00Z"}),
        )
        .await;
    assert_eq!(
        late["suggestSlots"],
        json!([]),
        "inside the freeze until the end"
    );

    // Before 1900 the calendar is not supported: VALIDATION naming the field.
    let ancient = app
        .graphql(
            &flow.requester.token,
            CALENDAR,
            json!({"from": "1899-12-31T00:00:00Z", "to": "1900-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(error_code(&ancient), "VALIDATION", "{ancient:#}");
    assert_eq!(ancient["errors"][0]["extensions"]["field"], "from");
}

/// Rules stored before they were checked (an upgrade keeps them): each one
/// never occurs, so every expansion spends the rrule crate's whole step
/// limit. Two hundred of them make one calendar query far heavier than its
/// time budget.
async fn store_never_occurring_freezes(app: &TestApp, count: usize) {
    for i in 0..count {
        entity::calendar_rule::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            kind: Set("FREEZE".into()),
            name: Set(format!("Legacy {i}")),
            dtstart: Set("2025-01-01T00:00:00".into()),
            rrule: Set(Some("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30".into())),
            duration_minutes: Set(60),
            time_zone: Set("UTC".into()),
            change_types: Set(json!([])),
            freeze_kind: Set(Some("HARD".into())),
            approver_roles: Set(json!([])),
            active: Set(true),
            created_by: Set(uuid::Uuid::nil()),
            created_at: Set(Utc::now()),
        }
        .insert(&app.db)
        .await
        .expect("legacy rule stored");
    }
}

#[tokio::test]
async fn a_heavy_request_leaves_health_checks_and_other_users_unaffected() {
    let app = spawn_app().await;
    let heavy_user = app.user("Hugo Heavy", &["requester"]).await;
    let other = app.user("Olga Other", &["requester"]).await;
    store_never_occurring_freezes(&app, 200).await;

    // The test runs on one runtime thread, shared with the server: work on
    // that thread would hold back everything below until it finished.
    let heavy = {
        let client = app.client.clone();
        let url = format!("{}/graphql", app.base_url);
        let token = heavy_user.token.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"query": CALENDAR, "variables": {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}}))
                .send()
                .await
                .expect("request sent")
                .json::<Value>()
                .await
                .expect("JSON response")
        })
    };
    // Let the heavy request reach its computation (not a timing assertion:
    // a slower start only makes the checks below easier).
    tokio::time::sleep(StdDuration::from_millis(500)).await;

    let health = tokio::time::timeout(
        ANSWERS_WITHIN,
        app.client.get(format!("{}/healthz", app.base_url)).send(),
    )
    .await
    .expect("/healthz answers")
    .expect("request sent");
    assert_eq!(health.status(), 200);
    let me = tokio::time::timeout(
        ANSWERS_WITHIN,
        app.data(&other.token, "{ me { email } }", json!({})),
    )
    .await
    .expect("another user's query answers");
    assert_eq!(me["me"]["email"], "olga.other@example.com");
    assert!(
        !heavy.is_finished(),
        "the health check and the other user were answered while the heavy request still ran"
    );

    // The heavy request ends at its budget with a stable code.
    let answered = tokio::time::timeout(ANSWERS_WITHIN, heavy)
        .await
        .expect("the heavy request answers")
        .unwrap();
    assert_eq!(error_code(&answered), "TIMEOUT", "{answered:#}");
    // And the server is as good as before.
    let again = app.data(&other.token, "{ me { email } }", json!({})).await;
    assert_eq!(again["me"]["email"], "olga.other@example.com");
}

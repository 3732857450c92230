//! The change calendar over HTTP: scheduling checks, suggestions, the
//! calendar query and the iCalendar feed read by an independent parser.

use std::io::Write;

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc, Weekday};
use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_TOKEN, error_code, python, uuid_of},
    lifecycle::{Flow, violations},
};

/// The next `weekday` at `hour`:00 UTC strictly after `after`.
fn next(after: DateTime<Utc>, weekday: Weekday, hour: u32) -> DateTime<Utc> {
    let mut day = after.date_naive();
    loop {
        let candidate = Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).unwrap());
        if day.weekday() == weekday && candidate > after {
            return candidate;
        }
        day = day.succ_opt().unwrap();
    }
}

async fn approved_normal(flow: &Flow, manager: &crate::helpers::TestUser, extra: Value) -> Value {
    let change = flow.create("normal", extra).await;
    flow.submit(&change["id"]).await;
    flow.verify_testing(&change["id"]).await;
    flow.approve(&manager.token, &change["id"]).await;
    change
}

async fn schedule(flow: &Flow, id: &Value, start: DateTime<Utc>, minutes: i64) -> Value {
    flow.call(
        &flow.requester.token,
        "scheduleChange(id: $id, start: $s, end: $e)",
        "$s: DateTime!, $e: DateTime!",
        json!({"id": id, "s": start.to_rfc3339(), "e": (start + Duration::minutes(minutes)).to_rfc3339()}),
    )
    .await
}

#[tokio::test]
async fn scheduling_checks_windows_freezes_and_conflicts_with_related_systems() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let cluster = flow.app.system("payments-cluster", None).await;
    let database = flow.app.system("payments-db", Some(&cluster)).await;
    let now = flow.app.clock.now();

    let first = approved_normal(&flow, &manager, json!({"systemIds": [database]})).await;
    // Saturday is outside Sunday-Thursday 02:00-06:00 UTC.
    let saturday = next(now, Weekday::Sat, 3);
    let refused = violations(&schedule(&flow, &first["id"], saturday, 60).await);
    assert_eq!(
        refused,
        vec!["outside every allowed window for normal changes (Standard deployment window)"]
    );
    // Running past 06:00 is outside too.
    let sunday = next(now, Weekday::Sun, 2);
    assert_eq!(
        violations(&schedule(&flow, &first["id"], sunday + Duration::hours(3), 120).await).len(),
        1
    );
    // Inside: accepted.
    let scheduled = schedule(&flow, &first["id"], sunday, 60).await;
    assert_eq!(
        scheduled["data"]["scheduleChange"]["status"], "SCHEDULED",
        "{scheduled:#}"
    );

    // A change on the parent system overlapping in time conflicts, named.
    let second = approved_normal(&flow, &manager, json!({"systemIds": [cluster]})).await;
    let conflict =
        violations(&schedule(&flow, &second["id"], sunday + Duration::minutes(30), 60).await);
    assert_eq!(conflict.len(), 1, "{conflict:?}");
    assert!(
        conflict[0].starts_with(&format!(
            "conflict with {} on payments-db",
            first["number"].as_str().unwrap()
        )),
        "{conflict:?}"
    );
    // Adjacent is fine.
    let adjacent = schedule(&flow, &second["id"], sunday + Duration::hours(1), 60).await;
    assert_eq!(
        adjacent["data"]["scheduleChange"]["status"], "SCHEDULED",
        "{adjacent:#}"
    );

    // The Christmas/New Year hard freeze: only emergencies.
    let third = approved_normal(&flow, &manager, json!({})).await;
    let year = now.year();
    let christmas = next(
        Utc.with_ymd_and_hms(year, 12, 26, 0, 0, 0).unwrap() - Duration::days(1),
        Weekday::Sun,
        2,
    );
    let christmas =
        if christmas < Utc.with_ymd_and_hms(year, 12, 24, 0, 0, 0).unwrap() + Duration::days(9) {
            christmas
        } else {
            next(
                Utc.with_ymd_and_hms(year, 12, 24, 0, 0, 0).unwrap(),
                Weekday::Mon,
                2,
            )
        };
    let frozen = violations(&schedule(&flow, &third["id"], christmas, 60).await);
    assert!(
        frozen
            .iter()
            .any(|v| v.starts_with("hard freeze: Christmas/New Year freeze")),
        "{frozen:?}"
    );

    // suggestSlots offers only slots that pass every check.
    let slots = flow
        .app
        .data(
            &flow.requester.token,
            "query($id: ID!, $after: DateTime) { suggestSlots(changeId: $id, after: $after, count: 3) { start end } }",
            json!({"id": second["id"], "after": sunday.to_rfc3339()}),
        )
        .await["suggestSlots"]
        .clone();
    let slots = slots.as_array().unwrap();
    assert_eq!(slots.len(), 3);
    for slot in slots {
        let start: DateTime<Utc> = slot["start"].as_str().unwrap().parse().unwrap();
        // Not overlapping the change already booked on payments-db at
        // `sunday` (its own slot at sunday+1h does not count).
        assert!(start >= sunday + Duration::hours(1), "{slot}");
        assert!(!matches!(start.weekday(), Weekday::Fri | Weekday::Sat));
    }
}

#[tokio::test]
async fn run_time_windows_and_freezes_are_validated_and_enforced() {
    let flow = Flow::new("weekly-cab").await;
    let create = "mutation($input: CalendarRuleInput!, $kind: FreezeKind!) { createFreeze(input: $input, kind: $kind) { id kind freezeKind } }";
    let bad_rule = flow
        .app
        .graphql(ADMIN_TOKEN, create, json!({"input": {"name": "x", "dtstart": "2026-12-01T00:00", "rrule": "FREQ=SOMETIMES", "durationMinutes": 60, "timeZone": "UTC"}, "kind": "HARD"}))
        .await;
    assert_eq!(bad_rule["errors"][0]["extensions"]["field"], "rrule");
    let bad_zone = flow
        .app
        .graphql(ADMIN_TOKEN, create, json!({"input": {"name": "x", "dtstart": "2026-12-01T00:00", "durationMinutes": 60, "timeZone": "Mars/Olympus"}, "kind": "HARD"}))
        .await;
    assert_eq!(bad_zone["errors"][0]["extensions"]["field"], "timeZone");
    let requester_attempt = flow
        .app
        .graphql(
            &flow.person("Pat", &["requester"]).await.token,
            create,
            json!({"input": {"name": "x", "dtstart": "2026-12-01T00:00", "durationMinutes": 60, "timeZone": "UTC"}, "kind": "HARD"}),
        )
        .await;
    assert_eq!(error_code(&requester_attempt), "FORBIDDEN");

    // A one-off hard freeze over Black Friday week in New York.
    let now = flow.app.clock.now();
    let start = (now + Duration::days(3))
        .format("%Y-%m-%dT00:00")
        .to_string();
    let freeze = flow
        .app
        .data(ADMIN_TOKEN, create, json!({"input": {"name": "Black Friday", "dtstart": start, "durationMinutes": 7 * 24 * 60, "timeZone": "America/New_York"}, "kind": "HARD"}))
        .await;
    assert_eq!(freeze["createFreeze"]["freezeKind"], "HARD");
    let window = flow
        .app
        .data(
            ADMIN_TOKEN,
            "mutation($input: CalendarRuleInput!) { createWindow(input: $input, changeTypes: [\"standard\"]) { id } }",
            json!({"input": {"name": "Weeknights", "dtstart": "2026-01-05T22:00", "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "durationMinutes": 180, "timeZone": "Europe/Berlin"}}),
        )
        .await;
    assert!(window["createWindow"]["id"].is_string());

    let view = flow
        .app
        .data(
            &flow.requester.token,
            "query($from: DateTime!, $to: DateTime!) { calendar(from: $from, to: $to) { windows { name start end } freezes { name freezeKind start } } }",
            json!({"from": now.to_rfc3339(), "to": (now + Duration::days(14)).to_rfc3339()}),
        )
        .await["calendar"]
        .clone();
    assert_eq!(view["freezes"].as_array().unwrap().len(), 1);
    assert_eq!(view["freezes"][0]["name"], "Black Friday");
    let weeknights = view["windows"].as_array().unwrap();
    assert!((9..=11).contains(&weeknights.len()), "{weeknights:?}");
    for occurrence in weeknights {
        let start: DateTime<Utc> = occurrence["start"].as_str().unwrap().parse().unwrap();
        // 22:00 Berlin is 21:00 UTC in winter.
        assert_eq!(start.format("%H:%M").to_string(), "21:00");
    }
    let too_long = flow
        .app
        .graphql(
            &flow.requester.token,
            "query($from: DateTime!, $to: DateTime!) { calendar(from: $from, to: $to) { windows { name } } }",
            json!({"from": now.to_rfc3339(), "to": (now + Duration::days(1000)).to_rfc3339()}),
        )
        .await;
    assert_eq!(error_code(&too_long), "VALIDATION");
}

fn parse_feed(body: &str) -> Value {
    parse_feed_with(body, &[])
}

/// The feed as Python's icalendar reads it; with `[from, to]` also every
/// event's instances in that range, expanded by recurring_ical_events.
fn parse_feed_with(body: &str, range: &[&str]) -> Value {
    let mut child = std::process::Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/parse_ical.py"
        ))
        .args(range)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the parser rejected the feed:\n{body}"
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The feed as ical.js reads it: the VTIMEZONEs it defines and, per UID,
/// the zone of the start and the instances in `[from, to)`. Run in UTC, so
/// a TZID without a VTIMEZONE would read as UTC.
fn read_with_ical_js(body: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    crate::subscriptions::ensure_node_modules();
    let mut child = std::process::Command::new("node")
        .arg("ical_expand.mjs")
        .current_dir(crate::subscriptions::node_dir())
        .env("TZ", "UTC")
        .env("FROM", from.to_rfc3339())
        .env("TO", to.to_rfc3339())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs (Node.js 20+ is required for this test)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "ical.js rejected the feed: {}\n{body}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A feed URL of a new feed token of `user`.
async fn feed_url(flow: &Flow, user: &crate::helpers::TestUser) -> (String, Value) {
    let issued = flow
        .app
        .data(
            &user.token,
            "mutation { issueFeedToken(name: \"Outlook\") { secret path token { id } } }",
            json!({}),
        )
        .await["issueFeedToken"]
        .clone();
    let url = format!("{}{}", flow.app.base_url, issued["path"].as_str().unwrap());
    (url, issued)
}

/// GET with the given request headers: status, response headers, body.
async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, String) {
    let client = reqwest::Client::new();
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn the_ical_feed_parses_with_an_independent_parser() {
    let flow = Flow::new("cab-quorum").await;
    let board = flow.board(4).await;
    let api = flow.app.system("api", None).await;
    let web = flow.app.system("web", None).await;
    let change = flow
        .create(
            "normal",
            json!({"title": "Upgrade API gateway", "systemIds": [api], "likelihood": 4, "impact": 4,
        "residualLikelihood": 4, "residualImpact": 4}),
        )
        .await;
    let id = &change["id"];
    flow.submit(id).await;
    for member in &board[1..4] {
        flow.approve(&member.token, id).await;
    }
    // 7 days' notice, inside the monthly window: ask for suggestions.
    assert_eq!(
        flow.schedule(id, 0).await["data"]["scheduleChange"]["status"],
        "SCHEDULED"
    );
    let tentative = flow
        .create("normal", json!({"title": "Web tweak", "systemIds": [web], "plannedStart": "2027-02-07T07:00:00Z", "plannedEnd": "2027-02-07T08:00:00Z"}))
        .await;
    flow.submit(&tentative["id"]).await;

    let (url, issued) = feed_url(&flow, &flow.requester).await;
    let fetch = |url: String| async move {
        let (status, headers, body) = get(&url, &[]).await;
        let content_type = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, content_type, body)
    };
    let (status, content_type, body) = fetch(url.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        content_type.as_deref(),
        Some("text/calendar; charset=utf-8")
    );
    for property in ["VERSION:", "PRODID:", "METHOD:"] {
        assert_eq!(
            body.lines().filter(|l| l.starts_with(property)).count(),
            1,
            "exactly one {property}"
        );
    }
    let feed = parse_feed(&body);
    assert_eq!(feed["VERSION"], "2.0");
    assert_eq!(feed["METHOD"], "PUBLISH");
    assert!(feed["PRODID"].as_str().unwrap().contains("Gatehouse"));
    assert!(feed["NAME"].as_str().unwrap().contains("Gatehouse"));
    assert!(feed["REFRESH-INTERVAL"].is_string());
    let events = feed["events"].as_array().unwrap();
    let find = |uid_prefix: &str| {
        events
            .iter()
            .find(|e| e["uid"].as_str().unwrap().starts_with(uid_prefix))
            .cloned()
    };
    let scheduled =
        find(&uuid_of(change["id"].as_str().unwrap()).to_string()).expect("the scheduled change");
    assert_eq!(scheduled["status"], "CONFIRMED");
    assert_eq!(scheduled["sequence"], 1);
    assert_eq!(scheduled["categories"], json!(["normal", "CRITICAL"]));
    assert!(
        scheduled["summary"]
            .as_str()
            .unwrap()
            .starts_with(change["number"].as_str().unwrap())
    );
    assert!(scheduled["dtstamp"].is_object() && scheduled["url"].is_string());
    let planned =
        find(&uuid_of(tentative["id"].as_str().unwrap()).to_string()).expect("the planned change");
    assert_eq!(planned["status"], "TENTATIVE");
    assert_eq!(planned["dtstart"]["utc"], "2027-02-07T07:00:00+00:00");
    let window = find("window-").expect("the maintenance window");
    assert_eq!(window["rrule"], "FREQ=MONTHLY;BYDAY=1SU");
    assert_eq!(window["dtstart"]["tzid"], "America/New_York");
    assert_eq!(
        window["dtstart"]["value"].as_str().unwrap()[11..16],
        *"02:00"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["uid"].as_str().unwrap().starts_with("window-"))
            .count(),
        1,
        "one recurring event, not copies"
    );

    // Rescheduling bumps SEQUENCE and keeps the UID; cancelling marks it.
    assert_eq!(
        flow.schedule(id, 24 * 40).await["data"]["scheduleChange"]["status"],
        "SCHEDULED"
    );
    let again = parse_feed(&fetch(url.clone()).await.2);
    let moved = again["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["uid"] == scheduled["uid"])
        .unwrap()
        .clone();
    assert_eq!(moved["sequence"], 2);
    assert_ne!(moved["dtstart"], scheduled["dtstart"]);
    flow.call(
        &flow.requester.token,
        "cancelChange(id: $id, reason: $r)",
        "$r: String!",
        json!({"id": id, "r": "superseded"}),
    )
    .await;
    let cancelled = parse_feed(&fetch(url.clone()).await.2);
    let gone = cancelled["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["uid"] == scheduled["uid"])
        .unwrap()
        .clone();
    assert_eq!(
        (gone["status"].as_str(), gone["sequence"].as_i64()),
        (Some("CANCELLED"), Some(3))
    );

    // Filters by system and type.
    let by_system = parse_feed(&fetch(format!("{url}&system={web}")).await.2);
    let uids: Vec<String> = by_system["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uid"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        uids.iter()
            .any(|u| u.starts_with(&uuid_of(tentative["id"].as_str().unwrap()).to_string()))
    );
    assert!(
        !uids
            .iter()
            .any(|u| u.starts_with(change["id"].as_str().unwrap()))
    );
    // cab-quorum's window binds normal changes only, and an emergency
    // fits no window: an emergency calendar is empty, time zones and all.
    let by_type = parse_feed(&fetch(format!("{url}&type=emergency")).await.2);
    assert_eq!(
        (&by_type["events"], &by_type["timezones"]),
        (&json!([]), &json!([]))
    );
    let normal = parse_feed(&fetch(format!("{url}&type=normal")).await.2);
    let uids: Vec<&str> = normal["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uid"].as_str().unwrap())
        .collect();
    assert!(uids.contains(&window["uid"].as_str().unwrap()), "{uids:?}");
    assert_eq!(normal["timezones"], json!(["America/New_York"]));

    // No token, a bearer token, or a revoked feed token: 401.
    assert_eq!(
        fetch(format!("{}/calendar.ics", flow.app.base_url)).await.0,
        401
    );
    assert_eq!(
        fetch(format!(
            "{}/calendar.ics?token={}",
            flow.app.base_url, flow.requester.token
        ))
        .await
        .0,
        401
    );
    flow.app
        .data(
            &flow.requester.token,
            "mutation($id: ID!) { revokeFeedToken(id: $id) { revokedAt } }",
            json!({"id": issued["token"]["id"]}),
        )
        .await;
    assert_eq!(fetch(url).await.0, 401);
}

/// Instances per window or freeze name, in UTC, sorted: what the server's
/// `calendar` answers and what a client expands the feed to.
type Expansion = std::collections::BTreeMap<String, Vec<(DateTime<Utc>, DateTime<Utc>)>>;

fn instant(text: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// The rule's name in a window's or freeze's SUMMARY ("Window: Ops (normal)",
/// "Change freeze (hard): Year end"); `None` for a change.
fn rule_name(summary: &str) -> Option<String> {
    if let Some(rest) = summary.strip_prefix("Window: ") {
        return rest.rsplit_once(" (").map(|(name, _)| name.to_owned());
    }
    summary
        .strip_prefix("Change freeze (")
        .and_then(|rest| rest.split_once("): "))
        .map(|(_, name)| name.to_owned())
}

/// RFC 5545 requires a VTIMEZONE for every TZID; without one ical.js reads
/// "02:00 America/New_York" as floating and every New York window moves by
/// four or five hours. ical.js (the feed's VTIMEZONEs only), Python's
/// icalendar with recurring_ical_events (its own tz database, and dateutil
/// reading the feed's VTIMEZONEs) and the server's `calendar` answer must
/// expand the feed alike over 400 days, across the DST changes of New York
/// and Berlin; windows whose names a slug runs together, or that share a
/// name, keep UIDs of their own, the same on every request.
#[tokio::test]
async fn standard_clients_expand_the_feed_as_the_server_does() {
    let flow = Flow::new("cab-quorum").await;
    let window = "mutation($input: CalendarRuleInput!, $types: [String!]!) { createWindow(input: $input, changeTypes: $types) { id } }";
    for (name, dtstart, rrule, minutes, zone, types) in [
        (
            "Ops window",
            "2026-01-03T20:00",
            "FREQ=WEEKLY;BYDAY=SA",
            180,
            "America/New_York",
            ["normal"],
        ),
        (
            "Ops-window",
            "2026-01-06T22:00",
            "FREQ=WEEKLY;BYDAY=TU",
            120,
            "Europe/Berlin",
            ["standard"],
        ),
        (
            "Maintenance",
            "2026-01-15T03:00",
            "FREQ=MONTHLY;BYMONTHDAY=15",
            60,
            "Asia/Tokyo",
            ["normal"],
        ),
        (
            "Maintenance",
            "2026-01-07T12:00",
            "FREQ=WEEKLY;BYDAY=WE",
            60,
            "UTC",
            ["standard"],
        ),
    ] {
        let created = flow
            .app
            .data(
                ADMIN_TOKEN,
                window,
                json!({"input": {"name": name, "dtstart": dtstart, "rrule": rrule, "durationMinutes": minutes, "timeZone": zone}, "types": types}),
            )
            .await;
        assert!(created["createWindow"]["id"].is_string(), "{created}");
    }
    let freeze = flow
        .app
        .data(
            ADMIN_TOKEN,
            "mutation($input: CalendarRuleInput!) { createFreeze(input: $input, kind: HARD) { id } }",
            json!({"input": {"name": "Year end", "dtstart": "2025-12-20T00:00", "rrule": "FREQ=YEARLY", "durationMinutes": 10 * 24 * 60, "timeZone": "America/New_York"}}),
        )
        .await;
    assert!(freeze["createFreeze"]["id"].is_string(), "{freeze}");

    let from = flow.app.clock.now();
    let to = from + Duration::days(400);
    let view = flow
        .app
        .data(
            &flow.requester.token,
            "query($from: DateTime!, $to: DateTime!) { calendar(from: $from, to: $to) { windows { name start end } freezes { name start end } } }",
            json!({"from": from.to_rfc3339(), "to": to.to_rfc3339()}),
        )
        .await["calendar"]
        .clone();
    let mut server = Expansion::new();
    for occurrence in view["windows"]
        .as_array()
        .unwrap()
        .iter()
        .chain(view["freezes"].as_array().unwrap())
    {
        server
            .entry(occurrence["name"].as_str().unwrap().to_owned())
            .or_default()
            .push((instant(&occurrence["start"]), instant(&occurrence["end"])));
    }
    for instances in server.values_mut() {
        instances.sort();
    }
    assert_eq!(server.len(), 5, "{server:#?}");
    // The range crosses New York's DST changes: 20:00 local is 00:00 UTC
    // in summer and 01:00 UTC in winter.
    let hours: std::collections::BTreeSet<u32> = server["Ops window"]
        .iter()
        .map(|(start, _)| start.hour())
        .collect();
    assert_eq!(hours, [0, 1].into(), "{server:#?}");

    let (url, _) = feed_url(&flow, &flow.requester).await;
    let (status, _, body) = get(&url, &[]).await;
    assert_eq!(status, 200, "{body}");
    let (from_text, to_text) = (from.to_rfc3339(), to.to_rfc3339());
    let python = parse_feed_with(&body, &[&from_text, &to_text]);
    let ical_js = read_with_ical_js(&body, from, to);

    // Every TZID the feed names is defined, once, for both readers.
    let zones = json!(["America/New_York", "Asia/Tokyo", "Europe/Berlin", "UTC"]);
    assert_eq!(python["timezones"], zones);
    assert_eq!(ical_js["timezones"], zones);

    // Names by UID, and every UID different.
    let mut names = std::collections::BTreeMap::new();
    for event in python["events"].as_array().unwrap() {
        let uid = event["uid"].as_str().unwrap().to_owned();
        if let Some(name) = rule_name(event["summary"].as_str().unwrap()) {
            assert!(names.insert(uid, name).is_none(), "{:#}", python["events"]);
        }
    }
    assert_eq!(names.len(), 6, "{names:#?}");
    assert_eq!(
        names.values().filter(|n| *n == "Maintenance").count(),
        2,
        "{names:#?}"
    );

    let mut by_python = Expansion::new();
    let mut by_ical_js = Expansion::new();
    for (uid, name) in &names {
        for found in python["instances"][uid].as_array().unwrap() {
            let start = instant(&found["start"]);
            assert_eq!(
                instant(&found["start_by_vtimezone"]),
                start,
                "dateutil reads {uid}'s VTIMEZONE as the tz database does"
            );
            by_python
                .entry(name.clone())
                .or_default()
                .push((start, instant(&found["end"])));
        }
        let read = &ical_js["events"][uid];
        assert_ne!(read["zone"], "floating", "{uid}: {read}");
        for found in read["instances"].as_array().unwrap() {
            by_ical_js
                .entry(name.clone())
                .or_default()
                .push((instant(&found["start"]), instant(&found["end"])));
        }
    }
    for expansion in [&mut by_python, &mut by_ical_js] {
        for instances in expansion.values_mut() {
            instances.sort();
        }
    }
    assert_eq!(by_python, server, "recurring_ical_events and the server");
    assert_eq!(by_ical_js, server, "ical.js and the server");

    // The same UIDs, and the same feed, on the next request.
    let (_, _, again) = get(&url, &[]).await;
    assert_eq!(again, body);
}

/// `type=` keeps the windows and freezes that bind the types asked for,
/// and conditional GETs answer 304 while the feed is what the client has:
/// by ETag (If-None-Match decides when sent) or by date, and not once a
/// freeze is retired, which removes content without leaving a newer item.
#[tokio::test]
async fn the_feed_filters_rules_by_type_and_answers_conditional_requests() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let created = flow
        .app
        .data(
            &manager.token,
            "mutation($input: CalendarRuleInput!) { createFreeze(input: $input, kind: HARD) { id } }",
            json!({"input": {"name": "Launch", "dtstart": "2026-06-01T00:00", "durationMinutes": 24 * 60, "timeZone": "Europe/Berlin"}}),
        )
        .await;
    let launch = created["createFreeze"]["id"].clone();
    flow.app
        .data(
            &manager.token,
            "mutation($input: CalendarRuleInput!) { createWindow(input: $input, changeTypes: [\"standard\"]) { id } }",
            json!({"input": {"name": "Standard nights", "dtstart": "2026-01-05T22:00", "rrule": "FREQ=DAILY", "durationMinutes": 60, "timeZone": "America/New_York"}}),
        )
        .await;
    let (url, _) = feed_url(&flow, &flow.requester).await;
    let rules = |body: &str| {
        let mut names: Vec<String> = parse_feed(body)["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| rule_name(e["summary"].as_str().unwrap()))
            .collect();
        names.sort();
        names
    };
    let all = [
        "Christmas/New Year freeze",
        "Launch",
        "Standard deployment window",
        "Standard nights",
    ];
    for (types, expected) in [
        ("standard", &all[..]),
        (
            "major",
            &[
                "Christmas/New Year freeze",
                "Launch",
                "Standard deployment window",
            ][..],
        ),
        // Emergencies fit no window, and tiered-cab's are held to what a
        // freeze asks of them ([change_type.in_freeze]).
        ("emergency", &["Christmas/New Year freeze", "Launch"][..]),
        ("standard,emergency", &all[..]),
    ] {
        let (_, _, body) = get(&format!("{url}&type={types}"), &[]).await;
        assert_eq!(rules(&body), expected, "type={types}");
    }

    let (status, headers, body) = get(&url, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(rules(&body), all);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 66, "{etag}");
    let (_, filtered, _) = get(&format!("{url}&type=major"), &[]).await;
    assert_ne!(filtered["etag"], etag.as_str());
    for if_none_match in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        let (status, headers, body) = get(&url, &[("if-none-match", &if_none_match)]).await;
        assert_eq!((status, body.as_str()), (304, ""), "{if_none_match}");
        assert_eq!(headers["etag"], etag.as_str());
        assert!(headers.contains_key("last-modified"));
    }
    assert_eq!(get(&url, &[("if-none-match", "\"other\"")]).await.0, 200);

    // The date announced right after a write is older than the write (a
    // write committing in the same second must not share it); once writes
    // have settled it is the last write's, and sent back it is answered
    // 304.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (_, settled, _) = get(&url, &[]).await;
    let settled = settled["last-modified"].to_str().unwrap().to_owned();
    let (status, headers, body) = get(&url, &[("if-modified-since", &settled)]).await;
    assert_eq!((status, body.as_str()), (304, ""));
    assert_eq!(headers["etag"], etag.as_str());
    // If-None-Match decides when both are sent.
    let both = [
        ("if-modified-since", settled.as_str()),
        ("if-none-match", "\"other\""),
    ];
    assert_eq!(get(&url, &both).await.0, 200);

    flow.app
        .data(
            &manager.token,
            "mutation($id: ID!) { retireCalendarRule(id: $id) { id } }",
            json!({"id": launch}),
        )
        .await;
    let (status, headers, body) = get(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(status, 200);
    assert_ne!(headers["etag"], etag.as_str());
    assert!(!rules(&body).contains(&"Launch".to_owned()));
    assert_eq!(get(&url, &[("if-modified-since", &settled)]).await.0, 200);
}

/// A freeze created after a change was scheduled binds it: the pipeline's
/// `gateStatus` says so and implementation cannot start until the freeze is
/// retired (seed 001 §6.3, "only emergency changes allowed").
#[tokio::test]
async fn a_freeze_added_after_scheduling_stops_the_start() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let pipeline = flow.person("CI Pipeline", &["pipeline"]).await;
    let change = approved_normal(&flow, &manager, json!({})).await;
    let id = &change["id"];
    let scheduled = flow.schedule(id, 1).await;
    assert!(scheduled.get("errors").is_none(), "{scheduled:#}");
    flow.pass(id, &["deployment_preparation"]).await;
    let slot_start: DateTime<Utc> = flow
        .app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { scheduledStart } }",
            json!({"id": id}),
        )
        .await["change"]["scheduledStart"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let freeze = flow
        .app
        .data(
            &manager.token,
            "mutation($input: CalendarRuleInput!) { createFreeze(input: $input, kind: HARD) { id blocks } }",
            json!({"input": {"name": "Customer launch", "dtstart": (slot_start - Duration::hours(1)).format("%Y-%m-%dT%H:%M").to_string(), "durationMinutes": 24 * 60, "timeZone": "UTC"}}),
        )
        .await;
    let freeze_id = freeze["createFreeze"]["id"].clone();
    // The change manager learns at once which scheduled changes now stop,
    // and the calendar shows it on the freeze.
    assert_eq!(freeze["createFreeze"]["blocks"], json!([change["number"]]));
    let view = flow
        .app
        .data(
            &flow.requester.token,
            "query($from: DateTime!, $to: DateTime!) { calendar(from: $from, to: $to) { freezes { name blocks } } }",
            json!({"from": slot_start.to_rfc3339(), "to": (slot_start + Duration::days(1)).to_rfc3339()}),
        )
        .await;
    assert_eq!(
        view["calendar"]["freezes"],
        json!([{"name": "Customer launch", "blocks": [change["number"]]}])
    );

    flow.advance_to_start(id).await;
    let query = "query($n: String!) { gateStatus(number: $n) { mayDeploy reasons reasonCodes } }";
    let vars = json!({"n": change["number"]});
    let gate = flow.app.data(&pipeline.token, query, vars.clone()).await["gateStatus"].clone();
    assert_eq!(gate["mayDeploy"], false, "{gate}");
    assert_eq!(gate["reasonCodes"], json!(["HARD_FREEZE"]), "{gate}");
    assert!(
        gate["reasons"][0]
            .as_str()
            .unwrap()
            .contains("Customer launch"),
        "{gate}"
    );
    let refused = flow.start(id).await;
    assert_eq!(
        crate::lifecycle::violation_codes(&refused),
        ["HARD_FREEZE"],
        "{refused:#}"
    );
    assert_eq!(flow.get(id).await["status"], "SCHEDULED");

    flow.app
        .data(
            &manager.token,
            "mutation($id: ID!) { retireCalendarRule(id: $id) { id } }",
            json!({"id": freeze_id}),
        )
        .await;
    let ready = flow.app.data(&pipeline.token, query, vars).await["gateStatus"].clone();
    assert_eq!(ready["mayDeploy"], true, "{ready}");
    let started = flow.start(id).await;
    assert!(started.get("errors").is_none(), "{started:#}");
    assert_eq!(flow.get(id).await["status"], "IMPLEMENTING");
}

/// A soft freeze is opened by the roles it names, who need not approve the
/// change's type: the CFO lets an approved normal change into a soft
/// freeze the change manager declared with `approverRoles: ["cfo"]`.
#[tokio::test]
async fn a_soft_freeze_is_opened_by_its_own_approvers() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let cfo = flow.person("Fay CFO", &["cfo"]).await;
    let now = flow.app.clock.now();
    let freeze = flow
        .app
        .data(
            &manager.token,
            "mutation($input: CalendarRuleInput!) { createFreeze(input: $input, kind: SOFT, approverRoles: [\"cfo\"]) { id } }",
            json!({"input": {"name": "Quarter close", "dtstart": (now - Duration::hours(1)).format("%Y-%m-%dT%H:%M").to_string(), "durationMinutes": 14 * 24 * 60, "timeZone": "UTC"}}),
        )
        .await;
    assert!(freeze["createFreeze"]["id"].is_string(), "{freeze}");
    let change = approved_normal(&flow, &manager, json!({})).await;
    let id = &change["id"];
    // Monday 03:00 UTC is inside the Sunday-Thursday window.
    let monday = next(now, Weekday::Mon, 3);
    let refused = schedule(&flow, id, monday, 60).await;
    assert_eq!(
        crate::lifecycle::violation_codes(&refused),
        ["SOFT_FREEZE"],
        "{refused:#}"
    );

    // The CFO approves no change type, yet grants the freeze's approval.
    let decide = flow.decide(&cfo.token, id, "APPROVE").await;
    assert!(decide.to_string().contains("NOT_AN_APPROVER"), "{decide:#}");
    let entry = "approveFreezeEntry(changeId: $id, comment: \"quarter-close risk accepted\")";
    let by_requester = flow
        .call(&flow.requester.token, entry, "", json!({"id": id}))
        .await;
    assert!(
        crate::lifecycle::violation_codes(&by_requester).contains(&"SELF_APPROVAL".to_owned()),
        "{by_requester:#}"
    );
    let by_manager = flow
        .call(&manager.token, entry, "", json!({"id": id}))
        .await;
    assert!(
        crate::lifecycle::violation_codes(&by_manager).contains(&"NOT_AN_APPROVER".to_owned()),
        "{by_manager:#}"
    );
    let granted = flow.call(&cfo.token, entry, "", json!({"id": id})).await;
    assert!(granted.get("errors").is_none(), "{granted:#}");
    assert_eq!(granted["data"]["approveFreezeEntry"]["status"], "APPROVED");

    let scheduled = schedule(&flow, id, monday, 60).await;
    assert!(scheduled.get("errors").is_none(), "{scheduled:#}");
    flow.pass(id, &["deployment_preparation"]).await;
    flow.advance_to_start(id).await;
    let started = flow.start(id).await;
    assert_eq!(
        started["data"]["startImplementation"]["status"], "IMPLEMENTING",
        "{started:#}"
    );
}

/// The next 24 December 12:00 UTC at least a day after `now`, minus
/// `days_before` days: the tests reach the Christmas freeze by moving the
/// clock forward from wherever today is.
fn next_christmas_eve(now: DateTime<Utc>, days_before: i64) -> DateTime<Utc> {
    let mut year = now.year();
    loop {
        let eve = Utc.with_ymd_and_hms(year, 12, 24, 12, 0, 0).unwrap();
        let target = eve - Duration::days(days_before);
        if target > now + Duration::days(1) {
            return target;
        }
        year += 1;
    }
}

/// Seed 001 §6.3 "During Change Freeze: Only emergency changes allowed;
/// CAB approval required for all changes; Additional testing required".
/// An emergency outside the freeze starts on its own tests; during the
/// Christmas freeze it waits until a quorum and a majority of the CAB's
/// voting members approve the start and the additional testing is on
/// record, and those entry approvals are not its retroactive approval.
#[tokio::test]
async fn an_emergency_during_a_freeze_waits_for_the_cab_and_the_additional_testing() {
    let flow = Flow::new("tiered-cab").await;
    let pipeline = flow.person("CI Pipeline", &["pipeline"]).await;
    let board = flow.board(4).await;
    let gate_status = |number: Value| {
        let flow = &flow;
        let token = pipeline.token.clone();
        async move {
            flow.app
                .data(
                    &token,
                    "query($n: String!) { gateStatus(number: $n) { mayDeploy reasons reasonCodes } }",
                    json!({"n": number}),
                )
                .await["gateStatus"]
                .clone()
        }
    };
    let emergency = || async {
        let change = flow.create("emergency", json!({})).await;
        flow.submit(&change["id"]).await;
        flow.pass(&change["id"], &["unit_tests"]).await;
        change
    };

    // Four days before the freeze: nothing beyond the type's own gates.
    let before = flow.app.clock.now();
    flow.app
        .clock
        .advance(next_christmas_eve(before, 4) - before);
    let outside = emergency().await;
    let ready = gate_status(outside["number"].clone()).await;
    assert_eq!(ready["mayDeploy"], true, "{ready}");

    // 26 December, inside the freeze.
    flow.app.clock.advance(Duration::days(6));
    let change = emergency().await;
    let id = &change["id"];
    let blocked = gate_status(change["number"].clone()).await;
    assert_eq!(blocked["mayDeploy"], false, "{blocked}");
    assert_eq!(
        blocked["reasonCodes"],
        json!(["FREEZE_APPROVAL_MISSING", "GATE_MISSING"]),
        "{blocked}"
    );
    let reasons = blocked["reasons"].to_string();
    assert!(reasons.contains("Christmas/New Year freeze"), "{reasons}");
    assert!(reasons.contains("freeze_additional_testing"), "{reasons}");
    let refused = flow.start(id).await;
    assert_eq!(
        crate::lifecycle::violation_codes(&refused),
        ["FREEZE_APPROVAL_MISSING", "GATE_MISSING"],
        "{refused:#}"
    );

    let entry = "approveFreezeEntry(changeId: $id, comment: \"customer data at risk\")";
    let own = flow
        .call(&flow.requester.token, entry, "", json!({"id": id}))
        .await;
    assert!(
        crate::lifecycle::violation_codes(&own).contains(&"SELF_APPROVAL".to_owned()),
        "{own:#}"
    );
    for member in &board[..2] {
        let granted = flow.call(&member.token, entry, "", json!({"id": id})).await;
        assert!(granted.get("errors").is_none(), "{granted:#}");
    }
    let twice = flow
        .call(&board[0].token, entry, "", json!({"id": id}))
        .await;
    assert_eq!(
        crate::lifecycle::violation_codes(&twice),
        ["ALREADY_DECIDED"],
        "{twice:#}"
    );
    let short = gate_status(change["number"].clone()).await;
    assert_eq!(
        short["reasonCodes"],
        json!(["FREEZE_APPROVAL_MISSING", "GATE_MISSING"]),
        "{short}"
    );
    assert!(
        short["reasons"]
            .to_string()
            .contains("2 of 5 voting members"),
        "{short}"
    );
    let third = flow
        .call(&board[2].token, entry, "", json!({"id": id}))
        .await;
    assert!(third.get("errors").is_none(), "{third:#}");
    let testing = gate_status(change["number"].clone()).await;
    assert_eq!(testing["reasonCodes"], json!(["GATE_MISSING"]), "{testing}");
    flow.pass(id, &["freeze_additional_testing"]).await;
    let ready = gate_status(change["number"].clone()).await;
    assert_eq!(ready["mayDeploy"], true, "{ready}");
    let started = flow.start(id).await;
    assert_eq!(
        started["data"]["startImplementation"]["status"], "IMPLEMENTING",
        "{started:#}"
    );
    // The CAB let it start; the CISO and CTO's written approval is still
    // owed within 24 hours.
    let after = flow.get(id).await;
    assert_eq!(after["approvalStatus"]["outcome"], "PENDING", "{after:#}");

    // A normal change is still refused a slot in the freeze outright.
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let normal = approved_normal(&flow, &manager, json!({})).await;
    let in_freeze = schedule(
        &flow,
        &normal["id"],
        flow.app.clock.now() + Duration::days(1),
        60,
    )
    .await;
    assert!(
        crate::lifecycle::violation_codes(&in_freeze).contains(&"HARD_FREEZE".to_owned()),
        "{in_freeze:#}"
    );
}

/// Seed 000 "Meeting Schedule: Weekly (Wednesdays 2:00 PM ET)": the CAB's
/// meetings are planned at those starts, in New York time across the
/// clock change; any other time is refused with the next starts named.
#[tokio::test]
async fn cab_meetings_are_planned_on_the_policys_schedule() {
    let flow = Flow::new("cab-quorum").await;
    let board = flow.board(2).await;
    let chair = &board[0].token;
    let upcoming = flow
        .app
        .data(chair, "{ cabSchedule(first: 6) }", json!({}))
        .await["cabSchedule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().parse::<DateTime<Utc>>().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(upcoming.len(), 6);
    for start in &upcoming {
        let local = start.with_timezone(&chrono_tz::America::New_York);
        assert_eq!(
            (local.weekday(), local.format("%H:%M").to_string()),
            (Weekday::Wed, "14:00".to_owned()),
            "{start}"
        );
        assert!(*start > flow.app.clock.now());
    }
    assert!(upcoming.windows(2).all(|w| w[1] - w[0] <= Duration::days(7)
        && w[1] - w[0] >= Duration::days(7) - Duration::hours(1)));

    let plan = "mutation($at: DateTime!) { scheduleCabMeeting(at: $at) { id scheduledFor } }";
    let off = flow
        .app
        .graphql(
            chair,
            plan,
            json!({"at": (upcoming[0] + Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    assert_eq!(
        crate::lifecycle::violation_codes(&off),
        ["MEETING_OFF_SCHEDULE"],
        "{off:#}"
    );
    assert!(
        off.to_string().contains(&upcoming[1].to_rfc3339()[..16]),
        "the refusal names the next meetings: {off:#}"
    );
    let on = flow
        .app
        .graphql(chair, plan, json!({"at": upcoming[0].to_rfc3339()}))
        .await;
    assert!(on.get("errors").is_none(), "{on:#}");
    let planned: DateTime<Utc> = on["data"]["scheduleCabMeeting"]["scheduledFor"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(planned, upcoming[0]);
}

/// A cab-quorum emergency approved by the CTO and implementing.
async fn started_cab_quorum_emergency(flow: &Flow) -> Value {
    let cto = flow.person("Theo CTO", &["cto"]).await;
    let emergency = flow.create("emergency", json!({})).await;
    let id = &emergency["id"];
    flow.submit(id).await;
    flow.approve(&cto.token, id).await;
    flow.pass(id, &["validation_plan"]).await;
    let started = flow.start(id).await;
    assert!(started.get("errors").is_none(), "{started:#}");
    emergency
}

/// Seed 003 "Weekly, or as needed for emergency changes", on a schedule:
/// with `extraordinary_for = ["emergency"]` an off-schedule meeting is
/// called only while an emergency is the board's business, with its
/// reason, and the audit trail says it was extraordinary.
#[tokio::test]
async fn an_extraordinary_meeting_needs_emergency_business_and_a_reason() {
    let preset = include_str!("../../api/src/policy/presets/cab-quorum.toml");
    let with_extraordinary = preset.replace(
        "time_zone = \"America/New_York\"\n\n",
        "time_zone = \"America/New_York\"\nextraordinary_for = [\"emergency\"]\n\n",
    );
    assert_ne!(with_extraordinary, preset);
    let path = std::env::temp_dir().join(format!(
        "gh_policy_extraordinary_{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, with_extraordinary).unwrap();
    let flow = Flow::new(path.to_str().unwrap()).await;
    let board = flow.board(2).await;
    let chair = &board[0].token;
    let plan = "mutation($at: DateTime!, $reason: String) { scheduleCabMeeting(at: $at, reason: $reason) { id agenda { reason change { number } } } }";
    let off = (flow.app.clock.now() + Duration::hours(3)).to_rfc3339();

    let nothing_to_do = flow
        .app
        .graphql(chair, plan, json!({"at": off, "reason": "just because"}))
        .await;
    assert_eq!(
        crate::lifecycle::violation_codes(&nothing_to_do),
        ["MEETING_OFF_SCHEDULE"],
        "{nothing_to_do:#}"
    );
    assert!(
        nothing_to_do.to_string().contains("none is on its agenda"),
        "{nothing_to_do:#}"
    );

    // An emergency under way is owed the CAB's review.
    let emergency = started_cab_quorum_emergency(&flow).await;

    let without_reason = flow.app.graphql(chair, plan, json!({"at": off})).await;
    assert_eq!(
        crate::lifecycle::violation_codes(&without_reason),
        ["MEETING_OFF_SCHEDULE"],
        "{without_reason:#}"
    );
    let called = flow
        .app
        .graphql(
            chair,
            plan,
            json!({"at": off, "reason": "review the data-leak emergency now"}),
        )
        .await;
    assert!(called.get("errors").is_none(), "{called:#}");
    assert_eq!(
        called["data"]["scheduleCabMeeting"]["agenda"],
        json!([{"reason": "EMERGENCY_REVIEW", "change": {"number": emergency["number"]}}])
    );
    let events = flow
        .app
        .data(
            ADMIN_TOKEN,
            "{ auditEvents(filter: {action: \"cab.meeting_scheduled\"}, first: 10) { edges { node { action payload } } } }",
            json!({}),
        )
        .await;
    let scheduled = events["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .find(|n| n["action"] == "cab.meeting_scheduled")
        .cloned()
        .unwrap_or_else(|| panic!("{events:#}"));
    let payload = scheduled["payload"].to_string();
    assert!(payload.contains("\"extraordinary\":true"), "{payload}");
    assert!(
        payload.contains("review the data-leak emergency now"),
        "{payload}"
    );
}

/// Seed 000 "Post-implementation CAB review (next meeting)": the end of an
/// emergency makes the CAB's review due by the end of the next Wednesday
/// meeting; once that has passed the change is overdue until a CAB member
/// records the BOARD review.
#[tokio::test]
async fn the_cabs_review_of_an_emergency_is_due_at_its_next_meeting() {
    let flow = Flow::new("cab-quorum").await;
    let board = flow.board(2).await;
    let emergency = started_cab_quorum_emergency(&flow).await;
    let id = &emergency["id"];
    flow.complete(id, "SUCCESSFUL").await;
    let next: DateTime<Utc> = flow.meeting_start(1).await.parse().unwrap();
    let read = "query($id: ID) { change(id: $id) { deadlines { boardReviewDueAt boardReviewedAt } overdue { kind dueAt } } }";
    let change = flow.app.data(ADMIN_TOKEN, read, json!({"id": id})).await["change"].clone();
    let due: DateTime<Utc> = change["deadlines"]["boardReviewDueAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // The meeting lasts the hour the preset assumes.
    assert_eq!(due, next + Duration::hours(1));
    assert!(change["deadlines"]["boardReviewedAt"].is_null());
    let kinds = |change: &Value| {
        change["overdue"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["kind"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(!kinds(&change).contains(&"BOARD_REVIEW".to_owned()));

    let now = flow.app.clock.now();
    flow.app.clock.advance(due - now + Duration::minutes(1));
    let late = flow.app.data(ADMIN_TOKEN, read, json!({"id": id})).await["change"].clone();
    assert!(
        kinds(&late).contains(&"BOARD_REVIEW".to_owned()),
        "{late:#}"
    );
    let listed = flow
        .app
        .data(
            ADMIN_TOKEN,
            "{ overdue { number overdue { kind } } }",
            json!({}),
        )
        .await;
    assert!(listed.to_string().contains("BOARD_REVIEW"), "{listed:#}");

    let review = flow.review(&board[1].token, id, "BOARD").await;
    assert!(review.get("errors").is_none(), "{review:#}");
    let met = flow.app.data(ADMIN_TOKEN, read, json!({"id": id})).await["change"].clone();
    assert!(!kinds(&met).contains(&"BOARD_REVIEW".to_owned()), "{met:#}");
    assert!(met["deadlines"]["boardReviewedAt"].is_string());
}

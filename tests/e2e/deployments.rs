//! Deployments and incidents over HTTP: a production deployment is
//! authorised only by the change it names while that change is being
//! implemented; everything else is an exception, listed and raised on the
//! change. Incidents open linked to a change, a deployment or systems, and
//! resolve once, with the time service was restored.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_TOKEN, TestUser, error_code},
    lifecycle::Flow,
};

const DEPLOYMENT: &str = "id externalId changeNumber change { number } environment production
    systems { name } version commitSha commitTime startedAt finishedAt status source exception exceptionAt";

async fn record(flow: &Flow, token: &str, input: Value) -> Value {
    flow.app
        .graphql(
            token,
            &format!("mutation($input: RecordDeploymentInput!) {{ recordDeployment(input: $input) {{ changed deployment {{ {DEPLOYMENT} }} }} }}"),
            json!({"input": input}),
        )
        .await
}

async fn recorded(flow: &Flow, token: &str, input: Value) -> Value {
    let response = record(flow, token, input).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    response["data"]["recordDeployment"].clone()
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// The name of the one system a flow change affects.
async fn system_of(flow: &Flow, id: &Value) -> String {
    flow.app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { systems { name } } }",
            json!({"id": id}),
        )
        .await["change"]["systems"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn pipeline(flow: &Flow) -> TestUser {
    flow.person("Deploy Pipeline", &["pipeline", "service"])
        .await
}

#[tokio::test]
async fn production_deployments_are_authorised_only_by_their_change_in_implementation() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Cam Manager", &["change_manager"]).await;
    let pipeline = pipeline(&flow).await;
    let change = flow.started_normal(&manager).await;
    let number = change["number"].as_str().unwrap();
    let system = system_of(&flow, &change["id"]).await;
    let now = flow.app.clock.now();

    // Inside the implementation, to the change's own system: authorised.
    let input = json!({
        "externalId": "run-1001",
        "changeNumber": number,
        "environment": "Production",
        "systems": [system],
        "version": "2.4.0",
        "commitSha": "A1B2C3D4E5F6",
        "commitTime": at(now - Duration::hours(30)),
        "startedAt": at(now),
        "finishedAt": at(now + Duration::minutes(4)),
        "status": "SUCCESS",
        "url": "https://ci.example.com/runs/1001",
    });
    let first = recorded(&flow, &pipeline.token, input.clone()).await;
    let deployment = &first["deployment"];
    assert_eq!(first["changed"], true);
    assert_eq!(deployment["production"], true);
    assert_eq!(deployment["exception"], Value::Null);
    assert_eq!(deployment["change"]["number"], number);
    assert_eq!(deployment["commitSha"], "a1b2c3d4e5f6");
    assert_eq!(deployment["source"], "API");
    assert_eq!(deployment["systems"][0]["name"], system.as_str());

    // The same report again (a pipeline retrying): nothing new.
    let again = recorded(&flow, &pipeline.token, input).await;
    assert_eq!(again["changed"], false);
    assert_eq!(again["deployment"]["id"], deployment["id"]);
    let listed = flow
        .app
        .data(
            &pipeline.token,
            "query($n: String) { deployments(filter: {changeNumber: $n}) { totalCount edges { node { id } } } }",
            json!({"n": number}),
        )
        .await;
    assert_eq!(listed["deployments"]["totalCount"], 1);

    // Outside production nothing needs a change.
    let staging = recorded(
        &flow,
        &pipeline.token,
        json!({"environment": "staging", "status": "SUCCESS"}),
    )
    .await;
    assert_eq!(staging["deployment"]["exception"], Value::Null);

    // No change named, an unknown number, a change not started, a system
    // the change does not affect: each an exception saying why.
    let unnamed = recorded(
        &flow,
        &pipeline.token,
        json!({"environment": "production", "status": "SUCCESS"}),
    )
    .await;
    assert_eq!(
        unnamed["deployment"]["exception"],
        "production deployment names no change"
    );
    let unknown = recorded(
        &flow,
        &pipeline.token,
        json!({"environment": "prod", "changeNumber": "CR-2031-0999", "status": "FAILURE"}),
    )
    .await;
    assert_eq!(
        unknown["deployment"]["exception"],
        "production deployment names CR-2031-0999, which no change has"
    );
    let approved = flow.create("normal", json!({})).await;
    flow.submit(&approved["id"]).await;
    flow.verify_testing(&approved["id"]).await;
    flow.approve(&manager.token, &approved["id"]).await;
    let early = recorded(
        &flow,
        &pipeline.token,
        json!({"environment": "production", "changeNumber": approved["number"], "status": "IN_PROGRESS"}),
    )
    .await;
    assert_eq!(
        early["deployment"]["exception"],
        format!(
            "production deployment for {} while it is APPROVED: its implementation had not started",
            approved["number"].as_str().unwrap()
        )
    );
    let other = flow.app.system("Ledger", None).await;
    assert!(!other.is_empty());
    let elsewhere = recorded(
        &flow,
        &pipeline.token,
        json!({"environment": "production", "changeNumber": number, "systems": [system, "Ledger"], "status": "SUCCESS"}),
    )
    .await;
    assert_eq!(
        elsewhere["deployment"]["exception"],
        format!("production deployment to Ledger which {number} does not affect")
    );

    // The exceptions of the period, newest first; the authorised and the
    // staging deployment are not among them.
    let exceptions = flow
        .app
        .data(
            &manager.token,
            "query($f: DateTime!, $t: DateTime!) { exceptions(from: $f, to: $t) { totalCount edges { node { changeNumber exception } } } }",
            json!({"f": at(now - Duration::hours(1)), "t": at(now + Duration::hours(1))}),
        )
        .await;
    assert_eq!(exceptions["exceptions"]["totalCount"], 4);
    let reasons: Vec<&str> = exceptions["exceptions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["exception"].as_str().unwrap())
        .collect();
    assert!(reasons[0].contains("Ledger"), "{reasons:?}");
    assert!(reasons[3].contains("names no change"), "{reasons:?}");

    // Raised on the changes it names, in their history.
    let history = flow
        .app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { history { action } } }",
            json!({"id": approved["id"]}),
        )
        .await;
    assert!(
        history["change"]["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "change.unauthorised_deployment"),
        "{history:#}"
    );
}

#[tokio::test]
async fn a_deployment_is_judged_when_it_runs_and_keeps_its_verdict() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Cam Manager", &["change_manager"]).await;
    let pipeline = pipeline(&flow).await;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    let number = change["number"].as_str().unwrap();
    flow.submit(id).await;
    flow.verify_testing(id).await;
    flow.approve(&manager.token, id).await;
    flow.schedule(id, 1).await;
    flow.pass(id, &["deployment_preparation"]).await;

    // Queued while the change is only scheduled: not judged yet.
    let queued = recorded(
        &flow,
        &pipeline.token,
        json!({"externalId": "gh-77", "environment": "production", "changeNumber": number, "status": "PENDING"}),
    )
    .await;
    assert_eq!(queued["deployment"]["exception"], Value::Null);
    flow.advance_to_start(id).await;
    flow.start(id).await;
    // It runs once the implementation started: authorised.
    let running = recorded(
        &flow,
        &pipeline.token,
        json!({"externalId": "gh-77", "environment": "production", "status": "SUCCESS"}),
    )
    .await;
    assert_eq!(running["changed"], true);
    assert_eq!(running["deployment"]["status"], "SUCCESS");
    assert_eq!(running["deployment"]["changeNumber"], number);
    assert_eq!(running["deployment"]["exception"], Value::Null);
    assert!(running["deployment"]["finishedAt"].is_string());
    // A late, out-of-order report never takes a finished deployment back.
    let late = recorded(
        &flow,
        &pipeline.token,
        json!({"externalId": "gh-77", "environment": "production", "status": "IN_PROGRESS"}),
    )
    .await;
    assert_eq!(late["deployment"]["status"], "SUCCESS");
    // Nor can it move to another change.
    let moved = record(
        &flow,
        &pipeline.token,
        json!({"externalId": "gh-77", "environment": "production", "changeNumber": "CR-2031-0001", "status": "SUCCESS"}),
    )
    .await;
    assert_eq!(error_code(&moved), "VALIDATION", "{moved:#}");

    // After the implementation ended, a new production deployment under the
    // same change is an exception.
    flow.complete(id, "SUCCESSFUL").await;
    flow.app.clock.advance(Duration::minutes(5));
    let after = recorded(
        &flow,
        &pipeline.token,
        json!({"environment": "production", "changeNumber": number, "status": "SUCCESS"}),
    )
    .await;
    assert!(
        after["deployment"]["exception"]
            .as_str()
            .unwrap()
            .contains("follows the end of"),
        "{after:#}"
    );
}

#[tokio::test]
async fn deployment_reports_are_checked_and_only_deployers_record_them() {
    let flow = Flow::new("tiered-cab").await;
    let pipeline = pipeline(&flow).await;
    let auditor = flow.person("Ann Auditor", &["auditor"]).await;
    let base = json!({"environment": "production", "status": "SUCCESS"});
    let with = |key: &str, value: Value| {
        let mut input = base.clone();
        input[key] = value;
        input
    };
    for (input, field) in [
        (with("environment", json!("  ")), "environment"),
        (with("commitSha", json!("not-hex")), "commitSha"),
        (with("url", json!("javascript:alert(1)")), "url"),
        (with("systems", json!(["No such system"])), "systems"),
        (
            json!({"environment": "production", "status": "SUCCESS",
                   "startedAt": "2026-11-03T10:00:00Z", "finishedAt": "2026-11-03T09:00:00Z"}),
            "finishedAt",
        ),
    ] {
        let response = record(&flow, &pipeline.token, input).await;
        assert_eq!(error_code(&response), "VALIDATION", "{response:#}");
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{response:#}"
        );
    }
    for token in [&auditor.token, &flow.requester.token] {
        let refused = record(&flow, token, base.clone()).await;
        // The flow's requester holds change_manager: allowed.
        if token == &auditor.token {
            assert_eq!(error_code(&refused), "FORBIDDEN", "{refused:#}");
        } else {
            assert!(refused.get("errors").is_none(), "{refused:#}");
        }
    }
    let pipeline_files = flow
        .app
        .graphql(
            &pipeline.token,
            "mutation { createChange(input: {title: \"T\", description: \"D\", businessJustification: \"B\", type: \"normal\", likelihood: 1, impact: 1}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&pipeline_files), "FORBIDDEN");
}

const INCIDENT: &str = "id priority title openedAt restoredAt resolvedAt hoursToRestore resolution
    resolvedBy { email } change { number } deployment { id } systems { name }";

#[tokio::test]
async fn incidents_resolve_once_with_the_time_service_was_restored() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Cam Manager", &["change_manager"]).await;
    let engineer = flow.person("Ed Engineer", &["requester"]).await;
    let pipeline = pipeline(&flow).await;
    flow.app.system("Payments", None).await;
    let now = flow.app.clock.now();
    let opened = now - Duration::hours(3);

    let open = |token: String, input: Value| {
        let app = &flow.app;
        async move {
            app.graphql(
                &token,
                &format!("mutation($input: RecordIncidentInput!) {{ recordIncident(input: $input) {{ {INCIDENT} }} }}"),
                json!({"input": input}),
            )
            .await
        }
    };
    let standalone = open(
        engineer.token.clone(),
        json!({"title": "Checkout errors", "priority": "P2", "systems": ["Payments"], "openedAt": at(opened)}),
    )
    .await;
    let incident = standalone["data"]["recordIncident"].clone();
    assert_eq!(incident["priority"], "P2");
    assert_eq!(incident["systems"][0]["name"], "Payments");
    assert_eq!(incident["restoredAt"], Value::Null);
    // Linked to nothing at all: refused.
    let orphan = open(engineer.token.clone(), json!({"title": "Something"})).await;
    assert_eq!(orphan["errors"][0]["extensions"]["field"], "systems");

    let resolve = |token: String, id: Value, restored: DateTime<Utc>, summary: &'static str| {
        let app = &flow.app;
        async move {
            app.graphql(
                &token,
                &format!("mutation($id: ID!, $r: DateTime!, $s: String!) {{ resolveIncident(id: $id, restoredAt: $r, summary: $s) {{ {INCIDENT} }} }}"),
                json!({"id": id, "r": at(restored), "s": summary}),
            )
            .await
        }
    };
    // Another requester may not resolve someone else's incident.
    let stranger = flow.person("Sam Stranger", &["requester"]).await;
    let refused = resolve(stranger.token.clone(), incident["id"].clone(), now, "done").await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let before_open = resolve(
        engineer.token.clone(),
        incident["id"].clone(),
        opened - Duration::minutes(1),
        "done",
    )
    .await;
    assert_eq!(
        before_open["errors"][0]["extensions"]["field"],
        "restoredAt"
    );
    let resolved = resolve(
        manager.token.clone(),
        incident["id"].clone(),
        opened + Duration::minutes(90),
        "Rolled the config back",
    )
    .await;
    let resolved = &resolved["data"]["resolveIncident"];
    assert_eq!(resolved["hoursToRestore"], 1.5);
    assert_eq!(resolved["resolution"], "Rolled the config back");
    assert_eq!(resolved["resolvedBy"]["email"], manager.email.as_str());
    let twice = resolve(engineer.token.clone(), incident["id"].clone(), now, "again").await;
    assert_eq!(twice["errors"][0]["extensions"]["field"], "id");

    // An incident a deployment caused is its change's too.
    let change = flow.started_normal(&manager).await;
    let deployment = recorded(
        &flow,
        &pipeline.token,
        json!({"environment": "production", "changeNumber": change["number"], "status": "SUCCESS"}),
    )
    .await;
    let caused = open(
        pipeline.token.clone(),
        json!({"title": "Latency after release", "deploymentId": deployment["deployment"]["id"]}),
    )
    .await;
    let caused = &caused["data"]["recordIncident"];
    assert_eq!(caused["change"]["number"], change["number"]);
    assert_eq!(caused["deployment"]["id"], deployment["deployment"]["id"]);
    assert_eq!(caused["priority"], "P3");

    let lists = flow
        .app
        .data(
            &stranger.token,
            "{ open: incidents(filter: {open: true}) { totalCount } resolved: incidents(filter: {open: false}) { totalCount edges { node { title } } } }",
            json!({}),
        )
        .await;
    assert_eq!(lists["open"]["totalCount"], 1);
    assert_eq!(lists["resolved"]["totalCount"], 1);
    assert_eq!(
        lists["resolved"]["edges"][0]["node"]["title"],
        "Checkout errors"
    );
}

#[tokio::test]
async fn deployment_pages_neither_repeat_nor_skip_when_rows_arrive() {
    let flow = Flow::new("tiered-cab").await;
    let pipeline = pipeline(&flow).await;
    for n in 0..5 {
        recorded(
            &flow,
            &pipeline.token,
            json!({"environment": "staging", "status": "SUCCESS", "version": format!("v{n}")}),
        )
        .await;
    }
    let page = |after: Value| {
        let app = &flow.app;
        let token = pipeline.token.clone();
        async move {
            app.data(
                &token,
                "query($a: String) { deployments(first: 2, after: $a) { totalCount pageInfo { hasNextPage endCursor } edges { node { version } } } }",
                json!({"a": after}),
            )
            .await["deployments"]
                .clone()
        }
    };
    let versions = |page: &Value| -> Vec<String> {
        page["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["version"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = page(Value::Null).await;
    assert_eq!(versions(&first), ["v4", "v3"]);
    // Three more arrive between the two requests.
    for n in 5..8 {
        recorded(
            &flow,
            &pipeline.token,
            json!({"environment": "staging", "status": "SUCCESS", "version": format!("v{n}")}),
        )
        .await;
    }
    let second = page(first["pageInfo"]["endCursor"].clone()).await;
    assert_eq!(versions(&second), ["v2", "v1"]);
    assert_eq!(second["totalCount"], 8);
    let bad = flow
        .app
        .graphql(
            &pipeline.token,
            "{ deployments(after: \"nonsense\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&bad), "VALIDATION");
}

#[tokio::test]
async fn dora_metrics_come_from_deployments_and_incidents() {
    let flow = Flow::new("tiered-cab").await;
    // Mid-month, so the seven hours measured lie in one monthly period.
    let now = flow.app.clock.now();
    let next_month = (now + Duration::days(32))
        .date_naive()
        .with_day(10)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    flow.app.clock.advance(next_month - now);
    let manager = flow.person("Cam Manager", &["change_manager"]).await;
    let pipeline = pipeline(&flow).await;
    let engineer = flow.person("Ed Engineer", &["requester"]).await;
    flow.app.system("Payments", None).await;
    let change = flow.started_normal(&manager).await;
    let number = change["number"].as_str().unwrap();
    let started = flow.app.clock.now();
    let after = |minutes: i64| at(started + Duration::minutes(minutes));

    // Three successful production deployments: two under the change (lead
    // times 10 h and 4 h), one under none (an exception, no commit time);
    // a staging one and a failed production one, which do not count.
    let d1 = json!({"changeNumber": number, "environment": "production", "status": "SUCCESS",
        "startedAt": after(1), "finishedAt": after(2),
        "commitTime": at(started + Duration::minutes(2) - Duration::hours(10))});
    recorded(&flow, &pipeline.token, d1).await;
    let d2 = recorded(
        &flow,
        &pipeline.token,
        json!({"changeNumber": number, "environment": "production", "status": "SUCCESS",
            "startedAt": after(3), "finishedAt": after(5),
            "commitTime": at(started + Duration::minutes(5) - Duration::hours(4))}),
    )
    .await;
    recorded(
        &flow,
        &pipeline.token,
        json!({"environment": "production", "status": "SUCCESS", "startedAt": after(8), "finishedAt": after(10)}),
    )
    .await;
    recorded(
        &flow,
        &pipeline.token,
        json!({"environment": "staging", "status": "SUCCESS", "finishedAt": after(11)}),
    )
    .await;
    recorded(
        &flow,
        &pipeline.token,
        json!({"changeNumber": number, "environment": "production", "status": "FAILURE",
            "startedAt": after(12), "finishedAt": after(13)}),
    )
    .await;
    // d2 caused an incident (still open): it counts as a failed deployment.
    let caused = flow
        .app
        .graphql(
            &pipeline.token,
            "mutation($d: ID!) { recordIncident(input: {title: \"Errors after d2\", deploymentId: $d}) { id } }",
            json!({"d": d2["deployment"]["id"]}),
        )
        .await;
    assert!(caused.get("errors").is_none(), "{caused:#}");
    // Two incidents restored in the range: 2 h and 4.5 h.
    for (opened, restored) in [(3 * 60, 60), (5 * 60, 30)] {
        let incident = flow
            .app
            .data(
                &engineer.token,
                "mutation($o: DateTime) { recordIncident(input: {title: \"Outage\", systems: [\"Payments\"], openedAt: $o}) { id } }",
                json!({"o": at(started - Duration::minutes(opened))}),
            )
            .await;
        flow.app
            .data(
                &engineer.token,
                "mutation($id: ID!, $r: DateTime!) { resolveIncident(id: $id, restoredAt: $r, summary: \"fixed\") { id } }",
                json!({"id": incident["recordIncident"]["id"], "r": at(started - Duration::minutes(restored))}),
            )
            .await;
    }

    // Seven hours: from six before the start to one after.
    let metrics = flow
        .app
        .data(
            &manager.token,
            "query($f: DateTime!, $t: DateTime!) { metrics(from: $f, to: $t, granularity: MONTH) {
                deployments deploymentsPerDay failedDeployments deploymentFailureRate
                deploymentLeadTimeHours { p50 p90 mean } incidentsRestored
                timeToRestoreHours { p50 mean } unauthorisedDeployments } }",
            json!({"f": at(started - Duration::hours(6)), "t": at(started + Duration::hours(1))}),
        )
        .await;
    let buckets = metrics["metrics"].as_array().unwrap();
    assert_eq!(buckets.len(), 1, "{metrics:#}");
    let m = &buckets[0];
    assert_eq!(m["deployments"], 3);
    let close = |value: &Value, expected: f64| {
        let value = value
            .as_f64()
            .unwrap_or_else(|| panic!("{value} for {expected}"));
        assert!((value - expected).abs() < 1e-9, "{value} != {expected}");
    };
    // 3 deployments in 7/24 of a day.
    close(&m["deploymentsPerDay"], 72.0 / 7.0);
    close(&m["deploymentLeadTimeHours"]["p50"], 7.0);
    close(&m["deploymentLeadTimeHours"]["p90"], 9.4);
    close(&m["deploymentLeadTimeHours"]["mean"], 7.0);
    assert_eq!(m["failedDeployments"], 1);
    close(&m["deploymentFailureRate"], 1.0 / 3.0);
    assert_eq!(m["incidentsRestored"], 2);
    close(&m["timeToRestoreHours"]["p50"], 3.25);
    close(&m["timeToRestoreHours"]["mean"], 3.25);
    assert_eq!(m["unauthorisedDeployments"], 1);
}

#[tokio::test]
async fn a_pipeline_waits_at_the_gate_and_every_answer_is_on_the_record() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Cam Manager", &["change_manager"]).await;
    let pipeline = pipeline(&flow).await;
    let auditor = flow.person("Ann Auditor", &["auditor"]).await;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    let number = change["number"].as_str().unwrap().to_owned();
    flow.submit(id).await;
    flow.verify_testing(id).await;
    flow.approve(&manager.token, id).await;
    flow.schedule(id, 1).await;
    flow.advance_to_start(id).await;
    let check = |token: String, wait: i64| {
        let app = &flow.app;
        let number = number.clone();
        async move {
            app.graphql(
                &token,
                "mutation($n: String!, $w: Int) { checkGate(number: $n, waitSeconds: $w) { mayDeploy reasonCodes } }",
                json!({"n": number, "w": wait}),
            )
            .await
        }
    };
    // Asked now: the pre-deployment checklist is missing.
    let now = check(pipeline.token.clone(), 0).await;
    assert_eq!(now["data"]["checkGate"]["mayDeploy"], false, "{now:#}");
    assert_eq!(now["data"]["checkGate"]["reasonCodes"][0], "GATE_MISSING");
    // Asked with a wait: answered as soon as the checklist lands.
    let started = std::time::Instant::now();
    let (answer, ()) = tokio::join!(check(pipeline.token.clone(), 30), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        flow.pass(id, &["deployment_preparation"]).await;
    });
    let took = started.elapsed();
    assert_eq!(answer["data"]["checkGate"]["mayDeploy"], true, "{answer:#}");
    assert!(took < std::time::Duration::from_secs(4), "{took:?}");
    // Both answers are in the change's history, with what they said.
    let history = flow
        .app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { history { action payload } } }",
            json!({"id": id}),
        )
        .await;
    let checks: Vec<Value> = history["change"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "change.gate_checked")
        .map(|e| e["payload"].clone())
        .collect();
    assert_eq!(checks.len(), 2, "{history:#}");
    assert_eq!(checks[0]["mayDeploy"], false);
    assert_eq!(checks[0]["reasonCodes"][0], "GATE_MISSING");
    assert_eq!(checks[1]["mayDeploy"], true);
    assert!(checks[1]["waitedSeconds"].as_f64().unwrap() > 0.2);
    // Reading gateStatus stays open to all and writes nothing; the record
    // is for those who deploy.
    let refused = check(auditor.token.clone(), 0).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let too_long = check(pipeline.token.clone(), 301).await;
    assert_eq!(error_code(&too_long), "VALIDATION", "{too_long:#}");
}

#[tokio::test]
async fn metrics_narrow_to_a_team_or_to_systems() {
    let flow = Flow::new("tiered-cab").await;
    let pipeline = pipeline(&flow).await;
    for (name, team) in [("Payments", "payments-team"), ("Ledger", "ledger-team")] {
        flow.app
            .data(
                ADMIN_TOKEN,
                "mutation($n: String!, $t: String) { createSystem(input: {name: $n, team: $t}) { team } }",
                json!({"n": name, "t": team}),
            )
            .await;
    }
    let now = flow.app.clock.now();
    for (system, count) in [("Payments", 3), ("Ledger", 2)] {
        for _ in 0..count {
            recorded(
                &flow,
                &pipeline.token,
                json!({"environment": "production", "status": "SUCCESS", "systems": [system],
                       "startedAt": at(now - Duration::minutes(10)), "finishedAt": at(now - Duration::minutes(5))}),
            )
            .await;
        }
    }
    let metrics = |systems: Value, team: Value| {
        let app = &flow.app;
        async move {
            app.graphql(
                ADMIN_TOKEN,
                "query($f: DateTime!, $t: DateTime!, $s: [String!], $team: String) {
                    metrics(from: $f, to: $t, granularity: MONTH, systems: $s, team: $team) { deployments unauthorisedDeployments } }",
                json!({"f": at(now - Duration::hours(1)), "t": at(now + Duration::hours(1)), "s": systems, "team": team}),
            )
            .await
        }
    };
    let total = |response: Value| -> i64 {
        response["data"]["metrics"]
            .as_array()
            .unwrap_or_else(|| panic!("{response:#}"))
            .iter()
            .map(|b| b["deployments"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(total(metrics(json!([]), Value::Null).await), 5);
    assert_eq!(total(metrics(json!([]), json!("payments-team")).await), 3);
    assert_eq!(total(metrics(json!(["Ledger"]), Value::Null).await), 2);
    assert_eq!(
        total(metrics(json!(["Ledger"]), json!("payments-team")).await),
        0
    );
    assert_eq!(total(metrics(json!([]), json!("nobody")).await), 0);
    let unknown = metrics(json!(["Nowhere"]), Value::Null).await;
    assert_eq!(error_code(&unknown), "VALIDATION");
    assert_eq!(unknown["errors"][0]["extensions"]["field"], "systems");
}

//! Verdicts per control and the exception register (#21): a period with
//! a known set of violations — late emergency documentation, a
//! retroactive approval after its deadline, an implementer who approved,
//! a gate met only after the start — and a clean change, judged by a
//! server running a stricter policy than the one the steps were taken
//! under (segregation of duties switched on, unit tests before an
//! emergency starts), as an auditor's server is after a policy tightens.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, error_code, spawn_app_with};
use crate::lifecycle::Flow;

const TIERED_CAB: &str = include_str!("../../api/src/policy/presets/tiered-cab.toml");

fn policy_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "gh_policy_{name}_{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

const VERDICTS: &str = "controls { control verdict reason evidence { seq hash } policyVersion }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_and_the_exception_register_name_every_violation_exactly() {
    // Taken under: tiered-cab, but emergencies start without unit tests.
    let lenient = TIERED_CAB.replace(
        "gates = [\"unit_tests\", \"post_deployment_validation\"]",
        "gates = [\"post_deployment_validation\"]",
    );
    assert_ne!(lenient, TIERED_CAB);
    let lenient = policy_file("lenient", &lenient);
    // Judged under: tiered-cab with approvers kept from implementing.
    let strict = policy_file(
        "strict",
        &format!("{TIERED_CAB}\n[segregation]\napprover_not_implementer = true\n"),
    );
    let flow = Flow::new(lenient.to_str().unwrap()).await;
    let app = &flow.app;
    let from = app.clock.now() - Duration::hours(1);
    let taken_under = app
        .data(ADMIN_TOKEN, "{ policy { version } }", json!({}))
        .await["policy"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(taken_under.starts_with("sha256:"), "{taken_under}");
    assert_eq!(taken_under.len(), "sha256:".len() + 64);

    let manager = flow.person("Mona Manager", &["change_manager"]).await;
    let ciso = flow.person("Cleo CISO", &["ciso"]).await;
    let cto = flow.person("Theo CTO", &["cto"]).await;
    let ivan = flow
        .person("Ivan Implementer", &["implementer", "ciso"])
        .await;

    // Clean: a normal change approved, gated and started in its slot.
    let clean = flow.started_normal(&manager).await;
    flow.complete(&clean["id"], "SUCCESSFUL").await;

    let emergency = |title: &str| {
        let title = title.to_owned();
        let flow = &flow;
        async move {
            let change = flow.create("emergency", json!({"title": title})).await;
            flow.submit(&change["id"]).await;
            change
        }
    };
    let started = |response: Value| {
        assert!(response.get("errors").is_none(), "{response:#}");
    };
    let document = |id: Value| {
        let flow = &flow;
        async move { flow.pass(&id, &["emergency_documentation"]).await }
    };

    // Late documentation: approved in time, documented after 24 h.
    let late_docs = emergency("Late paperwork").await;
    flow.pass(&late_docs["id"], &["unit_tests"]).await;
    started(flow.start(&late_docs["id"]).await);
    flow.approve(&ciso.token, &late_docs["id"]).await;
    flow.approve(&cto.token, &late_docs["id"]).await;

    // Late approval: documented at once, approved after its deadline.
    let late_approval = emergency("Approved too late").await;
    flow.pass(&late_approval["id"], &["unit_tests"]).await;
    started(flow.start(&late_approval["id"]).await);
    document(late_approval["id"].clone()).await;

    // An implementer who approved (allowed by the policy then in force).
    let self_approved = emergency("Implementer approved").await;
    flow.pass(&self_approved["id"], &["unit_tests"]).await;
    started(
        flow.call(
            &ivan.token,
            "startImplementation(id: $id)",
            "",
            json!({"id": self_approved["id"]}),
        )
        .await,
    );
    flow.approve(&ivan.token, &self_approved["id"]).await;
    flow.approve(&cto.token, &self_approved["id"]).await;
    document(self_approved["id"].clone()).await;

    // A gate met only after the start.
    let late_gate = emergency("Tests after the start").await;
    started(flow.start(&late_gate["id"]).await);
    flow.pass(&late_gate["id"], &["unit_tests"]).await;
    flow.approve(&ciso.token, &late_gate["id"]).await;
    flow.approve(&cto.token, &late_gate["id"]).await;
    document(late_gate["id"].clone()).await;

    app.clock.advance(Duration::hours(25));
    document(late_docs["id"].clone()).await;
    flow.approve(&ciso.token, &late_approval["id"]).await;
    flow.approve(&cto.token, &late_approval["id"]).await;
    let to = app.clock.now() + Duration::hours(1);

    // The auditor's server: same database, the stricter policy.
    let database_url = app.database_url.clone();
    let strict_path = strict.to_str().unwrap().to_owned();
    let auditor_app = spawn_app_with(move |settings| {
        settings.database_url = database_url;
        settings.policy = strict_path;
    })
    .await;
    let judged_under = auditor_app
        .data(ADMIN_TOKEN, "{ policy { version } }", json!({}))
        .await["policy"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(judged_under, taken_under);
    let auditor = auditor_app.user("Audrey Auditor", &["auditor"]).await;

    let register_query = "query($from: DateTime!, $to: DateTime!, $first: Int, $after: String) {
        auditExceptions(from: $from, to: $to, first: $first, after: $after) {
            totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
            edges { node { change { number } control reason evidence { seq hash } policyVersion } } } }";
    let vars = |first: i64, after: Value| json!({"from": from.to_rfc3339(), "to": to.to_rfc3339(), "first": first, "after": after});
    let whole = auditor_app
        .data(&auditor.token, register_query, vars(50, Value::Null))
        .await["auditExceptions"]
        .clone();
    let entries: Vec<(String, String)> = whole["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["change"]["number"].as_str().unwrap().to_owned(),
                e["node"]["control"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let number = |change: &Value| change["number"].as_str().unwrap().to_owned();
    assert_eq!(
        entries,
        vec![
            (number(&late_docs), "EMERGENCY_PAPERWORK_ON_TIME".to_owned()),
            (number(&late_approval), "APPROVED_BEFORE_START".to_owned()),
            (
                number(&self_approved),
                "APPROVER_NOT_IMPLEMENTER".to_owned()
            ),
            (number(&late_gate), "GATES_MET_BEFORE_START".to_owned()),
        ],
        "{whole:#}"
    );
    assert_eq!(whole["totalCount"], 4);
    let reasons: Vec<&str> = whole["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].starts_with("documentation at "),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[0].contains(", after its deadline "),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].starts_with("approved retroactively at "),
        "{}",
        reasons[1]
    );
    assert!(
        reasons[1].contains(", after the deadline "),
        "{}",
        reasons[1]
    );
    assert_eq!(
        reasons[2],
        "the account that started implementation also approved the change"
    );
    assert!(
        reasons[3].starts_with("gate missing: unit_tests before the start (recorded at "),
        "{}",
        reasons[3]
    );
    for edge in whole["edges"].as_array().unwrap() {
        // Every cited event is in the chain, and the steps were taken
        // under the lenient policy's version.
        assert_eq!(
            edge["node"]["policyVersion"],
            json!(taken_under),
            "{edge:#}"
        );
        assert!(!edge["node"]["evidence"].as_array().unwrap().is_empty());
    }

    // The same register a page at a time.
    let first = auditor_app
        .data(ADMIN_TOKEN, register_query, vars(3, Value::Null))
        .await["auditExceptions"]
        .clone();
    assert_eq!(first["edges"].as_array().unwrap().len(), 3);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let rest = auditor_app
        .data(
            ADMIN_TOKEN,
            register_query,
            vars(3, first["pageInfo"]["endCursor"].clone()),
        )
        .await["auditExceptions"]
        .clone();
    assert_eq!(rest["edges"], json!([whole["edges"][3]]));
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    assert_eq!(rest["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(rest["totalCount"], 4);

    // The evidence pack of the period holds the same register.
    let pack = auditor_app
        .client
        .get(format!("{}/audit/export", auditor_app.base_url))
        .query(&[("from", from.to_rfc3339()), ("to", to.to_rfc3339())])
        .bearer_auth(&auditor.token)
        .send()
        .await
        .unwrap();
    assert_eq!(pack.status(), 200);
    let archive = std::env::temp_dir().join(format!("gh_controls_{}.tar", uuid::Uuid::new_v4()));
    std::fs::write(&archive, pack.bytes().await.unwrap()).unwrap();
    let read = std::process::Command::new(crate::helpers::python())
        .args([
            "-c",
            "import sys, tarfile\n\
             with tarfile.open(sys.argv[1]) as t:\n\
             \x20   m = next(m for m in t.getmembers() if m.name.endswith('/exceptions.jsonl'))\n\
             \x20   sys.stdout.write(t.extractfile(m).read().decode())",
            archive.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    std::fs::remove_file(&archive).ok();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let packed: Vec<(String, String)> = String::from_utf8(read.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            (
                row["changeNumber"].as_str().unwrap().to_owned(),
                row["control"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(packed, entries);

    // Only auditors and admins read the register.
    let refused = auditor_app
        .graphql(&flow.requester.token, register_query, vars(5, Value::Null))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused:#}");

    // Every control of one change, through `Change.controls`, and the
    // cited events are the chain's own.
    let verdicts_of = |change: &Value| {
        let id = change["id"].clone();
        let app = &auditor_app;
        async move {
            app.data(
                ADMIN_TOKEN,
                &format!("query($id: ID) {{ change(id: $id) {{ {VERDICTS} }} }}"),
                json!({"id": id}),
            )
            .await["change"]["controls"]
                .clone()
        }
    };
    let outcomes = |verdicts: &Value| -> Vec<(String, String)> {
        verdicts
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["control"].as_str().unwrap().to_owned(),
                    v["verdict"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let expect = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(c, v)| ((*c).to_owned(), (*v).to_owned()))
            .collect()
    };
    let clean_verdicts = verdicts_of(&clean).await;
    assert_eq!(
        outcomes(&clean_verdicts),
        expect(&[
            ("REQUESTED_BEFORE_IMPLEMENTATION", "PASS"),
            ("APPROVED_BEFORE_START", "PASS"),
            ("APPROVER_NOT_IMPLEMENTER", "PASS"),
            ("GATES_MET_BEFORE_START", "PASS"),
            ("INSIDE_SLOT_OUTSIDE_FREEZE", "PASS"),
            ("EMERGENCY_PAPERWORK_ON_TIME", "NOT_APPLICABLE"),
            ("REVIEWED_BEFORE_CLOSE", "NOT_APPLICABLE"),
            ("ATTRIBUTABLE", "PASS"),
        ]),
        "{clean_verdicts:#}"
    );
    let self_verdicts = verdicts_of(&self_approved).await;
    assert_eq!(
        outcomes(&self_verdicts),
        expect(&[
            ("REQUESTED_BEFORE_IMPLEMENTATION", "PASS"),
            ("APPROVED_BEFORE_START", "PASS"),
            ("APPROVER_NOT_IMPLEMENTER", "FAIL"),
            ("GATES_MET_BEFORE_START", "PASS"),
            ("INSIDE_SLOT_OUTSIDE_FREEZE", "NOT_APPLICABLE"),
            ("EMERGENCY_PAPERWORK_ON_TIME", "PASS"),
            ("REVIEWED_BEFORE_CLOSE", "NOT_APPLICABLE"),
            ("ATTRIBUTABLE", "PASS"),
        ]),
        "{self_verdicts:#}"
    );
    let history = auditor_app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { history { seq hash action actor { id } } } }",
            json!({"id": self_approved["id"]}),
        )
        .await["change"]["history"]
        .clone();
    let segregation = &self_verdicts[2]["evidence"];
    let cited: Vec<(i64, String)> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "change.decision" || e["action"] == "change.implementation_started"
        })
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let given: Vec<(i64, String)> = segregation
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(given, cited);
    assert!(history.as_array().unwrap().iter().any(|e| {
        e["action"] == "change.implementation_started" && e["actor"]["id"] == json!(ivan.id)
    }));
    // Recording the version left the chain verifiable.
    let verified = auditor_app
        .data(ADMIN_TOKEN, "{ verifyAuditLog { ok } }", json!({}))
        .await;
    assert_eq!(verified["verifyAuditLog"]["ok"], true, "{verified:#}");
    std::fs::remove_file(lenient).ok();
    std::fs::remove_file(strict).ok();
}

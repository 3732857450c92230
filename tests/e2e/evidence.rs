//! Evidence packs: export over HTTP and from the CLI, and the offline
//! verification script an auditor runs on them.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, error_code, spawn_app};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scripts/verify_evidence_pack.py"
);

pub fn scratch_dir(label: &str) -> PathBuf {
    std::env::temp_dir().join(format!("gh_pack_{label}_{}", uuid::Uuid::new_v4().simple()))
}

pub fn gatehouse(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env_remove("GATEHOUSE_BOOTSTRAP_TOKEN")
        .env_remove("GATEHOUSE_CONFIG")
        .output()
        .expect("gatehouse runs")
}

fn wide_period() -> (String, String) {
    let now = Utc::now();
    (
        (now - Duration::hours(1)).to_rfc3339(),
        (now + Duration::hours(1)).to_rfc3339(),
    )
}

/// `gatehouse audit export` over the last and next hour; returns the manifest.
pub async fn cli_export(database_url: &str, out: &Path) -> Value {
    let (from, to) = wide_period();
    export_period(database_url, out, &from, &to)
}

fn export_period(database_url: &str, out: &Path, from: &str, to: &str) -> Value {
    let output = gatehouse(
        database_url,
        &[
            "audit",
            "export",
            "--from",
            from,
            "--to",
            to,
            "--out",
            &out.display().to_string(),
        ],
    );
    assert!(
        output.status.success(),
        "export failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    read_json(&out.join("manifest.json"))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Runs the offline verifier; returns its exit code and standard output.
fn verify_offline(pack: &Path) -> (i32, String) {
    verify_offline_with(pack, &[])
}

fn verify_offline_with(pack: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new("python3")
        .arg(SCRIPT)
        .arg(pack)
        .args(args)
        .output()
        .expect("python3 runs");
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

const UPDATE_TITLE: &str = "mutation($id: ID!, $v: Int!, $t: String!) { updateChange(id: $id, expectedVersion: $v, input: {title: $t}) { version } }";

/// Events 1-6 before the period, 7 onwards inside it.
async fn history(app: &TestApp) -> (Value, Value, String) {
    let ada = app.user("Ada", &["requester"]).await; // 3, 4
    let system = app.system("api", None).await; // 5
    let early = app
        .create_change(&ada.token, json!({"systemIds": [system]}))
        .await; // 6
    app.data(
        &ada.token,
        UPDATE_TITLE,
        json!({"id": early["id"], "v": 1, "t": "=cmd|' /C calc'!A0"}),
    )
    .await; // 7
    let later = app
        .create_change(&ada.token, json!({"title": "Later"}))
        .await; // 8
    app.create_change(&ada.token, json!({"title": "Elsewhere"}))
        .await; // 9
    let events = app
        .data(
            ADMIN_TOKEN,
            "{ auditEvents(first: 100) { edges { node { seq occurredAt hash } } } }",
            json!({}),
        )
        .await["auditEvents"]["edges"]
        .clone();
    let from = events[6]["node"]["occurredAt"].as_str().unwrap().to_owned();
    (early, later, from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exports_a_pack_of_the_period_that_verifies_offline() {
    let app = spawn_app().await;
    let (early, later, from) = history(&app).await;
    let to = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let out = scratch_dir("cli");
    let manifest = export_period(&app.database_url, &out, &from, &to);

    // The manifest: period, counts, chain head, the segment and its link.
    let events = app
        .data(
            ADMIN_TOKEN,
            "{ auditEvents(first: 100) { edges { node { seq hash } } } }",
            json!({}),
        )
        .await["auditEvents"]["edges"]
        .clone();
    assert_eq!(manifest["format"], "gatehouse-evidence-pack");
    let instant = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert_eq!(instant(&manifest["period"]["from"]), instant(&json!(from)));
    assert!(
        manifest["generatedBy"]
            .as_str()
            .unwrap()
            .starts_with("cli:")
    );
    assert_eq!(
        manifest["chainHead"],
        json!({"seq": 9, "hash": events[8]["node"]["hash"]})
    );
    let segment = &manifest["auditEvents"];
    assert_eq!(segment["firstSeq"], 7);
    assert_eq!(segment["lastSeq"], 9);
    assert_eq!(segment["count"], 3);
    assert_eq!(segment["prevHash"], events[5]["node"]["hash"]);
    assert_eq!(segment["intact"], true);

    // Every dataset as JSONL and CSV, each file listed with its hash.
    let names: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "audit_events.jsonl",
            "audit_events.csv",
            "changes.jsonl",
            "changes.csv",
            "approvals.jsonl",
            "approvals.csv",
            "evidence.jsonl",
            "evidence.csv",
            "incidents.jsonl",
            "incidents.csv",
            "reviews.jsonl",
            "reviews.csv",
            "population.jsonl",
            "population.csv",
            "exceptions.jsonl",
            "exceptions.csv"
        ]
    );
    let recorded = jsonl(&out.join("audit_events.jsonl"));
    let seqs: Vec<i64> = recorded
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [7, 8, 9]);
    assert_eq!(recorded[0]["action"], "change.updated");

    // The changes touched in the period: the edited one and the two new
    // ones, as stored now.
    let changes = jsonl(&out.join("changes.jsonl"));
    let numbers: Vec<&str> = changes
        .iter()
        .map(|c| c["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers.len(), 3);
    assert_eq!(numbers[0], early["number"].as_str().unwrap());
    assert_eq!(numbers[1], later["number"].as_str().unwrap());
    assert_eq!(changes[0]["title"], "=cmd|' /C calc'!A0");
    assert_eq!(changes[0]["version"], 2);
    assert_eq!(changes[0]["systemIds"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["datasets"][1]["rows"], 3);
    // The CSV keeps a spreadsheet from running the title as a formula.
    let csv = std::fs::read_to_string(out.join("changes.csv")).unwrap();
    assert!(csv.starts_with("id,number,title,"), "{csv}");
    assert!(csv.contains(",'=cmd|' /C calc'!A0,"), "{csv}");

    let (code, printed) = verify_offline(&out);
    assert_eq!(code, 0, "{printed}");
    assert!(printed.contains("OK: 3 events, seq 7..9"), "{printed}");

    // The period's population: the two changes created in it (an edit
    // does not bring a change into it), with the digest auditPopulation
    // gives for the period, checked by the verifier.
    let population = jsonl(&out.join("population.jsonl"));
    assert_eq!(population.len(), 2);
    assert_eq!(population[0]["number"], later["number"]);
    assert_eq!(manifest["population"]["count"], 2);
    let period = json!({"from": from, "to": to});
    let api = app
        .data(
            ADMIN_TOKEN,
            "query($from: DateTime!, $to: DateTime!) { auditPopulation(from: $from, to: $to) { digest } }",
            period.clone(),
        )
        .await;
    assert_eq!(
        manifest["population"]["digest"],
        api["auditPopulation"]["digest"]
    );
    assert!(printed.contains("population: 2 changes"), "{printed}");
    // Redrawn from the pack, the sample the API draws.
    let sample = app
        .data(
            ADMIN_TOKEN,
            "query($from: DateTime!, $to: DateTime!) { auditSample(from: $from, to: $to, size: 1, seed: \"FY2026\") { draws { member { uuid number } } } }",
            period,
        )
        .await;
    let (code, printed) = verify_offline_with(&out, &["--sample-size", "1", "--seed", "FY2026"]);
    assert_eq!(code, 0, "{printed}");
    let drawn = &sample["auditSample"]["draws"][0]["member"];
    let redrawn: Value = printed
        .lines()
        .find_map(|line| line.strip_prefix("sample: "))
        .map(|list| serde_json::from_str(list).unwrap())
        .unwrap_or_else(|| panic!("no sample in {printed}"));
    assert_eq!(redrawn, json!([drawn]), "{printed}");

    // An edited event: the file hash no longer matches, and the chain
    // recomputation names the event.
    let path = out.join("audit_events.jsonl");
    let mut lines: Vec<Value> = jsonl(&path);
    lines[1]["payload"] = json!("{\"title\":\"Nothing to see\"}");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, &text).unwrap();
    let (code, printed) = verify_offline(&out);
    assert_eq!(code, 2, "{printed}");
    assert!(
        printed.contains("FILE MISMATCH audit_events.jsonl"),
        "{printed}"
    );
    assert!(printed.contains("BROKEN at event 8:"), "{printed}");

    // Even with the manifest's file hash rewritten to match, the chain
    // gives the edit away.
    let mut forged = manifest.clone();
    for file in forged["files"].as_array_mut().unwrap() {
        if file["name"] == "audit_events.jsonl" {
            file["sha256"] = json!(sha256_hex(text.as_bytes()));
            file["bytes"] = json!(text.len());
        }
    }
    std::fs::write(out.join("manifest.json"), forged.to_string()).unwrap();
    let (code, printed) = verify_offline(&out);
    assert_eq!(code, 2, "{printed}");
    assert!(!printed.contains("FILE MISMATCH"), "{printed}");
    assert!(printed.contains("BROKEN at event 8:"), "{printed}");
    assert!(printed.contains("edited"), "{printed}");
    std::fs::remove_dir_all(&out).ok();

    // An existing, non-empty directory is never overwritten.
    let again = gatehouse(
        &app.database_url,
        &[
            "audit",
            "export",
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            &std::env::temp_dir().display().to_string(),
        ],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_download_a_pack_over_http() {
    let app = spawn_app().await;
    let (_, _, _) = history(&app).await;
    let auditor = app.user("Audrey", &["auditor"]).await;
    let (from, to) = wide_period();
    let response = app
        .client
        .get(format!("{}/audit/export", app.base_url))
        .query(&[("from", &from), ("to", &to)])
        .bearer_auth(&auditor.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-tar");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"gatehouse-evidence-"),
        "{disposition}"
    );
    let archive = scratch_dir("http").with_extension("tar");
    std::fs::write(&archive, response.bytes().await.unwrap()).unwrap();
    let (code, printed) = verify_offline(&archive);
    assert_eq!(code, 0, "{printed}");
    // Bootstrap (2) + history (7) + the auditor's account and token (2).
    assert!(printed.contains("OK: 11 events, seq 1..11"), "{printed}");
    assert!(printed.contains(&"0".repeat(64)), "{printed}");
    std::fs::remove_file(&archive).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_endpoint_is_for_auditors_and_admins_only() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester", "cto"]).await;
    let (from, to) = wide_period();
    let get = |token: Option<String>, from: String, to: String| {
        let mut request = app
            .client
            .get(format!("{}/audit/export", app.base_url))
            .query(&[("from", from), ("to", to)]);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let (status, body) = get(None, from.clone(), to.clone()).await;
    assert_eq!((status, error_code(&body)), (401, "UNAUTHENTICATED"));
    let (status, body) = get(Some("gh_nope".into()), from.clone(), to.clone()).await;
    assert_eq!((status, error_code(&body)), (401, "UNAUTHENTICATED"));
    let (status, body) = get(Some(ada.token.clone()), from.clone(), to.clone()).await;
    assert_eq!((status, error_code(&body)), (403, "FORBIDDEN"));
    let (status, body) = get(Some(ADMIN_TOKEN.into()), "yesterday".into(), to.clone()).await;
    assert_eq!((status, error_code(&body)), (400, "VALIDATION"));
    assert_eq!(body["errors"][0]["extensions"]["field"], "from");
    let (status, body) = get(Some(ADMIN_TOKEN.into()), to.clone(), from.clone()).await;
    assert_eq!((status, error_code(&body)), (400, "VALIDATION"));
    assert_eq!(body["errors"][0]["extensions"]["field"], "to");
    let (status, _) = get(Some(ADMIN_TOKEN.into()), from, to).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_period_without_events_gives_an_empty_pack_that_verifies() {
    let app = spawn_app().await;
    let out = scratch_dir("empty");
    let manifest = export_period(
        &app.database_url,
        &out,
        "2001-01-01T00:00:00Z",
        "2001-02-01T00:00:00Z",
    );
    assert_eq!(manifest["auditEvents"]["count"], 0);
    assert_eq!(manifest["auditEvents"]["firstSeq"], Value::Null);
    assert_eq!(manifest["chainHead"]["seq"], 2);
    let (code, printed) = verify_offline(&out);
    assert_eq!(code, 0, "{printed}");
    std::fs::remove_dir_all(&out).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_holds_the_approvals_evidence_incidents_and_reviews_of_its_changes() {
    let flow = crate::lifecycle::Flow::new("tiered-cab").await;
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let change = flow.started_normal(&manager).await;
    let id = &change["id"];
    flow.app
        .data(
            &flow.requester.token,
            "mutation($id: ID!) { rollBackChange(id: $id, reason: \"p99 latency doubled\", rollbackKind: \"version_revert\") {
                change { status } } }",
            json!({"id": id}),
        )
        .await;
    flow.review(&manager.token, id, "POST_IMPLEMENTATION").await;

    let out = scratch_dir("lifecycle");
    let manifest = cli_export(&flow.app.database_url, &out).await;
    let rows = |key: &str| {
        manifest["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["key"] == key)
            .unwrap()["rows"]
            .clone()
    };
    let number = change["number"].as_str().unwrap();

    let approvals = jsonl(&out.join("approvals.jsonl"));
    assert_eq!(rows("approvals"), 1);
    assert_eq!(approvals[0]["changeNumber"], number);
    assert_eq!(
        approvals[0]["approverId"],
        json!(crate::helpers::uuid_of(&manager.id))
    );
    assert_eq!(approvals[0]["decision"], "APPROVE");
    assert_eq!(approvals[0]["round"], 1);
    assert_eq!(approvals[0]["retroactive"], false);

    let evidence = jsonl(&out.join("evidence.jsonl"));
    let mut gates: Vec<&str> = evidence
        .iter()
        .map(|e| e["gate"].as_str().unwrap())
        .collect();
    gates.sort_unstable();
    assert_eq!(
        gates,
        [
            "deployment_preparation",
            "integration_tests",
            "qa_review",
            "unit_tests"
        ]
    );
    assert!(evidence.iter().all(|e| e["changeNumber"] == number));

    let incidents = jsonl(&out.join("incidents.jsonl"));
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["priority"], "P3");
    assert_eq!(incidents[0]["changeNumber"], number);

    let reviews = jsonl(&out.join("reviews.jsonl"));
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["kind"], "POST_IMPLEMENTATION");
    assert_eq!(
        reviews[0]["reviewerId"],
        json!(crate::helpers::uuid_of(&manager.id))
    );

    // The change record carries its lifecycle too.
    let changes = jsonl(&out.join("changes.jsonl"));
    assert_eq!(changes[0]["status"], "ROLLED_BACK");
    assert_eq!(changes[0]["rollbackReason"], "p99 latency doubled");
    assert_eq!(changes[0]["rollbackKind"], "version_revert");
    assert!(changes[0]["restoreDueAt"].is_string(), "{:#}", changes[0]);
    assert!(changes[0]["restoredAt"].is_null(), "{:#}", changes[0]);
    assert_eq!(changes[0]["approvalRound"], 1);
    // CSV headers are the manifest's columns.
    let csv = std::fs::read_to_string(out.join("approvals.csv")).unwrap();
    assert!(
        csv.starts_with("id,changeId,changeNumber,round,approverId,decision,"),
        "{csv}"
    );

    let (code, printed) = verify_offline(&out);
    assert_eq!(code, 0, "{printed}");
}

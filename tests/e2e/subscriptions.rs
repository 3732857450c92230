//! Live change events over graphql-ws, driven by the reference `graphql-ws`
//! npm client (tests/node). On PostgreSQL the subscriber and the writer are
//! two server processes sharing the database; on SQLite (one process by
//! design) both roles are the same server.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Mutex,
};

use serde_json::Value;

use crate::helpers::{ADMIN_TOKEN, postgres_admin_url, spawn_app};

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Installs the pinned client from package-lock.json on first use.
fn ensure_node_modules() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if node_dir().join("node_modules/graphql-ws").exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(node_dir())
        .status()
        .expect("npm runs (Node.js 20+ is required for this test)");
    assert!(status.success(), "npm ci in tests/node failed");
}

/// A second Gatehouse process; killed when dropped.
struct Server {
    child: Child,
    base_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn serve(database_url: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env("GATEHOUSE_BOOTSTRAP_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("gatehouse serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let base_url = loop {
        let line = lines.next().expect("serve prints its address").unwrap();
        if let Some(rest) = line.strip_prefix("Gatehouse listening on ") {
            break rest.trim_end_matches("/graphql").to_owned();
        }
    };
    Server { child, base_url }
}

#[tokio::test]
async fn graphql_ws_client_receives_committed_events_from_another_process() {
    ensure_node_modules();
    let a = spawn_app().await;
    let requester = a.user("Rita Requester", &["requester"]).await;
    let second = postgres_admin_url().map(|_| serve(&a.database_url));
    let b_url = second
        .as_ref()
        .map_or_else(|| a.base_url.clone(), |s| s.base_url.clone());
    if second.is_none() {
        eprintln!(
            "SQLite: one process subscribes and writes (cross-process part runs on PostgreSQL)"
        );
    }
    let output = tokio::process::Command::new("node")
        .arg("subscribe.mjs")
        .current_dir(node_dir())
        .env("A_URL", &a.base_url)
        .env("B_URL", &b_url)
        .env("TOKEN", &requester.token)
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    let number = result["created"]["number"].as_str().unwrap();
    let id = result["created"]["id"].as_str().unwrap();
    assert_eq!(result["refused"], "POLICY_VIOLATION", "{result:#}");

    let events = result["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{result:#}");
    assert_eq!(events[0]["action"], "change.created");
    assert_eq!(events[0]["statusBefore"], Value::Null);
    assert_eq!(events[0]["statusAfter"], "DRAFT");
    assert_eq!(events[1]["action"], "change.submitted");
    assert_eq!(events[1]["statusBefore"], "DRAFT");
    assert_eq!(events[1]["statusAfter"], "AWAITING_APPROVAL");
    for event in events {
        assert_eq!(event["changeId"], id);
        assert_eq!(event["number"], number);
        assert_eq!(event["type"], "normal");
        assert_eq!(event["actorEmail"], requester.email.as_str());
        assert!(event["occurredAt"].as_str().is_some());
    }
    // Filters: only the status asked for, nothing for another change.
    assert_eq!(result["submitted"].as_array().unwrap().len(), 1);
    assert_eq!(result["submitted"][0]["action"], "change.submitted");
    assert_eq!(result["unrelated"], serde_json::json!([]));
    // No token or an unknown one: the connection is refused.
    assert_eq!(result["refusedNoToken"], true);
    assert_eq!(result["refusedBadToken"], true);
    // Every subscription stream ended with its client.
    assert_eq!(result["gaugeBefore"], 0);
    assert_eq!(result["gaugeAfter"], 0);
}

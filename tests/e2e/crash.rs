//! Crash safety: a server killed with SIGKILL in the middle of a write load
//! loses nothing it acknowledged, and the audit chain still verifies after
//! the restart (SQLite in WAL mode with synchronous=FULL, and PostgreSQL).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, fresh_database_url};

fn start(database_url: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env("GATEHOUSE_BOOTSTRAP_TOKEN", ADMIN_TOKEN)
        .env("GATEHOUSE_RATE_LIMIT_PER_MINUTE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("gatehouse starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("serve prints its address").unwrap();
        if let Some(rest) = line.strip_prefix("Gatehouse listening on ") {
            break rest.trim_end_matches("/graphql").to_owned();
        }
    };
    (child, address)
}

async fn create_system(client: &reqwest::Client, address: &str, name: String) -> Option<String> {
    let response = client
        .post(format!("{address}/graphql"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"query": "mutation($n: String!) { createSystem(input: {name: $n}) { id } }", "variables": {"n": name}}))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let body: Value = response.json().await.ok()?;
    body["data"]["createSystem"]["id"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_and_the_chain_verifies() {
    let database_url = fresh_database_url().await;
    let (mut server, address) = start(&database_url);
    let client = reqwest::Client::new();
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    // Eight writers hammer the server; each acknowledged id is reported.
    let mut writers = Vec::new();
    for writer in 0..8 {
        let (client, address, sender) = (client.clone(), address.clone(), sender.clone());
        writers.push(tokio::spawn(async move {
            for n in 0..10_000 {
                match create_system(&client, &address, format!("w{writer}-{n}")).await {
                    Some(id) => {
                        if sender.send(id).is_err() {
                            return;
                        }
                    }
                    None => return,
                }
            }
        }));
    }
    drop(sender);
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 150 {
        acknowledged.push(receiver.recv().await.expect("writes are acknowledged"));
    }
    // Mid-load, without warning.
    server.kill().unwrap();
    server.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    while let Ok(id) = receiver.try_recv() {
        acknowledged.push(id);
    }

    let (mut restarted, address) = start(&database_url);
    let body: Value = client
        .post(format!("{address}/graphql"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"query": "{ systems { id } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: std::collections::HashSet<&str> = body["data"]["systems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
    restarted.kill().ok();
    restarted.wait().ok();

    let verify = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["audit", "verify"])
        .env("GATEHOUSE_DATABASE_URL", &database_url)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{report}");
    assert!(report.starts_with("OK"), "{report}");
}

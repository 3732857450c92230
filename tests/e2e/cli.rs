use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::json;

use crate::helpers::{fresh_database_url, spawn_app_with};

pub(crate) fn gatehouse(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env_remove("GATEHOUSE_BOOTSTRAP_TOKEN")
        .env_remove("GATEHOUSE_CONFIG")
        .output()
        .expect("gatehouse runs")
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn schema_command_prints_the_sdl() {
    let output = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("schema")
        .output()
        .unwrap();
    assert_eq!(stdout(&output), api::graphql::sdl());
}

fn policy_command(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("policy")
        .args(args)
        .env_remove("GATEHOUSE_CONFIG")
        .output()
        .expect("gatehouse runs")
}

#[test]
fn policy_check_validates_a_file_without_a_server_and_names_the_bad_entry() {
    let preset = include_str!("../../api/src/policy/presets/cab-quorum.toml");
    let dir = std::env::temp_dir().join(format!("gh_policy_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("ours.toml");
    std::fs::write(
        &good,
        preset.replace("name = \"cab-quorum\"", "name = \"ours\""),
    )
    .unwrap();
    let said = stdout(&policy_command(&["check", good.to_str().unwrap()]));
    assert!(
        said.contains("valid policy `ours` with 3 change types (standard, normal, emergency)"),
        "{said}"
    );
    assert!(!said.contains("warning"), "{said}");

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        preset.replace("\"planned_window\"]", "\"planned_windows\"]"),
    )
    .unwrap();
    let refused = policy_command(&["check", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("planned_windows"), "{said}");
    assert!(
        said.contains("line"),
        "the TOML error points at the line: {said}"
    );

    let unusual = dir.join("unusual.toml");
    std::fs::write(&unusual, preset.replace("max_risk_level = \"low\"\n", "")).unwrap();
    let said = stdout(&policy_command(&["check", unusual.to_str().unwrap()]));
    assert!(
        said.contains("warning: change type `standard` is pre-approved at any risk"),
        "{said}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn policy_explain_says_per_type_who_approves_and_what_is_due() {
    let said = stdout(&policy_command(&["explain", "dual-approval"]));
    for expected in [
        "Policy `dual-approval`",
        "Emergency",
        "Approval: ",
        "given before implementation starts",
        "a sign-off given after implementation started",
        "Documentation due 24 hours after implementation starts.",
        "Review due 5 business days after implementation ends.",
        "Before implementation: ",
        "Notice: scheduled at least 24 hours before the start.",
        "Audit trail: kept for 3 years",
    ] {
        assert!(said.contains(expected), "missing {expected:?} in\n{said}");
    }
    let refused = policy_command(&["explain", "no-such-policy"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a preset either"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_tokens_from_the_cli_work_over_http() {
    let database_url = fresh_database_url().await;
    let added = stdout(&gatehouse(
        &database_url,
        &[
            "users",
            "add",
            "--name",
            "Grace",
            "--email",
            "grace@example.com",
            "--roles",
            "requester,change_manager",
        ],
    ));
    assert!(
        added.contains("grace@example.com roles=change_manager,requester"),
        "{added}"
    );
    let secret = stdout(&gatehouse(
        &database_url,
        &[
            "tokens",
            "issue",
            "--user",
            "grace@example.com",
            "--expires-in-days",
            "30",
        ],
    ));
    let secret = secret.trim().to_owned();
    assert!(secret.starts_with("gh_"));

    let status = stdout(&gatehouse(&database_url, &["migrate", "status"]));
    assert!(
        status.contains("Applied") && status.contains("m20261123_000001_foundation"),
        "{status}"
    );
    let listed = stdout(&gatehouse(
        &database_url,
        &["tokens", "list", "--user", "grace@example.com"],
    ));
    assert!(listed.contains("expires"), "{listed}");

    // The server on the same database accepts the CLI-issued token, and
    // creates no admin because accounts already exist.
    let url = database_url.clone();
    let app = spawn_app_with(move |settings| settings.database_url = url).await;
    let me = app.data(&secret, "{ me { email roles } }", json!({})).await;
    assert_eq!(
        me["me"],
        json!({"email": "grace@example.com", "roles": ["change_manager", "requester"]})
    );
    let refused = app
        .graphql(crate::helpers::ADMIN_TOKEN, "{ me { email } }", json!({}))
        .await;
    assert_eq!(crate::helpers::error_code(&refused), "UNAUTHENTICATED");

    // CLI writes are in the audit trail under the operator's name.
    let verified = stdout(&gatehouse(&database_url, &["audit", "verify"]));
    assert!(verified.starts_with("OK: 2 events"), "{verified}");
    let bad_user = gatehouse(
        &database_url,
        &["tokens", "issue", "--user", "nobody@example.com"],
    );
    assert!(!bad_user.status.success());
    assert!(String::from_utf8_lossy(&bad_user.stderr).contains("not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_go_down_and_up_again() {
    let database_url = fresh_database_url().await;
    stdout(&gatehouse(&database_url, &["migrate", "up"]));
    stdout(&gatehouse(&database_url, &["migrate", "down"]));
    let status = stdout(&gatehouse(&database_url, &["migrate", "status"]));
    assert!(status.contains("Pending"), "{status}");
    stdout(&gatehouse(&database_url, &["migrate", "up"]));
    let status = stdout(&gatehouse(&database_url, &["migrate", "status"]));
    assert!(!status.contains("Pending"), "{status}");
}

/// `serve` prints the generated admin token once, serves, and stops cleanly
/// on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_bootstraps_once_and_shuts_down_gracefully_on_sigterm() {
    let database_url = fresh_database_url().await;
    for start in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("GATEHOUSE_DATABASE_URL", &database_url)
            .env_remove("GATEHOUSE_BOOTSTRAP_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        let address = loop {
            let line = lines.next().expect("serve prints its address").unwrap();
            if let Some(rest) = line.strip_prefix("Gatehouse listening on ") {
                break rest.trim_end_matches("/graphql").to_owned();
            }
            printed.push(line);
        };
        let token_lines = printed
            .iter()
            .filter(|line| line.starts_with("gh_"))
            .count();
        assert_eq!(
            token_lines,
            if start == 0 { 1 } else { 0 },
            "start {start}: {printed:?}"
        );
        if start == 0 {
            let token = printed.iter().find(|line| line.starts_with("gh_")).unwrap();
            let response: serde_json::Value = reqwest::Client::new()
                .post(format!("{address}/graphql"))
                .bearer_auth(token)
                .json(&json!({"query": "{ me { email } }"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(response["data"]["me"]["email"], "admin@localhost");
        }
        let health = reqwest::get(format!("{address}/healthz")).await.unwrap();
        assert_eq!(health.status(), 200);
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = wait_with_timeout(&mut child, Duration::from_secs(20));
        assert!(status.success(), "exit status after SIGTERM: {status:?}");
    }
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("gatehouse did not stop within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `gatehouse serve` that cannot start: its stderr and exit status.
fn failed_start(database_url: &str, envs: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .arg("serve")
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .env_remove("GATEHOUSE_BOOTSTRAP_TOKEN")
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_POLICY");
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().expect("gatehouse runs");
    assert!(!output.status.success(), "it should not have started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Start-up failures say what was tried, why it failed (once) and the
/// setting that changes it, with no password in the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_failures_name_what_was_tried_and_the_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let database = fresh_database_url().await;
    let port_in_use = failed_start(&database, &[("GATEHOUSE_LISTEN", &address)]);
    assert!(
        port_in_use.contains(&format!("cannot listen on {address}")),
        "{port_in_use}"
    );
    assert!(port_in_use.contains("GATEHOUSE_LISTEN"), "{port_in_use}");
    assert_eq!(
        port_in_use.matches("Address already in use").count(),
        1,
        "{port_in_use}"
    );

    let missing = std::env::temp_dir().join("gh_no_such_policy.toml");
    let no_policy = failed_start(
        &database,
        &[("GATEHOUSE_POLICY", missing.to_str().unwrap())],
    );
    assert!(
        no_policy.contains("cannot read policy file") && no_policy.contains("GATEHOUSE_POLICY"),
        "{no_policy}"
    );
    assert_eq!(
        no_policy.matches("No such file or directory").count(),
        1,
        "{no_policy}"
    );

    // Nothing listens on port 1 of loopback.
    let unreachable = failed_start("postgres://gatehouse:s3cret-pw@127.0.0.1:1/gatehouse", &[]);
    assert!(
        unreachable.contains(
            "cannot connect to the database at postgres://gatehouse:***@127.0.0.1:1/gatehouse"
        ),
        "{unreachable}"
    );
    assert!(
        unreachable.contains("GATEHOUSE_DATABASE_URL"),
        "{unreachable}"
    );
    assert!(!unreachable.contains("s3cret-pw"), "{unreachable}");
    assert_eq!(
        unreachable.matches("cannot connect").count(),
        1,
        "{unreachable}"
    );
    drop(taken);
}

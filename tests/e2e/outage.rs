//! Database outage: PostgreSQL stopped under load gives clients clean
//! errors within the pool's timeout (no hang, no panic), /readyz fails, and
//! the service recovers by itself when the database returns. Uses a
//! throwaway cluster of its own on another port, never the shared one.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, postgres_admin_url, spawn_app_with};

struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

fn as_postgres(bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(tool))
        .args(args)
        .output()
        .expect("runuser runs")
}

impl Cluster {
    fn create() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL binaries are installed")
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .find(|path| path.join("initdb").exists())
            .expect("initdb exists");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("gh-outage-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Command::new("chown")
            .args(["postgres:postgres", dir.to_str().unwrap()])
            .status()
            .unwrap();
        let init = as_postgres(
            &bin,
            "initdb",
            &["-D", dir.to_str().unwrap(), "-A", "trust", "-U", "postgres"],
        );
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        let cluster = Cluster { dir, port, bin };
        cluster.start();
        cluster
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.to_str().unwrap();
        let log = self.dir.join("log").to_str().unwrap().to_owned();
        let options = format!("-p {} -k /tmp -c listen_addresses=127.0.0.1", self.port);
        let mut full = vec!["-D", data, "-l", &log, "-o", &options, "-w"];
        full.extend_from_slice(args);
        let output = as_postgres(&self.bin, "pg_ctl", &full);
        assert!(
            output.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn start(&self) {
        self.pg_ctl(&["start"]);
    }

    fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "immediate"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", self.dir.to_str().unwrap(), "stop", "-m", "immediate"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_gives_clean_errors_and_the_service_recovers() {
    if postgres_admin_url().is_none() {
        eprintln!("runs in the PostgreSQL pass (GATEHOUSE_TEST_POSTGRES_URL)");
        return;
    }
    let cluster = Cluster::create();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);
    let app = spawn_app_with(move |settings| settings.database_url = url).await;
    let me = "{ me { email } }";
    assert_eq!(
        app.data(ADMIN_TOKEN, me, json!({})).await["me"]["email"],
        "admin@localhost"
    );

    cluster.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let response = app
            .client
            .post(format!("{}/graphql", app.base_url))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"query": me}))
            .send()
            .await
            .expect("the server answers");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "answered in {:?}",
            started.elapsed()
        );
        assert_eq!(response.status(), 503);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL");
        assert!(
            !body.to_string().contains("Connection refused"),
            "no internals: {body}"
        );
    }
    let ready = app
        .client
        .get(format!("{}/readyz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let health = app
        .client
        .get(format!("{}/healthz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the process itself is fine");

    cluster.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app.graphql(ADMIN_TOKEN, me, json!({})).await;
        if response["data"]["me"]["email"] == "admin@localhost" {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {response}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ready = app
        .client
        .get(format!("{}/readyz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

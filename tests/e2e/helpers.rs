//! Test harness: each test gets its own server on a free port and its own
//! database — a fresh SQLite file, or a fresh PostgreSQL database when
//! `GATEHOUSE_TEST_POSTGRES_URL` names a server (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`). Logs stay silent unless
//! `TEST_LOG` is set.

use std::sync::Once;

use api::{config::Settings, db::QueryCounter, startup::Application};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str = "gh_test_bootstrap_admin_token_0123456789";

pub struct TestApp {
    pub base_url: String,
    pub database_url: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub queries: QueryCounter,
    /// The server's clock; tests move it to reach windows and deadlines.
    pub clock: api::clock::Clock,
}

/// A created account and a token for it.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub token: String,
}

static TRACING: Once = Once::new();

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("GATEHOUSE_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A database URL nobody else uses.
pub async fn fresh_database_url() -> String {
    let name = format!("gh_test_{}", uuid::Uuid::new_v4().simple());
    match postgres_admin_url() {
        Some(admin_url) => {
            // Under CI an unreachable server must fail the run, never skip.
            let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("PostgreSQL at GATEHOUSE_TEST_POSTGRES_URL is unreachable: {e}")
            });
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let (server, _) = admin_url
                .rsplit_once('/')
                .expect("GATEHOUSE_TEST_POSTGRES_URL ends in /DATABASE");
            format!("{server}/{name}")
        }
        None => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            format!("sqlite://{}?mode=rwc", path.display())
        }
    }
}

pub fn test_settings(database_url: String) -> Settings {
    Settings {
        listen: "127.0.0.1:0".into(),
        database_url,
        bootstrap_token: Some(ADMIN_TOKEN.into()),
        ..Settings::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            // Logs only, so the guard holds no exporter (tests/e2e/telemetry.rs
            // checks trace export through the binary).
            let _logs_only = api::telemetry::init_with(api::config::LogFormat::Text, None)
                .expect("logging starts");
        }
    });
    let mut settings = test_settings(fresh_database_url().await);
    configure(&mut settings);
    let app = Application::build(&settings)
        .await
        .expect("application builds");
    let base_url = format!("http://{}", app.address());
    let db = app.db().clone();
    let queries = app.query_counter();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        clock: settings.clock.clone(),
        base_url,
        database_url: settings.database_url,
        client: reqwest::Client::new(),
        db,
        queries,
    }
}

impl TestApp {
    /// Posts a GraphQL request and returns the whole response body.
    pub async fn graphql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.client
            .post(format!("{}/graphql", self.base_url))
            .bearer_auth(token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("JSON response")
    }

    /// Like `graphql` but fails the test on any error and returns `data`.
    pub async fn data(&self, token: &str, query: &str, variables: Value) -> Value {
        let response = self.graphql(token, query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// Creates an account with the given roles (by the bootstrap admin) and
    /// a token for it, issued as a real deployment issues a person's first
    /// token: by the operator on the host (`gatehouse tokens issue`), since
    /// an admin may not hold another person's credentials.
    pub async fn user(&self, name: &str, roles: &[&str]) -> TestUser {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        let created = self
            .data(
                ADMIN_TOKEN,
                "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
                json!({"input": {"name": name, "email": email, "roles": roles}}),
            )
            .await;
        let id = created["createUser"]["id"].as_str().unwrap().to_owned();
        let token = self.operator_token(&id).await;
        TestUser { id, email, token }
    }

    /// A token for the account `user_id`, issued by the operator through
    /// the same service call `gatehouse tokens issue` makes.
    pub async fn operator_token(&self, user_id: &str) -> String {
        let operator = api::service::Caller::Operator {
            label: "cli:tests".into(),
        };
        api::service::tokens::issue(&self.db, &operator, uuid_of(user_id), "test", None)
            .await
            .expect("the operator issues a token")
            .secret
    }

    pub async fn system(&self, name: &str, parent: Option<&str>) -> String {
        let data = self
            .data(
                ADMIN_TOKEN,
                "mutation($input: CreateSystemInput!) { createSystem(input: $input) { id } }",
                json!({"input": {"name": name, "parentId": parent}}),
            )
            .await;
        data["createSystem"]["id"].as_str().unwrap().to_owned()
    }

    /// Files a change with sensible defaults overridden by `fields`.
    pub async fn create_change(&self, token: &str, fields: Value) -> Value {
        let mut input = json!({
            "title": "Rotate TLS certificates",
            "description": "Replace certificates expiring next month",
            "businessJustification": "Avoid an outage when the current ones expire",
            "type": "normal",
            "likelihood": 2,
            "impact": 3,
        });
        for (key, value) in fields.as_object().cloned().unwrap_or_default() {
            input[key] = value;
        }
        let data = self
            .data(
                token,
                &format!("mutation($input: CreateChangeInput!) {{ createChange(input: $input) {{ {CHANGE_FIELDS} }} }}"),
                json!({"input": input}),
            )
            .await;
        data["createChange"].clone()
    }

    /// Events in the chain, after sealing what is committed (as every
    /// reader of the trail does).
    pub async fn audit_event_count(&self) -> i64 {
        api::store::audit::seal_before_reading(&self.db).await;
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM audit_events",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

pub const CHANGE_FIELDS: &str = "id number title type status version
    risk { likelihood impact inherentScore residualScore level }
    requester { id email } systems { id name }";

/// `extensions.code` of the first error.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {response:#}"))
}

/// The Python interpreter with the independent parsers the tests read
/// Gatehouse's output with (installed from PyPI on a fresh machine by
/// scripts/ensure_python_deps.sh).
pub fn python() -> String {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let output = std::process::Command::new("bash")
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/scripts/ensure_python_deps.sh"
                ))
                .output()
                .expect("ensure_python_deps.sh runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap().trim().to_owned()
        })
        .clone()
}

/// A `gatehouse serve` process of the built binary (for what an in-process
/// server cannot show: another process, signals, exporters); killed when
/// dropped.
pub struct Server {
    pub child: std::process::Child,
    pub base_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Starts `gatehouse serve` on a free port with the test admin token and
/// `envs` added, nothing `OTEL_*` inherited from the developer's shell.
pub fn serve(database_url: &str, envs: &[(&str, &str)]) -> Server {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env("GATEHOUSE_BOOTSTRAP_TOKEN", ADMIN_TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") {
            command.env_remove(key);
        }
    }
    command.envs(envs.iter().copied());
    let mut child = command.spawn().expect("gatehouse serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let base_url = loop {
        let line = lines.next().expect("serve prints its address").unwrap();
        if let Some(rest) = line.strip_prefix("Gatehouse listening on ") {
            break rest.trim_end_matches("/graphql").to_owned();
        }
    };
    Server { child, base_url }
}

/// The record's key inside a GraphQL global id (`Change:uuid`), as the
/// database, webhooks and evidence packs hold it.
pub fn uuid_of(id: &str) -> uuid::Uuid {
    id.rsplit(':')
        .next()
        .and_then(|uuid| uuid.parse().ok())
        .unwrap_or_else(|| panic!("{id} is not a global id"))
}

/// Debian's Chromium, installed on a fresh machine by
/// scripts/ensure_chromium.sh.
fn chromium() -> String {
    static CHROMIUM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CHROMIUM
        .get_or_init(|| {
            let installed = std::process::Command::new("bash")
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/scripts/ensure_chromium.sh"
                ))
                .output()
                .expect("ensure_chromium.sh runs");
            assert!(
                installed.status.success(),
                "{}",
                String::from_utf8_lossy(&installed.stderr)
            );
            String::from_utf8(installed.stdout)
                .unwrap()
                .trim()
                .to_owned()
        })
        .clone()
}

/// The page's DOM once its scripts have run, as headless Chromium renders
/// it in a window `window_width` CSS pixels wide (a fresh profile each
/// time, so no page sees another's state).
pub fn headless_chromium_dom(url: &str, window_width: u32) -> String {
    let profile = std::env::temp_dir().join(format!("gh-chromium-{}", uuid::Uuid::new_v4()));
    let output = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            &format!("--window-size={window_width},900"),
            &format!("--user-data-dir={}", profile.display()),
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ])
        .output()
        .expect("chromium runs");
    std::fs::remove_dir_all(&profile).ok();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

//! Report downloads over HTTP and from the CLI, read back by independent
//! readers (pyarrow, openpyxl, Python's csv module; see
//! scripts/ensure_python_deps.sh).

use std::process::Command;

use entity::ChangeOutcome;
use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_TOKEN, TestApp, fresh_database_url, python, spawn_app_with},
    metrics::implemented,
};

/// Runs a Python snippet on `file` and parses the JSON it prints.
fn read_back(script: &str, file: &std::path::Path) -> Value {
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "reader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn seeded(database_url: String) -> TestApp {
    let app = spawn_app_with(move |settings| settings.database_url = database_url).await;
    let ada = app.user("Ada", &["requester"]).await;
    let api = app.system("api", None).await;
    for (kind, outcome, end) in [
        ("normal", ChangeOutcome::Successful, "2026-10-02T01:00:00Z"),
        (
            "normal",
            ChangeOutcome::SuccessfulWithIssues,
            "2026-10-05T01:00:00Z",
        ),
        (
            "emergency",
            ChangeOutcome::RolledBack,
            "2026-09-10T02:00:00Z",
        ),
        ("normal", ChangeOutcome::Failed, "2026-10-20T02:00:00Z"),
    ] {
        implemented(
            &app,
            &ada.token,
            kind,
            outcome,
            "2026-09-01T00:00:00Z",
            "2026-09-01T00:00:00Z",
            end,
            vec![api.clone()],
        )
        .await;
    }
    app
}

async fn download(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.base_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn save(app: &TestApp, path: &str, name: &str) -> std::path::PathBuf {
    let response = download(app, path, Some(ADMIN_TOKEN)).await;
    assert_eq!(response.status(), 200, "{path}");
    let file = std::env::temp_dir().join(format!("{}-{name}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, response.bytes().await.unwrap()).unwrap();
    file
}

#[tokio::test]
async fn exports_read_back_with_independent_readers() {
    let app = seeded(fresh_database_url().await).await;

    let parquet = save(
        &app,
        "/reports/monthly?period=2026-10&format=parquet",
        "m.parquet",
    )
    .await;
    let table = read_back(
        "import sys, json, pyarrow.parquet as pq\n\
         t = pq.read_table(sys.argv[1]).to_pydict()\n\
         print(json.dumps({k: t[k] for k in ['period_label', 'implemented', 'success_rate', 'rollback_rate']}))",
        &parquet,
    );
    let labels = table["period_label"].as_array().unwrap();
    assert_eq!(labels.len(), 12);
    assert_eq!(labels[0], "2025-11");
    assert_eq!(labels[11], "2026-10");
    assert_eq!(table["implemented"][10], 1);
    assert_eq!(table["implemented"][11], 3);
    assert_eq!(table["success_rate"][11], 2.0 / 3.0);
    assert_eq!(table["rollback_rate"][10], 1.0);
    assert_eq!(table["success_rate"][0], Value::Null);

    let csv = save(
        &app,
        "/reports/quarterly?period=2026-Q3&format=csv&table=by-type",
        "q.csv",
    )
    .await;
    let rows = read_back(
        "import sys, csv, json\nprint(json.dumps(list(csv.DictReader(open(sys.argv[1], newline='')))))",
        &csv,
    );
    assert!(
        rows.as_array()
            .unwrap()
            .contains(&json!({"period_label": "2026-Q3", "key": "emergency", "count": "1"})),
        "{rows}"
    );

    let xlsx = save(
        &app,
        "/reports/trends?from=2026-Q1&to=2026-Q4&format=xlsx",
        "t.xlsx",
    )
    .await;
    let book = read_back(
        "import sys, json, zipfile, openpyxl\n\
         wb = openpyxl.load_workbook(sys.argv[1])\n\
         trend = [[c.value for c in r] for r in wb['Trend'].iter_rows(min_row=1, max_col=3)]\n\
         charts = [n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.startswith('xl/charts/chart')]\n\
         print(json.dumps({'sheets': wb.sheetnames, 'trend': trend, 'charts': len(charts)}))",
        &xlsx,
    );
    assert_eq!(
        book["sheets"],
        json!([
            "Summary",
            "Trend",
            "Months",
            "By type",
            "By outcome",
            "By system",
            "Emergencies",
            "Rollbacks"
        ])
    );
    assert_eq!(
        book["trend"][0],
        json!(["Period", "Implemented", "Success rate"])
    );
    assert_eq!(book["trend"][3], json!(["2026-Q3", 1, 0]));
    assert_eq!(book["trend"][4], json!(["2026-Q4", 3, 2.0 / 3.0]));
    assert_eq!(book["charts"], 3);

    let html = download(
        &app,
        "/reports/monthly?period=2026-10&format=html",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    let html = html.text().await.unwrap();
    assert!(html.contains("<svg") && html.contains("Success rate"));
    assert!(
        !html.contains("src=") && !html.contains("<link"),
        "no external assets"
    );

    let json_report: Value = download(
        &app,
        "/reports/cab-weekly?week=2026-W40&format=json",
        Some(ADMIN_TOKEN),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(json_report["kind"], "cabWeekly");
    assert_eq!(json_report["headline"]["period"], "2026-W40");
    assert_eq!(json_report["series"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn report_downloads_need_a_token_and_valid_arguments() {
    let app = seeded(fresh_database_url().await).await;
    let anonymous = download(&app, "/reports/monthly?period=2026-10", None).await;
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let bad = download(&app, "/reports/monthly?period=2026-13", Some(ADMIN_TOKEN)).await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({"code": "VALIDATION", "field": "period"})
    );
    let zone = download(
        &app,
        "/reports/monthly?period=2026-10&timeZone=Nowhere",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(zone.status(), 400);
    let format = download(
        &app,
        "/reports/monthly?period=2026-10&format=pdf",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(format.status(), 400);
    let unknown = download(&app, "/reports/yearly?period=2026", Some(ADMIN_TOKEN)).await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn the_cli_writes_the_same_reports() {
    let database_url = fresh_database_url().await;
    let _app = seeded(database_url.clone()).await;
    let out = std::env::temp_dir().join(format!("{}-report.md", uuid::Uuid::new_v4().simple()));
    let output = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "report", "monthly", "--period", "2026-10", "--format", "md", "--out",
        ])
        .arg(&out)
        .env("GATEHOUSE_DATABASE_URL", &database_url)
        .env_remove("GATEHOUSE_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let markdown = std::fs::read_to_string(&out).unwrap();
    assert!(
        markdown.contains("| Implemented changes | – | 3 | – |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| Success rate | > 95 % | 66.7 % | missed |"),
        "{markdown}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["report", "quarterly", "--period", "2026-Q9"])
        .env("GATEHOUSE_DATABASE_URL", &database_url)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2026-Q9"));
}

//! Report downloads over HTTP and from the CLI, read back by independent
//! readers (pyarrow, openpyxl, Python's csv module; see
//! scripts/ensure_python_deps.sh), and the HTML report as headless
//! Chromium lays it out (scripts/ensure_chromium.sh).

use std::process::Command;

use entity::ChangeOutcome;
use serde_json::{Value, json};

use crate::{
    helpers::{
        ADMIN_TOKEN, TestApp, fresh_database_url, headless_chromium_dom, python, spawn_app,
        spawn_app_with,
    },
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

/// The checks the page runs on itself once laid out: every chart's faults
/// and what it shows, and the text a reader sees.
const LAYOUT_CHECK: &str = include_str!("fixtures/report_layout.js");

/// The windows the report is laid out in: a laptop's, where the charts
/// stand two by two, and the narrowest headless Chromium opens (half a
/// screen, a tablet upright), where they stack.
const WINDOW_WIDTHS: [u32; 2] = [1280, 500];

/// The report `html` as headless Chromium lays it out in a window
/// `width` wide, measured by `LAYOUT_CHECK`: `{charts, pageFaults,
/// rawInstants, codes, text}`.
fn laid_out(html: &str, width: u32) -> Value {
    let page = html.replacen(
        "</body>",
        &format!("<script>{LAYOUT_CHECK}</script></body>"),
        1,
    );
    assert_ne!(page.len(), html.len(), "the report has a body");
    let file = std::env::temp_dir().join(format!("{}-report.html", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, page).unwrap();
    let dom = headless_chromium_dom(&format!("file://{}", file.display()), width);
    std::fs::remove_file(&file).ok();
    let marker = "<pre id=\"layout-check\">";
    let start = dom
        .rfind(marker)
        .unwrap_or_else(|| panic!("the layout check did not run: {dom}"))
        + marker.len();
    let end = start + dom[start..].find("</pre>").expect("the result is closed");
    // The DOM dump escapes these four in text; `&amp;` last, so an escaped
    // `&lt;` in the text stays as written.
    let json = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// Downloads the report at `query` (without `format`) as HTML, lays it
/// out in each of `WINDOW_WIDTHS` and adds what is wrong with it to
/// `faults`: anything of a chart outside the chart or overlapping a
/// label, the page wider than its window, raw instants or outcome codes
/// in the text. Checks that every chart has a bar (for counts) per period
/// of the report's series as its JSON gives them, the last period
/// labelled, distinct ticks, both axes titled and its target named with
/// the threshold. Returns the text a reader sees.
async fn check_layout(app: &TestApp, query: &str, faults: &mut Vec<String>) -> String {
    let report: Value = download(app, &format!("{query}&format=json"), Some(ADMIN_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    let periods: Vec<&str> = report["series"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {report}"))
        .iter()
        .map(|b| b["period"].as_str().unwrap())
        .collect();
    let response = download(app, &format!("{query}&format=html"), Some(ADMIN_TOKEN)).await;
    assert_eq!(response.status(), 200, "{query}");
    let html = response.text().await.unwrap();
    let html = &html;
    let layouts: Vec<(u32, Value)> = std::thread::scope(|scope| {
        let runs: Vec<_> = WINDOW_WIDTHS
            .iter()
            .map(|&width| scope.spawn(move || (width, laid_out(html, width))))
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });

    for (width, layout) in &layouts {
        let page = format!("{query} at {width} px");
        let charts = layout["charts"].as_array().unwrap();
        assert_eq!(charts.len(), 8, "{page}: charts");
        for chart in charts {
            let name = format!("{page} · {}", chart["caption"].as_str().unwrap());
            faults.extend(
                strings(&chart["faults"])
                    .into_iter()
                    .map(|fault| format!("{name}: {fault}")),
            );
            if chart["caption"] == "Implemented changes" {
                assert_eq!(chart["bars"], periods.len(), "{name}: a bar per period");
            }
            let labelled = strings(&chart["periods"]);
            assert!(
                labelled.iter().all(|p| periods.contains(p)),
                "{name}: {labelled:?} of {periods:?}"
            );
            assert_eq!(
                labelled.last(),
                periods.last(),
                "{name}: the current period is labelled"
            );
            let ticks = strings(&chart["ticks"]);
            let mut distinct = ticks.clone();
            distinct.sort();
            distinct.dedup();
            assert!(
                ticks.len() >= 2 && distinct.len() == ticks.len(),
                "{name}: ticks {ticks:?}"
            );
            let titles = strings(&chart["axisTitles"]);
            assert_eq!(titles.len(), 2, "{name}: axis titles {titles:?}");
            assert!(
                ["month", "quarter", "ISO week"].contains(&titles[1]),
                "{name}: {titles:?}"
            );
            if chart["targetLines"] != 0 {
                let label = chart["target"].as_str().unwrap_or_default();
                let threshold = label
                    .trim_start_matches("target ")
                    .trim_start_matches(['<', '>', '=', ' ']);
                assert!(
                    label.starts_with("target ")
                        && threshold.starts_with(|c: char| c.is_ascii_digit()),
                    "{name}: the target is named with its threshold: {label:?}"
                );
            }
        }
        faults.extend(
            strings(&layout["pageFaults"])
                .into_iter()
                .map(|fault| format!("{page}: {fault}")),
        );
        for instant in strings(&layout["rawInstants"]) {
            faults.push(format!("{page}: the instant {instant} is written raw"));
        }
        for code in strings(&layout["codes"]) {
            faults.push(format!("{page}: the code {code} is shown"));
        }
    }
    layouts[0].1["text"].as_str().unwrap().to_owned()
}

/// Three years of demo history, the reports over it from a single month's
/// to the forty quarters a trends report reads at most (most of them
/// empty), in a zone with summer time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_over_years_of_history_lays_out_inside_its_charts() {
    let database_url = fresh_database_url().await;
    let url = database_url.clone();
    let app = spawn_app_with(move |settings| settings.database_url = url).await;
    let demo = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "demo-data",
            "--changes",
            "600",
            "--months",
            "36",
            "--seed",
            "20",
            "--end",
            "2026-11-01T00:00:00Z",
        ])
        .env("GATEHOUSE_DATABASE_URL", &database_url)
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_POLICY")
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );

    let mut faults = Vec::new();
    for query in [
        "/reports/monthly?period=2026-10&timeZone=Europe/Berlin",
        "/reports/quarterly?period=2026-Q3",
        // The quarter the history ends in, a month into it.
        "/reports/quarterly?period=2026-Q4",
        "/reports/trends?from=2023-Q4&to=2026-Q3",
        "/reports/trends?from=2017-Q1&to=2026-Q4",
        "/reports/cab-weekly?week=2026-W40",
    ] {
        let text = check_layout(&app, query, &mut faults).await;
        assert!(text.contains("Headline metrics"), "{query}: {text}");
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

/// The edges: rates of 0 and 100 %, months without a change, a report of
/// one period and one of nothing at all, a system with a 200-character
/// name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_at_the_edges_lays_out_inside_its_charts() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    // Half of it one word (underscores are no place to break a line).
    let long_name = format!(
        "{} {}",
        "payments_settlement_reconciliation_ledger_".repeat(2),
        "Settlement and reconciliation of card payments for every market ".repeat(2)
    );
    let long_name = long_name[..200].trim().to_owned();
    let long = app.system(&long_name, None).await;
    let api = app.system("api", None).await;
    for (kind, outcome, end) in [
        // July: one change, successful with issues (a 100 % success rate).
        (
            "emergency",
            ChangeOutcome::SuccessfulWithIssues,
            "2026-07-14T09:30:00Z",
        ),
        // August: all successful. September: nothing.
        ("normal", ChangeOutcome::Successful, "2026-08-03T10:00:00Z"),
        ("normal", ChangeOutcome::Successful, "2026-08-12T10:00:00Z"),
        ("normal", ChangeOutcome::Successful, "2026-08-20T10:00:00Z"),
        // October: none successful (0 %), every one failed.
        ("normal", ChangeOutcome::Failed, "2026-10-20T02:00:00Z"),
        (
            "emergency",
            ChangeOutcome::RolledBack,
            "2026-10-28T23:15:00Z",
        ),
    ] {
        implemented(
            &app,
            &ada.token,
            kind,
            outcome,
            "2026-07-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
            end,
            vec![long.clone(), api.clone()],
        )
        .await;
    }

    let mut faults = Vec::new();
    let monthly = check_layout(
        &app,
        "/reports/monthly?period=2026-10&timeZone=Europe/Berlin",
        &mut faults,
    )
    .await;
    for shown in [
        long_name.as_str(),
        "failed",
        "rolled back",
        "2026-10-29 00:15 CET",
    ] {
        assert!(monthly.contains(shown), "{shown}: {monthly}");
    }
    let quarter = check_layout(&app, "/reports/quarterly?period=2026-Q3", &mut faults).await;
    assert!(quarter.contains("successful with issues"), "{quarter}");
    for query in [
        "/reports/quarterly?period=2026-Q4",
        "/reports/trends?from=2026-Q3&to=2026-Q3",
        "/reports/trends?from=2020-Q1&to=2020-Q1",
        "/reports/cab-weekly?week=2026-W39",
    ] {
        check_layout(&app, query, &mut faults).await;
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

//! GraphQL over HTTP as standard clients speak it: the specification's
//! media types and status codes (checked by the graphql-http audit suite,
//! the GraphQL Foundation's reference), bodies a browser could send
//! cross-site refused with 415, request errors with a code, introspection
//! switched off said so, and CORS for dashboards served from another
//! origin (a real page in headless Chromium).

use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_TOKEN, TestApp, error_code, headless_chromium_dom, spawn_app, spawn_app_with,
};
use crate::subscriptions::{ensure_node_modules, node_dir};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

async fn post(
    app: &TestApp,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: &str,
) -> (u16, String, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .bearer_auth(ADMIN_TOKEN)
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let media = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, media, body)
}

#[tokio::test]
async fn the_graphql_http_audit_suite_passes_every_must_and_should() {
    ensure_node_modules();
    let app = spawn_app().await;
    let output = tokio::process::Command::new("node")
        .arg("audit_http.mjs")
        .current_dir(node_dir())
        .env("BASE_URL", &app.base_url)
        .env("TOKEN", ADMIN_TOKEN)
        .output()
        .await
        .expect("node runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let failures: Vec<&str> = report
        .lines()
        .filter(|line| !line.contains("\"status\":\"ok\""))
        .collect();
    assert!(
        output.status.success(),
        "audits failed:\n{}\n{}",
        failures.join("\n"),
        String::from_utf8_lossy(&output.stderr)
    );
    let audits = report.lines().count();
    assert!(audits > 40, "the suite ran ({audits} audits)");
    // What is left is optional (MAY) and said here so it stays visible.
    for failure in failures {
        assert!(failure.contains("\"name\":\"MAY "), "{failure}");
        eprintln!("optional audit not met: {failure}");
    }
}

#[tokio::test]
async fn answers_come_in_the_media_type_asked_for_with_the_specifications_statuses() {
    let app = spawn_app().await;
    let json_type = Some("application/json");
    let query = r#"{"query": "{ me { email } }"}"#;
    for (accept, expected) in [
        (None, "application/json"),
        (Some("*/*"), "application/json"),
        (Some("application/json"), "application/json"),
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            GRAPHQL_RESPONSE,
        ),
    ] {
        let (status, media, body) = post(&app, json_type, accept, query).await;
        assert_eq!(status, 200, "{accept:?}: {body}");
        assert_eq!(media, expected, "{accept:?}");
        assert_eq!(body["data"]["me"]["email"], "admin@localhost");
    }

    // Not executed: a document that does not parse or validate, or a
    // variable that is missing or of the wrong type. 400 without `data` in
    // the specification's type, 200 in plain JSON; VALIDATION either way.
    let not_executed = [
        r#"{"query": "{ me { "}"#,
        r#"{"query": "{ me { nosuchfield } }"}"#,
        r#"{"query": "query($id: ID!) { change(id: $id) { number } }"}"#,
        r#"{"query": "query($id: ID!) { change(id: $id) { number } }", "variables": {"id": {"an": "object"}}}"#,
        r#"{"query": "query($first: Int) { changes(first: $first) { totalCount } }", "variables": {"first": "ten"}}"#,
    ];
    for body in not_executed {
        let (status, media, answer) = post(&app, json_type, Some(GRAPHQL_RESPONSE), body).await;
        assert_eq!(
            (status, media.as_str()),
            (400, GRAPHQL_RESPONSE),
            "{body}: {answer}"
        );
        assert!(answer.get("data").is_none(), "{body}: {answer}");
        assert_eq!(error_code(&answer), "VALIDATION", "{body}: {answer}");
        let (status, media, answer) = post(&app, json_type, Some("application/json"), body).await;
        assert_eq!(
            (status, media.as_str()),
            (200, "application/json"),
            "{body}: {answer}"
        );
        assert_eq!(error_code(&answer), "VALIDATION", "{body}: {answer}");
    }
    // None of them counted as a server error.
    let metrics = crate::operations::scrape(&app, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("gatehouse_graphql_errors_total") && l.contains("INTERNAL")),
        "{metrics}"
    );

    // An error in a field is an executed request: 200 with data.
    let (status, _, answer) = post(
        &app,
        json_type,
        Some(GRAPHQL_RESPONSE),
        r#"{"query": "{ change(number: \"CR-2026-9999\") { number } }"}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("data").is_some(), "{answer}");

    // Malformed bodies are 400 in either type, in the type asked for.
    let (status, media, answer) = post(&app, json_type, Some(GRAPHQL_RESPONSE), "{").await;
    assert_eq!(
        (status, media.as_str()),
        (400, GRAPHQL_RESPONSE),
        "{answer}"
    );
    assert!(answer.get("data").is_none(), "{answer}");
    assert_eq!(error_code(&answer), "VALIDATION");
}

/// A browser sends text/plain, multipart/form-data and url-encoded forms
/// cross-origin without asking first: none of them is read.
#[tokio::test]
async fn bodies_that_are_not_json_are_refused_with_415() {
    let app = spawn_app().await;
    let before = app.audit_event_count().await;
    let mutation = r#"{"query": "mutation { createSystem(input: {name: \"Forged\"}) { id } }"}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=iso-8859-1"),
    ] {
        let (status, media, answer) = post(&app, content_type, None, mutation).await;
        assert_eq!(status, 415, "{content_type:?}: {answer}");
        assert_eq!(media, "application/json");
        assert_eq!(
            error_code(&answer),
            "UNSUPPORTED_MEDIA_TYPE",
            "{content_type:?}"
        );
    }
    assert_eq!(app.audit_event_count().await, before, "nothing was written");
}

#[tokio::test]
async fn introspection_switched_off_is_an_error_not_a_null_schema() {
    let app = spawn_app_with(|settings| settings.limits.introspection = false).await;
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Change\") { name } }",
        "query { ...schema } fragment schema on Query { __schema { types { name } } }",
        "{ me { ... on User { id } } __schema { types { name } } }",
    ] {
        let answer = app.graphql(ADMIN_TOKEN, query, json!({})).await;
        assert_eq!(error_code(&answer), "VALIDATION", "{query}: {answer}");
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("introspection is switched off"),
            "{answer}"
        );
    }
    let typename = app
        .graphql(ADMIN_TOKEN, "{ __typename me { email } }", json!({}))
        .await;
    assert_eq!(typename["data"]["__typename"], "Query", "{typename}");
}

/// Serves one HTML page (a dashboard) on a port of its own: another origin.
async fn serve_page(listener: tokio::net::TcpListener, html: String) {
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let html = html.clone();
            async move { axum::response::Html(html) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
}

fn dashboard(api: &str, token: &str) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">waiting</pre><script>
fetch("{api}/graphql", {{
  method: "POST",
  headers: {{"content-type": "application/json", "authorization": "Bearer {token}", "accept": "application/graphql-response+json"}},
  body: JSON.stringify({{query: "{{ me {{ email }} }}"}})
}}).then(r => r.json()).then(
  body => {{ document.getElementById("out").textContent = "ANSWER " + JSON.stringify(body); }},
  error => {{ document.getElementById("out").textContent = "BLOCKED " + error; }});
</script></body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_on_an_allowed_origin_calls_the_api_from_a_browser() {
    let allowed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stranger = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let allowed_origin = format!("http://{}", allowed.local_addr().unwrap());
    let stranger_origin = format!("http://{}", stranger.local_addr().unwrap());
    let origin = allowed_origin.clone();
    let app = spawn_app_with(move |settings| settings.cors_allowed_origins = vec![origin]).await;

    // The preflight, as the browser sends it: no token.
    let preflight = |origin: String| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/graphql", app.base_url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let answered = preflight(allowed_origin.clone()).await.unwrap();
    assert!(answered.status().is_success(), "{}", answered.status());
    let headers = answered.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        allowed_origin.as_str()
    );
    let allowed_headers = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    assert!(headers.get("access-control-allow-credentials").is_none());
    let refused = preflight(stranger_origin.clone()).await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    serve_page(allowed, dashboard(&app.base_url, ADMIN_TOKEN)).await;
    serve_page(stranger, dashboard(&app.base_url, ADMIN_TOKEN)).await;
    let page = headless_chromium_dom(&format!("{allowed_origin}/"), 1280);
    assert!(
        page.contains(r#"ANSWER {"data":{"me":{"email":"admin@localhost"}}}"#),
        "{page}"
    );
    let page = headless_chromium_dom(&format!("{stranger_origin}/"), 1280);
    assert!(page.contains("BLOCKED"), "{page}");
}

/// With no origin configured (the default) there is no CORS at all.
#[tokio::test]
async fn no_origin_is_allowed_by_default() {
    let app = spawn_app().await;
    let preflight = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/graphql", app.base_url),
        )
        .header("origin", "https://dash.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .keys()
            .all(|name| !name.as_str().starts_with("access-control-")),
        "{:?}",
        preflight.headers()
    );
}

fn sha256_hex(document: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(document.as_bytes()))
}

/// Automatic persisted queries as Apollo Client and urql send them: the
/// hash first, the document once when the server does not know it, then
/// the hash alone, over POST or GET; GET answers carry an `ETag` that a
/// browser or CDN revalidates with `If-None-Match`.
#[tokio::test]
async fn persisted_queries_run_by_hash_and_get_answers_revalidate() {
    let app = spawn_app().await;
    let document = "query ChangeCount { changes(first: 5) { totalCount } }";
    let persisted = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(document)}});
    let by_hash = json!({"extensions": persisted}).to_string();
    let (status, _, miss) = post(&app, Some("application/json"), None, &by_hash).await;
    assert_eq!(status, 200, "{miss}");
    assert_eq!(miss["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(error_code(&miss), "PERSISTED_QUERY_NOT_FOUND");
    let (_, _, registered) = post(
        &app,
        Some("application/json"),
        None,
        &json!({"query": document, "extensions": persisted}).to_string(),
    )
    .await;
    assert_eq!(
        registered["data"]["changes"]["totalCount"], 0,
        "{registered}"
    );
    let (_, _, hit) = post(&app, Some("application/json"), None, &by_hash).await;
    assert_eq!(hit["data"]["changes"]["totalCount"], 0, "{hit}");

    // A hash that is not the document's is refused, and nothing runs.
    let forged = json!({"query": "{ me { email } }", "extensions": persisted}).to_string();
    let (_, _, refused) = post(&app, Some("application/json"), None, &forged).await;
    assert_eq!(error_code(&refused), "VALIDATION", "{refused}");

    let get = |if_none_match: Option<String>| {
        let mut request = app
            .client
            .get(format!("{}/graphql", app.base_url))
            .query(&[("extensions", persisted.to_string())])
            .bearer_auth(ADMIN_TOKEN);
        if let Some(tag) = if_none_match {
            request = request.header("if-none-match", tag);
        }
        request.send()
    };
    let first = get(None).await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(first.headers()["cache-control"], "private, no-cache");
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["data"]["changes"]["totalCount"], 0);
    let unchanged = get(Some(etag.clone())).await.unwrap();
    assert_eq!(unchanged.status(), 304);
    assert!(unchanged.bytes().await.unwrap().is_empty());

    // The data changes: the same tag no longer matches.
    let requester = app.user("Rita Requester", &["requester"]).await;
    app.create_change(&requester.token, json!({"title": "Rotate keys"}))
        .await;
    let changed = get(Some(etag.clone())).await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["data"]["changes"]["totalCount"], 1, "{body}");

    // Without a token GET is refused like POST.
    let anonymous = app
        .client
        .get(format!("{}/graphql", app.base_url))
        .query(&[("query", "{ me { email } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

/// GraphQL over HTTP: a GET never changes anything.
#[tokio::test]
async fn mutations_over_get_are_refused() {
    let app = spawn_app().await;
    let before = app.audit_event_count().await;
    let response = app
        .client
        .get(format!("{}/graphql", app.base_url))
        .query(&[(
            "query",
            "mutation { createSystem(input: {name: \"Via GET\"}) { id } }",
        )])
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "VALIDATION");
    assert_eq!(app.audit_event_count().await, before);
    let query = app
        .client
        .get(format!("{}/graphql", app.base_url))
        .query(&[
            (
                "query",
                "query($n: Int) { changes(first: $n) { totalCount } }",
            ),
            ("variables", "{\"n\": 3}"),
        ])
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200);
    let body: Value = query.json().await.unwrap();
    assert_eq!(body["data"]["changes"]["totalCount"], 0, "{body}");
}

/// A variable the request declares but does not send leaves its argument
/// out, as the GraphQL specification says: the argument's default
/// applies, and an input field is undefined rather than null.
#[tokio::test]
async fn variables_not_sent_take_the_arguments_defaults() {
    let app = spawn_app().await;
    let query = json!({"query": "query($first: Int) { cabSchedule(first: $first) }"});
    let (status, _, body) = post(&app, Some("application/json"), None, &query.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body["data"]["cabSchedule"].is_array());
    // Sent as null, it is the client's null: refused for `Int! = 4`.
    let null = json!({"query": "query($first: Int) { cabSchedule(first: $first) }", "variables": {"first": null}});
    let (_, _, body) = post(&app, Some("application/json"), None, &null.to_string()).await;
    assert_eq!(error_code(&body), "VALIDATION", "{body}");

    let ada = app.user("Ada", &["requester"]).await;
    let change = app
        .create_change(
            &ada.token,
            json!({"title": "Keep my benefit", "expectedBenefit": "Faster pages"}),
        )
        .await;
    let update = "mutation($id: ID!, $version: Int!, $title: String, $benefit: String) {
        updateChange(id: $id, expectedVersion: $version, input: {title: $title, expectedBenefit: $benefit}) {
          title expectedBenefit } }";
    let updated = app
        .data(
            &ada.token,
            update,
            json!({"id": change["id"], "version": change["version"], "title": "Renamed"}),
        )
        .await;
    assert_eq!(
        updated["updateChange"],
        json!({"title": "Renamed", "expectedBenefit": "Faster pages"})
    );
}

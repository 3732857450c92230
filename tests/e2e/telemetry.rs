//! Trace export, checked the way a collector sees it: a small OTLP/HTTP
//! receiver in the test decodes what the real `gatehouse serve` binary
//! sends (protobuf `ExportTraceServiceRequest` on POST /v1/traces).

use std::{
    collections::HashMap,
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{Span, span::SpanKind},
};
use prost::Message;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, Server, fresh_database_url, postgres_admin_url, serve};

/// Spans received, with the `service.name` and other resource attributes
/// of the batch each came in.
#[derive(Default)]
struct Received {
    requests: usize,
    spans: Vec<(HashMap<String, String>, Span)>,
}

struct Receiver {
    url: String,
    received: Arc<Mutex<Received>>,
}

async fn traces(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut received = received.lock().unwrap();
    received.requests += 1;
    for resource_spans in request.resource_spans {
        let resource: HashMap<String, String> = resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default()
            .iter()
            .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?)?)))
            .collect();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.spans.push((resource.clone(), span));
            }
        }
    }
    // An empty ExportTraceServiceResponse: everything accepted.
    StatusCode::OK
}

async fn start_receiver(address: &str) -> Option<Receiver> {
    let listener = tokio::net::TcpListener::bind(address).await.ok()?;
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Received::default()));
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Some(Receiver { url, received })
}

fn text(value: &AnyValue) -> Option<String> {
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key == key)
        .and_then(|kv| text(kv.value.as_ref()?))
}

impl Server {
    /// Names of the process's threads (Linux; empty elsewhere).
    fn thread_names(&self) -> Vec<String> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return Vec::new();
        };
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .collect()
    }

    /// SIGTERM, then waits for a clean exit (the trace guard flushes).
    fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit status after SIGTERM: {status:?}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gatehouse did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Posts a named operation; returns the `x-request-id` response header.
async fn query(server: &Server, headers: &[(&str, &str)], query: &str, operation: &str) -> String {
    let mut request = reqwest::Client::new()
        .post(format!("{}/graphql", server.base_url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"query": query, "operationName": operation}));
    for (key, value) in headers {
        request = request.header(*key, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body:#}");
    request_id
}

const DASHBOARD: &str =
    "query Dashboard { changes(first: 5) { totalCount edges { node { number } } } }
    query Other { me { email } }";

#[tokio::test]
async fn spans_reach_an_otlp_receiver_with_names_and_parent_links() {
    let receiver = start_receiver("127.0.0.1:0").await.unwrap();
    let server = serve(
        &fresh_database_url().await,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url.as_str()),
            ("OTEL_SERVICE_NAME", "gatehouse-e2e"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=e2e"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ],
    );
    assert!(
        !cfg!(target_os = "linux")
            || server
                .thread_names()
                .iter()
                .any(|name| name.starts_with("OpenTelemetry")),
        "the batch exporter thread runs: {:?}",
        server.thread_names()
    );
    let request_id = query(&server, &[], DASHBOARD, "Dashboard").await;
    // A caller's W3C trace context is continued.
    let remote_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let remote_parent = "00f067aa0ba902b7";
    query(
        &server,
        &[(
            "traceparent",
            &format!("00-{remote_trace}-{remote_parent}-01"),
        )],
        "query Me { me { email } }",
        "Me",
    )
    .await;
    // Shutting down flushes the batch (the schedule delay is 5 s).
    server.terminate();

    let deadline = Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let spans = receiver.received.lock().unwrap().spans.clone();
        if spans.iter().any(|(_, s)| s.name == "query Me") || Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let names: Vec<&str> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
    let find = |name: &str| {
        spans
            .iter()
            .find(|(_, s)| s.name == name)
            .unwrap_or_else(|| panic!("no span named {name:?} among {names:?}"))
    };
    let by_id: HashMap<&[u8], &Span> = spans
        .iter()
        .map(|(_, s)| (s.span_id.as_slice(), s))
        .collect();

    // The resource names the service as configured.
    let (resource, operation) = find("query Dashboard");
    assert_eq!(resource["service.name"], "gatehouse-e2e");
    assert_eq!(resource["deployment.environment"], "e2e");
    assert!(resource.contains_key("service.version"), "{resource:?}");

    // HTTP request span: the request id returned to the client is on it.
    let http = by_id[operation.parent_span_id.as_slice()];
    assert_eq!(http.name, "POST /graphql");
    assert_eq!(http.kind, SpanKind::Server as i32);
    assert!(http.parent_span_id.is_empty(), "a root span");
    assert_eq!(
        attribute(http, "request_id").as_deref(),
        Some(request_id.as_str())
    );
    // OpenTelemetry's HTTP semantic conventions.
    let keys: Vec<&str> = http.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        attribute(http, "http.route").as_deref(),
        Some("/graphql"),
        "{keys:?}"
    );
    assert_eq!(attribute(http, "url.path").as_deref(), Some("/graphql"));
    assert_eq!(
        attribute(http, "http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(
        attribute(http, "http.response.status_code").as_deref(),
        Some("200")
    );

    // GraphQL operation span, child of the HTTP span.
    assert_eq!(
        attribute(operation, "graphql.operation.name").as_deref(),
        Some("Dashboard")
    );
    assert_eq!(
        attribute(operation, "graphql.operation.type").as_deref(),
        Some("query")
    );
    assert_eq!(operation.trace_id, http.trace_id);

    // Resolver span, child of the operation span.
    let resolver = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == "Query.changes" && s.trace_id == operation.trace_id)
        .unwrap_or_else(|| panic!("no Query.changes resolver span among {names:?}"));
    assert_eq!(resolver.parent_span_id, operation.span_id);
    assert_eq!(
        attribute(resolver, "graphql.field.path").as_deref(),
        Some("changes")
    );

    // Database spans below the resolver, in the same trace.
    let below_resolver = |span: &Span| {
        let mut parent = span.parent_span_id.as_slice();
        while let Some(ancestor) = by_id.get(parent) {
            if ancestor.span_id == resolver.span_id {
                return true;
            }
            parent = ancestor.parent_span_id.as_slice();
        }
        false
    };
    let statements: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.name.starts_with("sea_orm.") && below_resolver(s))
        .collect();
    assert!(
        !statements.is_empty(),
        "no database span below the resolver: {names:?}"
    );
    let backend = if postgres_admin_url().is_some() {
        "postgresql"
    } else {
        "sqlite"
    };
    for statement in &statements {
        assert_eq!(statement.trace_id, operation.trace_id);
        assert_eq!(statement.kind, SpanKind::Client as i32);
        // The stable semantic-convention names, not sea-orm's older ones.
        assert_eq!(
            attribute(statement, "db.system.name").as_deref(),
            Some(backend)
        );
        assert!(
            attribute(statement, "db.query.text").is_some_and(|sql| sql.contains("changes")),
            "{statement:?}"
        );
        assert!(attribute(statement, "db.operation.name").is_some());
        assert_eq!(attribute(statement, "db.statement"), None);
    }

    // The second request continued the caller's trace.
    let (_, me) = find("query Me");
    let me_http = by_id[me.parent_span_id.as_slice()];
    assert_eq!(me_http.name, "POST /graphql");
    assert_eq!(hex::encode(&me_http.trace_id), remote_trace);
    assert_eq!(hex::encode(&me_http.parent_span_id), remote_parent);
}

#[tokio::test]
async fn without_the_variables_nothing_is_exported() {
    // The default OTLP/HTTP port: an exporter built with defaults would
    // send here. Skipped for the receiver when something else holds it.
    let receiver = start_receiver("127.0.0.1:4318").await;
    if receiver.is_none() {
        eprintln!("127.0.0.1:4318 is taken; checking the exporter thread only");
    }
    let server = serve(
        &fresh_database_url().await,
        // Resource settings alone do not switch export on.
        &[("OTEL_SERVICE_NAME", "gatehouse-e2e")],
    );
    query(&server, &[], DASHBOARD, "Dashboard").await;
    let threads = server.thread_names();
    assert!(
        !threads.iter().any(|name| name.starts_with("OpenTelemetry")),
        "no exporter thread without an endpoint: {threads:?}"
    );
    server.terminate();
    if let Some(receiver) = receiver {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.received.lock().unwrap().requests, 0);
    }
}

//! Logs and traces, set up in one place.
//!
//! Logs: a fmt layer on standard error (text or JSON), filtered by
//! `RUST_LOG`. Traces: when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, an OpenTelemetry layer
//! exports spans over OTLP/HTTP (protobuf): one per HTTP request (built in
//! `http`), one per GraphQL operation and one per resolver (`GraphqlTracing`
//! below), the `#[instrument]`ed service functions, and one per SQL
//! statement (sea-orm's `tracing-spans`). Without those variables no
//! exporter, thread or tracer exists.
//!
//! Nothing here is global until `init` installs the subscriber: tests build
//! their own with `subscriber` and an `OtlpConfig` of their choosing, and
//! the `Telemetry` guard flushes and stops the exporter when the process
//! ends (the CLI keeps it until `serve` returns after SIGTERM).

use std::{fmt, sync::Mutex, time::Duration};

use async_graphql::{
    Response, ServerResult, Value, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve,
        ResolveInfo,
    },
    parser::types::{ExecutableDocument, OperationType},
};
use opentelemetry::{KeyValue, propagation::TextMapPropagator, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    Resource, propagation::TraceContextPropagator, resource::TelemetryResourceDetector,
    trace::SdkTracerProvider,
};
use tracing::{Instrument, Span, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer, fmt as log_fmt, layer::SubscriberExt, registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::config::LogFormat;

const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// What the trace exporter sees: the application's spans at INFO and
/// above, SQL statements included, but never the exporter's own machinery
/// (whose spans would feed back into the export).
const TRACE_FILTER: &str = "info,gatehouse::graphql=debug,sqlx=warn,opentelemetry=off,reqwest=off,hyper=off,hyper_util=off,h2=off";

/// The target of the GraphQL operation and resolver spans.
const GRAPHQL_TARGET: &str = "gatehouse::graphql";

const SERVICE_NAME_DEFAULT: &str = "gatehouse";
const TRACES_PATH: &str = "/v1/traces";
/// How long shutdown waits for the last batch to reach the collector.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and as whom traces are exported, read from the standard `OTEL_*`
/// variables by `from_lookup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The full URL spans are POSTed to (`…/v1/traces`).
    pub traces_endpoint: String,
    /// `service.name`.
    pub service_name: String,
    /// Further resource attributes (`OTEL_RESOURCE_ATTRIBUTES`), in order.
    pub resource_attributes: Vec<(String, String)>,
}

/// A telemetry variable that cannot be honoured. Reported at start-up
/// rather than exporting nothing without a word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl OtlpConfig {
    /// From the process environment.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// `None` when no OTLP endpoint is configured (or the SDK is disabled
    /// with `OTEL_SDK_DISABLED=true` / `OTEL_TRACES_EXPORTER=none`): then
    /// nothing is exported. Empty values count as unset, as the
    /// specification asks.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let get = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        match get("OTEL_TRACES_EXPORTER").as_deref() {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(other) => {
                return Err(ConfigError {
                    variable: "OTEL_TRACES_EXPORTER",
                    message: format!("`{other}` is not supported (use `otlp` or `none`)"),
                });
            }
        }
        let (variable, traces_endpoint) =
            if let Some(url) = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
                // The signal-specific URL is used as given.
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url)
            } else if let Some(base) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    format!("{}{TRACES_PATH}", base.trim_end_matches('/')),
                )
            } else {
                return Ok(None);
            };
        if traces_endpoint.starts_with("https://") {
            return Err(ConfigError {
                variable,
                message: "https endpoints are not supported: the exporter speaks plain \
                          http/protobuf (send to a local OpenTelemetry Collector, which \
                          forwards over TLS)"
                    .into(),
            });
        }
        if !traces_endpoint.starts_with("http://") {
            return Err(ConfigError {
                variable,
                message: format!("`{traces_endpoint}` is not an http:// URL"),
            });
        }
        for variable in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(protocol) = get(variable) {
                if protocol != "http/protobuf" {
                    return Err(ConfigError {
                        variable,
                        message: format!("`{protocol}` is not supported (use `http/protobuf`)"),
                    });
                }
                break;
            }
        }
        let mut resource_attributes = get("OTEL_RESOURCE_ATTRIBUTES")
            .map(|raw| parse_resource_attributes(&raw))
            .transpose()?
            .unwrap_or_default();
        let from_attributes = resource_attributes
            .iter()
            .position(|(key, _)| key == "service.name")
            .map(|index| resource_attributes.remove(index).1);
        let service_name = get("OTEL_SERVICE_NAME")
            .or(from_attributes)
            .unwrap_or_else(|| SERVICE_NAME_DEFAULT.to_owned());
        Ok(Some(Self {
            traces_endpoint,
            service_name,
            resource_attributes,
        }))
    }

    fn resource(&self) -> Resource {
        // Not `Resource::builder()`: its detectors read the process
        // environment, and this configuration may come from elsewhere.
        Resource::builder_empty()
            .with_detector(Box::new(TelemetryResourceDetector))
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .with_attributes(
                self.resource_attributes
                    .iter()
                    .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
            )
            .with_service_name(self.service_name.clone())
            .build()
    }
}

/// `key1=value1,key2=value2`, values percent-encoded (W3C Baggage octets).
fn parse_resource_attributes(raw: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let invalid = |message: String| ConfigError {
        variable: "OTEL_RESOURCE_ATTRIBUTES",
        message,
    };
    raw.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(format!("`{pair}` is not key=value")))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(invalid(format!("`{pair}` has an empty key")));
            }
            let value = percent_decode(value.trim())
                .ok_or_else(|| invalid(format!("`{pair}` has a malformed %-escape")))?;
            Ok((key.to_owned(), value))
        })
        .collect()
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Owns the trace pipeline, if any. Dropping it (or `shutdown`) exports
/// the spans still buffered and stops the exporter thread.
#[must_use = "dropping the guard stops trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are being exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes the last spans and stops the exporter (blocking: at most a
    /// few seconds when the collector does not answer).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
        {
            eprintln!("warning: flushing traces at shutdown failed: {error}");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("exporting", &self.exporting())
            .finish()
    }
}

/// Crates that log whole messages at debug and trace: tungstenite logs
/// every WebSocket frame, the `connection_init` payload with its bearer
/// token among them. Capped at info whatever `RUST_LOG` asks for (a
/// directive added last replaces one for the same target), so no log level
/// reveals a secret.
const PAYLOAD_LOGGING_TARGETS: [&str; 2] = ["tungstenite", "tokio_tungstenite"];

fn cap_payload_logging(mut filter: EnvFilter) -> EnvFilter {
    for target in PAYLOAD_LOGGING_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Builds (without installing) the subscriber: logs per `format` and
/// `RUST_LOG`, plus trace export when `otlp` is given.
pub fn subscriber(
    format: LogFormat,
    otlp: Option<&OtlpConfig>,
) -> anyhow::Result<(
    impl Subscriber + Send + Sync + for<'a> LookupSpan<'a>,
    Telemetry,
)> {
    let log_filter = cap_payload_logging(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER)),
    );
    let logs = match format {
        LogFormat::Text => log_fmt::layer()
            .with_target(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => log_fmt::layer()
            .json()
            .with_current_span(true)
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(log_filter);
    let provider = otlp.map(build_provider).transpose()?;
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("gatehouse"))
            .with_threads(false)
            .with_filter(EnvFilter::new(TRACE_FILTER))
    });
    let subscriber = tracing_subscriber::registry().with(logs).with(traces);
    Ok((subscriber, Telemetry { provider }))
}

fn build_provider(config: &OtlpConfig) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(config.traces_endpoint.clone())
        .build()?;
    let batch = opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter).build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(StableDatabaseNames(batch))
        .with_resource(config.resource())
        .build())
}

/// sea-orm records its statement spans under the database attribute names
/// OpenTelemetry has since replaced; the stable semantic conventions
/// (`db.system.name`, `db.query.text`, `db.operation.name`) are what
/// tracing backends recognise, so the spans are renamed on their way out.
const DATABASE_ATTRIBUTE_NAMES: [(&str, &str); 3] = [
    ("db.system", "db.system.name"),
    ("db.statement", "db.query.text"),
    ("db.operation", "db.operation.name"),
];

fn stable_database_names(attributes: &mut [KeyValue]) {
    for attribute in attributes {
        if let Some((_, stable)) = DATABASE_ATTRIBUTE_NAMES
            .iter()
            .find(|(old, _)| attribute.key.as_str() == *old)
        {
            attribute.key = opentelemetry::Key::from_static_str(stable);
        }
    }
}

/// A span processor that renames database attributes
/// (`DATABASE_ATTRIBUTE_NAMES`) before handing each ended span on.
#[derive(Debug)]
struct StableDatabaseNames<P>(P);

impl<P: opentelemetry_sdk::trace::SpanProcessor> opentelemetry_sdk::trace::SpanProcessor
    for StableDatabaseNames<P>
{
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, mut span: opentelemetry_sdk::trace::SpanData) {
        stable_database_names(&mut span.attributes);
        self.0.on_end(span);
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// Installs the process-wide subscriber from the environment (done once,
/// by the CLI). Keep the guard until the process ends.
pub fn init(format: LogFormat) -> anyhow::Result<Telemetry> {
    let otlp = OtlpConfig::from_env()?;
    init_with(format, otlp.as_ref())
}

/// `init` with an explicit trace configuration (`None`: logs only).
pub fn init_with(format: LogFormat, otlp: Option<&OtlpConfig>) -> anyhow::Result<Telemetry> {
    let (subscriber, telemetry) = subscriber(format, otlp)?;
    // A second initialisation (e.g. two CLI calls in one process) keeps the
    // first subscriber; this one's exporter then has nothing to export.
    let _ = subscriber.try_init();
    if let Some(otlp) = otlp {
        tracing::info!(endpoint = %otlp.traces_endpoint, service = %otlp.service_name, "exporting traces over OTLP/HTTP");
    }
    Ok(telemetry)
}

/// Continues a trace begun by the caller: a W3C `traceparent` header makes
/// `span` a child of the caller's span. A no-op when traces are not
/// exported or the header is absent or malformed.
pub fn continue_remote_trace(span: &Span, headers: &axum::http::HeaderMap) {
    struct Headers<'a>(&'a axum::http::HeaderMap);
    impl opentelemetry::propagation::Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    // Fails only when no OpenTelemetry layer is installed: nothing to link.
    let _ = span.set_parent(parent);
}

/// GraphQL spans: one per executed operation, named like the semantic
/// conventions ask (`query Dashboard`, `mutation CreateChange`), and one
/// per resolver of a root field or of a field returning an object (leaf
/// fields would add thousands of spans and no information). Errors mark
/// the span's status.
pub struct GraphqlTracing;

/// Whether the installed subscriber records the resolver spans (DEBUG on
/// `gatehouse::graphql`): the trace exporter's filter admits them, and so
/// does a debug log filter. Asked once, when the schema is built.
pub fn graphql_spans_recorded() -> bool {
    tracing::enabled!(target: GRAPHQL_TARGET, tracing::Level::DEBUG)
}

impl ExtensionFactory for GraphqlTracing {
    fn create(&self) -> std::sync::Arc<dyn Extension> {
        std::sync::Arc::new(GraphqlTracingExtension::default())
    }
}

/// Created per request: remembers the parsed document's operations so
/// `execute`, which only learns the selected name, can name the type too.
#[derive(Default)]
struct GraphqlTracingExtension {
    operations: Mutex<Vec<(Option<String>, OperationType)>>,
}

fn operation_type_name(kind: OperationType) -> &'static str {
    match kind {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for GraphqlTracingExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let operations = document
            .operations
            .iter()
            .map(|(name, operation)| (name.map(|n| n.to_string()), operation.node.ty))
            .collect();
        if let Ok(mut slot) = self.operations.lock() {
            *slot = operations;
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let kind = self.operations.lock().ok().and_then(|operations| {
            operations
                .iter()
                .find(|(name, _)| name.as_deref() == operation_name)
                .or_else(|| operations.first().filter(|_| operations.len() == 1))
                .map(|(_, kind)| operation_type_name(*kind))
        });
        let kind = kind.unwrap_or("operation");
        let span_name = match operation_name {
            Some(name) => format!("{kind} {name}"),
            None => kind.to_owned(),
        };
        let span = tracing::info_span!(
            target: GRAPHQL_TARGET,
            "graphql.operation",
            otel.name = %span_name,
            graphql.operation.type = kind,
            graphql.operation.name = operation_name.unwrap_or_default(),
            otel.status_code = tracing::field::Empty,
            graphql.errors = tracing::field::Empty,
        );
        let response = next.run(ctx, operation_name).instrument(span.clone()).await;
        if !response.errors.is_empty() {
            span.record("otel.status_code", "error");
            span.record("graphql.errors", response.errors.len());
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Resolver spans are DEBUG so that logs (INFO by default) never
        // pay for them; the trace exporter's filter admits them.
        if !tracing::enabled!(target: GRAPHQL_TARGET, tracing::Level::DEBUG) {
            return next.run(ctx, info).await;
        }
        let is_root = info.path_node.parent.is_none();
        let traced = !info.is_for_introspection
            && (is_root || {
                let type_name =
                    async_graphql::registry::MetaTypeName::concrete_typename(info.return_type);
                ctx.schema_env
                    .registry
                    .types
                    .get(type_name)
                    .is_some_and(|ty| !ty.is_leaf())
            });
        if !traced {
            return next.run(ctx, info).await;
        }
        let span = tracing::debug_span!(
            target: GRAPHQL_TARGET,
            "graphql.resolve",
            otel.name = %format_args!("{}.{}", info.parent_type, info.name),
            graphql.field.path = %info.path_node,
            graphql.field.type = info.return_type,
            otel.status_code = tracing::field::Empty,
            error.code = tracing::field::Empty,
        );
        let result = next.run(ctx, info).instrument(span.clone()).await;
        if let Err(error) = &result {
            span.record("otel.status_code", "error");
            if let Some(Value::String(code)) = error.extensions.as_ref().and_then(|e| e.get("code"))
            {
                span.record("error.code", code.as_str());
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Option<OtlpConfig>, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OtlpConfig::from_lookup(|key| vars.get(key).cloned())
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        assert_eq!(config(&[]), Ok(None));
        assert_eq!(
            config(&[
                ("OTEL_SERVICE_NAME", "gh"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", " ")
            ]),
            Ok(None)
        );
        let (_, telemetry) = subscriber(LogFormat::Text, None).unwrap();
        assert!(!telemetry.exporting());
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_signal_endpoint_wins() {
        let base = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(base.traces_endpoint, "http://collector:4318/v1/traces");
        assert_eq!(base.service_name, "gatehouse");
        let signal = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://other:9999/custom",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(signal.traces_endpoint, "http://other:9999/custom");
    }

    #[test]
    fn service_name_and_resource_attributes() {
        let from_attributes = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=gh-attr, deployment.environment=prod,team=change%20mgmt",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(from_attributes.service_name, "gh-attr");
        assert_eq!(
            from_attributes.resource_attributes,
            vec![
                ("deployment.environment".to_owned(), "prod".to_owned()),
                ("team".to_owned(), "change mgmt".to_owned()),
            ]
        );
        let explicit = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=gh-attr"),
            ("OTEL_SERVICE_NAME", "gh-explicit"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(explicit.service_name, "gh-explicit");
        assert_eq!(
            config(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_RESOURCE_ATTRIBUTES", "novalue"),
            ])
            .unwrap_err()
            .variable,
            "OTEL_RESOURCE_ATTRIBUTES"
        );
    }

    #[test]
    fn unsupported_settings_are_refused_not_ignored() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let grpc = config(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap_err();
        assert_eq!(grpc.variable, "OTEL_EXPORTER_OTLP_PROTOCOL");
        // The signal-specific protocol takes precedence over the general one.
        assert!(
            config(&[
                endpoint,
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ])
            .unwrap()
            .is_some()
        );
        assert!(config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318")]).is_err());
        assert!(config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4318")]).is_err());
        assert!(config(&[endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")]).is_err());
    }

    #[test]
    fn database_attributes_leave_under_their_stable_names() {
        let mut attributes = vec![
            KeyValue::new("db.system", "sqlite"),
            KeyValue::new("db.statement", "SELECT 1"),
            KeyValue::new("db.operation", "SELECT"),
            KeyValue::new("otel.kind", "client"),
        ];
        stable_database_names(&mut attributes);
        let keys: Vec<&str> = attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "db.system.name",
                "db.query.text",
                "db.operation.name",
                "otel.kind"
            ]
        );
        assert_eq!(attributes[1].value.as_str(), "SELECT 1");
    }

    #[test]
    fn the_sdk_can_be_switched_off() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        assert_eq!(config(&[endpoint, ("OTEL_SDK_DISABLED", "TRUE")]), Ok(None));
        assert_eq!(
            config(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]),
            Ok(None)
        );
    }
}

//! Prometheus metrics: one registry per running application (kept in its
//! state, never global, so tests running several servers in one process
//! each see their own numbers).
//!
//! Labels are bounded, non-personal values only: matched route templates,
//! status codes, statuses, error codes, and GraphQL operation names (capped
//! in number). Change titles, emails and ids never become labels.

mod process;

use std::{
    collections::HashSet,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use chrono::{DateTime, Utc};
use entity::{ChangeStatus, change};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use sea_orm::{
    DatabaseConnection, DatabaseConnectionType, EntityTrait, Iterable, PaginatorTrait, QueryFilter,
    QuerySelect,
    sea_query::{Expr, ExprTrait},
};

use crate::domain::lifecycle::OverdueKind;
use crate::{db::QueryCounter, error::ServiceResult};

/// Beyond this many distinct GraphQL operation names, further names are
/// counted as `other`: a client choosing names must not grow the series
/// without bound.
pub const MAX_OPERATION_NAMES: usize = 200;
pub const OTHER_OPERATION: &str = "other";
pub const ANONYMOUS_OPERATION: &str = "anonymous";

/// What the response cache did with a GraphQL request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    /// Answered from memory.
    Hit,
    /// Executed, and the answer stored.
    Miss,
    /// Executed, not storable: a mutation, an error, an audit read, or
    /// writes not yet counted by the audit head.
    Bypass,
}

impl CacheResult {
    pub fn label(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
        }
    }
}

pub struct Monitoring {
    registry: Registry,
    /// Unprefixed: `process_*` as every Prometheus client names them.
    process: Registry,
    process_metrics: process::ProcessMetrics,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    graphql_operations: IntCounterVec,
    graphql_errors: IntCounterVec,
    response_cache: IntCounterVec,
    db_pool: IntGaugeVec,
    db_pool_max: IntGauge,
    db_statements: IntCounter,
    changes_by_status: IntGaugeVec,
    overdue: IntGaugeVec,
    awaiting_approval: IntGauge,
    subscriptions: IntGauge,
    events_published: IntCounter,
    operation_names: Mutex<HashSet<String>>,
    /// Serialises scrapes so the statement counter catches up exactly once.
    scrape: tokio::sync::Mutex<()>,
}

impl Monitoring {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("gatehouse".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by matched route and status",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by matched route and status",
            ),
            &["method", "route", "status"],
        )?;
        let graphql_operations = IntCounterVec::new(
            Opts::new(
                "graphql_operations_total",
                "GraphQL operations executed, by operation name",
            ),
            &["operation"],
        )?;
        let graphql_errors = IntCounterVec::new(
            Opts::new(
                "graphql_errors_total",
                "GraphQL errors returned, by operation name and extensions.code",
            ),
            &["operation", "code"],
        )?;
        let response_cache = IntCounterVec::new(
            Opts::new(
                "graphql_response_cache_total",
                "GraphQL requests by response cache result (hit | miss | bypass)",
            ),
            &["result"],
        )?;
        // States only, so they add up to the pool's size; its capacity
        // is a gauge of its own.
        let db_pool = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool connections by state (idle | in_use); they sum to the pool's size",
            ),
            &["state"],
        )?;
        let db_pool_max = IntGauge::new(
            "db_pool_max_connections",
            "Most connections the database pool opens",
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "build_info",
                "Always 1; the labels say which Gatehouse is running",
            ),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let process = Registry::new();
        let process_metrics = process::ProcessMetrics::register(&process)?;
        let db_statements = IntCounter::new(
            "db_statements_total",
            "SQL statements executed by this process",
        )?;
        let changes_by_status = IntGaugeVec::new(
            Opts::new("changes", "Changes by lifecycle status"),
            &["status"],
        )?;
        let overdue = IntGaugeVec::new(
            Opts::new(
                "changes_overdue",
                "Changes past a deadline (kind = approval | documentation | review)",
            ),
            &["kind"],
        )?;
        let awaiting_approval = IntGauge::new(
            "changes_awaiting_approval",
            "Changes waiting for an approval decision",
        )?;
        let subscriptions = IntGauge::new(
            "graphql_subscriptions_active",
            "Live changeEvents subscription streams in this process",
        )?;
        let events_published = IntCounter::new(
            "change_events_received_total",
            "Change events this process received for its subscribers",
        )?;
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(graphql_operations.clone()),
            Box::new(graphql_errors.clone()),
            Box::new(response_cache.clone()),
            Box::new(db_pool.clone()),
            Box::new(db_pool_max.clone()),
            Box::new(build_info),
            Box::new(db_statements.clone()),
            Box::new(changes_by_status.clone()),
            Box::new(overdue.clone()),
            Box::new(awaiting_approval.clone()),
            Box::new(subscriptions.clone()),
            Box::new(events_published.clone()),
        ] {
            registry.register(collector)?;
        }
        Ok(Self {
            registry,
            process,
            process_metrics,
            http_requests,
            http_duration,
            graphql_operations,
            graphql_errors,
            response_cache,
            db_pool,
            db_pool_max,
            db_statements,
            changes_by_status,
            overdue,
            awaiting_approval,
            subscriptions,
            events_published,
            operation_names: Mutex::new(HashSet::new()),
            scrape: tokio::sync::Mutex::new(()),
        })
    }

    pub fn observe_http(&self, method: &str, route: &str, status: u16, latency: Duration) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_duration
            .with_label_values(&labels)
            .observe(latency.as_secs_f64());
    }

    /// Counts one executed operation and its errors (by `extensions.code`).
    pub fn observe_graphql<'a>(
        &self,
        operation: Option<&str>,
        error_codes: impl IntoIterator<Item = &'a str>,
    ) {
        let operation = self.operation_label(operation);
        self.graphql_operations
            .with_label_values(&[operation.as_str()])
            .inc();
        for code in error_codes {
            self.graphql_errors
                .with_label_values(&[operation.as_str(), code])
                .inc();
        }
    }

    /// Counts one request by what the response cache did with it.
    pub fn observe_response_cache(&self, result: CacheResult) {
        self.response_cache
            .with_label_values(&[result.label()])
            .inc();
    }

    fn operation_label(&self, operation: Option<&str>) -> String {
        let Some(name) = operation.filter(|n| !n.is_empty()) else {
            return ANONYMOUS_OPERATION.to_owned();
        };
        let valid = name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return OTHER_OPERATION.to_owned();
        }
        let mut names = self
            .operation_names
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if names.contains(name) || names.len() < MAX_OPERATION_NAMES {
            names.insert(name.to_owned());
            name.to_owned()
        } else {
            OTHER_OPERATION.to_owned()
        }
    }

    /// The gauge of live subscription streams, held up while one runs.
    pub fn subscription_started(&self) -> SubscriptionGuard {
        self.subscriptions.inc();
        SubscriptionGuard(self.subscriptions.clone())
    }

    pub fn live_subscriptions(&self) -> i64 {
        self.subscriptions.get()
    }

    pub fn event_received(&self) {
        self.events_published.inc();
    }

    /// Refreshes the scrape-time values and renders the text format.
    pub async fn render(
        &self,
        db: &DatabaseConnection,
        queries: &QueryCounter,
        now: DateTime<Utc>,
    ) -> ServiceResult<String> {
        let _scrape = self.scrape.lock().await;
        self.refresh_pool(db);
        self.process_metrics.refresh();
        self.refresh_domain(db, now).await?;
        // Caught up after the domain queries so they are counted too.
        let delta = queries.get().saturating_sub(self.db_statements.get());
        self.db_statements.inc_by(delta);
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(
                &[self.registry.gather(), self.process.gather()].concat(),
                &mut buffer,
            )
            .map_err(|e| crate::error::ServiceError::internal_from("encoding metrics", e))?;
        String::from_utf8(buffer)
            .map_err(|e| crate::error::ServiceError::internal_from("encoding metrics", e))
    }

    fn refresh_pool(&self, db: &DatabaseConnection) {
        // Matched first: the pool getters panic on the other backend.
        let (size, idle, max) = match &db.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                let pool = db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                let pool = db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => return,
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        self.db_pool
            .with_label_values(&["idle"])
            .set(i64::from(idle));
        self.db_pool
            .with_label_values(&["in_use"])
            .set(i64::from(size.saturating_sub(idle)));
        self.db_pool_max.set(i64::from(max));
    }

    async fn refresh_domain(
        &self,
        db: &DatabaseConnection,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        let counts: Vec<(ChangeStatus, i64)> = change::Entity::find()
            .select_only()
            .column(change::Column::Status)
            .column_as(Expr::col(change::Column::Id).count(), "n")
            .group_by(change::Column::Status)
            .into_tuple()
            .all(db)
            .await?;
        // Every status is reported, zero included, so a status emptied
        // since the last scrape drops to 0 instead of keeping its value.
        for status in ChangeStatus::iter() {
            let n = counts
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            self.changes_by_status
                .with_label_values(&[crate::domain::lifecycle::status_name(status).as_str()])
                .set(n);
            if status == ChangeStatus::AwaitingApproval {
                self.awaiting_approval.set(n);
            }
        }
        for kind in OverdueKind::ALL {
            let n = change::Entity::find()
                .filter(crate::store::changes::overdue_condition(kind, now))
                .count(db)
                .await?;
            self.overdue
                .with_label_values(&[kind.label()])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        Ok(())
    }
}

/// Decrements the live-subscription gauge when the stream is dropped
/// (client unsubscribed or disconnected).
pub struct SubscriptionGuard(IntGauge);

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

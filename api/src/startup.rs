//! The one composition point: settings in, a bound server out.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::net::TcpListener;

use crate::{
    config::Settings,
    db::{self, QueryCounter},
    graphql::{build_schema, context::AppState},
    http::{self, HttpState},
    monitoring::Monitoring,
    policy::Policy,
    service::users,
    store::{audit, events::EventBus},
};

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    address: SocketAddr,
    db: DatabaseConnection,
    queries: QueryCounter,
    bootstrap_secret: Option<String>,
}

impl Application {
    /// Loads the policy, connects, migrates, creates the first admin on an
    /// empty database, and binds the listener (port 0 picks a free port).
    // One span, so start-up's statements (migrations) form one trace.
    #[tracing::instrument(name = "gatehouse.startup", skip_all)]
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let policy = Arc::new(Policy::load(&settings.policy)?);
        let policy_loaded_at = db::now();
        for warning in policy.warnings() {
            tracing::warn!(policy = %policy.name, "{warning}");
        }
        let queries = QueryCounter::default();
        let db = db::connect(&settings.database_url, &queries)
            .await
            .map_err(|error| cannot_connect(&settings.database_url, &error))?;
        db::migrate_up(&db).await?;
        let bootstrap_secret =
            users::bootstrap_admin(&db, settings.bootstrap_token.as_deref()).await?;
        let monitoring = Arc::new(Monitoring::new()?);
        let received = {
            let monitoring = monitoring.clone();
            move || monitoring.event_received()
        };
        let events = EventBus::start(&db, &settings.database_url, received).await?;
        // Events a writer committed but died before sealing (PostgreSQL)
        // are linked before the first request can read the trail, and then
        // swept periodically for the life of the process.
        audit::seal(&db).await?;
        if db.get_database_backend() == DbBackend::Postgres {
            // The sealer has a pool of its own: a request pool drained by
            // load never delays sealing, and the sealer's statements are
            // not counted as the requests'.
            let sealer_db = db::connect(&settings.database_url, &QueryCounter::default()).await?;
            audit::spawn_sealer(&sealer_db);
        }
        // Outbound webhooks, sent from their outbox by every process (each
        // delivery by one of them).
        crate::outbound::spawn(&db, &settings.webhooks, &settings.clock);
        let app = AppState {
            db: db.clone(),
            policy,
            policy_loaded_at,
            max_page_size: settings.max_page_size,
            clock: settings.clock.clone(),
            monitoring,
            events,
            queries: queries.clone(),
            webhooks_allow_private: settings.webhooks.allow_private,
        };
        let schema = build_schema(app.clone(), &settings.limits);
        let router = http::router(HttpState {
            schema,
            app,
            limits: settings.limits.clone(),
            rate_limiter: Arc::new(http::limits::RateLimiter::new(
                settings.limits.rate_limit_per_minute,
            )),
            metrics_token: settings.metrics_token.clone(),
            response_cache: http::response_cache::ResponseCache::new(settings.response_cache)
                .map(Arc::new),
            credentials: Arc::default(),
            hooks: settings.hooks.clone(),
            cors_allowed_origins: settings.cors_allowed_origins.clone(),
            persisted_queries: Arc::default(),
        });
        let listener = TcpListener::bind(&settings.listen).await.with_context(|| {
            format!(
                "cannot listen on {}; the setting `listen` (--listen, GATEHOUSE_LISTEN) picks another address",
                settings.listen
            )
        })?;
        let address = listener.local_addr()?;
        tracing::info!(
            %address,
            database = db::backend_name(&db),
            policy = %settings.policy,
            "gatehouse ready"
        );
        Ok(Self {
            listener,
            router,
            address,
            db,
            queries,
            bootstrap_secret,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Statements executed so far (for tests that count queries).
    pub fn query_counter(&self) -> QueryCounter {
        self.queries.clone()
    }

    /// The generated admin token when this start created the admin.
    pub fn take_bootstrap_secret(&mut self) -> Option<String> {
        self.bootstrap_secret.take()
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // With each connection's peer address, which the rate limiter
        // charges for requests that bring no valid token (`http::gate`).
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        tracing::info!("gatehouse stopped");
        self.db.close_by_ref().await.ok();
        Ok(())
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// A failed connection said once, with where it tried (the password
/// hidden) and the setting that changes it. The driver's error repeats
/// itself through its source chain, so only its message is kept.
fn cannot_connect(url: &str, error: &sea_orm::DbErr) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot connect to the database at {}: {error}; the setting `database_url` (--database-url, GATEHOUSE_DATABASE_URL) names it",
        crate::config::redact_url(url)
    )
}

//! The `gatehouse` command line: serve, migrate, schema, accounts, tokens
//! and audit verification.

use std::process::ExitCode;

use chrono::{DateTime, Duration, Utc};
use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};

mod audit;
pub mod demo;
mod import;
mod import_delivery;
mod report;

use crate::{
    config::{Settings, SettingsArgs, redact_url},
    db::{self, QueryCounter},
    graphql,
    service::{Caller, tokens, users},
    startup::Application,
    telemetry,
};

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "SOC 2 change management: change requests, approvals, calendar, audit trail and metrics"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first).
    Serve,
    /// Apply, revert or list schema migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Manage accounts.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Manage API tokens.
    Tokens {
        #[command(subcommand)]
        action: TokensAction,
    },
    /// Verify the audit trail.
    Audit {
        #[command(subcommand)]
        action: audit::AuditAction,
    },
    /// Metrics reports (JSON, CSV, Parquet, XLSX, HTML, Markdown).
    Report {
        #[command(subcommand)]
        action: report::ReportAction,
    },
    /// Import historical changes from JSONL or CSV (all or nothing).
    Import(import::ImportArgs),
    /// Generate a realistic, reproducible change history (same seed, same data).
    DemoData(demo::DemoArgs),
    /// Check a policy file, or explain a policy in words; no server or
    /// database needed.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyAction {
    /// Validate a policy file (or preset) as the server would at start.
    Check {
        /// Path of a policy TOML file, or a preset name.
        file: String,
    },
    /// Print, per change type, who approves, what the request states, the
    /// gates, windows, freezes, notice periods and deadlines.
    Explain {
        /// Path of a policy TOML file, or a preset name.
        policy: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply pending migrations (all, or the next N).
    Up {
        #[arg(short = 'n', long)]
        steps: Option<u32>,
    },
    /// Revert the last N applied migrations.
    Down {
        #[arg(short = 'n', long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Create an account.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// Comma-separated role keys, e.g. requester,change_manager.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
    },
    /// List accounts.
    List,
    /// Replace an account's roles.
    SetRoles {
        /// Email or id.
        #[arg(long)]
        user: String,
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
    },
    /// Disable an account and all its tokens.
    Deactivate {
        #[arg(long)]
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensAction {
    /// Issue a token; the secret is printed once.
    Issue {
        /// Email or id of the account.
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Expire after this many days.
        #[arg(long, conflicts_with = "expires_at")]
        expires_in_days: Option<u32>,
        /// Expire at this instant (RFC 3339).
        #[arg(long)]
        expires_at: Option<DateTime<Utc>>,
    },
    /// Revoke a token by id.
    Revoke {
        #[arg(long)]
        id: uuid::Uuid,
    },
    /// List an account's tokens.
    List {
        #[arg(long)]
        user: String,
    },
}

/// Entry point of the binary.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match cli.settings.resolve() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match telemetry::init(settings.log_format) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let code = match execute(cli.command, &settings).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    };
    // `serve` returns here after SIGINT/SIGTERM: export the last spans.
    // Off the async workers, since the flush blocks on the collector.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .ok();
    code
}

async fn execute(command: Command, settings: &Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { action } => migrate(settings, action).await,
        Command::Users { action } => manage_users(settings, action).await,
        Command::Tokens { action } => manage_tokens(settings, action).await,
        Command::Audit { action } => audit::run(settings, action).await,
        Command::Report { action } => report::run(settings, action).await,
        Command::Import(args) => import::run(settings, args).await,
        Command::DemoData(args) => demo::run(settings, args).await,
        Command::Policy { action } => Ok(policy(action)),
    }
}

fn policy(action: PolicyAction) -> ExitCode {
    let (PolicyAction::Check { file: source } | PolicyAction::Explain { policy: source }) = &action;
    let policy = match crate::policy::Policy::load(source) {
        Ok(policy) => policy,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match action {
        PolicyAction::Check { .. } => {
            println!(
                "{source}: valid policy `{}` with {} change types ({}), {} gates, {} windows, {} freezes, {} targets",
                policy.name,
                policy.change_types.len(),
                policy.change_type_keys().join(", "),
                policy.gates.len(),
                policy.windows.len(),
                policy.freezes.len(),
                policy.targets.len()
            );
            for warning in policy.warnings() {
                println!("warning: {warning}");
            }
        }
        PolicyAction::Explain { .. } => print!("{}", crate::policy::explain::explain(&policy)),
    }
    ExitCode::SUCCESS
}

async fn serve(settings: &Settings) -> anyhow::Result<ExitCode> {
    let mut app = Application::build(settings).await?;
    if let Some(secret) = app.take_bootstrap_secret() {
        // Printed to stdout, never logged: log pipelines keep what they see.
        println!(
            "Created the admin account ({}). Its API token, shown only this once:",
            users::BOOTSTRAP_EMAIL
        );
        println!("{secret}");
    }
    println!("Gatehouse listening on http://{}/graphql", app.address());
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

/// Connects and brings the schema up to date, for the commands that write.
async fn connect_migrated(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = db::connect(&settings.database_url, &QueryCounter::default())
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot connect to {}: {error}",
                redact_url(&settings.database_url)
            )
        })?;
    db::migrate_up(&db).await?;
    Ok(db)
}

async fn migrate(settings: &Settings, action: MigrateAction) -> anyhow::Result<ExitCode> {
    let db = db::connect(&settings.database_url, &QueryCounter::default()).await?;
    match action {
        MigrateAction::Up { steps } => {
            Migrator::up(&db, steps).await?;
            println!("migrations applied");
        }
        MigrateAction::Down { steps } => {
            Migrator::down(&db, Some(steps)).await?;
            println!("reverted {steps} migration(s)");
        }
        MigrateAction::Status => {
            for migration in Migrator::get_migration_with_status(&db).await? {
                println!(
                    "{:<10} {}",
                    migration.status().to_string(),
                    migration.name()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn manage_users(settings: &Settings, action: UsersAction) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(settings).await?;
    let operator = Caller::operator();
    // Which roles confer approval power is the policy's (admin excludes them).
    let policy = crate::policy::Policy::load(&settings.policy)?;
    match action {
        UsersAction::Add { name, email, roles } => {
            let user = users::create(&db, &policy, &operator, &name, &email, &roles).await?;
            println!(
                "created {} {} roles={}",
                user.id,
                user.email,
                roles_text(&user)
            );
        }
        UsersAction::List => {
            for user in users::list(&db, &operator).await? {
                let state = if user.active { "active" } else { "inactive" };
                println!(
                    "{}  {:<32} {:<8} {}",
                    user.id,
                    user.email,
                    state,
                    roles_text(&user)
                );
            }
        }
        UsersAction::SetRoles { user, roles } => {
            let account = users::find_by_reference(&db, &user).await?;
            let updated = users::set_roles(&db, &policy, &operator, account.id, &roles).await?;
            println!("{} roles={}", updated.email, roles_text(&updated));
        }
        UsersAction::Deactivate { user } => {
            let account = users::find_by_reference(&db, &user).await?;
            users::set_active(&db, &operator, account.id, false).await?;
            println!("deactivated {}", account.email);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn roles_text(user: &entity::user::Model) -> String {
    users::roles_of(user)
        .into_iter()
        .collect::<Vec<_>>()
        .join(",")
}

async fn manage_tokens(settings: &Settings, action: TokensAction) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(settings).await?;
    let operator = Caller::operator();
    match action {
        TokensAction::Issue {
            user,
            name,
            expires_in_days,
            expires_at,
        } => {
            let account = users::find_by_reference(&db, &user).await?;
            let expires_at = expires_at.or_else(|| {
                expires_in_days.map(|days| Utc::now() + Duration::days(i64::from(days)))
            });
            let issued = tokens::issue(&db, &operator, account.id, &name, expires_at).await?;
            eprintln!(
                "token {} issued for {}; the secret is shown only this once:",
                issued.token.id, account.email
            );
            println!("{}", issued.secret);
        }
        TokensAction::Revoke { id } => {
            tokens::revoke(&db, &operator, id).await?;
            println!("revoked {id}");
        }
        TokensAction::List { user } => {
            let account = users::find_by_reference(&db, &user).await?;
            for token in tokens::list(&db, &operator, account.id).await? {
                let state = match (token.revoked_at, token.expires_at) {
                    (Some(_), _) => "revoked".to_owned(),
                    (None, Some(expiry)) if expiry <= Utc::now() => "expired".to_owned(),
                    (None, Some(expiry)) => format!("expires {}", expiry.to_rfc3339()),
                    (None, None) => "active".to_owned(),
                };
                println!("{}  {:<20} {}", token.id, token.name, state);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `gatehouse demo-data`: a reproducible history to try reports on: the
//! demo organisation (systems, requesters) created through the services,
//! then a generated history written through the import path.

use std::process::ExitCode;

use chrono::{DateTime, Utc};

use entity::{system, user};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::{config::Settings, policy::Policy, service::Caller};
use crate::{
    domain::demo::{self, DemoSpec, DemoType},
    error::{ServiceError, ServiceResult},
    service::{
        import::{self, ImportError, ImportSummary},
        systems, users,
    },
};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How many changes to generate.
    #[arg(long, default_value_t = 500)]
    pub changes: usize,
    /// How many months of history, ending at --end.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Seed of the random generator: the same seed, --changes, --months
    /// and --end give the same history.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// End of the history (RFC 3339); default: today 00:00 UTC.
    #[arg(long)]
    pub end: Option<DateTime<Utc>>,
}

pub async fn run(settings: &Settings, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let policy = Policy::load(&settings.policy)?;
    let end = match args.end {
        Some(end) => end,
        None => Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|midnight| midnight.and_utc())
            .unwrap_or_else(Utc::now),
    };
    let spec = DemoSpec {
        changes: args.changes,
        months: args.months,
        seed: args.seed,
        end,
        types: demo_types(&policy),
    };
    let db = super::connect_migrated(settings).await?;
    match generate(&db, &policy, &Caller::operator(), &spec).await {
        Ok(summary) => {
            println!(
                "generated {} change(s) over {} month(s) ending {} (seed {})",
                summary.imported.len(),
                args.months,
                end.to_rfc3339(),
                args.seed
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Invalid(errors)) => {
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            anyhow::bail!(
                "the generator produced {} invalid row(s), first: {first}",
                errors.len()
            )
        }
        Err(ImportError::Service(error)) => anyhow::bail!("demo-data failed: {error}"),
    }
}

/// The policy's change types as the generator sees them.
pub fn demo_types(policy: &Policy) -> Vec<DemoType> {
    policy
        .change_types
        .iter()
        .map(|t| DemoType {
            key: t.key.clone(),
            pre_approved: t.pre_approved,
            board: t.approvals.iter().any(|step| step.board),
            emergency_deadline_hours: t
                .emergency
                .as_ref()
                .map(|rules| rules.approval_deadline_hours.unwrap_or(24)),
        })
        .collect()
}

/// Creates the demo systems (with their hierarchy) and requesters that do
/// not exist yet.
pub async fn ensure_organisation(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
) -> ServiceResult<()> {
    for (name, parent) in demo::SYSTEMS {
        if find_system(db, name).await?.is_some() {
            continue;
        }
        let parent_id = match parent {
            Some(parent) => Some(
                find_system(db, parent)
                    .await?
                    .ok_or_else(|| ServiceError::internal(format!("no system {parent}")))?,
            ),
            None => None,
        };
        systems::create(db, caller, name, None, parent_id, None).await?;
    }
    for (name, email) in demo::REQUESTERS {
        let exists = user::Entity::find()
            .filter(user::Column::Email.eq(*email))
            .one(db)
            .await?
            .is_some();
        if !exists {
            users::create(db, policy, caller, name, email, &["requester".to_owned()]).await?;
        }
    }
    Ok(())
}

async fn find_system(db: &DatabaseConnection, name: &str) -> ServiceResult<Option<uuid::Uuid>> {
    Ok(system::Entity::find()
        .filter(system::Column::Name.eq(name))
        .one(db)
        .await?
        .map(|s| s.id))
}

/// Generates and imports the history in one transaction.
pub async fn generate(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    spec: &DemoSpec,
) -> Result<ImportSummary, ImportError> {
    ensure_organisation(db, policy, caller).await?;
    let rows = demo::generate(spec);
    import::import(db, policy, caller, rows, Vec::new(), false).await
}

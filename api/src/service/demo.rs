//! `gatehouse demo-data`: the demo organisation (systems, requesters) and
//! a generated history written through the import path.

use entity::{system, user};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::{
    import::{self, ImportError, ImportSummary},
    systems, users,
};
use crate::caller::Caller;
use crate::{
    domain::demo::{self, DemoSpec, DemoType},
    error::{ServiceError, ServiceResult},
    policy::Policy,
};

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
                    .ok_or_else(|| ServiceError::Internal(format!("no system {parent}")))?,
            ),
            None => None,
        };
        systems::create(db, caller, name, None, parent_id).await?;
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

//! Batched loading of related records, so a page of changes costs a fixed
//! number of queries however many rows it has.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{
    approval, audit_event, change_system, change_template, evidence, incident, review, system, user,
};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

pub struct DbLoader {
    pub db: DatabaseConnection,
    /// The policy verdicts are judged against, and the clock that says
    /// whether a deadline has passed.
    pub policy: std::sync::Arc<crate::policy::Policy>,
    pub clock: crate::clock::Clock,
}

/// The loader of one request. Its cache lives as long as the request, so
/// results are never stale across requests, and list resolvers can prime
/// it with one batched query for the whole page.
pub type Loaders = DataLoader<DbLoader, HashMapCache>;

pub fn for_request(state: &crate::graphql::context::AppState) -> Loaders {
    DataLoader::with_cache(
        DbLoader {
            db: state.db.clone(),
            policy: state.policy.clone(),
            clock: state.clock.clone(),
        },
        tokio::spawn,
        HashMapCache::default(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SystemId(pub Uuid);

/// The systems a change affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SystemsOfChange(pub Uuid);

impl Loader<UserId> for DbLoader {
    type Value = user::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, Self::Value>, Self::Error> {
        let users = user::Entity::find()
            .filter(user::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(users.into_iter().map(|u| (UserId(u.id), u)).collect())
    }
}

impl Loader<SystemId> for DbLoader {
    type Value = system::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[SystemId]) -> Result<HashMap<SystemId, Self::Value>, Self::Error> {
        let systems = system::Entity::find()
            .filter(system::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(systems.into_iter().map(|s| (SystemId(s.id), s)).collect())
    }
}

impl Loader<SystemsOfChange> for DbLoader {
    type Value = Vec<system::Model>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[SystemsOfChange],
    ) -> Result<HashMap<SystemsOfChange, Self::Value>, Self::Error> {
        let rows = change_system::Entity::find()
            .filter(change_system::Column::ChangeId.is_in(keys.iter().map(|k| k.0)))
            .find_also_related(system::Entity)
            .order_by_asc(system::Column::Name)
            .all(&self.db)
            .await?;
        let mut by_change: HashMap<SystemsOfChange, Vec<system::Model>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for (link, system) in rows {
            if let Some(system) = system {
                by_change
                    .entry(SystemsOfChange(link.change_id))
                    .or_default()
                    .push(system);
            }
        }
        Ok(by_change)
    }
}

/// The audit events of a change, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HistoryOfChange(pub Uuid);

impl Loader<HistoryOfChange> for DbLoader {
    type Value = Vec<audit_event::Model>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[HistoryOfChange],
    ) -> Result<HashMap<HistoryOfChange, Self::Value>, Self::Error> {
        crate::store::audit::seal_before_reading(&self.db).await;
        let events = audit_event::Entity::find()
            .filter(audit_event::Column::EntityType.eq("change"))
            .filter(audit_event::Column::EntityId.is_in(keys.iter().map(|k| k.0.to_string())))
            .order_by_asc(audit_event::Column::Seq)
            .all(&self.db)
            .await?;
        let mut by_change: HashMap<HistoryOfChange, Self::Value> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for event in events {
            if let Ok(id) = event.entity_id.parse::<Uuid>() {
                by_change
                    .entry(HistoryOfChange(id))
                    .or_default()
                    .push(event);
            }
        }
        Ok(by_change)
    }
}

/// Groups `rows` (already in the wanted order) by the change they belong
/// to; every requested change gets an entry, empty when it has no rows.
fn group_by_change<K, T>(keys: &[K], rows: Vec<T>, key_of: impl Fn(&T) -> K) -> HashMap<K, Vec<T>>
where
    K: Copy + Eq + std::hash::Hash,
{
    let mut grouped: HashMap<K, Vec<T>> = keys.iter().map(|key| (*key, Vec::new())).collect();
    for row in rows {
        grouped.entry(key_of(&row)).or_default().push(row);
    }
    grouped
}

/// Approval decisions of a change, every round, newest first. One key per
/// change whatever round a field asks for, so a page primes it once; the
/// resolver picks the round (a change has a handful of decisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApprovalsOfChange(pub Uuid);

impl Loader<ApprovalsOfChange> for DbLoader {
    type Value = Vec<approval::Model>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[ApprovalsOfChange],
    ) -> Result<HashMap<ApprovalsOfChange, Self::Value>, Self::Error> {
        let rows = approval::Entity::find()
            .filter(approval::Column::ChangeId.is_in(keys.iter().map(|k| k.0)))
            .order_by_desc(approval::Column::DecidedAt)
            .all(&self.db)
            .await?;
        Ok(group_by_change(keys, rows, |row| {
            ApprovalsOfChange(row.change_id)
        }))
    }
}

/// Evidence recorded on a change, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EvidenceOfChange(pub Uuid);

impl Loader<EvidenceOfChange> for DbLoader {
    type Value = Vec<evidence::Model>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[EvidenceOfChange],
    ) -> Result<HashMap<EvidenceOfChange, Self::Value>, Self::Error> {
        let rows = evidence::Entity::find()
            .filter(evidence::Column::ChangeId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(evidence::Column::RecordedAt)
            .all(&self.db)
            .await?;
        Ok(group_by_change(keys, rows, |row| {
            EvidenceOfChange(row.change_id)
        }))
    }
}

/// Incidents linked to a change, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IncidentsOfChange(pub Uuid);

impl Loader<IncidentsOfChange> for DbLoader {
    type Value = Vec<incident::Model>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[IncidentsOfChange],
    ) -> Result<HashMap<IncidentsOfChange, Self::Value>, Self::Error> {
        let rows = incident::Entity::find()
            .filter(incident::Column::ChangeId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(incident::Column::OpenedAt)
            .all(&self.db)
            .await?;
        Ok(group_by_change(keys, rows, |row| {
            // Every row has a change: the query selects by it.
            IncidentsOfChange(row.change_id.unwrap_or_default())
        }))
    }
}

/// Reviews of a change, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReviewsOfChange(pub Uuid);

impl Loader<ReviewsOfChange> for DbLoader {
    type Value = Vec<review::Model>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[ReviewsOfChange],
    ) -> Result<HashMap<ReviewsOfChange, Self::Value>, Self::Error> {
        let rows = review::Entity::find()
            .filter(review::Column::ChangeId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(review::Column::ReviewedAt)
            .all(&self.db)
            .await?;
        Ok(group_by_change(keys, rows, |row| {
            ReviewsOfChange(row.change_id)
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateId(pub Uuid);

impl Loader<TemplateId> for DbLoader {
    type Value = change_template::Model;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[TemplateId],
    ) -> Result<HashMap<TemplateId, Self::Value>, Self::Error> {
        let templates = change_template::Entity::find()
            .filter(change_template::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(templates
            .into_iter()
            .map(|t| (TemplateId(t.id), t))
            .collect())
    }
}

/// A change by id (a deployment's or an incident's change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChangeId(pub Uuid);

impl Loader<ChangeId> for DbLoader {
    type Value = entity::change::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[ChangeId]) -> Result<HashMap<ChangeId, Self::Value>, Self::Error> {
        let changes = entity::change::Entity::find()
            .filter(entity::change::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(changes.into_iter().map(|c| (ChangeId(c.id), c)).collect())
    }
}

/// A deployment by id (an incident's deployment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeploymentId(pub Uuid);

impl Loader<DeploymentId> for DbLoader {
    type Value = entity::deployment::Model;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[DeploymentId],
    ) -> Result<HashMap<DeploymentId, Self::Value>, Self::Error> {
        let rows = entity::deployment::Entity::find()
            .filter(entity::deployment::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|d| (DeploymentId(d.id), d)).collect())
    }
}

/// The systems of `links` (`(owner, system id)` rows of a link table) for
/// each key, sorted by name; a key without links gets none.
async fn systems_by_owner<K: Copy + Eq + std::hash::Hash>(
    db: &DatabaseConnection,
    keys: &[K],
    owner: impl Fn(&K) -> Uuid,
    links: Vec<(Uuid, Uuid)>,
) -> Result<HashMap<K, Vec<system::Model>>, DbErr> {
    let systems = system::Entity::find()
        .filter(system::Column::Id.is_in(links.iter().map(|(_, system)| *system)))
        .order_by_asc(system::Column::Name)
        .all(db)
        .await?;
    let mut by_owner: HashMap<Uuid, Vec<system::Model>> = HashMap::new();
    for system in systems {
        for (linked, _) in links.iter().filter(|(_, id)| *id == system.id) {
            by_owner.entry(*linked).or_default().push(system.clone());
        }
    }
    Ok(keys
        .iter()
        .map(|key| (*key, by_owner.remove(&owner(key)).unwrap_or_default()))
        .collect())
}

/// The systems a deployment deployed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SystemsOfDeployment(pub Uuid);

impl Loader<SystemsOfDeployment> for DbLoader {
    type Value = Vec<system::Model>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[SystemsOfDeployment],
    ) -> Result<HashMap<SystemsOfDeployment, Self::Value>, Self::Error> {
        use entity::deployment_system as link;
        let links = link::Entity::find()
            .filter(link::Column::DeploymentId.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|l| (l.deployment_id, l.system_id))
            .collect();
        Ok(systems_by_owner(&self.db, keys, |key| key.0, links).await?)
    }
}

/// The systems an incident affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SystemsOfIncident(pub Uuid);

impl Loader<SystemsOfIncident> for DbLoader {
    type Value = Vec<system::Model>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[SystemsOfIncident],
    ) -> Result<HashMap<SystemsOfIncident, Self::Value>, Self::Error> {
        use entity::incident_system as link;
        let links = link::Entity::find()
            .filter(link::Column::IncidentId.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|l| (l.incident_id, l.system_id))
            .collect();
        Ok(systems_by_owner(&self.db, keys, |key| key.0, links).await?)
    }
}

/// The verdict per control of a change (`Change.controls`): one batch of
/// history queries for all the changes a response shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlsOfChange(pub Uuid);

impl Loader<ControlsOfChange> for DbLoader {
    type Value = Vec<crate::domain::controls::ControlVerdict>;
    type Error = Arc<crate::error::ServiceError>;

    async fn load(
        &self,
        keys: &[ControlsOfChange],
    ) -> Result<HashMap<ControlsOfChange, Self::Value>, Self::Error> {
        let changes = entity::change::Entity::find()
            .filter(entity::change::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await
            .map_err(|e| Arc::new(e.into()))?;
        let verdicts = crate::service::controls::verdicts_of(
            &self.db,
            &self.policy,
            &changes,
            self.clock.now(),
        )
        .await
        .map_err(Arc::new)?;
        Ok(verdicts
            .into_iter()
            .map(|(id, verdicts)| (ControlsOfChange(id), verdicts))
            .collect())
    }
}

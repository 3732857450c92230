//! Deployments as pipelines and the forges' receivers report them, and the
//! exceptions (unauthorised changes) among them. The rule deciding whether
//! a change authorised a production deployment is
//! `domain::deployment::exception`; this module gathers its facts and
//! writes the outcome with its audit events.

use chrono::{DateTime, Utc};
use entity::{DeploymentSource, DeploymentStatus, change, deployment, deployment_system};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, Set, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    caller::Caller,
    domain::{
        audit_action,
        deployment::{self as rules, DeploymentReport},
        permissions,
    },
    error::{ServiceError, ServiceResult},
    store::{self, audit, events::ChangeEvent, transitions::Request},
};

/// A report and the status it gives.
#[derive(Debug, Clone)]
pub struct Reported {
    pub report: DeploymentReport,
    pub status: DeploymentStatus,
    pub source: DeploymentSource,
}

/// What recording did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Created,
    Updated,
    /// The report said nothing new (a retried or redelivered report).
    Unchanged,
}

/// Records a deployment, or updates the one with the same external id.
///
/// A production deployment is checked against the change it names when it
/// first reports that it ran (in progress or finished); a pending one is
/// not yet. The verdict stays: a change approved after the deployment
/// does not make it authorised. An exception is raised as an event on the
/// change it names, if any.
#[tracing::instrument(skip_all, fields(environment = %reported.report.environment))]
pub async fn record(
    request: &Request<'_>,
    reported: Reported,
) -> ServiceResult<(deployment::Model, Recorded)> {
    request.caller.authorize(permissions::record_deployment)?;
    let report = &reported.report;
    rules::check_report(report)?;
    let now = request.now;
    let txn = request.db.begin().await?;
    let systems = store::systems::named(&txn, "systems", &report.systems).await?;
    let existing = match &report.external_id {
        Some(external_id) => {
            deployment::Entity::find()
                .filter(deployment::Column::ExternalId.eq(external_id.as_str()))
                .one(&txn)
                .await?
        }
        None => None,
    };
    if let Some(existing) = &existing
        && let Some(number) = &report.change_number
        && existing
            .change_number
            .as_deref()
            .is_some_and(|n| n != number)
    {
        return Err(ServiceError::validation(
            "changeNumber",
            format!(
                "deployment {} was reported for {}; it cannot move to {number}",
                report.external_id.as_deref().unwrap_or_default(),
                existing.change_number.as_deref().unwrap_or_default()
            ),
        ));
    }
    let change_number = report
        .change_number
        .clone()
        .or_else(|| existing.as_ref().and_then(|e| e.change_number.clone()));
    let change = match &change_number {
        Some(number) => {
            change::Entity::find()
                .filter(change::Column::Number.eq(number.as_str()))
                .one(&txn)
                .await?
        }
        None => None,
    };
    let production = rules::is_production(
        &report.environment,
        &request.policy.deployments.production_environments,
    );
    // A finished deployment's later reports (redeliveries, GitHub's
    // `inactive`) never take it back to running.
    let status = match &existing {
        Some(e) if rules::is_finished(e.status) && !rules::is_finished(reported.status) => e.status,
        _ => reported.status,
    };
    let started_at = report
        .started_at
        .or(existing.as_ref().and_then(|e| e.started_at))
        .or((status != DeploymentStatus::Pending).then_some(now));
    let finished_at = report
        .finished_at
        .or(existing.as_ref().and_then(|e| e.finished_at))
        .or(rules::is_finished(status).then_some(now));
    let ran = status != DeploymentStatus::Pending;
    let checked_before = existing
        .as_ref()
        .is_some_and(|e| e.status != DeploymentStatus::Pending);
    let (exception, deployed_at) = if ran && !checked_before {
        let facts = rules::DeploymentFacts {
            production,
            started_at,
            finished_at,
            reported_at: now,
            systems: systems.iter().map(|s| (s.id, s.name.clone())).collect(),
        };
        let change_facts = match &change {
            Some(c) => Some(rules::ChangeFacts {
                number: c.number.clone(),
                status: c.status,
                actual_start: c.actual_start,
                actual_end: c.actual_end,
                systems: store::changes::system_ids_of(&txn, c.id).await?,
            }),
            None => None,
        };
        (
            rules::exception(&facts, change_number.as_deref(), change_facts.as_ref()),
            facts.at(),
        )
    } else {
        (None, now)
    };

    let id = existing.as_ref().map_or_else(Uuid::now_v7, |e| e.id);
    let next = deployment::Model {
        id,
        external_id: report.external_id.clone(),
        change_id: change.as_ref().map(|c| c.id),
        change_number: change_number.clone(),
        environment: report.environment.trim().to_owned(),
        production,
        version: report
            .version
            .clone()
            .or(existing.as_ref().and_then(|e| e.version.clone())),
        commit_sha: report
            .commit_sha
            .clone()
            .map(|sha| sha.to_ascii_lowercase())
            .or(existing.as_ref().and_then(|e| e.commit_sha.clone())),
        commit_time: report
            .commit_time
            .or(existing.as_ref().and_then(|e| e.commit_time)),
        started_at,
        finished_at,
        status,
        url: report
            .url
            .clone()
            .or(existing.as_ref().and_then(|e| e.url.clone())),
        source: existing.as_ref().map_or(reported.source, |e| e.source),
        exception_reason: existing
            .as_ref()
            .and_then(|e| e.exception_reason.clone())
            .or(exception.as_ref().map(ToString::to_string)),
        exception_at: existing
            .as_ref()
            .and_then(|e| e.exception_at)
            .or(exception.as_ref().map(|_| deployed_at)),
        recorded_by: existing.as_ref().map_or_else(
            || request.caller.account().map(|a| a.user_id),
            |e| e.recorded_by,
        ),
        recorded_at: existing.as_ref().map_or(now, |e| e.recorded_at),
        updated_at: now,
    };
    let systems_before = match &existing {
        Some(e) => system_ids(&txn, e.id).await?,
        None => Vec::new(),
    };
    let system_ids_now: Vec<Uuid> = systems.iter().map(|s| s.id).collect();
    let systems_change = !system_ids_now.is_empty() && system_ids_now != systems_before;
    if let Some(e) = &existing
        && same_report(e, &next)
        && !systems_change
    {
        return Ok((e.clone(), Recorded::Unchanged));
    }

    let outcome = if existing.is_some() {
        Recorded::Updated
    } else {
        Recorded::Created
    };
    let action = match outcome {
        Recorded::Created => audit_action::DEPLOYMENT_RECORDED,
        _ => audit_action::DEPLOYMENT_UPDATED,
    };
    let payload = json!({
        "externalId": next.external_id,
        "changeNumber": next.change_number,
        "environment": next.environment,
        "production": next.production,
        "status": next.status,
        "version": next.version,
        "commitSha": next.commit_sha,
        "commitTime": next.commit_time,
        "startedAt": next.started_at,
        "finishedAt": next.finished_at,
        "systems": systems.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        "source": next.source,
        "exception": next.exception_reason,
    });
    let recording = audit::recording(
        &txn,
        request.caller,
        action,
        "deployment",
        &id.to_string(),
        &payload,
    );
    let active = deployment::ActiveModel {
        id: Set(next.id),
        external_id: Set(next.external_id.clone()),
        change_id: Set(next.change_id),
        change_number: Set(next.change_number.clone()),
        environment: Set(next.environment.clone()),
        production: Set(next.production),
        version: Set(next.version.clone()),
        commit_sha: Set(next.commit_sha.clone()),
        commit_time: Set(next.commit_time),
        started_at: Set(next.started_at),
        finished_at: Set(next.finished_at),
        status: Set(next.status),
        url: Set(next.url.clone()),
        source: Set(next.source),
        exception_reason: Set(next.exception_reason.clone()),
        exception_at: Set(next.exception_at),
        recorded_by: Set(next.recorded_by),
        recorded_at: Set(next.recorded_at),
        updated_at: Set(next.updated_at),
    };
    let model = match outcome {
        Recorded::Created => active.insert(&recording).await?,
        _ => active.update(&recording).await?,
    };
    recording.finish().await?;
    if systems_change {
        deployment_system::Entity::delete_many()
            .filter(deployment_system::Column::DeploymentId.eq(id))
            .exec(&txn)
            .await?;
        deployment_system::Entity::insert_many(system_ids_now.iter().map(|system_id| {
            deployment_system::ActiveModel {
                deployment_id: Set(id),
                system_id: Set(*system_id),
            }
        }))
        .exec(&txn)
        .await?;
    }
    // The exception as an event on the change it names, so the change's
    // history and its live subscribers show it.
    let change_event = match (&exception, &change) {
        (Some(exception), Some(change)) => audit::append(
            &txn,
            request.caller,
            audit_action::CHANGE_UNAUTHORISED_DEPLOYMENT,
            "change",
            &change.id.to_string(),
            &json!({
                "number": change.number,
                "statusBefore": change.status,
                "statusAfter": change.status,
                "deploymentId": id,
                "environment": model.environment,
                "reason": exception.to_string(),
            }),
        )
        .await?
        .map(|recorded| (change.clone(), recorded)),
        _ => None,
    };
    if let Some(exception) = &exception {
        audit::append(
            &txn,
            request.caller,
            audit_action::DEPLOYMENT_EXCEPTION,
            "deployment",
            &id.to_string(),
            &json!({
                "changeNumber": model.change_number,
                "environment": model.environment,
                "at": model.exception_at,
                "reason": exception.to_string(),
            }),
        )
        .await?;
    }
    audit::commit(txn, request.db).await?;
    if let Some((change, recorded)) = change_event {
        request.events.committed(Some(ChangeEvent::new(
            &change,
            &recorded,
            Some(change.status),
        )));
    }
    if exception.is_some() {
        tracing::warn!(deployment = %model.id, reason = model.exception_reason.as_deref().unwrap_or_default(), "unauthorised production deployment");
    }
    Ok((model, outcome))
}

/// Whether two versions of a deployment say the same.
fn same_report(a: &deployment::Model, b: &deployment::Model) -> bool {
    let strip = |m: &deployment::Model| deployment::Model {
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
        ..m.clone()
    };
    strip(a) == strip(b)
}

/// The ids of a deployment's systems, sorted by name (as `store::systems::named`).
async fn system_ids<C: ConnectionTrait>(conn: &C, deployment_id: Uuid) -> ServiceResult<Vec<Uuid>> {
    let links: Vec<(Uuid, Uuid)> = deployment_system::Entity::find()
        .filter(deployment_system::Column::DeploymentId.eq(deployment_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|link| (link.deployment_id, link.system_id))
        .collect();
    Ok(store::systems::of_links(conn, &links)
        .await?
        .into_iter()
        .map(|(_, system)| system.id)
        .collect())
}

/// Which deployments a list shows.
#[derive(Debug, Clone, Default)]
pub struct DeploymentFilter {
    pub change_number: Option<String>,
    pub environment: Option<String>,
    pub production: Option<bool>,
    pub status: Option<DeploymentStatus>,
    /// Only the exceptions (unauthorised production deployments).
    pub exceptions_only: bool,
    /// Finished (or, for exceptions, deployed) in `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl DeploymentFilter {
    fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if let Some(number) = &self.change_number {
            condition = condition.add(deployment::Column::ChangeNumber.eq(number.as_str()));
        }
        if let Some(environment) = &self.environment {
            condition = condition.add(deployment::Column::Environment.eq(environment.trim()));
        }
        if let Some(production) = self.production {
            condition = condition.add(deployment::Column::Production.eq(production));
        }
        if let Some(status) = self.status {
            condition = condition.add(deployment::Column::Status.eq(status));
        }
        let time = if self.exceptions_only {
            condition = condition.add(deployment::Column::ExceptionReason.is_not_null());
            deployment::Column::ExceptionAt
        } else {
            deployment::Column::FinishedAt
        };
        if let Some(from) = self.from {
            condition = condition.add(time.gte(from));
        }
        if let Some(to) = self.to {
            condition = condition.add(time.lt(to));
        }
        condition
    }
}

/// A page of deployments, newest first, after the cursor `after` (the id
/// of the last one seen: ids grow with time, so a page never repeats or
/// skips a row when others are recorded meanwhile), and the total.
pub async fn list(
    db: &DatabaseConnection,
    caller: &Caller,
    filter: &DeploymentFilter,
    after: Option<Uuid>,
    first: u64,
) -> ServiceResult<(Vec<deployment::Model>, u64, bool)> {
    caller.authorize(permissions::read_changes)?;
    store::pages::newest_first::<deployment::Entity>(
        db,
        filter.condition(),
        deployment::Column::Id,
        after,
        first,
    )
    .await
}

pub async fn get(
    db: &DatabaseConnection,
    caller: &Caller,
    id: Uuid,
) -> ServiceResult<deployment::Model> {
    caller.authorize(permissions::read_changes)?;
    deployment::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound {
            entity: "deployment",
        })
}

//! Deployments and incidents as pipelines and people report them.

use crate::domain::node_id::NodeType;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{DeploymentSource, DeploymentStatus, IncidentPriority};

use crate::{
    domain::{deployment::DeploymentReport, timestamps},
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id, transition},
        types::{Deployment, lifecycle::Incident},
    },
    service::{
        deployments::{self, Recorded, Reported},
        incidents::{self, NewIncident},
    },
};

#[derive(Default)]
pub struct DeploymentMutation;

#[derive(InputObject)]
pub struct RecordDeploymentInput {
    /// The change it deploys (`CR-2026-0042`); a production deployment
    /// without one is an exception.
    pub change_number: Option<String>,
    pub environment: String,
    /// System names from the register.
    #[graphql(default)]
    pub systems: Vec<String>,
    pub version: Option<String>,
    pub commit_sha: Option<String>,
    /// When the deployed commit was made: lead time for changes runs from it.
    pub commit_time: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: DeploymentStatus,
    pub url: Option<String>,
    /// The pipeline's id for this deployment (a run id): recording the same
    /// id again updates the deployment instead of adding one.
    pub external_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct RecordDeploymentResult {
    pub deployment: Deployment,
    /// False when a deployment with this external id said the same already.
    pub changed: bool,
}

#[derive(InputObject)]
pub struct RecordIncidentInput {
    pub title: String,
    pub description: Option<String>,
    /// P3 when not given.
    pub priority: Option<IncidentPriority>,
    /// The change it is linked to.
    pub change_number: Option<String>,
    /// The deployment it is linked to (its change then too).
    pub deployment_id: Option<ID>,
    /// The systems it affects, by name.
    #[graphql(default)]
    pub systems: Vec<String>,
    /// When it began; now when not given.
    pub opened_at: Option<DateTime<Utc>>,
}

fn check_times(input: &RecordDeploymentInput) -> async_graphql::Result<()> {
    use async_graphql::ErrorExtensions;
    for (field, at) in [
        ("commitTime", input.commit_time),
        ("startedAt", input.started_at),
        ("finishedAt", input.finished_at),
    ] {
        if let Some(at) = at {
            timestamps::check(field, at)
                .map_err(|e| crate::error::ServiceError::from(e).extend())?;
        }
    }
    Ok(())
}

#[Object]
impl DeploymentMutation {
    /// Records a deployment (pipeline, implementer, change_manager);
    /// idempotent on `externalId`. A production deployment that no change
    /// in implementation authorises is recorded as an exception.
    async fn record_deployment(
        &self,
        ctx: &Context<'_>,
        input: RecordDeploymentInput,
    ) -> async_graphql::Result<RecordDeploymentResult> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        check_times(&input)?;
        let reported = Reported {
            status: input.status,
            source: DeploymentSource::Api,
            report: DeploymentReport {
                external_id: input.external_id,
                change_number: input.change_number.map(|n| n.trim().to_owned()),
                environment: input.environment,
                systems: input.systems,
                version: input.version,
                commit_sha: input.commit_sha,
                commit_time: input.commit_time,
                started_at: input.started_at,
                finished_at: input.finished_at,
                url: input.url,
            },
        };
        let (deployment, recorded) = deployments::record(&transition(state, &caller), reported)
            .await
            .gql()?;
        Ok(RecordDeploymentResult {
            deployment: Deployment(deployment),
            changed: recorded != Recorded::Unchanged,
        })
    }

    /// Opens an incident linked to a change, a deployment or the systems it
    /// affects (requester, implementer, change_manager, pipeline).
    async fn record_incident(
        &self,
        ctx: &Context<'_>,
        input: RecordIncidentInput,
    ) -> async_graphql::Result<Incident> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let deployment_id = input
            .deployment_id
            .as_ref()
            .map(|id| parse_id(NodeType::Deployment, "deploymentId", id))
            .transpose()?;
        incidents::record(
            &state.db,
            &caller,
            NewIncident {
                title: input.title,
                description: input.description,
                priority: input.priority,
                change_number: input.change_number,
                deployment_id,
                systems: input.systems,
                opened_at: input.opened_at,
                reported_by: None,
            },
            state.clock.now(),
        )
        .await
        .map(Incident)
        .gql()
    }

    /// Resolves an incident: service was restored at `restoredAt` (whoever
    /// opened it, implementer, change_manager).
    async fn resolve_incident(
        &self,
        ctx: &Context<'_>,
        id: ID,
        restored_at: DateTime<Utc>,
        summary: String,
    ) -> async_graphql::Result<Incident> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        incidents::resolve(
            &state.db,
            &caller,
            parse_id(NodeType::Incident, "id", &id)?,
            restored_at,
            &summary,
            state.clock.now(),
        )
        .await
        .map(Incident)
        .gql()
    }
}

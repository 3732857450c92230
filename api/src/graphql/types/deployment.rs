//! Deployments and the exceptions among them (docs/design.md, "Deployments
//! and incidents").

use crate::domain::node_id::NodeType;
use crate::graphql::types::global_id;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::{DeploymentSource, DeploymentStatus, deployment};

use super::{Change, System};
use crate::graphql::loaders::{ChangeId, Loaders, SystemsOfDeployment};

pub struct Deployment(pub deployment::Model);

/// A deployment a pipeline or a forge reported.
#[Object]
impl Deployment {
    pub async fn id(&self) -> ID {
        global_id(NodeType::Deployment, self.0.id)
    }
    /// The reporter's id for it; recording it again updates this one.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }
    /// The change number the report carried (kept when no change has it).
    async fn change_number(&self) -> Option<&str> {
        self.0.change_number.as_deref()
    }
    async fn change(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Change>> {
        let Some(id) = self.0.change_id else {
            return Ok(None);
        };
        Ok(ctx
            .data::<Loaders>()?
            .load_one(ChangeId(id))
            .await?
            .map(Change))
    }
    async fn environment(&self) -> &str {
        &self.0.environment
    }
    /// Whether the policy counts the environment as production.
    async fn production(&self) -> bool {
        self.0.production
    }
    async fn systems(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<System>> {
        Ok(ctx
            .data::<Loaders>()?
            .load_one(SystemsOfDeployment(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(System)
            .collect())
    }
    async fn version(&self) -> Option<&str> {
        self.0.version.as_deref()
    }
    async fn commit_sha(&self) -> Option<&str> {
        self.0.commit_sha.as_deref()
    }
    async fn commit_time(&self) -> Option<DateTime<Utc>> {
        self.0.commit_time
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    async fn status(&self) -> DeploymentStatus {
        self.0.status
    }
    async fn url(&self) -> Option<&str> {
        self.0.url.as_deref()
    }
    async fn source(&self) -> DeploymentSource {
        self.0.source
    }
    /// Set when the deployment reached production without a change
    /// authorising it: why.
    async fn exception(&self) -> Option<&str> {
        self.0.exception_reason.as_deref()
    }
    /// When the unauthorised deployment happened (its start, else its end,
    /// else when it was reported): the period it counts in.
    async fn exception_at(&self) -> Option<DateTime<Utc>> {
        self.0.exception_at
    }
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

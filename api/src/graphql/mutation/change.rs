use crate::domain::node_id::NodeType;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, Utc};
use entity::{DeploymentMethod, Priority};

use crate::{
    domain::change::{ChangeContent, ChangePatch, Link, RollbackPlan},
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id},
        types::Change,
    },
    service::changes,
};

#[derive(Default)]
pub struct ChangeMutation;

#[derive(InputObject)]
pub struct ImplementationPlanInput {
    /// Ordered steps.
    #[graphql(default)]
    pub steps: Vec<String>,
    pub deployment_method: Option<DeploymentMethod>,
    /// Traffic percentages per canary stage, e.g. [5, 25, 50, 100].
    #[graphql(default)]
    pub canary_stages: Vec<i32>,
}

/// A new change request. The requester is the caller.
#[derive(InputObject)]
pub struct CreateChangeInput {
    pub title: String,
    pub description: String,
    pub business_justification: String,
    pub expected_benefit: Option<String>,
    #[graphql(default_with = "Priority::Medium")]
    pub urgency: Priority,
    #[graphql(default_with = "Priority::Medium")]
    pub priority: Priority,
    /// A change type key of the active policy (see `policy.changeTypes`).
    #[graphql(name = "type")]
    pub change_type: String,
    /// 1 (very low) to 5 (critical).
    pub likelihood: i32,
    /// 1 (very low) to 5 (critical).
    pub impact: i32,
    pub mitigations: Option<String>,
    pub residual_likelihood: Option<i32>,
    pub residual_impact: Option<i32>,
    #[graphql(default)]
    pub system_ids: Vec<ID>,
    #[graphql(default)]
    pub services: Vec<String>,
    pub customers_affected: Option<String>,
    #[graphql(default)]
    pub downtime_required: bool,
    pub performance_impact: Option<String>,
    pub implementation_plan: Option<ImplementationPlanInput>,
    pub test_plan: Option<String>,
    pub rollback_plan: Option<RollbackPlan>,
    #[graphql(default)]
    pub links: Vec<Link>,
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_end: Option<DateTime<Utc>>,
    /// Standard change catalog template (required for standard changes
    /// where the policy says so).
    pub template_id: Option<ID>,
    /// Attribute keys of the active policy the change carries
    /// (`policy.attributes`, e.g. `authentication`): conditional gates
    /// apply by them.
    #[graphql(default)]
    pub attributes: Vec<String>,
}

/// Fields to change on a draft; omitted fields stay, `null` clears.
#[derive(InputObject, Default)]
pub struct UpdateChangeInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub business_justification: Option<String>,
    pub expected_benefit: MaybeUndefined<String>,
    pub urgency: Option<Priority>,
    pub priority: Option<Priority>,
    #[graphql(name = "type")]
    pub change_type: Option<String>,
    pub likelihood: Option<i32>,
    pub impact: Option<i32>,
    pub mitigations: MaybeUndefined<String>,
    pub residual_likelihood: MaybeUndefined<i32>,
    pub residual_impact: MaybeUndefined<i32>,
    pub system_ids: Option<Vec<ID>>,
    pub services: Option<Vec<String>>,
    pub customers_affected: MaybeUndefined<String>,
    pub downtime_required: Option<bool>,
    pub performance_impact: MaybeUndefined<String>,
    pub implementation_plan: Option<ImplementationPlanInput>,
    pub test_plan: MaybeUndefined<String>,
    pub rollback_plan: MaybeUndefined<RollbackPlan>,
    pub links: Option<Vec<Link>>,
    pub planned_start: MaybeUndefined<DateTime<Utc>>,
    pub planned_end: MaybeUndefined<DateTime<Utc>>,
    pub template_id: MaybeUndefined<ID>,
    pub attributes: Option<Vec<String>>,
}

fn parse_ids(ids: &[ID]) -> async_graphql::Result<Vec<uuid::Uuid>> {
    let mut parsed = ids
        .iter()
        .enumerate()
        .map(|(index, id)| parse_id(NodeType::System, &format!("systemIds[{index}]"), id))
        .collect::<async_graphql::Result<Vec<_>>>()?;
    parsed.sort();
    Ok(parsed)
}

/// `MaybeUndefined` to the patch convention: absent, clear, or set.
fn patch<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

impl CreateChangeInput {
    fn into_content(self) -> async_graphql::Result<ChangeContent> {
        let plan = self.implementation_plan.unwrap_or(ImplementationPlanInput {
            steps: Vec::new(),
            deployment_method: None,
            canary_stages: Vec::new(),
        });
        Ok(ChangeContent {
            system_ids: parse_ids(&self.system_ids)?,
            title: self.title,
            description: self.description,
            business_justification: self.business_justification,
            expected_benefit: self.expected_benefit,
            urgency: self.urgency,
            priority: self.priority,
            change_type: self.change_type,
            likelihood: self.likelihood,
            impact: self.impact,
            mitigations: self.mitigations,
            residual_likelihood: self.residual_likelihood,
            residual_impact: self.residual_impact,
            services: self.services,
            customers_affected: self.customers_affected,
            downtime_required: self.downtime_required,
            performance_impact: self.performance_impact,
            implementation_steps: plan.steps,
            deployment_method: plan.deployment_method,
            canary_stages: plan.canary_stages,
            test_plan: self.test_plan,
            rollback_plan: self.rollback_plan,
            links: self.links,
            planned_start: self.planned_start,
            planned_end: self.planned_end,
            template_id: self
                .template_id
                .as_ref()
                .map(|id| parse_id(NodeType::Template, "templateId", id))
                .transpose()?,
            attributes: self.attributes,
        })
    }
}

impl UpdateChangeInput {
    fn into_patch(self) -> async_graphql::Result<ChangePatch> {
        let (steps, method, stages) = match self.implementation_plan {
            Some(plan) => (
                Some(plan.steps),
                Some(plan.deployment_method),
                Some(plan.canary_stages),
            ),
            None => (None, None, None),
        };
        Ok(ChangePatch {
            system_ids: self.system_ids.as_deref().map(parse_ids).transpose()?,
            title: self.title,
            description: self.description,
            business_justification: self.business_justification,
            expected_benefit: patch(self.expected_benefit),
            urgency: self.urgency,
            priority: self.priority,
            change_type: self.change_type,
            likelihood: self.likelihood,
            impact: self.impact,
            mitigations: patch(self.mitigations),
            residual_likelihood: patch(self.residual_likelihood),
            residual_impact: patch(self.residual_impact),
            services: self.services,
            customers_affected: patch(self.customers_affected),
            downtime_required: self.downtime_required,
            performance_impact: patch(self.performance_impact),
            implementation_steps: steps,
            deployment_method: method,
            canary_stages: stages,
            test_plan: patch(self.test_plan),
            rollback_plan: patch(self.rollback_plan),
            links: self.links,
            planned_start: patch(self.planned_start),
            planned_end: patch(self.planned_end),
            template_id: match &self.template_id {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(id) => {
                    Some(Some(parse_id(NodeType::Template, "templateId", id)?))
                }
            },
            attributes: self.attributes,
        })
    }
}

#[Object]
impl ChangeMutation {
    /// Files a new change request as a DRAFT (role: requester).
    async fn create_change(
        &self,
        ctx: &Context<'_>,
        input: CreateChangeInput,
    ) -> async_graphql::Result<Change> {
        let caller = ctx.caller()?;
        let state = ctx.state()?;
        let content = input.into_content()?;
        changes::create(&state.db, &state.policy, &state.events, &caller, content)
            .await
            .map(Change)
            .gql()
    }

    /// Edits a draft. `expectedVersion` must be the change's current
    /// version, otherwise nothing is written and the error is CONFLICT.
    async fn update_change(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: UpdateChangeInput,
    ) -> async_graphql::Result<Change> {
        let caller = ctx.caller()?;
        let state = ctx.state()?;
        let id = parse_id(NodeType::Change, "id", &id)?;
        let patch = input.into_patch()?;
        changes::update(
            &state.db,
            &state.policy,
            &state.events,
            &caller,
            id,
            expected_version,
            patch,
        )
        .await
        .map(Change)
        .gql()
    }
}

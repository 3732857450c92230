mod account;
mod audit;
mod audit_workspace;
mod calendar;
mod change;
mod controls;
mod deployment;
mod lifecycle;
mod metrics;
mod node;
mod policy;
mod system;
mod webhook;

use async_graphql::MergedObject;

pub use lifecycle::GateStatus;

#[derive(MergedObject, Default)]
pub struct Query(
    change::ChangeQuery,
    lifecycle::LifecycleQuery,
    calendar::CalendarQuery,
    account::AccountQuery,
    system::SystemQuery,
    policy::PolicyQuery,
    audit::AuditQuery,
    audit_workspace::AuditWorkspaceQuery,
    controls::ControlsQuery,
    metrics::MetricsQuery,
    deployment::DeploymentQuery,
    webhook::WebhookQuery,
    node::NodeQuery,
);

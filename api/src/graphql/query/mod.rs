mod account;
mod audit;
mod calendar;
mod change;
mod deployment;
mod lifecycle;
mod metrics;
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
    metrics::MetricsQuery,
    deployment::DeploymentQuery,
    webhook::WebhookQuery,
);

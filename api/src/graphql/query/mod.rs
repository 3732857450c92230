mod account;
mod audit;
mod change;
mod metrics;
mod policy;
mod system;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Query(
    change::ChangeQuery,
    account::AccountQuery,
    system::SystemQuery,
    policy::PolicyQuery,
    audit::AuditQuery,
    metrics::MetricsQuery,
);

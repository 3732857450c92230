mod account;
mod audit;
mod change;
mod lifecycle;
mod policy;
mod system;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Query(
    change::ChangeQuery,
    lifecycle::LifecycleQuery,
    account::AccountQuery,
    system::SystemQuery,
    policy::PolicyQuery,
    audit::AuditQuery,
);

mod account;
mod cab;
mod calendar;
mod change;
mod deployment;
mod lifecycle;
mod system;
mod webhook;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Mutation(
    change::ChangeMutation,
    lifecycle::LifecycleMutation,
    cab::CabMutation,
    calendar::CalendarMutation,
    account::AccountMutation,
    system::SystemMutation,
    deployment::DeploymentMutation,
    webhook::WebhookMutation,
);

mod account;
mod cab;
mod calendar;
mod change;
mod lifecycle;
mod system;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Mutation(
    change::ChangeMutation,
    lifecycle::LifecycleMutation,
    cab::CabMutation,
    calendar::CalendarMutation,
    account::AccountMutation,
    system::SystemMutation,
);

mod account;
mod change;
mod system;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Mutation(
    change::ChangeMutation,
    account::AccountMutation,
    system::SystemMutation,
);

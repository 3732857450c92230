//! What every transition shares: opening it (the change claimed, the
//! caller authorised, the snapshot read) and turning refusals into errors.

use sea_orm::{DatabaseTransaction, TransactionTrait};
use uuid::Uuid;

use crate::caller::Caller;
use crate::policy::Authority;
use crate::store;
use crate::store::changes::Snapshot;
use crate::store::transitions::Request;
use crate::{
    domain::{
        approval::{ApprovalState, BoardVote},
        permissions,
    },
    error::{ServiceError, ServiceResult},
};

pub(super) fn refuse<T>(
    result: Result<T, Vec<crate::domain::violation::Violation>>,
) -> ServiceResult<T> {
    result.map_err(ServiceError::PolicyViolation)
}

/// What every transition of a change starts from: the change claimed in
/// a new transaction (locked, its version checked), the caller authorised
/// by `permission` (given the change's requester and who its type's
/// `[change_type.authority]` names), and its snapshot with the approval
/// state while the board's vote is open.
pub(super) async fn open_transition(
    request: &Request<'_>,
    id: Uuid,
    expected_version: Option<i32>,
    permission: fn(&crate::auth::Actor, Uuid, &Authority) -> Result<(), permissions::Denied>,
) -> ServiceResult<(DatabaseTransaction, Snapshot, ApprovalState)> {
    let txn = request.db.begin().await?;
    let model = store::transitions::claim(&txn, id, expected_version).await?;
    // A type the policy no longer has names nobody: the defaults apply.
    let authority = request
        .policy
        .change_type(&model.change_type)
        .map(|t| t.authority.clone())
        .unwrap_or_default();
    request
        .caller
        .authorize(|actor| permission(actor, model.requester_id, &authority))?;
    let snapshot = store::changes::snapshot(&txn, request.policy, model).await?;
    let approval = snapshot.approval(request.policy, BoardVote::Open);
    Ok((txn, snapshot, approval))
}

pub(super) fn account(caller: &Caller) -> ServiceResult<&crate::auth::Actor> {
    caller
        .account()
        .ok_or_else(|| ServiceError::forbidden("lifecycle actions are taken by accounts"))
}

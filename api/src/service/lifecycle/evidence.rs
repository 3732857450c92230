//! Recording gate results (tests, reviews, scans, documentation).

use entity::{ChangeStatus, EvidenceStatus, change, evidence, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::audit_action;
use crate::domain::violation::{Violation, ViolationCode};
use crate::store;
use crate::store::accounts;
use crate::store::transitions::Request;
use crate::{
    domain::{
        ValidationError,
        gates::{self},
        lifecycle::status_name,
        optional_text, permissions,
    },
    error::{ServiceError, ServiceResult},
};

use super::transition::account;

/// Records a gate result (tests, reviews, scans, documentation).
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip_all, fields(change_id = %id, gate))]
pub async fn record_evidence(
    request: &Request<'_>,
    id: Uuid,
    gate: &str,
    status: EvidenceStatus,
    summary: Option<&str>,
    url: Option<&str>,
    data: Value,
) -> ServiceResult<evidence::Model> {
    let actor = account(request.caller)?;
    let gate_rules = request.policy.gate(gate).ok_or_else(|| {
        ServiceError::validation(
            "gate",
            format!(
                "`{gate}` is not a gate of the active policy (one of: {})",
                request
                    .policy
                    .gates
                    .iter()
                    .map(|g| g.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    optional_text("summary", summary, 10_000)?;
    if let Some(url) = url {
        crate::domain::http_url("url", url, 2_000)?;
    }
    if !data.is_object() {
        return Err(ValidationError::new("data", "must be a JSON object").into());
    }
    if serde_json::to_string(&data)
        .map(|s| s.len())
        .unwrap_or(usize::MAX)
        > 64 * 1024
    {
        return Err(ValidationError::new("data", "must be at most 64 KiB").into());
    }
    gates::validate_evidence_data(gate_rules, &data)?;
    let txn = request.db.begin().await?;
    let model = store::transitions::claim(&txn, id, None).await?;
    request.caller.authorize(|actor| {
        permissions::record_evidence(
            actor,
            model.requester_id,
            gate_rules.is_review(),
            &gate_rules.recorded_by,
        )
    })?;
    if matches!(model.status, ChangeStatus::Closed | ChangeStatus::Cancelled) {
        return Err(ServiceError::PolicyViolation(vec![Violation::new(
            ViolationCode::WrongStatus,
            format!(
                "cannot record evidence on a change that is {}",
                status_name(model.status)
            ),
        )]));
    }
    // A post-implementation check verifies what was implemented: a record
    // from before the start would verify nothing.
    if gate_rules.before == crate::policy::GatePhase::Close
        && !crate::domain::lifecycle::has_started(model.status, model.actual_start)
    {
        return Err(ServiceError::PolicyViolation(vec![Violation::new(
            ViolationCode::WrongStatus,
            format!(
                "`{gate}` is checked after implementation; record it once implementation has started (the change is {})",
                status_name(model.status)
            ),
        )]));
    }
    // Reviewers are accounts: the stored details are the server's account
    // lookup, in this transaction, not what the recorder wrote.
    let data = if gate_rules.kind == crate::policy::GateKind::CodeReview {
        let ids = gates::reviewer_ids(&data);
        let accounts = user::Entity::find()
            .filter(user::Column::Id.is_in(ids.clone()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|account| gates::ReviewerAccount {
                id: account.id,
                active: account.active,
                roles: accounts::roles_of(&account),
                email: account.email,
            })
            .collect::<Vec<_>>();
        gates::code_review_details(gate_rules, model.requester_id, &ids, &accounts)?
    } else {
        data
    };
    let record = evidence::ActiveModel {
        id: Set(Uuid::now_v7()),
        change_id: Set(id),
        gate: Set(gate.to_owned()),
        status: Set(status),
        summary: Set(summary.map(str::to_owned)),
        url: Set(url.map(str::to_owned)),
        data: Set(data.clone()),
        recorded_by: Set(actor.user_id),
        recorded_at: Set(request.now),
    }
    .insert(&txn)
    .await?;
    let mut active: change::ActiveModel = model.clone().into();
    let documents = gate_rules.kind == crate::policy::GateKind::Documentation
        && status == EvidenceStatus::Passed;
    if documents && model.documented_at.is_none() {
        active.documented_at = Set(Some(request.now));
    }
    store::transitions::finish(
        txn,
        request,
        active,
        audit_action::CHANGE_EVIDENCE_RECORDED,
        model.status,
        json!({"evidenceId": record.id, "gate": gate, "status": status, "summary": summary, "url": url, "data": data}),
    )
    .await?;
    Ok(record)
}

//! Writing historical changes (`gatehouse import`, `gatehouse demo-data`):
//! one transaction, a gap-free number per year of `createdAt` from the same
//! counter as `createChange`, the systems, the incident of a rollback and
//! one `change.imported` audit event per change.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Duration, SubsecRound, Utc};
use entity::{ChangeOutcome, board_decision, change, incident, system, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::caller::Caller;
use crate::domain::audit_action;
use crate::store::audit;
use crate::{
    db,
    domain::{
        import::{ImportedChange, RowError, board_errors, lifecycle_errors},
        numbering,
    },
    error::ServiceError,
    policy::Policy,
};

/// What an import wrote.
#[derive(Debug, Default)]
pub struct ImportSummary {
    /// `(line, number)` of every imported change, in the order written.
    pub imported: Vec<(u64, String)>,
    /// Rows left out under `--skip-invalid`, sorted by line.
    pub skipped: Vec<RowError>,
    /// Systems that did not exist and were created (top level).
    pub created_systems: Vec<String>,
}

#[derive(Debug)]
pub enum ImportError {
    /// Rows failed validation; nothing was written.
    Invalid(Vec<RowError>),
    Service(ServiceError),
}

impl From<ServiceError> for ImportError {
    fn from(error: ServiceError) -> Self {
        Self::Service(error)
    }
}

impl From<sea_orm::DbErr> for ImportError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Service(error.into())
    }
}

/// The policy's change types with emergency rules.
pub fn emergency_types(policy: &Policy) -> Vec<&str> {
    policy
        .change_types
        .iter()
        .filter(|t| t.emergency.is_some())
        .map(|t| t.key.as_str())
        .collect()
}

/// The types the board decides: an approval step of theirs is a vote.
fn board_types(policy: &Policy) -> Vec<&str> {
    policy
        .change_types
        .iter()
        .filter(|t| t.approvals.iter().any(|step| step.board))
        .map(|t| t.key.as_str())
        .collect()
}

/// Imports `rows` (already parsed; `invalid` are the rows that failed to
/// parse). Without `skip_invalid` any invalid row fails the whole import
/// and nothing is written; with it the valid rows are written and the
/// invalid ones listed in the summary.
pub async fn import(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    rows: Vec<ImportedChange>,
    mut invalid: Vec<RowError>,
    skip_invalid: bool,
) -> Result<ImportSummary, ImportError> {
    let types = policy.change_type_keys();
    let emergency = emergency_types(policy);
    let board = board_types(policy);
    // The service enforces the rules whoever built the rows.
    let mut valid = Vec::with_capacity(rows.len());
    for row in rows {
        let mut errors = match row.content.validate(&types) {
            Ok(()) => Vec::new(),
            Err(error) => vec![RowError::new(row.line, error.field, error.message)],
        };
        errors.extend(lifecycle_errors(&row, &emergency));
        errors.extend(board_errors(&row, &board));
        if errors.is_empty() {
            valid.push(row);
        } else {
            invalid.extend(errors);
        }
    }
    let txn = db.begin().await?;
    let emails: Vec<String> = valid
        .iter()
        .map(|r| r.requester_email.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut requesters: HashMap<String, Uuid> = HashMap::new();
    for chunk in emails.chunks(500) {
        let found: Vec<(Uuid, String)> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::Email)
            .filter(user::Column::Email.is_in(chunk.to_vec()))
            .into_tuple()
            .all(&txn)
            .await?;
        requesters.extend(found.into_iter().map(|(id, email)| (email, id)));
    }
    valid.retain(|row| {
        let known = requesters.contains_key(&row.requester_email);
        if !known {
            invalid.push(RowError::new(
                row.line,
                "requesterEmail",
                format!("no account with email {}", row.requester_email),
            ));
        }
        known
    });
    invalid.sort_by_key(|e| e.line);
    if !invalid.is_empty() && !skip_invalid {
        txn.rollback().await?;
        return Err(ImportError::Invalid(invalid));
    }
    let mut summary = ImportSummary {
        skipped: invalid,
        ..ImportSummary::default()
    };
    let systems = resolve_systems(&txn, caller, &valid, &mut summary.created_systems).await?;
    // Numbers follow the order the changes were created in.
    valid.sort_by_key(|row| (row.created_at, row.line));
    for row in &valid {
        let requester = requesters
            .get(&row.requester_email)
            .copied()
            .ok_or_else(|| ServiceError::internal("requester vanished during import"))?;
        let system_ids = row
            .system_names
            .iter()
            .map(|name| {
                systems.get(name).copied().ok_or_else(|| {
                    ServiceError::internal(format!("system {name} vanished during import"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let number = insert(&txn, policy, caller, row, requester, &system_ids).await?;
        summary.imported.push((row.line, number));
    }
    audit::commit(txn, db).await?;
    Ok(summary)
}

/// Ids of every system the rows name; missing ones are created at the top
/// of the hierarchy (and audited) in the import's transaction.
async fn resolve_systems(
    txn: &DatabaseTransaction,
    caller: &Caller,
    rows: &[ImportedChange],
    created: &mut Vec<String>,
) -> Result<HashMap<String, Uuid>, ImportError> {
    let names: BTreeSet<&String> = rows.iter().flat_map(|r| &r.system_names).collect();
    let mut ids = HashMap::new();
    if names.is_empty() {
        return Ok(ids);
    }
    let existing: Vec<(Uuid, String)> = system::Entity::find()
        .select_only()
        .column(system::Column::Id)
        .column(system::Column::Name)
        .into_tuple()
        .all(txn)
        .await?;
    ids.extend(existing.into_iter().map(|(id, name)| (name, id)));
    for name in names {
        if ids.contains_key(name) {
            continue;
        }
        let model = system::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name.clone()),
            description: Set(None),
            parent_id: Set(None),
            team: Set(None),
            created_at: Set(db::now()),
        }
        .insert(txn)
        .await?;
        audit::append(
            txn,
            caller,
            audit_action::SYSTEM_CREATED,
            "system",
            &model.id.to_string(),
            &json!({"name": model.name, "description": null, "parentId": null, "via": "import"}),
        )
        .await?;
        ids.insert(name.clone(), model.id);
        created.push(name.clone());
    }
    Ok(ids)
}

fn micros(value: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    value.map(|v| v.trunc_subsecs(6))
}

/// Writes one validated historical change with its systems, incident and
/// audit event; returns its number.
pub async fn insert(
    txn: &DatabaseTransaction,
    policy: &Policy,
    caller: &Caller,
    row: &ImportedChange,
    requester: Uuid,
    system_ids: &[Uuid],
) -> Result<String, ServiceError> {
    let created_at = row.created_at.trunc_subsecs(6);
    let year = created_at.year();
    let sequence = crate::store::changes::next_sequence(txn, year).await?;
    let number = numbering::format_number(year, sequence);
    let id = Uuid::now_v7();
    active_model(policy, row, id, &number, requester)
        .insert(txn)
        .await?;
    crate::store::changes::replace_systems(txn, id, system_ids).await?;
    if let Some(decision) = board_decision_model(row, id) {
        decision.insert(txn).await?;
    }
    let incident_priority = row.incident_priority();
    if let Some(priority) = incident_priority {
        let opened = incident::ActiveModel {
            id: Set(Uuid::now_v7()),
            change_id: Set(Some(id)),
            priority: Set(priority),
            title: Set(match &row.rollback_reason {
                Some(_) => format!("Rollback of {number}"),
                None => format!("Incident linked to {number}"),
            }),
            description: Set(row.rollback_reason.clone()),
            opened_by: Set(requester),
            opened_at: Set(micros(row.actual_end.or(row.actual_start)).unwrap_or(created_at)),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        // Resolving it later restores the rolled-back change, as for a
        // rollback recorded here.
        if row.outcome == Some(ChangeOutcome::RolledBack) {
            change::Entity::update_many()
                .col_expr(change::Column::RollbackIncidentId, Some(opened.id).into())
                .filter(change::Column::Id.eq(id))
                .exec(txn)
                .await?;
        }
    }
    let risk = row.content.risk();
    audit::append(
        txn,
        caller,
        audit_action::CHANGE_IMPORTED,
        "change",
        &id.to_string(),
        &json!({
            "number": number,
            "sourceNumber": row.source_number,
            "status": row.status,
            "outcome": row.outcome,
            "boardOutcome": row.board_outcome,
            "boardDecidedAt": micros(row.board_decided_at),
            "requesterEmail": row.requester_email,
            "systems": row.system_names,
            "content": row.content,
            "risk": {"inherentScore": risk.inherent_score, "residualScore": risk.residual_score, "level": risk.level},
            "createdAt": created_at,
            "submittedAt": micros(row.submitted_at),
            "approvedAt": micros(row.approved_at),
            "actualStart": micros(row.actual_start),
            "actualEnd": micros(row.actual_end),
            "incident": incident_priority,
        }),
    )
    .await?;
    Ok(number)
}

/// The board's decision of an imported change, when the file gives both
/// its outcome and its time (a decision without a time cannot be put in a
/// period, so the CAB approval rate leaves it out).
pub fn board_decision_model(row: &ImportedChange, id: Uuid) -> Option<board_decision::ActiveModel> {
    let (outcome, decided_at) = (row.board_outcome?, micros(row.board_decided_at)?);
    Some(board_decision::ActiveModel {
        change_id: Set(id),
        round: Set(1),
        outcome: Set(outcome),
        decided_at: Set(decided_at),
    })
}

/// The row of one validated historical change (no numbering, systems,
/// incident or audit: `insert` adds those; the reporting benchmark uses it
/// for its bulk load).
pub fn active_model(
    policy: &Policy,
    row: &ImportedChange,
    id: Uuid,
    number: &str,
    requester: Uuid,
) -> change::ActiveModel {
    let created_at = row.created_at.trunc_subsecs(6);
    let rules = policy
        .change_type(&row.content.change_type)
        .and_then(|t| t.emergency.as_ref());
    // As the lifecycle sets it: from the start, or from the end where the
    // type says so; none when the history lacks that time.
    let documentation_due_at = rules.and_then(|rules| {
        let from = if rules.documentation_from_end {
            row.actual_end
        } else {
            row.actual_start
        };
        Some(from? + Duration::hours(i64::from(rules.documentation_deadline_hours?)))
    });
    let mut active = change::ActiveModel {
        id: Set(id),
        number: Set(number.to_owned()),
        status: Set(row.status),
        requester_id: Set(requester),
        created_at: Set(created_at),
        updated_at: Set(db::now()),
        version: Set(1),
        scheduled_start: Set(micros(row.scheduled_start)),
        scheduled_end: Set(micros(row.scheduled_end)),
        actual_start: Set(micros(row.actual_start)),
        actual_end: Set(micros(row.actual_end)),
        outcome: Set(row.outcome),
        submitted_at: Set(micros(row.submitted_at)),
        approved_at: Set(micros(row.approved_at)),
        closed_at: Set(micros(row.closed_at)),
        approval_round: Set(1),
        // Derived from the policy when the source did not say, as the
        // documentation deadline is.
        approval_due_at: Set(micros(row.approval_due_at.or_else(|| {
            policy.change_type(&row.content.change_type).and_then(|t| {
                crate::domain::lifecycle::imported_approval_due(
                    t,
                    row.submitted_at,
                    row.approved_at,
                    row.actual_start,
                )
            })
        }))),
        documentation_due_at: Set(micros(documentation_due_at)),
        documented_at: Set(micros(row.documented_at)),
        review_due_at: Set(None),
        reviewed_at: Set(None),
        board_review_due_at: Set(None),
        board_reviewed_at: Set(None),
        board_outcome: Set(row.board_outcome),
        board_decided_at: Set(micros(row.board_decided_at)),
        rollback_reason: Set(row.rollback_reason.clone()),
        schedule_sequence: Set(0),
        ..Default::default()
    };
    crate::store::changes::write_content(&mut active, &row.content);
    active
}

//! The Change Advisory Board: membership, meetings, agendas and minutes.

use chrono::{DateTime, Utc};
use entity::{
    BoardRole, ChangeStatus, MeetingStatus, ReviewKind, cab_meeting, cab_member, change, review,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait, TryIntoModel,
};
use serde_json::json;
use uuid::Uuid;

use crate::caller::Caller;
use crate::domain::audit_action;
use crate::domain::violation::{Violation, ViolationCode};
use crate::store;
use crate::store::accounts;
use crate::store::audit;
use crate::store::transitions::Request;
use crate::{
    domain::{
        approval::BoardVote,
        optional_text,
        permissions::{self, BoardItem},
    },
    error::{ServiceError, ServiceResult},
    policy::Policy,
};

pub async fn members(db: &DatabaseConnection) -> ServiceResult<Vec<cab_member::Model>> {
    Ok(cab_member::Entity::find()
        .order_by_asc(cab_member::Column::AddedAt)
        .all(db)
        .await?)
}

/// Refuses an account that has a stake in the board's current business
/// (it requested a change on the agenda) an act that changes who decides
/// it or when. The operator is bound by no rule (see `Caller::authorize`).
fn refuse_a_stake(caller: &Caller, agenda: &[(change::Model, AgendaReason)]) -> ServiceResult<()> {
    let items: Vec<BoardItem<'_>> = agenda
        .iter()
        .map(|(change, _)| BoardItem {
            number: &change.number,
            requester: change.requester_id,
        })
        .collect();
    caller.authorize(|actor| permissions::alter_board(actor.user_id, &items))
}

/// Seats an account on the board (or changes its seat). One chair at most.
pub async fn set_member(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    user_id: Uuid,
    role: BoardRole,
) -> ServiceResult<cab_member::Model> {
    caller.authorize(permissions::manage_board)?;
    let txn = db.begin().await?;
    refuse_a_stake(caller, &agenda(&txn, policy).await?)?;
    let person = accounts::find(&txn, user_id).await?;
    let standing = accounts::standing_of(&person, None, None);
    permissions::sit_on_board(&standing)
        .map_err(|reason| ServiceError::validation("userId", reason))?;
    if let Some(board) = &policy.board {
        permissions::take_seat(board, role, &standing.roles)
            .map_err(|reason| ServiceError::validation("userId", reason))?;
    }
    if role == BoardRole::Chair
        && let Some(chair) = cab_member::Entity::find()
            .filter(cab_member::Column::BoardRole.eq(BoardRole::Chair))
            .one(&txn)
            .await?
        && chair.user_id != user_id
    {
        return Err(ServiceError::Conflict(
            "the board already has a chair; seat them as a member first".into(),
        ));
    }
    let existing = cab_member::Entity::find_by_id(user_id).one(&txn).await?;
    let model = match existing {
        Some(seat) => {
            let mut active: cab_member::ActiveModel = seat.into();
            active.board_role = Set(role);
            active.update(&txn).await?
        }
        None => {
            cab_member::ActiveModel {
                user_id: Set(user_id),
                board_role: Set(role),
                added_at: Set(crate::db::now()),
            }
            .insert(&txn)
            .await?
        }
    };
    audit::append(
        &txn,
        caller,
        audit_action::CAB_MEMBER_SET,
        "user",
        &user_id.to_string(),
        &json!({"boardRole": role, "email": person.email}),
    )
    .await?;
    audit::commit(txn, db).await?;
    Ok(model)
}

/// Removes an account from the board. Votes it already cast stay counted
/// (`approval::evaluate` counts a vote by the seat it was cast from).
pub async fn remove_member(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    user_id: Uuid,
) -> ServiceResult<()> {
    caller.authorize(permissions::manage_board)?;
    let txn = db.begin().await?;
    refuse_a_stake(caller, &agenda(&txn, policy).await?)?;
    let seat = cab_member::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound {
            entity: "board member",
        })?;
    let event = audit::Event::new(
        caller,
        audit_action::CAB_MEMBER_REMOVED,
        "user",
        &user_id.to_string(),
        &json!({}),
    );
    audit::write(txn, db, event, async move |recording| {
        seat.delete(recording).await
    })
    .await?;
    Ok(())
}

/// Whether the caller may run meetings, decided from the account as it
/// stands now (a chair who became an auditor, or was deactivated, no
/// longer does).
async fn authorize_meetings<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    caller: &Caller,
) -> ServiceResult<()> {
    let Some(actor) = caller.account() else {
        // The operator is bound by no rule (see `Caller::authorize`).
        return Ok(());
    };
    let standing = accounts::standing(conn, actor.user_id, policy.board.as_ref()).await?;
    caller.authorize(|_| permissions::run_meetings(&standing))
}

/// Plans a meeting at `at`: one of the starts of the board's schedule, or,
/// where the policy allows extraordinary meetings for some business and
/// that business is on the agenda, off it with its `reason` on record.
pub async fn schedule_meeting(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    at: DateTime<Utc>,
    reason: Option<&str>,
) -> ServiceResult<cab_meeting::Model> {
    crate::domain::timestamps::check("at", at)?;
    optional_text("reason", reason, 10_000)?;
    let creator = caller
        .account()
        .map(|a| a.user_id)
        .ok_or_else(|| ServiceError::forbidden("meetings are scheduled by accounts"))?;
    let txn = db.begin().await?;
    authorize_meetings(&txn, policy, caller).await?;
    let extraordinary = off_schedule(&txn, policy, at, reason).await?;
    let id = Uuid::now_v7();
    let recording = audit::recording(
        &txn,
        caller,
        audit_action::CAB_MEETING_SCHEDULED,
        "cab_meeting",
        &id.to_string(),
        &json!({"scheduledFor": at, "extraordinary": extraordinary, "reason": reason}),
    );
    let meeting = cab_meeting::ActiveModel {
        id: Set(id),
        scheduled_for: Set(at),
        status: Set(MeetingStatus::Planned),
        minutes: Set(None),
        held_at: Set(None),
        created_by: Set(creator),
        created_at: Set(crate::db::now()),
    }
    .insert(&recording)
    .await?;
    recording.finish().await?;
    audit::commit(txn, db).await?;
    Ok(meeting)
}

/// Whether a meeting at `at` is extraordinary (off the board's schedule),
/// refusing one the policy does not allow: without a schedule every time
/// is on it; off it, a reason and business of a type the schedule names in
/// `extraordinary_for` on the agenda are needed.
async fn off_schedule<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    at: DateTime<Utc>,
    reason: Option<&str>,
) -> ServiceResult<bool> {
    let Some(schedule) = policy.board.as_ref().and_then(|b| b.schedule.as_ref()) else {
        return Ok(false);
    };
    let rule = schedule.to_rule()?;
    if crate::heavy::run(crate::heavy::CALENDAR, move |deadline| {
        Ok(rule.starts_at(at, &deadline)?)
    })
    .await?
    {
        return Ok(false);
    }
    // Only a refusal names the next meetings.
    let next = next_meetings(policy, at, 2)
        .await?
        .iter()
        .map(|t| t.to_rfc3339())
        .collect::<Vec<_>>()
        .join(", ");
    let business: Vec<String> = agenda(conn, policy)
        .await?
        .into_iter()
        .filter(|(change, _)| schedule.extraordinary_for.contains(&change.change_type))
        .map(|(change, _)| change.number)
        .collect();
    let refuse = |why: String| {
        Err(ServiceError::PolicyViolation(vec![Violation::new(
            ViolationCode::MeetingOffSchedule,
            why,
        )]))
    };
    if schedule.extraordinary_for.is_empty() {
        return refuse(format!(
            "the board meets on its schedule ({}); the next meetings are at {next}",
            policy.board.as_ref().map_or("", |b| b.meets.as_str())
        ));
    }
    if business.is_empty() {
        return refuse(format!(
            "off the schedule the board meets only for {} changes, and none is on its agenda; the next meetings are at {next}",
            schedule.extraordinary_for.join(", ")
        ));
    }
    if reason.is_none_or(|r| r.trim().is_empty()) {
        return refuse(format!(
            "an extraordinary meeting (for {}) states its reason",
            business.join(", ")
        ));
    }
    Ok(true)
}

/// The next `count` starts of the board's schedule from `from` (none
/// without a schedule).
pub async fn next_meetings(
    policy: &Policy,
    from: DateTime<Utc>,
    count: usize,
) -> ServiceResult<Vec<DateTime<Utc>>> {
    store::board::meeting_starts(policy, from, count).await
}

pub async fn meetings(db: &DatabaseConnection) -> ServiceResult<Vec<cab_meeting::Model>> {
    Ok(cab_meeting::Entity::find()
        .order_by_desc(cab_meeting::Column::ScheduledFor)
        .all(db)
        .await?)
}

/// Why a change is on the agenda.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum AgendaReason {
    /// Awaiting (or deferred to) the board's decision.
    Decision,
    /// An emergency change the board reviews after the fact.
    EmergencyReview,
    /// A failed or rolled-back change the policy sends to the board
    /// (seed 000 "Schedule CAB review for failed change").
    RollbackReview,
}

/// Whether the change's board step may be decided: the steps it waits for
/// (`after`, seed 001 §3.2: the Change Manager's review) are met.
async fn board_step_open<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    change: &change::Model,
) -> ServiceResult<bool> {
    let Some(change_type) = policy.change_type(&change.change_type) else {
        return Ok(false);
    };
    if change_type
        .approvals
        .iter()
        .all(|s| !s.board || s.after.is_empty())
    {
        return Ok(true);
    }
    let snapshot = crate::store::changes::snapshot(conn, policy, change.clone()).await?;
    let state = snapshot.approval(policy, crate::domain::approval::BoardVote::Open);
    let met = |key: &String| state.steps.iter().any(|s| &s.key == key && s.satisfied);
    Ok(change_type
        .approvals
        .iter()
        .filter(|s| s.board)
        .all(|s| s.after.iter().all(met)))
}

/// The board's business: changes whose type needs a board decision and
/// that await it (or were deferred to this meeting), and emergency changes
/// implemented under a policy that has the board review them afterwards.
pub async fn agenda<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
) -> ServiceResult<Vec<(change::Model, AgendaReason)>> {
    let board_types: Vec<String> = policy
        .change_types
        .iter()
        .filter(|t| t.approvals.iter().any(|s| s.board))
        .map(|t| t.key.clone())
        .collect();
    let review_types: Vec<String> = policy
        .change_types
        .iter()
        .filter(|t| t.emergency.as_ref().is_some_and(|e| e.board_review))
        .map(|t| t.key.clone())
        .collect();
    let rollback_types: Vec<String> = policy
        .change_types
        .iter()
        .filter(|t| t.board_review_after_rollback)
        .map(|t| t.key.clone())
        .collect();
    let mut items = Vec::new();
    if !board_types.is_empty() {
        for change in change::Entity::find()
            .filter(change::Column::ChangeType.is_in(board_types))
            .filter(
                change::Column::Status
                    .is_in([ChangeStatus::AwaitingApproval, ChangeStatus::Deferred]),
            )
            .order_by_asc(change::Column::SubmittedAt)
            .all(conn)
            .await?
        {
            if board_step_open(conn, policy, &change).await? {
                items.push((change, AgendaReason::Decision));
            }
        }
    }
    let reviewed: Vec<Uuid> = if review_types.is_empty() && rollback_types.is_empty() {
        Vec::new()
    } else {
        review::Entity::find()
            .filter(review::Column::Kind.eq(ReviewKind::Board))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| r.change_id)
            .collect()
    };
    if !rollback_types.is_empty() {
        for change in change::Entity::find()
            .filter(change::Column::ChangeType.is_in(rollback_types))
            .filter(change::Column::Status.is_in([ChangeStatus::Failed, ChangeStatus::RolledBack]))
            .order_by_asc(change::Column::ActualEnd)
            .all(conn)
            .await?
        {
            if !reviewed.contains(&change.id) {
                items.push((change, AgendaReason::RollbackReview));
            }
        }
    }
    if !review_types.is_empty() {
        // Started: a start on record, or a status past it (a history
        // imported without its start, `lifecycle::has_started`).
        let started = sea_orm::Condition::any()
            .add(change::Column::ActualStart.is_not_null())
            .add(change::Column::Status.is_in(crate::domain::lifecycle::STARTED_STATUSES));
        let mut started_changes = change::Entity::find()
            .filter(change::Column::ChangeType.is_in(review_types))
            .filter(started)
            .filter(change::Column::Status.ne(ChangeStatus::Cancelled))
            .all(conn)
            .await?;
        // By start, those without one last (the two databases place NULL
        // differently in ORDER BY).
        started_changes.sort_by(|a, b| {
            (a.actual_start.is_none(), a.actual_start, &a.number).cmp(&(
                b.actual_start.is_none(),
                b.actual_start,
                &b.number,
            ))
        });
        for change in started_changes {
            if !reviewed.contains(&change.id) {
                items.push((change, AgendaReason::EmergencyReview));
            }
        }
    }
    Ok(items)
}

/// Holds the meeting: every change awaiting a board decision is decided on
/// the votes cast (no quorum or an unbroken tie defers it to the next
/// meeting), and the minutes record the outcomes.
pub async fn close_meeting(
    request: &Request<'_>,
    id: Uuid,
    minutes: &str,
) -> ServiceResult<cab_meeting::Model> {
    optional_text("minutes", Some(minutes), 100_000)?;
    authorize_meetings(request.db, request.policy, request.caller).await?;
    let meeting = store::board::find_meeting(request.db, id).await?;
    if meeting.status == MeetingStatus::Held {
        return Err(ServiceError::Conflict(
            "the meeting was already held".into(),
        ));
    }
    // The items checked for the closer's stake are the items decided: a
    // change that reaches the board while the meeting closes waits for the
    // next one.
    let business = agenda(request.db, request.policy).await?;
    refuse_a_stake(request.caller, &business)?;
    let mut decisions = Vec::new();
    for (change, reason) in business {
        if reason != AgendaReason::Decision {
            continue;
        }
        // Each item is its own transaction with its own audit event, like a
        // decision taken in the room.
        let txn = request.db.begin().await?;
        let locked = crate::store::transitions::lock(&txn, change.id).await?;
        if !matches!(
            locked.status,
            ChangeStatus::AwaitingApproval | ChangeStatus::Deferred
        ) {
            // Decided (or withdrawn) since the agenda was read.
            continue;
        }
        let snapshot = crate::store::changes::snapshot(&txn, request.policy, locked).await?;
        let decided = crate::store::transitions::apply_outcome(
            txn,
            request,
            snapshot,
            BoardVote::Closed,
            json!({"meetingId": id, "meetingClosed": true}),
        )
        .await?;
        decisions.push(format!(
            "{}: {}",
            decided.number,
            crate::domain::lifecycle::status_name(decided.status)
        ));
    }
    let txn = request.db.begin().await?;
    let record = format!(
        "{}\n\nDecisions:\n{}",
        minutes.trim(),
        if decisions.is_empty() {
            "(none)".to_owned()
        } else {
            decisions.join("\n")
        }
    );
    let mut active: cab_meeting::ActiveModel = meeting.into();
    active.status = Set(MeetingStatus::Held);
    active.held_at = Set(Some(request.now));
    active.minutes = Set(Some(record));
    let preview = active.clone().try_into_model()?;
    let event = audit::Event::new(
        request.caller,
        audit_action::CAB_MEETING_HELD,
        "cab_meeting",
        &id.to_string(),
        &json!({"minutes": preview.minutes, "decisions": decisions}),
    );
    let held = audit::write(txn, request.db, event, async move |recording| {
        active.update(recording).await
    })
    .await?;
    Ok(held)
}

//! The calendar as scheduling and the feed read it: the windows and
//! freezes in force, the bookings of scheduled changes, and the slot check.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{ChangeStatus, calendar_rule, change, change_system, system};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::{
    domain::{
        calendar::{
            self, Booking, Freeze, FreezeKind, Interval, RuleSource, ScheduledChange, Window,
        },
        systems as hierarchy,
    },
    error::ServiceResult,
    heavy,
    policy::{Policy, calendar_rule},
    store::{changes, systems},
};

/// Windows and freezes in force: the policy's and the active run-time ones.
pub struct Rules {
    pub windows: Vec<Window>,
    pub freezes: Vec<Freeze>,
}

pub async fn rules<C: ConnectionTrait>(conn: &C, policy: &Policy) -> ServiceResult<Rules> {
    // The policy was validated at start; a rule that fails here cannot.
    let mut windows: Vec<Window> = policy
        .windows
        .iter()
        .filter_map(|w| w.to_window().ok())
        .collect();
    let mut freezes: Vec<Freeze> = policy
        .freezes
        .iter()
        .filter_map(|f| f.to_freeze().ok())
        .collect();
    for row in calendar_rule::Entity::find()
        .filter(calendar_rule::Column::Active.eq(true))
        .all(conn)
        .await?
    {
        let Some(rule) = recurrence_of(&row) else {
            continue;
        };
        let source = RuleSource::Stored {
            id: row.id,
            created_at: row.created_at,
        };
        if row.kind == "WINDOW" {
            windows.push(Window {
                rule,
                change_types: changes::parse_json(&row.change_types),
                source,
            });
        } else {
            freezes.push(Freeze {
                rule,
                kind: freeze_kind_of(&row),
                approver_roles: changes::parse_json(&row.approver_roles),
                source,
            });
        }
    }
    Ok(Rules { windows, freezes })
}

/// A stored freeze's kind: soft only where it says so.
pub fn freeze_kind_of(row: &calendar_rule::Model) -> FreezeKind {
    if row.freeze_kind.as_deref() == Some("SOFT") {
        FreezeKind::Soft
    } else {
        FreezeKind::Hard
    }
}

/// The recurrence of a stored run-time rule. It was validated when it was
/// created; one that no longer parses binds nothing.
fn recurrence_of(row: &calendar_rule::Model) -> Option<crate::domain::calendar::CalendarRule> {
    calendar_rule(
        &row.name,
        &row.dtstart,
        row.rrule.as_deref(),
        row.duration_minutes.max(0) as u32,
        &row.time_zone,
    )
    .ok()
}

/// A change's systems with their parents and children: a change to a
/// cluster conflicts with a change to a database on it, and vice versa.
pub async fn scope<C: ConnectionTrait>(
    conn: &C,
    system_ids: &[Uuid],
) -> ServiceResult<HashSet<Uuid>> {
    if system_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let edges = systems::edges(conn).await?;
    let mut scope = HashSet::new();
    for id in system_ids {
        scope.extend(hierarchy::with_descendants(&edges, *id));
        scope.extend(hierarchy::ancestors(&edges, *id));
    }
    Ok(scope)
}

/// Scheduled and implementing changes overlapping `range` on any system of
/// `scope` (or on any system when `scope` is `None`). One indexed query.
pub async fn bookings<C: ConnectionTrait>(
    conn: &C,
    range: Interval,
    scope: Option<&HashSet<Uuid>>,
) -> ServiceResult<Vec<Booking>> {
    let mut query = change::Entity::find()
        .select_only()
        .column(change::Column::Id)
        .column(change::Column::Number)
        .column(change::Column::ScheduledStart)
        .column(change::Column::ScheduledEnd)
        .column_as(change_system::Column::SystemId, "system_id")
        .column_as(system::Column::Name, "system_name")
        .join(
            sea_orm::JoinType::InnerJoin,
            change::Entity::belongs_to(change_system::Entity)
                .from(change::Column::Id)
                .to(change_system::Column::ChangeId)
                .into(),
        )
        .join(
            sea_orm::JoinType::InnerJoin,
            change_system::Entity::belongs_to(system::Entity)
                .from(change_system::Column::SystemId)
                .to(system::Column::Id)
                .into(),
        )
        .filter(change::Column::Status.is_in([ChangeStatus::Scheduled, ChangeStatus::Implementing]))
        .filter(change::Column::ScheduledStart.lt(range.end))
        .filter(change::Column::ScheduledEnd.gt(range.start));
    if let Some(scope) = scope {
        if scope.is_empty() {
            return Ok(Vec::new());
        }
        query = query.filter(change_system::Column::SystemId.is_in(scope.iter().copied()));
    }
    let rows: Vec<BookingRow> = query.into_tuple().all(conn).await?;
    let mut by_change: HashMap<Uuid, Booking> = HashMap::new();
    for (id, number, start, end, system_id, system_name) in rows {
        let (Some(start), Some(end)) = (start, end) else {
            continue;
        };
        by_change
            .entry(id)
            .or_insert_with(|| Booking {
                change_id: id,
                number,
                slot: Interval { start, end },
                systems: Vec::new(),
            })
            .systems
            .push((system_id, system_name));
    }
    let mut bookings: Vec<Booking> = by_change.into_values().collect();
    bookings.sort_by(|a, b| a.slot.cmp(&b.slot).then(a.number.cmp(&b.number)));
    Ok(bookings)
}

/// Every calendar reason `slot` is refused for `change`.
pub async fn slot_violations<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    change: &change::Model,
    approver_roles: &std::collections::BTreeSet<String>,
    slot: Interval,
) -> ServiceResult<Vec<crate::domain::violation::Violation>> {
    let rules = rules(conn, policy).await?;
    let emergency = policy
        .change_type(&change.change_type)
        .is_some_and(|t| t.emergency.is_some());
    let change_type = change.change_type.clone();
    let approver_roles = approver_roles.clone();
    let mut violations = heavy::run(heavy::CALENDAR, move |deadline| {
        let check = calendar::SlotCheck {
            change_type: &change_type,
            emergency,
            windows: &rules.windows,
            freezes: &rules.freezes,
            approver_roles: &approver_roles,
        };
        Ok(calendar::slot_violations(&check, slot, &deadline)?)
    })
    .await?;
    let scope = scope(conn, &changes::system_ids_of(conn, change.id).await?).await?;
    let booked = bookings(conn, slot, Some(&scope)).await?;
    violations.extend(calendar::conflicts(change.id, slot, &scope, &booked));
    Ok(violations)
}

/// A change with a slot as a freeze sees it.
pub fn as_scheduled(policy: &Policy, change: &change::Model) -> Option<ScheduledChange> {
    if change.status != ChangeStatus::Scheduled {
        return None;
    }
    let (Some(start), Some(end)) = (change.scheduled_start, change.scheduled_end) else {
        return None;
    };
    Some(ScheduledChange {
        number: change.number.clone(),
        emergency: policy
            .change_type(&change.change_type)
            .is_some_and(|t| t.emergency.is_some()),
        slot: Interval { start, end },
    })
}

/// The scheduled changes the freeze `rule` stops, from `now` on: the
/// answer a change manager gets on creating a freeze.
pub async fn blocked_by<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    rule: &calendar_rule::Model,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<String>> {
    if rule.kind != "FREEZE" || !rule.active {
        return Ok(Vec::new());
    }
    let Some(parsed) = recurrence_of(rule) else {
        return Ok(Vec::new());
    };
    let scheduled: Vec<ScheduledChange> = change::Entity::find()
        .filter(change::Column::Status.eq(ChangeStatus::Scheduled))
        .filter(change::Column::ScheduledEnd.gt(now))
        .all(conn)
        .await?
        .iter()
        .filter_map(|c| as_scheduled(policy, c))
        .collect();
    let Some(last) = scheduled.iter().map(|c| c.slot.end).max() else {
        return Ok(Vec::new());
    };
    heavy::run(heavy::CALENDAR, move |deadline| {
        let occurrences = parsed.occurrences(now, last, &deadline)?;
        Ok(calendar::blocked_by(&occurrences, &scheduled))
    })
    .await
}

/// Every calendar reason a change may not start at `now`, read from the
/// windows and freezes in force now, not those in force when it was
/// scheduled. A scheduled change's slot is checked against the windows,
/// freezes and bookings; a change without a slot (an emergency started
/// straight from approval) is bound by the calendar only through its
/// type's `[change_type.in_freeze]`, read for the moment it starts.
pub async fn start_violations<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    snapshot: &changes::Snapshot,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<crate::domain::violation::Violation>> {
    let change = &snapshot.change;
    let slot = match (change.status, change.scheduled_start, change.scheduled_end) {
        (ChangeStatus::Scheduled, Some(start), Some(end)) if start < end => {
            Some(Interval { start, end })
        }
        _ => None,
    };
    let mut violations = match slot {
        Some(slot) => {
            slot_violations(conn, policy, change, &snapshot.approving_roles(), slot).await?
        }
        None => Vec::new(),
    };
    if let Some(in_freeze) = &snapshot.change_type.in_freeze
        && matches!(
            change.status,
            ChangeStatus::AwaitingApproval
                | ChangeStatus::Deferred
                | ChangeStatus::Approved
                | ChangeStatus::Scheduled
        )
    {
        let start = slot.unwrap_or(Interval {
            start: now,
            end: now + chrono::Duration::minutes(1),
        });
        let freezes = rules(conn, policy).await?.freezes;
        let in_force = heavy::run(heavy::CALENDAR, move |deadline| {
            Ok(calendar::freezes_in_force(&freezes, start, &deadline)?)
        })
        .await?;
        let tally = in_freeze
            .board_approval
            .then_some(policy.board.as_ref())
            .flatten()
            .map(|board| {
                crate::domain::approval::freeze_entry_tally(
                    board,
                    &snapshot.seats,
                    &snapshot.votes,
                    change.requester_id,
                )
            });
        let unmet_gates = snapshot
            .results_of_gates(policy, &in_freeze.gates, now)
            .into_iter()
            .filter_map(|(_, unmet)| unmet)
            .collect();
        violations.extend(calendar::in_freeze_violations(
            &in_force,
            tally.as_ref(),
            unmet_gates,
        ));
    }
    Ok(violations)
}

/// One change-system pair of a booking: id, number, slot, system id, name.
type BookingRow = (
    Uuid,
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Uuid,
    String,
);

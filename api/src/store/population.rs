//! The changes an audit period holds, with what a sample is drawn by:
//! read for `auditPopulation` and for evidence packs, inside the caller's
//! snapshot.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{ChangeStatus, EvidenceStatus, audit_event, change, evidence};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Query,
};
use uuid::Uuid;

use crate::{
    domain::{
        audit_action::CHANGE_FREEZE_ENTRY_APPROVED,
        audit_sample::{Member, Stratum},
    },
    policy::{GatePhase, Policy},
    store,
};

/// One change of the population: what the population file lists.
#[derive(Debug, Clone, FromQueryResult)]
pub struct PopulationRow {
    pub id: Uuid,
    pub number: String,
    pub version: i32,
    pub change_type: String,
    pub status: ChangeStatus,
    pub created_at: DateTime<Utc>,
    pub actual_start: Option<DateTime<Utc>>,
    pub actual_end: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub scheduled_end: Option<DateTime<Utc>>,
}

/// Every change touching `[from, to)` (`store::changes::touching_period`),
/// oldest created first (ties by id), each with its sampling member.
pub async fn read<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<PopulationRow>, Vec<Member>), DbErr> {
    let rows = change::Entity::find()
        .select_only()
        .columns([
            change::Column::Id,
            change::Column::Number,
            change::Column::Version,
            change::Column::ChangeType,
            change::Column::Status,
            change::Column::CreatedAt,
            change::Column::ActualStart,
            change::Column::ActualEnd,
            change::Column::ClosedAt,
            change::Column::ScheduledStart,
            change::Column::ScheduledEnd,
        ])
        .filter(store::changes::touching_period(from, to))
        .order_by_asc(change::Column::CreatedAt)
        .order_by_asc(change::Column::Id)
        .into_model::<PopulationRow>()
        .all(conn)
        .await?;
    // The evidence of the period's changes that passed, for gates met
    // late: one query, whatever the population's size.
    let in_period = Query::select()
        .column(change::Column::Id)
        .from(change::Entity)
        .cond_where(store::changes::touching_period(from, to))
        .to_owned();
    let passed: Vec<(Uuid, String, DateTime<Utc>)> = evidence::Entity::find()
        .select_only()
        .columns([
            evidence::Column::ChangeId,
            evidence::Column::Gate,
            evidence::Column::RecordedAt,
        ])
        .filter(evidence::Column::Status.eq(EvidenceStatus::Passed))
        .filter(evidence::Column::ChangeId.in_subquery(in_period))
        .into_tuple()
        .all(conn)
        .await?;
    let freeze_entries: HashSet<String> = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::EntityId)
        .filter(audit_event::Column::Action.eq(CHANGE_FREEZE_ENTRY_APPROVED))
        .filter(audit_event::Column::EntityType.eq("change"))
        .into_tuple::<String>()
        .all(conn)
        .await?
        .into_iter()
        .collect();

    let mut evidence_of: HashMap<Uuid, Vec<(String, DateTime<Utc>)>> = HashMap::new();
    for (change_id, gate, recorded_at) in passed {
        evidence_of
            .entry(change_id)
            .or_default()
            .push((gate, recorded_at));
    }
    let members: Vec<Member> = rows
        .iter()
        .map(|row| Member {
            id: row.id,
            version: row.version,
            change_type: row.change_type.clone(),
            strata: strata(
                policy,
                row,
                evidence_of.get(&row.id).map(Vec::as_slice).unwrap_or(&[]),
                freeze_entries.contains(&row.id.to_string()),
            ),
        })
        .collect();
    Ok((rows, members))
}

/// What marks a change for over-sampling (`audit_sample::Stratum`).
fn strata(
    policy: &Policy,
    row: &PopulationRow,
    passed_evidence: &[(String, DateTime<Utc>)],
    entered_a_freeze: bool,
) -> BTreeSet<Stratum> {
    let mut strata = BTreeSet::new();
    let emergency = policy
        .change_type(&row.change_type)
        .is_some_and(|t| t.emergency.is_some());
    if emergency {
        strata.insert(Stratum::Emergency);
    }
    if let Some(start) = row.actual_start {
        // Only an emergency starts without a slot (`lifecycle::
        // start_violations`); any other change without one came from
        // history that cannot show it ran inside a slot.
        let inside_slot = match (row.scheduled_start, row.scheduled_end) {
            (Some(slot_start), Some(slot_end)) => {
                start >= slot_start && row.actual_end.is_none_or(|end| end <= slot_end)
            }
            _ => emergency,
        };
        if !inside_slot || entered_a_freeze {
            strata.insert(Stratum::OutsideSlot);
        }
        // A gate to be met before the start, first met after it.
        let mut first_met: HashMap<&str, DateTime<Utc>> = HashMap::new();
        for (gate, recorded_at) in passed_evidence {
            let first = first_met.entry(gate.as_str()).or_insert(*recorded_at);
            *first = (*first).min(*recorded_at);
        }
        let late = first_met.iter().any(|(gate, met)| {
            *met > start
                && policy
                    .gate(gate)
                    .is_none_or(|gate| gate.before == GatePhase::Start)
        });
        if late {
            strata.insert(Stratum::GatesLate);
        }
    }
    if row.status == ChangeStatus::RolledBack {
        strata.insert(Stratum::RolledBack);
    }
    strata
}

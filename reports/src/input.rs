//! The input of the metrics: one row per implemented change with only the
//! columns the metrics read, a frame of affected systems, and a frame of
//! the board's decisions (a change may have several: rejected, revised,
//! approved; and the board may decide on a change never implemented).
//!
//! Timestamps are `Datetime(µs)` in UTC (no zone attached: periods are
//! resolved to UTC instants before the frame is read).

use chrono::{DateTime, Utc};
use polars::prelude::*;

/// Column names of the changes frame.
pub mod col {
    /// Row key joining the systems frame (`u32`).
    pub const KEY: &str = "change_key";
    pub const CHANGE_TYPE: &str = "change_type";
    /// SUCCESSFUL, SUCCESSFUL_WITH_ISSUES, FAILED, ROLLED_BACK or null.
    pub const OUTCOME: &str = "outcome";
    pub const SUBMITTED_AT: &str = "submitted_at";
    pub const APPROVED_AT: &str = "approved_at";
    pub const SCHEDULED_START: &str = "scheduled_start";
    pub const SCHEDULED_END: &str = "scheduled_end";
    pub const ACTUAL_START: &str = "actual_start";
    pub const ACTUAL_END: &str = "actual_end";
    /// Deadline of the retroactive approval of an emergency change started
    /// before approval; null otherwise.
    pub const APPROVAL_DUE_AT: &str = "approval_due_at";
    /// Board decisions frame: APPROVED, REJECTED or DEFERRED.
    pub const BOARD_OUTCOME: &str = "board_outcome";
    /// Board decisions frame: when the board decided.
    pub const BOARD_DECIDED_AT: &str = "board_decided_at";
    /// Whether any incident is linked to the change.
    pub const HAS_INCIDENT: &str = "has_incident";
    /// Systems frame: the affected system's name.
    pub const SYSTEM: &str = "system";
}

/// What the metrics need of one change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeFacts {
    pub change_type: String,
    pub outcome: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub scheduled_end: Option<DateTime<Utc>>,
    pub actual_start: Option<DateTime<Utc>>,
    pub actual_end: Option<DateTime<Utc>>,
    pub approval_due_at: Option<DateTime<Utc>>,
    pub has_incident: bool,
}

/// The three input frames.
#[derive(Debug, Clone)]
pub struct ChangeFrames {
    pub changes: DataFrame,
    /// `change_key`, `system`: one row per (change, affected system).
    pub systems: DataFrame,
    /// `board_outcome`, `board_decided_at`: one row per board decision.
    pub board_decisions: DataFrame,
}

/// Builds the input frames column by column, so loading a million rows
/// never materialises a million row structs.
#[derive(Debug, Default)]
pub struct ChangeFramesBuilder {
    change_type: Vec<String>,
    outcome: Vec<Option<String>>,
    timestamps: [Vec<Option<i64>>; 7],
    has_incident: Vec<bool>,
    system_keys: Vec<u32>,
    system_names: Vec<String>,
    board_outcomes: Vec<String>,
    board_decided_at: Vec<i64>,
}

const TIMESTAMP_COLUMNS: [&str; 7] = [
    col::SUBMITTED_AT,
    col::APPROVED_AT,
    col::SCHEDULED_START,
    col::SCHEDULED_END,
    col::ACTUAL_START,
    col::ACTUAL_END,
    col::APPROVAL_DUE_AT,
];

impl ChangeFramesBuilder {
    pub fn with_capacity(changes: usize) -> Self {
        let mut builder = Self {
            change_type: Vec::with_capacity(changes),
            outcome: Vec::with_capacity(changes),
            has_incident: Vec::with_capacity(changes),
            ..Self::default()
        };
        for column in &mut builder.timestamps {
            column.reserve(changes);
        }
        builder
    }

    pub fn len(&self) -> usize {
        self.change_type.len()
    }

    pub fn is_empty(&self) -> bool {
        self.change_type.is_empty()
    }

    /// Appends a change and returns its key for `push_system`.
    pub fn push(&mut self, facts: ChangeFacts) -> u32 {
        let key = u32::try_from(self.change_type.len()).unwrap_or(u32::MAX);
        let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros());
        let stamps = [
            facts.submitted_at,
            facts.approved_at,
            facts.scheduled_start,
            facts.scheduled_end,
            facts.actual_start,
            facts.actual_end,
            facts.approval_due_at,
        ];
        for (column, stamp) in self.timestamps.iter_mut().zip(stamps) {
            column.push(micros(stamp));
        }
        self.change_type.push(facts.change_type);
        self.outcome.push(facts.outcome);
        self.has_incident.push(facts.has_incident);
        key
    }

    pub fn push_system(&mut self, key: u32, name: impl Into<String>) {
        self.system_keys.push(key);
        self.system_names.push(name.into());
    }

    /// Appends a decision of the board (`APPROVED`, `REJECTED`, `DEFERRED`).
    pub fn push_board_decision(&mut self, outcome: impl Into<String>, decided_at: DateTime<Utc>) {
        self.board_outcomes.push(outcome.into());
        self.board_decided_at.push(decided_at.timestamp_micros());
    }

    pub fn finish(self) -> PolarsResult<ChangeFrames> {
        let height = self.change_type.len();
        let keys: Vec<u32> = (0..u32::try_from(height).unwrap_or(u32::MAX)).collect();
        let mut columns = vec![
            Column::new(col::KEY.into(), keys),
            Column::new(col::CHANGE_TYPE.into(), self.change_type),
            Column::new(col::OUTCOME.into(), self.outcome),
        ];
        for (name, values) in TIMESTAMP_COLUMNS.iter().zip(self.timestamps) {
            columns.push(
                Series::new((*name).into(), values)
                    .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?
                    .into(),
            );
        }
        columns.push(Column::new(col::HAS_INCIDENT.into(), self.has_incident));
        let changes = DataFrame::new(height, columns)?;
        let systems = DataFrame::new(
            self.system_keys.len(),
            vec![
                Column::new(col::KEY.into(), self.system_keys),
                Column::new(col::SYSTEM.into(), self.system_names),
            ],
        )?;
        let board_decisions = DataFrame::new(
            self.board_outcomes.len(),
            vec![
                Column::new(col::BOARD_OUTCOME.into(), self.board_outcomes),
                Series::new(col::BOARD_DECIDED_AT.into(), self.board_decided_at)
                    .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?
                    .into(),
            ],
        )?;
        Ok(ChangeFrames {
            changes,
            systems,
            board_decisions,
        })
    }
}

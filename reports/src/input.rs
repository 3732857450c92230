//! The input of the metrics: one row per implemented change with only the
//! columns the metrics read, a frame of affected systems, and a frame of
//! the board's decisions (a change may have several: rejected, revised,
//! approved; and the board may decide on a change never implemented).
//!
//! Timestamps are `Datetime(µs)` in UTC (no zone attached: periods are
//! resolved to UTC instants before the frame is read). Outcomes, change
//! types and systems are `u32` codes with their names kept beside the
//! frames; the metrics turn codes back into names only in their small
//! results.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use polars::prelude::*;

use crate::vocabulary::{board_outcome, outcome};

/// Column names of the changes frame.
pub mod col {
    /// Row key of the systems frame (`u32`): the change's row index in the
    /// changes frame.
    pub const KEY: &str = "change_key";
    /// Code of the change type (`u32`), an index into
    /// `ChangeFrames::change_types`.
    pub const CHANGE_TYPE: &str = "change_type";
    /// Code of the outcome (`u32`, see `crate::vocabulary::outcome`); null when the
    /// change was not implemented.
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
    /// Board decisions frame: code of the decision (`u32`, see
    /// `crate::vocabulary::board_outcome`).
    pub const BOARD_OUTCOME: &str = "board_outcome";
    /// Board decisions frame: when the board decided.
    pub const BOARD_DECIDED_AT: &str = "board_decided_at";
    /// Whether any incident is linked to the change.
    pub const HAS_INCIDENT: &str = "has_incident";
    /// Whether the change's approval was on time by
    /// [`approved_on_time`](super::approved_on_time) (what the emergency
    /// documentation metric counts among emergency changes); null when
    /// that cannot be told.
    pub const APPROVED_ON_TIME: &str = "approved_on_time";
    /// Systems frame: code of the affected system (`u32`), an index into
    /// `ChangeFrames::system_names`.
    pub const SYSTEM: &str = "system";
    /// Deployments frame: when the deployment finished.
    pub const DEPLOYED_AT: &str = "deployed_at";
    /// Deployments frame: whether it counts (a successful production
    /// deployment).
    pub const DEPLOYMENT_COUNTED: &str = "deployment_counted";
    /// Deployments frame: finished_at - commit time in hours; null without
    /// a commit time.
    pub const DEPLOYMENT_LEAD_HOURS: &str = "deployment_lead_hours";
    /// Deployments frame: whether its change failed or rolled back, or an
    /// incident names it.
    pub const DEPLOYMENT_FAILED: &str = "deployment_failed";
    /// Restorations frame: when service was restored.
    pub const RESTORED_AT: &str = "restored_at";
    /// Restorations frame: restored_at - opened_at in hours.
    pub const RESTORE_HOURS: &str = "restore_hours";
    /// Exceptions frame: when an unauthorised deployment happened.
    pub const EXCEPTION_AT: &str = "exception_at";
}

/// What the DORA metrics need of one finished deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentFacts {
    pub finished_at: DateTime<Utc>,
    /// Production and successful: the deployments the DORA metrics count.
    pub counted: bool,
    pub commit_time: Option<DateTime<Utc>>,
    /// Its change failed or rolled back, or an incident names it.
    pub failed: bool,
}

/// Whether an implemented change was approved on time, the rule of
/// "emergency documentation on time" (docs/reports.md): approved by its
/// retroactive-approval deadline (`approval_due_at`) when it has one,
/// otherwise approved before implementation started; a change never
/// approved is late. `None` when that cannot be told: approved, with no
/// deadline, and no start on record (a history imported without
/// `actualStart`), so the metric leaves the change out.
///
/// The one statement of the rule: the metric counts the flag the frames
/// carry from it, and the reports' emergency lists call it, so the list
/// and the headline figure beside it cannot disagree. Generic so the
/// loaders' microseconds and the lists' `DateTime`s go through the same
/// code.
pub fn approved_on_time<T: PartialOrd>(
    approved_at: Option<T>,
    approval_due_at: Option<T>,
    actual_start: Option<T>,
) -> Option<bool> {
    match (approved_at, approval_due_at, actual_start) {
        (None, _, _) => Some(false),
        (Some(approved), Some(due), _) => Some(approved <= due),
        (Some(approved), None, Some(started)) => Some(approved <= started),
        (Some(_), None, None) => None,
    }
}

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;

fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to.timestamp_micros() - from.timestamp_micros()) as f64 / MICROS_PER_HOUR
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

/// The three input frames and the dictionaries of their coded columns.
#[derive(Debug, Clone)]
pub struct ChangeFrames {
    /// One row per change, ordered by `actual_end` (unset last).
    pub changes: DataFrame,
    /// `change_key`, `change_type`: one row per change, ordered by
    /// (change type, key). The volume by type reads this rather than the
    /// changes (see [`ChangeFramesBuilder::finish`]).
    pub types: DataFrame,
    /// `change_key`, `system`: one row per (change, affected system),
    /// ordered by (system, key).
    pub systems: DataFrame,
    /// `board_outcome`, `board_decided_at`: one row per board decision.
    pub board_decisions: DataFrame,
    /// `deployed_at`, `deployment_counted`, `deployment_lead_hours`,
    /// `deployment_failed`: one row per finished deployment.
    pub deployments: DataFrame,
    /// `restored_at`, `restore_hours`: one row per restored incident.
    pub restorations: DataFrame,
    /// `exception_at`: one row per unauthorised deployment.
    pub exceptions: DataFrame,
    /// Change type names, indexed by the `change_type` code.
    pub change_types: Vec<String>,
    /// System names, indexed by the `system` code.
    pub system_names: Vec<String>,
}

impl ChangeFrames {
    /// The code of a change type, if any change has it.
    pub fn change_type_code(&self, name: &str) -> Option<u32> {
        self.change_types
            .iter()
            .position(|n| n == name)
            .map(|i| i as u32)
    }
}

/// Interns names as dense `u32` codes (a handful of distinct change types
/// and systems across a million rows).
#[derive(Debug, Default)]
struct Dictionary {
    codes: HashMap<String, u32>,
    names: Vec<String>,
}

impl Dictionary {
    fn code(&mut self, name: &str) -> u32 {
        if let Some(code) = self.codes.get(name) {
            return *code;
        }
        let code = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.codes.insert(name.to_owned(), code);
        self.names.push(name.to_owned());
        code
    }
}

/// Builds the input frames column by column, so loading a million rows
/// never materialises a million row structs.
pub struct ChangeFramesBuilder {
    change_type: Vec<u32>,
    outcome: Vec<Option<u32>>,
    /// Straight into arrow buffers (values, and a validity bitmap once a
    /// value is unset): a `Vec<Option<i64>>` took twice the memory and a
    /// second copy into arrow when the frame was built.
    timestamps: [PrimitiveChunkedBuilder<Int64Type>; 7],
    has_incident: Vec<bool>,
    approved_on_time: Vec<Option<bool>>,
    /// Whether the changes so far came in `actual_end` order (unset last),
    /// as the PostgreSQL loader reads them: `finish` then keeps the rows
    /// where they are instead of sorting and copying every column.
    in_actual_end_order: bool,
    /// The `actual_end` of the latest change pushed (`None`: unset).
    last_actual_end: Option<Option<i64>>,
    system_keys: Vec<u32>,
    system_codes: Vec<u32>,
    board_outcomes: Vec<u32>,
    board_decided_at: Vec<i64>,
    deployed_at: Vec<i64>,
    deployment_counted: Vec<bool>,
    deployment_lead_hours: Vec<Option<f64>>,
    deployment_failed: Vec<bool>,
    restored_at: Vec<i64>,
    restore_hours: Vec<f64>,
    exception_at: Vec<i64>,
    change_types: Dictionary,
    systems: Dictionary,
}

impl Default for ChangeFramesBuilder {
    fn default() -> Self {
        Self::with_capacity(0)
    }
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
/// Where `approved_at`, `actual_start`, `actual_end` and
/// `approval_due_at` are in `TIMESTAMP_COLUMNS`.
const APPROVED_AT_INDEX: usize = 1;
const ACTUAL_START_INDEX: usize = 4;
const ACTUAL_END_INDEX: usize = 5;
const APPROVAL_DUE_AT_INDEX: usize = 6;

impl ChangeFramesBuilder {
    pub fn with_capacity(changes: usize) -> Self {
        Self {
            change_type: Vec::with_capacity(changes),
            outcome: Vec::with_capacity(changes),
            timestamps: TIMESTAMP_COLUMNS
                .map(|name| PrimitiveChunkedBuilder::new(name.into(), changes)),
            has_incident: Vec::with_capacity(changes),
            approved_on_time: Vec::with_capacity(changes),
            in_actual_end_order: true,
            last_actual_end: None,
            system_keys: Vec::new(),
            system_codes: Vec::new(),
            board_outcomes: Vec::new(),
            board_decided_at: Vec::new(),
            deployed_at: Vec::new(),
            deployment_counted: Vec::new(),
            deployment_lead_hours: Vec::new(),
            deployment_failed: Vec::new(),
            restored_at: Vec::new(),
            restore_hours: Vec::new(),
            exception_at: Vec::new(),
            change_types: Dictionary::default(),
            systems: Dictionary::default(),
        }
    }

    /// The number of changes the builder has room for without growing.
    pub fn capacity(&self) -> usize {
        self.change_type.capacity()
    }

    pub fn len(&self) -> usize {
        self.change_type.len()
    }

    pub fn is_empty(&self) -> bool {
        self.change_type.is_empty()
    }

    /// Appends a change and returns its key for `push_system`.
    pub fn push(&mut self, facts: ChangeFacts) -> u32 {
        let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros());
        self.push_micros(
            &facts.change_type,
            facts.outcome.as_deref(),
            [
                micros(facts.submitted_at),
                micros(facts.approved_at),
                micros(facts.scheduled_start),
                micros(facts.scheduled_end),
                micros(facts.actual_start),
                micros(facts.actual_end),
                micros(facts.approval_due_at),
            ],
            facts.has_incident,
        )
    }

    /// `push` for loaders that already hold microseconds since the epoch:
    /// the timestamps in the order submitted_at, approved_at,
    /// scheduled_start, scheduled_end, actual_start, actual_end,
    /// approval_due_at.
    pub fn push_micros(
        &mut self,
        change_type: &str,
        outcome: Option<&str>,
        timestamps: [Option<i64>; 7],
        has_incident: bool,
    ) -> u32 {
        let key = u32::try_from(self.change_type.len()).unwrap_or(u32::MAX);
        let actual_end = timestamps[ACTUAL_END_INDEX];
        if let Some(last) = self.last_actual_end {
            // Out of order: an earlier end, or any end after an unset one.
            let ordered = match (last, actual_end) {
                (Some(last), Some(end)) => last <= end,
                (Some(_), None) | (None, None) => true,
                (None, Some(_)) => false,
            };
            self.in_actual_end_order &= ordered;
        }
        self.last_actual_end = Some(actual_end);
        self.approved_on_time.push(approved_on_time(
            timestamps[APPROVED_AT_INDEX],
            timestamps[APPROVAL_DUE_AT_INDEX],
            timestamps[ACTUAL_START_INDEX],
        ));
        for (column, stamp) in self.timestamps.iter_mut().zip(timestamps) {
            column.append_option(stamp);
        }
        self.change_type.push(self.change_types.code(change_type));
        self.outcome.push(outcome.and_then(outcome::code));
        self.has_incident.push(has_incident);
        key
    }

    /// Records that the change of `key` (from `push`) has an incident, for
    /// loaders that read the incidents apart from the changes. A key no
    /// change has is ignored.
    pub fn mark_incident(&mut self, key: u32) {
        if let Some(has_incident) = self.has_incident.get_mut(key as usize) {
            *has_incident = true;
        }
    }

    pub fn push_system(&mut self, key: u32, name: impl AsRef<str>) {
        let code = self.systems.code(name.as_ref());
        self.push_system_code(key, code);
    }

    /// The code of a system name, for `push_system_code` (a loader that
    /// resolves each system once rather than once per row).
    pub fn system_code(&mut self, name: &str) -> u32 {
        self.systems.code(name)
    }

    pub fn push_system_code(&mut self, key: u32, code: u32) {
        self.system_keys.push(key);
        self.system_codes.push(code);
    }

    /// Appends a decision of the board (`APPROVED`, `REJECTED`, `DEFERRED`).
    pub fn push_board_decision(&mut self, outcome: impl AsRef<str>, decided_at: DateTime<Utc>) {
        self.board_outcomes
            .push(board_outcome::code(outcome.as_ref()));
        self.board_decided_at.push(decided_at.timestamp_micros());
    }

    /// Appends a finished deployment.
    pub fn push_deployment(&mut self, facts: DeploymentFacts) {
        self.deployed_at.push(facts.finished_at.timestamp_micros());
        self.deployment_counted.push(facts.counted);
        self.deployment_lead_hours.push(
            facts
                .commit_time
                .map(|commit| hours(commit, facts.finished_at)),
        );
        self.deployment_failed.push(facts.failed);
    }

    /// Appends an incident whose service was restored.
    pub fn push_restoration(&mut self, opened_at: DateTime<Utc>, restored_at: DateTime<Utc>) {
        self.restored_at.push(restored_at.timestamp_micros());
        self.restore_hours.push(hours(opened_at, restored_at));
    }

    /// Appends an unauthorised deployment, by when it happened.
    pub fn push_exception(&mut self, happened_at: DateTime<Utc>) {
        self.exception_at.push(happened_at.timestamp_micros());
    }

    pub fn finish(self) -> PolarsResult<ChangeFrames> {
        let height = self.change_type.len();
        // A change's key is its row in the final order.
        let row_keys = || -> Vec<u32> { (0..u32::try_from(height).unwrap_or(u32::MAX)).collect() };
        let mut columns = vec![
            Column::new(col::CHANGE_TYPE.into(), self.change_type),
            Column::new(col::OUTCOME.into(), self.outcome),
        ];
        for values in self.timestamps {
            columns.push(
                values
                    .finish()
                    .into_datetime(TimeUnit::Microseconds, None)
                    .into_column(),
            );
        }
        columns.push(Column::new(col::HAS_INCIDENT.into(), self.has_incident));
        columns.push(Column::new(
            col::APPROVED_ON_TIME.into(),
            self.approved_on_time,
        ));
        let changes = DataFrame::new(height, columns)?;
        if let Some(key) = self.system_keys.iter().find(|key| **key as usize >= height) {
            polars_bail!(OutOfBounds: "a system row names change {key}, but there are {height} changes");
        }
        // Rows in `actual_end` order (unset last, ties in arrival order):
        // the period of a row then never decreases, whatever the
        // granularity or time zone, so the metrics group contiguous slices
        // of rows instead of gathering each period's rows from all over
        // the frame (`report::compute`). Rows pushed in that order stay
        // where they are, and so do the keys the systems name.
        let (mut changes, system_keys) = if self.in_actual_end_order {
            (changes, self.system_keys)
        } else {
            let order = changes.column(col::ACTUAL_END)?.arg_sort(SortOptions {
                descending: false,
                nulls_last: true,
                multithreaded: true,
                maintain_order: true,
                limit: None,
            });
            let changes = changes.take(&order)?;
            // Where each pushed change (its key from `push`) now is.
            let mut position = vec![0u32; height];
            for (now, pushed) in order.into_no_null_iter().enumerate() {
                position[pushed as usize] = now as u32;
            }
            let system_keys = self
                .system_keys
                .iter()
                .map(|key| position[*key as usize])
                .collect();
            (changes, system_keys)
        };
        changes.insert_column(0, Column::new(col::KEY.into(), row_keys()))?;
        // The volumes by type and by system count (period, code) pairs.
        // With each coded frame ordered by (code, key), the period of its
        // rows never decreases within a code, so `code x periods + period`
        // is sorted and polars groups contiguous slices instead of hashing
        // a million keys (`metrics::coded_rows`). Counting sorts: the keys
        // and codes are dense, so ordering costs two linear passes.
        let type_codes: Vec<u32> = changes
            .column(col::CHANGE_TYPE)?
            .u32()?
            .into_no_null_iter()
            .collect();
        let types = by_code_then_key(row_keys(), type_codes, col::CHANGE_TYPE)?;
        let by_key = stable_order(&system_keys, height);
        let systems = by_code_then_key(
            by_key
                .iter()
                .map(|row| system_keys[*row as usize])
                .collect(),
            by_key
                .iter()
                .map(|row| self.system_codes[*row as usize])
                .collect(),
            col::SYSTEM,
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
        let instants = |name: &str, micros: Vec<i64>| -> PolarsResult<Column> {
            Ok(Series::new(name.into(), micros)
                .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?
                .into())
        };
        let deployments = DataFrame::new(
            self.deployed_at.len(),
            vec![
                instants(col::DEPLOYED_AT, self.deployed_at)?,
                Column::new(col::DEPLOYMENT_COUNTED.into(), self.deployment_counted),
                Column::new(
                    col::DEPLOYMENT_LEAD_HOURS.into(),
                    self.deployment_lead_hours,
                ),
                Column::new(col::DEPLOYMENT_FAILED.into(), self.deployment_failed),
            ],
        )?;
        let restorations = DataFrame::new(
            self.restored_at.len(),
            vec![
                instants(col::RESTORED_AT, self.restored_at)?,
                Column::new(col::RESTORE_HOURS.into(), self.restore_hours),
            ],
        )?;
        let exceptions = DataFrame::new(
            self.exception_at.len(),
            vec![instants(col::EXCEPTION_AT, self.exception_at)?],
        )?;
        Ok(ChangeFrames {
            changes,
            types,
            systems,
            board_decisions,
            deployments,
            restorations,
            exceptions,
            change_types: self.change_types.names,
            system_names: self.systems.names,
        })
    }
}

/// A coded frame (`change_key`, `code_column`) of rows given in key order,
/// reordered by code (keys stay in order within a code).
fn by_code_then_key(keys: Vec<u32>, codes: Vec<u32>, code_column: &str) -> PolarsResult<DataFrame> {
    let buckets = codes.iter().max().map_or(0, |max| *max as usize + 1);
    let order = stable_order(&codes, buckets);
    let keys: Vec<u32> = order.iter().map(|row| keys[*row as usize]).collect();
    let codes: Vec<u32> = order.iter().map(|row| codes[*row as usize]).collect();
    DataFrame::new(
        keys.len(),
        vec![
            Column::new(col::KEY.into(), keys),
            Column::new(code_column.into(), codes),
        ],
    )
}

/// The row order that sorts `values` (each below `buckets`) ascending and
/// keeps equal values in their order: a counting sort, linear in rows and
/// buckets.
fn stable_order(values: &[u32], buckets: usize) -> Vec<u32> {
    // `next[v]`: where the next row of value `v` goes.
    let mut next = vec![0u32; buckets + 1];
    for value in values {
        next[*value as usize + 1] += 1;
    }
    for i in 1..next.len() {
        next[i] += next[i - 1];
    }
    let mut order = vec![0u32; values.len()];
    for (row, value) in values.iter().enumerate() {
        let slot = &mut next[*value as usize];
        order[*slot as usize] = row as u32;
        *slot += 1;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_order_sorts_by_value_and_keeps_ties_in_order() {
        let values = [2, 0, 2, 1, 0];
        assert_eq!(stable_order(&values, 3), vec![1, 4, 3, 0, 2]);
        assert!(stable_order(&[], 0).is_empty());
    }

    #[test]
    fn timestamp_indices_name_their_columns() {
        assert_eq!(TIMESTAMP_COLUMNS[APPROVED_AT_INDEX], col::APPROVED_AT);
        assert_eq!(TIMESTAMP_COLUMNS[ACTUAL_START_INDEX], col::ACTUAL_START);
        assert_eq!(TIMESTAMP_COLUMNS[ACTUAL_END_INDEX], col::ACTUAL_END);
        assert_eq!(
            TIMESTAMP_COLUMNS[APPROVAL_DUE_AT_INDEX],
            col::APPROVAL_DUE_AT
        );
    }

    #[test]
    fn approval_is_on_time_by_its_deadline_else_by_the_start() {
        // approved, due, started (hours).
        for (approved, due, started, expected) in [
            (Some(5), Some(6), Some(1), Some(true)),
            (Some(6), Some(6), Some(1), Some(true)),
            (Some(7), Some(6), Some(9), Some(false)),
            // No deadline: approved before implementation started.
            (Some(1), None, Some(2), Some(true)),
            (Some(2), None, Some(2), Some(true)),
            (Some(3), None, Some(2), Some(false)),
            // No deadline and no start on record: cannot be told.
            (Some(3), None, None, None),
            (None, Some(6), Some(1), Some(false)),
            (None, None, None, Some(false)),
        ] {
            assert_eq!(
                approved_on_time(approved, due, started),
                expected,
                "{approved:?} {due:?} {started:?}"
            );
        }
    }

    /// 2026-01-01T00:00Z, from which the tests below count hours.
    fn new_year() -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .unwrap_or_default()
    }

    /// `actual_end` of each row of the changes frame, in hours after
    /// `new_year`.
    fn ends(frames: &ChangeFrames) -> Vec<Option<i64>> {
        let base = new_year().timestamp_micros();
        let column = frames.changes.column(col::ACTUAL_END).unwrap();
        let micros = column.cast(&DataType::Int64).unwrap();
        micros
            .i64()
            .unwrap()
            .iter()
            .map(|at| at.map(|at| (at - base) / 3_600_000_000))
            .collect()
    }

    fn push_ended(builder: &mut ChangeFramesBuilder, change_type: &str, hour: Option<i64>) -> u32 {
        builder.push(ChangeFacts {
            change_type: change_type.into(),
            outcome: Some("SUCCESSFUL".into()),
            actual_end: hour.map(|h| new_year() + chrono::Duration::hours(h)),
            ..ChangeFacts::default()
        })
    }

    #[test]
    fn changes_pushed_in_actual_end_order_stay_where_they_are() {
        let mut builder = ChangeFramesBuilder::with_capacity(4);
        // Ties and unset ends last are in order.
        let keys: Vec<u32> = [Some(1), Some(1), Some(7), None]
            .into_iter()
            .map(|hour| push_ended(&mut builder, "normal", hour))
            .collect();
        builder.push_system(keys[2], "db");
        builder.push_system(keys[0], "db");
        let frames = builder.finish().unwrap();
        assert_eq!(ends(&frames), vec![Some(1), Some(1), Some(7), None]);
        let systems = frames.systems.column(col::KEY).unwrap().u32().unwrap();
        assert_eq!(systems.into_no_null_iter().collect::<Vec<_>>(), vec![0, 2]);
    }

    #[test]
    fn an_end_after_an_unset_one_is_sorted_before_it() {
        let mut builder = ChangeFramesBuilder::default();
        let unset = push_ended(&mut builder, "normal", None);
        let late = push_ended(&mut builder, "normal", Some(5));
        let early = push_ended(&mut builder, "normal", Some(2));
        builder.push_system(unset, "db");
        builder.push_system(late, "api");
        builder.push_system(early, "db");
        let frames = builder.finish().unwrap();
        assert_eq!(ends(&frames), vec![Some(2), Some(5), None]);
        // Keys follow their changes: early -> 0, late -> 1, unset -> 2;
        // by (system, key): db = 0 (early, unset), api = 1 (late).
        let keys = frames.systems.column(col::KEY).unwrap().u32().unwrap();
        assert_eq!(keys.into_no_null_iter().collect::<Vec<_>>(), vec![0, 2, 1]);
    }

    #[test]
    fn incidents_marked_after_the_push_are_in_the_frame() {
        let mut builder = ChangeFramesBuilder::default();
        let first = push_ended(&mut builder, "normal", Some(1));
        let second = push_ended(&mut builder, "normal", Some(2));
        builder.mark_incident(second);
        builder.mark_incident(7);
        let frames = builder.finish().unwrap();
        let marked = frames.changes.column(col::HAS_INCIDENT).unwrap();
        let marked: Vec<Option<bool>> = marked.bool().unwrap().iter().collect();
        assert_eq!((first, second), (0, 1));
        assert_eq!(marked, vec![Some(false), Some(true)]);
    }

    #[test]
    fn a_system_naming_no_change_is_an_error() {
        let mut builder = ChangeFramesBuilder::default();
        push_ended(&mut builder, "normal", Some(1));
        builder.push_system(3, "db");
        assert!(builder.finish().is_err());
    }

    #[test]
    fn coded_frames_are_ordered_by_code_then_key() {
        let mut builder = ChangeFramesBuilder::default();
        // Pushed out of `actual_end` order: keys are positions after the
        // sort by `actual_end` (day 3 -> 1, day 1 -> 0, day 5 -> 2).
        let mut push = |change_type: &str, day: i64| {
            push_ended(&mut builder, change_type, Some(24 * day + 12))
        };
        let (a, b, c) = (push("normal", 3), push("emergency", 1), push("normal", 5));
        builder.push_system(c, "db");
        builder.push_system(a, "api");
        builder.push_system(b, "db");
        builder.push_system(a, "db");
        let frames = builder.finish().unwrap();
        let pairs = |frame: &DataFrame, code: &str| -> Vec<(u32, u32)> {
            let keys = frame.column(col::KEY).unwrap().u32().unwrap();
            let codes = frame.column(code).unwrap().u32().unwrap();
            keys.into_no_null_iter()
                .zip(codes.into_no_null_iter())
                .collect()
        };
        // normal = 0, emergency = 1.
        assert_eq!(
            pairs(&frames.types, col::CHANGE_TYPE),
            vec![(1, 0), (2, 0), (0, 1)]
        );
        // db = 0, api = 1.
        assert_eq!(
            pairs(&frames.systems, col::SYSTEM),
            vec![(0, 0), (1, 0), (2, 0), (1, 1)]
        );
    }
}

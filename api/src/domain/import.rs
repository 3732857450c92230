//! Parsing and validating historical changes for `gatehouse import`
//! (JSONL and CSV). Pure: no database. The service (`service::import`)
//! resolves requesters and systems and writes the rows.
//!
//! Columns are the GraphQL field names. Every row is checked against the
//! same rules as `createChange` (`ChangeContent::validate`) plus the
//! lifecycle rules a history must respect: timestamps in order, outcome
//! consistent with status, a rolled-back change has a reason and an
//! incident. Deployments and incidents from other tools are `delivery`.

pub mod delivery;
pub mod mapping;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{BoardOutcome, ChangeOutcome, ChangeStatus, IncidentPriority, Priority};
use serde_json::Value;

use super::change::ChangeContent;

/// Every column the importer knows. Anything else is an error (a typo
/// would otherwise silently drop data).
pub const COLUMNS: &[&str] = &[
    "number",
    "title",
    "description",
    "businessJustification",
    "expectedBenefit",
    "type",
    "status",
    "likelihood",
    "impact",
    "mitigations",
    "residualLikelihood",
    "residualImpact",
    "priority",
    "urgency",
    "requesterEmail",
    "systems",
    "plannedStart",
    "plannedEnd",
    "submittedAt",
    "approvedAt",
    "scheduledStart",
    "scheduledEnd",
    "actualStart",
    "actualEnd",
    "outcome",
    "boardOutcome",
    "boardDecidedAt",
    "rollbackReason",
    "approvalDueAt",
    "documentedAt",
    "closedAt",
    "incident",
    "createdAt",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    /// From the file name's extension (`.jsonl`, `.ndjson`, `.csv`).
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// One problem with one row of the input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line in the file where the row starts.
    pub line: u64,
    pub field: String,
    pub message: String,
}

impl RowError {
    pub fn new(line: u64, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            line,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.message)
    }
}

/// A valid historical change, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedChange {
    pub line: u64,
    /// The number in the source system, kept in the audit event; Gatehouse
    /// assigns its own gap-free number.
    pub source_number: Option<String>,
    pub content: ChangeContent,
    pub system_names: Vec<String>,
    pub requester_email: String,
    pub status: ChangeStatus,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub scheduled_end: Option<DateTime<Utc>>,
    pub actual_start: Option<DateTime<Utc>>,
    pub actual_end: Option<DateTime<Utc>>,
    pub outcome: Option<ChangeOutcome>,
    pub board_outcome: Option<BoardOutcome>,
    /// When the board reached `board_outcome`; without it the decision is
    /// left out of the CAB approval rate.
    pub board_decided_at: Option<DateTime<Utc>>,
    pub rollback_reason: Option<String>,
    pub approval_due_at: Option<DateTime<Utc>>,
    pub documented_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub incident: Option<IncidentPriority>,
}

/// A row as read from the file: column name to JSON value (CSV cells are
/// strings; empty cells are absent).
pub type RawRow = BTreeMap<String, Value>;

/// A row read from the file with its line, or why it could not be read.
pub type ReadRow = Result<(u64, RawRow), RowError>;

/// Reads a JSONL document: one JSON object per non-blank line.
pub fn read_jsonl(text: &str) -> Vec<ReadRow> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        rows.push(match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(map)) => Ok((
                number,
                map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
            )),
            Ok(_) => Err(RowError::new(number, "(row)", "is not a JSON object")),
            Err(error) => Err(RowError::new(
                number,
                "(row)",
                format!("invalid JSON: {error}"),
            )),
        });
    }
    rows
}

/// Reads a CSV document of changes with a header row of column names.
pub fn read_csv(text: &str) -> Result<Vec<ReadRow>, RowError> {
    read_csv_with(text, COLUMNS)
}

/// Reads a CSV document whose header names only `columns`.
pub fn read_csv_with(text: &str, columns: &[&str]) -> Result<Vec<ReadRow>, RowError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| RowError::new(1, "(header)", format!("unreadable CSV header: {error}")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect::<Vec<_>>();
    if let Some(unknown) = headers.iter().find(|h| !columns.contains(&h.as_str())) {
        return Err(RowError::new(
            1,
            unknown.clone(),
            format!("unknown column (known: {})", columns.join(", ")),
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        rows.push(match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                let row = headers
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, cell)| !cell.trim().is_empty())
                    .map(|(h, cell)| (h.clone(), Value::String(cell.to_owned())))
                    .collect();
                Ok((line, row))
            }
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                Err(RowError::new(
                    line,
                    "(row)",
                    format!("invalid CSV: {error}"),
                ))
            }
        });
    }
    Ok(rows)
}

/// Collects the problems of one row; parsing goes on after the first so
/// the report lists every bad field of the row.
struct Row<'a> {
    line: u64,
    raw: &'a RawRow,
    errors: Vec<RowError>,
}

impl Row<'_> {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(RowError::new(self.line, field, message));
    }

    fn text(&mut self, field: &str) -> Option<String> {
        match self.raw.get(field)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    fn required_text(&mut self, field: &str) -> String {
        match self.text(field) {
            Some(text) => text,
            None => {
                if !self.raw.contains_key(field) {
                    self.fail(field, "is required");
                }
                String::new()
            }
        }
    }

    fn int(&mut self, field: &str) -> Option<i32> {
        let parsed = match self.raw.get(field)? {
            Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
            Value::String(s) => s.trim().parse::<i32>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.fail(field, "must be an integer");
        }
        parsed
    }

    fn timestamp(&mut self, field: &str) -> Option<DateTime<Utc>> {
        let text = self.text(field)?;
        match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(value) => Some(value.with_timezone(&Utc)),
            Err(error) => {
                self.fail(
                    field,
                    format!("`{text}` is not an RFC 3339 timestamp ({error})"),
                );
                None
            }
        }
    }

    /// An enum given by its GraphQL name (`ROLLED_BACK`), case-insensitive.
    fn enumeration<T: serde::de::DeserializeOwned>(
        &mut self,
        field: &str,
        allowed: &str,
    ) -> Option<T> {
        let text = self.text(field)?;
        let key = text.trim().to_ascii_uppercase().replace([' ', '-'], "_");
        match serde_json::from_value::<T>(Value::String(key)) {
            Ok(value) => Some(value),
            Err(_) => {
                self.fail(field, format!("`{text}` is not one of {allowed}"));
                None
            }
        }
    }

    fn systems(&mut self) -> Vec<String> {
        let names: Vec<String> = match self.raw.get("systems") {
            None => Vec::new(),
            // A CSV cell holds `a; b`, or the JSON array other tools
            // export (`["a","b"]`).
            Some(Value::String(s)) if s.trim_start().starts_with('[') => {
                match serde_json::from_str::<Vec<String>>(s) {
                    Ok(names) => names.into_iter().map(|n| n.trim().to_owned()).collect(),
                    Err(_) => {
                        self.fail(
                            "systems",
                            "a list in brackets is a JSON array of names, like [\"api\", \"db\"]; or separate names with ;",
                        );
                        return Vec::new();
                    }
                }
            }
            Some(Value::String(s)) => s.split(';').map(|n| n.trim().to_owned()).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().unwrap_or_default().trim().to_owned())
                .collect(),
            Some(_) => {
                self.fail("systems", "must be a list of system names");
                return Vec::new();
            }
        };
        if names.iter().any(String::is_empty) {
            self.fail("systems", "system names must not be blank");
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != names.len() {
            self.fail("systems", "lists a system twice");
        }
        names
    }

    fn incident(&mut self) -> Option<IncidentPriority> {
        let value = self.raw.get("incident")?.clone();
        let text = match value {
            Value::Bool(true) => return Some(IncidentPriority::P3),
            Value::Bool(false) => return None,
            Value::String(s) => s.trim().to_ascii_uppercase(),
            _ => {
                self.fail("incident", "must be true, false or a priority P1-P4");
                return None;
            }
        };
        match text.as_str() {
            "TRUE" | "YES" | "1" => Some(IncidentPriority::P3),
            "FALSE" | "NO" | "0" => None,
            _ => match serde_json::from_value(Value::String(text.clone())) {
                Ok(priority) => Some(priority),
                Err(_) => {
                    self.fail(
                        "incident",
                        format!("`{text}` is not true, false or a priority P1-P4"),
                    );
                    None
                }
            },
        }
    }
}

const STATUSES: &str = "DRAFT, SUBMITTED, AWAITING_APPROVAL, APPROVED, SCHEDULED, IMPLEMENTING, \
IMPLEMENTED, CLOSED, REJECTED, DEFERRED, ROLLED_BACK, FAILED, CANCELLED";
const OUTCOMES: &str = "SUCCESSFUL, SUCCESSFUL_WITH_ISSUES, FAILED, ROLLED_BACK";
const PRIORITIES: &str = "LOW, MEDIUM, HIGH, CRITICAL";
const BOARD_OUTCOMES: &str = "APPROVED, REJECTED, DEFERRED";

/// Parses and validates one row. `change_types` are the active policy's
/// type keys; `emergency_types` those with emergency rules.
pub fn parse_row(
    line: u64,
    raw: &RawRow,
    change_types: &[&str],
    emergency_types: &[&str],
) -> Result<ImportedChange, Vec<RowError>> {
    let mut row = Row {
        line,
        raw,
        errors: Vec::new(),
    };
    for key in raw.keys() {
        if !COLUMNS.contains(&key.as_str()) {
            row.fail(key, "unknown column");
        }
    }
    let title = row.required_text("title");
    let description = row.required_text("description");
    let business_justification = row.required_text("businessJustification");
    let expected_benefit = row.text("expectedBenefit");
    let change_type = row.required_text("type").trim().to_owned();
    let status = row.enumeration::<ChangeStatus>("status", STATUSES);
    if status.is_none() && !raw.contains_key("status") {
        row.fail("status", "is required");
    }
    let likelihood = row.int("likelihood");
    if likelihood.is_none() && !raw.contains_key("likelihood") {
        row.fail("likelihood", "is required");
    }
    let impact = row.int("impact");
    if impact.is_none() && !raw.contains_key("impact") {
        row.fail("impact", "is required");
    }
    let mitigations = row.text("mitigations");
    let residual_likelihood = row.int("residualLikelihood");
    let residual_impact = row.int("residualImpact");
    let priority = row.enumeration::<Priority>("priority", PRIORITIES);
    let urgency = row.enumeration::<Priority>("urgency", PRIORITIES);
    let requester_email = row.required_text("requesterEmail").trim().to_lowercase();
    let system_names = row.systems();
    let planned_start = row.timestamp("plannedStart");
    let planned_end = row.timestamp("plannedEnd");
    let submitted_at = row.timestamp("submittedAt");
    let approved_at = row.timestamp("approvedAt");
    let scheduled_start = row.timestamp("scheduledStart");
    let scheduled_end = row.timestamp("scheduledEnd");
    let actual_start = row.timestamp("actualStart");
    let actual_end = row.timestamp("actualEnd");
    let outcome = row.enumeration::<ChangeOutcome>("outcome", OUTCOMES);
    let board_outcome = row.enumeration::<BoardOutcome>("boardOutcome", BOARD_OUTCOMES);
    let board_decided_at = row.timestamp("boardDecidedAt");
    let rollback_reason = row.text("rollbackReason").map(|r| r.trim().to_owned());
    let approval_due_at = row.timestamp("approvalDueAt");
    let documented_at = row.timestamp("documentedAt");
    let closed_at = row.timestamp("closedAt");
    let incident = row.incident();
    let created_at = row.timestamp("createdAt");
    if created_at.is_none() && !raw.contains_key("createdAt") {
        row.fail("createdAt", "is required");
    }
    let source_number = row.text("number").map(|n| n.trim().to_owned());
    if !row.errors.is_empty() {
        return Err(row.errors);
    }
    // Everything parsed (the checks above reported any missing required
    // value), so these are present.
    let (Some(status), Some(likelihood), Some(impact), Some(created_at)) =
        (status, likelihood, impact, created_at)
    else {
        return Err(vec![RowError::new(line, "(row)", "incomplete row")]);
    };
    let content = ChangeContent {
        title,
        description,
        business_justification,
        expected_benefit,
        urgency: urgency.unwrap_or(Priority::Medium),
        priority: priority.unwrap_or(Priority::Medium),
        change_type,
        likelihood,
        impact,
        mitigations,
        residual_likelihood,
        residual_impact,
        system_ids: Vec::new(),
        services: Vec::new(),
        customers_affected: None,
        downtime_required: false,
        performance_impact: None,
        implementation_steps: Vec::new(),
        deployment_method: None,
        canary_stages: Vec::new(),
        test_plan: None,
        rollback_plan: None,
        links: Vec::new(),
        planned_start,
        planned_end,
        template_id: None,
        attributes: vec![],
    };
    if let Err(error) = content.validate(change_types) {
        return Err(vec![RowError::new(line, error.field, error.message)]);
    }
    let change = ImportedChange {
        line,
        source_number,
        content,
        system_names,
        requester_email,
        status,
        created_at,
        submitted_at,
        approved_at,
        scheduled_start,
        scheduled_end,
        actual_start,
        actual_end,
        outcome,
        board_outcome,
        board_decided_at,
        rollback_reason,
        approval_due_at,
        documented_at,
        closed_at,
        incident,
    };
    let mut errors = lifecycle_errors(&change, emergency_types);
    let declined = matches!(raw.get("incident"), Some(Value::Bool(false)))
        || raw
            .get("incident")
            .and_then(Value::as_str)
            .is_some_and(|s| {
                matches!(s.trim().to_ascii_lowercase().as_str(), "false" | "no" | "0")
            });
    if declined && change.outcome == Some(ChangeOutcome::RolledBack) {
        errors.push(RowError::new(
            line,
            "incident",
            "a rolled-back change always has an incident",
        ));
    }
    if errors.is_empty() {
        Ok(change)
    } else {
        Err(errors)
    }
}

/// The lifecycle rules a historical change must respect.
pub fn lifecycle_errors(change: &ImportedChange, emergency_types: &[&str]) -> Vec<RowError> {
    let line = change.line;
    let mut errors = Vec::new();
    let mut fail = |field: &str, message: &str| errors.push(RowError::new(line, field, message));
    let not_before =
        |later: Option<DateTime<Utc>>, earlier: Option<DateTime<Utc>>| match (later, earlier) {
            (Some(later), Some(earlier)) => later < earlier,
            _ => false,
        };
    // A time the source did not record is left out (and so is every
    // metric that needs it, docs/design.md "Metrics"); the times it did
    // record must still be in lifecycle order.
    let created = Some(change.created_at);
    if not_before(change.submitted_at, created) {
        fail("submittedAt", "must not be before createdAt");
    }
    if not_before(change.approved_at, created) {
        fail("approvedAt", "must not be before createdAt");
    }
    if not_before(change.approved_at, change.submitted_at) {
        fail("approvedAt", "must not be before submittedAt");
    }
    if change.board_decided_at.is_some() && change.board_outcome.is_none() {
        fail("boardOutcome", "is required with boardDecidedAt");
    }
    if not_before(change.board_decided_at, created) {
        fail("boardDecidedAt", "must not be before createdAt");
    }
    if not_before(change.board_decided_at, change.submitted_at) {
        fail("boardDecidedAt", "must not be before submittedAt");
    }
    match (change.scheduled_start, change.scheduled_end) {
        (Some(start), Some(end)) if end <= start => {
            fail("scheduledEnd", "must be after scheduledStart")
        }
        (Some(_), None) => fail("scheduledEnd", "is required with scheduledStart"),
        (None, Some(_)) => fail("scheduledStart", "is required with scheduledEnd"),
        _ => {}
    }
    if not_before(change.actual_start, created) {
        fail("actualStart", "must not be before createdAt");
    }
    if not_before(change.actual_end, created) {
        fail("actualEnd", "must not be before createdAt");
    }
    if not_before(change.actual_end, change.actual_start) {
        fail("actualEnd", "must not be before actualStart");
    }
    if not_before(change.documented_at, created) {
        fail("documentedAt", "must not be before createdAt");
    }
    if not_before(change.closed_at, created) {
        fail("closedAt", "must not be before createdAt");
    }
    if not_before(change.closed_at, change.actual_start) {
        fail("closedAt", "must not be before actualStart");
    }
    if not_before(change.closed_at, change.actual_end) {
        fail("closedAt", "must not be before actualEnd");
    }
    use ChangeOutcome as O;
    use ChangeStatus as S;
    let ended = matches!(
        change.status,
        S::Implemented | S::Closed | S::RolledBack | S::Failed
    );
    match (change.status, change.outcome) {
        (S::Implemented, Some(O::Successful | O::SuccessfulWithIssues))
        | (S::RolledBack, Some(O::RolledBack))
        | (S::Failed, Some(O::Failed))
        | (S::Closed, Some(_)) => {}
        (S::Implemented | S::Closed | S::RolledBack | S::Failed, None) => {
            fail("outcome", "is required for an implemented change")
        }
        (_, None) => {}
        (status, Some(outcome)) => {
            let status = serde_json::to_value(status).unwrap_or_default();
            let outcome = serde_json::to_value(outcome).unwrap_or_default();
            errors.push(RowError::new(
                line,
                "outcome",
                format!("{outcome} does not match status {status}"),
            ));
        }
    }
    let mut fail = |field: &str, message: &str| errors.push(RowError::new(line, field, message));
    // An implemented change may lack either actual time: it is kept, and
    // left out of the metrics that need the time (without actualEnd it
    // belongs to no period of the change metrics; without actualStart it
    // has no duration).
    if !ended && change.actual_end.is_some() {
        fail("actualEnd", "only an implemented change has actualEnd");
    }
    // A change still implementing is live: its deadlines run from the
    // start, and completing it in Gatehouse ends what started then.
    if change.status == S::Implementing && change.actual_start.is_none() {
        fail("actualStart", "is required for status IMPLEMENTING");
    }
    if matches!(
        change.status,
        S::Draft | S::Submitted | S::AwaitingApproval | S::Approved | S::Scheduled
    ) && change.actual_start.is_some()
    {
        fail("actualStart", "a change that has not started has none");
    }
    if change.status == S::Draft && change.submitted_at.is_some() {
        fail("submittedAt", "a DRAFT has not been submitted");
    }
    let rolled_back = change.outcome == Some(O::RolledBack);
    match (&change.rollback_reason, rolled_back) {
        (Some(reason), true) if reason.is_empty() => fail("rollbackReason", "must not be blank"),
        (None, true) => fail("rollbackReason", "is required for a rolled-back change"),
        (Some(_), false) => fail("rollbackReason", "only a rolled-back change has one"),
        _ => {}
    }
    if rolled_back && change.incident == Some(IncidentPriority::P4) {
        fail(
            "incident",
            "a rollback opens an incident of priority P3 or higher",
        );
    }
    if change.approval_due_at.is_some()
        && !emergency_types.contains(&change.content.change_type.as_str())
    {
        fail(
            "approvalDueAt",
            "only emergency changes have an approval deadline",
        );
    }
    errors
}

/// A board decision only where the board decides: on a type whose
/// approval has a board step. Anywhere else it would count in the CAB
/// approval rate for a decision the policy never asks of the CAB.
pub fn board_errors(change: &ImportedChange, board_types: &[&str]) -> Vec<RowError> {
    let board_decides = board_types.contains(&change.content.change_type.as_str());
    if change.board_outcome.is_some() && !board_decides {
        vec![RowError::new(
            change.line,
            "boardOutcome",
            format!(
                "the CAB does not decide {} changes under this policy (it decides: {})",
                change.content.change_type,
                if board_types.is_empty() {
                    "none".to_owned()
                } else {
                    board_types.join(", ")
                }
            ),
        )]
    } else {
        Vec::new()
    }
}

/// The implemented changes of an import that lack a time some metric
/// needs, by line: the import keeps them, and says which metrics leave
/// them out (docs/reports.md, "Importing history").
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MissingTimes {
    pub without_end: Vec<u64>,
    pub without_start: Vec<u64>,
    pub without_submission: Vec<u64>,
}

impl MissingTimes {
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a ImportedChange>) -> Self {
        let mut missing = Self::default();
        for row in rows.into_iter().filter(|r| r.outcome.is_some()) {
            if row.actual_end.is_none() {
                missing.without_end.push(row.line);
            }
            if row.actual_start.is_none() {
                missing.without_start.push(row.line);
            }
            if row.submitted_at.is_none() {
                missing.without_submission.push(row.line);
            }
        }
        missing
    }

    /// Only the changes of `lines` (those written, under `--skip-invalid`).
    pub fn of_lines(mut self, lines: &std::collections::BTreeSet<u64>) -> Self {
        for found in [
            &mut self.without_end,
            &mut self.without_start,
            &mut self.without_submission,
        ] {
            found.retain(|line| lines.contains(line));
        }
        self
    }

    /// One line of output per kind of gap.
    pub fn notes(&self) -> Vec<String> {
        let lines = |lines: &[u64]| {
            let mut shown: Vec<String> = lines.iter().take(10).map(u64::to_string).collect();
            if lines.len() > 10 {
                shown.push("...".to_owned());
            }
            shown.join(", ")
        };
        [
            (
                &self.without_end,
                "actualEnd: in no period of the change metrics (only the CAB approval rate counts their board decision)",
            ),
            (&self.without_start, "actualStart: left out of the change duration"),
            (
                &self.without_submission,
                "submittedAt: left out of the lead time and the approval time",
            ),
        ]
        .into_iter()
        .filter(|(found, _)| !found.is_empty())
        .map(|(found, what)| {
            format!(
                "note: {} implemented change(s) without {what} (line {})",
                found.len(),
                lines(found)
            )
        })
        .collect()
    }
}

impl ImportedChange {
    /// The incident to open: the given one, or P3 for a rollback (a
    /// rollback always opens one, docs/design.md, "Lifecycle and states").
    pub fn incident_priority(&self) -> Option<IncidentPriority> {
        match (self.incident, self.outcome) {
            (Some(priority), _) => Some(priority),
            (None, Some(ChangeOutcome::RolledBack)) => Some(IncidentPriority::P3),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TYPES: &[&str] = &["standard", "normal", "major", "emergency"];

    fn raw(value: Value) -> RawRow {
        value
            .as_object()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    fn base() -> Value {
        json!({
            "title": "Rotate certificates", "description": "d", "businessJustification": "b",
            "type": "normal", "status": "CLOSED", "likelihood": 2, "impact": "3",
            "requesterEmail": "Ada@Example.com", "systems": "api; db",
            "createdAt": "2026-01-01T00:00:00Z", "submittedAt": "2026-01-02T00:00:00Z",
            "approvedAt": "2026-01-03T00:00:00Z", "actualStart": "2026-01-04T00:00:00+01:00",
            "actualEnd": "2026-01-04T02:00:00Z", "outcome": "successful"
        })
    }

    /// The base row with `changes`; a null removes the column, as
    /// `read_jsonl` drops nulls.
    fn with(changes: Value) -> RawRow {
        let mut value = base();
        for (k, v) in changes.as_object().cloned().unwrap_or_default() {
            value[k] = v;
        }
        raw(value)
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .collect()
    }

    fn errors(row: RawRow) -> Vec<(String, String)> {
        parse_row(7, &row, TYPES, &["emergency"])
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                assert_eq!(e.line, 7);
                (e.field, e.message)
            })
            .collect()
    }

    #[test]
    fn systems_are_a_semicolon_list_or_a_json_array() {
        let parsed = |systems: Value| {
            parse_row(1, &with(json!({"systems": systems})), TYPES, &["emergency"])
                .map(|c| c.system_names)
        };
        assert_eq!(parsed(json!("api; db")).unwrap(), ["api", "db"]);
        assert_eq!(parsed(json!("[\"api\", \" db \"]")).unwrap(), ["api", "db"]);
        assert_eq!(parsed(json!(["api", "db"])).unwrap(), ["api", "db"]);
        let broken = parsed(json!("[\"api\", 3")).unwrap_err();
        assert_eq!(broken[0].field, "systems");
    }

    #[test]
    fn a_board_decision_is_refused_on_a_type_the_board_does_not_decide() {
        let decided = parse_row(
            1,
            &with(json!({"boardOutcome": "APPROVED", "boardDecidedAt": "2026-01-02T12:00:00Z"})),
            TYPES,
            &["emergency"],
        )
        .unwrap();
        assert_eq!(board_errors(&decided, &["normal", "major"]), []);
        let refused = board_errors(&decided, &["major"]);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].field, "boardOutcome");
        assert!(
            refused[0].message.contains("does not decide normal"),
            "{}",
            refused[0].message
        );
    }

    #[test]
    fn a_valid_row_parses_with_defaults() {
        let change = parse_row(3, &raw(base()), TYPES, &["emergency"]).unwrap();
        assert_eq!(change.requester_email, "ada@example.com");
        assert_eq!(change.system_names, ["api", "db"]);
        assert_eq!(change.content.impact, 3);
        assert_eq!(change.content.priority, Priority::Medium);
        assert_eq!(change.outcome, Some(ChangeOutcome::Successful));
        assert_eq!(
            change.actual_start,
            Some("2026-01-03T23:00:00Z".parse().unwrap())
        );
        assert_eq!(change.incident_priority(), None);
    }

    #[test]
    fn every_bad_field_of_a_row_is_reported() {
        let found = errors(with(json!({
            "likelihood": "high", "createdAt": "yesterday", "outcome": "GREAT", "colour": "red"
        })));
        let fields: Vec<_> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["colour", "likelihood", "outcome", "createdAt"]);
    }

    #[test]
    fn domain_rules_apply() {
        assert_eq!(errors(with(json!({"impact": 9})))[0].0, "impact");
        assert_eq!(errors(with(json!({"type": "urgent"})))[0].0, "type");
        assert_eq!(errors(with(json!({"title": "  "})))[0].0, "title");
        assert_eq!(errors(with(json!({"systems": "api;api"})))[0].0, "systems");
    }

    #[test]
    fn timestamps_must_be_in_order() {
        let found = errors(with(json!({"actualEnd": "2026-01-03T00:00:00Z"})));
        assert_eq!(found[0].0, "actualEnd");
        assert!(found[0].1.contains("before actualStart"));
        assert_eq!(
            errors(with(json!({"approvedAt": "2026-01-01T12:00:00Z"})))[0].0,
            "approvedAt"
        );
        assert_eq!(
            errors(with(json!({"submittedAt": "2025-12-01T00:00:00Z"})))[0].0,
            "submittedAt"
        );
    }

    #[test]
    fn times_the_source_never_recorded_may_be_missing() {
        let parsed = |changes: Value| parse_row(1, &with(changes), TYPES, &["emergency"]);
        // Implemented without a start, without an end, or without either.
        let no_start = parsed(json!({"actualStart": null})).unwrap();
        assert_eq!(no_start.actual_start, None);
        assert_eq!(
            no_start.actual_end,
            Some("2026-01-04T02:00:00Z".parse().unwrap())
        );
        let no_end = parsed(json!({"actualEnd": null, "status": "FAILED", "outcome": "FAILED"}));
        assert_eq!(no_end.unwrap().actual_end, None);
        assert!(parsed(json!({"actualStart": null, "actualEnd": null})).is_ok());
        // Approved, or decided by the board, with no submission time.
        let approved = parsed(json!({"submittedAt": null})).unwrap();
        assert_eq!(approved.submitted_at, None);
        assert!(
            parsed(
                json!({"submittedAt": null, "type": "major", "boardOutcome": "APPROVED",
                "boardDecidedAt": "2026-01-02T12:00:00Z"})
            )
            .is_ok()
        );
    }

    #[test]
    fn the_import_says_which_metrics_leave_a_change_out() {
        let parsed = |line: u64, changes: Value| {
            parse_row(line, &with(changes), TYPES, &["emergency"]).unwrap()
        };
        let rows = [
            parsed(2, json!({})),
            parsed(3, json!({"actualStart": null})),
            parsed(
                4,
                json!({"actualStart": null, "actualEnd": null, "submittedAt": null}),
            ),
            // Not implemented: no metric reads it.
            parsed(
                5,
                json!({"status": "REJECTED", "outcome": null, "actualStart": null, "actualEnd": null}),
            ),
        ];
        let missing = MissingTimes::of(&rows);
        assert_eq!(
            missing,
            MissingTimes {
                without_end: vec![4],
                without_start: vec![3, 4],
                without_submission: vec![4],
            }
        );
        assert_eq!(
            missing.notes()[1],
            "note: 2 implemented change(s) without actualStart: left out of the change duration (line 3, 4)"
        );
        assert_eq!(MissingTimes::of(&rows[..1]).notes(), Vec::<String>::new());
    }

    #[test]
    fn the_times_that_are_there_stay_in_lifecycle_order() {
        let found = |changes: Value| errors(with(changes));
        assert_eq!(
            found(json!({"submittedAt": null, "approvedAt": "2025-12-31T00:00:00Z"})),
            [(
                "approvedAt".to_owned(),
                "must not be before createdAt".to_owned()
            )]
        );
        assert_eq!(
            found(json!({"actualEnd": null, "closedAt": "2026-01-03T12:00:00Z"})),
            [(
                "closedAt".to_owned(),
                "must not be before actualStart".to_owned()
            )]
        );
        assert_eq!(
            found(json!({"actualStart": null, "actualEnd": "2025-12-31T00:00:00Z"})),
            [(
                "actualEnd".to_owned(),
                "must not be before createdAt".to_owned()
            )]
        );
        // Live state keeps its times: a change implementing now has a
        // start, one not yet started has none, only an ended one has an end.
        assert_eq!(
            found(
                json!({"status": "IMPLEMENTING", "outcome": null, "actualEnd": null, "actualStart": null})
            ),
            [(
                "actualStart".to_owned(),
                "is required for status IMPLEMENTING".to_owned()
            )]
        );
        assert_eq!(
            found(json!({"status": "SCHEDULED", "outcome": null, "actualEnd": null})),
            [(
                "actualStart".to_owned(),
                "a change that has not started has none".to_owned()
            )]
        );
        assert_eq!(
            found(json!({"status": "IMPLEMENTING", "outcome": null})),
            [(
                "actualEnd".to_owned(),
                "only an implemented change has actualEnd".to_owned()
            )]
        );
    }

    #[test]
    fn outcome_must_match_status() {
        assert_eq!(
            errors(with(json!({"status": "FAILED"})))[0],
            (
                "outcome".to_owned(),
                "\"SUCCESSFUL\" does not match status \"FAILED\"".to_owned()
            )
        );
        let mut draft = base();
        draft["status"] = json!("APPROVED");
        let found = errors(raw(draft));
        assert!(found.iter().any(|(f, _)| f == "outcome"));
        assert_eq!(
            errors(with(json!({"outcome": null, "status": "CLOSED"})))[0].0,
            "outcome"
        );
    }

    #[test]
    fn a_rollback_needs_a_reason_and_gets_an_incident() {
        let found = errors(with(
            json!({"status": "ROLLED_BACK", "outcome": "ROLLED_BACK"}),
        ));
        assert_eq!(found[0].0, "rollbackReason");
        let change = parse_row(
            1,
            &with(
                json!({"status": "ROLLED_BACK", "outcome": "ROLLED_BACK", "rollbackReason": "5xx"}),
            ),
            TYPES,
            &["emergency"],
        )
        .unwrap();
        assert_eq!(change.incident_priority(), Some(IncidentPriority::P3));
        assert_eq!(
            errors(with(
                json!({"status": "ROLLED_BACK", "outcome": "ROLLED_BACK",
                "rollbackReason": "5xx", "incident": "P4"})
            ))[0]
                .0,
            "incident"
        );
        let p1 = parse_row(1, &with(json!({"incident": "p1"})), TYPES, &[]).unwrap();
        assert_eq!(p1.incident_priority(), Some(IncidentPriority::P1));
    }

    #[test]
    fn csv_rows_carry_their_line_numbers() {
        let text = "title,type,systems\n\"multi\nline\",normal,a;b\nsecond,major,\n";
        let rows = read_csv(text).unwrap();
        let lines: Vec<_> = rows.iter().map(|r| r.as_ref().unwrap().0).collect();
        assert_eq!(lines, [2, 4]);
        let second = &rows[1].as_ref().unwrap().1;
        assert!(!second.contains_key("systems"));
        assert_eq!(read_csv("title,colour\n").unwrap_err().field, "colour");
    }

    #[test]
    fn jsonl_skips_blank_lines_and_reports_bad_json() {
        let rows = read_jsonl("{\"title\":\"a\"}\n\n[1]\n{oops\n");
        assert_eq!(rows[0].as_ref().unwrap().0, 1);
        assert_eq!(rows[1].as_ref().unwrap_err().line, 3);
        assert_eq!(rows[2].as_ref().unwrap_err().line, 4);
    }
}

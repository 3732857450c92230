//! Deployments and incidents from other tools for `gatehouse import
//! --kind deployments|incidents` (JSONL or CSV, columns named as the
//! GraphQL inputs). Pure, like the change rows: the service resolves the
//! changes and systems named and records each row as its API would.

use chrono::{DateTime, Utc};
use entity::{DeploymentStatus, IncidentPriority};

use super::{RawRow, Row, RowError};
use crate::domain::deployment::{self, DeploymentReport};

pub const DEPLOYMENT_COLUMNS: &[&str] = &[
    "externalId",
    "changeNumber",
    "environment",
    "systems",
    "version",
    "commitSha",
    "commitTime",
    "startedAt",
    "finishedAt",
    "status",
    "url",
];

pub const INCIDENT_COLUMNS: &[&str] = &[
    "title",
    "description",
    "priority",
    "changeNumber",
    "systems",
    "openedAt",
    "restoredAt",
    "resolution",
    "reportedBy",
];

/// A deployment row, ready to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedDeployment {
    pub line: u64,
    pub status: DeploymentStatus,
    pub report: DeploymentReport,
}

/// An incident row, ready to be recorded (and resolved when it says so).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedIncident {
    pub line: u64,
    pub title: String,
    pub description: Option<String>,
    pub priority: Option<IncidentPriority>,
    pub change_number: Option<String>,
    pub systems: Vec<String>,
    pub opened_at: DateTime<Utc>,
    pub restored_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    /// The account (email) it is recorded for: history stays attributable.
    pub reported_by: String,
}

const DEPLOYMENT_STATUSES: &str = "PENDING, IN_PROGRESS, SUCCESS, FAILURE, CANCELLED";
const INCIDENT_PRIORITIES: &str = "P1, P2, P3, P4";

fn done(row: Row<'_>) -> Result<(), Vec<RowError>> {
    if row.errors.is_empty() {
        Ok(())
    } else {
        Err(row.errors)
    }
}

/// Parses a deployment row. A finished one states when it finished: the
/// import cannot take the import's own time for history.
pub fn parse_deployment(line: u64, raw: &RawRow) -> Result<ImportedDeployment, Vec<RowError>> {
    let mut row = Row {
        line,
        raw,
        errors: Vec::new(),
    };
    let status = row.enumeration::<DeploymentStatus>("status", DEPLOYMENT_STATUSES);
    if !raw.contains_key("status") {
        row.fail("status", "is required");
    }
    let report = DeploymentReport {
        external_id: row.text("externalId"),
        change_number: row.text("changeNumber").map(|n| n.trim().to_owned()),
        environment: row.required_text("environment"),
        systems: row.systems(),
        version: row.text("version"),
        commit_sha: row.text("commitSha"),
        commit_time: row.timestamp("commitTime"),
        started_at: row.timestamp("startedAt"),
        finished_at: row.timestamp("finishedAt"),
        url: row.text("url"),
    };
    if let Some(status) = status
        && deployment::is_finished(status)
        && report.finished_at.is_none()
        && !raw.contains_key("finishedAt")
    {
        row.fail("finishedAt", "is required for a finished deployment");
    }
    if row.errors.is_empty()
        && let Err(error) = deployment::check_report(&report)
    {
        row.fail(&error.field, error.message);
    }
    done(row)?;
    Ok(ImportedDeployment {
        line,
        status: status.unwrap_or(DeploymentStatus::Pending),
        report,
    })
}

/// Parses an incident row.
pub fn parse_incident(line: u64, raw: &RawRow) -> Result<ImportedIncident, Vec<RowError>> {
    let mut row = Row {
        line,
        raw,
        errors: Vec::new(),
    };
    let title = row.required_text("title");
    let description = row.text("description");
    let priority = row.enumeration::<IncidentPriority>("priority", INCIDENT_PRIORITIES);
    let change_number = row.text("changeNumber").map(|n| n.trim().to_owned());
    let systems = row.systems();
    let opened_at = row.timestamp("openedAt");
    if !raw.contains_key("openedAt") {
        row.fail("openedAt", "is required");
    }
    let restored_at = row.timestamp("restoredAt");
    let resolution = row.text("resolution");
    let reported_by = row.required_text("reportedBy");
    if restored_at.is_some() && resolution.as_deref().is_none_or(|r| r.trim().is_empty()) {
        row.fail("resolution", "is required with restoredAt");
    }
    if let (Some(opened), Some(restored)) = (opened_at, restored_at)
        && restored < opened
    {
        row.fail("restoredAt", "must not be before openedAt");
    }
    done(row)?;
    Ok(ImportedIncident {
        line,
        title,
        description,
        priority,
        change_number,
        systems,
        opened_at: opened_at.unwrap_or_default(),
        restored_at,
        resolution,
        reported_by,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn raw(value: Value) -> RawRow {
        value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn deployment_rows_are_read_and_checked() {
        let good = parse_deployment(
            2,
            &raw(json!({"externalId": "jenkins-77", "changeNumber": " CR-2026-0042 ", "environment": "production",
                        "systems": "payments; ledger", "status": "success", "commitSha": "a1b2c3d",
                        "commitTime": "2026-10-01T08:00:00Z", "finishedAt": "2026-10-01T10:00:00Z"})),
        )
        .unwrap();
        assert_eq!(good.status, DeploymentStatus::Success);
        assert_eq!(good.report.change_number.as_deref(), Some("CR-2026-0042"));
        assert_eq!(good.report.systems, ["payments", "ledger"]);
        let fields = |value: Value| -> Vec<String> {
            parse_deployment(3, &raw(value))
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(json!({"environment": "production"})), ["status"]);
        assert_eq!(
            fields(json!({"environment": "production", "status": "SUCCESS"})),
            ["finishedAt"]
        );
        assert_eq!(
            fields(json!({"environment": "prod", "status": "DONE", "finishedAt": "yesterday"})),
            ["status", "finishedAt"]
        );
        assert_eq!(
            fields(
                json!({"environment": "prod", "status": "SUCCESS", "commitSha": "zz",
                          "finishedAt": "2026-10-01T10:00:00Z"})
            ),
            ["commitSha"]
        );
    }

    #[test]
    fn incident_rows_are_read_and_checked() {
        let good = parse_incident(
            2,
            &raw(json!({"title": "Checkout down", "priority": "p1", "openedAt": "2026-10-01T08:00:00Z",
                        "restoredAt": "2026-10-01T09:30:00Z", "resolution": "rolled back",
                        "reportedBy": "sre@example.com", "systems": ["payments"]})),
        )
        .unwrap();
        assert_eq!(good.priority, Some(IncidentPriority::P1));
        assert_eq!(good.systems, ["payments"]);
        let fields = |value: Value| -> Vec<String> {
            parse_incident(3, &raw(value))
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(json!({"title": "x"})), ["openedAt", "reportedBy"]);
        assert_eq!(
            fields(
                json!({"title": "x", "openedAt": "2026-10-01T08:00:00Z", "reportedBy": "a@b.c",
                          "restoredAt": "2026-10-01T07:00:00Z", "resolution": "r"})
            ),
            ["restoredAt"]
        );
        assert_eq!(
            fields(
                json!({"title": "x", "openedAt": "2026-10-01T08:00:00Z", "reportedBy": "a@b.c",
                          "restoredAt": "2026-10-01T09:00:00Z"})
            ),
            ["resolution"]
        );
    }
}

//! Deployments and incidents as plain rules (docs/design.md, "Deployments
//! and incidents"): what a deployment report must hold, which change
//! authorises a production deployment, how the forges' states read, and
//! what an incident and its resolution must hold.
//!
//! A deployment is linked to its change by cause — the change number the
//! pipeline or the forge's payload carries — never by being close in time.
//! A production deployment is authorised only by that change, while it is
//! being implemented: started (its implementation began no later than the
//! deployment), not yet ended before the deployment began, and covering
//! every system deployed. Anything else is an exception (an unauthorised
//! change), whose reason says which of these failed.

use chrono::{DateTime, Duration, Utc};
use entity::{ChangeStatus, DeploymentStatus, IncidentPriority};
use uuid::Uuid;

use super::{ValidationError, http_url, numbering::parse_number, optional_text, required_text};

/// How far a deployment's reported start may precede the start of its
/// change's implementation and still count as inside it: the runner's
/// clock and the server's differ by a little, and a pipeline that calls
/// `startImplementation` and then deploys must not be flagged for that.
pub const CLOCK_SKEW: Duration = Duration::seconds(60);

/// Environments a policy treats as production when it names none.
pub const DEFAULT_PRODUCTION_ENVIRONMENTS: [&str; 2] = ["production", "prod"];

/// Whether `environment` is one of `production` (case-insensitive, blanks
/// around it ignored).
pub fn is_production(environment: &str, production: &[String]) -> bool {
    let environment = environment.trim();
    production
        .iter()
        .any(|name| name.trim().eq_ignore_ascii_case(environment))
}

/// What the authorisation rule reads of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentFacts {
    pub production: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When it was reported (the deployment's time when it gives none).
    pub reported_at: DateTime<Utc>,
    /// The systems deployed, by id and name.
    pub systems: Vec<(Uuid, String)>,
}

impl DeploymentFacts {
    /// When the deployment touched production: its start, else its end,
    /// else when it was reported.
    pub fn at(&self) -> DateTime<Utc> {
        self.started_at
            .or(self.finished_at)
            .unwrap_or(self.reported_at)
    }
}

/// What the authorisation rule reads of the change a deployment names.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeFacts {
    pub number: String,
    pub status: ChangeStatus,
    pub actual_start: Option<DateTime<Utc>>,
    pub actual_end: Option<DateTime<Utc>>,
    pub systems: Vec<Uuid>,
}

/// Why a production deployment is an exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exception {
    /// It named no change.
    NoChange,
    /// It named a change number no change has.
    UnknownChange { number: String },
    /// The change's implementation had not started.
    NotStarted { number: String, status: String },
    /// It began before the change's implementation did.
    BeforeStart {
        number: String,
        deployed: DateTime<Utc>,
        started: DateTime<Utc>,
    },
    /// It began after the change's implementation had ended.
    AfterEnd {
        number: String,
        deployed: DateTime<Utc>,
        ended: DateTime<Utc>,
    },
    /// It deployed systems the change does not affect.
    SystemsNotCovered {
        number: String,
        systems: Vec<String>,
    },
}

impl std::fmt::Display for Exception {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match self {
            Self::NoChange => write!(f, "production deployment names no change"),
            Self::UnknownChange { number } => {
                write!(
                    f,
                    "production deployment names {number}, which no change has"
                )
            }
            Self::NotStarted { number, status } => write!(
                f,
                "production deployment for {number} while it is {status}: its implementation had not started"
            ),
            Self::BeforeStart {
                number,
                deployed,
                started,
            } => write!(
                f,
                "production deployment at {} precedes the start of {number}'s implementation at {}",
                at(deployed),
                at(started)
            ),
            Self::AfterEnd {
                number,
                deployed,
                ended,
            } => write!(
                f,
                "production deployment at {} follows the end of {number}'s implementation at {}",
                at(deployed),
                at(ended)
            ),
            Self::SystemsNotCovered { number, systems } => write!(
                f,
                "production deployment to {} which {number} does not affect",
                systems.join(", ")
            ),
        }
    }
}

/// Whether `change` (the one the deployment names, looked up by its
/// number; `None` when no number was given or none matched) authorises
/// `deployment`. Deployments outside production need no authorisation.
pub fn exception(
    deployment: &DeploymentFacts,
    named_number: Option<&str>,
    change: Option<&ChangeFacts>,
) -> Option<Exception> {
    if !deployment.production {
        return None;
    }
    let Some(change) = change else {
        return Some(match named_number {
            None => Exception::NoChange,
            Some(number) => Exception::UnknownChange {
                number: number.to_owned(),
            },
        });
    };
    let number = change.number.clone();
    if !crate::domain::lifecycle::has_started(change.status, change.actual_start) {
        return Some(Exception::NotStarted {
            number,
            status: status_name(change.status),
        });
    }
    let deployed = deployment.at();
    // A change imported without its start is judged by its end alone.
    if let Some(started) = change.actual_start
        && deployed + CLOCK_SKEW < started
    {
        return Some(Exception::BeforeStart {
            number,
            deployed,
            started,
        });
    }
    if let Some(ended) = change.actual_end
        && deployed > ended
    {
        return Some(Exception::AfterEnd {
            number,
            deployed,
            ended,
        });
    }
    let uncovered: Vec<String> = deployment
        .systems
        .iter()
        .filter(|(id, _)| !change.systems.contains(id))
        .map(|(_, name)| name.clone())
        .collect();
    if !uncovered.is_empty() {
        return Some(Exception::SystemsNotCovered {
            number,
            systems: uncovered,
        });
    }
    None
}

fn status_name(status: ChangeStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Whether a status is final: the deployment is over, and a report
/// without `finishedAt` is taken to have finished when it was reported.
pub fn is_finished(status: DeploymentStatus) -> bool {
    matches!(
        status,
        DeploymentStatus::Success | DeploymentStatus::Failure | DeploymentStatus::Cancelled
    )
}

/// A GitHub `deployment_status.state` as a status; `None` for `inactive`
/// (a later deployment superseded this one: nothing about it changed).
pub fn github_status(state: &str) -> Option<DeploymentStatus> {
    Some(match state {
        "queued" | "pending" | "waiting" => DeploymentStatus::Pending,
        "in_progress" => DeploymentStatus::InProgress,
        "success" => DeploymentStatus::Success,
        "failure" | "error" => DeploymentStatus::Failure,
        _ => return None,
    })
}

/// A GitLab deployment event's `status` as a status.
pub fn gitlab_status(status: &str) -> Option<DeploymentStatus> {
    Some(match status {
        "created" | "blocked" => DeploymentStatus::Pending,
        "running" => DeploymentStatus::InProgress,
        "success" => DeploymentStatus::Success,
        "failed" => DeploymentStatus::Failure,
        "canceled" | "skipped" => DeploymentStatus::Cancelled,
        _ => return None,
    })
}

/// The first change number (`CR-2026-0042`) in `text`, as the forges'
/// payloads carry it in a ref (`release/CR-2026-0042`), a description or
/// a commit message. Case-insensitive; returned in upper case. A number
/// glued to other letters or digits (`XCR-2026-0042`, `CR-2026-0042b`) is
/// not one.
pub fn change_number_in(text: &str) -> Option<String> {
    let upper = text.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let glued = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_alphanumeric);
    let mut from = 0;
    while let Some(found) = upper[from..].find("CR-") {
        let start = from + found;
        let digits = |at: usize| {
            bytes[at.min(bytes.len())..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let year = digits(start + 3);
        if year == 4 && bytes.get(start + 7) == Some(&b'-') {
            let end = start + 8 + digits(start + 8);
            let candidate = &upper[start..end];
            let standalone = !(start > 0 && glued(start - 1) || glued(end));
            if standalone && parse_number(candidate).is_ok() {
                return Some(candidate.to_owned());
            }
        }
        from = start + 3;
    }
    None
}

/// A deployment report as a pipeline gives it (times already parsed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentReport {
    pub external_id: Option<String>,
    pub change_number: Option<String>,
    pub environment: String,
    pub systems: Vec<String>,
    pub version: Option<String>,
    pub commit_sha: Option<String>,
    pub commit_time: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub url: Option<String>,
}

pub const MAX_SYSTEMS: usize = 50;

/// Checks a report's shape: required environment, bounded texts, a commit
/// sha in hex, times in order (commit, start, end).
pub fn check_report(report: &DeploymentReport) -> Result<(), ValidationError> {
    optional_text("externalId", report.external_id.as_deref(), 200)?;
    if let Some(id) = &report.external_id {
        required_text("externalId", id, 200)?;
    }
    optional_text("changeNumber", report.change_number.as_deref(), 64)?;
    required_text("environment", &report.environment, 100)?;
    if report.systems.len() > MAX_SYSTEMS {
        return Err(ValidationError::new(
            "systems",
            format!("at most {MAX_SYSTEMS} systems"),
        ));
    }
    optional_text("version", report.version.as_deref(), 200)?;
    if let Some(sha) = &report.commit_sha
        && (sha.len() < 7 || sha.len() > 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(ValidationError::new(
            "commitSha",
            "must be 7 to 64 hexadecimal digits",
        ));
    }
    if let Some(url) = &report.url {
        http_url("url", url, 2000)?;
    }
    if let (Some(commit), Some(start)) = (report.commit_time, report.started_at)
        && commit > start
    {
        return Err(ValidationError::new(
            "commitTime",
            "must not be after startedAt",
        ));
    }
    if let (Some(start), Some(end)) = (report.started_at, report.finished_at)
        && start > end
    {
        return Err(ValidationError::new(
            "finishedAt",
            "must not be before startedAt",
        ));
    }
    if let (Some(commit), Some(end)) = (report.commit_time, report.finished_at)
        && commit > end
    {
        return Err(ValidationError::new(
            "commitTime",
            "must not be after finishedAt",
        ));
    }
    Ok(())
}

/// The priority an incident opened by hand gets when none is given.
pub const DEFAULT_INCIDENT_PRIORITY: IncidentPriority = IncidentPriority::P3;

/// Checks a new incident: a title, at most one of change and deployment
/// (the deployment names its change), and at least one link — a change, a
/// deployment or an affected system — so that every incident is someone's.
pub fn check_incident(
    title: &str,
    description: Option<&str>,
    linked_to_change: bool,
    linked_to_deployment: bool,
    systems: usize,
    opened_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ValidationError> {
    required_text("title", title, 200)?;
    optional_text("description", description, 10_000)?;
    if linked_to_change && linked_to_deployment {
        return Err(ValidationError::new(
            "deploymentId",
            "give the change or the deployment, not both (a deployment names its change)",
        ));
    }
    if !linked_to_change && !linked_to_deployment && systems == 0 {
        return Err(ValidationError::new(
            "systems",
            "an incident is linked to a change, a deployment or at least one affected system",
        ));
    }
    if systems > MAX_SYSTEMS {
        return Err(ValidationError::new(
            "systems",
            format!("at most {MAX_SYSTEMS} systems"),
        ));
    }
    if opened_at > now + CLOCK_SKEW {
        return Err(ValidationError::new(
            "openedAt",
            "must not be in the future",
        ));
    }
    Ok(())
}

/// Checks a resolution: service restored after the incident opened and
/// not in the future, a summary, and not resolved already.
pub fn check_resolution(
    opened_at: DateTime<Utc>,
    already_restored: Option<DateTime<Utc>>,
    restored_at: DateTime<Utc>,
    summary: &str,
    now: DateTime<Utc>,
) -> Result<(), ValidationError> {
    if let Some(restored) = already_restored {
        return Err(ValidationError::new(
            "id",
            format!(
                "the incident was resolved already (service restored at {})",
                restored.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    required_text("summary", summary, 10_000)?;
    if restored_at < opened_at {
        return Err(ValidationError::new(
            "restoredAt",
            "must not be before the incident was opened",
        ));
    }
    if restored_at > now + CLOCK_SKEW {
        return Err(ValidationError::new(
            "restoredAt",
            "must not be in the future",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hour: u32, minute: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 11, 3, hour, minute, 0)
            .single()
            .unwrap()
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn deployment(at: DateTime<Utc>) -> DeploymentFacts {
        DeploymentFacts {
            production: true,
            started_at: Some(at),
            finished_at: Some(at + Duration::minutes(5)),
            reported_at: at + Duration::minutes(6),
            systems: vec![(id(1), "payments".into())],
        }
    }

    fn implementing() -> ChangeFacts {
        ChangeFacts {
            number: "CR-2026-0007".into(),
            status: ChangeStatus::Implementing,
            actual_start: Some(t(10, 0)),
            actual_end: None,
            systems: vec![id(1), id(2)],
        }
    }

    #[test]
    fn a_deployment_inside_its_changes_implementation_is_authorised() {
        let change = implementing();
        assert_eq!(
            exception(&deployment(t(10, 5)), Some("CR-2026-0007"), Some(&change)),
            None
        );
        // Ended since, but the deployment ran while it was open.
        let ended = ChangeFacts {
            status: ChangeStatus::Implemented,
            actual_end: Some(t(11, 0)),
            ..implementing()
        };
        assert_eq!(exception(&deployment(t(10, 59)), None, Some(&ended)), None);
        // A runner's clock a little behind the server's.
        assert_eq!(exception(&deployment(t(9, 59)), None, Some(&change)), None);
    }

    #[test]
    fn a_change_imported_without_its_start_is_judged_by_its_end() {
        let imported = ChangeFacts {
            status: ChangeStatus::Closed,
            actual_start: None,
            actual_end: Some(t(11, 0)),
            ..implementing()
        };
        assert_eq!(exception(&deployment(t(8, 0)), None, Some(&imported)), None);
        assert!(matches!(
            exception(&deployment(t(11, 1)), None, Some(&imported)),
            Some(Exception::AfterEnd { .. })
        ));
    }

    #[test]
    fn outside_production_nothing_needs_authorising() {
        let staging = DeploymentFacts {
            production: false,
            ..deployment(t(8, 0))
        };
        assert_eq!(exception(&staging, None, None), None);
    }

    #[test]
    fn every_way_to_deploy_unauthorised_is_named() {
        let at = deployment(t(10, 5));
        assert_eq!(exception(&at, None, None), Some(Exception::NoChange));
        assert_eq!(
            exception(&at, Some("CR-2026-9999"), None),
            Some(Exception::UnknownChange {
                number: "CR-2026-9999".into()
            })
        );
        let approved = ChangeFacts {
            status: ChangeStatus::Scheduled,
            actual_start: None,
            ..implementing()
        };
        let not_started = exception(&at, None, Some(&approved)).unwrap();
        assert_eq!(
            not_started.to_string(),
            "production deployment for CR-2026-0007 while it is SCHEDULED: its implementation had not started"
        );
        assert!(matches!(
            exception(&deployment(t(9, 58)), None, Some(&implementing())),
            Some(Exception::BeforeStart { .. })
        ));
        let ended = ChangeFacts {
            status: ChangeStatus::Closed,
            actual_end: Some(t(11, 0)),
            ..implementing()
        };
        let late = exception(&deployment(t(11, 1)), None, Some(&ended)).unwrap();
        assert_eq!(
            late.to_string(),
            "production deployment at 2026-11-03T11:01:00Z follows the end of CR-2026-0007's implementation at 2026-11-03T11:00:00Z"
        );
        let elsewhere = DeploymentFacts {
            systems: vec![(id(1), "payments".into()), (id(3), "ledger".into())],
            ..at
        };
        assert_eq!(
            exception(&elsewhere, None, Some(&implementing())),
            Some(Exception::SystemsNotCovered {
                number: "CR-2026-0007".into(),
                systems: vec!["ledger".into()]
            })
        );
    }

    #[test]
    fn production_is_the_policys_list_in_any_case() {
        let names: Vec<String> = DEFAULT_PRODUCTION_ENVIRONMENTS.map(String::from).to_vec();
        assert!(is_production("Production", &names));
        assert!(is_production(" prod ", &names));
        assert!(!is_production("production-eu", &names));
        assert!(!is_production("staging", &names));
    }

    #[test]
    fn change_numbers_are_found_in_refs_and_texts() {
        let found = |text: &str| change_number_in(text);
        assert_eq!(
            found("release/cr-2026-0042").as_deref(),
            Some("CR-2026-0042")
        );
        assert_eq!(
            found("Deploy CR-2026-12345 (hotfix)").as_deref(),
            Some("CR-2026-12345")
        );
        assert_eq!(found("XCR-2026-0042"), None);
        assert_eq!(found("CR-2026-0042a"), None);
        assert_eq!(found("CR-2026-7"), None);
        assert_eq!(
            found("CR-26-1 then CR-2026-0003").as_deref(),
            Some("CR-2026-0003")
        );
        assert_eq!(found("no number"), None);
        assert_eq!(found("CR-"), None);
        assert_eq!(found("CR-2026-"), None);
        assert_eq!(found("ends with CR"), None);
    }

    #[test]
    fn forge_states_map_to_statuses() {
        assert_eq!(github_status("success"), Some(DeploymentStatus::Success));
        assert_eq!(github_status("error"), Some(DeploymentStatus::Failure));
        assert_eq!(github_status("inactive"), None);
        assert_eq!(gitlab_status("running"), Some(DeploymentStatus::InProgress));
        assert_eq!(gitlab_status("canceled"), Some(DeploymentStatus::Cancelled));
        assert_eq!(gitlab_status("bogus"), None);
    }

    #[test]
    fn reports_are_checked() {
        let good = DeploymentReport {
            environment: "production".into(),
            commit_sha: Some("a1b2c3d".into()),
            commit_time: Some(t(9, 0)),
            started_at: Some(t(10, 0)),
            finished_at: Some(t(10, 5)),
            ..Default::default()
        };
        assert!(check_report(&good).is_ok());
        let field = |report: DeploymentReport| check_report(&report).unwrap_err().field;
        assert_eq!(
            field(DeploymentReport {
                environment: " ".into(),
                ..good.clone()
            }),
            "environment"
        );
        assert_eq!(
            field(DeploymentReport {
                commit_sha: Some("xyz1234".into()),
                ..good.clone()
            }),
            "commitSha"
        );
        assert_eq!(
            field(DeploymentReport {
                finished_at: Some(t(9, 30)),
                ..good.clone()
            }),
            "finishedAt"
        );
        assert_eq!(
            field(DeploymentReport {
                commit_time: Some(t(10, 1)),
                ..good.clone()
            }),
            "commitTime"
        );
        assert_eq!(
            field(DeploymentReport {
                url: Some("ftp://x".into()),
                ..good
            }),
            "url"
        );
    }

    #[test]
    fn incidents_belong_to_something_and_resolve_once_forward_in_time() {
        let now = t(12, 0);
        assert!(check_incident("Outage", None, false, false, 1, t(11, 0), now).is_ok());
        assert_eq!(
            check_incident("Outage", None, false, false, 0, t(11, 0), now)
                .unwrap_err()
                .field,
            "systems"
        );
        assert_eq!(
            check_incident("Outage", None, true, true, 0, t(11, 0), now)
                .unwrap_err()
                .field,
            "deploymentId"
        );
        assert_eq!(
            check_incident("Outage", None, true, false, 0, t(13, 0), now)
                .unwrap_err()
                .field,
            "openedAt"
        );
        assert!(check_resolution(t(11, 0), None, t(11, 30), "fixed", now).is_ok());
        assert_eq!(
            check_resolution(t(11, 0), None, t(10, 59), "fixed", now)
                .unwrap_err()
                .field,
            "restoredAt"
        );
        assert_eq!(
            check_resolution(t(11, 0), Some(t(11, 30)), t(11, 40), "again", now)
                .unwrap_err()
                .field,
            "id"
        );
        assert_eq!(
            check_resolution(t(11, 0), None, t(11, 30), " ", now)
                .unwrap_err()
                .field,
            "summary"
        );
    }
}

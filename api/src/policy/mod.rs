//! The change-management policy in force: configuration, not code.
//!
//! A policy is a TOML document. Presets encoding the five seed policies ship
//! inside the binary and are chosen by name; any other value of
//! GATEHOUSE_POLICY is read as a path to a TOML file of the same shape.
//! "Who may approve a major change" is answered by the policy file and
//! evaluated in `domain::approval`; nowhere else.

use std::collections::BTreeSet;

use async_graphql::{ComplexObject, Enum, SimpleObject};
use serde::{Deserialize, Serialize};

use entity::{DeploymentMethod, RiskLevel};

use crate::domain::{
    calendar::{CalendarRule, Freeze, FreezeKind, RuleSource, Window},
    change::RequiredItem,
    lifecycle::ReviewItem,
    roles,
};

pub mod explain;
pub mod targets;

pub use targets::PolicyTarget;

/// Presets by name, each encoding one seed document in `docs/policies/seeds/`.
pub const PRESETS: &[(&str, &str)] = &[
    ("cab-quorum", include_str!("presets/cab-quorum.toml")),
    ("tiered-cab", include_str!("presets/tiered-cab.toml")),
    ("dual-approval", include_str!("presets/dual-approval.toml")),
    ("weekly-cab", include_str!("presets/weekly-cab.toml")),
    (
        "security-officer",
        include_str!("presets/security-officer.toml"),
    ),
];

/// Role keys as a policy must write them: well-formed and exactly as
/// accounts hold them (a key with surrounding spaces would never match).
fn role_keys<'a>(
    keys: impl IntoIterator<Item = &'a String>,
) -> Result<(), crate::domain::ValidationError> {
    let keys: Vec<&String> = keys.into_iter().collect();
    if let Some(key) = keys.iter().find(|k| k.trim() != k.as_str()) {
        return Err(crate::domain::ValidationError::new(
            "roles",
            format!("`{key}` has surrounding spaces, so no account's role would match it"),
        ));
    }
    roles::parse_roles(keys).map(|_| ())
}

/// Roles whose accounts can never approve, so naming them as approvers
/// would make a step impossible to meet.
const NEVER_APPROVE: [&str; 2] = [roles::AUDITOR, roles::SERVICE];

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    // The cause follows as the error's source (printed once, after it).
    #[error(
        "cannot read policy file {path}; the setting `policy` (--policy, GATEHOUSE_POLICY) names a preset or a file"
    )]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid policy {name}: {message}")]
    Invalid { name: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(complex)]
pub struct Policy {
    /// Short name (`tiered-cab`).
    pub name: String,
    /// Title of the policy document.
    pub title: String,
    /// The document this encodes.
    pub source: String,
    /// How long audit events must be kept; `None` when the document is
    /// silent (Gatehouse then deletes nothing).
    pub audit_retention_years: Option<u32>,
    /// The Change Advisory Board, when the policy has one.
    pub board: Option<BoardPolicy>,
    /// Suggests a change type from the risk ratings.
    pub risk_matrix: Option<RiskMatrix>,
    /// What a change may say it touches (`[[attribute]]`), for gates that
    /// apply only to some changes (`when_attributes`).
    #[serde(rename = "attribute", default)]
    pub attributes: Vec<PolicyAttribute>,
    /// Evidence gates that change types refer to by key.
    #[serde(rename = "gate", default)]
    pub gates: Vec<Gate>,
    /// Change types in the order the document lists them.
    #[serde(rename = "change_type")]
    pub change_types: Vec<ChangeType>,
    /// Maintenance and deployment windows some change types must fit.
    #[serde(rename = "window", default)]
    pub windows: Vec<PolicyWindow>,
    /// Change freezes.
    #[serde(rename = "freeze", default)]
    pub freezes: Vec<PolicyFreeze>,
    /// Segregation of duties the document asks beyond Gatehouse's own.
    #[serde(default)]
    pub segregation: SegregationRules,
    /// Who maintains the run-time windows and freezes (`[calendar]`).
    #[serde(default)]
    pub calendar: CalendarEditors,
    /// What counts as production for deployments (`[deployments]`).
    #[serde(default)]
    pub deployments: DeploymentRules,
    /// How fast each kind of rollback must restore service
    /// (`[[rollback_objective]]`, seed 001 §7.3 "Rollback Time Objectives").
    /// Where the policy lists any, every rollback names its kind.
    #[serde(rename = "rollback_objective", default)]
    pub rollback_objectives: Vec<RollbackObjective>,
    /// The metric targets the document sets (`[targets]`, see
    /// `targets`), in the catalogue's order (`reports::Metric::with_targets()`).
    #[serde(
        default,
        deserialize_with = "targets::deserialize",
        serialize_with = "targets::serialize"
    )]
    #[graphql(skip)]
    pub targets: Vec<reports::Target>,
    /// Statements of the document that Gatehouse records but does not
    /// enforce (with the reason), so readers see what was left to people.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Identifies the policy in force: `sha256:` and the SHA-256 of the
    /// policy's TOML text exactly as loaded (`sha256sum policy.toml`
    /// reproduces it for a file). Lifecycle events record it, so a verdict
    /// names the policy each step was taken under.
    #[serde(skip)]
    pub version: String,
}

/// Something a change may touch that some gates depend on (seed 002 §2:
/// "changes affecting auth, data access, or encryption").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct PolicyAttribute {
    /// The key a change lists in `attributes` (`authentication`).
    pub key: String,
    pub label: String,
}

/// Who edits the change calendar (`[calendar]`): the roles named, and the
/// CAB's voting members where `board` is set. Neither given: an admin or a
/// change manager.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(name = "PolicyCalendarEditors")]
pub struct CalendarEditors {
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub board: bool,
}

/// Deployments (`[deployments]`): which environments are production, where
/// a deployment needs a change authorising it (docs/design.md, "Deployments
/// and incidents").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRules {
    /// Environment names that are production, compared case-insensitively
    /// (default `production`, `prod`).
    #[serde(default = "default_production_environments")]
    pub production_environments: Vec<String>,
}

fn default_production_environments() -> Vec<String> {
    crate::domain::deployment::DEFAULT_PRODUCTION_ENVIRONMENTS
        .map(String::from)
        .to_vec()
}

impl Default for DeploymentRules {
    fn default() -> Self {
        Self {
            production_environments: default_production_environments(),
        }
    }
}

/// A rollback time objective: service restored within `restore_within_minutes`
/// of the rollback's start, for rollbacks of this kind. The rollback's
/// incident records the restoration; until then, past the objective, the
/// change is overdue (`RESTORE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(name = "PolicyRollbackObjective")]
pub struct RollbackObjective {
    /// What `rollBackChange(rollbackKind:)` names (`version_revert`).
    pub kind: String,
    /// How the document names it ("Simple rollback (version revert)").
    pub label: String,
    pub restore_within_minutes: u32,
}

/// The longest objective a policy may set: a week. Longer is a typo, and
/// keeps deadline arithmetic far from overflow.
const MAX_RESTORE_MINUTES: u32 = 7 * 24 * 60;

/// Duties one person may not combine on one change (`[segregation]`).
/// Nobody approves or reviews their own change under any policy; these
/// go further.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct SegregationRules {
    /// Who approved a change does not start its implementation, and who
    /// started it does not approve it afterwards.
    #[serde(default)]
    pub approver_not_implementer: bool,
    /// Who started a change's implementation does not review it.
    #[serde(default)]
    pub reviewer_not_implementer: bool,
}

/// A recurring window as the policy file writes it: local start of the
/// first occurrence, RFC 5545 RRULE, duration, IANA time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct PolicyWindow {
    pub name: String,
    /// `YYYY-MM-DDTHH:MM:SS`, local to `time_zone`.
    pub dtstart: String,
    pub rrule: Option<String>,
    pub duration_minutes: u32,
    pub time_zone: String,
    pub change_types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct PolicyFreeze {
    pub name: String,
    pub kind: FreezeKind,
    pub dtstart: String,
    pub rrule: Option<String>,
    pub duration_minutes: u32,
    pub time_zone: String,
    /// Soft freezes: an approval by one of these roles lets a change in.
    #[serde(default)]
    pub approver_roles: Vec<String>,
}

/// Builds a calendar rule from its textual parts (policy files, GraphQL).
pub fn calendar_rule(
    name: &str,
    dtstart: &str,
    rrule: Option<&str>,
    duration_minutes: u32,
    time_zone: &str,
) -> Result<CalendarRule, crate::domain::ValidationError> {
    use crate::domain::ValidationError;
    let dtstart = chrono::NaiveDateTime::parse_from_str(dtstart, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(dtstart, "%Y-%m-%dT%H:%M"))
        .map_err(|_| {
            ValidationError::new("dtstart", "expected local time YYYY-MM-DDTHH:MM[:SS]")
        })?;
    let time_zone: chrono_tz::Tz = time_zone.parse().map_err(|_| {
        ValidationError::new(
            "timeZone",
            format!("`{time_zone}` is not an IANA time zone"),
        )
    })?;
    let rule = CalendarRule {
        name: name.to_owned(),
        dtstart,
        rrule: rrule.map(str::to_owned),
        duration_minutes,
        time_zone,
    };
    rule.validate()?;
    Ok(rule)
}

impl PolicyWindow {
    pub fn to_window(&self) -> Result<Window, crate::domain::ValidationError> {
        Ok(Window {
            rule: calendar_rule(
                &self.name,
                &self.dtstart,
                self.rrule.as_deref(),
                self.duration_minutes,
                &self.time_zone,
            )?,
            change_types: self.change_types.clone(),
            source: RuleSource::Policy,
        })
    }
}

impl PolicyFreeze {
    pub fn to_freeze(&self) -> Result<Freeze, crate::domain::ValidationError> {
        Ok(Freeze {
            rule: calendar_rule(
                &self.name,
                &self.dtstart,
                self.rrule.as_deref(),
                self.duration_minutes,
                &self.time_zone,
            )?,
            kind: self.kind,
            approver_roles: self.approver_roles.clone(),
            source: RuleSource::Policy,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct BoardPolicy {
    pub name: String,
    /// Voting members that must have voted for a decision.
    pub quorum: u32,
    /// Voting seats the document describes (e.g. 5); informational, the
    /// server counts the members actually on the board.
    pub seats: u32,
    /// With a tie among the votes cast, the chair's vote decides.
    pub chair_breaks_ties: bool,
    /// When the board meets, as the document says it.
    pub meets: String,
    /// The roles the document puts on the board, for dashboards.
    #[serde(default)]
    pub composition: Vec<String>,
    /// What carries a decision: `simple` (more approvals than rejections,
    /// the default) or `two_thirds` (approvals at least two thirds of the
    /// votes cast; a deferral is a vote cast not in favour, a member who
    /// does not vote abstains and is not counted beyond the quorum).
    #[serde(default)]
    pub majority: Majority,
    /// Roles an account holds to be seated as chair, member or advisor
    /// (seed 000: the CTO chairs; CISO, System Owner, DevSecOps Lead and
    /// Compliance Officer sit); empty: anyone may be.
    #[serde(default)]
    pub chair_roles: Vec<String>,
    #[serde(default)]
    pub member_roles: Vec<String>,
    #[serde(default)]
    pub advisor_roles: Vec<String>,
    /// Every vote states its rationale, approvals too (seed 000: "CAB
    /// approval or rejection rationale"); rejections and deferrals always
    /// do.
    #[serde(default)]
    pub rationale_required: bool,
    /// When the board meets, as a recurrence (`[board.schedule]`): a
    /// meeting is scheduled at one of its starts, or off it only where
    /// `extraordinary_for` allows.
    pub schedule: Option<BoardSchedule>,
}

/// The board's meetings as a recurrence: local start of the first meeting,
/// RFC 5545 RRULE, length, IANA time zone (seed 000: Wednesdays 2:00 PM
/// ET; seed 001: Tuesdays 10:00 AM UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(name = "PolicyBoardSchedule")]
pub struct BoardSchedule {
    /// `YYYY-MM-DDTHH:MM:SS`, local to `time_zone`.
    pub dtstart: String,
    pub rrule: String,
    pub duration_minutes: u32,
    pub time_zone: String,
    /// Change types whose business may call a meeting off the schedule
    /// (seed 003: "Weekly, or as needed for emergency changes"): one is
    /// allowed, with its reason, while a change of one of these types is
    /// on the board's agenda. Empty: every meeting is on the schedule.
    #[serde(default)]
    pub extraordinary_for: Vec<String>,
}

impl BoardSchedule {
    pub fn to_rule(&self) -> Result<CalendarRule, crate::domain::ValidationError> {
        calendar_rule(
            "CAB meeting",
            &self.dtstart,
            Some(&self.rrule),
            self.duration_minutes,
            &self.time_zone,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum, Default)]
#[serde(rename_all = "snake_case")]
pub enum Majority {
    #[default]
    Simple,
    TwoThirds,
}

/// Category suggestion from likelihood and impact. The 1-5 ratings are
/// mapped onto the matrix's bands, then looked up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct RiskMatrix {
    pub description: String,
    /// Upper bound (inclusive, on the 1-5 scale) of each band, lowest band
    /// first; the last must be 5. Three bands make a 3x3 matrix.
    pub bands: Vec<i32>,
    /// `cells[impact_band][likelihood_band]`: the suggested change type key.
    pub cells: Vec<Vec<String>>,
    /// The matrix binds, not only suggests: the types it names, lowest
    /// first (`["standard", "normal", "major"]`). A change of one of them
    /// is submitted only as at least the type its ratings give; types not
    /// listed (emergencies, classified by urgency) are not bound. Empty:
    /// the matrix only suggests.
    #[serde(default)]
    pub binding_order: Vec<String>,
}

impl RiskMatrix {
    fn band(&self, rating: i32) -> usize {
        self.bands
            .iter()
            .position(|upper| rating <= *upper)
            .unwrap_or(self.bands.len().saturating_sub(1))
    }

    /// Where the matrix binds and both types are in its order: the type
    /// the ratings give, when `change_type` ranks below it.
    pub fn floor_above<'m>(&'m self, change_type: &str, suggested: &'m str) -> Option<&'m str> {
        let rank = |key: &str| self.binding_order.iter().position(|k| k == key);
        match (rank(change_type), rank(suggested)) {
            (Some(filed), Some(needed)) if filed < needed => Some(suggested),
            _ => None,
        }
    }

    /// The change type the matrix suggests for these ratings.
    pub fn suggest(&self, likelihood: i32, impact: i32) -> Option<&str> {
        self.cells
            .get(self.band(impact))
            .and_then(|row| row.get(self.band(likelihood)))
            .map(String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// A PASSED evidence record for the gate.
    Evidence,
    /// Evidence listing the reviewers; enough of them, enough senior.
    CodeReview,
    /// Evidence with finding counts; no unaddressed critical or high.
    Sast,
    /// The change's own rollback plan has the listed parts.
    RollbackPlan,
    /// The documentation evidence, recorded early enough.
    Documentation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(name = "PolicyGate")]
pub struct Gate {
    pub key: String,
    pub label: String,
    pub kind: GateKind,
    /// code_review: distinct reviewers needed.
    #[serde(default)]
    pub min_reviewers: u32,
    /// code_review: of which senior.
    #[serde(default)]
    pub min_senior_reviewers: u32,
    /// code_review: the roles that make a reviewer senior. Seniority is
    /// read from the reviewer's account, never from the record.
    #[serde(default)]
    pub senior_roles: Vec<String>,
    /// The evidence is a review by a person (QA, security review): the
    /// change's requester can neither record it nor satisfy it. Code
    /// reviews always are (`is_review`).
    #[serde(default)]
    pub review: bool,
    /// rollback_plan: the parts that must be present.
    #[serde(default)]
    pub required_parts: Vec<String>,
    /// documentation: at least this many hours before implementation starts.
    #[serde(default)]
    pub hours_before_start: u32,
    /// Roles that record the gate's evidence (seed 001 §5.3: QA review
    /// "Approved by QA team"); empty: the default recorders.
    #[serde(default)]
    pub recorded_by: Vec<String>,
    /// The gate applies only to changes carrying one of these attribute
    /// keys (a security review for authentication changes); empty: to
    /// every change of the types listing it.
    #[serde(default)]
    pub when_attributes: Vec<String>,
    /// Bounds on numbers in the evidence's data (`[[gate.condition]]`):
    /// a passing record meets the gate only within them.
    #[serde(rename = "condition", default)]
    pub conditions: Vec<GateCondition>,
    /// What the gate must be met before: the start (the default) or, for
    /// a post-implementation check (seed 000 "Post-Implementation
    /// Checklist"), the close, with evidence recorded after the start.
    #[serde(default)]
    pub before: GatePhase,
}

/// When a gate is checked: before implementation starts, or before the
/// change closes (a verification of what was implemented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum, Default)]
#[serde(rename_all = "snake_case")]
pub enum GatePhase {
    #[default]
    Start,
    Close,
}

/// A bound on one number the evidence records, e.g. unit-test coverage of
/// at least 80 % (seed 001 §5.3, seed 003 §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(name = "PolicyGateCondition")]
pub struct GateCondition {
    /// The key in the record's `data`, as recorded (`coveragePercent`);
    /// dots reach into nested objects (`tests.failed`).
    pub field: String,
    /// The number must be at least this.
    pub at_least: Option<f64>,
    /// The number must be at most this.
    pub at_most: Option<f64>,
}

impl Gate {
    /// Whether the gate records a review, which must be independent of the
    /// change's requester.
    pub fn is_review(&self) -> bool {
        self.review || self.kind == GateKind::CodeReview
    }

    /// Whether the gate applies to a change carrying `attributes`.
    pub fn applies_to(&self, attributes: &[String]) -> bool {
        self.when_attributes.is_empty()
            || self.when_attributes.iter().any(|a| attributes.contains(a))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalRule {
    /// One approval by a holder of any listed role.
    #[default]
    Any,
    /// One approval per listed role, each by a different person.
    All,
    /// `count` approvals by different holders of any listed role.
    NOf,
}

/// One requirement of a change type's approval; all steps must be met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(name = "PolicyApprovalStep")]
pub struct ApprovalStep {
    pub key: String,
    pub label: String,
    /// Role keys that may approve (empty for a board step).
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub rule: ApprovalRule,
    /// For `n_of` (required there, refused with `any` and `all`).
    pub count: Option<u32>,
    /// The step is decided by a vote of the board.
    #[serde(default)]
    pub board: bool,
    /// Backup approvers the document names: a holder of one of these roles
    /// may stand in for any missing approver of the step.
    #[serde(default)]
    pub substitutes: Vec<String>,
    /// When the step's approvals are given, in a type with retroactive
    /// approval: `any` (before or after the start), `before_start` (an
    /// approval the start waits for, e.g. a verbal approval), or
    /// `after_start` (the retroactive sign-off, counted only when given
    /// after implementation started).
    #[serde(default)]
    pub timing: StepTiming,
    /// Every decision of the step states its reason, approvals too (seed
    /// 001: "Approve or reject (with reason)"); rejections and deferrals
    /// always do.
    #[serde(default)]
    pub rationale_required: bool,
    /// Keys of earlier steps that must be met before this step decides
    /// (seed 001 §3.2: the Change Manager reviews a major change before it
    /// goes to the CAB).
    #[serde(default)]
    pub after: Vec<String>,
    /// Gate keys of the type that must be met before this step approves
    /// (seed 001 §3.2, normal changes: "Verify testing completed", then
    /// "Approve or reject"). A rejection may come at any time.
    #[serde(default)]
    pub after_gates: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum, Default)]
#[serde(rename_all = "snake_case")]
pub enum StepTiming {
    #[default]
    Any,
    BeforeStart,
    AfterStart,
}

impl StepTiming {
    /// Whether an approval given before (`false`) or after (`true`) the
    /// start counts for a step of this timing.
    pub fn counts(self, given_after_start: bool) -> bool {
        match self {
            Self::Any => true,
            Self::BeforeStart => !given_after_start,
            Self::AfterStart => given_after_start,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(name = "PolicyChangeType")]
pub struct ChangeType {
    /// Stable key stored on changes (`standard`, `normal`, `major`, `emergency`).
    pub key: String,
    /// The document's own name for the type (`Standard Changes (P2)`).
    pub label: String,
    pub description: String,
    /// What the document says about approval, verbatim in spirit.
    pub approval_summary: String,
    /// Pre-approved: submitting approves it (standard changes).
    #[serde(default)]
    pub pre_approved: bool,
    /// Must reference a template of the standard change catalog.
    #[serde(default)]
    pub requires_template: bool,
    /// What the request must state before it can be submitted; submitting
    /// without it is refused item by item.
    #[serde(default)]
    pub required_information: Vec<RequiredItem>,
    /// The highest risk level a change of this type may carry (residual
    /// risk when mitigations were assessed, inherent otherwise): a
    /// pre-approved type is for low-risk changes only.
    pub max_risk_level: Option<RiskLevel>,
    /// The deployment methods a change of this type may use (seed 001
    /// §6.1); empty allows any, including none stated.
    #[serde(default)]
    pub deployment_methods: Vec<DeploymentMethod>,
    /// All steps must be met.
    #[serde(rename = "approval", default)]
    pub approvals: Vec<ApprovalStep>,
    /// Gate keys required before implementation starts.
    #[serde(default)]
    pub gates: Vec<String>,
    /// Minimum hours between scheduling and the scheduled start.
    #[serde(default)]
    pub notice_hours: u32,
    /// Must be implemented within this many hours of approval: the slot
    /// must start by then, and an approved change not started by then is
    /// overdue (`IMPLEMENTATION`) even when never scheduled.
    pub implement_within_hours: Option<u32>,
    /// The approval is due this many minutes after submission (seed 000:
    /// the CISO or CTO approves an emergency "within 30 minutes"); past it
    /// the change is overdue (`APPROVAL`).
    pub approve_within_minutes: Option<u32>,
    /// The approvers answer (a first decision: approve, reject or defer)
    /// within this many hours of submission (seed 004: "Response Time: 24
    /// hours for standard changes"); past it the change is overdue
    /// (`RESPONSE`).
    pub respond_within_hours: Option<u32>,
    /// Monitored this many hours after implementation ends before it may
    /// close (seed 001 §6.2: 1 hour for normal, 24 for major changes).
    pub monitor_hours: Option<u32>,
    /// A failed or rolled-back change goes before the board at its next
    /// meeting, and closes only with the board's review (seed 000
    /// "Schedule CAB review for failed change").
    #[serde(default)]
    pub board_review_after_rollback: bool,
    /// Emergency handling, when the type is an emergency type.
    pub emergency: Option<EmergencyRules>,
    /// A post-implementation review is required before closing.
    #[serde(default)]
    pub review_required: bool,
    /// What every review of a change of this type states.
    #[serde(default)]
    pub review_contents: Vec<ReviewItem>,
    /// What a review states, in addition, when the change failed or was
    /// rolled back (seed 000 "Post-Rollback Procedures").
    #[serde(default)]
    pub rollback_review_contents: Vec<ReviewItem>,
    /// Who may take which action on a change of this type, where the
    /// document names them (`[change_type.authority]`).
    #[serde(default)]
    pub authority: Authority,
    /// What a change of this type needs, beyond its own approvals and
    /// gates, to start while a freeze is in force (seed 001 §6.3: "During
    /// Change Freeze: CAB approval required for all changes; Additional
    /// testing required").
    pub in_freeze: Option<InFreeze>,
}

/// `[change_type.in_freeze]`: read at the start, when the change's slot
/// (or, for a change started without one, the moment it starts) falls in a
/// freeze in force, a policy's or one created at run time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(name = "PolicyInFreeze")]
pub struct InFreeze {
    /// The CAB approves the start: freeze-entry approvals
    /// (`approveFreezeEntry`) from voting members, carried as the board
    /// carries a decision between meetings (quorum, and more than half of
    /// the voting members).
    #[serde(default)]
    pub board_approval: bool,
    /// Gate keys required in addition to the type's own gates.
    #[serde(default)]
    pub gates: Vec<String>,
}

/// Who may act on a change of one type, where the document says so. An
/// empty list keeps Gatehouse's default (the requester, the change manager
/// or an implementer); a non-empty one replaces it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(name = "PolicyAuthority")]
pub struct Authority {
    /// Roles that may roll the change back.
    #[serde(default)]
    pub roll_back: Vec<String>,
    /// Any CAB member may also roll it back when the rollback is a critical
    /// outage (recorded as a P1 incident).
    #[serde(default)]
    pub roll_back_board_when_critical: bool,
    /// Roles that record the change's post-implementation and
    /// post-emergency reviews (seed 004: the Security Officer reviews
    /// emergencies); board reviews stay the CAB's.
    #[serde(default)]
    pub review: Vec<String>,
    /// Roles that start and complete another person's change (seed 000
    /// "DevSecOps Lead: Execute changes"); the requester always may.
    /// Empty: a change manager or an implementer.
    #[serde(default)]
    pub implement: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct EmergencyRules {
    /// Implementation may start before approval; approval follows.
    pub retroactive_approval: bool,
    /// Hours after implementation starts by which the approval is due.
    pub approval_deadline_hours: Option<u32>,
    /// Hours after implementation starts by which documentation is due.
    pub documentation_deadline_hours: Option<u32>,
    /// Count `documentation_deadline_hours` from the end of implementation
    /// instead of its start (seed 003 §3.1: "Post-implementation within 24
    /// hours").
    #[serde(default)]
    pub documentation_from_end: bool,
    /// Days after implementation ends by which the review is due.
    pub review_deadline_days: Option<u32>,
    /// Count only Monday-Friday for `review_deadline_days`.
    #[serde(default)]
    pub review_business_days: bool,
    /// The board reviews the change at its next meeting.
    #[serde(default)]
    pub board_review: bool,
}

#[ComplexObject]
impl Policy {
    /// The metric targets the document sets; every metrics bucket reports
    /// whether its period met them.
    async fn targets(&self) -> Vec<PolicyTarget> {
        self.targets.iter().map(PolicyTarget::from).collect()
    }
}

/// The version of a policy whose canonical source is `text`.
pub fn version_of(text: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

impl Policy {
    /// Loads a preset by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<Self, PolicyError> {
        if let Some((_, text)) = PRESETS.iter().find(|(name, _)| *name == name_or_path) {
            return Self::parse(name_or_path, text);
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|source| PolicyError::Read {
            path: format!(
                "{name_or_path} (not a preset either: {})",
                PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            source,
        })?;
        Self::parse(name_or_path, &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Self, PolicyError> {
        let mut policy: Policy = toml::from_str(text).map_err(|error| PolicyError::Invalid {
            name: name.to_owned(),
            message: error.to_string(),
        })?;
        policy.version = version_of(text);
        policy.check().map_err(|message| PolicyError::Invalid {
            name: name.to_owned(),
            message,
        })?;
        Ok(policy)
    }

    /// Consistency a TOML parser cannot check: references resolve, counts
    /// are achievable, role keys are well-formed.
    fn check(&self) -> Result<(), String> {
        if self.change_types.is_empty() {
            return Err("defines no change types".into());
        }
        let production = &self.deployments.production_environments;
        if production.is_empty() || production.iter().any(|name| name.trim().is_empty()) {
            return Err(
                "deployments.production_environments: name at least one environment, none blank (leave the key out for production and prod)".into(),
            );
        }
        let mut rollback_kinds = BTreeSet::new();
        for objective in &self.rollback_objectives {
            if !rollback_kinds.insert(objective.kind.as_str()) {
                return Err(format!(
                    "rollback_objective `{}` defined twice",
                    objective.kind
                ));
            }
            roles::parse_roles([&objective.kind]).map_err(|_| {
                format!(
                    "rollback_objective `{}`: a kind is lowercase letters, digits and _, starting with a letter",
                    objective.kind
                )
            })?;
            if objective.label.trim().is_empty() {
                return Err(format!(
                    "rollback_objective `{}`: give the label the document uses",
                    objective.kind
                ));
            }
            if !(1..=MAX_RESTORE_MINUTES).contains(&objective.restore_within_minutes) {
                return Err(format!(
                    "rollback_objective `{}`: restore_within_minutes is 1 to {MAX_RESTORE_MINUTES}",
                    objective.kind
                ));
            }
        }
        let mut attribute_keys = BTreeSet::new();
        for attribute in &self.attributes {
            if !attribute_keys.insert(attribute.key.as_str()) {
                return Err(format!("attribute `{}` defined twice", attribute.key));
            }
            roles::parse_roles([&attribute.key]).map_err(|_| {
                format!(
                    "attribute `{}`: a key is lowercase letters, digits and _, starting with a letter",
                    attribute.key
                )
            })?;
        }
        let mut gate_keys = BTreeSet::new();
        for gate in &self.gates {
            if let Some(unknown) = gate
                .when_attributes
                .iter()
                .find(|a| !attribute_keys.contains(a.as_str()))
            {
                return Err(format!(
                    "gate `{}`: when_attributes names `{unknown}`, which no [[attribute]] defines",
                    gate.key
                ));
            }
            if !gate_keys.insert(gate.key.as_str()) {
                return Err(format!("gate `{}` defined twice", gate.key));
            }
            if gate.kind == GateKind::CodeReview && gate.min_senior_reviewers > gate.min_reviewers {
                return Err(format!(
                    "gate `{}`: more senior reviewers than reviewers",
                    gate.key
                ));
            }
            if gate.min_senior_reviewers > 0 && gate.senior_roles.is_empty() {
                return Err(format!(
                    "gate `{}`: senior reviewers need `senior_roles`, the roles that make a reviewer senior",
                    gate.key
                ));
            }
            role_keys(&gate.recorded_by)
                .map_err(|e| format!("gate `{}`: recorded_by: {}", gate.key, e.message))?;
            role_keys(&gate.senior_roles)
                .map_err(|e| format!("gate `{}`: senior_roles: {}", gate.key, e.message))?;
            // A part name that does not exist would quietly drop the check
            // for that part.
            for part in &gate.required_parts {
                if !crate::domain::change::RollbackPlan::PARTS.contains(&part.as_str()) {
                    return Err(format!(
                        "gate `{}`: required_parts names `{part}`, which is not a part of a rollback plan ({})",
                        gate.key,
                        crate::domain::change::RollbackPlan::PARTS.join(", ")
                    ));
                }
            }
            for condition in &gate.conditions {
                let bad = |why: &str| {
                    Err(format!(
                        "gate `{}` condition on `{}`: {why}",
                        gate.key, condition.field
                    ))
                };
                if condition.field.trim().is_empty()
                    || condition.field.split('.').any(str::is_empty)
                {
                    return bad("field names a key of the evidence data, like `coveragePercent`");
                }
                match (condition.at_least, condition.at_most) {
                    (None, None) => return bad("give at_least, at_most or both"),
                    (Some(low), Some(high)) if low > high => {
                        return bad("at_least is above at_most, so no record could meet it");
                    }
                    (low, high) if low.into_iter().chain(high).any(|b| !b.is_finite()) => {
                        return bad("bounds are finite numbers");
                    }
                    _ => {}
                }
                if gate.kind == GateKind::RollbackPlan {
                    return bad("a rollback_plan gate reads the change's plan, not evidence data");
                }
            }
            if gate.before == GatePhase::Close {
                let why = match gate.kind {
                    GateKind::RollbackPlan => Some("a rollback plan is needed before the start"),
                    GateKind::Documentation => Some(
                        "documentation gates mark an emergency documented; use an evidence gate for a post-implementation check",
                    ),
                    _ => None,
                };
                if let Some(why) = why {
                    return Err(format!("gate `{}`: before = \"close\": {why}", gate.key));
                }
            }
            // A key read only by another kind would look enforced and not be.
            let foreign = [
                (
                    "min_reviewers",
                    gate.min_reviewers > 0,
                    GateKind::CodeReview,
                ),
                (
                    "min_senior_reviewers",
                    gate.min_senior_reviewers > 0,
                    GateKind::CodeReview,
                ),
                (
                    "senior_roles",
                    !gate.senior_roles.is_empty(),
                    GateKind::CodeReview,
                ),
                (
                    "required_parts",
                    !gate.required_parts.is_empty(),
                    GateKind::RollbackPlan,
                ),
                (
                    "hours_before_start",
                    gate.hours_before_start > 0,
                    GateKind::Documentation,
                ),
            ];
            if let Some((name, _, kind)) = foreign
                .iter()
                .find(|(_, given, kind)| *given && *kind != gate.kind)
            {
                return Err(format!(
                    "gate `{}`: {name} applies to {kind:?} gates only, and this gate is {:?}",
                    gate.key, gate.kind
                ));
            }
            if gate.kind == GateKind::RollbackPlan && gate.required_parts.is_empty() {
                return Err(format!(
                    "gate `{}`: a rollback_plan gate names its required_parts",
                    gate.key
                ));
            }
        }
        let mut type_keys = BTreeSet::new();
        for change_type in &self.change_types {
            let key = &change_type.key;
            if !type_keys.insert(key.as_str()) {
                return Err(format!("change type `{key}` defined twice"));
            }
            if change_type.pre_approved && !change_type.approvals.is_empty() {
                return Err(format!(
                    "change type `{key}` is pre-approved and also has approval steps; it is one or the other"
                ));
            }
            if let Some(emergency) = &change_type.emergency
                && emergency.retroactive_approval
                && emergency.approval_deadline_hours.is_none()
            {
                return Err(format!(
                    "change type `{key}`: a retroactive approval needs approval_deadline_hours, the time it is due after the start"
                ));
            }
            if let Some(emergency) = &change_type.emergency
                && !emergency.retroactive_approval
                && emergency.approval_deadline_hours.is_some()
            {
                return Err(format!(
                    "change type `{key}`: approval_deadline_hours counts from the start for a retroactive approval; without retroactive_approval it would do nothing (an approval due after submission is approve_within_minutes)"
                ));
            }
            if change_type.approve_within_minutes.is_some()
                && (change_type.pre_approved
                    || change_type
                        .emergency
                        .as_ref()
                        .is_some_and(|e| e.retroactive_approval))
            {
                return Err(format!(
                    "change type `{key}`: approve_within_minutes counts from submission to an approval before the start; a pre-approved or retroactively approved type has none"
                ));
            }
            if change_type.respond_within_hours.is_some() && change_type.pre_approved {
                return Err(format!(
                    "change type `{key}`: respond_within_hours asks approvers to answer, and a pre-approved type has none"
                ));
            }
            if change_type.board_review_after_rollback && self.board.is_none() {
                return Err(format!(
                    "change type `{key}`: board_review_after_rollback needs a [board]"
                ));
            }
            if let Some(emergency) = &change_type.emergency
                && emergency.documentation_from_end
                && emergency.documentation_deadline_hours.is_none()
            {
                return Err(format!(
                    "change type `{key}`: documentation_from_end needs documentation_deadline_hours to count"
                ));
            }
            if !change_type.pre_approved && change_type.approvals.is_empty() {
                return Err(format!(
                    "change type `{key}` is neither pre-approved nor has approval steps"
                ));
            }
            for gate in &change_type.gates {
                if !gate_keys.contains(gate.as_str()) {
                    return Err(format!(
                        "change type `{key}` requires unknown gate `{gate}`"
                    ));
                }
            }
            if let Some(in_freeze) = &change_type.in_freeze {
                if !in_freeze.board_approval && in_freeze.gates.is_empty() {
                    return Err(format!(
                        "change type `{key}`: [change_type.in_freeze] asks for nothing; set board_approval or gates, or remove it"
                    ));
                }
                if in_freeze.board_approval && self.board.is_none() {
                    return Err(format!(
                        "change type `{key}`: in_freeze.board_approval needs a [board]"
                    ));
                }
                for gate in &in_freeze.gates {
                    if !gate_keys.contains(gate.as_str()) {
                        return Err(format!(
                            "change type `{key}`: in_freeze requires unknown gate `{gate}`"
                        ));
                    }
                    if self
                        .gate(gate)
                        .is_some_and(|g| g.before == GatePhase::Close)
                    {
                        return Err(format!(
                            "change type `{key}`: in_freeze gate `{gate}` is checked before the close; what a freeze adds is needed before the start"
                        ));
                    }
                    if change_type.gates.contains(gate) {
                        return Err(format!(
                            "change type `{key}`: gate `{gate}` is required always and again in_freeze; list it once"
                        ));
                    }
                }
            }
            let mut step_keys = BTreeSet::new();
            if let Some(step) = change_type
                .approvals
                .iter()
                .find(|step| !step_keys.insert(step.key.as_str()))
            {
                return Err(format!(
                    "change type `{key}` has two approval steps keyed `{}`; votes and the API name steps by key",
                    step.key
                ));
            }
            if let Some(emergency) = &change_type.emergency
                && emergency.review_business_days
                && emergency.review_deadline_days.is_none()
            {
                return Err(format!(
                    "change type `{key}`: review_business_days needs review_deadline_days to count"
                ));
            }
            for (index, step) in change_type.approvals.iter().enumerate() {
                let earlier: Vec<&str> = change_type.approvals[..index]
                    .iter()
                    .map(|s| s.key.as_str())
                    .collect();
                if let Some(unknown) = step.after.iter().find(|k| !earlier.contains(&k.as_str())) {
                    return Err(format!(
                        "change type `{key}` step `{}`: after names `{unknown}`, which is not an earlier step of the type",
                        step.key
                    ));
                }
                // Only a gate the type requires before its start can be
                // waited for: any other would never be asked, or only
                // after the implementation the approval comes before.
                if let Some(gate) = step.after_gates.iter().find(|g| {
                    !change_type.gates.contains(g)
                        || self
                            .gate(g)
                            .is_none_or(|gate| gate.before != GatePhase::Start)
                }) {
                    return Err(format!(
                        "change type `{key}` step `{}`: after_gates names `{gate}`, which is not a gate the type requires before its start",
                        step.key
                    ));
                }
            }
            for step in &change_type.approvals {
                if step.board && self.board.is_none() {
                    return Err(format!(
                        "change type `{key}` step `{}` needs a [board]",
                        step.key
                    ));
                }
                let retroactive = change_type
                    .emergency
                    .as_ref()
                    .is_some_and(|e| e.retroactive_approval);
                if step.timing != StepTiming::Any && !retroactive {
                    return Err(format!(
                        "change type `{key}` step `{}`: timing only matters where approval may follow the start (retroactive_approval)",
                        step.key
                    ));
                }
                if step.board && !step.roles.is_empty() {
                    return Err(format!(
                        "change type `{key}` step `{}` is a board vote and also lists roles; a board step's voters are its members (backups go in `substitutes`)",
                        step.key
                    ));
                }
                if !step.board && step.roles.is_empty() {
                    return Err(format!(
                        "change type `{key}` step `{}` names no roles",
                        step.key
                    ));
                }
                match (step.rule, step.count) {
                    (ApprovalRule::NOf, None | Some(0)) => {
                        return Err(format!(
                            "change type `{key}` step `{}`: rule n_of needs a count of at least 1",
                            step.key
                        ));
                    }
                    (ApprovalRule::Any | ApprovalRule::All, Some(_)) => {
                        return Err(format!(
                            "change type `{key}` step `{}`: count only applies to rule = \"n_of\" (any takes one approval, all one per role)",
                            step.key
                        ));
                    }
                    _ => {}
                }
                if let Some(role) = step
                    .roles
                    .iter()
                    .chain(&step.substitutes)
                    .find(|r| NEVER_APPROVE.contains(&r.as_str()))
                {
                    return Err(format!(
                        "change type `{key}` step `{}`: `{role}` accounts can never approve (auditors only read, service accounts hold no approval power)",
                        step.key
                    ));
                }
                role_keys(step.roles.iter().chain(&step.substitutes)).map_err(|e| {
                    format!("change type `{key}` step `{}`: {}", step.key, e.message)
                })?;
            }
            // One person may approve once before and once after the start
            // only where every step says which of the two it takes.
            let timings: BTreeSet<_> = change_type
                .approvals
                .iter()
                .map(|s| format!("{:?}", s.timing))
                .collect();
            if timings.contains("AfterStart") && timings.contains("Any") {
                return Err(format!(
                    "change type `{key}` has an after_start step: give every step of it a timing (before_start or after_start)"
                ));
            }
            let authority = &change_type.authority;
            role_keys(&authority.roll_back)
                .map_err(|e| format!("change type `{key}` authority.roll_back: {}", e.message))?;
            role_keys(&authority.review)
                .map_err(|e| format!("change type `{key}` authority.review: {}", e.message))?;
            role_keys(&authority.implement)
                .map_err(|e| format!("change type `{key}` authority.implement: {}", e.message))?;
            if authority.roll_back_board_when_critical && self.board.is_none() {
                return Err(format!(
                    "change type `{key}` authority.roll_back_board_when_critical needs a [board]"
                ));
            }
        }
        if let Some(matrix) = &self.risk_matrix {
            if matrix.bands.last() != Some(&5) || matrix.cells.len() != matrix.bands.len() {
                return Err(
                    "risk_matrix: bands must end at 5 and have one row of cells each".into(),
                );
            }
            if matrix.bands.first().is_some_and(|b| *b < 1)
                || matrix.bands.windows(2).any(|w| w[0] >= w[1])
            {
                return Err(
                    "risk_matrix: bands are upper bounds on the 1-5 scale, strictly increasing"
                        .into(),
                );
            }
            if let Some(row) = matrix
                .cells
                .iter()
                .position(|row| row.len() != matrix.bands.len())
            {
                return Err(format!(
                    "risk_matrix: cells row {row} has {} entries; each row has one per band ({})",
                    matrix.cells[row].len(),
                    matrix.bands.len()
                ));
            }
            for cell in matrix.cells.iter().flatten() {
                if !type_keys.contains(cell.as_str()) {
                    return Err(format!("risk_matrix suggests unknown change type `{cell}`"));
                }
            }
            // A binding order ranks every type the matrix can give, each
            // once; a type missing from it would never be bound.
            if !matrix.binding_order.is_empty() {
                let mut ranked = BTreeSet::new();
                for key in &matrix.binding_order {
                    if !type_keys.contains(key.as_str()) {
                        return Err(format!(
                            "risk_matrix: binding_order names unknown change type `{key}`"
                        ));
                    }
                    if !ranked.insert(key.as_str()) {
                        return Err(format!("risk_matrix: binding_order lists `{key}` twice"));
                    }
                }
                if let Some(cell) = matrix
                    .cells
                    .iter()
                    .flatten()
                    .find(|cell| !ranked.contains(cell.as_str()))
                {
                    return Err(format!(
                        "risk_matrix: binding_order leaves out `{cell}`, which the cells give"
                    ));
                }
            }
        }
        let mut rule_names = BTreeSet::new();
        for name in self
            .windows
            .iter()
            .map(|w| &w.name)
            .chain(self.freezes.iter().map(|f| &f.name))
        {
            if !rule_names.insert(name.as_str()) {
                return Err(format!(
                    "window or freeze `{name}` defined twice; calendar clients tell them apart by name"
                ));
            }
        }
        role_keys(&self.calendar.roles).map_err(|e| format!("calendar.roles: {}", e.message))?;
        if self.calendar.board && self.board.is_none() {
            return Err("calendar.board lets the CAB edit the calendar and needs a [board]".into());
        }
        for window in &self.windows {
            if window.change_types.is_empty() {
                return Err(format!(
                    "window `{}` lists no change_types, so it binds nothing",
                    window.name
                ));
            }
            // A rule that never occurs would cost every expansion the
            // rrule crate's whole step limit; checked once, here.
            window
                .to_window()
                .and_then(|w| w.rule.check_occurs())
                .map_err(|e| format!("window `{}`: {e}", window.name))?;
            for key in &window.change_types {
                if !type_keys.contains(key.as_str()) {
                    return Err(format!(
                        "window `{}` names unknown change type `{key}`",
                        window.name
                    ));
                }
            }
        }
        for freeze in &self.freezes {
            freeze
                .to_freeze()
                .and_then(|f| f.rule.check_occurs())
                .map_err(|e| format!("freeze `{}`: {e}", freeze.name))?;
            role_keys(&freeze.approver_roles)
                .map_err(|e| format!("freeze `{}`: approver_roles: {}", freeze.name, e.message))?;
            if let Some(role) = freeze
                .approver_roles
                .iter()
                .find(|r| NEVER_APPROVE.contains(&r.as_str()))
            {
                return Err(format!(
                    "freeze `{}`: approver_roles: `{role}` accounts can never approve",
                    freeze.name
                ));
            }
            match freeze.kind {
                FreezeKind::Soft if freeze.approver_roles.is_empty() => {
                    return Err(format!(
                        "freeze `{}` is soft but names no approver_roles, so nobody could let a change in",
                        freeze.name
                    ));
                }
                FreezeKind::Hard if !freeze.approver_roles.is_empty() => {
                    return Err(format!(
                        "freeze `{}` is hard (only emergency changes) and lists approver_roles, which a hard freeze never asks",
                        freeze.name
                    ));
                }
                _ => {}
            }
        }

        if let Some(board) = &self.board {
            if board.quorum == 0 || board.quorum > board.seats {
                return Err("board: quorum must be between 1 and the number of seats".into());
            }
            for (name, keys) in [
                ("chair_roles", &board.chair_roles),
                ("member_roles", &board.member_roles),
                ("advisor_roles", &board.advisor_roles),
            ] {
                role_keys(keys).map_err(|e| format!("board.{name}: {}", e.message))?;
            }
            if board.majority == Majority::TwoThirds && board.chair_breaks_ties {
                return Err(
                    "board: a two-thirds majority has no ties for the chair to break; drop chair_breaks_ties".into(),
                );
            }
            if let Some(schedule) = &board.schedule {
                let rule = schedule
                    .to_rule()
                    .map_err(|e| format!("board.schedule: {e}"))?;
                rule.check_occurs()
                    .map_err(|e| format!("board.schedule: {e}"))?;
                for key in &schedule.extraordinary_for {
                    if self.change_type(key).is_none() {
                        return Err(format!(
                            "board.schedule: extraordinary_for names unknown change type `{key}`"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Entries that are legitimate but rarely what a document means: shown
    /// by `gatehouse policy check` and logged when the server starts.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.audit_retention_years == Some(0) {
            warnings.push(
                "audit_retention_years = 0: every audit event may be purged as soon as it is written; SOC 2 evidence is usually kept for years (leave the key out to keep everything)".to_owned(),
            );
        }
        for change_type in &self.change_types {
            if change_type.pre_approved && change_type.max_risk_level.is_none() {
                warnings.push(format!(
                    "change type `{}` is pre-approved at any risk; documents usually pre-approve low-risk changes only (max_risk_level = \"low\")",
                    change_type.key
                ));
            }
        }
        warnings
    }

    pub fn attribute_keys(&self) -> Vec<&str> {
        self.attributes.iter().map(|a| a.key.as_str()).collect()
    }

    pub fn change_type_keys(&self) -> Vec<&str> {
        self.change_types.iter().map(|t| t.key.as_str()).collect()
    }

    pub fn change_type(&self, key: &str) -> Option<&ChangeType> {
        self.change_types.iter().find(|t| t.key == key)
    }

    /// Every role key that confers approval power under this policy: the
    /// approvers and substitutes of every approval step, and the roles
    /// whose approval lets a change into a soft freeze. The CAB's seats
    /// are accounts (board membership), not roles.
    pub fn approval_roles(&self) -> BTreeSet<String> {
        self.change_types
            .iter()
            .flat_map(|t| &t.approvals)
            .flat_map(|step| step.roles.iter().chain(&step.substitutes))
            .chain(self.freezes.iter().flat_map(|f| &f.approver_roles))
            .cloned()
            .collect()
    }

    pub fn gate(&self, key: &str) -> Option<&Gate> {
        self.gates.iter().find(|g| g.key == key)
    }
}

#[cfg(test)]
mod tests;

//! The change lifecycle: which transitions the state machine and the policy
//! allow, as pure functions over a snapshot of the change.
//!
//! ```text
//! DRAFT -> (submit) AWAITING_APPROVAL -> APPROVED -> SCHEDULED -> IMPLEMENTING
//!       -> IMPLEMENTED -> CLOSED
//! AWAITING_APPROVAL -> REJECTED (revise: back to DRAFT) | DEFERRED (next CAB)
//! IMPLEMENTING -> ROLLED_BACK -> (review) -> CLOSED
//! IMPLEMENTING -> FAILED -> CLOSED
//! DRAFT..SCHEDULED -> CANCELLED
//! ```
//! Submitting records `submitted_at` and moves the change straight on to
//! AWAITING_APPROVAL (or APPROVED when the type is pre-approved); SUBMITTED
//! is kept for records imported from other tools.
//!
//! Every refusal lists all unmet rules, not just the first.

use chrono::{DateTime, Utc};
use entity::{ChangeOutcome, ChangeStatus, DeploymentMethod, ReviewKind, RiskLevel};

use super::violation::{Violation, ViolationCode};
use super::{
    ValidationError,
    approval::{ApprovalState, Outcome},
    change::RequiredItem,
    deadlines,
};
use crate::policy::{ChangeType, RollbackObjective};

/// Everything the rules need to know about a change, as plain data.
#[derive(Debug, Clone)]
pub struct ChangeFacts<'a> {
    pub status: ChangeStatus,
    pub change_type: &'a ChangeType,
    pub approval: &'a ApprovalState,
    /// Gates not met if implementation started now.
    pub unmet_gates: Vec<Violation>,
    /// Post-implementation gates (`before = "close"`) not met by evidence
    /// recorded since the start: an implemented change closes once they are.
    pub unmet_close_gates: Vec<Violation>,
    /// What the windows and freezes in force now say of the scheduled
    /// slot: a freeze created after the change was scheduled binds it too.
    pub calendar_violations: Vec<Violation>,
    pub has_template: bool,
    /// What the type's `required_information` asks and the request lacks.
    pub missing_information: Vec<RequiredItem>,
    /// The change's effective risk level (residual when assessed).
    pub risk_level: RiskLevel,
    /// The type the policy's risk matrix suggests for the ratings.
    pub suggested_type: Option<String>,
    /// Where the matrix binds and rates the change above its type: the
    /// type it gives (`[risk_matrix] binding_order`).
    pub required_type: Option<String>,
    /// How the change will be deployed, as its plan says.
    pub deployment_method: Option<DeploymentMethod>,
    pub approved_at: Option<DateTime<Utc>>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub scheduled_end: Option<DateTime<Utc>>,
    /// When implementation ended (completed, failed or rolled back).
    pub actual_end: Option<DateTime<Utc>>,
    /// When an approved change is due to have started.
    pub implementation_due_at: Option<DateTime<Utc>>,
    /// When the approvers' first decision is due, and when it came.
    pub response_due_at: Option<DateTime<Utc>>,
    pub responded_at: Option<DateTime<Utc>>,
    pub actual_start: Option<DateTime<Utc>>,
    pub approval_due_at: Option<DateTime<Utc>>,
    pub documentation_due_at: Option<DateTime<Utc>>,
    pub documented_at: Option<DateTime<Utc>>,
    pub review_due_at: Option<DateTime<Utc>>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// A BOARD review is on record.
    pub board_reviewed: bool,
    /// When the CAB's review is due (set when implementation ended).
    pub board_review_due_at: Option<DateTime<Utc>>,
    /// The end of the board's next scheduled meeting from now, where the
    /// policy sets a schedule: what an end of implementation makes the
    /// CAB review's deadline. Read only by `complete` and `roll_back`.
    pub next_board_meeting_end: Option<DateTime<Utc>>,
    /// When a rollback must have restored service (its kind's objective),
    /// and when its incident says service was restored.
    pub restore_due_at: Option<DateTime<Utc>>,
    pub restored_at: Option<DateTime<Utc>>,
}

pub fn status_name(status: ChangeStatus) -> String {
    enum_name(status)
}

/// An enum value as clients write it (`CRITICAL`, `BLUE_GREEN`).
fn enum_name(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn must_be_in(status: ChangeStatus, allowed: &[ChangeStatus], action: &str) -> Vec<Violation> {
    if allowed.contains(&status) {
        Vec::new()
    } else {
        vec![Violation::new(
            ViolationCode::WrongStatus,
            format!(
                "cannot {action} a change that is {}; allowed from {}",
                status_name(status),
                allowed
                    .iter()
                    .map(|s| status_name(*s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )]
    }
}

fn refuse_or<T>(violations: Vec<Violation>, next: T) -> Result<T, Vec<Violation>> {
    if violations.is_empty() {
        Ok(next)
    } else {
        Err(violations)
    }
}

fn is_emergency(facts: &ChangeFacts<'_>) -> bool {
    facts.change_type.emergency.is_some()
}

fn retroactive(facts: &ChangeFacts<'_>) -> bool {
    facts
        .change_type
        .emergency
        .as_ref()
        .is_some_and(|e| e.retroactive_approval)
}

/// DRAFT -> AWAITING_APPROVAL, or APPROVED for a pre-approved type.
pub fn submit(facts: &ChangeFacts<'_>) -> Result<ChangeStatus, Vec<Violation>> {
    let mut violations = must_be_in(facts.status, &[ChangeStatus::Draft], "submit");
    if facts.change_type.requires_template && !facts.has_template {
        violations.push(Violation::new(
            ViolationCode::TemplateMissing,
            format!(
                "template missing: a {} change must reference a standard change catalog template",
                facts.change_type.key
            ),
        ));
    }
    for item in &facts.missing_information {
        violations.push(Violation::new(
            ViolationCode::InformationMissing,
            format!(
                "information missing: a {} change states {} before it is submitted",
                facts.change_type.key,
                item.describe()
            ),
        ));
    }
    if let Some(ceiling) = facts.change_type.max_risk_level
        && facts.risk_level > ceiling
    {
        let suggestion = facts
            .suggested_type
            .as_deref()
            .filter(|suggested| *suggested != facts.change_type.key)
            .map(|suggested| format!("; the risk matrix suggests a {suggested} change"))
            .unwrap_or_default();
        violations.push(Violation::new(
            ViolationCode::RiskAboveCeiling,
            format!(
                "risk too high for the type: a {} change accepts at most {} risk and this one is {}{suggestion}",
                facts.change_type.key,
                enum_name(ceiling),
                enum_name(facts.risk_level),
            ),
        ));
    }
    // Above the type's ceiling is said once, with the matrix's suggestion.
    let above_ceiling = violations
        .iter()
        .any(|v| v.code == ViolationCode::RiskAboveCeiling);
    if let Some(required) = facts.required_type.as_ref().filter(|_| !above_ceiling) {
        violations.push(Violation::new(
            ViolationCode::RiskAboveType,
            format!(
                "the risk matrix rates this change {required}: a {} change with these likelihood and impact ratings is filed as {required} (or the ratings revised)",
                facts.change_type.key
            ),
        ));
    }
    let allowed = &facts.change_type.deployment_methods;
    if !allowed.is_empty()
        && facts
            .deployment_method
            .is_none_or(|method| !allowed.contains(&method))
    {
        let stated = facts.deployment_method.map_or_else(
            || "states none".to_owned(),
            |m| format!("says {}", enum_name(m)),
        );
        violations.push(Violation::new(
            ViolationCode::DeploymentMethodNotAllowed,
            format!(
                "deployment method not allowed: a {} change deploys by {} and this one {stated} (implementationPlan.deploymentMethod)",
                facts.change_type.key,
                allowed
                    .iter()
                    .map(|m| enum_name(*m))
                    .collect::<Vec<_>>()
                    .join(" or "),
            ),
        ));
    }
    let next = if facts.change_type.pre_approved {
        ChangeStatus::Approved
    } else {
        ChangeStatus::AwaitingApproval
    };
    refuse_or(violations, next)
}

/// Statuses in which decisions are taken. Emergency changes that started
/// before approval keep collecting their (retroactive) approval afterwards.
pub fn can_decide(facts: &ChangeFacts<'_>) -> Result<(), Vec<Violation>> {
    let mut allowed = vec![ChangeStatus::AwaitingApproval, ChangeStatus::Deferred];
    if retroactive(facts) && facts.approved_at.is_none() {
        allowed.extend([
            ChangeStatus::Implementing,
            ChangeStatus::Implemented,
            ChangeStatus::Failed,
            ChangeStatus::RolledBack,
        ]);
    }
    refuse_or(must_be_in(facts.status, &allowed, "decide on"), ())
}

/// A soft freeze's extra approval is given before implementation: while
/// the change is decided on, approved, or scheduled.
pub fn can_approve_freeze_entry(facts: &ChangeFacts<'_>) -> Result<(), Vec<Violation>> {
    refuse_or(
        must_be_in(
            facts.status,
            &[
                ChangeStatus::AwaitingApproval,
                ChangeStatus::Deferred,
                ChangeStatus::Approved,
                ChangeStatus::Scheduled,
            ],
            "approve a freeze entry for",
        ),
        (),
    )
}

/// The status after a decision was counted. Before implementation the
/// approval outcome moves the change; afterwards (retroactive approval) the
/// status stays and only the approval time is recorded.
pub fn after_decision(status: ChangeStatus, outcome: Outcome) -> ChangeStatus {
    if !matches!(
        status,
        ChangeStatus::AwaitingApproval | ChangeStatus::Deferred
    ) {
        return status;
    }
    match outcome {
        Outcome::Approved => ChangeStatus::Approved,
        Outcome::Rejected => ChangeStatus::Rejected,
        Outcome::Deferred => ChangeStatus::Deferred,
        Outcome::Pending => status,
    }
}

/// REJECTED or DEFERRED -> DRAFT, for the requester to revise.
pub fn revise(facts: &ChangeFacts<'_>) -> Result<ChangeStatus, Vec<Violation>> {
    refuse_or(
        must_be_in(
            facts.status,
            &[ChangeStatus::Rejected, ChangeStatus::Deferred],
            "revise",
        ),
        ChangeStatus::Draft,
    )
}

/// APPROVED (or SCHEDULED, to reschedule) -> SCHEDULED.
pub fn schedule(
    facts: &ChangeFacts<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ChangeStatus, Vec<Violation>> {
    let mut violations = must_be_in(
        facts.status,
        &[ChangeStatus::Approved, ChangeStatus::Scheduled],
        "schedule",
    );
    if end <= start {
        violations.push(Violation::new(
            ViolationCode::EndBeforeStart,
            "the scheduled end must be after the start",
        ));
    }
    if start < now {
        violations.push(Violation::new(
            ViolationCode::StartInPast,
            "the scheduled start is in the past",
        ));
    }
    let notice = facts.change_type.notice_hours;
    if notice > 0 && start < deadlines::after_hours(now, notice) {
        let given = (start - now).num_minutes().max(0) as f64 / 60.0;
        violations.push(Violation::new(
            ViolationCode::NoticePeriod,
            format!("notice period not met: {notice} hours required, {given:.1} hours given"),
        ));
    }
    if let (Some(hours), Some(approved_at)) =
        (facts.change_type.implement_within_hours, facts.approved_at)
        && start > deadlines::after_hours(approved_at, hours)
    {
        violations.push(Violation::new(
            ViolationCode::ImplementationDeadline,
            format!(
                "a {} change must be implemented within {hours} hours of approval",
                facts.change_type.key
            ),
        ));
    }
    refuse_or(violations, ChangeStatus::Scheduled)
}

/// What implementation start means for the deadlines of an emergency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StartDeadlines {
    pub approval_due_at: Option<DateTime<Utc>>,
    pub documentation_due_at: Option<DateTime<Utc>>,
}

/// Every reason implementation may not start at `now` (empty: it may).
pub fn start_violations(facts: &ChangeFacts<'_>, now: DateTime<Utc>) -> Vec<Violation> {
    let emergency = is_emergency(facts);
    let mut allowed = vec![ChangeStatus::Scheduled];
    if emergency {
        // "Implemented immediately": no scheduling step for emergencies.
        allowed.push(ChangeStatus::Approved);
        if retroactive(facts) {
            allowed.push(ChangeStatus::AwaitingApproval);
            allowed.push(ChangeStatus::Deferred);
        }
    }
    let mut violations = must_be_in(facts.status, &allowed, "start implementing");
    if retroactive(facts) && facts.approval.outcome != Outcome::Approved {
        // Approval may follow the start, except the steps the start waits for.
        for step in facts.approval.steps.iter().filter(|s| s.before_start) {
            violations.extend(
                step.missing
                    .iter()
                    .map(|m| Violation::new(ViolationCode::ApprovalMissing, m.clone())),
            );
        }
    }
    if !(retroactive(facts) || facts.approval.outcome == Outcome::Approved) {
        violations.extend(facts.approval.missing_violations());
        if facts.approval.outcome == Outcome::Rejected {
            violations.push(Violation::new(
                ViolationCode::Rejected,
                "the change was rejected",
            ));
        }
    }
    violations.extend(facts.unmet_gates.iter().cloned());
    violations.extend(facts.calendar_violations.iter().cloned());
    if facts.status == ChangeStatus::Scheduled
        && let (Some(start), Some(end)) = (facts.scheduled_start, facts.scheduled_end)
    {
        if now < start {
            violations.push(Violation::new(
                ViolationCode::OutsideScheduledSlot,
                format!(
                    "outside the scheduled window: it opens at {}",
                    start.to_rfc3339()
                ),
            ));
        } else if now > end {
            violations.push(Violation::new(
                ViolationCode::OutsideScheduledSlot,
                format!(
                    "outside the scheduled window: it closed at {}; reschedule the change",
                    end.to_rfc3339()
                ),
            ));
        }
    }
    violations
}

/// The approval deadline a change recorded elsewhere would have had here,
/// by the same two rules as a live one: the type's
/// `approve_within_minutes` from submission, or, for a type approved
/// retroactively, `approval_deadline_hours` from a start that came before
/// the approval. An imported emergency is then judged on time or late as
/// one filed here would be.
pub fn imported_approval_due(
    change_type: &ChangeType,
    submitted_at: Option<DateTime<Utc>>,
    approved_at: Option<DateTime<Utc>>,
    actual_start: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let at_submission = submitted_at.and_then(|at| submission_approval_due(change_type, at));
    let approved_before_start = matches!((approved_at, actual_start), (Some(a), Some(s)) if a <= s);
    let at_start = change_type
        .emergency
        .as_ref()
        .filter(|rules| rules.retroactive_approval && !approved_before_start)
        .and_then(|rules| {
            Some(deadlines::after_hours(
                actual_start?,
                rules.approval_deadline_hours?,
            ))
        });
    at_start.or(at_submission)
}

/// Whether implementation has started: a start on record, or a status
/// only a started change has. A history imported without `actualStart`
/// (docs/reports.md, "Importing history") has started at a time nobody
/// recorded; checks that need that time skip it, the others hold.
pub fn has_started(status: ChangeStatus, actual_start: Option<DateTime<Utc>>) -> bool {
    actual_start.is_some() || STARTED_STATUSES.contains(&status)
}

/// The statuses only a change whose implementation started has.
pub const STARTED_STATUSES: [ChangeStatus; 5] = [
    ChangeStatus::Implementing,
    ChangeStatus::Implemented,
    ChangeStatus::Closed,
    ChangeStatus::RolledBack,
    ChangeStatus::Failed,
];

/// -> IMPLEMENTING, with the deadlines an emergency start sets.
pub fn start(
    facts: &ChangeFacts<'_>,
    now: DateTime<Utc>,
) -> Result<StartDeadlines, Vec<Violation>> {
    let violations = start_violations(facts, now);
    let rules = facts.change_type.emergency.as_ref();
    // A deadline set at submission (approve_within_minutes) stands.
    let approval_due_at = rules
        .filter(|r| r.retroactive_approval && facts.approval.outcome != Outcome::Approved)
        .and_then(|r| r.approval_deadline_hours)
        .map(|hours| deadlines::after_hours(now, hours))
        .or(facts.approval_due_at);
    let documentation_due_at = rules
        .filter(|r| !r.documentation_from_end)
        .and_then(|r| r.documentation_deadline_hours)
        .map(|hours| deadlines::after_hours(now, hours));
    refuse_or(
        violations,
        StartDeadlines {
            approval_due_at,
            documentation_due_at,
        },
    )
}

/// IMPLEMENTING -> IMPLEMENTED or FAILED, with the review deadline.
pub fn complete(
    facts: &ChangeFacts<'_>,
    outcome: ChangeOutcome,
    now: DateTime<Utc>,
) -> Result<(ChangeStatus, EndDeadlines), Vec<Violation>> {
    let mut violations = must_be_in(facts.status, &[ChangeStatus::Implementing], "complete");
    let next = match outcome {
        ChangeOutcome::Successful | ChangeOutcome::SuccessfulWithIssues => {
            ChangeStatus::Implemented
        }
        ChangeOutcome::Failed => ChangeStatus::Failed,
        ChangeOutcome::RolledBack => {
            violations.push(Violation::new(
                ViolationCode::RollbackThroughRollBack,
                "a rollback is recorded with rollBackChange, which takes the reason",
            ));
            ChangeStatus::RolledBack
        }
    };
    refuse_or(violations, (next, end_deadlines(facts, now, next)))
}

/// The deadlines the end of implementation sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndDeadlines {
    pub review_due_at: Option<DateTime<Utc>>,
    /// Where the documentation is counted from the end (seed 003 §3.1).
    pub documentation_due_at: Option<DateTime<Utc>>,
    /// Where the CAB reviews the change and meets on a schedule: the end
    /// of its next meeting.
    pub board_review_due_at: Option<DateTime<Utc>>,
}

fn end_deadlines(
    facts: &ChangeFacts<'_>,
    ended_at: DateTime<Utc>,
    next: ChangeStatus,
) -> EndDeadlines {
    EndDeadlines {
        review_due_at: review_due(facts, ended_at),
        board_review_due_at: facts
            .next_board_meeting_end
            .filter(|_| board_review_owed_in(facts.change_type, next)),
        documentation_due_at: facts
            .change_type
            .emergency
            .as_ref()
            .filter(|r| r.documentation_from_end)
            .and_then(|r| r.documentation_deadline_hours)
            .map(|hours| deadlines::after_hours(ended_at, hours)),
    }
}

/// The deadlines submission sets: an approval due within minutes where
/// the type says so (seed 000's emergencies).
pub fn submission_approval_due(
    change_type: &ChangeType,
    submitted_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    change_type
        .approve_within_minutes
        .filter(|_| !change_type.pre_approved)
        .map(|minutes| submitted_at + chrono::Duration::minutes(i64::from(minutes)))
}

/// The approvers' first decision is due within the type's
/// `respond_within_hours` of submission (seed 004: 24 hours).
pub fn response_due(
    change_type: &ChangeType,
    submitted_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    change_type
        .respond_within_hours
        .filter(|_| !change_type.pre_approved)
        .map(|hours| deadlines::after_hours(submitted_at, hours))
}

/// An approved change is due to start within the type's
/// `implement_within_hours` of approval (seed 000: standard changes within
/// 48 hours), scheduled or not.
pub fn implementation_due(
    change_type: &ChangeType,
    approved_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    change_type
        .implement_within_hours
        .map(|hours| deadlines::after_hours(approved_at, hours))
}

/// The rollback time objective a rollback of `kind` is held to. Where the
/// policy sets objectives every rollback names one of their kinds; where
/// it sets none, naming a kind is refused rather than kept unread.
pub fn rollback_objective<'p>(
    objectives: &'p [RollbackObjective],
    kind: Option<&str>,
) -> Result<Option<&'p RollbackObjective>, ValidationError> {
    let kinds = || {
        objectives
            .iter()
            .map(|o| {
                format!(
                    "{} ({}, {} minutes)",
                    o.kind, o.label, o.restore_within_minutes
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind.map(str::trim) {
        None | Some("") if objectives.is_empty() => Ok(None),
        None | Some("") => Err(ValidationError::new(
            "rollbackKind",
            format!(
                "the policy sets rollback time objectives; name the rollback's kind: {}",
                kinds()
            ),
        )),
        Some(kind) if objectives.is_empty() => Err(ValidationError::new(
            "rollbackKind",
            format!("the policy sets no rollback time objectives, so `{kind}` means nothing here"),
        )),
        Some(kind) => objectives
            .iter()
            .find(|o| o.kind == kind)
            .map(Some)
            .ok_or_else(|| {
                ValidationError::new(
                    "rollbackKind",
                    format!("`{kind}` is not a rollback kind of the policy: {}", kinds()),
                )
            }),
    }
}

/// When a rollback started at `started_at` must have restored service.
pub fn restore_due(objective: &RollbackObjective, started_at: DateTime<Utc>) -> DateTime<Utc> {
    started_at + chrono::Duration::minutes(i64::from(objective.restore_within_minutes))
}

/// Whether a rollback restored service within its objective: `None` when
/// it has no objective or service is not restored yet.
pub fn within_restore_objective(
    due_at: Option<DateTime<Utc>>,
    restored_at: Option<DateTime<Utc>>,
) -> Option<bool> {
    Some(restored_at? <= due_at?)
}

/// IMPLEMENTING -> ROLLED_BACK (an incident is opened by the service).
pub fn roll_back(
    facts: &ChangeFacts<'_>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<EndDeadlines, Vec<Violation>> {
    let mut violations = must_be_in(facts.status, &[ChangeStatus::Implementing], "roll back");
    if reason.trim().is_empty() {
        violations.push(Violation::new(
            ViolationCode::RollbackReasonMissing,
            "a rollback needs a reason",
        ));
    }
    refuse_or(
        violations,
        end_deadlines(facts, now, ChangeStatus::RolledBack),
    )
}

fn review_due(facts: &ChangeFacts<'_>, ended_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let rules = facts.change_type.emergency.as_ref()?;
    let days = rules.review_deadline_days?;
    Some(deadlines::after_days(
        ended_at,
        days,
        rules.review_business_days,
    ))
}

/// A review may be recorded once implementation has ended.
pub fn can_review(
    facts: &ChangeFacts<'_>,
    review: &ReviewContents<'_>,
) -> Result<(), Vec<Violation>> {
    let mut violations = must_be_in(
        facts.status,
        &[
            ChangeStatus::Implemented,
            ChangeStatus::Failed,
            ChangeStatus::RolledBack,
        ],
        "review",
    );
    let went_wrong = matches!(
        facts.status,
        ChangeStatus::Failed | ChangeStatus::RolledBack
    );
    let owed = facts.change_type.review_contents.iter().chain(
        went_wrong
            .then_some(&facts.change_type.rollback_review_contents)
            .into_iter()
            .flatten(),
    );
    let mut missing: Vec<ReviewItem> = owed.copied().filter(|item| !review.states(*item)).collect();
    missing.sort();
    missing.dedup();
    for item in missing {
        violations.push(Violation::new(
            ViolationCode::ReviewContentMissing,
            format!(
                "review content missing: a review of {} {} change states {}",
                if went_wrong {
                    "a failed or rolled-back"
                } else {
                    "a"
                },
                facts.change_type.key,
                item.describe()
            ),
        ));
    }
    refuse_or(violations, ())
}

/// What a review must state, where the policy asks (`review_contents`,
/// `rollback_review_contents`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    async_graphql::Enum,
)]
#[serde(rename_all = "snake_case")]
pub enum ReviewItem {
    /// What the team learned (`lessonsLearned`).
    LessonsLearned,
    /// Why it failed or was rolled back (`rootCause`).
    RootCause,
}

impl ReviewItem {
    pub fn describe(self) -> &'static str {
        match self {
            Self::LessonsLearned => "the lessons learned (lessonsLearned)",
            Self::RootCause => "the root cause (rootCause)",
        }
    }
}

/// The free-text parts of a review being recorded.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReviewContents<'a> {
    pub lessons_learned: Option<&'a str>,
    pub root_cause: Option<&'a str>,
}

impl ReviewContents<'_> {
    fn states(&self, item: ReviewItem) -> bool {
        let text = match item {
            ReviewItem::LessonsLearned => self.lessons_learned,
            ReviewItem::RootCause => self.root_cause,
        };
        text.is_some_and(|t| !t.trim().is_empty())
    }
}

/// Whether the type's emergencies owe the CAB's review at its next
/// meeting (seed 000: "post-implementation CAB review").
fn board_review_owed(facts: &ChangeFacts<'_>) -> bool {
    board_review_owed_in(facts.change_type, facts.status)
}

/// Whether a change of this type in `status` owes the CAB's review: an
/// emergency its policy sends to the CAB, or a failed or rolled-back
/// change where the type says so.
fn board_review_owed_in(change_type: &ChangeType, status: ChangeStatus) -> bool {
    let went_wrong = matches!(status, ChangeStatus::Failed | ChangeStatus::RolledBack);
    change_type
        .emergency
        .as_ref()
        .is_some_and(|e| e.board_review)
        || (went_wrong && change_type.board_review_after_rollback)
}

/// Whether a review of `kind` is the post-implementation review the
/// change owes (and so stops its review deadline). Where the CAB must
/// review, the CAB's review is that review; another person's review counts
/// only as the separate post-emergency review a type with a review
/// deadline also owes (seed 001: within 5 days, and presented to the CAB).
pub fn review_satisfies(change_type: &ChangeType, kind: ReviewKind) -> bool {
    match &change_type.emergency {
        Some(rules) if rules.board_review => {
            kind == ReviewKind::Board || rules.review_deadline_days.is_some()
        }
        _ => true,
    }
}

/// An emergency implemented before approval whose retroactive approval was
/// rejected: the rejection stays on record, and the change closes after
/// its review instead of waiting for an approval that can no longer come.
fn rejected_retroactively(facts: &ChangeFacts<'_>) -> bool {
    retroactive(facts) && facts.approved_at.is_none() && facts.approval.outcome == Outcome::Rejected
}

/// Whether a post-implementation review must exist before closing.
pub fn review_required(facts: &ChangeFacts<'_>) -> bool {
    facts.change_type.review_required
        || facts.review_due_at.is_some()
        || rejected_retroactively(facts)
        || matches!(
            facts.status,
            ChangeStatus::RolledBack | ChangeStatus::Failed
        )
}

/// IMPLEMENTED, FAILED or ROLLED_BACK -> CLOSED, once everything owed is in.
pub fn close(facts: &ChangeFacts<'_>, now: DateTime<Utc>) -> Result<ChangeStatus, Vec<Violation>> {
    let mut violations = must_be_in(
        facts.status,
        &[
            ChangeStatus::Implemented,
            ChangeStatus::Failed,
            ChangeStatus::RolledBack,
        ],
        "close",
    );
    if let (Some(hours), Some(ended), ChangeStatus::Implemented) = (
        facts.change_type.monitor_hours,
        facts.actual_end,
        facts.status,
    ) {
        let until = deadlines::after_hours(ended, hours);
        if now < until {
            violations.push(Violation::new(
                ViolationCode::MonitoringPeriod,
                format!(
                    "monitoring period: a {} change is monitored for {hours} hour{} after implementation; it closes from {}",
                    facts.change_type.key,
                    if hours == 1 { "" } else { "s" },
                    until.to_rfc3339()
                ),
            ));
        }
    }
    // Where only the CAB's review can be the review owed, saying so once
    // (BOARD_REVIEW_MISSING) is the clearer answer.
    let only_the_board_reviews =
        !review_satisfies(facts.change_type, ReviewKind::PostImplementation);
    if review_required(facts) && facts.reviewed_at.is_none() && !only_the_board_reviews {
        violations.push(Violation::new(
            ViolationCode::ReviewMissing,
            "post-implementation review missing",
        ));
    }
    if board_review_owed(facts) && !facts.board_reviewed {
        violations.push(Violation::new(
            ViolationCode::BoardReviewMissing,
            "the CAB's post-implementation review missing: record a BOARD review from its meeting",
        ));
    }
    if facts.approved_at.is_none() && !rejected_retroactively(facts) {
        violations.push(Violation::new(
            ViolationCode::RetroactiveApprovalMissing,
            "retroactive approval missing",
        ));
        violations.extend(facts.approval.missing_violations());
    }
    if facts.documentation_due_at.is_some() && facts.documented_at.is_none() {
        violations.push(Violation::new(
            ViolationCode::DocumentationMissing,
            "emergency documentation missing",
        ));
    }
    // A post-implementation check verifies what was implemented; a failed
    // or rolled-back change owes its review instead.
    if facts.status == ChangeStatus::Implemented {
        violations.extend(facts.unmet_close_gates.iter().cloned());
    }
    refuse_or(violations, ChangeStatus::Closed)
}

pub fn cancel(facts: &ChangeFacts<'_>) -> Result<ChangeStatus, Vec<Violation>> {
    refuse_or(
        must_be_in(
            facts.status,
            &[
                ChangeStatus::Draft,
                ChangeStatus::Submitted,
                ChangeStatus::AwaitingApproval,
                ChangeStatus::Deferred,
                ChangeStatus::Rejected,
                ChangeStatus::Approved,
                ChangeStatus::Scheduled,
            ],
            "cancel",
        ),
        ChangeStatus::Cancelled,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum OverdueKind {
    /// Retroactive approval of an emergency change.
    Approval,
    /// Post-hoc documentation of an emergency change.
    Documentation,
    /// Post-emergency / post-implementation review.
    Review,
    /// An approved change not started within the type's
    /// `implement_within_hours` of approval.
    Implementation,
    /// No decision within the type's `respond_within_hours` of submission.
    Response,
    /// The CAB's review, due by the end of its next scheduled meeting
    /// after implementation ended (seed 000 "post-implementation CAB review
    /// (next meeting)").
    BoardReview,
    /// Service not restored within the rollback time objective of the
    /// rollback's kind (seed 001 §7.3).
    Restore,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub kind: OverdueKind,
    pub due_at: DateTime<Utc>,
}

impl OverdueKind {
    /// Every deadline a change can carry: the one table the API's overdue
    /// items, the `overdue` query and the `/metrics` gauge all read.
    pub const ALL: [OverdueKind; 7] = [
        Self::Approval,
        Self::Documentation,
        Self::Review,
        Self::Implementation,
        Self::Response,
        Self::BoardReview,
        Self::Restore,
    ];

    /// The deadline's name in `/metrics` (`changes_overdue{kind=...}`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Approval => "approval",
            Self::Documentation => "documentation",
            Self::Review => "review",
            Self::Implementation => "implementation",
            Self::Response => "response",
            Self::BoardReview => "board_review",
            Self::Restore => "restore",
        }
    }
}

impl ChangeFacts<'_> {
    /// When the deadline of `kind` falls due (`None`: the change has none)
    /// and whether its record is there.
    pub fn deadline(&self, kind: OverdueKind) -> (Option<DateTime<Utc>>, bool) {
        match kind {
            OverdueKind::Approval => (self.approval_due_at, self.approved_at.is_some()),
            OverdueKind::Documentation => (self.documentation_due_at, self.documented_at.is_some()),
            OverdueKind::Review => (self.review_due_at, self.reviewed_at.is_some()),
            // A cancelled change owes no start.
            OverdueKind::Implementation => (
                self.implementation_due_at,
                self.actual_start.is_some() || self.status == ChangeStatus::Cancelled,
            ),
            OverdueKind::Response => (
                self.response_due_at,
                self.responded_at.is_some() || self.status == ChangeStatus::Cancelled,
            ),
            OverdueKind::BoardReview => (self.board_review_due_at, self.board_reviewed),
            OverdueKind::Restore => (self.restore_due_at, self.restored_at.is_some()),
        }
    }
}

/// Deadlines that passed without the thing they were set for.
pub fn overdue(facts: &ChangeFacts<'_>, now: DateTime<Utc>) -> Vec<Overdue> {
    OverdueKind::ALL
        .into_iter()
        .filter_map(|kind| match facts.deadline(kind) {
            (Some(due_at), false) if due_at < now => Some(Overdue { kind, due_at }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;

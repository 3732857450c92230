//! A policy in words (`gatehouse policy explain`): per change type, who
//! must approve, what the request states, which gates apply, the windows,
//! freezes, notice periods and deadlines, so a compliance lead can compare
//! it with their document line by line. Plain text from plain data.

use std::fmt::Write;

use super::{ApprovalRule, ApprovalStep, ChangeType, GateKind, Policy, StepTiming};
use crate::domain::calendar::FreezeKind;

/// The whole policy, one section per change type.
pub fn explain(policy: &Policy) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Policy `{}`: {}", policy.name, policy.title);
    let _ = writeln!(out, "Encodes: {}", policy.source);
    let _ = match policy.audit_retention_years {
        Some(years) => writeln!(out, "Audit trail: kept for {years} years, then purgeable."),
        None => writeln!(
            out,
            "Audit trail: kept for ever (the document sets no period)."
        ),
    };
    if let Some(board) = &policy.board {
        let _ = writeln!(
            out,
            "Board: {}, {} seats, quorum {}, decided by {} of votes cast{}; meets {}.",
            board.name,
            board.seats,
            board.quorum,
            match board.majority {
                super::Majority::Simple => "a majority",
                super::Majority::TwoThirds => "two thirds",
            },
            if board.chair_breaks_ties {
                ", the chair breaking ties"
            } else {
                ", a tie decides nothing"
            },
            board.meets
        );
        if board.rationale_required {
            let _ = writeln!(
                out,
                "Board: every vote states its rationale, approvals too."
            );
        }
        if !board.composition.is_empty() {
            let _ = writeln!(out, "Board composition: {}.", board.composition.join(", "));
        }
    }
    if !policy.attributes.is_empty() {
        let keys: Vec<String> = policy
            .attributes
            .iter()
            .map(|a| format!("{} ({})", a.key, a.label))
            .collect();
        let _ = writeln!(
            out,
            "Change attributes (a change marks what it touches; some gates apply only then): {}.",
            keys.join(", ")
        );
    }
    if policy.segregation.approver_not_implementer {
        let _ = writeln!(
            out,
            "Segregation: who approved a change does not implement it, nor approve what they implemented."
        );
    }
    if policy.segregation.reviewer_not_implementer {
        let _ = writeln!(
            out,
            "Segregation: who implemented a change does not review it."
        );
    }
    for change_type in &policy.change_types {
        out.push('\n');
        explain_type(&mut out, policy, change_type);
    }
    if !policy.targets.is_empty() {
        let _ = writeln!(out, "\nMetric targets:");
        for target in &policy.targets {
            let _ = writeln!(
                out,
                "  - {}: {}",
                target.metric.label(),
                target.policy_text()
            );
        }
    }
    if !policy.notes.is_empty() {
        let _ = writeln!(out, "\nLeft to people (recorded, not enforced):");
        for note in &policy.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    out
}

fn explain_type(out: &mut String, policy: &Policy, change_type: &ChangeType) {
    let _ = writeln!(out, "{} (`{}`)", change_type.label, change_type.key);
    let _ = writeln!(out, "  {}", change_type.description);
    let mut line = |text: String| {
        let _ = writeln!(out, "  - {text}");
    };
    if change_type.emergency.is_some() {
        line("Emergency type: a hard freeze does not stop it.".into());
    }
    if !change_type.required_information.is_empty() {
        let items: Vec<&str> = change_type
            .required_information
            .iter()
            .map(|item| item.describe())
            .collect();
        line(format!(
            "Submitting needs the request to state: {}.",
            items.join("; ")
        ));
    }
    if let Some(ceiling) = change_type.max_risk_level {
        line(format!(
            "Risk: at most {ceiling:?} (residual risk when assessed); a riskier change is refused at submission."
        ));
    }
    if !change_type.deployment_methods.is_empty() {
        let methods: Vec<String> = change_type
            .deployment_methods
            .iter()
            .map(|m| format!("{m:?}"))
            .collect();
        line(format!("Deployed by: {}.", methods.join(" or ")));
    }
    if change_type.requires_template {
        line("Follows a template of the standard change catalog.".into());
    }
    if change_type.pre_approved {
        line("Approval: pre-approved, approved on submission.".into());
    }
    let retroactive = change_type
        .emergency
        .as_ref()
        .is_some_and(|e| e.retroactive_approval);
    for step in &change_type.approvals {
        line(format!(
            "Approval: {}",
            describe_step(policy, step, retroactive)
        ));
    }
    if change_type.approvals.len() > 1 {
        line(
            "Every approval step must be met, each approver a different person from the requester."
                .into(),
        );
    }
    for key in &change_type.gates {
        if let Some(gate) = policy.gate(key) {
            let when = match gate.before {
                super::GatePhase::Start => "Before implementation",
                super::GatePhase::Close => "After implementation, before closing",
            };
            line(format!("{when}: {}", describe_gate(gate)));
        }
    }
    if let Some(in_freeze) = &change_type.in_freeze {
        if in_freeze.board_approval {
            line("Starting during a freeze: the CAB approves the start first (freeze-entry approvals from a quorum and more than half of its voting members).".into());
        }
        for key in &in_freeze.gates {
            if let Some(gate) = policy.gate(key) {
                line(format!(
                    "Starting during a freeze, also: {}",
                    describe_gate(gate)
                ));
            }
        }
    }
    if change_type.notice_hours > 0 {
        line(format!(
            "Notice: scheduled at least {} hours before the start.",
            change_type.notice_hours
        ));
    }
    if let Some(hours) = change_type.implement_within_hours {
        line(format!(
            "Implemented within {hours} hours of approval (overdue after, scheduled or not)."
        ));
    }
    if let Some(hours) = change_type.respond_within_hours {
        line(format!(
            "Approvers answer within {hours} hours of submission."
        ));
    }
    if let Some(minutes) = change_type.approve_within_minutes {
        line(format!("Approval due {minutes} minutes after submission."));
    }
    if let Some(hours) = change_type.monitor_hours {
        line(format!(
            "Monitored {hours} hours after implementation before it may close."
        ));
    }
    if change_type.board_review_after_rollback {
        line("After a failure or rollback the board reviews it at its next meeting; closing needs that review.".into());
    }
    let windows: Vec<String> = policy
        .windows
        .iter()
        .filter(|w| w.change_types.contains(&change_type.key))
        .map(|w| {
            describe_rule(
                &w.name,
                &w.dtstart,
                w.rrule.as_deref(),
                w.duration_minutes,
                &w.time_zone,
            )
        })
        .collect();
    if !windows.is_empty() {
        line(format!(
            "Implemented only inside a window: {}.",
            windows.join("; ")
        ));
    }
    for freeze in &policy.freezes {
        let rule = describe_rule(
            &freeze.name,
            &freeze.dtstart,
            freeze.rrule.as_deref(),
            freeze.duration_minutes,
            &freeze.time_zone,
        );
        match freeze.kind {
            FreezeKind::Hard if change_type.emergency.is_none() => {
                line(format!("Hard freeze, no implementation: {rule}."));
            }
            FreezeKind::Hard => {}
            FreezeKind::Soft => line(format!(
                "Soft freeze {rule}: implementation there needs an extra approval by {}.",
                freeze.approver_roles.join(" or ")
            )),
        }
    }
    if let Some(emergency) = &change_type.emergency {
        if retroactive {
            line("Implementation may start before approval; the approval follows.".into());
        }
        if let Some(hours) = emergency.approval_deadline_hours {
            line(format!(
                "Approval due {hours} hours after implementation starts."
            ));
        }
        if let Some(hours) = emergency.documentation_deadline_hours {
            line(format!(
                "Documentation due {hours} hours after implementation {}.",
                if emergency.documentation_from_end {
                    "ends"
                } else {
                    "starts"
                }
            ));
        }
        if let Some(days) = emergency.review_deadline_days {
            line(format!(
                "Review due {days} {}days after implementation ends.",
                if emergency.review_business_days {
                    "business "
                } else {
                    ""
                }
            ));
        }
        if emergency.board_review {
            line("The board reviews it at its next meeting; closing needs that review.".into());
        }
    }
    if change_type.review_required {
        line("Closing needs a post-implementation review.".into());
    }
    let describe = |items: &[crate::domain::lifecycle::ReviewItem]| {
        items
            .iter()
            .map(|item| item.describe())
            .collect::<Vec<_>>()
            .join(" and ")
    };
    if !change_type.review_contents.is_empty() {
        line(format!(
            "Every review states {}.",
            describe(&change_type.review_contents)
        ));
    }
    if !change_type.rollback_review_contents.is_empty() {
        line(format!(
            "After a failure or rollback the review states {}.",
            describe(&change_type.rollback_review_contents)
        ));
    }
    if !change_type.authority.review.is_empty() {
        line(format!(
            "Reviewed only by {}.",
            change_type.authority.review.join(" or ")
        ));
    }
    let authority = &change_type.authority;
    if !authority.roll_back.is_empty() {
        line(format!(
            "Rolled back only by {}{}.",
            authority.roll_back.join(" or "),
            if authority.roll_back_board_when_critical {
                ", or by any board member in a critical outage (P1)"
            } else {
                ""
            }
        ));
    }
}

fn describe_step(policy: &Policy, step: &ApprovalStep, retroactive: bool) -> String {
    let who = if step.board {
        let board = policy
            .board
            .as_ref()
            .map_or("the board", |b| b.name.as_str());
        format!("a vote of {board}")
    } else {
        match step.rule {
            ApprovalRule::Any => format!("one of {}", step.roles.join(", ")),
            ApprovalRule::All => format!("each of {}, by different people", step.roles.join(", ")),
            ApprovalRule::NOf => format!(
                "{} different people holding any of {}",
                step.count.unwrap_or(1),
                step.roles.join(", ")
            ),
        }
    };
    let mut text = format!("{} — {who}", step.label);
    if step.rationale_required {
        text.push_str("; every decision states its reason");
    }
    if !step.after.is_empty() {
        let _ = write!(text, "; only after {}", step.after.join(", "));
    }
    if !step.substitutes.is_empty() {
        let _ = write!(
            text,
            "; backup: {} (stating why the primary cannot)",
            step.substitutes.join(", ")
        );
    }
    match step.timing {
        StepTiming::BeforeStart => text.push_str("; given before implementation starts"),
        StepTiming::AfterStart => text.push_str("; a sign-off given after implementation started"),
        StepTiming::Any if retroactive => text.push_str("; before or after the start"),
        StepTiming::Any => {}
    }
    text.push('.');
    text
}

fn describe_gate(gate: &super::Gate) -> String {
    let mut text = format!("{} (`{}`)", gate.label, gate.key);
    match gate.kind {
        GateKind::Evidence => text.push_str(": a passing evidence record"),
        GateKind::CodeReview => {
            let _ = write!(
                text,
                ": {} reviewers, {} of them senior ({})",
                gate.min_reviewers,
                gate.min_senior_reviewers,
                gate.senior_roles.join(", ")
            );
        }
        GateKind::Sast => text.push_str(": no unaddressed critical or high findings"),
        GateKind::RollbackPlan => {
            let _ = write!(
                text,
                ": the rollback plan states {}",
                gate.required_parts.join(", ")
            );
        }
        GateKind::Documentation if gate.hours_before_start > 0 => {
            let _ = write!(
                text,
                ": documentation on record {} hours before the start",
                gate.hours_before_start
            );
        }
        GateKind::Documentation => text.push_str(": documentation on record"),
    }
    for condition in &gate.conditions {
        let bounds: Vec<String> = condition
            .at_least
            .map(|low| format!("at least {low}"))
            .into_iter()
            .chain(condition.at_most.map(|high| format!("at most {high}")))
            .collect();
        let _ = write!(text, "; {} {}", condition.field, bounds.join(" and "));
    }
    if gate.is_review() {
        text.push_str("; a review by someone other than the requester");
    }
    if !gate.recorded_by.is_empty() {
        let _ = write!(text, "; recorded by {}", gate.recorded_by.join(" or "));
    }
    if !gate.when_attributes.is_empty() {
        let _ = write!(
            text,
            "; only for changes marked {}",
            gate.when_attributes.join(", ")
        );
    }
    text.push('.');
    text
}

fn describe_rule(
    name: &str,
    dtstart: &str,
    rrule: Option<&str>,
    duration_minutes: u32,
    time_zone: &str,
) -> String {
    let repeat = rrule.map_or_else(|| "once".to_owned(), |r| format!("repeating {r}"));
    format!("\"{name}\" from {dtstart} {time_zone}, {duration_minutes} minutes, {repeat}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_reads_type_by_type_in_words() {
        for (name, _) in super::super::PRESETS {
            let policy = Policy::load(name).unwrap();
            let text = explain(&policy);
            assert!(text.starts_with(&format!("Policy `{name}`")), "{text}");
            for change_type in &policy.change_types {
                assert!(
                    text.contains(&format!("{} (`{}`)", change_type.label, change_type.key)),
                    "{name}: {}",
                    change_type.key
                );
            }
        }
    }

    #[test]
    fn the_seed_rules_appear_as_a_compliance_lead_reads_them() {
        let text = explain(&Policy::load("dual-approval").unwrap());
        assert!(
            text.contains("Verbal approval") || text.contains("given before implementation starts"),
            "{text}"
        );
        assert!(
            text.contains("a sign-off given after implementation started"),
            "{text}"
        );
        assert!(
            text.contains("Documentation due 24 hours after implementation starts."),
            "{text}"
        );
        assert!(
            text.contains("Review due 5 business days after implementation ends."),
            "{text}"
        );
        assert!(text.contains("Risk: at most Low"), "{text}");
        assert!(text.contains("Audit trail: kept for 3 years"), "{text}");

        let tiered = explain(&Policy::load("tiered-cab").unwrap());
        assert!(tiered.contains("coveragePercent at least 80"), "{tiered}");
        assert!(
            tiered.contains("only for changes marked high_traffic, infrastructure"),
            "{tiered}"
        );
        assert!(tiered.contains("recorded by qa"), "{tiered}");
        assert!(tiered.contains("the chair breaking ties"), "{tiered}");
        assert!(
            tiered.contains("Submitting needs the request to state: affected systems (systemIds)"),
            "{tiered}"
        );
    }
}

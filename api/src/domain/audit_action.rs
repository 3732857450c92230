//! The audit trail's action names: one constant per kind of event, so a
//! writer, a reader and a filter cannot spell one differently. They are
//! part of the contract with auditors (evidence packs carry them), so a
//! name never changes once released.

pub const AUDIT_PURGED: &str = "audit.purged";

pub const CAB_MEETING_HELD: &str = "cab.meeting_held";
pub const CAB_MEETING_SCHEDULED: &str = "cab.meeting_scheduled";
pub const CAB_MEMBER_REMOVED: &str = "cab.member_removed";
pub const CAB_MEMBER_SET: &str = "cab.member_set";

pub const CALENDAR_RULE_CREATED: &str = "calendar.rule_created";
pub const CALENDAR_RULE_RETIRED: &str = "calendar.rule_retired";

pub const CHANGE_CANCELLED: &str = "change.cancelled";
pub const CHANGE_CLOSED: &str = "change.closed";
pub const CHANGE_COMPLETED: &str = "change.completed";
pub const CHANGE_CREATED: &str = "change.created";
pub const CHANGE_DECISION: &str = "change.decision";
pub const CHANGE_EVIDENCE_RECORDED: &str = "change.evidence_recorded";
/// A pipeline asked whether the change may deploy (`checkGate`): the
/// answer, kept as evidence of what the gate said when.
pub const CHANGE_GATE_CHECKED: &str = "change.gate_checked";
pub const CHANGE_FREEZE_ENTRY_APPROVED: &str = "change.freeze_entry_approved";
pub const CHANGE_IMPLEMENTATION_STARTED: &str = "change.implementation_started";
pub const CHANGE_IMPORTED: &str = "change.imported";
pub const CHANGE_REVIEWED: &str = "change.reviewed";
pub const CHANGE_REVISED: &str = "change.revised";
pub const CHANGE_ROLLED_BACK: &str = "change.rolled_back";
pub const CHANGE_SCHEDULED: &str = "change.scheduled";
pub const CHANGE_SUBMITTED: &str = "change.submitted";
/// A production deployment named the change but the change did not
/// authorise it (docs/design.md, "Deployments and incidents").
pub const CHANGE_UNAUTHORISED_DEPLOYMENT: &str = "change.unauthorised_deployment";
pub const CHANGE_UPDATED: &str = "change.updated";

pub const DEPLOYMENT_RECORDED: &str = "deployment.recorded";
pub const DEPLOYMENT_UPDATED: &str = "deployment.updated";
/// A production deployment no change authorised (an exception), whether
/// or not it named a change.
pub const DEPLOYMENT_EXCEPTION: &str = "deployment.exception";

pub const FEED_TOKEN_ISSUED: &str = "feed_token.issued";
pub const FEED_TOKEN_REVOKED: &str = "feed_token.revoked";

pub const INCIDENT_RECORDED: &str = "incident.recorded";
pub const INCIDENT_RESOLVED: &str = "incident.resolved";

pub const SYSTEM_CREATED: &str = "system.created";
pub const SYSTEM_UPDATED: &str = "system.updated";

pub const TEMPLATE_ACTIVATED: &str = "template.activated";
pub const TEMPLATE_CREATED: &str = "template.created";
pub const TEMPLATE_RETIRED: &str = "template.retired";

pub const TOKEN_ISSUED: &str = "token.issued";
pub const TOKEN_REVOKED: &str = "token.revoked";

pub const USER_ACTIVATED: &str = "user.activated";
pub const USER_CREATED: &str = "user.created";
pub const USER_DEACTIVATED: &str = "user.deactivated";
pub const USER_ROLES_CHANGED: &str = "user.roles_changed";

pub const WEBHOOK_CREATED: &str = "webhook.created";
pub const WEBHOOK_DELETED: &str = "webhook.deleted";
/// Disabled by the dispatcher after repeated failed deliveries.
pub const WEBHOOK_DISABLED: &str = "webhook.disabled";

/// Every action, for checks over the whole vocabulary.
pub const ALL: [&str; 45] = [
    AUDIT_PURGED,
    CAB_MEETING_HELD,
    CAB_MEETING_SCHEDULED,
    CAB_MEMBER_REMOVED,
    CAB_MEMBER_SET,
    CALENDAR_RULE_CREATED,
    CALENDAR_RULE_RETIRED,
    CHANGE_CANCELLED,
    CHANGE_CLOSED,
    CHANGE_COMPLETED,
    CHANGE_CREATED,
    CHANGE_DECISION,
    CHANGE_EVIDENCE_RECORDED,
    CHANGE_FREEZE_ENTRY_APPROVED,
    CHANGE_GATE_CHECKED,
    CHANGE_IMPLEMENTATION_STARTED,
    CHANGE_IMPORTED,
    CHANGE_REVIEWED,
    CHANGE_REVISED,
    CHANGE_ROLLED_BACK,
    CHANGE_SCHEDULED,
    CHANGE_SUBMITTED,
    CHANGE_UNAUTHORISED_DEPLOYMENT,
    CHANGE_UPDATED,
    DEPLOYMENT_RECORDED,
    DEPLOYMENT_UPDATED,
    DEPLOYMENT_EXCEPTION,
    FEED_TOKEN_ISSUED,
    FEED_TOKEN_REVOKED,
    INCIDENT_RECORDED,
    INCIDENT_RESOLVED,
    SYSTEM_CREATED,
    SYSTEM_UPDATED,
    TEMPLATE_ACTIVATED,
    TEMPLATE_CREATED,
    TEMPLATE_RETIRED,
    TOKEN_ISSUED,
    TOKEN_REVOKED,
    USER_ACTIVATED,
    USER_CREATED,
    USER_DEACTIVATED,
    USER_ROLES_CHANGED,
    WEBHOOK_CREATED,
    WEBHOOK_DELETED,
    WEBHOOK_DISABLED,
];

#[cfg(test)]
mod tests {
    use super::ALL;

    #[test]
    fn every_action_is_an_entity_and_a_verb_and_named_once() {
        let mut seen = std::collections::BTreeSet::new();
        for action in ALL {
            let (entity, verb) = action.split_once('.').expect("entity.verb");
            assert!(!entity.is_empty() && !verb.is_empty(), "{action}");
            assert!(
                action
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{action}"
            );
            assert!(seen.insert(action), "{action} twice");
        }
    }
}

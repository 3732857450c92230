//! Segregation of duties a policy switches on (`[segregation]`), beyond
//! the rules that hold under every policy (nobody approves or reviews
//! their own change, a review's evidence is never the requester's): who
//! approved a change does not implement it, and who implemented it does
//! not review it. The implementer is the account that started
//! implementation.

use uuid::Uuid;

use super::violation::{Violation, ViolationCode};
use crate::policy::SegregationRules;

fn refused(message: &str) -> Option<Violation> {
    Some(Violation::new(
        ViolationCode::SegregationOfDuties,
        format!("segregation of duties: {message}"),
    ))
}

/// Starting implementation: not by one of the change's approvers.
pub fn may_implement(
    rules: &SegregationRules,
    actor: Uuid,
    mut approvers: impl Iterator<Item = Uuid>,
) -> Option<Violation> {
    if rules.approver_not_implementer && approvers.any(|approver| approver == actor) {
        return refused("you approved this change, so someone else implements it");
    }
    None
}

/// Approving (a retroactive approval after the start): not by the person
/// who started implementation.
pub fn may_approve(
    rules: &SegregationRules,
    actor: Uuid,
    implementer: Option<Uuid>,
) -> Option<Violation> {
    if rules.approver_not_implementer && implementer == Some(actor) {
        return refused("you implemented this change, so someone else approves it");
    }
    None
}

/// Reviewing: not by the person who started implementation.
pub fn may_review(
    rules: &SegregationRules,
    actor: Uuid,
    implementer: Option<Uuid>,
) -> Option<Violation> {
    if rules.reviewer_not_implementer && implementer == Some(actor) {
        return refused("you implemented this change, so someone else reviews it");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANA: Uuid = Uuid::from_u128(1);
    const BEN: Uuid = Uuid::from_u128(2);

    #[test]
    fn each_rule_binds_only_when_switched_on() {
        let off = SegregationRules::default();
        assert_eq!(may_implement(&off, ANA, [ANA].into_iter()), None);
        assert_eq!(may_approve(&off, ANA, Some(ANA)), None);
        assert_eq!(may_review(&off, ANA, Some(ANA)), None);

        let on = SegregationRules {
            approver_not_implementer: true,
            reviewer_not_implementer: true,
        };
        let implement = may_implement(&on, ANA, [BEN, ANA].into_iter()).unwrap();
        assert_eq!(implement.code, ViolationCode::SegregationOfDuties);
        assert_eq!(
            implement.message,
            "segregation of duties: you approved this change, so someone else implements it"
        );
        assert_eq!(may_implement(&on, ANA, [BEN].into_iter()), None);
        assert!(may_approve(&on, ANA, Some(ANA)).is_some());
        assert_eq!(may_approve(&on, ANA, Some(BEN)), None);
        assert_eq!(may_approve(&on, ANA, None), None);
        assert!(may_review(&on, BEN, Some(BEN)).is_some());
        assert_eq!(may_review(&on, ANA, Some(BEN)), None);
    }
}

//! Who may do what outside the approval policy. One function per action so
//! the authorisation matrix is readable in one file.

use std::collections::BTreeSet;

use entity::{BoardRole, ChangeStatus};
use uuid::Uuid;

use super::roles::{ADMIN, AUDITOR, CHANGE_MANAGER, REQUESTER, SERVICE};
use crate::auth::Actor;

/// Why an action was refused; becomes a FORBIDDEN error.
pub type Denied = String;

pub fn require_any(actor: &Actor, roles: &[&str], action: &str) -> Result<(), Denied> {
    if roles.iter().any(|role| actor.has_role(role)) {
        Ok(())
    } else {
        Err(format!(
            "{action} requires one of the roles: {}",
            roles.join(", ")
        ))
    }
}

pub fn manage_accounts(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[ADMIN], "managing accounts")
}

pub fn read_accounts(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[ADMIN, AUDITOR], "listing accounts")
}

/// Tokens: admins manage everyone's; any account manages its own (for
/// example a CI token for a pipeline account).
pub fn manage_tokens_of(actor: &Actor, owner: Uuid) -> Result<(), Denied> {
    if actor.user_id == owner && !actor.has_role(AUDITOR) {
        return Ok(());
    }
    require_any(actor, &[ADMIN], "managing another account's tokens")
}

/// Issuing a token hands over the owner's power, so nobody gets a token
/// that acts as another person: an account issues its own tokens, and an
/// admin issues tokens only for service accounts (role `service`, which
/// excludes admin and approval roles). A person's first token comes from
/// the operator on the host (`gatehouse tokens issue`), as the bootstrap
/// admin's does. `owner_roles` are the owner's current roles.
pub fn issue_token_for(
    actor: &Actor,
    owner: Uuid,
    owner_roles: &BTreeSet<String>,
) -> Result<(), Denied> {
    if actor.user_id == owner {
        return manage_tokens_of(actor, owner);
    }
    require_any(actor, &[ADMIN], "issuing a token for another account")?;
    if owner_roles.contains(SERVICE) {
        Ok(())
    } else {
        Err(
            "an admin issues tokens only for service accounts (role `service`); \
             a person issues their own, and their first one comes from the operator \
             (`gatehouse tokens issue`)"
                .into(),
        )
    }
}

/// Whether a token may act for its owner at all. A token issued by one
/// account for another is a service account's token; once that account
/// stops being a service account (its roles changed to a person's), the
/// token the admin held stops working. Tokens the owner issued, the
/// operator issued, or that predate issuer tracking (`issued_by` None) act.
pub fn token_acts(issued_by: Option<Uuid>, owner: Uuid, owner_roles: &BTreeSet<String>) -> bool {
    match issued_by {
        Some(issuer) if issuer != owner => owner_roles.contains(SERVICE),
        _ => true,
    }
}

/// Role grants: besides the role combinations `roles::check_separation`
/// refuses for everyone, nobody grants themselves approval power, not
/// even through a role that is not yet combined with admin.
pub fn grant_roles(
    actor: &Actor,
    target: Uuid,
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
    approval_roles: &BTreeSet<String>,
) -> Result<(), Denied> {
    manage_accounts(actor)?;
    if actor.user_id != target {
        return Ok(());
    }
    let gained: Vec<&str> = after
        .difference(before)
        .filter(|role| approval_roles.contains(*role))
        .map(String::as_str)
        .collect();
    if gained.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "nobody grants themselves approval roles ({}); another admin assigns them, \
             to an account that is not admin",
            gained.join(", ")
        ))
    }
}

pub fn read_tokens_of(actor: &Actor, owner: Uuid) -> Result<(), Denied> {
    if actor.user_id == owner {
        return Ok(());
    }
    require_any(actor, &[ADMIN, AUDITOR], "listing another account's tokens")
}

/// The whole audit trail (every account's actions, account records in the
/// payloads) and evidence packs. A change's own history is readable by
/// whoever can read the change.
pub fn read_audit_trail(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[ADMIN, AUDITOR], "reading the audit trail")
}

/// Reading changes (queries, history, live change events): every signed-in
/// account, auditors included — the change log is the team's shared record.
pub fn read_changes(_actor: &Actor) -> Result<(), Denied> {
    Ok(())
}

pub fn manage_systems(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[ADMIN, CHANGE_MANAGER], "maintaining systems")
}

pub fn create_change(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[REQUESTER], "filing a change request")
}

/// Only the requester edits the content of their change, and only while
/// it is a draft: once submitted, approvers must see what they approve.
pub fn edit_change(actor: &Actor, requester: Uuid, status: ChangeStatus) -> Result<(), Denied> {
    if actor.user_id != requester {
        return Err("only the requester can edit a change request".into());
    }
    if status != ChangeStatus::Draft {
        return Err(format!(
            "a change can only be edited while DRAFT; it is {}",
            serde_json::to_value(status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ));
    }
    Ok(())
}

/// Puts changes into the calendar and implements them.
pub const IMPLEMENTER: &str = "implementer";
/// Records test and scan results from a CI/CD pipeline.
pub const PIPELINE: &str = "pipeline";
/// Records QA sign-off.
pub const QA: &str = "qa";

fn requester_or(
    actor: &Actor,
    requester: Uuid,
    roles: &[&str],
    action: &str,
) -> Result<(), Denied> {
    if actor.user_id == requester {
        return Ok(());
    }
    require_any(actor, roles, &format!("{action} another person's change"))
}

/// Submitting and revising belong to the requester alone.
pub fn submit_change(actor: &Actor, requester: Uuid) -> Result<(), Denied> {
    if actor.user_id == requester {
        Ok(())
    } else {
        Err("only the requester can submit or revise a change".into())
    }
}

pub fn schedule_change(actor: &Actor, requester: Uuid) -> Result<(), Denied> {
    requester_or(
        actor,
        requester,
        &[CHANGE_MANAGER, IMPLEMENTER],
        "scheduling",
    )
}

/// Who may start and complete a change: its requester, and the roles its
/// type's `[change_type.authority] implement` names (seed 000 "DevSecOps
/// Lead: Execute changes"), by default a change manager or an implementer.
pub fn implement_change(actor: &Actor, requester: Uuid, named: &[String]) -> Result<(), Denied> {
    if named.is_empty() {
        return requester_or(
            actor,
            requester,
            &[CHANGE_MANAGER, IMPLEMENTER],
            "implementing",
        );
    }
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    requester_or(actor, requester, &named, "implementing")
}

/// Who may roll a change back: the roles the policy names for its type
/// (and any CAB member in a critical outage, where it says so), or by
/// default whoever may implement it. Returns the authority acted on, for
/// the audit trail.
pub fn roll_back_change(
    actor: &Actor,
    requester: Uuid,
    change_type: &crate::policy::ChangeType,
    board_member: bool,
    critical: bool,
) -> Result<String, Denied> {
    let authority = &change_type.authority;
    // No roles named: whoever may implement it rolls it back, and the
    // CAB in a critical outage comes on top of them, never instead.
    if authority.roll_back.is_empty() {
        let implementer = implement_change(actor, requester, &authority.implement);
        if implementer.is_ok() || !authority.roll_back_board_when_critical {
            return implementer.map(|()| "implementer".into());
        }
    }
    if let Some(role) = authority.roll_back.iter().find(|r| actor.has_role(r)) {
        return Ok(format!("role {role}"));
    }
    if authority.roll_back_board_when_critical && board_member && critical {
        return Ok("CAB member, critical outage (P1)".into());
    }
    let mut who = if authority.roll_back.is_empty() {
        "whoever may implement it (the requester, change_manager, implementer)".to_owned()
    } else {
        format!("a holder of role {}", authority.roll_back.join(" or "))
    };
    if authority.roll_back_board_when_critical {
        if !who.is_empty() {
            who.push_str(", or ");
        }
        who.push_str("any CAB member when the outage is critical (incident priority P1)");
    }
    Err(format!(
        "rolling back {} changes is for {who}",
        change_type.key
    ))
}

/// `review` is whether the gate records a review (QA, code or security
/// review, `Gate::is_review`): a review of one's own change is no review,
/// so the requester records pipeline results but never a review.
/// `recorders` are the roles the gate names for its evidence (seed 001
/// §5.3: the QA review by the QA team); when set, only they record it.
pub fn record_evidence(
    actor: &Actor,
    requester: Uuid,
    review: bool,
    recorders: &[String],
) -> Result<(), Denied> {
    if review && actor.user_id == requester {
        return Err(
            "the requester cannot record a review of their own change; the reviewer or QA records it"
                .into(),
        );
    }
    if !recorders.is_empty() {
        return if recorders.iter().any(|role| actor.has_role(role)) {
            Ok(())
        } else {
            Err(format!(
                "this gate's evidence is recorded by a holder of role {}",
                recorders.join(" or ")
            ))
        };
    }
    requester_or(
        actor,
        requester,
        &[CHANGE_MANAGER, IMPLEMENTER, PIPELINE, QA],
        "recording evidence on",
    )
}

/// Deployments are reported by pipelines (the `pipeline` role, whose
/// tokens record deployments and evidence and nothing else) and by the
/// people who deploy by hand.
pub fn record_deployment(actor: &Actor) -> Result<(), Denied> {
    require_any(
        actor,
        &[PIPELINE, IMPLEMENTER, CHANGE_MANAGER],
        "recording deployments",
    )
}

/// Asking the gate on the record (`checkGate`, which writes the answer to
/// the audit trail): the pipeline about to deploy, and the people who
/// deploy. Reading `gateStatus` is open to every account.
pub fn check_gate(actor: &Actor) -> Result<(), Denied> {
    require_any(
        actor,
        &[PIPELINE, IMPLEMENTER, CHANGE_MANAGER, REQUESTER],
        "checking a gate on the record",
    )
}

/// Whoever runs or watches production opens incidents: requesters and
/// implementers, the change manager, and monitoring through a pipeline
/// account.
pub fn record_incident(actor: &Actor) -> Result<(), Denied> {
    require_any(
        actor,
        &[REQUESTER, IMPLEMENTER, CHANGE_MANAGER, PIPELINE],
        "opening incidents",
    )
}

/// Resolving an incident says when service was restored, which time to
/// restore is measured by: whoever opened it, or an implementer or the
/// change manager.
pub fn resolve_incident(actor: &Actor, opened_by: Uuid) -> Result<(), Denied> {
    if actor.user_id == opened_by {
        return Ok(());
    }
    require_any(
        actor,
        &[IMPLEMENTER, CHANGE_MANAGER],
        "resolving another person's incident",
    )
}

pub fn close_change(actor: &Actor, requester: Uuid) -> Result<(), Denied> {
    requester_or(actor, requester, &[CHANGE_MANAGER], "closing or cancelling")
}

/// Reviews are independent: never by the requester; by the roles the
/// policy names for the type's reviews (`authority.review`), or by default
/// the change manager, a board member, or someone the policy lets approve
/// this type. A board review is a CAB member's whatever the policy names.
pub fn review_change(
    actor: &Actor,
    requester: Uuid,
    change_type: &crate::policy::ChangeType,
    board_review: bool,
    qualified_approver: bool,
    board_member: bool,
) -> Result<(), Denied> {
    if actor.user_id == requester {
        return Err("the requester cannot review their own change".into());
    }
    let named = &change_type.authority.review;
    if !board_review && !named.is_empty() {
        return if named.iter().any(|role| actor.has_role(role)) {
            Ok(())
        } else {
            Err(format!(
                "reviews of {} changes are recorded by a holder of role {}",
                change_type.key,
                named.join(" or ")
            ))
        };
    }
    if qualified_approver || board_member || actor.has_role(CHANGE_MANAGER) {
        Ok(())
    } else {
        Err("a review is recorded by the change manager, a CAB member or an approver of this change type".into())
    }
}

/// The CAB's membership and meetings.
pub fn manage_board(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[ADMIN, CHANGE_MANAGER], "managing the CAB")
}

/// An account as it stands at the moment it acts on approvals or the
/// board: its current roles, whether it is active, and its seat, read from
/// its records in the act's own transaction. A seat is granted once while
/// roles and active state change later, so the rules below never trust a
/// seat, or an identity remembered since sign-in, on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub user_id: Uuid,
    pub roles: BTreeSet<String>,
    pub active: bool,
    pub seat: Option<BoardRole>,
}

impl Standing {
    /// The seat that counts now: none for an account that may not act on
    /// the board (an auditor, a deactivated account), whatever it holds.
    pub fn board_seat(&self) -> Option<BoardRole> {
        self.seat.filter(|_| sit_on_board(self).is_ok())
    }
}

/// Auditors read and never act; a deactivated account does nothing.
fn in_good_standing(standing: &Standing, action: &str) -> Result<(), Denied> {
    if !standing.active {
        return Err(format!("a deactivated account cannot {action}"));
    }
    if standing.roles.contains(AUDITOR) {
        return Err(format!(
            "an auditor cannot {action}: the auditor role is read-only"
        ));
    }
    Ok(())
}

/// Who can be given a seat: nobody who could not use it.
/// A board seat is approval power, which the admin role excludes (as it
/// excludes approval roles, `roles`): an admin neither takes a seat nor
/// votes from one it held before becoming admin.
pub fn sit_on_board(standing: &Standing) -> Result<(), Denied> {
    in_good_standing(standing, "sit on the board")?;
    if standing.roles.contains(ADMIN) {
        return Err(
            "an admin cannot sit on the board: administering accounts and approving changes are kept apart"
                .into(),
        );
    }
    Ok(())
}

/// Casting a decision (an approval, a rejection, a deferral, a board vote).
/// Whether the decision counts for this change is the approval policy's
/// business (`approval::qualifies`); this is whether the account may
/// decide anything at all.
pub fn decide_approvals(standing: &Standing) -> Result<(), Denied> {
    in_good_standing(standing, "vote or decide approvals")
}

/// Scheduling and holding CAB meetings: the chair (from a seat that counts
/// now) or a change manager.
pub fn run_meetings(standing: &Standing) -> Result<(), Denied> {
    in_good_standing(standing, "run CAB meetings")?;
    if standing.board_seat() == Some(BoardRole::Chair) || standing.roles.contains(CHANGE_MANAGER) {
        Ok(())
    } else {
        Err("running CAB meetings requires the chair's seat or the role change_manager".into())
    }
}

/// A change before the board (on its agenda), as the stake rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct BoardItem<'a> {
    pub number: &'a str,
    pub requester: Uuid,
}

/// Seating or removing members and closing a meeting decide who decides
/// the board's agenda and when: nobody does either while a change they
/// requested is before the board.
pub fn alter_board(actor: Uuid, before_the_board: &[BoardItem<'_>]) -> Result<(), Denied> {
    let own: Vec<&str> = before_the_board
        .iter()
        .filter(|item| item.requester == actor)
        .map(|item| item.number)
        .collect();
    if own.is_empty() {
        return Ok(());
    }
    Err(format!(
        "you requested {}, which {} before the board: its requester cannot seat or remove board members or close a CAB meeting until the board has dealt with it",
        own.join(", "),
        if own.len() == 1 { "is" } else { "are" }
    ))
}

/// Whether someone holding `roles` may take `seat` on the board the policy
/// describes: a seat whose roles the policy lists goes only to a holder of
/// one of them (seed 000: the CTO chairs).
pub fn take_seat(
    board: &crate::policy::BoardPolicy,
    seat: BoardRole,
    roles: &std::collections::BTreeSet<String>,
) -> Result<(), Denied> {
    let (allowed, name) = match seat {
        BoardRole::Chair => (&board.chair_roles, "chair"),
        BoardRole::Member => (&board.member_roles, "member"),
        BoardRole::Advisor => (&board.advisor_roles, "advisor"),
    };
    if allowed.is_empty() || allowed.iter().any(|role| roles.contains(role)) {
        Ok(())
    } else {
        Err(format!(
            "the policy seats a {name} of {} only from role {}",
            board.name,
            allowed.join(", ")
        ))
    }
}

/// Run-time windows and freezes: by the roles the policy names (and the
/// CAB where it says so: seed 001 §9.2 "edit for Change Manager and
/// CAB"), or by default an admin or a change manager.
pub fn manage_calendar(
    actor: &Actor,
    editors: &crate::policy::CalendarEditors,
    board_seat: Option<BoardRole>,
) -> Result<(), Denied> {
    if editors.roles.is_empty() && !editors.board {
        return require_any(
            actor,
            &[ADMIN, CHANGE_MANAGER],
            "maintaining windows and freezes",
        );
    }
    if editors.roles.iter().any(|role| actor.has_role(role)) {
        return Ok(());
    }
    if editors.board && matches!(board_seat, Some(BoardRole::Chair | BoardRole::Member)) {
        return Ok(());
    }
    let mut who: Vec<String> = editors.roles.iter().map(|r| format!("role {r}")).collect();
    if editors.board {
        who.push("a CAB member".into());
    }
    Err(format!(
        "the change calendar is maintained by {} under this policy",
        who.join(" or ")
    ))
}

/// Outbound webhooks send the record's events out of the system, signed
/// with a secret: the admin, who manages integrations, sets them up.
pub fn manage_webhooks(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[ADMIN], "managing webhooks")
}

/// Webhooks and their delivery logs: the admin and the auditor (never
/// their secrets).
pub fn read_webhooks(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[ADMIN, AUDITOR], "reading webhooks")
}

/// The standard change catalog.
pub fn manage_templates(actor: &Actor) -> Result<(), Denied> {
    require_any(
        actor,
        &[CHANGE_MANAGER],
        "maintaining the standard change catalog",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(roles: &[&str]) -> Actor {
        Actor::for_tests(roles)
    }

    #[test]
    fn only_admins_manage_accounts() {
        assert!(manage_accounts(&actor(&["admin"])).is_ok());
        assert!(manage_accounts(&actor(&["requester", "cto"])).is_err());
        assert!(manage_accounts(&actor(&["auditor"])).is_err());
    }

    #[test]
    fn auditors_read_accounts_but_do_not_write() {
        let auditor = actor(&["auditor"]);
        assert!(read_accounts(&auditor).is_ok());
        assert!(read_audit_trail(&auditor).is_ok());
        assert!(read_audit_trail(&actor(&["admin"])).is_ok());
        assert!(read_audit_trail(&actor(&["requester", "cto"])).is_err());
        assert!(manage_accounts(&auditor).is_err());
        assert!(create_change(&auditor).is_err());
        assert!(manage_systems(&auditor).is_err());
        assert!(manage_tokens_of(&auditor, auditor.user_id).is_err());
    }

    #[test]
    fn own_tokens_are_self_service() {
        let engineer = actor(&["requester"]);
        assert!(manage_tokens_of(&engineer, engineer.user_id).is_ok());
        assert!(manage_tokens_of(&engineer, Uuid::new_v4()).is_err());
    }

    fn roles(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|r| (*r).to_owned()).collect()
    }

    #[test]
    fn admins_issue_tokens_only_for_service_accounts() {
        let admin = actor(&["admin"]);
        let person = Uuid::new_v4();
        assert!(issue_token_for(&admin, admin.user_id, &admin.roles).is_ok());
        let denied = issue_token_for(&admin, person, &roles(&["cto"])).unwrap_err();
        assert!(denied.contains("service accounts"), "{denied}");
        assert!(issue_token_for(&admin, person, &roles(&["requester"])).is_err());
        assert!(issue_token_for(&admin, person, &roles(&["service", "pipeline"])).is_ok());
        let engineer = actor(&["requester"]);
        assert!(issue_token_for(&engineer, person, &roles(&["service"])).is_err());
        assert!(issue_token_for(&engineer, engineer.user_id, &engineer.roles).is_ok());
        let auditor = actor(&["auditor"]);
        assert!(issue_token_for(&auditor, auditor.user_id, &auditor.roles).is_err());
    }

    #[test]
    fn a_token_from_someone_else_acts_only_for_a_service_account() {
        let owner = Uuid::new_v4();
        let admin = Uuid::new_v4();
        assert!(token_acts(None, owner, &roles(&["cto"])));
        assert!(token_acts(Some(owner), owner, &roles(&["cto"])));
        assert!(token_acts(Some(admin), owner, &roles(&["service"])));
        // The admin issued it for a service account later turned into a person.
        assert!(!token_acts(Some(admin), owner, &roles(&["cto"])));
    }

    #[test]
    fn nobody_grants_themselves_approval_power() {
        let admin = actor(&["admin"]);
        let approvers = roles(&["cto", "change_manager"]);
        let before = roles(&["admin"]);
        let denied = grant_roles(
            &admin,
            admin.user_id,
            &before,
            &roles(&["admin", "cto"]),
            &approvers,
        )
        .unwrap_err();
        assert!(denied.contains("cto"), "{denied}");
        assert!(
            grant_roles(
                &admin,
                admin.user_id,
                &before,
                &roles(&["admin", "requester"]),
                &approvers
            )
            .is_ok()
        );
        // Another admin may grant it (to an account that is not admin).
        assert!(
            grant_roles(
                &admin,
                Uuid::new_v4(),
                &roles(&[]),
                &roles(&["cto"]),
                &approvers
            )
            .is_ok()
        );
        assert!(
            grant_roles(
                &actor(&["cto"]),
                Uuid::new_v4(),
                &before,
                &before,
                &approvers
            )
            .is_err()
        );
    }

    #[test]
    fn lifecycle_actions_by_role() {
        let engineer = actor(&["requester"]);
        let manager = actor(&["change_manager"]);
        let pipeline = actor(&["pipeline"]);
        let other = Uuid::new_v4();
        assert!(submit_change(&engineer, engineer.user_id).is_ok());
        assert!(submit_change(&manager, engineer.user_id).is_err());
        assert!(schedule_change(&manager, other).is_ok());
        assert!(schedule_change(&pipeline, other).is_err());
        assert!(record_evidence(&pipeline, other, false, &[]).is_ok());
        assert!(record_evidence(&pipeline, other, true, &[]).is_ok());
        assert!(record_evidence(&engineer, engineer.user_id, false, &[]).is_ok());
        assert!(record_evidence(&engineer, engineer.user_id, true, &[]).is_err());
        // A gate naming its recorders: only they, never the requester.
        let qa_team = ["qa".to_owned()];
        assert!(record_evidence(&pipeline, other, true, &qa_team).is_err());
        assert!(record_evidence(&manager, other, true, &qa_team).is_err());
        let qa = actor(&["qa"]);
        assert!(record_evidence(&qa, other, true, &qa_team).is_ok());
        assert!(record_evidence(&qa, qa.user_id, true, &qa_team).is_err());
        assert!(implement_change(&engineer, other, &[]).is_err());
        assert!(implement_change(&manager, other, &[]).is_ok());
        // Where the type names who executes (seed 000 "DevSecOps Lead:
        // Execute changes"), they and the requester do, nobody else.
        let devsecops = ["devsecops_lead".to_owned()];
        assert!(implement_change(&manager, other, &devsecops).is_err());
        assert!(implement_change(&actor(&["devsecops_lead"]), other, &devsecops).is_ok());
        assert!(implement_change(&engineer, engineer.user_id, &devsecops).is_ok());
        let policy = crate::policy::Policy::load("tiered-cab").unwrap();
        let normal = policy.change_type("normal").unwrap();
        assert!(review_change(&engineer, engineer.user_id, normal, false, true, true).is_err());
        assert!(review_change(&pipeline, other, normal, false, false, false).is_err());
        assert!(review_change(&pipeline, other, normal, false, false, true).is_ok());
        // Where the policy names the reviewers, only they review (seed 004:
        // the Security Officer reviews emergencies); a board review stays
        // the CAB's.
        let security = crate::policy::Policy::load("security-officer").unwrap();
        let emergency = security.change_type("emergency").unwrap();
        assert!(review_change(&manager, other, emergency, false, true, true).is_err());
        let officer = actor(&["security_officer"]);
        assert!(review_change(&officer, other, emergency, false, false, false).is_ok());
        assert!(review_change(&officer, officer.user_id, emergency, false, true, true).is_err());
        assert!(review_change(&manager, other, emergency, true, false, true).is_ok());
        assert!(close_change(&manager, other).is_ok());
        assert!(manage_templates(&actor(&["admin"])).is_err());
    }

    fn standing(roles: &[&str], active: bool, seat: Option<BoardRole>) -> Standing {
        Standing {
            user_id: Uuid::new_v4(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            active,
            seat,
        }
    }

    #[test]
    fn a_seat_counts_only_for_an_active_account_that_is_not_an_auditor() {
        let chair = Some(BoardRole::Chair);
        assert_eq!(standing(&["cab"], true, chair).board_seat(), chair);
        assert_eq!(standing(&["auditor"], true, chair).board_seat(), None);
        assert_eq!(standing(&["cab"], false, chair).board_seat(), None);
        assert_eq!(standing(&["cab"], true, None).board_seat(), None);
        assert!(sit_on_board(&standing(&["cab"], true, None)).is_ok());
        assert!(sit_on_board(&standing(&["auditor"], true, None)).is_err());
        assert!(sit_on_board(&standing(&["cab"], false, None)).is_err());
    }

    #[test]
    fn auditors_and_deactivated_accounts_never_vote_whatever_their_seat() {
        let voter = standing(&["cto"], true, Some(BoardRole::Member));
        assert!(decide_approvals(&voter).is_ok());
        let auditor =
            decide_approvals(&standing(&["auditor"], true, Some(BoardRole::Chair))).unwrap_err();
        assert!(auditor.contains("an auditor cannot vote"), "{auditor}");
        let inactive =
            decide_approvals(&standing(&["cto"], false, Some(BoardRole::Chair))).unwrap_err();
        assert!(inactive.contains("deactivated"), "{inactive}");
    }

    #[test]
    fn meetings_are_run_by_the_chair_or_a_change_manager_in_good_standing() {
        let chair = Some(BoardRole::Chair);
        assert!(run_meetings(&standing(&["cab"], true, chair)).is_ok());
        assert!(run_meetings(&standing(&["change_manager"], true, None)).is_ok());
        assert!(run_meetings(&standing(&["cab"], true, Some(BoardRole::Member))).is_err());
        let auditor = run_meetings(&standing(&["auditor"], true, chair)).unwrap_err();
        assert!(auditor.contains("auditor"), "{auditor}");
        assert!(run_meetings(&standing(&["cab"], false, chair)).is_err());
        assert!(run_meetings(&standing(&["change_manager"], false, None)).is_err());
    }

    #[test]
    fn nobody_alters_the_board_while_their_own_change_is_before_it() {
        let requester = Uuid::new_v4();
        let other = Uuid::new_v4();
        let agenda = [
            BoardItem {
                number: "CHG-0001",
                requester: other,
            },
            BoardItem {
                number: "CHG-0002",
                requester,
            },
        ];
        let denied = alter_board(requester, &agenda).unwrap_err();
        assert!(
            denied.starts_with("you requested CHG-0002, which is"),
            "{denied}"
        );
        assert!(alter_board(Uuid::new_v4(), &agenda).is_ok());
        assert!(alter_board(requester, &agenda[..1]).is_ok());
        assert!(alter_board(requester, &[]).is_ok());
    }

    #[test]
    fn only_the_requester_edits_and_only_drafts() {
        let engineer = actor(&["requester"]);
        assert!(edit_change(&engineer, engineer.user_id, ChangeStatus::Draft).is_ok());
        assert!(edit_change(&engineer, Uuid::new_v4(), ChangeStatus::Draft).is_err());
        let denied = edit_change(&engineer, engineer.user_id, ChangeStatus::Submitted).unwrap_err();
        assert!(denied.contains("SUBMITTED"), "{denied}");
    }

    #[test]
    fn an_admin_neither_takes_a_seat_nor_votes_from_one() {
        let admin = Standing {
            user_id: Uuid::new_v4(),
            roles: [ADMIN.to_owned()].into(),
            active: true,
            seat: Some(BoardRole::Member),
        };
        assert!(sit_on_board(&admin).is_err());
        assert_eq!(admin.board_seat(), None);
        let member = Standing {
            roles: [REQUESTER.to_owned()].into(),
            ..admin
        };
        assert!(sit_on_board(&member).is_ok());
        assert_eq!(member.board_seat(), Some(BoardRole::Member));
    }

    #[test]
    fn board_seats_go_to_the_roles_the_policy_names() {
        let cab = crate::policy::Policy::load("cab-quorum").unwrap();
        let board = cab.board.as_ref().unwrap();
        let roles = |keys: &[&str]| keys.iter().map(|k| (*k).to_owned()).collect();
        assert!(take_seat(board, BoardRole::Chair, &roles(&["cto"])).is_ok());
        assert_eq!(
            take_seat(board, BoardRole::Chair, &roles(&["ciso"])),
            Err("the policy seats a chair of Change Advisory Board only from role cto".to_owned())
        );
        assert!(
            take_seat(
                board,
                BoardRole::Member,
                &roles(&["requester", "devsecops_lead"])
            )
            .is_ok()
        );
        assert!(take_seat(board, BoardRole::Member, &roles(&["requester"])).is_err());
        // Seed 001 §4.1: the QA Lead sits as a member, the CTO advises.
        let tiered = crate::policy::Policy::load("tiered-cab").unwrap();
        let tiered = tiered.board.as_ref().unwrap();
        assert!(take_seat(tiered, BoardRole::Member, &roles(&["qa_lead"])).is_ok());
        assert!(take_seat(tiered, BoardRole::Advisor, &roles(&["cto"])).is_ok());
        assert!(take_seat(tiered, BoardRole::Member, &roles(&["cto"])).is_err());
        // No roles named for a seat: anyone.
        let weekly = crate::policy::Policy::load("weekly-cab").unwrap();
        assert!(
            take_seat(
                weekly.board.as_ref().unwrap(),
                BoardRole::Advisor,
                &roles(&["requester"])
            )
            .is_ok()
        );
    }

    #[test]
    fn the_calendar_is_edited_by_whom_the_policy_names() {
        let admin = actor(&["admin"]);
        let manager = actor(&["change_manager"]);
        let engineer = actor(&["requester"]);
        let default = crate::policy::CalendarEditors::default();
        assert!(manage_calendar(&admin, &default, None).is_ok());
        assert!(manage_calendar(&manager, &default, None).is_ok());
        assert!(manage_calendar(&engineer, &default, Some(BoardRole::Member)).is_err());
        // Seed 001 §9.2: "edit for Change Manager and CAB".
        let tiered = crate::policy::Policy::load("tiered-cab").unwrap();
        let editors = &tiered.calendar;
        assert!(manage_calendar(&manager, editors, None).is_ok());
        assert!(manage_calendar(&engineer, editors, Some(BoardRole::Member)).is_ok());
        assert!(manage_calendar(&engineer, editors, Some(BoardRole::Chair)).is_ok());
        assert!(manage_calendar(&engineer, editors, Some(BoardRole::Advisor)).is_err());
        assert_eq!(
            manage_calendar(&admin, editors, None),
            Err("the change calendar is maintained by role change_manager or a CAB member under this policy".to_owned())
        );
    }

    #[test]
    fn rollback_authority_is_the_policys_where_it_names_one() {
        let policy = crate::policy::Policy::load("cab-quorum").unwrap();
        let emergency = policy.change_type("emergency").unwrap();
        let requester = Uuid::now_v7();
        let cto = actor(&["cto"]);
        assert_eq!(
            roll_back_change(&cto, requester, emergency, false, false),
            Ok("role cto".to_owned())
        );
        let implementer = actor(&["implementer", "change_manager"]);
        let refused = roll_back_change(&implementer, requester, emergency, false, false);
        assert_eq!(
            refused,
            Err("rolling back emergency changes is for a holder of role ciso or cto, or any CAB member when the outage is critical (incident priority P1)".to_owned())
        );
        let member = actor(&["requester"]);
        assert!(roll_back_change(&member, requester, emergency, true, false).is_err());
        assert_eq!(
            roll_back_change(&member, requester, emergency, true, true),
            Ok("CAB member, critical outage (P1)".to_owned())
        );
        // Without authority in the policy: whoever may implement.
        let tiered = crate::policy::Policy::load("tiered-cab").unwrap();
        let normal = tiered.change_type("normal").unwrap();
        assert_eq!(
            roll_back_change(&implementer, requester, normal, false, false),
            Ok("implementer".to_owned())
        );
        assert!(roll_back_change(&member, requester, normal, true, true).is_err());
        // The CAB in a critical outage adds to the implementers, never
        // replaces them, when the policy names no roles.
        let mut board_only = normal.clone();
        board_only.authority.roll_back_board_when_critical = true;
        assert_eq!(
            roll_back_change(&implementer, requester, &board_only, false, false),
            Ok("implementer".to_owned())
        );
        assert_eq!(
            roll_back_change(&member, requester, &board_only, true, true),
            Ok("CAB member, critical outage (P1)".to_owned())
        );
        assert!(roll_back_change(&member, requester, &board_only, true, false).is_err());
    }
}

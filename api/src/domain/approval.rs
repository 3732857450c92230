//! Who has approved what: evaluating a change type's approval steps against
//! the decisions cast, as a pure function.
//!
//! Rules that hold under every policy: nobody approves their own change
//! (the requester's decisions never count), and one person casts one vote
//! that fills at most one approver slot — so "Engineering Lead + QA" needs
//! two people even when one person holds both roles.
//!
//! A decision counts for the standing its decider had when deciding: the
//! roles they held and the board seat they voted from are recorded with it,
//! and nothing that happens to the account or the roster later (a role
//! granted or taken away, a member removed) creates, withdraws or reweighs
//! it.

use std::collections::BTreeSet;

use entity::{BoardOutcome, BoardRole, Decision};
use uuid::Uuid;

use crate::policy::{ApprovalRule, ApprovalStep, BoardPolicy, ChangeType, Majority, StepTiming};

/// A decision cast on the current approval round.
#[derive(Debug, Clone)]
pub struct Vote {
    pub person: Uuid,
    /// The roles the person held when deciding.
    pub roles: BTreeSet<String>,
    /// The board seat the person held when deciding (if it counted then).
    pub seat: Option<BoardRole>,
    pub decision: Decision,
    /// Cast after implementation started (a retroactive approval).
    pub after_start: bool,
    /// An approval to start during a freeze (`approveFreezeEntry`), not a
    /// decision on the change: it fills no approval step.
    pub freeze_entry: bool,
}

/// A seat on the board that counts now (its holder may act on the board:
/// see `permissions::Standing::board_seat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    pub person: Uuid,
    pub role: BoardRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardTally {
    pub approve: u32,
    pub reject: u32,
    pub defer: u32,
    /// The electorate: chair and members currently on the board (advisors
    /// do not vote), and whoever already voted from such a seat.
    pub voting_members: u32,
    pub quorum: u32,
    pub decided: Option<BoardOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepState {
    pub key: String,
    pub label: String,
    pub satisfied: bool,
    /// People whose approvals fill this step.
    pub approvers: Vec<Uuid>,
    /// What is still needed, e.g. "approval missing: role cto".
    pub missing: Vec<String>,
    pub rejected: bool,
    pub deferred: bool,
    pub board: Option<BoardTally>,
    /// The start waits for this step even where approval may follow it.
    pub before_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Approved,
    Rejected,
    Deferred,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalState {
    pub steps: Vec<StepState>,
    pub outcome: Outcome,
}

impl ApprovalState {
    /// Every unmet approval, for POLICY_VIOLATION errors and gate checks.
    pub fn missing(&self) -> Vec<String> {
        self.steps.iter().flat_map(|s| s.missing.clone()).collect()
    }

    /// Every unmet approval as a violated rule.
    pub fn missing_violations(&self) -> Vec<super::violation::Violation> {
        self.missing()
            .into_iter()
            .map(|missing| {
                super::violation::Violation::new(
                    super::violation::ViolationCode::ApprovalMissing,
                    missing,
                )
            })
            .collect()
    }

    /// The board's decision, if a board step decided.
    pub fn board_outcome(&self) -> Option<BoardOutcome> {
        self.steps
            .iter()
            .find_map(|s| s.board.as_ref().and_then(|b| b.decided))
    }
}

/// Whether a meeting has closed the vote: then the votes cast decide (or a
/// missing quorum defers); before, only an absolute majority decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardVote {
    Open,
    Closed,
}

/// Roles accepted by one approver slot.
struct Slot<'a> {
    step: usize,
    roles: Vec<&'a str>,
    timing: StepTiming,
}

fn slots<'a>(steps: &'a [ApprovalStep]) -> Vec<Slot<'a>> {
    let mut slots = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        if step.board {
            continue;
        }
        let with_substitutes = |roles: Vec<&'a str>| -> Vec<&'a str> {
            roles
                .into_iter()
                .chain(step.substitutes.iter().map(String::as_str))
                .collect()
        };
        let all_roles: Vec<&str> = step.roles.iter().map(String::as_str).collect();
        match step.rule {
            ApprovalRule::Any => slots.push(Slot {
                step: index,
                roles: with_substitutes(all_roles),
                timing: step.timing,
            }),
            ApprovalRule::All => {
                for role in &step.roles {
                    slots.push(Slot {
                        step: index,
                        roles: with_substitutes(vec![role.as_str()]),
                        timing: step.timing,
                    });
                }
            }
            ApprovalRule::NOf => {
                for _ in 0..step.count.unwrap_or(1) {
                    slots.push(Slot {
                        step: index,
                        roles: with_substitutes(all_roles.clone()),
                        timing: step.timing,
                    });
                }
            }
        }
    }
    slots
}

fn describe_slot(step: &ApprovalStep, slot: &Slot<'_>) -> String {
    let primary: Vec<&str> = slot
        .roles
        .iter()
        .copied()
        .filter(|r| !step.substitutes.iter().any(|s| s == r))
        .collect();
    let mut text = format!(
        "approval missing: {} {}",
        if primary.len() == 1 {
            "role"
        } else {
            "one of roles"
        },
        primary.join(" or ")
    );
    if !step.substitutes.is_empty() {
        text.push_str(&format!(
            " (or substitute {})",
            step.substitutes.join(" or ")
        ));
    }
    text
}

/// Maximum matching of approvers to slots (Kuhn's algorithm; both sides
/// are a handful of entries). Returns, per slot, the matched approver.
fn match_slots(slots: &[Slot<'_>], approvers: &[&Vote]) -> Vec<Option<usize>> {
    fn try_assign(
        approver: usize,
        slots: &[Slot<'_>],
        approvers: &[&Vote],
        assigned: &mut [Option<usize>],
        visited: &mut [bool],
    ) -> bool {
        for (slot_index, slot) in slots.iter().enumerate() {
            if visited[slot_index]
                || !slot.timing.counts(approvers[approver].after_start)
                || !slot
                    .roles
                    .iter()
                    .any(|r| approvers[approver].roles.contains(*r))
            {
                continue;
            }
            visited[slot_index] = true;
            let free = match assigned[slot_index] {
                None => true,
                Some(other) => try_assign(other, slots, approvers, assigned, visited),
            };
            if free {
                assigned[slot_index] = Some(approver);
                return true;
            }
        }
        false
    }
    let mut assigned = vec![None; slots.len()];
    for approver in 0..approvers.len() {
        let mut visited = vec![false; slots.len()];
        try_assign(approver, slots, approvers, &mut assigned, &mut visited);
    }
    assigned
}

fn holds_any(vote: &Vote, roles: &[String]) -> bool {
    roles.iter().any(|r| vote.roles.contains(r))
}

/// Whether someone with these roles (and board seat) may decide on a change
/// of this type at all.
pub fn qualifies(
    change_type: &ChangeType,
    roles: &BTreeSet<String>,
    seat: Option<BoardRole>,
) -> bool {
    change_type
        .approvals
        .iter()
        .any(|step| decides(step, roles, seat))
}

/// Whether someone with these roles and seat decides `step`: a board
/// step from a voting seat, any step as one of its roles or substitutes.
fn decides(step: &ApprovalStep, roles: &BTreeSet<String>, seat: Option<BoardRole>) -> bool {
    (step.board && votes_on_board(seat))
        || step
            .roles
            .iter()
            .chain(&step.substitutes)
            .any(|r| roles.contains(r))
}

/// Whether someone with these roles and seat would decide on this type
/// only as a backup (a step's `substitutes`), not as one of its approvers:
/// a backup acts when the primary cannot, and says why.
pub fn stands_in_only(
    change_type: &ChangeType,
    roles: &BTreeSet<String>,
    seat: Option<BoardRole>,
) -> bool {
    let primary = change_type.approvals.iter().any(|step| {
        (step.board && votes_on_board(seat)) || step.roles.iter().any(|r| roles.contains(r))
    });
    !primary && qualifies(change_type, roles, seat)
}

fn votes_on_board(seat: Option<BoardRole>) -> bool {
    matches!(seat, Some(BoardRole::Chair | BoardRole::Member))
}

fn tally_board(
    board: &BoardPolicy,
    seats: &[Seat],
    votes: &[&Vote],
    state: BoardVote,
) -> BoardTally {
    // A vote counts when it was cast from a voting seat. Removing its voter
    // afterwards (or changing their seat) does not take it back, so a
    // decision in progress is never rewritten by a change of the roster.
    let counted: Vec<&&Vote> = votes.iter().filter(|v| votes_on_board(v.seat)).collect();
    // Majorities are measured against the voting seats that count now and
    // everyone who already voted from one: a removed voter leaves neither
    // their vote nor their place in the count behind.
    let electorate: BTreeSet<Uuid> = seats
        .iter()
        .filter(|s| votes_on_board(Some(s.role)))
        .map(|s| s.person)
        .chain(counted.iter().map(|v| v.person))
        .collect();
    let count = |d: Decision| counted.iter().filter(|v| v.decision == d).count() as u32;
    let (approve, reject, defer) = (
        count(Decision::Approve),
        count(Decision::Reject),
        count(Decision::Defer),
    );
    let members = electorate.len() as u32;
    let cast = approve + reject + defer;
    let absolute = |n: u32| cast >= board.quorum && n * 2 > members;
    let decided = if board.majority == Majority::TwoThirds {
        two_thirds(board, state, members, approve, reject, defer)
    } else if absolute(approve) {
        Some(BoardOutcome::Approved)
    } else if absolute(reject) {
        Some(BoardOutcome::Rejected)
    } else if absolute(defer) {
        Some(BoardOutcome::Deferred)
    } else if state == BoardVote::Closed || (members > 0 && cast == members) {
        if cast < board.quorum {
            // No quorum: the item moves to the next meeting.
            Some(BoardOutcome::Deferred)
        } else if defer > approve && defer > reject {
            Some(BoardOutcome::Deferred)
        } else if approve > reject {
            Some(BoardOutcome::Approved)
        } else if reject > approve {
            Some(BoardOutcome::Rejected)
        } else {
            // The vote cast from the chair's seat. Should two have been
            // (the chair changed hands mid-vote), they break the tie only
            // when they agree.
            let mut chair_votes = counted
                .iter()
                .filter(|v| v.seat == Some(BoardRole::Chair))
                .map(|v| v.decision);
            let chair_vote = chair_votes
                .next()
                .filter(|first| chair_votes.all(|d| d == *first));
            match (board.chair_breaks_ties, chair_vote) {
                (true, Some(Decision::Approve)) => Some(BoardOutcome::Approved),
                (true, Some(Decision::Reject)) => Some(BoardOutcome::Rejected),
                // A tie nobody may break: decided at the next meeting.
                _ if state == BoardVote::Closed => Some(BoardOutcome::Deferred),
                _ => None,
            }
        }
    } else {
        None
    };
    BoardTally {
        approve,
        reject,
        defer,
        voting_members: members,
        quorum: board.quorum,
        decided,
    }
}

/// The CAB's approval to start during a freeze (`[change_type.in_freeze]
/// board_approval`): the freeze-entry approvals cast from voting seats,
/// carried as the board carries a decision between meetings, by a quorum
/// and more than half of the voting members. Only approvals are given, so
/// the outcome is approved or still open.
pub fn freeze_entry_tally(
    board: &BoardPolicy,
    seats: &[Seat],
    votes: &[Vote],
    requester: Uuid,
) -> BoardTally {
    let entries: Vec<&Vote> = votes
        .iter()
        .filter(|v| v.freeze_entry && v.person != requester && v.decision == Decision::Approve)
        .collect();
    let mut tally = tally_board(board, seats, &entries, BoardVote::Open);
    if tally.decided != Some(BoardOutcome::Approved) {
        tally.decided = None;
    }
    tally
}

/// Why someone with these roles and seat cannot decide yet: every step
/// they would decide waits for an earlier step (`after`) that is not met.
/// `None` when they decide some open step, or none at all (which
/// `qualifies` answers).
pub fn waits_for(
    change_type: &ChangeType,
    state: &ApprovalState,
    roles: &BTreeSet<String>,
    seat: Option<BoardRole>,
) -> Option<String> {
    let met = |key: &str| state.steps.iter().any(|s| s.key == key && s.satisfied);
    let mut waiting = Vec::new();
    for step in &change_type.approvals {
        if !decides(step, roles, seat) {
            continue;
        }
        let unmet: Vec<&str> = step
            .after
            .iter()
            .map(String::as_str)
            .filter(|k| !met(k))
            .collect();
        if unmet.is_empty() {
            return None;
        }
        waiting.push(format!("{} waits for {}", step.label, unmet.join(", ")));
    }
    (!waiting.is_empty()).then(|| waiting.join("; "))
}

/// Why someone with these roles and seat cannot approve yet: every step
/// they decide waits for gates of the type (`after_gates`) that are not
/// met (`unmet_gates`, the keys of those unmet now). `None` when a step
/// they decide waits for none of them.
pub fn approval_waits_for_gates(
    change_type: &ChangeType,
    roles: &BTreeSet<String>,
    seat: Option<BoardRole>,
    unmet_gates: &[&str],
) -> Option<String> {
    let mut waiting = Vec::new();
    for step in change_type
        .approvals
        .iter()
        .filter(|s| decides(s, roles, seat))
    {
        let unmet: Vec<&str> = step
            .after_gates
            .iter()
            .map(String::as_str)
            .filter(|g| unmet_gates.contains(g))
            .collect();
        if unmet.is_empty() {
            return None;
        }
        waiting.push(format!(
            "{} approves once these gates are met: {}",
            step.label,
            unmet.join(", ")
        ));
    }
    (!waiting.is_empty()).then(|| waiting.join("; "))
}

/// Whether a decision by someone with these roles and seat on a change of
/// `change_type` must state its rationale even when it approves: a step
/// they decide says so (seed 001: "Approve or reject (with reason)"), or
/// it is a board step and the board records rationales (seed 000).
pub fn rationale_owed(
    board: Option<&BoardPolicy>,
    change_type: &ChangeType,
    roles: &BTreeSet<String>,
    seat: Option<BoardRole>,
) -> bool {
    let board_records = board.is_some_and(|b| b.rationale_required);
    // A board step's rationale is its voters'; its backups already say why
    // they stand in (SUBSTITUTE_REASON_MISSING).
    change_type.approvals.iter().any(|step| {
        let decides = if step.board {
            votes_on_board(seat)
        } else {
            decides(step, roles, seat)
        };
        decides && (step.rationale_required || (step.board && board_records))
    })
}

/// A two-thirds board: approved once approvals reach two thirds of the
/// votes cast (early: of every voting member, so no later vote can undo
/// it); rejected once more than a third of the voting members reject (two
/// thirds can no longer be reached), or at the close when approvals fall
/// short. Deferrals are votes cast not in favour; when they outnumber both
/// other answers at the close the item is deferred. Members who do not
/// vote abstain: they count only towards the quorum's shortfall.
fn two_thirds(
    board: &BoardPolicy,
    state: BoardVote,
    members: u32,
    approve: u32,
    reject: u32,
    defer: u32,
) -> Option<BoardOutcome> {
    let cast = approve + reject + defer;
    let quorate = cast >= board.quorum;
    if quorate && approve * 3 >= members * 2 {
        Some(BoardOutcome::Approved)
    } else if quorate && reject * 3 > members {
        Some(BoardOutcome::Rejected)
    } else if state == BoardVote::Closed || (members > 0 && cast == members) {
        if !quorate || (defer > approve && defer > reject) {
            Some(BoardOutcome::Deferred)
        } else if approve * 3 >= cast * 2 {
            Some(BoardOutcome::Approved)
        } else {
            Some(BoardOutcome::Rejected)
        }
    } else {
        None
    }
}

/// Evaluates the approval steps of `change_type` against `votes`, each
/// counted for the roles and seat recorded with it; `seats` are the board
/// seats that count now.
pub fn evaluate(
    change_type: &ChangeType,
    board: Option<&BoardPolicy>,
    seats: &[Seat],
    votes: &[Vote],
    requester: Uuid,
    board_vote: BoardVote,
) -> ApprovalState {
    // Nobody approves their own change; a stray record of it never counts.
    // A freeze-entry approval is not a decision on the change.
    let votes: Vec<&Vote> = votes
        .iter()
        .filter(|v| v.person != requester && !v.freeze_entry)
        .collect();
    let slots = slots(&change_type.approvals);
    let approvers: Vec<&Vote> = votes
        .iter()
        .copied()
        .filter(|v| v.decision == Decision::Approve)
        .collect();
    let assigned = match_slots(&slots, &approvers);

    let mut steps: Vec<StepState> = change_type
        .approvals
        .iter()
        .map(|step| StepState {
            key: step.key.clone(),
            label: step.label.clone(),
            satisfied: true,
            approvers: Vec::new(),
            missing: Vec::new(),
            rejected: false,
            deferred: false,
            board: None,
            before_start: step.timing == StepTiming::BeforeStart,
        })
        .collect();
    for (slot, approver) in slots.iter().zip(&assigned) {
        let state = &mut steps[slot.step];
        match approver {
            Some(index) => state.approvers.push(approvers[*index].person),
            None => {
                state.satisfied = false;
                state
                    .missing
                    .push(describe_slot(&change_type.approvals[slot.step], slot));
            }
        }
    }
    for (step, state) in change_type.approvals.iter().zip(steps.iter_mut()) {
        if step.board {
            let Some(board) = board else {
                state.satisfied = false;
                state
                    .missing
                    .push("approval missing: the policy defines no board".into());
                continue;
            };
            let tally = tally_board(board, seats, &votes, board_vote);
            // A backup stands in for a board that cannot decide: its
            // decision counts either way, and never over the board's own.
            let backup = |decision: Decision| {
                votes.iter().find(|v| {
                    v.decision == decision
                        && holds_any(v, &step.substitutes)
                        && !votes_on_board(v.seat)
                })
            };
            let undecided = tally.decided.is_none();
            let substitute = backup(Decision::Approve).filter(|_| undecided);
            let backup_rejected = undecided && backup(Decision::Reject).is_some();
            state.satisfied = (tally.decided == Some(BoardOutcome::Approved)
                || substitute.is_some())
                && !backup_rejected;
            if let Some(person) = substitute
                .map(|v| v.person)
                .filter(|_| tally.decided != Some(BoardOutcome::Approved))
            {
                state.approvers.push(person);
            }
            state.rejected = !state.satisfied
                && (tally.decided == Some(BoardOutcome::Rejected) || backup_rejected);
            state.deferred = !state.satisfied && tally.decided == Some(BoardOutcome::Deferred);
            if !state.satisfied {
                state.missing.push(format!(
                    "approval missing: {} decision ({} approve, {} reject, {} defer of {} voting members; quorum {})",
                    step.label, tally.approve, tally.reject, tally.defer, tally.voting_members, tally.quorum
                ));
            }
            state.board = Some(tally);
        } else {
            let qualified =
                |v: &&&Vote| holds_any(v, &step.roles) || holds_any(v, &step.substitutes);
            state.rejected = votes
                .iter()
                .filter(qualified)
                .any(|v| v.decision == Decision::Reject);
            state.deferred = votes
                .iter()
                .filter(qualified)
                .any(|v| v.decision == Decision::Defer);
        }
    }
    let outcome = if steps.iter().any(|s| s.rejected) {
        Outcome::Rejected
    } else if steps.iter().any(|s| s.deferred) {
        Outcome::Deferred
    } else if steps.iter().all(|s| s.satisfied) {
        Outcome::Approved
    } else {
        Outcome::Pending
    };
    ApprovalState { steps, outcome }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn person() -> Uuid {
        Uuid::new_v4()
    }

    fn vote(person: Uuid, roles: &[&str], decision: Decision) -> Vote {
        Vote {
            person,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            seat: None,
            decision,
            after_start: false,
            freeze_entry: false,
        }
    }

    /// A vote cast from the seat `person` holds on `seats` (none if absent).
    fn cast(seats: &[Seat], person: Uuid, decision: Decision) -> Vote {
        Vote {
            person,
            roles: BTreeSet::new(),
            seat: seats.iter().find(|s| s.person == person).map(|s| s.role),
            decision,
            after_start: false,
            freeze_entry: false,
        }
    }

    /// The policy with its board steps standing alone: these tests are of
    /// the board's tally, so the Change Manager's review that precedes
    /// tiered-cab's CAB (`after`, tested in `a_board_step_waits_for_the_steps_it_names`)
    /// is taken out.
    fn board_tally_only(mut policy: Policy) -> Policy {
        for change_type in &mut policy.change_types {
            let waited_for: Vec<String> = change_type
                .approvals
                .iter()
                .flat_map(|s| s.after.clone())
                .collect();
            change_type
                .approvals
                .retain(|s| !waited_for.contains(&s.key));
            for step in &mut change_type.approvals {
                step.after.clear();
            }
        }
        policy
    }

    fn run(
        policy: &str,
        change_type: &str,
        seats: &[Seat],
        votes: &[Vote],
        requester: Uuid,
        state: BoardVote,
    ) -> ApprovalState {
        let policy = board_tally_only(Policy::load(policy).unwrap());
        evaluate(
            policy.change_type(change_type).unwrap(),
            policy.board.as_ref(),
            seats,
            votes,
            requester,
            state,
        )
    }

    #[test]
    fn any_of_is_met_by_one_holder_of_a_listed_role_or_substitute() {
        let requester = person();
        let pending = run("tiered-cab", "normal", &[], &[], requester, BoardVote::Open);
        assert_eq!(pending.outcome, Outcome::Pending);
        assert_eq!(
            pending.missing(),
            vec!["approval missing: role change_manager (or substitute engineering_lead)"]
        );
        for roles in [&["change_manager"][..], &["engineering_lead"][..]] {
            let approved = run(
                "tiered-cab",
                "normal",
                &[],
                &[vote(person(), roles, Decision::Approve)],
                requester,
                BoardVote::Open,
            );
            assert_eq!(approved.outcome, Outcome::Approved, "{roles:?}");
        }
        let wrong = run(
            "tiered-cab",
            "normal",
            &[],
            &[vote(person(), &["qa"], Decision::Approve)],
            requester,
            BoardVote::Open,
        );
        assert_eq!(wrong.outcome, Outcome::Pending);
    }

    #[test]
    fn all_of_needs_one_person_per_role() {
        let requester = person();
        let both = person();
        // One person holding both roles casts one vote: half the step.
        let one = run(
            "dual-approval",
            "normal",
            &[],
            &[vote(both, &["engineering_lead", "qa"], Decision::Approve)],
            requester,
            BoardVote::Open,
        );
        assert_eq!(one.outcome, Outcome::Pending);
        assert_eq!(one.missing().len(), 1);
        let two = run(
            "dual-approval",
            "normal",
            &[],
            &[
                vote(both, &["engineering_lead", "qa"], Decision::Approve),
                vote(person(), &["engineering_lead"], Decision::Approve),
            ],
            requester,
            BoardVote::Open,
        );
        // The matching puts the dual-role person on QA.
        assert_eq!(two.outcome, Outcome::Approved);
        let lead_only = run(
            "dual-approval",
            "major",
            &[],
            &[vote(person(), &["engineering_lead"], Decision::Approve)],
            requester,
            BoardVote::Open,
        );
        assert_eq!(lead_only.missing(), vec!["approval missing: role ciso"]);
    }

    #[test]
    fn a_substitute_fills_one_missing_slot() {
        let requester = person();
        let state = run(
            "tiered-cab",
            "emergency",
            &[],
            &[
                vote(person(), &["ciso"], Decision::Approve),
                vote(person(), &["ceo"], Decision::Approve),
            ],
            requester,
            BoardVote::Open,
        );
        assert_eq!(state.outcome, Outcome::Approved);
    }

    #[test]
    fn the_requesters_own_approval_never_counts() {
        let requester = person();
        let state = run(
            "tiered-cab",
            "normal",
            &[],
            &[vote(requester, &["change_manager"], Decision::Approve)],
            requester,
            BoardVote::Open,
        );
        assert_eq!(state.outcome, Outcome::Pending);
    }

    #[test]
    fn a_qualified_rejection_or_deferral_decides() {
        let requester = person();
        let rejected = run(
            "dual-approval",
            "normal",
            &[],
            &[
                vote(person(), &["engineering_lead"], Decision::Approve),
                vote(person(), &["qa"], Decision::Reject),
            ],
            requester,
            BoardVote::Open,
        );
        assert_eq!(rejected.outcome, Outcome::Rejected);
        let deferred = run(
            "tiered-cab",
            "normal",
            &[],
            &[vote(person(), &["change_manager"], Decision::Defer)],
            requester,
            BoardVote::Open,
        );
        assert_eq!(deferred.outcome, Outcome::Deferred);
        // An unqualified person's rejection does not count.
        let ignored = run(
            "tiered-cab",
            "normal",
            &[],
            &[vote(person(), &["qa"], Decision::Reject)],
            requester,
            BoardVote::Open,
        );
        assert_eq!(ignored.outcome, Outcome::Pending);
    }

    #[test]
    fn the_cab_approves_a_start_during_a_freeze_by_quorum_and_majority_of_entries() {
        let policy = Policy::load("tiered-cab").unwrap();
        let board_policy = policy.board.as_ref().unwrap();
        let requester = person();
        let [chair, a, b, c, d, advisor] = [(); 6].map(|_| person());
        let seats = board(chair, &[a, b, c, d], &[advisor]);
        let entry = |person: Uuid| Vote {
            freeze_entry: true,
            ..cast(&seats, person, Decision::Approve)
        };
        let tally = |votes: &[Vote]| freeze_entry_tally(board_policy, &seats, votes, requester);
        assert_eq!(tally(&[entry(chair), entry(a)]).decided, None);
        assert_eq!(
            tally(&[entry(chair), entry(a), entry(b)]).decided,
            Some(BoardOutcome::Approved)
        );
        // Decisions on the change, advisors' entries and the requester's
        // own entry are not the CAB's approval of the start.
        let not_entries = [
            cast(&seats, chair, Decision::Approve),
            cast(&seats, a, Decision::Approve),
            entry(advisor),
            Vote {
                person: requester,
                ..entry(b)
            },
            entry(c),
        ];
        let counted = tally(&not_entries);
        assert_eq!((counted.approve, counted.decided), (1, None));
        // Entries never fill an approval step of the change itself.
        let change_type = policy.change_type("normal").unwrap();
        let manager = Vote {
            freeze_entry: true,
            ..vote(person(), &["change_manager"], Decision::Approve)
        };
        let state = |votes: &[Vote]| {
            evaluate(
                change_type,
                Some(board_policy),
                &seats,
                votes,
                requester,
                BoardVote::Open,
            )
            .outcome
        };
        assert_eq!(state(std::slice::from_ref(&manager)), Outcome::Pending);
        let decision = Vote {
            freeze_entry: false,
            ..manager
        };
        assert_eq!(state(&[decision]), Outcome::Approved);
    }

    fn board(chair: Uuid, members: &[Uuid], advisors: &[Uuid]) -> Vec<Seat> {
        let mut seats = vec![Seat {
            person: chair,
            role: BoardRole::Chair,
        }];
        seats.extend(members.iter().map(|p| Seat {
            person: *p,
            role: BoardRole::Member,
        }));
        seats.extend(advisors.iter().map(|p| Seat {
            person: *p,
            role: BoardRole::Advisor,
        }));
        seats
    }

    #[test]
    fn a_two_thirds_board_counts_deferrals_as_votes_and_ignores_abstentions() {
        let policy = board_tally_only(Policy::load("tiered-cab").unwrap());
        let major = policy.change_type("major").unwrap();
        let mut board_rules = policy.board.clone().unwrap();
        board_rules.majority = Majority::TwoThirds;
        board_rules.chair_breaks_ties = false;
        let requester = person();
        let [chair, a, b, c, d] = [person(), person(), person(), person(), person()];
        let seats = board(chair, &[a, b, c, d], &[]);
        let outcome = |votes: &[(Uuid, Decision)], state: BoardVote| {
            let votes: Vec<Vote> = votes.iter().map(|(p, d)| cast(&seats, *p, *d)).collect();
            evaluate(major, Some(&board_rules), &seats, &votes, requester, state).board_outcome()
        };
        use Decision::{Approve, Defer, Reject};
        // Three of five approving is a simple majority, not two thirds of
        // every member: undecided while the meeting is open ...
        let three = [(a, Approve), (b, Approve), (c, Approve)];
        assert_eq!(outcome(&three, BoardVote::Open), None);
        // ... and carried at the close, the two absent members abstaining.
        assert_eq!(
            outcome(&three, BoardVote::Closed),
            Some(BoardOutcome::Approved)
        );
        // Four of five is two thirds of every member: decided at once.
        let four = [(a, Approve), (b, Approve), (c, Approve), (d, Approve)];
        assert_eq!(
            outcome(&four, BoardVote::Open),
            Some(BoardOutcome::Approved)
        );
        // Two rejections of five, with the quorum present: two thirds is
        // out of reach.
        let two_against = [(a, Reject), (b, Reject), (c, Approve)];
        assert_eq!(
            outcome(&two_against, BoardVote::Open),
            Some(BoardOutcome::Rejected)
        );
        // A deferral is a vote cast not in favour: 3 of 5 cast is 60 %.
        let with_deferrals = [
            (a, Approve),
            (b, Approve),
            (c, Approve),
            (d, Defer),
            (chair, Defer),
        ];
        assert_eq!(
            outcome(&with_deferrals, BoardVote::Closed),
            Some(BoardOutcome::Rejected)
        );
        // Below the quorum (3) the item goes to the next meeting.
        assert_eq!(
            outcome(&[(a, Approve), (b, Approve)], BoardVote::Closed),
            Some(BoardOutcome::Deferred)
        );
    }

    #[test]
    fn the_change_manager_approves_a_normal_change_once_its_testing_is_on_record() {
        let policy = Policy::load("tiered-cab").unwrap();
        let normal = policy.change_type("normal").unwrap();
        let manager: BTreeSet<String> = ["change_manager".to_owned()].into();
        // Seed 001 §3.2: "Verify testing completed", then "Approve".
        assert_eq!(
            approval_waits_for_gates(normal, &manager, None, &["unit_tests", "rollback_plan"]),
            Some("Change Manager approves once these gates are met: unit_tests".to_owned())
        );
        // Gates the step does not wait for (the rollback plan, the
        // pre-deployment checklist) do not hold the approval.
        assert_eq!(
            approval_waits_for_gates(
                normal,
                &manager,
                None,
                &["rollback_plan", "deployment_preparation"]
            ),
            None
        );
        // The backup waits as the primary does; a major's review does not.
        let lead: BTreeSet<String> = ["engineering_lead".to_owned()].into();
        assert!(approval_waits_for_gates(normal, &lead, None, &["qa_review"]).is_some());
        let major = policy.change_type("major").unwrap();
        assert_eq!(
            approval_waits_for_gates(major, &manager, None, &["qa_review"]),
            None
        );
    }

    #[test]
    fn a_board_step_waits_for_the_steps_it_names() {
        let policy = Policy::load("tiered-cab").unwrap();
        let major = policy.change_type("major").unwrap();
        let requester = person();
        let [chair, a, b, c, d] = [person(), person(), person(), person(), person()];
        let seats = board(chair, &[a, b, c, d], &[]);
        let none = BTreeSet::new();
        let manager: BTreeSet<String> = ["change_manager".to_owned()].into();
        let before = evaluate(
            major,
            policy.board.as_ref(),
            &seats,
            &[],
            requester,
            BoardVote::Open,
        );
        // Seed 001 §3.2: the Change Manager reviews before the CAB decides.
        assert_eq!(
            waits_for(major, &before, &none, Some(BoardRole::Member)),
            Some("Change Advisory Board waits for change_manager_review".to_owned())
        );
        assert_eq!(waits_for(major, &before, &manager, None), None);
        let reviewed = [vote(person(), &["change_manager"], Decision::Approve)];
        let after = evaluate(
            major,
            policy.board.as_ref(),
            &seats,
            &reviewed,
            requester,
            BoardVote::Open,
        );
        assert_eq!(
            waits_for(major, &after, &none, Some(BoardRole::Member)),
            None
        );
        assert_eq!(after.outcome, Outcome::Pending);
        // Outside the board and the review: nothing to wait for.
        assert_eq!(waits_for(major, &before, &none, None), None);
    }

    #[test]
    fn where_the_board_records_rationales_its_votes_need_one() {
        let mut policy = Policy::load("cab-quorum").unwrap();
        let normal = policy.change_type("normal").unwrap().clone();
        let emergency = policy.change_type("emergency").unwrap().clone();
        let board_rules = policy.board.as_mut().unwrap();
        let none = BTreeSet::new();
        board_rules.rationale_required = false;
        assert!(!rationale_owed(
            Some(board_rules),
            &normal,
            &none,
            Some(BoardRole::Member)
        ));
        board_rules.rationale_required = true;
        assert!(rationale_owed(
            Some(board_rules),
            &normal,
            &none,
            Some(BoardRole::Member)
        ));
        assert!(rationale_owed(
            Some(board_rules),
            &normal,
            &none,
            Some(BoardRole::Chair)
        ));
        // Advisors do not vote; the CISO approving an emergency is no board vote.
        assert!(!rationale_owed(
            Some(board_rules),
            &normal,
            &none,
            Some(BoardRole::Advisor)
        ));
        assert!(!rationale_owed(
            Some(board_rules),
            &emergency,
            &none,
            Some(BoardRole::Member)
        ));
        assert!(!rationale_owed(
            None,
            &normal,
            &none,
            Some(BoardRole::Member)
        ));
        // A step of its own that asks for the reason (seed 001 normal
        // changes: the Change Manager approves or rejects "with reason").
        let mut reasoned = emergency.clone();
        reasoned.approvals[0].rationale_required = true;
        let ciso: BTreeSet<String> = ["ciso".to_owned()].into();
        assert!(rationale_owed(None, &reasoned, &ciso, None));
        assert!(!rationale_owed(None, &reasoned, &none, None));
    }

    #[test]
    fn board_absolute_majority_decides_at_once() {
        let requester = person();
        let [chair, a, b, c, d] = [person(), person(), person(), person(), person()];
        let seats = board(chair, &[a, b, c, d], &[]);
        let votes = [
            cast(&seats, a, Decision::Approve),
            cast(&seats, b, Decision::Approve),
        ];
        let two = run(
            "tiered-cab",
            "major",
            &seats,
            &votes,
            requester,
            BoardVote::Open,
        );
        assert_eq!(
            two.outcome,
            Outcome::Pending,
            "2 of 5 is below quorum and majority"
        );
        let votes = [
            cast(&seats, a, Decision::Approve),
            cast(&seats, b, Decision::Approve),
            cast(&seats, c, Decision::Approve),
        ];
        let three = run(
            "tiered-cab",
            "major",
            &seats,
            &votes,
            requester,
            BoardVote::Open,
        );
        assert_eq!(three.outcome, Outcome::Approved);
        assert_eq!(three.board_outcome(), Some(BoardOutcome::Approved));
    }

    #[test]
    fn board_majority_of_votes_cast_when_the_meeting_closes() {
        let requester = person();
        let [chair, a, b, c, d] = [person(), person(), person(), person(), person()];
        let seats = board(chair, &[a, b, c, d], &[]);
        let votes = [
            cast(&seats, a, Decision::Approve),
            cast(&seats, b, Decision::Approve),
            cast(&seats, c, Decision::Reject),
        ];
        assert_eq!(
            run(
                "tiered-cab",
                "major",
                &seats,
                &votes,
                requester,
                BoardVote::Open
            )
            .outcome,
            Outcome::Pending
        );
        assert_eq!(
            run(
                "tiered-cab",
                "major",
                &seats,
                &votes,
                requester,
                BoardVote::Closed
            )
            .outcome,
            Outcome::Approved
        );
        // Quorum not met at close: deferred to the next meeting.
        let few = [
            cast(&seats, a, Decision::Approve),
            cast(&seats, b, Decision::Approve),
        ];
        let state = run(
            "tiered-cab",
            "major",
            &seats,
            &few,
            requester,
            BoardVote::Closed,
        );
        assert_eq!(state.outcome, Outcome::Deferred);
    }

    #[test]
    fn the_chair_breaks_ties_only_where_the_policy_says_so() {
        let requester = person();
        let [chair, a, b, c] = [person(), person(), person(), person()];
        let seats = board(chair, &[a, b, c], &[]);
        let votes = [
            cast(&seats, chair, Decision::Approve),
            cast(&seats, a, Decision::Approve),
            cast(&seats, b, Decision::Reject),
            cast(&seats, c, Decision::Reject),
        ];
        // tiered-cab: chair breaks ties; all four voted, so it decides now.
        assert_eq!(
            run(
                "tiered-cab",
                "major",
                &seats,
                &votes,
                requester,
                BoardVote::Open
            )
            .outcome,
            Outcome::Approved
        );
        // cab-quorum: no tie-break; the tie defers at close.
        assert_eq!(
            run(
                "cab-quorum",
                "normal",
                &seats,
                &votes,
                requester,
                BoardVote::Open
            )
            .outcome,
            Outcome::Pending
        );
        assert_eq!(
            run(
                "cab-quorum",
                "normal",
                &seats,
                &votes,
                requester,
                BoardVote::Closed
            )
            .outcome,
            Outcome::Deferred
        );
    }

    #[test]
    fn advisors_and_outsiders_do_not_vote_on_the_board() {
        let requester = person();
        let [chair, a, b, advisor] = [person(), person(), person(), person()];
        let seats = board(chair, &[a, b], &[advisor]);
        let votes = [
            cast(&seats, advisor, Decision::Approve),
            cast(&seats, person(), Decision::Approve),
            cast(&seats, a, Decision::Approve),
        ];
        let state = run(
            "weekly-cab",
            "normal",
            &seats,
            &votes,
            requester,
            BoardVote::Open,
        );
        assert_eq!(state.steps[0].board.as_ref().unwrap().approve, 1);
        assert_eq!(state.outcome, Outcome::Pending);
    }

    #[test]
    fn votes_cast_stay_counted_after_their_voter_leaves_the_board() {
        let requester = person();
        let [chair, a, b, c, d, e, f] = [(); 7].map(|_| person());
        let seats = board(chair, &[a, b, c, d, e, f], &[]);
        let votes = [
            cast(&seats, chair, Decision::Approve),
            cast(&seats, a, Decision::Approve),
            cast(&seats, b, Decision::Reject),
            cast(&seats, c, Decision::Reject),
            cast(&seats, d, Decision::Reject),
        ];
        let before = run(
            "tiered-cab",
            "major",
            &seats,
            &votes,
            requester,
            BoardVote::Closed,
        );
        assert_eq!(before.outcome, Outcome::Rejected);
        // b, who voted against, is removed: the vote and b's place in the
        // electorate stay, so the meeting still rejects (counting only the
        // remaining seats would tie 2-2 and let the chair approve).
        let without_b: Vec<Seat> = seats.iter().copied().filter(|s| s.person != b).collect();
        let after = run(
            "tiered-cab",
            "major",
            &without_b,
            &votes,
            requester,
            BoardVote::Closed,
        );
        assert_eq!(after.outcome, Outcome::Rejected);
        let tally = after.steps[0].board.clone().unwrap();
        assert_eq!(
            (tally.approve, tally.reject, tally.voting_members),
            (2, 3, 7)
        );
        // Seats that stopped counting without a vote (a member removed, or
        // one who became an auditor) leave the electorate.
        let fewer: Vec<Seat> = seats
            .iter()
            .copied()
            .filter(|s| s.person != e && s.person != f)
            .collect();
        let tally = run(
            "tiered-cab",
            "major",
            &fewer,
            &votes,
            requester,
            BoardVote::Open,
        )
        .steps[0]
            .board
            .clone()
            .unwrap();
        assert_eq!(tally.voting_members, 5);
        assert_eq!(tally.decided, Some(BoardOutcome::Rejected), "3 of 5");
    }

    #[test]
    fn a_seat_taken_after_deciding_does_not_make_the_decision_a_board_vote() {
        let requester = person();
        let [chair, a, b, late] = [(); 4].map(|_| person());
        let seats = board(chair, &[a, b, late], &[]);
        let votes = [
            cast(&seats, a, Decision::Approve),
            cast(&seats, b, Decision::Approve),
            // Decided with no seat; seated on the board since.
            vote(late, &[], Decision::Approve),
        ];
        let state = run(
            "tiered-cab",
            "major",
            &seats,
            &votes,
            requester,
            BoardVote::Open,
        );
        assert_eq!(state.steps[0].board.as_ref().unwrap().approve, 2);
        assert_eq!(state.outcome, Outcome::Pending);
    }

    #[test]
    fn an_approval_counts_for_the_roles_recorded_with_it() {
        let requester = person();
        let approver = person();
        // Recorded as change_manager: approves, whatever the account holds
        // now. Recorded without the role: approves nothing, even if the
        // account was granted it since.
        let held = run(
            "tiered-cab",
            "normal",
            &[],
            &[vote(approver, &["change_manager"], Decision::Approve)],
            requester,
            BoardVote::Open,
        );
        assert_eq!(held.outcome, Outcome::Approved);
        assert_eq!(held.steps[0].approvers, vec![approver]);
        let not_held = run(
            "tiered-cab",
            "normal",
            &[],
            &[vote(approver, &["requester"], Decision::Approve)],
            requester,
            BoardVote::Open,
        );
        assert_eq!(not_held.outcome, Outcome::Pending);
    }

    #[test]
    fn two_chair_votes_break_a_tie_only_when_they_agree() {
        let requester = person();
        let [old_chair, new_chair, a, b] = [(); 4].map(|_| person());
        let seats = board(new_chair, &[a, b, old_chair], &[]);
        let from_chair = |person: Uuid, decision: Decision| Vote {
            person,
            roles: BTreeSet::new(),
            seat: Some(BoardRole::Chair),
            decision,
            after_start: false,
            freeze_entry: false,
        };
        let votes = [
            from_chair(old_chair, Decision::Approve),
            from_chair(new_chair, Decision::Reject),
            cast(&seats, a, Decision::Approve),
            cast(&seats, b, Decision::Reject),
        ];
        let state = run(
            "tiered-cab",
            "major",
            &seats,
            &votes,
            requester,
            BoardVote::Closed,
        );
        assert_eq!(state.outcome, Outcome::Deferred);
    }

    #[test]
    fn a_board_substitute_stands_in_for_the_board() {
        let requester = person();
        let state = run(
            "tiered-cab",
            "major",
            &[],
            &[vote(person(), &["cto"], Decision::Approve)],
            requester,
            BoardVote::Open,
        );
        assert_eq!(state.outcome, Outcome::Approved);
        assert_eq!(state.board_outcome(), None);
    }

    #[test]
    fn qualification_covers_roles_substitutes_and_voting_seats() {
        let policy = board_tally_only(Policy::load("tiered-cab").unwrap());
        let roles = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        let major = policy.change_type("major").unwrap();
        assert!(qualifies(major, &roles(&[]), Some(BoardRole::Member)));
        assert!(!qualifies(major, &roles(&[]), Some(BoardRole::Advisor)));
        assert!(qualifies(major, &roles(&["cto"]), None));
        assert!(!qualifies(major, &roles(&["qa"]), None));
    }

    #[test]
    fn a_board_backups_decision_counts_either_way_but_never_over_the_board() {
        let requester = person();
        let cto_rejects = run(
            "tiered-cab",
            "major",
            &[],
            &[vote(person(), &["cto"], Decision::Reject)],
            requester,
            BoardVote::Open,
        );
        assert_eq!(cto_rejects.outcome, Outcome::Rejected);

        let (chair, a, b) = (person(), person(), person());
        let seats = [
            Seat {
                person: chair,
                role: BoardRole::Chair,
            },
            Seat {
                person: a,
                role: BoardRole::Member,
            },
            Seat {
                person: b,
                role: BoardRole::Member,
            },
        ];
        let board_rejected = run(
            "tiered-cab",
            "major",
            &seats,
            &[
                cast(&seats, chair, Decision::Reject),
                cast(&seats, a, Decision::Reject),
                cast(&seats, b, Decision::Reject),
                vote(person(), &["cto"], Decision::Approve),
            ],
            requester,
            BoardVote::Open,
        );
        assert_eq!(board_rejected.outcome, Outcome::Rejected);
    }

    #[test]
    fn a_backup_is_told_apart_from_an_approver() {
        let policy = board_tally_only(Policy::load("tiered-cab").unwrap());
        let roles = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        let major = policy.change_type("major").unwrap();
        assert!(stands_in_only(major, &roles(&["cto"]), None));
        assert!(stands_in_only(
            major,
            &roles(&["cto"]),
            Some(BoardRole::Advisor)
        ));
        assert!(!stands_in_only(
            major,
            &roles(&["cto"]),
            Some(BoardRole::Member)
        ));
        let normal = policy.change_type("normal").unwrap();
        assert!(stands_in_only(normal, &roles(&["engineering_lead"]), None));
        assert!(!stands_in_only(
            normal,
            &roles(&["engineering_lead", "change_manager"]),
            None
        ));
        assert!(!stands_in_only(normal, &roles(&["qa"]), None));
    }

    #[test]
    fn a_sign_off_counts_only_after_the_start_and_only_from_its_roles() {
        let requester = person();
        let (ciso, lead) = (person(), person());
        let after = |mut v: Vote| {
            v.after_start = true;
            v
        };
        // The lead's verbal approval meets the step the start waits for.
        let verbal = run(
            "dual-approval",
            "emergency",
            &[],
            &[vote(lead, &["engineering_lead"], Decision::Approve)],
            requester,
            BoardVote::Open,
        );
        assert!(verbal.steps[0].satisfied && verbal.steps[0].before_start);
        assert!(!verbal.steps[1].satisfied);
        assert_eq!(verbal.outcome, Outcome::Pending);
        // The lead's sign-off is no sign-off; a CISO approval before the
        // start is the verbal one, not the sign-off.
        let lead_signs = run(
            "dual-approval",
            "emergency",
            &[],
            &[
                vote(lead, &["engineering_lead"], Decision::Approve),
                after(vote(lead, &["engineering_lead"], Decision::Approve)),
                vote(ciso, &["ciso"], Decision::Approve),
            ],
            requester,
            BoardVote::Open,
        );
        assert_eq!(lead_signs.outcome, Outcome::Pending);
        // The CISO's verbal approval, then the CISO's sign-off.
        let ciso_both = run(
            "dual-approval",
            "emergency",
            &[],
            &[
                vote(ciso, &["ciso"], Decision::Approve),
                after(vote(ciso, &["ciso"], Decision::Approve)),
            ],
            requester,
            BoardVote::Open,
        );
        assert_eq!(ciso_both.outcome, Outcome::Approved);
    }
}

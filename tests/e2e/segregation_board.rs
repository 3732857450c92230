//! Segregation of duties on the board (CC8.1), tried as a hostile user
//! would: a chair made auditor, a requester reshaping the board that
//! decides their change, and role changes after a decision.

use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_TOKEN, TestUser, error_code},
    lifecycle::Flow,
};

const SCHEDULE_MEETING: &str =
    "mutation { scheduleCabMeeting(at: \"2026-12-08T10:00:00Z\") { id status } }";
const CLOSE_MEETING: &str =
    "mutation($m: ID!) { closeCabMeeting(id: $m, minutes: \"Votes read out\") { status minutes } }";
const SET_MEMBER: &str =
    "mutation($u: ID!) { setBoardMember(userId: $u, boardRole: MEMBER) { boardRole } }";
const REMOVE_MEMBER: &str = "mutation($u: ID!) { removeBoardMember(userId: $u) }";

fn message(response: &Value) -> String {
    response["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {response:#}"))
        .to_owned()
}

/// Asserts a FORBIDDEN refusal whose message contains `needle`.
fn assert_forbidden(response: &Value, needle: &str) {
    assert_eq!(error_code(response), "FORBIDDEN", "{response:#}");
    let text = message(response);
    assert!(text.contains(needle), "{needle:?} not in {text:?}");
}

async fn decide(flow: &Flow, voter: &TestUser, id: &Value, decision: &str) -> Value {
    flow.decide(&voter.token, id, decision).await
}

async fn decided(flow: &Flow, voter: &TestUser, id: &Value, decision: &str) -> Value {
    let response = decide(flow, voter, id, decision).await;
    assert!(response.get("errors").is_none(), "{decision}: {response:#}");
    response["data"]["decideApproval"].clone()
}

/// The board step's tally (after the Change Manager's review step).
fn tally(change: &Value) -> Value {
    change["approvalStatus"]["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| !s["board"].is_null()))
        .map(|s| s["board"].clone())
        .unwrap_or_default()
}

async fn approvals(flow: &Flow, id: &Value) -> Vec<Value> {
    flow.app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { approvals { approver { id } decision approverRoles boardRole } } }",
            json!({"id": id}),
        )
        .await["change"]["approvals"]
        .as_array()
        .unwrap()
        .clone()
}

async fn meeting_status(flow: &Flow, meeting: &Value) -> Value {
    flow.app
        .data(
            ADMIN_TOKEN,
            "query($m: ID!) { cabMeeting(id: $m) { status } }",
            json!({"m": meeting}),
        )
        .await["cabMeeting"]["status"]
        .clone()
}

async fn seated(flow: &Flow) -> Vec<String> {
    flow.app
        .data(
            ADMIN_TOKEN,
            "{ board { members { user { id } } } }",
            json!({}),
        )
        .await["board"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn set_roles(flow: &Flow, person: &TestUser, roles: &[&str]) {
    flow.app
        .data(
            ADMIN_TOKEN,
            "mutation($u: ID!, $r: [String!]!) { setUserRoles(userId: $u, roles: $r) { id } }",
            json!({"u": person.id, "r": roles}),
        )
        .await;
}

#[tokio::test]
async fn a_chair_made_auditor_neither_votes_nor_runs_meetings() {
    let flow = Flow::new("tiered-cab").await;
    let board = flow.board(4).await;
    let chair = &board[0];
    let change = flow.create("major", json!({})).await;
    let id = &change["id"];
    flow.submit_to_board(id).await;
    let meeting = flow
        .app
        .data(&chair.token, SCHEDULE_MEETING, json!({}))
        .await["scheduleCabMeeting"]["id"]
        .clone();
    decided(&flow, &board[1], id, "DEFER").await;
    let two = decided(&flow, &board[2], id, "DEFER").await;
    assert_eq!(two["status"], "AWAITING_APPROVAL");

    // The chair is made an auditor; the seat stays where it was.
    set_roles(&flow, chair, &["auditor"]).await;
    assert!(seated(&flow).await.contains(&chair.id));

    // A third deferral would be 3 of 5: the chair's vote would decide.
    let vote = decide(&flow, chair, id, "DEFER").await;
    assert_forbidden(&vote, "an auditor cannot vote or decide approvals");
    let after = flow.get(id).await;
    assert_eq!(after["status"], "AWAITING_APPROVAL");
    let board_tally = tally(&after);
    assert_eq!(board_tally["defer"], 2);
    // The auditor's seat no longer counts toward the electorate.
    assert_eq!(board_tally["votingMembers"], 4);
    // The Change Manager's review and the two deferrals.
    assert_eq!(approvals(&flow, id).await.len(), 3, "no vote recorded");

    let schedule = flow
        .app
        .graphql(&chair.token, SCHEDULE_MEETING, json!({}))
        .await;
    assert_forbidden(&schedule, "an auditor cannot run CAB meetings");
    let close = flow
        .app
        .graphql(&chair.token, CLOSE_MEETING, json!({"m": meeting}))
        .await;
    assert_forbidden(&close, "an auditor cannot run CAB meetings");
    assert_eq!(meeting_status(&flow, &meeting).await, "PLANNED");
    assert_eq!(flow.get(id).await["status"], "AWAITING_APPROVAL");

    // A deactivated member's seat counts for nothing either.
    flow.app
        .data(
            ADMIN_TOKEN,
            "mutation($u: ID!) { deactivateUser(userId: $u) { id } }",
            json!({"u": board[3].id}),
        )
        .await;
    assert_eq!(tally(&flow.get(id).await)["votingMembers"], 3);
}

#[tokio::test]
async fn a_requester_cannot_reshape_the_board_that_decides_their_change() {
    let flow = Flow::new("tiered-cab").await;
    // Chair and six members: seven votes, quorum 3, the chair breaks ties.
    let board = flow.board(6).await;
    let change = flow.create("major", json!({})).await;
    let id = &change["id"];
    let number = change["number"].as_str().unwrap().to_owned();
    flow.submit_to_board(id).await;
    decided(&flow, &board[0], id, "APPROVE").await;
    decided(&flow, &board[1], id, "APPROVE").await;
    let against = &board[2];
    decided(&flow, against, id, "REJECT").await;
    decided(&flow, &board[3], id, "REJECT").await;
    let open = decided(&flow, &board[4], id, "REJECT").await;
    assert_eq!(open["status"], "AWAITING_APPROVAL", "3 of 7 is no majority");

    // The requester, who also holds change_manager, may plan a meeting…
    let requester = &flow.requester.token;
    let meeting = flow.app.data(requester, SCHEDULE_MEETING, json!({})).await["scheduleCabMeeting"]
        ["id"]
        .clone();
    // …but not remove a member who voted against (2-2 with the chair's
    // approval would then carry it), nor seat an ally, nor hold the meeting.
    let removal = flow
        .app
        .graphql(requester, REMOVE_MEMBER, json!({"u": against.id}))
        .await;
    assert_forbidden(&removal, &format!("you requested {number}"));
    assert!(seated(&flow).await.contains(&against.id));
    // A QA Lead: one of the roles tiered-cab seats members from.
    let ally = flow.person("Alan Ally", &["cab", "qa_lead"]).await;
    let seat = flow
        .app
        .graphql(requester, SET_MEMBER, json!({"u": ally.id}))
        .await;
    assert_forbidden(&seat, "cannot seat or remove board members");
    assert!(!seated(&flow).await.contains(&ally.id));
    let close = flow
        .app
        .graphql(requester, CLOSE_MEETING, json!({"m": meeting}))
        .await;
    assert_forbidden(&close, "close a CAB meeting");
    assert_eq!(meeting_status(&flow, &meeting).await, "PLANNED");
    assert_eq!(flow.get(id).await["status"], "AWAITING_APPROVAL");

    // A change manager with no stake may remove the member; the vote the
    // member cast still counts, and so does their place in the electorate.
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let removed = flow
        .app
        .data(&manager.token, REMOVE_MEMBER, json!({"u": against.id}))
        .await;
    assert_eq!(removed["removeBoardMember"], true);
    assert!(!seated(&flow).await.contains(&against.id));
    let board_tally = tally(&flow.get(id).await);
    assert_eq!(
        (
            &board_tally["approve"],
            &board_tally["reject"],
            &board_tally["votingMembers"]
        ),
        (&json!(2), &json!(3), &json!(7))
    );
    let held = flow
        .app
        .data(&manager.token, CLOSE_MEETING, json!({"m": meeting}))
        .await["closeCabMeeting"]
        .clone();
    assert_eq!(held["status"], "HELD");
    assert!(
        held["minutes"]
            .as_str()
            .unwrap()
            .contains(&format!("{number}: REJECTED")),
        "{held:#}"
    );
    let decided = flow.get(id).await;
    assert_eq!(decided["status"], "REJECTED");
    assert_eq!(decided["boardOutcome"], "REJECTED");

    // Once the board has dealt with it, the requester manages the board
    // again like any change manager.
    let later = flow
        .app
        .graphql(requester, SET_MEMBER, json!({"u": ally.id}))
        .await;
    assert!(later.get("errors").is_none(), "{later:#}");
}

#[tokio::test]
async fn an_approval_counts_for_the_roles_its_approver_held_when_deciding() {
    let flow = Flow::new("tiered-cab").await;

    // Taking a role away afterwards does not withdraw the approval.
    let manager = flow.person("Mona Manager", &["change_manager"]).await;
    let normal = flow.create("normal", json!({"title": "Resize pool"})).await;
    flow.submit(&normal["id"]).await;
    flow.verify_testing(&normal["id"]).await;
    let approved = flow.approve(&manager.token, &normal["id"]).await;
    assert_eq!(approved["status"], "APPROVED");
    set_roles(&flow, &manager, &["requester"]).await;
    let later = flow.get(&normal["id"]).await;
    assert_eq!(later["approvalStatus"]["outcome"], "APPROVED", "{later:#}");
    assert_eq!(later["approvalStatus"]["missing"], json!([]));
    let recorded = approvals(&flow, &normal["id"]).await;
    assert_eq!(recorded[0]["approverRoles"], json!(["change_manager"]));
    assert_eq!(recorded[0]["boardRole"], Value::Null);
    let scheduled = flow.schedule(&normal["id"], 1).await;
    assert!(scheduled.get("errors").is_none(), "{scheduled:#}");

    // Granting a role afterwards does not create one: a member's board
    // vote does not become the CTO's stand-in approval when the member is
    // made CTO.
    let board = flow.board(4).await;
    let major = flow
        .create("major", json!({"title": "Split database"}))
        .await;
    let id = &major["id"];
    flow.submit_to_board(id).await;
    decided(&flow, &board[1], id, "APPROVE").await;
    set_roles(&flow, &board[1], &["cab", "cto"]).await;
    let after_grant = flow.get(id).await;
    assert_eq!(after_grant["approvalStatus"]["outcome"], "PENDING");
    let next = decided(&flow, &board[2], id, "APPROVE").await;
    assert_eq!(next["status"], "AWAITING_APPROVAL", "{next:#}");
    assert_eq!(tally(&next)["approve"], 2);
    let recorded = approvals(&flow, id).await;
    let first = recorded
        .iter()
        .find(|a| a["approver"]["id"] == json!(board[1].id))
        .unwrap();
    // The seat's role (seed 001 §4.1) is among the roles held then.
    assert_eq!(first["approverRoles"], json!(["cab", "product_lead"]));
    assert_eq!(first["boardRole"], "MEMBER");
}

#[tokio::test]
async fn approvals_recorded_before_the_snapshot_columns_take_their_approvers_standing() {
    use migration::{Migrator, MigratorTrait};

    let flow = Flow::new("tiered-cab").await;
    let board = flow.board(2).await;
    let major = flow.create("major", json!({})).await;
    flow.submit_to_board(&major["id"]).await;
    decided(&flow, &board[1], &major["id"], "APPROVE").await;
    let manager = flow.person("Mona Manager", &["change_manager"]).await;
    let normal = flow.create("normal", json!({"title": "Resize pool"})).await;
    flow.submit(&normal["id"]).await;
    flow.verify_testing(&normal["id"]).await;
    flow.approve(&manager.token, &normal["id"]).await;

    // Back to the schema before this migration (and whatever came after
    // it), then forward again: the backfill gives existing approvals their
    // approver's roles and seat as they stand.
    let migrations = Migrator::migrations();
    let position = migrations
        .iter()
        .position(|m| m.name() == "m20261202_sod_cab_approval_standing")
        .expect("the migration is registered");
    let steps = u32::try_from(migrations.len() - position).unwrap();
    Migrator::down(&flow.app.db, Some(steps)).await.unwrap();
    Migrator::up(&flow.app.db, None).await.unwrap();

    let vote = &approvals(&flow, &major["id"]).await[0];
    assert_eq!(
        (&vote["approverRoles"], &vote["boardRole"]),
        (&json!(["cab", "product_lead"]), &json!("MEMBER"))
    );
    let approval = &approvals(&flow, &normal["id"]).await[0];
    assert_eq!(
        (&approval["approverRoles"], &approval["boardRole"]),
        (&json!(["change_manager"]), &Value::Null)
    );
    assert_eq!(
        flow.get(&normal["id"]).await["approvalStatus"]["outcome"],
        "APPROVED"
    );
}

/// tiered-cab seats members from the roles seed 001 §4.1 names. A member
/// who no longer holds one keeps the row but not the seat: their vote is
/// refused, and the board counts one voting member fewer; a chair who
/// is no longer the DevOps Lead no longer runs meetings.
#[tokio::test]
async fn a_seat_counts_only_while_its_holder_holds_a_role_it_is_given_from() {
    let flow = Flow::new("tiered-cab").await;
    let board = flow.board(4).await;
    let change = flow.create("major", json!({})).await;
    let id = &change["id"];
    flow.submit_to_board(id).await;
    assert_eq!(tally(&flow.get(id).await)["votingMembers"], 5);

    // The Product Lead moves on: the role goes, the row stays.
    set_roles(&flow, &board[1], &["cab"]).await;
    assert!(seated(&flow).await.contains(&board[1].id));
    let vote = decide(&flow, &board[1], id, "APPROVE").await;
    assert!(vote.to_string().contains("NOT_AN_APPROVER"), "{vote:#}");
    assert_eq!(tally(&flow.get(id).await)["votingMembers"], 4);

    // The chair who is no longer the DevOps Lead plans no meeting.
    set_roles(&flow, &board[0], &["cab"]).await;
    let schedule = flow
        .app
        .graphql(&board[0].token, SCHEDULE_MEETING, json!({}))
        .await;
    assert_forbidden(&schedule, "running CAB meetings requires the chair's seat");
}

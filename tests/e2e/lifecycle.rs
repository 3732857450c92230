//! Scenario tests: a change of every type walked through each preset's
//! seed rules over HTTP, including the refusals.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, TestUser, error_code, spawn_app_with};

pub const STATUS: &str = "id number status version approvedAt boardOutcome
    approvalStatus { outcome missing steps { key satisfied missing board { approve reject defer votingMembers quorum decided } } }
    deadlines { approvalDueAt documentationDueAt documentedAt reviewDueAt reviewedAt }
    overdue { kind dueAt }";

pub struct Flow {
    pub app: TestApp,
    pub requester: TestUser,
    /// A QA reviewer and a senior engineer, made on first use: reviews are
    /// never the requester's to record or to give.
    reviewers: tokio::sync::OnceCell<(TestUser, TestUser)>,
    /// The change manager who reviews before the board, made on first use.
    change_manager: tokio::sync::OnceCell<TestUser>,
    /// The policy's change types, read on first use.
    change_types: tokio::sync::OnceCell<Value>,
    /// Systems made so far, one per change (`create`).
    systems_made: std::sync::atomic::AtomicUsize,
}

/// Gates whose evidence is a review (`review = true` or a code review in
/// the presets), recorded by the flow's reviewer.
const REVIEW_GATES: &[&str] = &["qa_review", "security_review", "code_review"];

/// What a passing record of `gate` states: unit tests their coverage,
/// which the presets bound (at least 80 %).
pub fn passing_data(gate: &str) -> Value {
    if gate == "unit_tests" {
        json!({"coveragePercent": 86.5})
    } else {
        json!({})
    }
}

/// The violations of a POLICY_VIOLATION error.
pub fn violations(response: &Value) -> Vec<String> {
    assert_eq!(error_code(response), "POLICY_VIOLATION", "{response:#}");
    response["errors"][0]["extensions"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The stable codes of a POLICY_VIOLATION error, one per violation and in
/// the same order: what clients match.
pub fn violation_codes(response: &Value) -> Vec<String> {
    let codes: Vec<String> = response["errors"][0]["extensions"]["violationCodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no violationCodes: {response:#}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), violations(response).len(), "{response:#}");
    codes
}

impl Flow {
    pub async fn new(policy: &str) -> Self {
        Self::new_with(policy, |_| {}).await
    }

    /// A flow whose server has further settings.
    pub async fn new_with(
        policy: &str,
        configure: impl FnOnce(&mut api::config::Settings) + Send + 'static,
    ) -> Self {
        let policy = policy.to_owned();
        let app = spawn_app_with(move |settings| {
            settings.policy = policy;
            configure(settings);
        })
        .await;
        // The requester also holds approver roles: the rules must still
        // refuse their own approvals.
        let requester = app
            .user(
                "Rita Requester",
                &[
                    "requester",
                    "change_manager",
                    "ciso",
                    "cto",
                    "engineering_lead",
                    "qa",
                    "security_officer",
                ],
            )
            .await;
        Flow {
            app,
            requester,
            reviewers: tokio::sync::OnceCell::new(),
            change_manager: tokio::sync::OnceCell::new(),
            change_types: tokio::sync::OnceCell::new(),
            systems_made: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// (QA reviewer, senior engineer), both other than the requester.
    pub async fn reviewers(&self) -> &(TestUser, TestUser) {
        self.reviewers
            .get_or_init(|| async {
                (
                    self.app.user("Flow QA Reviewer", &["qa"]).await,
                    self.app
                        .user("Flow Senior Reviewer", &["senior_engineer"])
                        .await,
                )
            })
            .await
    }

    /// Code review details naming the two reviewers (one senior).
    pub async fn code_review(&self) -> Value {
        let (qa, senior) = self.reviewers().await;
        json!({"reviewers": [{"id": qa.id}, {"id": senior.id}]})
    }

    pub async fn person(&self, name: &str, roles: &[&str]) -> TestUser {
        self.app.user(name, roles).await
    }

    /// Files a change of `change_type` stating everything a seed's
    /// request form asks (its own system, so bookings never conflict;
    /// plan, tests, rollback, a low residual risk, a planned window),
    /// overridden by `extra`.
    pub async fn create(&self, change_type: &str, extra: Value) -> Value {
        let planned = self.app.clock.now() + Duration::days(2);
        let mut fields = json!({
            "type": change_type,
            "implementationPlan": {"steps": ["deploy to canary", "watch error rates", "deploy to all"]},
            "testPlan": "staging run of the regression suite; accepted when every check is green",
            "mitigations": "canary first, automated rollback",
            "residualLikelihood": 1,
            "residualImpact": 2,
            "plannedStart": planned.to_rfc3339(),
            "plannedEnd": (planned + Duration::hours(1)).to_rfc3339(),
            "rollbackPlan": {"trigger": "error rate above 5%", "steps": ["redeploy previous release"], "owner": "SRE on call",
                             "verification": ["smoke tests pass"], "timeEstimateMinutes": 15},
        });
        if let Some(method) = self.deployment_method_of(change_type).await {
            fields["implementationPlan"]["deploymentMethod"] = method;
        }
        if extra.get("systemIds").is_none() {
            let n = self
                .systems_made
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let system = self
                .app
                .system(&format!("Flow system {n} of {change_type}"), None)
                .await;
            fields["systemIds"] = json!([system]);
        }
        for (key, value) in extra.as_object().cloned().unwrap_or_default() {
            fields[key] = value;
        }
        self.app.create_change(&self.requester.token, fields).await
    }

    /// The first deployment method the policy allows for the type, if it
    /// names any.
    async fn deployment_method_of(&self, change_type: &str) -> Option<Value> {
        let types = self
            .change_types
            .get_or_init(|| async {
                self.app
                    .data(
                        ADMIN_TOKEN,
                        "{ policy { changeTypes { key deploymentMethods } } }",
                        json!({}),
                    )
                    .await["policy"]["changeTypes"]
                    .clone()
            })
            .await;
        types
            .as_array()?
            .iter()
            .find(|t| t["key"] == change_type)
            .and_then(|t| t["deploymentMethods"].get(0).cloned())
    }

    pub async fn call(&self, token: &str, mutation: &str, args: &str, variables: Value) -> Value {
        self.app
            .graphql(
                token,
                &format!("mutation($id: ID!, {args}) {{ {mutation} {{ {STATUS} }} }}"),
                variables,
            )
            .await
    }

    pub async fn ok(&self, token: &str, mutation: &str, args: &str, variables: Value) -> Value {
        let response = self.call(token, mutation, args, variables).await;
        assert!(response.get("errors").is_none(), "{mutation}: {response:#}");
        let name = mutation.split('(').next().unwrap();
        response["data"][name].clone()
    }

    pub async fn submit(&self, id: &Value) -> Value {
        self.ok(
            &self.requester.token,
            "submitChange(id: $id)",
            "",
            json!({"id": id}),
        )
        .await
    }

    /// Submits a change whose board step waits for the Change Manager's
    /// review (tiered-cab's major changes, seed 001 §3.2) and gives that
    /// review, so the change is before the board.
    pub async fn submit_to_board(&self, id: &Value) -> Value {
        self.submit(id).await;
        let manager = self
            .change_manager
            .get_or_init(|| self.app.user("Flow Change Manager", &["change_manager"]))
            .await;
        self.approve(&manager.token, id).await
    }

    pub async fn decide(&self, token: &str, id: &Value, decision: &str) -> Value {
        self.call(
            token,
            "decideApproval(changeId: $id, decision: $d, comment: $c)",
            "$d: Decision!, $c: String",
            json!({"id": id, "d": decision, "c": format!("{decision} after review")}),
        )
        .await
    }

    pub async fn approve(&self, token: &str, id: &Value) -> Value {
        let response = self.decide(token, id, "APPROVE").await;
        assert!(response.get("errors").is_none(), "approve: {response:#}");
        response["data"]["decideApproval"].clone()
    }

    pub async fn evidence(
        &self,
        token: &str,
        id: &Value,
        gate: &str,
        status: &str,
        data: Value,
    ) -> Value {
        self.app
            .graphql(
                token,
                "mutation($id: ID!, $input: EvidenceInput!) { recordEvidence(changeId: $id, input: $input) { id gate status } }",
                json!({"id": id, "input": {"gate": gate, "status": status, "data": data, "url": "https://ci.example.com/run/1"}}),
            )
            .await
    }

    /// Passes plain evidence gates: the requester records pipeline
    /// results, the QA reviewer records reviews.
    pub async fn pass(&self, id: &Value, gates: &[&str]) {
        for gate in gates {
            let token = if REVIEW_GATES.contains(gate) {
                &self.reviewers().await.0.token
            } else {
                &self.requester.token
            };
            let response = self
                .evidence(token, id, gate, "PASSED", passing_data(gate))
                .await;
            assert!(response.get("errors").is_none(), "{gate}: {response:#}");
        }
    }

    /// Schedules exactly `[start, start + 2 h)`.
    pub async fn schedule_at(&self, id: &Value, start: chrono::DateTime<Utc>) -> Value {
        self.call(
            &self.requester.token,
            "scheduleChange(id: $id, start: $s, end: $e)",
            "$s: DateTime!, $e: DateTime!",
            json!({"id": id, "s": start.to_rfc3339(), "e": (start + Duration::hours(2)).to_rfc3339()}),
        )
        .await
    }

    /// Schedules into the first slot `suggestSlots` offers at least
    /// `in_hours` from the server's now (inside the policy's windows,
    /// outside freezes, free of conflicts).
    pub async fn schedule(&self, id: &Value, in_hours: i64) -> Value {
        let after = self.app.clock.now() + Duration::hours(in_hours);
        let slots = self
            .app
            .data(
                &self.requester.token,
                "query($id: ID!, $after: DateTime) { suggestSlots(changeId: $id, after: $after, count: 1) { start end } }",
                json!({"id": id, "after": after.to_rfc3339()}),
            )
            .await;
        let slot = &slots["suggestSlots"][0];
        self.call(
            &self.requester.token,
            "scheduleChange(id: $id, start: $s, end: $e)",
            "$s: DateTime!, $e: DateTime!",
            json!({"id": id, "s": slot["start"], "e": slot["end"]}),
        )
        .await
    }

    /// Moves the server's clock to one minute into the change's slot.
    pub async fn advance_to_start(&self, id: &Value) {
        let change = self
            .app
            .data(
                ADMIN_TOKEN,
                "query($id: ID) { change(id: $id) { scheduledStart } }",
                json!({"id": id}),
            )
            .await;
        let start: chrono::DateTime<Utc> = change["change"]["scheduledStart"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let wait = start - self.app.clock.now() + Duration::minutes(1);
        if wait > Duration::zero() {
            self.app.clock.advance(wait);
        }
    }

    /// A tiered-cab normal change taken to IMPLEMENTING: submitted,
    /// approved by `manager`, scheduled an hour ahead, its three gates
    /// passed, the clock moved into its window, started.
    /// tiered-cab's testing for a normal change (seed 001 §3.2 "Verify
    /// testing completed", before the Change Manager approves).
    pub const TESTING: &'static [&'static str] = &["unit_tests", "integration_tests", "qa_review"];

    /// Records the testing a tiered-cab normal change needs before its
    /// approval.
    pub async fn verify_testing(&self, id: &Value) {
        self.pass(id, Self::TESTING).await;
    }

    pub async fn started_normal(&self, manager: &TestUser) -> Value {
        let change = self.create("normal", json!({})).await;
        let id = &change["id"];
        self.submit(id).await;
        self.verify_testing(id).await;
        self.approve(&manager.token, id).await;
        self.schedule(id, 1).await;
        self.pass(id, &["deployment_preparation"]).await;
        self.advance_to_start(id).await;
        self.start(id).await;
        change
    }

    pub async fn start(&self, id: &Value) -> Value {
        self.call(
            &self.requester.token,
            "startImplementation(id: $id)",
            "",
            json!({"id": id}),
        )
        .await
    }

    pub async fn complete(&self, id: &Value, outcome: &str) -> Value {
        self.ok(
            &self.requester.token,
            "completeImplementation(id: $id, outcome: $o)",
            "$o: ChangeOutcome!",
            json!({"id": id, "o": outcome}),
        )
        .await
    }

    pub async fn close(&self, id: &Value) -> Value {
        self.call(
            &self.requester.token,
            "closeChange(id: $id)",
            "",
            json!({"id": id}),
        )
        .await
    }

    pub async fn review(&self, token: &str, id: &Value, kind: &str) -> Value {
        self.app
            .graphql(
                token,
                "mutation($id: ID!, $k: ReviewKind!) { recordReview(id: $id, kind: $k, summary: \"Root cause understood\", lessonsLearned: \"Add a canary\", rootCause: \"A missing index\") { id kind } }",
                json!({"id": id, "k": kind}),
            )
            .await
    }

    pub async fn get(&self, id: &Value) -> Value {
        self.app
            .data(
                ADMIN_TOKEN,
                &format!("query($id: ID) {{ change(id: $id) {{ {STATUS} }} }}"),
                json!({"id": id}),
            )
            .await["change"]
            .clone()
    }

    /// Seats a chair and `members` members; returns their accounts.
    /// The `nth` (from 1) next start of the board's meeting schedule
    /// (`cabSchedule`), where a meeting may be planned.
    pub async fn meeting_start(&self, nth: usize) -> String {
        let starts = self
            .app
            .data(
                ADMIN_TOKEN,
                "query($n: Int!) { cabSchedule(first: $n) }",
                json!({"n": nth}),
            )
            .await["cabSchedule"]
            .clone();
        starts[nth - 1].as_str().unwrap().to_owned()
    }

    pub async fn board(&self, members: usize) -> Vec<TestUser> {
        // Where the policy names the seats' roles, the chair holds the
        // first chair role and members the last member role (the one with
        // the least power elsewhere in the presets).
        let seats = self
            .app
            .data(
                ADMIN_TOKEN,
                "{ policy { board { chairRoles memberRoles } } }",
                json!({}),
            )
            .await["policy"]["board"]
            .clone();
        let first = |key: &str| seats[key].as_array().and_then(|r| r.first().cloned());
        let chair_role = first("chairRoles");
        let member_role = seats["memberRoles"]
            .as_array()
            .and_then(|r| r.last().cloned());
        let mut seated = Vec::new();
        for index in 0..=members {
            let seat_role = if index == 0 {
                &chair_role
            } else {
                &member_role
            };
            let mut roles = vec!["cab"];
            if let Some(role) = seat_role {
                roles.push(role.as_str().unwrap());
            }
            let person = self.person(&format!("Board {index}"), &roles).await;
            let role = if index == 0 { "CHAIR" } else { "MEMBER" };
            self.app
                .data(
                    ADMIN_TOKEN,
                    "mutation($u: ID!, $r: BoardRole!) { setBoardMember(userId: $u, boardRole: $r) { boardRole } }",
                    json!({"u": person.id, "r": role}),
                )
                .await;
            seated.push(person);
        }
        seated
    }
}

#[tokio::test]
async fn tiered_cab_normal_change_end_to_end() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let outsider = flow.person("Quinn QA", &["qa"]).await;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];

    // Not yet submitted: no decisions.
    let early = flow.decide(&manager.token, id, "APPROVE").await;
    assert_eq!(violation_codes(&early), ["WRONG_STATUS"]);
    assert!(violations(&early)[0].starts_with("cannot decide on a change that is DRAFT"));

    let submitted = flow.submit(id).await;
    assert_eq!(submitted["status"], "AWAITING_APPROVAL");
    assert_eq!(
        submitted["approvalStatus"]["missing"],
        json!(["approval missing: role change_manager (or substitute engineering_lead)"])
    );

    // The requester holds change_manager but cannot approve their own change.
    let own = flow.decide(&flow.requester.token, id, "APPROVE").await;
    assert_eq!(
        violations(&own),
        vec!["requester cannot approve own change"]
    );
    assert_eq!(violation_codes(&own), ["SELF_APPROVAL"]);
    let unqualified = flow.decide(&outsider.token, id, "APPROVE").await;
    assert_eq!(violation_codes(&unqualified), ["NOT_AN_APPROVER"]);
    assert!(violations(&unqualified)[0].starts_with("you are not an approver of normal changes"));

    // Section 3.2: "Verify testing completed", then "Approve or reject".
    let untested = flow.decide(&manager.token, id, "APPROVE").await;
    assert_eq!(violation_codes(&untested), ["STEP_NOT_OPEN"]);
    assert_eq!(
        violations(&untested),
        [
            "not open for your approval yet: Change Manager approves once these gates are met: unit_tests, integration_tests, qa_review"
        ]
    );
    flow.pass(id, &["unit_tests", "integration_tests"]).await;
    let still = flow.decide(&manager.token, id, "APPROVE").await;
    assert!(
        violations(&still)[0].ends_with("these gates are met: qa_review"),
        "{still:#}"
    );
    flow.pass(id, &["qa_review"]).await;
    let approved = flow.approve(&manager.token, id).await;
    assert_eq!(approved["status"], "APPROVED");
    assert!(approved["approvedAt"].is_string());
    // One person, one vote.
    let again = flow.decide(&manager.token, id, "APPROVE").await;
    // Approved already, and decided by this person: both are said.
    assert_eq!(violation_codes(&again), ["WRONG_STATUS", "ALREADY_DECIDED"]);

    let scheduled = flow.schedule(id, 1).await;
    assert_eq!(scheduled["data"]["scheduleChange"]["status"], "SCHEDULED");

    // Every missing item is listed, and nothing is written.
    let started = flow.start(id).await;
    assert_eq!(
        violation_codes(&started),
        ["GATE_MISSING", "OUTSIDE_SCHEDULED_SLOT"]
    );
    let refused = violations(&started);
    assert_eq!(refused[0], "gate missing: deployment_preparation");
    assert!(refused[1].starts_with("outside the scheduled window: it opens at"));
    assert_eq!(flow.get(id).await["status"], "SCHEDULED");

    flow.pass(id, &["deployment_preparation"]).await;
    // Section 6.2's post-deployment checklist verifies the deployment:
    // a record before the start would verify nothing.
    let premature = flow
        .evidence(
            &flow.requester.token,
            id,
            "post_deployment_validation",
            "PASSED",
            json!({}),
        )
        .await;
    assert_eq!(
        violation_codes(&premature),
        ["WRONG_STATUS"],
        "{premature:#}"
    );
    flow.advance_to_start(id).await;
    let started = flow.start(id).await;
    assert_eq!(
        started["data"]["startImplementation"]["status"], "IMPLEMENTING",
        "{started:#}"
    );
    let implemented = flow.complete(id, "SUCCESSFUL").await;
    assert_eq!(implemented["status"], "IMPLEMENTED");
    // Section 6.2: "Monitor for 1 hour (normal)" before it closes, and the
    // post-deployment checklist is on record.
    let early = flow.close(id).await;
    assert_eq!(
        violation_codes(&early),
        ["MONITORING_PERIOD", "GATE_MISSING"]
    );
    assert!(
        violations(&early)[0].starts_with(
            "monitoring period: a normal change is monitored for 1 hour after implementation"
        ),
        "{early:#}"
    );
    assert!(
        violations(&early)[1].starts_with("gate missing: post_deployment_validation"),
        "{early:#}"
    );
    let gates = flow
        .app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { gates { key met before } } }",
            json!({"id": id}),
        )
        .await["change"]["gates"]
        .clone();
    assert_eq!(
        gates.as_array().unwrap().last().unwrap(),
        &json!({"key": "post_deployment_validation", "met": false, "before": "CLOSE"})
    );
    flow.pass(id, &["post_deployment_validation"]).await;
    flow.app.clock.advance(Duration::minutes(61));
    let closed = flow.close(id).await;
    assert_eq!(
        closed["data"]["closeChange"]["status"], "CLOSED",
        "{closed:#}"
    );

    // The audit trail holds every step, and still verifies.
    let history = flow.app.audit_event_count().await;
    assert!(history >= 10);
    let verified = flow
        .app
        .data(ADMIN_TOKEN, "{ verifyAuditLog { ok } }", json!({}))
        .await;
    assert_eq!(verified["verifyAuditLog"]["ok"], true);
}

#[tokio::test]
async fn tiered_cab_standard_change_needs_a_catalog_template_and_no_approval() {
    let flow = Flow::new("tiered-cab").await;
    let change = flow.create("standard", json!({})).await;
    let id = &change["id"];
    let refused = flow
        .call(
            &flow.requester.token,
            "submitChange(id: $id)",
            "",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        violations(&refused),
        vec![
            "template missing: a standard change must reference a standard change catalog template"
        ]
    );
    let template = flow
        .app
        .data(
            &flow.requester.token,
            "mutation { createTemplate(input: {key: \"tls-renewal\", name: \"TLS certificate renewal\", changeType: \"standard\",
                description: \"Renew certificates with the ACME client\", procedure: [\"run certbot renew\", \"reload nginx\"]}) { id } }",
            json!({}),
        )
        .await["createTemplate"]["id"]
        .clone();
    flow.app
        .data(
            &flow.requester.token,
            "mutation($id: ID!, $t: ID) { updateChange(id: $id, expectedVersion: 1, input: {templateId: $t}) { version } }",
            json!({"id": id, "t": template}),
        )
        .await;
    let submitted = flow.submit(id).await;
    assert_eq!(
        submitted["status"], "APPROVED",
        "pre-approved: {submitted:#}"
    );
    assert_eq!(submitted["approvalStatus"]["outcome"], "APPROVED");
    flow.schedule(id, 1).await;
    flow.pass(id, &["unit_tests", "deployment_preparation"])
        .await;
    flow.advance_to_start(id).await;
    assert_eq!(
        flow.start(id).await["data"]["startImplementation"]["status"],
        "IMPLEMENTING"
    );
}

#[tokio::test]
async fn tiered_cab_major_change_goes_to_the_board() {
    let flow = Flow::new("tiered-cab").await;
    let board = flow.board(4).await;
    let change = flow.create("major", json!({})).await;
    let id = &change["id"];
    flow.submit_to_board(id).await;
    let agenda = flow
        .app
        .data(
            &board[0].token,
            "mutation { scheduleCabMeeting(at: \"2026-12-01T10:00:00Z\") { id agenda { reason change { number } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        agenda["scheduleCabMeeting"]["agenda"],
        json!([{"reason": "DECISION", "change": {"number": change["number"]}}])
    );
    flow.approve(&board[1].token, id).await;
    let two = flow.approve(&board[2].token, id).await;
    assert_eq!(two["status"], "AWAITING_APPROVAL");
    // Step 0 is the Change Manager's review (seed 001 §3.2), step 1 the CAB.
    assert_eq!(two["approvalStatus"]["steps"][1]["board"]["approve"], 2);
    let three = flow.approve(&board[3].token, id).await;
    assert_eq!(three["status"], "APPROVED");
    assert_eq!(three["boardOutcome"], "APPROVED");
    let gates = flow
        .app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { gates { key met } } }",
            json!({"id": id}),
        )
        .await;
    // Seven before the start, the post-deployment checklist before closing.
    assert_eq!(gates["change"]["gates"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn tiered_cab_emergency_starts_before_approval_and_tracks_deadlines() {
    let flow = Flow::new("tiered-cab").await;
    let ciso = flow.person("Cleo CISO", &["ciso"]).await;
    let cto = flow.person("Theo CTO", &["cto"]).await;
    let reviewer = flow.person("Mia Manager", &["change_manager"]).await;
    let change = flow
        .create("emergency", json!({"title": "Patch CVE-2026-1234"}))
        .await;
    let id = &change["id"];
    flow.submit(id).await;
    // Seed 001 still requires unit tests for emergencies.
    assert_eq!(
        violations(&flow.start(id).await),
        vec!["gate missing: unit_tests"]
    );
    flow.pass(id, &["unit_tests"]).await;
    let started = flow.start(id).await["data"]["startImplementation"].clone();
    assert_eq!(started["status"], "IMPLEMENTING");
    let now = flow.app.clock.now();
    let due: chrono::DateTime<Utc> = started["deadlines"]["approvalDueAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!((due - now).num_hours(), 23, "due 24 h after start");
    assert_eq!(started["overdue"], json!([]));

    flow.app.clock.advance(Duration::hours(25));
    let late = flow.get(id).await;
    let kinds: Vec<&str> = late["overdue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["APPROVAL", "DOCUMENTATION"]);
    let overdue = flow
        .app
        .data(ADMIN_TOKEN, "{ overdue { number } }", json!({}))
        .await;
    assert_eq!(overdue["overdue"], json!([{"number": change["number"]}]));

    // Retroactive approval: CISO and CTO, status stays.
    flow.approve(&ciso.token, id).await;
    let approved = flow.approve(&cto.token, id).await;
    assert_eq!(approved["status"], "IMPLEMENTING");
    assert!(approved["approvedAt"].is_string());
    let implemented = flow.complete(id, "SUCCESSFUL").await;
    assert!(implemented["deadlines"]["reviewDueAt"].is_string());

    let refused = violations(&flow.close(id).await);
    assert_eq!(
        refused,
        vec![
            "post-implementation review missing",
            "the CAB's post-implementation review missing: record a BOARD review from its meeting",
            "emergency documentation missing",
            "gate missing: post_deployment_validation (recorded after implementation started, before closing)"
        ]
    );
    flow.pass(id, &["post_deployment_validation"]).await;
    // The requester may not review their own change.
    assert_eq!(
        error_code(
            &flow
                .review(&flow.requester.token, id, "POST_EMERGENCY")
                .await
        ),
        "FORBIDDEN"
    );
    let review = flow.review(&reviewer.token, id, "POST_EMERGENCY").await;
    assert!(review.get("errors").is_none(), "{review:#}");
    flow.pass(id, &["emergency_documentation"]).await;
    // "Present to CAB at next meeting for review" (seed 001 §3.2).
    let refused = flow.close(id).await;
    assert_eq!(violation_codes(&refused), ["BOARD_REVIEW_MISSING"]);
    let board = flow.board(2).await;
    let by_board = flow.review(&board[1].token, id, "BOARD").await;
    assert!(by_board.get("errors").is_none(), "{by_board:#}");
    let closed = flow.close(id).await;
    assert_eq!(
        closed["data"]["closeChange"]["status"], "CLOSED",
        "{closed:#}"
    );
    assert_eq!(flow.get(id).await["overdue"], json!([]));
}

/// Seed 001: the CISO rejects the retroactive approval of an emergency
/// already implementing. The rejection stays on record, the change is
/// rolled back, reviewed (post-emergency and by the CAB) and then closes.
#[tokio::test]
async fn a_rejected_emergency_closes_after_rollback_and_review() {
    let flow = Flow::new("tiered-cab").await;
    let ciso = flow.person("Cleo CISO", &["ciso"]).await;
    let reviewer = flow.person("Mia Manager", &["change_manager"]).await;
    let change = flow.create("emergency", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    flow.pass(id, &["unit_tests"]).await;
    assert_eq!(
        flow.start(id).await["data"]["startImplementation"]["status"],
        "IMPLEMENTING"
    );
    let rejected = flow.decide(&ciso.token, id, "REJECT").await;
    assert!(rejected.get("errors").is_none(), "{rejected:#}");
    assert_eq!(
        rejected["data"]["decideApproval"]["approvalStatus"]["outcome"],
        "REJECTED"
    );
    flow.app
        .data(
            &flow.requester.token,
            "mutation($id: ID!) { rollBackChange(id: $id, reason: \"approval rejected\", rollbackKind: \"full_restore\") { change { status } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(flow.get(id).await["status"], "ROLLED_BACK");
    flow.pass(id, &["emergency_documentation"]).await;
    let refused = flow.close(id).await;
    assert_eq!(
        violation_codes(&refused),
        ["REVIEW_MISSING", "BOARD_REVIEW_MISSING"],
        "{refused:#}"
    );
    let review = flow.review(&reviewer.token, id, "POST_EMERGENCY").await;
    assert!(review.get("errors").is_none(), "{review:#}");
    let board = flow.board(2).await;
    let by_board = flow.review(&board[1].token, id, "BOARD").await;
    assert!(by_board.get("errors").is_none(), "{by_board:#}");
    let closed = flow.close(id).await;
    assert_eq!(
        closed["data"]["closeChange"]["status"], "CLOSED",
        "{closed:#}"
    );
    let after = flow.get(id).await;
    assert_eq!(after["approvalStatus"]["outcome"], "REJECTED");
    assert!(after["approvedAt"].is_null());
}

/// Seed 001: the CTO is the CAB's backup. A backup acts when the board
/// cannot, says why, and its decision counts either way: a CTO rejection
/// rejects the major change.
#[tokio::test]
async fn the_cabs_backup_says_why_and_its_rejection_counts() {
    let flow = Flow::new("tiered-cab").await;
    let cto = flow.person("Theo CTO", &["cto"]).await;
    let change = flow.create("major", json!({})).await;
    let id = &change["id"];
    flow.submit_to_board(id).await;
    let silent = flow
        .call(
            &cto.token,
            "decideApproval(changeId: $id, decision: APPROVE)",
            "",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        violation_codes(&silent),
        ["SUBSTITUTE_REASON_MISSING"],
        "{silent:#}"
    );
    let rejected = flow.decide(&cto.token, id, "REJECT").await;
    assert!(rejected.get("errors").is_none(), "{rejected:#}");
    assert_eq!(flow.get(id).await["status"], "REJECTED");
}

#[tokio::test]
async fn a_rollback_opens_an_incident_and_needs_a_review_before_closing() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let change = flow.started_normal(&manager).await;
    let id = &change["id"];
    let bad_priority = flow
        .app
        .graphql(
            &flow.requester.token,
            "mutation($id: ID!) { rollBackChange(id: $id, reason: \"latency\", incidentPriority: P4) { change { status } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&bad_priority), "VALIDATION");
    let rolled_back = flow
        .app
        .data(
            &flow.requester.token,
            "mutation($id: ID!) { rollBackChange(id: $id, reason: \"p99 latency doubled\", rollbackKind: \"version_revert\") {
                change { status outcome rollbackReason incidents { priority title } } incident { priority } } }",
            json!({"id": id}),
        )
        .await["rollBackChange"]
        .clone();
    assert_eq!(rolled_back["change"]["status"], "ROLLED_BACK");
    assert_eq!(rolled_back["change"]["outcome"], "ROLLED_BACK");
    assert_eq!(
        rolled_back["change"]["rollbackReason"],
        "p99 latency doubled"
    );
    assert_eq!(rolled_back["incident"]["priority"], "P3");
    assert_eq!(
        violations(&flow.close(id).await),
        vec!["post-implementation review missing"]
    );
    // Seed 001 §7.2 "Post-Rollback: Document lessons learned, Root cause
    // analysis": a review stating neither is refused and not stored.
    let thin = flow
        .app
        .graphql(
            &manager.token,
            "mutation($id: ID!) { recordReview(id: $id, summary: \"Rolled back\", rootCause: \"  \") { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        violation_codes(&thin),
        ["REVIEW_CONTENT_MISSING", "REVIEW_CONTENT_MISSING"]
    );
    assert_eq!(
        violations(&thin),
        [
            "review content missing: a review of a failed or rolled-back normal change states the lessons learned (lessonsLearned)",
            "review content missing: a review of a failed or rolled-back normal change states the root cause (rootCause)"
        ]
    );
    let review = flow.review(&manager.token, id, "POST_IMPLEMENTATION").await;
    assert!(review.get("errors").is_none(), "{review:#}");
    let reviews = flow
        .app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { reviews { summary lessonsLearned rootCause } } }",
            json!({"id": id}),
        )
        .await["change"]["reviews"]
        .clone();
    assert_eq!(
        reviews,
        json!([{"summary": "Root cause understood", "lessonsLearned": "Add a canary", "rootCause": "A missing index"}])
    );
    assert_eq!(
        flow.close(id).await["data"]["closeChange"]["status"],
        "CLOSED"
    );
}

/// Seed 001 §7.3 "Rollback Time Objectives": a rollback names its kind,
/// and the restore time its incident records is held against the kind's
/// objective; until then the change turns overdue when the objective passes.
#[tokio::test]
async fn a_rollback_is_held_to_its_kinds_time_objective() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let objectives = flow
        .app
        .data(
            ADMIN_TOKEN,
            "{ policy { rollbackObjectives { kind restoreWithinMinutes } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        objectives["policy"]["rollbackObjectives"],
        json!([
            {"kind": "version_revert", "restoreWithinMinutes": 15},
            {"kind": "database_migration", "restoreWithinMinutes": 60},
            {"kind": "full_restore", "restoreWithinMinutes": 240}
        ])
    );
    let roll_back = async |id: &Value, kind: Option<&str>| {
        flow.app
            .graphql(
                &flow.requester.token,
                "mutation($id: ID!, $kind: String) { rollBackChange(id: $id, reason: \"errors doubled\", rollbackKind: $kind) {
                    change { status } incident { id openedAt } } }",
                json!({"id": id, "kind": kind}),
            )
            .await
    };
    let read = "query($id: ID) { change(id: $id) {
        rollback { kind startedAt objectiveMinutes restoreDueAt restoredAt minutesToRestore withinObjective }
        deadlines { restoreDueAt restoredAt } overdue { kind } } }";
    let overdue_kinds = |change: &Value| change["overdue"].to_string();

    let fast = flow.started_normal(&manager).await;
    let slow = flow.started_normal(&manager).await;
    let unnamed = roll_back(&fast["id"], None).await;
    assert_eq!(error_code(&unnamed), "VALIDATION", "{unnamed:#}");
    assert!(
        unnamed.to_string().contains("database_migration"),
        "the refusal lists the kinds: {unnamed:#}"
    );
    let unknown = roll_back(&fast["id"], Some("hard_reset")).await;
    assert_eq!(error_code(&unknown), "VALIDATION", "{unknown:#}");
    let still = flow
        .app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { status } }",
            json!({"id": fast["id"]}),
        )
        .await;
    assert_eq!(
        still["change"]["status"], "IMPLEMENTING",
        "a refused rollback changes nothing"
    );

    let fast_rollback = roll_back(&fast["id"], Some("version_revert")).await;
    let slow_rollback = roll_back(&slow["id"], Some("database_migration")).await;
    let incident_of = |r: &Value| r["data"]["rollBackChange"]["incident"]["id"].clone();
    let (fast_incident, slow_incident) = (incident_of(&fast_rollback), incident_of(&slow_rollback));
    let change = flow
        .app
        .data(ADMIN_TOKEN, read, json!({"id": fast["id"]}))
        .await["change"]
        .clone();
    let started: chrono::DateTime<Utc> = change["rollback"]["startedAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let due: chrono::DateTime<Utc> = change["rollback"]["restoreDueAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(due, started + Duration::minutes(15));
    assert_eq!(
        change["deadlines"]["restoreDueAt"],
        change["rollback"]["restoreDueAt"]
    );
    assert_eq!(change["rollback"]["kind"], "version_revert");
    assert_eq!(change["rollback"]["objectiveMinutes"], 15);
    assert!(change["rollback"]["withinObjective"].is_null());
    assert!(!overdue_kinds(&change).contains("RESTORE"), "{change:#}");

    // Twenty minutes on, the version revert is past its objective and the
    // database migration is not.
    flow.app.clock.advance(Duration::minutes(20));
    let late = flow
        .app
        .data(ADMIN_TOKEN, read, json!({"id": fast["id"]}))
        .await["change"]
        .clone();
    assert!(overdue_kinds(&late).contains("RESTORE"), "{late:#}");
    let on_time = flow
        .app
        .data(ADMIN_TOKEN, read, json!({"id": slow["id"]}))
        .await["change"]
        .clone();
    assert!(!overdue_kinds(&on_time).contains("RESTORE"), "{on_time:#}");
    let listed = flow
        .app
        .data(
            ADMIN_TOKEN,
            "{ overdue { number overdue { kind } } }",
            json!({}),
        )
        .await;
    assert!(listed.to_string().contains("RESTORE"), "{listed:#}");

    let resolve = async |incident: &Value, minutes: i64| {
        flow.app
            .graphql(
                &manager.token,
                "mutation($id: ID!, $r: DateTime!) { resolveIncident(id: $id, restoredAt: $r, summary: \"service back\") { id } }",
                json!({"id": incident, "r": started + Duration::minutes(minutes)}),
            )
            .await
    };
    let resolved = resolve(&fast_incident, 18).await;
    assert!(resolved.get("errors").is_none(), "{resolved:#}");
    let resolved = resolve(&slow_incident, 19).await;
    assert!(resolved.get("errors").is_none(), "{resolved:#}");
    let fast_after = flow
        .app
        .data(ADMIN_TOKEN, read, json!({"id": fast["id"]}))
        .await["change"]
        .clone();
    assert_eq!(fast_after["rollback"]["minutesToRestore"], 18.0);
    assert_eq!(fast_after["rollback"]["withinObjective"], false);
    assert_eq!(
        fast_after["deadlines"]["restoredAt"],
        fast_after["rollback"]["restoredAt"]
    );
    assert!(
        !overdue_kinds(&fast_after).contains("RESTORE"),
        "{fast_after:#}"
    );
    let slow_after = flow
        .app
        .data(ADMIN_TOKEN, read, json!({"id": slow["id"]}))
        .await["change"]
        .clone();
    assert_eq!(slow_after["rollback"]["withinObjective"], true);

    // The audit trail says which rollback missed its objective.
    let events = flow
        .app
        .data(
            ADMIN_TOKEN,
            "{ auditEvents(first: 100, filter: {action: \"incident.resolved\"}) { edges { node { payload } } } }",
            json!({}),
        )
        .await
        .to_string();
    assert!(events.contains(r#""withinObjective":false"#), "{events}");
    assert!(events.contains(r#""withinObjective":true"#), "{events}");
}

#[tokio::test]
async fn dual_approval_needs_two_people_and_every_gate_of_seed_002() {
    let flow = Flow::new("dual-approval").await;
    let both = flow.person("Lee Both", &["engineering_lead", "qa"]).await;
    let lead = flow.person("Lena Lead", &["engineering_lead"]).await;
    // A rollback plan needs all five parts (section 4).
    let partial = flow
        .create(
            "normal",
            json!({"rollbackPlan": {"trigger": "errors", "steps": ["revert"]}}),
        )
        .await;
    let gates = flow
        .app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { gates { key met reason } } }",
            json!({"id": partial["id"]}),
        )
        .await;
    assert_eq!(
        gates["change"]["gates"][4],
        json!({"key": "rollback_plan", "met": false,
               "reason": "gate missing: rollback_plan (rollback plan lacks owner, verification, timeEstimateMinutes)"})
    );

    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    let one = flow.approve(&both.token, id).await;
    assert_eq!(
        one["status"], "AWAITING_APPROVAL",
        "one person fills one slot"
    );
    let two = flow.approve(&lead.token, id).await;
    assert_eq!(two["status"], "APPROVED");

    // Stakeholder notice >= 24 h.
    let short = flow
        .schedule_at(id, flow.app.clock.now() + Duration::hours(2))
        .await;
    assert_eq!(
        violations(&short),
        vec!["notice period not met: 24 hours required, 2.0 hours given"]
    );
    assert_eq!(
        flow.schedule(id, 25).await["data"]["scheduleChange"]["status"],
        "SCHEDULED"
    );
    // ... and the notice itself on record 24 hours ahead of the start.
    flow.pass(id, &["stakeholders_notified"]).await;

    let (qa, senior) = flow.reviewers().await;
    let review = |reviewers: Value| json!({"reviewers": reviewers});
    let recorded = flow
        .evidence(
            &qa.token,
            id,
            "code_review",
            "PASSED",
            review(json!([{"id": senior.id}])),
        )
        .await;
    assert!(recorded.get("errors").is_none(), "{recorded:#}");
    flow.evidence(
        &flow.requester.token,
        id,
        "sast",
        "PASSED",
        json!({"unaddressedCritical": 0, "unaddressedHigh": 1}),
    )
    .await;
    let malformed = flow
        .evidence(
            &flow.requester.token,
            id,
            "sast",
            "PASSED",
            json!({"critical": 0}),
        )
        .await;
    assert_eq!(error_code(&malformed), "VALIDATION");
    let unknown = flow
        .evidence(&flow.requester.token, id, "vibes", "PASSED", json!({}))
        .await;
    assert_eq!(error_code(&unknown), "VALIDATION");
    flow.advance_to_start(id).await;
    let refused = violations(&flow.start(id).await);
    assert_eq!(
        refused,
        vec![
            "gate missing: code_review (1 of 2 reviewers, 1 of 1 senior)",
            "gate missing: ci_passed",
            "gate failed: sast (0 critical and 1 high findings unaddressed)",
            "gate missing: staging_validation",
        ]
    );
    let recorded = flow
        .evidence(
            &qa.token,
            id,
            "code_review",
            "PASSED",
            review(json!([{"id": senior.id}, {"id": qa.id}])),
        )
        .await;
    assert!(recorded.get("errors").is_none(), "{recorded:#}");
    flow.evidence(
        &flow.requester.token,
        id,
        "sast",
        "PASSED",
        json!({"unaddressedCritical": 0, "unaddressedHigh": 0}),
    )
    .await;
    flow.pass(id, &["ci_passed", "staging_validation"]).await;
    let started = flow.start(id).await;
    assert_eq!(
        started["data"]["startImplementation"]["status"], "IMPLEMENTING",
        "{started:#}"
    );
}

/// Seed 002 §4 "Every production change must have a documented rollback
/// plan before deployment": an emergency bypasses the standard gates
/// (section 5), not this one.
#[tokio::test]
async fn a_dual_approval_emergency_starts_only_with_its_whole_rollback_plan() {
    let flow = Flow::new("dual-approval").await;
    let ciso = flow.person("Cleo CISO", &["ciso"]).await;
    let change = flow
        .create(
            "emergency",
            json!({"rollbackPlan": {"trigger": "login errors", "steps": ["revert the session change"]}}),
        )
        .await;
    let id = &change["id"];
    flow.submit(id).await;
    flow.approve(&ciso.token, id).await;
    let refused = flow.start(id).await;
    assert_eq!(violation_codes(&refused), ["GATE_MISSING"], "{refused:#}");
    let message = violations(&refused).join(" ");
    for part in ["owner", "verification", "timeEstimateMinutes"] {
        assert!(message.contains(part), "{message}");
    }
    assert!(
        !message.contains("code review"),
        "the standard gates stay bypassed: {message}"
    );
}

#[tokio::test]
async fn dual_approval_emergency_takes_the_engineering_lead_when_the_ciso_is_unavailable() {
    let flow = Flow::new("dual-approval").await;
    let lead = flow.person("Lena Lead", &["engineering_lead"]).await;
    let ciso = flow.person("Cleo CISO", &["ciso"]).await;
    let change = flow.create("emergency", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    // Seed 002 §5: "Obtain verbal approval from CISO (or Engineering Lead
    // if CISO unavailable)", then implement.
    let too_soon = flow.start(id).await;
    assert_eq!(
        violation_codes(&too_soon),
        ["APPROVAL_MISSING"],
        "{too_soon:#}"
    );
    let verbal = flow.approve(&lead.token, id).await;
    assert!(verbal["approvedAt"].is_null(), "the sign-off is still owed");
    let started = flow.start(id).await;
    assert_eq!(
        started["data"]["startImplementation"]["status"], "IMPLEMENTING",
        "{started:#}"
    );
    // "File change record with retroactive sign-off from CISO": the lead's
    // sign-off is no sign-off.
    let lead_signs = flow.approve(&lead.token, id).await;
    assert!(lead_signs["approvedAt"].is_null(), "{lead_signs:#}");
    let signed = flow.approve(&ciso.token, id).await;
    assert!(signed["approvedAt"].is_string(), "{signed:#}");
    let before = flow.app.clock.now();
    let done = flow.complete(id, "SUCCESSFUL").await;
    let after = flow.app.clock.now();
    // Five business days after completion (weekends skipped), whatever
    // weekday the test runs on.
    let due: chrono::DateTime<Utc> = done["deadlines"]["reviewDueAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let five_business_days = |from| api::domain::deadlines::after_days(from, 5, true);
    assert!(
        five_business_days(before) <= due && due <= five_business_days(after),
        "{due} is not five business days after completion ({before})"
    );
    assert!((5..=7).contains(&(five_business_days(before) - before).num_days()));
}

#[tokio::test]
async fn cab_quorum_meeting_defers_without_quorum_and_reviews_emergencies() {
    let flow = Flow::new("cab-quorum").await;
    let board = flow.board(4).await;
    let cto = flow.person("Theo CTO", &["cto"]).await;
    let normal = flow
        .create("normal", json!({"title": "Add read replica"}))
        .await;
    flow.submit(&normal["id"]).await;
    flow.approve(&board[1].token, &normal["id"]).await;
    flow.approve(&board[2].token, &normal["id"]).await;
    let meeting = flow
        .app
        .data(
            &board[0].token,
            "mutation { scheduleCabMeeting(at: \"2026-12-02T19:00:00Z\") { id } }",
            json!({}),
        )
        .await["scheduleCabMeeting"]["id"]
        .clone();
    let held = flow
        .app
        .data(
            &board[0].token,
            "mutation($m: ID!) { closeCabMeeting(id: $m, minutes: \"Two members present\") { status minutes } }",
            json!({"m": meeting}),
        )
        .await["closeCabMeeting"]
        .clone();
    assert_eq!(held["status"], "HELD");
    assert!(
        held["minutes"]
            .as_str()
            .unwrap()
            .contains(&format!("{}: DEFERRED", normal["number"].as_str().unwrap()))
    );
    let deferred = flow.get(&normal["id"]).await;
    assert_eq!(deferred["status"], "DEFERRED");
    assert_eq!(
        deferred["approvalStatus"]["steps"][0]["board"]["approve"], 0,
        "members vote again at the next meeting"
    );

    // Emergency: expedited approval by CISO or CTO comes first.
    let emergency = flow
        .create("emergency", json!({"title": "Stop data leak"}))
        .await;
    let id = &emergency["id"];
    flow.submit(id).await;
    let refused = violations(&flow.start(id).await);
    assert!(
        refused[0].starts_with("cannot start implementing a change that is AWAITING_APPROVAL"),
        "{refused:?}"
    );
    flow.approve(&cto.token, id).await;
    flow.app
        .data(
            &flow.requester.token,
            "mutation($id: ID!) { recordEvidence(changeId: $id, input: {gate: \"validation_plan\", status: PASSED}) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        flow.start(id).await["data"]["startImplementation"]["status"],
        "IMPLEMENTING"
    );
    let next = flow
        .app
        .data(&board[0].token, "mutation { scheduleCabMeeting(at: \"2026-12-09T19:00:00Z\") { agenda { reason change { number } } } }", json!({}))
        .await;
    let agenda = next["scheduleCabMeeting"]["agenda"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        agenda.contains(
            &json!({"reason": "EMERGENCY_REVIEW", "change": {"number": emergency["number"]}})
        ),
        "{agenda:?}"
    );
    // Deferred: "Scheduled for next CAB meeting".
    assert!(
        agenda.contains(&json!({"reason": "DECISION", "change": {"number": normal["number"]}})),
        "{agenda:?}"
    );
    flow.complete(id, "SUCCESSFUL").await;
    // "Post-Implementation Checklist" with no critical alert open, recorded
    // by the System Owner ("validate post-implementation").
    let by_requester = flow
        .evidence(
            &flow.requester.token,
            id,
            "post_implementation_checklist",
            "PASSED",
            json!({"criticalAlerts": 0}),
        )
        .await;
    assert_eq!(error_code(&by_requester), "FORBIDDEN", "{by_requester:#}");
    let owner = flow.person("Sam System Owner", &["system_owner"]).await;
    let alerting = flow
        .evidence(
            &owner.token,
            id,
            "post_implementation_checklist",
            "PASSED",
            json!({"criticalAlerts": 2}),
        )
        .await;
    assert!(alerting.get("errors").is_none(), "{alerting:#}");
    let still_alerting = flow.close(id).await;
    assert!(
        violation_codes(&still_alerting).contains(&"GATE_THRESHOLD".to_owned()),
        "{still_alerting:#}"
    );
    let clear = flow
        .evidence(
            &owner.token,
            id,
            "post_implementation_checklist",
            "PASSED",
            json!({"criticalAlerts": 0}),
        )
        .await;
    assert!(clear.get("errors").is_none(), "{clear:#}");
    // "Post-implementation CAB review": the change manager's review alone
    // does not satisfy it; the board's does.
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let by_manager = flow.review(&manager.token, id, "POST_IMPLEMENTATION").await;
    assert!(by_manager.get("errors").is_none(), "{by_manager:#}");
    let closing = flow.close(id).await;
    assert_eq!(
        violation_codes(&closing),
        ["BOARD_REVIEW_MISSING"],
        "{closing:#}"
    );
    let review = flow.review(&board[1].token, id, "BOARD").await;
    assert!(review.get("errors").is_none(), "{review:#}");
    let closed = flow.close(id).await;
    assert!(closed.get("errors").is_none(), "{closed:#}");
    assert_eq!(flow.get(id).await["status"], "CLOSED");
    let after = flow
        .app
        .data(
            &board[0].token,
            "{ cabMeetings { status agenda { change { number } } } }",
            json!({}),
        )
        .await;
    let planned = after["cabMeetings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["status"] == "PLANNED")
        .unwrap()
        .clone();
    assert!(
        !planned["agenda"]
            .to_string()
            .contains(emergency["number"].as_str().unwrap())
    );

    // A deferred change is not scheduled until the board approves it.
    let not_yet = flow.schedule(&normal["id"], 200).await;
    assert!(violations(&not_yet)[0].starts_with("cannot schedule a change that is DEFERRED"));
}

/// Seed 000 "Rollback Authority": emergencies by the CISO or CTO, critical
/// outages by any CAB member; the requester has no such authority.
#[tokio::test]
async fn cab_quorum_rollback_authority_is_the_policys() {
    let flow = Flow::new("cab-quorum").await;
    let board = flow.board(2).await;
    let cto = flow.person("Theo CTO", &["cto"]).await;
    let ciso = flow.person("Cleo CISO", &["ciso"]).await;
    let started_emergency = async || {
        let change = flow.create("emergency", json!({})).await;
        let id = change["id"].clone();
        flow.submit(&id).await;
        flow.approve(&cto.token, &id).await;
        flow.pass(&id, &["validation_plan"]).await;
        let started = flow.start(&id).await;
        assert_eq!(
            started["data"]["startImplementation"]["status"], "IMPLEMENTING",
            "{started:#}"
        );
        id
    };
    let roll_back = async |token: &str, id: &Value, priority: &str| {
        flow.app
            .graphql(
                token,
                "mutation($id: ID!, $p: IncidentPriority) { rollBackChange(id: $id, reason: \"errors\", incidentPriority: $p) { change { status } } }",
                json!({"id": id, "p": priority}),
            )
            .await
    };

    let first = started_emergency().await;
    // Implementers and change managers roll back under other policies;
    // here they hold no rollback authority.
    let implementer = flow
        .person("Ivo Implementer", &["implementer", "change_manager"])
        .await;
    let by_implementer = roll_back(&implementer.token, &first, "P3").await;
    assert_eq!(
        error_code(&by_implementer),
        "FORBIDDEN",
        "{by_implementer:#}"
    );
    assert!(
        by_implementer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("ciso or cto"),
        "{by_implementer:#}"
    );
    // A CAB member only in a critical outage.
    let by_member = roll_back(&board[1].token, &first, "P2").await;
    assert_eq!(error_code(&by_member), "FORBIDDEN", "{by_member:#}");
    let critical = roll_back(&board[1].token, &first, "P1").await;
    assert_eq!(
        critical["data"]["rollBackChange"]["change"]["status"], "ROLLED_BACK",
        "{critical:#}"
    );

    let second = started_emergency().await;
    let by_ciso = roll_back(&ciso.token, &second, "P3").await;
    assert_eq!(
        by_ciso["data"]["rollBackChange"]["change"]["status"], "ROLLED_BACK",
        "{by_ciso:#}"
    );
    let events = flow
        .app
        .data(
            ADMIN_TOKEN,
            "{ auditEvents(filter: {action: \"change.rolled_back\"}) { edges { node { payload } } } }",
            json!({}),
        )
        .await;
    let authorities: Vec<String> = events["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let payload = &e["node"]["payload"];
            let payload: Value = match payload.as_str() {
                Some(text) => serde_json::from_str(text).unwrap(),
                None => payload.clone(),
            };
            payload["authority"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(authorities.len(), 2, "{events:#}");
    assert!(authorities.contains(&"CAB member, critical outage (P1)".to_owned()));
    assert!(authorities.contains(&"role ciso".to_owned()));
}

#[tokio::test]
async fn weekly_cab_documentation_is_due_48_hours_before_implementation() {
    let flow = Flow::new("weekly-cab").await;
    let board = flow.board(4).await;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    for member in &board[1..4] {
        flow.approve(&member.token, id).await;
    }
    assert_eq!(flow.get(id).await["status"], "APPROVED");
    flow.pass(
        id,
        &[
            "documentation_48h",
            "unit_tests",
            "integration_tests",
            "security_tests",
            "rollback_tested_in_staging",
        ],
    )
    .await;
    flow.schedule(id, 47).await;
    flow.advance_to_start(id).await;
    let refused = violations(&flow.start(id).await);
    assert_eq!(
        refused,
        vec![
            "gate missing: documentation_48h (documentation must be on record 48 hours before implementation)"
        ]
    );
    // Reschedule past the 48 hours.
    let rescheduled = flow.schedule(id, 1).await;
    assert_eq!(rescheduled["data"]["scheduleChange"]["status"], "SCHEDULED");
    flow.advance_to_start(id).await;
    assert_eq!(
        flow.start(id).await["data"]["startImplementation"]["status"],
        "IMPLEMENTING"
    );
}

#[tokio::test]
async fn security_officer_major_needs_an_additional_distinct_reviewer() {
    let flow = Flow::new("security-officer").await;
    let officer = flow
        .person("Sol Officer", &["security_officer", "technical_reviewer"])
        .await;
    let reviewer = flow.person("Tess Reviewer", &["technical_reviewer"]).await;
    let change = flow.create("major", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    let one = flow.approve(&officer.token, id).await;
    assert_eq!(one["status"], "AWAITING_APPROVAL");
    assert_eq!(
        one["approvalStatus"]["missing"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        flow.approve(&reviewer.token, id).await["status"],
        "APPROVED"
    );

    // Emergency: approval after the fact by the Security Officer.
    let emergency = flow.create("emergency", json!({})).await;
    flow.submit(&emergency["id"]).await;
    assert_eq!(
        flow.start(&emergency["id"]).await["data"]["startImplementation"]["status"],
        "IMPLEMENTING"
    );
    let rejected = flow
        .decide(&officer.token, &emergency["id"], "REJECT")
        .await;
    assert!(rejected.get("errors").is_none(), "{rejected:#}");
    assert_eq!(rejected["data"]["decideApproval"]["status"], "IMPLEMENTING");
}

#[tokio::test]
async fn rejection_needs_a_rationale_and_the_requester_revises() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    let bare = flow
        .call(
            &manager.token,
            "decideApproval(changeId: $id, decision: REJECT)",
            "",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&bare), "VALIDATION");
    let rejected =
        flow.decide(&manager.token, id, "REJECT").await["data"]["decideApproval"].clone();
    assert_eq!(rejected["status"], "REJECTED");
    let revised = flow
        .ok(
            &flow.requester.token,
            "reviseChange(id: $id)",
            "",
            json!({"id": id}),
        )
        .await;
    assert_eq!(revised["status"], "DRAFT");
    let resubmitted = flow.submit(id).await;
    assert_eq!(resubmitted["status"], "AWAITING_APPROVAL");
    flow.verify_testing(id).await;
    assert_eq!(
        flow.approve(&manager.token, id).await["status"],
        "APPROVED",
        "a new round: the manager decides again"
    );
    let cancelled = flow
        .call(
            &flow.requester.token,
            "cancelChange(id: $id, reason: $r)",
            "$r: String!",
            json!({"id": id, "r": "superseded"}),
        )
        .await;
    assert_eq!(cancelled["data"]["cancelChange"]["status"], "CANCELLED");
}

/// The CAB approval rate counts every decision the board took, in the
/// month it took it: a rejection still counts after the change was revised
/// (which clears `boardOutcome`) and approved in a later month.
#[tokio::test]
async fn a_board_rejection_counts_in_its_month_after_a_revision() {
    let flow = Flow::new("tiered-cab").await;
    let board = flow.board(4).await;
    let change = flow.create("major", json!({})).await;
    let id = &change["id"];
    let started = flow.app.clock.now() - Duration::days(1);
    flow.submit_to_board(id).await;
    let mut rejected = Value::Null;
    for member in &board[1..4] {
        rejected = flow.decide(&member.token, id, "REJECT").await["data"]["decideApproval"].clone();
    }
    assert_eq!(rejected["status"], "REJECTED", "{rejected:#}");
    assert_eq!(rejected["boardOutcome"], "REJECTED");
    let decided = |id: &Value| {
        let app = &flow.app;
        let id = id.clone();
        async move {
            app.data(
                ADMIN_TOKEN,
                "query($id: ID) { change(id: $id) { boardOutcome boardDecidedAt } }",
                json!({"id": id}),
            )
            .await["change"]
                .clone()
        }
    };
    let rejected_at: chrono::DateTime<Utc> = decided(id).await["boardDecidedAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let rates = || {
        let app = &flow.app;
        async move {
            let to = app.clock.now() + Duration::days(1);
            let data = app
                .data(
                    ADMIN_TOKEN,
                    "query($f: DateTime!, $t: DateTime!) { metrics(from: $f, to: $t, granularity: MONTH) { period implemented cabApprovalRate } }",
                    json!({"f": started.to_rfc3339(), "t": to.to_rfc3339()}),
                )
                .await;
            data["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    assert_eq!(b["implemented"], 0, "never implemented");
                    (
                        b["period"].as_str().unwrap().to_owned(),
                        b["cabApprovalRate"].clone(),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        }
    };
    let month = |at: chrono::DateTime<Utc>| at.format("%Y-%m").to_string();
    flow.ok(
        &flow.requester.token,
        "reviseChange(id: $id)",
        "",
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        decided(id).await,
        json!({"boardOutcome": null, "boardDecidedAt": null}),
        "the new round has no board decision yet"
    );
    assert_eq!(rates().await[&month(rejected_at)], json!(0.0));

    // The revised change is approved in a later month.
    flow.app.clock.advance(Duration::days(40));
    flow.submit_to_board(id).await;
    let mut approved = Value::Null;
    for member in &board[1..4] {
        approved = flow.approve(&member.token, id).await;
    }
    assert_eq!(approved["status"], "APPROVED", "{approved:#}");
    let approved_at: chrono::DateTime<Utc> = decided(id).await["boardDecidedAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(month(approved_at), month(rejected_at));
    let rates = rates().await;
    assert_eq!(rates[&month(rejected_at)], json!(0.0), "{rates:?}");
    assert_eq!(rates[&month(approved_at)], json!(1.0), "{rates:?}");
    let decided_months = rates.values().filter(|r| !r.is_null()).count();
    assert_eq!(decided_months, 2, "{rates:?}");
}

#[tokio::test]
async fn gate_status_tells_a_pipeline_whether_it_may_deploy() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let pipeline = flow.person("CI Pipeline", &["pipeline"]).await;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    let query = "query($n: String!) { gateStatus(number: $n) { number status mayDeploy reasons reasonCodes } }";
    let vars = json!({"n": change["number"]});
    let draft = flow.app.data(&pipeline.token, query, vars.clone()).await["gateStatus"].clone();
    assert_eq!(draft["mayDeploy"], false);
    assert!(draft["reasons"].as_array().unwrap().len() >= 4, "{draft}");
    flow.submit(id).await;
    for gate in ["unit_tests", "integration_tests", "deployment_preparation"] {
        let recorded = flow
            .evidence(&pipeline.token, id, gate, "PASSED", passing_data(gate))
            .await;
        assert!(recorded.get("errors").is_none(), "{recorded:#}");
    }
    // The QA review is the QA team's (seed 001 §3.1), never a pipeline's.
    let by_pipeline = flow
        .evidence(&pipeline.token, id, "qa_review", "PASSED", json!({}))
        .await;
    assert_eq!(error_code(&by_pipeline), "FORBIDDEN", "{by_pipeline:#}");
    flow.pass(id, &["qa_review"]).await;
    flow.approve(&manager.token, id).await;
    flow.schedule(id, 1).await;
    let early = flow.app.data(&pipeline.token, query, vars.clone()).await["gateStatus"].clone();
    assert_eq!(early["mayDeploy"], false);
    assert_eq!(early["reasons"].as_array().unwrap().len(), 1);
    assert_eq!(early["reasonCodes"], json!(["OUTSIDE_SCHEDULED_SLOT"]));
    flow.advance_to_start(id).await;
    let ready = flow.app.data(&pipeline.token, query, vars).await["gateStatus"].clone();
    assert_eq!(
        ready,
        json!({"number": change["number"], "status": "SCHEDULED", "mayDeploy": true, "reasons": [], "reasonCodes": []})
    );
}

/// Data-driven from the `policy` query: for every preset, a change of every
/// type is filed, approved by exactly the people its steps name, given the
/// evidence its gates ask for, scheduled with its notice, implemented,
/// reviewed when required, and closed.
#[tokio::test]
async fn every_type_of_every_preset_reaches_closed() {
    for preset in [
        "cab-quorum",
        "tiered-cab",
        "dual-approval",
        "weekly-cab",
        "security-officer",
    ] {
        let flow = Flow::new(preset).await;
        let policy = flow
            .app
            .data(
                &flow.requester.token,
                "{ policy { board { quorum } attributes { key } gates { key kind before hoursBeforeStart review recordedBy conditions { field atLeast atMost } }
                   changeTypes { key preApproved requiresTemplate noticeHours reviewRequired monitorHours
                     authority { review }
                     approvals { roles rule count board timing }
                     emergency { retroactiveApproval documentationDeadlineHours boardReview } } } }",
                json!({}),
            )
            .await["policy"]
            .clone();
        let board = if policy["board"].is_null() {
            Vec::new()
        } else {
            flow.board(4).await
        };
        let reviewer = flow.person("Rae Reviewer", &["change_manager"]).await;
        let gate_kinds: std::collections::HashMap<String, Value> = policy["gates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["key"].as_str().unwrap().to_owned(), g.clone()))
            .collect();
        for change_type in policy["changeTypes"].as_array().unwrap() {
            let key = change_type["key"].as_str().unwrap();
            let context = format!("{preset}/{key}");
            // Every attribute the policy knows, so every conditional gate
            // applies to the walked change.
            let attributes: Vec<Value> = policy["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["key"].clone())
                .collect();
            let mut extra =
                json!({"title": format!("{context} walkthrough"), "attributes": attributes});
            if change_type["requiresTemplate"] == true {
                let template = flow
                    .app
                    .data(
                        &flow.requester.token,
                        "mutation($k: String!, $t: String!) { createTemplate(input: {key: $k, name: \"Routine\", changeType: $t,
                            description: \"Routine procedure\", procedure: [\"do it\"]}) { id } }",
                        json!({"k": format!("routine-{key}"), "t": key}),
                    )
                    .await;
                extra["templateId"] = template["createTemplate"]["id"].clone();
            }
            let change = flow.create(key, extra).await;
            let id = &change["id"];
            let submitted = flow.submit(id).await;
            let expected = if change_type["preApproved"] == true {
                "APPROVED"
            } else {
                "AWAITING_APPROVAL"
            };
            assert_eq!(submitted["status"], expected, "{context}");

            // Evidence for every gate checked before the start, first: a
            // step may approve only once gates are met (`after_gates`);
            // those checked before closing are recorded after implementation.
            let mut waits_for_documentation = 0;
            let mut after_implementation = Vec::new();
            for gate in change_type_gates(&flow, key).await {
                let rules = &gate_kinds[&gate];
                if rules["before"] == "CLOSE" {
                    after_implementation.push(gate);
                    continue;
                }
                waits_for_documentation =
                    waits_for_documentation.max(rules["hoursBeforeStart"].as_i64().unwrap());
                record_passing(&flow, &context, id, &gate, rules).await;
            }

            // Approvals: the people each step names; a sign-off that only
            // counts after the start is given after it.
            let mut sign_offs = Vec::new();
            for (index, step) in change_type["approvals"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
            {
                if step["timing"] == "AFTER_START" {
                    sign_offs.push(step["roles"][0].as_str().unwrap().to_owned());
                    continue;
                }
                if step["board"] == true {
                    for member in &board[1..4] {
                        flow.approve(&member.token, id).await;
                    }
                    continue;
                }
                let roles: Vec<&str> = step["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
                    .collect();
                let people: Vec<Vec<&str>> = match step["rule"].as_str().unwrap() {
                    "ALL" => roles.iter().map(|r| vec![*r]).collect(),
                    "N_OF" => (0..step["count"].as_u64().unwrap())
                        .map(|_| vec![roles[0]])
                        .collect(),
                    _ => vec![vec![roles[0]]],
                };
                for (n, person_roles) in people.iter().enumerate() {
                    let approver = flow
                        .person(&format!("{preset} {key} {index} {n}"), person_roles)
                        .await;
                    flow.approve(&approver.token, id).await;
                }
            }
            let expected = if sign_offs.is_empty() {
                "APPROVED"
            } else {
                "AWAITING_APPROVAL"
            };
            assert_eq!(flow.get(id).await["status"], expected, "{context}");

            let emergency = !change_type["emergency"].is_null();
            if !emergency {
                let lead = change_type["noticeHours"]
                    .as_i64()
                    .unwrap()
                    .max(waits_for_documentation)
                    + 1;
                let scheduled = flow.schedule(id, lead).await;
                assert_eq!(
                    scheduled["data"]["scheduleChange"]["status"], "SCHEDULED",
                    "{context}: {scheduled:#}"
                );
                flow.advance_to_start(id).await;
            }
            let started = flow.start(id).await;
            assert_eq!(
                started["data"]["startImplementation"]["status"], "IMPLEMENTING",
                "{context}: {started:#}"
            );
            for (n, role) in sign_offs.iter().enumerate() {
                let signer = flow
                    .person(&format!("{preset} {key} sign-off {n}"), &[role])
                    .await;
                flow.approve(&signer.token, id).await;
            }
            if !sign_offs.is_empty() {
                assert!(flow.get(id).await["approvedAt"].is_string(), "{context}");
            }
            flow.complete(id, "SUCCESSFUL").await;
            for gate in &after_implementation {
                record_passing(&flow, &context, id, gate, &gate_kinds[gate]).await;
            }

            if emergency && !change_type["emergency"]["documentationDeadlineHours"].is_null() {
                let documentation = gate_kinds
                    .values()
                    .find(|g| g["kind"] == "DOCUMENTATION" && g["hoursBeforeStart"] == 0)
                    .unwrap_or_else(|| {
                        panic!(
                            "{context}: a documentation gate to record the post-hoc documentation"
                        )
                    });
                flow.pass(id, &[documentation["key"].as_str().unwrap()])
                    .await;
            }
            let needs_review = change_type["reviewRequired"] == true;
            if needs_review {
                let kind = if emergency {
                    "POST_EMERGENCY"
                } else {
                    "POST_IMPLEMENTATION"
                };
                // The roles the policy names for the type's reviews, else
                // the change manager.
                let named: Vec<&str> = change_type["authority"]["review"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
                    .collect();
                let named_reviewer;
                let reviewer = if named.is_empty() {
                    &reviewer
                } else {
                    named_reviewer = flow.person(&format!("{context} reviewer"), &named).await;
                    &named_reviewer
                };
                let review = flow.review(&reviewer.token, id, kind).await;
                assert!(review.get("errors").is_none(), "{context}: {review:#}");
            }
            if emergency && change_type["emergency"]["boardReview"] == true {
                let review = flow.review(&board[1].token, id, "BOARD").await;
                assert!(review.get("errors").is_none(), "{context}: {review:#}");
            }
            if let Some(hours) = change_type["monitorHours"].as_i64() {
                let early = flow.close(id).await;
                assert_eq!(violation_codes(&early), ["MONITORING_PERIOD"], "{context}");
                flow.app
                    .clock
                    .advance(Duration::hours(hours) + Duration::minutes(1));
            }
            let closed = flow.close(id).await;
            assert_eq!(
                closed["data"]["closeChange"]["status"], "CLOSED",
                "{context}: {closed:#}"
            );
        }
    }
}

/// Records a passing result of `gate` as the policy asks it: the data its
/// kind needs, numbers at the bounds its conditions set, by the roles it
/// names (or a reviewer for reviews, else the requester).
async fn record_passing(flow: &Flow, context: &str, id: &Value, gate: &str, rules: &Value) {
    let mut data = match rules["kind"].as_str().unwrap() {
        "CODE_REVIEW" => flow.code_review().await,
        "SAST" => json!({"unaddressedCritical": 0, "unaddressedHigh": 0}),
        "ROLLBACK_PLAN" => return,
        _ => json!({}),
    };
    for condition in rules["conditions"].as_array().unwrap() {
        let at_bound = if condition["atLeast"].is_null() {
            condition["atMost"].clone()
        } else {
            condition["atLeast"].clone()
        };
        data[condition["field"].as_str().unwrap()] = at_bound;
    }
    let named: Vec<&str> = rules["recordedBy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let named_recorder;
    let recorder = if !named.is_empty() {
        named_recorder = flow
            .person(&format!("{context} {gate} recorder"), &named)
            .await;
        &named_recorder
    } else if rules["review"] == true || rules["kind"] == "CODE_REVIEW" {
        &flow.reviewers().await.0
    } else {
        &flow.requester
    };
    let recorded = flow
        .evidence(&recorder.token, id, gate, "PASSED", data)
        .await;
    assert!(
        recorded.get("errors").is_none(),
        "{context} {gate}: {recorded:#}"
    );
}

async fn change_type_gates(flow: &Flow, key: &str) -> Vec<String> {
    let policy = flow
        .app
        .data(
            &flow.requester.token,
            "{ policy { changeTypes { key gates } } }",
            json!({}),
        )
        .await;
    policy["policy"]["changeTypes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .unwrap()["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_owned())
        .collect()
}

/// Seed 000 "Required Information" and "Pre-approved, low-risk": a request
/// lacking what its type needs is refused item by item and stays a draft;
/// a standard change above low risk is refused although it follows a
/// catalog template.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_refuses_missing_information_and_risk_above_the_types_ceiling() {
    let flow = Flow::new("cab-quorum").await;
    let policy = flow
        .app
        .data(
            ADMIN_TOKEN,
            "{ policy { changeTypes { key requiredInformation maxRiskLevel } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        policy["policy"]["changeTypes"][1],
        json!({"key": "normal", "maxRiskLevel": null, "requiredInformation": [
            "AFFECTED_SYSTEMS", "IMPLEMENTATION_PLAN", "TEST_PLAN", "ROLLBACK_PLAN", "RISK_ASSESSMENT", "PLANNED_WINDOW"]})
    );
    assert_eq!(policy["policy"]["changeTypes"][0]["maxRiskLevel"], "LOW");

    let bare = flow
        .app
        .create_change(&flow.requester.token, json!({"type": "normal"}))
        .await;
    let refused = flow
        .call(
            &flow.requester.token,
            "submitChange(id: $id)",
            "",
            json!({"id": bare["id"]}),
        )
        .await;
    // Six items missing, and no deployment method: the seed's is blue-green.
    let mut expected = vec!["INFORMATION_MISSING"; 6];
    expected.push("DEPLOYMENT_METHOD_NOT_ALLOWED");
    assert_eq!(violation_codes(&refused), expected);
    let said = violations(&refused).join("\n");
    for field in [
        "systemIds",
        "implementationPlan.steps",
        "testPlan",
        "rollbackPlan",
        "residualLikelihood",
        "plannedStart",
    ] {
        assert!(said.contains(field), "{field} not named in {said}");
    }
    assert_eq!(flow.get(&bare["id"]).await["status"], "DRAFT");
    // Stating the plan alone leaves the rest listed.
    let edited = flow
        .app
        .graphql(
            &flow.requester.token,
            "mutation($id: ID!, $v: Int!) { updateChange(id: $id, expectedVersion: $v, input: {implementationPlan: {steps: [\"migrate\"], deploymentMethod: BLUE_GREEN}, testPlan: \"replay yesterday's traffic\"}) { version } }",
            json!({"id": bare["id"], "v": bare["version"]}),
        )
        .await;
    assert!(edited.get("errors").is_none(), "{edited:#}");
    let refused = flow
        .call(
            &flow.requester.token,
            "submitChange(id: $id)",
            "",
            json!({"id": bare["id"]}),
        )
        .await;
    assert_eq!(violation_codes(&refused), vec!["INFORMATION_MISSING"; 4]);
    let complete = flow.create("normal", json!({})).await;
    assert_eq!(
        flow.submit(&complete["id"]).await["status"],
        "AWAITING_APPROVAL"
    );

    // A standard change with its template, rated 4 x 4 with no mitigation.
    let template = flow
        .app
        .data(
            &flow.requester.token,
            "mutation { createTemplate(input: {key: \"index\", name: \"Create an index\", changeType: \"standard\",
                description: \"Concurrent index build\", procedure: [\"CREATE INDEX CONCURRENTLY\"]}) { id } }",
            json!({}),
        )
        .await["createTemplate"]["id"]
        .clone();
    let risky = flow
        .create(
            "standard",
            json!({"templateId": template, "likelihood": 4, "impact": 4,
                   "mitigations": null, "residualLikelihood": null, "residualImpact": null}),
        )
        .await;
    let refused = flow
        .call(
            &flow.requester.token,
            "submitChange(id: $id)",
            "",
            json!({"id": risky["id"]}),
        )
        .await;
    assert_eq!(violation_codes(&refused), ["RISK_ABOVE_CEILING"]);
    assert_eq!(
        violations(&refused),
        [
            "risk too high for the type: a standard change accepts at most LOW risk and this one is CRITICAL; the risk matrix suggests a normal change"
        ]
    );
    assert_eq!(flow.get(&risky["id"]).await["status"], "DRAFT");
    // Mitigated to a low residual risk, it is pre-approved on submission.
    let low = flow
        .create(
            "standard",
            json!({"templateId": template, "likelihood": 4, "impact": 4}),
        )
        .await;
    assert_eq!(flow.submit(&low["id"]).await["status"], "APPROVED");
}

/// Seed 000 "Change Requester: ... execute implementation"; "DevSecOps
/// Lead: Execute changes": the requester or the DevSecOps Lead starts and
/// completes a change, a change manager does not.
#[tokio::test]
async fn cab_quorum_changes_are_executed_by_the_requester_or_the_devsecops_lead() {
    let flow = Flow::new("cab-quorum").await;
    let cto = flow.person("Theo CTO", &["cto"]).await;
    let manager = flow.person("Carl Manager", &["change_manager"]).await;
    let lead = flow.person("Dee DevSecOps", &["devsecops_lead"]).await;
    let emergency = flow.create("emergency", json!({})).await;
    let id = &emergency["id"];
    flow.submit(id).await;
    flow.approve(&cto.token, id).await;
    flow.pass(id, &["validation_plan"]).await;
    let start = "startImplementation(id: $id)";
    let by_manager = flow
        .call(&manager.token, start, "", json!({"id": id}))
        .await;
    assert_eq!(error_code(&by_manager), "FORBIDDEN", "{by_manager:#}");
    assert!(
        by_manager.to_string().contains("devsecops_lead"),
        "{by_manager:#}"
    );
    let by_lead = flow.call(&lead.token, start, "", json!({"id": id})).await;
    assert_eq!(
        by_lead["data"]["startImplementation"]["status"], "IMPLEMENTING",
        "{by_lead:#}"
    );
    let complete = "completeImplementation(id: $id, outcome: SUCCESSFUL)";
    let finished_by_manager = flow
        .call(&manager.token, complete, "", json!({"id": id}))
        .await;
    assert_eq!(error_code(&finished_by_manager), "FORBIDDEN");
    let finished = flow
        .call(&lead.token, complete, "", json!({"id": id}))
        .await;
    assert_eq!(
        finished["data"]["completeImplementation"]["status"], "IMPLEMENTED",
        "{finished:#}"
    );
    let authority = flow
        .app
        .data(
            ADMIN_TOKEN,
            "{ policy { changeTypes { key authority { implement } } } }",
            json!({}),
        )
        .await;
    assert!(
        authority["policy"]["changeTypes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["authority"]["implement"] == json!(["devsecops_lead"])),
        "{authority:#}"
    );
}

/// Seed 001 §2.2: the matrix classifies. A normal change rated high
/// impact and medium likelihood is major, and is refused as normal; filed
/// as major, or with mitigated residual ratings, it goes on.
#[tokio::test]
async fn the_tiered_cab_risk_matrix_binds_the_type() {
    let flow = Flow::new("tiered-cab").await;
    let high = json!({"likelihood": 3, "impact": 5, "mitigations": null, "residualLikelihood": null, "residualImpact": null});
    let as_normal = flow.create("normal", high.clone()).await;
    let refused = flow
        .call(
            &flow.requester.token,
            "submitChange(id: $id)",
            "",
            json!({"id": as_normal["id"]}),
        )
        .await;
    assert_eq!(
        violation_codes(&refused),
        ["RISK_ABOVE_TYPE"],
        "{refused:#}"
    );
    assert!(violations(&refused)[0].starts_with("the risk matrix rates this change major"));
    assert_eq!(flow.get(&as_normal["id"]).await["status"], "DRAFT");
    let as_major = flow.create("major", high).await;
    assert_eq!(
        flow.submit(&as_major["id"]).await["status"],
        "AWAITING_APPROVAL"
    );
    let mitigated = flow
        .create(
            "normal",
            json!({"likelihood": 3, "impact": 5, "residualLikelihood": 1, "residualImpact": 3}),
        )
        .await;
    assert_eq!(
        flow.submit(&mitigated["id"]).await["status"],
        "AWAITING_APPROVAL"
    );
    // Emergencies are classified by urgency.
    let emergency = flow
        .create("emergency", json!({"likelihood": 5, "impact": 5}))
        .await;
    let submitted = flow.submit(&emergency["id"]).await;
    assert_ne!(submitted["status"], "DRAFT", "{submitted:#}");
}

/// Seed 001 §5.3 "Minimum 80% code coverage": a passing unit-test record
/// below the bound does not open the gate, and `gateStatus` says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unit_tests_below_the_coverage_bound_keep_the_gate_shut() {
    let flow = Flow::new("tiered-cab").await;
    let manager = flow.person("Chris Manager", &["change_manager"]).await;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    // Tested and approved; a later run of the unit tests falls below the
    // bound, and the latest record is the one that counts.
    flow.verify_testing(id).await;
    flow.approve(&manager.token, id).await;
    flow.pass(id, &["deployment_preparation"]).await;
    let low = flow
        .evidence(
            &flow.requester.token,
            id,
            "unit_tests",
            "PASSED",
            json!({"coveragePercent": 72}),
        )
        .await;
    assert!(low.get("errors").is_none(), "{low:#}");
    flow.schedule(id, 2).await;
    flow.advance_to_start(id).await;
    let status = flow
        .app
        .data(
            &flow.requester.token,
            "query($n: String!) { gateStatus(number: $n) { mayDeploy reasons reasonCodes } }",
            json!({"n": change["number"]}),
        )
        .await["gateStatus"]
        .clone();
    assert_eq!(status["mayDeploy"], false);
    assert_eq!(status["reasonCodes"], json!(["GATE_THRESHOLD"]));
    assert_eq!(
        status["reasons"],
        json!(["gate threshold not met: unit_tests (coveragePercent 72 is below the required 80)"])
    );
    assert_eq!(violation_codes(&flow.start(id).await), ["GATE_THRESHOLD"]);
    // The re-run that reaches the bound opens it.
    flow.pass(id, &["unit_tests"]).await;
    let started = flow.start(id).await;
    assert!(started.get("errors").is_none(), "{started:#}");
}

/// Seed 001 §6.1: blue-green for major changes, canary (or blue-green or
/// rolling) for normal ones, rolling for standard ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_major_change_deploys_blue_green_as_seed_001_says() {
    let flow = Flow::new("tiered-cab").await;
    let canary = flow
        .create(
            "major",
            json!({"implementationPlan": {"steps": ["deploy"], "deploymentMethod": "CANARY", "canaryStages": [5, 25, 50, 100]}}),
        )
        .await;
    let refused = flow
        .call(
            &flow.requester.token,
            "submitChange(id: $id)",
            "",
            json!({"id": canary["id"]}),
        )
        .await;
    assert_eq!(violation_codes(&refused), ["DEPLOYMENT_METHOD_NOT_ALLOWED"]);
    assert_eq!(
        violations(&refused),
        [
            "deployment method not allowed: a major change deploys by BLUE_GREEN and this one says CANARY (implementationPlan.deploymentMethod)"
        ]
    );
    let unstated = flow
        .create(
            "normal",
            json!({"implementationPlan": {"steps": ["deploy"]}}),
        )
        .await;
    let refused = flow
        .call(
            &flow.requester.token,
            "submitChange(id: $id)",
            "",
            json!({"id": unstated["id"]}),
        )
        .await;
    assert_eq!(violation_codes(&refused), ["DEPLOYMENT_METHOD_NOT_ALLOWED"]);
    let blue_green = flow.create("major", json!({})).await;
    assert_eq!(
        flow.submit(&blue_green["id"]).await["status"],
        "AWAITING_APPROVAL"
    );
}

/// Seed 004: "Security Officer reviews emergency change ... Documents
/// lessons learned": the change manager, who reviews other changes, may not
/// review an emergency, and the officer's review states what was learned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_officer_alone_reviews_an_emergency() {
    let flow = Flow::new("security-officer").await;
    let manager = flow.person("Max Manager", &["change_manager"]).await;
    let officer = flow.person("Sol Officer", &["security_officer"]).await;
    let change = flow.create("emergency", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    let started = flow.start(id).await;
    assert!(started.get("errors").is_none(), "{started:#}");
    flow.complete(id, "SUCCESSFUL").await;
    let refused = flow.review(&manager.token, id, "POST_EMERGENCY").await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused:#}");
    assert!(
        refused["errors"][0]["message"].as_str().unwrap().contains(
            "reviews of emergency changes are recorded by a holder of role security_officer"
        ),
        "{refused:#}"
    );
    let thin = flow
        .app
        .graphql(
            &officer.token,
            "mutation($id: ID!) { recordReview(id: $id, kind: POST_EMERGENCY, summary: \"Appropriate\") { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(violation_codes(&thin), ["REVIEW_CONTENT_MISSING"]);
    let review = flow.review(&officer.token, id, "POST_EMERGENCY").await;
    assert!(review.get("errors").is_none(), "{review:#}");
}

/// A policy's `[segregation]`: who approved a change does not implement
/// it, and who implemented it does not review it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_can_keep_approvers_from_implementing_and_implementers_from_reviewing() {
    let preset = include_str!("../../api/src/policy/presets/tiered-cab.toml");
    let path = std::env::temp_dir().join(format!(
        "gh_policy_segregation_{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(
        &path,
        format!("{preset}\n[segregation]\napprover_not_implementer = true\nreviewer_not_implementer = true\n"),
    )
    .unwrap();
    let flow = Flow::new(path.to_str().unwrap()).await;
    let segregation = flow
        .app
        .data(
            ADMIN_TOKEN,
            "{ policy { segregation { approverNotImplementer reviewerNotImplementer } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        segregation["policy"]["segregation"],
        json!({"approverNotImplementer": true, "reviewerNotImplementer": true})
    );
    let manager = flow.person("Ada Approver", &["change_manager"]).await;
    let engineer = flow
        .person("Ian Implementer", &["implementer", "change_manager"])
        .await;
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    flow.verify_testing(id).await;
    flow.approve(&manager.token, id).await;
    flow.schedule(id, 1).await;
    flow.pass(id, &["deployment_preparation"]).await;
    flow.advance_to_start(id).await;
    let start = "startImplementation(id: $id)";
    let refused = flow
        .call(&manager.token, start, "", json!({"id": id}))
        .await;
    assert_eq!(violation_codes(&refused), ["SEGREGATION_OF_DUTIES"]);
    assert_eq!(
        violations(&refused),
        ["segregation of duties: you approved this change, so someone else implements it"]
    );
    assert_eq!(flow.get(id).await["status"], "SCHEDULED");
    let started = flow
        .call(&engineer.token, start, "", json!({"id": id}))
        .await;
    assert!(started.get("errors").is_none(), "{started:#}");
    flow.complete(id, "SUCCESSFUL").await;
    let own = flow
        .review(&engineer.token, id, "POST_IMPLEMENTATION")
        .await;
    assert_eq!(violation_codes(&own), ["SEGREGATION_OF_DUTIES"]);
    let review = flow.review(&manager.token, id, "POST_IMPLEMENTATION").await;
    assert!(review.get("errors").is_none(), "{review:#}");
    std::fs::remove_file(path).ok();
}

/// Seed 002 §2 "Security reviews risk for changes affecting auth, data
/// access, or encryption" and seed 004 "Security Review Required For":
/// a change says what it touches, and only then is the review required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_review_is_required_only_of_changes_touching_what_the_seed_names() {
    let flow = Flow::new("dual-approval").await;
    let gates_of = |id: Value| {
        let flow = &flow;
        async move {
            let change = flow
                .app
                .data(
                    ADMIN_TOKEN,
                    "query($id: ID) { change(id: $id) { attributes gates { key met } } }",
                    json!({"id": id}),
                )
                .await["change"]
                .clone();
            let keys: Vec<String> = change["gates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["key"].as_str().unwrap().to_owned())
                .collect();
            (change["attributes"].clone(), keys)
        }
    };
    let plain = flow.create("normal", json!({})).await;
    let (attributes, keys) = gates_of(plain["id"].clone()).await;
    assert_eq!(attributes, json!([]));
    assert!(!keys.contains(&"security_review".to_owned()), "{keys:?}");

    let crypto = flow
        .create("normal", json!({"attributes": ["encryption"]}))
        .await;
    let (attributes, keys) = gates_of(crypto["id"].clone()).await;
    assert_eq!(attributes, json!(["encryption"]));
    assert!(keys.contains(&"security_review".to_owned()), "{keys:?}");
    let status = flow
        .app
        .data(
            &flow.requester.token,
            "query($n: String!) { gateStatus(number: $n) { reasons } }",
            json!({"n": crypto["number"]}),
        )
        .await["gateStatus"]["reasons"]
        .clone();
    assert!(
        status
            .as_array()
            .unwrap()
            .contains(&json!("gate missing: security_review")),
        "{status}"
    );
    // An attribute the policy does not define is refused, naming it.
    let unknown = flow
        .app
        .graphql(
            &flow.requester.token,
            "mutation($input: CreateChangeInput!) { createChange(input: $input) { id } }",
            json!({"input": {"title": "t", "description": "d", "businessJustification": "b",
                "type": "normal", "likelihood": 1, "impact": 1, "attributes": ["pricing"]}}),
        )
        .await;
    assert_eq!(error_code(&unknown), "VALIDATION");
    assert!(
        unknown["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`pricing` is not an attribute of the active policy (one of: authentication, data_access, encryption)"),
        "{unknown:#}"
    );

    // Seed 004: the security review is the Security Officer's to record.
    let officer_flow = Flow::new("security-officer").await;
    let officer = officer_flow
        .person("Sol Officer", &["security_officer"])
        .await;
    let qa = officer_flow.person("Quinn QA", &["qa"]).await;
    let api_change = officer_flow
        .create("major", json!({"attributes": ["api_endpoint"]}))
        .await;
    let id = &api_change["id"];
    let by_qa = officer_flow
        .evidence(&qa.token, id, "security_review", "PASSED", json!({}))
        .await;
    assert_eq!(error_code(&by_qa), "FORBIDDEN", "{by_qa:#}");
    let by_officer = officer_flow
        .evidence(&officer.token, id, "security_review", "PASSED", json!({}))
        .await;
    assert!(by_officer.get("errors").is_none(), "{by_officer:#}");
}

/// Seed 000: an emergency approved "within 30 minutes"; a standard change
/// "implemented within 48 hours" of its pre-approval, overdue when it has
/// not started by then even if never scheduled; after a rollback,
/// "Schedule CAB review for failed change": on the next meeting's agenda,
/// and closed only with the board's review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cab_quorum_deadlines_run_from_submission_and_approval_and_a_rollback_goes_to_the_cab() {
    let flow = Flow::new("cab-quorum").await;
    let board = flow.board(3).await;
    let overdue = async || -> Vec<(String, String)> {
        let data = flow
            .app
            .data(
                ADMIN_TOKEN,
                "{ overdue { number overdue { kind } } }",
                json!({}),
            )
            .await;
        data["overdue"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| {
                c["overdue"].as_array().unwrap().iter().map(|o| {
                    (
                        c["number"].as_str().unwrap().to_owned(),
                        o["kind"].as_str().unwrap().to_owned(),
                    )
                })
            })
            .collect()
    };
    let emergency = flow.create("emergency", json!({})).await;
    flow.submit(&emergency["id"]).await;
    let submitted = flow.get(&emergency["id"]).await;
    assert!(
        !submitted["deadlines"]["approvalDueAt"].is_null(),
        "{submitted:#}"
    );
    assert_eq!(overdue().await, vec![]);

    let template = flow
        .app
        .data(
            &flow.requester.token,
            "mutation { createTemplate(input: {key: \"index\", name: \"Create an index\", changeType: \"standard\",
                description: \"Concurrent index build\", procedure: [\"CREATE INDEX CONCURRENTLY\"]}) { id } }",
            json!({}),
        )
        .await["createTemplate"]["id"]
        .clone();
    let standard = flow
        .create("standard", json!({"templateId": template}))
        .await;
    assert_eq!(flow.submit(&standard["id"]).await["status"], "APPROVED");
    let due = flow
        .app
        .data(
            ADMIN_TOKEN,
            "query($id: ID) { change(id: $id) { approvedAt deadlines { implementationDueAt } } }",
            json!({"id": standard["id"]}),
        )
        .await["change"]
        .clone();
    let approved_at: chrono::DateTime<Utc> = due["approvedAt"].as_str().unwrap().parse().unwrap();
    let implementation_due: chrono::DateTime<Utc> = due["deadlines"]["implementationDueAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(implementation_due - approved_at, Duration::hours(48));

    flow.app.clock.advance(Duration::minutes(31));
    let emergency_number = emergency["number"].as_str().unwrap().to_owned();
    assert_eq!(
        overdue().await,
        vec![(emergency_number.clone(), "APPROVAL".to_owned())]
    );
    flow.app.clock.advance(Duration::hours(48));
    let mut late = overdue().await;
    late.sort();
    let mut expected = vec![
        (emergency_number, "APPROVAL".to_owned()),
        (
            standard["number"].as_str().unwrap().to_owned(),
            "IMPLEMENTATION".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(late, expected);

    // A rolled-back emergency goes to the CAB (seed 000 already sends
    // every emergency there); a rolled-back standard change too.
    let cto = flow.person("Theo CTO", &["cto"]).await;
    flow.approve(&cto.token, &emergency["id"]).await;
    let fresh = flow
        .create("standard", json!({"templateId": template}))
        .await;
    let id = &fresh["id"];
    flow.submit(id).await;
    flow.pass(id, &["ci_tests", "automated_rollback"]).await;
    let scheduled = flow.schedule(id, 1).await;
    assert!(scheduled.get("errors").is_none(), "{scheduled:#}");
    flow.advance_to_start(id).await;
    let started = flow.start(id).await;
    assert!(started.get("errors").is_none(), "{started:#}");
    let rolled_back = flow
        .app
        .graphql(
            &flow.requester.token,
            "mutation($id: ID!) { rollBackChange(id: $id, reason: \"index build locked the table\") { change { status } } }",
            json!({"id": id}),
        )
        .await;
    assert!(rolled_back.get("errors").is_none(), "{rolled_back:#}");
    let meeting = flow
        .app
        .data(
            &board[0].token,
            "mutation($at: DateTime!) { scheduleCabMeeting(at: $at) { agenda { reason change { number } } } }",
            json!({"at": flow.meeting_start(1).await}),
        )
        .await["scheduleCabMeeting"]["agenda"]
        .clone();
    assert!(
        meeting
            .as_array()
            .unwrap()
            .contains(&json!({"reason": "ROLLBACK_REVIEW", "change": {"number": fresh["number"]}})),
        "{meeting:#}"
    );
    let reviewer = flow.person("Mia Manager", &["change_manager"]).await;
    let review = flow
        .review(&reviewer.token, id, "POST_IMPLEMENTATION")
        .await;
    assert!(review.get("errors").is_none(), "{review:#}");
    assert_eq!(
        violation_codes(&flow.close(id).await),
        ["BOARD_REVIEW_MISSING"]
    );
    let board_review = flow.review(&board[1].token, id, "BOARD").await;
    assert!(board_review.get("errors").is_none(), "{board_review:#}");
    assert_eq!(
        flow.close(id).await["data"]["closeChange"]["status"],
        "CLOSED"
    );
}

/// Seed 000 "CAB Composition" and "CAB approval or rejection rationale":
/// seats go to the roles named, and a CAB vote without its reason is
/// refused, approvals too. Seed 004 "Response Time: 24 hours for
/// standard changes": a standard change nobody has answered is overdue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cab_votes_state_their_reason_and_unanswered_requests_fall_overdue() {
    let flow = Flow::new("cab-quorum").await;
    let board = flow.board(3).await;
    // "CAB Composition": the CTO chairs, the CISO, System Owner, DevSecOps
    // Lead and Compliance Officer sit; nobody else takes a seat.
    let outsider = flow.person("Olga Outsider", &["requester", "qa"]).await;
    let refused = flow
        .app
        .graphql(
            ADMIN_TOKEN,
            "mutation($u: ID!) { setBoardMember(userId: $u, boardRole: MEMBER) { boardRole } }",
            json!({"u": outsider.id}),
        )
        .await;
    assert_eq!(error_code(&refused), "VALIDATION", "{refused:#}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("only from role ciso, system_owner, devsecops_lead, compliance_officer"),
        "{refused:#}"
    );
    let change = flow.create("normal", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    let silent = flow
        .call(
            &board[1].token,
            "decideApproval(changeId: $id, decision: APPROVE)",
            "",
            json!({"id": id}),
        )
        .await;
    assert_eq!(violation_codes(&silent), ["RATIONALE_MISSING"]);
    flow.approve(&board[1].token, id).await;

    let officer_flow = Flow::new("security-officer").await;
    let officer = officer_flow
        .person("Sol Officer", &["security_officer"])
        .await;
    let standard = officer_flow.create("standard", json!({})).await;
    let id = &standard["id"];
    officer_flow.submit(id).await;
    let overdue_kinds = async || {
        officer_flow.get(id).await["overdue"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["kind"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    officer_flow.app.clock.advance(Duration::hours(23));
    assert_eq!(overdue_kinds().await, Vec::<String>::new());
    officer_flow.app.clock.advance(Duration::hours(2));
    assert_eq!(overdue_kinds().await, ["RESPONSE"]);
    let listed = officer_flow
        .app
        .data(ADMIN_TOKEN, "{ overdue { number } }", json!({}))
        .await["overdue"]
        .clone();
    assert_eq!(listed, json!([{"number": standard["number"]}]));
    officer_flow.decide(&officer.token, id, "DEFER").await;
    assert_eq!(overdue_kinds().await, Vec::<String>::new());
}

/// Seed 001 §3.2 "For Major Changes: 1. Change Manager reviews request
/// 2. Submit to Change Advisory Board": the CAB neither votes on nor lists
/// a major change before the Change Manager's review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cab_decides_a_major_change_only_after_the_change_managers_review() {
    let flow = Flow::new("tiered-cab").await;
    let board = flow.board(4).await;
    let manager = flow.person("Mia Manager", &["change_manager"]).await;
    let change = flow.create("major", json!({})).await;
    let id = &change["id"];
    flow.submit(id).await;
    let early = flow.decide(&board[1].token, id, "APPROVE").await;
    assert_eq!(violation_codes(&early), ["STEP_NOT_OPEN"]);
    assert_eq!(
        violations(&early),
        ["not open for your decision yet: Change Advisory Board waits for change_manager_review"]
    );
    let agenda = |nth: usize| {
        let flow = &flow;
        let chair = board[0].token.clone();
        async move {
            flow.app
                .data(
                    &chair,
                    "mutation($at: DateTime!) { scheduleCabMeeting(at: $at) { agenda { reason change { number } } } }",
                    json!({"at": flow.meeting_start(nth).await}),
                )
                .await["scheduleCabMeeting"]["agenda"]
                .clone()
        }
    };
    assert_eq!(agenda(1).await, json!([]));
    // The review states its reason (section 3.2 "with reason").
    let silent = flow
        .call(
            &manager.token,
            "decideApproval(changeId: $id, decision: APPROVE)",
            "",
            json!({"id": id}),
        )
        .await;
    assert_eq!(violation_codes(&silent), ["RATIONALE_MISSING"]);
    flow.approve(&manager.token, id).await;
    assert_eq!(
        agenda(2).await,
        json!([{"reason": "DECISION", "change": {"number": change["number"]}}])
    );
    for member in &board[1..4] {
        flow.approve(&member.token, id).await;
    }
    assert_eq!(flow.get(id).await["status"], "APPROVED");
}

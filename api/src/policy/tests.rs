//! The presets must say what their seed documents say.

use super::*;

fn preset(name: &str) -> Policy {
    Policy::load(name).unwrap()
}

/// (key, roles, rule, board, substitutes) of each approval step.
type StepSummary = (String, Vec<String>, ApprovalRule, bool, Vec<String>);

fn steps(policy: &Policy, change_type: &str) -> Vec<StepSummary> {
    policy
        .change_type(change_type)
        .unwrap()
        .approvals
        .iter()
        .map(|s| {
            (
                s.key.clone(),
                s.roles.clone(),
                s.rule,
                s.board,
                s.substitutes.clone(),
            )
        })
        .collect()
}

/// `METRIC comparison threshold` of each target, in order.
fn targets(policy: &Policy) -> Vec<String> {
    policy
        .targets
        .iter()
        .map(|t| format!("{} {}", t.metric.name(), t.describe()))
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn every_preset_parses() {
    for (name, _) in PRESETS {
        assert_eq!(&preset(name).name, name);
    }
}

#[test]
fn presets_keep_their_seed_change_types() {
    let keys = |name: &str| preset(name).change_type_keys().join(",");
    assert_eq!(keys("cab-quorum"), "standard,normal,emergency");
    assert_eq!(keys("tiered-cab"), "standard,normal,major,emergency");
    assert_eq!(keys("dual-approval"), "standard,normal,major,emergency");
    assert_eq!(keys("weekly-cab"), "emergency,standard,normal");
    assert_eq!(keys("security-officer"), "emergency,standard,major");
}

#[test]
fn seed_000_cab_quorum() {
    let p = preset("cab-quorum");
    let board = p.board.as_ref().unwrap();
    assert_eq!((board.quorum, board.seats), (3, 5));
    assert_eq!(p.audit_retention_years, Some(7));
    let standard = p.change_type("standard").unwrap();
    assert!(standard.pre_approved && standard.requires_template);
    assert_eq!(standard.implement_within_hours, Some(48));
    assert_eq!(
        steps(&p, "normal"),
        vec![("cab".into(), vec![], ApprovalRule::Any, true, vec![])]
    );
    assert_eq!(p.change_type("normal").unwrap().notice_hours, 168);
    assert_eq!(steps(&p, "emergency")[0].1, strings(&["ciso", "cto"]));
    let emergency = p
        .change_type("emergency")
        .unwrap()
        .emergency
        .as_ref()
        .unwrap();
    assert!(!emergency.retroactive_approval && emergency.board_review);
    // "Rollback Authority".
    let authority = |key: &str| p.change_type(key).unwrap().authority.clone();
    assert_eq!(
        authority("normal").roll_back,
        strings(&["system_owner", "devsecops_lead"])
    );
    assert_eq!(authority("emergency").roll_back, strings(&["ciso", "cto"]));
    assert!(
        authority("normal").roll_back_board_when_critical
            && authority("emergency").roll_back_board_when_critical
    );
    // 5x5: the lowest ratings suggest standard, the rest normal.
    let matrix = p.risk_matrix.as_ref().unwrap();
    assert_eq!(matrix.suggest(1, 1), Some("standard"));
    assert_eq!(matrix.suggest(5, 5), Some("normal"));
}

#[test]
fn seed_001_tiered_cab() {
    let p = preset("tiered-cab");
    let board = p.board.as_ref().unwrap();
    assert_eq!(
        (board.quorum, board.seats, board.chair_breaks_ties),
        (3, 5, true)
    );
    assert!(p.change_type("standard").unwrap().pre_approved);
    assert_eq!(
        steps(&p, "normal"),
        vec![(
            "change_manager".into(),
            strings(&["change_manager"]),
            ApprovalRule::Any,
            false,
            strings(&["engineering_lead"])
        )]
    );
    // Section 3.2: the Change Manager reviews, then the CAB decides.
    assert_eq!(
        p.change_type("major").unwrap().approvals[1].after,
        strings(&["change_manager_review"])
    );
    assert_eq!(
        steps(&p, "major"),
        vec![
            (
                "change_manager_review".into(),
                strings(&["change_manager"]),
                ApprovalRule::Any,
                false,
                vec![]
            ),
            (
                "cab".into(),
                vec![],
                ApprovalRule::Any,
                true,
                strings(&["cto"])
            )
        ]
    );
    assert_eq!(
        steps(&p, "emergency"),
        vec![(
            "ciso_and_cto".into(),
            strings(&["ciso", "cto"]),
            ApprovalRule::All,
            false,
            strings(&["ceo"])
        )]
    );
    let emergency = p
        .change_type("emergency")
        .unwrap()
        .emergency
        .as_ref()
        .unwrap();
    assert!(emergency.retroactive_approval);
    assert_eq!(emergency.approval_deadline_hours, Some(24));
    assert_eq!(emergency.review_deadline_days, Some(5));
    // Section 5.1: only "Required" cells.
    let gates = |t: &str| p.change_type(t).unwrap().gates.clone();
    assert_eq!(
        gates("standard"),
        strings(&[
            "unit_tests",
            "deployment_preparation",
            "post_deployment_validation"
        ])
    );
    assert_eq!(
        gates("normal"),
        strings(&[
            "unit_tests",
            "integration_tests",
            "qa_review",
            "rollback_plan",
            "load_testing",
            "ui_screenshots",
            "deployment_preparation",
            "post_deployment_validation"
        ])
    );
    // Section 6.2's post-deployment checklist is checked before closing.
    assert_eq!(
        p.gate("post_deployment_validation").unwrap().before,
        GatePhase::Close
    );
    // Section 5.3-5.4: load testing and screenshots only for the changes
    // they name.
    assert_eq!(
        p.gate("load_testing").unwrap().when_attributes,
        strings(&["high_traffic", "infrastructure"])
    );
    assert!(!p.gate("ui_screenshots").unwrap().applies_to(&[]));
    assert!(
        p.gate("ui_screenshots")
            .unwrap()
            .applies_to(&strings(&["user_interface"]))
    );
    assert_eq!(p.gate("qa_review").unwrap().recorded_by, strings(&["qa"]));
    assert_eq!(
        gates("major"),
        strings(&[
            "unit_tests",
            "integration_tests",
            "qa_review",
            "security_review",
            "performance_testing",
            "rollback_plan",
            "ui_screenshots",
            "deployment_preparation",
            "post_deployment_validation"
        ])
    );
    assert_eq!(
        gates("emergency"),
        strings(&["unit_tests", "post_deployment_validation"])
    );
    // Section 2.2, cell by cell (likelihood, impact) on Low=1, Medium=3, High=5.
    let m = p.risk_matrix.as_ref().unwrap();
    let expected = [
        ((1, 5), "normal"),
        ((3, 5), "major"),
        ((5, 5), "major"),
        ((1, 3), "normal"),
        ((3, 3), "normal"),
        ((5, 3), "major"),
        ((1, 1), "standard"),
        ((3, 1), "normal"),
        ((5, 1), "normal"),
    ];
    for ((likelihood, impact), suggestion) in expected {
        assert_eq!(
            m.suggest(likelihood, impact),
            Some(suggestion),
            "L{likelihood} I{impact}"
        );
    }
    // Section 9.3, monthly metrics.
    assert_eq!(
        targets(&p),
        [
            "SUCCESS_RATE > 95 %",
            "ROLLBACK_RATE < 5 %",
            "EMERGENCY_SHARE < 5 %",
            "WITH_ISSUES_RATE < 10 %",
            "CHANGE_DURATION_MEAN_HOURS < 2 h",
        ]
    );
    assert_eq!(p.targets[1].threshold, 0.05);
}

#[test]
fn seed_002_dual_approval() {
    let p = preset("dual-approval");
    assert_eq!(p.audit_retention_years, Some(3));
    assert!(p.board.is_none());
    assert!(p.change_type("standard").unwrap().pre_approved);
    assert_eq!(
        steps(&p, "normal")[0].1,
        strings(&["engineering_lead", "qa"])
    );
    assert_eq!(steps(&p, "normal")[0].2, ApprovalRule::All);
    assert_eq!(
        steps(&p, "major")[0].1,
        strings(&["engineering_lead", "ciso"])
    );
    assert_eq!(steps(&p, "emergency")[0].4, strings(&["engineering_lead"]));
    // The lead stands in for the verbal approval only; the sign-off is
    // the CISO's.
    let emergency_steps = &p.change_type("emergency").unwrap().approvals;
    assert_eq!(emergency_steps[0].timing, StepTiming::BeforeStart);
    assert_eq!(
        (
            emergency_steps[1].timing,
            emergency_steps[1].roles.clone(),
            emergency_steps[1].substitutes.is_empty()
        ),
        (StepTiming::AfterStart, strings(&["ciso"]), true)
    );
    let review = p.gate("code_review").unwrap();
    assert_eq!(
        (
            review.kind,
            review.min_reviewers,
            review.min_senior_reviewers
        ),
        (GateKind::CodeReview, 2, 1)
    );
    assert_eq!(p.gate("sast").unwrap().kind, GateKind::Sast);
    assert_eq!(p.gate("rollback_plan").unwrap().required_parts.len(), 5);
    for t in ["standard", "normal", "major"] {
        let change_type = p.change_type(t).unwrap();
        assert_eq!(change_type.notice_hours, 24);
        let mut expected = strings(&[
            "code_review",
            "ci_passed",
            "sast",
            "staging_validation",
            "rollback_plan",
        ]);
        // Section 2: "Security reviews risk for changes affecting auth,
        // data access, or encryption" (the normal process).
        if t != "standard" {
            expected.push("security_review".into());
            // Section 2 "Schedule": stakeholders notified 24 hours ahead;
            // "Verify": post-deployment verification.
            expected.push("stakeholders_notified".into());
            expected.push("post_deployment_verification".into());
        }
        assert_eq!(change_type.gates, expected, "{t}");
    }
    assert_eq!(
        p.gate("security_review").unwrap().when_attributes,
        strings(&["authentication", "data_access", "encryption"])
    );
    let emergency = p
        .change_type("emergency")
        .unwrap()
        .emergency
        .as_ref()
        .unwrap();
    assert_eq!(emergency.documentation_deadline_hours, Some(24));
    assert!(emergency.review_business_days);
}

#[test]
fn seed_003_weekly_cab() {
    let p = preset("weekly-cab");
    assert_eq!(
        steps(&p, "emergency")[0].1,
        strings(&["cto", "security_officer"])
    );
    assert_eq!(
        steps(&p, "standard")[0].1,
        strings(&["engineering_manager"])
    );
    assert!(steps(&p, "normal")[0].3);
    assert_eq!(p.gate("documentation_48h").unwrap().hours_before_start, 48);
    assert_eq!(
        p.change_type("emergency")
            .unwrap()
            .emergency
            .as_ref()
            .unwrap()
            .documentation_deadline_hours,
        Some(24)
    );
    // Section 10, mean time to recovery included.
    assert_eq!(
        targets(&p),
        [
            "SUCCESS_RATE > 95 %",
            "FAILURE_RATE < 5 %",
            "LEAD_TIME_P50_HOURS < 336 h",
            "MTTR_HOURS < 4 h",
        ]
    );
}

#[test]
fn seeds_without_numbers_have_no_targets() {
    for name in ["cab-quorum", "dual-approval", "security-officer"] {
        assert!(preset(name).targets.is_empty(), "{name}");
    }
}

#[test]
fn seed_004_security_officer() {
    let p = preset("security-officer");
    for t in ["emergency", "standard", "major"] {
        assert!(
            steps(&p, t)[0].1.contains(&"security_officer".to_owned()),
            "{t}"
        );
    }
    assert_eq!(
        steps(&p, "major").len(),
        2,
        "major needs an additional reviewer"
    );
    assert!(
        p.change_type("emergency")
            .unwrap()
            .emergency
            .as_ref()
            .unwrap()
            .retroactive_approval
    );
}

#[test]
fn inconsistent_policies_are_rejected() {
    let base = include_str!("presets/tiered-cab.toml");
    let broken = [
        base.replace(
            "gates = [\"unit_tests\", \"deployment_preparation\", \"post_deployment_validation\"]\n\n[[change_type]]\nkey = \"normal\"",
            "gates = [\"nope\"]\n\n[[change_type]]\nkey = \"normal\"",
        ),
        base.replace("quorum = 3", "quorum = 9"),
        base.replace(
            "roles = [\"change_manager\"]",
            "roles = [\"Change Manager\"]",
        ),
        format!(
            "{base}\n[[change_type]]\nkey = \"extra\"\nlabel = \"x\"\ndescription = \"x\"\napproval_summary = \"x\"\n"
        ),
        base.replace(
            "name = \"tiered-cab\"",
            "name = \"tiered-cab\"\nunknown_key = 1",
        ),
        format!("{base}\n[change_type.authority]\nroll_back = [\"Incident Commander\"]\n"),
        format!("{base}\n[change_type.authority]\nroll_back_sometimes = true\n"),
    ];
    for text in broken {
        assert!(Policy::parse("broken", &text).is_err());
    }
}

/// The message of the `PolicyError::Invalid` a policy text gives.
fn invalid(text: &str) -> String {
    match Policy::parse("ours", text) {
        Err(PolicyError::Invalid { name, message }) => {
            assert_eq!(name, "ours");
            message
        }
        other => panic!("expected an invalid policy, got {other:?}"),
    }
}

#[test]
fn targets_are_read_strictly() {
    let base = include_str!("presets/tiered-cab.toml");
    let with = |line: &str| {
        base.replace(
            "change_duration_mean_hours = \"< 2\"",
            &format!("change_duration_mean_hours = \"< 2\"\n{line}"),
        )
    };
    let message = invalid(&with("mean_time_to_repair = \"< 4\""));
    assert!(
        message.contains(
            "targets: unknown metric `mean_time_to_repair` (known: success_rate, rollback_rate,"
        ),
        "{message}"
    );
    // The TOML error points at the table.
    assert!(message.contains("line "), "{message}");
    let message = invalid(&with("lead_time_p50_hours = \"under 336\""));
    assert!(
        message.contains(
            "targets: lead_time_p50_hours = \"under 336\": expected a comparison `<`, `<=`, `>` or `>=` followed by a threshold"
        ),
        "{message}"
    );
    let message = invalid(&with("cab_approval_rate = \"> 0.8\""));
    assert!(
        message.contains("a rate is written as a percentage, e.g. `> 95%`"),
        "{message}"
    );
    // A number instead of a comparison text is refused too.
    let message = invalid(&with("failure_rate = 0.05"));
    assert!(message.contains("expected a string"), "{message}");
    // Another form is accepted and ordered like the others.
    let policy = Policy::parse(
        "ours",
        &with("approval_time_p50_hours = \"<= 48h\"\ncab_approval_rate = \">= 80%\""),
    )
    .unwrap();
    assert_eq!(
        targets(&policy)[4..],
        [
            "CHANGE_DURATION_MEAN_HOURS < 2 h",
            "APPROVAL_TIME_P50_HOURS <= 48 h",
            "CAB_APPROVAL_RATE >= 80 %",
        ]
    );
}

#[test]
fn unknown_policy_name_is_an_error() {
    assert!(Policy::load("no-such-policy").is_err());
}

#[test]
fn a_policy_file_is_loaded_by_path() {
    let dir = std::env::temp_dir().join(format!("gh-policy-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ours.toml");
    let text = include_str!("presets/dual-approval.toml")
        .replace("name = \"dual-approval\"", "name = \"ours\"")
        .replace("min_reviewers = 2", "min_reviewers = 3");
    std::fs::write(&path, text).unwrap();
    let policy = Policy::load(path.to_str().unwrap()).unwrap();
    assert_eq!(policy.name, "ours");
    assert_eq!(policy.gate("code_review").unwrap().min_reviewers, 3);
}

#[test]
fn policy_windows_and_freezes_are_bounded_like_run_time_rules() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/policy/presets/tiered-cab.toml"
    ))
    .unwrap();
    for (rrule, expected) in [
        ("FREQ=SECONDLY", "finer than a change calendar needs"),
        (
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
            "the rule never occurs",
        ),
    ] {
        let hostile = text.replacen(
            "rrule = \"FREQ=YEARLY\"",
            &format!("rrule = \"{rrule}\""),
            1,
        );
        assert_ne!(hostile, text);
        let error = Policy::parse("hostile", &hostile).unwrap_err().to_string();
        assert!(error.contains(expected), "{rrule}: {error}");
    }
}

#[test]
fn meaningless_entries_are_refused_with_the_entry_named() {
    let base = include_str!("presets/tiered-cab.toml");
    let cases = [
        (
            base.replace("kind = \"full_restore\"", "kind = \"version_revert\""),
            "rollback_objective `version_revert` defined twice",
        ),
        (
            base.replace("restore_within_minutes = 240", "restore_within_minutes = 0"),
            "rollback_objective `full_restore`: restore_within_minutes is 1 to 10080",
        ),
        (
            base.replace("label = \"Full system restore\"", "label = \" \""),
            "rollback_objective `full_restore`: give the label the document uses",
        ),
        (
            base.replace("kind = \"full_restore\"", "kind = \"Full restore\""),
            "rollback_objective `Full restore`: a kind is lowercase letters",
        ),
        (
            base.replace(
                "binding_order = [\"standard\", \"normal\", \"major\"]",
                "binding_order = [\"standard\", \"normal\"]",
            ),
            "risk_matrix: binding_order leaves out `major`, which the cells give",
        ),
        (
            base.replace("required_parts = [\"steps\"]", "required_parts = [\"stepz\"]"),
            "gate `rollback_plan`: required_parts names `stepz`",
        ),
        (
            base.replace(
                "kind = \"rollback_plan\"",
                "kind = \"rollback_plan\"\nbefore = \"close\"",
            ),
            "gate `rollback_plan`: before = \"close\": a rollback plan is needed before the start",
        ),
        (
            base.replace(
                "gates = [\"freeze_additional_testing\"]",
                "gates = [\"post_deployment_validation\"]",
            ),
            "change type `emergency`: in_freeze gate `post_deployment_validation` is checked before the close",
        ),
        (
            base.replace(
                "board_approval = true\ngates = [\"freeze_additional_testing\"]",
                "",
            ),
            "change type `emergency`: [change_type.in_freeze] asks for nothing",
        ),
        (
            base.replace(
                "requires_template = true\ngates = [\"unit_tests\", \"deployment_preparation\", \"post_deployment_validation\"]",
                "requires_template = true\ngates = [\"unit_tests\", \"deployment_preparation\", \"post_deployment_validation\"]\n\n[[change_type.approval]]\nkey = \"cm\"\nlabel = \"CM\"\nroles = [\"change_manager\"]",
            ),
            "change type `standard` is pre-approved and also has approval steps",
        ),
        (
            base.replace("board = true\nsubstitutes = [\"cto\"]", "board = true\nroles = [\"cto\"]"),
            "change type `major` step `cab` is a board vote and also lists roles",
        ),
        (
            base.replace("approval_deadline_hours = 24\n", ""),
            "change type `emergency`: a retroactive approval needs approval_deadline_hours",
        ),
        (
            base.replace(
                "change_types = [\"standard\", \"normal\", \"major\"]",
                "change_types = []",
            ),
            "window `Standard deployment window` lists no change_types",
        ),
        (
            base.replace("name = \"Christmas/New Year freeze\"", "name = \"Standard deployment window\""),
            "window or freeze `Standard deployment window` defined twice",
        ),
        (
            base.replace("kind = \"hard\"", "kind = \"soft\""),
            "freeze `Christmas/New Year freeze` is soft but names no approver_roles",
        ),
        (
            base.replace("kind = \"hard\"", "kind = \"soft\"\napprover_roles = [\"Head of Sales\"]"),
            "freeze `Christmas/New Year freeze`: approver_roles:",
        ),
        (
            base.replace("kind = \"hard\"", "kind = \"hard\"\napprover_roles = [\"cfo\"]"),
            "freeze `Christmas/New Year freeze` is hard",
        ),
        (
            base.replace("roles = [\"change_manager\"]\nsubstitutes", "roles = [\"change_manager\"]\ncount = 2\nsubstitutes"),
            "change type `normal` step `change_manager`: count only applies to rule = \"n_of\"",
        ),
        (
            base.replace("roles = [\"change_manager\"]\nsubstitutes", "roles = [\"change_manager\"]\nrule = \"n_of\"\nsubstitutes"),
            "change type `normal` step `change_manager`: rule n_of needs a count of at least 1",
        ),
        (
            base.replace("roles = [\"change_manager\"]\nsubstitutes", "roles = [\"auditor\"]\nsubstitutes"),
            "change type `normal` step `change_manager`: `auditor` accounts can never approve",
        ),
        (
            base.replace("roles = [\"change_manager\"]\nsubstitutes", "roles = [\" change_manager\"]\nsubstitutes"),
            "has surrounding spaces",
        ),
        (
            base.replace("field = \"coveragePercent\"\nat_least = 80", "field = \"coveragePercent\""),
            "gate `unit_tests` condition on `coveragePercent`: give at_least, at_most or both",
        ),
        (
            base.replace("at_least = 80", "at_least = 80\nat_most = 50"),
            "at_least is above at_most",
        ),
        (
            base.replace("required_parts = [\"steps\"]", "required_parts = [\"steps\"]\nhours_before_start = 4"),
            "gate `rollback_plan`: hours_before_start applies to Documentation gates only",
        ),
        (
            base.replace("required_information = [\"affected_systems\",", "required_information = [\"afected_systems\","),
            "afected_systems",
        ),
        (
            base.replace("max_risk_level = \"low\"", "max_risk_level = \"tiny\""),
            "tiny",
        ),
        (
            base.replace("retroactive_approval = true", "retroactive_approval = false"),
            "change type `emergency`: approval_deadline_hours counts from the start",
        ),
        (
            base.replace("monitor_hours = 1\n", "monitor_hours = 1\napprove_within_minutes = 30\n")
                .replace("key = \"standard\"\nlabel", "key = \"standard\"\napprove_within_minutes = 5\nlabel"),
            "change type `standard`: approve_within_minutes counts from submission",
        ),
        (
            base.replace("when_attributes = [\"user_interface\"]", "when_attributes = [\"ui\"]"),
            "gate `ui_screenshots`: when_attributes names `ui`, which no [[attribute]] defines",
        ),
        (
            base.replace("key = \"infrastructure\"", "key = \"high_traffic\""),
            "attribute `high_traffic` defined twice",
        ),
        (
            base.replace("recorded_by = [\"qa\"]", "recorded_by = [\"QA team\"]"),
            "gate `qa_review`: recorded_by:",
        ),
    ];
    for (text, expected) in cases {
        let message = invalid(&text);
        assert!(
            message.contains(expected),
            "{message} should say {expected}"
        );
    }
}

#[test]
fn legitimate_but_unusual_entries_are_warned_about() {
    for (name, _) in super::PRESETS {
        assert_eq!(
            Policy::load(name).unwrap().warnings(),
            Vec::<String>::new(),
            "{name}"
        );
    }
    let base = include_str!("presets/tiered-cab.toml");
    let text = base
        .replace(
            "source = \"seed 001\"",
            "source = \"seed 001\"\naudit_retention_years = 0",
        )
        .replace("max_risk_level = \"low\"\n", "");
    let warnings = Policy::parse("unusual", &text).unwrap().warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("audit_retention_years = 0"));
    assert!(warnings[1].starts_with("change type `standard` is pre-approved at any risk"));
}

use chrono::{NaiveDate, Timelike};

use super::*;
use crate::domain::budget::Deadline;

/// The messages of the violations (the codes are checked in
/// `each_calendar_refusal_has_its_code`).
fn violations(check: &SlotCheck<'_>, slot: Interval) -> Vec<String> {
    crate::domain::violation::messages(
        &slot_violations(check, slot, &Deadline::unbounded()).unwrap(),
    )
}

fn violation_codes(
    check: &SlotCheck<'_>,
    slot: Interval,
) -> Vec<crate::domain::violation::ViolationCode> {
    crate::domain::violation::codes(&slot_violations(check, slot, &Deadline::unbounded()).unwrap())
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn local(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, 0, 0)
        .unwrap()
}

fn rule(
    name: &str,
    dtstart: NaiveDateTime,
    rrule: Option<&str>,
    minutes: u32,
    tz: Tz,
) -> CalendarRule {
    CalendarRule {
        name: name.into(),
        dtstart,
        rrule: rrule.map(str::to_owned),
        duration_minutes: minutes,
        time_zone: tz,
    }
}

/// Seed 000: first Sunday of each month, 02:00-04:00 America/New_York.
fn monthly() -> Window {
    Window {
        rule: rule(
            "Monthly maintenance",
            local(2025, 1, 5, 2),
            Some("FREQ=MONTHLY;BYDAY=1SU"),
            120,
            chrono_tz::America::New_York,
        ),
        change_types: vec!["normal".into()],
        source: RuleSource::Policy,
    }
}

/// Seed 001: Sunday-Thursday 02:00-06:00 UTC.
fn weekdays() -> Window {
    Window {
        rule: rule(
            "Deployment window",
            local(2025, 1, 5, 2),
            Some("FREQ=WEEKLY;BYDAY=SU,MO,TU,WE,TH"),
            240,
            chrono_tz::UTC,
        ),
        change_types: vec!["standard".into(), "normal".into(), "major".into()],
        source: RuleSource::Policy,
    }
}

fn slot(start: DateTime<Utc>, minutes: i64) -> Interval {
    Interval {
        start,
        end: start + Duration::minutes(minutes),
    }
}

fn check<'a>(
    windows: &'a [Window],
    freezes: &'a [Freeze],
    roles: &'a BTreeSet<String>,
    change_type: &'a str,
) -> SlotCheck<'a> {
    SlotCheck {
        change_type,
        emergency: change_type == "emergency",
        windows,
        freezes,
        approver_roles: roles,
    }
}

#[test]
fn a_local_window_keeps_its_local_time_across_dst() {
    let window = monthly();
    let october = window
        .rule
        .occurrences(
            utc(2026, 10, 1, 0, 0),
            utc(2026, 10, 31, 0, 0),
            &Deadline::unbounded(),
        )
        .unwrap();
    // 4 Oct 2026 02:00 EDT (UTC-4).
    assert_eq!(october, vec![slot(utc(2026, 10, 4, 6, 0), 120)]);
    // 1 Nov 2026 is the night DST ends: 02:00 is EST (UTC-5).
    let november = window
        .rule
        .occurrences(
            utc(2026, 11, 1, 0, 0),
            utc(2026, 11, 30, 0, 0),
            &Deadline::unbounded(),
        )
        .unwrap();
    assert_eq!(november, vec![slot(utc(2026, 11, 1, 7, 0), 120)]);
    // March: DST starts on the second Sunday, the window on the first.
    let march = window
        .rule
        .occurrences(
            utc(2027, 3, 1, 0, 0),
            utc(2027, 3, 31, 0, 0),
            &Deadline::unbounded(),
        )
        .unwrap();
    assert_eq!(march, vec![slot(utc(2027, 3, 7, 7, 0), 120)]);
    let april = window
        .rule
        .occurrences(
            utc(2027, 4, 1, 0, 0),
            utc(2027, 4, 30, 0, 0),
            &Deadline::unbounded(),
        )
        .unwrap();
    assert_eq!(april[0].start.hour(), 6, "EDT again");
}

#[test]
fn slots_must_fit_inside_one_occurrence() {
    let windows = [weekdays()];
    let roles = BTreeSet::new();
    let normal = check(&windows, &[], &roles, "normal");
    // Sunday 2026-11-29 02:00-04:00 fits; 05:00-07:00 runs past 06:00.
    assert!(violations(&normal, slot(utc(2026, 11, 29, 2, 0), 120)).is_empty());
    assert!(
        violations(&normal, slot(utc(2026, 11, 29, 4, 0), 120)).is_empty(),
        "ends exactly at 06:00"
    );
    let late = violations(&normal, slot(utc(2026, 11, 29, 5, 0), 120));
    assert_eq!(
        late,
        vec!["outside every allowed window for normal changes (Deployment window)".to_owned()]
    );
    assert_eq!(
        violation_codes(&normal, slot(utc(2026, 11, 29, 5, 0), 120)),
        [crate::domain::violation::ViolationCode::OutsideWindow]
    );
    // Friday and Saturday are not deployment days.
    assert_eq!(
        violations(&normal, slot(utc(2026, 11, 27, 2, 0), 60)).len(),
        1
    );
    // Emergencies are exempt; types without windows are free.
    assert!(
        violations(
            &check(&windows, &[], &roles, "emergency"),
            slot(utc(2026, 11, 27, 12, 0), 60)
        )
        .is_empty()
    );
    assert!(
        violations(
            &check(&windows, &[], &roles, "other"),
            slot(utc(2026, 11, 27, 12, 0), 60)
        )
        .is_empty()
    );
}

#[test]
fn windows_crossing_midnight() {
    let windows = [Window {
        rule: rule(
            "Nightly",
            local(2026, 1, 1, 23),
            Some("FREQ=DAILY"),
            180,
            chrono_tz::UTC,
        ),
        change_types: vec!["normal".into()],
        source: RuleSource::Policy,
    }];
    let roles = BTreeSet::new();
    let normal = check(&windows, &[], &roles, "normal");
    assert!(violations(&normal, slot(utc(2026, 11, 24, 0, 30), 60)).is_empty());
    assert!(violations(&normal, slot(utc(2026, 11, 23, 23, 30), 60)).is_empty());
    assert_eq!(
        violations(&normal, slot(utc(2026, 11, 24, 1, 30), 60)).len(),
        1
    );
}

fn christmas(kind: FreezeKind) -> Freeze {
    Freeze {
        rule: rule(
            "Christmas/New Year freeze",
            local(2025, 12, 24, 0),
            Some("FREQ=YEARLY"),
            9 * 24 * 60,
            chrono_tz::UTC,
        ),
        kind,
        approver_roles: vec!["cto".into()],
        source: RuleSource::Policy,
    }
}

#[test]
fn freezes_block_exactly_their_period() {
    let freezes = [christmas(FreezeKind::Hard)];
    let roles = BTreeSet::new();
    let normal = check(&[], &freezes, &roles, "normal");
    // Ends when the freeze starts: adjacent, allowed.
    assert!(violations(&normal, slot(utc(2026, 12, 23, 22, 0), 120)).is_empty());
    let inside = violations(&normal, slot(utc(2026, 12, 23, 23, 0), 120));
    assert_eq!(
        inside,
        vec!["hard freeze: Christmas/New Year freeze (2026-12-24 00:00 UTC to 2027-01-02 00:00 UTC); only emergency changes".to_owned()]
    );
    assert_eq!(
        violation_codes(&normal, slot(utc(2026, 12, 23, 23, 0), 120)),
        [crate::domain::violation::ViolationCode::HardFreeze]
    );
    assert!(
        violations(&normal, slot(utc(2027, 1, 2, 0, 0), 60)).is_empty(),
        "starts as it ends"
    );
    assert!(
        violations(
            &check(&[], &freezes, &roles, "emergency"),
            slot(utc(2026, 12, 25, 3, 0), 60)
        )
        .is_empty()
    );
}

#[test]
fn a_soft_freeze_needs_the_extra_approval() {
    let freezes = [christmas(FreezeKind::Soft)];
    let none = BTreeSet::new();
    let found = violations(
        &check(&[], &freezes, &none, "normal"),
        slot(utc(2026, 12, 28, 3, 0), 60),
    );
    assert!(
        found[0].starts_with("soft freeze") && found[0].ends_with("roles cto"),
        "{found:?}"
    );
    assert_eq!(
        violation_codes(
            &check(&[], &freezes, &none, "normal"),
            slot(utc(2026, 12, 28, 3, 0), 60)
        ),
        [crate::domain::violation::ViolationCode::SoftFreeze]
    );
    let cto: BTreeSet<String> = ["cto".to_owned()].into();
    assert!(
        violations(
            &check(&[], &freezes, &cto, "normal"),
            slot(utc(2026, 12, 28, 3, 0), 60)
        )
        .is_empty()
    );
}

fn booking(number: &str, start: DateTime<Utc>, minutes: i64, system: Uuid, name: &str) -> Booking {
    Booking {
        change_id: Uuid::new_v4(),
        number: number.into(),
        slot: slot(start, minutes),
        systems: vec![(system, name.into())],
    }
}

#[test]
fn conflicts_name_the_other_change_and_ignore_adjacent_slots() {
    let (db, web) = (Uuid::new_v4(), Uuid::new_v4());
    let bookings = [booking(
        "CR-2026-0007",
        utc(2026, 11, 29, 2, 0),
        60,
        db,
        "payments-db",
    )];
    let scope: HashSet<Uuid> = [db].into();
    let own = Uuid::new_v4();
    assert_eq!(
        conflicts(own, slot(utc(2026, 11, 29, 2, 30), 60), &scope, &bookings),
        vec![crate::domain::violation::Violation::new(
            crate::domain::violation::ViolationCode::Conflict,
            "conflict with CR-2026-0007 on payments-db (2026-11-29 02:00 UTC to 2026-11-29 03:00 UTC)"
        )]
    );
    assert!(
        conflicts(own, slot(utc(2026, 11, 29, 3, 0), 60), &scope, &bookings).is_empty(),
        "adjacent"
    );
    assert!(
        conflicts(own, slot(utc(2026, 11, 29, 1, 0), 60), &scope, &bookings).is_empty(),
        "adjacent before"
    );
    let other_scope: HashSet<Uuid> = [web].into();
    assert!(
        conflicts(
            own,
            slot(utc(2026, 11, 29, 2, 30), 60),
            &other_scope,
            &bookings
        )
        .is_empty()
    );
    // A change never conflicts with itself (rescheduling).
    let mine = Booking {
        change_id: own,
        ..bookings[0].clone()
    };
    assert!(conflicts(own, slot(utc(2026, 11, 29, 2, 30), 60), &scope, &[mine]).is_empty());
}

#[test]
fn suggestions_are_the_next_free_slots_inside_windows() {
    let windows = [weekdays()];
    let roles = BTreeSet::new();
    let normal = check(&windows, &[], &roles, "normal");
    let system = Uuid::new_v4();
    let scope: HashSet<Uuid> = [system].into();
    // Sunday 02:00-03:00 is taken.
    let bookings = [booking(
        "CR-2026-0001",
        utc(2026, 11, 29, 2, 0),
        60,
        system,
        "api",
    )];
    // After Friday noon: the next slots are Sunday 03:00, 03:15, 03:30.
    let found = suggest(
        &normal,
        Uuid::new_v4(),
        &scope,
        &bookings,
        Duration::hours(1),
        utc(2026, 11, 27, 12, 0),
        utc(2027, 1, 1, 0, 0),
        3,
        &Deadline::unbounded(),
    )
    .unwrap();
    assert_eq!(
        found,
        vec![
            slot(utc(2026, 11, 29, 3, 0), 60),
            slot(utc(2026, 11, 29, 3, 15), 60),
            slot(utc(2026, 11, 29, 3, 30), 60)
        ]
    );
    // Without windows: on the hour.
    let free = suggest(
        &check(&[], &[], &roles, "other"),
        Uuid::new_v4(),
        &scope,
        &[],
        Duration::hours(1),
        utc(2026, 11, 27, 12, 10),
        utc(2027, 1, 1, 0, 0),
        1,
        &Deadline::unbounded(),
    )
    .unwrap();
    assert_eq!(free, vec![slot(utc(2026, 11, 27, 13, 0), 60)]);
}

#[test]
fn rules_are_validated() {
    let mut bad = monthly().rule;
    bad.rrule = Some("FREQ=SOMETIMES".into());
    assert_eq!(bad.validate().unwrap_err().field, "rrule");
    let mut gap = monthly().rule;
    gap.dtstart = local(2026, 3, 8, 2); // 02:00 does not exist in New York that night
    assert_eq!(gap.validate().unwrap_err().field, "dtstart");
    assert!(monthly().rule.validate().is_ok());
}

#[test]
fn frequencies_finer_than_daily_and_costly_rules_are_refused() {
    for rrule in [
        "FREQ=SECONDLY",
        "FREQ=MINUTELY",
        "FREQ=HOURLY",
        "FREQ=MINUTELY;INTERVAL=60",
        // Daily, but 60 x 60 starts a day: SECONDLY by another name.
        "FREQ=DAILY;BYMINUTE=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59;BYSECOND=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59",
        "FREQ=DAILY;BYHOUR=1,2,3,4,5;BYMINUTE=0,10,20,30,40",
        "FREQ=DAILY;COUNT=1001",
    ] {
        let mut costly = monthly().rule;
        costly.rrule = Some(rrule.into());
        let error = costly.validate().expect_err(rrule);
        assert_eq!(error.field, "rrule", "{rrule}: {error:?}");
    }
    let mut secondly = monthly().rule;
    secondly.rrule = Some("FREQ=SECONDLY".into());
    assert!(
        secondly
            .validate()
            .unwrap_err()
            .message
            .contains("DAILY, WEEKLY, MONTHLY or YEARLY")
    );
    for rrule in [
        "FREQ=DAILY",
        "FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23",
        "FREQ=DAILY;BYHOUR=2,14;BYMINUTE=0,30",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA",
        "FREQ=MONTHLY;BYDAY=1SU",
        "FREQ=YEARLY;COUNT=1000",
    ] {
        let mut fine = monthly().rule;
        fine.rrule = Some(rrule.into());
        assert!(fine.validate().is_ok(), "{rrule}");
    }
    let mut never = monthly().rule;
    never.rrule = Some("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30".into());
    assert!(never.validate().is_ok(), "well-formed");
    assert_eq!(
        never.check_occurs().unwrap_err().message,
        "the rule never occurs"
    );
    assert!(monthly().rule.check_occurs().is_ok());
    let mut ancient = monthly().rule;
    ancient.dtstart = local(1850, 1, 6, 2);
    assert_eq!(ancient.validate().unwrap_err().field, "dtstart");
}

/// What the expansion gave before it was bounded: every date from the
/// rule's first one, filtered to the range. The reference for the bounded
/// expansion, on ranges close enough to the first date to be cheap.
fn expanded_from_the_first_date(
    rule: &CalendarRule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Interval> {
    let set = rule
        .rrule
        .as_deref()
        .unwrap()
        .parse::<RRule<Unvalidated>>()
        .unwrap()
        .build(rule.local_start())
        .unwrap();
    let range = Interval {
        start: from,
        end: to,
    };
    set.into_iter()
        .take_while(|start| start.with_timezone(&Utc) < to)
        .map(|start| slot(start.with_timezone(&Utc), i64::from(rule.duration_minutes)))
        .filter(|o| o.overlaps(&range))
        .collect()
}

#[test]
fn expansion_starting_near_the_range_finds_what_expansion_from_the_first_date_does() {
    let rules = [
        monthly().rule,
        weekdays().rule,
        christmas(FreezeKind::Hard).rule,
        // Every other Saturday: whole INTERVALs keep it on its weeks.
        rule(
            "Fortnightly",
            local(2025, 1, 4, 22),
            Some("FREQ=WEEKLY;INTERVAL=2;BYDAY=SA"),
            300,
            chrono_tz::Europe::Berlin,
        ),
        // The 31st: months without one are skipped, not clamped.
        rule(
            "Month end",
            local(2025, 1, 31, 23),
            Some("FREQ=MONTHLY;BYMONTHDAY=31"),
            90,
            chrono_tz::Australia::Sydney,
        ),
        // 29 February: every fourth year.
        rule(
            "Leap day",
            local(2024, 2, 29, 12),
            Some("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"),
            60,
            chrono_tz::UTC,
        ),
        rule(
            "Quarterly",
            local(2025, 1, 15, 3),
            Some("FREQ=MONTHLY;INTERVAL=3"),
            60,
            chrono_tz::America::New_York,
        ),
        rule(
            "Every third day",
            local(2025, 1, 1, 1),
            Some("FREQ=DAILY;INTERVAL=3"),
            120,
            chrono_tz::America::New_York,
        ),
        rule(
            "Hourly by day",
            local(2025, 3, 1, 0),
            Some("FREQ=DAILY;BYHOUR=0,6,12,18;BYMINUTE=0,30"),
            20,
            chrono_tz::Europe::London,
        ),
        rule(
            "Long weekly",
            local(2025, 1, 6, 0),
            Some("FREQ=WEEKLY"),
            6 * 24 * 60,
            chrono_tz::UTC,
        ),
        rule(
            "Until",
            local(2025, 1, 6, 2),
            Some("FREQ=WEEKLY;UNTIL=20270101T000000Z"),
            60,
            chrono_tz::UTC,
        ),
    ];
    let ranges = [
        (utc(2024, 12, 1, 0, 0), utc(2025, 2, 1, 0, 0)),
        (utc(2026, 3, 1, 0, 0), utc(2026, 4, 15, 0, 0)),
        (utc(2026, 10, 20, 0, 0), utc(2026, 11, 10, 0, 0)),
        (utc(2027, 12, 20, 0, 0), utc(2028, 3, 31, 0, 0)),
        (utc(2031, 1, 1, 0, 0), utc(2032, 2, 5, 0, 0)),
    ];
    for rule in &rules {
        assert!(rule.validate().is_ok(), "{}", rule.name);
        for (from, to) in ranges {
            assert_eq!(
                rule.occurrences(from, to, &Deadline::unbounded()).unwrap(),
                expanded_from_the_first_date(rule, from, to),
                "{} in {from} .. {to}",
                rule.name
            );
        }
    }
}

#[test]
fn a_day_in_year_9999_is_expanded_from_near_that_day() {
    let window = weekdays();
    // 2 January 9999 is a Saturday, so Sunday the 3rd is the first
    // deployment day of that week.
    let found = window
        .rule
        .occurrences(
            utc(9999, 1, 2, 0, 0),
            utc(9999, 1, 4, 0, 0),
            &Deadline::unbounded(),
        )
        .unwrap();
    assert_eq!(found, vec![slot(utc(9999, 1, 3, 2, 0), 240)]);
    let nightly = rule(
        "Nightly",
        local(2025, 1, 1, 23),
        Some("FREQ=DAILY"),
        180,
        chrono_tz::UTC,
    );
    let last = nightly
        .occurrences(
            utc(9999, 12, 31, 0, 0),
            latest_supported(),
            &Deadline::unbounded(),
        )
        .unwrap();
    assert_eq!(
        last,
        vec![
            slot(utc(9999, 12, 30, 23, 0), 180),
            slot(utc(9999, 12, 31, 23, 0), 180)
        ]
    );
    // Ranges beyond the supported years hold nothing rather than panic.
    let beyond = utc(9999, 12, 31, 23, 59) + Duration::days(400);
    assert!(
        nightly
            .occurrences(beyond, beyond + Duration::days(1), &Deadline::unbounded())
            .unwrap()
            .is_empty()
    );
    // A rule with COUNT ends where its count does, however late the range.
    let counted = rule(
        "Ten nights",
        local(2025, 1, 1, 23),
        Some("FREQ=DAILY;COUNT=10"),
        60,
        chrono_tz::UTC,
    );
    assert!(
        counted
            .occurrences(
                utc(9999, 1, 1, 0, 0),
                utc(9999, 2, 1, 0, 0),
                &Deadline::unbounded()
            )
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        counted
            .occurrences(
                utc(2025, 1, 1, 0, 0),
                utc(2026, 1, 1, 0, 0),
                &Deadline::unbounded()
            )
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn a_spent_deadline_stops_expansion_and_suggestion() {
    let spent = Deadline::after(std::time::Duration::ZERO);
    let window = weekdays();
    assert_eq!(
        window
            .rule
            .occurrences(utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0), &spent),
        Err(OutOfTime)
    );
    let windows = [window];
    let roles = BTreeSet::new();
    let found = suggest(
        &check(&windows, &[], &roles, "normal"),
        Uuid::new_v4(),
        &HashSet::new(),
        &[],
        Duration::hours(1),
        utc(2026, 11, 27, 12, 0),
        utc(2027, 1, 1, 0, 0),
        3,
        &spent,
    );
    assert_eq!(found, Err(OutOfTime));
}

#[test]
fn overlapping_window_occurrences_give_each_candidate_once() {
    // A year-long window that starts every day at 02:00: 366 occurrences
    // overlap every slot. Candidates are still one every 15 minutes.
    let windows = [Window {
        rule: rule(
            "Always",
            local(2026, 1, 1, 2),
            Some("FREQ=DAILY"),
            366 * 24 * 60,
            chrono_tz::UTC,
        ),
        change_types: vec!["normal".into()],
        source: RuleSource::Policy,
    }];
    let freezes = [christmas(FreezeKind::Hard)];
    let roles = BTreeSet::new();
    let found = suggest(
        &check(&windows, &freezes, &roles, "normal"),
        Uuid::new_v4(),
        &HashSet::new(),
        &[],
        Duration::hours(1),
        utc(2026, 12, 23, 22, 10),
        utc(2027, 12, 31, 0, 0),
        3,
        &Deadline::unbounded(),
    )
    .unwrap();
    // 22:10 fits before the freeze starts at midnight; 22:25 and 22:40 do too,
    // 23:10 would run into it.
    assert_eq!(
        found,
        vec![
            slot(utc(2026, 12, 23, 22, 10), 60),
            slot(utc(2026, 12, 23, 22, 25), 60),
            slot(utc(2026, 12, 23, 22, 40), 60),
        ]
    );
}

#[test]
fn a_freeze_names_the_scheduled_changes_it_stops() {
    let change = |number: &str, emergency: bool, start: DateTime<Utc>| ScheduledChange {
        number: number.into(),
        emergency,
        slot: slot(start, 60),
    };
    let occurrences = [
        slot(utc(2026, 12, 24, 0, 0), 24 * 60),
        slot(utc(2026, 12, 31, 0, 0), 24 * 60),
    ];
    let scheduled = [
        change("CHG-4", false, utc(2026, 12, 31, 10, 0)),
        change("CHG-1", false, utc(2026, 12, 24, 3, 0)),
        // Ends exactly when the freeze begins: not stopped.
        change("CHG-2", false, utc(2026, 12, 23, 23, 0)),
        // Emergencies are exempt.
        change("CHG-3", true, utc(2026, 12, 24, 5, 0)),
        // Overlaps the freeze's end.
        change("CHG-5", false, utc(2026, 12, 24, 23, 30)),
        change("CHG-6", false, utc(2026, 12, 27, 12, 0)),
    ];
    assert_eq!(
        blocked_by(&occurrences, &scheduled),
        ["CHG-1", "CHG-5", "CHG-4"]
    );
    assert!(blocked_by(&[], &scheduled).is_empty());
}

#[test]
fn a_soft_freezes_approvers_are_the_roles_it_names() {
    let mut soft = christmas(FreezeKind::Soft);
    soft.approver_roles = vec!["cfo".into(), "cab_chair".into()];
    let mut hard = christmas(FreezeKind::Hard);
    hard.approver_roles = vec!["ceo".into()];
    let freezes = [soft, hard];
    let roles = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(
        soft_freeze_roles_held(&freezes, &roles(&["cfo", "cto"])),
        roles(&["cfo"])
    );
    // A hard freeze has no approvers: only emergencies pass it.
    assert!(soft_freeze_roles_held(&freezes, &roles(&["ceo"])).is_empty());
}

#[test]
fn a_freeze_is_in_force_when_one_occurrence_overlaps_the_start() {
    let freezes = [christmas(FreezeKind::Hard)];
    let in_force = |at: DateTime<Utc>, minutes: i64| {
        freezes_in_force(&freezes, slot(at, minutes), &Deadline::unbounded()).unwrap()
    };
    assert_eq!(
        in_force(utc(2026, 12, 26, 9, 0), 1),
        vec!["Christmas/New Year freeze".to_owned()]
    );
    // The freeze ends 2 January 00:00; a start at that instant is outside.
    assert!(in_force(utc(2027, 1, 2, 0, 0), 1).is_empty());
    // A slot that begins before the freeze and runs into it is in force.
    assert_eq!(in_force(utc(2026, 12, 23, 23, 0), 120).len(), 1);
    assert!(in_force(utc(2026, 12, 23, 21, 0), 120).is_empty());
}

#[test]
fn during_a_freeze_the_start_waits_for_the_board_and_the_extra_gates() {
    use crate::domain::approval::BoardTally;
    use entity::BoardOutcome;
    let open = BoardTally {
        approve: 2,
        reject: 0,
        defer: 0,
        voting_members: 5,
        quorum: 3,
        decided: None,
    };
    let gate = Violation::new(
        ViolationCode::GateMissing,
        "gate missing: additional_testing",
    );
    let in_force = vec!["Christmas/New Year freeze".to_owned()];
    let refused = in_freeze_violations(&in_force, Some(&open), vec![gate.clone()]);
    assert_eq!(
        crate::domain::violation::codes(&refused),
        vec![
            ViolationCode::FreezeApprovalMissing,
            ViolationCode::GateMissing
        ]
    );
    assert!(
        refused[0].message.contains("2 of 5 voting members"),
        "{refused:?}"
    );
    let approved = BoardTally {
        approve: 3,
        decided: Some(BoardOutcome::Approved),
        ..open.clone()
    };
    assert!(in_freeze_violations(&in_force, Some(&approved), Vec::new()).is_empty());
    // A type that asks only for gates, and no freeze in force: nothing.
    assert_eq!(
        in_freeze_violations(&in_force, None, vec![gate.clone()]).len(),
        1
    );
    assert!(in_freeze_violations(&[], Some(&open), vec![gate]).is_empty());
}

#[test]
fn cab_meetings_start_on_the_schedule_in_its_time_zone_across_dst() {
    // Seed 000: weekly, Wednesdays 2:00 PM ET.
    let schedule = rule(
        "CAB meeting",
        local(2025, 1, 1, 14),
        Some("FREQ=WEEKLY;BYDAY=WE"),
        60,
        chrono_tz::America::New_York,
    );
    let deadline = Deadline::unbounded();
    // 14:00 EST is 19:00 UTC in December, 14:00 EDT 18:00 UTC in July.
    assert!(
        schedule
            .starts_at(utc(2026, 12, 2, 19, 0), &deadline)
            .unwrap()
    );
    assert!(
        schedule
            .starts_at(utc(2026, 7, 1, 18, 0), &deadline)
            .unwrap()
    );
    assert!(
        !schedule
            .starts_at(utc(2026, 7, 1, 19, 0), &deadline)
            .unwrap()
    );
    // Inside a meeting is not its start; Tuesday is not Wednesday.
    assert!(
        !schedule
            .starts_at(utc(2026, 12, 2, 19, 30), &deadline)
            .unwrap()
    );
    assert!(
        !schedule
            .starts_at(utc(2026, 12, 1, 19, 0), &deadline)
            .unwrap()
    );
    // The next meetings from a Thursday: the following Wednesdays, with
    // the clocks going back on 1 November 2026 in between.
    assert_eq!(
        schedule
            .next_starts(utc(2026, 10, 22, 0, 0), 3, &deadline)
            .unwrap(),
        vec![
            utc(2026, 10, 28, 18, 0),
            utc(2026, 11, 4, 19, 0),
            utc(2026, 11, 11, 19, 0)
        ]
    );
}

/// A calendar of some change types shows the windows they must fit and the
/// freezes they are held to: emergencies fit no window, and pass freezes
/// unless their type says what they need during one.
#[test]
fn a_calendar_of_some_types_shows_the_windows_and_freezes_that_bind_them() {
    let windows = [monthly(), weekdays()];
    let freezes = [christmas(FreezeKind::Hard)];
    let names = |types: &[CalendarType<'_>]| {
        let (windows, freezes) = governing(&windows, &freezes, types);
        (
            windows
                .iter()
                .map(|w| w.rule.name.as_str())
                .collect::<Vec<_>>(),
            freezes
                .iter()
                .map(|f| f.rule.name.as_str())
                .collect::<Vec<_>>(),
        )
    };
    let of = |key, emergency, in_freeze| CalendarType {
        key,
        emergency,
        in_freeze,
    };
    let freeze = vec!["Christmas/New Year freeze"];
    assert_eq!(
        names(&[]),
        (
            vec!["Monthly maintenance", "Deployment window"],
            freeze.clone()
        )
    );
    assert_eq!(
        names(&[of("standard", false, false)]),
        (vec!["Deployment window"], freeze.clone())
    );
    assert_eq!(
        names(&[of("normal", false, false), of("major", false, false)]),
        (
            vec!["Monthly maintenance", "Deployment window"],
            freeze.clone()
        )
    );
    // A type no window lists is still held to every freeze.
    assert_eq!(
        names(&[of("minor", false, false)]),
        (vec![], freeze.clone())
    );
    assert_eq!(names(&[of("emergency", true, false)]), (vec![], vec![]));
    assert_eq!(names(&[of("emergency", true, true)]), (vec![], freeze));
}

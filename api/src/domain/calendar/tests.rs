use chrono::{NaiveDate, Timelike};

use super::*;

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
        .occurrences(utc(2026, 10, 1, 0, 0), utc(2026, 10, 31, 0, 0));
    // 4 Oct 2026 02:00 EDT (UTC-4).
    assert_eq!(october, vec![slot(utc(2026, 10, 4, 6, 0), 120)]);
    // 1 Nov 2026 is the night DST ends: 02:00 is EST (UTC-5).
    let november = window
        .rule
        .occurrences(utc(2026, 11, 1, 0, 0), utc(2026, 11, 30, 0, 0));
    assert_eq!(november, vec![slot(utc(2026, 11, 1, 7, 0), 120)]);
    // March: DST starts on the second Sunday, the window on the first.
    let march = window
        .rule
        .occurrences(utc(2027, 3, 1, 0, 0), utc(2027, 3, 31, 0, 0));
    assert_eq!(march, vec![slot(utc(2027, 3, 7, 7, 0), 120)]);
    let april = window
        .rule
        .occurrences(utc(2027, 4, 1, 0, 0), utc(2027, 4, 30, 0, 0));
    assert_eq!(april[0].start.hour(), 6, "EDT again");
}

#[test]
fn slots_must_fit_inside_one_occurrence() {
    let windows = [weekdays()];
    let roles = BTreeSet::new();
    let normal = check(&windows, &[], &roles, "normal");
    // Sunday 2026-11-29 02:00-04:00 fits; 05:00-07:00 runs past 06:00.
    assert!(slot_violations(&normal, slot(utc(2026, 11, 29, 2, 0), 120)).is_empty());
    assert!(
        slot_violations(&normal, slot(utc(2026, 11, 29, 4, 0), 120)).is_empty(),
        "ends exactly at 06:00"
    );
    let late = slot_violations(&normal, slot(utc(2026, 11, 29, 5, 0), 120));
    assert_eq!(
        late,
        vec!["outside every allowed window for normal changes (Deployment window)".to_owned()]
    );
    // Friday and Saturday are not deployment days.
    assert_eq!(
        slot_violations(&normal, slot(utc(2026, 11, 27, 2, 0), 60)).len(),
        1
    );
    // Emergencies are exempt; types without windows are free.
    assert!(
        slot_violations(
            &check(&windows, &[], &roles, "emergency"),
            slot(utc(2026, 11, 27, 12, 0), 60)
        )
        .is_empty()
    );
    assert!(
        slot_violations(
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
    }];
    let roles = BTreeSet::new();
    let normal = check(&windows, &[], &roles, "normal");
    assert!(slot_violations(&normal, slot(utc(2026, 11, 24, 0, 30), 60)).is_empty());
    assert!(slot_violations(&normal, slot(utc(2026, 11, 23, 23, 30), 60)).is_empty());
    assert_eq!(
        slot_violations(&normal, slot(utc(2026, 11, 24, 1, 30), 60)).len(),
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
    }
}

#[test]
fn freezes_block_exactly_their_period() {
    let freezes = [christmas(FreezeKind::Hard)];
    let roles = BTreeSet::new();
    let normal = check(&[], &freezes, &roles, "normal");
    // Ends when the freeze starts: adjacent, allowed.
    assert!(slot_violations(&normal, slot(utc(2026, 12, 23, 22, 0), 120)).is_empty());
    let inside = slot_violations(&normal, slot(utc(2026, 12, 23, 23, 0), 120));
    assert_eq!(
        inside,
        vec!["hard freeze: Christmas/New Year freeze (2026-12-24 00:00 UTC to 2027-01-02 00:00 UTC); only emergency changes".to_owned()]
    );
    assert!(
        slot_violations(&normal, slot(utc(2027, 1, 2, 0, 0), 60)).is_empty(),
        "starts as it ends"
    );
    assert!(
        slot_violations(
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
    let violations = slot_violations(
        &check(&[], &freezes, &none, "normal"),
        slot(utc(2026, 12, 28, 3, 0), 60),
    );
    assert!(
        violations[0].starts_with("soft freeze") && violations[0].ends_with("roles cto"),
        "{violations:?}"
    );
    let cto: BTreeSet<String> = ["cto".to_owned()].into();
    assert!(
        slot_violations(
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
        vec!["conflict with CR-2026-0007 on payments-db (2026-11-29 02:00 UTC to 2026-11-29 03:00 UTC)".to_owned()]
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
    );
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
    );
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

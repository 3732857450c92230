//! Scheduling rules as pure functions: recurring windows and freezes
//! (RFC 5545 RRULE in a named time zone, expanded by the `rrule` crate so
//! "02:00 America/New_York" stays 02:00 local across DST changes), and
//! conflicts between changes on related systems.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Datelike, Duration, Months, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rrule::{Frequency, RRule, RRuleSet, Unvalidated, Validated};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::violation::{Violation, ViolationCode};
use super::{
    ValidationError,
    budget::{Deadline, OutOfTime},
};

/// Most occurrences of one rule in one expansion. A rule starts at most 24
/// times a day (see [`MAX_STARTS_PER_DAY`]); the longest range expanded is
/// a 400-day query plus a year-long occurrence reaching into it, about
/// 18,400 starts, so the cap never cuts a legitimate answer short.
pub const MAX_OCCURRENCES: usize = 20_000;

/// A change calendar needs daily granularity at the finest; several starts
/// a day are written with BYHOUR (and BYMINUTE), at most this many.
pub const MAX_STARTS_PER_DAY: usize = 24;

/// Rules with COUNT are expanded from their first date (the count starts
/// there), so the count itself bounds the work.
pub const MAX_COUNT: u32 = 1_000;

/// Most candidate starts one suggestion looks at: one every 15 minutes over
/// 400 days is 38,400; several windows with different start minutes add a
/// few grids of their own.
const MAX_CANDIDATES: usize = 100_000;

/// The instants the calendar works in: from 1900 to the end of year 9999,
/// the last year written with four digits (RFC 3339, iCalendar).
pub fn earliest_supported() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap()
}

pub fn latest_supported() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()
}

/// Refuses an instant outside [`earliest_supported`]..=[`latest_supported`].
pub fn check_supported(field: &str, at: DateTime<Utc>) -> Result<(), ValidationError> {
    if at < earliest_supported() || at > latest_supported() {
        return Err(ValidationError::new(
            field,
            "the calendar covers 1900-01-01 to 9999-12-31 (UTC)",
        ));
    }
    Ok(())
}

/// A half-open time interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Interval {
    /// Adjacent intervals (one ends when the other starts) do not overlap.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn contains(&self, other: &Interval) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// A recurring (or one-off) period in local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(complex)]
pub struct CalendarRule {
    pub name: String,
    /// Local start of the first occurrence.
    #[graphql(skip)]
    pub dtstart: NaiveDateTime,
    /// RFC 5545 RRULE without the `RRULE:` prefix; none for a one-off.
    pub rrule: Option<String>,
    pub duration_minutes: u32,
    #[graphql(skip)]
    pub time_zone: Tz,
}

#[async_graphql::ComplexObject]
impl CalendarRule {
    /// Local start of the first occurrence (`YYYY-MM-DDTHH:MM:SS`).
    #[graphql(name = "dtstart")]
    async fn dtstart_text(&self) -> String {
        self.dtstart.format("%Y-%m-%dT%H:%M:%S").to_string()
    }
    /// IANA time zone the times are local to.
    #[graphql(name = "timeZone")]
    async fn time_zone_name(&self) -> &str {
        self.time_zone.name()
    }
}

impl CalendarRule {
    /// Checks what a TOML file or a client may get wrong, and that
    /// expanding the rule stays cheap: no frequency finer than daily, at
    /// most [`MAX_STARTS_PER_DAY`] starts a day, COUNT at most
    /// [`MAX_COUNT`], a first date inside the supported years.
    pub fn validate(&self) -> Result<(), ValidationError> {
        super::required_text("name", &self.name, 200)?;
        if !(1..=366 * 24 * 60).contains(&self.duration_minutes) {
            return Err(ValidationError::new(
                "durationMinutes",
                "must be between 1 minute and a year",
            ));
        }
        if !(1900..=9999).contains(&self.dtstart.year()) {
            return Err(ValidationError::new(
                "dtstart",
                "must lie between the years 1900 and 9999",
            ));
        }
        if self
            .time_zone
            .from_local_datetime(&self.dtstart)
            .earliest()
            .is_none()
        {
            return Err(ValidationError::new(
                "dtstart",
                "does not exist in the time zone (a DST gap)",
            ));
        }
        if let Some(rule) = &self.rrule {
            if rule.len() > 500 || rule.to_uppercase().contains("DTSTART") {
                return Err(ValidationError::new(
                    "rrule",
                    "give only the RRULE value, e.g. FREQ=WEEKLY;BYDAY=SU",
                ));
            }
            let parsed: RRule<Unvalidated> = rule
                .parse()
                .map_err(|e| ValidationError::new("rrule", format!("not a valid RRULE: {e}")))?;
            check_cost(&parsed)?;
            parsed
                .build(self.local_start())
                .map_err(|e| ValidationError::new("rrule", format!("not a valid RRULE: {e}")))?;
        }
        Ok(())
    }

    /// Refuses a rule that never occurs (`BYMONTH=2;BYMONTHDAY=30`): it is
    /// useless, and each expansion of it spends the rrule crate's whole
    /// limit of steps without a match (100,000 days for a daily rule).
    /// Checked when a rule is created, not on every load.
    pub fn check_occurs(&self) -> Result<(), ValidationError> {
        let Some(rule) = &self.rrule else {
            return Ok(());
        };
        let set = rule
            .parse::<RRule<Unvalidated>>()
            .and_then(|parsed| parsed.build(self.local_start()))
            .map_err(|e| ValidationError::new("rrule", format!("not a valid RRULE: {e}")))?;
        if set.all(1).dates.is_empty() {
            return Err(ValidationError::new("rrule", "the rule never occurs"));
        }
        Ok(())
    }

    /// The first occurrence's start, as expanding the rule reads it.
    pub fn first_start(&self) -> DateTime<Utc> {
        self.local_start().with_timezone(&Utc)
    }

    fn local_start(&self) -> DateTime<rrule::Tz> {
        let tz = rrule::Tz::Tz(self.time_zone);
        match self.time_zone.from_local_datetime(&self.dtstart).earliest() {
            Some(start) => start.with_timezone(&tz),
            None => Utc.from_utc_datetime(&self.dtstart).with_timezone(&tz),
        }
    }

    fn duration(&self) -> Duration {
        Duration::minutes(i64::from(self.duration_minutes))
    }

    /// Whether an occurrence starts exactly at `at` (a CAB meeting on the
    /// board's schedule).
    pub fn starts_at(&self, at: DateTime<Utc>, deadline: &Deadline) -> Result<bool, OutOfTime> {
        let occurrences = self.occurrences(at, at + Duration::seconds(1), deadline)?;
        Ok(occurrences.iter().any(|o| o.start == at))
    }

    /// The first `count` starts at or after `from`, within a year of it.
    pub fn next_starts(
        &self,
        from: DateTime<Utc>,
        count: usize,
        deadline: &Deadline,
    ) -> Result<Vec<DateTime<Utc>>, OutOfTime> {
        Ok(self
            .occurrences(from, from + Duration::days(366), deadline)?
            .into_iter()
            .map(|o| o.start)
            .filter(|start| *start >= from)
            .take(count)
            .collect())
    }

    /// Occurrences overlapping `[from, to)`, in start order, at most
    /// [`MAX_OCCURRENCES`]. The expansion starts shortly before the range
    /// (see [`expansion_start`]), not at the rule's first date, so a query
    /// for year 9999 costs what a query for next month does.
    pub fn occurrences(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        deadline: &Deadline,
    ) -> Result<Vec<Interval>, OutOfTime> {
        // Outside the supported years there is nothing to expand, and the
        // rrule crate's own year arithmetic would end early anyway.
        let from = from.max(earliest_supported());
        let to = to.min(latest_supported());
        if to <= from {
            return Ok(Vec::new());
        }
        let range = Interval {
            start: from,
            end: to,
        };
        let Some(rule) = &self.rrule else {
            let start = self.local_start().with_timezone(&Utc);
            let once = Interval {
                start,
                end: start + self.duration(),
            };
            return Ok(if once.overlaps(&range) {
                vec![once]
            } else {
                Vec::new()
            });
        };
        let Ok(parsed) = rule.parse::<RRule<Unvalidated>>() else {
            return Ok(Vec::new());
        };
        // Validated against the real first date: BYMONTHDAY, BYDAY and
        // BYHOUR defaults come from it, whatever date the expansion starts.
        let Ok(validated) = parsed.validate(self.local_start()) else {
            return Ok(Vec::new());
        };
        let first = match validated.get_count() {
            Some(_) => self.local_start(),
            None => self.expansion_start(&validated, from - self.duration()),
        };
        // `limit` keeps the crate's own bound on steps without a match.
        let set = RRuleSet::new(first).limit().rrule(validated);
        let mut found = Vec::new();
        for start in &set {
            deadline.check()?;
            let start = start.with_timezone(&Utc);
            if start >= to {
                break;
            }
            let occurrence = Interval {
                start,
                end: start + self.duration(),
            };
            if occurrence.overlaps(&range) {
                found.push(occurrence);
                if found.len() == MAX_OCCURRENCES {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// Where to start expanding a rule without COUNT so that no occurrence
    /// starting at or after `lower` is missed: the first date moved forward
    /// by whole periods of the rule (whole `INTERVAL`s, so every other week
    /// stays on its weeks), stopping two periods short of `lower`. Two
    /// periods are more than any DST shift or month-length clamp can move
    /// an occurrence, and each costs the expansion only a period's steps.
    fn expansion_start(
        &self,
        rule: &RRule<Validated>,
        lower: DateTime<Utc>,
    ) -> DateTime<rrule::Tz> {
        let first = self.dtstart;
        let target = lower.with_timezone(&self.time_zone).naive_local();
        if target <= first {
            return self.local_start();
        }
        let interval = i64::from(rule.get_interval().max(1));
        let (unit, elapsed) = match rule.get_freq() {
            Frequency::Daily => (interval, (target.date() - first.date()).num_days()),
            Frequency::Weekly => (7 * interval, (target.date() - first.date()).num_days()),
            Frequency::Monthly => (interval, months_between(first, target)),
            Frequency::Yearly => (12 * interval, months_between(first, target)),
            // Refused by `validate`; expanded from the first date if a
            // stored rule predates that check.
            _ => return self.local_start(),
        };
        let periods = elapsed / unit - 2;
        // A moved start can fall into a DST gap; one period earlier cannot
        // be in the same gap.
        for periods in (1..=periods).rev().take(3) {
            let moved = match rule.get_freq() {
                Frequency::Daily | Frequency::Weekly => {
                    first.checked_add_signed(Duration::days(periods * unit))
                }
                _ => u32::try_from(periods * unit)
                    .ok()
                    .and_then(|months| first.checked_add_months(Months::new(months))),
            };
            if let Some(start) =
                moved.and_then(|m| self.time_zone.from_local_datetime(&m).earliest())
            {
                return start.with_timezone(&rrule::Tz::Tz(self.time_zone));
            }
        }
        self.local_start()
    }
}

fn months_between(first: NaiveDateTime, target: NaiveDateTime) -> i64 {
    i64::from(target.year() - first.year()) * 12 + i64::from(target.month())
        - i64::from(first.month())
}

/// Refuses rules whose expansion would cost more than a change calendar
/// can use: finer than daily (`FREQ=SECONDLY` was a way to pin a core),
/// more than [`MAX_STARTS_PER_DAY`] starts a day, a huge COUNT.
fn check_cost(rule: &RRule<Unvalidated>) -> Result<(), ValidationError> {
    if rule.get_freq() > Frequency::Daily {
        return Err(ValidationError::new(
            "rrule",
            format!(
                "FREQ={} is finer than a change calendar needs; use DAILY, WEEKLY, MONTHLY or YEARLY (BYHOUR gives several starts a day)",
                rule.get_freq()
            ),
        ));
    }
    let starts_per_day = [
        rule.get_by_hour().len(),
        rule.get_by_minute().len(),
        rule.get_by_second().len(),
    ]
    .iter()
    .map(|n| (*n).max(1))
    .product::<usize>();
    if starts_per_day > MAX_STARTS_PER_DAY {
        return Err(ValidationError::new(
            "rrule",
            format!(
                "BYHOUR, BYMINUTE and BYSECOND give {starts_per_day} starts a day; at most {MAX_STARTS_PER_DAY}"
            ),
        ));
    }
    if rule.get_count().is_some_and(|count| count > MAX_COUNT) {
        return Err(ValidationError::new(
            "rrule",
            format!("COUNT is at most {MAX_COUNT}; use UNTIL for a longer series"),
        ));
    }
    Ok(())
}

/// Where a window or freeze is defined. Names do not tell rules apart
/// (two run-time windows may share one), so whatever must name a rule for
/// good, the calendar feed's UIDs, names it by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleSource {
    /// An entry of the policy file, where names are unique.
    Policy,
    /// A rule created at run time: its record.
    Stored { id: Uuid, created_at: DateTime<Utc> },
}

/// A window some change types must fit into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub rule: CalendarRule,
    /// Types that must be scheduled inside this window.
    pub change_types: Vec<String>,
    pub source: RuleSource,
}

impl Window {
    /// Whether the window lists `change_type` (emergency types pass it all
    /// the same, see [`SlotCheck::emergency`]).
    pub fn governs(&self, change_type: &str) -> bool {
        self.change_types.iter().any(|t| t == change_type)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum FreezeKind {
    /// Only emergency changes.
    Hard,
    /// Changes need an extra approval by one of `approver_roles`.
    Soft,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Freeze {
    pub rule: CalendarRule,
    pub kind: FreezeKind,
    pub approver_roles: Vec<String>,
    pub source: RuleSource,
}

/// A change type as windows and freezes see it.
#[derive(Debug, Clone, Copy)]
pub struct CalendarType<'a> {
    pub key: &'a str,
    /// Emergencies pass windows and freezes ([`expand`])...
    pub emergency: bool,
    /// ...except that a type saying what it needs to start during a freeze
    /// (`[change_type.in_freeze]`) is held to it at the start.
    pub in_freeze: bool,
}

/// The windows and freezes that bind changes of one of `types`, all of
/// them when `types` is empty: what a calendar of those types shows. A
/// window binds the types it lists; every freeze binds every type.
pub fn governing<'a>(
    windows: &'a [Window],
    freezes: &'a [Freeze],
    types: &[CalendarType<'_>],
) -> (Vec<&'a Window>, Vec<&'a Freeze>) {
    if types.is_empty() {
        return (windows.iter().collect(), freezes.iter().collect());
    }
    let windows = windows
        .iter()
        .filter(|w| types.iter().any(|t| !t.emergency && w.governs(t.key)))
        .collect();
    let freezes = if types.iter().any(|t| !t.emergency || t.in_freeze) {
        freezes.iter().collect()
    } else {
        Vec::new()
    };
    (windows, freezes)
}

/// What scheduling one change into one slot needs to know.
#[derive(Debug, Clone)]
pub struct SlotCheck<'a> {
    pub change_type: &'a str,
    /// Emergency types are exempt from windows and freezes.
    pub emergency: bool,
    pub windows: &'a [Window],
    pub freezes: &'a [Freeze],
    /// Roles of the people who approved the change (for soft freezes).
    pub approver_roles: &'a BTreeSet<String>,
}

fn fmt(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The occurrences of the windows and freezes that bind one change, expanded
/// once over a range and then asked about any slot inside it.
pub struct Expansion<'a> {
    change_type: &'a str,
    /// Applicable windows with their occurrences; empty when the type has
    /// none (or is an emergency).
    windows: Vec<(&'a Window, Vec<Interval>)>,
    freezes: Vec<(&'a Freeze, Vec<Interval>)>,
    emergency: bool,
    approver_roles: &'a BTreeSet<String>,
}

/// Expands what binds `check`'s change over `range`.
pub fn expand<'a>(
    check: &SlotCheck<'a>,
    range: Interval,
    deadline: &Deadline,
) -> Result<Expansion<'a>, OutOfTime> {
    let mut expansion = Expansion {
        change_type: check.change_type,
        windows: Vec::new(),
        freezes: Vec::new(),
        emergency: check.emergency,
        approver_roles: check.approver_roles,
    };
    if check.emergency {
        return Ok(expansion);
    }
    let windows: &'a [Window] = check.windows;
    for window in windows.iter().filter(|w| w.governs(check.change_type)) {
        let occurrences = window.rule.occurrences(range.start, range.end, deadline)?;
        expansion.windows.push((window, occurrences));
    }
    let freezes: &'a [Freeze] = check.freezes;
    for freeze in freezes {
        let occurrences = freeze.rule.occurrences(range.start, range.end, deadline)?;
        expansion.freezes.push((freeze, occurrences));
    }
    Ok(expansion)
}

/// Occurrences of one rule (sorted by start, all of one length, so their
/// ends are sorted too) that overlap `slot`.
fn overlapping(occurrences: &[Interval], slot: Interval) -> &[Interval] {
    let first = occurrences.partition_point(|o| o.end <= slot.start);
    let count = occurrences[first..].partition_point(|o| o.start < slot.end);
    &occurrences[first..first + count]
}

impl Expansion<'_> {
    /// Window and freeze violations of `slot`, which lies inside the range
    /// expanded.
    pub fn violations(&self, slot: Interval) -> Vec<Violation> {
        let mut violations = Vec::new();
        if self.emergency {
            return violations;
        }
        if !self.windows.is_empty()
            && !self.windows.iter().any(|(_, occurrences)| {
                overlapping(occurrences, slot)
                    .iter()
                    .any(|o| o.contains(&slot))
            })
        {
            violations.push(Violation::new(
                ViolationCode::OutsideWindow,
                format!(
                    "outside every allowed window for {} changes ({})",
                    self.change_type,
                    self.windows
                        .iter()
                        .map(|(w, _)| w.rule.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        for (freeze, occurrences) in &self.freezes {
            for occurrence in overlapping(occurrences, slot) {
                let period = format!(
                    "{} ({} to {})",
                    freeze.rule.name,
                    fmt(occurrence.start),
                    fmt(occurrence.end)
                );
                match freeze.kind {
                    FreezeKind::Hard => violations.push(Violation::new(
                        ViolationCode::HardFreeze,
                        format!("hard freeze: {period}; only emergency changes"),
                    )),
                    FreezeKind::Soft
                        if !freeze
                            .approver_roles
                            .iter()
                            .any(|r| self.approver_roles.contains(r)) =>
                    {
                        violations.push(Violation::new(
                            ViolationCode::SoftFreeze,
                            format!(
                                "soft freeze: {period}; needs approval by one of roles {}",
                                freeze.approver_roles.join(", ")
                            ),
                        ));
                    }
                    FreezeKind::Soft => {}
                }
            }
        }
        violations
    }

    /// Candidate starts inside the applicable windows, in order: each
    /// occurrence's start (or `after`), then every 15 minutes while a slot
    /// of `duration` still fits. Occurrences that overlap and share their
    /// quarter-hour grid are merged first, so a hundred overlapping
    /// occurrences cost what one does.
    fn window_candidates(
        &self,
        duration: Duration,
        after: DateTime<Utc>,
        horizon: DateTime<Utc>,
        deadline: &Deadline,
    ) -> Result<Vec<DateTime<Utc>>, OutOfTime> {
        let step = Duration::minutes(15);
        let mut by_grid: BTreeMap<i64, Vec<Interval>> = BTreeMap::new();
        for (_, occurrences) in &self.windows {
            for occurrence in occurrences {
                let start = occurrence.start.max(after);
                by_grid
                    .entry(start.timestamp().rem_euclid(step.num_seconds()))
                    .or_default()
                    .push(Interval {
                        start,
                        end: occurrence.end.min(horizon + duration),
                    });
            }
        }
        let mut candidates = Vec::new();
        'grids: for mut intervals in by_grid.into_values() {
            intervals.sort();
            let mut merged: Vec<Interval> = Vec::new();
            for interval in intervals {
                match merged.last_mut() {
                    Some(last) if interval.start <= last.end => {
                        last.end = last.end.max(interval.end)
                    }
                    _ => merged.push(interval),
                }
            }
            for interval in merged {
                let mut at = interval.start;
                while at + duration <= interval.end {
                    deadline.check()?;
                    candidates.push(at);
                    if candidates.len() == MAX_CANDIDATES {
                        break 'grids;
                    }
                    at += step;
                }
            }
        }
        candidates.sort();
        candidates.dedup();
        Ok(candidates)
    }
}

/// The roles of `roles` that let a change into one of the soft freezes:
/// who holds one grants the freeze's extra approval, whether or not they
/// approve the change's type.
pub fn soft_freeze_roles_held(freezes: &[Freeze], roles: &BTreeSet<String>) -> BTreeSet<String> {
    freezes
        .iter()
        .filter(|f| f.kind == FreezeKind::Soft)
        .flat_map(|f| &f.approver_roles)
        .filter(|r| roles.contains(*r))
        .cloned()
        .collect()
}

/// The names of the freezes, hard or soft, with an occurrence overlapping
/// `start` (a change's slot, or the moment it starts without one).
pub fn freezes_in_force(
    freezes: &[Freeze],
    start: Interval,
    deadline: &Deadline,
) -> Result<Vec<String>, OutOfTime> {
    let mut names = Vec::new();
    for freeze in freezes {
        let occurrences = freeze.rule.occurrences(start.start, start.end, deadline)?;
        if !overlapping(&occurrences, start).is_empty() {
            names.push(freeze.rule.name.clone());
        }
    }
    Ok(names)
}

/// What a type's `[change_type.in_freeze]` still needs before a change
/// starts during the freezes `in_force`: the CAB's approval, when the type
/// asks for it (`board`: its tally of freeze-entry approvals), and the
/// extra gates (`unmet_gates`: those of them not met). Nothing when no
/// freeze is in force.
pub fn in_freeze_violations(
    in_force: &[String],
    board: Option<&super::approval::BoardTally>,
    unmet_gates: Vec<Violation>,
) -> Vec<Violation> {
    if in_force.is_empty() {
        return Vec::new();
    }
    let mut violations = Vec::new();
    if let Some(tally) = board.filter(|t| t.decided.is_none()) {
        violations.push(Violation::new(
            ViolationCode::FreezeApprovalMissing,
            format!(
                "during the freeze ({}) the CAB approves the start: {} of {} voting members approved the freeze entry; a quorum of {} and more than half are needed",
                in_force.join(", "),
                tally.approve,
                tally.voting_members,
                tally.quorum,
            ),
        ));
    }
    violations.extend(unmet_gates);
    violations
}

/// A scheduled change as a freeze sees it.
#[derive(Debug, Clone)]
pub struct ScheduledChange {
    pub number: String,
    /// Emergency types are exempt from freezes.
    pub emergency: bool,
    pub slot: Interval,
}

/// The numbers of the scheduled changes a freeze's occurrences stop (a
/// hard freeze) or hold until the freeze's approvers let them in (a soft
/// one), in slot order: what the change manager who creates a freeze must
/// see at once.
pub fn blocked_by(occurrences: &[Interval], scheduled: &[ScheduledChange]) -> Vec<String> {
    let mut blocked: Vec<&ScheduledChange> = scheduled
        .iter()
        .filter(|c| !c.emergency)
        .filter(|c| occurrences.iter().any(|o| o.overlaps(&c.slot)))
        .collect();
    blocked.sort_by(|a, b| a.slot.cmp(&b.slot).then(a.number.cmp(&b.number)));
    blocked.into_iter().map(|c| c.number.clone()).collect()
}

/// Window and freeze violations of `slot`.
pub fn slot_violations(
    check: &SlotCheck<'_>,
    slot: Interval,
    deadline: &Deadline,
) -> Result<Vec<Violation>, OutOfTime> {
    Ok(expand(check, slot, deadline)?.violations(slot))
}

/// Another scheduled or implementing change, with its systems.
#[derive(Debug, Clone)]
pub struct Booking {
    pub change_id: Uuid,
    pub number: String,
    pub slot: Interval,
    pub systems: Vec<(Uuid, String)>,
}

/// Conflicts of `slot` with bookings on any system in `scope` (the
/// change's systems with their parents and children).
pub fn conflicts(
    own_id: Uuid,
    slot: Interval,
    scope: &HashSet<Uuid>,
    bookings: &[Booking],
) -> Vec<Violation> {
    bookings
        .iter()
        .filter(|b| b.change_id != own_id && b.slot.overlaps(&slot))
        .filter_map(|b| {
            let shared: Vec<&str> = b
                .systems
                .iter()
                .filter(|(id, _)| scope.contains(id))
                .map(|(_, name)| name.as_str())
                .collect();
            (!shared.is_empty()).then(|| {
                Violation::new(
                    ViolationCode::Conflict,
                    format!(
                        "conflict with {} on {} ({} to {})",
                        b.number,
                        shared.join(", "),
                        fmt(b.slot.start),
                        fmt(b.slot.end)
                    ),
                )
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
/// The next `count` free slots of `duration` starting at or after `after`
/// and before `horizon`: inside an applicable window when the type has
/// windows (trying each occurrence's start, then every 15 minutes), on the
/// hour otherwise; passing freezes and conflicts. Rules are expanded once
/// over the whole horizon, not once per candidate.
pub fn suggest(
    check: &SlotCheck<'_>,
    own_id: Uuid,
    scope: &HashSet<Uuid>,
    bookings: &[Booking],
    duration: Duration,
    after: DateTime<Utc>,
    horizon: DateTime<Utc>,
    count: usize,
    deadline: &Deadline,
) -> Result<Vec<Interval>, OutOfTime> {
    let expansion = expand(
        check,
        Interval {
            start: after,
            end: horizon + duration,
        },
        deadline,
    )?;
    let candidates = if expansion.windows.is_empty() {
        // The first full hour at or after `after`.
        let hour = after.timestamp().div_euclid(3600) * 3600;
        let mut at = DateTime::from_timestamp(hour, 0).unwrap_or(after);
        if at < after {
            at += Duration::hours(1);
        }
        let mut candidates = Vec::new();
        while at < horizon && candidates.len() < 24 * 400 {
            candidates.push(at);
            at += Duration::hours(1);
        }
        candidates
    } else {
        expansion.window_candidates(duration, after, horizon, deadline)?
    };
    let mut found = Vec::new();
    for start in candidates {
        deadline.check()?;
        let slot = Interval {
            start,
            end: start + duration,
        };
        if expansion.violations(slot).is_empty()
            && conflicts(own_id, slot, scope, bookings).is_empty()
        {
            found.push(slot);
            if found.len() == count {
                break;
            }
        }
    }
    Ok(found)
}

pub mod observances;

#[cfg(test)]
mod tests;

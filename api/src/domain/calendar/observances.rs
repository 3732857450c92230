//! The offsets a time zone observes from a given instant on, read from the
//! tz database (chrono-tz) and grouped the way an RFC 5545 VTIMEZONE
//! writes them: one STANDARD or DAYLIGHT observance per run of transitions
//! that follow a yearly rule ("first Sunday of November, 02:00"), and one
//! per transition that follows none. A calendar client that reads them
//! converts local times exactly as the server's own expansion does.

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc, Weekday,
};
use chrono_tz::{OffsetComponents, OffsetName, Tz, TzOffset};

/// Transitions are looked for up to here, or two years past the start when
/// that is later. chrono-tz's tables run to 2100, repeating the rules in
/// force today; a rule followed for a full cycle up to here is written
/// without an end, as the tz database's own POSIX footer carries it on.
fn horizon(from: DateTime<Utc>) -> DateTime<Utc> {
    let fixed = Utc.with_ymd_and_hms(2090, 1, 1, 0, 0, 0).unwrap();
    fixed.max(from + Duration::days(2 * 366))
}

/// Probing step. The tz database has no two transitions less than a day
/// apart since 1900, so one probe a day sees each of them.
const STEP_SECONDS: i64 = 24 * 3600;

/// Weekdays and leap years repeat every 28 years (in 1901-2099): a rule
/// that fits that many years of a zone's transitions is the zone's rule,
/// not a coincidence of a few years (Jerusalem's "Friday before the last
/// Sunday" is the fourth Friday some years running).
const FULL_CYCLE_YEARS: usize = 28;

/// One STANDARD or DAYLIGHT sub-component of a VTIMEZONE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observance {
    pub daylight: bool,
    /// The first onset in local time before it (RFC 5545 §3.6.5: the
    /// offset it ends, `offset_from`).
    pub onset: NaiveDateTime,
    /// Seconds east of UTC before and after the onset.
    pub offset_from: i32,
    pub offset_to: i32,
    /// The abbreviation in force afterwards (`EST`), or the offset when
    /// the tz database gives none.
    pub name: String,
    /// The later onsets, when they follow a yearly rule.
    pub recurrence: Option<YearlyRule>,
}

/// `FREQ=YEARLY;BYMONTH=..;BYDAY=..`: the onsets fall on one weekday of one
/// week of one month, at the first onset's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearlyRule {
    pub month: u32,
    /// 1 to 4 for the first to the fourth such weekday of the month, -1
    /// for the last.
    pub week: i8,
    pub weekday: Weekday,
    /// The last onset; `None` while the tz database still follows the rule
    /// at its horizon.
    pub until: Option<DateTime<Utc>>,
}

impl YearlyRule {
    /// The RRULE value (`FREQ=YEARLY;BYMONTH=11;BYDAY=1SU`); UNTIL in UTC
    /// as RFC 5545 requires inside a VTIMEZONE.
    pub fn rrule(&self) -> String {
        let weekday = match self.weekday {
            Weekday::Mon => "MO",
            Weekday::Tue => "TU",
            Weekday::Wed => "WE",
            Weekday::Thu => "TH",
            Weekday::Fri => "FR",
            Weekday::Sat => "SA",
            Weekday::Sun => "SU",
        };
        let mut rule = format!(
            "FREQ=YEARLY;BYMONTH={};BYDAY={}{weekday}",
            self.month, self.week
        );
        if let Some(until) = self.until {
            rule.push_str(&format!(";UNTIL={}", until.format("%Y%m%dT%H%M%SZ")));
        }
        rule
    }
}

/// What is observed at an instant: the offset, whether it is daylight
/// saving time, and its abbreviation.
fn observed(tz: Tz, at: i64) -> TzOffset {
    let at = DateTime::from_timestamp(at, 0).unwrap_or_default();
    tz.offset_from_utc_datetime(&at.naive_utc())
}

fn total(offset: &TzOffset) -> i32 {
    offset.fix().local_minus_utc()
}

fn name_of(offset: &TzOffset) -> String {
    offset
        .abbreviation()
        .map(str::to_owned)
        .unwrap_or_else(|| utc_offset(total(offset)))
}

/// An RFC 5545 UTC-OFFSET value: `-0500`, or `-044402` with seconds.
pub fn utc_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let magnitude = seconds.unsigned_abs();
    let (hours, minutes, seconds) = (magnitude / 3600, magnitude / 60 % 60, magnitude % 60);
    if seconds == 0 {
        format!("{sign}{hours:02}{minutes:02}")
    } else {
        format!("{sign}{hours:02}{minutes:02}{seconds:02}")
    }
}

#[derive(Debug, Clone)]
struct Transition {
    /// The first second of the new offset.
    at: i64,
    before: TzOffset,
    after: TzOffset,
}

impl Transition {
    fn onset(&self) -> NaiveDateTime {
        DateTime::from_timestamp(self.at + i64::from(total(&self.before)), 0)
            .unwrap_or_default()
            .naive_utc()
    }

    /// Transitions written by one observance change the same offsets to
    /// the same abbreviation.
    fn key(&self) -> (bool, i32, i32, String) {
        (
            self.after.dst_offset() != Duration::zero(),
            total(&self.before),
            total(&self.after),
            name_of(&self.after),
        )
    }
}

/// Every transition in `(from, to]`: a probe a day, then the exact second
/// by bisection.
fn transitions(tz: Tz, from: i64, to: i64) -> Vec<Transition> {
    let mut found = Vec::new();
    let mut at = from;
    let mut current = observed(tz, at);
    while at < to {
        let next = (at + STEP_SECONDS).min(to);
        if observed(tz, next) == current {
            at = next;
            continue;
        }
        let (mut same, mut changed) = (at, next);
        while changed - same > 1 {
            let middle = same + (changed - same) / 2;
            if observed(tz, middle) == current {
                same = middle;
            } else {
                changed = middle;
            }
        }
        let after = observed(tz, changed);
        found.push(Transition {
            at: changed,
            before: current,
            after,
        });
        current = after;
        at = changed;
    }
    found
}

/// The week of the month `day` lies in, counted from the start (1 to 5)
/// and whether it is the month's last.
fn weeks(date: NaiveDate) -> (i8, bool) {
    let day = date.day();
    let next_month = if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    };
    let days_in_month = next_month
        .and_then(|first| first.pred_opt())
        .map_or(31, |last| last.day());
    (((day - 1) / 7 + 1) as i8, day + 7 > days_in_month)
}

/// The week that describes every onset of `run`, preferring "the n-th"
/// over "the last" when both do.
fn common_week(run: &[&Transition]) -> Option<i8> {
    let weeks: Vec<(i8, bool)> = run.iter().map(|t| weeks(t.onset().date())).collect();
    let first = weeks.first()?.0;
    if first <= 4 && weeks.iter().all(|(n, _)| *n == first) {
        return Some(first);
    }
    weeks.iter().all(|(_, last)| *last).then_some(-1)
}

/// Whether `next` continues `run` as one yearly rule: the year after, the
/// same month, weekday and local time, in a week that still fits them all.
fn continues(run: &[&Transition], next: &Transition) -> bool {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return false;
    };
    let (first, last, onset) = (first.onset(), last.onset(), next.onset());
    let same_day = onset.year() == last.year() + 1
        && onset.month() == first.month()
        && onset.weekday() == first.weekday()
        && onset.time() == first.time();
    same_day && {
        let mut extended = run.to_vec();
        extended.push(next);
        common_week(&extended).is_some()
    }
}

/// The observances of `tz` that describe every instant from `from` on:
/// the one in force at `from` (from its last transition, or from `from`
/// itself when there was none in the year before) and every later one.
pub fn observances(tz: Tz, from: DateTime<Utc>) -> Vec<Observance> {
    let horizon = horizon(from);
    let start = from.timestamp();
    let all = transitions(tz, start - 366 * 24 * 3600, horizon.timestamp());
    let kept = match all.iter().rposition(|t| t.at <= start) {
        Some(index) => &all[index..],
        None => &all[..],
    };
    let mut observances = Vec::new();
    if kept.first().is_none_or(|t| t.at > start) {
        let now = observed(tz, start);
        observances.push(Observance {
            daylight: now.dst_offset() != Duration::zero(),
            onset: from.naive_utc() + Duration::seconds(i64::from(total(&now))),
            offset_from: total(&now),
            offset_to: total(&now),
            name: name_of(&now),
            recurrence: None,
        });
    }
    // Transitions of one kind, in order, split into yearly runs.
    let mut keys: Vec<(bool, i32, i32, String)> = Vec::new();
    for transition in kept {
        if !keys.contains(&transition.key()) {
            keys.push(transition.key());
        }
    }
    let last_year = horizon.year() - 1;
    for key in keys {
        let of_key: Vec<&Transition> = kept.iter().filter(|t| t.key() == key).collect();
        let mut runs: Vec<Vec<&Transition>> = Vec::new();
        for transition in of_key {
            match runs.last_mut() {
                Some(run) if continues(run, transition) => run.push(transition),
                _ => runs.push(vec![transition]),
            }
        }
        let run_count = runs.len();
        for (index, run) in runs.into_iter().enumerate() {
            let (first, last) = (run[0], run[run.len() - 1]);
            let open = index + 1 == run_count
                && last.onset().year() >= last_year
                && run.len() >= FULL_CYCLE_YEARS;
            let recurrence = (run.len() > 1)
                .then(|| common_week(&run))
                .flatten()
                .map(|week| YearlyRule {
                    month: first.onset().month(),
                    week,
                    weekday: first.onset().weekday(),
                    until: (!open)
                        .then(|| DateTime::from_timestamp(last.at, 0).unwrap_or_default()),
                });
            observances.push(Observance {
                daylight: key.0,
                onset: first.onset(),
                offset_from: key.1,
                offset_to: key.2,
                name: key.3.clone(),
                recurrence,
            });
        }
    }
    observances.sort_by_key(|o| o.onset - Duration::seconds(i64::from(o.offset_from)));
    observances
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, s)
            .unwrap()
    }

    fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    /// The changes of offset the observances describe up to `until`, as a
    /// client expands them: `(instant, offset before, offset after)`.
    fn changes(observances: &[Observance], until: i32) -> Vec<(DateTime<Utc>, i32, i32)> {
        let mut changes = Vec::new();
        for o in observances {
            let instant = |local: NaiveDateTime| {
                Utc.from_utc_datetime(&local) - Duration::seconds(o.offset_from.into())
            };
            changes.push((instant(o.onset), o.offset_from, o.offset_to));
            let Some(rule) = o.recurrence else {
                continue;
            };
            for year in o.onset.year() + 1..=until {
                let days: Vec<NaiveDate> = (1..=31)
                    .filter_map(|d| NaiveDate::from_ymd_opt(year, rule.month, d))
                    .filter(|d| d.weekday() == rule.weekday)
                    .collect();
                let day = if rule.week == -1 {
                    days[days.len() - 1]
                } else {
                    days[rule.week as usize - 1]
                };
                let onset = instant(day.and_time(o.onset.time()));
                if rule.until.is_none_or(|until| onset <= until) {
                    changes.push((onset, o.offset_from, o.offset_to));
                }
            }
        }
        changes.sort();
        changes
    }

    #[test]
    fn new_york_today_is_two_open_yearly_rules() {
        let zone = observances(chrono_tz::America::New_York, utc(2025, 1, 5));
        assert_eq!(
            zone,
            vec![
                Observance {
                    daylight: false,
                    onset: at(2024, 11, 3, 2, 0, 0),
                    offset_from: -4 * 3600,
                    offset_to: -5 * 3600,
                    name: "EST".into(),
                    recurrence: Some(YearlyRule {
                        month: 11,
                        week: 1,
                        weekday: Weekday::Sun,
                        until: None
                    }),
                },
                Observance {
                    daylight: true,
                    onset: at(2025, 3, 9, 2, 0, 0),
                    offset_from: -5 * 3600,
                    offset_to: -4 * 3600,
                    name: "EDT".into(),
                    recurrence: Some(YearlyRule {
                        month: 3,
                        week: 2,
                        weekday: Weekday::Sun,
                        until: None
                    }),
                },
            ]
        );
        assert_eq!(
            zone[0].recurrence.unwrap().rrule(),
            "FREQ=YEARLY;BYMONTH=11;BYDAY=1SU"
        );
    }

    #[test]
    fn rules_that_ended_carry_their_last_onset_in_utc() {
        // 1990: the US rules of 1987-2006 (first Sunday of April, last
        // Sunday of October), then today's.
        let zone = observances(chrono_tz::America::New_York, utc(1990, 1, 1));
        let rules: Vec<String> = zone.iter().map(|o| o.recurrence.unwrap().rrule()).collect();
        assert_eq!(
            rules,
            [
                "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU;UNTIL=20061029T060000Z",
                "FREQ=YEARLY;BYMONTH=4;BYDAY=1SU;UNTIL=20060402T070000Z",
                "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
                "FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
            ]
        );
    }

    #[test]
    fn europe_uses_the_last_sunday_and_utc_has_one_fixed_offset() {
        let berlin = observances(chrono_tz::Europe::Berlin, utc(2026, 1, 1));
        let rules: Vec<(String, String, String)> = berlin
            .iter()
            .map(|o| {
                (
                    o.name.clone(),
                    o.onset.format("%m-%d %H:%M").to_string(),
                    o.recurrence.unwrap().rrule(),
                )
            })
            .collect();
        assert_eq!(
            rules,
            [
                (
                    "CET".into(),
                    "10-26 03:00".into(),
                    "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU".into()
                ),
                (
                    "CEST".into(),
                    "03-29 02:00".into(),
                    "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU".into()
                ),
            ]
        );
        let fixed = observances(chrono_tz::UTC, utc(2026, 1, 1));
        assert_eq!(
            fixed,
            vec![Observance {
                daylight: false,
                onset: at(2026, 1, 1, 0, 0, 0),
                offset_from: 0,
                offset_to: 0,
                name: "UTC".into(),
                recurrence: None,
            }]
        );
        assert_eq!(utc_offset(-(4 * 3600 + 56 * 60 + 2)), "-045602");
        assert_eq!(utc_offset(5 * 3600 + 30 * 60), "+0530");
    }

    /// Whatever the zone, the observances give every instant the offset
    /// chrono-tz gives it, to the second at each change: zones without
    /// DST, with abolished DST, southern DST, rules no week describes
    /// (Jerusalem's "Friday before the last Sunday", Casablanca's
    /// Ramadan), half-hour shifts.
    #[test]
    fn observances_agree_with_the_tz_database_instant_by_instant() {
        let offset = |tz: Tz, instant: DateTime<Utc>| {
            tz.offset_from_utc_datetime(&instant.naive_utc())
                .fix()
                .local_minus_utc()
        };
        // Zones whose rule holds to the end of the tz tables (2100) are
        // right to there; the others up to the horizon.
        let (tables_end, horizon) = (utc(2099, 12, 1), utc(2090, 1, 1));
        for (tz, from, until) in [
            (chrono_tz::America::New_York, utc(1970, 1, 1), tables_end),
            (chrono_tz::Europe::Berlin, utc(1979, 6, 1), tables_end),
            (chrono_tz::Australia::Sydney, utc(2000, 1, 1), tables_end),
            (chrono_tz::America::Sao_Paulo, utc(2010, 1, 1), tables_end),
            (chrono_tz::Asia::Jerusalem, utc(2010, 1, 1), horizon),
            (chrono_tz::Australia::Lord_Howe, utc(2015, 1, 1), tables_end),
            (chrono_tz::Europe::Moscow, utc(2005, 1, 1), tables_end),
            (chrono_tz::Asia::Tokyo, utc(2025, 1, 1), tables_end),
            (chrono_tz::Africa::Casablanca, utc(2017, 1, 1), horizon),
        ] {
            let zone = observances(tz, from);
            let changes = changes(&zone, until.year());
            assert!(changes[0].0 <= from, "{tz}: {zone:#?}");
            for (instant, before, after) in &changes {
                if *instant > from && *instant < until {
                    assert_eq!(
                        (
                            offset(tz, *instant - Duration::seconds(1)),
                            offset(tz, *instant)
                        ),
                        (*before, *after),
                        "{tz} at {instant}"
                    );
                }
            }
            let mut instant = from;
            while instant < until {
                let index = changes.partition_point(|(at, _, _)| *at <= instant);
                assert_eq!(
                    changes[index - 1].2,
                    offset(tz, instant),
                    "{tz} at {instant}: {zone:#?}"
                );
                instant += Duration::hours(6);
            }
        }
    }
}

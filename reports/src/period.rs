//! Reporting periods (ISO weeks, months, quarters) in an IANA time zone.
//!
//! Period boundaries are computed here with chrono-tz, once per report, so
//! that the polars side only compares instants: a change belongs to the
//! period whose local start is the last one at or before its `actual_end`.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// Most periods one computation may span (ten years of months).
pub const MAX_PERIODS: usize = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Granularity {
    /// ISO week, Monday to Monday.
    Week,
    Month,
    Quarter,
}

impl Granularity {
    /// The first day of the period containing `date`.
    fn start_of(self, date: NaiveDate) -> NaiveDate {
        match self {
            Self::Week => date - Duration::days(i64::from(date.weekday().num_days_from_monday())),
            Self::Month => first_of_month(date.year(), date.month()),
            Self::Quarter => first_of_month(date.year(), (date.month() - 1) / 3 * 3 + 1),
        }
    }

    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Self::Week => start + Duration::days(7),
            Self::Month => add_months(start, 1),
            Self::Quarter => add_months(start, 3),
        }
    }

    fn label(self, start: NaiveDate) -> String {
        match self {
            Self::Week => {
                let week = start.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Self::Month => format!("{}-{:02}", start.year(), start.month()),
            Self::Quarter => format!("{}-Q{}", start.year(), (start.month() - 1) / 3 + 1),
        }
    }

    /// Parses a period label (`2026-W47`, `2026-10`, `2026-Q3`) into the
    /// first day of that period.
    pub fn parse_label(self, label: &str) -> Result<NaiveDate, PeriodError> {
        let invalid = || PeriodError::Label {
            label: label.to_owned(),
            expected: match self {
                Self::Week => "YYYY-Www, e.g. 2026-W47",
                Self::Month => "YYYY-MM, e.g. 2026-10",
                Self::Quarter => "YYYY-Qn, e.g. 2026-Q3",
            },
        };
        let (year, rest) = label.trim().split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let number = |digits: &str| -> Result<u32, PeriodError> {
            if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(invalid());
            }
            digits.parse().map_err(|_| invalid())
        };
        match self {
            Self::Week => {
                let week = number(rest.strip_prefix('W').ok_or_else(invalid)?)?;
                NaiveDate::from_isoywd_opt(year, week, chrono::Weekday::Mon).ok_or_else(invalid)
            }
            Self::Month => {
                let month = number(rest)?;
                NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(invalid)
            }
            Self::Quarter => {
                let quarter = number(rest.strip_prefix('Q').ok_or_else(invalid)?)?;
                if !(1..=4).contains(&quarter) {
                    return Err(invalid());
                }
                NaiveDate::from_ymd_opt(year, (quarter - 1) * 3 + 1, 1).ok_or_else(invalid)
            }
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("unknown time zone `{0}` (expected an IANA name such as Europe/Berlin)")]
    TimeZone(String),
    #[error("`from` must be before `to`")]
    EmptyRange,
    #[error("the range spans {count} periods; at most {max} are allowed")]
    TooManyPeriods { count: usize, max: usize },
    #[error("invalid period `{label}`: expected {expected}")]
    Label {
        label: String,
        expected: &'static str,
    },
}

/// Parses an IANA time zone name.
pub fn parse_time_zone(name: &str) -> Result<Tz, PeriodError> {
    Tz::from_str(name.trim()).map_err(|_| PeriodError::TimeZone(name.to_owned()))
}

/// One bucket: the part of a calendar period that lies inside the range
/// asked for (whole periods unless the range cuts one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    /// `2026-W47`, `2026-10` or `2026-Q3`.
    pub label: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The periods a computation reports on, in order, without gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodSpec {
    pub granularity: Granularity,
    pub time_zone: Tz,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub periods: Vec<Period>,
}

impl PeriodSpec {
    /// Every period touching `[from, to)`, each clipped to the range.
    pub fn new(
        granularity: Granularity,
        time_zone: Tz,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        max_periods: usize,
    ) -> Result<Self, PeriodError> {
        if from >= to {
            return Err(PeriodError::EmptyRange);
        }
        let mut start_date = granularity.start_of(from.with_timezone(&time_zone).date_naive());
        let mut periods = Vec::new();
        loop {
            let full_start = local_midnight(&time_zone, start_date);
            if full_start >= to {
                break;
            }
            let next_date = granularity.next(start_date);
            let full_end = local_midnight(&time_zone, next_date);
            if periods.len() == max_periods {
                // Count the rest only to say how far over the limit it is.
                let mut count = periods.len();
                let mut date = start_date;
                while local_midnight(&time_zone, date) < to && count <= 100_000 {
                    count += 1;
                    date = granularity.next(date);
                }
                return Err(PeriodError::TooManyPeriods {
                    count,
                    max: max_periods,
                });
            }
            periods.push(Period {
                label: granularity.label(start_date),
                start: full_start.max(from),
                end: full_end.min(to),
            });
            start_date = next_date;
        }
        Ok(Self {
            granularity,
            time_zone,
            from,
            to,
            periods,
        })
    }

    /// The periods from the one labelled `first` to the one labelled `last`,
    /// both included.
    pub fn between_labels(
        granularity: Granularity,
        time_zone: Tz,
        first: &str,
        last: &str,
    ) -> Result<Self, PeriodError> {
        let from = local_midnight(&time_zone, granularity.parse_label(first)?);
        let to = local_midnight(&time_zone, granularity.next(granularity.parse_label(last)?));
        Self::new(granularity, time_zone, from, to, MAX_PERIODS)
    }

    /// The `count` periods ending with the one labelled `last`.
    pub fn trailing(
        granularity: Granularity,
        time_zone: Tz,
        last: &str,
        count: usize,
    ) -> Result<Self, PeriodError> {
        let last_start = granularity.parse_label(last)?;
        let mut first = last_start;
        for _ in 1..count {
            first = previous(granularity, first);
        }
        let from = local_midnight(&time_zone, first);
        let to = local_midnight(&time_zone, granularity.next(last_start));
        Self::new(granularity, time_zone, from, to, MAX_PERIODS)
    }

    /// The label of the period containing `instant`.
    pub fn label_of(granularity: Granularity, time_zone: Tz, instant: DateTime<Utc>) -> String {
        granularity.label(granularity.start_of(instant.with_timezone(&time_zone).date_naive()))
    }

    /// Start instants of the periods, in microseconds since the epoch.
    pub fn start_micros(&self) -> Vec<i64> {
        self.periods
            .iter()
            .map(|p| p.start.timestamp_micros())
            .collect()
    }
}

fn previous(granularity: Granularity, start: NaiveDate) -> NaiveDate {
    match granularity {
        Granularity::Week => start - Duration::days(7),
        Granularity::Month => add_months(start, -1),
        Granularity::Quarter => add_months(start, -3),
    }
}

fn first_of_month(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
}

fn add_months(date: NaiveDate, months: i32) -> NaiveDate {
    let index = date.year() * 12 + date.month0() as i32 + months;
    first_of_month(index.div_euclid(12), index.rem_euclid(12) as u32 + 1)
}

/// The instant local midnight of `date` happens in `tz`. Where a DST jump
/// skips midnight, the first local time after the gap.
pub fn local_midnight(tz: &Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    for minutes in (0..=240).step_by(15) {
        match tz.from_local_datetime(&(midnight + Duration::minutes(minutes))) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.with_timezone(&Utc),
            LocalResult::None => {}
        }
    }
    // No zone has a gap of more than a few hours; fall back to UTC midnight.
    midnight.and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn months_in_a_zone_start_at_local_midnight() {
        let tz = parse_time_zone("Europe/Berlin").unwrap();
        let spec =
            PeriodSpec::between_labels(Granularity::Month, tz, "2026-10", "2026-11").unwrap();
        let labels: Vec<_> = spec.periods.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2026-10", "2026-11"]);
        // CEST (+02:00) in October, CET (+01:00) from 25 October.
        assert_eq!(spec.periods[0].start, utc("2026-09-30T22:00:00Z"));
        assert_eq!(spec.periods[0].end, utc("2026-10-31T23:00:00Z"));
        assert_eq!(spec.periods[1].end, utc("2026-11-30T23:00:00Z"));
    }

    #[test]
    fn labels_parse_and_reject_garbage() {
        assert_eq!(
            Granularity::Quarter.parse_label("2026-Q3").unwrap(),
            NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()
        );
        assert_eq!(
            Granularity::Week.parse_label("2026-W47").unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 16).unwrap()
        );
        for bad in ["2026-13", "2026-Q5", "26-10", "2026-W54", "2026-1x", "2026"] {
            let granularity = if bad.contains('Q') {
                Granularity::Quarter
            } else if bad.contains('W') {
                Granularity::Week
            } else {
                Granularity::Month
            };
            assert!(granularity.parse_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_are_clipped_validated_and_capped() {
        let spec = PeriodSpec::new(
            Granularity::Quarter,
            Tz::UTC,
            utc("2026-02-15T00:00:00Z"),
            utc("2026-07-01T00:00:00Z"),
            MAX_PERIODS,
        )
        .unwrap();
        assert_eq!(spec.periods.len(), 2);
        assert_eq!(spec.periods[0].label, "2026-Q1");
        assert_eq!(spec.periods[0].start, utc("2026-02-15T00:00:00Z"));
        assert_eq!(spec.periods[1].end, utc("2026-07-01T00:00:00Z"));
        assert_eq!(
            PeriodSpec::new(Granularity::Month, Tz::UTC, spec.to, spec.from, 10),
            Err(PeriodError::EmptyRange)
        );
        assert_eq!(
            PeriodSpec::new(
                Granularity::Month,
                Tz::UTC,
                utc("2020-01-01T00:00:00Z"),
                utc("2021-01-01T00:00:00Z"),
                6
            ),
            Err(PeriodError::TooManyPeriods { count: 12, max: 6 })
        );
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }

    #[test]
    fn trailing_counts_back_across_years() {
        let spec = PeriodSpec::trailing(Granularity::Quarter, Tz::UTC, "2026-Q1", 3).unwrap();
        let labels: Vec<_> = spec.periods.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2025-Q3", "2025-Q4", "2026-Q1"]);
    }
}

//! Scheduling rules as pure functions: recurring windows and freezes
//! (RFC 5545 RRULE in a named time zone, expanded by the `rrule` crate so
//! "02:00 America/New_York" stays 02:00 local across DST changes), and
//! conflicts between changes on related systems.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rrule::{RRule, Unvalidated};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ValidationError;

/// Longest expansion of one rule in one query; a weekly window over a year
/// is ~260 occurrences, a daily one ~365.
const MAX_OCCURRENCES: u16 = 5_000;

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
    /// Checks what a TOML file or a client may get wrong.
    pub fn validate(&self) -> Result<(), ValidationError> {
        super::required_text("name", &self.name, 200)?;
        if !(1..=366 * 24 * 60).contains(&self.duration_minutes) {
            return Err(ValidationError::new(
                "durationMinutes",
                "must be between 1 minute and a year",
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
            parsed
                .build(self.local_start())
                .map_err(|e| ValidationError::new("rrule", format!("not a valid RRULE: {e}")))?;
        }
        Ok(())
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

    /// Occurrences overlapping `[from, to)`, in start order.
    pub fn occurrences(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Interval> {
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
            return if once.overlaps(&range) {
                vec![once]
            } else {
                Vec::new()
            };
        };
        let Ok(parsed) = rule.parse::<RRule<Unvalidated>>() else {
            return Vec::new();
        };
        let Ok(set) = parsed.build(self.local_start()) else {
            return Vec::new();
        };
        let tz = rrule::Tz::Tz(self.time_zone);
        set.after((from - self.duration()).with_timezone(&tz))
            .before(to.with_timezone(&tz))
            .all(MAX_OCCURRENCES)
            .dates
            .into_iter()
            .map(|start| {
                let start = start.with_timezone(&Utc);
                Interval {
                    start,
                    end: start + self.duration(),
                }
            })
            .filter(|occurrence| occurrence.overlaps(&range))
            .collect()
    }
}

/// A window some change types must fit into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub rule: CalendarRule,
    /// Types that must be scheduled inside this window.
    pub change_types: Vec<String>,
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

/// Window and freeze violations of `slot`.
pub fn slot_violations(check: &SlotCheck<'_>, slot: Interval) -> Vec<String> {
    let mut violations = Vec::new();
    if check.emergency {
        return violations;
    }
    let applicable: Vec<&Window> = check
        .windows
        .iter()
        .filter(|w| w.change_types.iter().any(|t| t == check.change_type))
        .collect();
    if !applicable.is_empty()
        && !applicable.iter().any(|w| {
            w.rule
                .occurrences(slot.start, slot.end)
                .iter()
                .any(|o| o.contains(&slot))
        })
    {
        violations.push(format!(
            "outside every allowed window for {} changes ({})",
            check.change_type,
            applicable
                .iter()
                .map(|w| w.rule.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for freeze in check.freezes {
        for occurrence in freeze.rule.occurrences(slot.start, slot.end) {
            let period = format!(
                "{} ({} to {})",
                freeze.rule.name,
                fmt(occurrence.start),
                fmt(occurrence.end)
            );
            match freeze.kind {
                FreezeKind::Hard => {
                    violations.push(format!("hard freeze: {period}; only emergency changes"))
                }
                FreezeKind::Soft
                    if !freeze
                        .approver_roles
                        .iter()
                        .any(|r| check.approver_roles.contains(r)) =>
                {
                    violations.push(format!(
                        "soft freeze: {period}; needs approval by one of roles {}",
                        freeze.approver_roles.join(", ")
                    ));
                }
                FreezeKind::Soft => {}
            }
        }
    }
    violations
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
) -> Vec<String> {
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
                format!(
                    "conflict with {} on {} ({} to {})",
                    b.number,
                    shared.join(", "),
                    fmt(b.slot.start),
                    fmt(b.slot.end)
                )
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
/// The next `count` free slots of `duration` starting at or after `after`
/// and before `horizon`: inside an applicable window when the type has
/// windows (trying each occurrence's start, then every 15 minutes), on the
/// hour otherwise; passing freezes and conflicts.
pub fn suggest(
    check: &SlotCheck<'_>,
    own_id: Uuid,
    scope: &HashSet<Uuid>,
    bookings: &[Booking],
    duration: Duration,
    after: DateTime<Utc>,
    horizon: DateTime<Utc>,
    count: usize,
) -> Vec<Interval> {
    let step = Duration::minutes(15);
    let applicable: Vec<&Window> = check
        .windows
        .iter()
        .filter(|w| !check.emergency && w.change_types.iter().any(|t| t == check.change_type))
        .collect();
    let mut candidates: Vec<DateTime<Utc>> = Vec::new();
    if applicable.is_empty() {
        // The first full hour at or after `after`.
        let hour = after.timestamp().div_euclid(3600) * 3600;
        let mut at = DateTime::from_timestamp(hour, 0).unwrap_or(after);
        if at < after {
            at += Duration::hours(1);
        }
        while at < horizon && candidates.len() < 24 * 400 {
            candidates.push(at);
            at += Duration::hours(1);
        }
    } else {
        for window in applicable {
            for occurrence in window.rule.occurrences(after, horizon) {
                let mut at = occurrence.start.max(after);
                while at + duration <= occurrence.end {
                    candidates.push(at);
                    at += step;
                }
            }
        }
        candidates.sort();
        candidates.dedup();
    }
    let mut found = Vec::new();
    for start in candidates {
        let slot = Interval {
            start,
            end: start + duration,
        };
        if slot_violations(check, slot).is_empty()
            && conflicts(own_id, slot, scope, bookings).is_empty()
        {
            found.push(slot);
            if found.len() == count {
                break;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests;

//! The iCalendar feed (RFC 5545 with RFC 7986 calendar properties): one
//! event per change with a slot, windows and freezes as recurring events,
//! and a VTIMEZONE for every time zone they name.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use entity::{ChangeStatus, change, change_system};
use icalendar::{Calendar, CalendarDateTime, Component, Event, EventLike, EventStatus, Property};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::heavy;
use crate::{
    domain::{
        budget::Deadline,
        calendar::{
            self, CalendarRule, CalendarType, Freeze, FreezeKind, RuleSource, Window,
            observances::{self, Observance},
        },
        lifecycle::status_name,
    },
    error::{ServiceError, ServiceResult},
    policy::Policy,
};

/// How far back the feed reaches, and how many change events it holds.
const HISTORY_DAYS: i64 = 90;
const MAX_EVENTS: u64 = 5_000;

/// What the subscriber asked for (query parameters of /calendar.ics).
#[derive(Debug, Default, Clone)]
pub struct FeedFilter {
    pub systems: Vec<Uuid>,
    pub change_types: Vec<String>,
}

/// A rendered feed with what conditional requests compare.
pub struct Feed {
    pub body: String,
    /// SHA-256 of `body` in hex: any change of content changes it.
    pub digest: String,
    /// The newest instant anything the feed is made of changed, to the
    /// second: the last write (every write commits with its audit event),
    /// the last change to leave the history, and the loading of the
    /// policy. The content alone cannot date a removal (a retired freeze,
    /// a re-typed change). Read before the content, so the content is at
    /// least that new.
    pub changed_at: DateTime<Utc>,
    /// What Last-Modified announces: `changed_at`, or earlier while that
    /// is too recent to be settled. An audit event is stamped shortly
    /// before its write commits, and HTTP dates count whole seconds, so a
    /// write that committed after this feed was read, or in the same
    /// second, is newer than what is announced here, and a client that
    /// sends it back as If-Modified-Since gets the new feed.
    pub last_modified: DateTime<Utc>,
}

/// The longest an audit event's stamp is taken to precede its commit.
const COMMIT_MARGIN_SECONDS: i64 = 1;

fn to_second(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

fn ical_status(status: ChangeStatus) -> EventStatus {
    match status {
        ChangeStatus::Cancelled => EventStatus::Cancelled,
        ChangeStatus::Scheduled
        | ChangeStatus::Implementing
        | ChangeStatus::Implemented
        | ChangeStatus::Closed
        | ChangeStatus::Failed
        | ChangeStatus::RolledBack => EventStatus::Confirmed,
        _ => EventStatus::Tentative,
    }
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// A window's or freeze's UID, the same on every request: a run-time
/// rule's record id; a policy entry's name (unique in the policy), slugged
/// to be read and hashed so that names the slug runs together ("Ops
/// window", "Ops-window") stay apart.
fn rule_uid(kind: &str, rule: &CalendarRule, source: RuleSource) -> String {
    match source {
        RuleSource::Stored { id, .. } => format!("{kind}-{id}@gatehouse"),
        RuleSource::Policy => {
            let digest = hex::encode(Sha256::digest(rule.name.as_bytes()));
            format!("{kind}-{}-{}@gatehouse", slug(&rule.name), &digest[..16])
        }
    }
}

/// DTSTAMP of a window or freeze: a run-time rule's creation; a policy
/// entry has no time of its own, and its first start keeps the feed the
/// same from one request (and process) to the next.
fn rule_stamp(rule: &CalendarRule, source: RuleSource) -> DateTime<Utc> {
    match source {
        RuleSource::Stored { created_at, .. } => created_at,
        RuleSource::Policy => rule.first_start(),
    }
}

fn recurring(
    rule: &CalendarRule,
    source: RuleSource,
    kind: &str,
    summary: String,
    category: &str,
) -> Event {
    let mut event = Event::new();
    event
        .uid(&rule_uid(kind, rule, source))
        .timestamp(rule_stamp(rule, source))
        .summary(&summary)
        .starts(CalendarDateTime::WithTimezone {
            date_time: rule.dtstart,
            tzid: rule.time_zone.name().to_owned(),
        })
        .add_property("DURATION", format!("PT{}M", rule.duration_minutes))
        .add_property("CATEGORIES", category)
        .add_property("TRANSP", "TRANSPARENT");
    if let Some(rrule) = &rule.rrule {
        event.add_property("RRULE", rrule);
    }
    event.done()
}

pub async fn render(
    db: &DatabaseConnection,
    policy: &Policy,
    policy_loaded_at: DateTime<Utc>,
    base_url: &str,
    filter: &FeedFilter,
) -> ServiceResult<Feed> {
    let read_at = Utc::now();
    let since = read_at - Duration::days(HISTORY_DAYS);
    let changed_at = to_second(changed_at(db, since, policy_loaded_at).await?);
    let settled =
        to_second(read_at - Duration::seconds(COMMIT_MARGIN_SECONDS)) - Duration::seconds(1);
    let mut query = change::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(change::Column::ScheduledEnd.gte(since))
                .add(change::Column::PlannedEnd.gte(since)),
        )
        .order_by_asc(change::Column::CreatedAt)
        .limit(MAX_EVENTS);
    if !filter.change_types.is_empty() {
        query = query.filter(change::Column::ChangeType.is_in(filter.change_types.clone()));
    }
    if !filter.systems.is_empty() {
        let scope: Vec<Uuid> = crate::store::calendar::scope(db, &filter.systems)
            .await?
            .into_iter()
            .collect();
        query = query.filter(
            change::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(change_system::Column::ChangeId)
                    .from(change_system::Entity)
                    .and_where(change_system::Column::SystemId.is_in(scope))
                    .to_owned(),
            ),
        );
    }
    let changes = query.all(db).await?;
    let rules = crate::store::calendar::rules(db, policy).await?;
    let types: Vec<CalendarType<'_>> = filter
        .change_types
        .iter()
        .map(|key| {
            let known = policy.change_type(key);
            CalendarType {
                key,
                emergency: known.is_some_and(|t| t.emergency.is_some()),
                in_freeze: known.is_some_and(|t| t.in_freeze.is_some()),
            }
        })
        .collect();
    let (windows, freezes) = calendar::governing(&rules.windows, &rules.freezes, &types);
    let windows: Vec<Window> = windows.into_iter().cloned().collect();
    let freezes: Vec<Freeze> = freezes.into_iter().cloned().collect();
    let policy_name = policy.name.clone();
    let type_labels: HashMap<String, String> = policy
        .change_types
        .iter()
        .map(|t| (t.key.clone(), t.label.clone()))
        .collect();
    let base_url = base_url.to_owned();
    // Up to 5,000 events formatted and written out: CPU work, done off the
    // async workers with a budget.
    let body = heavy::run(heavy::REPORTS, move |deadline| {
        build(
            &changes,
            &windows,
            &freezes,
            &policy_name,
            &type_labels,
            &base_url,
            &deadline,
        )
    })
    .await?;
    let digest = hex::encode(Sha256::digest(body.as_bytes()));
    Ok(Feed {
        body,
        digest,
        changed_at,
        last_modified: changed_at.min(settled),
    })
}

/// See [`Feed::changed_at`]. A change leaves the history when the later of
/// its ends is [`HISTORY_DAYS`] old; the latest end of each kind before
/// `since` bounds when the last one left.
async fn changed_at(
    db: &DatabaseConnection,
    since: DateTime<Utc>,
    policy_loaded_at: DateTime<Utc>,
) -> ServiceResult<DateTime<Utc>> {
    let mut latest = policy_loaded_at.max(
        crate::store::audit::last_write_at(db)
            .await?
            .unwrap_or(policy_loaded_at),
    );
    for column in [change::Column::ScheduledEnd, change::Column::PlannedEnd] {
        let end: Option<DateTime<Utc>> = change::Entity::find()
            .select_only()
            .column_as(column.max(), "end")
            .filter(column.lt(since))
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(db)
            .await?
            .flatten();
        if let Some(end) = end {
            latest = latest.max(end + Duration::days(HISTORY_DAYS));
        }
    }
    Ok(latest)
}

fn build(
    changes: &[change::Model],
    windows: &[Window],
    freezes: &[Freeze],
    policy_name: &str,
    type_labels: &HashMap<String, String>,
    base_url: &str,
    deadline: &Deadline,
) -> ServiceResult<String> {
    // `Calendar::new()` brings a PRODID of its own; exactly one is allowed.
    let mut feed = Calendar::empty();
    feed.append_property(Property::new("VERSION", "2.0"));
    feed.append_property(Property::new("PRODID", "-//Gatehouse//Change Calendar//EN"));
    feed.append_property(Property::new("CALSCALE", "GREGORIAN"));
    feed.append_property(Property::new("METHOD", "PUBLISH"));
    feed.name(&format!("Gatehouse changes ({policy_name})"));
    feed.description("Scheduled changes, maintenance windows and change freezes");
    // REFRESH-INTERVAL (RFC 7986, at most once) and X-PUBLISHED-TTL.
    feed.ttl(&Duration::minutes(15));

    let mut events = Vec::new();
    for change in changes {
        deadline.check()?;
        // A scheduled slot wins; an unscheduled change shows its planned
        // window as tentative.
        let (start, end) = match (
            change.scheduled_start,
            change.scheduled_end,
            change.planned_start,
            change.planned_end,
        ) {
            (Some(start), Some(end), _, _) => (start, end),
            (_, _, Some(start), Some(end)) => (start, end),
            _ => continue,
        };
        let status = if change.scheduled_start.is_none() && change.status != ChangeStatus::Cancelled
        {
            EventStatus::Tentative
        } else {
            ical_status(change.status)
        };
        let risk = serde_json::to_value(change.risk_level)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let type_label = type_labels
            .get(&change.change_type)
            .unwrap_or(&change.change_type);
        events.push(
            Event::new()
                .uid(&format!("{}@gatehouse", change.id))
                .timestamp(change.updated_at)
                .sequence(change.schedule_sequence.max(0) as u32)
                .summary(&format!("{} {}", change.number, change.title))
                .starts(start)
                .ends(end)
                .status(status)
                .add_property("CATEGORIES", format!("{},{}", change.change_type, risk))
                .url(&format!("{base_url}/graphql#{}", change.number))
                .description(&format!(
                    "{} ({}) — {}\nStatus: {}\nRisk: {} (score {})\n\n{}",
                    change.number,
                    type_label,
                    change.title,
                    status_name(change.status),
                    risk,
                    change.residual_score.unwrap_or(change.inherent_score),
                    change.description
                ))
                .done(),
        );
    }
    // Each time zone from the first start that names it on.
    let mut zones: BTreeMap<&str, (Tz, DateTime<Utc>)> = BTreeMap::new();
    let rules = windows
        .iter()
        .map(|w| &w.rule)
        .chain(freezes.iter().map(|f| &f.rule));
    for rule in rules {
        let first = rule.first_start();
        zones
            .entry(rule.time_zone.name())
            .and_modify(|(_, earliest)| *earliest = (*earliest).min(first))
            .or_insert((rule.time_zone, first));
    }
    for window in windows {
        let summary = format!(
            "Window: {} ({})",
            window.rule.name,
            window.change_types.join(", ")
        );
        events.push(recurring(
            &window.rule,
            window.source,
            "window",
            summary,
            "WINDOW",
        ));
    }
    for freeze in freezes {
        let kind = if freeze.kind == FreezeKind::Hard {
            "hard"
        } else {
            "soft"
        };
        let summary = format!("Change freeze ({kind}): {}", freeze.rule.name);
        events.push(recurring(
            &freeze.rule,
            freeze.source,
            "freeze",
            summary,
            "FREEZE",
        ));
    }

    // The icalendar crate writes every component it knows with a DTSTAMP
    // and a UID, which a VTIMEZONE must not have; time zones are written
    // here, line by line through the crate's own property writer (escaping
    // and folding), between the calendar's properties and its events.
    let writing = |cause| ServiceError::internal_from("writing the calendar feed", cause);
    let text = feed.done().to_string();
    let mut body = text
        .strip_suffix(CALENDAR_END)
        .ok_or_else(|| ServiceError::internal("the calendar did not end with END:VCALENDAR"))?
        .to_owned();
    for (tzid, (tz, from)) in zones {
        deadline.check()?;
        write_time_zone(&mut body, tzid, &observances::observances(tz, from)).map_err(writing)?;
    }
    for event in &events {
        body.push_str(&event.try_into_string().map_err(writing)?);
    }
    body.push_str(CALENDAR_END);
    Ok(body)
}

const CALENDAR_END: &str = "END:VCALENDAR\r\n";

fn write_line(out: &mut String, key: &str, value: String) -> std::fmt::Result {
    let line: String = Property::new(key, value).try_into()?;
    out.push_str(&line);
    Ok(())
}

/// A VTIMEZONE (RFC 5545 §3.6.5) with one STANDARD or DAYLIGHT
/// sub-component per observance.
fn write_time_zone(out: &mut String, tzid: &str, observances: &[Observance]) -> std::fmt::Result {
    out.push_str("BEGIN:VTIMEZONE\r\n");
    write_line(out, "TZID", tzid.to_owned())?;
    for observance in observances {
        let kind = if observance.daylight {
            "DAYLIGHT"
        } else {
            "STANDARD"
        };
        write!(out, "BEGIN:{kind}\r\n")?;
        write_line(
            out,
            "DTSTART",
            observance.onset.format("%Y%m%dT%H%M%S").to_string(),
        )?;
        write_line(
            out,
            "TZOFFSETFROM",
            observances::utc_offset(observance.offset_from),
        )?;
        write_line(
            out,
            "TZOFFSETTO",
            observances::utc_offset(observance.offset_to),
        )?;
        write_line(out, "TZNAME", observance.name.clone())?;
        if let Some(rule) = observance.recurrence {
            write_line(out, "RRULE", rule.rrule())?;
        }
        write!(out, "END:{kind}\r\n")?;
    }
    out.push_str("END:VTIMEZONE\r\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::calendar_rule;

    fn window(name: &str, zone: &str, source: RuleSource) -> Window {
        Window {
            rule: calendar_rule(
                name,
                "2026-01-04T02:00",
                Some("FREQ=WEEKLY;BYDAY=SU"),
                120,
                zone,
            )
            .unwrap(),
            change_types: vec!["normal".into()],
            source,
        }
    }

    fn feed(windows: &[Window]) -> String {
        build(
            &[],
            windows,
            &[],
            "test",
            &HashMap::new(),
            "http://localhost",
            &Deadline::unbounded(),
        )
        .unwrap()
    }

    #[test]
    fn the_calendar_feed_names_rules_apart_and_the_same_every_time() {
        let stored = |n: u128| RuleSource::Stored {
            id: Uuid::from_u128(n),
            created_at: Utc::now(),
        };
        let rules = [
            window("Ops window", "UTC", RuleSource::Policy),
            window("Ops-window", "UTC", RuleSource::Policy),
            window("Maintenance", "UTC", stored(1)),
            window("Maintenance", "UTC", stored(2)),
        ];
        let uids: Vec<String> = rules
            .iter()
            .map(|w| rule_uid("window", &w.rule, w.source))
            .collect();
        assert_eq!(
            uids,
            [
                "window-ops-window-ae0496eb90de4b6f@gatehouse",
                "window-ops-window-3166ddf802ae0551@gatehouse",
                "window-00000000-0000-0000-0000-000000000001@gatehouse",
                "window-00000000-0000-0000-0000-000000000002@gatehouse",
            ]
        );
        // Nothing in the feed depends on the moment it is written.
        assert_eq!(feed(&rules), feed(&rules));
    }

    #[test]
    fn the_calendar_feed_defines_each_time_zone_it_names_once() {
        let body = feed(&[
            window("New York", "America/New_York", RuleSource::Policy),
            window("Also New York", "America/New_York", RuleSource::Policy),
            window("Berlin", "Europe/Berlin", RuleSource::Policy),
        ]);
        let tzids: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("TZID:"))
            .collect();
        assert_eq!(tzids, ["America/New_York", "Europe/Berlin"]);
        let new_york = &body[body.find("BEGIN:VTIMEZONE").unwrap()..];
        let new_york = &new_york[..new_york.find("END:VTIMEZONE").unwrap()];
        assert_eq!(
            new_york,
            "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n\
             BEGIN:STANDARD\r\nDTSTART:20251102T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\n\
             BEGIN:DAYLIGHT\r\nDTSTART:20260308T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\n"
        );
        // Time zones come before the events that name them, and none has a
        // DTSTAMP or UID of its own.
        assert!(body.find("END:VTIMEZONE").unwrap() < body.find("BEGIN:VEVENT").unwrap());
        assert_eq!(body.matches("DTSTAMP:").count(), 3);
        assert_eq!(body.matches("REFRESH-INTERVAL").count(), 1);
        assert!(body.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"));
    }
}

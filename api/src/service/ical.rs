//! The iCalendar feed (RFC 5545 with RFC 7986 calendar properties): one
//! event per change with a slot, windows and freezes as recurring events.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use entity::{ChangeStatus, change, change_system};
use icalendar::{Calendar, CalendarDateTime, Component, Event, EventLike, EventStatus, Property};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::heavy;
use crate::{
    domain::{budget::Deadline, calendar::CalendarRule, lifecycle::status_name},
    error::ServiceResult,
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

fn recurring(rule: &CalendarRule, uid: String, summary: String, category: &str) -> Event {
    let mut event = Event::new();
    event
        .uid(&uid)
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
    base_url: &str,
    filter: &FeedFilter,
) -> ServiceResult<String> {
    let since = Utc::now() - Duration::days(HISTORY_DAYS);
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
    let policy_name = policy.name.clone();
    let type_labels: HashMap<String, String> = policy
        .change_types
        .iter()
        .map(|t| (t.key.clone(), t.label.clone()))
        .collect();
    let base_url = base_url.to_owned();
    // Up to 5,000 events formatted and written out: CPU work, done off the
    // async workers with a budget.
    heavy::run(heavy::REPORTS, move |deadline| {
        build(
            &changes,
            &rules,
            &policy_name,
            &type_labels,
            &base_url,
            &deadline,
        )
    })
    .await
}

fn build(
    changes: &[change::Model],
    rules: &crate::store::calendar::Rules,
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
    let mut refresh = Property::new("REFRESH-INTERVAL", "PT15M");
    refresh.add_parameter("VALUE", "DURATION");
    feed.append_property(refresh);
    feed.ttl(&Duration::minutes(15));

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
        let event = Event::new()
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
            .done();
        feed.push(event);
    }
    for window in &rules.windows {
        let summary = format!(
            "Window: {} ({})",
            window.rule.name,
            window.change_types.join(", ")
        );
        feed.push(recurring(
            &window.rule,
            format!("window-{}@gatehouse", slug(&window.rule.name)),
            summary,
            "WINDOW",
        ));
    }
    for freeze in &rules.freezes {
        let kind = if freeze.kind == crate::domain::calendar::FreezeKind::Hard {
            "hard"
        } else {
            "soft"
        };
        let summary = format!("Change freeze ({kind}): {}", freeze.rule.name);
        feed.push(recurring(
            &freeze.rule,
            format!("freeze-{}@gatehouse", slug(&freeze.rule.name)),
            summary,
            "FREEZE",
        ));
    }
    Ok(feed.done().to_string())
}

//! The change calendar: windows and freezes (policy and run-time), the
//! bookings of scheduled changes, slot checks and suggestions.

use chrono::{DateTime, Duration, Utc};
use entity::{calendar_rule, change, change_system, feed_token};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait, TryIntoModel,
};
use serde_json::json;
use uuid::Uuid;

use crate::caller::Caller;
use crate::domain::audit_action;
use crate::heavy;
use crate::store;
use crate::store::accounts;
use crate::store::audit;
use crate::{
    auth,
    domain::{
        ValidationError,
        budget::Deadline,
        calendar::{self, FreezeKind, Interval},
        permissions, required_text,
    },
    error::{ServiceError, ServiceResult},
    policy::{Policy, calendar_rule},
};

/// Longest range a calendar query or suggestion may cover.
pub const MAX_RANGE_DAYS: i64 = 400;

/// Most window and freeze occurrences one calendar query answers; a
/// dashboard showing a year of weekly windows needs a few hundred.
pub const MAX_VIEW_OCCURRENCES: usize = 10_000;

/// Most run-time windows and freezes in force at once: every slot check
/// and every calendar query expands all of them.
pub const MAX_ACTIVE_RULES: u64 = 200;

/// The next free slots for a change: its planned duration (one hour when
/// it has none), at or after `after` and the notice period.
pub async fn suggest_slots(
    db: &DatabaseConnection,
    policy: &Policy,
    change_id: Uuid,
    after: DateTime<Utc>,
    count: usize,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<Interval>> {
    crate::domain::timestamps::check("after", after)?;
    if !(1..=20).contains(&count) {
        return Err(ValidationError::new("count", "between 1 and 20").into());
    }
    let change = crate::store::changes::find(db, change_id).await?;
    let change_type = policy.change_type(&change.change_type).ok_or_else(|| {
        ServiceError::validation("changeId", "the change's type is not in the active policy")
    })?;
    let duration = match (change.planned_start, change.planned_end) {
        (Some(start), Some(end)) if end > start => end - start,
        _ => Duration::hours(1),
    };
    let earliest = after.max(now + Duration::hours(i64::from(change_type.notice_hours)));
    // Beyond year 9999 there is nothing to suggest; the horizon stops there.
    calendar::check_supported("after", earliest)?;
    let horizon = (earliest + Duration::days(MAX_RANGE_DAYS)).min(calendar::latest_supported());
    let rules = store::calendar::rules(db, policy).await?;
    let roles = crate::store::changes::approver_roles(db, &change).await?;
    let scope = store::calendar::scope(
        db,
        &crate::store::changes::system_ids_of(db, change.id).await?,
    )
    .await?;
    let booked = store::calendar::bookings(
        db,
        Interval {
            start: earliest,
            end: horizon,
        },
        Some(&scope),
    )
    .await?;
    let emergency = change_type.emergency.is_some();
    heavy::run(heavy::CALENDAR, move |deadline| {
        let check = calendar::SlotCheck {
            change_type: &change.change_type,
            emergency,
            windows: &rules.windows,
            freezes: &rules.freezes,
            approver_roles: &roles,
        };
        Ok(calendar::suggest(
            &check, change.id, &scope, &booked, duration, earliest, horizon, count, &deadline,
        )?)
    })
    .await
}

/// A dashboard's view: changes with a slot in the range, and the window
/// and freeze occurrences.
pub struct CalendarView {
    pub changes: Vec<change::Model>,
    pub windows: Vec<(String, Interval)>,
    pub freezes: Vec<FreezeOccurrence>,
}

/// One occurrence of a freeze in a view, with the scheduled changes of the
/// view it stops.
pub struct FreezeOccurrence {
    pub name: String,
    pub kind: FreezeKind,
    pub interval: Interval,
    pub blocks: Vec<String>,
}

pub async fn view(
    db: &DatabaseConnection,
    policy: &Policy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    system_filter: &[Uuid],
) -> ServiceResult<CalendarView> {
    calendar::check_supported("from", from)?;
    calendar::check_supported("to", to)?;
    if to <= from {
        return Err(ValidationError::new("to", "must be after from").into());
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(ValidationError::new(
            "to",
            format!("at most {MAX_RANGE_DAYS} days after from"),
        )
        .into());
    }
    let range = Interval {
        start: from,
        end: to,
    };
    let mut query = change::Entity::find()
        .filter(change::Column::ScheduledStart.lt(to))
        .filter(change::Column::ScheduledEnd.gt(from))
        .order_by_asc(change::Column::ScheduledStart);
    if !system_filter.is_empty() {
        let scope: Vec<Uuid> = store::calendar::scope(db, system_filter)
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
    let rules = store::calendar::rules(db, policy).await?;
    let (windows, freezes) = heavy::run(heavy::CALENDAR, move |deadline| {
        expand_view(&rules, range, &deadline)
    })
    .await?;
    let scheduled: Vec<calendar::ScheduledChange> = changes
        .iter()
        .filter_map(|c| store::calendar::as_scheduled(policy, c))
        .collect();
    let freezes = freezes
        .into_iter()
        .map(|(name, kind, interval)| FreezeOccurrence {
            blocks: calendar::blocked_by(&[interval], &scheduled),
            name,
            kind,
            interval,
        })
        .collect();
    Ok(CalendarView {
        changes,
        windows,
        freezes,
    })
}

type ViewOccurrences = (Vec<(String, Interval)>, Vec<(String, FreezeKind, Interval)>);

/// The window and freeze occurrences of a view, at most
/// [`MAX_VIEW_OCCURRENCES`] in all.
fn expand_view(
    rules: &store::calendar::Rules,
    range: Interval,
    deadline: &Deadline,
) -> ServiceResult<ViewOccurrences> {
    let too_many = || {
        ServiceError::validation(
            "to",
            format!(
                "the range holds more than {MAX_VIEW_OCCURRENCES} window and freeze occurrences; ask for a shorter one"
            ),
        )
    };
    let mut total = 0usize;
    let mut windows = Vec::new();
    for window in &rules.windows {
        let occurrences = window.rule.occurrences(range.start, range.end, deadline)?;
        total += occurrences.len();
        if total > MAX_VIEW_OCCURRENCES {
            return Err(too_many());
        }
        windows.extend(
            occurrences
                .into_iter()
                .map(|o| (window.rule.name.clone(), o)),
        );
    }
    let mut freezes = Vec::new();
    for freeze in &rules.freezes {
        let occurrences = freeze.rule.occurrences(range.start, range.end, deadline)?;
        total += occurrences.len();
        if total > MAX_VIEW_OCCURRENCES {
            return Err(too_many());
        }
        freezes.extend(
            occurrences
                .into_iter()
                .map(|o| (freeze.rule.name.clone(), freeze.kind, o)),
        );
    }
    Ok((windows, freezes))
}

/// A run-time window or freeze as a client submits it.
pub struct NewRule<'a> {
    pub name: &'a str,
    pub dtstart: &'a str,
    pub rrule: Option<&'a str>,
    pub duration_minutes: u32,
    pub time_zone: &'a str,
    pub change_types: &'a [String],
    pub freeze_kind: Option<FreezeKind>,
    pub approver_roles: &'a [String],
}

/// The calendar's editors are the policy's, the CAB's seat read as it
/// stands now.
async fn authorize_editing(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
) -> ServiceResult<()> {
    let seat = match caller.account() {
        Some(actor) => crate::store::accounts::standing(db, actor.user_id, policy.board.as_ref())
            .await?
            .board_seat(),
        None => None,
    };
    caller.authorize(|actor| permissions::manage_calendar(actor, &policy.calendar, seat))
}

pub async fn create_rule(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    new: NewRule<'_>,
) -> ServiceResult<calendar_rule::Model> {
    authorize_editing(db, policy, caller).await?;
    let rule = calendar_rule(
        new.name,
        new.dtstart,
        new.rrule,
        new.duration_minutes,
        new.time_zone,
    )?;
    heavy::run(heavy::CALENDAR, move |_| Ok(rule.check_occurs()?)).await?;
    for (index, key) in new.change_types.iter().enumerate() {
        if policy.change_type(key).is_none() {
            return Err(ValidationError::new(
                format!("changeTypes[{index}]"),
                format!("`{key}` is not a change type of the active policy"),
            )
            .into());
        }
    }
    if new.freeze_kind.is_none() && new.change_types.is_empty() {
        return Err(ValidationError::new(
            "changeTypes",
            "a window names the change types that must fit it",
        )
        .into());
    }
    crate::domain::roles::parse_roles(new.approver_roles)?;
    let creator = caller.account().map(|a| a.user_id).unwrap_or_default();
    let txn = db.begin().await?;
    let active_rules = calendar_rule::Entity::find()
        .filter(calendar_rule::Column::Active.eq(true))
        .count(&txn)
        .await?;
    if active_rules >= MAX_ACTIVE_RULES {
        return Err(ServiceError::Conflict(format!(
            "{MAX_ACTIVE_RULES} windows and freezes are in force already; retire one first"
        )));
    }
    let active = calendar_rule::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(if new.freeze_kind.is_some() {
            "FREEZE"
        } else {
            "WINDOW"
        }
        .into()),
        name: Set(new.name.trim().to_owned()),
        dtstart: Set(new.dtstart.to_owned()),
        rrule: Set(new.rrule.map(str::to_owned)),
        duration_minutes: Set(new.duration_minutes as i32),
        time_zone: Set(new.time_zone.to_owned()),
        change_types: Set(json!(new.change_types)),
        freeze_kind: Set(new.freeze_kind.map(|k| {
            if k == FreezeKind::Soft {
                "SOFT"
            } else {
                "HARD"
            }
            .to_owned()
        })),
        approver_roles: Set(json!(new.approver_roles)),
        active: Set(true),
        created_by: Set(creator),
        created_at: Set(crate::db::now()),
    };
    let preview = active.clone().try_into_model()?;
    let event = audit::Event::new(
        caller,
        audit_action::CALENDAR_RULE_CREATED,
        "calendar_rule",
        &preview.id.to_string(),
        &json!({"kind": preview.kind, "name": preview.name, "dtstart": preview.dtstart, "rrule": preview.rrule,
                "durationMinutes": preview.duration_minutes, "timeZone": preview.time_zone, "changeTypes": new.change_types,
                "freezeKind": preview.freeze_kind, "approverRoles": new.approver_roles}),
    );
    let model = audit::write(txn, db, event, async move |recording| {
        active.insert(recording).await
    })
    .await?;
    Ok(model)
}

/// The scheduled changes a run-time freeze stops from now on.
pub async fn blocked_by(
    db: &DatabaseConnection,
    policy: &Policy,
    rule: &calendar_rule::Model,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<String>> {
    store::calendar::blocked_by(db, policy, rule, now).await
}

pub async fn retire_rule(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    id: Uuid,
) -> ServiceResult<calendar_rule::Model> {
    authorize_editing(db, policy, caller).await?;
    let txn = db.begin().await?;
    let rule = calendar_rule::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound {
            entity: "calendar rule",
        })?;
    let mut active: calendar_rule::ActiveModel = rule.into();
    active.active = Set(false);
    let preview = active.clone().try_into_model()?;
    let event = audit::Event::new(
        caller,
        audit_action::CALENDAR_RULE_RETIRED,
        "calendar_rule",
        &id.to_string(),
        &json!({"name": preview.name}),
    );
    let model = audit::write(txn, db, event, async move |recording| {
        active.update(recording).await
    })
    .await?;
    Ok(model)
}

pub async fn list_rules(db: &DatabaseConnection) -> ServiceResult<Vec<calendar_rule::Model>> {
    Ok(calendar_rule::Entity::find()
        .order_by_asc(calendar_rule::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Issues a read-only feed token for the caller. The secret is returned
/// once; it only opens `/calendar.ics`.
pub async fn issue_feed_token(
    db: &DatabaseConnection,
    caller: &Caller,
    name: &str,
) -> ServiceResult<(feed_token::Model, String)> {
    required_text("name", name, 200)?;
    let owner = caller
        .account()
        .map(|a| a.user_id)
        .ok_or_else(|| ServiceError::forbidden("feed tokens belong to accounts"))?;
    let secret = format!(
        "ghf_{}",
        &auth::generate_token()[auth::TOKEN_PREFIX.len()..]
    );
    let txn = db.begin().await?;
    let active = feed_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(owner),
        name: Set(name.trim().to_owned()),
        secret_hash: Set(auth::hash_token(&secret)),
        created_at: Set(crate::db::now()),
        revoked_at: Set(None),
    };
    let preview = active.clone().try_into_model()?;
    let event = audit::Event::new(
        caller,
        audit_action::FEED_TOKEN_ISSUED,
        "feed_token",
        &preview.id.to_string(),
        &json!({"name": preview.name}),
    );
    let model = audit::write(txn, db, event, async move |recording| {
        active.insert(recording).await
    })
    .await?;
    Ok((model, secret))
}

pub async fn revoke_feed_token(
    db: &DatabaseConnection,
    caller: &Caller,
    id: Uuid,
) -> ServiceResult<feed_token::Model> {
    let txn = db.begin().await?;
    let token =
        feed_token::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or(ServiceError::NotFound {
                entity: "feed token",
            })?;
    caller.authorize(|actor| permissions::manage_tokens_of(actor, token.user_id))?;
    let mut active: feed_token::ActiveModel = token.into();
    active.revoked_at = Set(Some(crate::db::now()));
    let preview = active.clone().try_into_model()?;
    let event = audit::Event::new(
        caller,
        audit_action::FEED_TOKEN_REVOKED,
        "feed_token",
        &id.to_string(),
        &json!({"name": preview.name}),
    );
    let model = audit::write(txn, db, event, async move |recording| {
        active.update(recording).await
    })
    .await?;
    Ok(model)
}

pub async fn feed_tokens(
    db: &DatabaseConnection,
    caller: &Caller,
) -> ServiceResult<Vec<feed_token::Model>> {
    let owner = caller.account().map(|a| a.user_id).unwrap_or_default();
    Ok(feed_token::Entity::find()
        .filter(feed_token::Column::UserId.eq(owner))
        .order_by_asc(feed_token::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Resolves a feed secret; revoked tokens and deactivated owners fail.
pub async fn authenticate_feed(db: &DatabaseConnection, secret: &str) -> ServiceResult<Uuid> {
    if secret.len() > 256 {
        return Err(ServiceError::Unauthenticated);
    }
    let token = feed_token::Entity::find()
        .filter(feed_token::Column::SecretHash.eq(auth::hash_token(secret)))
        .one(db)
        .await?
        .ok_or(ServiceError::Unauthenticated)?;
    let owner = accounts::find(db, token.user_id).await?;
    if token.revoked_at.is_some() || !owner.active {
        return Err(ServiceError::Unauthenticated);
    }
    Ok(owner.id)
}

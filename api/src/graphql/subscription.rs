//! Live change events over graphql-ws (`/graphql/ws`). The connection is
//! authenticated once, in `connection_init`; the events come from
//! `store::events` and only committed writes raise them.

use crate::domain::node_id::NodeType;
use crate::graphql::types::global_id;
use async_graphql::{Context, ErrorExtensions, ID, InputObject, SimpleObject, Subscription as Sub};
use chrono::{DateTime, Utc};
use entity::ChangeStatus;
use futures::{Stream, StreamExt, stream::BoxStream};
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::context::{ContextExt, parse_id};
use crate::{
    auth::Actor, domain::permissions, error::ServiceError, monitoring::SubscriptionGuard,
    store::events,
};

#[derive(Default)]
pub struct Subscription;

/// Every field is optional; given fields must all match.
#[derive(Debug, Default, InputObject)]
pub struct ChangeEventFilter {
    /// Change type keys (e.g. `normal`, `emergency`).
    pub types: Option<Vec<String>>,
    /// Statuses the change moved into.
    pub statuses: Option<Vec<ChangeStatus>>,
    pub change_id: Option<ID>,
}

/// A create, edit or lifecycle transition, published after its commit.
#[derive(Debug, SimpleObject)]
pub struct ChangeEvent {
    pub change_id: ID,
    pub number: String,
    #[graphql(name = "type")]
    pub change_type: String,
    /// The audit action: `change.created`, `change.updated`,
    /// `change.submitted`, `change.decision`, ...
    pub action: String,
    /// Absent for `change.created`.
    pub status_before: Option<ChangeStatus>,
    pub status_after: ChangeStatus,
    /// The acting account's email (an operator label for CLI writes).
    pub actor_email: String,
    pub occurred_at: DateTime<Utc>,
}

struct Filter {
    types: Option<Vec<String>>,
    statuses: Option<Vec<ChangeStatus>>,
    change_id: Option<Uuid>,
}

impl Filter {
    fn matches(&self, event: &events::ChangeEvent) -> bool {
        self.types
            .as_ref()
            .is_none_or(|t| t.contains(&event.change_type))
            && self
                .statuses
                .as_ref()
                .is_none_or(|s| s.contains(&event.status_after))
            && self.change_id.is_none_or(|id| id == event.change_id)
    }
}

/// Whether the subscriber may see this event (the same rule as reading
/// the change through a query).
fn visible(actor: &Actor, _event: &events::ChangeEvent) -> bool {
    permissions::read_changes(actor).is_ok()
}

#[Sub]
impl Subscription {
    /// Creates, edits and lifecycle transitions of changes, as they commit. A
    /// subscriber that falls more than 1024 events behind gets one LAGGED
    /// error and its stream ends.
    async fn change_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<ChangeEventFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ChangeEvent>> + use<>> {
        let state = ctx.state()?;
        let actor = ctx.actor()?.clone();
        permissions::read_changes(&actor)
            .map_err(|denied| ServiceError::Forbidden(denied).extend())?;
        let filter = filter.unwrap_or_default();
        let filter = Filter {
            types: filter.types,
            statuses: filter.statuses,
            change_id: filter
                .change_id
                .as_ref()
                .map(|id| parse_id(NodeType::Change, "changeId", id))
                .transpose()?,
        };
        let receiver = state.events.subscribe();
        // Dropped with the stream: on unsubscribe or disconnect.
        let guard = state.monitoring.subscription_started();
        Ok(event_stream(receiver, guard, actor, filter))
    }
}

/// The events `actor` may read and `filter` matches, until the channel
/// closes or the subscriber lags (one LAGGED error, then the end).
fn event_stream(
    receiver: broadcast::Receiver<events::ChangeEvent>,
    guard: SubscriptionGuard,
    actor: Actor,
    filter: Filter,
) -> BoxStream<'static, async_graphql::Result<ChangeEvent>> {
    futures::stream::unfold(Some((receiver, guard, actor, filter)), |live| async move {
        let (mut receiver, guard, actor, filter) = live?;
        loop {
            match receiver.recv().await {
                Ok(event) if visible(&actor, &event) && filter.matches(&event) => {
                    let next = Some((receiver, guard, actor, filter));
                    return Some((Ok(to_object(event)), next));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "dropping a lagging subscriber");
                    return Some((Err(ServiceError::Lagged { missed }.extend()), None));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}

fn to_object(event: events::ChangeEvent) -> ChangeEvent {
    ChangeEvent {
        change_id: global_id(NodeType::Change, event.change_id),
        number: event.number,
        change_type: event.change_type,
        action: event.action,
        status_before: event.status_before,
        status_after: event.status_after,
        actor_email: event.actor,
        occurred_at: event.occurred_at,
    }
}

#[cfg(test)]
mod tests {
    use entity::ChangeStatus;
    use futures::StreamExt;
    use tokio::sync::broadcast;
    use uuid::Uuid;

    use super::{Filter, event_stream};
    use crate::{auth::Actor, monitoring::Monitoring, store::events};

    fn event(status_after: ChangeStatus) -> events::ChangeEvent {
        events::ChangeEvent {
            seq: 1,
            change_id: Uuid::new_v4(),
            number: "CR-2026-0001".into(),
            change_type: "normal".into(),
            action: "change.submitted".into(),
            status_before: Some(ChangeStatus::Draft),
            status_after,
            actor: "rita@example.com".into(),
            occurred_at: chrono::Utc::now(),
        }
    }

    fn no_filter() -> Filter {
        Filter {
            types: None,
            statuses: None,
            change_id: None,
        }
    }

    #[tokio::test]
    async fn a_lagging_subscriber_gets_one_lagged_error_and_its_stream_ends() {
        let monitoring = Monitoring::new().unwrap();
        let (sender, receiver) = broadcast::channel(events::CAPACITY);
        let mut stream = event_stream(
            receiver,
            monitoring.subscription_started(),
            Actor::for_tests(&["auditor"]),
            no_filter(),
        );
        assert_eq!(monitoring.live_subscriptions(), 1);
        // Writers never block: sending past capacity always succeeds.
        for _ in 0..events::CAPACITY + 5 {
            sender.send(event(ChangeStatus::AwaitingApproval)).unwrap();
        }
        let error = stream.next().await.unwrap().unwrap_err();
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .cloned();
        assert_eq!(code, Some(async_graphql::Value::from("LAGGED")));
        assert!(stream.next().await.is_none());
        assert_eq!(monitoring.live_subscriptions(), 0);
    }

    #[tokio::test]
    async fn filters_apply_and_dropping_the_stream_ends_its_subscription() {
        let monitoring = Monitoring::new().unwrap();
        let (sender, receiver) = broadcast::channel(events::CAPACITY);
        let mut stream = event_stream(
            receiver,
            monitoring.subscription_started(),
            Actor::for_tests(&["requester"]),
            Filter {
                statuses: Some(vec![ChangeStatus::Approved]),
                ..no_filter()
            },
        );
        sender.send(event(ChangeStatus::AwaitingApproval)).unwrap();
        sender.send(event(ChangeStatus::Approved)).unwrap();
        let received = stream.next().await.unwrap().unwrap();
        assert_eq!(received.status_after, ChangeStatus::Approved);
        drop(stream);
        assert_eq!(monitoring.live_subscriptions(), 0);
        assert_eq!(sender.receiver_count(), 0);
    }
}

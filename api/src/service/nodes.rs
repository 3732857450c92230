//! Refetching any object by its global id (`node(id:)`, `nodes(ids:)`):
//! the record if it exists, read under the same permission as the lists
//! and fields that show it.

use entity::{
    api_token, approval, cab_meeting, calendar_rule, change, change_template, deployment, evidence,
    feed_token, incident, review, system, user, webhook, webhook_delivery,
};
use sea_orm::{DatabaseConnection, EntityTrait, PrimaryKeyTrait};
use uuid::Uuid;

use crate::{
    caller::Caller,
    domain::{node_id::NodeType, permissions},
    error::ServiceResult,
};

/// A record found by its global id.
pub enum NodeRecord {
    // Boxed: a change is several times the size of any other record.
    Change(Box<change::Model>),
    User(user::Model),
    ApiToken(api_token::Model),
    System(system::Model),
    ApprovalRecord(approval::Model),
    Evidence(evidence::Model),
    Incident(incident::Model),
    Review(review::Model),
    Template(change_template::Model),
    CabMeeting(cab_meeting::Model),
    Deployment(deployment::Model),
    Webhook(webhook::Model),
    WebhookDelivery(webhook_delivery::Model),
    CalendarRuleRecord(calendar_rule::Model),
    FeedToken(feed_token::Model),
}

async fn by_id<E>(db: &DatabaseConnection, id: Uuid) -> ServiceResult<Option<E::Model>>
where
    E: EntityTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    Ok(E::find_by_id(id).one(db).await?)
}

/// The record `id` of type `node_type`, `None` when there is none. A
/// record the caller may not read is FORBIDDEN, as its list would be.
pub async fn find(
    db: &DatabaseConnection,
    caller: &Caller,
    node_type: NodeType,
    id: Uuid,
) -> ServiceResult<Option<NodeRecord>> {
    use NodeRecord as R;
    // What every account may read: changes and what hangs off them, the
    // system register, the board, the catalog and the calendar.
    let read_changes = || caller.authorize(permissions::read_changes);
    Ok(match node_type {
        NodeType::Change => {
            read_changes()?;
            by_id::<change::Entity>(db, id)
                .await?
                .map(|change| R::Change(Box::new(change)))
        }
        NodeType::System => {
            read_changes()?;
            by_id::<system::Entity>(db, id).await?.map(R::System)
        }
        NodeType::ApprovalRecord => {
            read_changes()?;
            by_id::<approval::Entity>(db, id)
                .await?
                .map(R::ApprovalRecord)
        }
        NodeType::Evidence => {
            read_changes()?;
            by_id::<evidence::Entity>(db, id).await?.map(R::Evidence)
        }
        NodeType::Incident => {
            read_changes()?;
            by_id::<incident::Entity>(db, id).await?.map(R::Incident)
        }
        NodeType::Review => {
            read_changes()?;
            by_id::<review::Entity>(db, id).await?.map(R::Review)
        }
        NodeType::Template => {
            read_changes()?;
            by_id::<change_template::Entity>(db, id)
                .await?
                .map(R::Template)
        }
        NodeType::CabMeeting => {
            read_changes()?;
            by_id::<cab_meeting::Entity>(db, id)
                .await?
                .map(R::CabMeeting)
        }
        NodeType::Deployment => {
            read_changes()?;
            by_id::<deployment::Entity>(db, id)
                .await?
                .map(R::Deployment)
        }
        NodeType::CalendarRuleRecord => {
            read_changes()?;
            by_id::<calendar_rule::Entity>(db, id)
                .await?
                .map(R::CalendarRuleRecord)
        }
        // An account reads itself; others as `users` allows.
        NodeType::User => {
            caller.authorize(|actor| {
                if actor.user_id == id {
                    Ok(())
                } else {
                    permissions::read_accounts(actor)
                }
            })?;
            by_id::<user::Entity>(db, id).await?.map(R::User)
        }
        // Credentials: their owner's, or as `tokens(userId:)` allows. The
        // owner is only known once the row is read; a token that is not
        // the caller's to see is FORBIDDEN whether or not it exists.
        NodeType::ApiToken => {
            let token = by_id::<api_token::Entity>(db, id).await?;
            let owner = token.as_ref().map(|t| t.user_id);
            caller.authorize(|actor| {
                permissions::read_tokens_of(actor, owner.unwrap_or_else(Uuid::nil))
            })?;
            token.map(R::ApiToken)
        }
        NodeType::FeedToken => {
            let token = by_id::<feed_token::Entity>(db, id).await?;
            let owner = token.as_ref().map(|t| t.user_id);
            caller.authorize(|actor| {
                permissions::read_tokens_of(actor, owner.unwrap_or_else(Uuid::nil))
            })?;
            token.map(R::FeedToken)
        }
        NodeType::Webhook => {
            caller.authorize(permissions::read_webhooks)?;
            by_id::<webhook::Entity>(db, id).await?.map(R::Webhook)
        }
        NodeType::WebhookDelivery => {
            caller.authorize(permissions::read_webhooks)?;
            by_id::<webhook_delivery::Entity>(db, id)
                .await?
                .map(R::WebhookDelivery)
        }
    })
}

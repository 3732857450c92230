//! Relay's object identification: `node(id:)` and `nodes(ids:)` refetch
//! any object by its global id, as Relay, Apollo and urql caches do.

use async_graphql::{Context, ID, Interface, Object};

use crate::{
    domain::node_id,
    error::{GqlResultExt, ServiceError},
    graphql::{
        context::ContextExt,
        types::{
            ApiToken, Change, Deployment, System, User,
            calendar::{CalendarRuleRecord, FeedToken},
            lifecycle::{ApprovalRecord, CabMeeting, Evidence, Incident, Review, Template},
            webhook::{Webhook, WebhookDelivery},
        },
    },
    service::nodes::{self, NodeRecord},
};

/// An object with a global id (`Type:uuid`), refetchable with `node(id:)`.
// A `Change` is much larger than a token, but a `Node` lives for one
// response and is never stored in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The object's global id: `Type:uuid`."))]
pub enum Node {
    Change(Change),
    User(User),
    ApiToken(ApiToken),
    System(System),
    ApprovalRecord(ApprovalRecord),
    Evidence(Evidence),
    Incident(Incident),
    Review(Review),
    Template(Template),
    CabMeeting(CabMeeting),
    Deployment(Deployment),
    Webhook(Webhook),
    WebhookDelivery(WebhookDelivery),
    CalendarRuleRecord(CalendarRuleRecord),
    FeedToken(FeedToken),
}

impl From<NodeRecord> for Node {
    fn from(record: NodeRecord) -> Self {
        match record {
            NodeRecord::Change(m) => Self::Change(Change(*m)),
            NodeRecord::User(m) => Self::User(User(m)),
            NodeRecord::ApiToken(m) => Self::ApiToken(ApiToken(m)),
            NodeRecord::System(m) => Self::System(System(m)),
            NodeRecord::ApprovalRecord(m) => Self::ApprovalRecord(ApprovalRecord(m)),
            NodeRecord::Evidence(m) => Self::Evidence(Evidence(m)),
            NodeRecord::Incident(m) => Self::Incident(Incident(m)),
            NodeRecord::Review(m) => Self::Review(Review(m)),
            NodeRecord::Template(m) => Self::Template(Template(m)),
            NodeRecord::CabMeeting(m) => Self::CabMeeting(CabMeeting(m)),
            NodeRecord::Deployment(m) => Self::Deployment(Deployment(m)),
            NodeRecord::Webhook(m) => Self::Webhook(Webhook(m)),
            NodeRecord::WebhookDelivery(m) => Self::WebhookDelivery(WebhookDelivery(m)),
            NodeRecord::CalendarRuleRecord(m) => Self::CalendarRuleRecord(CalendarRuleRecord(m)),
            NodeRecord::FeedToken(m) => Self::FeedToken(FeedToken(m)),
        }
    }
}

#[derive(Default)]
pub struct NodeQuery;

/// One object by global id: null when none has it.
async fn find(ctx: &Context<'_>, field: &str, id: &ID) -> async_graphql::Result<Option<Node>> {
    let caller = ctx.caller()?;
    let parsed = node_id::parse(field, id).gql()?;
    let Some(node_type) = parsed.node_type else {
        return Err(ServiceError::validation(
            field,
            "is a bare uuid: give the object's global id (`Type:uuid`, as its `id` field answers)",
        ))
        .gql();
    };
    let record = nodes::find(&ctx.state()?.db, &caller, node_type, parsed.uuid)
        .await
        .gql()?;
    Ok(record.map(Node::from))
}

#[Object]
impl NodeQuery {
    /// The object with this global id, or null when there is none.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        find(ctx, "id", &id).await
    }

    /// The objects with these global ids, in the order asked, null where
    /// there is none; at most the maximum page size of ids.
    #[graphql(complexity = "ids.len().max(1) * child_complexity + 1")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        let max = ctx.state()?.max_page_size;
        if ids.len() as u64 > max {
            return Err(ServiceError::validation(
                "ids",
                format!("at most {max} ids"),
            ))
            .gql();
        }
        let mut found = Vec::with_capacity(ids.len());
        for (index, id) in ids.iter().enumerate() {
            found.push(find(ctx, &format!("ids[{index}]"), id).await?);
        }
        Ok(found)
    }
}

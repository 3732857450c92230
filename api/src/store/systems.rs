//! The system hierarchy as more than one service reads it.

use entity::system;
use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect};
use uuid::Uuid;

use crate::{
    domain::systems as hierarchy,
    error::{ServiceError, ServiceResult},
};

pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> ServiceResult<system::Model> {
    system::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(ServiceError::NotFound { entity: "system" })
}

/// The whole hierarchy as `(id, parent)` pairs; the register is small
/// (hundreds of rows), so walking it in memory beats recursive SQL that
/// would differ between the two databases.
pub async fn edges<C: ConnectionTrait>(conn: &C) -> ServiceResult<Vec<hierarchy::Edge>> {
    Ok(system::Entity::find()
        .select_only()
        .column(system::Column::Id)
        .column(system::Column::ParentId)
        .into_tuple::<(Uuid, Option<Uuid>)>()
        .all(conn)
        .await?)
}

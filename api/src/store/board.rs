//! The board's meetings as more than one service reads them.

use entity::cab_meeting;
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::error::{ServiceError, ServiceResult};

pub async fn find_meeting<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> ServiceResult<cab_meeting::Model> {
    cab_meeting::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(ServiceError::NotFound {
            entity: "CAB meeting",
        })
}

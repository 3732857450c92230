//! The system hierarchy as more than one service reads it.

use entity::system;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
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

/// The systems `names` names (blanks around a name ignored, each once),
/// sorted by name; VALIDATION on `field` naming the first that does not
/// exist. Deployments and incidents name their systems this way.
pub async fn named<C: ConnectionTrait>(
    conn: &C,
    field: &str,
    names: &[String],
) -> ServiceResult<Vec<system::Model>> {
    let mut wanted: Vec<&str> = names.iter().map(|n| n.trim()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let found = system::Entity::find()
        .filter(system::Column::Name.is_in(wanted.iter().copied()))
        .order_by_asc(system::Column::Name)
        .all(conn)
        .await?;
    if let Some(missing) = wanted
        .iter()
        .find(|name| !found.iter().any(|s| s.name == **name))
    {
        return Err(ServiceError::validation(
            field,
            format!("no system is named {missing}"),
        ));
    }
    Ok(found)
}

/// The systems of `links` (`(owner, system id)` pairs of a link table) as
/// `(owner, system)`, sorted by system name.
pub async fn of_links<C: ConnectionTrait>(
    conn: &C,
    links: &[(Uuid, Uuid)],
) -> ServiceResult<Vec<(Uuid, system::Model)>> {
    let systems = system::Entity::find()
        .filter(system::Column::Id.is_in(links.iter().map(|(_, system)| *system)))
        .order_by_asc(system::Column::Name)
        .all(conn)
        .await?;
    let mut out = Vec::new();
    for system in systems {
        for (owner, _) in links.iter().filter(|(_, id)| *id == system.id) {
            out.push((*owner, system.clone()));
        }
    }
    Ok(out)
}

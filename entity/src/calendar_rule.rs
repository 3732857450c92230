use sea_orm::entity::prelude::*;

/// A maintenance/deployment window or a freeze defined at run time. Times
/// are local to `time_zone`, recurrence is an RFC 5545 RRULE.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `WINDOW` or `FREEZE`.
    pub kind: String,
    pub name: String,
    /// Local start of the first occurrence, `YYYY-MM-DDTHH:MM:SS`.
    pub dtstart: String,
    pub rrule: Option<String>,
    pub duration_minutes: i32,
    pub time_zone: String,
    /// Windows: the change types that must fit the window.
    pub change_types: Json,
    /// Freezes: `HARD` or `SOFT`.
    pub freeze_kind: Option<String>,
    /// Soft freezes: roles whose approval lets a change through.
    pub approver_roles: Json,
    pub active: bool,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

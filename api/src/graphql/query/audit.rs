use async_graphql::{Context, Object};

use crate::{
    domain::{permissions, roles},
    error::GqlResultExt,
    graphql::{context::ContextExt, types::AuditVerification},
    service::audit,
};

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Recomputes the whole audit hash chain (auditor, admin).
    async fn verify_audit_log(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<AuditVerification> {
        ctx.caller()?
            .authorize(|actor| {
                permissions::require_any(
                    actor,
                    &[roles::AUDITOR, roles::ADMIN],
                    "verifying the audit log",
                )
            })
            .gql()?;
        let db = &ctx.state()?.db;
        Ok(audit::verify(db, None).await.gql()?.into())
    }
}

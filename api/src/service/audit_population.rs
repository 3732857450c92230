//! The auditor's population of a period and the sample drawn from it
//! (auditor, admin). The population is read in one snapshot with the
//! audit chain's head, so its digest and the head prove together what the
//! period held when it was taken.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

pub use crate::store::population::PopulationRow;
use crate::{
    caller::Caller,
    domain::{
        ValidationError,
        audit_sample::{self, Draw, Member, Stratum},
        evidence_pack::ChainPoint,
        permissions, timestamps,
    },
    error::ServiceResult,
    policy::Policy,
    store,
};

/// Every change touching `[from, to)`, in population order, with their
/// strata, the digest and the chain head they were read at.
#[derive(Debug, Clone)]
pub struct Population {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub rows: Vec<PopulationRow>,
    pub members: Vec<Member>,
    pub digest: String,
    pub chain_head: Option<ChainPoint>,
}

/// A sample with the population it was drawn from.
#[derive(Debug, Clone)]
pub struct Sample {
    pub population: Population,
    pub seed: String,
    pub draws: Vec<Draw>,
}

fn check_period(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), ValidationError> {
    timestamps::check_optional("from", Some(from))?;
    timestamps::check_optional("to", Some(to))?;
    if to <= from {
        return Err(ValidationError::new("to", "must be after from"));
    }
    Ok(())
}

/// The population of `[from, to)`: every change touching it, oldest
/// first (by creation, then id).
#[tracing::instrument(skip_all, fields(from = %from, to = %to))]
pub async fn population(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<Population> {
    caller.authorize(permissions::read_audit_trail)?;
    check_period(from, to)?;
    store::audit::seal_before_reading(db).await;
    let txn = store::audit::snapshot(db).await?;
    let chain_head = store::audit::head(&txn)
        .await?
        .map(|(seq, hash)| ChainPoint { seq, hash });
    let (rows, members) = store::population::read(&txn, policy, from, to).await?;
    txn.commit().await?;
    let digest = audit_sample::digest(members.iter().map(|m| (&m.id, m.version)));
    Ok(Population {
        from,
        to,
        rows,
        members,
        digest,
        chain_head,
    })
}

/// A sample of `size` changes of the population of `[from, to)`, drawn by
/// `seed` with `oversampled` strata (`audit_sample::draw`).
pub async fn sample(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    period: (DateTime<Utc>, DateTime<Utc>),
    size: i32,
    seed: String,
    oversampled: &[Stratum],
) -> ServiceResult<Sample> {
    caller.authorize(permissions::read_audit_trail)?;
    let size = audit_sample::check_request(size, &seed)?;
    let population = population(db, policy, caller, period.0, period.1).await?;
    let draws = audit_sample::draw(&population.members, size, &seed, oversampled);
    Ok(Sample {
        population,
        seed,
        draws,
    })
}

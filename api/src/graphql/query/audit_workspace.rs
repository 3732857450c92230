//! The auditor's workspace: a period's population with its completeness
//! proof, and a seeded sample drawn from it (auditor, admin).

use async_graphql::{Context, Enum, ID, Object};
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        audit_sample::{DrawnBy, Stratum},
        controls::EventRef,
        node_id::NodeType,
    },
    error::GqlResultExt,
    graphql::{
        context::ContextExt,
        loaders::{ChangeId, Loaders},
        types::{Change, global_id},
    },
    service::audit_population::{self, Population, PopulationRow, Sample},
};

/// What marks a change for over-sampling.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "Stratum")]
pub enum AuditStratum {
    /// Of an emergency type.
    Emergency,
    /// Implemented without a scheduled slot, outside it, or inside a
    /// freeze by an approved entry.
    OutsideSlot,
    /// Rolled back.
    RolledBack,
    /// A gate due before the start first met after it.
    GatesLate,
}

/// One change of the population.
pub struct PopulationMember {
    row: PopulationRow,
    strata: Vec<AuditStratum>,
}

#[Object]
impl PopulationMember {
    async fn id(&self) -> ID {
        global_id(NodeType::Change, self.row.id)
    }

    /// The change's key, as the population file and the digest carry it.
    async fn uuid(&self) -> String {
        self.row.id.to_string()
    }

    async fn number(&self) -> &str {
        &self.row.number
    }

    /// The version the digest covers: an edit after the population was
    /// taken changes it.
    async fn version(&self) -> i32 {
        self.row.version
    }

    #[graphql(name = "type")]
    async fn change_type(&self) -> &str {
        &self.row.change_type
    }

    async fn status(&self) -> entity::ChangeStatus {
        self.row.status
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    async fn actual_start(&self) -> Option<DateTime<Utc>> {
        self.row.actual_start
    }

    async fn actual_end(&self) -> Option<DateTime<Utc>> {
        self.row.actual_end
    }

    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.row.closed_at
    }

    async fn strata(&self) -> &[AuditStratum] {
        &self.strata
    }

    /// The change as it stands now (a page's changes in one query), with
    /// its `controls`.
    async fn change(&self, ctx: &Context<'_>) -> async_graphql::Result<Change> {
        ctx.data::<Loaders>()?
            .load_one(ChangeId(self.row.id))
            .await?
            .map(Change)
            .ok_or(crate::error::ServiceError::NotFound { entity: "change" })
            .gql()
    }
}

fn member(population: &Population, index: usize) -> PopulationMember {
    PopulationMember {
        row: population.rows[index].clone(),
        strata: population.members[index]
            .strata
            .iter()
            .map(|&stratum| stratum.into())
            .collect(),
    }
}

/// Every change touching a period, with the proof that it is complete.
pub struct AuditPopulation(Population);

#[Object]
impl AuditPopulation {
    async fn from(&self) -> DateTime<Utc> {
        self.0.from
    }

    async fn to(&self) -> DateTime<Utc> {
        self.0.to
    }

    async fn count(&self) -> u64 {
        self.0.rows.len() as u64
    }

    /// SHA-256 hex over one line `"{uuid},{version}\n"` per change, in
    /// population order (oldest created first, then by uuid).
    async fn digest(&self) -> &str {
        &self.0.digest
    }

    /// The audit chain's last event when the population was read, in the
    /// same snapshot; null on an empty trail.
    async fn chain_head(&self) -> Option<EventRef> {
        self.0.chain_head.as_ref().map(|head| EventRef {
            seq: head.seq,
            hash: head.hash.clone(),
        })
    }

    /// The changes in population order, `first` of them from `offset`
    /// (positions in this population, which the digest fixes).
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 0, validator(minimum = 0))] offset: i32,
        #[graphql(default = 100, validator(minimum = 0))] first: i32,
    ) -> async_graphql::Result<Vec<PopulationMember>> {
        let max = ctx.state()?.max_page_size;
        if first as u64 > max {
            return Err(crate::error::ServiceError::validation(
                "first",
                format!("at most {max} items per page"),
            ))
            .gql();
        }
        let start = (offset as usize).min(self.0.rows.len());
        let end = (start + first as usize).min(self.0.rows.len());
        Ok((start..end).map(|index| member(&self.0, index)).collect())
    }
}

/// One change of a sample.
pub struct SampleDraw {
    member: PopulationMember,
    position: usize,
    key: String,
    drawn_by: DrawnBy,
}

#[Object]
impl SampleDraw {
    /// The change's 0-based position in the population.
    async fn position(&self) -> u64 {
        self.position as u64
    }

    /// SHA-256 hex of `"{seed}:{uuid}"`: lowest keys are drawn first.
    async fn draw_key(&self) -> &str {
        &self.key
    }

    /// The over-sampled stratum whose quota drew the change, or null when
    /// its type's share did.
    async fn drawn_for_stratum(&self) -> Option<AuditStratum> {
        match &self.drawn_by {
            DrawnBy::Stratum(stratum) => Some((*stratum).into()),
            DrawnBy::Type(_) => None,
        }
    }

    /// The change type whose share drew the change, or null when a
    /// stratum's quota did.
    async fn drawn_for_type(&self) -> Option<&str> {
        match &self.drawn_by {
            DrawnBy::Type(change_type) => Some(change_type),
            DrawnBy::Stratum(_) => None,
        }
    }

    async fn member(&self) -> &PopulationMember {
        &self.member
    }
}

/// A reproducible sample: the same seed over the same population (the
/// same digest) draws the same changes.
pub struct AuditSample(Sample);

#[Object]
impl AuditSample {
    async fn seed(&self) -> &str {
        &self.0.seed
    }

    async fn population(&self) -> AuditPopulation {
        AuditPopulation(self.0.population.clone())
    }

    /// The drawn changes, in the order they were drawn.
    async fn draws(&self) -> Vec<SampleDraw> {
        self.0
            .draws
            .iter()
            .map(|draw| SampleDraw {
                member: member(&self.0.population, draw.index),
                position: draw.index,
                key: draw.key.clone(),
                drawn_by: draw.drawn_by.clone(),
            })
            .collect()
    }
}

#[derive(Default)]
pub struct AuditWorkspaceQuery;

#[Object]
impl AuditWorkspaceQuery {
    /// Every change created, started, implemented or closed in
    /// `[from, to)`, with its count, digest and the chain head it was read
    /// at (auditor, admin).
    #[graphql(cache_control(no_cache))]
    async fn audit_population(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> async_graphql::Result<AuditPopulation> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        audit_population::population(&state.db, &state.policy, &caller, from, to)
            .await
            .map(AuditPopulation)
            .gql()
    }

    /// `size` changes of the period's population drawn by `seed`, with
    /// about half the sample from the `oversample` strata and the rest
    /// shared between change types (docs/audit.md, "Sampling"; auditor,
    /// admin).
    #[graphql(cache_control(no_cache))]
    async fn audit_sample(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        size: i32,
        seed: String,
        // Nullable rather than `= []`: a client's nullable variable left
        // out must mean "none", not an argument error.
        oversample: Option<Vec<AuditStratum>>,
    ) -> async_graphql::Result<AuditSample> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let oversample: Vec<Stratum> = oversample.into_iter().flatten().map(Into::into).collect();
        audit_population::sample(
            &state.db,
            &state.policy,
            &caller,
            (from, to),
            size,
            seed,
            &oversample,
        )
        .await
        .map(AuditSample)
        .gql()
    }
}

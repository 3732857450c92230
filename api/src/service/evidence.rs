//! Evidence packs: exporting a period of the audit trail, and the records
//! it touched, for auditors (see `domain::evidence_pack` for the format).

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
};

use entity::{approval, audit_event, change, change_system, evidence, incident, review};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, Func},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWriteExt, BufWriter};
use uuid::Uuid;

use crate::caller::Caller;
use crate::store::audit;
use crate::{
    db,
    domain::{
        audit_chain::{ChainVerifier, EventContent, GENESIS_HASH},
        audit_sample,
        evidence_pack::{
            self, APPROVALS, AUDIT_EVENTS, CHANGES, ChainPoint, Dataset, EVIDENCE, EXCEPTIONS,
            INCIDENTS, MANIFEST_FILE, Manifest, POPULATION, PackFile, Period, PopulationProof,
            REVIEWS, Segment,
        },
        permissions,
    },
    error::{ServiceError, ServiceResult},
    policy::Policy,
    store,
};

const BATCH: u64 = 5_000;
/// Keeps `IN (...)` lists well under both backends' parameter limits.
const ID_CHUNK: usize = 500;

/// Writes the evidence pack for `period` into `out`, which must be a new or
/// empty directory, and returns its manifest (also written as
/// `manifest.json`).
///
/// The pack is read in one transaction — a snapshot on PostgreSQL
/// (repeatable read) and on SQLite (a WAL read transaction) — so the
/// events, the chain head and the change records agree with each other
/// while writers carry on.
#[tracing::instrument(skip_all, fields(from = %period.from, to = %period.to))]
pub async fn export(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    period: Period,
    out: &Path,
) -> ServiceResult<Manifest> {
    caller.authorize(permissions::read_audit_trail)?;
    prepare_directory(out).await?;
    audit::seal_before_reading(db).await;
    let txn = audit::snapshot(db).await?;
    let head = audit::head(&txn).await?;
    let head_seq = head.as_ref().map_or(0, |(seq, _)| *seq);
    let bounds = segment_bounds(&txn, &period, head_seq).await?;
    let prev_hash = match bounds {
        Some((first, _)) => Some(hash_before(&txn, first).await?),
        None => None,
    };

    let mut events_jsonl = PackWriter::create(out, &AUDIT_EVENTS, Format::Jsonl).await?;
    let mut events_csv = PackWriter::create(out, &AUDIT_EVENTS, Format::Csv).await?;
    let mut verifier = match (&bounds, &prev_hash) {
        (Some((first, _)), Some(prev)) => Some(ChainVerifier::resume(first - 1, prev.clone())),
        _ => None,
    };
    let mut chain_break = None;
    let mut touched_changes = BTreeSet::new();
    let mut count = 0u64;
    if let Some((first, last)) = bounds {
        let mut after = first - 1;
        while after < last {
            let batch = audit_event::Entity::find()
                .filter(audit_event::Column::Seq.gt(after))
                .filter(audit_event::Column::Seq.lte(last))
                .order_by_asc(audit_event::Column::Seq)
                .limit(BATCH)
                .all(&txn)
                .await?;
            let Some(newest) = batch.last() else { break };
            after = newest.seq;
            for event in &batch {
                let content = content_of(event);
                if chain_break.is_none()
                    && let Some(verifier) = verifier.as_mut()
                    && let Err(broken) = verifier.check(&content, &event.hash)
                {
                    chain_break = Some(broken);
                }
                if event.entity_type == "change"
                    && let Ok(id) = event.entity_id.parse::<Uuid>()
                {
                    touched_changes.insert(id);
                }
                let record = evidence_pack::event_record(&content, &event.hash);
                events_jsonl.write_record(&record).await?;
                events_csv.write_record(&record).await?;
                count += 1;
            }
        }
    }
    // A run that stops short of `last` lost events in the middle.
    if chain_break.is_none()
        && let (Some(verifier), Some((_, last))) = (verifier, bounds)
        && let Err(broken) = verifier.finish_at(last)
    {
        chain_break = Some(broken);
    }
    let segment = Segment {
        first_seq: bounds.map(|(first, _)| first),
        last_seq: bounds.map(|(_, last)| last),
        prev_hash,
        count,
        intact: chain_break.is_none(),
        broken_at: chain_break.as_ref().map(|b| b.seq),
        broken_reason: chain_break.map(|b| b.reason),
    };
    let generated_by = match caller {
        Caller::Account(actor) => actor.email.clone(),
        Caller::Operator { label } => label.clone(),
    };
    // One instant for the manifest and the verdicts judged at export.
    let now = db::now();
    let mut manifest = Manifest::new(
        &period,
        now,
        &generated_by,
        head.map(|(seq, hash)| ChainPoint { seq, hash }),
        segment,
    );
    manifest.add_dataset(
        &AUDIT_EVENTS,
        count,
        [events_jsonl.finish().await?, events_csv.finish().await?],
    );

    let changes = load_changes(&txn, &touched_changes).await?;
    let records: Vec<Value> = changes
        .iter()
        .map(|(change, system_ids)| change_record(change, system_ids))
        .collect();
    write_dataset(out, &CHANGES, &records, &mut manifest).await?;

    // Everything else recorded about those changes, whenever it happened:
    // an auditor sampling a change needs its approvals and evidence too.
    let numbers: HashMap<Uuid, &str> = changes
        .iter()
        .map(|(change, _)| (change.id, change.number.as_str()))
        .collect();
    let ids: Vec<Uuid> = touched_changes.iter().copied().collect();
    let number = |id: &Uuid| numbers.get(id).copied();
    let at = evidence_pack::timestamp;

    let approvals = rows_for_changes::<approval::Entity>(
        &txn,
        &ids,
        approval::Column::ChangeId,
        approval::Column::DecidedAt,
    )
    .await?;
    let records: Vec<Value> = approvals
        .iter()
        .map(|a| {
            record(
                &APPROVALS,
                [
                    json!(a.id),
                    json!(a.change_id),
                    json!(number(&a.change_id)),
                    json!(a.round),
                    json!(a.approver_id),
                    json!(a.decision),
                    json!(a.comment),
                    json!(at(a.decided_at)),
                    json!(a.meeting_id),
                    json!(a.retroactive),
                ],
            )
        })
        .collect();
    write_dataset(out, &APPROVALS, &records, &mut manifest).await?;

    let gate_evidence = rows_for_changes::<evidence::Entity>(
        &txn,
        &ids,
        evidence::Column::ChangeId,
        evidence::Column::RecordedAt,
    )
    .await?;
    let records: Vec<Value> = gate_evidence
        .iter()
        .map(|e| {
            record(
                &EVIDENCE,
                [
                    json!(e.id),
                    json!(e.change_id),
                    json!(number(&e.change_id)),
                    json!(e.gate),
                    json!(e.status),
                    json!(e.summary),
                    json!(e.url),
                    e.data.clone(),
                    json!(e.recorded_by),
                    json!(at(e.recorded_at)),
                ],
            )
        })
        .collect();
    write_dataset(out, &EVIDENCE, &records, &mut manifest).await?;

    let incidents = rows_for_changes::<incident::Entity>(
        &txn,
        &ids,
        incident::Column::ChangeId,
        incident::Column::OpenedAt,
    )
    .await?;
    let records: Vec<Value> = incidents
        .iter()
        .map(|i| {
            record(
                &INCIDENTS,
                [
                    json!(i.id),
                    json!(i.change_id),
                    json!(i.change_id.as_ref().and_then(number)),
                    json!(i.priority),
                    json!(i.title),
                    json!(i.description),
                    json!(i.opened_by),
                    json!(at(i.opened_at)),
                    json!(i.resolved_at.map(at)),
                ],
            )
        })
        .collect();
    write_dataset(out, &INCIDENTS, &records, &mut manifest).await?;

    let reviews = rows_for_changes::<review::Entity>(
        &txn,
        &ids,
        review::Column::ChangeId,
        review::Column::ReviewedAt,
    )
    .await?;
    let records: Vec<Value> = reviews
        .iter()
        .map(|r| {
            record(
                &REVIEWS,
                [
                    json!(r.id),
                    json!(r.change_id),
                    json!(number(&r.change_id)),
                    json!(r.kind),
                    json!(r.reviewer_id),
                    json!(r.summary),
                    json!(r.lessons_learned),
                    json!(r.root_cause),
                    json!(at(r.reviewed_at)),
                ],
            )
        })
        .collect();
    write_dataset(out, &REVIEWS, &records, &mut manifest).await?;

    // The period's population, as `auditPopulation` lists it at this
    // snapshot, so a sample can be redrawn from the pack.
    let (rows, members) = store::population::read(&txn, policy, period.from, period.to).await?;
    let records: Vec<Value> = rows
        .iter()
        .zip(&members)
        .map(|(row, member)| {
            let strata: Vec<&str> = member.strata.iter().map(|s| s.name()).collect();
            record(
                &POPULATION,
                [
                    json!(row.id),
                    json!(row.number),
                    json!(row.version),
                    json!(row.change_type),
                    json!(row.status),
                    json!(strata),
                    json!(at(row.created_at)),
                    json!(row.actual_start.map(at)),
                    json!(row.actual_end.map(at)),
                    json!(row.closed_at.map(at)),
                ],
            )
        })
        .collect();
    write_dataset(out, &POPULATION, &records, &mut manifest).await?;
    // The exception register over that population, judged at export.
    let register = store::controls::register(&txn, policy, period.from, period.to, now).await?;
    let records: Vec<Value> = register
        .iter()
        .map(|(_, exception)| {
            let verdict = &exception.verdict;
            let evidence: Vec<Value> = verdict
                .evidence
                .iter()
                .map(|event| json!({"seq": event.seq, "hash": event.hash}))
                .collect();
            record(
                &EXCEPTIONS,
                [
                    json!(exception.change.id),
                    json!(exception.change.number),
                    json!(verdict.control.name()),
                    json!(verdict.reason),
                    json!(evidence),
                    json!(verdict.policy_version),
                ],
            )
        })
        .collect();
    write_dataset(out, &EXCEPTIONS, &records, &mut manifest).await?;
    manifest.population = Some(PopulationProof {
        count: rows.len() as u64,
        digest: audit_sample::digest(members.iter().map(|m| (&m.id, m.version))),
    });
    txn.commit().await?;

    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| ServiceError::internal_from("manifest does not serialise", e))?;
    tokio::fs::write(out.join(MANIFEST_FILE), format!("{text}\n"))
        .await
        .map_err(io_error)?;
    tracing::info!(
        events = manifest.audit_events.count,
        changes = changes.len(),
        by = %manifest.generated_by,
        "evidence pack exported"
    );
    Ok(manifest)
}

async fn prepare_directory(out: &Path) -> ServiceResult<()> {
    tokio::fs::create_dir_all(out).await.map_err(|e| {
        ServiceError::validation("out", format!("cannot create {}: {e}", out.display()))
    })?;
    let mut entries = tokio::fs::read_dir(out).await.map_err(io_error)?;
    if entries.next_entry().await.map_err(io_error)?.is_some() {
        return Err(ServiceError::validation(
            "out",
            format!(
                "{} is not empty; give a new or empty directory",
                out.display()
            ),
        ));
    }
    Ok(())
}

fn io_error(error: std::io::Error) -> ServiceError {
    ServiceError::internal_from("writing the evidence pack", error)
}

/// The first and last event of the period, bounded by the head read in the
/// same snapshot. Everything between them goes into the pack, so the
/// segment is contiguous even if a replica's clock was behind another's.
async fn segment_bounds(
    txn: &DatabaseTransaction,
    period: &Period,
    head_seq: i64,
) -> ServiceResult<Option<(i64, i64)>> {
    let bound = |min: bool| {
        let column = Expr::col(audit_event::Column::Seq);
        audit_event::Entity::find()
            .select_only()
            .expr(if min {
                Func::min(column)
            } else {
                Func::max(column)
            })
            .filter(audit_event::Column::Seq.lte(head_seq))
    };
    let first: Option<Option<i64>> = bound(true)
        .filter(audit_event::Column::OccurredAt.gte(period.from))
        .into_tuple()
        .one(txn)
        .await?;
    let last: Option<Option<i64>> = bound(false)
        .filter(audit_event::Column::OccurredAt.lt(period.to))
        .into_tuple()
        .one(txn)
        .await?;
    Ok(match (first.flatten(), last.flatten()) {
        (Some(first), Some(last)) if first <= last => Some((first, last)),
        _ => None,
    })
}

/// The hash the first event of the segment must link to: the stored hash
/// of the event before it. If that event is missing, the first event's own
/// `prev_hash` is used and the exporter's verification reports the gap.
async fn hash_before(txn: &DatabaseTransaction, first: i64) -> ServiceResult<String> {
    if first <= 1 {
        return Ok(GENESIS_HASH.to_owned());
    }
    let hashes: Vec<(i64, String, String)> = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Seq)
        .column(audit_event::Column::Hash)
        .column(audit_event::Column::PrevHash)
        .filter(audit_event::Column::Seq.is_in([first - 1, first]))
        .into_tuple()
        .all(txn)
        .await?;
    let find = |seq: i64| hashes.iter().find(|(s, _, _)| *s == seq);
    Ok(match (find(first - 1), find(first)) {
        (Some((_, hash, _)), _) => hash.clone(),
        (None, Some((_, _, prev))) => prev.clone(),
        (None, None) => GENESIS_HASH.to_owned(),
    })
}

fn content_of(event: &audit_event::Model) -> EventContent<'_> {
    EventContent {
        seq: event.seq,
        occurred_at: event.occurred_at,
        actor_id: event.actor_id,
        actor_label: &event.actor_label,
        action: &event.action,
        entity_type: &event.entity_type,
        entity_id: &event.entity_id,
        payload: &event.payload,
        prev_hash: &event.prev_hash,
    }
}

/// Writes one dataset as JSONL and CSV and records it in the manifest.
async fn write_dataset(
    out: &Path,
    dataset: &'static Dataset,
    records: &[Value],
    manifest: &mut Manifest,
) -> ServiceResult<()> {
    let mut jsonl = PackWriter::create(out, dataset, Format::Jsonl).await?;
    let mut csv = PackWriter::create(out, dataset, Format::Csv).await?;
    for record in records {
        jsonl.write_record(record).await?;
        csv.write_record(record).await?;
    }
    manifest.add_dataset(
        dataset,
        records.len() as u64,
        [jsonl.finish().await?, csv.finish().await?],
    );
    Ok(())
}

/// A record with the dataset's columns as keys, values in column order.
fn record<const N: usize>(dataset: &Dataset, values: [Value; N]) -> Value {
    debug_assert_eq!(dataset.columns.len(), N, "{}", dataset.key);
    Value::Object(
        dataset
            .columns
            .iter()
            .zip(values)
            .map(|(column, value)| ((*column).to_owned(), value))
            .collect(),
    )
}

/// The rows of a per-change table for the given changes, ordered by
/// `order` (then by change, for equal times).
async fn rows_for_changes<E: EntityTrait>(
    txn: &DatabaseTransaction,
    ids: &[Uuid],
    change_column: E::Column,
    order: E::Column,
) -> ServiceResult<Vec<E::Model>> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(ID_CHUNK) {
        rows.extend(
            E::find()
                .filter(change_column.is_in(chunk.to_vec()))
                .order_by_asc(order)
                .order_by_asc(change_column)
                .all(txn)
                .await?,
        );
    }
    Ok(rows)
}

/// The touched changes with their system ids, ordered by number.
async fn load_changes(
    txn: &DatabaseTransaction,
    ids: &BTreeSet<Uuid>,
) -> ServiceResult<Vec<(change::Model, Vec<Uuid>)>> {
    let ids: Vec<Uuid> = ids.iter().copied().collect();
    let mut changes = Vec::with_capacity(ids.len());
    let mut links: Vec<(Uuid, Uuid)> = Vec::new();
    for chunk in ids.chunks(ID_CHUNK) {
        changes.extend(
            change::Entity::find()
                .filter(change::Column::Id.is_in(chunk.to_vec()))
                .all(txn)
                .await?,
        );
        links.extend(
            change_system::Entity::find()
                .select_only()
                .column(change_system::Column::ChangeId)
                .column(change_system::Column::SystemId)
                .filter(change_system::Column::ChangeId.is_in(chunk.to_vec()))
                .into_tuple::<(Uuid, Uuid)>()
                .all(txn)
                .await?,
        );
    }
    links.sort_unstable();
    changes.sort_by(|a, b| a.number.cmp(&b.number));
    Ok(changes
        .into_iter()
        .map(|change| {
            let systems = links
                .iter()
                .filter(|(change_id, _)| *change_id == change.id)
                .map(|(_, system_id)| *system_id)
                .collect();
            (change, systems)
        })
        .collect())
}

/// A change as one JSONL record, under the API's field names.
pub fn change_record(change: &change::Model, system_ids: &[Uuid]) -> Value {
    let at = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(evidence_pack::timestamp);
    let fields: [(&str, Value); 59] = [
        ("id", json!(change.id)),
        ("number", json!(change.number)),
        ("title", json!(change.title)),
        ("description", json!(change.description)),
        (
            "businessJustification",
            json!(change.business_justification),
        ),
        ("expectedBenefit", json!(change.expected_benefit)),
        ("urgency", json!(change.urgency)),
        ("priority", json!(change.priority)),
        ("type", json!(change.change_type)),
        ("status", json!(change.status)),
        ("likelihood", json!(change.likelihood)),
        ("impact", json!(change.impact)),
        ("inherentScore", json!(change.inherent_score)),
        ("mitigations", json!(change.mitigations)),
        ("residualLikelihood", json!(change.residual_likelihood)),
        ("residualImpact", json!(change.residual_impact)),
        ("residualScore", json!(change.residual_score)),
        ("riskLevel", json!(change.risk_level)),
        ("requesterId", json!(change.requester_id)),
        ("systemIds", json!(system_ids)),
        ("services", json!(change.services)),
        ("customersAffected", json!(change.customers_affected)),
        ("downtimeRequired", json!(change.downtime_required)),
        ("performanceImpact", json!(change.performance_impact)),
        ("implementationSteps", json!(change.implementation_steps)),
        ("deploymentMethod", json!(change.deployment_method)),
        ("canaryStages", json!(change.canary_stages)),
        ("testPlan", json!(change.test_plan)),
        ("rollbackPlan", json!(change.rollback_plan)),
        ("links", json!(change.links)),
        ("plannedStart", json!(at(change.planned_start))),
        ("plannedEnd", json!(at(change.planned_end))),
        ("scheduledStart", json!(at(change.scheduled_start))),
        ("scheduledEnd", json!(at(change.scheduled_end))),
        ("actualStart", json!(at(change.actual_start))),
        ("actualEnd", json!(at(change.actual_end))),
        ("outcome", json!(change.outcome)),
        ("submittedAt", json!(at(change.submitted_at))),
        ("approvedAt", json!(at(change.approved_at))),
        ("closedAt", json!(at(change.closed_at))),
        (
            "createdAt",
            json!(evidence_pack::timestamp(change.created_at)),
        ),
        (
            "updatedAt",
            json!(evidence_pack::timestamp(change.updated_at)),
        ),
        ("version", json!(change.version)),
        ("templateId", json!(change.template_id)),
        ("approvalRound", json!(change.approval_round)),
        ("approvalDueAt", json!(at(change.approval_due_at))),
        ("documentationDueAt", json!(at(change.documentation_due_at))),
        ("documentedAt", json!(at(change.documented_at))),
        ("reviewDueAt", json!(at(change.review_due_at))),
        ("reviewedAt", json!(at(change.reviewed_at))),
        ("boardReviewDueAt", json!(at(change.board_review_due_at))),
        ("boardReviewedAt", json!(at(change.board_reviewed_at))),
        ("boardOutcome", json!(change.board_outcome)),
        ("boardDecidedAt", json!(at(change.board_decided_at))),
        ("rollbackReason", json!(change.rollback_reason)),
        ("rollbackKind", json!(change.rollback_kind)),
        ("restoreDueAt", json!(at(change.restore_due_at))),
        ("restoredAt", json!(at(change.restored_at))),
        ("scheduleSequence", json!(change.schedule_sequence)),
    ];
    // The CSV header is CHANGES.columns: the two must not drift apart.
    debug_assert!(
        fields
            .iter()
            .map(|(key, _)| *key)
            .eq(CHANGES.columns.iter().copied()),
        "change_record keys differ from CHANGES.columns"
    );
    Value::Object(
        fields
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jsonl,
    Csv,
}

/// One file of the pack, hashed and counted as it is written.
struct PackWriter {
    name: String,
    path: PathBuf,
    dataset: &'static Dataset,
    format: Format,
    file: BufWriter<tokio::fs::File>,
    sha256: Sha256,
    bytes: u64,
    rows: u64,
    line: Vec<u8>,
}

impl PackWriter {
    async fn create(dir: &Path, dataset: &'static Dataset, format: Format) -> ServiceResult<Self> {
        let name = match format {
            Format::Jsonl => dataset.jsonl_name(),
            Format::Csv => dataset.csv_name(),
        };
        let path = dir.join(&name);
        let file = tokio::fs::File::create_new(&path).await.map_err(io_error)?;
        let mut writer = Self {
            name,
            path,
            dataset,
            format,
            file: BufWriter::new(file),
            sha256: Sha256::new(),
            bytes: 0,
            rows: 0,
            line: Vec::with_capacity(1024),
        };
        if format == Format::Csv {
            let header: Vec<String> = dataset.columns.iter().map(|c| (*c).to_owned()).collect();
            writer.line = csv_line(&header)?;
            writer.flush_line().await?;
        }
        Ok(writer)
    }

    async fn write_record(&mut self, record: &Value) -> ServiceResult<()> {
        self.line = match self.format {
            Format::Jsonl => {
                let mut line = serde_json::to_vec(record)
                    .map_err(|e| ServiceError::internal_from("record does not serialise", e))?;
                line.push(b'\n');
                line
            }
            Format::Csv => csv_line(&evidence_pack::csv_row(self.dataset, record))?,
        };
        self.flush_line().await?;
        self.rows += 1;
        Ok(())
    }

    async fn flush_line(&mut self) -> ServiceResult<()> {
        self.sha256.update(&self.line);
        self.bytes += self.line.len() as u64;
        self.file.write_all(&self.line).await.map_err(io_error)
    }

    async fn finish(mut self) -> ServiceResult<PackFile> {
        self.file.flush().await.map_err(io_error)?;
        self.file.get_ref().sync_all().await.map_err(io_error)?;
        tracing::debug!(path = %self.path.display(), rows = self.rows, "pack file written");
        Ok(PackFile {
            name: self.name,
            dataset: self.dataset.key.to_owned(),
            format: match self.format {
                Format::Jsonl => "jsonl",
                Format::Csv => "csv",
            }
            .to_owned(),
            rows: self.rows,
            bytes: self.bytes,
            sha256: hex::encode(self.sha256.finalize()),
        })
    }
}

/// One RFC 4180 line (CRLF, quotes where needed).
fn csv_line(cells: &[String]) -> ServiceResult<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(256));
    writer
        .write_record(cells)
        .map_err(|e| ServiceError::internal_from("CSV row", e))?;
    writer
        .into_inner()
        .map_err(|e| ServiceError::internal_from("CSV row", e))
}

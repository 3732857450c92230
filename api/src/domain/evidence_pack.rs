//! Evidence packs: what an auditor receives for a period, as plain data.
//!
//! A pack is a directory (or a tar of one) holding, per dataset, one JSONL
//! file (authoritative, one JSON object per line) and one CSV file (the
//! same rows for spreadsheets), plus `manifest.json`: the period, the
//! counts, the chain head at export time, the chain segment the pack
//! covers and the SHA-256 of every file. New datasets (approvals, evidence,
//! ...) are added by listing another [`Dataset`]; readers find every file
//! through the manifest, never by a fixed list of names.
//!
//! The audit events are a contiguous run of the chain, so an auditor can
//! recompute every hash and link offline (see
//! `scripts/verify_evidence_pack.py`) starting from the manifest's
//! `prevHash`.

use chrono::{DateTime, SecondsFormat, Utc};
use reports::render::formula::neutralise;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ValidationError, audit_chain::EventContent};

pub const FORMAT: &str = "gatehouse-evidence-pack";
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";

/// The half-open period `[from, to)` a pack covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self, ValidationError> {
        if to <= from {
            return Err(ValidationError::new("to", "must be later than from"));
        }
        Ok(Self { from, to })
    }

    /// A name for the pack's directory, safe on every file system.
    pub fn pack_name(&self) -> String {
        let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
        format!("gatehouse-evidence-{}-{}", stamp(self.from), stamp(self.to))
    }
}

/// One kind of record in a pack, written as `<key>.jsonl` and `<key>.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    pub key: &'static str,
    pub description: &'static str,
    /// JSONL keys, which are also the CSV header, in order.
    pub columns: &'static [&'static str],
}

impl Dataset {
    pub fn jsonl_name(&self) -> String {
        format!("{}.jsonl", self.key)
    }

    pub fn csv_name(&self) -> String {
        format!("{}.csv", self.key)
    }
}

pub const AUDIT_EVENTS: Dataset = Dataset {
    key: "audit_events",
    description: "Every audit event from the first to the last event of the period, a contiguous \
                  run of the hash chain; `payload` is the exact hashed text",
    columns: &[
        "seq",
        "occurredAt",
        "actorId",
        "actorLabel",
        "action",
        "entityType",
        "entityId",
        "payload",
        "prevHash",
        "hash",
    ],
};

pub const CHANGES: Dataset = Dataset {
    key: "changes",
    description: "Change requests with at least one audit event in the pack, as stored at export \
                  time (their state during the period is in the audit events' before/after)",
    columns: &[
        "id",
        "number",
        "title",
        "description",
        "businessJustification",
        "expectedBenefit",
        "urgency",
        "priority",
        "type",
        "status",
        "likelihood",
        "impact",
        "inherentScore",
        "mitigations",
        "residualLikelihood",
        "residualImpact",
        "residualScore",
        "riskLevel",
        "requesterId",
        "systemIds",
        "services",
        "customersAffected",
        "downtimeRequired",
        "performanceImpact",
        "implementationSteps",
        "deploymentMethod",
        "canaryStages",
        "testPlan",
        "rollbackPlan",
        "links",
        "plannedStart",
        "plannedEnd",
        "scheduledStart",
        "scheduledEnd",
        "actualStart",
        "actualEnd",
        "outcome",
        "submittedAt",
        "approvedAt",
        "closedAt",
        "createdAt",
        "updatedAt",
        "version",
        "templateId",
        "approvalRound",
        "approvalDueAt",
        "documentationDueAt",
        "documentedAt",
        "reviewDueAt",
        "reviewedAt",
        "boardReviewDueAt",
        "boardReviewedAt",
        "boardOutcome",
        "boardDecidedAt",
        "rollbackReason",
        "rollbackKind",
        "restoreDueAt",
        "restoredAt",
        "scheduleSequence",
    ],
};

pub const APPROVALS: Dataset = Dataset {
    key: "approvals",
    description: "Every approval decision and CAB vote on the pack's changes, all rounds, oldest first",
    columns: &[
        "id",
        "changeId",
        "changeNumber",
        "round",
        "approverId",
        "decision",
        "comment",
        "decidedAt",
        "meetingId",
        "retroactive",
    ],
};

pub const EVIDENCE: Dataset = Dataset {
    key: "evidence",
    description: "Gate evidence recorded on the pack's changes (tests, reviews, scans), oldest first; \
                  the newest record of a gate is the one that counts",
    columns: &[
        "id",
        "changeId",
        "changeNumber",
        "gate",
        "status",
        "summary",
        "url",
        "data",
        "recordedBy",
        "recordedAt",
    ],
};

pub const INCIDENTS: Dataset = Dataset {
    key: "incidents",
    description: "Incidents linked to the pack's changes (opened on rollback or by hand)",
    columns: &[
        "id",
        "changeId",
        "changeNumber",
        "priority",
        "title",
        "description",
        "openedBy",
        "openedAt",
        "resolvedAt",
    ],
};

pub const REVIEWS: Dataset = Dataset {
    key: "reviews",
    description: "Post-implementation and post-emergency reviews of the pack's changes",
    columns: &[
        "id",
        "changeId",
        "changeNumber",
        "kind",
        "reviewerId",
        "summary",
        "lessonsLearned",
        "rootCause",
        "reviewedAt",
    ],
};

pub const POPULATION: Dataset = Dataset {
    key: "population",
    description: "Every change touching the period (created, started, implemented or closed in \
        it) in population order, as auditPopulation lists it, with the strata a sample is drawn \
        by; the manifest's population.digest is SHA-256 over one line \"{uuid},{version}\\n\" per \
        row",
    columns: &[
        "uuid",
        "number",
        "version",
        "type",
        "status",
        "strata",
        "createdAt",
        "actualStart",
        "actualEnd",
        "closedAt",
    ],
};

pub const EXCEPTIONS: Dataset = Dataset {
    key: "exceptions",
    description: "The exception register: every failed control of every change in the \
        population, with the audit events (seq and hash) the verdict rests on and the policy \
        version the steps were taken under, in population order",
    columns: &[
        "changeUuid",
        "changeNumber",
        "control",
        "reason",
        "evidence",
        "policyVersion",
    ],
};

/// The datasets every pack holds, in manifest order.
pub const DATASETS: &[Dataset] = &[
    AUDIT_EVENTS,
    CHANGES,
    APPROVALS,
    EVIDENCE,
    INCIDENTS,
    REVIEWS,
    POPULATION,
    EXCEPTIONS,
];

/// The period's population as the pack holds it: re-computable from the
/// population files, and equal to `auditPopulation` at the pack's chain
/// head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PopulationProof {
    pub count: u64,
    pub digest: String,
}

/// Timestamps in packs: RFC 3339, microseconds, `Z` (as hashed).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The JSONL record of one audit event: the hashed fields under the names
/// of the canonical encoding, plus the stored hash.
pub fn event_record(event: &EventContent<'_>, hash: &str) -> Value {
    json!({
        "seq": event.seq,
        "occurredAt": timestamp(event.occurred_at),
        "actorId": event.actor_id.map(|id| id.to_string()),
        "actorLabel": event.actor_label,
        "action": event.action,
        "entityType": event.entity_type,
        "entityId": event.entity_id,
        "payload": event.payload,
        "prevHash": event.prev_hash,
        "hash": hash,
    })
}

/// A CSV row of `record` in the dataset's column order. Strings are
/// written as they are, other JSON values as compact JSON, null as empty.
/// Text that a spreadsheet would run as a formula (leading `=`, `+`, `-`,
/// `@`, tab or carriage return) gets a leading `'`; the JSONL file keeps
/// the exact value.
pub fn csv_row(dataset: &Dataset, record: &Value) -> Vec<String> {
    dataset
        .columns
        .iter()
        .map(|column| match record.get(*column) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => neutralise(text).into_owned(),
            Some(value @ (Value::Number(_) | Value::Bool(_))) => value.to_string(),
            Some(value) => neutralise(&value.to_string()).into_owned(),
        })
        .collect()
}

/// A point of the chain: an event's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPoint {
    pub seq: i64,
    pub hash: String,
}

/// The run of the chain a pack holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    /// `None` when no event fell in the period.
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// Hash of the event before `first_seq` (64 zeros when it is the first
    /// event ever): the first event's `prevHash` must equal it.
    pub prev_hash: Option<String>,
    pub count: u64,
    /// Whether the exporter recomputed the segment without a break.
    pub intact: bool,
    pub broken_at: Option<i64>,
    pub broken_reason: Option<String>,
}

/// One file of the pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackFile {
    pub name: String,
    pub dataset: String,
    /// `jsonl` or `csv`.
    pub format: String,
    /// Records (CSV: without the header line).
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetSummary {
    pub key: String,
    pub description: String,
    pub rows: u64,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestPeriod {
    /// Inclusive.
    pub from: String,
    /// Exclusive.
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub generated_at: String,
    /// The account (email) or operator (`cli:USER`) that exported.
    pub generated_by: String,
    pub period: ManifestPeriod,
    /// The newest event of the whole chain when the pack was made: an
    /// anchor for `gatehouse audit verify --anchor-seq --anchor-hash`,
    /// which then detects a truncated tail. `None` on an empty trail.
    pub chain_head: Option<ChainPoint>,
    pub audit_events: Segment,
    pub datasets: Vec<DatasetSummary>,
    pub files: Vec<PackFile>,
    /// How to recompute the hashes, for a reader without this code.
    pub hash_rule: String,
    /// Packs made before populations were exported have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population: Option<PopulationProof>,
}

pub const HASH_RULE: &str = "hash = hex(SHA-256(UTF-8 of the canonical JSON of {action, actorId, \
    actorLabel, entityId, entityType, occurredAt, payload, prevHash, seq})): keys sorted, no \
    whitespace, non-ASCII characters unescaped, occurredAt as in the record, payload as the \
    string in the record. Each event's prevHash is the previous event's hash; the first event's \
    prevHash equals auditEvents.prevHash.";

impl Manifest {
    pub fn new(
        period: &Period,
        generated_at: DateTime<Utc>,
        generated_by: &str,
        chain_head: Option<ChainPoint>,
        audit_events: Segment,
    ) -> Self {
        Self {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            generated_at: timestamp(generated_at),
            generated_by: generated_by.to_owned(),
            period: ManifestPeriod {
                from: timestamp(period.from),
                to: timestamp(period.to),
            },
            chain_head,
            audit_events,
            datasets: Vec::new(),
            files: Vec::new(),
            hash_rule: HASH_RULE.to_owned(),
            population: None,
        }
    }

    /// Records a written dataset and its two files.
    pub fn add_dataset(&mut self, dataset: &Dataset, rows: u64, files: [PackFile; 2]) {
        self.datasets.push(DatasetSummary {
            key: dataset.key.to_owned(),
            description: dataset.description.to_owned(),
            rows,
            columns: dataset.columns.iter().map(|c| (*c).to_owned()).collect(),
        });
        self.files.extend(files);
    }

    pub fn rows_of(&self, key: &str) -> u64 {
        self.datasets
            .iter()
            .find(|d| d.key == key)
            .map_or(0, |d| d.rows)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::domain::audit_chain::{GENESIS_HASH, event_hash};

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_period_runs_forward() {
        assert!(Period::new(at(1), at(2)).is_ok());
        assert_eq!(Period::new(at(2), at(2)).unwrap_err().field, "to");
        assert_eq!(Period::new(at(3), at(2)).unwrap_err().field, "to");
        assert_eq!(
            Period::new(at(1), at(30)).unwrap().pack_name(),
            "gatehouse-evidence-20261101T000000Z-20261130T000000Z"
        );
    }

    #[test]
    fn every_dataset_has_distinct_files_and_columns() {
        let mut names: Vec<String> = DATASETS
            .iter()
            .flat_map(|d| [d.jsonl_name(), d.csv_name()])
            .collect();
        names.push(MANIFEST_FILE.to_owned());
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
        for dataset in DATASETS {
            let mut columns = dataset.columns.to_vec();
            columns.sort_unstable();
            columns.dedup();
            assert_eq!(columns.len(), dataset.columns.len(), "{}", dataset.key);
        }
    }

    #[test]
    fn an_event_record_carries_what_the_hash_covers() {
        let actor = Uuid::nil();
        let content = EventContent {
            seq: 7,
            occurred_at: at(5) + chrono::Duration::microseconds(12),
            actor_id: Some(actor),
            actor_label: "ada@example.com",
            action: "change.created",
            entity_type: "change",
            entity_id: "c1",
            payload: r#"{"a":1}"#,
            prev_hash: GENESIS_HASH,
        };
        let hash = event_hash(&content);
        let record = event_record(&content, &hash);
        assert_eq!(record["occurredAt"], "2026-11-05T00:00:00.000012Z");
        assert_eq!(record["payload"], r#"{"a":1}"#);
        assert_eq!(record["actorId"], actor.to_string());
        assert_eq!(record["hash"], hash);
        let row = csv_row(&AUDIT_EVENTS, &record);
        assert_eq!(row.len(), AUDIT_EVENTS.columns.len());
        assert_eq!(row[0], "7");
        assert_eq!(row[7], r#"{"a":1}"#);
    }

    #[test]
    fn csv_cells_never_start_a_formula() {
        let record = json!({"title": "=HYPERLINK(\"x\")", "description": "-1", "likelihood": -1,
                            "services": ["a"], "mitigations": null, "number": "CR-2026-0001"});
        let row = csv_row(&CHANGES, &record);
        let cell = |name: &str| &row[CHANGES.columns.iter().position(|c| *c == name).unwrap()];
        assert_eq!(cell("title"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("description"), "'-1");
        assert_eq!(cell("likelihood"), "-1");
        assert_eq!(cell("services"), r#"["a"]"#);
        assert_eq!(cell("mitigations"), "");
        assert_eq!(cell("number"), "CR-2026-0001");
        assert_eq!(cell("id"), "");
    }

    #[test]
    fn the_manifest_uses_the_documented_names() {
        let period = Period::new(at(1), at(2)).unwrap();
        let segment = Segment {
            first_seq: Some(3),
            last_seq: Some(4),
            prev_hash: Some(GENESIS_HASH.into()),
            count: 2,
            intact: true,
            broken_at: None,
            broken_reason: None,
        };
        let mut manifest = Manifest::new(
            &period,
            at(3),
            "cli:root",
            Some(ChainPoint {
                seq: 9,
                hash: "h".into(),
            }),
            segment,
        );
        let file = |name: &str, format: &str| PackFile {
            name: name.into(),
            dataset: "audit_events".into(),
            format: format.into(),
            rows: 2,
            bytes: 10,
            sha256: "x".into(),
        };
        manifest.add_dataset(
            &AUDIT_EVENTS,
            2,
            [
                file("audit_events.jsonl", "jsonl"),
                file("audit_events.csv", "csv"),
            ],
        );
        let value = serde_json::to_value(&manifest).unwrap();
        assert_eq!(value["formatVersion"], 1);
        assert_eq!(value["period"]["from"], "2026-11-01T00:00:00.000000Z");
        assert_eq!(value["chainHead"], json!({"seq": 9, "hash": "h"}));
        assert_eq!(value["auditEvents"]["firstSeq"], 3);
        assert_eq!(value["auditEvents"]["prevHash"], GENESIS_HASH);
        assert_eq!(value["files"][0]["sha256"], "x");
        assert_eq!(manifest.rows_of("audit_events"), 2);
        assert_eq!(manifest.rows_of("changes"), 0);
        let back: Manifest = serde_json::from_value(value).unwrap();
        assert_eq!(back, manifest);
    }
}

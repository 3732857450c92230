//! `gatehouse audit`: verifying the audit trail and exporting evidence
//! packs.

use std::{path::PathBuf, process::ExitCode};

use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::{
    config::Settings,
    db::{self, QueryCounter},
    domain::{budget::Deadline, evidence_pack::Period},
    policy::Policy,
    service::{Caller, audit, evidence},
    store,
};

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Recompute the hash chain; exit status 0 when intact, 2 when broken.
    Verify {
        /// Expect the chain to reach this event (from an evidence pack).
        #[arg(long, requires = "anchor_hash")]
        anchor_seq: Option<i64>,
        /// The hash recorded for the anchor event.
        #[arg(long, requires = "anchor_seq")]
        anchor_hash: Option<String>,
    },
    /// Write the evidence pack of a period into a new or empty directory:
    /// the audit events and the changes they touched (JSONL and CSV) and
    /// manifest.json. Check it with scripts/verify_evidence_pack.py.
    Export {
        /// Start of the period, inclusive (RFC 3339).
        #[arg(long)]
        from: DateTime<Utc>,
        /// End of the period, exclusive (RFC 3339).
        #[arg(long)]
        to: DateTime<Utc>,
        /// Directory to write (created if missing; must be empty).
        #[arg(long)]
        out: PathBuf,
    },
    /// Delete the events that occurred before a date, when the policy's
    /// `audit_retention_years` allows it. The purge itself is recorded in
    /// the chain, so verification goes on from the first kept event.
    Purge {
        /// Events before this instant (RFC 3339) are deleted.
        #[arg(long)]
        before: DateTime<Utc>,
        /// Report what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(settings: &Settings, action: AuditAction) -> anyhow::Result<ExitCode> {
    let db = db::connect(&settings.database_url, &QueryCounter::default()).await?;
    match action {
        AuditAction::Verify {
            anchor_seq,
            anchor_hash,
        } => {
            let anchor = anchor_seq.zip(anchor_hash);
            // Events whose writer died between commit and seal are linked
            // first, so the verified chain holds every committed event.
            let sealed = store::audit::seal(&db).await?;
            if sealed > 0 {
                println!("sealed {sealed} committed events into the chain first");
            }
            // The operator's own command may take as long as the chain needs.
            match audit::verify(&db, &Caller::operator(), anchor, Deadline::unbounded()).await? {
                store::audit::Verification::Intact {
                    events,
                    head_seq,
                    head_hash,
                } => {
                    println!("OK: {events} events, head seq {head_seq} hash {head_hash}");
                    Ok(ExitCode::SUCCESS)
                }
                store::audit::Verification::Broken(broken) => {
                    println!("BROKEN at event {}: {}", broken.seq, broken.reason);
                    Ok(ExitCode::from(2))
                }
            }
        }
        AuditAction::Purge { before, dry_run } => {
            let policy = Policy::load(&settings.policy)?;
            let outcome = audit::purge(
                &db,
                &Caller::operator(),
                before,
                policy.audit_retention_years,
                settings.clock.now(),
                dry_run,
            )
            .await?;
            match (outcome.through_seq, dry_run) {
                (None, _) => println!("nothing to purge: no event before {before} but the newest"),
                (Some(last), true) => println!(
                    "dry run: would purge {} events (seq up to {last})",
                    outcome.events
                ),
                (Some(last), false) => println!(
                    "purged {} events (seq up to {last}); the purge is recorded as an {} event",
                    outcome.events,
                    store::audit::PURGE_ACTION
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditAction::Export { from, to, out } => {
            let period = Period::new(from, to).map_err(|e| anyhow::anyhow!("--{e}"))?;
            let policy = Policy::load(&settings.policy)?;
            let manifest =
                evidence::export(&db, &policy, &Caller::operator(), period, &out).await?;
            let segment = &manifest.audit_events;
            match (segment.first_seq, segment.last_seq) {
                (Some(first), Some(last)) => println!(
                    "exported {} audit events (seq {first}..={last}) and {} changes to {}",
                    segment.count,
                    manifest.rows_of("changes"),
                    out.display()
                ),
                _ => println!(
                    "no audit events in the period; wrote an empty pack to {}",
                    out.display()
                ),
            }
            if let Some(head) = &manifest.chain_head {
                println!("chain head at export: seq {} hash {}", head.seq, head.hash);
            }
            if segment.intact {
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "BROKEN at event {}: {}",
                    segment.broken_at.unwrap_or_default(),
                    segment.broken_reason.as_deref().unwrap_or_default()
                );
                Ok(ExitCode::from(2))
            }
        }
    }
}

//! `gatehouse audit`: verifying the audit trail.

use std::process::ExitCode;

use clap::Subcommand;

use crate::{
    config::Settings,
    db::{self, QueryCounter},
    service::audit,
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
}

pub async fn run(settings: &Settings, action: AuditAction) -> anyhow::Result<ExitCode> {
    let AuditAction::Verify {
        anchor_seq,
        anchor_hash,
    } = action;
    let db = db::connect(&settings.database_url, &QueryCounter::default()).await?;
    let anchor = anchor_seq.zip(anchor_hash);
    match audit::verify(&db, anchor).await? {
        audit::Verification::Intact { events, head_hash } => {
            println!("OK: {events} events, head hash {head_hash}");
            Ok(ExitCode::SUCCESS)
        }
        audit::Verification::Broken(broken) => {
            println!("BROKEN at event {}: {}", broken.seq, broken.reason);
            Ok(ExitCode::from(2))
        }
    }
}

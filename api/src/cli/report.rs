//! `gatehouse report`: the monthly, quarterly, trends and weekly CAB
//! reports, written to a file or standard output.

use std::{io::Write, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Args, Subcommand};
use reports::{
    Granularity, PeriodSpec,
    document::ReportKind,
    period,
    render::{Format, Table},
};

use crate::{
    config::Settings,
    db::{self, QueryCounter},
    policy::Policy,
    service::metrics,
};

#[derive(Debug, Subcommand)]
pub enum ReportAction {
    /// One month (the CTO report), with the twelve months ending with it.
    Monthly {
        /// YYYY-MM, e.g. 2026-10.
        #[arg(long)]
        period: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One quarter (executives): its months and the five quarters ending
    /// with it.
    Quarterly {
        /// YYYY-Qn, e.g. 2026-Q3.
        #[arg(long)]
        period: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Quarter-by-quarter and month-by-month trend from one quarter to
    /// another, both included.
    Trends {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One ISO week for the CAB meeting (default: the last complete week).
    CabWeekly {
        /// YYYY-Www, e.g. 2026-W47.
        #[arg(long)]
        week: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// json, csv, parquet, xlsx, html or md.
    #[arg(long, default_value = "html")]
    format: Format,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// IANA time zone the periods are cut in.
    #[arg(long, default_value = "UTC")]
    time_zone: String,
    /// For csv and parquet (one table per file): metrics, by-type,
    /// by-outcome, by-system, emergencies or rollbacks.
    #[arg(long, default_value = "metrics")]
    table: Table,
}

pub async fn run(settings: &Settings, action: ReportAction) -> anyhow::Result<ExitCode> {
    let (kind, output) = match action {
        ReportAction::Monthly { period, output } => (ReportKind::Monthly { period }, output),
        ReportAction::Quarterly { period, output } => (ReportKind::Quarterly { period }, output),
        ReportAction::Trends { from, to, output } => (ReportKind::Trends { from, to }, output),
        ReportAction::CabWeekly { week, output } => {
            let week = match week {
                Some(week) => week,
                None => last_complete_week(&output.time_zone)?,
            };
            (ReportKind::CabWeekly { week }, output)
        }
    };
    let policy = Policy::load(&settings.policy)?;
    let db = db::connect(&settings.database_url, &QueryCounter::default()).await?;
    let document = metrics::report(&db, &policy, kind, &output.time_zone).await?;
    let bytes = metrics::render(document, output.format, output.table).await?;
    match &output.out {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
        }
        None => std::io::stdout().write_all(&bytes)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn last_complete_week(time_zone: &str) -> anyhow::Result<String> {
    let zone = period::parse_time_zone(time_zone)?;
    let a_week_ago = chrono::Utc::now() - chrono::Duration::days(7);
    Ok(PeriodSpec::label_of(Granularity::Week, zone, a_week_ago))
}

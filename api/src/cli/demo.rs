//! `gatehouse demo-data`: a reproducible history to try reports on.

use std::process::ExitCode;

use chrono::{DateTime, Utc};

use crate::{
    config::Settings,
    domain::demo::DemoSpec,
    policy::Policy,
    service::{
        Caller,
        demo::{self, demo_types},
        import::ImportError,
    },
};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How many changes to generate.
    #[arg(long, default_value_t = 500)]
    pub changes: usize,
    /// How many months of history, ending at --end.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Seed of the random generator: the same seed, --changes, --months
    /// and --end give the same history.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// End of the history (RFC 3339); default: today 00:00 UTC.
    #[arg(long)]
    pub end: Option<DateTime<Utc>>,
}

pub async fn run(settings: &Settings, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let policy = Policy::load(&settings.policy)?;
    let end = match args.end {
        Some(end) => end,
        None => Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|midnight| midnight.and_utc())
            .unwrap_or_else(Utc::now),
    };
    let spec = DemoSpec {
        changes: args.changes,
        months: args.months,
        seed: args.seed,
        end,
        types: demo_types(&policy),
    };
    let db = super::connect_migrated(settings).await?;
    match demo::generate(&db, &policy, &Caller::operator(), &spec).await {
        Ok(summary) => {
            println!(
                "generated {} change(s) over {} month(s) ending {} (seed {})",
                summary.imported.len(),
                args.months,
                end.to_rfc3339(),
                args.seed
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Invalid(errors)) => {
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            anyhow::bail!(
                "the generator produced {} invalid row(s), first: {first}",
                errors.len()
            )
        }
        Err(ImportError::Service(error)) => anyhow::bail!("demo-data failed: {error}"),
    }
}

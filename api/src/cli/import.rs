//! `gatehouse import FILE`: historical changes, deployments or incidents
//! from JSONL or CSV.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;

use crate::{
    config::Settings,
    domain::import::{self, Format, ImportedChange, RowError},
    policy::Policy,
    service::{
        Caller,
        import::{self as service, ImportError},
    },
};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file to import (JSONL: one JSON object per line; CSV: a header
    /// row of column names).
    pub file: PathBuf,
    /// The file's format; by default from its extension.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Import the valid rows and list the invalid ones instead of
    /// importing nothing.
    #[arg(long)]
    pub skip_invalid: bool,
    /// What the file holds.
    #[arg(long, value_enum, default_value = "changes")]
    pub kind: Kind,
}

/// What an import file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Changes,
    /// Deployments as `recordDeployment` takes them (a production one is
    /// judged against the change it names, as if reported then).
    Deployments,
    /// Incidents as `recordIncident` takes them, with `reportedBy` (an
    /// account's email), and `restoredAt` and `resolution` when resolved.
    Incidents,
}

/// Parses every row of a file into changes and row errors.
pub fn parse_file(
    text: &str,
    format: Format,
    policy: &Policy,
) -> Result<(Vec<ImportedChange>, Vec<RowError>), RowError> {
    let raw = match format {
        Format::Jsonl => import::read_jsonl(text),
        Format::Csv => import::read_csv(text)?,
    };
    let types = policy.change_type_keys();
    let emergency = service::emergency_types(policy);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for entry in raw {
        match entry
            .map_err(|e| vec![e])
            .and_then(|(line, row)| import::parse_row(line, &row, &types, &emergency))
        {
            Ok(change) => rows.push(change),
            Err(found) => errors.extend(found),
        }
    }
    Ok((rows, errors))
}

pub async fn run(settings: &Settings, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format.or_else(|| Format::from_path(&args.file)) {
        Some(format) => format,
        None => anyhow::bail!(
            "cannot tell the format of {} from its extension: give --format jsonl or --format csv",
            args.file.display()
        ),
    };
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    if args.kind != Kind::Changes {
        return super::import_delivery::run(settings, &text, format, args.kind, args.skip_invalid)
            .await;
    }
    let policy = Policy::load(&settings.policy)?;
    let (rows, errors) = match parse_file(&text, format, &policy) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("error: import failed, nothing was written: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let db = super::connect_migrated(settings).await?;
    let operator = Caller::operator();
    match service::import(&db, &policy, &operator, rows, errors, args.skip_invalid).await {
        Ok(summary) => {
            for name in &summary.created_systems {
                println!("created system {name}");
            }
            for error in &summary.skipped {
                println!("skipped {error}");
            }
            let skipped_lines: std::collections::BTreeSet<u64> =
                summary.skipped.iter().map(|e| e.line).collect();
            println!(
                "imported {} change(s){}, skipped {} row(s)",
                summary.imported.len(),
                match (summary.imported.first(), summary.imported.last()) {
                    (Some(first), Some(last)) => format!(" ({} .. {})", first.1, last.1),
                    _ => String::new(),
                },
                skipped_lines.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Invalid(errors)) => {
            let lines: std::collections::BTreeSet<u64> = errors.iter().map(|e| e.line).collect();
            eprintln!(
                "error: import failed, nothing was written: {} invalid row(s) (use --skip-invalid to import the valid ones)",
                lines.len()
            );
            for error in &errors {
                eprintln!("{error}");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(ImportError::Service(error)) => Err(anyhow::anyhow!(
            "import failed, nothing was written: {error}"
        )),
    }
}

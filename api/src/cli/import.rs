//! `gatehouse import FILE`: historical changes, deployments or incidents
//! from JSONL or CSV, or changes from another tool's CSV export through a
//! column map (`--map`).

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;

use crate::{
    config::Settings,
    domain::import::{
        self, Format, ImportedChange, RowError,
        mapping::{self, ColumnMap, MappedRow},
    },
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
    /// Read the file as another tool's CSV export of changes through a
    /// column map: `jsm` (Jira Service Management), `servicenow`
    /// (ServiceNow change_request) or the path of a map file
    /// (docs/reports.md, "Column maps").
    #[arg(long, value_name = "jsm|servicenow|FILE")]
    pub map: Option<String>,
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

/// Parses every row of a file into changes and row errors; through `map`
/// when given (a CSV export of another tool).
pub fn parse_file(
    text: &str,
    format: Format,
    policy: &Policy,
    map: Option<&ColumnMap>,
) -> Result<(Vec<ImportedChange>, Vec<RowError>), RowError> {
    let raw: Vec<MappedRow> = match (map, format) {
        (Some(map), _) => map.read_csv(text)?,
        (None, Format::Jsonl) => import::read_jsonl(text)
            .into_iter()
            .map(|row| row.map_err(|e| vec![e]))
            .collect(),
        (None, Format::Csv) => import::read_csv(text)?
            .into_iter()
            .map(|row| row.map_err(|e| vec![e]))
            .collect(),
    };
    let types = policy.change_type_keys();
    let emergency = service::emergency_types(policy);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for entry in raw {
        let parsed = entry.and_then(|(line, row)| {
            import::parse_row(line, &row, &types, &emergency).map_err(|mut found| {
                if let Some(map) = map {
                    map.name_sources(&mut found);
                }
                found
            })
        });
        match parsed {
            Ok(change) => rows.push(change),
            Err(found) => errors.extend(found),
        }
    }
    Ok((rows, errors))
}

pub async fn run(settings: &Settings, args: ImportArgs) -> anyhow::Result<ExitCode> {
    // A map reads CSV exports, whatever the file is called.
    let format = match args
        .format
        .or_else(|| Format::from_path(&args.file))
        .or(args.map.as_ref().map(|_| Format::Csv))
    {
        Some(format) => format,
        None => anyhow::bail!(
            "cannot tell the format of {} from its extension: give --format jsonl or --format csv",
            args.file.display()
        ),
    };
    let map = match &args.map {
        None => None,
        Some(_) if args.kind != Kind::Changes => {
            anyhow::bail!(
                "--map reads exports of changes; it does not apply to --kind deployments or incidents"
            )
        }
        Some(_) if format == Format::Jsonl => {
            anyhow::bail!("--map reads CSV exports; {} is JSONL", args.file.display())
        }
        Some(name) => Some(mapping::load(name)?),
    };
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    if args.kind != Kind::Changes {
        return super::import_delivery::run(settings, &text, format, args.kind, args.skip_invalid)
            .await;
    }
    let policy = Policy::load(&settings.policy)?;
    let (rows, errors) = match parse_file(&text, format, &policy, map.as_ref()) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("error: import failed, nothing was written: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let missing = import::MissingTimes::of(&rows);
    let db = super::connect_migrated(settings).await?;
    let operator = Caller::operator();
    match service::import(&db, &policy, &operator, rows, errors, args.skip_invalid).await {
        Ok(mut summary) => {
            if let Some(map) = &map {
                map.name_sources(&mut summary.skipped);
            }
            let imported: std::collections::BTreeSet<u64> =
                summary.imported.iter().map(|(line, _)| *line).collect();
            let missing = missing.of_lines(&imported);
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
            for note in missing.notes() {
                println!("{note}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Invalid(mut errors)) => {
            if let Some(map) = &map {
                map.name_sources(&mut errors);
            }
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

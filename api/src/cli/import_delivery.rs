//! `gatehouse import --kind deployments|incidents FILE`: another tool's
//! deployments and incidents, so the DORA metrics have their history.
//!
//! Every row is parsed, and every account and system it names looked up,
//! before anything is written; with an invalid row nothing is written
//! (unless `--skip-invalid`). Each row is then recorded exactly as its API
//! records it (`recordDeployment`, `recordIncident` and `resolveIncident`),
//! by the operator: a production deployment is judged against the change
//! it names, and every row has its audit event. Deployments with an
//! `externalId` can be imported again without being doubled.

use std::{collections::BTreeSet, process::ExitCode};

use entity::{DeploymentSource, system, user};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::import::Kind;
use crate::{
    config::Settings,
    domain::import::{
        self, Format, RowError,
        delivery::{self, ImportedDeployment, ImportedIncident},
    },
    policy::Policy,
    service::{
        Caller,
        deployments::{self, Reported},
        incidents::{self, NewIncident},
    },
    store::{events::EventBus, transitions::Request},
};

enum Rows {
    Deployments(Vec<ImportedDeployment>),
    Incidents(Vec<ImportedIncident>),
}

fn parse(text: &str, format: Format, kind: Kind) -> Result<(Rows, Vec<RowError>), RowError> {
    let columns = match kind {
        Kind::Incidents => delivery::INCIDENT_COLUMNS,
        _ => delivery::DEPLOYMENT_COLUMNS,
    };
    let raw = match format {
        Format::Jsonl => import::read_jsonl(text),
        Format::Csv => import::read_csv_with(text, columns)?,
    };
    let mut errors = Vec::new();
    let mut deployments = Vec::new();
    let mut incidents = Vec::new();
    for entry in raw {
        let (line, row) = match entry {
            Ok(read) => read,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        if let Some(unknown) = row.keys().find(|k| !columns.contains(&k.as_str())) {
            errors.push(RowError::new(
                line,
                unknown.clone(),
                format!("unknown column (known: {})", columns.join(", ")),
            ));
            continue;
        }
        match kind {
            Kind::Incidents => match delivery::parse_incident(line, &row) {
                Ok(incident) => incidents.push(incident),
                Err(found) => errors.extend(found),
            },
            _ => match delivery::parse_deployment(line, &row) {
                Ok(deployment) => deployments.push(deployment),
                Err(found) => errors.extend(found),
            },
        }
    }
    let rows = match kind {
        Kind::Incidents => Rows::Incidents(incidents),
        _ => Rows::Deployments(deployments),
    };
    Ok((rows, errors))
}

/// Whether a row of `E` meets `condition`.
async fn exists<E: EntityTrait>(
    db: &DatabaseConnection,
    condition: sea_orm::sea_query::SimpleExpr,
) -> anyhow::Result<bool> {
    Ok(E::find().filter(condition).one(db).await?.is_some())
}

/// The rows naming an account or a system that does not exist.
async fn unresolved(db: &DatabaseConnection, rows: &Rows) -> anyhow::Result<Vec<RowError>> {
    let known_systems: BTreeSet<String> = system::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    let mut errors = Vec::new();
    let mut check_systems = |line: u64, names: &[String]| {
        if let Some(missing) = names.iter().find(|n| !known_systems.contains(n.trim())) {
            errors.push(RowError::new(
                line,
                "systems",
                format!("no system is named {missing}"),
            ));
        }
    };
    match rows {
        Rows::Deployments(rows) => {
            for row in rows {
                check_systems(row.line, &row.report.systems);
            }
        }
        Rows::Incidents(rows) => {
            for row in rows {
                check_systems(row.line, &row.systems);
            }
            for row in rows {
                if let Some(number) = &row.change_number
                    && !exists::<entity::change::Entity>(
                        db,
                        entity::change::Column::Number.eq(number.as_str()),
                    )
                    .await?
                {
                    errors.push(RowError::new(
                        row.line,
                        "changeNumber",
                        format!("no change has the number {number}"),
                    ));
                }
                let email = row.reported_by.trim();
                if !exists::<user::Entity>(db, user::Column::Email.eq(email)).await? {
                    errors.push(RowError::new(
                        row.line,
                        "reportedBy",
                        format!("no account has the email {email}"),
                    ));
                }
            }
        }
    }
    Ok(errors)
}

pub async fn run(
    settings: &Settings,
    text: &str,
    format: Format,
    kind: Kind,
    skip_invalid: bool,
) -> anyhow::Result<ExitCode> {
    let (rows, mut errors) = match parse(text, format, kind) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("error: import failed, nothing was written: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let policy = Policy::load(&settings.policy)?;
    let db = super::connect_migrated(settings).await?;
    errors.extend(unresolved(&db, &rows).await?);
    errors.sort_by_key(|e| e.line);
    let skipped: BTreeSet<u64> = errors.iter().map(|e| e.line).collect();
    if !errors.is_empty() && !skip_invalid {
        eprintln!(
            "error: import failed, nothing was written: {} invalid row(s) (use --skip-invalid to import the valid ones)",
            skipped.len()
        );
        for error in &errors {
            eprintln!("{error}");
        }
        return Ok(ExitCode::FAILURE);
    }
    for error in &errors {
        println!("skipped {error}");
    }
    let operator = Caller::operator();
    let events = EventBus::in_process();
    let request = Request {
        db: &db,
        policy: &policy,
        events: &events,
        caller: &operator,
        now: crate::db::now(),
    };
    let mut imported = 0usize;
    match rows {
        Rows::Deployments(rows) => {
            let mut exceptions = 0usize;
            for row in rows.into_iter().filter(|r| !skipped.contains(&r.line)) {
                let reported = Reported {
                    report: row.report,
                    status: row.status,
                    source: DeploymentSource::Import,
                };
                let (recorded, _) = deployments::record(&request, reported)
                    .await
                    .map_err(|e| anyhow::anyhow!("line {}: {e}", row.line))?;
                exceptions += usize::from(recorded.exception_reason.is_some());
                imported += 1;
            }
            println!(
                "imported {imported} deployment(s), {exceptions} of them unauthorised, skipped {} row(s)",
                skipped.len()
            );
        }
        Rows::Incidents(rows) => {
            for row in rows.into_iter().filter(|r| !skipped.contains(&r.line)) {
                let reporter = user::Entity::find()
                    .filter(user::Column::Email.eq(row.reported_by.trim()))
                    .one(&db)
                    .await?
                    .map(|u| u.id);
                let opened = incidents::record(
                    &db,
                    &operator,
                    NewIncident {
                        title: row.title,
                        description: row.description,
                        priority: row.priority,
                        change_number: row.change_number,
                        deployment_id: None,
                        systems: row.systems,
                        opened_at: Some(row.opened_at),
                        reported_by: reporter,
                    },
                    request.now,
                )
                .await
                .map_err(|e| anyhow::anyhow!("line {}: {e}", row.line))?;
                if let (Some(restored_at), Some(resolution)) = (row.restored_at, &row.resolution) {
                    incidents::resolve_for(
                        &db,
                        &operator,
                        reporter,
                        opened.id,
                        restored_at,
                        resolution,
                        request.now,
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("line {}: {e}", row.line))?;
                }
                imported += 1;
            }
            println!(
                "imported {imported} incident(s), skipped {} row(s)",
                skipped.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! Reporting benchmark (a plain harness; whole-system measurements).
//!
//! ```sh
//! cargo bench -p api --bench reports_metrics -- \
//!     --changes 1000000 --postgres postgres://postgres@127.0.0.1:5432/postgres [--keep]
//! # against a database an earlier run kept (no reload); (a) too
//! # when --changes is given:
//! cargo bench -p api --bench reports_metrics -- \
//!     [--changes 1000000] --reuse-db postgres://postgres@127.0.0.1:5432/gh_bench_reports_...
//! ```
//!
//! 1. generates `--changes` changes with the `demo-data` generator (in
//!    chunks of 50,000, seeds 1, 2, ...) over 24 months ending 2026-11-01;
//! 2. (a) builds the polars input frame in memory and times the monthly and
//!    quarterly metrics (`reports::compute` + `reports::buckets`), `--runs`
//!    times (3 unless given), and prints the median;
//! 3. bulk-loads the same changes into a fresh PostgreSQL database
//!    (multi-row INSERTs, no audit events: a benchmark-only fast path);
//! 4. (b) times load from PostgreSQL + compute, as the `metrics` query does.
//!
//! The database is dropped at the end unless `--keep` is given (then its
//! URL is printed for the SQL and DuckDB comparisons in
//! scripts/bench_reports_sql.sh, and for `--reuse-db`). Without
//! `--postgres` only (a) runs. `--reuse-db URL` runs (b) against that
//! database after applying its pending migrations (so a new index is
//! measured too), and (a) first only when `--changes` is given.
//!
//! `--deliveries` (with `--reuse-db`) first gives the database the DORA
//! inputs, server-side: a successful production deployment for every
//! fifth implemented change (its implementation's times, committed 6 h
//! before it started), one in twenty of them an exception, and every
//! incident restored 1 to 16 hours after it opened; `--no-deliveries`
//! removes them again, so one database measures both.
//!
//! Every run prints a digest of the buckets it computed (their JSON,
//! hashed): the same data must give the same digest in (a) and (b), and
//! from one version of the metrics code to the next, so a faster plan that
//! changes a result shows up here.

use std::time::Instant;

// The allocator `gatehouse` runs with (src/main.rs), so the figures are
// those of the shipped binary's `metrics` query and reports.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use api::{
    cli::demo::demo_types,
    db::{self, QueryCounter},
    domain::demo::{self, DemoSpec},
    service::{Caller, import, metrics, users},
};
use chrono::{DateTime, Utc};
use entity::{board_decision, change, change_system, incident, system};
use reports::{ChangeFramesBuilder, Granularity};
use sea_orm::{ConnectionTrait, Database, EntityTrait, Set, TransactionTrait};
use uuid::Uuid;

const CHUNK: usize = 50_000;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn compute_both(
    frames: &reports::ChangeFrames,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    options: &reports::MetricsOptions,
) -> anyhow::Result<(usize, String)> {
    let mut all = Vec::new();
    for granularity in [Granularity::Month, Granularity::Quarter] {
        let spec = metrics::spec(granularity, "UTC", from, to)?;
        let tables = reports::compute(frames, &spec, options)?;
        all.extend(reports::buckets(&tables, &spec, options)?);
    }
    Ok((all.len(), digest(&all)?))
}

/// Two digests of the buckets' JSON: of the exact values, and of the
/// values with floats rounded to 12 significant digits (a mean summed in
/// another row order may differ in its last bit; anything beyond that is
/// a changed result).
fn digest(buckets: &[reports::Bucket]) -> anyhow::Result<String> {
    use std::hash::{DefaultHasher, Hasher};
    fn rounded(value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::Number(n) if n.is_f64() => {
                Value::String(format!("{:.11e}", n.as_f64().unwrap_or_default()))
            }
            Value::Array(items) => Value::Array(items.into_iter().map(rounded).collect()),
            Value::Object(fields) => {
                Value::Object(fields.into_iter().map(|(k, v)| (k, rounded(v))).collect())
            }
            other => other,
        }
    }
    let hash = |text: &str| {
        let mut hasher = DefaultHasher::new();
        hasher.write(text.as_bytes());
        hasher.finish()
    };
    let exact = serde_json::to_value(buckets)?;
    let approximate = rounded(exact.clone());
    Ok(format!(
        "exact {:016x}, rounded {:016x}",
        hash(&exact.to_string()),
        hash(&approximate.to_string())
    ))
}

/// (a): generates `changes` changes, builds the in-memory frame and times
/// the monthly and quarterly metrics over it, three times.
fn measure_in_memory(
    changes: usize,
    runs: usize,
    policy: &api::policy::Policy,
    from: DateTime<Utc>,
    end: DateTime<Utc>,
    options: &reports::MetricsOptions,
) -> anyhow::Result<()> {
    // Generate, and build the in-memory frame.
    let started = Instant::now();
    let mut builder = ChangeFramesBuilder::default();
    let mut remaining = changes;
    let mut seed = 1;
    while remaining > 0 {
        let size = remaining.min(CHUNK);
        let spec = DemoSpec {
            changes: size,
            months: 24,
            seed,
            end,
            types: demo_types(policy),
        };
        let rows = demo::generate(&spec);
        for row in &rows {
            metrics::push_imported(&mut builder, row);
        }
        remaining -= size;
        seed += 1;
    }
    let finishing = Instant::now();
    let frames = builder.finish()?;
    println!(
        "generated {changes} changes ({} implemented) in {:.1} s, of which building the frames (ChangeFramesBuilder::finish) {:.0} ms",
        frames.changes.height(),
        started.elapsed().as_secs_f64(),
        finishing.elapsed().as_secs_f64() * 1000.0
    );
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let started = Instant::now();
        let (periods, digest) = compute_both(&frames, from, end, options)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        times.push(ms);
        println!(
            "(a) polars monthly + quarterly over the in-memory frame, run {run}: {ms:.0} ms ({periods} periods, digest {digest})"
        );
    }
    times.sort_by(f64::total_cmp);
    println!(
        "(a) {runs} runs: median {:.0} ms, min {:.0} ms, max {:.0} ms",
        times[runs / 2],
        times[0],
        times[runs - 1]
    );
    drop(frames);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let changes: usize = arg("--changes").map_or(Ok(100_000), |v| v.parse())?;
    let runs: usize = arg("--runs").map_or(Ok(3), |v| v.parse())?;
    anyhow::ensure!(runs > 0, "--runs must be at least 1");
    let postgres = arg("--postgres");
    let keep = std::env::args().any(|a| a == "--keep");
    let policy = api::policy::Policy::load("tiered-cab")?;
    let end: DateTime<Utc> = "2026-11-01T00:00:00Z".parse()?;
    let from: DateTime<Utc> = "2024-11-01T00:00:00Z".parse()?;
    let options = metrics::options(&policy);
    let reuse = arg("--reuse-db");
    if reuse.is_none() || arg("--changes").is_some() {
        measure_in_memory(changes, runs, &policy, from, end, &options)?;
    }
    if let Some(url) = reuse {
        let db = db::connect(&url, &QueryCounter::default()).await?;
        let started = Instant::now();
        db::migrate_up(&db).await?;
        println!(
            "reusing {url} (pending migrations applied in {:.1} s)",
            started.elapsed().as_secs_f64()
        );
        if std::env::args().any(|a| a == "--deliveries") {
            seed_deliveries(&db).await?;
        }
        if std::env::args().any(|a| a == "--no-deliveries") {
            db.execute_unprepared(
                "DELETE FROM deployments; UPDATE incidents SET restored_at = NULL, resolved_at = NULL, resolution = NULL",
            )
            .await?;
            db.execute_unprepared("VACUUM ANALYZE deployments").await?;
            println!("removed the deployments and the incidents' restorations");
        }
        return measure_load(db, from, end, &options).await;
    }

    let Some(admin_url) = postgres else {
        return Ok(());
    };
    let name = format!("gh_bench_reports_{}", Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    let (server, _) = admin_url
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("the PostgreSQL URL must end in /DATABASE"))?;
    let url = format!("{server}/{name}");
    let seeds: Vec<u64> = (1..=changes.div_ceil(CHUNK) as u64).collect();
    let result = load_and_measure(&url, &policy, &seeds, changes, end, from, &options).await;
    if keep {
        println!("kept the database: {url}");
    } else {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
    }
    result
}

async fn load_and_measure(
    url: &str,
    policy: &api::policy::Policy,
    seeds: &[u64],
    changes: usize,
    end: DateTime<Utc>,
    from: DateTime<Utc>,
    options: &reports::MetricsOptions,
) -> anyhow::Result<()> {
    let db = db::connect(url, &QueryCounter::default()).await?;
    db::migrate_up(&db).await?;
    let operator = Caller::operator();
    let requester = users::create(
        &db,
        policy,
        &operator,
        "Bench",
        "bench@example.com",
        &["requester".to_owned()],
    )
    .await?
    .id;
    let mut system_ids = std::collections::HashMap::new();
    for (name, _) in demo::SYSTEMS {
        let id = Uuid::now_v7();
        system::Entity::insert(system::ActiveModel {
            id: Set(id),
            name: Set((*name).to_owned()),
            description: Set(None),
            parent_id: Set(None),
            team: Set(None),
            created_at: Set(db::now()),
        })
        .exec(&db)
        .await?;
        system_ids.insert(*name, id);
    }
    let started = Instant::now();
    let mut sequence = std::collections::HashMap::<i32, i32>::new();
    let mut remaining = changes;
    for seed in seeds {
        let size = remaining.min(CHUNK);
        remaining -= size;
        let spec = DemoSpec {
            changes: size,
            months: 24,
            seed: *seed,
            end,
            types: demo_types(policy),
        };
        let rows = demo::generate(&spec);
        let txn = db.begin().await?;
        for batch in rows.chunks(1000) {
            let mut models = Vec::with_capacity(batch.len());
            let mut links = Vec::new();
            let mut incidents = Vec::new();
            let mut decisions = Vec::new();
            for row in batch {
                use chrono::Datelike;
                let year = row.created_at.year();
                let next = sequence.entry(year).or_insert(0);
                *next += 1;
                let id = Uuid::now_v7();
                let number = format!("CR-{year}-{next:07}");
                models.push(import::active_model(policy, row, id, &number, requester));
                decisions.extend(import::board_decision_model(row, id));
                for name in &row.system_names {
                    if let Some(system_id) = system_ids.get(name.as_str()) {
                        links.push(change_system::ActiveModel {
                            change_id: Set(id),
                            system_id: Set(*system_id),
                        });
                    }
                }
                if let Some(priority) = row.incident_priority() {
                    incidents.push(incident::ActiveModel {
                        id: Set(Uuid::now_v7()),
                        change_id: Set(Some(id)),
                        deployment_id: Set(None),
                        priority: Set(priority),
                        title: Set(format!("Incident on {number}")),
                        description: Set(row.rollback_reason.clone()),
                        opened_by: Set(requester),
                        opened_at: Set(row.actual_end.unwrap_or(row.created_at)),
                        resolved_at: Set(None),
                        restored_at: Set(None),
                        resolution: Set(None),
                        resolved_by: Set(None),
                    });
                }
            }
            change::Entity::insert_many(models).exec(&txn).await?;
            if !links.is_empty() {
                change_system::Entity::insert_many(links).exec(&txn).await?;
            }
            if !incidents.is_empty() {
                incident::Entity::insert_many(incidents).exec(&txn).await?;
            }
            if !decisions.is_empty() {
                board_decision::Entity::insert_many(decisions)
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
    }
    db.execute_unprepared("ANALYZE").await?;
    println!(
        "bulk-loaded {changes} changes into PostgreSQL in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    measure_load(db, from, end, options).await
}

/// The DORA inputs, written by the server from the changes already there.
async fn seed_deliveries(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    let started = Instant::now();
    db.execute_unprepared(
        "INSERT INTO deployments (id, external_id, change_id, change_number, environment, production,            commit_time, started_at, finished_at, status, source, exception_reason, exception_at, recorded_at, updated_at)          SELECT gen_random_uuid(), 'bench-' || id, id, number, 'production', true,            actual_start - interval '6 hours', actual_start, actual_end, 'SUCCESS', 'IMPORT',            CASE WHEN abs(hashtext(id::text)) % 20 = 0 THEN 'bench exception' END,            CASE WHEN abs(hashtext(id::text)) % 20 = 0 THEN actual_start END, now(), now()          FROM changes WHERE outcome IS NOT NULL AND actual_start IS NOT NULL AND abs(hashtext(id::text)) % 5 = 0;          UPDATE incidents SET restored_at = opened_at + (1 + abs(hashtext(id::text)) % 16) * interval '1 hour',            resolved_at = opened_at + interval '17 hours', resolution = 'bench'",
    )
    .await?;
    // One statement each: VACUUM runs outside a transaction block.
    db.execute_unprepared("VACUUM ANALYZE deployments").await?;
    db.execute_unprepared("VACUUM ANALYZE incidents").await?;
    let count = |table: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no count"))?;
            anyhow::Ok(row.try_get::<i64>("", "n")?)
        }
    };
    println!(
        "seeded {} deployments and restored {} incidents in {:.1} s",
        count("deployments").await?,
        count("incidents WHERE restored_at IS NOT NULL").await?,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// (b): three runs of load + compute, as the `metrics` query does.
async fn measure_load(
    db: sea_orm::DatabaseConnection,
    from: DateTime<Utc>,
    end: DateTime<Utc>,
    options: &reports::MetricsOptions,
) -> anyhow::Result<()> {
    for run in 0..3 {
        let started = Instant::now();
        let frames = metrics::load_frames(&db, from, end).await?;
        let loaded = started.elapsed();
        let (periods, digest) = compute_both(&frames, from, end, options)?;
        println!(
            "(b) PostgreSQL load + polars monthly + quarterly, run {run}: {:.0} ms (load {:.0} ms, {} implemented, {} deployments, {} restored incidents, {periods} periods, digest {digest})",
            started.elapsed().as_secs_f64() * 1000.0,
            loaded.as_secs_f64() * 1000.0,
            frames.changes.height(),
            frames.deployments.height(),
            frames.restorations.height()
        );
    }
    db.close().await?;
    Ok(())
}

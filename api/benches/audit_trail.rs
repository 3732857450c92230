//! Audit trail benchmarks (a plain harness: these are whole-system
//! measurements against a real database, not micro-benchmarks).
//!
//! ```sh
//! # (a) mutation throughput with and without the audit append
//! cargo bench -p api --bench audit_trail -- throughput [--mutations 2000] [--writers 1] [--postgres URL]
//! # (b) verification of N events generated straight into the database
//! cargo bench -p api --bench audit_trail -- verify [--events 1000000] [--postgres URL]
//! ```
//!
//! Without `--postgres` the database is a fresh SQLite file in the temporary
//! directory (WAL, synchronous=FULL, as `serve` opens it). With `--postgres
//! postgres://postgres@127.0.0.1:5432/postgres` a fresh database is created
//! on that server and dropped afterwards. Results and the machine they were
//! taken on are recorded in docs/benchmarks.md.

use std::time::{Duration, Instant};

use api::{
    db::{self, QueryCounter},
    domain::audit_chain::{self, EventContent, GENESIS_HASH},
    service::{Caller, systems},
    store::audit,
};
use entity::{audit_event, system};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, Set, TransactionTrait,
};
use uuid::Uuid;

struct Target {
    url: String,
    /// PostgreSQL: the server URL and the database to drop at the end.
    cleanup: Option<(String, String)>,
}

async fn fresh_database(postgres: Option<&str>) -> anyhow::Result<Target> {
    let name = format!("gh_bench_{}", Uuid::new_v4().simple());
    match postgres {
        Some(admin_url) => {
            let admin = Database::connect(admin_url).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            admin.close().await?;
            let (server, _) = admin_url
                .rsplit_once('/')
                .ok_or_else(|| anyhow::anyhow!("the PostgreSQL URL must end in /DATABASE"))?;
            Ok(Target {
                url: format!("{server}/{name}"),
                cleanup: Some((admin_url.to_owned(), name)),
            })
        }
        None => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            Ok(Target {
                url: format!("sqlite://{}?mode=rwc", path.display()),
                cleanup: None,
            })
        }
    }
}

async fn drop_database(target: &Target) -> anyhow::Result<()> {
    if let Some((admin_url, name)) = &target.cleanup {
        let admin = Database::connect(admin_url.as_str()).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        admin.close().await?;
    } else if let Some(path) = target
        .url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
    {
        for suffix in ["", "-wal", "-shm"] {
            std::fs::remove_file(format!("{path}{suffix}")).ok();
        }
    }
    Ok(())
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let postgres = arg(&args, "--postgres");
    if args.iter().any(|a| a == "throughput") {
        let mutations = arg(&args, "--mutations").map_or(Ok(2000), |n| n.parse())?;
        let writers = arg(&args, "--writers").map_or(Ok(1), |n| n.parse())?;
        throughput(postgres.as_deref(), mutations, writers).await
    } else if args.iter().any(|a| a == "verify") {
        let events = arg(&args, "--events").map_or(Ok(1_000_000), |n| n.parse())?;
        verify(postgres.as_deref(), events).await
    } else {
        // `cargo bench` without arguments (e.g. in a full bench run) does
        // the quick version of both on SQLite.
        throughput(None, 500, 1).await?;
        verify(None, 100_000).await
    }
}

/// The `createSystem` mutation's transaction as the service runs it, minus
/// the audit append: the baseline the audit cost is measured against.
async fn create_system_without_audit(db: &DatabaseConnection, name: &str) -> anyhow::Result<()> {
    let txn = db.begin().await?;
    let taken = system::Entity::find()
        .filter(system::Column::Name.eq(name))
        .count(&txn)
        .await?;
    anyhow::ensure!(taken == 0, "name taken");
    system::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        description: Set(None),
        parent_id: Set(None),
        team: Set(None),
        created_at: Set(db::now()),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

async fn run_round(
    db: &DatabaseConnection,
    with_audit: bool,
    round: usize,
    mutations: usize,
    writers: usize,
) -> anyhow::Result<Duration> {
    let caller = Caller::Operator {
        label: "cli:bench".into(),
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let db = db.clone();
            let caller = caller.clone();
            tokio::spawn(async move {
                for i in (writer..mutations).step_by(writers) {
                    let name = format!("r{round}-{with_audit}-{i}");
                    if with_audit {
                        systems::create(&db, &caller, &name, None, None, None).await?;
                    } else {
                        create_system_without_audit(&db, &name).await?;
                    }
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    if with_audit {
        // The round ends when every event is in the chain: the sealer's
        // work counts against the audit, not just the writers'.
        audit::seal(db).await?;
    }
    Ok(started.elapsed())
}

async fn throughput(
    postgres: Option<&str>,
    mutations: usize,
    writers: usize,
) -> anyhow::Result<()> {
    let target = fresh_database(postgres).await?;
    let db = db::connect(&target.url, &QueryCounter::default()).await?;
    db::migrate_up(&db).await?;
    // As `serve` runs: on PostgreSQL a sealer task links committed events.
    let sealer = audit::spawn_sealer(&db);
    // Warm up the pool and the caches, then alternate the two variants so
    // drift (other load on the machine, checkpoints) hits both alike.
    run_round(&db, true, 0, 100.min(mutations), writers).await?;
    run_round(&db, false, 0, 100.min(mutations), writers).await?;
    let (mut with, mut without) = (Duration::ZERO, Duration::ZERO);
    const ROUNDS: usize = 4;
    for round in 1..=ROUNDS {
        without += run_round(&db, false, round, mutations / ROUNDS, writers).await?;
        with += run_round(&db, true, round, mutations / ROUNDS, writers).await?;
    }
    let n = (mutations / ROUNDS * ROUNDS) as f64;
    let rate_with = n / with.as_secs_f64();
    let rate_without = n / without.as_secs_f64();
    println!(
        "throughput {} writers={writers} mutations={n}: without audit {rate_without:.0}/s, with audit {rate_with:.0}/s, ratio {:.3}",
        db::backend_name(&db),
        rate_with / rate_without
    );
    if let Some(sealer) = sealer {
        sealer.abort();
    }
    db.close().await?;
    drop_database(&target).await
}

async fn verify(postgres: Option<&str>, events: i64) -> anyhow::Result<()> {
    let target = fresh_database(postgres).await?;
    let db = db::connect(&target.url, &QueryCounter::default()).await?;
    db::migrate_up(&db).await?;
    let started = Instant::now();
    generate(&db, events).await?;
    println!(
        "generated {events} events into {} in {:.1} s",
        db::backend_name(&db),
        started.elapsed().as_secs_f64()
    );
    for run in 1..=3 {
        let started = Instant::now();
        let outcome = audit::verify(&db, None, api::domain::budget::Deadline::unbounded()).await?;
        let elapsed = started.elapsed();
        match outcome {
            audit::Verification::Intact { events: n, .. } if n == events => {}
            other => anyhow::bail!("unexpected verification outcome {other:?}"),
        }
        println!(
            "verify {} run {run}: {events} events in {:.2} s ({:.0} events/s)",
            db::backend_name(&db),
            elapsed.as_secs_f64(),
            events as f64 / elapsed.as_secs_f64()
        );
    }
    // Where the time goes: reading the rows alone, and hashing alone.
    let started = Instant::now();
    let rows = read_all(&db).await?;
    println!(
        "  of which reading {} rows as tuples: {:.2} s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let mut verifier = audit_chain::ChainVerifier::default();
    for (seq, at, actor, label, action, kind, id, payload, prev, hash) in &rows {
        let content = EventContent {
            seq: *seq,
            occurred_at: *at,
            actor_id: *actor,
            actor_label: label,
            action,
            entity_type: kind,
            entity_id: id,
            payload,
            prev_hash: prev,
        };
        verifier
            .check(&content, hash)
            .map_err(|b| anyhow::anyhow!("{b:?}"))?;
    }
    println!(
        "  of which hashing in memory: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    db.close().await?;
    drop_database(&target).await
}

type Row = (
    i64,
    chrono::DateTime<chrono::Utc>,
    Option<Uuid>,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

async fn read_all(db: &DatabaseConnection) -> anyhow::Result<Vec<Row>> {
    use audit_event::Column;
    use sea_orm::{QueryOrder, QuerySelect};
    let mut rows: Vec<Row> = Vec::new();
    loop {
        let after = rows.last().map_or(0, |r| r.0);
        let batch: Vec<Row> = audit_event::Entity::find()
            .select_only()
            .columns([
                Column::Seq,
                Column::OccurredAt,
                Column::ActorId,
                Column::ActorLabel,
                Column::Action,
                Column::EntityType,
                Column::EntityId,
                Column::Payload,
                Column::PrevHash,
                Column::Hash,
            ])
            .filter(Column::Seq.gt(after))
            .order_by_asc(Column::Seq)
            .limit(20_000)
            .into_tuple()
            .all(db)
            .await?;
        if batch.is_empty() {
            return Ok(rows);
        }
        rows.extend(batch);
    }
}

/// Writes a valid chain of `events` realistic events (payloads shaped like
/// `change.updated` diffs) with multi-row inserts.
async fn generate(db: &DatabaseConnection, events: i64) -> anyhow::Result<()> {
    const CHUNK: i64 = 2000;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let start = chrono::Utc::now() - chrono::Duration::days(365);
    let actor = Uuid::now_v7();
    let txn = db.begin().await?;
    let mut seq = 1;
    while seq <= events {
        let end = (seq + CHUNK - 1).min(events);
        let mut rows = Vec::with_capacity(CHUNK as usize);
        for s in seq..=end {
            let occurred_at = db::now().min(start + chrono::Duration::seconds(s * 30));
            let occurred_at = chrono::SubsecRound::trunc_subsecs(occurred_at, 6);
            let entity_id = Uuid::now_v7().to_string();
            let payload = audit_chain::canonical_json(&serde_json::json!({
                "number": format!("CR-2026-{:04}", s % 10_000),
                "version": s % 7 + 1,
                "changes": {"title": {"before": "Rotate TLS certificates", "after": format!("Rotate TLS certificates ({s})")}},
            }));
            let content = EventContent {
                seq: s,
                occurred_at,
                actor_id: Some(actor),
                actor_label: "ada@example.com",
                action: "change.updated",
                entity_type: "change",
                entity_id: &entity_id,
                payload: &payload,
                prev_hash: &prev_hash,
            };
            let hash = audit_chain::event_hash(&content);
            rows.push(audit_event::ActiveModel {
                seq: Set(s),
                occurred_at: Set(occurred_at),
                actor_id: Set(Some(actor)),
                actor_label: Set("ada@example.com".into()),
                action: Set("change.updated".into()),
                entity_type: Set("change".into()),
                entity_id: Set(entity_id),
                payload: Set(payload),
                prev_hash: Set(std::mem::replace(&mut prev_hash, hash.clone())),
                hash: Set(hash),
            });
        }
        audit_event::Entity::insert_many(rows).exec(&txn).await?;
        seq = end + 1;
    }
    txn.commit().await?;
    Ok(())
}

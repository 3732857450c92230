//! The auditor's population and sample: complete and provably so, drawn
//! reproducibly, and redrawn offline by scripts/audit_sample.py.

use std::process::Command;

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, error_code, python},
    import::{gatehouse, setup, succeeded},
};

const POPULATION: &str = "query($from: DateTime!, $to: DateTime!, $offset: Int, $first: Int) {
    auditPopulation(from: $from, to: $to) { count digest chainHead { seq hash }
      members(offset: $offset, first: $first) { id uuid number version type status strata } } }";

const SAMPLE: &str =
    "query($from: DateTime!, $to: DateTime!, $size: Int!, $seed: String!, $over: [AuditStratum!]) {
    auditSample(from: $from, to: $to, size: $size, seed: $seed, oversample: $over) {
      seed population { count digest }
      draws { position drawKey drawnForStratum drawnForType member { uuid number type strata change { number controls { verdict } } } } } }";

const FROM: &str = "2026-08-01T00:00:00Z";
const TO: &str = "2026-11-01T00:00:00Z";

/// Demo history over the six months to 2026-11-01, and an auditor's token.
fn history(database_url: &str) -> String {
    succeeded(&gatehouse(
        database_url,
        &[
            "demo-data",
            "--changes",
            "400",
            "--months",
            "6",
            "--seed",
            "7",
            "--end",
            "2026-11-01T00:00:00Z",
        ],
    ));
    succeeded(&gatehouse(
        database_url,
        &[
            "users",
            "add",
            "--name",
            "Audrey",
            "--email",
            "audrey@example.com",
            "--roles",
            "auditor",
        ],
    ));
    succeeded(&gatehouse(
        database_url,
        &["tokens", "issue", "--user", "audrey@example.com"],
    ))
    .trim()
    .to_owned()
}

/// The whole population, page by page.
async fn population(app: &TestApp, auditor: &str) -> (Value, Vec<Value>) {
    let mut members = Vec::new();
    loop {
        let data = app
            .data(
                auditor,
                POPULATION,
                json!({"from": FROM, "to": TO, "offset": members.len(), "first": 100}),
            )
            .await;
        let page = data["auditPopulation"]["members"]
            .as_array()
            .unwrap()
            .clone();
        let done = page.len() < 100;
        members.extend(page);
        if done {
            return (data["auditPopulation"].clone(), members);
        }
    }
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

async fn count_touching(app: &TestApp) -> i64 {
    use sea_orm::ConnectionTrait;
    let sql = format!(
        "SELECT COUNT(*) AS n FROM changes WHERE {}",
        ["created_at", "actual_start", "actual_end", "closed_at"]
            .map(|c| format!("({c} >= '{FROM}' AND {c} < '{TO}')"))
            .join(" OR ")
    );
    let backend = app.db.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Sqlite {
        // SQLite compares the stored text: the bounds in its format.
        sql.replace("T00:00:00Z", "T00:00:00+00:00")
    } else {
        sql
    };
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(backend, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

#[tokio::test]
async fn the_population_is_complete_and_its_digest_proves_it() {
    let (database_url, app, token) = setup().await;
    let auditor = history(&database_url);
    let (head, members) = population(&app, &auditor).await;
    let count = head["count"].as_i64().unwrap();
    assert_eq!(count, count_touching(&app).await);
    assert_eq!(members.len() as i64, count);
    assert!(count > 150, "{count}");
    // The digest as documented, recomputed from the members.
    let lines: String = members
        .iter()
        .map(|m| format!("{},{}\n", m["uuid"].as_str().unwrap(), m["version"]))
        .collect();
    assert_eq!(head["digest"], json!(sha256_hex(&lines)));
    assert_eq!(
        members[0]["id"],
        json!(format!("Change:{}", members[0]["uuid"].as_str().unwrap()))
    );
    let strata: Vec<&str> = members
        .iter()
        .flat_map(|m| m["strata"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    assert!(strata.contains(&"EMERGENCY"), "{strata:?}");
    // The chain head is the trail's last event.
    let last = app
        .data(
            &auditor,
            "{ auditEvents(last: 1) { edges { node { seq hash } } } }",
            json!({}),
        )
        .await;
    assert_eq!(head["chainHead"], last["auditEvents"]["edges"][0]["node"]);

    // Asked again, the same proof. A change written since, outside the
    // period, leaves the digest and moves the head.
    let (again, _) = population(&app, &auditor).await;
    assert_eq!(again, head);
    app.create_change(&token, json!({"title": "After the fact"}))
        .await;
    let (later, _) = population(&app, &auditor).await;
    assert_eq!(later["digest"], head["digest"]);
    assert_eq!(later["count"], head["count"]);
    assert_ne!(later["chainHead"], head["chainHead"]);
}

#[tokio::test]
async fn a_seeded_sample_is_redrawn_the_same_and_offline() {
    let (database_url, app, token) = setup().await;
    let auditor = history(&database_url);
    let sample = |seed: &str, over: Value| {
        let (app, auditor) = (&app, &auditor);
        let seed = seed.to_owned();
        async move {
            app.data(
                auditor,
                SAMPLE,
                json!({"from": FROM, "to": TO, "size": 25, "seed": seed, "over": over}),
            )
            .await["auditSample"]
                .clone()
        }
    };
    let over = json!(["EMERGENCY", "ROLLED_BACK"]);
    let first = sample("FY2026-Q3", over.clone()).await;
    assert_eq!(first, sample("FY2026-Q3", over.clone()).await);
    let draws = first["draws"].as_array().unwrap();
    assert_eq!(draws.len(), 25);
    let uuids: Vec<&str> = draws
        .iter()
        .map(|d| d["member"]["uuid"].as_str().unwrap())
        .collect();
    let unique: std::collections::BTreeSet<&str> = uuids.iter().copied().collect();
    assert_eq!(unique.len(), 25);
    // Each drawn change with its verdicts, loaded for the whole sample.
    for draw in draws {
        let member = &draw["member"];
        assert_eq!(member["change"]["number"], member["number"]);
        assert_eq!(member["change"]["controls"].as_array().unwrap().len(), 8);
    }
    let other = sample("another seed", over.clone()).await;
    assert_ne!(other["draws"], first["draws"]);

    // Over-sampled: each of the two strata takes ceil(25 / 4) = 7 of its
    // changes (all of them where it has fewer); types share the rest.
    let (head, members) = population(&app, &auditor).await;
    let in_stratum = |name: &str| {
        members
            .iter()
            .filter(|m| m["strata"].as_array().unwrap().contains(&json!(name)))
            .count()
    };
    let for_stratum = |name: &str| {
        draws
            .iter()
            .filter(|d| d["drawnForStratum"] == name)
            .count()
    };
    let emergencies = in_stratum("EMERGENCY");
    assert!(emergencies > 0);
    assert_eq!(for_stratum("EMERGENCY"), emergencies.min(7));
    assert_eq!(for_stratum("ROLLED_BACK"), in_stratum("ROLLED_BACK").min(7));
    assert!(
        draws
            .iter()
            .all(|d| d["drawnForStratum"].is_null() != d["drawnForType"].is_null())
    );

    // The auditor redraws it from the population file and the seed.
    let file = std::env::temp_dir().join(format!("gh_population_{}.json", uuid::Uuid::new_v4()));
    let population = json!({"digest": head["digest"], "members": members});
    std::fs::write(&file, population.to_string()).unwrap();
    let redraw = |oversample: &str| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/audit_sample.py");
        Command::new(python())
            .args([
                script,
                file.to_str().unwrap(),
                "--size",
                "25",
                "--seed",
                "FY2026-Q3",
            ])
            .args(["--oversample", oversample])
            .output()
            .expect("python runs")
    };
    let output = redraw("EMERGENCY,ROLLED_BACK");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let redrawn: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(redrawn, uuids);
    // A population that does not match its digest is refused.
    let mut tampered = population.clone();
    tampered["members"].as_array_mut().unwrap().pop();
    std::fs::write(&file, tampered.to_string()).unwrap();
    let refused = redraw("EMERGENCY,ROLLED_BACK");
    assert!(!refused.status.success());
    std::fs::remove_file(&file).ok();

    // For auditors and admins; bad requests are VALIDATION.
    let forbidden = app
        .graphql(
            &token,
            SAMPLE,
            json!({"from": FROM, "to": TO, "size": 5, "seed": "x"}),
        )
        .await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN", "{forbidden}");
    for (size, seed, to) in [(0, "x", TO), (5, "", TO), (5, "x", FROM)] {
        let refused = app
            .graphql(
                &auditor,
                SAMPLE,
                json!({"from": FROM, "to": to, "size": size, "seed": seed}),
            )
            .await;
        assert_eq!(error_code(&refused), "VALIDATION", "{size} {seed:?} {to}");
    }
}

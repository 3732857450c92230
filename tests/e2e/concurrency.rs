use std::collections::BTreeSet;

use chrono::{Datelike, Utc};
use futures::future::join_all;
use serde_json::json;

use crate::helpers::{CHANGE_FIELDS, spawn_app};

/// Change numbers are unique and gap-free even when many clients create
/// changes at the same moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_get_unique_gap_free_numbers() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let create = format!(
        "mutation($input: CreateChangeInput!) {{ createChange(input: $input) {{ {CHANGE_FIELDS} }} }}"
    );
    let requests = (0..24).map(|index| {
        let app = &app;
        let create = create.clone();
        let token = ada.token.clone();
        async move {
            app.data(
                &token,
                &create,
                json!({"input": {"title": format!("Concurrent {index}"), "description": "D", "businessJustification": "B",
                                 "type": "standard", "likelihood": 1, "impact": 1}}),
            )
            .await["createChange"]["number"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    });
    let numbers: BTreeSet<String> = join_all(requests).await.into_iter().collect();
    let year = Utc::now().year();
    let expected: BTreeSet<String> = (1..=24).map(|n| format!("CR-{year}-{n:04}")).collect();
    assert_eq!(numbers, expected);
}

/// Two editors holding the same version: exactly one wins, the other gets
/// CONFLICT, and the stored version moved by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_edits_of_one_version_never_both_land() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let change = app.create_change(&ada.token, json!({})).await;
    let update = "mutation($id: ID!, $input: UpdateChangeInput!) { updateChange(id: $id, expectedVersion: 1, input: $input) { version } }";
    let attempts = (0..8).map(|index| {
        let app = &app;
        let token = ada.token.clone();
        let id = change["id"].clone();
        async move {
            app.graphql(
                &token,
                update,
                json!({"id": id, "input": {"title": format!("Edit {index}")}}),
            )
            .await
        }
    });
    let responses = join_all(attempts).await;
    let winners = responses
        .iter()
        .filter(|r| r.get("errors").is_none())
        .count();
    let conflicts = responses
        .iter()
        .filter(|r| r["errors"][0]["extensions"]["code"] == "CONFLICT")
        .count();
    assert_eq!((winners, conflicts), (1, 7), "{responses:#?}");
    let stored = app
        .data(
            &ada.token,
            "query($id: ID) { change(id: $id) { version } }",
            json!({"id": change["id"]}),
        )
        .await;
    assert_eq!(stored["change"]["version"], 2);
}

//! Relay object identification: every object's `id` is a global id
//! (`Type:uuid`), `node(id:)` and `nodes(ids:)` refetch by it under the
//! permissions of the lists that show the object, and id arguments take
//! the global id or the bare uuid.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, error_code, spawn_app, uuid_of};

const NODE: &str = "query($id: ID!) { node(id: $id) { __typename id
    ... on Change { number title } ... on System { name } ... on User { email } ... on ApiToken { name } } }";

const NIL: &str = "00000000-0000-0000-0000-000000000000";

#[tokio::test]
async fn every_object_is_refetched_by_its_global_id() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let system = app.system("billing", None).await;
    let change = app
        .create_change(
            &ada.token,
            json!({"title": "Refetch me", "systemIds": [system]}),
        )
        .await;
    let change_id = change["id"].as_str().unwrap();
    assert_eq!(change_id, format!("Change:{}", uuid_of(change_id)));
    assert!(system.starts_with("System:") && ada.id.starts_with("User:"));

    let node = app.data(&ada.token, NODE, json!({"id": change_id})).await;
    assert_eq!(
        node["node"],
        json!({"__typename": "Change", "id": change_id, "number": change["number"], "title": "Refetch me"})
    );
    let node = app.data(&ada.token, NODE, json!({"id": system})).await;
    assert_eq!(
        node["node"],
        json!({"__typename": "System", "id": system, "name": "billing"})
    );
    let me = app.data(&ada.token, NODE, json!({"id": ada.id})).await;
    assert_eq!(me["node"]["email"], json!(ada.email));

    // Many at once, in the order asked, null where nothing has the id —
    // including a change's uuid under another type.
    let nodes = app
        .data(
            &ada.token,
            "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
            json!({"ids": [system, change_id, format!("Change:{NIL}"),
                format!("System:{}", uuid_of(change_id))]}),
        )
        .await;
    assert_eq!(
        nodes["nodes"],
        json!([{"__typename": "System", "id": system},
            {"__typename": "Change", "id": change_id}, null, null])
    );

    // The objects a change names carry global ids too.
    let nested = app
        .data(
            &ada.token,
            "query($id: ID!) { change(id: $id) { requester { id } systems { id } } }",
            json!({"id": change_id}),
        )
        .await;
    assert_eq!(nested["change"]["requester"]["id"], json!(ada.id));
    assert_eq!(nested["change"]["systems"][0]["id"], json!(system));
}

#[tokio::test]
async fn ids_are_read_in_either_form_and_the_wrong_type_is_named() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let change = app
        .create_change(&ada.token, json!({"title": "Either form"}))
        .await;
    let change_id = change["id"].as_str().unwrap();
    let query = "query($id: ID!) { change(id: $id) { id } }";
    let bare = app
        .data(
            &ada.token,
            query,
            json!({"id": uuid_of(change_id).to_string()}),
        )
        .await;
    assert_eq!(bare["change"]["id"], json!(change_id));

    let as_system = app
        .graphql(
            &ada.token,
            query,
            json!({"id": format!("System:{}", uuid_of(change_id))}),
        )
        .await;
    assert_eq!(error_code(&as_system), "VALIDATION");
    assert_eq!(
        as_system["errors"][0]["message"],
        "id: is the id of a System, not of a Change"
    );
    for id in [
        format!("Gadget:{NIL}"),
        "Change:nope".to_owned(),
        uuid_of(change_id).to_string(),
    ] {
        let refused = app.graphql(&ada.token, NODE, json!({"id": id})).await;
        assert_eq!(error_code(&refused), "VALIDATION", "{id}: {refused}");
    }

    // The audit trail stores bare uuids; its filter takes either.
    let events = |entity_id: String| {
        let app = &app;
        async move {
            app.data(
                ADMIN_TOKEN,
                "query($id: String) { auditEvents(filter: {entityId: $id}) { totalCount } }",
                json!({"id": entity_id}),
            )
            .await["auditEvents"]["totalCount"]
                .clone()
        }
    };
    assert_eq!(events(change_id.to_owned()).await, json!(1));
    assert_eq!(events(uuid_of(change_id).to_string()).await, json!(1));
}

#[tokio::test]
async fn node_reads_under_the_permissions_of_the_lists_that_show_the_object() {
    let app = spawn_app().await;
    let ada = app.user("Ada", &["requester"]).await;
    let bob = app.user("Bob", &["requester"]).await;
    let auditor = app.user("Audrey", &["auditor"]).await;
    let token = app
        .data(
            &ada.token,
            "mutation { issueToken(name: \"ci\") { token { id } } }",
            json!({}),
        )
        .await["issueToken"]["token"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let forbidden = |caller: String, id: String| {
        let app = &app;
        async move {
            let answer: Value = app.graphql(&caller, NODE, json!({"id": id})).await;
            error_code(&answer).to_owned()
        }
    };
    // Another account, its credentials and the webhooks are not a
    // requester's to read; whether the row exists makes no difference.
    assert_eq!(
        forbidden(bob.token.clone(), ada.id.clone()).await,
        "FORBIDDEN"
    );
    assert_eq!(
        forbidden(bob.token.clone(), token.clone()).await,
        "FORBIDDEN"
    );
    assert_eq!(
        forbidden(bob.token.clone(), format!("ApiToken:{NIL}")).await,
        "FORBIDDEN"
    );
    assert_eq!(
        forbidden(bob.token.clone(), format!("Webhook:{NIL}")).await,
        "FORBIDDEN"
    );

    // Their owner and the auditor read them.
    let own = app.data(&ada.token, NODE, json!({"id": token})).await;
    assert_eq!(
        own["node"],
        json!({"__typename": "ApiToken", "id": token, "name": "ci"})
    );
    let audited = app.data(&auditor.token, NODE, json!({"id": ada.id})).await;
    assert_eq!(audited["node"]["email"], json!(ada.email));
    let none = app
        .data(
            &auditor.token,
            NODE,
            json!({"id": format!("Webhook:{NIL}")}),
        )
        .await;
    assert_eq!(none["node"], Value::Null);

    let unauthenticated = app.graphql("", NODE, json!({"id": ada.id})).await;
    assert_eq!(error_code(&unauthenticated), "UNAUTHENTICATED");
}

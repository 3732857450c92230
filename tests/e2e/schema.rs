/// The committed SDL is the API contract reviewers see; it must match the
/// code. Regenerate with `cargo run -- schema > api/schema.graphql`.
#[test]
fn committed_schema_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api/schema.graphql"))
            .expect("api/schema.graphql exists");
    assert!(
        committed == api::graphql::sdl(),
        "api/schema.graphql is out of date: run `cargo run -- schema > api/schema.graphql`"
    );
}

/// Every `"query"` of the README's requests, as the JSON string it is.
fn readme_operations() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md exists");
    let mut operations = Vec::new();
    let mut rest = readme.as_str();
    while let Some(at) = rest.find("\"query\"") {
        rest = &rest[at + "\"query\"".len()..];
        let value = rest.trim_start().trim_start_matches(':').trim_start();
        let mut strings = serde_json::Deserializer::from_str(value).into_iter::<String>();
        if let Some(Ok(operation)) = strings.next() {
            operations.push(operation);
        }
    }
    operations
}

/// GraphQL Code Generator, as a TypeScript dashboard would run it, types
/// the README's operations against the committed schema, and the strict
/// TypeScript compiler accepts what it wrote: closed sets are enums, every
/// custom scalar is mapped.
#[test]
fn graphql_code_generator_types_the_readme_operations() {
    crate::subscriptions::ensure_node_modules();
    let operations = readme_operations();
    assert!(operations.len() >= 3, "{operations:?}");
    let dir = std::env::temp_dir().join(format!("gh-codegen-{}", uuid::Uuid::new_v4()));
    let documents = dir.join("documents");
    std::fs::create_dir_all(&documents).unwrap();
    for (n, operation) in operations.iter().enumerate() {
        std::fs::write(documents.join(format!("readme_{n}.graphql")), operation).unwrap();
    }
    let output = std::process::Command::new("node")
        .arg("codegen.mjs")
        .current_dir(crate::subscriptions::node_dir())
        .env(
            "SCHEMA",
            concat!(env!("CARGO_MANIFEST_DIR"), "/api/schema.graphql"),
        )
        .env("DOCUMENTS", &documents)
        .env("OUT", &dir)
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let types = std::fs::read_to_string(dir.join("schema.ts")).unwrap();
    let operations = std::fs::read_to_string(dir.join("operations.ts")).unwrap();
    for name in [
        "CreateUserMutation",
        "FileChangeMutation",
        "DraftChangesQuery",
    ] {
        assert!(
            operations.contains(&format!("export type {name} ")),
            "{name}"
        );
    }
    // Closed sets reach TypeScript as enums, not strings.
    for enum_type in [
        "export enum ChangeStatus",
        "export enum MetricName",
        "export enum CalendarRuleKind",
        "export enum TargetComparison",
    ] {
        assert!(types.contains(enum_type), "{enum_type}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

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

//! A bounded, non-recursive look at a request, taken before anything reads
//! it recursively: how deep its JSON and its GraphQL document nest, and
//! which operations the document defines.
//!
//! The GraphQL parser and serde_json both recurse once per nesting level,
//! so a few kilobytes of `[[[[...` would exhaust a worker's stack and abort
//! the process. Both scanners here are single loops over the bytes, so
//! they cost time linear in the (already size-capped) request and no stack,
//! and they run before authentication: a stranger's request is refused
//! before it costs more than reading it once.

/// The deepest nesting a request may have: of `{`, `[` and `(` in a GraphQL
/// document, or of `{` and `[` in a JSON body (variables included). The
/// deepest legitimate Gatehouse request nests some 25 levels (a selection
/// set at the depth limit with an input object argument); the stack holds
/// thousands. 64 leaves room for clients that wrap operations generously.
pub const MAX_NESTING: usize = 64;

/// The request nests deeper than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    pub limit: usize,
}

impl TooDeep {
    pub fn message(&self, what: &str) -> String {
        format!("the {what} nests more than {} levels deep", self.limit)
    }
}

/// Fails when the JSON text nests `{`/`[` deeper than `limit` outside
/// strings. Says nothing about whether the text is valid JSON (the parser
/// that runs next does).
pub fn check_json_nesting(text: &[u8], limit: usize) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(TooDeep { limit });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

/// An operation a document defines, as the scanner saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationHead {
    pub kind: OperationKind,
    pub name: Option<String>,
}

/// What the scanner learnt about a document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentShape {
    pub operations: Vec<OperationHead>,
}

impl DocumentShape {
    /// The kind of the operation a request runs: the named one, or the
    /// document's only one. `None` when that is ambiguous or absent (the
    /// schema then reports the error).
    pub fn selected(&self, operation_name: Option<&str>) -> Option<OperationKind> {
        match (self.operations.as_slice(), operation_name) {
            ([only], None) => Some(only.kind),
            (operations, Some(name)) => operations
                .iter()
                .find(|op| op.name.as_deref() == Some(name))
                .map(|op| op.kind),
            _ => None,
        }
    }
}

/// What the definition being read at the top level is.
enum Header {
    None,
    Operation(OperationHead),
    Fragment,
}

/// Scans a GraphQL document: fails when `{`, `[` and `(` nest deeper than
/// `limit` outside strings and comments, and otherwise lists the
/// operations defined at the top level (a document the parser later
/// rejects may be listed oddly; it is never executed).
pub fn scan_document(text: &str, limit: usize) -> Result<DocumentShape, TooDeep> {
    let bytes = text.as_bytes();
    let mut shape = DocumentShape::default();
    let mut depth = 0usize;
    let mut header = Header::None;
    // True right after `query`/`mutation`/`subscription`: the next name
    // token is the operation's name.
    let mut expect_name = false;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i = skip_block_string(bytes, i + 3);
                expect_name = false;
                continue;
            }
            b'"' => {
                i = skip_string(bytes, i + 1);
                expect_name = false;
                continue;
            }
            b'{' | b'[' | b'(' => {
                if depth == 0 && byte == b'{' {
                    match std::mem::replace(&mut header, Header::None) {
                        Header::Operation(operation) => shape.operations.push(operation),
                        Header::Fragment => {}
                        // The query shorthand: `{ me { id } }`.
                        Header::None => shape.operations.push(OperationHead {
                            kind: OperationKind::Query,
                            name: None,
                        }),
                    }
                }
                depth += 1;
                if depth > limit {
                    return Err(TooDeep { limit });
                }
                expect_name = false;
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                expect_name = false;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9')
                {
                    i += 1;
                }
                if depth == 0 {
                    let name = &text[start..i];
                    let kind = match name {
                        "query" => Some(OperationKind::Query),
                        "mutation" => Some(OperationKind::Mutation),
                        "subscription" => Some(OperationKind::Subscription),
                        _ => None,
                    };
                    match (&mut header, kind) {
                        (Header::None, Some(kind)) => {
                            header = Header::Operation(OperationHead { kind, name: None });
                            expect_name = true;
                            continue;
                        }
                        (Header::None, None) if name == "fragment" => header = Header::Fragment,
                        (Header::Operation(operation), _) if expect_name => {
                            operation.name = Some(name.to_owned());
                        }
                        _ => {}
                    }
                }
                expect_name = false;
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {}
            _ => expect_name = false,
        }
        i += 1;
    }
    Ok(shape)
}

/// The index after a `"` string starting at `i` (just past the quote).
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            // A string cannot span lines; the parser reports it.
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after a `"""` block string whose body starts at `i`.
fn skip_block_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(OperationKind, Option<String>)> {
        scan_document(text, MAX_NESTING)
            .unwrap()
            .operations
            .into_iter()
            .map(|op| (op.kind, op.name))
            .collect()
    }

    #[test]
    fn json_nesting_counts_brackets_outside_strings() {
        assert!(check_json_nesting(br#"{"a": [[1]]}"#, 3).is_ok());
        assert_eq!(
            check_json_nesting(br#"{"a": [[[1]]]}"#, 3),
            Err(TooDeep { limit: 3 })
        );
        assert!(check_json_nesting(br#"{"a": "[[[[[[\"[[[["}"#, 1).is_ok());
        let deep = "[".repeat(100_000);
        assert!(check_json_nesting(deep.as_bytes(), MAX_NESTING).is_err());
    }

    #[test]
    fn document_nesting_counts_values_and_selections() {
        let deep_list = format!(
            "{{ changes(filter: {{titleContains: {}1}}) {{ totalCount }} }}",
            "[".repeat(2_000)
        );
        assert!(scan_document(&deep_list, MAX_NESTING).is_err());
        let deep_object = format!("{{ a(x: {}) }}", "{b: ".repeat(100_000));
        assert!(scan_document(&deep_object, MAX_NESTING).is_err());
        let in_string = format!("{{ a(x: \"{}\") }}", "[".repeat(10_000));
        assert!(scan_document(&in_string, MAX_NESTING).is_ok());
        let in_block = format!("{{ a(x: \"\"\"\\\"\"\" {} \"\"\") }}", "{".repeat(10_000));
        assert!(scan_document(&in_block, MAX_NESTING).is_ok());
        let in_comment = format!("# {}\n{{ me {{ id }} }}", "(".repeat(10_000));
        assert!(scan_document(&in_comment, MAX_NESTING).is_ok());
    }

    #[test]
    fn operations_are_listed_with_their_kinds() {
        assert_eq!(kinds("{ me { id } }"), [(OperationKind::Query, None)]);
        assert_eq!(
            kinds("query Q($a: [ID!] = [\"x\"]) @cached { me { id } } mutation M { a }"),
            [
                (OperationKind::Query, Some("Q".into())),
                (OperationKind::Mutation, Some("M".into()))
            ]
        );
        assert_eq!(
            kinds("fragment F on Query { me { id } } subscription { changeEvents { seq } }"),
            [(OperationKind::Subscription, None)]
        );
        // Keywords inside selections or strings are not operations.
        assert_eq!(
            kinds("query { mutation: me { query } } # mutation X { }"),
            [(OperationKind::Query, None)]
        );
    }

    #[test]
    fn the_selected_operation_is_the_named_or_only_one() {
        let shape = scan_document("query A { a } mutation B { b }", MAX_NESTING).unwrap();
        assert_eq!(shape.selected(Some("B")), Some(OperationKind::Mutation));
        assert_eq!(shape.selected(Some("C")), None);
        assert_eq!(shape.selected(None), None);
        let single = scan_document("mutation { b }", MAX_NESTING).unwrap();
        assert_eq!(single.selected(None), Some(OperationKind::Mutation));
    }

    /// Pieces of documents: openers in long runs, closers, strings, block
    /// strings, comments, escapes and names, in any order.
    fn pieces() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            (
                prop_oneof![Just("["), Just("{"), Just("("), Just("{a: "), Just("[{x: ")],
                1..3_000usize
            )
                .prop_map(|(opener, n)| opener.repeat(n)),
            prop_oneof![
                Just("]"),
                Just("}"),
                Just(")"),
                Just("\""),
                Just("\"\"\""),
                Just("#"),
                Just("\n"),
                Just("\\"),
                Just("query "),
                Just("mutation M "),
                Just("...F"),
                Just("fragment F on Query "),
                Just("1"),
                Just(","),
                Just("me"),
                Just("\\\"\"\"")
            ]
            .prop_map(str::to_owned),
        ];
        proptest::collection::vec(piece, 1..40).prop_map(|pieces| pieces.concat())
    }

    /// Runs `work` on a thread with the stack of a tokio worker (2 MiB):
    /// were the bound too loose, the recursive parser would overflow it and
    /// abort the test process.
    fn on_worker_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(work)
            .unwrap()
            .join()
            .unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn whatever_the_scan_admits_parses_without_exhausting_the_stack(text in pieces()) {
            if scan_document(&text, MAX_NESTING).is_ok() {
                on_worker_stack(move || {
                    let _ = async_graphql::parser::parse_query(&text);
                });
            }
        }

        #[test]
        fn whatever_the_json_check_admits_reads_without_exhausting_the_stack(text in pieces()) {
            let json = text.replace(['(', ')'], "").replace("{a: ", "{\"a\": ").replace("{x: ", "{\"x\": ");
            if check_json_nesting(json.as_bytes(), MAX_NESTING).is_ok() {
                on_worker_stack(move || {
                    let _ = serde_json::from_str::<async_graphql::Request>(&json);
                });
            }
        }
    }
}

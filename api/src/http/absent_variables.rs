//! Variables a request declares but does not send.
//!
//! The GraphQL specification ("Coercing Field Arguments") gives an
//! argument whose variable was not provided the argument's default, or
//! leaves it out (undefined) when there is none. async-graphql reads an
//! absent variable as null instead, so `query($first: Int) { cabSchedule(
//! first: $first) }` sent without `first` failed on the non-null argument
//! (`Int! = 4`), and an update's nullable field would read null (clear)
//! where the client said nothing. Removing such arguments and input
//! fields from the parsed document, with the definitions no longer used,
//! gives exactly the specification's meaning.

use std::collections::HashSet;

use async_graphql::{
    Name, Variables,
    parser::types::{
        DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
    },
};
use async_graphql_value::Value;

/// Whether any operation declares a variable the request does not send
/// and does not default: the cheap test before `remove_absent` copies
/// the document.
pub fn any_absent(document: &ExecutableDocument, variables: &Variables) -> bool {
    document.operations.iter().any(|(_, operation)| {
        operation
            .node
            .variable_definitions
            .iter()
            .any(|definition| {
                definition.node.default_value.is_none()
                    && variables.get(&definition.node.name.node).is_none()
            })
    })
}

/// Removes every argument and input-object field whose value is a
/// variable the request did not send (and its definition does not
/// default). Returns whether the document changed.
pub fn remove_absent(document: &mut ExecutableDocument, variables: &Variables) -> bool {
    let mut changed = false;
    let mut operations: Vec<&mut OperationDefinition> = match &mut document.operations {
        DocumentOperations::Single(operation) => vec![&mut operation.node],
        DocumentOperations::Multiple(operations) => {
            operations.values_mut().map(|o| &mut o.node).collect()
        }
    };
    // Fragments are shared between operations: what one operation leaves
    // out is only removed from them where every operation leaves it out.
    let mut absent_everywhere: Option<HashSet<Name>> = None;
    for operation in &mut operations {
        let absent: HashSet<Name> = operation
            .variable_definitions
            .iter()
            .map(|definition| &definition.node)
            .filter(|definition| {
                definition.default_value.is_none() && variables.get(&definition.name.node).is_none()
            })
            .map(|definition| definition.name.node.clone())
            .collect();
        if absent.is_empty() {
            absent_everywhere = Some(HashSet::new());
            continue;
        }
        changed |= strip_selections(&mut operation.selection_set.node, &absent);
        absent_everywhere = Some(match absent_everywhere {
            None => absent,
            Some(earlier) => earlier.intersection(&absent).cloned().collect(),
        });
    }
    if let Some(absent) = absent_everywhere.filter(|absent| !absent.is_empty()) {
        for fragment in document.fragments.values_mut() {
            changed |= strip_selections(&mut fragment.node.selection_set.node, &absent);
        }
    }
    if changed {
        drop_unused_definitions(document);
    }
    changed
}

fn strip_arguments(
    arguments: &mut Vec<(
        async_graphql::Positioned<Name>,
        async_graphql::Positioned<Value>,
    )>,
    absent: &HashSet<Name>,
) -> bool {
    let before = arguments.len();
    arguments.retain(|(_, value)| !is_absent(&value.node, absent));
    let mut changed = arguments.len() != before;
    for (_, value) in arguments.iter_mut() {
        changed |= strip_value(&mut value.node, absent);
    }
    changed
}

fn is_absent(value: &Value, absent: &HashSet<Name>) -> bool {
    matches!(value, Value::Variable(name) if absent.contains(name))
}

/// Input-object fields holding an absent variable are left out, so they
/// are undefined; a list keeps its elements (an absent element is null).
fn strip_value(value: &mut Value, absent: &HashSet<Name>) -> bool {
    match value {
        Value::Object(fields) => {
            let before = fields.len();
            fields.retain(|_, field| !is_absent(field, absent));
            let mut changed = fields.len() != before;
            for field in fields.values_mut() {
                changed |= strip_value(field, absent);
            }
            changed
        }
        Value::List(items) => items
            .iter_mut()
            .fold(false, |changed, item| strip_value(item, absent) | changed),
        _ => false,
    }
}

fn strip_selections(selections: &mut SelectionSet, absent: &HashSet<Name>) -> bool {
    let mut changed = false;
    for selection in &mut selections.items {
        match &mut selection.node {
            Selection::Field(field) => {
                changed |= strip_arguments(&mut field.node.arguments, absent);
                for directive in &mut field.node.directives {
                    changed |= strip_arguments(&mut directive.node.arguments, absent);
                }
                changed |= strip_selections(&mut field.node.selection_set.node, absent);
            }
            Selection::InlineFragment(fragment) => {
                changed |= strip_selections(&mut fragment.node.selection_set.node, absent);
            }
            Selection::FragmentSpread(_) => {}
        }
    }
    changed
}

/// Removes variable definitions nothing uses any more (the validator
/// refuses an unused variable).
fn drop_unused_definitions(document: &mut ExecutableDocument) {
    let mut used = HashSet::new();
    for fragment in document.fragments.values() {
        collect_selections(&fragment.node.selection_set.node, &mut used);
    }
    let operations: Vec<&mut OperationDefinition> = match &mut document.operations {
        DocumentOperations::Single(operation) => vec![&mut operation.node],
        DocumentOperations::Multiple(operations) => {
            operations.values_mut().map(|o| &mut o.node).collect()
        }
    };
    for operation in operations {
        let mut used_here = used.clone();
        collect_selections(&operation.selection_set.node, &mut used_here);
        for directive in &operation.directives {
            collect_arguments(&directive.node.arguments, &mut used_here);
        }
        operation
            .variable_definitions
            .retain(|definition| used_here.contains(&definition.node.name.node));
    }
}

fn collect_arguments(
    arguments: &[(
        async_graphql::Positioned<Name>,
        async_graphql::Positioned<Value>,
    )],
    used: &mut HashSet<Name>,
) {
    for (_, value) in arguments {
        collect_value(&value.node, used);
    }
}

fn collect_value(value: &Value, used: &mut HashSet<Name>) {
    match value {
        Value::Variable(name) => {
            used.insert(name.clone());
        }
        Value::Object(fields) => fields.values().for_each(|v| collect_value(v, used)),
        Value::List(items) => items.iter().for_each(|v| collect_value(v, used)),
        _ => {}
    }
}

fn collect_selections(selections: &SelectionSet, used: &mut HashSet<Name>) {
    for selection in &selections.items {
        match &selection.node {
            Selection::Field(field) => {
                collect_arguments(&field.node.arguments, used);
                for directive in &field.node.directives {
                    collect_arguments(&directive.node.arguments, used);
                }
                collect_selections(&field.node.selection_set.node, used);
            }
            Selection::InlineFragment(fragment) => {
                for directive in &fragment.node.directives {
                    collect_arguments(&directive.node.arguments, used);
                }
                collect_selections(&fragment.node.selection_set.node, used);
            }
            Selection::FragmentSpread(spread) => {
                for directive in &spread.node.directives {
                    collect_arguments(&directive.node.arguments, used);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use serde_json::json;

    use super::*;

    fn stripped(query: &str, variables: serde_json::Value) -> (bool, String) {
        let mut document = parse_query(query).unwrap();
        let variables = Variables::from_json(variables);
        let changed = remove_absent(&mut document, &variables);
        assert_eq!(
            changed,
            any_absent(&parse_query(query).unwrap(), &variables)
        );
        (changed, format!("{document:?}"))
    }

    #[test]
    fn an_absent_variable_leaves_its_argument_out_and_its_definition_goes() {
        let (changed, document) = stripped(
            "query($first: Int, $kept: Int) { cabSchedule(first: $first) other(n: $kept) }",
            json!({"kept": 3}),
        );
        assert!(changed);
        assert!(!document.contains("\"first\""), "{document}");
        assert!(document.contains("\"kept\""), "{document}");
    }

    #[test]
    fn sent_nulls_and_defaults_are_left_alone() {
        let (changed, _) = stripped(
            "query($first: Int, $d: Int = 2) { a(first: $first) b(n: $d) }",
            json!({"first": null}),
        );
        assert!(!changed);
    }

    #[test]
    fn input_fields_are_left_undefined_and_list_elements_kept() {
        let (changed, document) = stripped(
            "mutation($title: String, $tag: String) { updateChange(input: {title: $title, description: \"x\"}) tags(of: [$tag]) }",
            json!({}),
        );
        assert!(changed);
        assert!(!document.contains("\"title\""), "{document}");
        assert!(document.contains("\"description\""), "{document}");
        // `$tag` is still used in the list: its definition stays.
        assert!(document.contains("\"tag\""), "{document}");
    }
}

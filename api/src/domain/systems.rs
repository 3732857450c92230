//! The systems (configuration items) hierarchy.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

/// A system's id and its parent.
pub type Edge = (Uuid, Option<Uuid>);

/// `root` and every system below it.
pub fn with_descendants(edges: &[Edge], root: Uuid) -> HashSet<Uuid> {
    let mut children: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (id, parent) in edges {
        if let Some(parent) = parent {
            children.entry(*parent).or_default().push(*id);
        }
    }
    let mut found = HashSet::from([root]);
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        for child in children.get(&id).into_iter().flatten() {
            if found.insert(*child) {
                stack.push(*child);
            }
        }
    }
    found
}

/// The parents of `system`, nearest first (cycles cannot exist, but the
/// walk stops at a repeat anyway).
pub fn ancestors(edges: &[Edge], system: Uuid) -> Vec<Uuid> {
    let parents: HashMap<Uuid, Uuid> = edges
        .iter()
        .filter_map(|(id, parent)| parent.map(|p| (*id, p)))
        .collect();
    let mut found = Vec::new();
    let mut current = system;
    while let Some(parent) = parents.get(&current) {
        if found.contains(parent) || *parent == system {
            break;
        }
        found.push(*parent);
        current = *parent;
    }
    found
}

/// Whether making `new_parent` the parent of `system` would create a cycle.
pub fn would_cycle(edges: &[Edge], system: Uuid, new_parent: Uuid) -> bool {
    with_descendants(edges, system).contains(&new_parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_all_descendants_and_detects_cycles() {
        let [a, b, c, d] = [
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        ];
        let edges = vec![(a, None), (b, Some(a)), (c, Some(b)), (d, None)];
        assert_eq!(with_descendants(&edges, a), HashSet::from([a, b, c]));
        assert_eq!(with_descendants(&edges, c), HashSet::from([c]));
        assert!(would_cycle(&edges, a, c));
        assert!(would_cycle(&edges, a, a));
        assert!(!would_cycle(&edges, c, d));
        assert_eq!(ancestors(&edges, c), vec![b, a]);
        assert!(ancestors(&edges, d).is_empty());
    }
}

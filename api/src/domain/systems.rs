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
    }
}

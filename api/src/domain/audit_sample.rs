//! The auditor's population and sample (SOC 2 CC8.1 tests of operating
//! effectiveness): a digest that proves the population complete, and a
//! seeded, stratified sample anyone can redraw offline from the
//! population file (`scripts/verify_evidence_pack.py` does).
//!
//! The algorithm, as docs/audit.md states it:
//! 1. Each change gets a draw key: the SHA-256 hex of `"{seed}:{uuid}"`.
//! 2. Each over-sampled stratum chosen, in the order EMERGENCY,
//!    OUTSIDE_SLOT, ROLLED_BACK, GATES_LATE, takes its quota
//!    (`ceil(size / (2 × strata chosen))`) of its not yet drawn changes,
//!    lowest keys first: together they fill about half the sample.
//! 3. The slots left are shared between change types in proportion to
//!    their not yet drawn changes, by largest remainder (ties: the type
//!    key's order); each type takes its share lowest keys first.
//!
//! Same seed and same population, same sample; one change more or less
//! moves only the draws it competes with.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ValidationError;

/// The most changes one sample may hold.
pub const MAX_SAMPLE_SIZE: u32 = 1_000;

/// What makes a change worth an auditor's closer look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stratum {
    /// Of an emergency type.
    Emergency,
    /// Implemented without a scheduled slot, outside it, or inside a
    /// freeze by an approved entry.
    OutsideSlot,
    /// Rolled back.
    RolledBack,
    /// A gate that must be met before the start was met after it.
    GatesLate,
}

impl Stratum {
    /// The name the API and the population file use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Emergency => "EMERGENCY",
            Self::OutsideSlot => "OUTSIDE_SLOT",
            Self::RolledBack => "ROLLED_BACK",
            Self::GatesLate => "GATES_LATE",
        }
    }

    /// The order strata take their quotas in.
    pub const ALL: [Stratum; 4] = [
        Self::Emergency,
        Self::OutsideSlot,
        Self::RolledBack,
        Self::GatesLate,
    ];
}

/// One change of the population, with what the sample is drawn by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: Uuid,
    pub version: i32,
    pub change_type: String,
    pub strata: BTreeSet<Stratum>,
}

/// The population's digest: SHA-256 hex over one line per change, in
/// population order, `"{uuid},{version}\n"`. The same call later gives
/// the same digest only if no change was added, removed or edited.
pub fn digest<'a>(members: impl IntoIterator<Item = (&'a Uuid, i32)>) -> String {
    let mut hasher = Sha256::new();
    for (id, version) in members {
        hasher.update(format!("{id},{version}\n").as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// A change's draw key under `seed`.
pub fn draw_key(seed: &str, id: &Uuid) -> String {
    hex::encode(Sha256::digest(format!("{seed}:{id}").as_bytes()))
}

/// Why a change is in the sample: the stratum whose quota drew it, or
/// its type's share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrawnBy {
    Stratum(Stratum),
    Type(String),
}

/// One drawn change: its index in the population and why it was drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    pub index: usize,
    pub key: String,
    pub drawn_by: DrawnBy,
}

/// Checks a sample request's size and seed.
pub fn check_request(size: i32, seed: &str) -> Result<u32, ValidationError> {
    if seed.trim().is_empty() || seed.len() > 200 || seed.contains('\0') {
        return Err(ValidationError::new(
            "seed",
            "must be 1 to 200 characters (record it: it redraws the sample)",
        ));
    }
    match u32::try_from(size) {
        Ok(size) if (1..=MAX_SAMPLE_SIZE).contains(&size) => Ok(size),
        _ => Err(ValidationError::new(
            "size",
            format!("must be 1 to {MAX_SAMPLE_SIZE}"),
        )),
    }
}

/// Draws `size` changes of `population` (all of them when it holds
/// fewer), over-sampling `oversampled`, by the algorithm above. The draws
/// come in the order they were made.
pub fn draw(population: &[Member], size: u32, seed: &str, oversampled: &[Stratum]) -> Vec<Draw> {
    let keys: Vec<String> = population.iter().map(|m| draw_key(seed, &m.id)).collect();
    // Every member's index, lowest key first: each later step walks it.
    let mut by_key: Vec<usize> = (0..population.len()).collect();
    by_key.sort_by(|a, b| keys[*a].cmp(&keys[*b]));
    let size = (size as usize).min(population.len());
    let mut drawn = vec![false; population.len()];
    let mut draws = Vec::with_capacity(size);
    let mut take = |index: usize, drawn_by: DrawnBy, drawn: &mut [bool]| {
        drawn[index] = true;
        draws.push(Draw {
            index,
            key: keys[index].clone(),
            drawn_by,
        });
    };
    let mut taken = 0;

    let chosen: Vec<Stratum> = Stratum::ALL
        .into_iter()
        .filter(|stratum| oversampled.contains(stratum))
        .collect();
    if !chosen.is_empty() {
        let quota = size.div_ceil(2 * chosen.len());
        for stratum in chosen {
            let candidates: Vec<usize> = by_key
                .iter()
                .copied()
                .filter(|&i| !drawn[i] && population[i].strata.contains(&stratum))
                .take(quota.min(size - taken))
                .collect();
            for index in candidates {
                take(index, DrawnBy::Stratum(stratum), &mut drawn);
                taken += 1;
            }
        }
    }

    let left = size - taken;
    let mut remaining: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &index in &by_key {
        if !drawn[index] {
            remaining
                .entry(population[index].change_type.as_str())
                .or_default()
                .push(index);
        }
    }
    let undrawn: usize = remaining.values().map(Vec::len).sum();
    for (change_type, count) in shares(&remaining, left, undrawn) {
        for &index in remaining[change_type].iter().take(count) {
            take(index, DrawnBy::Type(change_type.to_owned()), &mut drawn);
        }
    }
    draws
}

/// `slots` shared between the types in proportion to their members, by
/// largest remainder; ties go to the type first in key order.
fn shares<'a>(
    remaining: &BTreeMap<&'a str, Vec<usize>>,
    slots: usize,
    total: usize,
) -> Vec<(&'a str, usize)> {
    if total == 0 || slots == 0 {
        return Vec::new();
    }
    let mut shares: Vec<(&str, usize, usize)> = remaining
        .iter()
        .map(|(change_type, members)| {
            let exact = members.len() * slots;
            (*change_type, exact / total, exact % total)
        })
        .collect();
    let mut left = slots - shares.iter().map(|(_, whole, _)| whole).sum::<usize>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    // Stable: equal remainders keep the types' key order.
    order.sort_by(|a, b| shares[*b].2.cmp(&shares[*a].2));
    for index in order {
        if left == 0 {
            break;
        }
        shares[index].1 += 1;
        left -= 1;
    }
    shares
        .into_iter()
        .map(|(change_type, count, _)| (change_type, count))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(n: u128, change_type: &str, strata: &[Stratum]) -> Member {
        Member {
            id: Uuid::from_u128(n),
            version: 1,
            change_type: change_type.to_owned(),
            strata: strata.iter().copied().collect(),
        }
    }

    fn population() -> Vec<Member> {
        let mut members = Vec::new();
        for n in 0..60 {
            members.push(member(n, "normal", &[]));
        }
        for n in 60..80 {
            members.push(member(n, "standard", &[]));
        }
        for n in 80..85 {
            members.push(member(n, "emergency", &[Stratum::Emergency]));
        }
        members.push(member(85, "normal", &[Stratum::RolledBack]));
        members.push(member(
            86,
            "emergency",
            &[Stratum::Emergency, Stratum::GatesLate],
        ));
        members
    }

    fn drawn_ids(draws: &[Draw], population: &[Member]) -> Vec<Uuid> {
        draws.iter().map(|d| population[d.index].id).collect()
    }

    #[test]
    fn the_digest_covers_every_id_and_version_in_order() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let both = digest([(&a, 1), (&b, 3)]);
        // The documented form, so anyone can recompute it.
        let expected = hex::encode(Sha256::digest(format!("{a},1\n{b},3\n").as_bytes()));
        assert_eq!(both, expected);
        assert_ne!(both, digest([(&b, 3), (&a, 1)]), "order matters");
        assert_ne!(both, digest([(&a, 1), (&b, 4)]), "an edit shows");
        assert_ne!(both, digest([(&a, 1)]), "a removal shows");
    }

    #[test]
    fn the_same_seed_redraws_the_same_sample_and_another_seed_does_not() {
        let population = population();
        let one = draw(&population, 10, "FY2026-Q4", &[Stratum::Emergency]);
        let again = draw(&population, 10, "FY2026-Q4", &[Stratum::Emergency]);
        assert_eq!(one, again);
        let other = draw(&population, 10, "another seed", &[Stratum::Emergency]);
        assert_ne!(drawn_ids(&one, &population), drawn_ids(&other, &population));
        // No change twice.
        let unique: BTreeSet<Uuid> = drawn_ids(&one, &population).into_iter().collect();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn over_sampled_strata_fill_about_half_and_types_share_the_rest() {
        let population = population();
        let draws = draw(
            &population,
            10,
            "seed",
            &[Stratum::Emergency, Stratum::RolledBack],
        );
        let by = |drawn_by: DrawnBy| draws.iter().filter(|d| d.drawn_by == drawn_by).count();
        // ceil(10 / 4) = 3 emergencies; the only rolled-back change.
        assert_eq!(by(DrawnBy::Stratum(Stratum::Emergency)), 3);
        assert_eq!(by(DrawnBy::Stratum(Stratum::RolledBack)), 1);
        // 6 left over 60 normal, 20 standard and 3 emergency changes:
        // 4.34, 1.45 and 0.22, so 4 + 2 + 0 by largest remainder.
        assert_eq!(by(DrawnBy::Type("normal".into())), 4);
        assert_eq!(by(DrawnBy::Type("standard".into())), 2);
        assert_eq!(by(DrawnBy::Type("emergency".into())), 0);
        // Emergencies are 7 % of the population and 30 % of the sample.
        let emergencies = draws
            .iter()
            .filter(|d| population[d.index].strata.contains(&Stratum::Emergency))
            .count();
        assert!(emergencies >= 3);
    }

    #[test]
    fn a_stratum_takes_its_lowest_keys_and_a_small_population_is_taken_whole() {
        let population = population();
        let draws = draw(&population, 2, "seed", &[Stratum::Emergency]);
        let mut emergencies: Vec<(String, usize)> = population
            .iter()
            .enumerate()
            .filter(|(_, m)| m.strata.contains(&Stratum::Emergency))
            .map(|(i, m)| (draw_key("seed", &m.id), i))
            .collect();
        emergencies.sort();
        assert_eq!(draws[0].index, emergencies[0].1);
        assert_eq!(draws[0].drawn_by, DrawnBy::Stratum(Stratum::Emergency));

        let small = &population[..3];
        assert_eq!(draw(small, 25, "seed", &Stratum::ALL).len(), 3);
        assert!(draw(&[], 25, "seed", &Stratum::ALL).is_empty());
    }

    #[test]
    fn requests_are_checked() {
        assert_eq!(check_request(25, "FY2026").unwrap(), 25);
        assert_eq!(check_request(0, "FY2026").unwrap_err().field, "size");
        assert_eq!(check_request(1001, "FY2026").unwrap_err().field, "size");
        assert_eq!(check_request(25, " ").unwrap_err().field, "seed");
    }
}

//! Matching a new clustering to the previous one, so that cluster ids stay stable across refits.
//!
//! The assignment problem is solved with `pathfinding`'s Kuhn-Munkres (Hungarian) on the
//! `k x k` overlap counts, maximising the total overlap.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A bijection of `0..k`: `permutation.apply(new_id)` is the stable id of a new cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permutation(Vec<usize>);

impl Permutation {
    /// The identity on `0..k`.
    pub fn identity(k: usize) -> Self {
        Self((0..k).collect())
    }

    /// Builds a permutation from its image `[p(0), p(1), ...]`, checking it is a bijection.
    pub fn new(image: Vec<usize>) -> Result<Self> {
        let k = image.len();
        let mut seen = vec![false; k];
        for &target in &image {
            if target >= k || seen[target] {
                return Err(Error::config("permutation", "must be a bijection of 0..k"));
            }
            seen[target] = true;
        }
        Ok(Self(image))
    }

    /// Number of elements permuted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the permutation is over the empty set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Image of `i`.
    pub fn apply(&self, i: usize) -> usize {
        self.0[i]
    }

    /// The image as a slice.
    pub fn as_slice(&self) -> &[usize] {
        &self.0
    }

    /// The inverse bijection.
    pub fn inverse(&self) -> Self {
        let mut inverse = vec![0; self.0.len()];
        for (i, &target) in self.0.iter().enumerate() {
            inverse[target] = i;
        }
        Self(inverse)
    }
}

/// Overlap counts `m[a][b]` = number of points with label `a` in `rows` and `b` in `columns`.
pub fn contingency(rows: &[i64], columns: &[i64], k: usize) -> Result<Vec<Vec<u64>>> {
    if rows.len() != columns.len() {
        return Err(Error::DimensionMismatch {
            what: "label vectors",
            expected: rows.len(),
            got: columns.len(),
        });
    }
    let mut counts = vec![vec![0u64; k]; k];
    for (&a, &b) in rows.iter().zip(columns) {
        let a = checked_label(a, k)?;
        let b = checked_label(b, k)?;
        counts[a][b] += 1;
    }
    Ok(counts)
}

fn checked_label(label: i64, k: usize) -> Result<usize> {
    usize::try_from(label)
        .ok()
        .filter(|&l| l < k)
        .ok_or(Error::LabelOutOfRange { label, k })
}

/// The permutation taking each cluster of `new_labels` to the cluster of `old_labels` it
/// overlaps most, under the constraint that the map is a bijection (maximum total overlap).
///
/// ```
/// use selfcond_gan::cluster::match_clusters;
/// let old = [0, 0, 1, 1, 2, 2];
/// let new = [2, 2, 0, 0, 1, 1]; // same partition, other names
/// let p = match_clusters(&new, &old, 3).unwrap();
/// assert_eq!(p.as_slice(), &[1, 2, 0]);
/// ```
pub fn match_clusters(new_labels: &[i64], old_labels: &[i64], k: usize) -> Result<Permutation> {
    if k == 0 {
        return Err(Error::config("k", "must be at least 1"));
    }
    let counts = contingency(new_labels, old_labels, k)?;
    let weights = Matrix::from_vec(
        k,
        k,
        counts.into_iter().flatten().map(|c| c as i64).collect(),
    )
    .map_err(|e| Error::Device(e.to_string()))?;
    let (_, assignment) = kuhn_munkres(&weights);
    Permutation::new(assignment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;
    use rand::Rng;
    use rand::seq::SliceRandom;

    fn overlap(p: &[usize], counts: &[Vec<u64>]) -> u64 {
        p.iter().enumerate().map(|(a, &b)| counts[a][b]).sum()
    }

    fn all_permutations(k: usize) -> Vec<Vec<usize>> {
        if k == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in all_permutations(k - 1) {
            for pos in 0..k {
                let mut q = p.clone();
                q.insert(pos, k - 1);
                out.push(q);
            }
        }
        out
    }

    #[test]
    fn recovers_a_random_permutation_exactly() {
        let mut rng = seeded(3);
        let k = 50;
        let old: Vec<i64> = (0..5000).map(|_| rng.random_range(0..k) as i64).collect();
        let mut hidden: Vec<usize> = (0..k).collect();
        hidden.shuffle(&mut rng);
        // new id = hidden^-1(old id), so the matching must find `hidden`.
        let inverse = Permutation::new(hidden.clone()).unwrap().inverse();
        let new: Vec<i64> = old
            .iter()
            .map(|&o| inverse.apply(o as usize) as i64)
            .collect();
        let found = match_clusters(&new, &old, k).unwrap();
        assert_eq!(found.as_slice(), hidden.as_slice());
    }

    #[test]
    fn agrees_with_brute_force_up_to_k7() {
        let mut rng = seeded(8);
        for k in 1..=7 {
            for _ in 0..5 {
                let n = 60;
                let a: Vec<i64> = (0..n).map(|_| rng.random_range(0..k) as i64).collect();
                let b: Vec<i64> = (0..n).map(|_| rng.random_range(0..k) as i64).collect();
                let counts = contingency(&a, &b, k).unwrap();
                let best = all_permutations(k)
                    .iter()
                    .map(|p| overlap(p, &counts))
                    .max()
                    .unwrap();
                let found = match_clusters(&a, &b, k).unwrap();
                assert_eq!(overlap(found.as_slice(), &counts), best, "k = {k}");
            }
        }
    }

    #[test]
    fn bad_labels_are_typed_errors() {
        assert!(matches!(
            match_clusters(&[0, 3], &[0, 1], 2),
            Err(Error::LabelOutOfRange { label: 3, k: 2 })
        ));
        assert!(matches!(
            match_clusters(&[0, -1], &[0, 1], 2),
            Err(Error::LabelOutOfRange { label: -1, k: 2 })
        ));
        assert!(matches!(
            match_clusters(&[0], &[0, 1], 2),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(Permutation::new(vec![0, 0]).is_err());
        assert!(Permutation::new(vec![1, 2]).is_err());
    }
}

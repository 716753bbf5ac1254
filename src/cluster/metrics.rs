//! How well discovered clusters agree with ground-truth classes: normalised mutual information,
//! purity and the adjusted Rand index (the definitions scikit-learn uses; NMI with the
//! arithmetic mean of the two entropies).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Agreement between a clustering and the true classes of the same points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClusterAgreement {
    /// Normalised mutual information, in [0, 1].
    pub nmi: f64,
    /// Fraction of points in their cluster's majority class, in (0, 1].
    pub purity: f64,
    /// Adjusted Rand index: 1 for identical partitions, about 0 for chance.
    pub ari: f64,
}

/// Compares `clusters` with `classes` (any integer ids, one per point).
pub fn cluster_agreement(clusters: &[i64], classes: &[i64]) -> Result<ClusterAgreement> {
    if clusters.len() != classes.len() {
        return Err(Error::DimensionMismatch {
            what: "clusters vs classes",
            expected: classes.len(),
            got: clusters.len(),
        });
    }
    if clusters.is_empty() {
        return Err(Error::Empty {
            what: "cluster labels",
        });
    }
    let n = clusters.len() as f64;
    let mut joint: HashMap<(i64, i64), u64> = HashMap::new();
    let mut per_cluster: HashMap<i64, u64> = HashMap::new();
    let mut per_class: HashMap<i64, u64> = HashMap::new();
    for (&a, &b) in clusters.iter().zip(classes) {
        *joint.entry((a, b)).or_default() += 1;
        *per_cluster.entry(a).or_default() += 1;
        *per_class.entry(b).or_default() += 1;
    }

    let entropy = |counts: &HashMap<i64, u64>| -> f64 {
        counts
            .values()
            .map(|&c| {
                let p = c as f64 / n;
                -p * p.ln()
            })
            .sum()
    };
    let (h_clusters, h_classes) = (entropy(&per_cluster), entropy(&per_class));
    let mutual: f64 = joint
        .iter()
        .map(|(&(a, b), &c)| {
            let p = c as f64 / n;
            let independent = (per_cluster[&a] as f64 / n) * (per_class[&b] as f64 / n);
            p * (p / independent).ln()
        })
        .sum();
    let mean_entropy = (h_clusters + h_classes) / 2.0;
    // Both partitions trivial (one block each): they agree perfectly.
    let nmi = if mean_entropy <= f64::EPSILON {
        1.0
    } else {
        (mutual / mean_entropy).clamp(0.0, 1.0)
    };

    let mut majority: HashMap<i64, u64> = HashMap::new();
    for (&(a, _), &c) in &joint {
        let best = majority.entry(a).or_default();
        *best = (*best).max(c);
    }
    let purity = majority.values().sum::<u64>() as f64 / n;

    let pairs = |c: u64| (c as f64) * (c as f64 - 1.0) / 2.0;
    let index: f64 = joint.values().map(|&c| pairs(c)).sum();
    let cluster_pairs: f64 = per_cluster.values().map(|&c| pairs(c)).sum();
    let class_pairs: f64 = per_class.values().map(|&c| pairs(c)).sum();
    let expected = cluster_pairs * class_pairs / pairs(clusters.len() as u64).max(1.0);
    let max = (cluster_pairs + class_pairs) / 2.0;
    let ari = if (max - expected).abs() <= f64::EPSILON {
        1.0
    } else {
        (index - expected) / (max - expected)
    };
    Ok(ClusterAgreement { nmi, purity, ari })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn renamed_partitions_agree_perfectly() {
        let m = cluster_agreement(&[5, 5, 9, 9, 7], &[0, 0, 1, 1, 2]).unwrap();
        assert!(
            close(m.nmi, 1.0) && close(m.purity, 1.0) && close(m.ari, 1.0),
            "{m:?}"
        );
    }

    #[test]
    fn matches_hand_computed_cases() {
        // Clusters refine classes {0,0,1,1} -> {0,0,1,2}: MI = H(classes) = ln 2,
        // H(clusters) = 1.5 ln 2, so NMI = ln 2 / 1.25 ln 2 = 0.8. Pairs: index 1, cluster
        // pairs 1, class pairs 2, all pairs 6: expected 1/3, max 1.5, ARI = (2/3)/(7/6) = 4/7.
        let m = cluster_agreement(&[0, 0, 1, 2], &[0, 0, 1, 1]).unwrap();
        assert!(close(m.nmi, 0.8), "{m:?}");
        assert!(close(m.ari, 4.0 / 7.0), "{m:?}");
        assert!(close(m.purity, 1.0), "{m:?}");

        // {0,0,0,1,1,1} against {0,0,1,1,2,2}: index 2, cluster pairs 3, class pairs 6 of
        // 15: expected 1.2, max 4.5, ARI = 0.8 / 3.3 = 8/33; purity (2 + 1 + 2) / 6.
        let m = cluster_agreement(&[0, 0, 1, 1, 2, 2], &[0, 0, 0, 1, 1, 1]).unwrap();
        assert!(close(m.ari, 8.0 / 33.0), "{m:?}");
        assert!(close(m.purity, 5.0 / 6.0), "{m:?}");
        assert!((m.nmi - 0.515_803_742_979_388_9).abs() < 1e-12, "{m:?}");

        // One cluster over four classes: no information.
        let m = cluster_agreement(&[0, 0, 0, 0], &[0, 1, 2, 3]).unwrap();
        assert!(
            close(m.nmi, 0.0) && close(m.ari, 0.0) && close(m.purity, 0.25),
            "{m:?}"
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            cluster_agreement(&[0, 1], &[0]),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            cluster_agreement(&[], &[]),
            Err(Error::Empty { .. })
        ));
    }
}

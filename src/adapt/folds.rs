//! Spatially separate folds for estimating accuracy over the labels.
//!
//! Neighbouring pixels look alike (spatial autocorrelation), so a fold that holds out
//! a label next to a training label, or one pixel of a polygon whose other pixels
//! train, measures interpolation, not the map: random folds read high (Roberts et al.,
//! "Cross-validation strategies for data with temporal, spatial, hierarchical, or
//! phylogenetic structure", Ecography 40, 2017; Ploton et al., "Spatial validation
//! reveals poor predictive performance of large-scale ecological mapping models",
//! Nature Communications 11, 2020). Here every feature (point or polygon) stays in one
//! fold, and features are grouped into folds by k-means on their positions, so each
//! fold is a part of the scene the others did not see.

use crate::tasks::kmeans;
use std::collections::BTreeMap;

/// Fold (`0..k`, `k` at most `max_folds` and the number of features) of each shot,
/// from the shots' feature ids and scene pixel positions; seeded, so the same labels
/// give the same folds.
pub fn spatial_folds(fids: &[u64], positions: &[(isize, isize)], max_folds: usize) -> Vec<usize> {
    let mut features: BTreeMap<u64, (f64, f64, f64)> = BTreeMap::new();
    for (&fid, &(c, r)) in fids.iter().zip(positions) {
        let e = features.entry(fid).or_insert((0.0, 0.0, 0.0));
        *e = (e.0 + c as f64, e.1 + r as f64, e.2 + 1.0);
    }
    let ids: Vec<u64> = features.keys().copied().collect();
    let centres: Vec<Vec<f64>> = features
        .values()
        .map(|&(c, r, n)| vec![c / n, r / n])
        .collect();
    let clusters = kmeans(&centres, max_folds.min(ids.len()), 0x5fa7, 50);
    fids.iter()
        .map(|f| clusters[ids.binary_search(f).expect("fid collected above")])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_stay_together_and_folds_are_places() {
        // Two groups of points far apart, and a polygon of three shots in the first.
        let fids = [1, 2, 3, 3, 3, 4, 5, 6];
        let pos = [
            (0, 0),
            (3, 1),
            (1, 4),
            (2, 5),
            (3, 4),
            (500, 500),
            (503, 498),
            (498, 505),
        ];
        let folds = spatial_folds(&fids, &pos, 2);
        assert_eq!(folds[2], folds[3]);
        assert_eq!(folds[3], folds[4]);
        assert!(folds[..5].iter().all(|&f| f == folds[0]));
        assert!(folds[5..].iter().all(|&f| f == folds[5]));
        assert_ne!(folds[0], folds[5]);
        assert_eq!(spatial_folds(&fids, &pos, 2), folds);
        // More folds asked than features: one fold per feature.
        let all = spatial_folds(&fids, &pos, 10);
        assert_eq!(all.iter().copied().max(), Some(5));
    }
}

//! Folds for estimating a map's accuracy over its labels, matched to the distances
//! at which the map predicts.
//!
//! Neighbouring pixels look alike (spatial autocorrelation), so a fold that holds out
//! a label next to a training label, or one pixel of a polygon whose other pixels
//! train, measures interpolation: random folds read high where labels bunch (Roberts
//! et al., "Cross-validation strategies for data with temporal, spatial,
//! hierarchical, or phylogenetic structure", Ecography 40, 2017; Ploton et al.,
//! "Spatial validation reveals poor predictive performance of large-scale ecological
//! mapping models", Nature Communications 11, 2020). Folds that hold out whole parts
//! of the scene read low where labels are spread: a held-out label is then farther
//! from the training labels than most of the map is.
//!
//! So the folds are chosen as kNNDM does (Linnenbrink, Milà, Ludwig and Meyer,
//! "kNNDM CV: k-fold nearest-neighbour distance matching cross-validation for map
//! accuracy estimation", Geoscientific Model Development 17, 2024): every feature
//! (point or polygon) stays in one fold; features are grouped into `q` places by
//! k-means on their positions, for several `q` from the number of folds (whole parts
//! of the scene) to the number of features (no grouping), and the places are dealt
//! to the folds. The design kept is the one whose distances from each held-out shot
//! to the nearest training shot are distributed most like the distances from the
//! scene's pixels to the nearest label (Wasserstein-1 between the two).

use crate::tasks::kmeans;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Seed of the k-means and of the dealing, so that the same labels give the same
/// folds.
const SEED: u64 = 0x5fa7;

/// Scene pixels sampled (on a regular grid) for the map's distances to the labels.
const PREDICTION_SAMPLE: usize = 1024;

/// Fold (`0..k`, `k` at most `max_folds` and the number of features) of each shot,
/// from the shots' feature ids and scene pixel positions `(col, row)` on a scene of
/// `scene` = `(width, height)` pixels; seeded, so the same labels give the same folds.
pub fn spatial_folds(
    fids: &[u64],
    positions: &[(isize, isize)],
    max_folds: usize,
    scene: (usize, usize),
) -> Vec<usize> {
    let mut features: BTreeMap<u64, (f64, f64, f64)> = BTreeMap::new();
    for (&fid, &(c, r)) in fids.iter().zip(positions) {
        let e = features.entry(fid).or_insert((0.0, 0.0, 0.0));
        *e = (e.0 + c as f64, e.1 + r as f64, e.2 + 1.0);
    }
    let ids: Vec<u64> = features.keys().copied().collect();
    let n = ids.len();
    let k = max_folds.min(n);
    let feature_of: Vec<usize> = fids
        .iter()
        .map(|f| ids.binary_search(f).expect("fid collected above"))
        .collect();
    if k == n {
        // One fold per feature: nothing to choose.
        return feature_of;
    }
    let centres: Vec<Vec<f64>> = features
        .values()
        .map(|&(c, r, n)| vec![c / n, r / n])
        .collect();
    let pts: Vec<(f64, f64)> = positions
        .iter()
        .map(|&(c, r)| (c as f64, r as f64))
        .collect();
    let target = prediction_distances(&pts, scene);
    let mut best: Option<(f64, Vec<usize>)> = None;
    for q in place_counts(k, n) {
        let place_of_feature = if q == n {
            (0..n).collect()
        } else {
            kmeans(&centres, q, SEED, 50)
        };
        let fold_of_feature = deal(&place_of_feature, &feature_of, k);
        let fold_of: Vec<usize> = feature_of.iter().map(|&f| fold_of_feature[f]).collect();
        let w = wasserstein(&held_out_distances(&pts, &fold_of), &target);
        // Ties keep the more spatial design (fewer places), tried first.
        if best.as_ref().is_none_or(|(b, _)| w < *b - 1e-9) {
            best = Some((w, fold_of));
        }
    }
    best.expect("at least one design").1
}

/// Numbers of places tried: the folds themselves, multiples of them, and every
/// feature alone.
fn place_counts(k: usize, n: usize) -> Vec<usize> {
    let mut q: Vec<usize> = [1, 2, 3, 5, 8]
        .iter()
        .map(|m| m * k)
        .filter(|&q| q < n)
        .collect();
    q.push(n);
    q
}

/// Fold of each feature: places in a seeded random order, each to the fold with the
/// fewest shots so far (folds of about equal size, as kNNDM deals its clusters).
fn deal(place_of_feature: &[usize], feature_of_shot: &[usize], k: usize) -> Vec<usize> {
    let places = place_of_feature.iter().max().map_or(0, |m| m + 1);
    let mut shots = vec![0usize; places];
    for &f in feature_of_shot {
        shots[place_of_feature[f]] += 1;
    }
    // Places k-means left empty open no fold.
    let mut order: Vec<usize> = (0..places).filter(|&p| shots[p] > 0).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(SEED));
    let mut fold_of_place = vec![0usize; places];
    let mut size = vec![0usize; k];
    for (i, &p) in order.iter().enumerate() {
        // The first k places open the k folds; then the smallest fold takes the next.
        let fold = if i < k {
            i
        } else {
            (0..k).min_by_key(|&f| (size[f], f)).expect("k > 0")
        };
        fold_of_place[p] = fold;
        size[fold] += shots[p];
    }
    place_of_feature.iter().map(|&p| fold_of_place[p]).collect()
}

/// Distance (pixels) from each shot to the nearest shot of another fold.
fn held_out_distances(pts: &[(f64, f64)], fold_of: &[usize]) -> Vec<f64> {
    pts.iter()
        .zip(fold_of)
        .map(|(&a, &fa)| {
            pts.iter()
                .zip(fold_of)
                .filter(|(_, &fb)| fb != fa)
                .map(|(&b, _)| dist(a, b))
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}

/// Distance (pixels) from a regular grid of about [`PREDICTION_SAMPLE`] scene pixels
/// to the nearest shot.
fn prediction_distances(pts: &[(f64, f64)], (w, h): (usize, usize)) -> Vec<f64> {
    let step = ((w as f64 * h as f64 / PREDICTION_SAMPLE as f64).sqrt()).max(1.0);
    let mut out = Vec::new();
    let mut y = step / 2.0;
    while y < h as f64 {
        let mut x = step / 2.0;
        while x < w as f64 {
            out.push(
                pts.iter()
                    .map(|&p| dist((x, y), p))
                    .fold(f64::INFINITY, f64::min),
            );
            x += step;
        }
        y += step;
    }
    out
}

fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// Wasserstein-1 distance between two samples: the mean absolute difference of
/// their quantiles, at 200 levels.
fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    let sorted = |v: &[f64]| {
        let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        s
    };
    let (a, b) = (sorted(a), sorted(b));
    if a.is_empty() || b.is_empty() {
        return f64::INFINITY;
    }
    let q = |s: &[f64], u: f64| s[((u * s.len() as f64) as usize).min(s.len() - 1)];
    (0..200)
        .map(|i| {
            let u = (i as f64 + 0.5) / 200.0;
            (q(&a, u) - q(&b, u)).abs()
        })
        .sum::<f64>()
        / 200.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean of a sample.
    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    #[test]
    fn features_stay_together_and_bunched_labels_are_not_held_out_next_to_their_bunch() {
        // Six bunches of five points (within 2 px) over a 300 px scene, and one
        // polygon of three shots: folds of single features would hold out a point
        // next to its bunch (1-2 px), while the map's pixels lie tens of pixels from
        // the labels.
        let mut fids = Vec::new();
        let mut pos = Vec::new();
        let mut fid = 0;
        for (bx, by) in [
            (30, 30),
            (150, 40),
            (270, 30),
            (40, 260),
            (150, 150),
            (260, 260),
        ] {
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (2, 1), (1, 2)] {
                fid += 1;
                fids.push(fid);
                pos.push((bx + dx, by + dy));
            }
        }
        fids.extend([99, 99, 99]);
        pos.extend([(200, 100), (201, 100), (200, 101)]);
        let folds = spatial_folds(&fids, &pos, 5, (300, 300));
        let n = fids.len();
        assert_eq!(folds[n - 1], folds[n - 2]);
        assert_eq!(folds[n - 2], folds[n - 3]);
        assert_eq!(folds.iter().copied().max(), Some(4));
        assert_eq!(spatial_folds(&fids, &pos, 5, (300, 300)), folds);
        let pts: Vec<(f64, f64)> = pos.iter().map(|&(c, r)| (c as f64, r as f64)).collect();
        let target = prediction_distances(&pts, (300, 300));
        let held = held_out_distances(&pts, &folds);
        let features: Vec<usize> = (0..30).chain([30, 30, 30]).collect();
        let single = held_out_distances(&pts, &deal(&(0..31).collect::<Vec<_>>(), &features, 5));
        assert!(
            wasserstein(&held, &target) < wasserstein(&single, &target),
            "no closer to the map's distances than folds of single features"
        );
        assert!(
            mean(&held) > 5.0 * mean(&single),
            "held out {} px from the training shots on the mean, single features {} px",
            mean(&held),
            mean(&single)
        );
        // More folds asked than features: one fold per feature.
        let few = &pos[..3];
        assert_eq!(
            spatial_folds(&[7, 8, 8], few, 10, (300, 300)),
            vec![0, 1, 1]
        );
    }

    #[test]
    fn spread_labels_are_not_held_out_by_whole_parts_of_the_scene() {
        // 40 points on a jittered grid over a 400 px scene: the map's pixels lie
        // about as far from the nearest label as a label from its neighbours, so the
        // folds must not hold out whole parts of the scene (10 places), which would
        // put held-out points two or three grid steps from the nearest training one.
        let mut pos = Vec::new();
        for i in 0..40isize {
            let (gx, gy) = (i % 8, i / 8);
            pos.push((25 + 50 * gx + (i * 7) % 11, 40 + 80 * gy + (i * 5) % 13));
        }
        let fids: Vec<u64> = (0..40).collect();
        let pts: Vec<(f64, f64)> = pos.iter().map(|&(c, r)| (c as f64, r as f64)).collect();
        let target = prediction_distances(&pts, (400, 400));
        let folds = spatial_folds(&fids, &pos, 10, (400, 400));
        let chosen = wasserstein(&held_out_distances(&pts, &folds), &target);
        let by_place = deal(
            &kmeans(
                &pts.iter().map(|p| vec![p.0, p.1]).collect::<Vec<_>>(),
                10,
                SEED,
                50,
            ),
            &(0..40).collect::<Vec<_>>(),
            10,
        );
        let by_place = wasserstein(&held_out_distances(&pts, &by_place), &target);
        assert!(
            chosen < by_place,
            "chosen {chosen} against whole places {by_place}"
        );
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let held = median(held_out_distances(&pts, &folds));
        assert!(held < 70.0, "held-out points {held} px from training ones");
        assert_eq!(folds.iter().copied().max(), Some(9));
    }

    #[test]
    fn wasserstein_is_the_shift_between_shifted_samples() {
        let a: Vec<f64> = (0..100).map(f64::from).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 7.0).collect();
        assert!((wasserstein(&a, &b) - 7.0).abs() < 1e-9);
        assert_eq!(wasserstein(&a, &a), 0.0);
    }
}

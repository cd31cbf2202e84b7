//! Seeded k-means (k-means++ initialisation, Lloyd iterations): clustered splits,
//! and the diversity of `geomaml suggest`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Squared Euclidean distance.
pub fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Assigns each point to one of `k` clusters (`k` is capped at the number of
/// points); the same seed gives the same clustering. Returns cluster ids `0..k`.
pub fn kmeans(points: &[Vec<f64>], k: usize, seed: u64, max_iter: usize) -> Vec<usize> {
    kmeans_with_centres(points, k, seed, max_iter).0
}

/// [`kmeans`], also returning the `k` cluster centres.
pub fn kmeans_with_centres(
    points: &[Vec<f64>],
    k: usize,
    seed: u64,
    max_iter: usize,
) -> (Vec<usize>, Vec<Vec<f64>>) {
    let n = points.len();
    let k = k.min(n);
    if k == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centres: Vec<Vec<f64>> = vec![points[rng.random_range(0..n)].clone()];
    while centres.len() < k {
        let d: Vec<f64> = points
            .iter()
            .map(|p| centres.iter().map(|c| dist2(p, c)).fold(f64::MAX, f64::min))
            .collect();
        let total: f64 = d.iter().sum();
        let pick = if total <= 0.0 {
            rng.random_range(0..n)
        } else {
            let mut r = rng.random::<f64>() * total;
            d.iter()
                .position(|&x| {
                    r -= x;
                    r <= 0.0
                })
                .unwrap_or(n - 1)
        };
        centres.push(points[pick].clone());
    }
    let mut assign = vec![usize::MAX; n];
    for _ in 0..max_iter {
        let mut changed = false;
        for (i, p) in points.iter().enumerate() {
            let best = (0..k)
                .min_by(|&a, &b| dist2(p, &centres[a]).total_cmp(&dist2(p, &centres[b])))
                .unwrap();
            if assign[i] != best {
                assign[i] = best;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<&Vec<f64>> = points
                .iter()
                .zip(&assign)
                .filter(|(_, &a)| a == c)
                .map(|(p, _)| p)
                .collect();
            if members.is_empty() {
                continue; // keep an empty cluster's centre where it was
            }
            for (d, v) in centre.iter_mut().enumerate() {
                *v = members.iter().map(|m| m[d]).sum::<f64>() / members.len() as f64;
            }
        }
    }
    (assign, centres)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_blobs_get_separate_clusters() {
        let mut pts = Vec::new();
        for i in 0..10 {
            pts.push(vec![0.0 + i as f64 * 0.01, 0.0]);
            pts.push(vec![10.0 + i as f64 * 0.01, 10.0]);
        }
        let a = kmeans(&pts, 2, 7, 50);
        assert_eq!(a, kmeans(&pts, 2, 7, 50), "seeded");
        for i in (0..20).step_by(2) {
            assert_eq!(a[i], a[0]);
            assert_eq!(a[i + 1], a[1]);
        }
        assert_ne!(a[0], a[1]);
    }
}

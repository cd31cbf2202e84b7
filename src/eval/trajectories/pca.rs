//! PCA of adapted-weight deltas through the tasks x tasks Gram matrix (f64), with the
//! share of variance the regions explain.

use tch::{Device, Kind, Tensor};

/// Projections of the PCA of a set of points.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Coordinates of each row on the first two components.
    pub coords: Vec<[f64; 2]>,
    /// Coordinates of the origin (the start weights, as rows are deltas).
    pub origin: [f64; 2],
    /// Share of the variance on each component (0 when nothing varies).
    pub explained: [f64; 2],
    /// Between-group over total sum of squares (`None` when nothing varies or
    /// all rows are in one group).
    pub group_r2: Option<f64>,
}

/// Columns of the data matrix converted to f64 at a time (bounds the extra memory).
const PCA_CHUNK: i64 = 1 << 20;

/// PCA of the rows of `deltas` (`[n, p]`) through the n x n Gram matrix of the
/// centred rows; `groups` labels the rows for the between-group share. Component
/// signs are fixed so that each component's largest coordinate is positive.
pub fn pca(deltas: &Tensor, groups: &[u32]) -> Pca {
    let size = deltas.size();
    let (n, p) = (size[0], size[1]);
    let mut gram = Tensor::zeros([n, n], (Kind::Double, Device::Cpu));
    let mut dot_mean = Tensor::zeros([n], (Kind::Double, Device::Cpu));
    tch::no_grad(|| {
        let mut start = 0;
        while start < p {
            let len = PCA_CHUNK.min(p - start);
            let chunk = deltas
                .narrow(1, start, len)
                .to_device(Device::Cpu)
                .to_kind(Kind::Double);
            let mean = chunk.mean_dim(0, true, Kind::Double);
            let centred = &chunk - &mean;
            gram += centred.mm(&centred.tr());
            dot_mean += centred.mm(&mean.tr()).reshape([-1]);
            start += len;
        }
    });
    let g: Vec<f64> = Vec::try_from(gram.reshape([-1])).unwrap_or_default();
    let at = |i: usize, j: usize| g[i * n as usize + j];
    let n = n as usize;
    let total: f64 = (0..n).map(|i| at(i, i)).sum();
    let mut coords = vec![[0.0; 2]; n];
    let mut origin = [0.0; 2];
    let mut explained = [0.0; 2];
    if n > 0 && total > 0.0 {
        let (values, vectors) = gram.linalg_eigh("L");
        let values: Vec<f64> = Vec::try_from(values).unwrap_or_default();
        let dm: Vec<f64> = Vec::try_from(dot_mean).unwrap_or_default();
        // eigh sorts ascending: the largest eigenvalue is last.
        for k in 0..2.min(n) {
            let idx = n - 1 - k;
            let lambda = values[idx].max(0.0);
            if lambda <= total * 1e-12 {
                continue;
            }
            let u: Vec<f64> =
                Vec::try_from(vectors.select(1, idx as i64).contiguous()).unwrap_or_default();
            let sigma = lambda.sqrt();
            let flip = u
                .iter()
                .copied()
                .max_by(|a, b| a.abs().total_cmp(&b.abs()))
                .map_or(1.0, |v| if v < 0.0 { -1.0 } else { 1.0 });
            for (c, ui) in coords.iter_mut().zip(&u) {
                c[k] = flip * sigma * ui;
            }
            // The origin is -mean; its component is -(mean . D^T u) / sigma.
            origin[k] = -flip * dm.iter().zip(&u).map(|(a, b)| a * b).sum::<f64>() / sigma;
            explained[k] = lambda / total;
        }
    }
    let mut distinct: Vec<u32> = groups.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let group_r2 = (total > 0.0 && distinct.len() > 1).then(|| {
        let between: f64 = distinct
            .iter()
            .map(|r| {
                let members: Vec<usize> = (0..n).filter(|&i| groups[i] == *r).collect();
                let sum: f64 = members
                    .iter()
                    .flat_map(|&i| members.iter().map(move |&j| (i, j)))
                    .map(|(i, j)| at(i, j))
                    .sum();
                sum / members.len() as f64
            })
            .sum();
        (between / total).clamp(0.0, 1.0)
    });
    Pca {
        coords,
        origin,
        explained,
        group_r2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_recovers_a_planted_plane_and_the_start_point() {
        // Rows (1 + a, 0.2 + b, 0, 0, 0): a and b centred and uncorrelated, two
        // groups along a, so PC1 is e0 and PC2 is e1.
        let a: [f64; 6] = [3.0, 3.4, 2.6, -3.0, -3.2, -2.8];
        let b: [f64; 6] = [0.5, -0.25, -0.25, 0.5, -0.25, -0.25];
        let rows: Vec<f32> = a
            .iter()
            .zip(b)
            .flat_map(|(&a, b)| [1.0 + a as f32, 0.2 + b as f32, 0.0, 0.0, 0.0])
            .collect();
        let x = Tensor::from_slice(&rows).reshape([6, 5]);
        let p = pca(&x, &[7, 7, 7, 9, 9, 9]);
        for (c, (a, b)) in p.coords.iter().zip(a.iter().zip(b)) {
            // Signs: each component's largest coordinate is positive (3.4, 0.5).
            assert!((c[0] - a).abs() < 1e-5 && (c[1] - b).abs() < 1e-5, "{c:?}");
        }
        // The start weights (the zero row) sit at minus the mean.
        assert!((p.origin[0] + 1.0).abs() < 1e-5 && (p.origin[1] + 0.2).abs() < 1e-5);
        let ss = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
        let total = ss(&a) + ss(&b);
        assert!((p.explained[0] - ss(&a) / total).abs() < 1e-6);
        assert!((p.explained[1] - ss(&b) / total).abs() < 1e-6);
        assert!(p.group_r2.unwrap() > 0.95);
        // Groups that cut across the split explain little.
        let mixed = pca(&x, &[1, 2, 3, 1, 2, 3]).group_r2.unwrap();
        assert!(mixed < 0.05, "{mixed}");
        assert_eq!(pca(&x, &[4; 6]).group_r2, None, "one group");
        // Rows that do not move: no components, no R².
        let still = pca(
            &Tensor::zeros([3, 4], (Kind::Float, Device::Cpu)),
            &[1, 2, 3],
        );
        assert_eq!(still.coords, vec![[0.0; 2]; 3]);
        assert_eq!(still.group_r2, None);
    }
}

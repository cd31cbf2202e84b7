//! A few-shot task turned into arrays, ready for any tensor library.

use ndarray::{Array2, Array4, Axis};

/// Support and query sets of one task as normalised arrays.
///
/// Images are `[n, bands, h, w]` f32. Labels are indices into the task's `classes`
/// (0..way): `[n]` per tile for classification, or `[n, h, w]` per pixel for
/// segmentation where [`IGNORE_INDEX`] marks pixels without a label.
#[derive(Debug, Clone)]
pub struct TaskBatch {
    /// Support images.
    pub support_x: Array4<f32>,
    /// Support labels: `[n, 1]` per tile (classification) or `[n, h*w]` per pixel
    /// (segmentation, row-major).
    pub support_y: Array2<i64>,
    /// Query images.
    pub query_x: Array4<f32>,
    /// Query labels, same layout as `support_y`.
    pub query_y: Array2<i64>,
    /// Class ids (legend ids) of task indices 0..way.
    pub classes: Vec<u16>,
}

/// Label value that losses and metrics skip (segmentation pixels without a class).
pub const IGNORE_INDEX: i64 = -100;

impl TaskBatch {
    /// Standardises each band over the task's support and query images together
    /// (zero mean, unit population standard deviation): the meta-training side of a
    /// model whose bands are standardised over the scene (`standardise_bands` in its
    /// card; [`crate::adapt`] does the same with the scene's statistics). One task is
    /// one region and season, the nearest thing to a scene that training has. A band
    /// constant over the task becomes 0.
    pub fn standardise_bands(&mut self) {
        let bands = self.support_x.shape()[1];
        for b in 0..bands {
            let (mut n, mut sum, mut sq) = (0usize, 0f64, 0f64);
            for x in [&self.support_x, &self.query_x] {
                for &v in x.index_axis(Axis(1), b).iter() {
                    n += 1;
                    sum += v as f64;
                    sq += (v as f64) * (v as f64);
                }
            }
            if n == 0 {
                continue;
            }
            let mean = sum / n as f64;
            let std = (sq / n as f64 - mean * mean).max(0.0).sqrt();
            let scale = if std > 1e-12 { 1.0 / std } else { 0.0 };
            for x in [&mut self.support_x, &mut self.query_x] {
                x.index_axis_mut(Axis(1), b)
                    .mapv_inplace(|v| ((v as f64 - mean) * scale) as f32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_are_standardised_over_support_and_query_together() {
        // Band 0: support 1, 3 and query 5, 7 (mean 4, std sqrt 5); band 1 constant.
        let mut t = TaskBatch {
            support_x: Array4::from_shape_vec((2, 2, 1, 1), vec![1., 9., 3., 9.]).unwrap(),
            support_y: Array2::zeros((2, 1)),
            query_x: Array4::from_shape_vec((2, 2, 1, 1), vec![5., 9., 7., 9.]).unwrap(),
            query_y: Array2::zeros((2, 1)),
            classes: vec![1, 2],
        };
        t.standardise_bands();
        let s5 = 5f32.sqrt();
        let got: Vec<f32> = t
            .support_x
            .iter()
            .chain(t.query_x.iter())
            .copied()
            .collect();
        let want = [-3. / s5, 0., -1. / s5, 0., 1. / s5, 0., 3. / s5, 0.];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} != {want:?}");
        }
    }
}

//! Point tasks: the analyst's situation as a few-shot task, for models that map
//! every pixel ([`Arch::Pixel`](crate::model::Arch)).
//!
//! A task is still one (season, region) with `way` classes, its support tiles and
//! query tiles drawn as for tile classification, but its labels are pixels: the
//! land-cover raster's class of each pixel (Sen12MS: IGBP, simplified to DFC 2020),
//! kept at only `support` random pixels per class over the support tiles (the
//! handful of points an analyst labels) and at up to `query` random pixels per class
//! over the query tiles (other places of the same region, which adaptation must get
//! right). Every other pixel is [`IGNORE_INDEX`]: losses are taken at labelled pixels
//! only, while the whole tile feeds the network (its context and batch statistics).

use super::batch::IGNORE_INDEX;
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// How many labelled pixels per class a point task keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PointLabels {
    /// Labelled pixels per class in the support set (the analyst's points).
    pub support: usize,
    /// Labelled pixels per class in the query set (at most).
    pub query: usize,
}

impl Default for PointLabels {
    /// 5 support points per class (the few an analyst labels, as in the benchmark
    /// of maps from few labels), 100 query pixels per class.
    fn default() -> Self {
        PointLabels {
            support: 5,
            query: 100,
        }
    }
}

/// Keeps `per_class` randomly chosen pixels of each task class `0..way` in the
/// per-pixel labels `y` (`[n, h*w]`) and sets the other pixels of that class to
/// [`IGNORE_INDEX`]; a class with fewer pixels keeps them all.
pub fn keep_points(y: &mut Array2<i64>, way: usize, per_class: usize, rng: &mut impl Rng) {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); way];
    for (i, &v) in y.iter().enumerate() {
        if v >= 0 && (v as usize) < way {
            by_class[v as usize].push(i);
        }
    }
    let flat = y.as_slice_mut().expect("labels are contiguous");
    for mut pixels in by_class {
        pixels.shuffle(rng);
        for &i in pixels.iter().skip(per_class) {
            flat[i] = IGNORE_INDEX;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn each_class_keeps_its_points_and_nothing_else() {
        let mut y = Array2::from_shape_fn((2, 50), |(n, i)| ((n * 50 + i) % 3) as i64);
        y[[0, 0]] = IGNORE_INDEX;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        keep_points(&mut y, 2, 5, &mut rng);
        for class in 0..2 {
            assert_eq!(y.iter().filter(|&&v| v == class).count(), 5);
        }
        // Class 2 is not a task class: its pixels stay as they were.
        assert_eq!(y.iter().filter(|&&v| v == 2).count(), 33);
        let again = {
            let mut z = Array2::from_shape_fn((2, 50), |(n, i)| ((n * 50 + i) % 3) as i64);
            z[[0, 0]] = IGNORE_INDEX;
            keep_points(&mut z, 2, 5, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
            z
        };
        assert_eq!(y, again);
        // Fewer pixels than asked: all kept.
        let mut small = Array2::from_elem((1, 3), 0i64);
        keep_points(
            &mut small,
            1,
            5,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
        );
        assert_eq!(small, Array2::from_elem((1, 3), 0i64));
    }
}

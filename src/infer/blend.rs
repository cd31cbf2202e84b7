//! Blending weights for overlapping segmentation windows.
//!
//! Each window's probabilities are weighted by a separable sine bump,
//! `w(u, v) = sin(pi (u + 1/2) / T) sin(pi (v + 1/2) / T)`, which is largest in the
//! middle, where the network sees the most context, and small but positive at the
//! edges, so pixels covered by a single window (scene borders) still get a value.
//! Overlapping contributions are summed and divided by the summed weights.
//!
//! Exact plans (`Plan::margin`) need no blending: the engine clips each window to
//! the pixels it keeps, so every pixel has one contribution, of weight 1.

use ndarray::Array2;

/// The `T x T` weight window.
pub fn weights(tile: usize) -> Array2<f32> {
    let w1: Vec<f32> = (0..tile)
        .map(|u| (std::f64::consts::PI * (u as f64 + 0.5) / tile as f64).sin() as f32)
        .collect();
    Array2::from_shape_fn((tile, tile), |(r, c)| w1[r] * w1[c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_peak_in_the_middle_and_stay_positive() {
        let w = weights(8);
        assert!(w.iter().all(|v| *v > 0.0));
        assert!(w[[3, 4]] > w[[0, 4]]);
        assert!((w[[3, 3]] - w[[4, 4]]).abs() < 1e-6);
    }
}

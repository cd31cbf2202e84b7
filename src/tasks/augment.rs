//! Data augmentation of a tile: flips and quarter turns, applied alike to its image
//! and its per-pixel labels.

use ndarray::{s, Array3};

/// Flips (bit 0: left-right, bit 1: up-down) then rotates by `turns` x 90 degrees
/// the last two axes of `[c, h, w]`.
pub fn augment<T: Clone>(a: ndarray::ArrayView3<T>, flip: u8, turns: u8) -> Array3<T> {
    let mut v = a;
    if flip & 1 == 1 {
        v = v.slice_move(s![.., .., ..;-1]);
    }
    if flip & 2 == 2 {
        v = v.slice_move(s![.., ..;-1, ..]);
    }
    for _ in 0..turns % 4 {
        // Transpose then mirror columns: a quarter turn clockwise.
        v = v.permuted_axes([0, 2, 1]).slice_move(s![.., .., ..;-1]);
    }
    v.as_standard_layout().into_owned()
}

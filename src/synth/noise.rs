//! Procedural noise on an infinite pixel plane: value noise, fractal sums of it and
//! jittered-grid Voronoi cells.
//!
//! All functions take world pixel coordinates, so overlapping patches (and a larger
//! scene over the same region) see exactly the same field.

use super::rng::{key, unit};

#[inline]
fn lattice(k: u64, ix: i64, iy: i64) -> f64 {
    unit(key(&[k, ix as u64, iy as u64])) * 2.0 - 1.0
}

#[inline]
fn smooth(t: f64) -> f64 {
    t * t * (3.0 - 2.0 * t)
}

/// Value noise in `[-1, 1]` with features about `scale` pixels wide.
pub fn value(k: u64, x: f64, y: f64, scale: f64) -> f64 {
    let (fx, fy) = (x / scale, y / scale);
    let (ix, iy) = (fx.floor(), fy.floor());
    let (tx, ty) = (smooth(fx - ix), smooth(fy - iy));
    let (ix, iy) = (ix as i64, iy as i64);
    let a = lattice(k, ix, iy);
    let b = lattice(k, ix + 1, iy);
    let c = lattice(k, ix, iy + 1);
    let d = lattice(k, ix + 1, iy + 1);
    let top = a + (b - a) * tx;
    let bottom = c + (d - c) * tx;
    top + (bottom - top) * ty
}

/// Fractal sum of `octaves` value-noise layers (halving scale, gain 0.5), roughly in
/// `[-1, 1]` with a standard deviation near 0.3.
pub fn fbm(k: u64, x: f64, y: f64, scale: f64, octaves: u32) -> f64 {
    let (mut sum, mut amp, mut norm, mut s) = (0.0, 1.0, 0.0, scale);
    for o in 0..octaves {
        sum += amp * value(k.wrapping_add(o as u64 * 0x9E37), x, y, s);
        norm += amp;
        amp *= 0.5;
        s *= 0.5;
    }
    sum / norm
}

/// The Voronoi cell of a jittered grid with spacing `cell` holding `(x, y)`:
/// `(cell id, centre x, centre y, distance to the nearest other centre minus distance
/// to own centre)` (the last is small near cell edges).
pub fn voronoi(k: u64, x: f64, y: f64, cell: f64) -> (u64, f64, f64, f64) {
    let (cx, cy) = ((x / cell).floor() as i64, (y / cell).floor() as i64);
    let mut best = (f64::MAX, 0u64, 0.0, 0.0);
    let mut second = f64::MAX;
    for dy in -1..=1 {
        for dx in -1..=1 {
            let (gx, gy) = (cx + dx, cy + dy);
            let id = key(&[k, gx as u64, gy as u64]);
            let px = (gx as f64 + 0.1 + 0.8 * unit(id)) * cell;
            let py = (gy as f64 + 0.1 + 0.8 * unit(id.rotate_left(21))) * cell;
            let d = (px - x).hypot(py - y);
            if d < best.0 {
                second = best.0;
                best = (d, id, px, py);
            } else if d < second {
                second = d;
            }
        }
    }
    (best.1, best.2, best.3, second - best.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_noise_is_bounded_continuous_and_deterministic() {
        let mut prev = value(9, 0.0, 5.0, 16.0);
        for i in 1..2000 {
            let v = value(9, i as f64 * 0.1, 5.0, 16.0);
            assert!((-1.0..=1.0).contains(&v));
            assert!((v - prev).abs() < 0.05, "jump at {i}");
            prev = v;
        }
        assert_eq!(fbm(3, 1.5, 2.5, 40.0, 4), fbm(3, 1.5, 2.5, 40.0, 4));
    }

    #[test]
    fn voronoi_cells_are_contiguous_regions() {
        let (a, ..) = voronoi(1, 100.0, 100.0, 30.0);
        let (b, ..) = voronoi(1, 100.5, 100.0, 30.0);
        let (c, ..) = voronoi(1, 400.0, 100.0, 30.0);
        // Neighbouring pixels usually share a cell; distant ones do not.
        assert!(a == b || voronoi(1, 100.0, 100.0, 30.0).3 < 1.0);
        assert_ne!(a, c);
    }
}

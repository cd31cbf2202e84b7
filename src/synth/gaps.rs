//! Nodata as real acquisitions have it: an S1 swath edge (NaN beyond a line) and an
//! S2 scene corner (zeros), drawn per (seed, region, season) in world coordinates so
//! overlapping patches agree.

use super::rng::{rng, tag};
use rand::Rng;

/// A half-plane `x * dir.0 + y * dir.1 > threshold` in world pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HalfPlane {
    dir: (f64, f64),
    threshold: f64,
}

impl HalfPlane {
    /// Whether world pixel `(x, y)` lies beyond the line.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        x * self.dir.0 + y * self.dir.1 > self.threshold
    }
}

/// The nodata areas of one acquisition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gaps {
    /// Where S1 is NaN.
    pub s1: Option<HalfPlane>,
    /// Where S2 is 0.
    pub s2: Option<HalfPlane>,
}

impl Gaps {
    /// Gaps of (region, season) for an area reaching `half` world pixels from the
    /// centre; `p_s1`/`p_s2` are the chances that each gap exists.
    pub fn new(seed: u64, region: u64, season: usize, half: f64, (p_s1, p_s2): (f64, f64)) -> Self {
        let mut r = rng(&[seed, tag::PATCH, region, season as u64, 0x6A9]);
        let s1 = r.random_bool(p_s1).then(|| {
            let a: f64 = r.random_range(0.0..std::f64::consts::TAU);
            HalfPlane {
                dir: (a.cos(), a.sin()),
                threshold: half * r.random_range(0.2..0.6),
            }
        });
        let s2 = r.random_bool(p_s2).then(|| {
            let corner = r.random_range(0..4u8);
            let (sx, sy) = (
                if corner & 1 == 0 { 1.0 } else { -1.0 },
                if corner & 2 == 0 { 1.0 } else { -1.0 },
            );
            let d = std::f64::consts::FRAC_1_SQRT_2;
            HalfPlane {
                dir: (sx * d, sy * d),
                threshold: half * std::f64::consts::SQRT_2 * r.random_range(0.5..0.8),
            }
        });
        Gaps { s1, s2 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_deterministic_and_sometimes_present() {
        assert_eq!(
            Gaps::new(1, 2, 3, 100.0, (0.5, 0.5)),
            Gaps::new(1, 2, 3, 100.0, (0.5, 0.5))
        );
        let n = (0..100)
            .filter(|&r| Gaps::new(1, r, 0, 100.0, (0.4, 0.3)).s1.is_some())
            .count();
        assert!((20..60).contains(&n), "{n}");
        let g = Gaps::new(1, 2, 3, 100.0, (1.0, 1.0));
        assert!(!g.s2.unwrap().contains(0.0, 0.0));
        assert!(!g.s1.unwrap().contains(0.0, 0.0));
    }
}

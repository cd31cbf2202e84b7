//! The measurable form of the paper's premise: does a class look the same in every
//! region?
//!
//! Given per-tile feature vectors (e.g. band means) labelled with region and class,
//! compare nearest-class-centroid accuracy on one region's tiles with centroids
//! (a) pooled over all *other* regions, versus (b) taken from a few tiles of the
//! same region. When appearance shifts between regions, (b) clearly beats (a):
//! adaptation from a few local samples pays off.

use super::rng::rng;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;

/// One tile: its region, its class and its features.
#[derive(Debug, Clone)]
pub struct TileSample {
    /// Region (or task) the tile comes from.
    pub region: u32,
    /// Majority class.
    pub class: u8,
    /// Feature vector (e.g. normalised band means).
    pub features: Vec<f32>,
}

/// Accuracies of the two kinds of centroids, averaged over evaluated tiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Separability {
    /// Accuracy with centroids pooled from other regions.
    pub pooled: f64,
    /// Accuracy with centroids from `shots` tiles per class of the same region.
    pub local: f64,
    /// Number of tiles evaluated.
    pub evaluated: usize,
}

fn dist2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn mean(rows: &[&[f32]]) -> Vec<f32> {
    let mut m = vec![0f32; rows[0].len()];
    for r in rows {
        m.iter_mut()
            .zip(r.iter())
            .for_each(|(a, b)| *a += b / rows.len() as f32);
    }
    m
}

fn nearest(x: &[f32], centroids: &BTreeMap<u8, Vec<f32>>) -> u8 {
    centroids
        .iter()
        .min_by(|a, b| dist2(x, a.1).total_cmp(&dist2(x, b.1)))
        .map(|c| *c.0)
        .unwrap_or(0)
}

/// Measures both accuracies. In each region, classes with more than `shots` tiles
/// that also occur in other regions are used; `shots` tiles of each are drawn (by
/// `seed`) as local support and the rest are queries for both methods. Both methods
/// choose only among those classes, as an N-way task would.
pub fn measure(samples: &[TileSample], shots: usize, seed: u64) -> Separability {
    let regions: Vec<u32> = {
        let mut r: Vec<u32> = samples.iter().map(|s| s.region).collect();
        r.sort_unstable();
        r.dedup();
        r
    };
    let (mut pooled_ok, mut local_ok, mut n) = (0usize, 0usize, 0usize);
    for &region in &regions {
        let mut by_class: BTreeMap<u8, Vec<&TileSample>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.region == region) {
            by_class.entry(s.class).or_default().push(s);
        }
        let mut pooled = BTreeMap::new();
        let mut local = BTreeMap::new();
        let mut queries = Vec::new();
        for (&class, tiles) in by_class.iter_mut() {
            let others: Vec<&[f32]> = samples
                .iter()
                .filter(|s| s.region != region && s.class == class)
                .map(|s| s.features.as_slice())
                .collect();
            if tiles.len() <= shots || others.is_empty() {
                continue;
            }
            tiles.shuffle(&mut rng(&[seed, region as u64, class as u64]));
            let support: Vec<&[f32]> = tiles[..shots]
                .iter()
                .map(|s| s.features.as_slice())
                .collect();
            local.insert(class, mean(&support));
            pooled.insert(class, mean(&others));
            queries.extend(
                tiles[shots..]
                    .iter()
                    .map(|s| (class, s.features.as_slice())),
            );
        }
        if local.len() < 2 {
            continue;
        }
        for (class, x) in queries {
            pooled_ok += usize::from(nearest(x, &pooled) == class);
            local_ok += usize::from(nearest(x, &local) == class);
            n += 1;
        }
    }
    let frac = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    Separability {
        pooled: frac(pooled_ok),
        local: frac(local_ok),
        evaluated: n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::render::render;
    use crate::synth::site::Site;

    /// Tile means (paper normalisation) of a few patches per region.
    fn tiles(seed: u64, regions: &[u32], season: usize, tile: usize) -> Vec<TileSample> {
        let mut out = Vec::new();
        for &id in regions {
            let site = Site::new(seed, id, crate::synth::variety::Appearance::Classic).unwrap();
            let look = site.look(season);
            let r = render(&site.land, &look, (-96, -96), (192, 192));
            for ty in 0..192 / tile {
                for tx in 0..192 / tile {
                    let mut counts = [0usize; 11];
                    let mut f = vec![0f32; 15];
                    for y in ty * tile..(ty + 1) * tile {
                        for x in tx * tile..(tx + 1) * tile {
                            let i = y * 192 + x;
                            counts[r.labels[i].class as usize] += 1;
                            (0..2).for_each(|b| f[b] += r.s1[b][i] * 1e-2);
                            (0..13).for_each(|b| f[2 + b] += r.s2[b][i] * 1e-4);
                        }
                    }
                    let (class, &c) = counts.iter().enumerate().max_by_key(|c| c.1).unwrap();
                    if c * 2 > tile * tile {
                        f.iter_mut().for_each(|v| *v /= (tile * tile) as f32);
                        out.push(TileSample {
                            region: id,
                            class: class as u8,
                            features: f,
                        });
                    }
                }
            }
        }
        out
    }

    #[test]
    fn a_few_local_samples_beat_centroids_pooled_over_other_regions() {
        let regions = [3, 6, 20, 53, 56, 71, 91, 103, 133, 137, 144, 149];
        let s = measure(&tiles(42, &regions, 1, 16), 5, 1);
        eprintln!("separability: {s:?}");
        assert!(s.evaluated > 200, "{s:?}");
        assert!(s.local > 0.8, "{s:?}");
        assert!(s.local - s.pooled > 0.2, "{s:?}");
    }

    #[test]
    fn identical_regions_give_equal_accuracies() {
        let f = |r: u32, c: u8, v: f32| TileSample {
            region: r,
            class: c,
            features: vec![v, 0.0],
        };
        let mut s = Vec::new();
        for r in 0..3 {
            for i in 0..8 {
                s.push(f(r, 1, i as f32 * 0.01));
                s.push(f(r, 2, 1.0 + i as f32 * 0.01));
            }
        }
        let m = measure(&s, 3, 0);
        assert_eq!((m.pooled, m.local), (1.0, 1.0));
    }
}

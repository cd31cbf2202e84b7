//! Label maps with spatial structure: the land cover of one region as a function of
//! world pixel coordinates (10 m pixels, origin at the region centre, rows down).
//!
//! Layers, from the top: meandering rivers (with a wetland fringe where the biome has
//! wetlands), towns (blocky blobs on a jittered grid), lakes (thresholded noise),
//! and land zones: a domain-warped fractal field mapped through the region's class
//! shares, where managed classes (croplands, grassland) are cut into Voronoi fields.
//! Because everything is a function of world coordinates, overlapping patches and a
//! larger scene of the same region agree pixel for pixel.

use super::biome::Biome;
use super::noise::{fbm, value, voronoi};
use super::rng::{key, rng, unit};
use super::signature::dfc;
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// One labelled pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pixel {
    /// DFC2020 class id (1..=10).
    pub class: u8,
    /// IGBP code (1..=17) as stored in Sen12MS `lc` band 1.
    pub igbp: u8,
    /// Id of the field / patch the pixel belongs to (drives per-field appearance).
    pub cell: u64,
}

#[derive(Debug, Clone)]
struct River {
    dir: (f64, f64),
    offset: f64,
    waves: [(f64, f64, f64); 2],
    width: f64,
}

/// The land cover of one region.
#[derive(Debug, Clone)]
pub struct Landscape {
    k: u64,
    biome: Biome,
    classes: Vec<u8>,
    cdf: Vec<f64>,
    zone_scale: f64,
    cell: f64,
    quantiles: Vec<f64>,
    lake_threshold: f64,
    rivers: Vec<River>,
    town_density: f64,
    town_spacing: f64,
    town_size: f64,
    fringe: bool,
}

/// Order in which land classes follow each other along the zone gradient, so that
/// neighbours are plausible (bare -> shrubs -> grass -> fields -> forest -> wetland).
const GRADIENT: [u8; 8] = [
    dfc::BARREN,
    dfc::SHRUBLAND,
    dfc::SAVANNA,
    dfc::GRASSLAND,
    dfc::CROPLANDS,
    dfc::FOREST,
    dfc::WETLANDS,
    dfc::SNOW,
];

impl Landscape {
    /// The landscape with layout key `k` (a function of seed and region), biome and
    /// whether the place is polar enough for permanent snow.
    pub fn new(k: u64, biome: Biome, polar: bool, town_density: f64) -> Self {
        let mut r = rng(&[k]);
        let jitter = Normal::<f64>::new(0.0, 0.45).expect("valid normal");
        let mut mix: Vec<(u8, f64)> = biome
            .land_mix()
            .iter()
            .map(|&(c, w)| (c, w as f64 * jitter.sample(&mut r).exp()))
            .collect();
        if polar {
            mix.push((dfc::SNOW, 0.06));
        }
        // Flatten the shares a little: a region dominated by one class has few tasks.
        mix.iter_mut().for_each(|c| c.1 = c.1.powf(0.5));
        mix.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = mix.iter().map(|c| c.1).sum();
        let keep = mix
            .iter()
            .take_while(|c| c.1 / total >= 0.05)
            .count()
            .max(4)
            .min(mix.len());
        mix.truncate(keep);
        mix.sort_by_key(|c| GRADIENT.iter().position(|g| *g == c.0));
        let total: f64 = mix.iter().map(|c| c.1).sum();
        let mut acc = 0.0;
        let cdf = mix.iter().map(|c| {
            acc += c.1 / total;
            acc
        });
        let cdf: Vec<f64> = cdf.collect();
        let classes: Vec<u8> = mix.iter().map(|c| c.0).collect();
        let zone_scale = r.random_range(30.0..70.0);
        let sample = |kk: u64, scale: f64, octaves: u32, n: usize| {
            let mut v: Vec<f64> = (0..n)
                .map(|i| {
                    let (x, y) = (
                        unit(key(&[kk, i as u64, 1])) * 2e4,
                        unit(key(&[kk, i as u64, 2])) * 2e4,
                    );
                    fbm(kk, x, y, scale, octaves)
                })
                .collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let quantiles = sample(key(&[k, 10]), zone_scale, 4, 1024);
        let lake_share = match biome {
            Biome::Boreal => 0.07,
            Biome::Arid => 0.01,
            Biome::Mediterranean => 0.015,
            _ => 0.025,
        };
        let lakes = sample(key(&[k, 11]), 55.0, 3, 1024);
        let lake_threshold = lakes[((1.0 - lake_share) * lakes.len() as f64) as usize];
        let n_rivers = 1 + usize::from(r.random_bool(0.35));
        let rivers = (0..n_rivers)
            .map(|i| {
                let a: f64 = r.random_range(0.0..std::f64::consts::PI);
                River {
                    dir: (a.cos(), a.sin()),
                    offset: r.random_range(-60.0..60.0),
                    waves: [
                        (
                            r.random_range(10.0..40.0),
                            r.random_range(80.0..200.0),
                            r.random_range(0.0..6.3),
                        ),
                        (
                            r.random_range(3.0..10.0),
                            r.random_range(20.0..50.0),
                            r.random_range(0.0..6.3),
                        ),
                    ],
                    width: if i == 0 {
                        r.random_range(3.0..8.0)
                    } else {
                        r.random_range(2.0..4.0)
                    },
                }
            })
            .collect();
        Landscape {
            k,
            biome,
            fringe: classes.contains(&dfc::WETLANDS),
            classes,
            cdf,
            zone_scale,
            cell: r.random_range(18.0..40.0),
            quantiles,
            lake_threshold,
            rivers,
            town_density,
            town_spacing: 300.0,
            town_size: 1.0,
        }
    }

    /// The same landscape with towns on a grid of `spacing` pixels, each cell holding
    /// one with chance `density`, radii scaled by `size` (dense, large towns make
    /// urban scenes).
    pub fn with_towns(mut self, density: f64, spacing: f64, size: f64) -> Self {
        self.town_density = density;
        self.town_spacing = spacing;
        self.town_size = size;
        self
    }

    /// The biome it was built for.
    pub fn biome(&self) -> Biome {
        self.biome
    }

    /// The land classes it can produce besides water and urban.
    pub fn land_classes(&self) -> &[u8] {
        &self.classes
    }

    fn class_at(&self, u: f64) -> u8 {
        let i = self
            .cdf
            .partition_point(|&c| c < u)
            .min(self.classes.len() - 1);
        self.classes[i]
    }

    fn uniform(&self, z: f64) -> f64 {
        self.quantiles.partition_point(|&q| q < z) as f64 / self.quantiles.len() as f64
    }

    fn zone(&self, x: f64, y: f64) -> f64 {
        let wx = x + 25.0 * value(key(&[self.k, 12]), x, y, 60.0);
        let wy = y + 25.0 * value(key(&[self.k, 13]), x, y, 60.0);
        self.uniform(fbm(key(&[self.k, 10]), wx, wy, self.zone_scale, 4))
    }

    fn river_distance(&self, x: f64, y: f64) -> Option<f64> {
        self.rivers
            .iter()
            .map(|rv| {
                let t = x * rv.dir.0 + y * rv.dir.1;
                let n = -x * rv.dir.1 + y * rv.dir.0;
                let centre = rv.offset
                    + rv.waves
                        .iter()
                        .map(|(a, l, p)| a * (t / l + p).sin())
                        .sum::<f64>();
                (n - centre).abs() - rv.width / 2.0
            })
            .min_by(f64::total_cmp)
    }

    fn in_town(&self, x: f64, y: f64) -> bool {
        let spacing = self.town_spacing;
        let (bx, by) = ((x / 6.0).floor() * 6.0 + 3.0, (y / 6.0).floor() * 6.0 + 3.0);
        let (cx, cy) = ((bx / spacing).floor() as i64, (by / spacing).floor() as i64);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let id = key(&[self.k, 20, (cx + dx) as u64, (cy + dy) as u64]);
                if unit(id) >= self.town_density {
                    continue;
                }
                let tx = ((cx + dx) as f64 + 0.15 + 0.7 * unit(id.rotate_left(13))) * spacing;
                let ty = ((cy + dy) as f64 + 0.15 + 0.7 * unit(id.rotate_left(29))) * spacing;
                let radius = (0.04 + 0.14 * unit(id.rotate_left(41))) * spacing * self.town_size;
                let d = (bx - tx).hypot(by - ty);
                if d * (1.0 + 0.35 * value(id, bx, by, 25.0)) < radius {
                    return true;
                }
            }
        }
        false
    }

    /// The land cover at world pixel `(x, y)`.
    pub fn at(&self, x: f64, y: f64) -> Pixel {
        let water = |cell| Pixel {
            class: dfc::WATER,
            igbp: 17,
            cell,
        };
        if let Some(d) = self.river_distance(x, y) {
            if d < 0.0 {
                return water(1);
            }
            if self.fringe && d < 3.0 {
                return Pixel {
                    class: dfc::WETLANDS,
                    igbp: 11,
                    cell: 2,
                };
            }
        }
        if self.in_town(x, y) {
            return Pixel {
                class: dfc::URBAN,
                igbp: 13,
                cell: 3,
            };
        }
        if fbm(key(&[self.k, 11]), x, y, 55.0, 3) > self.lake_threshold {
            return water(4);
        }
        let (id, cx, cy, _) = voronoi(key(&[self.k, 14]), x, y, self.cell);
        let mut class = self.class_at(self.zone(x, y));
        if class == dfc::CROPLANDS || class == dfc::GRASSLAND {
            let u = self.zone(cx, cy) + (unit(id) - 0.5) * 0.25;
            class = self.class_at(u.clamp(0.0, 1.0));
        }
        let variants = self.biome.igbp_variants(class);
        let igbp = variants[usize::from(unit(id ^ class as u64) < 0.25)];
        Pixel {
            class,
            igbp,
            cell: id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(l: &Landscape, n: i32) -> [usize; 11] {
        let mut c = [0usize; 11];
        for y in -n..n {
            for x in -n..n {
                c[l.at(x as f64, y as f64).class as usize] += 1;
            }
        }
        c
    }

    #[test]
    fn regions_hold_several_classes_with_structure() {
        for salt in 0..6u64 {
            let l = Landscape::new(key(&[salt]), Biome::Temperate, false, 0.6);
            let c = counts(&l, 160);
            let present = c.iter().filter(|&&n| n > 200).count();
            assert!(present >= 4, "only {present} classes: {c:?}");
            assert!(c[dfc::WATER as usize] > 0, "no river: {c:?}");
            // Spatial structure: most horizontal neighbours share a class.
            let same = (0..2000).filter(|i| {
                let (x, y) = ((i % 50) as f64 * 3.0, (i / 50) as f64 * 3.0);
                l.at(x, y).class == l.at(x + 1.0, y).class
            });
            assert!(same.count() > 1800);
        }
    }

    #[test]
    fn igbp_codes_map_back_to_the_class() {
        let l = Landscape::new(7, Biome::Boreal, true, 0.2);
        for i in 0..500 {
            let p = l.at(i as f64 * 7.0, (i * 13 % 300) as f64);
            assert_eq!(crate::catalog::classes::igbp_to_dfc(p.igbp as u16), p.class);
        }
    }
}

//! Biomes: which classes a region holds and in what proportions.
//!
//! A region's biome follows its latitude (boreal north of 50 degrees, tropical near
//! the equator, arid or mediterranean in the subtropics, temperate in between) with
//! a per-region draw where several fit, so the mix of classes is realistic and
//! differs between regions. It depends on the region id only, not on the seed: the
//! same place keeps its character under every seed.

use super::rng::{key, unit};
use super::signature::dfc;

/// A broad landscape type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Biome {
    /// Fields, forests and towns of the mid-latitudes.
    Temperate,
    /// Conifer forest, wetlands, lakes.
    Boreal,
    /// Bare ground, sparse shrubs, a few irrigated fields.
    Arid,
    /// Rain forest, savanna, small-holder crops.
    Tropical,
    /// Shrubs, orchards and crops on dry soils.
    Mediterranean,
}

impl Biome {
    /// The biome of a place (`salt` picks among the biomes that fit the latitude).
    pub fn at(lat: f64, salt: u64) -> Biome {
        let a = lat.abs();
        let u = unit(key(&[salt, 0xB10]));
        if a >= 50.0 {
            Biome::Boreal
        } else if a < 12.0 {
            Biome::Tropical
        } else if a < 35.0 {
            if u < 0.55 {
                Biome::Arid
            } else if a < 24.0 {
                Biome::Tropical
            } else {
                Biome::Mediterranean
            }
        } else if u < 0.7 || a > 45.0 {
            Biome::Temperate
        } else {
            Biome::Mediterranean
        }
    }

    /// Typical area shares of the land classes (water and urban come from rivers,
    /// lakes and towns instead).
    pub fn land_mix(self) -> &'static [(u8, f32)] {
        use dfc::*;
        match self {
            Biome::Temperate => &[
                (CROPLANDS, 0.38),
                (FOREST, 0.25),
                (GRASSLAND, 0.22),
                (SHRUBLAND, 0.07),
                (WETLANDS, 0.05),
                (BARREN, 0.03),
            ],
            Biome::Boreal => &[
                (FOREST, 0.45),
                (WETLANDS, 0.2),
                (GRASSLAND, 0.12),
                (SHRUBLAND, 0.12),
                (BARREN, 0.05),
                (CROPLANDS, 0.06),
            ],
            Biome::Arid => &[
                (BARREN, 0.35),
                (SHRUBLAND, 0.3),
                (GRASSLAND, 0.15),
                (SAVANNA, 0.08),
                (CROPLANDS, 0.12),
            ],
            Biome::Tropical => &[
                (FOREST, 0.35),
                (SAVANNA, 0.25),
                (CROPLANDS, 0.2),
                (GRASSLAND, 0.15),
                (WETLANDS, 0.05),
            ],
            Biome::Mediterranean => &[
                (CROPLANDS, 0.3),
                (SHRUBLAND, 0.25),
                (FOREST, 0.15),
                (GRASSLAND, 0.15),
                (BARREN, 0.1),
                (SAVANNA, 0.05),
            ],
        }
    }

    /// IGBP codes used for forest, shrubland and savanna (two each: a main one and
    /// a minority one).
    pub fn igbp_variants(self, class: u8) -> [u8; 2] {
        match (class, self) {
            (dfc::FOREST, Biome::Boreal) => [1, 5],
            (dfc::FOREST, Biome::Tropical) => [2, 4],
            (dfc::FOREST, Biome::Mediterranean) => [1, 5],
            (dfc::FOREST, _) => [4, 5],
            (dfc::SHRUBLAND, Biome::Arid) => [7, 6],
            (dfc::SHRUBLAND, _) => [6, 7],
            (dfc::SAVANNA, Biome::Tropical) => [8, 9],
            (dfc::SAVANNA, _) => [9, 8],
            (dfc::GRASSLAND, _) => [10, 10],
            (dfc::WETLANDS, _) => [11, 11],
            (dfc::CROPLANDS, _) => [12, 14],
            (dfc::URBAN, _) => [13, 13],
            (dfc::SNOW, _) => [15, 15],
            (dfc::BARREN, _) => [16, 16],
            _ => [17, 17],
        }
    }

    /// How much the vegetation cycle swings over the year (tropics: little).
    pub fn seasonality(self) -> f32 {
        match self {
            Biome::Tropical => 0.3,
            Biome::Arid => 0.5,
            Biome::Mediterranean => 0.7,
            Biome::Temperate => 1.0,
            Biome::Boreal => 1.0,
        }
    }

    /// Chance of a town in each 300 x 300 px cell.
    pub fn town_density(self) -> f64 {
        match self {
            Biome::Temperate => 0.6,
            Biome::Mediterranean => 0.55,
            Biome::Tropical => 0.35,
            Biome::Arid => 0.3,
            Biome::Boreal => 0.2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn biomes_follow_latitude() {
        assert_eq!(Biome::at(61.0, 1), Biome::Boreal);
        assert_eq!(Biome::at(-3.0, 1), Biome::Tropical);
        assert_eq!(Biome::at(47.5, 1), Biome::Temperate);
    }

    #[test]
    fn every_mix_has_at_least_four_land_classes_and_sums_to_one() {
        for b in [
            Biome::Temperate,
            Biome::Boreal,
            Biome::Arid,
            Biome::Tropical,
            Biome::Mediterranean,
        ] {
            let m = b.land_mix();
            assert!(m.len() >= 4, "{b:?}");
            let s: f32 = m.iter().map(|c| c.1).sum();
            assert!((s - 1.0).abs() < 1e-3, "{b:?} sums to {s}");
        }
    }
}

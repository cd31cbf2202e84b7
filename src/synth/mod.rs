//! Synthetic data in the real layouts, deterministic by seed.
//!
//! - [`sen12ms`]: a Sen12MS tree (s1/s2/lc patches of real regions in their UTM zones);
//! - [`deepglobe`]: DeepGlobe-style `<id>_sat.jpg` + `<id>_mask.png` pairs;
//! - [`scene`]: one larger 15-band scene of a held-out region, its true labels and a
//!   GeoJSON of labelled points.
//!
//! The parts: a [`landscape::Landscape`] gives each region spatially structured land
//! cover (fields, forests, rivers, towns); a [`look::Look`] gives each (region,
//! season) its own appearance of every class, shifted strongly enough that a model
//! must adapt to a new region ([`separability`] measures it); [`render`] paints
//! windows from both as a pure function of world coordinates, so every random
//! choice depends on (seed, region, season, position) and never on thread order.

pub mod biome;
pub mod choice;
pub mod deepglobe;
pub mod gaps;
pub mod geotiff;
pub mod landscape;
pub mod look;
pub mod noise;
pub mod points;
pub mod render;
pub mod rng;
pub mod scene;
pub mod sen12ms;
pub mod separability;
pub mod signature;
pub mod site;
pub mod tree;
pub mod variety;

pub use look::SEASONS;
pub use sen12ms::{Sen12msOptions, SEASON_FOLDERS};
pub use variety::Appearance;

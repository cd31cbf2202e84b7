//! What geomaml knows of each dataset beyond its file layout: the classes its
//! few-shot tasks use, its ground sampling distance, whether its labels are per
//! pixel, and the bands a model reads by default. One implementation per dataset;
//! [`DatasetKind::dataset`] picks it, so no other module matches on the kind for
//! these facts.

use super::classes::{deepglobe, dfc2020};
use super::kind::DatasetKind;
use crate::legend::ClassInfo;

/// DeepGlobe class ids a segmentation task predicts (Urban .. Barren).
pub const DEEPGLOBE_TASK_CLASSES: [u16; 6] = [0, 1, 2, 3, 4, 5];

/// The facts of one dataset.
pub trait Dataset: Sync {
    /// The classes its tasks draw from, in legend order.
    fn task_classes(&self) -> Vec<ClassInfo>;
    /// Ground sampling distance in metres.
    fn resolution_m(&self) -> f64;
    /// Whether labels are per pixel (segmentation) rather than per tile.
    fn per_pixel_labels(&self) -> bool;
    /// The band list a model reads by default (`--bands` syntax: `all`, `rgb`).
    fn default_bands(&self) -> &'static str;
}

/// Sen12MS (Schmitt et al. 2019): Sentinel-1 and -2 at 10 m, tiles labelled by the
/// majority DFC 2020 class.
#[derive(Debug, Clone, Copy)]
pub struct Sen12ms;

impl Dataset for Sen12ms {
    fn task_classes(&self) -> Vec<ClassInfo> {
        dfc2020()
    }
    fn resolution_m(&self) -> f64 {
        10.0
    }
    fn per_pixel_labels(&self) -> bool {
        false
    }
    fn default_bands(&self) -> &'static str {
        "all"
    }
}

/// DeepGlobe land cover (Demir et al. 2018): RGB at 0.5 m with per-pixel masks.
#[derive(Debug, Clone, Copy)]
pub struct DeepGlobe;

impl Dataset for DeepGlobe {
    fn task_classes(&self) -> Vec<ClassInfo> {
        deepglobe()
            .into_iter()
            .filter(|c| DEEPGLOBE_TASK_CLASSES.contains(&c.id))
            .collect()
    }
    fn resolution_m(&self) -> f64 {
        0.5
    }
    fn per_pixel_labels(&self) -> bool {
        true
    }
    fn default_bands(&self) -> &'static str {
        "rgb"
    }
}

impl DatasetKind {
    /// The dataset's facts.
    pub fn dataset(self) -> &'static dyn Dataset {
        match self {
            DatasetKind::Sen12ms => &Sen12ms,
            DatasetKind::Deepglobe => &DeepGlobe,
        }
    }
}

//! What geomaml knows of each dataset: how to recognise its tree, how to scan it,
//! where each band is read, the classes its few-shot tasks use, its ground sampling
//! distance, whether its labels are per pixel, the bands a model reads by default,
//! and how its regions are split when no split is asked for.
//!
//! One implementation per dataset, in the dataset's own file (`sen12ms.rs`,
//! `deepglobe.rs`), registered in [`DATASETS`] with a [`DatasetKind`] variant (the
//! name stored in `catalog.json`). Everything else reaches a dataset through
//! [`DatasetKind::dataset`] or the registry, so no module matches on the kind:
//! adding a dataset is one file, its variant and its entry here.

use super::deepglobe::DeepGlobe;
use super::file::Catalog;
use super::kind::{DatasetKind, ScanOptions};
use super::record::BandFile;
use super::sen12ms::Sen12ms;
use crate::error::Result;
use crate::legend::ClassInfo;
use crate::tasks::Splits;
use std::path::Path;

pub use super::deepglobe::DEEPGLOBE_TASK_CLASSES;

/// Every dataset geomaml can catalog, in the order detection tries them.
pub const DATASETS: [&dyn Dataset; 2] = [&Sen12ms, &DeepGlobe];

/// The facts of one dataset.
pub trait Dataset: Sync {
    /// The kind stored in catalogs (`"kind": "sen12ms"`).
    fn kind(&self) -> DatasetKind;
    /// The kind's name as users write it (`--kind`) and catalogs store it.
    fn name(&self) -> &'static str;
    /// The files that mark the layout, in words, for the error of a folder that
    /// has none (`Sen12MS (ROIs*_<season>/…/*.tif)`).
    fn layout(&self) -> &'static str;
    /// Whether a file of this name (no folder) marks a tree of this layout.
    fn recognises(&self, file_name: &str) -> bool;
    /// Scans the tree at `root` (a folder) into a catalog.
    ///
    /// Errors: an unreadable root, options the layout cannot use (naming the
    /// option), and a tree with nothing usable (counting what was skipped, why).
    fn scan(&self, root: &Path, options: &ScanOptions) -> Result<Catalog>;
    /// Where band `name` (`VV`, `B04`, `R`) is read: the tile's source file and the
    /// 1-based band number in it; `None` when the dataset has no such band.
    fn band(&self, name: &str) -> Option<(BandFile, usize)>;
    /// The classes its tasks draw from, in legend order.
    fn task_classes(&self) -> Vec<ClassInfo>;
    /// Ground sampling distance in metres.
    fn resolution_m(&self) -> f64;
    /// Whether labels are per pixel (segmentation) rather than per tile.
    fn per_pixel_labels(&self) -> bool;
    /// The band list a model reads by default (`--bands` syntax: `all`, `rgb`).
    fn default_bands(&self) -> &'static str;
    /// The split of `catalog`'s regions (or images) when none is asked for.
    fn default_split(&self, catalog: &Catalog) -> Splits;
    /// The clustered split (k-means on per-image features, seeded), for datasets
    /// whose catalogs keep per-image records; `None` for the others.
    fn clustered_split(&self, _catalog: &Catalog, _seed: u64) -> Option<Splits> {
        None
    }
}

impl DatasetKind {
    /// The dataset's facts.
    pub fn dataset(self) -> &'static dyn Dataset {
        DATASETS
            .into_iter()
            .find(|d| d.kind() == self)
            .expect("every dataset kind is registered in DATASETS")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_dataset_is_its_kind_and_names_it() {
        for d in DATASETS {
            assert!(std::ptr::addr_eq(d.kind().dataset(), d));
            assert_eq!(d.name().parse::<DatasetKind>().unwrap(), d.kind());
            assert_eq!(d.kind().to_string(), d.name());
        }
    }

    #[test]
    fn a_file_marks_at_most_one_layout() {
        for name in ["ROIs1158_spring_s2_57_p30.tif", "12_sat.jpg", "12_mask.png"] {
            let n = DATASETS.iter().filter(|d| d.recognises(name)).count();
            assert_eq!(n, 1, "{name}");
        }
        assert!(!DATASETS.iter().any(|d| d.recognises("README.md")));
    }
}

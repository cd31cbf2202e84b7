//! The kinds of dataset geomaml can catalog (the name a catalog stores), layout
//! detection, and scan options.
//!
//! A kind is a name: what a dataset is and does lives in its [`Dataset`](super::Dataset)
//! implementation (`sen12ms.rs`, `deepglobe.rs`), which [`DatasetKind::dataset`]
//! finds in the registry ([`super::dataset::DATASETS`]). Adding a dataset adds one
//! variant here.

use super::dataset::DATASETS;
use super::file::Catalog;
use crate::error::{Error, Result};
use crate::progress::Progress;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::OnceLock;

/// A dataset layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// `ROIsNNNN_<season>/{s1,s2,lc}_<scene>/ROIsNNNN_<season>_<kind>_<scene>_p<N>.tif`.
    Sen12ms,
    /// `<id>_sat.jpg` with `<id>_mask.png`, anywhere below the root.
    Deepglobe,
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dataset().name())
    }
}

impl std::str::FromStr for DatasetKind {
    type Err = crate::error::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.to_ascii_lowercase();
        match DATASETS.into_iter().find(|d| d.name() == s) {
            Some(d) => Ok(d.kind()),
            None => {
                static NAMES: OnceLock<String> = OnceLock::new();
                let names = NAMES.get_or_init(|| {
                    let names: Vec<&str> = DATASETS.iter().map(|d| d.name()).collect();
                    names.join(" or ")
                });
                Err(crate::error::UnknownName {
                    what: "dataset kind",
                    value: s,
                    expected: names,
                })
            }
        }
    }
}

impl DatasetKind {
    /// Guesses the layout from the first file below `root` (depth <= 5) that a
    /// registered dataset recognises ([`Dataset::recognises`](super::Dataset::recognises)).
    pub fn detect(root: &Path) -> Result<DatasetKind> {
        if !root.is_dir() {
            return Err(Error::catalog(root, "not a folder"));
        }
        for entry in walkdir::WalkDir::new(root)
            .max_depth(5)
            .into_iter()
            .filter_map(|e| e.ok())
        {
            let name = entry.file_name().to_string_lossy();
            if let Some(d) = DATASETS.into_iter().find(|d| d.recognises(&name)) {
                return Ok(d.kind());
            }
        }
        let layouts: Vec<&str> = DATASETS.iter().map(|d| d.layout()).collect();
        Err(Error::catalog(
            root,
            format!(
                "found no {} files; is this the dataset folder?",
                layouts.join(" or ")
            ),
        ))
    }

    /// Scans `root` as this layout ([`Dataset::scan`](super::Dataset::scan)).
    pub fn scan(self, root: &Path, options: &ScanOptions) -> Result<Catalog> {
        self.dataset().scan(root, options)
    }
}

/// How to cut and label a tree.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Tile edge in pixels for Sen12MS (paper: 128, four tiles per 256 px patch).
    pub tile_size: u32,
    /// A tile whose labelled pixels are fewer than this share gets no label.
    pub min_valid_fraction: f32,
    /// Seed of the DeepGlobe support/query draw.
    pub seed: u64,
    /// Started with the number of patches or images, advanced once per each;
    /// hidden by default.
    pub progress: Progress,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            tile_size: 128,
            min_valid_fraction: 0.5,
            seed: 0,
            progress: Progress::hidden(),
        }
    }
}

/// Scans `root`, detecting its layout unless `kind` is given.
pub fn scan(root: &Path, kind: Option<DatasetKind>, options: &ScanOptions) -> Result<Catalog> {
    let kind = match kind {
        Some(k) => {
            if !root.is_dir() {
                return Err(Error::catalog(root, "not a folder"));
            }
            k
        }
        None => DatasetKind::detect(root)?,
    };
    kind.scan(root, options)
}

/// `path` relative to `root` as a `/`-separated string.
pub(crate) fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

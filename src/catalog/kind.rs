//! Dataset layouts geomaml can catalog, how to recognise them, and scan options.
//!
//! Adding a dataset means adding one file with a `scan` function and one variant here.

use super::file::Catalog;
use crate::error::{Error, Result};
use crate::progress::Progress;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;

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
        f.write_str(match self {
            DatasetKind::Sen12ms => "sen12ms",
            DatasetKind::Deepglobe => "deepglobe",
        })
    }
}

impl std::str::FromStr for DatasetKind {
    type Err = crate::error::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sen12ms" => Ok(DatasetKind::Sen12ms),
            "deepglobe" => Ok(DatasetKind::Deepglobe),
            other => Err(crate::error::UnknownName {
                what: "dataset kind",
                value: other.into(),
                expected: "sen12ms or deepglobe",
            }),
        }
    }
}

impl DatasetKind {
    /// Guesses the layout from the first recognisable file below `root` (depth <= 5).
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
            if name.ends_with("_sat.jpg") || name.ends_with("_mask.png") {
                return Ok(DatasetKind::Deepglobe);
            }
            if name.starts_with("ROIs") && name.ends_with(".tif") {
                return Ok(DatasetKind::Sen12ms);
            }
        }
        Err(Error::catalog(
            root,
            "found no Sen12MS (ROIs*_<season>/…/*.tif) or DeepGlobe (<id>_sat.jpg) files; is this the dataset folder?",
        ))
    }

    /// Scans `root` as this layout.
    pub fn scan(self, root: &Path, options: &ScanOptions) -> Result<Catalog> {
        match self {
            DatasetKind::Sen12ms => super::sen12ms::scan(root, options),
            DatasetKind::Deepglobe => super::deepglobe::scan(root, options),
        }
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

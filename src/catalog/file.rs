//! The catalog: every usable tile of a dataset tree, saved as `catalog.json`.
//!
//! Tile ids are positions in `tiles`. Source paths are relative to `root`, so a
//! catalog survives moving the tree when `root` is updated. Saving is atomic.

use super::deepglobe::ImageRecord;
use super::kind::DatasetKind;
use super::record::{TileId, TileRecord};
use super::summary::{SkipReport, Summary};
use crate::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the catalog.json layout written by this build.
pub const CATALOG_VERSION: u32 = 1;

/// Everything known about one dataset tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Catalog {
    /// Layout version ([`CATALOG_VERSION`]).
    pub version: u32,
    /// Which dataset layout the tree follows.
    pub kind: DatasetKind,
    /// The scanned folder (absolute); source paths are relative to it.
    pub root: PathBuf,
    /// Tile edge in pixels (Sen12MS), or sub-image edge (DeepGlobe).
    pub tile_size: u32,
    /// Seed of the DeepGlobe support/query draw (0 for Sen12MS).
    #[serde(default)]
    pub seed: u64,
    /// Counts per region, season and class.
    pub summary: Summary,
    /// Files and patches the scan could not use.
    pub skipped: SkipReport,
    /// DeepGlobe: one record per image (class fractions, features for splits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageRecord>,
    /// The tiles; a tile's id is its position here.
    pub tiles: Vec<TileRecord>,
}

impl Catalog {
    /// Reads a catalog.json.
    pub fn load(path: impl AsRef<Path>) -> Result<Catalog> {
        let path = path.as_ref();
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let cat: Catalog = serde_json::from_slice(&text)
            .map_err(|e| Error::catalog_source(path, "not a geomaml catalog", e))?;
        if cat.version != CATALOG_VERSION {
            return Err(Error::catalog(
                path,
                format!("catalog version {} is not supported (expected {CATALOG_VERSION}); rerun `geomaml catalog`", cat.version),
            ));
        }
        Ok(cat)
    }

    /// Writes the catalog atomically; an existing file is replaced only with `overwrite`.
    pub fn save(&self, path: impl AsRef<Path>, overwrite: bool) -> Result<PathBuf> {
        let bytes =
            serde_json::to_vec(self).map_err(|e| Error::catalog_source(path.as_ref(), "", e))?;
        crate::output::write_atomic(path, &bytes, overwrite)
    }

    /// The tile with id `id`.
    pub fn tile(&self, id: TileId) -> &TileRecord {
        &self.tiles[id as usize]
    }

    /// Absolute path of a source path stored in a record.
    pub fn resolve(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Every file the tiles are read from (sources resolved against the root):
    /// what an output must never replace.
    pub fn files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.tiles.iter().flat_map(|t| {
            let s = &t.sources;
            [&s.s1, &s.s2, &s.lc, &s.image, &s.mask]
                .into_iter()
                .flatten()
                .map(|rel| self.resolve(rel))
        })
    }

    /// The tiles' region (or image) ids, sorted, each once.
    pub fn regions(&self) -> Vec<u32> {
        let mut r: Vec<u32> = self.tiles.iter().map(|t| t.region).collect();
        r.sort_unstable();
        r.dedup();
        r
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Whether the catalog holds no tiles.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    /// One line per fact: regions, seasons, tiles, classes, skipped.
    pub fn describe(&self) -> String {
        let s = &self.summary;
        let classes = s
            .per_class
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        format!(
            "{kind} catalog of {root}\n  regions: {}\n  seasons: {}\n  tiles:   {} ({} labelled, {} px)\n  classes: {}\n  skipped: {} ({})",
            s.per_region.len(),
            s.per_season.keys().cloned().collect::<Vec<_>>().join(", "),
            s.tiles,
            s.labelled,
            self.tile_size,
            if classes.is_empty() { "none".into() } else { classes },
            self.skipped.total,
            self.skipped.brief(),
            kind = self.kind,
            root = self.root.display(),
        )
    }
}

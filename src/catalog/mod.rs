//! Dataset catalogs: what tiles a Sen12MS or DeepGlobe tree holds, where, and of
//! which class.
//!
//! [`scan`] walks a tree (layout detected or given as [`DatasetKind`]) and returns a
//! [`Catalog`] of [`TileRecord`]s, saved as `catalog.json`. Each dataset is one
//! file (`sen12ms.rs`, `deepglobe.rs`) implementing [`Dataset`]: detection,
//! scanning, band lookup, default split and its facts; [`DATASETS`] registers them. Invariants: tile windows
//! are in pixel space of the source rasters; footprints (`bbox_wgs84`) are in
//! EPSG:4326 as `[min lon, min lat, max lon, max lat]`; source paths are relative to
//! the catalog root; files the scan cannot use are counted in
//! [`Catalog::skipped`], never silently dropped.

pub mod classes;
pub mod dataset;
pub mod deepglobe;
mod file;
pub mod footprint;
mod kind;
mod record;
pub mod regions;
pub mod sen12ms;
mod summary;

pub use dataset::{Dataset, DATASETS};
pub use deepglobe::ImageRecord;
pub use file::{Catalog, CATALOG_VERSION};
pub use kind::{scan, DatasetKind, ScanOptions};
pub use record::{BandFile, PixelWindow, Season, Sources, TileId, TileRecord, TileRole};
pub use regions::{Region, Split};
pub use summary::{SkipReport, SkippedFile, Summary};

//! `manifest.json` of a tile store: what each file holds and which catalog it was
//! built from.
//!
//! Invariants: every array file holds `tiles` chunks of equal size, tile `t` at
//! byte `t * chunk`, little-endian; `catalog_sha256` is the SHA-256 of the catalog
//! file's bytes when the store was written, so a catalog written again (other tiles,
//! other windows) is caught before any pixel is read.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `format` value every manifest carries.
pub const STORE_FORMAT: &str = "geomaml-tile-store";

/// The manifest version this build reads and writes.
pub const STORE_VERSION: u32 = 1;

/// The manifest's file name inside the store folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// How samples of a group are stored: the band type of the source rasters, so
/// that nothing is lost and nothing is widened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreType {
    /// Unsigned 8 bit (RGB images, labels).
    Uint8,
    /// Unsigned 16 bit (Sentinel-2 digital numbers).
    Uint16,
    /// Signed 16 bit.
    Int16,
    /// 32 bit float (Sentinel-1 backscatter, any other type).
    Float32,
}

impl StoreType {
    /// Bytes per sample.
    pub fn size(self) -> usize {
        match self {
            StoreType::Uint8 => 1,
            StoreType::Uint16 | StoreType::Int16 => 2,
            StoreType::Float32 => 4,
        }
    }

    /// The stored type of a GDAL band type: integers up to 16 bit as they are,
    /// everything else as 32 bit float.
    pub fn of_gdal(t: gdal::raster::GdalDataType) -> StoreType {
        use gdal::raster::GdalDataType as G;
        match t {
            G::UInt8 => StoreType::Uint8,
            G::UInt16 => StoreType::Uint16,
            G::Int16 => StoreType::Int16,
            _ => StoreType::Float32,
        }
    }
}

/// The bands of one source file of every tile (`s1`, `s2` or `image`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StoreGroup {
    /// Which source of the tile: `s1`, `s2` or `image`.
    pub source: String,
    /// Array file in the store folder: `[tiles, bands, tile_size, tile_size]`.
    pub file: String,
    /// Stored sample type.
    pub dtype: StoreType,
    /// Position of each stored band in the store's `bands` (model order).
    pub outputs: Vec<usize>,
    /// 1-based band number of each stored band in the source file.
    pub band_numbers: Vec<usize>,
}

/// The label raster of every tile, as bytes (values clamped to 0..255).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StoreLabels {
    /// `lc` (Sen12MS land cover, band 1: IGBP) or `mask` (DeepGlobe RGB colours).
    pub source: String,
    /// Array file: `[tiles, bands, tile_size, tile_size]` uint8.
    pub file: String,
    /// 1 (`lc`) or 3 (`mask`).
    pub bands: usize,
}

/// What a tile store holds (`catalog.store/manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoreManifest {
    /// Always `geomaml-tile-store`.
    pub format: String,
    /// Manifest version (1).
    pub version: u32,
    /// SHA-256 (hex) of the catalog file the store was built from.
    pub catalog_sha256: String,
    /// The catalog file's name when the store was built (for messages).
    pub catalog_file: String,
    /// Number of tiles: the catalog's, in catalog order.
    pub tiles: usize,
    /// Edge of every tile in pixels.
    pub tile_size: u32,
    /// Band names in model order (what `--bands` selects).
    pub bands: Vec<String>,
    /// One group per source file read.
    pub groups: Vec<StoreGroup>,
    /// Per-pixel validity, one byte per pixel and group (1 valid, 0 not):
    /// `[tiles, groups, tile_size, tile_size]`.
    pub valid_file: String,
    /// Per tile and band (model order) four float64: the raster's fill (the
    /// normalised mean of its valid pixels) and its scale, offset and unit factor:
    /// `[tiles, bands, 4]`.
    pub params_file: String,
    /// The label rasters, when the catalog's tiles have them.
    pub labels: Option<StoreLabels>,
    /// Bytes of all array files together.
    pub bytes: u64,
}

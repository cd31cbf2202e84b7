//! One catalogued tile: where it comes from, where it lies, what class it is.
//!
//! Invariants: `window` is in pixel space of the source rasters (all sources of a
//! tile share one grid); `bbox_wgs84` is `[min lon, min lat, max lon, max lat]` in
//! EPSG:4326 degrees, absent only for sources without georeferencing (DeepGlobe
//! JPEGs); source paths are relative to the catalog root.

use crate::raster::Window;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Position of a tile in [`crate::catalog::Catalog::tiles`]; tile ids are dense, `0..len`.
pub type TileId = u32;

/// Season of a Sen12MS acquisition, from the `ROIsNNNN_<season>` folder.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Season {
    /// `ROIs1158_spring`.
    Spring,
    /// `ROIs1868_summer`.
    Summer,
    /// `ROIs1970_fall`.
    Fall,
    /// `ROIs2017_winter`.
    Winter,
}

impl Season {
    /// All seasons, in Sen12MS folder order.
    pub const ALL: [Season; 4] = [Season::Spring, Season::Summer, Season::Fall, Season::Winter];

    /// The lower-case name used in folder names and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Season::Spring => "spring",
            Season::Summer => "summer",
            Season::Fall => "fall",
            Season::Winter => "winter",
        }
    }
}

impl std::str::FromStr for Season {
    type Err = crate::error::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Season::ALL
            .into_iter()
            .find(|x| x.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| crate::error::UnknownName {
                what: "season",
                value: s.into(),
                expected: "spring, summer, fall or winter",
            })
    }
}

impl std::fmt::Display for Season {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A pixel rectangle inside a source raster (never outside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct PixelWindow {
    /// Column of the top-left pixel.
    pub x: u32,
    /// Row of the top-left pixel.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl PixelWindow {
    /// A window at `(x, y)` of `width` x `height`.
    pub fn new(x: u32, y: u32, width: u32, height: u32) -> Self {
        PixelWindow {
            x,
            y,
            width,
            height,
        }
    }

    /// The same rectangle as a raster [`Window`].
    pub fn to_window(self) -> Window {
        Window::new(
            self.x as isize,
            self.y as isize,
            self.width as usize,
            self.height as usize,
        )
    }
}

/// Which of a tile's [`Sources`] holds a band (see [`super::Dataset::band`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BandFile {
    /// [`Sources::s1`].
    S1,
    /// [`Sources::s2`].
    S2,
    /// [`Sources::image`].
    Image,
}

impl BandFile {
    /// Every file bands are read from, in reading order.
    pub const ALL: [BandFile; 3] = [BandFile::S1, BandFile::S2, BandFile::Image];

    /// The file in `sources`, relative to the catalog root, if the tile has it.
    pub fn path(self, sources: &Sources) -> Option<&str> {
        match self {
            BandFile::S1 => sources.s1.as_deref(),
            BandFile::S2 => sources.s2.as_deref(),
            BandFile::Image => sources.image.as_deref(),
        }
    }
}

/// Files a tile is read from, relative to the catalog root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Sources {
    /// Sen12MS Sentinel-1 patch (2 bands: VV, VH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s1: Option<String>,
    /// Sen12MS Sentinel-2 patch (13 bands: B01..B12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s2: Option<String>,
    /// Sen12MS land-cover patch (band 1: IGBP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lc: Option<String>,
    /// DeepGlobe RGB image (`<id>_sat.jpg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// DeepGlobe colour mask (`<id>_mask.png`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
}

/// Whether a DeepGlobe sub-image serves as support or query within its image's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TileRole {
    /// Shots are cut from support sub-images.
    Support,
    /// Query sub-images are predicted whole.
    Query,
}

/// One tile of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TileRecord {
    /// Season (Sen12MS); `null` for datasets without seasons.
    pub season: Option<Season>,
    /// Region: the Sen12MS scene id, or the DeepGlobe image id.
    pub region: u32,
    /// Patch number (`_p<N>` of Sen12MS; the image id for DeepGlobe).
    pub patch: u32,
    /// Index of the tile within its patch, row-major.
    pub tile: u32,
    /// Majority class id (DFC2020 for Sen12MS, DeepGlobe ids), or `null`.
    pub label: Option<u16>,
    /// Why `label` is `null` (e.g. mostly nodata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlabelled_reason: Option<String>,
    /// Share of the tile's labelled pixels that carry `label` (0..1).
    pub purity: f32,
    /// Footprint `[min lon, min lat, max lon, max lat]` in EPSG:4326.
    pub bbox_wgs84: Option<[f64; 4]>,
    /// Pixel window of the tile inside its sources.
    pub window: PixelWindow,
    /// Source files, relative to the catalog root.
    pub sources: Sources,
    /// DeepGlobe: whether this sub-image is a support or query sub-image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<TileRole>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasons_parse_case_insensitively() {
        assert_eq!("Fall".parse::<Season>().unwrap(), Season::Fall);
        assert!("autumn".parse::<Season>().is_err());
        assert_eq!(
            serde_json::to_string(&Season::Winter).unwrap(),
            "\"winter\""
        );
    }

    #[test]
    fn pixel_windows_become_raster_windows() {
        assert_eq!(
            PixelWindow::new(32, 0, 32, 32).to_window(),
            Window::new(32, 0, 32, 32)
        );
    }
}

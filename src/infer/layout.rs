//! The layout of a map, written once: what its files are called, which bands
//! they have, their nodata, metadata, category names and colour table. The
//! GeoTIFF sink ([`super::sink`]) writes it and the GDAL driver (`plugin/`)
//! serves it, so a map read through the driver describes itself as the file
//! `geomaml map` writes.
//!
//! - **Classes** (`<map>.tif`): one band `class` of class ids (the card's
//!   `classes[i].id` for output index i, all below 255), nodata 0, or 255 when
//!   the legend uses id 0; the legend's colour table; class names as GDAL
//!   category names and as `CLASS_<id>` metadata items beside the legend (JSON)
//!   and `GEOMAML_ARCH`.
//! - **Probabilities** (`<stem>.probabilities.tif`): one band `p_<class>` per
//!   class, percent (0..=100), nodata [`PROBABILITY_NODATA`]. (TIFF allows a
//!   colour table only on single-band files, so they are not bands of the map.)
//! - **Confidence** (`<stem>.confidence.tif`): one band `confidence`, the margin
//!   between the two most likely classes in percent (0 = a tie, 100 = certain),
//!   nodata [`PROBABILITY_NODATA`] where no class could be computed (scene gaps;
//!   cells left out by `--min-confidence` keep their confidence, and the class
//!   band records the floor as `GEOMAML_MIN_CONFIDENCE`).
//!
//! Every file carries `GEOMAML_MODEL` and `GEOMAML_STRIDE`; the companions carry
//! `GEOMAML_UNITS=percent` and, when written to disk, the name of their map.

use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::legend::ClassInfo;
use crate::raster::LEGEND_KEY;
use std::path::{Path, PathBuf};

/// Nodata value of the probability and confidence bands.
pub const PROBABILITY_NODATA: u8 = 255;

/// What the confidence band holds (its `GEOMAML_CONFIDENCE` metadata item).
pub const CONFIDENCE_DEFINITION: &str =
    "margin between the two most likely classes' probabilities, percent";

/// Metadata item of a probability or confidence file naming its map (file name).
pub const PROBABILITIES_OF: &str = "GEOMAML_PROBABILITIES_OF";

/// One of the files a map is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapFile {
    /// The class band.
    Classes,
    /// One percent band per class.
    Probabilities,
    /// The confidence band.
    Confidence,
}

/// The layout of the maps of one model at one stride.
#[derive(Debug, Clone, PartialEq)]
pub struct MapLayout {
    classes: Vec<ClassInfo>,
    arch: String,
    model: String,
    stride: usize,
    min_confidence: u8,
}

impl MapLayout {
    /// The layout of maps of `card` (the model at `model`) at `stride`.
    ///
    /// # Errors
    /// A class id of 255 or more: class bands are bytes, and one value is nodata.
    pub fn new(card: &ModelCard, model: &Path, stride: usize) -> Result<Self> {
        if let Some(c) = card.classes.iter().find(|c| c.id >= 255) {
            return Err(Error::raster(
                model,
                format!(
                    "class {:?} has id {}; class ids must be below 255 to be mapped",
                    c.name, c.id
                ),
            ));
        }
        Ok(MapLayout {
            classes: card.classes.clone(),
            arch: format!("{:?}", card.spec.arch).to_lowercase(),
            model: model.display().to_string(),
            stride,
            min_confidence: 0,
        })
    }

    /// The layout of maps whose cells below `min_confidence` percent are nodata
    /// (`--min-confidence`): the class band records it as
    /// `GEOMAML_MIN_CONFIDENCE`, so that its nodata cells are not taken for gaps
    /// of the scene (not recorded when 0).
    pub fn with_min_confidence(self, min_confidence: u8) -> Self {
        MapLayout {
            min_confidence,
            ..self
        }
    }

    /// The classes, in output order.
    pub fn classes(&self) -> &[ClassInfo] {
        &self.classes
    }

    /// Nodata of the class band: 0, or 255 when a class has id 0.
    pub fn class_nodata(&self) -> u8 {
        if self.classes.iter().any(|c| c.id == 0) {
            255
        } else {
            0
        }
    }

    /// Nodata of every band of `file`.
    pub fn nodata(&self, file: MapFile) -> u8 {
        match file {
            MapFile::Classes => self.class_nodata(),
            MapFile::Probabilities | MapFile::Confidence => PROBABILITY_NODATA,
        }
    }

    /// The band names of `file`, in band order.
    pub fn band_names(&self, file: MapFile) -> Vec<String> {
        match file {
            MapFile::Classes => vec!["class".into()],
            MapFile::Probabilities => self
                .classes
                .iter()
                .map(|c| format!("p_{}", c.name))
                .collect(),
            MapFile::Confidence => vec!["confidence".into()],
        }
    }

    /// The dataset metadata items of `file`, in the order they are written;
    /// `map_name` is the map's file name, recorded in the companions written
    /// beside it (none for a map served without a file).
    pub fn metadata(&self, file: MapFile, map_name: Option<&str>) -> Vec<(String, String)> {
        let mut items = Vec::new();
        let mut push = |k: &str, v: &str| items.push((k.to_string(), v.to_string()));
        match file {
            MapFile::Classes => {
                let legend = serde_json::to_string(&self.classes).expect("classes serialise");
                push(LEGEND_KEY, &legend);
                for c in &self.classes {
                    push(&format!("CLASS_{}", c.id), &c.name);
                }
                push("GEOMAML_ARCH", &self.arch);
                if self.min_confidence > 0 {
                    push("GEOMAML_MIN_CONFIDENCE", &self.min_confidence.to_string());
                }
            }
            MapFile::Probabilities | MapFile::Confidence => {
                push("GEOMAML_UNITS", "percent");
                if let Some(name) = map_name {
                    push(PROBABILITIES_OF, name);
                }
                if file == MapFile::Confidence {
                    push("GEOMAML_CONFIDENCE", CONFIDENCE_DEFINITION);
                }
            }
        }
        push("GEOMAML_MODEL", &self.model);
        push("GEOMAML_STRIDE", &self.stride.to_string());
        items
    }

    /// Category names of the class band by pixel value `0..=max id`: a class's
    /// name, "no data" for the nodata value when it falls in the range, else empty.
    pub fn category_names(&self) -> Vec<String> {
        let max = self.classes.iter().map(|c| c.id).max().unwrap_or(0);
        let nodata = self.class_nodata() as u16;
        (0..=max)
            .map(|v| match self.classes.iter().find(|c| c.id == v) {
                Some(c) => c.name.clone(),
                None if v == nodata => "no data".into(),
                None => String::new(),
            })
            .collect()
    }

    /// `(class id, [r, g, b])` of every class: the class band's colour table.
    pub fn colours(&self) -> Vec<(u16, [u8; 3])> {
        self.classes.iter().map(|c| (c.id, c.rgb())).collect()
    }
}

/// Refuses a map name whose extension is not a GeoTIFF's (`.tif`, `.tiff`; a name
/// without one is taken as given). geomaml writes GeoTIFFs only (its colour table,
/// category names, legend metadata and COG layout are GeoTIFF's), and a GeoTIFF
/// named `map.img` or `map.png` is a file that other tools open with the wrong
/// driver or not at all.
pub fn check_map_extension(path: &Path) -> Result<()> {
    let Some(ext) = path.extension().map(|e| e.to_string_lossy().to_lowercase()) else {
        return Ok(());
    };
    if ext == "tif" || ext == "tiff" {
        return Ok(());
    }
    Err(Error::config(
        "--output",
        format!(
            "{}: geomaml writes maps as GeoTIFF; name the output .tif (convert it afterwards, \
             e.g. gdal_translate -of HFA map.tif map.img)",
            path.display()
        ),
    ))
}

/// Where `file` of the map at `map` goes: the map itself, or
/// `<stem>.probabilities.tif` / `<stem>.confidence.tif` beside it.
pub fn file_path(map: &Path, file: MapFile) -> PathBuf {
    let kind = match file {
        MapFile::Classes => return map.to_path_buf(),
        MapFile::Probabilities => "probabilities",
        MapFile::Confidence => "confidence",
    };
    let stem = map
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    map.with_file_name(format!("{stem}.{kind}.tif"))
}

/// Where the confidence band of the map at `path` goes.
pub fn confidence_path(path: &Path) -> PathBuf {
    file_path(path, MapFile::Confidence)
}

/// Where the probabilities of the map at `path` go.
pub fn probabilities_path(path: &Path) -> PathBuf {
    file_path(path, MapFile::Probabilities)
}

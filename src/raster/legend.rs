//! The class legend stored in land-cover rasters.
//!
//! Maps and label rasters carry their legend as JSON in the dataset metadata item
//! [`LEGEND_KEY`], besides the colour table (which GDAL tools show) so that
//! `assess` and other readers can resolve class names without the model.

use super::{GeoTiffWriter, Raster};
use crate::error::Result;
use crate::legend::ClassInfo;
use gdal::Metadata;

/// Dataset metadata item holding the legend as a JSON list of classes.
pub const LEGEND_KEY: &str = "GEOMAML_CLASSES";

impl GeoTiffWriter {
    /// Stores `classes` as the legend and as band 1's colour table.
    pub fn set_legend(&mut self, classes: &[ClassInfo]) -> Result<()> {
        self.set_metadata(
            LEGEND_KEY,
            &serde_json::to_string(classes).expect("classes serialise"),
        )?;
        self.set_color_table(1, classes)
    }
}

impl Raster {
    /// The legend stored by [`GeoTiffWriter::set_legend`], if any.
    pub fn legend(&self) -> Option<Vec<ClassInfo>> {
        let json = self.dataset().metadata_item(LEGEND_KEY, "")?;
        serde_json::from_str(&json).ok()
    }
}

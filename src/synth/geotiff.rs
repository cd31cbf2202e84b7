//! Writing a whole small raster in one call on top of [`crate::raster::GeoTiffWriter`]:
//! named bands, nodata, DEFLATE with a predictor, written to a temporary sibling and
//! renamed into place.

use crate::error::Result;
use crate::output::PendingOutput;
use crate::raster::{GeoTiffWriter, GeoTransform, WriterOptions};
use gdal::raster::GdalType;
use std::path::Path;

/// What to put into one GeoTIFF.
#[derive(Debug)]
pub struct Bands<'a, T> {
    /// `(width, height)` in pixels.
    pub size: (usize, usize),
    /// Georeferencing.
    pub transform: GeoTransform,
    /// CRS as WKT.
    pub crs_wkt: &'a str,
    /// Band descriptions, one per band.
    pub names: &'a [&'a str],
    /// Pixel values, one row-major vector per band.
    pub data: Vec<Vec<T>>,
    /// Declared nodata value, if any.
    pub nodata: Option<f64>,
    /// Dataset metadata items (provenance).
    pub metadata: &'a [(&'a str, String)],
    /// Colour table for band 1 (label rasters).
    pub legend: Option<&'a [crate::catalog::classes::ClassInfo]>,
}

/// Writes `bands` to `path` (DEFLATE, maximum level, predictor).
pub fn write<T: GdalType + Copy>(path: &Path, bands: Bands<'_, T>) -> Result<()> {
    let out = PendingOutput::new(path, false)?;
    let options = WriterOptions {
        extra: vec!["ZLEVEL=9".into(), "INTERLEAVE=BAND".into()],
        ..WriterOptions::default()
    };
    let mut w = GeoTiffWriter::create::<T>(
        out.temp_path(),
        bands.size,
        bands.data.len(),
        bands.transform,
        bands.crs_wkt,
        &options,
    )?;
    for (i, (data, name)) in bands.data.into_iter().zip(bands.names).enumerate() {
        w.set_band_name(i + 1, name)?;
        if let Some(nd) = bands.nodata {
            w.set_nodata(i + 1, nd)?;
        }
        w.write(i + 1, (0, 0), bands.size, data)?;
    }
    for (k, v) in bands.metadata {
        w.set_metadata(k, v)?;
    }
    if let Some(legend) = bands.legend {
        w.set_legend(legend)?;
    }
    w.finish()?;
    out.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::Raster;

    #[test]
    fn rasters_are_written_whole_with_names_nodata_and_georeferencing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tif");
        let gt = GeoTransform::north_up(500_000.0, 4_000_000.0, 10.0);
        let wkt = crate::synth::site::crs_wkt(32633).unwrap();
        let bands = Bands {
            size: (3, 2),
            transform: gt,
            crs_wkt: &wkt,
            names: &["VV", "VH"],
            data: vec![vec![1.0f32; 6], vec![f32::NAN; 6]],
            nodata: Some(f64::NAN),
            metadata: &[("K", "v".to_string())],
            legend: None,
        };
        write(&path, bands).unwrap();
        let r = Raster::open(&path).unwrap();
        assert_eq!(
            (r.size(), r.band_count(), r.epsg()),
            ((3, 2), 2, Some(32633))
        );
        assert_eq!(r.band_descriptions(), ["VV", "VH"]);
        assert!(r.nodata(2).unwrap().is_nan());
        assert_eq!(r.geo_transform(), gt);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporaries left"
        );
    }
}

//! The neutral value invalid pixels are given before they reach a model.
//!
//! A network cannot skip pixels inside a window, so invalid ones (nodata, masked,
//! past the scene's edge) need some value. Zero is the worst choice: after the
//! paper's normalisation it is black, no reflectance at all, which networks read
//! as water, so every scene border and cloud mask grew a frame of water. geomaml
//! fills each band with the mean of the raster's valid pixels in that band, the
//! scene's average spectrum: it belongs to no class in particular, does not depend
//! on which window is read (so shared feature maps, adaptation and training see the
//! same input for the same pixel), and is computed once per raster from a
//! decimated read (at most [`SAMPLE_EDGE`] pixels along the longer side; GDAL uses
//! overviews when the raster has them).

use super::mask::Validity;
use super::units::Unscale;
use crate::error::{Error, Result};
use crate::raster::Window;
use gdal::Dataset;
use std::path::Path;

/// Longest side of the decimated read the means are computed from, in pixels.
pub const SAMPLE_EDGE: usize = 256;

/// What the decimated sample of one band holds: the mean of its valid physical
/// values (the fill) and their spread, which [`super::checks`] compares with the
/// units the model card expects (no second read of the scene).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandSample {
    /// Mean of the valid physical values.
    pub mean: f64,
    /// 1st percentile of the valid physical values.
    pub low: f64,
    /// 99th percentile of the valid physical values.
    pub high: f64,
}

/// The sample of each of `bands` (1-based) in `ds`: mean and 1st/99th percentiles
/// of the valid physical values, or `None` for a band without a valid pixel in the
/// sample.
pub fn band_samples(
    ds: &Dataset,
    path: &Path,
    bands: &[usize],
    unscale: &[Unscale],
    validity: &Validity,
) -> Result<Vec<Option<BandSample>>> {
    let (w, h) = ds.raster_size();
    if w == 0 || h == 0 {
        return Ok(vec![None; bands.len()]);
    }
    let k = w.max(h).div_ceil(SAMPLE_EDGE).max(1);
    let buffer = (w.div_ceil(k), h.div_ceil(k));
    let whole = Window::new(0, 0, w, h);
    let valid = validity.read(ds, path, whole, buffer)?;
    let mut raw = vec![0f32; buffer.0 * buffer.1];
    let mut samples = Vec::with_capacity(bands.len());
    for (i, &b) in bands.iter().enumerate() {
        let band = ds
            .rasterband(b)
            .map_err(|e| Error::raster_source(path, format!("band {b}"), e))?;
        band.read_into_slice::<f32>((0, 0), (w, h), buffer, &mut raw, None)
            .map_err(|e| Error::raster_source(path, format!("band {b}"), e))?;
        let mut values: Vec<f32> = raw
            .iter()
            .zip(&valid)
            .filter(|(_, ok)| **ok)
            .map(|(v, _)| unscale[i].apply(*v))
            .filter(|p| p.is_finite())
            .collect();
        if values.is_empty() {
            samples.push(None);
            continue;
        }
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
        values.sort_by(f32::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize] as f64;
        samples.push(Some(BandSample {
            mean,
            low: at(0.01),
            high: at(0.99),
        }));
    }
    Ok(samples)
}

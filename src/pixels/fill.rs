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

/// Per-band mean of the valid physical values of `bands` (1-based) in `ds`, or
/// `None` for a band without a valid pixel in the sample.
pub fn band_means(
    ds: &Dataset,
    path: &Path,
    bands: &[usize],
    unscale: &[Unscale],
    validity: &Validity,
) -> Result<Vec<Option<f64>>> {
    let (w, h) = ds.raster_size();
    if w == 0 || h == 0 {
        return Ok(vec![None; bands.len()]);
    }
    let k = w.max(h).div_ceil(SAMPLE_EDGE).max(1);
    let buffer = (w.div_ceil(k), h.div_ceil(k));
    let whole = Window::new(0, 0, w, h);
    let valid = validity.read(ds, path, whole, buffer)?;
    let mut raw = vec![0f32; buffer.0 * buffer.1];
    let mut means = Vec::with_capacity(bands.len());
    for (i, &b) in bands.iter().enumerate() {
        let band = ds
            .rasterband(b)
            .map_err(|e| Error::raster_source(path, format!("band {b}"), e))?;
        band.read_into_slice::<f32>((0, 0), (w, h), buffer, &mut raw, None)
            .map_err(|e| Error::raster_source(path, format!("band {b}"), e))?;
        let (mut sum, mut count) = (0f64, 0usize);
        for (v, ok) in raw.iter().zip(&valid) {
            let p = unscale[i].apply(*v);
            if *ok && p.is_finite() {
                sum += p as f64;
                count += 1;
            }
        }
        means.push((count > 0).then(|| sum / count as f64));
    }
    Ok(means)
}

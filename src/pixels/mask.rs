//! Which pixels hold data: GDAL's mask band semantics.
//!
//! GDAL gives every band a mask band (`GDALGetMaskBand`) that unifies the ways a
//! raster marks missing data, and flags that say which way it is (RFC 15):
//! `GMF_ALL_VALID` (no mask), `GMF_NODATA` (the band's nodata value, compared in the
//! band's own data type, so a float32 nodata written as a rounded double in a VRT
//! still matches), `GMF_PER_DATASET` (one mask shared by all bands: an internal TIFF
//! mask, or an alpha band when `GMF_ALPHA` is set too). A mask value of 0 is
//! invalid; any other value (255, or a partial alpha) is valid.
//!
//! geomaml reads those masks rather than interpreting nodata itself. A pixel is
//! valid when every model band is valid there (a model cannot use a pixel with a
//! band missing); non-finite values are checked separately, after unscaling.
//!
//! One gap is filled here: GDAL makes an alpha band the dataset's mask only for
//! 2- and 4-band datasets (grey + alpha, RGB + alpha). A mosaic built with
//! `gdalbuildvrt -addalpha` over N-band tiles has N data bands and an alpha band
//! whose colour interpretation is `Alpha`, yet its data bands report no mask. So
//! when no model band's mask is an alpha band, the dataset's alpha band
//! ([`alpha_band`]) is read as well: alpha 0 is invalid, as in GDAL's alpha masks.
//! The alpha band is never a data band ([`data_bands`], band matching).

use crate::error::{Error, Result};
use crate::raster::Window;
use gdal::raster::ColorInterpretation;
use gdal::Dataset;
use std::path::Path;

/// How one band's validity is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BandMask {
    /// No mask: every pixel is valid (non-finite values aside).
    AllValid,
    /// The dataset's shared mask (internal mask or alpha band).
    PerDataset,
    /// The band's own mask (its nodata value).
    Own,
}

/// The dataset's alpha band (1-based): the first band whose colour
/// interpretation is `Alpha`.
pub fn alpha_band(ds: &Dataset) -> Option<usize> {
    (1..=ds.raster_count()).find(|&b| {
        ds.rasterband(b)
            .is_ok_and(|band| band.color_interpretation() == ColorInterpretation::AlphaBand)
    })
}

/// The dataset's data bands (1-based): every band but an alpha band.
pub fn data_bands(ds: &Dataset) -> Vec<usize> {
    let alpha = alpha_band(ds);
    (1..=ds.raster_count())
        .filter(|&b| Some(b) != alpha)
        .collect()
}

/// The validity rule of the bands a model reads.
#[derive(Debug, Clone)]
pub struct Validity {
    /// 1-based band and how its mask is read, in model band order.
    bands: Vec<(usize, BandMask)>,
    /// An alpha band GDAL does not apply as the bands' mask, read besides them.
    alpha: Option<usize>,
}

impl Validity {
    /// The masks of `bands` (1-based) of `ds`.
    pub fn of(ds: &Dataset, path: &Path, bands: &[usize]) -> Result<Validity> {
        let mut out = Vec::with_capacity(bands.len());
        let mut gdal_alpha = false;
        for &b in bands {
            let band = ds
                .rasterband(b)
                .map_err(|e| Error::raster_source(path, format!("band {b}"), e))?;
            let flags = band
                .mask_flags()
                .map_err(|e| Error::raster_source(path, format!("band {b} mask"), e))?;
            let kind = if flags.is_all_valid() {
                BandMask::AllValid
            } else if flags.is_per_dataset() {
                BandMask::PerDataset
            } else {
                BandMask::Own
            };
            gdal_alpha |= flags.is_alpha();
            out.push((b, kind));
        }
        let alpha = alpha_band(ds).filter(|a| !gdal_alpha && !bands.contains(a));
        Ok(Validity { bands: out, alpha })
    }

    /// Whether no band has a mask.
    pub fn is_all_valid(&self) -> bool {
        self.alpha.is_none() && self.bands.iter().all(|(_, k)| *k == BandMask::AllValid)
    }

    /// Reads validity over `inside` (a window wholly inside the raster) into a
    /// buffer of `buffer` = `(width, height)` pixels (smaller than the window for a
    /// decimated read, nearest neighbour): `true` where every band is valid.
    pub fn read(
        &self,
        ds: &Dataset,
        path: &Path,
        inside: Window,
        buffer: (usize, usize),
    ) -> Result<Vec<bool>> {
        let n = buffer.0 * buffer.1;
        let mut valid = vec![true; n];
        let mut buf = vec![0u8; n];
        let mut dataset_done = false;
        for &(b, kind) in &self.bands {
            match kind {
                BandMask::AllValid => continue,
                BandMask::PerDataset if dataset_done => continue,
                BandMask::PerDataset => dataset_done = true,
                BandMask::Own => {}
            }
            let band = ds
                .rasterband(b)
                .map_err(|e| Error::raster_source(path, format!("band {b}"), e))?;
            let mask = band
                .open_mask_band()
                .map_err(|e| Error::raster_source(path, format!("band {b} mask"), e))?;
            mask.read_into_slice::<u8>(
                (inside.x, inside.y),
                (inside.width, inside.height),
                buffer,
                &mut buf,
                None,
            )
            .map_err(|e| {
                Error::raster_source(path, format!("band {b} mask, window {inside}"), e)
            })?;
            for (v, m) in valid.iter_mut().zip(&buf) {
                *v &= *m != 0;
            }
        }
        if let Some(a) = self.alpha {
            // As f32: a 16-bit or float alpha keeps its small non-zero values.
            let mut alpha = vec![0f32; n];
            ds.rasterband(a)
                .and_then(|band| {
                    band.read_into_slice::<f32>(
                        (inside.x, inside.y),
                        (inside.width, inside.height),
                        buffer,
                        &mut alpha,
                        None,
                    )
                })
                .map_err(|e| {
                    Error::raster_source(path, format!("alpha band {a}, window {inside}"), e)
                })?;
            for (v, m) in valid.iter_mut().zip(&alpha) {
                *v &= *m > 0.0;
            }
        }
        Ok(valid)
    }
}

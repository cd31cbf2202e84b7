//! The one pixel pipeline: a window of any GDAL raster becomes model input.
//!
//! Training ([`crate::tasks::TaskLoader`]), adaptation (`adapt`), mapping
//! (`geomaml map`, batch mapping) and the GDAL plugin read scene pixels only
//! through [`PixelReader::read`], which gives a normalised `f32` array
//! `[bands, height, width]` and a per-pixel validity mask. The steps, in order:
//!
//! 1. **Types** ([`dtype`]): complex and unknown band types are refused when the
//!    reader opens, naming the band and its type.
//! 2. **Units** ([`units`]): GDAL's scale/offset (and the Sentinel-2 add-offset)
//!    turn stored samples into the physical values the model card expects.
//! 3. **Validity** ([`mask`]): GDAL's mask bands (nodata in the band's own type,
//!    per-dataset masks, alpha) and non-finite values; a pixel is valid when every
//!    model band is. Pixels outside the raster are invalid.
//! 4. **Normalisation**: the card's `x * scale + offset` per band on valid pixels.
//! 5. **Fill** ([`fill`]): invalid pixels get the raster's mean valid value of the
//!    band (normalised), never zero.
//!
//! Whole windows of a scene follow one rule in `map`, batch mapping, the GDAL
//! plugin and `adapt` ([`MIN_VALID`], `--min-valid`): a window whose part inside
//! the raster has a smaller valid fraction is not used (a map cell is nodata, a
//! shot is refused). Pixels past the raster's edge are filled like invalid ones but
//! not counted, so the cells along a scene's edge and small scenes are mapped.
//! (Unlabelled windows for batch-norm statistics ask for 90 %; training windows
//! come from the catalog, which selects tiles by their labels, and get the fill.)

pub mod checks;
pub mod dtype;
pub mod fill;
pub mod mask;
pub mod standardise;
pub mod units;

use crate::bands::Normalisation;
use crate::error::{Error, Result};
use crate::raster::{Raster, Window};
use mask::Validity;
use ndarray::{Array2, Array3};
use std::path::Path;
use units::Unscale;

/// Default smallest fraction of valid pixels in the in-raster part of a window for
/// it to be used (`--min-valid`): a quarter. A cell in the concave corner of a
/// nodata area sees about 40 % valid pixels and should be mapped; with the neutral
/// fill the missing part does not pose as a class. Below a quarter the model would
/// mostly see fill.
pub const MIN_VALID: f64 = 0.25;

/// Checks a `--min-valid` value.
pub fn check_min_valid(v: f64) -> Result<f64> {
    if !(v > 0.0 && v <= 1.0) {
        return Err(Error::config(
            "--min-valid",
            format!("must be in (0, 1], got {v}"),
        ));
    }
    Ok(v)
}

/// One model input band: where it comes from and how it is normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct BandInput {
    /// 1-based band of the raster.
    pub band: usize,
    /// The band's name in the model card (`B04`, `VV`, `R`), for units and messages.
    pub name: String,
    /// The card's normalisation of the physical value.
    pub norm: Normalisation,
}

impl BandInput {
    /// Inputs for `bands` (1-based raster bands, in card order) named `names`,
    /// normalised with `norms`.
    pub fn list(bands: &[usize], names: &[String], norms: &[Normalisation]) -> Vec<BandInput> {
        bands
            .iter()
            .zip(names)
            .zip(norms)
            .map(|((&band, name), &norm)| BandInput {
                band,
                name: name.clone(),
                norm,
            })
            .collect()
    }
}

/// A window read as model input.
#[derive(Debug, Clone)]
pub struct Pixels {
    /// The window read, in raster pixels (may reach past the raster).
    pub window: Window,
    /// Normalised values `[bands, height, width]`; invalid pixels hold the fill.
    pub data: Array3<f32>,
    /// `true` where the pixel is valid in every band, `[height, width]`.
    pub valid: Array2<bool>,
    /// Size `(width, height)` of the raster read.
    pub raster_size: (usize, usize),
    /// Summed-area table of `valid`, `[height + 1, width + 1]`: entry `(r, c)`
    /// counts the valid pixels above row `r` and left of column `c`, so every
    /// window's count is four lookups (the mapper asks for one per map cell).
    valid_sums: Array2<u32>,
}

impl Pixels {
    /// Fraction of valid pixels in the part of `sub` (raster pixels, inside
    /// [`Pixels::window`]) that lies inside the raster; 0 when none does.
    pub fn valid_fraction(&self, sub: Window) -> f64 {
        let Some(inside) = sub.clip(self.raster_size.0, self.raster_size.1) else {
            return 0.0;
        };
        let (x0, y0) = (
            (inside.x - self.window.x) as usize,
            (inside.y - self.window.y) as usize,
        );
        let (x1, y1) = (x0 + inside.width, y0 + inside.height);
        let t = &self.valid_sums;
        let count = t[[y1, x1]] + t[[y0, x0]] - t[[y0, x1]] - t[[y1, x0]];
        count as f64 / (inside.width * inside.height) as f64
    }

    /// Whether the pixel at raster `(col, row)` (inside the window) is valid.
    pub fn is_valid(&self, col: isize, row: isize) -> bool {
        self.valid[[
            (row - self.window.y) as usize,
            (col - self.window.x) as usize,
        ]]
    }
}

/// The summed-area table of a mask (see [`Pixels`]).
fn summed_area(valid: &Array2<bool>) -> Array2<u32> {
    let (h, w) = valid.dim();
    let mut t = Array2::<u32>::zeros((h + 1, w + 1));
    for r in 0..h {
        let mut row = 0u32;
        for c in 0..w {
            row += u32::from(valid[[r, c]]);
            t[[r + 1, c + 1]] = t[[r, c + 1]] + row;
        }
    }
    t
}

/// A raster opened for reading model input of some of its bands.
pub struct PixelReader {
    raster: Raster,
    inputs: Vec<BandInput>,
    unscale: Vec<Unscale>,
    validity: Validity,
    /// Normalised fill per band.
    fill: Vec<f32>,
    samples: Vec<Option<fill::BandSample>>,
}

impl std::fmt::Debug for PixelReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PixelReader")
            .field("path", &self.raster.path())
            .field("inputs", &self.inputs)
            .field("unscale", &self.unscale)
            .field("fill", &self.fill)
            .finish()
    }
}

impl PixelReader {
    /// Opens `path` and prepares reading `inputs`.
    pub fn open(path: &Path, inputs: Vec<BandInput>) -> Result<Self> {
        Self::new(Raster::open(path)?, inputs)
    }

    /// Prepares reading `inputs` of an open raster: checks band types, reads
    /// scale/offset and mask flags, and computes the fill. Fails naming the file
    /// and band for a missing band or an unusable data type.
    pub fn new(raster: Raster, inputs: Vec<BandInput>) -> Result<Self> {
        let path = raster.path().to_path_buf();
        if inputs.is_empty() {
            return Err(Error::raster(&path, "no bands to read"));
        }
        let ds = raster.dataset();
        let mut unscale = Vec::with_capacity(inputs.len());
        for input in &inputs {
            if input.band == 0 || input.band > raster.band_count() {
                return Err(Error::raster(
                    &path,
                    format!(
                        "has no band {} (for {}; it has {} bands)",
                        input.band,
                        input.name,
                        raster.band_count()
                    ),
                ));
            }
            let band = ds
                .rasterband(input.band)
                .map_err(|e| Error::raster_source(&path, format!("band {}", input.band), e))?;
            dtype::check_readable(&path, input.band, &input.name, &band)?;
            unscale.push(Unscale::of_band(ds, &band, &input.name));
        }
        let bands: Vec<usize> = inputs.iter().map(|i| i.band).collect();
        let validity = Validity::of(ds, &path, &bands)?;
        let samples = fill::band_samples(ds, &path, &bands, &unscale, &validity)?;
        let fill = inputs
            .iter()
            .zip(&samples)
            .map(|(i, m)| m.map_or(0.0, |m| i.norm.apply(m.mean as f32)))
            .collect();
        Ok(PixelReader {
            raster,
            inputs,
            unscale,
            validity,
            fill,
            samples,
        })
    }

    /// The same reader with another normalisation per input band (model order); the
    /// fill follows it.
    ///
    /// # Panics
    /// When `norms` has another length than the inputs.
    pub fn with_normalisation(mut self, norms: &[Normalisation]) -> Self {
        assert_eq!(norms.len(), self.inputs.len(), "one normalisation per band");
        for (i, &norm) in norms.iter().enumerate() {
            self.inputs[i].norm = norm;
            self.fill[i] = self.samples[i].map_or(0.0, |m| norm.apply(m.mean as f32));
        }
        self
    }

    /// The decimated sample of each band, in model order (`None`: no valid pixel
    /// in it): its mean is the fill, its spread what [`checks`] compares with the
    /// card's units.
    pub fn samples(&self) -> &[Option<fill::BandSample>] {
        &self.samples
    }

    /// The raster read from.
    pub fn raster(&self) -> &Raster {
        &self.raster
    }

    /// The bands read, in model order.
    pub fn inputs(&self) -> &[BandInput] {
        &self.inputs
    }

    /// The unscaling rule of each band, in model order.
    pub fn unscale(&self) -> &[Unscale] {
        &self.unscale
    }

    /// The normalised fill of each band, in model order.
    pub fn fill(&self) -> &[f32] {
        &self.fill
    }

    /// Whether each pixel of a `(w, h)` grid laid over the whole raster is valid in
    /// every input band, by a nearest-neighbour read of the validity (GDAL's mask
    /// bands, nodata, alpha) at that size: row-major `w x h`.
    ///
    /// # Errors
    /// GDAL's failure to read a mask, naming the raster.
    pub fn validity_sampled(&self, (w, h): (usize, usize)) -> Result<Vec<bool>> {
        let (rw, rh) = self.raster.size();
        self.validity.read(
            self.raster.dataset(),
            self.raster.path(),
            Window::new(0, 0, rw, rh),
            (w, h),
        )
    }

    /// Reads `window` (raster pixels; may reach past the raster) as model input.
    pub fn read(&self, window: Window) -> Result<Pixels> {
        let (w, h) = (window.width, window.height);
        let n_bands = self.inputs.len();
        let mut data = Array3::<f32>::zeros((n_bands, h, w));
        for (b, v) in self.fill.iter().enumerate() {
            data.index_axis_mut(ndarray::Axis(0), b).fill(*v);
        }
        let mut valid = Array2::from_elem((h, w), false);
        let (rw, rh) = self.raster.size();
        let Some(inside) = window.clip(rw, rh) else {
            return Ok(Pixels {
                window,
                data,
                valid_sums: summed_area(&valid),
                valid,
                raster_size: (rw, rh),
            });
        };
        let path = self.raster.path();
        let ds = self.raster.dataset();
        let (iw, ih) = (inside.width, inside.height);
        let mut ok = self.validity.read(ds, path, inside, (iw, ih))?;
        let (ox, oy) = (
            (inside.x - window.x) as usize,
            (inside.y - window.y) as usize,
        );
        // One band's buffer at a time, normalised into `data` as it is read: the
        // window is held once, not twice (a 640² px block of 15 bands is 25 MB).
        let mut raw = vec![0f32; iw * ih];
        for (i, input) in self.inputs.iter().enumerate() {
            let band = ds
                .rasterband(input.band)
                .map_err(|e| Error::raster_source(path, format!("band {}", input.band), e))?;
            band.read_into_slice::<f32>((inside.x, inside.y), (iw, ih), (iw, ih), &mut raw, None)
                .map_err(|e| {
                    Error::raster_source(
                        path,
                        format!("band {} ({}), window {inside}", input.band, input.name),
                        e,
                    )
                })?;
            let u = self.unscale[i];
            for (r, (row, ok_row)) in raw
                .chunks_exact(iw)
                .zip(ok.chunks_exact_mut(iw))
                .enumerate()
            {
                let mut dst = data.slice_mut(ndarray::s![i, oy + r, ox..ox + iw]);
                for ((d, &v), good) in dst.iter_mut().zip(row).zip(ok_row) {
                    let v = u.apply(v);
                    *good &= v.is_finite();
                    *d = input.norm.apply(v);
                }
            }
        }
        // Pixels invalid in any band (nodata, mask, non-finite) hold the fill; row
        // by row and band by band, so writes are contiguous.
        for (r, ok_row) in ok.chunks_exact(iw).enumerate() {
            let mut valid_row = valid.slice_mut(ndarray::s![oy + r, ox..ox + iw]);
            for (v, &good) in valid_row.iter_mut().zip(ok_row) {
                *v = good;
            }
            if ok_row.iter().all(|&good| good) {
                continue;
            }
            for (b, &fill) in self.fill.iter().enumerate() {
                let mut dst = data.slice_mut(ndarray::s![b, oy + r, ox..ox + iw]);
                for (d, &good) in dst.iter_mut().zip(ok_row) {
                    if !good {
                        *d = fill;
                    }
                }
            }
        }
        Ok(Pixels {
            window,
            data,
            valid_sums: summed_area(&valid),
            valid,
            raster_size: (rw, rh),
        })
    }
}

#[cfg(test)]
mod tests;

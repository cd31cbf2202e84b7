//! GeoTIFF I/O over GDAL: opening, windowed reads, georeferencing, writers.
//!
//! Windows are in pixel space of the source raster (`x`, `y` = column, row of the
//! top-left pixel). Band indices here are 1-based as in GDAL; arrays are
//! `[band, row, col]`.

pub mod band_match;
mod georef;
mod geotransform;
mod legend;
pub mod qml;
mod window;
mod writer;

pub use georef::{Gcp, GcpTransformer, Georef, PixelLocator};
pub use geotransform::GeoTransform;
pub use legend::LEGEND_KEY;
pub use window::Window;
pub use writer::{verify_readable, GeoTiffWriter, WriterOptions};

use crate::error::{Error, Result};
use gdal::{Dataset, Metadata};
use ndarray::Array3;
use std::path::{Path, PathBuf};

/// Why the operating system refuses to read the local file `path` (permissions, a
/// folder, an I/O error), or `None` when it reads it or the path is GDAL's virtual
/// one. GDAL's open fails on such files without a message of its own (`Error msg:
/// ''`), as no driver can look at the header.
pub fn unreadable(path: &Path) -> Option<std::io::Error> {
    use std::io::Read;
    if path.to_string_lossy().starts_with("/vsi") {
        return None;
    }
    let mut byte = [0u8; 1];
    std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut byte))
        .err()
}

/// An open raster with the facts geomaml needs at hand.
pub struct Raster {
    path: PathBuf,
    ds: Dataset,
}

impl std::fmt::Debug for Raster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raster").field("path", &self.path).finish()
    }
}

impl Raster {
    /// Opens any raster GDAL reads (GeoTIFF, JPEG, PNG, VRT, `/vsicurl/...`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        // Virtual paths are left to GDAL's open (a `/vsicurl/` stat costs a request).
        let s = path.to_string_lossy();
        if !s.starts_with("/vsi") && !crate::vsi::exists(&path) {
            return Err(Error::raster(&path, "no such file"));
        }
        let ds = Dataset::open(&path).map_err(|e| match unreadable(&path) {
            Some(why) => Error::raster(&path, format!("cannot be read: {why}")),
            None => Error::raster_source(&path, "cannot open", e),
        })?;
        if ds.raster_count() == 0 {
            return Err(Error::raster(&path, "has no raster bands"));
        }
        Ok(Raster { path, ds })
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying GDAL dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.ds
    }

    /// `(width, height)` in pixels.
    pub fn size(&self) -> (usize, usize) {
        self.ds.raster_size()
    }

    /// Number of bands.
    pub fn band_count(&self) -> usize {
        self.ds.raster_count()
    }

    /// The affine georeferencing (identity-like when the raster has none).
    pub fn geo_transform(&self) -> GeoTransform {
        self.ds
            .geo_transform()
            .map(GeoTransform)
            .unwrap_or(GeoTransform([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]))
    }

    /// Whether the raster carries a real geotransform.
    pub fn is_georeferenced(&self) -> bool {
        self.ds.geo_transform().is_ok()
    }

    /// The CRS as WKT (of the geotransform, else of the GCPs), or an empty string
    /// when there is none.
    pub fn crs_wkt(&self) -> String {
        let wkt = self.ds.projection();
        if wkt.is_empty() && self.ds.geo_transform().is_err() {
            return self.ds.gcp_projection().unwrap_or_default();
        }
        wkt
    }

    /// How the raster is placed on the Earth: its geotransform, else its GCPs.
    /// Fails, naming the file, when it has neither.
    pub fn georef(&self) -> Result<Georef> {
        if let Ok(gt) = self.ds.geo_transform() {
            return Ok(Georef::Affine {
                gt: GeoTransform(gt),
                crs: self.ds.projection(),
            });
        }
        let gcps: Vec<Gcp> = self
            .ds
            .gcps()
            .iter()
            .map(|g| Gcp {
                id: g.id(),
                pixel: g.pixel(),
                line: g.line(),
                x: g.x(),
                y: g.y(),
                z: g.z(),
            })
            .collect();
        if gcps.is_empty() {
            return Err(Error::raster(
                &self.path,
                "is not georeferenced (no geotransform and no GCPs); georeference it first, e.g. with gdal_translate -a_ullr/-a_srs or -gcp",
            ));
        }
        Ok(Georef::Gcps {
            gcps,
            crs: self.ds.gcp_projection().unwrap_or_default(),
        })
    }

    /// The EPSG code of the CRS, when GDAL can tell it.
    pub fn epsg(&self) -> Option<u32> {
        self.ds
            .spatial_ref()
            .ok()
            .and_then(|s| s.auth_code().ok())
            .map(|c| c as u32)
    }

    /// Nodata value of band `b` (1-based).
    pub fn nodata(&self, b: usize) -> Option<f64> {
        self.ds
            .rasterband(b)
            .ok()
            .and_then(|band| band.no_data_value())
    }

    /// Band descriptions (names) in order; empty strings where unset.
    pub fn band_descriptions(&self) -> Vec<String> {
        (1..=self.band_count())
            .map(|b| {
                self.ds
                    .rasterband(b)
                    .ok()
                    .and_then(|band| band.description().ok())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Reads `bands` (1-based) inside `window` as f32, shape `[bands, h, w]`.
    /// Parts of the window outside the raster are filled with `fill`.
    pub fn read_window(&self, bands: &[usize], window: Window, fill: f32) -> Result<Array3<f32>> {
        let (w, h) = (window.width, window.height);
        let mut out = Array3::<f32>::from_elem((bands.len(), h, w), fill);
        let (rw, rh) = self.size();
        let Some(inside) = window.clip(rw, rh) else {
            return Ok(out);
        };
        let mut buf = vec![0f32; inside.width * inside.height];
        for (i, &b) in bands.iter().enumerate() {
            let band = self
                .ds
                .rasterband(b)
                .map_err(|e| Error::raster_source(&self.path, format!("band {b}"), e))?;
            band.read_into_slice::<f32>(
                (inside.x, inside.y),
                (inside.width, inside.height),
                (inside.width, inside.height),
                &mut buf,
                None,
            )
            .map_err(|e| {
                Error::raster_source(&self.path, format!("band {b}, window {inside}"), e)
            })?;
            let (ox, oy) = (
                (inside.x - window.x) as usize,
                (inside.y - window.y) as usize,
            );
            for r in 0..inside.height {
                let row = &buf[r * inside.width..(r + 1) * inside.width];
                for (c, v) in row.iter().enumerate() {
                    out[[i, oy + r, ox + c]] = *v;
                }
            }
        }
        Ok(out)
    }
}

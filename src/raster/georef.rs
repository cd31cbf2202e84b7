//! Every way a raster is placed on the Earth: an affine geotransform or ground
//! control points (GCPs), each with its CRS.
//!
//! Scenes georeferenced by GCPs only (Sentinel-1 GRD/SLC measurement TIFFs,
//! scanned and hand-georeferenced imagery) keep them: a map of such a scene carries
//! the GCPs scaled to the map's grid, in the GCPs' CRS, and labels are placed on
//! the scene through GDAL's GCP transformer (a polynomial fitted to the GCPs, the
//! order GDAL chooses for their number, as `gdalwarp` does). A raster with neither
//! is refused where georeferencing matters (`map`, `adapt`, `assess` by labels).

use super::GeoTransform;
use crate::error::{Error, Result};
use std::path::Path;

/// One ground control point: pixel/line on the raster and x/y(/z) in the CRS.
#[derive(Debug, Clone, PartialEq)]
pub struct Gcp {
    /// Identifier (may be empty).
    pub id: String,
    /// Column, in pixels from the left edge (fractional).
    pub pixel: f64,
    /// Row, in pixels from the top edge (fractional).
    pub line: f64,
    /// Georeferenced x.
    pub x: f64,
    /// Georeferenced y.
    pub y: f64,
    /// Elevation (0 when unknown).
    pub z: f64,
}

/// The georeferencing of a raster.
#[derive(Debug, Clone, PartialEq)]
pub enum Georef {
    /// An affine geotransform, with the CRS as WKT (empty when the raster has none).
    Affine {
        /// The geotransform.
        gt: GeoTransform,
        /// The CRS as WKT.
        crs: String,
    },
    /// Ground control points, with their CRS as WKT.
    Gcps {
        /// The points.
        gcps: Vec<Gcp>,
        /// Their CRS as WKT.
        crs: String,
    },
}

impl Georef {
    /// The CRS as WKT (empty when unknown).
    pub fn crs(&self) -> &str {
        match self {
            Georef::Affine { crs, .. } | Georef::Gcps { crs, .. } => crs,
        }
    }

    /// The same placement on a grid whose pixel `(0, 0)` is the source's and whose
    /// pixels are `factor` source pixels wide (a classifier map of stride `factor`).
    pub fn subgrid(&self, factor: f64) -> Georef {
        match self {
            Georef::Affine { gt, crs } => Georef::Affine {
                gt: gt.subgrid(0.0, 0.0, factor),
                crs: crs.clone(),
            },
            Georef::Gcps { gcps, crs } => Georef::Gcps {
                gcps: gcps
                    .iter()
                    .map(|g| Gcp {
                        pixel: g.pixel / factor,
                        line: g.line / factor,
                        ..g.clone()
                    })
                    .collect(),
                crs: crs.clone(),
            },
        }
    }

    /// A converter from CRS coordinates to fractional pixel positions.
    pub fn locator(&self, path: &Path) -> Result<PixelLocator> {
        match self {
            Georef::Affine { gt, .. } => Ok(PixelLocator::Affine(*gt)),
            Georef::Gcps { gcps, .. } => Ok(PixelLocator::Gcps(GcpTransformer::new(path, gcps)?)),
        }
    }
}

/// CRS coordinates -> `(col, row)` of a raster.
#[derive(Debug)]
pub enum PixelLocator {
    /// By inverting an affine geotransform.
    Affine(GeoTransform),
    /// Through GDAL's GCP transformer.
    Gcps(GcpTransformer),
}

impl PixelLocator {
    /// The fractional `(col, row)` of CRS coordinates `(x, y)`; `None` where the
    /// transformation is undefined.
    pub fn pixel(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        match self {
            PixelLocator::Affine(gt) => gt.invert(x, y),
            PixelLocator::Gcps(t) => t.to_pixel(x, y),
        }
    }

    /// CRS coordinates of fractional pixel position `(col, row)`.
    pub fn world(&self, col: f64, row: f64) -> Option<(f64, f64)> {
        match self {
            PixelLocator::Affine(gt) => Some(gt.apply(col, row)),
            PixelLocator::Gcps(t) => t.to_world(col, row),
        }
    }
}

/// GDAL's polynomial GCP transformer (`GDALCreateGCPTransformer`), which the gdal
/// crate does not wrap.
#[derive(Debug)]
pub struct GcpTransformer {
    handle: *mut std::ffi::c_void,
}

impl GcpTransformer {
    /// Fits GDAL's transformer to `gcps` (order chosen by GDAL from their number).
    #[allow(unsafe_code)]
    pub fn new(path: &Path, gcps: &[Gcp]) -> Result<Self> {
        if gcps.len() < 3 {
            return Err(Error::raster(
                path,
                format!(
                    "has {} GCPs; at least 3 are needed to place pixels",
                    gcps.len()
                ),
            ));
        }
        let ids: Vec<std::ffi::CString> = gcps
            .iter()
            .map(|g| std::ffi::CString::new(g.id.replace('\0', "")).unwrap_or_default())
            .collect();
        let empty = std::ffi::CString::default();
        let list: Vec<gdal_sys::GDAL_GCP> = gcps
            .iter()
            .zip(&ids)
            .map(|(g, id)| gdal_sys::GDAL_GCP {
                pszId: id.as_ptr() as *mut _,
                pszInfo: empty.as_ptr() as *mut _,
                dfGCPPixel: g.pixel,
                dfGCPLine: g.line,
                dfGCPX: g.x,
                dfGCPY: g.y,
                dfGCPZ: g.z,
            })
            .collect();
        // SAFETY: `list` and the strings it points to outlive the call; GDAL copies
        // the GCPs into the transformer it returns (or returns null on failure).
        let handle =
            unsafe { gdal_sys::GDALCreateGCPTransformer(list.len() as i32, list.as_ptr(), 0, 0) };
        if handle.is_null() {
            return Err(Error::raster(
                path,
                "its GCPs do not define a usable transformation (collinear or too few)",
            ));
        }
        Ok(GcpTransformer { handle })
    }

    #[allow(unsafe_code)]
    fn transform(&self, to_pixel: bool, a: f64, b: f64) -> Option<(f64, f64)> {
        let (mut x, mut y, mut z, mut ok) = (a, b, 0.0f64, 0i32);
        // SAFETY: `handle` is a live GCP transformer (freed only in Drop); the
        // arrays are one element long, as the count says.
        let rv = unsafe {
            gdal_sys::GDALGCPTransform(
                self.handle,
                to_pixel as i32,
                1,
                &mut x,
                &mut y,
                &mut z,
                &mut ok,
            )
        };
        (rv != 0 && ok != 0 && x.is_finite() && y.is_finite()).then_some((x, y))
    }

    /// `(col, row)` of CRS coordinates.
    pub fn to_pixel(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        self.transform(true, x, y)
    }

    /// CRS coordinates of `(col, row)`.
    pub fn to_world(&self, col: f64, row: f64) -> Option<(f64, f64)> {
        self.transform(false, col, row)
    }
}

impl Drop for GcpTransformer {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: created by GDALCreateGCPTransformer and destroyed once.
        unsafe { gdal_sys::GDALDestroyGCPTransformer(self.handle) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affine_gcps() -> Vec<Gcp> {
        let mut out = Vec::new();
        for (i, line) in [0.0, 40.0, 80.0].into_iter().enumerate() {
            for (j, pixel) in [0.0, 48.0, 96.0].into_iter().enumerate() {
                out.push(Gcp {
                    id: format!("g{i}{j}"),
                    pixel,
                    line,
                    x: 370_000.0 + pixel * 10.0,
                    y: 5_260_000.0 - line * 10.0,
                    z: 0.0,
                });
            }
        }
        out
    }

    #[test]
    fn gcps_place_pixels_both_ways() {
        let t = GcpTransformer::new(Path::new("s.tif"), &affine_gcps()).unwrap();
        let (c, r) = t.to_pixel(370_105.0, 5_259_795.0).unwrap();
        assert!(
            (c - 10.5).abs() < 1e-6 && (r - 20.5).abs() < 1e-6,
            "{c} {r}"
        );
        let (x, y) = t.to_world(10.5, 20.5).unwrap();
        assert!((x - 370_105.0).abs() < 1e-6 && (y - 5_259_795.0).abs() < 1e-6);
    }

    #[test]
    fn a_subgrid_scales_gcps_to_the_map_grid() {
        let g = Georef::Gcps {
            gcps: affine_gcps(),
            crs: String::new(),
        };
        let Georef::Gcps { gcps, .. } = g.subgrid(8.0) else {
            panic!()
        };
        assert_eq!((gcps[4].pixel, gcps[4].line), (6.0, 5.0));
        assert_eq!((gcps[4].x, gcps[4].y), (370_480.0, 5_259_600.0));
    }

    #[test]
    fn too_few_gcps_are_refused_naming_the_file() {
        let err = GcpTransformer::new(Path::new("s.tif"), &affine_gcps()[..2]).unwrap_err();
        assert!(err.to_string().starts_with("s.tif: has 2 GCPs"), "{err}");
    }
}

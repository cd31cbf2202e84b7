//! Tile footprints in EPSG:4326 through PROJ.
//!
//! A raster's CRS comes from GDAL (an EPSG code when GDAL knows one, else its WKT);
//! the box of a pixel window is transformed with edge densification, so the result
//! contains the whole reprojected tile: `[min lon, min lat, max lon, max lat]`.
//! Transformers are cached per thread (PROJ objects are not shareable across threads).

use crate::raster::{GeoTransform, Raster};
use proj::Proj;
use std::cell::RefCell;
use std::collections::HashMap;

use super::record::PixelWindow;

/// Points inserted along each box edge when reprojecting.
const DENSIFY: i32 = 8;

thread_local! {
    static TRANSFORMERS: RefCell<HashMap<String, Proj>> = RefCell::new(HashMap::new());
}

/// How PROJ should read a raster's CRS: `EPSG:N` when GDAL knows the code, else WKT.
/// `None` for a raster without a CRS, or with a local (engineering) CRS, which has
/// no place on the Earth (and which PROJ cannot transform from).
pub fn crs_definition(raster: &Raster) -> Option<String> {
    if let Ok(srs) = raster.dataset().spatial_ref() {
        if srs.is_local() {
            return None;
        }
    }
    if let Some(code) = raster.epsg() {
        return Some(format!("EPSG:{code}"));
    }
    let wkt = raster.crs_wkt();
    (!wkt.trim().is_empty()).then_some(wkt)
}

/// Why a footprint could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum FootprintError {
    /// PROJ does not know the CRS.
    #[error("CRS not understood by PROJ: {0}")]
    Crs(#[from] proj::ProjCreateError),
    /// PROJ could not reproject the corners.
    #[error("reprojecting to EPSG:4326: {0}")]
    Reproject(#[from] proj::ProjError),
    /// The reprojected box is not finite (outside the CRS's area of use).
    #[error("footprint does not reproject to EPSG:4326")]
    NotFinite,
}

/// Footprint `[west, south, east, north]` in degrees (EPSG:4326) of `window` of a
/// raster georeferenced by `gt` in `crs` (densified edges, PROJ's
/// `proj_trans_bounds`).
pub fn bbox_wgs84(
    crs: &str,
    gt: &GeoTransform,
    window: PixelWindow,
) -> Result<[f64; 4], FootprintError> {
    let (x0, y0) = (window.x as f64, window.y as f64);
    let (x1, y1) = (x0 + window.width as f64, y0 + window.height as f64);
    let corners = [
        gt.apply(x0, y0),
        gt.apply(x1, y0),
        gt.apply(x0, y1),
        gt.apply(x1, y1),
    ];
    let (mut l, mut b, mut r, mut t) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in corners {
        l = l.min(x);
        r = r.max(x);
        b = b.min(y);
        t = t.max(y);
    }
    TRANSFORMERS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(crs) {
            let p = Proj::new_known_crs(crs, "EPSG:4326", None)?;
            cache.insert(crs.to_string(), p);
        }
        let p = &cache[crs];
        let out = p.transform_bounds(l, b, r, t, DENSIFY)?;
        if out.iter().all(|v| v.is_finite()) {
            Ok(out)
        } else {
            Err(FootprintError::NotFinite)
        }
    })
}

/// Whether two EPSG:4326 boxes overlap in more than a sliver: their intersection
/// covers more than `fraction` of the smaller box. Boxes of adjacent tiles of one
/// UTM grid overlap slightly once reprojected (meridian convergence, < 6 % of the
/// area); genuinely overlapping Sen12MS tiles share 25 % or more.
pub fn boxes_overlap(a: &[f64; 4], b: &[f64; 4], fraction: f64) -> bool {
    let w = a[2].min(b[2]) - a[0].max(b[0]);
    let h = a[3].min(b[3]) - a[1].max(b[1]);
    if w <= 0.0 || h <= 0.0 {
        return false;
    }
    let area = |x: &[f64; 4]| (x[2] - x[0]) * (x[3] - x[1]);
    w * h > fraction * area(a).min(area(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utm_windows_reproject_to_plausible_lon_lat() {
        // UTM 32N, 500 km easting = 9 degrees east.
        let gt = GeoTransform::north_up(500_000.0, 5_320_000.0, 10.0);
        let b = bbox_wgs84("EPSG:32632", &gt, PixelWindow::new(0, 0, 128, 128)).unwrap();
        assert!((b[0] - 9.0).abs() < 0.01, "{b:?}");
        assert!(
            b[1] > 47.9 && b[3] < 48.1 && b[2] > b[0] && b[3] > b[1],
            "{b:?}"
        );
        assert!(bbox_wgs84("not a crs", &gt, PixelWindow::new(0, 0, 1, 1)).is_err());
    }

    #[test]
    fn slivers_do_not_count_as_overlap() {
        let a = [0.0, 0.0, 1.0, 1.0];
        assert!(boxes_overlap(&a, &[0.5, 0.5, 1.5, 1.5], 0.1));
        assert!(!boxes_overlap(&a, &[0.97, 0.0, 1.97, 1.0], 0.1));
        assert!(!boxes_overlap(&a, &[1.0, 0.0, 2.0, 1.0], 0.0));
    }
}

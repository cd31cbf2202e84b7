//! Which band data types can feed a model.
//!
//! Real-valued integer and floating-point bands are read as `f32`. Complex bands
//! (SAR single-look complex I/Q samples: `CInt16`, `CInt32`, `CFloat32`,
//! `CFloat64`) are refused: GDAL reads them into a real buffer by keeping the real
//! part only, which is neither amplitude nor backscatter in dB.

use crate::error::{Error, Result};
use gdal::raster::RasterBand;
use std::ffi::CStr;
use std::path::Path;

/// GDAL's name of the band's data type (`UInt16`, `Float32`, `CFloat32`, ...).
#[allow(unsafe_code)]
pub fn type_name(band: &RasterBand<'_>) -> String {
    // SAFETY: `c_rasterband` is a live band handle borrowed from its dataset;
    // GDALGetDataTypeName returns a static string (or null for unknown codes),
    // which is copied before returning.
    unsafe {
        let code = gdal_sys::GDALGetRasterDataType(band.c_rasterband());
        let name = gdal_sys::GDALGetDataTypeName(code);
        if name.is_null() {
            return format!("unknown type {code}");
        }
        CStr::from_ptr(name).to_string_lossy().into_owned()
    }
}

/// Fails, naming the file, band and type, when band `index` (1-based, called
/// `label` in messages) holds complex or unknown samples.
pub fn check_readable(path: &Path, index: usize, label: &str, band: &RasterBand<'_>) -> Result<()> {
    let name = type_name(band);
    let complex = name.starts_with('C');
    if complex || matches!(band.band_type(), gdal::raster::GdalDataType::Unknown) {
        let why = if complex {
            "complex samples (e.g. SAR SLC I/Q) cannot be used; convert them to backscatter first (e.g. gdal_calc/SNAP: 10*log10(|z|^2))"
        } else {
            "a data type geomaml cannot read"
        };
        return Err(Error::raster(
            path,
            format!("band {index} ({label}) has data type {name}: {why}"),
        ));
    }
    Ok(())
}

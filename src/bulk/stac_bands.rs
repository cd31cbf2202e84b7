//! STAC items whose bands are separate assets, one COG per band, as Sentinel-2
//! collections publish them (Earth Search, Planetary Computer, CDSE).
//!
//! When `--asset` is not given and every band of the model is found among an
//! item's single-band GeoTIFF assets, the item maps without the user building a
//! VRT: the assets are stacked in the model's band order into an in-memory VRT
//! (`gdalbuildvrt -separate`) at the model's resolution (nearest neighbour, so no
//! value is invented, and 20/60 m bands are repeated on the 10 m grid), each band
//! named after the model band and carrying the asset's `raster:bands` scale, offset
//! and nodata. The pixel pipeline then reads it like any scene.
//!
//! A model band matches an asset by the asset's key, its `eo:bands` `name`, or its
//! `common_name`, compared without case to the band name or its common name
//! (B02 = `blue`, B8A = `nir08`, B11 = `swir16`, ... from the STAC `eo` extension's
//! common names; `VV`/`VH` as written). Only Sentinel-2 and Sentinel-1 band names
//! are stacked this way, whose units the pixel pipeline knows
//! ([`crate::pixels::units`]); a model of `R`/`G`/`B` (8-bit imagery) is not fed
//! reflectance assets, and maps such items from one asset (`--asset visual`).

use crate::error::{Error, Result};
use gdal::errors::GdalError;
use gdal::programs::raster::{build_vrt, BuildVRTOptions};
use gdal::{Dataset, Metadata};
use serde::Deserialize;
use std::path::Path;

/// One asset's band description (`eo:bands` entry).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EoBand {
    /// Band name (`B04`, `red`, ...).
    pub name: Option<String>,
    /// The `eo` extension's common name (`red`, `nir08`, ...).
    pub common_name: Option<String>,
}

/// One asset's `raster:bands` entry: how stored values become physical ones.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RasterBandInfo {
    /// Multiplier (`physical = raw * scale + offset`).
    pub scale: Option<f64>,
    /// Added after scaling.
    pub offset: Option<f64>,
    /// Nodata value of the stored samples.
    pub nodata: Option<serde_json::Value>,
}

/// A model band found as its own asset.
#[derive(Debug, Clone, PartialEq)]
pub struct BandAsset {
    /// The model band it feeds (`B04`).
    pub band: String,
    /// What GDAL opens.
    pub input: String,
    /// `raster:bands` scale.
    pub scale: Option<f64>,
    /// `raster:bands` offset.
    pub offset: Option<f64>,
    /// `raster:bands` nodata.
    pub nodata: Option<f64>,
}

/// The STAC `eo` common name of a model band name, if it has one.
pub fn common_name(band: &str) -> Option<&'static str> {
    Some(match band.to_ascii_uppercase().as_str() {
        "B01" => "coastal",
        "B02" => "blue",
        "B03" => "green",
        "B04" => "red",
        "B05" => "rededge1",
        "B06" => "rededge2",
        "B07" => "rededge3",
        "B08" => "nir",
        "B8A" => "nir08",
        "B09" => "nir09",
        "B10" => "cirrus",
        "B11" => "swir16",
        "B12" => "swir22",
        _ => return None,
    })
}

/// Whether model band `band` may be stacked from its own asset (its units are known).
pub fn stackable(band: &str) -> bool {
    common_name(band).is_some() || ["VV", "VH"].iter().any(|b| b.eq_ignore_ascii_case(band))
}

/// Whether an asset called `key` with `eo:bands` `eo` holds model band `band`.
pub fn asset_holds(key: &str, eo: &[EoBand], band: &str) -> bool {
    if eo.len() > 1 || !stackable(band) {
        return false;
    }
    let alias = common_name(band);
    let names = std::iter::once(Some(key))
        .chain(
            eo.iter()
                .flat_map(|b| [b.name.as_deref(), b.common_name.as_deref()]),
        )
        .flatten();
    names
        .into_iter()
        .any(|n| n.eq_ignore_ascii_case(band) || alias.is_some_and(|a| n.eq_ignore_ascii_case(a)))
}

/// The nodata of a `raster:bands` entry as a number (`"nan"` included).
pub fn nodata_number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// Stacks `bands` (model order) into a VRT at `dest` (a `/vsimem/` path) with
/// `resolution` metres per pixel when the assets are in a projected CRS (their
/// finest resolution otherwise). Errors name the item (an asset that cannot be
/// opened: the asset first) and keep GDAL's error as their source.
pub fn build_band_vrt(item: &str, bands: &[BandAsset], resolution: f64, dest: &str) -> Result<()> {
    let err = |what: String, e: GdalError| {
        Error::runtime_source(format!("STAC item {item:?}: {what}"), e)
    };
    let sources: Vec<Dataset> = bands
        .iter()
        .map(|b| {
            Dataset::open(Path::new(&b.input)).map_err(|e| {
                Error::raster_source(
                    &b.input,
                    format!("asset of band {} of STAC item {item:?}", b.band),
                    e,
                )
            })
        })
        .collect::<Result<_>>()?;
    let projected = sources[0]
        .spatial_ref()
        .map(|s| s.is_projected())
        .unwrap_or(false);
    let mut args: Vec<String> = vec!["-separate".into(), "-r".into(), "nearest".into()];
    if projected && resolution > 0.0 {
        args.extend(["-tr".into(), resolution.to_string(), resolution.to_string()]);
    } else {
        args.extend(["-resolution".into(), "highest".into()]);
    }
    let options = BuildVRTOptions::new(args)
        .map_err(|e| err("options to stack its band assets".into(), e))?;
    let mut vrt = build_vrt(Some(Path::new(dest)), &sources, Some(options))
        .map_err(|e| err("stacking its band assets".into(), e))?;
    for (i, b) in bands.iter().enumerate() {
        let band_err = |what: &str, e| err(format!("band {}: {what}", b.band), e);
        let mut band = vrt
            .rasterband(i + 1)
            .map_err(|e| band_err("opening it in the stack", e))?;
        band.set_description(&b.band)
            .map_err(|e| band_err("naming it", e))?;
        if let Some(s) = b.scale {
            band.set_scale(s)
                .map_err(|e| band_err("setting its scale", e))?;
        }
        if let Some(o) = b.offset {
            band.set_offset(o)
                .map_err(|e| band_err("setting its offset", e))?;
        }
        if let Some(nd) = b.nodata {
            band.set_no_data_value(Some(nd))
                .map_err(|e| band_err("setting its nodata value", e))?;
        }
    }
    vrt.flush_cache()
        .map_err(|e| err("writing the stack".into(), e))?;
    Ok(())
}

/// Removes a VRT written by [`build_band_vrt`].
#[allow(unsafe_code)]
pub fn remove_vrt(dest: &str) {
    if let Ok(c) = std::ffi::CString::new(dest) {
        // SAFETY: a plain C call with a valid NUL-terminated path; a missing file
        // is reported by the return value, which is ignored.
        unsafe {
            gdal_sys::VSIUnlink(c.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_match_by_key_name_or_common_name() {
        let eo = |n: &str, c: &str| {
            vec![EoBand {
                name: Some(n.into()),
                common_name: Some(c.into()),
            }]
        };
        assert!(asset_holds("red", &eo("red", "red"), "B04"));
        assert!(asset_holds("B04", &[], "B04"));
        assert!(asset_holds("x", &eo("B8A", "nir08"), "B8A"));
        assert!(!asset_holds("nir", &eo("nir", "nir"), "B8A"));
        // R/G/B models read 8-bit imagery: reflectance assets are not their bands.
        assert!(!asset_holds("red", &[], "R"));
        // A three-band visual asset is not the red band.
        let mut tci = eo("red", "red");
        tci.extend(eo("green", "green"));
        assert!(!asset_holds("visual", &tci, "B04"));
    }

    #[test]
    fn nodata_numbers_include_nan() {
        assert_eq!(nodata_number(&serde_json::json!(0)), Some(0.0));
        assert!(nodata_number(&serde_json::json!("nan")).unwrap().is_nan());
        assert_eq!(nodata_number(&serde_json::json!(null)), None);
    }
}

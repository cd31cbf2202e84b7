//! From stored sample values to the physical values a model card expects.
//!
//! A band may store its values packed (`physical = raw * scale + offset`, GDAL's
//! band scale and offset, what `gdal_translate -unscale` applies and what STAC
//! `raster:bands` calls `scale`/`offset`). geomaml applies them before the card's
//! own normalisation, so the same physical values give the same model input
//! whichever way they are stored.
//!
//! Sentinel-2 reflectance bands (B01..B12, B8A) need one more rule, because the
//! Sen12MS convention the paper's models read is *digital numbers*, reflectance
//! x 10,000 without offset:
//!
//! - a band whose scale is below 0.01 (for example `scale 0.0001, offset -0.1`, as
//!   Sentinel-2 L2A COGs carry from processing baseline 04.00 on) yields reflectance
//!   in 0..1, which is multiplied by 10,000;
//! - a band with no scale/offset of its own whose metadata (band, or dataset item
//!   `BOA_ADD_OFFSET_<band>` / `RADIO_ADD_OFFSET_<band>`, or the plain keys) names the
//!   baseline-04.00 offset (-1000 DN) has that offset added, as ESA specifies:
//!   reflectance = (DN + BOA_ADD_OFFSET) / 10,000;
//! - plain digital numbers (products before baseline 04.00, or "harmonized"
//!   collections that already removed the offset) are taken as they are.
//!
//! Float reflectance in 0..1 stored without any scale metadata cannot be told from
//! digital numbers by its metadata; such a scene needs `scale 10000` set on its
//! bands (`gdal_edit.py -scale 10000`), which makes digital numbers of it (a scale
//! below 0.01 would be read as packed reflectance and leave 0..1). The scene
//! checks ([`super::checks`]) warn when values are that far from the model's.

use crate::bands::S2_BANDS;
use gdal::raster::RasterBand;
use gdal::{Dataset, Metadata};

/// Turns stored samples of one band into the physical values the card expects:
/// `(raw * scale + offset) * factor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unscale {
    /// GDAL's band scale (1 when unset).
    pub scale: f64,
    /// GDAL's band offset, or the Sentinel-2 add-offset (0 when unset).
    pub offset: f64,
    /// Unit factor: 10,000 for Sentinel-2 reflectance stored in 0..1, else 1.
    pub factor: f64,
}

impl Unscale {
    /// No change.
    pub const IDENTITY: Unscale = Unscale {
        scale: 1.0,
        offset: 0.0,
        factor: 1.0,
    };

    /// The rule for `band` of `ds`, which feeds the card band called `card_name`.
    pub fn of_band(ds: &Dataset, band: &RasterBand<'_>, card_name: &str) -> Unscale {
        let scale = band.scale().filter(|s| s.is_finite() && *s != 0.0);
        let offset = band.offset().filter(|o| o.is_finite());
        let is_s2 = S2_BANDS.iter().any(|b| b.eq_ignore_ascii_case(card_name));
        let has_own = scale.is_some_and(|s| s != 1.0) || offset.is_some_and(|o| o != 0.0);
        let (scale, offset) = (scale.unwrap_or(1.0), offset.unwrap_or(0.0));
        if has_own {
            let factor = if is_s2 && scale.abs() < 0.01 {
                10_000.0
            } else {
                1.0
            };
            return Unscale {
                scale,
                offset,
                factor,
            };
        }
        let add = if is_s2 {
            sentinel2_add_offset(ds, band, card_name).unwrap_or(0.0)
        } else {
            0.0
        };
        Unscale {
            scale: 1.0,
            offset: add,
            factor: 1.0,
        }
    }

    /// Whether this rule changes values at all.
    pub fn is_identity(&self) -> bool {
        *self == Unscale::IDENTITY
    }

    /// The physical value of a stored sample.
    #[inline]
    pub fn apply(&self, raw: f32) -> f32 {
        ((raw as f64 * self.scale + self.offset) * self.factor) as f32
    }
}

/// The baseline-04.00 add-offset named in band or dataset metadata, if any.
fn sentinel2_add_offset(ds: &Dataset, band: &RasterBand<'_>, name: &str) -> Option<f64> {
    let upper = name.to_ascii_uppercase();
    let keys = ["BOA_ADD_OFFSET", "RADIO_ADD_OFFSET"];
    let parse = |v: Option<String>| v.and_then(|s| s.trim().parse::<f64>().ok());
    for key in keys {
        if let Some(v) = parse(band.metadata_item(key, "")) {
            return Some(v);
        }
    }
    for key in keys {
        if let Some(v) = parse(ds.metadata_item(&format!("{key}_{upper}"), "")) {
            return Some(v);
        }
        if let Some(v) = parse(ds.metadata_item(key, "")) {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use gdal::DriverManager;

    fn band_with(scale: Option<f64>, offset: Option<f64>, meta: Option<(&str, &str)>) -> Unscale {
        let drv = DriverManager::get_driver_by_name("MEM").unwrap();
        let ds = drv.create_with_band_type::<u16, _>("", 2, 2, 1).unwrap();
        let mut band = ds.rasterband(1).unwrap();
        if let Some(s) = scale {
            band.set_scale(s).unwrap();
        }
        if let Some(o) = offset {
            band.set_offset(o).unwrap();
        }
        if let Some((k, v)) = meta {
            band.set_metadata_item(k, v, "").unwrap();
        }
        let band = ds.rasterband(1).unwrap();
        Unscale::of_band(&ds, &band, "B04")
    }

    #[test]
    fn every_storage_of_one_reflectance_gives_the_same_value() {
        // Reflectance 0.25 is DN 2500 in the Sen12MS convention.
        let plain = band_with(None, None, None).apply(2500.0);
        let offset_dn = band_with(Some(1.0), Some(-1000.0), None).apply(3500.0);
        let reflectance = band_with(Some(0.0001), Some(-0.1), None).apply(3500.0);
        let boa = band_with(None, None, Some(("BOA_ADD_OFFSET", "-1000"))).apply(3500.0);
        for v in [plain, offset_dn, reflectance, boa] {
            assert!((v - 2500.0).abs() < 1e-2, "{v}");
        }
    }

    #[test]
    fn a_band_scale_wins_over_the_metadata_offset() {
        // Never corrected twice: the band's own offset already says it.
        let u = band_with(Some(1.0), Some(-1000.0), Some(("BOA_ADD_OFFSET", "-1000")));
        assert_eq!(u.apply(3500.0), 2500.0);
    }
}

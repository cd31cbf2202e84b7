//! Band names and the normalisation the paper uses.
//!
//! geomaml names every input band, so a model card can say exactly what it eats and
//! a scene can be matched to it by name. Sen12MS order is S1 (VV, VH) then S2
//! (B01..B08, B8A, B09..B12): 15 bands. S2 reflectance is scaled by 1e-4, S1 dB by
//! 1e-2, and NaN becomes 0 (Russwurm et al. 2020, section 4).

use serde::{Deserialize, Serialize};

/// Sentinel-1 band names in Sen12MS order.
pub const S1_BANDS: [&str; 2] = ["VV", "VH"];

/// Sentinel-2 band names in Sen12MS order.
pub const S2_BANDS: [&str; 13] = [
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
];

/// RGB band names for DeepGlobe imagery.
pub const RGB_BANDS: [&str; 3] = ["R", "G", "B"];

/// All 15 Sen12MS band names, S1 first.
pub fn sen12ms_bands() -> Vec<String> {
    S1_BANDS
        .iter()
        .chain(S2_BANDS.iter())
        .map(|s| s.to_string())
        .collect()
}

/// How raw band values become network input: `x * scale + offset`, NaN -> 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Normalisation {
    /// Multiplier applied to the raw value.
    pub scale: f32,
    /// Added after scaling.
    pub offset: f32,
}

impl Normalisation {
    /// Applies the normalisation; non-finite values become 0.
    #[inline]
    pub fn apply(&self, v: f32) -> f32 {
        let y = v * self.scale + self.offset;
        if y.is_finite() {
            y
        } else {
            0.0
        }
    }
}

/// The paper's normalisation for a band name: S2 x 1e-4, S1 x 1e-2, RGB / 255.
pub fn default_normalisation(band: &str) -> Normalisation {
    let scale = if S1_BANDS.contains(&band) {
        1e-2
    } else if S2_BANDS.contains(&band) {
        1e-4
    } else if RGB_BANDS.contains(&band) {
        1.0 / 255.0
    } else {
        1.0
    };
    Normalisation { scale, offset: 0.0 }
}

/// Parses a comma-separated band list (`B02,B03,B04` or the shorthands `s1`, `s2`, `all`).
pub fn parse_band_list(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.to_ascii_lowercase().as_str() {
            "s1" => out.extend(S1_BANDS.iter().map(|s| s.to_string())),
            "s2" => out.extend(S2_BANDS.iter().map(|s| s.to_string())),
            "all" | "sen12ms" => out.extend(sen12ms_bands()),
            "rgb" => out.extend(RGB_BANDS.iter().map(|s| s.to_string())),
            _ => out.push(item.to_ascii_uppercase()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sen12ms_has_fifteen_bands_s1_first() {
        let b = sen12ms_bands();
        assert_eq!(b.len(), 15);
        assert_eq!(&b[..3], &["VV", "VH", "B01"]);
    }

    #[test]
    fn normalisation_follows_the_paper_and_zeroes_nan() {
        assert_eq!(default_normalisation("B04").apply(5000.0), 0.5);
        assert!((default_normalisation("VV").apply(-20.0) + 0.2).abs() < 1e-6);
        assert_eq!(default_normalisation("VV").apply(f32::NAN), 0.0);
    }

    #[test]
    fn band_lists_expand_shorthands() {
        assert_eq!(parse_band_list("s2").len(), 13);
        assert_eq!(parse_band_list("vv, b02"), vec!["VV", "B02"]);
    }
}

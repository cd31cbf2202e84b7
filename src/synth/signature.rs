//! Physically plausible base signatures of the ten DFC2020 classes, and the IGBP /
//! LCCS codes a Sen12MS `lc` patch stores for them.
//!
//! Signatures are mid-season top-of-atmosphere reflectances of Sentinel-2 (B01..B12
//! incl. B8A) and Sentinel-1 backscatter in dB: water dark in NIR/SWIR and very low
//! in VV/VH, vegetation with a red edge and a high NIR plateau, urban bright, flat and
//! strong in VV (double bounce), barren soil rising towards SWIR. Region and season
//! effects are applied on top of these in [`super::look`].

/// DFC2020 class ids (1-based, as in label rasters).
pub mod dfc {
    /// Forest.
    pub const FOREST: u8 = 1;
    /// Shrubland.
    pub const SHRUBLAND: u8 = 2;
    /// Savanna.
    pub const SAVANNA: u8 = 3;
    /// Grassland.
    pub const GRASSLAND: u8 = 4;
    /// Wetlands.
    pub const WETLANDS: u8 = 5;
    /// Croplands.
    pub const CROPLANDS: u8 = 6;
    /// Urban/Built-up.
    pub const URBAN: u8 = 7;
    /// Snow/Ice.
    pub const SNOW: u8 = 8;
    /// Barren.
    pub const BARREN: u8 = 9;
    /// Water.
    pub const WATER: u8 = 10;
}

/// Number of DFC classes (ids 1..=10).
pub const N_CLASSES: usize = 10;

/// S2 reflectance (0..1, B01..B12 with B8A) and S1 VV, VH in dB of one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signature {
    /// Sentinel-2 reflectance per band, Sen12MS order.
    pub s2: [f32; 13],
    /// Sentinel-1 VV and VH backscatter (dB).
    pub s1: [f32; 2],
}

const fn sig(s2: [f32; 13], vv: f32, vh: f32) -> Signature {
    Signature { s2, s1: [vv, vh] }
}

/// Base signature of DFC class `id` (1..=10).
pub fn base(id: u8) -> Signature {
    //              B01   B02   B03   B04   B05   B06   B07   B08   B8A   B09    B10   B11   B12
    match id {
        dfc::FOREST => sig(
            [
                0.030, 0.028, 0.050, 0.030, 0.080, 0.220, 0.280, 0.300, 0.320, 0.100, 0.004, 0.150,
                0.070,
            ],
            -7.5,
            -13.0,
        ),
        dfc::SHRUBLAND => sig(
            [
                0.070, 0.070, 0.095, 0.110, 0.150, 0.200, 0.225, 0.245, 0.265, 0.085, 0.006, 0.290,
                0.200,
            ],
            -10.5,
            -17.5,
        ),
        dfc::SAVANNA => sig(
            [
                0.060, 0.058, 0.085, 0.085, 0.135, 0.225, 0.260, 0.285, 0.305, 0.095, 0.006, 0.265,
                0.170,
            ],
            -9.0,
            -15.5,
        ),
        dfc::GRASSLAND => sig(
            [
                0.050, 0.048, 0.082, 0.060, 0.125, 0.280, 0.340, 0.370, 0.390, 0.120, 0.006, 0.240,
                0.130,
            ],
            -11.0,
            -18.0,
        ),
        dfc::WETLANDS => sig(
            [
                0.040, 0.040, 0.060, 0.050, 0.090, 0.160, 0.190, 0.200, 0.210, 0.070, 0.004, 0.120,
                0.060,
            ],
            -12.5,
            -19.5,
        ),
        dfc::CROPLANDS => sig(
            [
                0.050, 0.050, 0.085, 0.058, 0.125, 0.310, 0.390, 0.430, 0.450, 0.130, 0.006, 0.225,
                0.110,
            ],
            -10.0,
            -16.5,
        ),
        dfc::URBAN => sig(
            [
                0.120, 0.115, 0.125, 0.135, 0.160, 0.180, 0.190, 0.200, 0.210, 0.080, 0.008, 0.230,
                0.200,
            ],
            -3.5,
            -10.5,
        ),
        dfc::SNOW => sig(
            [
                0.800, 0.790, 0.780, 0.760, 0.740, 0.720, 0.700, 0.680, 0.660, 0.300, 0.020, 0.060,
                0.050,
            ],
            -15.0,
            -22.5,
        ),
        dfc::BARREN => sig(
            [
                0.120, 0.140, 0.190, 0.240, 0.270, 0.290, 0.300, 0.310, 0.320, 0.120, 0.010, 0.380,
                0.320,
            ],
            -14.5,
            -23.0,
        ),
        _ => sig(
            [
                0.060, 0.058, 0.052, 0.032, 0.022, 0.016, 0.013, 0.011, 0.009, 0.004, 0.001, 0.005,
                0.003,
            ],
            -21.0,
            -27.0,
        ),
    }
}

/// How strongly a class follows the vegetation cycle (0 = not at all).
pub fn phenology(id: u8) -> f32 {
    match id {
        dfc::CROPLANDS => 0.85,
        dfc::GRASSLAND => 0.65,
        dfc::SAVANNA => 0.55,
        dfc::WETLANDS => 0.45,
        dfc::SHRUBLAND => 0.3,
        dfc::FOREST => 0.35,
        _ => 0.0,
    }
}

/// The LCCS land-cover, land-use and surface-hydrology codes (Sen12MS `lc` bands 2-4)
/// that go with an IGBP code.
pub fn lccs(igbp: u8) -> [u16; 3] {
    match igbp {
        1 => [11, 10, 10],
        2 => [12, 10, 10],
        3 => [13, 10, 10],
        4 => [14, 10, 10],
        5 => [15, 10, 10],
        6 => [41, 40, 40],
        7 => [43, 40, 40],
        8 => [21, 20, 20],
        9 => [22, 20, 30],
        10 => [31, 30, 30],
        11 => [31, 30, 50],
        12 => [31, 36, 30],
        13 => [1, 9, 1],
        14 => [31, 35, 30],
        15 => [2, 2, 2],
        16 => [1, 1, 1],
        17 => [3, 3, 3],
        _ => [255, 255, 255],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::classes::igbp_to_dfc;

    #[test]
    fn signatures_follow_physics() {
        let water = base(dfc::WATER);
        let crop = base(dfc::CROPLANDS);
        let urban = base(dfc::URBAN);
        // NIR (B08) over red (B04): high for vegetation, below 1 for water.
        assert!(crop.s2[7] / crop.s2[3] > 5.0);
        assert!(water.s2[7] < water.s2[3]);
        assert!(water.s2[11] < 0.01 && water.s1[0] < -18.0);
        assert!(urban.s1[0] > crop.s1[0] && urban.s1[0] > base(dfc::FOREST).s1[0]);
    }

    #[test]
    fn every_igbp_code_has_lccs_codes() {
        for igbp in 1..=17u8 {
            assert_ne!(lccs(igbp)[0], 255, "igbp {igbp}");
            assert!((1..=10).contains(&igbp_to_dfc(igbp as u16)));
        }
    }
}

//! The appearance model: how each class looks in one region in one season.
//!
//! This is the property the paper is about. Starting from the base signatures,
//! - the season moves vegetation towards senescent, soil-like spectra (flipped in the
//!   southern hemisphere, damped in the tropics) and may lay snow on high latitudes;
//! - the region brings its own soil colour, a smooth spectral gain common to all its
//!   classes (illumination, atmosphere, sensor state), a smooth gain and offset per
//!   class (species, soil moisture, crop types, building materials) and S1 offsets
//!   (incidence angle, roughness, moisture);
//! - texture strength and grain and the field-to-field spread are drawn per region
//!   and class.
//!
//! The shifts are large enough that a class in one region overlaps other classes of
//! other regions, but the classes of one region stay apart. `Look` is a pure
//! function of (seed, region key, season): the same seed gives a region the same
//! look in sen12ms patches and in a scene.

use super::biome::Biome;
use super::rng::{key, rng, tag};
use super::signature::{base, dfc, phenology, N_CLASSES};
use super::variety::Variety;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Sen12MS seasons in folder order.
pub const SEASONS: [&str; 4] = ["spring", "summer", "fall", "winter"];

/// Spread of the region-wide spectral log-gain.
const REGION_GAIN_SD: f64 = 0.22;
/// Spread of the per-(region, class) spectral log-gain.
const CLASS_GAIN_SD: f64 = 0.28;
/// Spread of the per-(region, class) reflectance offset.
const CLASS_OFFSET_SD: f64 = 0.02;
/// Spread of the per-(region, class) S1 offset (dB).
const S1_CLASS_SD: f64 = 2.0;

/// Relative strength of haze per band (blue scatters most; B10, the cirrus band,
/// sees almost none).
pub(super) const HAZE_SHAPE: [f32; 13] = [
    1.0, 0.8, 0.55, 0.4, 0.32, 0.25, 0.2, 0.15, 0.14, 0.1, 0.02, 0.05, 0.03,
];

/// Everything needed to paint the pixels of one (region, season).
#[derive(Debug, Clone)]
pub struct Look {
    /// Mean S2 reflectance per class id (index 0 unused).
    pub s2: [[f32; 13]; N_CLASSES + 1],
    /// Mean S1 VV, VH (dB) per class id.
    pub s1: [[f32; 2]; N_CLASSES + 1],
    /// Relative texture amplitude per class.
    pub texture: [f32; N_CLASSES + 1],
    /// Texture grain (pixels) per class.
    pub grain: [f64; N_CLASSES + 1],
    /// Field-to-field log-gain spread per class.
    pub field_sd: [f32; N_CLASSES + 1],
    /// Bare-soil spectrum of the region (fallow fields, senescent ground).
    pub soil: [f32; 13],
    /// Key of the per-pixel streams (texture, noise) of this (region, season).
    pub key: u64,
    /// Sub-types, mixtures, terrain and haze of the varied appearance (`None`: the
    /// classic one).
    pub variety: Option<Variety>,
}

/// A smooth random curve over the 13 bands: normal anchors at B01, B04, B08, B12
/// with spread `sd`, linearly interpolated.
pub(super) fn smooth_curve(r: &mut ChaCha8Rng, sd: f64) -> [f32; 13] {
    let n = Normal::new(0.0, sd).expect("valid sd");
    let anchors = [
        (0usize, n.sample(r)),
        (3, n.sample(r)),
        (7, n.sample(r)),
        (12, n.sample(r)),
    ];
    let mut out = [0f32; 13];
    for (b, o) in out.iter_mut().enumerate() {
        let i = anchors.windows(2).position(|w| b <= w[1].0).unwrap_or(2);
        let ((b0, v0), (b1, v1)) = (anchors[i], anchors[i + 1]);
        let t = (b - b0) as f64 / (b1 - b0) as f64;
        *o = (v0 + (v1 - v0) * t) as f32;
    }
    out
}

pub(super) fn lerp(a: &mut [f32; 13], b: &[f32; 13], t: f32) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += (y - *x) * t;
    }
}

/// Greenness (0 dormant .. 1 peak) of a season index at a latitude.
fn greenness(season: usize, lat: f64) -> f32 {
    let north = [0.55, 1.0, 0.45, 0.1];
    let s = if lat < 0.0 { (season + 2) % 4 } else { season };
    north[s % 4]
}

impl Look {
    /// The look of region `region` (any stable id) at latitude `lat` in `season`
    /// (index into [`SEASONS`]) under `seed`.
    pub fn new(seed: u64, region: u64, biome: Biome, lat: f64, season: usize) -> Self {
        let mut rr = rng(&[seed, tag::LOOK, region]);
        let mut rs = rng(&[seed, tag::LOOK, region, 100 + season as u64]);
        // Region soil: brightness and a visible-to-SWIR tilt.
        let mut soil = base(dfc::BARREN).s2;
        let (bright, tilt): (f32, f32) = (rr.random_range(0.55..1.5), rr.random_range(-0.35..0.35));
        for (b, v) in soil.iter_mut().enumerate() {
            *v *= bright * (1.0 + tilt * (b as f32 / 6.0 - 1.0));
        }
        let phase = Normal::new(0.0, 0.1).expect("sd").sample(&mut rr) as f32;
        let green =
            (1.0 - biome.seasonality() * (1.0 - greenness(season, lat)) + phase).clamp(0.0, 1.0);
        let snow_cover = if season == 3 && lat.abs() > 40.0 {
            let max = if lat.abs() > 50.0 { 0.6 } else { 0.3 };
            rs.random_range(0.0..max)
        } else {
            0.0
        };
        let region_gain = smooth_curve(&mut rr, REGION_GAIN_SD);
        let s1_region = Normal::new(0.0, 1.5).expect("sd").sample(&mut rr) as f32;
        let season_gain = Normal::<f64>::new(0.0, 0.08)
            .expect("sd")
            .sample(&mut rs)
            .exp() as f32;
        let haze: f32 = rs.random_range(0.0..0.03);
        let moisture = Normal::new(0.0, 0.8).expect("sd").sample(&mut rs) as f32;
        let snow = base(dfc::SNOW);
        let mut look = Look {
            s2: [[0.0; 13]; N_CLASSES + 1],
            s1: [[0.0; 2]; N_CLASSES + 1],
            texture: [0.0; N_CLASSES + 1],
            grain: [1.0; N_CLASSES + 1],
            field_sd: [0.0; N_CLASSES + 1],
            soil,
            key: key(&[seed, tag::PIXEL, region, season as u64]),
            variety: None,
        };
        let n1 = Normal::new(0.0, S1_CLASS_SD).expect("sd");
        let off = Normal::new(0.0, CLASS_OFFSET_SD).expect("sd");
        for c in 1..=N_CLASSES as u8 {
            let mut cr = rng(&[seed, tag::LOOK, region, 1000 + c as u64]);
            let sig = base(c);
            let mut s2 = if c == dfc::BARREN { soil } else { sig.s2 };
            lerp(&mut s2, &soil, phenology(c) * (1.0 - green));
            let cover = match c {
                dfc::WATER => 0.0,
                dfc::FOREST => 0.4,
                dfc::URBAN => 0.5,
                _ => 1.0,
            } * snow_cover;
            lerp(&mut s2, &snow.s2, cover as f32);
            let class_gain = smooth_curve(&mut cr, CLASS_GAIN_SD);
            let class_off = off.sample(&mut cr) as f32;
            for b in 0..13 {
                let g = (region_gain[b] + class_gain[b]).exp() * season_gain;
                look.s2[c as usize][b] =
                    (s2[b] * g + class_off * (sig.s2[b] / 0.3).min(1.0) + haze * HAZE_SHAPE[b])
                        .clamp(0.002, 1.2);
            }
            let class_s1 = n1.sample(&mut cr) as f32;
            let wet = if c == dfc::URBAN || c == dfc::WATER {
                0.0
            } else {
                moisture
            };
            let cross = Normal::new(0.0, 1.0).expect("sd").sample(&mut cr) as f32;
            for p in 0..2 {
                let snowy = sig.s1[p] + (snow.s1[p] - sig.s1[p]) * cover as f32 * 0.5;
                look.s1[c as usize][p] =
                    snowy + s1_region + class_s1 + wet + if p == 1 { cross } else { 0.0 };
            }
            let (tex_lo, tex_hi) = match c {
                dfc::URBAN => (0.12, 0.25),
                dfc::FOREST => (0.05, 0.12),
                dfc::WATER => (0.01, 0.03),
                _ => (0.02, 0.08),
            };
            look.texture[c as usize] = cr.random_range(tex_lo..tex_hi);
            look.grain[c as usize] = if c == dfc::URBAN {
                cr.random_range(2.0..4.0)
            } else {
                cr.random_range(3.0..16.0)
            };
            let field = if c == dfc::CROPLANDS { 0.14 } else { 0.05 };
            look.field_sd[c as usize] = field * cr.random_range(0.6..1.4);
        }
        look
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_are_deterministic_and_differ_by_region_and_season() {
        let a = Look::new(1, 57, Biome::Arid, 25.0, 1);
        let b = Look::new(1, 57, Biome::Arid, 25.0, 1);
        assert_eq!(a.s2, b.s2);
        assert_ne!(a.s2, Look::new(1, 58, Biome::Arid, 25.0, 1).s2);
        assert_ne!(a.s2, Look::new(1, 57, Biome::Arid, 25.0, 3).s2);
        assert_ne!(a.s2, Look::new(2, 57, Biome::Arid, 25.0, 1).s2);
    }

    #[test]
    fn values_stay_in_sensor_ranges() {
        for region in 0..40 {
            for season in 0..4 {
                let l = Look::new(9, region, Biome::Boreal, 62.0, season);
                for c in 1..=10 {
                    assert!(l.s2[c].iter().all(|v| (0.002..=1.2).contains(v)));
                    assert!(
                        l.s1[c].iter().all(|v| (-40.0..5.0).contains(v)),
                        "{:?}",
                        l.s1[c]
                    );
                }
            }
        }
    }

    #[test]
    fn water_stays_dark_in_nir_everywhere() {
        for region in 0..50 {
            let l = Look::new(3, region, Biome::Temperate, 48.0, 1);
            let w = &l.s2[dfc::WATER as usize];
            let crop = &l.s2[dfc::CROPLANDS as usize];
            assert!(
                w[7] < crop[7],
                "region {region}: water NIR {} vs crop {}",
                w[7],
                crop[7]
            );
        }
    }
}

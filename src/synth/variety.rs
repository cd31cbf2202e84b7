//! The varied world: what makes real land cover hard for a per-pixel classifier,
//! added on top of a region's [`Look`].
//!
//! In the classic appearance each class of a scene is one mean spectrum plus texture,
//! so five labelled pixels per class are enough for a Random Forest (91.6-98.4 % per
//! pixel on meta-test scenes, where real labelled scenes give 37-99 %). Here:
//!
//! - **Sub-types.** A class is several things: croplands are crops at different
//!   stages and bare fields (per field, after the phenology curves of Zhang et al.
//!   2003, *Remote Sens. Environ.* 84:471), forests broadleaf and darker conifer
//!   stands (conifers reflect 30-40 % less NIR: Roberts et al. 2004, *Manual of
//!   Remote Sensing* 4, ch. 3), grassland green, dry and sparse, water clear and
//!   turbid, barren rock and sand. Each sub-type has its own spectrum, in patches.
//! - **Classes defined by composition.** Urban is a mixture of roofs, asphalt and
//!   shadow, vegetation and soil at the scale of one to three pixels (Ridd 1995's
//!   V-I-S model, *Int. J. Remote Sens.* 16:2165; Small 2005, *Int. J. Remote Sens.*
//!   26:661: urban pixels are mixtures at 10-30 m); savanna is grass with tree
//!   crowns, shrubland shrubs over soil, wetlands vegetation over water, each with a
//!   cover fraction that varies in space.
//! - **Mixed pixels.** Each pixel integrates its footprint (2x2 sub-samples) through
//!   the sensor's point spread function: a Gaussian of 0.5 px, the MTF of 0.25 at
//!   Nyquist of the Sentinel-2 10 m bands (ESA S2 MSI data quality reports give
//!   0.15-0.3), so pixels at class edges mix.
//! - **Terrain illumination.** A relief field (5-300 m amplitude per region) shades
//!   slopes by the cosine of the local solar incidence with a diffuse share of 12 %
//!   (Teillet, Guindon & Goodenough 1982, *Can. J. Remote Sens.* 8:84), with the sun
//!   at the Sentinel-2 overpass (10:30 local) for the latitude and season; S1
//!   backscatter follows the local incidence angle.
//! - **Haze that varies across a scene**: an additive path reflectance with a
//!   spectral shape falling from blue to SWIR (Chavez 1988, *Remote Sens. Environ.*
//!   24:459) and the matching loss of transmittance, in a smooth field of a few km
//!   (the spatial variation Zhang, Guindon & Cihlar 2002's haze-optimised transform
//!   corrects, *Remote Sens. Environ.* 82:173).
//! - **Noisy training labels.** 5 % of the fields of a Sen12MS `lc` patch carry
//!   another class of the region (reference data sets carry 5-20 % errors: Foody
//!   2010, *Remote Sens. Environ.* 114:2271; Sen12MS's own labels are MODIS at
//!   500 m). Scene truth stays exact: it is the reference maps are scored against.
//!
//! The classic appearance stays available (`--appearance classic`) and gives the same
//! bytes as before; the varied one is a pure function of (seed, region, season,
//! position) too.

use super::look::{lerp, smooth_curve, Look, HAZE_SHAPE};
use super::noise::{fbm, value};
use super::rng::{key, rng, tag};
use super::signature::{dfc, N_CLASSES};
use crate::error::{Error, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Which appearance model paints the pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Appearance {
    /// One mean spectrum per class and scene, plus texture (the first synthetic world).
    Classic,
    /// Sub-types, mixtures, mixed pixels, terrain, haze and label noise.
    #[default]
    Varied,
}

impl Appearance {
    /// The name used on the command line and in provenance metadata.
    pub fn name(self) -> &'static str {
        match self {
            Appearance::Classic => "classic",
            Appearance::Varied => "varied",
        }
    }

    /// Parses `classic` or `varied`; `option` names the flag in the error.
    pub fn parse(s: &str, option: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "classic" => Ok(Appearance::Classic),
            "varied" => Ok(Appearance::Varied),
            other => Err(Error::config(
                option,
                format!("'{other}' is not an appearance; use classic or varied"),
            )),
        }
    }
}

/// Most sub-types a class has.
pub const MAX_SUBTYPES: usize = 4;
/// Share of Sen12MS `lc` fields whose label names another class.
pub const LABEL_NOISE: f64 = 0.05;
/// Diffuse (sky) share of the illumination, which slopes facing away still get.
const DIFFUSE: f64 = 0.12;
/// Typical spread of the log-gain that sets sub-types of one class apart.
const SUBTYPE_SD: f64 = 0.16;
/// Largest pull of a region's land classes towards their common mean spectrum.
const MAX_CONVERGENCE: f32 = 0.9;

/// A second component mixed into a class at a fraction that varies in space.
#[derive(Debug, Clone, Copy)]
pub struct Mosaic {
    /// Spectrum of the second component.
    pub other: [f32; 13],
    /// Mean cover fraction of the second component (0..1).
    pub share: f32,
    /// Grain of the cover-fraction field, in pixels.
    pub grain: f64,
}

/// The varied part of a (region, season)'s appearance.
#[derive(Debug, Clone)]
pub struct Variety {
    /// Sub-type spectra per class id (the first `n_sub[c]` are used).
    pub sub: [[[f32; 13]; MAX_SUBTYPES]; N_CLASSES + 1],
    /// Number of sub-types per class.
    pub n_sub: [usize; N_CLASSES + 1],
    /// Patch size of the sub-type field per class, in pixels (fields of croplands and
    /// grassland take their sub-type per field instead).
    pub sub_grain: [f64; N_CLASSES + 1],
    /// Mixture partner per class.
    pub mosaic: [Option<Mosaic>; N_CLASSES + 1],
    /// Urban materials: roof, asphalt and shadow, vegetation, soil.
    pub materials: [[f32; 13]; 4],
    /// Log-weight bias of each urban material.
    pub material_bias: [f32; 4],
    /// Grain of urban materials, in pixels.
    pub urban_grain: f64,
    /// Amplitude of the relief, metres.
    pub relief_m: f64,
    /// Unit vector towards the sun in (east, south, up).
    pub sun: [f64; 3],
    /// Largest haze path reflectance in the scene (at B01).
    pub haze_max: f32,
    /// Key of the spatial fields (sub-types, mixtures, terrain, haze).
    pub key: u64,
}

fn scaled(s: &[f32; 13], gain: &[f32; 13]) -> [f32; 13] {
    let mut out = [0f32; 13];
    for b in 0..13 {
        out[b] = (s[b] * gain[b].exp()).clamp(0.002, 1.2);
    }
    out
}

/// `a` moved a share `t` towards `b` ([`lerp`]), kept above the darkest reflectance.
fn towards(a: &[f32; 13], b: &[f32; 13], t: f32) -> [f32; 13] {
    let mut out = *a;
    lerp(&mut out, b, t);
    out.map(|v| v.max(0.002))
}

/// Multiplies visible (B01-B04), red-edge/NIR (B05-B8A) and SWIR (B09-B12) by three
/// factors.
fn by_region(s: &[f32; 13], vis: f32, nir: f32, swir: f32) -> [f32; 13] {
    let mut out = *s;
    for (b, v) in out.iter_mut().enumerate() {
        *v *= match b {
            0..=3 => vis,
            4..=8 => nir,
            _ => swir,
        };
    }
    out
}

/// Sub-types of class `c` given its look spectrum and the region's soil, set apart
/// by smooth log-gains of spread `spread`.
fn subtypes(r: &mut ChaCha8Rng, c: u8, look: &Look, spread: f64) -> Vec<[f32; 13]> {
    let s = look.s2[c as usize];
    let soil = look.soil;
    let jitter = |r: &mut ChaCha8Rng, x: [f32; 13]| scaled(&x, &smooth_curve(r, spread));
    match c {
        dfc::FOREST => vec![
            s,
            jitter(r, by_region(&s, 0.8, 0.62, 0.72)),
            jitter(r, towards(&s, &soil, 0.25)),
        ],
        dfc::CROPLANDS => {
            // Stages from nearly bare to peak green: towards the region's soil.
            let mut stages = [0.0f32; 4];
            stages[0] = 0.0;
            for st in stages.iter_mut().skip(1) {
                *st = 0.25 + 0.6 * r.random::<f32>();
            }
            stages
                .iter()
                .map(|&t| jitter(r, towards(&s, &soil, t)))
                .collect()
        }
        dfc::GRASSLAND => vec![
            s,
            jitter(r, by_region(&towards(&s, &soil, 0.45), 1.15, 0.9, 1.1)),
            jitter(r, towards(&s, &soil, 0.25)),
        ],
        dfc::SHRUBLAND | dfc::SAVANNA | dfc::WETLANDS => vec![s, jitter(r, s)],
        dfc::WATER => {
            let mut turbid = s;
            for (b, add) in [0.01f32, 0.03, 0.05, 0.04, 0.03, 0.01].iter().enumerate() {
                turbid[b] += add * r.random_range(0.4..1.4);
            }
            vec![s, turbid]
        }
        dfc::BARREN => vec![s, jitter(r, s), jitter(r, s)],
        dfc::SNOW => vec![s, by_region(&s, 0.7, 0.75, 0.9)],
        _ => vec![s],
    }
}

impl Variety {
    /// The variety of region `region` (latitude `lat`) in `season` under `seed`, on top
    /// of its classic `look`.
    pub fn new(seed: u64, region: u64, lat: f64, season: usize, look: &Look) -> Self {
        let mut rr = rng(&[seed, tag::VARIETY, region]);
        let mut rs = rng(&[seed, tag::VARIETY, region, 100 + season as u64]);
        let mut v = Variety {
            sub: [[[0.0; 13]; MAX_SUBTYPES]; N_CLASSES + 1],
            n_sub: [1; N_CLASSES + 1],
            sub_grain: [40.0; N_CLASSES + 1],
            mosaic: [None; N_CLASSES + 1],
            materials: [[0.0; 13]; 4],
            material_bias: [0.0; 4],
            urban_grain: 2.0,
            relief_m: 0.0,
            sun: [0.0, 0.0, 1.0],
            haze_max: 0.0,
            key: key(&[seed, tag::VARIETY, region, season as u64]),
        };
        // How alike the land classes of this region look: some regions are easy, in
        // others (dry seasons, land-use classes, mixed agriculture) the vegetated and
        // bare classes converge towards their common mean.
        let alike: f32 = rr.random::<f32>().powi(2) * MAX_CONVERGENCE;
        // And how much each class varies within itself.
        let spread = SUBTYPE_SD * rr.random_range(0.4..1.3);
        let mut pulled = look.clone();
        let land = [
            dfc::FOREST,
            dfc::SHRUBLAND,
            dfc::SAVANNA,
            dfc::GRASSLAND,
            dfc::WETLANDS,
            dfc::CROPLANDS,
            dfc::BARREN,
        ];
        let mut mean = [0f32; 13];
        for &c in &land {
            for (m, v) in mean.iter_mut().zip(&look.s2[c as usize]) {
                *m += v / land.len() as f32;
            }
        }
        for &c in &land {
            pulled.s2[c as usize] = towards(&look.s2[c as usize], &mean, alike);
        }
        for c in 1..=N_CLASSES as u8 {
            let mut cr = rng(&[seed, tag::VARIETY, region, 1000 + c as u64, season as u64]);
            let subs = subtypes(&mut cr, c, &pulled, spread);
            v.n_sub[c as usize] = subs.len();
            for (i, s) in subs.into_iter().enumerate() {
                v.sub[c as usize][i] = s;
            }
            v.sub_grain[c as usize] = cr.random_range(15.0..80.0);
        }
        let forest = pulled.s2[dfc::FOREST as usize];
        let grass = pulled.s2[dfc::GRASSLAND as usize];
        let water = look.s2[dfc::WATER as usize];
        let mut mosaic = |c: u8, other: [f32; 13], lo: f32, hi: f32| {
            v.mosaic[c as usize] = Some(Mosaic {
                other,
                share: rr.random_range(lo..hi),
                grain: rr.random_range(1.5..5.0),
            });
        };
        mosaic(dfc::SAVANNA, forest, 0.15, 0.45);
        mosaic(dfc::SHRUBLAND, look.soil, 0.2, 0.5);
        mosaic(dfc::WETLANDS, water, 0.15, 0.5);
        // Urban materials: roofs (bright, tinted), asphalt and shadow (dark, flat),
        // the region's vegetation, its soil.
        let roof = scaled(
            &[
                0.20, 0.20, 0.21, 0.22, 0.23, 0.24, 0.25, 0.26, 0.26, 0.2, 0.01, 0.28, 0.25,
            ],
            &smooth_curve(&mut rr, 0.3),
        );
        let asphalt = scaled(
            &[
                0.06, 0.06, 0.065, 0.07, 0.075, 0.08, 0.085, 0.09, 0.09, 0.05, 0.003, 0.1, 0.09,
            ],
            &smooth_curve(&mut rr, 0.2),
        );
        let veg = if rr.random::<bool>() { grass } else { forest };
        v.materials = [roof, asphalt, veg, look.soil];
        v.material_bias = [
            rr.random_range(-0.3..0.5),
            rr.random_range(-0.3..0.5),
            rr.random_range(-1.2..0.4),
            rr.random_range(-1.5..-0.3),
        ];
        v.urban_grain = rr.random_range(1.2..3.0);
        // Relief: log-uniform amplitude, flat plains to hills.
        v.relief_m = (rr.random_range(5f64.ln()..300f64.ln())).exp();
        // Sun at 10:30 local time: noon zenith from latitude and declination, plus
        // the hour angle's share; azimuth towards the equator, 30 degrees east of it.
        let decl = [0.0, 23.4, 0.0, -23.4][season % 4];
        let zenith = ((lat - decl).abs() + 12.0).clamp(15.0, 75.0).to_radians();
        let azimuth = if lat >= 0.0 { 150f64 } else { 30f64 }.to_radians();
        v.sun = [
            zenith.sin() * azimuth.sin(),
            -zenith.sin() * azimuth.cos(),
            zenith.cos(),
        ];
        let u: f32 = rs.random();
        v.haze_max = 0.07 * u * u;
        v
    }

    /// Surface reflectance of class `c` at world position `(x, y)` of field `cell`
    /// (before field gains, texture, terrain, haze and sensor).
    pub fn surface(&self, c: u8, cell: u64, managed: bool, x: f64, y: f64) -> [f32; 13] {
        let ci = c as usize;
        let k = key(&[self.key, c as u64]);
        let n = self.n_sub[ci];
        let pick = if n == 1 {
            0
        } else if managed {
            (super::rng::mix(cell ^ k) % n as u64) as usize
        } else {
            let t = (fbm(k, x, y, self.sub_grain[ci], 2) * 1.6 + 1.0) / 2.0;
            ((t.clamp(0.0, 0.999)) * n as f64) as usize
        };
        let mut s = self.sub[ci][pick];
        if c == dfc::URBAN {
            let mut w = [0f32; 4];
            for (i, wi) in w.iter_mut().enumerate() {
                let nz = value(key(&[k, 7, i as u64]), x, y, self.urban_grain) as f32;
                *wi = (2.5 * nz + self.material_bias[i]).exp();
            }
            let total: f32 = w.iter().sum();
            for (b, v) in s.iter_mut().enumerate() {
                *v = (0..4).map(|i| w[i] * self.materials[i][b]).sum::<f32>() / total;
            }
        } else if let Some(m) = self.mosaic[ci] {
            let nz = value(key(&[k, 8]), x, y, m.grain) as f32;
            let f = (m.share + 0.6 * nz).clamp(0.0, 1.0);
            s = towards(&s, &m.other, f);
        }
        s
    }

    /// Elevation (m) at a world position.
    fn elevation(&self, x: f64, y: f64) -> f64 {
        self.relief_m * fbm(key(&[self.key, 9]), x, y, 250.0, 4) / 0.3
    }

    /// Terrain factors at a world position: optical illumination relative to flat
    /// ground, and the S1 change in dB from the local incidence angle.
    pub fn terrain(&self, x: f64, y: f64) -> (f32, f32) {
        let dzdx = (self.elevation(x + 1.0, y) - self.elevation(x - 1.0, y)) / 20.0;
        let dzdy = (self.elevation(x, y + 1.0) - self.elevation(x, y - 1.0)) / 20.0;
        let norm = (dzdx * dzdx + dzdy * dzdy + 1.0).sqrt();
        let cos_i = (-dzdx * self.sun[0] - dzdy * self.sun[1] + self.sun[2]) / norm;
        let light = DIFFUSE + (1.0 - DIFFUSE) * cos_i.max(0.0) / self.sun[2];
        // S1 looks from the east at 35 degrees; slopes facing it brighten.
        let incidence = (35f64.to_radians() + dzdx.atan()).clamp(0.05, 1.5);
        let db = 15.0 * (incidence.cos() / 35f64.to_radians().cos()).log10();
        (light as f32, db as f32)
    }

    /// Haze path reflectance at B01 at a world position.
    pub fn haze(&self, x: f64, y: f64) -> f32 {
        let t = ((fbm(key(&[self.key, 10]), x, y, 350.0, 3) + 1.0) / 2.0).clamp(0.0, 1.0);
        self.haze_max * (t as f32).powf(1.5)
    }

    /// Applies haze `h` to a reflectance spectrum (transmittance loss and path
    /// reflectance, both shaped like [`HAZE_SHAPE`]).
    pub fn hazy(s: &mut [f32; 13], h: f32) {
        for (b, v) in s.iter_mut().enumerate() {
            *v = *v * (1.0 - 0.8 * h * HAZE_SHAPE[b]) + h * HAZE_SHAPE[b];
        }
    }
}

#[cfg(test)]
mod tests;

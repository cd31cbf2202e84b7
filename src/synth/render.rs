//! Painting a window of a region: labels, S2 reflectance and S1 backscatter.
//!
//! Every value is a function of world pixel coordinates, the landscape and the look,
//! so overlapping patches get identical pixels. Sentinel-2's 20 m bands (B05-B07,
//! B8A, B11, B12) and 60 m bands (B01, B09, B10) are averaged over world-aligned
//! 2x2 and 6x6 blocks, as in resampled real products (and they compress far better).

use super::landscape::{Landscape, Pixel};
use super::look::Look;
use super::noise::{fbm, value};
use super::rng::{key, mix, unit};
use super::signature::dfc;
use super::variety::Variety;
use rayon::prelude::*;

/// Native resolution of each S2 band in 10 m pixels (Sen12MS order).
pub const S2_BLOCK: [usize; 13] = [6, 1, 1, 1, 2, 2, 2, 1, 2, 6, 6, 2, 2];

/// S2 sensor noise (reflectance units).
const S2_NOISE: f32 = 0.0012;
/// S1 speckle after multilooking (dB).
const S1_SPECKLE: f32 = 0.9;

/// A painted window: `labels[row * width + col]`, `s2[band][..]` as reflectance x 1e4,
/// `s1[band][..]` in dB.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Land cover per pixel.
    pub labels: Vec<Pixel>,
    /// S2 bands, reflectance x 10000.
    pub s2: Vec<Vec<f32>>,
    /// S1 bands VV, VH in dB.
    pub s1: Vec<Vec<f32>>,
}

/// A symmetric noise value with unit variance (sum of three uniforms).
#[inline]
fn gauss(k: u64) -> f32 {
    let s = unit(k) + unit(mix(k ^ 0xA5A5)) + unit(mix(k ^ 0x5A5A));
    ((s - 1.5) * 2.0) as f32
}

/// Per-field and texture modulation of one point of class `p`: (field gain outside
/// B05-B8A, field gain in B05-B8A, texture factor, S1 field offset in dB).
fn modulation(look: &Look, p: &Pixel, x: f64, y: f64) -> (f32, f32, f32, f32) {
    let c = p.class as usize;
    let fk = mix(p.cell ^ look.key);
    let field_gain = (look.field_sd[c] * gauss(fk.rotate_left(7))).exp();
    let nir_gain = (look.field_sd[c] * gauss(fk.rotate_left(19))).exp();
    let tex = 1.0
        + look.texture[c] * {
            let t = if p.class == dfc::URBAN {
                value(look.key, x, y, look.grain[c])
            } else {
                fbm(look.key, x, y, look.grain[c], 2)
            };
            t as f32 * 2.0
        };
    let field_db = 1.5 * gauss(fk.rotate_left(31)) * (p.class == dfc::CROPLANDS) as u8 as f32;
    (field_gain, nir_gain, tex, field_db)
}

/// The classic appearance: one pixel from the class's mean spectrum of the scene.
fn paint(land: &Landscape, look: &Look, x: f64, y: f64, s2: &mut [f32], s1: &mut [f32]) -> Pixel {
    let p = land.at(x, y);
    let c = p.class as usize;
    let pk = key(&[look.key, x as i64 as u64, y as i64 as u64]);
    let mut spectrum = look.s2[c];
    let fk = mix(p.cell ^ look.key);
    if p.class == dfc::CROPLANDS {
        // Some fields are bare or freshly sown: towards the region's soil.
        let u = unit(fk) as f32;
        let bare = u * u * u * 0.8;
        for (v, s) in spectrum.iter_mut().zip(look.soil.iter()) {
            *v += (s - *v) * bare;
        }
    }
    let (field_gain, nir_gain, tex, field_db) = modulation(look, &p, x, y);
    for b in 0..13 {
        let g = if (4..=8).contains(&b) {
            nir_gain
        } else {
            field_gain
        };
        s2[b] =
            ((spectrum[b] * g * tex + S2_NOISE * gauss(pk.wrapping_add(b as u64))) * 1e4).max(1.0);
    }
    let db_tex = 10.0 * tex.max(0.05).log10();
    for (b, v) in s1.iter_mut().enumerate() {
        *v = look.s1[c][b] + db_tex + field_db + S1_SPECKLE * gauss(pk.wrapping_add(20 + b as u64));
    }
    p
}

/// Sub-sample offsets of a pixel's footprint (2x2).
const FOOTPRINT: [(f64, f64); 4] = [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)];
/// Weight of each neighbour in the 3-tap point spread function (a Gaussian of 0.5 px).
const PSF_SIDE: f32 = 0.107;

/// The varied appearance, before the point spread function and sensor noise: the
/// pixel's label (at its centre), its footprint-averaged S2 reflectance after terrain
/// and haze, and its S1 backscatter (dB, without speckle).
fn surface(
    land: &Landscape,
    look: &Look,
    v: &Variety,
    x: f64,
    y: f64,
) -> (Pixel, [f32; 13], [f32; 2]) {
    let centre = land.at(x, y);
    let mut s2 = [0f32; 13];
    let mut power = [0f32; 2];
    for (dx, dy) in FOOTPRINT {
        let (sx, sy) = (x + dx, y + dy);
        let p = land.at(sx, sy);
        let managed = p.class == dfc::CROPLANDS || p.class == dfc::GRASSLAND;
        let spectrum = v.surface(p.class, p.cell, managed, sx, sy);
        let (field_gain, nir_gain, tex, field_db) = modulation(look, &p, sx, sy);
        for b in 0..13 {
            let g = if (4..=8).contains(&b) {
                nir_gain
            } else {
                field_gain
            };
            s2[b] += spectrum[b] * g * tex / 4.0;
        }
        let db_tex = 10.0 * tex.max(0.05).log10();
        for (b, pw) in power.iter_mut().enumerate() {
            let db = look.s1[p.class as usize][b] + db_tex + field_db;
            *pw += 10f32.powf(db / 10.0) / 4.0;
        }
    }
    let (light, db_terrain) = v.terrain(x, y);
    s2.iter_mut().for_each(|r| *r *= light);
    Variety::hazy(&mut s2, v.haze(x, y));
    let s1 = power.map(|pw| 10.0 * pw.max(1e-6).log10() + db_terrain);
    (centre, s2, s1)
}

/// Rows of the varied appearance over `ew` x `eh` pixels from `(ex0, ey0)`, in the
/// layout of [`render`]'s rows: surfaces over a one-pixel margin, the point spread
/// function across them, then sensor noise.
fn varied_rows(
    land: &Landscape,
    look: &Look,
    v: &Variety,
    (ex0, ey0): (i64, i64),
    (ew, eh): (usize, usize),
) -> Vec<(Vec<Pixel>, Vec<f32>, Vec<f32>)> {
    let (mw, mh) = (ew + 2, eh + 2);
    #[allow(clippy::type_complexity)] // one row of (class, S2, S1) per grid line
    let grid: Vec<Vec<(Pixel, [f32; 13], [f32; 2])>> = (0..mh)
        .into_par_iter()
        .map(|r| {
            let y = (ey0 - 1 + r as i64) as f64;
            (0..mw)
                .map(|c| surface(land, look, v, (ex0 - 1 + c as i64) as f64, y))
                .collect()
        })
        .collect();
    let centre = 1.0 - 2.0 * PSF_SIDE;
    (0..eh)
        .into_par_iter()
        .map(|r| {
            let y = ey0 + r as i64;
            let mut labels = Vec::with_capacity(ew);
            let mut s2 = vec![0f32; 13 * ew];
            let mut s1 = vec![0f32; 2 * ew];
            for c in 0..ew {
                let x = ex0 + c as i64;
                let (gr, gc) = (r + 1, c + 1);
                labels.push(grid[gr][gc].0);
                let pk = key(&[look.key, x as u64, y as u64]);
                for b in 0..13 {
                    let at = |rr: usize, cc: usize| grid[rr][cc].1[b];
                    let row = |rr: usize| {
                        PSF_SIDE * at(rr, gc - 1) + centre * at(rr, gc) + PSF_SIDE * at(rr, gc + 1)
                    };
                    let blurred =
                        PSF_SIDE * row(gr - 1) + centre * row(gr) + PSF_SIDE * row(gr + 1);
                    s2[13 * c + b] =
                        ((blurred + S2_NOISE * gauss(pk.wrapping_add(b as u64))) * 1e4).max(1.0);
                }
                for b in 0..2 {
                    s1[2 * c + b] =
                        grid[gr][gc].2[b] + S1_SPECKLE * gauss(pk.wrapping_add(20 + b as u64));
                }
            }
            (labels, s2, s1)
        })
        .collect()
}

/// Paints the `w` x `h` window whose top-left world pixel is `(x0, y0)`.
pub fn render(
    land: &Landscape,
    look: &Look,
    (x0, y0): (i64, i64),
    (w, h): (usize, usize),
) -> Rendered {
    // Extend to the 6-pixel world grid so block averages do not depend on the window.
    let ex0 = x0.div_euclid(6) * 6;
    let ey0 = y0.div_euclid(6) * 6;
    let ew = ((x0 + w as i64 - ex0 + 5) / 6 * 6) as usize;
    let eh = ((y0 + h as i64 - ey0 + 5) / 6 * 6) as usize;
    // One row per task: [labels, 13 s2, 2 s1] per pixel.
    let rows: Vec<(Vec<Pixel>, Vec<f32>, Vec<f32>)> = match &look.variety {
        Some(v) => varied_rows(land, look, v, (ex0, ey0), (ew, eh)),
        None => (0..eh)
            .into_par_iter()
            .map(|r| {
                let y = (ey0 + r as i64) as f64;
                let mut labels = Vec::with_capacity(ew);
                let mut s2 = vec![0f32; 13 * ew];
                let mut s1 = vec![0f32; 2 * ew];
                for c in 0..ew {
                    let x = (ex0 + c as i64) as f64;
                    labels.push(paint(
                        land,
                        look,
                        x,
                        y,
                        &mut s2[13 * c..13 * c + 13],
                        &mut s1[2 * c..2 * c + 2],
                    ));
                }
                (labels, s2, s1)
            })
            .collect(),
    };
    let (ox, oy) = ((x0 - ex0) as usize, (y0 - ey0) as usize);
    let mut out = Rendered {
        width: w,
        height: h,
        labels: Vec::with_capacity(w * h),
        s2: vec![vec![0f32; w * h]; 13],
        s1: vec![vec![0f32; w * h]; 2],
    };
    for r in 0..h {
        out.labels.extend_from_slice(&rows[oy + r].0[ox..ox + w]);
    }
    for (b, band) in out.s2.iter_mut().enumerate() {
        let n = S2_BLOCK[b];
        let at = |r: usize, c: usize| rows[r].1[13 * c + b];
        for r in 0..h {
            for c in 0..w {
                let (er, ec) = (oy + r, ox + c);
                band[r * w + c] = if n == 1 {
                    at(er, ec)
                } else {
                    let (br, bc) = ((er / n) * n, (ec / n) * n);
                    let mut s = 0.0;
                    for rr in br..br + n {
                        for cc in bc..bc + n {
                            s += at(rr, cc);
                        }
                    }
                    s / (n * n) as f32
                };
            }
        }
    }
    for (b, band) in out.s1.iter_mut().enumerate() {
        for r in 0..h {
            for c in 0..w {
                band[r * w + c] = rows[oy + r].2[2 * (ox + c) + b];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::biome::Biome;

    fn setup() -> (Landscape, Look) {
        (
            Landscape::new(5, Biome::Temperate, false, 0.6),
            Look::new(5, 91, Biome::Temperate, 47.0, 1),
        )
    }

    /// Windows at `a` and at `a` + (32, 0) paint their shared 32 px columns alike.
    fn assert_overlap_agrees(land: &Landscape, look: &Look, a: (i64, i64)) {
        let wa = render(land, look, a, (64, 64));
        let wb = render(land, look, (a.0 + 32, a.1), (64, 64));
        for (band, (ba, bb)) in wa
            .s2
            .iter()
            .chain(&wa.s1)
            .zip(wb.s2.iter().chain(&wb.s1))
            .enumerate()
        {
            for r in 0..64 {
                assert_eq!(
                    &ba[r * 64 + 32..r * 64 + 64],
                    &bb[r * 64..r * 64 + 32],
                    "band {band}"
                );
            }
        }
        assert_eq!(wa.labels[40 * 64 + 50], wb.labels[40 * 64 + 18]);
    }

    #[test]
    fn overlapping_windows_agree() {
        let (land, look) = setup();
        assert_overlap_agrees(&land, &look, (-32, -32));
    }

    #[test]
    fn overlapping_windows_agree_in_the_varied_appearance_too() {
        let (land, mut look) = setup();
        look.variety = Some(Variety::new(5, 91, 47.0, 1, &look));
        // Offsets off the 6 px grid: the point spread reaches across window edges.
        assert_overlap_agrees(&land, &look, (-31, -29));
    }

    #[test]
    fn coarse_bands_are_blocky_and_values_realistic() {
        let (land, look) = setup();
        let r = render(&land, &look, (6, 6), (12, 12));
        // B01 is constant over each world-aligned 6x6 block.
        assert!(r.s2[0][..6].iter().all(|v| *v == r.s2[0][0]));
        assert!(r.s2.iter().flatten().all(|v| (1.0..=15000.0).contains(v)));
        assert!(r.s1.iter().flatten().all(|v| (-45.0..10.0).contains(v)));
    }
}

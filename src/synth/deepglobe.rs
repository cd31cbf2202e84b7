//! `geomaml synth deepglobe`: `<id>_sat.jpg` (RGB) + `<id>_mask.png` pairs in the
//! DeepGlobe land-cover layout and colour code.
//!
//! Each image is its own landscape in one of three visibly different kinds (green
//! farmland and forest, arid rangeland and bare ground, dense urban), with its own
//! colour shift per channel and class, so images of a kind resemble each other and a
//! clustered split differs from a random one. Masks carry a few off-colour pixels
//! along class edges, as JPEG-damaged real masks do (readers threshold at 128).

use super::biome::Biome;
use super::landscape::Landscape;
use super::noise::{fbm, value};
use super::rng::{key, rng, tag, unit};
use super::signature::dfc;
use super::tree::PendingTree;
use crate::catalog::classes::deepglobe;
use crate::error::{Error, Result};
use crate::output::PendingOutput;
use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::DriverManager;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use std::path::Path;

/// The look of a DeepGlobe image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Farmland and forest, green.
    Green,
    /// Rangeland and bare ground, tan.
    Arid,
    /// Dense built-up areas, grey.
    Urban,
}

const KINDS: [Kind; 3] = [Kind::Green, Kind::Arid, Kind::Urban];

/// Mean colour (0..1) of DeepGlobe classes 0..=6 before kind and image shifts.
const BASE_RGB: [[f32; 3]; 7] = [
    [0.55, 0.53, 0.52], // Urban
    [0.42, 0.48, 0.28], // Agriculture
    [0.55, 0.52, 0.38], // Rangeland
    [0.18, 0.28, 0.14], // Forest
    [0.12, 0.20, 0.28], // Water
    [0.72, 0.63, 0.50], // Barren
    [0.90, 0.90, 0.92], // Unknown (cloud)
];

/// DeepGlobe class (0..=5) of a DFC class.
pub fn from_dfc(class: u8) -> u8 {
    match class {
        dfc::URBAN => 0,
        dfc::CROPLANDS => 1,
        dfc::GRASSLAND | dfc::SHRUBLAND | dfc::SAVANNA => 2,
        dfc::FOREST => 3,
        dfc::WATER | dfc::WETLANDS => 4,
        _ => 5,
    }
}

/// One image: its landscape and colours.
struct Image {
    land: Landscape,
    rgb: [[f32; 3]; 7],
    texture: [f32; 7],
    grain: [f64; 7],
    cloud: Option<f64>,
    k: u64,
}

impl Image {
    fn new(seed: u64, index: usize, kind: Kind) -> Self {
        let k = key(&[seed, tag::DEEPGLOBE, index as u64]);
        let mut r = rng(&[k]);
        let land = match kind {
            Kind::Green => Landscape::new(
                k,
                if r.random_bool(0.5) {
                    Biome::Temperate
                } else {
                    Biome::Tropical
                },
                false,
                0.3,
            ),
            Kind::Arid => Landscape::new(k, Biome::Arid, false, 0.2),
            Kind::Urban => {
                Landscape::new(k, Biome::Mediterranean, false, 0.9).with_towns(1.0, 220.0, 2.8)
            }
        };
        let (gain, veg_to_bare, desat): ([f32; 3], f32, f32) = match kind {
            Kind::Green => ([0.85, 1.05, 0.85], 0.0, -0.2),
            Kind::Arid => ([1.15, 1.0, 0.8], 0.45, 0.1),
            Kind::Urban => ([0.97, 0.97, 1.02], 0.15, 0.35),
        };
        let n = Normal::new(0.0, 1.0).expect("unit normal");
        let img_gain: Vec<f32> = (0..3)
            .map(|_| (0.12 * n.sample(&mut r) as f32).exp())
            .collect();
        let mut rgb = BASE_RGB;
        for (c, col) in rgb.iter_mut().enumerate().take(6) {
            if matches!(c, 1..=3) {
                for (ch, v) in col.iter_mut().enumerate() {
                    *v += (BASE_RGB[5][ch] - *v) * veg_to_bare;
                }
            }
            let grey = col.iter().sum::<f32>() / 3.0;
            for (ch, v) in col.iter_mut().enumerate() {
                let shifted = (*v + (grey - *v) * desat) * gain[ch] * img_gain[ch]
                    + 0.05 * n.sample(&mut r) as f32;
                *v = shifted.clamp(0.02, 0.98);
            }
        }
        let texture =
            [0.3, 0.12, 0.1, 0.25, 0.04, 0.08, 0.05].map(|t: f32| t * r.random_range(0.7..1.3));
        let grain = [0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0].map(|_: f64| r.random_range(2.0..8.0));
        let cloud = r.random_bool(0.25).then(|| r.random_range(0.55..0.7));
        Image {
            land,
            rgb,
            texture,
            grain,
            cloud,
            k,
        }
    }

    /// Class and colour of image pixel `(x, y)` in an image of `size` px.
    fn pixel(&self, x: usize, y: usize, scale: f64) -> (u8, [u8; 3]) {
        let (wx, wy) = (x as f64 * scale - 150.0, y as f64 * scale - 150.0);
        let p = self.land.at(wx, wy);
        let mut class = from_dfc(p.class);
        let (fx, fy) = (x as f64, y as f64);
        if self
            .cloud
            .is_some_and(|t| fbm(self.k ^ 0xC10D, fx, fy, 300.0, 3) > t)
        {
            class = 6;
        }
        let c = class as usize;
        let t = if class == 0 {
            value(self.k, fx, fy, self.grain[c])
        } else {
            fbm(self.k, fx, fy, self.grain[c], 2)
        };
        let field = 1.0 + 0.12 * (unit(p.cell ^ self.k) as f32 - 0.5);
        let noise = (unit(key(&[self.k, x as u64, y as u64])) as f32 - 0.5) * 0.03;
        let mut out = [0u8; 3];
        for (ch, o) in out.iter_mut().enumerate() {
            let v = self.rgb[c][ch] * field * (1.0 + self.texture[c] * 2.0 * t as f32) + noise;
            *o = (v * 255.0).round().clamp(0.0, 255.0) as u8;
        }
        (class, out)
    }
}

fn save(
    path: &Path,
    driver: &str,
    (w, h): (usize, usize),
    bands: [Vec<u8>; 3],
    options: &[&str],
) -> Result<()> {
    let out = PendingOutput::new(path, false)?;
    let err = |e: gdal::errors::GdalError| Error::raster_source(path, "", e);
    let mem = DriverManager::get_driver_by_name("MEM").map_err(err)?;
    let ds = mem
        .create_with_band_type::<u8, _>("", w, h, 3)
        .map_err(err)?;
    for (b, data) in bands.into_iter().enumerate() {
        let mut band = ds.rasterband(b + 1).map_err(err)?;
        band.write((0, 0), (w, h), &mut Buffer::new((w, h), data))
            .map_err(err)?;
    }
    let mut opts = RasterCreationOptions::new();
    for o in options {
        opts.add_string(o).map_err(err)?;
    }
    let target = DriverManager::get_driver_by_name(driver).map_err(err)?;
    ds.create_copy(&target, out.temp_path(), &opts)
        .map_err(err)?
        .close()
        .map_err(err)?;
    out.commit()?;
    Ok(())
}

/// Writes image `index` as `<id>_sat.jpg` and `<id>_mask.png` under `root`.
fn write_image(root: &Path, seed: u64, index: usize, id: u32, size: usize) -> Result<()> {
    let kind = KINDS[(index + (seed % 3) as usize) % 3];
    let img = Image::new(seed, index, kind);
    let scale = 300.0 / size as f64;
    let rows: Vec<(Vec<u8>, Vec<[u8; 3]>)> = (0..size)
        .into_par_iter()
        .map(|y| (0..size).map(|x| img.pixel(x, y, scale)).unzip())
        .collect();
    let legend = deepglobe();
    let mut sat: [Vec<u8>; 3] = Default::default();
    let mut mask: [Vec<u8>; 3] = Default::default();
    for (y, (classes, colours)) in rows.iter().enumerate() {
        for x in 0..size {
            colours[x]
                .iter()
                .enumerate()
                .for_each(|(ch, v)| sat[ch].push(*v));
            let class = classes[x];
            let mut rgb = legend[class as usize].rgb();
            let right = classes.get(x + 1).copied().unwrap_or(class);
            let below = rows.get(y + 1).map_or(class, |r| r.0[x]);
            let edge = if right != class {
                Some(right)
            } else if below != class {
                Some(below)
            } else {
                None
            };
            if let Some(other) = edge {
                let u = unit(key(&[seed, tag::DEEPGLOBE, id as u64, x as u64, y as u64]));
                let other = legend[other as usize].rgb();
                if u < 0.03 {
                    // A blend of the two colours: may match no class at all.
                    rgb = [0, 1, 2].map(|ch| ((rgb[ch] as u16 + other[ch] as u16) / 2) as u8);
                } else if u < 0.3 {
                    // Compression noise that still thresholds to the right class.
                    let d = (unit(key(&[u.to_bits(), 1])) * 60.0) as u8 + 1;
                    rgb = rgb.map(|v| if v >= 128 { v - d } else { v + d });
                }
            }
            rgb.iter().enumerate().for_each(|(ch, v)| mask[ch].push(*v));
        }
    }
    save(
        &root.join(format!("{id}_sat.jpg")),
        "JPEG",
        (size, size),
        sat,
        &["QUALITY=90"],
    )?;
    save(
        &root.join(format!("{id}_mask.png")),
        "PNG",
        (size, size),
        mask,
        &["ZLEVEL=9"],
    )
}

/// Distinct six-digit image ids, as DeepGlobe's are.
pub fn image_ids(seed: u64, n: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = Vec::with_capacity(n);
    let mut i = 0u64;
    while ids.len() < n {
        let id = 100_000 + (key(&[seed, tag::DEEPGLOBE, 0x1D, i]) % 900_000) as u32;
        if !ids.contains(&id) {
            ids.push(id);
        }
        i += 1;
    }
    ids
}

/// Generates `images` image/mask pairs of `size` px at `out`.
pub fn generate(
    out: &Path,
    images: usize,
    size: usize,
    seed: u64,
    overwrite: bool,
    progress: &crate::progress::Progress,
) -> Result<usize> {
    if !(16..=8192).contains(&size) {
        return Err(Error::config(
            "--size",
            format!("{size} is not in 16..=8192 pixels"),
        ));
    }
    if images == 0 {
        return Err(Error::config("--images", "must be at least 1"));
    }
    let tree = PendingTree::new(out, overwrite)?;
    progress.start(images as u64, "deepglobe images");
    let ids = image_ids(seed, images);
    ids.par_iter().enumerate().try_for_each(|(i, &id)| {
        write_image(tree.root(), seed, i, id, size)?;
        progress.inc(1);
        Ok::<_, Error>(())
    })?;
    progress.finish_and_clear();
    tree.commit()?;
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::classes::deepglobe_class_of;

    #[test]
    fn kinds_differ_in_colour() {
        let mean = |kind| {
            let img = Image::new(3, 0, kind);
            let mut m = [0f64; 3];
            for y in (0..200).step_by(5) {
                for x in (0..200).step_by(5) {
                    let (_, c) = img.pixel(x, y, 1.5);
                    (0..3).for_each(|ch| m[ch] += c[ch] as f64 / 1600.0);
                }
            }
            m
        };
        let (green, arid) = (mean(Kind::Green), mean(Kind::Arid));
        // Arid images are redder relative to green than green ones.
        assert!(
            arid[0] / arid[1] > green[0] / green[1] + 0.05,
            "{arid:?} vs {green:?}"
        );
    }

    #[test]
    fn ids_are_distinct_six_digit_numbers() {
        let ids = image_ids(1, 50);
        assert!(ids.iter().all(|&i| (100_000..1_000_000).contains(&i)));
        let mut d = ids.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 50);
        assert_eq!(
            deepglobe_class_of(deepglobe()[from_dfc(dfc::FOREST) as usize].rgb()),
            3
        );
    }
}

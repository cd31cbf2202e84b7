//! `geomaml synth scene`: one larger scene of a region outside meta-train, for the
//! analyst workflow (adapt on a few labelled points, then map).
//!
//! Writes into OUT:
//! - `scene.tif`: 15 float32 bands in Sen12MS order (VV, VH in dB; B01..B12 as
//!   reflectance x 10000), 10 m, the region's UTM zone, nodata NaN (a scene corner);
//! - `truth.tif`: the true DFC2020 class per pixel (uint8, 1..10, 0 = nodata) with
//!   the DFC2020 colour table;
//! - `labels.geojson`: a few points per present class (EPSG:4326, `class` = name).
//!
//! The scene is painted by the same landscape and look as `synth sen12ms` with the
//! same seed (centred on the region centre), so a model meta-trained on that tree
//! meets this region's appearance for the first time, as the paper's meta-test does.

use super::gaps::Gaps;
use super::geotiff::{write, Bands};
use super::look::SEASONS;
use super::points::{choose, to_geojson};
use super::render::render;
use super::site::Site;
use super::tree::PendingTree;
use super::variety::Appearance;
use crate::bands::sen12ms_bands;
use crate::catalog::classes::dfc2020;
use crate::catalog::regions::Split;
use crate::error::{Error, Result};
use crate::output::write_atomic;
use std::path::Path;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SceneOptions {
    /// Region id (must not be meta-train).
    pub region: u32,
    /// Season index into [`SEASONS`].
    pub season: usize,
    /// Side in pixels.
    pub size: usize,
    /// Labelled points per class.
    pub points_per_class: usize,
    /// Seed (use the one of the sen12ms tree the model was trained on).
    pub seed: u64,
    /// Appearance model (use the one of that tree).
    pub appearance: Appearance,
}

/// Counts of what was written.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneSummary {
    /// Classes present in the truth raster, by id.
    pub classes: Vec<u8>,
    /// Labelled points written.
    pub points: usize,
    /// Pixels of nodata.
    pub nodata_pixels: usize,
}

/// Generates the scene folder at `out`.
pub fn generate(out: &Path, opts: &SceneOptions, overwrite: bool) -> Result<SceneSummary> {
    if !(64..=8192).contains(&opts.size) || opts.size % 2 != 0 {
        return Err(Error::config(
            "--size",
            format!(
                "{} must be an even number of pixels in 64..=8192",
                opts.size
            ),
        ));
    }
    let site = Site::new(opts.seed, opts.region, opts.appearance).map_err(|_| {
        Error::config(
            "--region",
            format!("no Sen12MS region with id {}", opts.region),
        )
    })?;
    if site.region.split == Split::Train {
        return Err(Error::config(
            "--region",
            format!("region {} is in the meta-train split; a scene must come from a meta-val or meta-test region", opts.region),
        ));
    }
    let tree = PendingTree::new(out, overwrite)?;
    let n = opts.size;
    let origin = (-(n as i64) / 2, -(n as i64) / 2);
    let look = site.look(opts.season);
    let px = render(&site.land, &look, origin, (n, n));
    let corner = Gaps::new(
        opts.seed,
        opts.region as u64,
        opts.season + 10,
        n as f64 / 2.0,
        (0.0, 1.0),
    )
    .s2;
    let mut truth: Vec<u8> = px.labels.iter().map(|p| p.class).collect();
    let mut bands: Vec<Vec<f32>> = px
        .s1
        .into_iter()
        .map(|b| b.into_iter().map(|v| (v * 32.0).round() / 32.0).collect())
        .collect();
    bands.extend(
        px.s2
            .into_iter()
            .map(|b| b.into_iter().map(f32::round).collect::<Vec<f32>>()),
    );
    let mut nodata_pixels = 0;
    for (i, t) in truth.iter_mut().enumerate() {
        let (x, y) = (
            (origin.0 + (i % n) as i64) as f64,
            (origin.1 + (i / n) as i64) as f64,
        );
        if corner.is_some_and(|h| h.contains(x, y)) {
            *t = 0;
            bands.iter_mut().for_each(|b| b[i] = f32::NAN);
            nodata_pixels += 1;
        }
    }
    let gt = site.geo_transform(origin);
    let wkt = site.crs_wkt()?;
    let names = sen12ms_bands();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let provenance = [(
        "GEOMAML_SYNTH",
        format!(
            "region={} season={} seed={} size={n}{}",
            opts.region,
            SEASONS[opts.season],
            opts.seed,
            // Classic scenes keep their earlier bytes.
            match opts.appearance {
                Appearance::Classic => String::new(),
                a => format!(" appearance={}", a.name()),
            }
        ),
    )];
    let legend = dfc2020();
    let root = tree.root();
    write(
        &root.join("scene.tif"),
        Bands {
            size: (n, n),
            transform: gt,
            crs_wkt: &wkt,
            names: &names,
            data: bands,
            nodata: Some(f64::NAN),
            metadata: &provenance,
            legend: None,
        },
    )?;
    let points = choose(&truth, (n, n), &legend, opts.points_per_class, opts.seed);
    let mut classes: Vec<u8> = truth.iter().copied().filter(|&c| c != 0).collect();
    classes.sort_unstable();
    classes.dedup();
    write(
        &root.join("truth.tif"),
        Bands {
            size: (n, n),
            transform: gt,
            crs_wkt: &wkt,
            names: &["class"],
            data: vec![truth],
            nodata: Some(0.0),
            metadata: &provenance,
            legend: Some(&legend),
        },
    )?;
    let geojson = to_geojson(&points, &gt, site.epsg, &legend)?;
    let text = serde_json::to_string_pretty(&geojson)
        .map_err(|e| Error::runtime_source("writing the labels as GeoJSON", e))?;
    write_atomic(root.join("labels.geojson"), text.as_bytes(), false)?;
    tree.commit()?;
    Ok(SceneSummary {
        classes,
        points: points.len(),
        nodata_pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_train_regions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SceneOptions {
            region: 57,
            season: 1,
            size: 64,
            points_per_class: 2,
            seed: 0,
            appearance: Appearance::Varied,
        };
        let err = generate(&dir.path().join("s"), &opts, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--region") && err.contains("meta-train"),
            "{err}"
        );
        assert!(!dir.path().join("s").exists());
    }
}

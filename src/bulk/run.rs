//! The batch run: every scene of this shard mapped into OUT_DIR, idempotently.
//!
//! Per scene `S` (stem `s`, input hash `h`, 8 hex digits of the SHA-256 of the
//! input string) the run owns, in OUT_DIR:
//! - `s-h.tif`, the map (a COG, with GDAL's `s-h.tif.aux.xml` holding the class
//!   names), and `s-h.probabilities.tif` with `--probabilities`;
//! - `s-h.json`, the sidecar ([`Sidecar`]), written atomically *after* the map.
//!
//! A scene is done when its map and sidecar exist, the sidecar says `mapped` with
//! the same model SHA-256 and the same output-changing options; done scenes are
//! skipped unless `force`. A map without a sidecar counts as missing (the process
//! died between the two) and is redone. Temporary files a killed process left for
//! the scene (`.s-h.*.partial-*`) are removed before the scene is looked at (and
//! those of the shard's summary at the start); a scene belongs to exactly one
//! shard, so no other process writes them.
//!
//! A failing scene is recorded and the run goes on; the summary
//! (`summary.json`, or `summary-I-of-N.json` for a shard) is written at the end.

use super::manifest::{read_manifest_for, Scene};
use super::shard::Shard;
use super::sidecar::{
    file_sha256, is_done, output_stem, remove_stale, sidecar_path, unix_now, Sidecar, FAILED,
    MAPPED, SKIPPED,
};
use crate::error::{Error, Result};
use crate::infer::{map_scene, MapConfig, MapOptions, MapRequest};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of a batch run (`geomaml map --manifest`).
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// The exported model (.onnx).
    pub model: PathBuf,
    /// The manifest (text list or STAC JSON).
    pub manifest: PathBuf,
    /// STAC asset to map (default: the first GeoTIFF asset, else `data`/`visual`).
    pub asset: Option<String>,
    /// The output folder (created if missing).
    pub out_dir: PathBuf,
    /// This process's shard.
    pub shard: Shard,
    /// Redo scenes that are done.
    pub force: bool,
    /// Map options that change the output.
    pub options: MapOptions,
    /// Windows per inference batch.
    pub batch_size: usize,
    /// ONNX Runtime threads (0 = all cores).
    pub threads: usize,
    /// Scenes of this shard done so far (mapped, skipped or failed).
    pub progress: crate::progress::Progress,
}

/// One scene in the summary.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SceneReport {
    /// The input as GDAL opens it.
    pub input: String,
    /// The STAC item id, for STAC manifests.
    pub item: Option<String>,
    /// The map's path.
    pub output: PathBuf,
    /// [`MAPPED`], [`SKIPPED`] or [`FAILED`].
    pub status: &'static str,
    /// Why it failed.
    pub error: Option<String>,
    /// Wall time in seconds (0 for skipped scenes).
    pub seconds: f64,
}

/// What a batch run did (`summary.json`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BatchSummary {
    /// The geomaml version.
    pub geomaml_version: String,
    /// The manifest.
    pub manifest: PathBuf,
    /// The model.
    pub model: PathBuf,
    /// SHA-256 of the model file.
    pub model_sha256: String,
    /// The output folder.
    pub out_dir: PathBuf,
    /// This run's shard.
    pub shard: Shard,
    /// Distinct scenes in the manifest.
    pub scenes_in_manifest: usize,
    /// Scenes of this shard.
    pub scenes: usize,
    /// Scenes mapped now.
    pub mapped: usize,
    /// Scenes already done.
    pub skipped: usize,
    /// Scenes that failed.
    pub failed: usize,
    /// Stale temporary files of killed runs removed.
    pub stale_removed: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Scenes mapped per hour of wall time (mapped scenes only).
    pub scenes_per_hour: f64,
    /// Where this summary is.
    pub summary: PathBuf,
    /// Every scene of the shard, in manifest order.
    pub reports: Vec<SceneReport>,
}

/// Maps every scene of `cfg.shard` of the manifest; writes the summary. Scene
/// failures are in the summary (`failed`), not an `Err`; `Err` means the run
/// could not start (manifest, model, output folder) or the summary could not be
/// written.
pub fn run_batch(cfg: &BatchConfig) -> Result<BatchSummary> {
    let start = Instant::now();
    let is_checkpoint = cfg
        .model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    if is_checkpoint {
        return Err(Error::config(
            "--model",
            format!(
                "{} is a checkpoint; batch mapping needs an exported model (geomaml export, or geomaml adapt -o M.onnx)",
                cfg.model.display()
            ),
        ));
    }
    let model_sha256 = file_sha256(&cfg.model)?;
    // Fail once, before any scene, when the model is unusable.
    let card = crate::infer::Predictor::open(&cfg.model, cfg.threads)?
        .card()
        .clone();
    let scenes = read_manifest_for(&cfg.manifest, cfg.asset.as_deref(), &card.bands)?;
    // Distinct inputs must get distinct outputs (checked over the whole manifest,
    // so every shard agrees).
    let mut names = std::collections::HashMap::new();
    for s in &scenes {
        if let Some(other) = names.insert(output_stem(s), s.input.clone()) {
            return Err(Error::catalog(
                &cfg.manifest,
                format!(
                    "{} and {other} would share the output {}.tif",
                    s.input,
                    output_stem(s)
                ),
            ));
        }
    }
    if cfg.out_dir.exists() && !cfg.out_dir.is_dir() {
        return Err(Error::config(
            "--output",
            format!(
                "with --manifest, -o is a folder; {} is a file",
                cfg.out_dir.display()
            ),
        ));
    }
    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| Error::io(&cfg.out_dir, e))?;
    let inputs: Vec<&str> = scenes.iter().map(|s| s.input.as_str()).collect();
    let mine: Vec<&Scene> = cfg
        .shard
        .select(&inputs)
        .into_iter()
        .map(|i| &scenes[i])
        .collect();
    let summary_path = cfg.out_dir.join(cfg.shard.summary_name());
    // A summary a killed run of this shard was writing.
    let mut stale = crate::output::remove_stale_temporaries(&summary_path);
    eprintln!(
        "batch: {} of {} scenes in shard {} of {}; model {} (sha256 {}); output {}",
        mine.len(),
        scenes.len(),
        cfg.shard,
        cfg.manifest.display(),
        cfg.model.display(),
        &model_sha256[..12],
        cfg.out_dir.display()
    );

    let total = mine.len();
    cfg.progress.start(total as u64, "mapping scenes");
    let mut reports = Vec::with_capacity(total);
    let (mut mapped, mut skipped, mut failed) = (0, 0, 0);
    let mut mapped_seconds = 0.0;
    for (k, scene) in mine.iter().enumerate() {
        let stem = output_stem(scene);
        let output = cfg.out_dir.join(format!("{stem}.tif"));
        let sidecar = sidecar_path(&cfg.out_dir, &stem);
        stale += remove_stale(&cfg.out_dir, &stem);
        let t0 = Instant::now();
        let (status, error) = if !cfg.force && is_done(cfg, &output, &sidecar, &model_sha256) {
            skipped += 1;
            (SKIPPED, None)
        } else {
            let result = match &scene.error {
                Some(why) => Err(Error::catalog(&cfg.manifest, why)),
                None => map_one(
                    cfg,
                    scene,
                    &output,
                    &sidecar,
                    &model_sha256,
                    card.resolution_m,
                ),
            };
            match result {
                Ok(()) => {
                    mapped += 1;
                    mapped_seconds += t0.elapsed().as_secs_f64();
                    (MAPPED, None)
                }
                Err(e) => {
                    failed += 1;
                    (FAILED, Some(crate::output::name_outputs(&format!("{e:#}"))))
                }
            }
        };
        let seconds = if status == SKIPPED {
            0.0
        } else {
            t0.elapsed().as_secs_f64()
        };
        let done = k + 1;
        cfg.progress.inc(1);
        let eta = if mapped > 0 {
            let per = mapped_seconds / mapped as f64;
            format!(", eta {:.0} s", per * (total - done) as f64)
        } else {
            String::new()
        };
        let name = output
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let what = match &error {
            Some(e) => format!("FAILED {}: {e}", scene.input),
            None if status == SKIPPED => format!("skipped {} (done: {name})", scene.input),
            None => format!("mapped {} -> {name} in {seconds:.1} s", scene.input),
        };
        eprintln!(
            "[{done}/{total} {:.0}%] {what} ({mapped} mapped, {skipped} skipped, {failed} failed{eta})",
            100.0 * done as f64 / total.max(1) as f64
        );
        reports.push(SceneReport {
            input: scene.input.clone(),
            item: scene.item.clone(),
            output,
            status,
            error,
            seconds,
        });
    }
    let seconds = start.elapsed().as_secs_f64();
    cfg.progress.finish();
    let summary = BatchSummary {
        geomaml_version: env!("CARGO_PKG_VERSION").into(),
        manifest: super::manifest::absolute(&cfg.manifest),
        model: cfg.model.clone(),
        model_sha256,
        out_dir: cfg.out_dir.clone(),
        shard: cfg.shard,
        scenes_in_manifest: scenes.len(),
        scenes: total,
        mapped,
        skipped,
        failed,
        stale_removed: stale,
        seconds,
        scenes_per_hour: if mapped_seconds > 0.0 {
            mapped as f64 * 3600.0 / mapped_seconds
        } else {
            0.0
        },
        summary: summary_path.clone(),
        reports,
    };
    let json = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    crate::output::write_atomic(&summary_path, &json, true)?;
    Ok(summary)
}

/// Maps one scene and writes its sidecar after the map.
fn map_one(
    cfg: &BatchConfig,
    scene: &Scene,
    output: &Path,
    sidecar: &Path,
    model_sha256: &str,
    resolution_m: f64,
) -> Result<()> {
    // The old sidecar goes first: from here on the scene counts as not done.
    match std::fs::remove_file(sidecar) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(sidecar, e)),
    }
    let started_unix = unix_now();
    if !scene.bands.is_empty() {
        let item = scene.item.as_deref().unwrap_or(&scene.input);
        super::stac_bands::build_band_vrt(item, &scene.bands, resolution_m, &scene.input)?;
    }
    let map = MapConfig {
        request: MapRequest {
            options: cfg.options.clone(),
            batch_size: cfg.batch_size,
            threads: cfg.threads,
            ..MapRequest::new(&cfg.model, &scene.input)
        },
        output: output.to_path_buf(),
        cog: true,
        overwrite: true,
        progress: false,
    };
    let mapped = map_scene(&map);
    if !scene.bands.is_empty() {
        super::stac_bands::remove_vrt(&scene.input);
    }
    let s = mapped?;
    let record = Sidecar {
        status: MAPPED.into(),
        geomaml_version: env!("CARGO_PKG_VERSION").into(),
        input: scene.input.clone(),
        item: scene.item.clone(),
        output: output
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        model: cfg.model.clone(),
        model_sha256: model_sha256.into(),
        options: cfg.options.clone(),
        started_unix,
        seconds: s.seconds,
        scene_size: s.scene_size,
        map_size: s.map_size,
        windows: s.windows,
        megapixels_per_s: s.megapixels_per_s,
    };
    let json = serde_json::to_vec_pretty(&record).expect("sidecar serialises");
    crate::output::write_atomic(sidecar, &json, true)?;
    Ok(())
}

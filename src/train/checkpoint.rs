//! tch parameters to and from [`Checkpoint`]s, with the model card that records
//! what the model eats, what it outputs and how it was trained.
//!
//! A training run writes two files: the model (`-o`, the best meta-validated
//! parameters) and `<stem>.last.safetensors`, the latest parameters plus the Adam
//! moments (`optim.*` tensors) and the step, for `--resume`. Both are ordinary
//! checkpoints that `geomaml info` and export read.

use crate::card::{now_rfc3339, InnerLoop, ModelCard, Provenance, CARD_VERSION};
use crate::checkpoint::{Checkpoint, NamedTensors};
use crate::error::{Error, Result};
use crate::model::params::Params;
use crate::model::spec::{Arch, ModelSpec};
use crate::train::config::TrainConfig;
use crate::train::source::DataInfo;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Device;

/// Metadata key of the steps taken.
pub const STEP_KEY: &str = "geomaml.step";
/// Metadata key of the best meta-validation loss so far.
pub const BEST_KEY: &str = "geomaml.best_val_loss";

/// The architecture for the data: the config's choice or the catalog's default
/// (tiles -> CNN, pixels -> U-Net), with the largest depth (at most the paper's 7
/// for the CNN, 4 for the U-Net) that divides the input size; the pixel network's
/// depth is its context convolutions (2 by default).
///
/// Errors: an architecture whose output does not match the labels (`--arch`: a
/// per-pixel model on tiles labelled as a whole, or a tile classifier on per-pixel
/// labels), and a depth the input size cannot take (`config.depth`).
pub fn choose_spec(cfg: &TrainConfig, info: &DataInfo) -> Result<ModelSpec> {
    let arch = cfg.arch.unwrap_or(if info.segmentation {
        Arch::Unet
    } else {
        Arch::Cnn
    });
    let (width, max_depth) = arch.default_shape();
    // Segmentation support shots are half-size crops: they must fit too.
    let edge = if info.segmentation {
        info.tile_size / 2
    } else {
        info.tile_size
    };
    // The pixel network does not down-sample: any depth fits any input.
    let fits = |d: usize| edge > 0 && (arch == Arch::Pixel || edge % (1 << d) == 0);
    let depth = match cfg.depth {
        Some(d) => d,
        None => (1..=max_depth).rev().find(|&d| fits(d)).ok_or_else(|| {
            Error::config(
                "config.depth",
                format!("{} px tiles cannot be halved even once", info.tile_size),
            )
        })?,
    };
    let spec = ModelSpec {
        arch,
        in_channels: info.bands.len(),
        num_classes: info.classes.len(),
        width: cfg.width.unwrap_or(width),
        depth,
        tile_size: info.tile_size,
    };
    spec.validate()
        .map_err(|e| Error::config_source("config.depth", "", e))?;
    if !fits(spec.depth) {
        return Err(Error::config(
            "config.depth",
            format!(
                "{edge} px inputs cannot be halved {} times; choose a smaller depth",
                spec.depth
            ),
        ));
    }
    check_labels(&spec, info)?;
    Ok(spec)
}

/// Refuses an architecture whose output the tasks' labels cannot score: the loss
/// would reshape `[n, 1]` tile labels as `[n, h, w]` (or the reverse) and fail
/// inside libtorch.
fn check_labels(spec: &ModelSpec, info: &DataInfo) -> Result<()> {
    let arch = format!("{:?}", spec.arch).to_lowercase();
    match (spec.is_segmentation(), info.segmentation) {
        (true, false) => Err(Error::config(
            "--arch",
            format!(
                "`{arch}` outputs a class per pixel, but these tasks label each tile as a \
                 whole; use --arch cnn (a tile classifier) or --arch pixel (a per-pixel \
                 network meta-trained on points of the tiles' land-cover rasters)"
            ),
        )),
        (false, true) => Err(Error::config(
            "--arch",
            format!(
                "`{arch}` outputs one class per tile, but these tasks label every pixel; \
                 use --arch unet or --arch pixel"
            ),
        )),
        _ => Ok(()),
    }
}

/// The card of a model trained with `cfg` on `info`.
pub fn model_card(spec: &ModelSpec, info: &DataInfo, cfg: &TrainConfig, steps: u64) -> ModelCard {
    ModelCard {
        version: CARD_VERSION,
        spec: spec.clone(),
        bands: info.bands.clone(),
        normalisation: info.normalisation.clone(),
        standardise_bands: cfg.standardises_bands(),
        classes: info.classes.clone(),
        resolution_m: info.resolution_m,
        inner_loop: InnerLoop {
            lr: cfg.inner_lr,
            steps: cfg.inner_steps.max(1),
            chosen_steps: None,
            prototype_head: cfg.prototype_heads(),
        },
        bn_frozen: false,
        provenance: Provenance {
            method: cfg.method.as_str().into(),
            catalog: info.catalog.clone(),
            steps,
            config: serde_json::to_value(cfg).expect("configs serialise"),
            geomaml_version: env!("CARGO_PKG_VERSION").into(),
            created: now_rfc3339(),
        },
        adaptation: None,
    }
}

/// A checkpoint of `params` with `card`; `optimizer` tensors (may be empty) are
/// stored beside the model's.
pub fn to_checkpoint(
    params: &Params,
    card: ModelCard,
    step: u64,
    optimizer: NamedTensors,
) -> Checkpoint {
    let mut tensors = params.to_named();
    tensors.extend(optimizer);
    let mut extra = BTreeMap::new();
    extra.insert(STEP_KEY.to_string(), step.to_string());
    Checkpoint {
        card,
        tensors,
        extra,
    }
}

/// The resume file next to a model: `m.safetensors` -> `m.last.safetensors`.
pub fn last_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".into());
    out.with_file_name(format!("{stem}.last.safetensors"))
}

/// What a resumed run starts from.
#[derive(Debug)]
pub struct Resumed {
    /// Parameters on the training device.
    pub params: Params,
    /// The checkpoint's card.
    pub card: ModelCard,
    /// Steps already taken.
    pub step: u64,
    /// Best meta-validation loss so far, if recorded.
    pub best_val_loss: Option<f64>,
    /// Saved optimiser tensors (`optim.*`), empty when none.
    pub optimizer: NamedTensors,
}

/// Loads a checkpoint to continue training on `device`.
pub fn resume(path: &Path, device: Device) -> Result<Resumed> {
    let ckpt = Checkpoint::load(path)?;
    let params = Params::load(&ckpt.card.spec, &ckpt.tensors, device)?;
    let step = match ckpt.extra.get(STEP_KEY) {
        Some(s) => s
            .parse()
            .map_err(|_| Error::model(path, format!("{STEP_KEY} is not a number: {s}")))?,
        None => ckpt.card.provenance.steps,
    };
    let best_val_loss = ckpt.extra.get(BEST_KEY).and_then(|s| s.parse().ok());
    let optimizer = ckpt
        .tensors
        .into_iter()
        .filter(|(n, _)| n.starts_with("optim."))
        .collect();
    Ok(Resumed {
        params,
        card: ckpt.card,
        step,
        best_val_loss,
        optimizer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::source::tests::info;
    use tch::Kind;

    #[test]
    fn depth_follows_the_tile_size() {
        let cfg = TrainConfig::default();
        assert_eq!(
            choose_spec(&cfg, &info(15, 128)).unwrap(),
            ModelSpec::paper_cnn(15, 10)
        );
        assert_eq!(choose_spec(&cfg, &info(13, 32)).unwrap().depth, 5);
        let bad = TrainConfig {
            depth: Some(6),
            ..cfg
        };
        assert!(choose_spec(&bad, &info(13, 32))
            .unwrap_err()
            .to_string()
            .contains("config.depth"));
    }

    #[test]
    fn an_architecture_the_labels_cannot_score_is_refused_naming_arch() {
        let unet = TrainConfig {
            arch: Some(Arch::Unet),
            ..TrainConfig::default()
        };
        let err = choose_spec(&unet, &info(13, 32)).unwrap_err().to_string();
        assert!(
            err.contains("--arch") && err.contains("--arch cnn"),
            "{err}"
        );
        let pixels = DataInfo {
            segmentation: true,
            ..info(3, 32)
        };
        assert!(choose_spec(&unet, &pixels).is_ok());
        let cnn = TrainConfig {
            arch: Some(Arch::Cnn),
            ..TrainConfig::default()
        };
        let err = choose_spec(&cnn, &pixels).unwrap_err().to_string();
        assert!(err.contains("--arch unet"), "{err}");
    }

    #[test]
    fn checkpoints_round_trip_with_step_and_optimizer() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig {
            width: Some(4),
            ..TrainConfig::default()
        };
        let spec = choose_spec(&cfg, &info(3, 8)).unwrap();
        let params = Params::init(&spec, Device::Cpu, Kind::Float, 0).unwrap();
        let adam = crate::train::optim::Adam::new(&params.trainable(), 1e-3);
        let card = model_card(&spec, &info(3, 8), &cfg, 7);
        let path = dir.path().join("m.safetensors");
        let mut ckpt = to_checkpoint(&params, card, 7, adam.state(&params.trainable_names()));
        ckpt.extra.insert(BEST_KEY.into(), "0.5".into());
        ckpt.save(&path, false).unwrap();
        let back = resume(&path, Device::Cpu).unwrap();
        assert_eq!((back.step, back.best_val_loss), (7, Some(0.5)));
        assert_eq!(back.params.to_named(), params.to_named());
        assert_eq!(back.card.provenance.method, "maml");
        assert!(back.optimizer.contains_key("optim.step"));
        assert_eq!(last_path(&path), dir.path().join("m.last.safetensors"));
    }
}

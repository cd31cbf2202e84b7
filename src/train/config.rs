//! `TrainConfig`: every training setting, read from JSON, with the paper's defaults.
//!
//! Defaults follow Russwurm et al. 2020 for Sen12MS: 4-way 2-shot tasks with 2
//! query tiles per class, meta-batches of 16 tasks, one inner gradient step of size
//! alpha = 0.32 with batch-norm batch statistics, second-order MAML (Finn et al. 2017)
//! and Adam with beta = 1e-3 as the outer optimiser. Unknown keys are an error, so a
//! misspelt setting never silently falls back to its default. Command-line flags
//! override the file (see `geomaml train --help`).

use crate::error::{Error, Result};
use crate::model::spec::Arch;
use crate::tasks::PointLabels;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Training method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Model-agnostic meta-learning (Finn et al. 2017).
    Maml,
    /// Regular training on the same tasks, support and query merged (the paper's
    /// pretraining baseline).
    Pretrain,
}

/// Which parameters the model file keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The lowest meta-validation loss.
    Loss,
    /// The highest meta-validation accuracy: the better rule when meta-validation
    /// holds out a look that training makes the loss worse on (a clustered split).
    Accuracy,
    /// The last step (meta-validation is only logged).
    Last,
}

impl Selection {
    /// Lower is better; `None` when validation does not select.
    pub fn score(self, loss: f64, accuracy: f64) -> Option<f64> {
        match self {
            Selection::Loss => Some(loss),
            Selection::Accuracy => Some(-accuracy),
            Selection::Last => None,
        }
    }
}

impl Method {
    /// The name recorded in model cards and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Maml => "maml",
            Method::Pretrain => "pretrain",
        }
    }
}

/// All settings of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// `maml` or `pretrain`.
    pub method: Method,
    /// Classes per task (n-way).
    pub way: usize,
    /// Support samples per class (k-shot).
    pub shot: usize,
    /// Query samples per class.
    pub query: usize,
    /// Meta-steps (MAML) or gradient steps (pretrain) to take in total.
    pub steps: u64,
    /// Tasks per meta-step (MAML); pretraining takes one merged task per step.
    pub meta_batch: usize,
    /// Inner-loop step size alpha.
    pub inner_lr: f64,
    /// Inner-loop gradient steps during meta-training.
    pub inner_steps: usize,
    /// First-order MAML (no second derivatives) instead of the exact gradient.
    pub first_order: bool,
    /// Outer (Adam) step size beta; also pretraining's learning rate.
    pub outer_lr: f64,
    /// Clip the meta-gradient to this global L2 norm; 0 turns clipping off.
    pub grad_clip: f64,
    /// Momentum of the batch-norm running statistics kept for checkpoints; 0 keeps
    /// them at their initial values.
    pub bn_momentum: f64,
    /// Meta-validate every this many steps (0: never; the last model is kept).
    pub val_every: u64,
    /// Meta-validation tasks per validation.
    pub val_tasks: usize,
    /// Which meta-validated parameters the model file keeps (resume with the same).
    pub select: Selection,
    /// Input bands by name (`["B02", "B03"]`); all bands of the catalog when absent.
    pub bands: Option<Vec<String>>,
    /// Architecture; follows the catalog (Sen12MS: cnn, DeepGlobe: unet) when absent.
    /// `pixel` on Sen12MS trains on point tasks (see `points`).
    pub arch: Option<Arch>,
    /// Point tasks (the pixel network on a dataset of labelled tiles): labelled
    /// pixels per class in support and query sets; 5 and 100 when absent.
    pub points: Option<PointLabels>,
    /// Standardise each band over each task (zero mean, unit standard deviation),
    /// and over the scene when the model is adapted (`standardise_bands` in the
    /// card); absent: on for `pixel`, off for the paper's architectures.
    pub standardise_bands: Option<bool>,
    /// Start each task's inner loop with the head from the support's class
    /// prototypes (Proto-MAML, [`crate::model::prototype_head`]), as `adapt` does
    /// for per-pixel models; absent: off.
    #[serde(default)]
    pub prototype_head: Option<bool>,
    /// Hidden channels (CNN) or first-level channels (U-Net); architecture default
    /// when absent.
    pub width: Option<usize>,
    /// Conv blocks (CNN) or levels (U-Net); chosen from the tile size when absent.
    pub depth: Option<usize>,
    /// Seed of initialisation and task sampling.
    pub seed: u64,
    /// `auto`, `cpu` or `cuda:N`.
    pub device: String,
    /// MAML tasks adapted together in one batched pass (grouped convolutions); 1
    /// runs the per-task reference path, 0 batches the whole meta-batch. Larger
    /// groups are faster on a GPU and hold more of the graph in memory at once.
    /// Absent: 16 on CUDA, 1 on CPU (where grouped convolutions lose to a loop).
    pub task_group: Option<usize>,
    /// Meta-batches read ahead on a background thread while a step trains (0: read
    /// each one when its step starts); does not change which tasks a seed draws.
    pub prefetch: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            method: Method::Maml,
            way: 4,
            shot: 2,
            query: 2,
            steps: 2000,
            meta_batch: 16,
            inner_lr: 0.32,
            inner_steps: 1,
            first_order: false,
            outer_lr: 1e-3,
            grad_clip: 10.0,
            bn_momentum: 0.1,
            val_every: 100,
            val_tasks: 16,
            select: Selection::Loss,
            bands: None,
            arch: None,
            points: None,
            standardise_bands: None,
            prototype_head: None,
            width: None,
            depth: None,
            seed: 0,
            device: "auto".into(),
            task_group: None,
            prefetch: 2,
        }
    }
}

/// Settings given on the command line over a config file: each `Some` (or `true`)
/// replaces the config's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainOverrides {
    /// `--method`.
    pub method: Option<Method>,
    /// `--way`.
    pub way: Option<usize>,
    /// `--shot`.
    pub shot: Option<usize>,
    /// `--query`.
    pub query: Option<usize>,
    /// `--steps`.
    pub steps: Option<u64>,
    /// `--meta-batch`.
    pub meta_batch: Option<usize>,
    /// `--inner-lr`.
    pub inner_lr: Option<f64>,
    /// `--inner-steps`.
    pub inner_steps: Option<usize>,
    /// `--first-order` (only turns first order on).
    pub first_order: bool,
    /// `--task-group`.
    pub task_group: Option<usize>,
    /// `--val-every`.
    pub val_every: Option<u64>,
    /// `--select`.
    pub select: Option<Selection>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--prefetch`.
    pub prefetch: Option<usize>,
    /// `--device`.
    pub device: Option<String>,
    /// `--bands`, already split into names.
    pub bands: Option<Vec<String>>,
    /// `--arch`.
    pub arch: Option<Arch>,
    /// `--standardise-bands`.
    pub standardise_bands: Option<bool>,
    /// `--prototype-head`.
    pub prototype_head: Option<bool>,
}

impl TrainConfig {
    /// This config with `o`'s settings applied, then validated.
    ///
    /// # Errors
    /// Any value [`TrainConfig::validate`] refuses, naming its option.
    pub fn with_overrides(mut self, o: &TrainOverrides) -> Result<Self> {
        self.method = o.method.unwrap_or(self.method);
        self.way = o.way.unwrap_or(self.way);
        self.shot = o.shot.unwrap_or(self.shot);
        self.query = o.query.unwrap_or(self.query);
        self.steps = o.steps.unwrap_or(self.steps);
        self.meta_batch = o.meta_batch.unwrap_or(self.meta_batch);
        self.inner_lr = o.inner_lr.unwrap_or(self.inner_lr);
        self.inner_steps = o.inner_steps.unwrap_or(self.inner_steps);
        self.first_order |= o.first_order;
        self.task_group = o.task_group.or(self.task_group);
        self.val_every = o.val_every.unwrap_or(self.val_every);
        self.select = o.select.unwrap_or(self.select);
        self.seed = o.seed.unwrap_or(self.seed);
        self.prefetch = o.prefetch.unwrap_or(self.prefetch);
        if let Some(d) = &o.device {
            self.device = d.clone();
        }
        if let Some(b) = &o.bands {
            self.bands = Some(b.clone());
        }
        self.arch = o.arch.or(self.arch);
        self.standardise_bands = o.standardise_bands.or(self.standardise_bands);
        self.prototype_head = o.prototype_head.or(self.prototype_head);
        self.validate()?;
        Ok(self)
    }

    /// Whether bands are standardised over each task (and, once adapted, over the
    /// scene): `standardise_bands`, else on for the pixel network only. Measured on
    /// the real labelled scenes, the pixel network meta-trained on standardised
    /// bands maps 3 of 4 above the best per-pixel peer, where the same network on
    /// reflectance maps 2 (docs/maps_from_points.md).
    pub fn standardises_bands(&self) -> bool {
        self.standardise_bands
            .unwrap_or(self.arch == Some(Arch::Pixel))
    }

    /// Whether each task's inner loop starts the head from the support's class
    /// prototypes: `prototype_head`, else off.
    pub fn prototype_heads(&self) -> bool {
        self.prototype_head.unwrap_or(false)
    }

    /// Reads a JSON config; errors name the file and the offending key.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let cfg: TrainConfig = serde_json::from_str(&text)
            .map_err(|e| Error::config(path.display().to_string(), e))?;
        Ok(cfg)
    }

    /// Checks value ranges; errors name the setting (`config.inner_lr`).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: &str| Err(Error::config(format!("config.{key}"), why));
        if self.way < 2 {
            return bad("way", "a task needs at least 2 classes");
        }
        if self.shot == 0 || self.query == 0 {
            return bad("shot", "shot and query must be at least 1");
        }
        if self.meta_batch == 0 {
            return bad("meta_batch", "must be at least 1");
        }
        if self.steps == 0 {
            return bad(
                "steps",
                "must be at least 1 (0 steps would write an untrained model)",
            );
        }
        if !(self.inner_lr.is_finite() && self.inner_lr > 0.0) {
            return bad("inner_lr", "must be a positive number");
        }
        if self.prototype_heads() && self.method != Method::Maml {
            return bad(
                "prototype_head",
                "starts MAML's inner loop; pretraining has none (adapt starts from the \
                 prototypes with --prototype-head true)",
            );
        }
        if self.prototype_heads() && self.task_group.is_some_and(|g| g != 1) {
            return bad(
                "task_group",
                "batched tasks (a task group other than 1) have no class-prototype head; \
                 leave task_group out, or give 1, with prototype_head",
            );
        }
        if self.inner_steps == 0 && self.method == Method::Maml {
            return bad("inner_steps", "MAML needs at least one inner step");
        }
        if !(self.outer_lr.is_finite() && self.outer_lr > 0.0) {
            return bad("outer_lr", "must be a positive number");
        }
        if !(self.grad_clip.is_finite() && self.grad_clip >= 0.0) {
            return bad("grad_clip", "must be 0 (off) or positive");
        }
        if !(0.0..=1.0).contains(&self.bn_momentum) {
            return bad("bn_momentum", "must lie in [0, 1]");
        }
        if self.val_every > 0 && self.val_tasks == 0 {
            return bad("val_tasks", "validation needs at least one task");
        }
        if self.width == Some(0) || self.depth == Some(0) {
            return bad("width", "width and depth must be positive");
        }
        use crate::limits::{MAX_COUNT, MAX_DEPTH, MAX_WIDTH};
        if self.width.is_some_and(|w| w > MAX_WIDTH) {
            return bad("width", &format!("at most {MAX_WIDTH}"));
        }
        if self.depth.is_some_and(|d| d > MAX_DEPTH) {
            return bad("depth", &format!("at most {MAX_DEPTH}"));
        }
        for (key, v) in [
            ("way", self.way),
            ("shot", self.shot),
            ("query", self.query),
            ("meta_batch", self.meta_batch),
        ] {
            if v > MAX_COUNT {
                return bad(key, &format!("at most {MAX_COUNT}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_settings_replace_the_configs_and_are_validated() {
        let base = TrainConfig {
            shot: 5,
            first_order: true,
            select: Selection::Accuracy,
            ..TrainConfig::default()
        };
        let cfg = base
            .clone()
            .with_overrides(&TrainOverrides {
                way: Some(3),
                steps: Some(7),
                bands: Some(vec!["B02".into(), "B03".into()]),
                ..TrainOverrides::default()
            })
            .unwrap();
        assert_eq!((cfg.way, cfg.shot, cfg.steps), (3, 5, 7));
        // Unset flags keep the config's values; --first-order only turns it on.
        assert!(cfg.first_order);
        assert_eq!(cfg.select, Selection::Accuracy);
        assert_eq!(
            cfg.bands.as_deref(),
            Some(&["B02".to_string(), "B03".to_string()][..])
        );
        let err = base
            .with_overrides(&TrainOverrides {
                way: Some(0),
                ..TrainOverrides::default()
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("way"), "{err}");
    }

    #[test]
    fn defaults_are_the_papers_and_unknown_keys_fail() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.json");
        std::fs::write(&ok, r#"{"inner_lr": 0.1, "method": "pretrain"}"#).unwrap();
        let cfg = TrainConfig::load(&ok).unwrap();
        assert_eq!(
            (cfg.inner_lr, cfg.method, cfg.way, cfg.shot, cfg.meta_batch),
            (0.1, Method::Pretrain, 4, 2, 16)
        );
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"inner_lrr": 0.1}"#).unwrap();
        let err = TrainConfig::load(&bad).unwrap_err().to_string();
        assert!(
            err.contains("bad.json") && err.contains("inner_lrr"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let cfg = TrainConfig {
            inner_lr: -1.0,
            ..TrainConfig::default()
        };
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("config.inner_lr"));
        assert!(TrainConfig::default().validate().is_ok());
    }

    #[test]
    fn class_prototype_heads_refuse_batched_tasks_only() {
        let with = |task_group: Option<usize>| TrainConfig {
            prototype_head: Some(true),
            task_group,
            ..TrainConfig::default()
        };
        let err = with(Some(4)).validate().unwrap_err().to_string();
        assert!(err.contains("config.task_group"), "{err}");
        assert!(with(Some(1)).validate().is_ok());
        assert!(with(None).validate().is_ok());
        assert!(!TrainConfig::default().prototype_heads());
        let pretrain = TrainConfig {
            method: Method::Pretrain,
            ..with(None)
        };
        let err = pretrain.validate().unwrap_err().to_string();
        assert!(err.contains("config.prototype_head"), "{err}");
    }
}

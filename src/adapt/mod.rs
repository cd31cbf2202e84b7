//! Few-shot adaptation of a meta-trained model to a new scene (`train` feature).
//!
//! The analyst's labelled points/polygons become support windows ([`shots`]); the
//! model takes the inner-loop steps its card prescribes (or the user's) on them,
//! exactly as MAML did while meta-training; batch-norm statistics are then frozen
//! from the support windows and unlabelled windows of the scene, and the head keeps
//! only the labelled classes. The result is a checkpoint ready for ONNX export.
//!
//! Output indices: a MAML model was meta-trained with task-local labels, so the
//! i-th labelled class (by id) takes output i; a pretrained model keeps each
//! class's legend position.

pub mod baseline;
pub mod batches;
pub mod estimate;
pub mod folds;
pub mod head;
pub mod shots;

use crate::card::AdaptationRecord;
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::inner_loop::{adapt_tracked, InnerSettings};
use crate::labels::{read_labels, ClassSource, LabelOptions};
use crate::legend::ClassInfo;
use crate::model::functional::forward;
use crate::model::layers::BnMode;
use crate::model::params::Params;
use crate::pixels::checks::scene_warnings;
use crate::pixels::{check_min_valid, BandInput, PixelReader};
use crate::raster::band_match::{resolve_bands, scene_bands, taken_by_position};
use crate::raster::Raster;
use batches::{bn_batches, inner_batch, targets, to_tensor};
use head::{head_for, map_classes};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tch::Device;

pub use batches::unlabelled_windows;
pub use estimate::AccuracyEstimate;
use estimate::HoldOut;
use folds::spatial_folds;
pub use shots::{cut_shots, Shots};

/// What to adapt, on what.
#[derive(Debug, Clone)]
pub struct AdaptOptions {
    /// Meta-trained checkpoint (.safetensors).
    pub model: PathBuf,
    /// Scene to adapt to.
    pub scene: PathBuf,
    /// Labelled points/polygons.
    pub labels: PathBuf,
    /// Which layer and attribute of the label file hold the classes.
    pub label_options: LabelOptions,
    /// Smallest valid fraction of a shot's window (`--min-valid`).
    pub min_valid: f64,
    /// Scene bands feeding the model (`--bands`).
    pub bands: Option<String>,
    /// Classes the map must have (each needs at least one label); default: those labelled.
    pub classes: Option<Vec<String>>,
    /// Inner-loop step size (default: the card's).
    pub inner_lr: Option<f64>,
    /// Inner-loop steps (default: [`ModelCard::adapt_steps`](crate::card::ModelCard::adapt_steps)
    /// for the head start used).
    pub inner_steps: Option<usize>,
    /// Start the head's labelled rows from the labels' class prototypes
    /// ([`crate::model::prototype_head`]); default:
    /// [`ModelCard::adapts_from_prototypes`].
    pub prototype_head: Option<bool>,
    /// Unlabelled scene windows for batch-norm statistics.
    pub bn_windows: usize,
    /// How to estimate accuracy over the labels once the model is written.
    pub estimate: AccuracyEstimate,
    /// Where to compute.
    pub device: Device,
    /// Seed for window draws.
    pub seed: u64,
    /// Progress of the inner loop (steps) and of the accuracy estimate (folds).
    pub progress: crate::progress::Progress,
}

/// What adaptation did, for the user.
#[derive(Debug, Clone, Serialize)]
pub struct AdaptReport {
    /// The map's classes (id, name, colour), in output order.
    pub classes: Vec<ClassInfo>,
    /// Where the classes' names and colours came from, merged spellings.
    pub legend_notes: Vec<String>,
    /// Classes whose output rows are new (not in the model's head).
    pub new_head_rows: Vec<String>,
    /// Shots per class name.
    pub shots_per_class: BTreeMap<String, usize>,
    /// Inner-loop step size used.
    pub inner_lr: f64,
    /// Inner-loop steps asked for (`--inner-steps`, else the default).
    pub inner_steps: usize,
    /// Whether the head started from the labels' class prototypes.
    pub prototype_head: bool,
    /// Steps whose weights the model keeps: `inner_steps`, or fewer when the support
    /// loss rose (`support_loss_rose`).
    pub steps_kept: usize,
    /// Support loss before adaptation and with the delivered weights.
    pub support_loss: (f64, f64),
    /// Support loss before each inner step, then after the last one.
    pub support_loss_steps: Vec<f64>,
    /// Whether the support loss ended above where it started: the model then keeps
    /// the weights of the lowest loss (after `steps_kept` steps) and `warnings` says
    /// so, naming `--inner-lr` and `--inner-steps`.
    pub support_loss_rose: bool,
    /// Support accuracy after adaptation.
    pub support_accuracy: f64,
    /// Cross-validated accuracy over the shots (spatial folds, [`folds`]), and the
    /// number of folds.
    pub cross_validated_accuracy: Option<(f64, usize)>,
    /// The per-pixel baseline's (1-NN on the labelled pixels' band values) accuracy
    /// on the same folds.
    pub baseline_accuracy: Option<f64>,
    /// How it was estimated.
    pub estimate: AccuracyEstimate,
    /// Warnings worth reading (classes with one label only, ...).
    pub warnings: Vec<String>,
}

/// The adapted model and the report.
#[derive(Debug)]
pub struct Adapted {
    /// Checkpoint with frozen batch-norm statistics and the labelled classes only.
    pub checkpoint: Checkpoint,
    /// What happened.
    pub report: AdaptReport,
    /// What the accuracy estimate needs, until [`Adapted::estimate_accuracy`] runs.
    holdout: Option<HoldOut>,
}

impl Adapted {
    /// The held-out accuracy over the labels ([`AccuracyEstimate`]) and the number
    /// of folds, also recorded in the report. `None` when it was not asked for or
    /// there are fewer than three shots. Callers write the model first and call
    /// this after.
    pub fn estimate_accuracy(&mut self) -> Result<Option<(f64, usize)>> {
        if let Some(h) = self.holdout.take() {
            let (acc, folds, baseline) = h.run()?;
            self.report.cross_validated_accuracy = Some((acc, folds));
            self.report.baseline_accuracy = baseline;
            if let Some(b) = baseline.filter(|&b| b > acc) {
                self.report.warnings.push(format!(
                    "a per-pixel nearest-neighbour classifier on the labels scores {:.1}% on the same \
                     held-out places, the adapted model {:.1}%: the model may not suit this scene \
                     (other bands, units or classes than it learnt), or the labels are too few",
                    100.0 * b,
                    100.0 * acc
                ));
            }
        }
        Ok(self.report.cross_validated_accuracy)
    }
}

/// Adapts `opts.model` to `opts.scene` from `opts.labels`.
pub fn adapt(opts: &AdaptOptions) -> Result<Adapted> {
    let ckpt = Checkpoint::load(&opts.model)?;
    let card = &ckpt.card;
    let min_valid = check_min_valid(opts.min_valid)?;
    let scene = Raster::open(&opts.scene)?;
    let georef = scene.georef()?;
    if georef.crs().is_empty() {
        return Err(Error::raster(
            &opts.scene,
            "has no CRS (its geotransform or GCPs name none): labels cannot be placed on it",
        ));
    }
    let scene_bands = scene_bands(&scene);
    let bands = resolve_bands(&card.bands, &scene_bands, opts.bands.as_deref()).map_err(|e| {
        Error::raster_source(
            &opts.scene,
            format!("input of model {}", opts.model.display()),
            e,
        )
    })?;
    let by_position = taken_by_position(&card.bands, &scene_bands, opts.bands.as_deref());
    let mut labels = read_labels(
        &opts.labels,
        &opts.label_options,
        ClassSource::Own {
            known: &card.classes,
        },
        georef.crs(),
    )?;
    let at = georef.locator(&opts.scene)?;
    crate::limits::check_tile_for_scene(
        &opts.model,
        card.spec.tile_size,
        &opts.scene,
        scene.size(),
    )?;
    let (bn_windows, bn_warning) = crate::limits::bn_windows(
        opts.bn_windows,
        card.spec.tile_size,
        bands.len(),
        scene.size(),
    )?;
    let reader = PixelReader::new(
        scene,
        BandInput::list(&bands, &card.bands, &card.normalisation),
    )?;
    // The units are checked against what the model was trained on, before any
    // scene statistics are folded in.
    let mut warnings = scene_warnings(&reader, &georef, card, by_position);
    let (scene_card, reader) = crate::pixels::standardise::scene_input(card, reader, &opts.scene)?;
    let card = &scene_card;
    labels.wrap_to(&at, reader.raster().size());
    let shots = cut_shots(&reader, &at, card, &labels, min_valid)?;
    let classes = map_classes(opts, &labels.legend, &shots.class_ids)?;
    let ids: Vec<u16> = classes.iter().map(|c| c.id).collect();
    let head_plan = head::plan(card, &classes);
    let grown = head::grow(
        &ckpt,
        &classes
            .iter()
            .zip(&head_plan.outputs)
            .filter(|(_, &o)| o >= card.spec.num_classes)
            .map(|(c, _)| c.clone())
            .collect::<Vec<_>>(),
    );
    let outputs = head_plan.outputs.clone();
    let mut shots_per_class = BTreeMap::new();
    for c in &classes {
        let n = shots.class_ids.iter().filter(|&&id| id == c.id).count();
        shots_per_class.insert(c.name.clone(), n);
    }
    warnings.extend(labels.warnings.iter().cloned());
    warnings.extend(shots.warnings.iter().cloned());
    warnings.extend(bn_warning);
    warnings.extend(
        shots_per_class
            .iter()
            .filter(|(_, &n)| n == 1)
            .map(|(c, _)| {
                format!("class {c} has a single label: its map accuracy is a guess; add more")
            }),
    );

    let prototype_head = opts
        .prototype_head
        .unwrap_or_else(|| card.adapts_from_prototypes());
    let settings = InnerSettings {
        lr: opts.inner_lr.unwrap_or(card.inner_loop.lr),
        steps: opts
            .inner_steps
            .unwrap_or_else(|| card.adapt_steps(prototype_head))
            .max(1),
        first_order: true,
        bn_momentum: None,
        prototype_head,
    };
    if card.inner_loop.prototype_head && !settings.prototype_head {
        warnings.push(format!(
            "{} was meta-trained with --prototype-head true, which never trains its own head: \
             --prototype-head false adapts from a head of initial weights",
            opts.model.display()
        ));
    }
    let params = Params::load(&grown.card.spec, &grown.tensors, opts.device)?;
    let targets = targets(&shots, &ids, &outputs, card);
    let unlabelled = unlabelled_windows(&reader, card, bn_windows, opts.seed)?;

    let (x, y) = inner_batch(&shots, &targets, &unlabelled, card, opts.device);
    // One sequence for the inner loop's steps and the estimate's folds, which
    // carries on when the estimate runs (after the model is written).
    let estimated = opts.estimate != AccuracyEstimate::Off && shots.x.shape()[0] >= 3;
    // The folds, chosen once: their count sizes the progress, the estimate runs them.
    let fold_of = if estimated {
        spatial_folds(
            &shots.fids,
            &shots.positions,
            estimate::MAX_FOLDS,
            reader.raster().size(),
        )
    } else {
        Vec::new()
    };
    let folds = fold_of.iter().max().map_or(0, |m| m + 1);
    opts.progress
        .start((settings.steps + folds) as u64, "adapting");
    let tracked = adapt_tracked(&params, &x, &y, &settings, &opts.progress);
    if !estimated {
        opts.progress.finish_and_clear();
    }
    let loss_before = tracked.losses[0];
    let loss_last = tracked.losses[settings.steps];
    let finite = tracked
        .last
        .trainable()
        .iter()
        .all(|t| bool::try_from(t.isfinite().all()).unwrap_or(false));
    if !finite || !loss_last.is_finite() {
        return Err(Error::config(
            "--inner-lr",
            format!(
                "adaptation diverged (support loss {loss_before:.3} -> {loss_last}, weights not finite); \
                 lower the step size (now {}) or the steps (--inner-steps, now {}), or check the labelled \
                 pixels of {} for extreme values",
                settings.lr,
                settings.steps,
                opts.scene.display()
            ),
        ));
    }
    // A support loss that ends above where it started means the steps overshoot:
    // the weights of the lowest loss are delivered instead of the last (see
    // [`loss_rose`]).
    let rose = loss_rose(&tracked.losses);
    let (fast, steps_kept) = if rose {
        let (best, step) = tracked.best;
        warnings.push(format!(
            "the support loss rose during adaptation ({loss_before:.3} before the first step, \
             {loss_last:.3} after step {}): the step size --inner-lr {} is too large for this scene \
             or --inner-steps {} too many. The model keeps the weights after step {step} \
             (support loss {:.3}), not the last; adapt again with a smaller --inner-lr (or fewer \
             --inner-steps) for a model that used every step",
            settings.steps, settings.lr, settings.steps, tracked.losses[step]
        ));
        (best, step)
    } else {
        (tracked.last, settings.steps)
    };
    let fast = fast.with_trainable(fast.trainable().iter().map(|t| t.detach()).collect());
    let (loss_after, acc_after) = tch::no_grad(|| {
        let logits = forward(&fast, &x, BnMode::Batch);
        (
            f64::try_from(crate::model::loss::cross_entropy(&logits, &y)).unwrap_or(f64::NAN),
            crate::model::loss::accuracy(&logits, &y),
        )
    });
    // The estimate adapts folds with the steps the delivered model took.
    let steps_asked = settings.steps;
    let settings = InnerSettings {
        steps: steps_kept,
        ..settings
    };
    let bn_batches = bn_batches(&to_tensor(&shots.x, opts.device), &unlabelled, opts.device);
    let frozen = crate::model::bn_stats::estimate_bn_stats(&fast, &bn_batches)?;

    let checkpoint = head_for(
        &frozen,
        card,
        &classes,
        &outputs,
        AdaptationRecord {
            labels: opts.labels.display().to_string(),
            labels_sha256: labels.sha256.clone(),
            scene: opts.scene.display().to_string(),
            shots_per_class: ids
                .iter()
                .map(|&id| (id, shots.class_ids.iter().filter(|&&c| c == id).count()))
                .collect(),
            inner_lr: settings.lr,
            inner_steps: steps_kept,
            class_field: labels.class_field.clone(),
            style: labels.style.as_ref().map(|p| p.display().to_string()),
            new_head_rows: head_plan.new_rows.clone(),
            prototype_head: settings.prototype_head,
        },
    );
    let holdout = estimated.then(|| HoldOut {
        how: opts.estimate,
        params,
        shots,
        targets,
        unlabelled,
        fold_of,
        settings,
        device: opts.device,
        progress: opts.progress.clone(),
    });
    Ok(Adapted {
        checkpoint,
        report: AdaptReport {
            shots_per_class,
            inner_lr: settings.lr,
            inner_steps: steps_asked,
            prototype_head: settings.prototype_head,
            support_loss: (loss_before, loss_after),
            support_loss_steps: tracked.losses,
            support_loss_rose: rose,
            steps_kept,
            support_accuracy: acc_after,
            cross_validated_accuracy: None,
            baseline_accuracy: None,
            classes: classes.clone(),
            legend_notes: labels.legend_notes.clone(),
            new_head_rows: head_plan.new_rows,
            estimate: if holdout.is_some() {
                opts.estimate
            } else {
                AccuracyEstimate::Off
            },
            warnings,
        },
        holdout,
    })
}

/// Whether a support-loss trajectory (before each step, then after the last)
/// ended clearly above its start: by more than 1 % of the starting loss (and
/// 1e-6), so that rounding on a loss already at its floor does not count.
/// Adaptation takes gradient steps on exactly this loss, so a final loss above the
/// first means the step size overshoots on this scene; losses that wander but end
/// lower are the inner loop working as meta-trained and are left alone.
pub fn loss_rose(losses: &[f64]) -> bool {
    match (losses.first(), losses.last()) {
        (Some(&first), Some(&last)) if losses.len() > 1 => {
            last > first + (0.01 * first.abs()).max(1e-6)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;

//! How accurate an adaptation is likely to be: accuracy over held-out labels.
//!
//! Cross-validation over the shots on folds matched to the map's distances to the
//! labels ([`super::folds`]: each feature in one fold, features grouped by place as
//! far as that matches), one fold per feature up to [`MAX_FOLDS`]; each fold adapts
//! on the other shots and predicts its own. The same
//! folds score a per-pixel baseline ([`super::baseline`]), the yardstick beside it.
//! Two ways to adapt a fold:
//!
//! - [`AccuracyEstimate::Head`] (the default) keeps the meta-trained network below
//!   the last layer fixed and takes the inner-loop steps on the last layer alone,
//!   on features computed once (batch-norm statistics from all shots and the
//!   unlabelled windows, which carry no labels). Raghu et al., "Rapid Learning or
//!   Feature Reuse? Towards Understanding the Effectiveness of MAML", ICLR 2020,
//!   show that MAML's inner loop changes mostly the head and that adapting the
//!   head alone (ANIL) performs about as well; here it makes the folds cost a
//!   fraction of one adaptation.
//! - [`AccuracyEstimate::Full`] adapts the whole network per fold, exactly as the
//!   delivered model was adapted (each fold costs about one adaptation).

use super::baseline::nearest_neighbour_accuracy;
use super::batches::{bn_batches, to_tensor, with_unlabelled};
use super::Shots;
use crate::error::Result;
use crate::inner_loop::{adapt as inner_loop, gradient_step, InnerSettings};
use crate::model::arch::{HEAD_BIAS, HEAD_WEIGHT};
use crate::model::bn_stats::estimate_bn_stats;
use crate::model::functional::{forward, head_input, head_logits};
use crate::model::layers::BnMode;
use crate::model::loss::{accuracy, cross_entropy};
use crate::model::params::Params;
use crate::model::prototype_head::prototype_rows;
use ndarray::Array2;
use serde::Serialize;
use tch::{Device, Tensor};

/// Most folds cross-validation runs (leave-one-out below this many shots).
pub const MAX_FOLDS: usize = 10;

/// How `adapt` estimates the accuracy over the labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccuracyEstimate {
    /// No estimate.
    Off,
    /// Folds adapt the last layer only, on fixed features (see the module doc).
    #[default]
    Head,
    /// Folds adapt the whole network as the delivered model was adapted.
    Full,
}

impl AccuracyEstimate {
    /// The estimate asked for: none, or the head-only (default) or whole-network one.
    pub fn from_flags(estimate: bool, whole_network: bool) -> Self {
        match (estimate, whole_network) {
            (false, _) => AccuracyEstimate::Off,
            (true, false) => AccuracyEstimate::Head,
            (true, true) => AccuracyEstimate::Full,
        }
    }

    /// What the folds adapt, in words.
    pub fn describe(self) -> &'static str {
        match self {
            AccuracyEstimate::Off => "no estimate",
            AccuracyEstimate::Head => "last layer",
            AccuracyEstimate::Full => "whole network",
        }
    }
}

/// What the estimate needs, kept so that the adapted model can be written first.
#[derive(Debug)]
pub(super) struct HoldOut {
    pub how: AccuracyEstimate,
    /// The meta-trained (not adapted) parameters.
    pub params: Params,
    pub shots: Shots,
    pub targets: Array2<i64>,
    pub unlabelled: ndarray::Array4<f32>,
    /// Fold of each shot ([`super::folds::spatial_folds`]).
    pub fold_of: Vec<usize>,
    pub settings: InnerSettings,
    pub device: Device,
    /// The adaptation's progress, which goes on over the folds.
    pub progress: crate::progress::Progress,
}

impl HoldOut {
    /// Accuracy over the held-out shots of every fold, the number of folds, and the
    /// per-pixel baseline's accuracy on the same folds.
    pub fn run(self) -> Result<(f64, usize, Option<f64>)> {
        let n = self.shots.x.shape()[0];
        let fold_of = &self.fold_of;
        let folds = fold_of.iter().max().map_or(0, |m| m + 1);
        let centre = self.shots.x.shape()[2] / 2;
        let values: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                self.shots
                    .x
                    .slice(ndarray::s![i, .., centre, centre])
                    .to_vec()
            })
            .collect();
        let baseline = nearest_neighbour_accuracy(&values, &self.shots.class_ids, fold_of);
        let x = to_tensor(&self.shots.x, self.device);
        let y = Tensor::from_slice(self.targets.as_standard_layout().as_slice().unwrap())
            .view([n as i64, -1])
            .to_device(self.device);
        let features = match self.how {
            AccuracyEstimate::Head => Some(self.features(&x)?),
            _ => None,
        };
        let (mut correct, mut total) = (0f64, 0f64);
        // The progress started by the adaptation goes on over the folds.
        self.progress.set_message("cross-validating");
        for f in 0..folds {
            let pick = |keep: bool| {
                let idx: Vec<i64> = (0..n)
                    .filter(|&i| (fold_of[i] == f) != keep)
                    .map(|i| i as i64)
                    .collect();
                Tensor::from_slice(&idx).to_device(self.device)
            };
            let (kept, held) = (pick(true), pick(false));
            let (yk, yh) = (y.index_select(0, &kept), y.index_select(0, &held));
            let acc = match &features {
                Some(feat) => self.head_fold(feat, &kept, &held, &yk, &yh),
                None => self.full_fold(&x, &kept, &held, &yk, &yh)?,
            };
            if acc.is_finite() {
                let weight = held.size()[0] as f64;
                correct += acc * weight;
                total += weight;
            }
            self.progress.inc(1);
        }
        self.progress.finish_and_clear();
        let acc = if total > 0.0 {
            correct / total
        } else {
            f64::NAN
        };
        Ok((acc, folds, baseline))
    }

    /// Features below the last layer for every shot, with batch-norm statistics
    /// from all shots and the unlabelled windows.
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        let fixed = self
            .params
            .with_trainable(self.params.trainable().iter().map(|t| t.detach()).collect());
        let frozen = estimate_bn_stats(&fixed, &bn_batches(x, &self.unlabelled, self.device))?;
        Ok(tch::no_grad(|| head_input(&frozen, x, BnMode::Frozen)))
    }

    /// The inner loop on the last layer alone.
    fn head_fold(
        &self,
        feat: &Tensor,
        kept: &Tensor,
        held: &Tensor,
        yk: &Tensor,
        yh: &Tensor,
    ) -> f64 {
        let (fk, fh) = (feat.index_select(0, kept), feat.index_select(0, held));
        let (weight, bias) = (self.params.get(HEAD_WEIGHT), self.params.get(HEAD_BIAS));
        // The fold's head starts as the delivered model's did: from the prototypes
        // of the fold's own shots when asked for.
        let (weight, bias) = if self.settings.prototype_head {
            tch::no_grad(|| prototype_rows(&fk, yk, weight, bias))
        } else {
            (weight.detach().copy(), bias.detach().copy())
        };
        let mut head = vec![weight.set_requires_grad(true), bias.set_requires_grad(true)];
        for _ in 0..self.settings.steps {
            let loss = cross_entropy(&head_logits(&fk, &head[0], &head[1]), yk);
            head = gradient_step(&loss, &head, self.settings.lr, false)
                .into_iter()
                .map(|t| t.detach().set_requires_grad(true))
                .collect();
        }
        tch::no_grad(|| accuracy(&head_logits(&fh, &head[0], &head[1]), yh))
    }

    /// The whole adaptation on the fold's shots, batch-norm statistics frozen as
    /// for the delivered model.
    fn full_fold(
        &self,
        x: &Tensor,
        kept: &Tensor,
        held: &Tensor,
        yk: &Tensor,
        yh: &Tensor,
    ) -> Result<f64> {
        let (xk, xh) = (x.index_select(0, kept), x.index_select(0, held));
        // Per-pixel models adapt with the unlabelled windows in the batch, as the
        // delivered model did.
        let per_pixel = self.params.spec().is_segmentation();
        let (xi, yi) = with_unlabelled(&xk, yk, &self.unlabelled, per_pixel, self.device);
        let (fast, _) = inner_loop(&self.params, &xi, &yi, &self.settings, false);
        let fast = fast.with_trainable(fast.trainable().iter().map(|t| t.detach()).collect());
        let frozen = estimate_bn_stats(&fast, &bn_batches(&xk, &self.unlabelled, self.device))?;
        Ok(tch::no_grad(|| {
            accuracy(&forward(&frozen, &xh, BnMode::Frozen), yh)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::ModelSpec;
    use ndarray::{Array2, Array4};
    use tch::Kind;

    /// 12 shots of two classes; `informative`: class 1 is brighter in band 0,
    /// otherwise every image is the same and the labels say nothing.
    fn holdout(how: AccuracyEstimate, informative: bool) -> HoldOut {
        let spec = ModelSpec {
            width: 4,
            depth: 2,
            tile_size: 8,
            ..ModelSpec::paper_cnn(2, 2)
        };
        let n = 12;
        let class = |i: usize| (i % 2) as i64;
        let x = Array4::from_shape_fn((n, 2, 8, 8), |(i, b, r, c)| {
            let base = 0.1 * ((r + 2 * c + b) % 5) as f32;
            base + if informative && b == 0 {
                class(i) as f32
            } else {
                0.0
            }
        });
        HoldOut {
            how,
            params: Params::init(&spec, Device::Cpu, Kind::Float, 4).unwrap(),
            shots: Shots {
                x,
                class_ids: (0..n).map(|i| class(i) as u16 + 1).collect(),
                pixel_class_ids: Array2::zeros((n, 64)),
                fids: (0..n as u64).collect(),
                positions: (0..n as isize).map(|i| (10 * i, 0)).collect(),
                warnings: Vec::new(),
            },
            targets: Array2::from_shape_fn((n, 1), |(i, _)| class(i)),
            unlabelled: Array4::zeros((0, 2, 8, 8)),
            fold_of: crate::adapt::folds::spatial_folds(
                &(0..n as u64).collect::<Vec<_>>(),
                &(0..n as isize).map(|i| (10 * i, 0)).collect::<Vec<_>>(),
                MAX_FOLDS,
                (200, 20),
            ),
            settings: InnerSettings {
                lr: 0.5,
                steps: 20,
                first_order: true,
                bn_momentum: None,
                prototype_head: false,
            },
            device: Device::Cpu,
            progress: crate::progress::Progress::hidden(),
        }
    }

    #[test]
    fn both_estimates_see_separable_classes_and_uninformative_labels() {
        for how in [AccuracyEstimate::Head, AccuracyEstimate::Full] {
            let (acc, folds, baseline) = holdout(how, true).run().unwrap();
            assert_eq!(folds, MAX_FOLDS);
            assert!(acc >= 0.9, "{how:?} on separable classes: {acc}");
            assert_eq!(baseline, Some(1.0));
            let (acc, _, _) = holdout(how, false).run().unwrap();
            assert!(acc <= 0.6, "{how:?} on labels that say nothing: {acc}");
        }
    }
}

//! The inner loop: a few gradient steps of a model on a task's support set, giving
//! the "fast weights" (Finn et al. 2017, Algorithm 2, inner update; Russwurm et al.
//! 2020). Meta-training (`train`), adaptation to a scene (`adapt`) and few-shot
//! evaluation (`eval`) all adapt with it; only meta-training asks for the second-
//! order graph.

use crate::model::functional::forward;
use crate::model::layers::BnMode;
use crate::model::loss::cross_entropy;
use crate::model::params::Params;
use crate::model::prototype_head::with_prototype_head;
use tch::Tensor;

/// How the inner loop adapts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InnerSettings {
    /// Step size alpha.
    pub lr: f64,
    /// Gradient steps on the support set.
    pub steps: usize,
    /// Treat inner gradients as constants (first-order MAML).
    pub first_order: bool,
    /// Momentum for the running batch-norm statistics on the first support pass
    /// (`None`: leave them).
    pub bn_momentum: Option<f64>,
    /// Start the head's labelled rows from the support's class prototypes before
    /// the first step ([`crate::model::prototype_head`]); off: from the model's
    /// own head.
    pub prototype_head: bool,
}

impl InnerSettings {
    /// The weights the first step starts from: `params`, with the head from the
    /// prototypes of `(x, y)` when [`InnerSettings::prototype_head`] asks for it
    /// (functions of `params` when `differentiable`, else constants).
    fn start(&self, params: &Params, x: &Tensor, y: &Tensor, differentiable: bool) -> Params {
        if self.prototype_head {
            with_prototype_head(params, x, y, differentiable)
        } else {
            params.with_trainable(params.trainable())
        }
    }
}

/// Fast weights after `steps` gradient steps on `(x, y)`; with `create_graph` they
/// stay differentiable with respect to `params` to second order. Returns them with
/// the loss before the first step.
pub fn adapt(
    params: &Params,
    x: &Tensor,
    y: &Tensor,
    s: &InnerSettings,
    create_graph: bool,
) -> (Params, f64) {
    // Second order, the meta-gradient also flows through the prototypes; first
    // order (and every evaluation), they are constants, as in `adapt_tracked`.
    let mut fast = s.start(params, x, y, create_graph);
    let mut first_loss = f64::NAN;
    for step in 0..s.steps {
        let bn = match (step, s.bn_momentum) {
            (0, Some(momentum)) => BnMode::Track { momentum },
            _ => BnMode::Batch,
        };
        let loss = cross_entropy(&forward(&fast, x, bn), y);
        if step == 0 {
            first_loss = f64::try_from(&loss).unwrap_or(f64::NAN);
        }
        let weights = fast.trainable();
        fast = fast.with_trainable(gradient_step(&loss, &weights, s.lr, create_graph));
    }
    (fast, first_loss)
}

/// First-order inner loop that keeps the support loss before every step and
/// after the last one (`losses`, `steps + 1` values), and the fast weights with the
/// lowest of them. `adapt` reads it to notice a loss that rose (a step size too
/// large for the scene) and to deliver the best weights instead of the last.
pub struct Tracked {
    /// The fast weights after the last step.
    pub last: Params,
    /// The fast weights (detached) with the lowest support loss, and after how many
    /// steps they were reached (0: the weights before the first step, the prototype head
    /// included when the settings ask for it).
    pub best: (Params, usize),
    /// The support loss before each step, then after the last.
    pub losses: Vec<f64>,
}

/// [`adapt`] (first order) with the support loss tracked at every step: see
/// [`Tracked`].
pub fn adapt_tracked(
    params: &Params,
    x: &Tensor,
    y: &Tensor,
    s: &InnerSettings,
    progress: &crate::progress::Progress,
) -> Tracked {
    let detached =
        |p: &Params| p.with_trainable(p.trainable().iter().map(|t| t.detach()).collect());
    let mut fast = s.start(params, x, y, false);
    let mut losses = Vec::with_capacity(s.steps + 1);
    let mut best: Option<(Params, usize, f64)> = None;
    // A NaN loss is never the best; any finite loss beats one.
    let keep = |fast: &Params, step: usize, loss: f64, best: &mut Option<(Params, usize, f64)>| {
        if best
            .as_ref()
            .is_none_or(|(_, _, b)| loss < *b || (b.is_nan() && !loss.is_nan()))
        {
            *best = Some((detached(fast), step, loss));
        }
    };
    for step in 0..s.steps {
        let bn = match (step, s.bn_momentum) {
            (0, Some(momentum)) => BnMode::Track { momentum },
            _ => BnMode::Batch,
        };
        let loss = cross_entropy(&forward(&fast, x, bn), y);
        let value = f64::try_from(&loss).unwrap_or(f64::NAN);
        losses.push(value);
        keep(&fast, step, value, &mut best);
        let weights = fast.trainable();
        fast = fast.with_trainable(gradient_step(&loss, &weights, s.lr, false));
        progress.inc(1);
    }
    let last = tch::no_grad(|| {
        f64::try_from(cross_entropy(&forward(&fast, x, BnMode::Batch), y)).unwrap_or(f64::NAN)
    });
    losses.push(last);
    keep(&fast, s.steps, last, &mut best);
    let (best_params, best_step) = match best {
        Some((p, step, _)) => (p, step),
        None => (detached(&fast), s.steps),
    };
    Tracked {
        last: fast,
        best: (best_params, best_step),
        losses,
    }
}

/// One inner step `w - lr * d loss / d w` for every tensor of `weights`; with
/// `create_graph` the step stays differentiable (second order), else the gradient
/// counts as a constant (first order).
pub(crate) fn gradient_step(
    loss: &Tensor,
    weights: &[Tensor],
    lr: f64,
    create_graph: bool,
) -> Vec<Tensor> {
    let grads = Tensor::run_backward(&[loss], weights, create_graph, create_graph);
    weights
        .iter()
        .zip(grads)
        .map(|(w, g)| {
            if create_graph {
                w - g * lr
            } else {
                w - g.detach() * lr
            }
        })
        .collect()
}

//! The support gradient and the query loss along it; adapted weights as deltas for the PCA.

use crate::error::Result;
use crate::eval::few_shot::{step, EvalModel};
use crate::model::functional::forward;
use crate::model::layers::BnMode;
use crate::model::loss::{accuracy, cross_entropy};
use crate::model::params::Params;
use crate::model::task_tensors::TaskTensors;
use crate::tasks::TaskBatch;
use tch::{Device, Kind, Tensor};

/// Step sizes along the support gradient: 0, 0.05, ..., 1.
pub fn alphas() -> Vec<f64> {
    (0..=20).map(|i| i as f64 / 20.0).collect()
}

/// Gradient of the support loss (as adaptation computes it) at `params`.
pub fn support_gradient(params: &Params, t: &TaskTensors) -> Vec<Tensor> {
    let weights: Vec<Tensor> = params
        .trainable()
        .iter()
        .map(|w| w.detach().set_requires_grad(true))
        .collect();
    let p = params.with_trainable(weights.iter().map(Tensor::shallow_clone).collect());
    let loss = cross_entropy(&forward(&p, &t.support_x, BnMode::Batch), &t.support_y);
    Tensor::run_backward(&[&loss], &weights, false, false)
}

/// What scoring a task needs besides the weights: its tensors, the outputs of its
/// classes and the task-local query labels.
struct Scorer {
    t: TaskTensors,
    columns: Tensor,
    local_y: Tensor,
}

impl Scorer {
    fn new(model: &EvalModel, batch: &TaskBatch) -> Result<Self> {
        let device = model.params.device();
        let cols = model.columns(&batch.classes)?;
        let q = &batch.query_y;
        let local: Vec<i64> = q.iter().copied().collect();
        Ok(Scorer {
            t: model.tensors(batch)?,
            columns: Tensor::from_slice(&cols).to_device(device),
            local_y: Tensor::from_slice(&local)
                .reshape([q.nrows() as i64, q.ncols() as i64])
                .to_device(device),
        })
    }

    /// (support loss, query loss, query accuracy) of `p`.
    fn score(&self, p: &Params) -> (f64, f64, f64) {
        tch::no_grad(|| {
            let support = cross_entropy(
                &forward(p, &self.t.support_x, BnMode::Batch),
                &self.t.support_y,
            );
            let logits = forward(p, &self.t.query_x, BnMode::Batch).index_select(1, &self.columns);
            let query = cross_entropy(&logits, &self.local_y);
            (
                f64::try_from(&support).unwrap_or(f64::NAN),
                f64::try_from(&query).unwrap_or(f64::NAN),
                accuracy(&logits, &self.local_y),
            )
        })
    }
}

/// Scores `model` on one task at theta - alpha g for each of `alphas` (g: the
/// support gradient at its start weights theta).
pub fn gradient_path(
    model: &EvalModel,
    batch: &TaskBatch,
    alphas: &[f64],
) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let scorer = Scorer::new(model, batch)?;
    let grads = support_gradient(&model.params, &scorer.t);
    let start = model.params.trainable();
    let (mut support, mut query, mut acc) = (vec![], vec![], vec![]);
    for &alpha in alphas {
        let moved = tch::no_grad(|| {
            start
                .iter()
                .zip(&grads)
                .map(|(w, g)| w.detach() - g * alpha)
                .collect()
        });
        let (s, q, a) = scorer.score(&model.params.with_trainable(moved));
        support.push(s);
        query.push(q);
        acc.push(a);
    }
    Ok((support, query, acc))
}

/// The adapted trainable weights minus the start weights, flattened into one f32
/// vector on the host: `steps` gradient steps of size `lr` on the task's support set.
pub fn adapted_delta(
    model: &EvalModel,
    batch: &TaskBatch,
    lr: f64,
    steps: usize,
) -> Result<Tensor> {
    let t = model.tensors(batch)?;
    let mut current: Option<Params> = None;
    for _ in 0..steps {
        current = Some(step(current.as_ref().unwrap_or(&model.params), &t, lr));
    }
    let adapted = current.as_ref().unwrap_or(&model.params).trainable();
    Ok(tch::no_grad(|| {
        let parts: Vec<Tensor> = adapted
            .iter()
            .zip(model.params.trainable())
            .map(|(a, s)| (a.detach() - s.detach()).reshape([-1]))
            .collect();
        Tensor::cat(&parts, 0)
            .to_kind(Kind::Float)
            .to_device(Device::Cpu)
    }))
}

/// The task with its classes in id order and labels renumbered to match. Task-local
/// labels follow the draw's class order, so without this two tasks with the same
/// classes would train different outputs and MAML's adapted weights would spread by
/// class order rather than by region; legend-labelled models are unaffected.
pub fn in_class_order(batch: &TaskBatch) -> TaskBatch {
    let mut sorted = batch.classes.clone();
    sorted.sort_unstable();
    let rank: Vec<i64> = batch
        .classes
        .iter()
        .map(|c| sorted.iter().position(|s| s == c).unwrap_or(0) as i64)
        .collect();
    let relabel = |y: &ndarray::Array2<i64>| {
        y.mapv(|v| {
            usize::try_from(v)
                .ok()
                .and_then(|i| rank.get(i))
                .copied()
                .unwrap_or(v)
        })
    };
    TaskBatch {
        support_x: batch.support_x.clone(),
        support_y: relabel(&batch.support_y),
        query_x: batch.query_x.clone(),
        query_y: relabel(&batch.query_y),
        classes: sorted,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{batch, model};
    use super::*;
    use crate::eval::few_shot::Labelling;

    #[test]
    fn the_path_starts_at_the_unadapted_losses_and_its_first_step_is_adaptation() {
        for labelling in [Labelling::Legend, Labelling::TaskLocal] {
            let m = model(labelling);
            let b = batch(0.0);
            let (support, query, acc) = gradient_path(&m, &b, &[0.0, 0.01, 0.5]).unwrap();
            // alpha = 0: the unadapted model, scored over the task's outputs only.
            let t = m.tensors(&b).unwrap();
            let cols = Tensor::from_slice(&m.columns(&b.classes).unwrap());
            let logits = forward(&m.params, &t.query_x, BnMode::Batch).index_select(1, &cols);
            let y = Tensor::from_slice(&[0i64, 0, 1, 1]).reshape([4, 1]);
            let unadapted = f64::try_from(cross_entropy(&logits, &y)).unwrap();
            assert!((query[0] - unadapted).abs() < 1e-6, "{query:?} {unadapted}");
            assert_eq!(acc[0], accuracy(&logits, &y));
            let s0 = f64::try_from(cross_entropy(
                &forward(&m.params, &t.support_x, BnMode::Batch),
                &t.support_y,
            ))
            .unwrap();
            assert!((support[0] - s0).abs() < 1e-6);
            // A small step against the support gradient lowers the support loss.
            assert!(support[1] < support[0], "{support:?}");
            // theta - 0.5 g is one adaptation step of size 0.5.
            let stepped = step(&m.params, &t, 0.5);
            let scorer = Scorer::new(&m, &b).unwrap();
            let (s, q, a) = scorer.score(&stepped);
            assert!((support[2] - s).abs() < 1e-5 && (query[2] - q).abs() < 1e-5);
            assert_eq!(acc[2], a);
        }
    }

    #[test]
    fn class_order_relabels_consistently() {
        let b = batch(0.0);
        let c = in_class_order(&b);
        assert_eq!(c.classes, vec![1, 4]);
        // Class 4 was label 0 and is now label 1, and the other way round.
        assert_eq!(
            c.support_y.iter().copied().collect::<Vec<_>>(),
            [1, 1, 1, 0, 0, 0]
        );
        assert_eq!(c.query_y.iter().copied().collect::<Vec<_>>(), [1, 1, 0, 0]);
        // Legend labelling: the same tensors either way, so the same adaptation.
        let m = model(Labelling::Legend);
        let (a, b2) = (m.tensors(&b).unwrap(), m.tensors(&c).unwrap());
        assert!(a.support_y.equal(&b2.support_y) && a.query_y.equal(&b2.query_y));
        let mut ignored = b.clone();
        ignored.query_y[[0, 0]] = crate::tasks::IGNORE_INDEX;
        assert_eq!(
            in_class_order(&ignored).query_y[[0, 0]],
            crate::tasks::IGNORE_INDEX
        );
    }
}

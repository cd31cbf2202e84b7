//! The pretraining baseline: regular training on the meta-training tasks.
//!
//! Russwurm et al. 2020 compare MAML with a network trained by plain gradient
//! descent on the same data: each 4-way 2-shot task with its 2 query tiles per
//! class becomes one batch of 16 (support and query merged), labelled with the
//! legend's fixed class indices, so the model can also be used without adaptation
//! (the paper's 0-shot column). Batch norm normalises with batch statistics and
//! tracks running statistics, as in ordinary training.

use crate::model::functional::forward;
use crate::model::layers::BnMode;
use crate::model::loss::{accuracy, cross_entropy};
use crate::model::params::Params;
use crate::model::task_tensors::TaskTensors;
use crate::train::maml::TaskStats;
use tch::Tensor;

/// Loss of a task's merged batches, weighted by their sizes, with its statistics.
fn merged_loss(params: &Params, task: &TaskTensors, bn: BnMode<'_>) -> (Tensor, TaskStats) {
    let batches = task.merged();
    let total: i64 = batches.iter().map(|(x, _)| x.size()[0]).sum();
    let mut loss: Option<Tensor> = None;
    let mut acc = 0.0;
    for (x, y) in &batches {
        let w = x.size()[0] as f64 / total as f64;
        let logits = forward(params, x, bn);
        let l = cross_entropy(&logits, y) * w;
        acc += accuracy(&logits, y) * w;
        loss = Some(match loss {
            None => l,
            Some(sum) => sum + l,
        });
    }
    let loss = loss.expect("a task has at least one batch");
    let value = f64::try_from(&loss).unwrap_or(f64::NAN);
    let stats = TaskStats {
        support_loss: value,
        query_loss: value,
        query_acc: acc,
    };
    (loss, stats)
}

/// Gradient of the loss on one merged task batch, with its loss and accuracy
/// (reported as query loss/accuracy in [`TaskStats`]).
pub fn pretrain_gradient(
    params: &Params,
    task: &TaskTensors,
    bn_momentum: Option<f64>,
) -> (Vec<Tensor>, TaskStats) {
    let bn = bn_momentum.map_or(BnMode::Batch, |momentum| BnMode::Track { momentum });
    let (loss, stats) = merged_loss(params, task, bn);
    let grads = Tensor::run_backward(&[&loss], &params.trainable(), false, false);
    (grads, stats)
}

/// Loss and accuracy without adaptation on merged task batches (pretraining's
/// validation, with batch statistics as in training).
pub fn evaluate_merged(params: &Params, tasks: &[TaskTensors]) -> TaskStats {
    let mut stats = TaskStats::default();
    let n = tasks.len() as f64;
    tch::no_grad(|| {
        for task in tasks {
            let (_, s) = merged_loss(params, task, BnMode::Batch);
            stats.support_loss += s.support_loss / n;
            stats.query_loss += s.query_loss / n;
            stats.query_acc += s.query_acc / n;
        }
    });
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::ModelSpec;
    use crate::train::optim::Adam;
    use tch::{Device, Kind};

    #[test]
    fn a_few_steps_fit_one_batch() {
        tch::manual_seed(0);
        let spec = ModelSpec {
            width: 8,
            depth: 2,
            tile_size: 8,
            ..ModelSpec::paper_cnn(3, 4)
        };
        let params = Params::init(&spec, Device::Cpu, Kind::Float, 0).unwrap();
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]).view([4, 1]);
        let task = TaskTensors {
            support_x: Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu)),
            support_y: y.copy(),
            query_x: Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu)),
            query_y: y,
        };
        let mut adam = Adam::new(&params.trainable(), 1e-2);
        let (_, first) = pretrain_gradient(&params, &task, Some(0.1));
        for _ in 0..30 {
            let (g, _) = pretrain_gradient(&params, &task, Some(0.1));
            adam.step(&params.trainable(), &g);
        }
        let last = evaluate_merged(&params, std::slice::from_ref(&task));
        assert!(
            last.query_loss < first.query_loss * 0.5,
            "{first:?} -> {last:?}"
        );
    }
}

//! Adaptation trajectories of many tasks in one pass: the batched form of
//! [`trajectory`](super::trajectory) that the grid search and the query scoring run.
//!
//! Tasks whose tensors share their shapes are stacked (up to `group` at a time) and
//! adapted together through [`forward_stacked`]: grouped convolutions, per-task batch
//! statistics, one backward pass per inner step. The gradient of the summed support
//! losses with respect to the stacked weights is each task's own gradient, so each
//! task follows the path [`trajectory`](super::trajectory) gives it, up to float
//! rounding (the order of additions differs). On a GPU one pass replaces `group`
//! rounds of small kernels. On a CPU it depends on the model (the demo's pixel
//! network evaluated 19 % faster in groups of 16, at 2.4 times the memory; the CNN's
//! grouped convolutions lose to a loop in training), so `group` 1, the CPU default,
//! runs [`trajectory`](super::trajectory) itself.

use super::{task_confusion, trajectory, EvalModel};
use crate::error::Result;
use crate::eval::metrics::ConfusionMatrix;
use crate::inner_loop::gradient_step;
use crate::model::stacked::{forward_stacked, Stacked, StackedBn};
use crate::model::task_tensors::TaskTensors;
use crate::tasks::TaskBatch;
use crate::train::batched::{shape_groups, stack, task_losses};
use ndarray::Axis;
use tch::{Device, Kind, Tensor};

/// [`trajectory`](super::trajectory) of `model` on every one of `batches` (same step
/// size `lr`, same ascending `checkpoints`), `group` tasks per stacked pass (0: all
/// tasks of a shape at once; 1: one task after the other). Returns one confusion
/// matrix per checkpoint per task, in `batches` order; `tick` is called once per
/// task when its trajectory is scored.
pub fn trajectories(
    model: &EvalModel,
    batches: &[TaskBatch],
    lr: f64,
    checkpoints: &[usize],
    group: usize,
    tick: &dyn Fn(),
) -> Result<Vec<Vec<ConfusionMatrix>>> {
    if group == 1 {
        return batches
            .iter()
            .map(|b| {
                let out = trajectory(model, b, lr, checkpoints);
                tick();
                out
            })
            .collect();
    }
    let tensors: Vec<TaskTensors> = batches
        .iter()
        .map(|b| model.tensors(b))
        .collect::<Result<_>>()?;
    let mut out: Vec<Option<Vec<ConfusionMatrix>>> = vec![None; batches.len()];
    for members in shape_groups(&tensors, group) {
        let scored = group_trajectories(model, batches, &tensors, &members, lr, checkpoints)?;
        for (i, matrices) in members.into_iter().zip(scored) {
            out[i] = Some(matrices);
            tick();
        }
    }
    Ok(out
        .into_iter()
        .map(|m| m.expect("every task is in one shape group"))
        .collect())
}

/// The trajectories of the tasks `members` (equal shapes), stacked.
fn group_trajectories(
    model: &EvalModel,
    batches: &[TaskBatch],
    tensors: &[TaskTensors],
    members: &[usize],
    lr: f64,
    checkpoints: &[usize],
) -> Result<Vec<Vec<ConfusionMatrix>>> {
    let device = model.params.device();
    let t = members.len() as i64;
    let chunk: Vec<&TaskTensors> = members.iter().map(|&i| &tensors[i]).collect();
    let (sx, sy, qx) = (
        stack(&chunk, |t| &t.support_x),
        stack(&chunk, |t| &t.support_y),
        stack(&chunk, |t| &t.query_x),
    );
    let mut columns = Vec::with_capacity(members.len());
    for &i in members {
        columns.push(Tensor::from_slice(&model.columns(&batches[i].classes)?).to_device(device));
    }
    let has_support = batches[members[0]].support_x.len_of(Axis(0)) > 0;
    let mut weights: Vec<Tensor> = Stacked::repeat(&model.params, t)
        .weights()
        .iter()
        .map(Tensor::detach)
        .collect();
    let mut out = vec![Vec::with_capacity(checkpoints.len()); members.len()];
    let mut done = 0;
    for &c in checkpoints {
        while done < c && has_support {
            // From a detached copy, as `step` does: no graph kept across steps.
            let start: Vec<Tensor> = weights
                .iter()
                .map(|w| w.detach().set_requires_grad(true))
                .collect();
            let fast = Stacked::new(&model.params, start, t);
            let losses = task_losses(&forward_stacked(&fast, &sx, StackedBn::Batch), &sy);
            weights = gradient_step(&losses.sum(None::<Kind>), fast.weights(), lr, false)
                .iter()
                .map(Tensor::detach)
                .collect();
            done += 1;
        }
        let logits = tch::no_grad(|| {
            let fast = Stacked::new(
                &model.params,
                weights.iter().map(Tensor::shallow_clone).collect(),
                t,
            );
            forward_stacked(&fast, &qx, StackedBn::Batch)
        });
        for (j, &i) in members.iter().enumerate() {
            let pred = logits
                .get(j as i64)
                .index_select(1, &columns[j])
                .argmax(1, false);
            let pred =
                Vec::<i64>::try_from(pred.reshape([-1]).to_device(Device::Cpu)).unwrap_or_default();
            let reference: Vec<i64> = batches[i].query_y.iter().copied().collect();
            out[j].push(task_confusion(&reference, &pred, batches[i].classes.len()));
        }
    }
    Ok(out)
}

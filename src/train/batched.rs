//! The MAML meta-step for a whole meta-batch at once.
//!
//! [`maml::meta_gradient`](super::maml::meta_gradient) adapts one task after the
//! other: per layer and task one small kernel, so a GPU idles between launches.
//! Here the tasks of a meta-batch that share their shapes form groups; each group
//! adapts in one [`forward_stacked`] pass per inner step (grouped convolutions,
//! per-task batch norm, one batched matmul for the heads), and its query loss is
//! differentiated once. The mathematics is unchanged: the inner loss of a group is
//! the sum of its tasks' losses, whose gradient with respect to the stacked fast
//! weights is each task's own gradient, and the meta-loss is the mean query loss.
//! Statistics stay on the device until the step ends (no host round-trip inside).
//! Groups of at most `group` tasks bound memory: a group's graph is alive at once.

use crate::inner_loop::{gradient_step, InnerSettings};
use crate::model::params::Params;
use crate::model::stacked::{forward_stacked, Stacked, StackedBn};
use crate::model::task_tensors::TaskTensors;
use crate::tasks::IGNORE_INDEX;
use crate::train::maml::TaskStats;
use tch::{Kind, Reduction, Tensor};

/// Indices of `tasks` grouped by identical tensor shapes (first-appearance order),
/// each group cut into pieces of at most `group` tasks (0: no limit).
pub fn shape_groups(tasks: &[TaskTensors], group: usize) -> Vec<Vec<usize>> {
    let key =
        |t: &TaskTensors| [&t.support_x, &t.support_y, &t.query_x, &t.query_y].map(|x| x.size());
    let mut groups: Vec<(_, Vec<usize>)> = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        let k = key(t);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, members)) => members.push(i),
            None => groups.push((k, vec![i])),
        }
    }
    let limit = if group == 0 { usize::MAX } else { group };
    groups
        .into_iter()
        .flat_map(|(_, members)| {
            members
                .chunks(limit)
                .map(<[usize]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Each task's mean cross-entropy over its labelled examples: logits
/// `[T, n, classes(, h, w)]`, labels `[T, n, 1 | h*w]` -> `[T]`.
pub(crate) fn task_losses(logits: &Tensor, y: &Tensor) -> Tensor {
    let (flat, labels) = flatten(logits, y);
    let t = logits.size()[0];
    let ce = flat.cross_entropy_loss(&labels, None::<Tensor>, Reduction::None, IGNORE_INDEX, 0.0);
    // At least 1: a task with nothing labelled has loss 0, not 0/0 (see
    // `model::loss::cross_entropy`).
    let counted = labels
        .ne(IGNORE_INDEX)
        .view([t, -1])
        .sum_dim_intlist(1, false, ce.kind())
        .clamp_min(1.0);
    ce.view([t, -1]).sum_dim_intlist(1, false, None::<Kind>) / counted
}

/// Each task's fraction of labelled examples predicted right -> `[T]`.
fn task_accuracy(logits: &Tensor, y: &Tensor) -> Tensor {
    let (flat, labels) = flatten(&logits.detach(), y);
    let t = logits.size()[0];
    let labelled = labels.ne(IGNORE_INDEX);
    let right = flat
        .argmax(1, false)
        .eq_tensor(&labels)
        .logical_and(&labelled);
    right.view([t, -1]).sum_dim_intlist(1, false, Kind::Double)
        / labelled
            .view([t, -1])
            .sum_dim_intlist(1, false, Kind::Double)
}

/// `[T, n, c(, h, w)]` -> `[T*n, c(, h, w)]` with labels `[T*n(, h, w)]`.
fn flatten(logits: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
    let s = logits.size();
    let mut flat_shape = vec![s[0] * s[1]];
    flat_shape.extend_from_slice(&s[2..]);
    let mut label_shape = vec![s[0] * s[1]];
    label_shape.extend_from_slice(&s[3..]);
    (
        logits.reshape(flat_shape.as_slice()),
        y.reshape(label_shape.as_slice()),
    )
}

/// One of each task's tensors (`f`), stacked along a new leading task axis.
pub(crate) fn stack(tasks: &[&TaskTensors], f: fn(&TaskTensors) -> &Tensor) -> Tensor {
    Tensor::stack(&tasks.iter().map(|t| f(t)).collect::<Vec<_>>(), 0)
}

/// The meta-gradient of [`maml::meta_gradient`](super::maml::meta_gradient)
/// (same value, same statistics) computed group by group: see the module doc.
/// Running batch-norm statistics move as in the per-task path when the groups keep
/// the tasks in order (one group, or shapes that do not interleave).
pub fn meta_gradient_batched(
    params: &Params,
    tasks: &[TaskTensors],
    s: &InnerSettings,
    group: usize,
) -> (Vec<Tensor>, TaskStats) {
    assert!(
        !s.prototype_head,
        "the batched meta-step has no prototype start (TrainConfig::validate refuses it)"
    );
    let theta = params.trainable();
    let n = tasks.len() as f64;
    let create_graph = !s.first_order;
    let mut total: Option<Vec<Tensor>> = None;
    let mut sums: Option<[Tensor; 3]> = None;
    for members in shape_groups(tasks, group) {
        let chunk: Vec<&TaskTensors> = members.iter().map(|&i| &tasks[i]).collect();
        let t = chunk.len() as i64;
        let (sx, sy) = (
            stack(&chunk, |t| &t.support_x),
            stack(&chunk, |t| &t.support_y),
        );
        let (qx, qy) = (stack(&chunk, |t| &t.query_x), stack(&chunk, |t| &t.query_y));
        let mut fast = Stacked::repeat(params, t);
        let mut support = Tensor::full([t], f64::NAN, (Kind::Double, params.device()));
        for step in 0..s.steps {
            let bn = match (step, s.bn_momentum) {
                (0, Some(momentum)) => StackedBn::Track(momentum),
                _ => StackedBn::Batch,
            };
            let losses = task_losses(&forward_stacked(&fast, &sx, bn), &sy);
            if step == 0 {
                support = losses.detach().to_kind(Kind::Double);
            }
            // The sum's gradient with respect to the stacked weights is each task's own.
            let next = gradient_step(
                &losses.sum(None::<Kind>),
                fast.weights(),
                s.lr,
                create_graph,
            );
            fast = fast.with_weights(next);
        }
        let logits = forward_stacked(&fast, &qx, StackedBn::Batch);
        let query = task_losses(&logits, &qy);
        let acc = task_accuracy(&logits, &qy);
        let grads = Tensor::run_backward(&[query.sum(None::<Kind>) / n], &theta, false, false);
        total = Some(match total {
            None => grads,
            Some(acc) => acc.iter().zip(&grads).map(|(a, g)| a + g).collect(),
        });
        let part =
            [support, query.detach().to_kind(Kind::Double), acc].map(|v| v.sum(Kind::Double));
        sums = Some(match sums {
            None => part,
            Some(prev) => {
                let [a, b, c] = prev;
                let [x, y, z] = part;
                [a + x, b + y, c + z]
            }
        });
    }
    let stats = match sums {
        Some([support, query, acc]) => {
            // One transfer for all three numbers, after the last kernel.
            let host: Vec<f64> =
                Vec::try_from(Tensor::stack(&[support, query, acc], 0).to_device(tch::Device::Cpu))
                    .unwrap_or_else(|_| vec![f64::NAN; 3]);
            TaskStats {
                support_loss: host[0] / n,
                query_loss: host[1] / n,
                query_acc: host[2] / n,
            }
        }
        None => TaskStats::default(),
    };
    (total.unwrap_or_default(), stats)
}

/// Opt-in (19 s on 2 cores): how far single precision takes either path from the
/// double-precision meta-gradient at the paper's size (CNN, 15 bands, 128 px, 4-way
/// 2-shot, second order). `cargo test --release --lib paper_size -- --ignored
/// --nocapture` prints the relative error per tensor.
#[cfg(test)]
mod paper_size_precision;
#[cfg(test)]
mod tests;

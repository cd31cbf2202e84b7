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
fn task_losses(logits: &Tensor, y: &Tensor) -> Tensor {
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

fn stack(tasks: &[&TaskTensors], f: fn(&TaskTensors) -> &Tensor) -> Tensor {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::ModelSpec;
    use crate::train::maml::meta_gradient;
    use tch::Device;

    fn task(labels: &[i64], query: &[i64], bands: i64, size: i64, per_pixel: bool) -> TaskTensors {
        let opts = (Kind::Double, Device::Cpu);
        let y = |l: &[i64]| {
            let t = Tensor::from_slice(l).view([-1, 1]);
            if per_pixel {
                // Per-pixel labels: the tile's class, with one unlabelled pixel.
                let px = t.repeat([1, size * size]);
                let _ = px.get(0).get(0).fill_(IGNORE_INDEX);
                px
            } else {
                t
            }
        };
        TaskTensors {
            support_x: Tensor::randn([labels.len() as i64, bands, size, size], opts),
            support_y: y(labels),
            query_x: Tensor::randn([query.len() as i64, bands, size, size], opts),
            query_y: y(query),
        }
    }

    /// Tasks with uneven class counts, two shapes (so two groups), labels in
    /// different orders.
    fn tasks(bands: i64, size: i64, per_pixel: bool) -> Vec<TaskTensors> {
        vec![
            task(&[0, 0, 0, 1, 2, 2], &[0, 1, 2, 2], bands, size, per_pixel),
            task(&[2, 1, 1, 1, 0], &[1, 0, 2], bands, size, per_pixel),
            task(&[1, 2, 0, 0, 0, 2], &[2, 0, 1, 1], bands, size, per_pixel),
            task(&[0, 1, 2, 2, 2], &[0, 0, 2], bands, size, per_pixel),
        ]
    }

    /// `|a - b| / |b|`; absolute where `b` is zero up to rounding (the conv biases
    /// before batch norm), so rounding noise is not compared with itself.
    fn relative_error(a: &Tensor, b: &Tensor) -> f64 {
        let diff = (a - b).norm().double_value(&[]);
        let scale = b.norm().double_value(&[]);
        if scale < 1e-12 {
            diff
        } else {
            diff / scale
        }
    }

    fn check(spec: ModelSpec, per_pixel: bool) {
        tch::manual_seed(3);
        let size = spec.tile_size as i64;
        let params = Params::init(&spec, Device::Cpu, Kind::Double, 9).unwrap();
        let tasks = tasks(spec.in_channels as i64, size, per_pixel);
        for first_order in [false, true] {
            for steps in [1, 3] {
                let s = InnerSettings {
                    lr: 0.3,
                    steps,
                    first_order,
                    bn_momentum: None,
                };
                let (reference, ref_stats) = meta_gradient(&params, &tasks, &s);
                for group in [0, 1, 2] {
                    let (batched, stats) = meta_gradient_batched(&params, &tasks, &s, group);
                    let what = format!("first order {first_order}, {steps} steps, group {group}");
                    for ((name, a), b) in params
                        .trainable_names()
                        .iter()
                        .zip(&batched)
                        .zip(&reference)
                    {
                        let err = relative_error(a, b);
                        assert!(err <= 1e-5, "{what}: {name} relative error {err}");
                        if name.ends_with("conv.bias")
                            || name.contains(".conv1.bias")
                            || name.contains(".conv2.bias")
                        {
                            let max = a.abs().max().double_value(&[]);
                            assert!(
                                max < 1e-10,
                                "{what}: {name} should get no gradient, has {max}"
                            );
                        }
                    }
                    assert!(
                        (stats.query_loss - ref_stats.query_loss).abs() < 1e-10,
                        "{what}"
                    );
                    assert!(
                        (stats.support_loss - ref_stats.support_loss).abs() < 1e-10,
                        "{what}"
                    );
                    assert!(
                        (stats.query_acc - ref_stats.query_acc).abs() < 1e-10,
                        "{what}"
                    );
                }
            }
        }
    }

    #[test]
    fn batched_cnn_meta_gradient_equals_the_per_task_one() {
        check(
            ModelSpec {
                width: 4,
                depth: 2,
                tile_size: 8,
                ..ModelSpec::paper_cnn(3, 3)
            },
            false,
        );
    }

    #[test]
    fn batched_unet_meta_gradient_equals_the_per_task_one() {
        check(
            ModelSpec {
                width: 2,
                depth: 1,
                ..ModelSpec::default_unet(2, 3, 4)
            },
            true,
        );
    }

    #[test]
    fn single_precision_gradients_agree_to_rounding() {
        let spec = ModelSpec {
            width: 8,
            depth: 3,
            tile_size: 8,
            ..ModelSpec::paper_cnn(3, 3)
        };
        tch::manual_seed(6);
        let params = Params::init(&spec, Device::Cpu, Kind::Float, 2).unwrap();
        let tasks: Vec<TaskTensors> = tasks(3, 8, false)
            .into_iter()
            .map(|t| TaskTensors {
                support_x: t.support_x.to_kind(Kind::Float),
                query_x: t.query_x.to_kind(Kind::Float),
                ..t
            })
            .collect();
        let s = InnerSettings {
            lr: 0.4,
            steps: 2,
            first_order: false,
            bn_momentum: None,
        };
        let (reference, _) = meta_gradient(&params, &tasks, &s);
        let (batched, _) = meta_gradient_batched(&params, &tasks, &s, 0);
        for ((name, a), b) in params
            .trainable_names()
            .iter()
            .zip(&batched)
            .zip(&reference)
        {
            if name.ends_with("conv.bias") {
                continue;
            }
            let err = relative_error(a, b);
            assert!(err <= 1e-4, "{name}: relative error {err}");
        }
    }

    #[test]
    fn groups_follow_shapes_and_the_size_limit() {
        let t = tasks(1, 2, false);
        assert_eq!(shape_groups(&t, 0), vec![vec![0, 2], vec![1, 3]]);
        assert_eq!(
            shape_groups(&t, 1),
            vec![vec![0], vec![2], vec![1], vec![3]]
        );
    }

    #[test]
    fn batched_step_moves_running_statistics_like_the_per_task_one() {
        let spec = ModelSpec {
            width: 4,
            depth: 2,
            tile_size: 8,
            ..ModelSpec::paper_cnn(3, 3)
        };
        tch::manual_seed(4);
        let a = Params::init(&spec, Device::Cpu, Kind::Double, 9).unwrap();
        let b = Params::init(&spec, Device::Cpu, Kind::Double, 9).unwrap();
        let same: Vec<TaskTensors> = (0..3)
            .map(|_| task(&[0, 1, 2], &[0, 1, 2], 3, 8, false))
            .collect();
        let s = InnerSettings {
            lr: 0.3,
            steps: 2,
            first_order: false,
            bn_momentum: Some(0.2),
        };
        let _ = meta_gradient(&a, &same, &s);
        let _ = meta_gradient_batched(&b, &same, &s, 0);
        for name in a.names().iter().filter(|n| n.contains("running")) {
            let err = relative_error(b.get(name), a.get(name));
            assert!(err < 1e-10, "{name}: {err}");
        }
    }
}
/// Opt-in (19 s on 2 cores): how far single precision takes either path from the
/// double-precision meta-gradient at the paper's size (CNN, 15 bands, 128 px, 4-way
/// 2-shot, second order). `cargo test --release --lib paper_size -- --ignored
/// --nocapture` prints the relative error per tensor.
#[cfg(test)]
mod paper_size_precision {
    use super::*;
    use crate::model::spec::ModelSpec;
    use crate::train::maml::meta_gradient;
    use tch::Device;

    #[test]
    #[ignore]
    fn single_precision_batched_step_stays_near_the_double_precision_gradient() {
        tch::manual_seed(0);
        let spec = ModelSpec::paper_cnn(15, 10);
        let exact_params = Params::init(&spec, Device::Cpu, Kind::Double, 0).unwrap();
        let params = Params::init(&spec, Device::Cpu, Kind::Float, 0).unwrap();
        let labels = Tensor::from_slice(&[0i64, 0, 1, 1, 2, 2, 3, 3]).view([8, 1]);
        let images = || Tensor::randn([8, 15, 128, 128], (Kind::Double, Device::Cpu));
        let exact_tasks: Vec<TaskTensors> = (0..2)
            .map(|_| TaskTensors {
                support_x: images(),
                support_y: labels.copy(),
                query_x: images(),
                query_y: labels.copy(),
            })
            .collect();
        let tasks: Vec<TaskTensors> = exact_tasks
            .iter()
            .map(|t| TaskTensors {
                support_x: t.support_x.to_kind(Kind::Float),
                support_y: t.support_y.copy(),
                query_x: t.query_x.to_kind(Kind::Float),
                query_y: t.query_y.copy(),
            })
            .collect();
        let s = InnerSettings {
            lr: 0.4,
            steps: 1,
            first_order: false,
            bn_momentum: None,
        };
        let (exact, _) = meta_gradient(&exact_params, &exact_tasks, &s);
        let (per_task, _) = meta_gradient(&params, &tasks, &s);
        let (batched, _) = meta_gradient_batched(&params, &tasks, &s, 0);
        for (i, name) in params.trainable_names().iter().enumerate() {
            if name.ends_with("conv.bias") {
                continue;
            }
            let err = |g: &Tensor| {
                (g.to_kind(Kind::Double) - &exact[i])
                    .norm()
                    .double_value(&[])
                    / exact[i].norm().double_value(&[])
            };
            let (a, b) = (err(&per_task[i]), err(&batched[i]));
            println!("{name}: per-task {a:.2e}, batched {b:.2e}");
            assert!(b < 1e-2, "{name}: batched single precision is {b:.2e} off");
        }
    }
}

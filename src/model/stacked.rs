//! One forward pass for `T` models of the same spec at once: the batched form of
//! [`forward`](crate::model::functional::forward) that MAML's meta-batch needs.
//!
//! Every task of a meta-batch has its own fast weights, so the per-task loop runs
//! `T` small convolutions per layer. Here the tasks' weights are stacked along a
//! leading axis (`[T, out, in, k, k]`) and the activations of all tasks share one
//! tensor `[n, T*c, h, w]` (task-major channels), which turns each layer into one
//! kernel: convolutions and transposed convolutions become grouped ones
//! (`groups = T`), and batch norm over `[n, T*c, h, w]` already normalises each
//! task's channels with that task's own batch statistics, exactly as the per-task
//! pass does. The head gives `[T, n, classes]` (CNN) or `[T, n, classes, h, w]`
//! (U-Net). Every task must bring the same number of images `n`.

use crate::model::arch::Layers;
use crate::model::layers::{global_mean_pool, max_pool2};
use crate::model::params::Params;
use crate::model::spec::BN_EPS;
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// The trainable tensors of `T` models, each stacked along a new leading axis,
/// with the batch-norm buffers of the shared model they came from.
pub struct Stacked<'a> {
    base: &'a Params,
    index: HashMap<&'a str, usize>,
    weights: Vec<Tensor>,
    tasks: i64,
}

impl<'a> Stacked<'a> {
    /// `weights` in `base.trainable_names()` order, each `[tasks, ...shape]`.
    pub fn new(base: &'a Params, weights: Vec<Tensor>, tasks: i64) -> Self {
        let index = base
            .trainable_names()
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect();
        Stacked {
            base,
            index,
            weights,
            tasks,
        }
    }

    /// `tasks` copies of `base`'s trainable tensors (gradients flow back to `base`).
    pub fn repeat(base: &'a Params, tasks: i64) -> Self {
        let weights = base
            .trainable()
            .iter()
            .map(|w| {
                let mut reps = vec![1i64; w.dim() + 1];
                reps[0] = tasks;
                w.unsqueeze(0).repeat(reps.as_slice())
            })
            .collect();
        Self::new(base, weights, tasks)
    }

    /// The stacked tensors, in trainable order.
    pub fn weights(&self) -> &[Tensor] {
        &self.weights
    }

    /// Number of stacked models.
    pub fn tasks(&self) -> i64 {
        self.tasks
    }

    /// The same models with other stacked tensors (same order and shapes).
    pub fn with_weights(&self, weights: Vec<Tensor>) -> Stacked<'a> {
        Stacked {
            base: self.base,
            index: self.index.clone(),
            weights,
            tasks: self.tasks,
        }
    }

    fn w(&self, name: &str) -> &Tensor {
        let i = self
            .index
            .get(name)
            .unwrap_or_else(|| panic!("model has no trainable tensor {name}"));
        &self.weights[*i]
    }

    /// `[T, a, b, ...]` -> `[T*a, b, ...]`: the weight layout of a grouped kernel.
    fn grouped(&self, name: &str) -> Tensor {
        let w = self.w(name);
        let mut shape = w.size();
        let merged = shape[0] * shape[1];
        shape.drain(0..2);
        shape.insert(0, merged);
        w.reshape(shape.as_slice())
    }
}

/// How the stacked pass treats the shared running statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StackedBn {
    /// Batch statistics only (MAML's inner and outer loop).
    Batch,
    /// Batch statistics, and the running buffers move as if the `T` tasks had gone
    /// through [`BnMode::Track`](crate::model::layers::BnMode::Track) one after
    /// another in stack order, with this momentum.
    Track(f64),
}

/// `[T, n, c, h, w]` (each task's images) -> `[n, T*c, h, w]`.
pub fn interleave(x: &Tensor) -> Tensor {
    let s = x.size();
    x.transpose(0, 1).reshape([s[1], s[0] * s[2], s[3], s[4]])
}

fn conv(x: &Tensor, m: &Stacked<'_>, prefix: &str, padding: i64) -> Tensor {
    x.conv2d(
        &m.grouped(&format!("{prefix}.weight")),
        Some(m.w(&format!("{prefix}.bias")).reshape([-1])),
        [1, 1],
        [padding, padding],
        [1, 1],
        m.tasks,
    )
}

fn conv_transpose2x2(x: &Tensor, m: &Stacked<'_>, prefix: &str) -> Tensor {
    x.conv_transpose2d(
        &m.grouped(&format!("{prefix}.weight")),
        Some(m.w(&format!("{prefix}.bias")).reshape([-1])),
        [2, 2],
        [0, 0],
        [0, 0],
        m.tasks,
        [1, 1],
    )
}

fn batch_norm(x: &Tensor, m: &Stacked<'_>, prefix: &str, bn: StackedBn) -> Tensor {
    if let StackedBn::Track(momentum) = bn {
        track(x, m, prefix, momentum);
    }
    x.batch_norm(
        Some(m.w(&format!("{prefix}.weight")).reshape([-1])),
        Some(m.w(&format!("{prefix}.bias")).reshape([-1])),
        None::<Tensor>,
        None::<Tensor>,
        true,
        0.0,
        BN_EPS,
        true,
    )
}

/// Moves the running buffers by each task's statistics in stack order:
/// `r <- (1-m) r + m s_t` for t = 1..T, folded into one update.
fn track(x: &Tensor, m: &Stacked<'_>, prefix: &str, momentum: f64) {
    let _guard = tch::no_grad_guard();
    let t = m.tasks;
    let s = x.size();
    let per_task = x
        .detach()
        .view([s[0], t, s[1] / t, s[2], s[3]])
        .permute([1, 2, 0, 3, 4])
        .reshape([t, s[1] / t, -1]);
    let count = per_task.size()[2] as f64;
    let mean = per_task.mean_dim(&[2i64][..], false, Kind::Double);
    let var = per_task
        .to_kind(Kind::Double)
        .var_dim(&[2i64][..], false, false)
        * (count / (count - 1.0).max(1.0));
    // Weight of task t's statistics after all T updates: m (1-m)^(T-1-t).
    let decay: Vec<f64> = (0..t)
        .map(|i| momentum * (1.0 - momentum).powi((t - 1 - i) as i32))
        .collect();
    let weights = Tensor::from_slice(&decay)
        .to_device(x.device())
        .view([t, 1]);
    let keep = (1.0 - momentum).powi(t as i32);
    for (buf, stat) in [("running_mean", mean), ("running_var", var)] {
        let r = m.base.get(&format!("{prefix}.{buf}"));
        let moved = r.to_kind(Kind::Double) * keep
            + (stat * &weights).sum_dim_intlist(0, false, Kind::Double);
        let mut r = r.shallow_clone();
        r.copy_(&moved.to_kind(r.kind()));
    }
}

/// Per task `[up, skip]` along channels, keeping the task-major layout.
fn cat_per_task(a: &Tensor, b: &Tensor, tasks: i64) -> Tensor {
    let (sa, sb) = (a.size(), b.size());
    let a5 = a.view([sa[0], tasks, sa[1] / tasks, sa[2], sa[3]]);
    let b5 = b.view([sb[0], tasks, sb[1] / tasks, sb[2], sb[3]]);
    Tensor::cat(&[a5, b5], 2).view([sa[0], -1, sa[2], sa[3]])
}

/// The layer operations on `T` stacked models (activations `[n, T*c, h, w]`).
struct StackedLayers<'m, 'a> {
    m: &'m Stacked<'a>,
    bn: StackedBn,
}

impl Layers for StackedLayers<'_, '_> {
    type Value = Tensor;

    fn conv(&mut self, x: &Tensor, name: &str, _out: usize, kernel: usize) -> Tensor {
        conv(x, self.m, name, (kernel / 2) as i64)
    }

    fn batch_norm(&mut self, x: &Tensor, name: &str) -> Tensor {
        batch_norm(x, self.m, name, self.bn)
    }

    fn relu(&mut self, x: &Tensor, _name: &str) -> Tensor {
        x.relu()
    }

    fn max_pool2(&mut self, x: &Tensor, _name: &str) -> Tensor {
        max_pool2(x)
    }

    fn up_conv2(&mut self, x: &Tensor, name: &str, _out: usize) -> Tensor {
        conv_transpose2x2(x, self.m, name)
    }

    fn concat(&mut self, a: &Tensor, b: &Tensor, _name: &str) -> Tensor {
        cat_per_task(a, b, self.m.tasks)
    }

    /// `[n, T*c, h, w]` -> `[n, T*c]`.
    fn global_mean(&mut self, x: &Tensor, _name: &str) -> Tensor {
        global_mean_pool(x)
    }

    /// `[n, T*c]` -> `[T, n, c]`, then each task's own weights: one batched matmul
    /// giving `[T, n, out]`.
    fn linear(&mut self, x: &Tensor, name: &str, _out: usize) -> Tensor {
        let m = self.m;
        let n = x.size()[0];
        let per_task = x.view([n, m.tasks, -1]).transpose(0, 1);
        m.w(&format!("{name}.bias")).unsqueeze(1).baddbmm(
            &per_task,
            &m.w(&format!("{name}.weight")).transpose(1, 2),
            1.0,
            1.0,
        )
    }
}

/// Logits of every stacked model on its own images: `x` is `[T, n, bands, h, w]`;
/// the result is `[T, n, classes]` or `[T, n, classes, h, w]`.
pub fn forward_stacked(m: &Stacked<'_>, x: &Tensor, bn: StackedBn) -> Tensor {
    let spec = m.base.spec();
    let out = spec
        .arch
        .build(spec, &mut StackedLayers { m, bn }, interleave(x));
    if out.dim() == 4 {
        // Per-pixel output `[n, T*classes, h, w]` -> `[T, n, classes, h, w]`.
        let s = out.size();
        out.view([s[0], m.tasks, -1, s[2], s[3]]).transpose(0, 1)
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::functional::forward;
    use crate::model::layers::BnMode;
    use crate::model::spec::ModelSpec;
    use tch::Device;

    fn perturbed(p: &Params, tasks: i64) -> Vec<Tensor> {
        p.trainable()
            .iter()
            .map(|w| {
                let mut shape = w.size();
                shape.insert(0, tasks);
                w.detach().unsqueeze(0).expand(shape.as_slice(), false)
                    + Tensor::randn(shape.as_slice(), (w.kind(), w.device())) * 0.1
            })
            .collect()
    }

    fn check(spec: ModelSpec, size: i64) {
        tch::manual_seed(5);
        let p = Params::init(&spec, Device::Cpu, Kind::Double, 1).unwrap();
        let t = 3;
        let weights = perturbed(&p, t);
        let x = Tensor::randn(
            [t, 4, spec.in_channels as i64, size, size],
            (Kind::Double, Device::Cpu),
        );
        let stacked = Stacked::new(&p, weights.iter().map(|w| w.shallow_clone()).collect(), t);
        let all = forward_stacked(&stacked, &x, StackedBn::Batch);
        for i in 0..t {
            let own = p.with_trainable(weights.iter().map(|w| w.get(i)).collect());
            let one = forward(&own, &x.get(i), BnMode::Batch);
            let err = (all.get(i) - &one).abs().max().double_value(&[]);
            assert!(err < 1e-10, "task {i}: {err}");
        }
    }

    #[test]
    fn stacked_cnn_equals_one_cnn_per_task() {
        check(
            ModelSpec {
                width: 4,
                depth: 2,
                tile_size: 8,
                ..ModelSpec::paper_cnn(3, 5)
            },
            8,
        );
    }

    #[test]
    fn stacked_unet_equals_one_unet_per_task() {
        check(
            ModelSpec {
                width: 4,
                depth: 2,
                ..ModelSpec::default_unet(3, 4, 8)
            },
            8,
        );
    }

    #[test]
    fn tracking_equals_tasks_one_after_another() {
        let spec = ModelSpec {
            width: 4,
            depth: 1,
            tile_size: 4,
            ..ModelSpec::paper_cnn(2, 3)
        };
        let a = Params::init(&spec, Device::Cpu, Kind::Double, 2).unwrap();
        let b = Params::init(&spec, Device::Cpu, Kind::Double, 2).unwrap();
        let x = Tensor::randn([3, 5, 2, 4, 4], (Kind::Double, Device::Cpu));
        let _ =
            tch::no_grad(|| forward_stacked(&Stacked::repeat(&a, 3), &x, StackedBn::Track(0.3)));
        for i in 0..3 {
            let _ = tch::no_grad(|| forward(&b, &x.get(i), BnMode::Track { momentum: 0.3 }));
        }
        for buf in ["blocks.0.bn.running_mean", "blocks.0.bn.running_var"] {
            let err = (a.get(buf) - b.get(buf)).abs().max().double_value(&[]);
            assert!(err < 1e-12, "{buf}: {err}");
            assert!(a.get(buf).abs().sum(Kind::Double).double_value(&[]) > 0.0);
        }
    }
}

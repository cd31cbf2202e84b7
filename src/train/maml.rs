//! The MAML meta-step: inner-loop adaptation and the (second-order) meta-gradient.
//!
//! Reference: C. Finn, P. Abbeel, S. Levine, "Model-Agnostic Meta-Learning for Fast
//! Adaptation of Deep Networks", ICML 2017, Algorithm 2; as used for land cover by
//! Russwurm et al. 2020. For each task of a meta-batch the fast weights are
//! theta - alpha * grad L_support(theta), repeated `inner_steps` times; the
//! meta-loss is the mean query loss under the fast weights, and its gradient with
//! respect to theta flows through the inner steps (`create_graph`), unless first
//! order is asked for, where the inner gradients count as constants. Batch norm uses
//! batch statistics throughout, as in the paper; the first support pass with theta
//! also moves the running statistics (no gradient) so a checkpoint carries sensible
//! frozen statistics. Each task's query loss is differentiated on its own, so only
//! one task's graph is alive at a time.

pub use crate::inner_loop::{adapt, InnerSettings};
use crate::model::functional::forward;
use crate::model::layers::BnMode;
use crate::model::loss::{accuracy, cross_entropy};
use crate::model::params::Params;
use crate::model::task_tensors::TaskTensors;
use tch::Tensor;

/// Loss and accuracy averaged over the tasks of a meta-batch.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TaskStats {
    /// Support loss before adaptation.
    pub support_loss: f64,
    /// Query loss after adaptation (the meta-loss).
    pub query_loss: f64,
    /// Query accuracy after adaptation.
    pub query_acc: f64,
}

/// The meta-loss (mean query loss after adaptation) as a differentiable tensor.
/// Keeps every task's graph alive: for tests and small batches; training uses
/// [`meta_gradient`].
pub fn meta_loss(params: &Params, tasks: &[TaskTensors], s: &InnerSettings) -> Tensor {
    let losses: Vec<Tensor> = tasks
        .iter()
        .map(|t| {
            let (fast, _) = adapt(params, &t.support_x, &t.support_y, s, !s.first_order);
            cross_entropy(&forward(&fast, &t.query_x, BnMode::Batch), &t.query_y)
        })
        .collect();
    Tensor::stack(&losses, 0).mean(None::<tch::Kind>)
}

/// The gradient of the meta-loss with respect to the trainable tensors (spec
/// order), task by task, with the meta-batch's statistics.
pub fn meta_gradient(
    params: &Params,
    tasks: &[TaskTensors],
    s: &InnerSettings,
) -> (Vec<Tensor>, TaskStats) {
    let theta = params.trainable();
    let mut total: Option<Vec<Tensor>> = None;
    let mut stats = TaskStats::default();
    let n = tasks.len() as f64;
    for task in tasks {
        let (fast, support_loss) =
            adapt(params, &task.support_x, &task.support_y, s, !s.first_order);
        let logits = forward(&fast, &task.query_x, BnMode::Batch);
        let loss = cross_entropy(&logits, &task.query_y);
        stats.support_loss += support_loss / n;
        stats.query_loss += f64::try_from(&loss).unwrap_or(f64::NAN) / n;
        stats.query_acc += accuracy(&logits, &task.query_y) / n;
        let grads = Tensor::run_backward(&[&loss / n], &theta, false, false);
        total = Some(match total {
            None => grads,
            Some(acc) => acc.iter().zip(&grads).map(|(a, g)| a + g).collect(),
        });
    }
    (total.unwrap_or_default(), stats)
}

/// Adapts to each task (no second-order graph) and scores its query set: what
/// meta-validation and few-shot evaluation measure.
pub fn evaluate_tasks(params: &Params, tasks: &[TaskTensors], s: &InnerSettings) -> TaskStats {
    let s = InnerSettings {
        first_order: true,
        bn_momentum: None,
        ..*s
    };
    let mut stats = TaskStats::default();
    let n = tasks.len() as f64;
    for task in tasks {
        let (fast, support_loss) = adapt(params, &task.support_x, &task.support_y, &s, false);
        let logits = tch::no_grad(|| forward(&fast, &task.query_x, BnMode::Batch));
        stats.support_loss += support_loss / n;
        stats.query_loss +=
            f64::try_from(cross_entropy(&logits, &task.query_y)).unwrap_or(f64::NAN) / n;
        stats.query_acc += accuracy(&logits, &task.query_y) / n;
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::ModelSpec;
    use tch::{Device, Kind};

    fn tiny() -> (Params, Vec<TaskTensors>) {
        tch::manual_seed(11);
        let spec = ModelSpec {
            width: 4,
            depth: 2,
            tile_size: 8,
            ..ModelSpec::paper_cnn(3, 3)
        };
        let params = Params::init(&spec, Device::Cpu, Kind::Double, 3).unwrap();
        let opts = (Kind::Double, Device::Cpu);
        let labels = Tensor::from_slice(&[0i64, 0, 1, 1, 2, 2]).view([6, 1]);
        let tasks = (0..2)
            .map(|_| TaskTensors {
                support_x: Tensor::randn([6, 3, 8, 8], opts),
                support_y: labels.copy(),
                query_x: Tensor::randn([6, 3, 8, 8], opts),
                query_y: labels.copy(),
            })
            .collect();
        (params, tasks)
    }

    fn settings(first_order: bool) -> InnerSettings {
        InnerSettings {
            lr: 0.5,
            steps: 2,
            first_order,
            bn_momentum: None,
            prototype_head: false,
        }
    }

    fn bump(p: &Params, name: &str, i: i64, h: f64) {
        let _guard = tch::no_grad_guard();
        let _ = p.get(name).view([-1]).get(i).g_add_scalar_(h);
    }

    fn loss_value(p: &Params, tasks: &[TaskTensors], s: &InnerSettings) -> f64 {
        f64::try_from(meta_loss(p, tasks, s)).unwrap()
    }

    #[test]
    fn second_order_meta_gradient_matches_finite_differences() {
        assert_matches_finite_differences(&settings(false));
    }

    #[test]
    fn proto_maml_meta_gradient_flows_through_the_prototypes() {
        // Second order: exact, through the prototypes as through the steps.
        let proto = |first_order| InnerSettings {
            prototype_head: true,
            ..settings(first_order)
        };
        assert_matches_finite_differences(&proto(false));
        // First order: the prototypes are constants; every tensor below the head
        // still gets a finite meta-gradient.
        let (params, tasks) = tiny();
        let (grads, _) = meta_gradient(&params, &tasks, &proto(true));
        for (name, g) in params.trainable_names().iter().zip(&grads) {
            let max = g.abs().max().double_value(&[]);
            assert!(max.is_finite(), "{name}: {max}");
            if !name.starts_with("head") && !name.ends_with("conv.bias") {
                assert!(max > 1e-8, "{name} has no gradient");
            }
        }
    }

    fn assert_matches_finite_differences(s: &InnerSettings) {
        let (params, tasks) = tiny();
        let (grads, stats) = meta_gradient(&params, &tasks, s);
        assert!((stats.query_loss - loss_value(&params, &tasks, s)).abs() < 1e-10);
        let names = params
            .trainable_names()
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        let h = 1e-6;
        let mut checked = 0;
        for (k, name) in names.iter().enumerate() {
            if name.ends_with("conv.bias") {
                continue; // zero gradient, checked separately
            }
            for i in [0i64, 5] {
                if i >= params.get(name).numel() as i64 {
                    continue;
                }
                bump(&params, name, i, h);
                let up = loss_value(&params, &tasks, s);
                bump(&params, name, i, -2.0 * h);
                let down = loss_value(&params, &tasks, s);
                bump(&params, name, i, h);
                let fd = (up - down) / (2.0 * h);
                let an = grads[k].view([-1]).double_value(&[i]);
                assert!(
                    (fd - an).abs() <= 1e-6 + 1e-4 * fd.abs(),
                    "{name}[{i}]: analytic {an}, finite differences {fd}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 8, "{checked}");
    }

    #[test]
    fn first_order_differs_from_second_order() {
        let (params, tasks) = tiny();
        let (second, _) = meta_gradient(&params, &tasks, &settings(false));
        let (first, _) = meta_gradient(&params, &tasks, &settings(true));
        let norm = |v: &[Tensor]| {
            v.iter()
                .map(|t| t.square().sum(Kind::Double).double_value(&[]))
                .sum::<f64>()
                .sqrt()
        };
        let diff: Vec<Tensor> = second.iter().zip(&first).map(|(a, b)| a - b).collect();
        let rel = norm(&diff) / norm(&second);
        assert!(
            rel > 1e-3,
            "first- and second-order gradients agree to {rel}"
        );
        assert!(rel < 1.5, "first order is not even close: {rel}");
    }

    #[test]
    fn conv_biases_before_batch_norm_get_no_meta_gradient() {
        let (params, tasks) = tiny();
        let (grads, _) = meta_gradient(&params, &tasks, &settings(false));
        for (name, g) in params.trainable_names().iter().zip(&grads) {
            let max = g.abs().max().double_value(&[]);
            if name.ends_with("conv.bias") {
                assert!(max < 1e-10, "{name}: {max}");
            } else {
                assert!(max > 1e-8, "{name} has no gradient");
            }
        }
    }

    #[test]
    fn tracking_moves_running_statistics_without_changing_the_gradient() {
        let (params, tasks) = tiny();
        let (plain, _) = meta_gradient(&params, &tasks, &settings(false));
        let tracked = InnerSettings {
            bn_momentum: Some(0.5),
            ..settings(false)
        };
        let (g, _) = meta_gradient(&params, &tasks, &tracked);
        for (a, b) in plain.iter().zip(&g) {
            assert!((a - b).abs().max().double_value(&[]) < 1e-12);
        }
        assert!(
            params
                .get("blocks.0.bn.running_mean")
                .abs()
                .sum(Kind::Double)
                .double_value(&[])
                > 0.0
        );
    }
}

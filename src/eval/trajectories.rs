//! Adaptation insight (Russwurm et al. 2020, section 6.3) for `geomaml evaluate
//! --trajectories`: where adaptation moves each model's weights, and how the query
//! loss responds to a step along the support gradient.
//!
//! PCA of adapted weights. Each model is adapted to every meta-test task with the
//! settings the evaluation chose at the largest shot count (all its support
//! examples), task-local labels in class-id order ([`in_class_order`]). The
//! adapted trainable tensors, all of them flattened (the CNN's are 1e5 values, so
//! nothing needs restricting; memory is tasks x parameters x 4 bytes on the host),
//! minus the start weights, form one row per task. A PCA per model (the models'
//! weight spaces differ) projects the rows and the start point onto the first two
//! components. The PCA goes through the tasks x tasks Gram matrix in f64, so its
//! cost grows with the task count, not the parameter count.
//! `region_r2` is the share of the adapted weights' variance (all components)
//! that the regions explain: between-region over total sum of squares. With n
//! tasks in g regions and no region structure it is about (g - 1) / (n - 1)
//! (`region_r2_chance`).
//!
//! Loss along the support gradient. g is the gradient of the support loss at the
//! start weights theta, the loss adaptation descends (cross-entropy over all
//! outputs, labelled as the model was trained, batch statistics on the support
//! set); so theta - alpha g at alpha = step size is the first adaptation step. At
//! each alpha the query set is scored as the evaluation scores it: cross-entropy
//! and accuracy over the outputs of the task's classes only (batch statistics on
//! the whole query set), which puts every model's loss on the same way-way scale
//! (chance: ln way). The support loss along the path is recorded too.

use crate::card::now_rfc3339;
use crate::catalog::{Season, Split};
use crate::error::{Error, Result};
use crate::eval::few_shot::{step, EvalModel, Interval, Labelling};
use crate::eval::plot::{line_chart_svg, Panel, Series};
use crate::eval::scatter::{scatter_svg, ScatterPanel};
use crate::model::functional::forward;
use crate::model::layers::BnMode;
use crate::model::loss::{accuracy, cross_entropy};
use crate::model::params::Params;
use crate::model::task_tensors::TaskTensors;
use crate::tasks::{TaskBatch, TaskKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// Version of the `trajectories.json` layout.
pub const TRAJECTORIES_VERSION: u32 = 1;

/// Step sizes along the support gradient: 0, 0.05, ..., 1.
pub fn alphas() -> Vec<f64> {
    (0..=20).map(|i| i as f64 / 20.0).collect()
}

/// Where a task's tiles come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskOrigin {
    /// Region (Sen12MS scene) or image (DeepGlobe).
    pub region: u32,
    /// Season (`null` for DeepGlobe).
    pub season: Option<Season>,
}

/// Support loss, query loss and query accuracy at each step size of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskPath {
    /// Task number (order of the draw).
    pub task: usize,
    /// Region of the task.
    pub region: u32,
    /// Query cross-entropy over the task's classes, per step size.
    pub query_loss: Vec<f64>,
    /// Query accuracy (pixel accuracy for segmentation), per step size.
    pub query_accuracy: Vec<f64>,
    /// Support cross-entropy (the loss g descends), per step size.
    pub support_loss: Vec<f64>,
}

/// A task's adapted weights in the model's PCA plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskPoint {
    /// Task number (order of the draw).
    pub task: usize,
    /// Region of the task.
    pub region: u32,
    /// Season of the task.
    pub season: Option<Season>,
    /// Coordinates on the first two principal components.
    pub pc: [f64; 2],
}

/// PCA of one model's adapted weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PcaReport {
    /// Share of the adapted weights' variance on each of the two components.
    pub explained_variance_ratio: [f64; 2],
    /// Between-region share of the variance (`null` when the weights did not move
    /// or all tasks come from one region).
    pub region_r2: Option<f64>,
    /// `region_r2` expected without region structure, (regions - 1) / (tasks - 1).
    pub region_r2_chance: Option<f64>,
    /// The start (unadapted) weights in the plane.
    pub start: [f64; 2],
    /// One point per task.
    pub tasks: Vec<TaskPoint>,
}

/// Mean curves over tasks along the support gradient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PathReport {
    /// Query loss per step size (mean and 95 % interval over tasks).
    pub query_loss: Vec<Interval>,
    /// Query accuracy per step size.
    pub query_accuracy: Vec<Interval>,
    /// Support loss per step size.
    pub support_loss: Vec<Interval>,
    /// The per-task curves behind them.
    pub tasks: Vec<TaskPath>,
}

/// Trajectory results of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelTrajectories {
    /// Name, as in the report.
    pub name: String,
    /// `maml`, `pretrain` or `random`.
    pub method: String,
    /// How its tasks were labelled.
    pub labels: Labelling,
    /// Step size of the adaptation behind the PCA.
    pub inner_lr: f64,
    /// Gradient steps of the adaptation behind the PCA.
    pub inner_steps: usize,
    /// Values in the flattened weight vectors.
    pub parameters: i64,
    /// PCA of the adapted weights.
    pub pca: PcaReport,
    /// Query and support loss along the support gradient.
    pub path: PathReport,
}

/// `trajectories.json` of `geomaml evaluate --trajectories`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrajectoryReport {
    /// Layout version ([`TRAJECTORIES_VERSION`]).
    pub version: u32,
    /// The catalog evaluated on.
    pub catalog: String,
    /// Classification or segmentation.
    pub kind: TaskKind,
    /// Split the tasks come from.
    pub split: Split,
    /// Classes per task.
    pub way: usize,
    /// Support examples per class (segmentation: crops per task) adapted on.
    pub shots: usize,
    /// Tasks.
    pub tasks: usize,
    /// Seed of the task draw.
    pub seed: u64,
    /// What the PCA rows are.
    pub weights: String,
    /// Step sizes alpha along the support gradient.
    pub alphas: Vec<f64>,
    /// One entry per model, in command-line order.
    pub models: Vec<ModelTrajectories>,
    /// UTC time of creation (RFC 3339).
    pub created: String,
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

/// Projections of the PCA of a set of points.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Coordinates of each row on the first two components.
    pub coords: Vec<[f64; 2]>,
    /// Coordinates of the origin (the start weights, as rows are deltas).
    pub origin: [f64; 2],
    /// Share of the variance on each component (0 when nothing varies).
    pub explained: [f64; 2],
    /// Between-group over total sum of squares (`None` when nothing varies or
    /// all rows are in one group).
    pub group_r2: Option<f64>,
}

/// Columns of the data matrix converted to f64 at a time (bounds the extra memory).
const PCA_CHUNK: i64 = 1 << 20;

/// PCA of the rows of `deltas` (`[n, p]`) through the n x n Gram matrix of the
/// centred rows; `groups` labels the rows for the between-group share. Component
/// signs are fixed so that each component's largest coordinate is positive.
pub fn pca(deltas: &Tensor, groups: &[u32]) -> Pca {
    let size = deltas.size();
    let (n, p) = (size[0], size[1]);
    let mut gram = Tensor::zeros([n, n], (Kind::Double, Device::Cpu));
    let mut dot_mean = Tensor::zeros([n], (Kind::Double, Device::Cpu));
    tch::no_grad(|| {
        let mut start = 0;
        while start < p {
            let len = PCA_CHUNK.min(p - start);
            let chunk = deltas
                .narrow(1, start, len)
                .to_device(Device::Cpu)
                .to_kind(Kind::Double);
            let mean = chunk.mean_dim(0, true, Kind::Double);
            let centred = &chunk - &mean;
            gram += centred.mm(&centred.tr());
            dot_mean += centred.mm(&mean.tr()).reshape([-1]);
            start += len;
        }
    });
    let g: Vec<f64> = Vec::try_from(gram.reshape([-1])).unwrap_or_default();
    let at = |i: usize, j: usize| g[i * n as usize + j];
    let n = n as usize;
    let total: f64 = (0..n).map(|i| at(i, i)).sum();
    let mut coords = vec![[0.0; 2]; n];
    let mut origin = [0.0; 2];
    let mut explained = [0.0; 2];
    if n > 0 && total > 0.0 {
        let (values, vectors) = gram.linalg_eigh("L");
        let values: Vec<f64> = Vec::try_from(values).unwrap_or_default();
        let dm: Vec<f64> = Vec::try_from(dot_mean).unwrap_or_default();
        // eigh sorts ascending: the largest eigenvalue is last.
        for k in 0..2.min(n) {
            let idx = n - 1 - k;
            let lambda = values[idx].max(0.0);
            if lambda <= total * 1e-12 {
                continue;
            }
            let u: Vec<f64> =
                Vec::try_from(vectors.select(1, idx as i64).contiguous()).unwrap_or_default();
            let sigma = lambda.sqrt();
            let flip = u
                .iter()
                .copied()
                .max_by(|a, b| a.abs().total_cmp(&b.abs()))
                .map_or(1.0, |v| if v < 0.0 { -1.0 } else { 1.0 });
            for (c, ui) in coords.iter_mut().zip(&u) {
                c[k] = flip * sigma * ui;
            }
            // The origin is -mean; its component is -(mean . D^T u) / sigma.
            origin[k] = -flip * dm.iter().zip(&u).map(|(a, b)| a * b).sum::<f64>() / sigma;
            explained[k] = lambda / total;
        }
    }
    let mut distinct: Vec<u32> = groups.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let group_r2 = (total > 0.0 && distinct.len() > 1).then(|| {
        let between: f64 = distinct
            .iter()
            .map(|r| {
                let members: Vec<usize> = (0..n).filter(|&i| groups[i] == *r).collect();
                let sum: f64 = members
                    .iter()
                    .flat_map(|&i| members.iter().map(move |&j| (i, j)))
                    .map(|(i, j)| at(i, j))
                    .sum();
                sum / members.len() as f64
            })
            .sum();
        (between / total).clamp(0.0, 1.0)
    });
    Pca {
        coords,
        origin,
        explained,
        group_r2,
    }
}

/// Adapts `model` to every task, classes in id order (PCA), and scores it along each task's support
/// gradient; `tasks` carry all their support examples, `(lr, steps)` are the
/// evaluation's settings at that shot count. `tick` is called twice per task.
pub fn model_trajectories(
    model: &EvalModel,
    tasks: &[TaskBatch],
    origins: &[TaskOrigin],
    (lr, steps): (f64, usize),
    alphas: &[f64],
    tick: &dyn Fn(),
) -> Result<ModelTrajectories> {
    if tasks.len() != origins.len() {
        return Err(Error::Other(format!(
            "{} tasks but {} task origins",
            tasks.len(),
            origins.len()
        )));
    }
    let mut deltas = Vec::with_capacity(tasks.len());
    let mut paths = Vec::with_capacity(tasks.len());
    for (i, (batch, origin)) in tasks.iter().zip(origins).enumerate() {
        deltas.push(adapted_delta(model, &in_class_order(batch), lr, steps)?);
        tick();
        let (support_loss, query_loss, query_accuracy) = gradient_path(model, batch, alphas)?;
        paths.push(TaskPath {
            task: i,
            region: origin.region,
            query_loss,
            query_accuracy,
            support_loss,
        });
        tick();
    }
    let regions: Vec<u32> = origins.iter().map(|o| o.region).collect();
    let p = if deltas.is_empty() {
        Pca {
            coords: vec![],
            origin: [0.0; 2],
            explained: [0.0; 2],
            group_r2: None,
        }
    } else {
        pca(&Tensor::stack(&deltas, 0), &regions)
    };
    let distinct = {
        let mut r = regions.clone();
        r.sort_unstable();
        r.dedup();
        r.len()
    };
    let curve = |f: fn(&TaskPath) -> &Vec<f64>| -> Vec<Interval> {
        (0..alphas.len())
            .map(|a| {
                let v: Vec<f64> = paths
                    .iter()
                    .map(|t| f(t)[a])
                    .filter(|v| v.is_finite())
                    .collect();
                Interval::of(&v)
            })
            .collect()
    };
    Ok(ModelTrajectories {
        name: model.name.clone(),
        method: model.method.clone(),
        labels: model.labelling,
        inner_lr: lr,
        inner_steps: steps,
        parameters: model.params.parameter_count(),
        pca: PcaReport {
            explained_variance_ratio: p.explained,
            region_r2: p.group_r2,
            region_r2_chance: (tasks.len() > 1 && distinct > 1)
                .then(|| (distinct as f64 - 1.0) / (tasks.len() as f64 - 1.0)),
            start: p.origin,
            tasks: origins
                .iter()
                .zip(&p.coords)
                .enumerate()
                .map(|(i, (o, c))| TaskPoint {
                    task: i,
                    region: o.region,
                    season: o.season,
                    pc: *c,
                })
                .collect(),
        },
        path: PathReport {
            query_loss: curve(|t| &t.query_loss),
            query_accuracy: curve(|t| &t.query_accuracy),
            support_loss: curve(|t| &t.support_loss),
            tasks: paths,
        },
    })
}

/// Assembles `trajectories.json`.
#[allow(clippy::too_many_arguments)]
pub fn report(
    catalog: &str,
    kind: TaskKind,
    split: Split,
    way: usize,
    shots: usize,
    seed: u64,
    alphas: Vec<f64>,
    models: Vec<ModelTrajectories>,
) -> TrajectoryReport {
    TrajectoryReport {
        version: TRAJECTORIES_VERSION,
        catalog: catalog.into(),
        kind,
        split,
        way,
        shots,
        tasks: models.first().map_or(0, |m| m.path.tasks.len()),
        seed,
        weights: "all trainable tensors, flattened, minus the start weights".into(),
        alphas,
        models,
        created: now_rfc3339(),
    }
}

/// One line per model: region R² of the adapted weights and where along the
/// support gradient the mean query loss is lowest.
pub fn summary(report: &TrajectoryReport) -> String {
    let mut s = String::new();
    for m in &report.models {
        let r2 = match (m.pca.region_r2, m.pca.region_r2_chance) {
            (Some(r2), Some(chance)) => format!("region R² {r2:.2} (chance {chance:.2})"),
            _ => "region R² -".into(),
        };
        let loss: Vec<f64> = m.path.query_loss.iter().map(|i| i.mean).collect();
        let best = loss
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .min_by(|a, b| a.1.total_cmp(b.1));
        let path = match (loss.first(), best) {
            (Some(first), Some((i, low))) => format!(
                "query loss {first:.3} at alpha 0, lowest {low:.3} at alpha {}",
                report.alphas[i]
            ),
            _ => "no query loss".into(),
        };
        s.push_str(&format!("{} trajectories: {r2}; {path}\n", m.name));
    }
    s
}

/// One PCA panel per model, points coloured by region, the start weights as a star.
pub fn pca_svg(report: &TrajectoryReport) -> String {
    let mut regions: Vec<u32> = report
        .models
        .iter()
        .flat_map(|m| m.pca.tasks.iter().map(|t| t.region))
        .collect();
    regions.sort_unstable();
    regions.dedup();
    let place = match report.kind {
        TaskKind::Classification => "region",
        TaskKind::Segmentation => "image",
    };
    let groups: Vec<String> = regions.iter().map(|r| format!("{place} {r}")).collect();
    let panels: Vec<ScatterPanel> = report
        .models
        .iter()
        .map(|m| {
            let pct = |k: usize| m.pca.explained_variance_ratio[k] * 100.0;
            ScatterPanel {
                title: match (m.pca.region_r2, m.pca.region_r2_chance) {
                    (Some(r2), Some(chance)) => {
                        format!("{}: {place} R² {r2:.2} (chance {chance:.2})", m.name)
                    }
                    _ if m.pca.explained_variance_ratio[0] == 0.0 => {
                        format!("{}: weights unchanged", m.name)
                    }
                    _ => format!("{}: one {place}", m.name),
                },
                x_label: format!("PC1 ({:.0} %)", pct(0)),
                y_label: format!("PC2 ({:.0} %)", pct(1)),
                points: m
                    .pca
                    .tasks
                    .iter()
                    .map(|t| {
                        let g = regions.binary_search(&t.region).unwrap_or(0);
                        (t.pc[0], t.pc[1], g)
                    })
                    .collect(),
                marks: vec![(m.pca.start[0], m.pca.start[1], "start (unadapted)".into())],
            }
        })
        .collect();
    scatter_svg(&panels, &groups)
}

/// Query loss, query accuracy and support loss against the step size along the
/// support gradient, one line per model, 95 % bands over tasks.
pub fn loss_svg(report: &TrajectoryReport) -> String {
    let series = |f: fn(&PathReport) -> &Vec<Interval>| -> Vec<Series> {
        report
            .models
            .iter()
            .map(|m| Series {
                name: m.name.clone(),
                points: report
                    .alphas
                    .iter()
                    .zip(f(&m.path))
                    .map(|(&a, i)| (a, i.mean, if i.ci95.is_finite() { i.ci95 } else { 0.0 }))
                    .collect(),
            })
            .collect()
    };
    let what = match report.kind {
        TaskKind::Classification => "query accuracy",
        TaskKind::Segmentation => "query pixel accuracy",
    };
    line_chart_svg(
        &[
            Panel {
                title: format!("query loss ({} tasks)", report.tasks),
                y_range: (0.0, 0.0),
                series: series(|p| &p.query_loss),
            },
            Panel {
                title: what.into(),
                y_range: (0.0, 1.0),
                series: series(|p| &p.query_accuracy),
            },
            Panel {
                title: "support loss".into(),
                y_range: (0.0, 0.0),
                series: series(|p| &p.support_loss),
            },
        ],
        "step size alpha along the support gradient",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::classes::dfc2020;
    use crate::model::spec::ModelSpec;
    use ndarray::{Array2, Array4};

    /// A 2-way task of 8 px tiles: 3 support and 2 query tiles per class, classes
    /// 1 and 4 told apart by the sign of band 0.
    fn batch(shift: f32) -> TaskBatch {
        let value = |r: usize, class: usize, b: usize, y: usize, x: usize| {
            let sign = if class == 0 { 1.0 } else { -1.0 };
            sign * (1.0 + b as f32) + 0.1 * ((r + y * 3 + x) % 5) as f32 + shift
        };
        let sx = Array4::from_shape_fn((6, 2, 8, 8), |(n, b, y, x)| value(n, n / 3, b, y, x));
        let qx = Array4::from_shape_fn((4, 2, 8, 8), |(n, b, y, x)| value(n + 7, n / 2, b, y, x));
        TaskBatch {
            support_x: sx,
            support_y: Array2::from_shape_vec((6, 1), vec![0, 0, 0, 1, 1, 1]).unwrap(),
            query_x: qx,
            query_y: Array2::from_shape_vec((4, 1), vec![0, 0, 1, 1]).unwrap(),
            classes: vec![4, 1],
        }
    }

    fn model(labelling: Labelling) -> EvalModel {
        let spec = ModelSpec {
            width: 8,
            depth: 2,
            tile_size: 8,
            ..ModelSpec::paper_cnn(2, 10)
        };
        let mut m = EvalModel::random(
            &spec,
            &dfc2020(),
            vec!["B01".into(), "B02".into()],
            Device::Cpu,
            3,
        )
        .unwrap();
        m.labelling = labelling;
        m
    }

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

    #[test]
    fn pca_recovers_a_planted_plane_and_the_start_point() {
        // Rows (1 + a, 0.2 + b, 0, 0, 0): a and b centred and uncorrelated, two
        // groups along a, so PC1 is e0 and PC2 is e1.
        let a: [f64; 6] = [3.0, 3.4, 2.6, -3.0, -3.2, -2.8];
        let b: [f64; 6] = [0.5, -0.25, -0.25, 0.5, -0.25, -0.25];
        let rows: Vec<f32> = a
            .iter()
            .zip(b)
            .flat_map(|(&a, b)| [1.0 + a as f32, 0.2 + b as f32, 0.0, 0.0, 0.0])
            .collect();
        let x = Tensor::from_slice(&rows).reshape([6, 5]);
        let p = pca(&x, &[7, 7, 7, 9, 9, 9]);
        for (c, (a, b)) in p.coords.iter().zip(a.iter().zip(b)) {
            // Signs: each component's largest coordinate is positive (3.4, 0.5).
            assert!((c[0] - a).abs() < 1e-5 && (c[1] - b).abs() < 1e-5, "{c:?}");
        }
        // The start weights (the zero row) sit at minus the mean.
        assert!((p.origin[0] + 1.0).abs() < 1e-5 && (p.origin[1] + 0.2).abs() < 1e-5);
        let ss = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
        let total = ss(&a) + ss(&b);
        assert!((p.explained[0] - ss(&a) / total).abs() < 1e-6);
        assert!((p.explained[1] - ss(&b) / total).abs() < 1e-6);
        assert!(p.group_r2.unwrap() > 0.95);
        // Groups that cut across the split explain little.
        let mixed = pca(&x, &[1, 2, 3, 1, 2, 3]).group_r2.unwrap();
        assert!(mixed < 0.05, "{mixed}");
        assert_eq!(pca(&x, &[4; 6]).group_r2, None, "one group");
        // Rows that do not move: no components, no R².
        let still = pca(
            &Tensor::zeros([3, 4], (Kind::Float, Device::Cpu)),
            &[1, 2, 3],
        );
        assert_eq!(still.coords, vec![[0.0; 2]; 3]);
        assert_eq!(still.group_r2, None);
    }

    #[test]
    fn trajectories_report_serialises_and_renders() {
        let m = model(Labelling::Legend);
        let tasks = vec![batch(0.0), batch(0.3), batch(-0.3)];
        let origins = [
            TaskOrigin {
                region: 5,
                season: Some(Season::Summer),
            },
            TaskOrigin {
                region: 5,
                season: Some(Season::Summer),
            },
            TaskOrigin {
                region: 8,
                season: Some(Season::Summer),
            },
        ];
        let ticks = std::cell::Cell::new(0);
        let a = alphas();
        let t = model_trajectories(&m, &tasks, &origins, (0.1, 2), &a, &|| {
            ticks.set(ticks.get() + 1)
        })
        .unwrap();
        assert_eq!(ticks.get(), 6);
        assert_eq!(t.pca.tasks.len(), 3);
        assert_eq!(t.path.query_loss.len(), 21);
        assert_eq!(t.path.query_loss[0].n, 3);
        assert!(t.pca.region_r2.is_some());
        assert_eq!(t.pca.region_r2_chance, Some(0.5));
        // Adapting moves the weights: the start is away from the adapted points.
        let d = |p: [f64; 2]| (p[0] - t.pca.start[0]).hypot(p[1] - t.pca.start[1]);
        assert!(t.pca.tasks.iter().all(|p| d(p.pc) > 0.0));
        let r = report(
            "c.json",
            TaskKind::Classification,
            Split::Test,
            2,
            3,
            0,
            a,
            vec![t],
        );
        let json = serde_json::to_string(&r).unwrap();
        let back: TrajectoryReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.alphas, r.alphas);
        let regions: Vec<u32> = back.models[0].pca.tasks.iter().map(|t| t.region).collect();
        assert_eq!(regions, [5, 5, 8]);
        assert_eq!(back.models[0].path.tasks[2].query_loss.len(), 21);
        let pca = pca_svg(&r);
        assert!(pca.contains(">region 5<") && pca.contains(">region 8<"));
        assert!(pca.contains("start (unadapted)") && pca.contains("random: region R²"));
        assert!(pca.contains("(chance 0.50)"));
        assert_eq!(loss_svg(&r).matches("<polyline").count(), 3);
        let line = summary(&r);
        assert!(
            line.starts_with("random trajectories: region R² ") && line.contains("at alpha 0,")
        );
    }
}

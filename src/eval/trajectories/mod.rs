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

mod charts;
#[cfg(test)]
mod fixtures;
mod path;
mod pca;

pub use charts::{loss_svg, pca_svg, summary};
pub use path::{adapted_delta, alphas, gradient_path, in_class_order, support_gradient};
pub use pca::{pca, Pca};

use crate::card::now_rfc3339;
use crate::catalog::{Season, Split};
use crate::error::{Error, Result};
use crate::eval::few_shot::{EvalModel, Interval, Labelling};
use crate::tasks::{TaskBatch, TaskKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Version of the `trajectories.json` layout.
pub const TRAJECTORIES_VERSION: u32 = 1;

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
        return Err(Error::runtime(format!(
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

#[cfg(test)]
mod tests {
    use super::fixtures::{batch, model};
    use super::*;

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

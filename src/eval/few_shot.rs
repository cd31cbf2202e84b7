//! Few-shot evaluation (Russwurm et al. 2020, section 5): models fine-tuned on the
//! first k shots of each meta-test task and scored on its query set.
//!
//! Protocol. Tasks are sampled once, seeded, with `max(shots)` support examples per
//! class (segmentation: support crops per task) and `query` query examples; every
//! model and every shot count k sees the same tasks, k taking the first k shots of
//! each class. k = 0 is no adaptation. Adaptation is plain gradient descent on the
//! support cross-entropy ([`crate::train::maml::adapt`], first order); batch norm
//! uses batch statistics on the support set while adapting and on the whole query
//! set when predicting (the paper's transductive setting).
//!
//! Labels. A model is scored the way it was trained: MAML with task-local labels
//! (output i is the task's i-th class, re-drawn per task, so unadapted MAML is at
//! chance level), the pretraining baseline and the random initialisation with the
//! legend's fixed indices. Predictions are the arg-max over the task's classes only
//! (outputs 0..way, or the legend positions of the task's classes), so every model
//! answers the same way-way question.
//!
//! Step size and steps are either fixed or chosen per model and per k by grid
//! search on meta-validation tasks (mean query accuracy; one adaptation trajectory
//! per step size is scored at every step count of the grid).
//!
//! Scores per task: overall accuracy (pixel accuracy for segmentation), Cohen's
//! kappa, mean F1 and mean IoU of the task's confusion matrix; reported as mean and
//! 95 % Student-t interval over tasks. Per-class scores come from the confusion
//! matrix pooled over all tasks, in legend order.

use crate::card::now_rfc3339;
use crate::catalog::classes::ClassInfo;
use crate::catalog::Split;
use crate::error::{Error, Result};
use crate::eval::metrics::{ClassScores, ConfusionMatrix};
use crate::index::{TaskBatch, TaskKind, TaskLoader, TaskSampler, IGNORE_INDEX};
use crate::model::functional::forward;
use crate::model::host::Checkpoint;
use crate::model::layers::BnMode;
use crate::model::params::Params;
use crate::model::spec::ModelSpec;
use crate::model::task_tensors::TaskTensors;
use crate::train::maml::{adapt, InnerSettings};
use ndarray::Axis;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Version of the report layout.
pub const REPORT_VERSION: u32 = 1;

/// How a model's training labelled tasks, hence how evaluation must label them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Labelling {
    /// Output i is the task's i-th class (MAML).
    TaskLocal,
    /// Output i is the legend's i-th class (pretraining, random initialisation).
    Legend,
}

impl Labelling {
    /// The labelling a `provenance.method` implies: `maml` -> task-local;
    /// `pretrain` and `random` -> legend.
    pub fn for_method(method: &str) -> Option<Self> {
        match method {
            "maml" => Some(Labelling::TaskLocal),
            "pretrain" | "random" => Some(Labelling::Legend),
            _ => None,
        }
    }
}

/// A model under evaluation.
#[derive(Debug)]
pub struct EvalModel {
    /// Name in the report, the curves and the plot.
    pub name: String,
    /// The checkpoint it came from (`None`: random initialisation).
    pub path: Option<String>,
    /// `maml`, `pretrain` or `random`.
    pub method: String,
    /// How tasks are labelled for it.
    pub labelling: Labelling,
    /// Class ids of its outputs, in output order.
    pub legend: Vec<u16>,
    /// Input bands in model order.
    pub bands: Vec<String>,
    /// Its parameters (f32).
    pub params: Params,
}

impl EvalModel {
    /// Loads a checkpoint; the labelling follows its card's training method.
    pub fn from_checkpoint(path: &Path, name: String, device: Device) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::model(
                path,
                "no such model file (give a .safetensors checkpoint, or `random`)",
            ));
        }
        let ckpt = Checkpoint::load(path)?;
        let method = ckpt.card.provenance.method.clone();
        let labelling = Labelling::for_method(&method).ok_or_else(|| {
            Error::model(
                path,
                format!("trained with method `{method}`; evaluate knows maml, pretrain and random"),
            )
        })?;
        let params = Params::from_checkpoint(&ckpt, device).map_err(|e| Error::model(path, e))?;
        Ok(EvalModel {
            name,
            path: Some(path.display().to_string()),
            method,
            labelling,
            legend: ckpt.card.classes.iter().map(|c| c.id).collect(),
            bands: ckpt.card.bands.clone(),
            params,
        })
    }

    /// The random-initialisation baseline: `spec` initialised with `seed`, legend
    /// labels (like the pretraining baseline, so only its weights differ).
    pub fn random(
        spec: &ModelSpec,
        classes: &[ClassInfo],
        bands: Vec<String>,
        device: Device,
        seed: u64,
    ) -> Result<Self> {
        Ok(EvalModel {
            name: "random".into(),
            path: None,
            method: "random".into(),
            labelling: Labelling::Legend,
            legend: classes.iter().map(|c| c.id).collect(),
            bands,
            params: Params::init(spec, device, Kind::Float, seed)?,
        })
    }

    /// The task as tensors, labelled as this model was trained.
    pub fn tensors(&self, batch: &TaskBatch) -> Result<TaskTensors> {
        let device = self.params.device();
        match self.labelling {
            Labelling::TaskLocal => TaskTensors::from_batch(batch, device, Kind::Float),
            Labelling::Legend => {
                TaskTensors::from_batch_in_legend(batch, &self.legend, device, Kind::Float)
            }
        }
        .map_err(|e| Error::Other(format!("model `{}`: {e}", self.name)))
    }

    /// The outputs that answer for the task's classes 0..way, in task order.
    pub fn columns(&self, classes: &[u16]) -> Result<Vec<i64>> {
        let outputs = self.params.spec().num_classes;
        let cols: Vec<i64> = match self.labelling {
            Labelling::TaskLocal => (0..classes.len() as i64).collect(),
            Labelling::Legend => classes
                .iter()
                .map(|id| {
                    self.legend
                        .iter()
                        .position(|l| l == id)
                        .map(|i| i as i64)
                        .ok_or_else(|| {
                            Error::Other(format!(
                                "model `{}`: class {id} is not in its legend {:?}",
                                self.name, self.legend
                            ))
                        })
                })
                .collect::<Result<_>>()?,
        };
        if let Some(c) = cols.iter().find(|&&c| c as usize >= outputs) {
            return Err(Error::Other(format!(
                "model `{}` has {outputs} outputs; a {}-way task needs output {c}",
                self.name,
                classes.len()
            )));
        }
        Ok(cols)
    }
}

/// Step sizes and step counts searched on meta-validation tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Grid {
    /// Step sizes alpha.
    pub lrs: Vec<f64>,
    /// Gradient step counts.
    pub steps: Vec<usize>,
}

impl Grid {
    /// A grid cheap enough for CPUs: 6 step sizes x 4 step counts.
    pub fn small() -> Self {
        Grid {
            lrs: vec![0.01, 0.05, 0.1, 0.32, 0.5, 1.0],
            steps: vec![1, 5, 10, 20],
        }
    }

    /// The paper's grid: 13 step sizes from 0.001 to 1 x {1, 2, 5, 10, 50, 100} steps.
    pub fn paper() -> Self {
        Grid {
            lrs: vec![
                0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0,
            ],
            steps: vec![1, 2, 5, 10, 50, 100],
        }
    }
}

/// How adaptation settings are chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Adaptation {
    /// The same step size and steps for every model and shot count.
    Fixed {
        /// Step size.
        lr: f64,
        /// Gradient steps.
        steps: usize,
    },
    /// Grid search per model and shot count on meta-validation tasks.
    Search {
        /// Name of the grid (`small`, `paper`).
        name: String,
        /// The grid.
        grid: Grid,
    },
}

/// Mean of per-task values with a 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Interval {
    /// Mean over tasks.
    pub mean: f64,
    /// Half-width of the 95 % Student-t interval of the mean (0 for one task).
    pub ci95: f64,
    /// Sample standard deviation over tasks.
    pub std: f64,
    /// Number of tasks.
    pub n: usize,
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (table to 30,
/// then the first Cornish-Fisher term, within 0.003 of the exact value).
pub fn t_975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        _ => {
            let z = 1.959_964;
            z + (z * z * z + z) / (4.0 * df as f64)
        }
    }
}

impl Interval {
    /// Mean, sample standard deviation and the 95 % interval of `values`.
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        if n == 0 {
            return Interval {
                mean: f64::NAN,
                ci95: f64::NAN,
                std: f64::NAN,
                n,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Interval {
                mean,
                ci95: 0.0,
                std: 0.0,
                n,
            };
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let std = var.sqrt();
        Interval {
            mean,
            ci95: t_975(n - 1) * std / (n as f64).sqrt(),
            std,
            n,
        }
    }
}

/// Per-class scores of the pooled confusion matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClassResult {
    /// Class id.
    pub id: u16,
    /// Class name.
    pub name: String,
    /// Producer's/user's accuracy, F1, IoU over all tasks' query examples.
    pub scores: ClassScores,
}

/// Results of one model at one shot count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShotResult {
    /// Support examples per class (segmentation: support crops per task).
    pub shots: usize,
    /// Step size used (`null` at 0 shots).
    pub inner_lr: Option<f64>,
    /// Gradient steps used (0 at 0 shots).
    pub inner_steps: usize,
    /// Mean meta-validation query accuracy of the chosen settings (grid search only).
    pub val_accuracy: Option<f64>,
    /// Overall accuracy (pixel accuracy for segmentation) over tasks.
    pub accuracy: Interval,
    /// Cohen's kappa over tasks.
    pub kappa: Interval,
    /// Mean F1 of each task over tasks.
    pub mean_f1: Interval,
    /// Mean IoU of each task over tasks.
    pub mean_iou: Interval,
    /// Confusion matrix pooled over tasks, rows reference, columns prediction, in
    /// the report's `classes` order.
    pub confusion: ConfusionMatrix,
    /// Per-class scores of `confusion`, for classes that occur in it.
    pub per_class: Vec<ClassResult>,
}

/// Results of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelResult {
    /// Name in curves and plots.
    pub name: String,
    /// Checkpoint file (`null` for the random initialisation).
    pub path: Option<String>,
    /// `maml`, `pretrain` or `random`.
    pub method: String,
    /// How its tasks were labelled.
    pub labels: Labelling,
    /// One entry per shot count, in `shots` order.
    pub results: Vec<ShotResult>,
}

/// How adaptation settings were chosen, as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AdaptationReport {
    /// `grid` or `fixed`.
    pub mode: String,
    /// Grid name (`small`, `paper`) when searched.
    pub grid_name: Option<String>,
    /// Step sizes tried (one when fixed).
    pub lrs: Vec<f64>,
    /// Step counts tried (one when fixed).
    pub steps: Vec<usize>,
    /// Meta-validation tasks the search scored on (0 when fixed).
    pub val_tasks: usize,
}

/// `report.json` of `geomaml evaluate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvalReport {
    /// Layout version ([`REPORT_VERSION`]).
    pub version: u32,
    /// The catalog evaluated on.
    pub catalog: String,
    /// Classification (per tile) or segmentation (per pixel).
    pub kind: TaskKind,
    /// Split the tasks come from.
    pub split: Split,
    /// Classes per task.
    pub way: usize,
    /// Query examples per class (segmentation: query sub-images per task).
    pub query: usize,
    /// Tasks per shot count.
    pub tasks: usize,
    /// Seed of the task draw.
    pub seed: u64,
    /// Shot counts evaluated.
    pub shots: Vec<usize>,
    /// Batch-norm statistics used (always batch statistics, transductive).
    pub batch_norm: String,
    /// How step size and steps were chosen.
    pub adaptation: AdaptationReport,
    /// Legend of the pooled confusion matrices.
    pub classes: Vec<ClassInfo>,
    /// One entry per model, in command-line order.
    pub models: Vec<ModelResult>,
    /// Device computed on.
    pub device: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// geomaml version.
    pub geomaml_version: String,
    /// UTC time of creation (RFC 3339).
    pub created: String,
}

/// What to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// Shot counts, ascending, deduplicated.
    pub shots: Vec<usize>,
    /// How adaptation settings are chosen.
    pub adaptation: Adaptation,
}

/// Draws `count` tasks from `sampler` with `seed` and reads them; errors say which
/// flags to lower.
pub fn load_tasks(
    sampler: &TaskSampler<'_>,
    loader: &TaskLoader<'_>,
    count: usize,
    seed: u64,
) -> Result<Vec<TaskBatch>> {
    let tasks = sampler.sample_many(count, seed)?;
    tasks.iter().map(|t| loader.load(t)).collect()
}

/// The batch with only the first `k` of `max_shot` support examples per class
/// (classification, support laid out class by class) or the first `k` support crops
/// (segmentation).
pub fn first_shots(batch: &TaskBatch, kind: TaskKind, max_shot: usize, k: usize) -> TaskBatch {
    let rows: Vec<usize> = match kind {
        TaskKind::Classification => (0..batch.classes.len())
            .flat_map(|c| (0..k.min(max_shot)).map(move |i| c * max_shot + i))
            .filter(|&r| r < batch.support_x.len_of(Axis(0)))
            .collect(),
        TaskKind::Segmentation => (0..k.min(batch.support_x.len_of(Axis(0)))).collect(),
    };
    TaskBatch {
        support_x: batch.support_x.select(Axis(0), &rows),
        support_y: batch.support_y.select(Axis(0), &rows),
        query_x: batch.query_x.clone(),
        query_y: batch.query_y.clone(),
        classes: batch.classes.clone(),
    }
}

/// One gradient step on the support set, from a detached copy (no graph kept
/// across steps).
fn step(params: &Params, t: &TaskTensors, lr: f64) -> Params {
    let start = params.with_trainable(
        params
            .trainable()
            .iter()
            .map(|w| w.detach().set_requires_grad(true))
            .collect(),
    );
    let s = InnerSettings {
        lr,
        steps: 1,
        first_order: true,
        bn_momentum: None,
    };
    adapt(&start, &t.support_x, &t.support_y, &s, false).0
}

/// Query predictions (task-local indices, one per tile or pixel, flattened).
fn predict(params: &Params, t: &TaskTensors, columns: &Tensor) -> Vec<i64> {
    tch::no_grad(|| {
        let logits = forward(params, &t.query_x, BnMode::Batch);
        let pred = logits.index_select(1, columns).argmax(1, false);
        Vec::<i64>::try_from(pred.reshape([-1]).to_device(Device::Cpu)).unwrap_or_default()
    })
}

/// A task's way x way confusion matrix from task-local references and predictions.
pub fn task_confusion(reference: &[i64], predicted: &[i64], way: usize) -> ConfusionMatrix {
    let mut m = ConfusionMatrix::new(way);
    for (&r, &p) in reference.iter().zip(predicted) {
        if r == IGNORE_INDEX || r < 0 || r as usize >= way || p < 0 || p as usize >= way {
            continue;
        }
        m.add(r as usize, p as usize);
    }
    m
}

/// Adapts `model` to one task with step size `lr` and scores its query set after
/// each of `checkpoints` (ascending step counts; 0 = unadapted): one confusion
/// matrix per checkpoint.
pub fn trajectory(
    model: &EvalModel,
    batch: &TaskBatch,
    lr: f64,
    checkpoints: &[usize],
) -> Result<Vec<ConfusionMatrix>> {
    let t = model.tensors(batch)?;
    let cols = model.columns(&batch.classes)?;
    let columns = Tensor::from_slice(&cols).to_device(model.params.device());
    let reference: Vec<i64> = batch.query_y.iter().copied().collect();
    let way = batch.classes.len();
    let has_support = batch.support_x.len_of(Axis(0)) > 0;
    let mut out = Vec::with_capacity(checkpoints.len());
    let mut current: Option<Params> = None;
    let mut done = 0;
    for &c in checkpoints {
        while done < c && has_support {
            let base = current.as_ref().unwrap_or(&model.params);
            current = Some(step(base, &t, lr));
            done += 1;
        }
        let p = current.as_ref().unwrap_or(&model.params);
        out.push(task_confusion(&reference, &predict(p, &t, &columns), way));
    }
    Ok(out)
}

/// The settings for `model` at `k` shots: fixed, or the grid point with the best
/// mean query accuracy on `val` (ties: the first in grid order). Returns
/// `(lr, steps, val accuracy)`.
pub fn choose_settings(
    model: &EvalModel,
    val: &[TaskBatch],
    kind: TaskKind,
    max_shot: usize,
    k: usize,
    adaptation: &Adaptation,
    tick: &dyn Fn(),
) -> Result<(f64, usize, Option<f64>)> {
    match adaptation {
        Adaptation::Fixed { lr, steps } => Ok((*lr, *steps, None)),
        Adaptation::Search { grid, .. } => {
            let mut steps = grid.steps.clone();
            steps.sort_unstable();
            steps.dedup();
            let mut best: Option<(f64, usize, f64)> = None;
            for &lr in &grid.lrs {
                let mut sums = vec![0.0; steps.len()];
                for batch in val {
                    let b = first_shots(batch, kind, max_shot, k);
                    for (i, m) in trajectory(model, &b, lr, &steps)?.iter().enumerate() {
                        sums[i] += m.scores().overall_accuracy / val.len() as f64;
                    }
                    tick();
                }
                for (i, &acc) in sums.iter().enumerate() {
                    if best.is_none_or(|(_, _, b)| acc > b) {
                        best = Some((lr, steps[i], acc));
                    }
                }
            }
            let (lr, s, acc) = best.ok_or_else(|| {
                Error::config("--grid", "the grid has no step size or no step count")
            })?;
            Ok((lr, s, Some(acc)))
        }
    }
}

/// Scores `model` on `tasks` at every shot count of `cfg` (settings chosen on
/// `val`); `legend` orders the pooled confusion matrices; `tick` is called once
/// per adapted task (progress).
pub fn evaluate_model(
    model: &EvalModel,
    tasks: &[TaskBatch],
    val: &[TaskBatch],
    kind: TaskKind,
    cfg: &EvalConfig,
    legend: &[ClassInfo],
    tick: &dyn Fn(),
) -> Result<ModelResult> {
    let max_shot = cfg.shots.iter().copied().max().unwrap_or(0);
    let position = |id: u16| legend.iter().position(|c| c.id == id);
    let mut results = Vec::with_capacity(cfg.shots.len());
    for &k in &cfg.shots {
        let (lr, steps, val_accuracy) = if k == 0 {
            (0.0, 0, None)
        } else {
            choose_settings(model, val, kind, max_shot, k, &cfg.adaptation, tick)?
        };
        let mut pooled = ConfusionMatrix::new(legend.len());
        let (mut acc, mut kappa, mut f1, mut iou) = (vec![], vec![], vec![], vec![]);
        for batch in tasks {
            let b = first_shots(batch, kind, max_shot, k);
            let m = trajectory(model, &b, lr, &[steps])?.remove(0);
            let s = m.scores();
            acc.push(s.overall_accuracy);
            kappa.push(s.kappa);
            f1.push(s.mean_f1);
            iou.push(s.mean_iou);
            let ids: Vec<Option<usize>> = batch.classes.iter().map(|&c| position(c)).collect();
            for (r, row) in m.counts.iter().enumerate() {
                for (p, &n) in row.iter().enumerate() {
                    if let (Some(gr), Some(gp)) = (ids[r], ids[p]) {
                        pooled.counts[gr][gp] += n;
                    }
                }
            }
            tick();
        }
        let scores = pooled.scores();
        let per_class = legend
            .iter()
            .zip(scores.per_class)
            .enumerate()
            .filter(|(i, (_, s))| s.support > 0 || pooled.counts.iter().any(|row| row[*i] > 0))
            .map(|(_, (c, s))| ClassResult {
                id: c.id,
                name: c.name.clone(),
                scores: s,
            })
            .collect();
        results.push(ShotResult {
            shots: k,
            inner_lr: (k > 0).then_some(lr),
            inner_steps: steps,
            val_accuracy,
            accuracy: Interval::of(&acc),
            kappa: Interval::of(&kappa),
            mean_f1: Interval::of(&f1),
            mean_iou: Interval::of(&iou),
            confusion: pooled,
            per_class,
        });
    }
    Ok(ModelResult {
        name: model.name.clone(),
        path: model.path.clone(),
        method: model.method.clone(),
        labels: model.labelling,
        results,
    })
}

/// Adaptations [`evaluate_model`] runs for one model (progress-bar length).
pub fn work(cfg: &EvalConfig, tasks: usize, val_tasks: usize) -> u64 {
    let search = match &cfg.adaptation {
        Adaptation::Fixed { .. } => 0,
        Adaptation::Search { grid, .. } => grid.lrs.len() * val_tasks,
    };
    cfg.shots
        .iter()
        .map(|&k| tasks + if k > 0 { search } else { 0 })
        .sum::<usize>() as u64
}

/// `curves.csv`: one row per model and shot count.
pub fn curves_csv(report: &EvalReport) -> String {
    let mut s = String::from(
        "model,method,shots,inner_lr,inner_steps,tasks,accuracy_mean,accuracy_ci95,kappa_mean,kappa_ci95,mean_iou_mean,mean_iou_ci95\n",
    );
    for m in &report.models {
        for r in &m.results {
            s.push_str(&format!(
                "{},{},{},{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}\n",
                csv_field(&m.name),
                m.method,
                r.shots,
                r.inner_lr.map(|v| v.to_string()).unwrap_or_default(),
                r.inner_steps,
                r.accuracy.n,
                r.accuracy.mean,
                r.accuracy.ci95,
                r.kappa.mean,
                r.kappa.ci95,
                r.mean_iou.mean,
                r.mean_iou.ci95,
            ));
        }
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The figure: accuracy and kappa against shots, one line per model, 95 % bands.
pub fn curves_svg(report: &EvalReport) -> String {
    use crate::eval::plot::{line_chart_svg, Panel, Series};
    let series = |f: fn(&ShotResult) -> &Interval| -> Vec<Series> {
        report
            .models
            .iter()
            .map(|m| Series {
                name: m.name.clone(),
                points: m
                    .results
                    .iter()
                    .map(|r| (r.shots as f64, f(r).mean, f(r).ci95))
                    .collect(),
            })
            .collect()
    };
    let what = match report.kind {
        TaskKind::Classification => "accuracy",
        TaskKind::Segmentation => "pixel accuracy",
    };
    let shots = match report.kind {
        TaskKind::Classification => "shots per class",
        TaskKind::Segmentation => "support crops",
    };
    line_chart_svg(
        &[
            Panel {
                title: format!("{what} ({}-way, {} tasks)", report.way, report.tasks),
                y_range: (0.0, 1.0),
                series: series(|r| &r.accuracy),
            },
            Panel {
                title: "Cohen's kappa".into(),
                y_range: (-0.25, 1.0),
                series: series(|r| &r.kappa),
            },
        ],
        shots,
    )
}

/// Assembles the report around the models' results.
#[allow(clippy::too_many_arguments)]
pub fn report(
    catalog: &str,
    kind: TaskKind,
    split: Split,
    (way, query, tasks, seed): (usize, usize, usize, u64),
    cfg: &EvalConfig,
    val_tasks: usize,
    classes: Vec<ClassInfo>,
    models: Vec<ModelResult>,
    device: String,
    seconds: f64,
) -> EvalReport {
    let adaptation = match &cfg.adaptation {
        Adaptation::Fixed { lr, steps } => AdaptationReport {
            mode: "fixed".into(),
            grid_name: None,
            lrs: vec![*lr],
            steps: vec![*steps],
            val_tasks: 0,
        },
        Adaptation::Search { name, grid } => AdaptationReport {
            mode: "grid".into(),
            grid_name: Some(name.clone()),
            lrs: grid.lrs.clone(),
            steps: grid.steps.clone(),
            val_tasks,
        },
    };
    EvalReport {
        version: REPORT_VERSION,
        catalog: catalog.into(),
        kind,
        split,
        way,
        query,
        tasks,
        seed,
        shots: cfg.shots.clone(),
        batch_norm: "batch statistics (support while adapting, whole query set when predicting)"
            .into(),
        adaptation,
        classes,
        models,
        device,
        seconds,
        geomaml_version: env!("CARGO_PKG_VERSION").into(),
        created: now_rfc3339(),
    }
}

/// A plain-text table of accuracy and kappa per model and shot count.
pub fn table(report: &EvalReport) -> String {
    let mut s = format!("{:<14}", "model");
    for k in &report.shots {
        s.push_str(&format!(" {:>17}", format!("{k} shot")));
    }
    s.push('\n');
    for m in &report.models {
        s.push_str(&format!("{:<14}", m.name));
        for r in &m.results {
            s.push_str(&format!(
                " {:>17}",
                format!(
                    "{:.1}±{:.1} κ{:.2}",
                    r.accuracy.mean * 100.0,
                    r.accuracy.ci95 * 100.0,
                    r.kappa.mean
                )
            ));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::classes::dfc2020;
    use ndarray::{Array2, Array4};

    #[test]
    fn intervals_follow_student_t() {
        let i = Interval::of(&[0.5, 0.7, 0.6, 0.8]);
        assert!((i.mean - 0.65).abs() < 1e-12);
        let sd = (0.05f64 / 3.0).sqrt();
        assert!((i.std - sd).abs() < 1e-12);
        assert!((i.ci95 - 3.182 * sd / 2.0).abs() < 1e-12);
        assert_eq!(Interval::of(&[0.3]).ci95, 0.0);
        assert!(Interval::of(&[]).mean.is_nan());
        assert!((t_975(1000) - 1.962).abs() < 0.002);
        assert!((t_975(40) - 2.021).abs() < 0.003);
        assert!(t_975(31) < t_975(30) && t_975(31) > 1.96);
    }

    fn batch() -> TaskBatch {
        // 2-way, 3 shots per class (values mark the row), 2 queries.
        let mut sx = Array4::<f32>::zeros((6, 1, 2, 2));
        for r in 0..6 {
            sx[[r, 0, 0, 0]] = r as f32;
        }
        TaskBatch {
            support_x: sx,
            support_y: Array2::from_shape_vec((6, 1), vec![0, 0, 0, 1, 1, 1]).unwrap(),
            query_x: Array4::zeros((2, 1, 2, 2)),
            query_y: Array2::from_shape_vec((2, 1), vec![1, 0]).unwrap(),
            classes: vec![4, 1],
        }
    }

    #[test]
    fn first_shots_takes_the_first_k_of_each_class() {
        let b = first_shots(&batch(), TaskKind::Classification, 3, 2);
        let rows: Vec<f32> = (0..4).map(|r| b.support_x[[r, 0, 0, 0]]).collect();
        assert_eq!(rows, vec![0.0, 1.0, 3.0, 4.0]);
        assert_eq!(
            b.support_y.iter().copied().collect::<Vec<_>>(),
            [0, 0, 1, 1]
        );
        let none = first_shots(&batch(), TaskKind::Classification, 3, 0);
        assert_eq!(none.support_x.len_of(Axis(0)), 0);
        assert_eq!(none.query_y, batch().query_y);
    }

    fn model(labelling: Labelling) -> EvalModel {
        let spec = ModelSpec {
            width: 4,
            depth: 1,
            tile_size: 2,
            ..ModelSpec::paper_cnn(1, 10)
        };
        let mut m =
            EvalModel::random(&spec, &dfc2020(), vec!["B01".into()], Device::Cpu, 0).unwrap();
        m.labelling = labelling;
        m
    }

    #[test]
    fn tasks_are_labelled_the_way_each_method_trained() {
        assert_eq!(Labelling::for_method("maml"), Some(Labelling::TaskLocal));
        assert_eq!(Labelling::for_method("pretrain"), Some(Labelling::Legend));
        assert_eq!(Labelling::for_method("random"), Some(Labelling::Legend));
        assert_eq!(Labelling::for_method("sgd"), None);
        let b = batch();
        let local = model(Labelling::TaskLocal);
        let t = local.tensors(&b).unwrap();
        assert_eq!(
            Vec::<i64>::try_from(t.query_y.view([-1])).unwrap(),
            vec![1, 0]
        );
        assert_eq!(local.columns(&b.classes).unwrap(), vec![0, 1]);
        // Legend: class 4 is DFC position 3, class 1 position 0.
        let legend = model(Labelling::Legend);
        let t = legend.tensors(&b).unwrap();
        assert_eq!(
            Vec::<i64>::try_from(t.query_y.view([-1])).unwrap(),
            vec![0, 3]
        );
        assert_eq!(legend.columns(&b.classes).unwrap(), vec![3, 0]);
        assert!(legend.columns(&[99]).is_err());
    }

    #[test]
    fn trajectories_score_each_checkpoint_and_zero_shots_stay_unadapted() {
        let b = batch();
        let m = model(Labelling::Legend);
        let out = trajectory(&m, &b, 0.1, &[0, 1, 3]).unwrap();
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|c| c.total() == 2 && c.len() == 2));
        let zero = first_shots(&b, TaskKind::Classification, 3, 0);
        let a = trajectory(&m, &zero, 0.1, &[5]).unwrap();
        assert_eq!(a[0], out[0], "no support: no adaptation");
        let m = task_confusion(&[0, 1, IGNORE_INDEX], &[0, 0, 1], 2);
        assert_eq!(m.counts, vec![vec![1, 0], vec![1, 0]]);
    }

    #[test]
    fn reports_serialise_and_render() {
        let cfg = EvalConfig {
            shots: vec![0, 1],
            adaptation: Adaptation::Search {
                name: "small".into(),
                grid: Grid::small(),
            },
        };
        let b = batch();
        let m = model(Labelling::Legend);
        let res = evaluate_model(
            &m,
            &[b.clone(), b.clone()],
            std::slice::from_ref(&b),
            TaskKind::Classification,
            &cfg,
            &dfc2020(),
            &|| {},
        )
        .unwrap();
        assert_eq!(res.results.len(), 2);
        assert_eq!(res.results[0].inner_steps, 0);
        assert!(res.results[1].val_accuracy.is_some());
        assert!(Grid::small()
            .lrs
            .contains(&res.results[1].inner_lr.unwrap()));
        assert_eq!(res.results[1].accuracy.n, 2);
        // Pooled per-class rows: classes 1 and 4 only.
        let ids: Vec<u16> = res.results[0].per_class.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![1, 4]);
        assert_eq!(res.results[0].confusion.total(), 4);
        let r = report(
            "c.json",
            TaskKind::Classification,
            Split::Test,
            (2, 1, 2, 0),
            &cfg,
            1,
            dfc2020(),
            vec![res],
            "cpu".into(),
            0.1,
        );
        let json = serde_json::to_string(&r).unwrap();
        let back: EvalReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(json.contains("\"labels\":\"legend\""));
        let csv = curves_csv(&r);
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.lines().nth(2).unwrap().starts_with("random,random,1,"));
        assert!(curves_svg(&r).contains("<polyline"));
        assert!(table(&r).contains("1 shot"));
        assert_eq!(work(&cfg, 2, 1), 2 + 2 + 6);
    }
}

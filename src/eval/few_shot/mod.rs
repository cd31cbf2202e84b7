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

mod batched;
mod comparison;
mod grid;
mod interval;
mod model;
mod report;

pub use batched::trajectories;
pub use comparison::{compare, comparisons, Comparison, PairedShot};
pub use grid::{choose_settings, Adaptation, Grid};
pub use interval::{t_975, Interval};
pub use model::{EvalModel, Labelling};
pub use report::{
    curves_csv, curves_svg, report, table, AdaptationReport, ClassResult, EvalReport, ModelResult,
    ShotResult, TaskScore, REPORT_VERSION,
};

use crate::catalog::classes::ClassInfo;
use crate::error::Result;
use crate::eval::metrics::ConfusionMatrix;
use crate::inner_loop::{adapt, InnerSettings};
use crate::model::functional::forward;
use crate::model::layers::BnMode;
use crate::model::params::Params;
use crate::model::task_tensors::TaskTensors;
use crate::tasks::{TaskBatch, TaskKind, TaskLoader, TaskSampler, IGNORE_INDEX};
use ndarray::Axis;
use tch::{Device, Tensor};

/// What to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// Shot counts, ascending, deduplicated.
    pub shots: Vec<usize>,
    /// How adaptation settings are chosen.
    pub adaptation: Adaptation,
    /// Tasks adapted together in one stacked pass ([`trajectories`]; 1: one task
    /// after the other, 0: all tasks of a shape at once).
    pub task_group: usize,
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
pub(crate) fn step(params: &Params, t: &TaskTensors, lr: f64) -> Params {
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
        prototype_head: false,
    };
    adapt(&start, &t.support_x, &t.support_y, &s, false).0
}

/// Query predictions (task-local indices, one per tile or pixel, flattened).
pub(crate) fn predict(params: &Params, t: &TaskTensors, columns: &Tensor) -> Vec<i64> {
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
            choose_settings(model, val, kind, max_shot, k, cfg, tick)?
        };
        let mut pooled = ConfusionMatrix::new(legend.len());
        let (mut acc, mut kappa, mut f1, mut iou) = (vec![], vec![], vec![], vec![]);
        let mut per_task = Vec::with_capacity(tasks.len());
        let firsts: Vec<TaskBatch> = tasks
            .iter()
            .map(|b| first_shots(b, kind, max_shot, k))
            .collect();
        let matrices = trajectories(model, &firsts, lr, &[steps], cfg.task_group, tick)?;
        for (batch, mut m) in tasks.iter().zip(matrices) {
            let m = m.remove(0);
            let s = m.scores();
            acc.push(s.overall_accuracy);
            kappa.push(s.kappa);
            f1.push(s.mean_f1);
            iou.push(s.mean_iou);
            per_task.push(TaskScore {
                accuracy: s.overall_accuracy,
                kappa: s.kappa,
            });
            let ids: Vec<Option<usize>> = batch.classes.iter().map(|&c| position(c)).collect();
            for (r, row) in m.counts.iter().enumerate() {
                for (p, &n) in row.iter().enumerate() {
                    if let (Some(gr), Some(gp)) = (ids[r], ids[p]) {
                        pooled.counts[gr][gp] += n;
                    }
                }
            }
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
            per_task,
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

#[cfg(test)]
mod tests;

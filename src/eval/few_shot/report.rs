//! `report.json`, `curves.csv`, `curves.svg` and the printed table of
//! `geomaml evaluate`.

use super::{comparisons, Adaptation, Comparison, EvalConfig, Interval, Labelling};
use crate::card::now_rfc3339;
use crate::catalog::classes::ClassInfo;
use crate::catalog::Split;
use crate::eval::metrics::{ClassScores, ConfusionMatrix};
use crate::tasks::TaskKind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the report layout.
pub const REPORT_VERSION: u32 = 2;

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

/// One task's scores, kept so that models can be compared task by task.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskScore {
    /// Overall accuracy (pixel accuracy for segmentation).
    pub accuracy: f64,
    /// Cohen's kappa.
    pub kappa: f64,
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
    /// Scores of each task, in task order (the same tasks for every model).
    pub per_task: Vec<TaskScore>,
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
    /// The first model against each other model, paired by task.
    pub comparisons: Vec<Comparison>,
    /// Device computed on.
    pub device: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// geomaml version.
    pub geomaml_version: String,
    /// UTC time of creation (RFC 3339).
    pub created: String,
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
        comparisons: comparisons(&models),
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
    if !report.comparisons.is_empty() {
        s.push_str("paired differences over the same tasks (accuracy in pp, 95 % interval; wins/ties/losses by accuracy):\n");
    }
    for c in &report.comparisons {
        for r in &c.results {
            s.push_str(&format!(
                "  {} - {}, {} shot: {:+.1} [{:+.1}, {:+.1}] pp, κ {:+.3} [{:+.3}, {:+.3}] (wins {}/{}, ties {})\n",
                c.model,
                c.other,
                r.shots,
                r.accuracy.mean * 100.0,
                (r.accuracy.mean - r.accuracy.ci95) * 100.0,
                (r.accuracy.mean + r.accuracy.ci95) * 100.0,
                r.kappa.mean,
                r.kappa.mean - r.kappa.ci95,
                r.kappa.mean + r.kappa.ci95,
                r.wins,
                r.accuracy.n,
                r.ties,
            ));
        }
    }
    s
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

//! `geomaml evaluate` as one library call: [`evaluate`] on a validated
//! [`EvaluatePlan`] loads the models and the meta-test tasks, evaluates every model
//! at every shot count (few-shot evaluation of Russwurm et al. 2020, figure 5), and
//! writes `report.json`, `curves.csv`, `curves.svg`, `curves.png` and, with
//! trajectories, `trajectories.json` and its figures, all at the end so a failed run
//! leaves no folder behind.

use crate::bands::default_normalisation;
use crate::catalog::{Catalog, Split};
use crate::error::{Error, Result};
use crate::eval::few_shot::{self, Adaptation, EvalConfig, EvalModel, EvalReport};
use crate::eval::png::svg_to_png;
use crate::eval::trajectories::{self, TaskOrigin};
use crate::progress::Progress;
use crate::tasks::{
    LoaderOptions, SamplerConfig, SplitStrategy, Splits, TaskKind, TaskLoader, TaskSampler,
    TileIndex,
};
use crate::train::checkpoint::choose_spec;
use crate::train::device::device_name;
use crate::train::{parse_device, DataInfo, TrainConfig};
use std::path::{Path, PathBuf};
use std::time::Instant;

mod models;
use models::load_models;

/// A `geomaml evaluate` request; [`EvaluatePlan::check`] (run by [`evaluate`])
/// refuses values it cannot run, naming the option.
#[derive(Debug, Clone)]
pub struct EvaluatePlan {
    /// catalog.json written by `geomaml catalog`.
    pub catalog: PathBuf,
    /// Checkpoints (.safetensors) to evaluate, or `random` for the randomly
    /// initialised network.
    pub models: Vec<String>,
    /// Shot counts, sorted, distinct, at least one.
    pub shots: Vec<usize>,
    /// Meta-test tasks (the same for every model and shot count), at least 1.
    pub tasks: usize,
    /// Classes per task (ignored for DeepGlobe).
    pub way: usize,
    /// Query examples per class, at least 1.
    pub query: usize,
    /// Split the tasks come from.
    pub split: Split,
    /// How regions are split.
    pub strategy: SplitStrategy,
    /// Fixed settings or the grid searched on meta-validation tasks.
    pub adaptation: Adaptation,
    /// Meta-validation tasks of the grid search (at least 1 when searching).
    pub grid_tasks: usize,
    /// Seed of the task draw and of the random initialisation.
    pub seed: u64,
    /// `auto`, `cpu` or `cuda:N`.
    pub device: String,
    /// Tasks adapted together in one stacked pass (`--task-group`; 1: one after the
    /// other, 0: all tasks of a shape at once). `None`: 16 on CUDA, 1 on CPU, where
    /// grouped convolutions lose to a loop.
    pub task_group: Option<usize>,
    /// Also the adaptation trajectories at the largest shot count (above 0).
    pub trajectories: bool,
    /// Read tiles from the tile store beside the catalog when there is one
    /// ([`crate::store`]); `false` reads the files (`--no-store`).
    pub use_store: bool,
    /// Output folder.
    pub output: PathBuf,
    /// Write into an existing, non-empty output folder, replacing its files.
    pub overwrite: bool,
    /// Started with the adaptations of all models, advanced once per adaptation,
    /// with the model being evaluated as its message.
    pub progress: Progress,
}

impl EvaluatePlan {
    /// Whether adaptation settings are searched on meta-validation tasks: a grid,
    /// and a shot count above 0 to adapt at.
    pub fn searching(&self) -> bool {
        matches!(self.adaptation, Adaptation::Search { .. }) && self.shots.iter().any(|&k| k > 0)
    }

    /// Refuses a plan that cannot run: no shot counts, no tasks or queries, a
    /// negative or non-finite step size, an empty grid, trajectories without a shot
    /// count above 0, a grid search without meta-validation tasks.
    pub fn check(&self) -> Result<()> {
        let rule = |ok: bool, option: &str, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(Error::config(option, what))
            }
        };
        let step_size = |v: &f64| v.is_finite() && *v >= 0.0;
        rule(
            !self.shots.is_empty(),
            "--shots",
            "give at least one shot count",
        )?;
        rule(self.tasks > 0, "--tasks", "must be at least 1")?;
        rule(self.query > 0, "--query", "must be at least 1")?;
        match &self.adaptation {
            Adaptation::Fixed { lr, .. } => {
                rule(step_size(lr), "--inner-lr", "must be a finite number >= 0")?
            }
            Adaptation::Search { grid, .. } => {
                let lrs_ok = !grid.lrs.is_empty() && grid.lrs.iter().all(step_size);
                rule(lrs_ok, "--grid-lrs", "give finite step sizes >= 0")?;
                rule(
                    !grid.steps.is_empty(),
                    "--grid-steps",
                    "give at least one step count",
                )?;
            }
        }
        let largest = self.shots.iter().max().copied().unwrap_or(0);
        rule(
            !self.trajectories || largest > 0,
            "--trajectories",
            "adapts at the largest shot count; add a count above 0 to --shots",
        )?;
        rule(
            !self.searching() || self.grid_tasks > 0,
            "--grid-tasks",
            "must be at least 1 (or fix --inner-lr and --inner-steps)",
        )
    }
}

/// What [`evaluate`] produced.
#[derive(Debug)]
pub struct Evaluation {
    /// The report written as report.json.
    pub report: EvalReport,
    /// The trajectories' summary lines (empty without trajectories).
    pub summary: String,
    /// The files written into [`EvaluatePlan::output`].
    pub written: Vec<&'static str>,
    /// Where the tiles were read from (the tile store or the files), for the user.
    pub data_path: String,
}

/// Runs the evaluation `plan` describes and writes its outputs.
///
/// # Errors
/// An existing, non-empty output folder without `overwrite`, an unreadable catalog
/// or checkpoint, models that do not fit the catalog (tile size, task kind) or each
/// other (bands), too few tiles for the tasks, and failures writing the outputs.
pub fn evaluate(plan: &EvaluatePlan) -> Result<Evaluation> {
    plan.check()?;
    let started = Instant::now();
    let split = plan.split;
    let shots = plan.shots.clone();
    let adaptation = plan.adaptation.clone();
    let searching = plan.searching();
    // Refuse a non-empty output folder before any work.
    let out = &plan.output;
    if out.exists() {
        if !out.is_dir() {
            return Err(Error::config(
                "--output",
                format!("{} exists and is not a folder", out.display()),
            ));
        }
        let non_empty = std::fs::read_dir(out)
            .map_err(|e| Error::io(out, e))?
            .next()
            .is_some();
        if non_empty && !plan.overwrite {
            return Err(Error::OutputExists { path: out.clone() });
        }
    }
    let device = parse_device(&plan.device)?;

    let catalog = Catalog::load(&plan.catalog)?;
    let catalog_name = plan.catalog.display().to_string();
    let dataset = catalog.kind.dataset();
    // Pixel networks on a dataset of labelled tiles are evaluated on point tasks
    // (per-pixel labels at a few points), as they were meta-trained.
    let first = plan.models.iter().find(|m| m.as_str() != "random");
    let points = match first {
        // (An unreadable model is reported below, with the other models' checks.)
        Some(m) if !dataset.per_pixel_labels() => crate::checkpoint::Checkpoint::load(m)
            .is_ok_and(|c| c.card.spec.arch == crate::model::spec::Arch::Pixel),
        _ => false,
    };
    if points {
        for m in plan.models.iter().filter(|m| m.as_str() != "random") {
            if let Ok(c) = crate::checkpoint::Checkpoint::load(m) {
                if c.card.spec.arch != crate::model::spec::Arch::Pixel {
                    return Err(Error::model(
                        m,
                        "is not a pixel network: pixel networks are evaluated on point tasks, \
                         so evaluate them with each other (and random) only",
                    ));
                }
            }
        }
    }
    let (classes, segmentation) = (dataset.task_classes(), dataset.per_pixel_labels() || points);

    let (models, mut loader) = load_models(plan, &catalog, &classes, segmentation, device)?;
    if points {
        loader.set_points(Some(crate::tasks::PointLabels::default()));
    }
    let data_path =
        crate::store::DataPath::for_catalog(&plan.catalog, loader.bands(), plan.use_store)?;
    loader.set_store(data_path.store())?;
    let data_path = data_path.describe();

    // Tasks: the same for every model and shot count.
    let strategy = plan.strategy.clone();
    let splits = Splits::for_catalog(&catalog, &strategy)?;
    let index = TileIndex::new(&catalog, &splits);
    let max_shot = *shots.last().expect("checked non-empty");
    let sampler_for = |split: Split| {
        TaskSampler::new(
            &index,
            SamplerConfig {
                way: plan.way,
                shot: max_shot,
                query: plan.query,
                split: Some(split),
            },
        )
    };
    let hint = "lower --shots (its largest value), --query or --way, or use a catalog with more tiles per class";
    let sampler = sampler_for(split).map_err(|e| {
        Error::catalog(
            &plan.catalog,
            format!("cannot draw meta-{split} tasks with {max_shot} shots and {} queries per class: {e}; {hint}", plan.query),
        )
    })?;
    let kind = sampler.kind();
    // Drawn like `few_shot::load_tasks`, keeping each task's region.
    let drawn = sampler.sample_many(plan.tasks, plan.seed)?;
    let origins: Vec<TaskOrigin> = drawn
        .iter()
        .map(|t| TaskOrigin {
            region: t.region,
            season: t.season,
        })
        .collect();
    let tasks = drawn
        .iter()
        .map(|t| loader.load(t))
        .collect::<Result<Vec<_>>>()?;
    let val = if searching {
        let val_sampler = sampler_for(Split::Val).map_err(|e| {
            Error::catalog(
                &plan.catalog,
                format!("the grid search needs meta-val tasks with {max_shot} shots and {} queries per class: {e}; {hint}, or fix --inner-lr and --inner-steps", plan.query),
            )
        })?;
        few_shot::load_tasks(
            &val_sampler,
            &loader,
            plan.grid_tasks,
            plan.seed ^ 0x5641_4c00,
        )?
    } else {
        Vec::new()
    };
    // A segmentation task predicts every task class of its dataset.
    let way = if kind == TaskKind::Segmentation {
        classes.len()
    } else {
        plan.way
    };

    let task_group = plan
        .task_group
        .unwrap_or(if device.is_cuda() { 16 } else { 1 });
    let cfg = EvalConfig {
        shots,
        adaptation,
        task_group,
    };
    let alphas = trajectories::alphas();
    let per_model = few_shot::work(&cfg, tasks.len(), val.len())
        + if plan.trajectories {
            2 * tasks.len() as u64
        } else {
            0
        };
    let bar = &plan.progress;
    bar.start(per_model * models.len() as u64, "");
    let mut results = Vec::with_capacity(models.len());
    let mut paths = Vec::new();
    for m in &models {
        bar.set_message(m.name.clone());
        let tick = || bar.inc(1);
        let result = few_shot::evaluate_model(m, &tasks, &val, kind, &cfg, &classes, &tick)?;
        if plan.trajectories {
            bar.set_message(format!("{} trajectories", m.name));
            // The settings the evaluation used at the largest shot count.
            let last = result.results.last().expect("checked non-empty");
            let settings = (last.inner_lr.unwrap_or(0.0), last.inner_steps);
            paths.push(trajectories::model_trajectories(
                m, &tasks, &origins, settings, &alphas, &tick,
            )?);
        }
        results.push(result);
    }
    bar.finish_and_clear();
    let report = few_shot::report(
        &catalog_name,
        kind,
        split,
        (way, plan.query, tasks.len(), plan.seed),
        &cfg,
        val.len(),
        classes,
        results,
        device_name(device),
        started.elapsed().as_secs_f64(),
    );

    // Everything rendered before the first file is written.
    let json = serde_json::to_string_pretty(&report).expect("reports serialise") + "\n";
    let curves = few_shot::curves_svg(&report);
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("report.json", json.into_bytes()),
        ("curves.csv", few_shot::curves_csv(&report).into_bytes()),
        ("curves.png", svg_to_png(&curves)?),
        ("curves.svg", curves.into_bytes()),
    ];
    let mut summary = String::new();
    if plan.trajectories {
        let t = trajectories::report(
            &catalog_name,
            kind,
            split,
            way,
            max_shot,
            plan.seed,
            alphas,
            paths,
        );
        summary = trajectories::summary(&t);
        let json = serde_json::to_string_pretty(&t).expect("reports serialise") + "\n";
        let pca = trajectories::pca_svg(&t);
        let loss = trajectories::loss_svg(&t);
        files.push(("trajectories.json", json.into_bytes()));
        files.push(("trajectories_pca.png", svg_to_png(&pca)?));
        files.push(("trajectories_pca.svg", pca.into_bytes()));
        files.push(("trajectories_loss.png", svg_to_png(&loss)?));
        files.push(("trajectories_loss.svg", loss.into_bytes()));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    for (name, bytes) in &files {
        crate::output::write_atomic(out.join(name), bytes, plan.overwrite)?;
    }
    Ok(Evaluation {
        report,
        summary,
        written: files.iter().map(|(name, _)| *name).collect(),
        data_path,
    })
}

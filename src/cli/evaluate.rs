//! `geomaml evaluate CATALOG --model M [--model M2 ...|random] --shots 0,1,2,5,10 -o DIR`:
//! few-shot evaluation on meta-test tasks (Russwurm et al. 2020, figure 5).
//!
//! Writes `report.json` (schema `eval_report.schema.json`), `curves.csv`,
//! `curves.svg` and `curves.png` into DIR; with `--trajectories` also
//! `trajectories.json`, `trajectories_pca.svg`/`.png` and
//! `trajectories_loss.svg`/`.png` (section 6.3 of the paper, see
//! [`crate::eval::trajectories`]). All are written at the end, so a failed run
//! leaves no folder behind.
//! Needs the `train` feature (libtorch); without it the command explains that.

use crate::error::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Grid searched for the adaptation step size and steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GridArg {
    /// Step sizes {0.01, 0.05, 0.1, 0.32, 0.5, 1} x steps {1, 5, 10, 20}: minutes on CPU.
    Small,
    /// The paper's: 13 step sizes 0.001 .. 1 x steps {1, 2, 5, 10, 50, 100}.
    Paper,
}

/// Options of `geomaml evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// catalog.json written by `geomaml catalog`.
    catalog: PathBuf,
    /// A checkpoint (.safetensors) to evaluate, or `random` for the randomly
    /// initialised network; repeat for several models.
    #[arg(long = "model", value_name = "MODEL", required = true)]
    models: Vec<String>,
    /// Shot counts (support examples per class; 0: no adaptation).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,5,10")]
    shots: Vec<usize>,
    /// Meta-test tasks (the same for every model and shot count).
    #[arg(long, default_value_t = 100)]
    tasks: usize,
    /// Classes per task (n-way; ignored for DeepGlobe).
    #[arg(long, default_value_t = 4)]
    way: usize,
    /// Query examples per class (DeepGlobe: query sub-images per task).
    #[arg(long, default_value_t = 10)]
    query: usize,
    /// Split the tasks come from.
    #[arg(long, default_value = "test")]
    split: String,
    #[command(flatten)]
    splits: super::split_args::SplitArgs,
    /// Fixed adaptation step size (with --inner-steps; skips the grid search).
    #[arg(long, requires = "inner_steps")]
    inner_lr: Option<f64>,
    /// Fixed adaptation steps (with --inner-lr).
    #[arg(long, requires = "inner_lr")]
    inner_steps: Option<usize>,
    /// Grid searched on meta-validation tasks when no fixed settings are given.
    #[arg(long, value_enum, default_value_t = GridArg::Small)]
    grid: GridArg,
    /// Step sizes to search instead of the grid's (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "LRS")]
    grid_lrs: Option<Vec<f64>>,
    /// Step counts to search instead of the grid's (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "STEPS")]
    grid_steps: Option<Vec<usize>>,
    /// Meta-validation tasks the grid search scores on.
    #[arg(long, default_value_t = 10)]
    grid_tasks: usize,
    /// Seed of the task draw (and of the random initialisation).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// libtorch CPU threads (default: one per core; on a busy shared machine 1 can be
    /// much faster).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// `auto`, `cpu` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Also adapt every model to every task at the largest shot count and write
    /// trajectories.json, trajectories_pca.svg/.png (PCA of the adapted weights,
    /// coloured by region) and trajectories_loss.svg/.png (query loss and accuracy
    /// at step sizes 0..1 along the support gradient).
    #[arg(long)]
    trajectories: bool,
    /// Output folder (report.json, curves.csv, curves.svg, curves.png).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,
    /// Write into an existing, non-empty output folder, replacing its files.
    #[arg(long)]
    overwrite: bool,
}

impl EvaluateArgs {
    /// Evaluates, or explains that this build cannot.
    #[cfg(not(feature = "train"))]
    pub fn run(&self) -> Result<ExitCode> {
        Err(super::feature_missing("evaluate", "train"))
    }

    /// Evaluates every model and writes the outputs.
    #[cfg(feature = "train")]
    pub fn run(&self) -> Result<ExitCode> {
        use crate::bands::default_normalisation;
        use crate::catalog::classes::{deepglobe, dfc2020};
        use crate::catalog::{Catalog, DatasetKind, Split};
        use crate::error::Error;
        use crate::eval::few_shot::{self, Adaptation, EvalConfig, EvalModel, Grid};
        use crate::eval::plot::svg_to_png;
        use crate::eval::trajectories::{self, TaskOrigin};
        use crate::index::sampler::DEEPGLOBE_TASK_CLASSES;
        use crate::index::{
            LoaderOptions, SamplerConfig, Splits, TaskKind, TaskLoader, TaskSampler, TileIndex,
        };
        use crate::train::checkpoint::choose_spec;
        use crate::train::device::device_name;
        use crate::train::{parse_device, DataInfo, TrainConfig};
        use std::io::IsTerminal;
        use std::path::Path;
        use std::time::Instant;

        if let Some(n) = self.threads {
            crate::train::device::set_threads(n)?;
        }
        let started = Instant::now();
        let split: Split = self
            .split
            .parse()
            .map_err(|e| Error::config("--split", e))?;
        let mut shots = self.shots.clone();
        shots.sort_unstable();
        shots.dedup();
        if shots.is_empty() {
            return Err(Error::config("--shots", "give at least one shot count"));
        }
        if self.tasks == 0 {
            return Err(Error::config("--tasks", "must be at least 1"));
        }
        if self.query == 0 {
            return Err(Error::config("--query", "must be at least 1"));
        }
        let adaptation = match (self.inner_lr, self.inner_steps) {
            (Some(lr), Some(steps)) => {
                if !(lr.is_finite() && lr >= 0.0) {
                    return Err(Error::config("--inner-lr", "must be a finite number >= 0"));
                }
                Adaptation::Fixed { lr, steps }
            }
            _ => {
                let mut grid = match self.grid {
                    GridArg::Small => Grid::small(),
                    GridArg::Paper => Grid::paper(),
                };
                let mut name = match self.grid {
                    GridArg::Small => "small",
                    GridArg::Paper => "paper",
                }
                .to_string();
                if let Some(lrs) = &self.grid_lrs {
                    if lrs.is_empty() || lrs.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                        return Err(Error::config("--grid-lrs", "give finite step sizes >= 0"));
                    }
                    grid.lrs = lrs.clone();
                    name = "custom".into();
                }
                if let Some(steps) = &self.grid_steps {
                    if steps.is_empty() {
                        return Err(Error::config(
                            "--grid-steps",
                            "give at least one step count",
                        ));
                    }
                    grid.steps = steps.clone();
                    name = "custom".into();
                }
                Adaptation::Search { name, grid }
            }
        };
        if self.trajectories && shots.last() == Some(&0) {
            return Err(Error::config(
                "--trajectories",
                "adapts at the largest shot count; add a count above 0 to --shots",
            ));
        }
        let searching =
            matches!(adaptation, Adaptation::Search { .. }) && shots.iter().any(|&k| k > 0);
        if searching && self.grid_tasks == 0 {
            return Err(Error::config(
                "--grid-tasks",
                "must be at least 1 (or fix --inner-lr and --inner-steps)",
            ));
        }
        // Refuse a non-empty output folder before any work.
        let out = &self.output;
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
            if non_empty && !self.overwrite {
                return Err(Error::OutputExists { path: out.clone() });
            }
        }
        let device = parse_device(&self.device)?;

        let catalog = Catalog::load(&self.catalog)?;
        let catalog_name = self.catalog.display().to_string();
        let (classes, segmentation) = match catalog.kind {
            DatasetKind::Sen12ms => (dfc2020(), false),
            DatasetKind::Deepglobe => (
                deepglobe()
                    .into_iter()
                    .filter(|c| DEEPGLOBE_TASK_CLASSES.contains(&c.id))
                    .collect(),
                true,
            ),
        };

        // Models: checkpoints first (they fix the bands), then `random`.
        let mut models: Vec<EvalModel> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let unique = |base: String, names: &mut Vec<String>| {
            let mut name = base.clone();
            let mut i = 2;
            while names.contains(&name) {
                name = format!("{base}-{i}");
                i += 1;
            }
            names.push(name.clone());
            name
        };
        let mut slots: Vec<Option<EvalModel>> = Vec::new();
        for m in &self.models {
            if m == "random" {
                slots.push(None);
                continue;
            }
            let path = Path::new(m);
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| m.clone());
            let model = EvalModel::from_checkpoint(path, unique(stem, &mut names), device)?;
            let spec = model.params.spec();
            if spec.tile_size != catalog.tile_size as usize {
                return Err(Error::model(
                    path,
                    format!(
                        "trained on {} px tiles, the catalog has {} px tiles",
                        spec.tile_size, catalog.tile_size
                    ),
                ));
            }
            if spec.is_segmentation() != segmentation {
                return Err(Error::model(
                    path,
                    format!(
                        "a {} model cannot be evaluated on a {} catalog",
                        if spec.is_segmentation() {
                            "segmentation"
                        } else {
                            "classification"
                        },
                        catalog.kind
                    ),
                ));
            }
            if let Some(first) = slots.iter().flatten().next() {
                if first.bands != model.bands {
                    return Err(Error::model(
                        path,
                        format!(
                            "reads bands {:?}, model `{}` reads {:?}; evaluate models of one band set together",
                            model.bands, first.name, first.bands
                        ),
                    ));
                }
            }
            slots.push(Some(model));
        }
        let mut options = LoaderOptions::for_kind(catalog.kind);
        if let Some(first) = slots.iter().flatten().next() {
            options.bands = first.bands.clone();
        }
        let loader = TaskLoader::new(&catalog, options)?;
        // `random` starts from the network the checkpoints have (width, depth), so only
        // the weights differ; without checkpoints, from what `train` would build.
        let template = slots
            .iter()
            .flatten()
            .next()
            .map(|m| m.params.spec().clone());
        for slot in slots {
            match slot {
                Some(m) => models.push(m),
                None => {
                    let bands = loader.bands().to_vec();
                    let info = DataInfo {
                        normalisation: bands.iter().map(|b| default_normalisation(b)).collect(),
                        bands: bands.clone(),
                        classes: classes.clone(),
                        tile_size: catalog.tile_size as usize,
                        segmentation,
                        resolution_m: if segmentation { 0.5 } else { 10.0 },
                        catalog: Some(catalog_name.clone()),
                    };
                    let mut spec = choose_spec(&TrainConfig::default(), &info)?;
                    if let Some(t) = &template {
                        spec.width = t.width;
                        spec.depth = t.depth;
                    }
                    let mut m = EvalModel::random(&spec, &classes, bands, device, self.seed)?;
                    m.name = unique("random".into(), &mut names);
                    models.push(m);
                }
            }
        }

        // Tasks: the same for every model and shot count.
        let strategy = self.splits.strategy();
        let splits = Splits::for_catalog(&catalog, &strategy)?;
        let index = TileIndex::new(&catalog, &splits);
        let max_shot = *shots.last().expect("checked non-empty");
        let sampler_for = |split: Split| {
            TaskSampler::new(
                &index,
                SamplerConfig {
                    way: self.way,
                    shot: max_shot,
                    query: self.query,
                    split: Some(split),
                },
            )
        };
        let hint = "lower --shots (its largest value), --query or --way, or use a catalog with more tiles per class";
        let sampler = sampler_for(split).map_err(|e| {
            Error::catalog(
                &self.catalog,
                format!("cannot draw meta-{split} tasks with {max_shot} shots and {} queries per class: {e}; {hint}", self.query),
            )
        })?;
        let kind = sampler.kind();
        // Drawn like `few_shot::load_tasks`, keeping each task's region.
        let drawn = sampler.sample_many(self.tasks, self.seed)?;
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
                    &self.catalog,
                    format!("the grid search needs meta-val tasks with {max_shot} shots and {} queries per class: {e}; {hint}, or fix --inner-lr and --inner-steps", self.query),
                )
            })?;
            few_shot::load_tasks(
                &val_sampler,
                &loader,
                self.grid_tasks,
                self.seed ^ 0x5641_4c00,
            )?
        } else {
            Vec::new()
        };
        let way = if kind == TaskKind::Segmentation {
            DEEPGLOBE_TASK_CLASSES.len()
        } else {
            self.way
        };

        let cfg = EvalConfig { shots, adaptation };
        let alphas = trajectories::alphas();
        let per_model = few_shot::work(&cfg, tasks.len(), val.len())
            + if self.trajectories {
                2 * tasks.len() as u64
            } else {
                0
            };
        let bar = if std::io::stderr().is_terminal() {
            indicatif::ProgressBar::new(per_model * models.len() as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} adaptations {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        let mut results = Vec::with_capacity(models.len());
        let mut paths = Vec::new();
        for m in &models {
            bar.set_message(m.name.clone());
            let tick = || bar.inc(1);
            let result = few_shot::evaluate_model(m, &tasks, &val, kind, &cfg, &classes, &tick)?;
            if self.trajectories {
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
            (way, self.query, tasks.len(), self.seed),
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
        if self.trajectories {
            let t = trajectories::report(
                &catalog_name,
                kind,
                split,
                way,
                max_shot,
                self.seed,
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
            crate::output::write_atomic(out.join(name), bytes, self.overwrite)?;
        }
        eprint!("{}", few_shot::table(&report));
        for m in &report.models {
            let chosen: Vec<String> = m
                .results
                .iter()
                .filter_map(|r| {
                    r.inner_lr
                        .map(|lr| format!("{} shot: lr {lr} x {}", r.shots, r.inner_steps))
                })
                .collect();
            if !chosen.is_empty() {
                eprintln!("{}: {}", m.name, chosen.join(", "));
            }
        }
        eprint!("{summary}");
        eprintln!(
            "{} tasks of split {split}, {:.1} s on {}; wrote {} to {}",
            report.tasks,
            report.seconds,
            report.device,
            files
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
            out.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}

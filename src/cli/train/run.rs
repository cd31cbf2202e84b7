//! `geomaml train` run: the flags as a training plan, one library call, the
//! summary.

use super::*;

impl TrainArgs {
    /// Trains, or explains that this build cannot.
    #[cfg(not(feature = "train"))]
    pub fn run(&self) -> Result<ExitCode> {
        Err(crate::cli::feature_missing("train", "train"))
    }

    /// Trains and prints a summary on stderr.
    #[cfg(feature = "train")]
    pub fn run(&self) -> Result<ExitCode> {
        use crate::train::config::{Selection, TrainOverrides};
        use crate::train::{train_catalog, Method, RunOptions, TrainConfig, TrainPlan};

        if let Some(n) = self.threads {
            crate::train::device::set_threads(n)?;
        }
        let base = match &self.config {
            Some(path) => TrainConfig::load(path)?,
            None => TrainConfig::default(),
        };
        let cfg = base.with_overrides(&TrainOverrides {
            method: self.method.map(|m| match m {
                MethodArg::Maml => Method::Maml,
                MethodArg::Pretrain => Method::Pretrain,
            }),
            way: self.way,
            shot: self.shot,
            query: self.query,
            steps: self.steps,
            meta_batch: self.meta_batch,
            inner_lr: self.inner_lr,
            inner_steps: self.inner_steps,
            first_order: self.first_order,
            task_group: self.task_group,
            val_every: self.val_every,
            select: self.select.map(|s| match s {
                SelectArg::Loss => Selection::Loss,
                SelectArg::Accuracy => Selection::Accuracy,
                SelectArg::Last => Selection::Last,
            }),
            seed: self.seed,
            prefetch: self.prefetch,
            device: self.device.clone(),
            bands: self.bands.as_deref().map(crate::bands::parse_band_list),
            arch: self.arch.map(ArchArg::arch),
            standardise_bands: self.standardise_bands,
            prototype_head: self.prototype_head,
        })?;
        let plan = TrainPlan {
            catalog: self.catalog.clone(),
            config_file: self.config.clone(),
            config: cfg,
            splits: self.splits.strategy(),
            run: RunOptions {
                out: self.output.clone(),
                log: self.log.clone(),
                resume: self.resume.clone(),
                overwrite: self.overwrite,
                progress: crate::progress::Progress::for_stderr(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} {msg}",
                ),
            },
            use_store: !self.no_store,
        };
        let s = train_catalog(&plan)?;
        let cfg = &plan.config;
        eprintln!(
            "trained {} for {} steps on {} ({:.2} tasks/s), {}",
            cfg.method.as_str(),
            s.steps,
            s.device,
            s.tasks_per_s,
            s.data_path
        );
        match s.best {
            Some((step, loss, acc)) => eprintln!(
                "kept step {step}: meta-val loss {loss:.4}, accuracy {:.1} %",
                acc * 100.0
            ),
            None => eprintln!(
                "no meta-validation; kept the last step (train loss {:.4})",
                s.last_loss
            ),
        }
        if let Some(c) = &s.adapt_steps {
            let each: Vec<String> = c
                .scores
                .iter()
                .map(|(n, acc)| format!("{n}: {:.1} %", acc * 100.0))
                .collect();
            let why = if c.default > c.chosen {
                format!(
                    " (at least {} from class prototypes; meta-validation chose {})",
                    crate::card::PROTOTYPE_ADAPT_STEPS,
                    c.chosen
                )
            } else {
                String::new()
            };
            eprintln!(
                "adapt takes {} steps by default{why}; meta-validation accuracy after {}",
                c.default,
                each.join(", ")
            );
        }
        eprintln!(
            "wrote {}, {} and {}",
            s.out.display(),
            s.last.display(),
            s.log.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}

//! `geomaml evaluate` run: the flags as a checked plan, one library call, the
//! summary.

use super::*;

impl EvaluateArgs {
    /// Evaluates, or explains that this build cannot.
    #[cfg(not(feature = "train"))]
    pub fn run(&self) -> Result<ExitCode> {
        Err(crate::cli::feature_missing("evaluate", "train"))
    }

    /// The plan of these options (checked by [`crate::eval::run::evaluate`]).
    #[cfg(feature = "train")]
    fn plan(&self) -> Result<crate::eval::run::EvaluatePlan> {
        use crate::catalog::Split;
        use crate::error::Error;
        use crate::eval::few_shot::{Adaptation, Grid};

        let split: Split = self
            .split
            .parse()
            .map_err(|e| Error::config_source("--split", "", e))?;
        let mut shots = self.shots.clone();
        shots.sort_unstable();
        shots.dedup();
        let adaptation = match (self.inner_lr, self.inner_steps) {
            (Some(lr), Some(steps)) => Adaptation::Fixed { lr, steps },
            _ => {
                let (base, name) = match self.grid {
                    GridArg::Small => (Grid::small(), "small"),
                    GridArg::Paper => (Grid::paper(), "paper"),
                };
                let custom = self.grid_lrs.is_some() || self.grid_steps.is_some();
                Adaptation::Search {
                    name: if custom { "custom" } else { name }.into(),
                    grid: Grid {
                        lrs: self.grid_lrs.clone().unwrap_or(base.lrs),
                        steps: self.grid_steps.clone().unwrap_or(base.steps),
                    },
                }
            }
        };
        Ok(crate::eval::run::EvaluatePlan {
            catalog: self.catalog.clone(),
            models: self.models.clone(),
            shots,
            tasks: self.tasks,
            way: self.way,
            query: self.query,
            split,
            strategy: self.splits.strategy(),
            adaptation,
            grid_tasks: self.grid_tasks,
            seed: self.seed,
            device: self.device.clone(),
            task_group: self.task_group,
            trajectories: self.trajectories,
            use_store: !self.no_store,
            output: self.output.clone(),
            overwrite: self.overwrite,
            progress: crate::progress::Progress::for_stderr(
                "{elapsed_precise} [{bar:30}] {pos}/{len} adaptations {msg}",
            ),
        })
    }

    /// Evaluates every model, writes the outputs and prints the table.
    #[cfg(feature = "train")]
    pub fn run(&self) -> Result<ExitCode> {
        use crate::eval::few_shot;
        if let Some(n) = self.threads {
            crate::train::device::set_threads(n)?;
        }
        let plan = self.plan()?;
        let done = crate::eval::run::evaluate(&plan)?;
        eprint!("{}", few_shot::table(&done.report));
        for m in &done.report.models {
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
        eprint!("{}", done.summary);
        eprintln!(
            "{} tasks of split {}, {:.1} s on {}, {}; wrote {} to {}",
            done.report.tasks,
            plan.split,
            done.report.seconds,
            done.report.device,
            done.data_path,
            done.written.join(", "),
            self.output.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}

//! Adaptation settings: a fixed step size and step count, or a grid searched per
//! model and shot count on meta-validation tasks (mean query accuracy; one
//! adaptation trajectory per step size is scored at every step count of the grid).

use super::{first_shots, trajectories, EvalConfig, EvalModel};
use crate::error::{Error, Result};
use crate::tasks::{TaskBatch, TaskKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

/// The settings for `model` at `k` shots (`cfg.adaptation`; tasks adapted
/// `cfg.task_group` at a time): fixed, or the grid point with the best
/// mean query accuracy on `val` (ties: the first in grid order). Returns
/// `(lr, steps, val accuracy)`.
pub fn choose_settings(
    model: &EvalModel,
    val: &[TaskBatch],
    kind: TaskKind,
    max_shot: usize,
    k: usize,
    cfg: &EvalConfig,
    tick: &dyn Fn(),
) -> Result<(f64, usize, Option<f64>)> {
    match &cfg.adaptation {
        Adaptation::Fixed { lr, steps } => Ok((*lr, *steps, None)),
        Adaptation::Search { grid, .. } => {
            let mut steps = grid.steps.clone();
            steps.sort_unstable();
            steps.dedup();
            let mut best: Option<(f64, usize, f64)> = None;
            for &lr in &grid.lrs {
                let mut sums = vec![0.0; steps.len()];
                let firsts: Vec<TaskBatch> = val
                    .iter()
                    .map(|b| first_shots(b, kind, max_shot, k))
                    .collect();
                for task in trajectories(model, &firsts, lr, &steps, cfg.task_group, tick)? {
                    for (i, m) in task.iter().enumerate() {
                        sums[i] += m.scores().overall_accuracy / val.len() as f64;
                    }
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

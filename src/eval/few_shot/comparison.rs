//! Paired comparison of models. Every model is scored on the same tasks, so the
//! difference between two models is judged per task: task difficulty cancels, so
//! the interval of the mean difference is usually narrower than the two models'
//! separate intervals.

use super::{Interval, ModelResult};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Paired difference of two models at one shot count. Both are scored on the
/// same tasks, so per-task differences remove the spread between easy and hard
/// tasks that makes the two models' separate intervals overlap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PairedShot {
    /// Support examples per class (segmentation: support crops per task).
    pub shots: usize,
    /// Accuracy of `model` minus accuracy of `other`, per task: mean and 95 %
    /// Student-t interval.
    pub accuracy: Interval,
    /// Kappa of `model` minus kappa of `other`, per task.
    pub kappa: Interval,
    /// Tasks on which `model` has the higher accuracy.
    pub wins: usize,
    /// Tasks with equal accuracy.
    pub ties: usize,
    /// Tasks on which `other` has the higher accuracy.
    pub losses: usize,
}

/// One model against another, task by task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Comparison {
    /// The first model of the report.
    pub model: String,
    /// The model it is compared with.
    pub other: String,
    /// One entry per shot count, in `shots` order.
    pub results: Vec<PairedShot>,
}

/// `model` minus `other` at each shot count both have with the same number of
/// tasks.
pub fn compare(model: &ModelResult, other: &ModelResult) -> Comparison {
    let results = model
        .results
        .iter()
        .filter_map(|a| {
            let b = other.results.iter().find(|b| b.shots == a.shots)?;
            if a.per_task.len() != b.per_task.len() {
                return None;
            }
            let pairs = || a.per_task.iter().zip(&b.per_task);
            let accuracy: Vec<f64> = pairs().map(|(x, y)| x.accuracy - y.accuracy).collect();
            let kappa: Vec<f64> = pairs().map(|(x, y)| x.kappa - y.kappa).collect();
            // Accuracies are count ratios over the same query set: equal counts
            // give equal values, and anything within rounding is a tie.
            let count = |f: fn(f64) -> bool| accuracy.iter().filter(|&&d| f(d)).count();
            Some(PairedShot {
                shots: a.shots,
                accuracy: Interval::of(&accuracy),
                kappa: Interval::of(&kappa),
                wins: count(|d| d > 1e-12),
                ties: count(|d| d.abs() <= 1e-12),
                losses: count(|d| d < -1e-12),
            })
        })
        .collect();
    Comparison {
        model: model.name.clone(),
        other: other.name.clone(),
        results,
    }
}

/// The first model against each of the others, in command-line order.
pub fn comparisons(models: &[ModelResult]) -> Vec<Comparison> {
    match models.split_first() {
        Some((first, rest)) => rest.iter().map(|o| compare(first, o)).collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::few_shot::{Labelling, ShotResult, TaskScore};
    use crate::eval::metrics::ConfusionMatrix;

    fn scored(name: &str, shots: &[(usize, &[(f64, f64)])]) -> ModelResult {
        ModelResult {
            name: name.into(),
            path: None,
            method: "random".into(),
            labels: Labelling::Legend,
            results: shots
                .iter()
                .map(|&(k, tasks)| {
                    let per_task: Vec<TaskScore> = tasks
                        .iter()
                        .map(|&(accuracy, kappa)| TaskScore { accuracy, kappa })
                        .collect();
                    let acc: Vec<f64> = per_task.iter().map(|t| t.accuracy).collect();
                    let kappa: Vec<f64> = per_task.iter().map(|t| t.kappa).collect();
                    ShotResult {
                        shots: k,
                        inner_lr: None,
                        inner_steps: 0,
                        val_accuracy: None,
                        accuracy: Interval::of(&acc),
                        kappa: Interval::of(&kappa),
                        mean_f1: Interval::of(&acc),
                        mean_iou: Interval::of(&acc),
                        per_task,
                        confusion: ConfusionMatrix::new(2),
                        per_class: vec![],
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn comparisons_pair_tasks_and_count_wins() {
        let a = scored(
            "maml",
            &[
                (1, &[(0.8, 0.6), (0.6, 0.2), (0.7, 0.4)]),
                (5, &[(0.9, 0.8), (0.9, 0.8), (0.9, 0.8)]),
            ],
        );
        // Lower and higher than `a` on different tasks; no 5-shot result.
        let b = scored("pretrain", &[(1, &[(0.7, 0.4), (0.6, 0.2), (0.9, 0.8)])]);
        // Different task count at 1 shot: cannot be paired.
        let c = scored(
            "random",
            &[
                (1, &[(0.5, 0.0)]),
                (5, &[(0.8, 0.6), (0.7, 0.4), (0.6, 0.2)]),
            ],
        );
        let all = comparisons(&[a.clone(), b, c]);
        let names: Vec<(&str, &str)> = all
            .iter()
            .map(|c| (c.model.as_str(), c.other.as_str()))
            .collect();
        assert_eq!(names, [("maml", "pretrain"), ("maml", "random")]);
        assert_eq!(all[0].results.len(), 1);
        let r = &all[0].results[0];
        assert_eq!(r.shots, 1);
        assert_eq!((r.wins, r.ties, r.losses), (1, 1, 1));
        let expect = Interval::of(&[0.1, 0.0, -0.2]);
        assert!((r.accuracy.mean - expect.mean).abs() < 1e-12);
        assert!((r.accuracy.ci95 - expect.ci95).abs() < 1e-12);
        let expect = Interval::of(&[0.2, 0.0, -0.4]);
        assert!((r.kappa.mean - expect.mean).abs() < 1e-12);
        assert!((r.kappa.ci95 - expect.ci95).abs() < 1e-12);
        let r = &all[1].results;
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].shots, r[0].wins, r[0].accuracy.n), (5, 3, 3));
        assert!((r[0].accuracy.mean - 0.2).abs() < 1e-12);
        assert!(comparisons(&[a]).is_empty() && comparisons(&[]).is_empty());
    }
}

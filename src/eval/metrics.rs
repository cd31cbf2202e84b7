//! Accuracy metrics from a confusion matrix: overall accuracy, Cohen's kappa,
//! per-class producer's/user's accuracy (recall/precision), F1 and IoU, mIoU.
//!
//! Rows are reference (true) classes, columns predicted classes, both indexed by
//! position in a class list. Classes with no reference and no prediction are left
//! out of means (their ratios are undefined, reported as `None`).

use serde::{Deserialize, Serialize};

/// Counts of (reference, predicted) pairs over `n` classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfusionMatrix {
    /// `counts[reference][predicted]`.
    pub counts: Vec<Vec<u64>>,
}

/// Per-class scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClassScores {
    /// Reference samples of this class.
    pub support: u64,
    /// Producer's accuracy (recall): correct / reference.
    pub producers_accuracy: Option<f64>,
    /// User's accuracy (precision): correct / predicted.
    pub users_accuracy: Option<f64>,
    /// Harmonic mean of the two.
    pub f1: Option<f64>,
    /// Intersection over union.
    pub iou: Option<f64>,
}

/// Summary scores of a confusion matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Scores {
    /// Number of compared samples.
    pub samples: u64,
    /// Fraction correct.
    pub overall_accuracy: f64,
    /// Cohen's kappa.
    pub kappa: f64,
    /// Mean IoU over classes present in reference or prediction.
    pub mean_iou: f64,
    /// Mean F1 over classes present in reference or prediction.
    pub mean_f1: f64,
    /// Scores per class, in class-list order.
    pub per_class: Vec<ClassScores>,
}

impl ConfusionMatrix {
    /// An empty matrix over `n` classes.
    pub fn new(n: usize) -> Self {
        ConfusionMatrix {
            counts: vec![vec![0; n]; n],
        }
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether the matrix has no classes.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Records one (reference, predicted) pair.
    pub fn add(&mut self, reference: usize, predicted: usize) {
        self.counts[reference][predicted] += 1;
    }

    /// Adds another matrix of the same size.
    pub fn merge(&mut self, other: &ConfusionMatrix) {
        for (row, orow) in self.counts.iter_mut().zip(&other.counts) {
            for (c, o) in row.iter_mut().zip(orow) {
                *c += o;
            }
        }
    }

    /// Total number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Computes every score.
    pub fn scores(&self) -> Scores {
        let n = self.len();
        let total = self.total();
        let diag: u64 = (0..n).map(|i| self.counts[i][i]).sum();
        let row = |i: usize| self.counts[i].iter().sum::<u64>();
        let col = |j: usize| self.counts.iter().map(|r| r[j]).sum::<u64>();
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let (oa, kappa) = if total == 0 {
            (0.0, 0.0)
        } else {
            let t = total as f64;
            let po = diag as f64 / t;
            let pe: f64 = (0..n).map(|i| row(i) as f64 * col(i) as f64).sum::<f64>() / (t * t);
            let kappa = if (1.0 - pe).abs() < 1e-12 {
                if po >= 1.0 {
                    1.0
                } else {
                    0.0
                }
            } else {
                (po - pe) / (1.0 - pe)
            };
            (po, kappa)
        };
        let per_class: Vec<ClassScores> = (0..n)
            .map(|i| {
                let tp = self.counts[i][i];
                let (r, c) = (row(i), col(i));
                let pa = ratio(tp, r);
                let ua = ratio(tp, c);
                let f1 = match (pa, ua) {
                    (Some(p), Some(u)) if p + u > 0.0 => Some(2.0 * p * u / (p + u)),
                    (Some(_), Some(_)) => Some(0.0),
                    _ => (r + c > 0).then_some(0.0),
                };
                ClassScores {
                    support: r,
                    producers_accuracy: pa,
                    users_accuracy: ua,
                    f1,
                    iou: ratio(tp, r + c - tp),
                }
            })
            .collect();
        let mean = |f: fn(&ClassScores) -> Option<f64>| {
            let v: Vec<f64> = per_class.iter().filter_map(f).collect();
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        Scores {
            samples: total,
            overall_accuracy: oa,
            kappa,
            mean_iou: mean(|c| c.iou),
            mean_f1: mean(|c| c.f1),
            per_class,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[&[u64]]) -> ConfusionMatrix {
        ConfusionMatrix {
            counts: rows.iter().map(|r| r.to_vec()).collect(),
        }
    }

    #[test]
    fn perfect_agreement_scores_one() {
        let s = matrix(&[&[5, 0], &[0, 3]]).scores();
        assert_eq!((s.overall_accuracy, s.kappa, s.mean_iou), (1.0, 1.0, 1.0));
    }

    #[test]
    fn kappa_matches_a_hand_computed_example() {
        // po = 0.7, pe = (0.5*0.6 + 0.5*0.4) = 0.5, kappa = 0.4
        let s = matrix(&[&[20, 5], &[10, 15]]).scores();
        assert!((s.overall_accuracy - 0.7).abs() < 1e-12);
        assert!((s.kappa - 0.4).abs() < 1e-12);
        let c0 = &s.per_class[0];
        assert!((c0.producers_accuracy.unwrap() - 0.8).abs() < 1e-12);
        assert!((c0.users_accuracy.unwrap() - 20.0 / 30.0).abs() < 1e-12);
        assert!((c0.iou.unwrap() - 20.0 / 35.0).abs() < 1e-12);
    }

    #[test]
    fn absent_classes_do_not_count_in_means() {
        let s = matrix(&[&[4, 0, 0], &[0, 4, 0], &[0, 0, 0]]).scores();
        assert_eq!(s.per_class[2].iou, None);
        assert_eq!(s.mean_iou, 1.0);
    }
}

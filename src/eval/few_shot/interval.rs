//! Mean of per-task scores with a 95 % Student-t interval: the paper reports
//! few-shot scores over sampled tasks this way, and paired differences use the
//! same interval.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}

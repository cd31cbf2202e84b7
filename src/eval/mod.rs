//! Evaluation: confusion matrices and accuracy metrics, map assessment.

pub mod metrics;

pub use metrics::{ClassScores, ConfusionMatrix, Scores};
pub mod assess;

pub use assess::{assess_labels, assess_raster, Assessment};

//! Evaluation: confusion matrices and accuracy metrics, map assessment.

pub mod metrics;

pub use metrics::{ClassScores, ConfusionMatrix, Scores};
pub mod assess;
mod assess_table;
pub mod class_map;
/// Few-shot evaluation of models on meta-test tasks (`geomaml evaluate`).
#[cfg(feature = "train")]
pub mod few_shot;
pub mod plot;
pub mod png;
/// `geomaml evaluate` as one call on a checked plan.
#[cfg(feature = "train")]
pub mod run;
/// SVG scatter and continuous-axis line charts for the trajectory figures.
pub mod scatter;
pub(crate) mod svg;
/// Adaptation insight: PCA of adapted weights, loss along the support gradient.
#[cfg(feature = "train")]
pub mod trajectories;

pub use assess::{assess_labels, assess_raster, Assessment};
pub use class_map::ClassMap;

//! A few-shot task turned into arrays, ready for any tensor library.

use ndarray::{Array2, Array4};

/// Support and query sets of one task as normalised arrays.
///
/// Images are `[n, bands, h, w]` f32. Labels are indices into the task's `classes`
/// (0..way): `[n]` per tile for classification, or `[n, h, w]` per pixel for
/// segmentation where [`IGNORE_INDEX`] marks pixels without a label.
#[derive(Debug, Clone)]
pub struct TaskBatch {
    /// Support images.
    pub support_x: Array4<f32>,
    /// Support labels: `[n, 1]` per tile (classification) or `[n, h*w]` per pixel
    /// (segmentation, row-major).
    pub support_y: Array2<i64>,
    /// Query images.
    pub query_x: Array4<f32>,
    /// Query labels, same layout as `support_y`.
    pub query_y: Array2<i64>,
    /// Class ids (legend ids) of task indices 0..way.
    pub classes: Vec<u16>,
}

/// Label value that losses and metrics skip (segmentation pixels without a class).
pub const IGNORE_INDEX: i64 = -100;

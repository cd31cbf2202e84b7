//! A small task and model for the trajectories' tests.

use super::*;
use crate::catalog::classes::dfc2020;
use crate::model::spec::ModelSpec;
use ndarray::{Array2, Array4};
use tch::Device;

/// A 2-way task of 8 px tiles: 3 support and 2 query tiles per class, classes
/// 1 and 4 told apart by the sign of band 0.
pub fn batch(shift: f32) -> TaskBatch {
    let value = |r: usize, class: usize, b: usize, y: usize, x: usize| {
        let sign = if class == 0 { 1.0 } else { -1.0 };
        sign * (1.0 + b as f32) + 0.1 * ((r + y * 3 + x) % 5) as f32 + shift
    };
    let sx = Array4::from_shape_fn((6, 2, 8, 8), |(n, b, y, x)| value(n, n / 3, b, y, x));
    let qx = Array4::from_shape_fn((4, 2, 8, 8), |(n, b, y, x)| value(n + 7, n / 2, b, y, x));
    TaskBatch {
        support_x: sx,
        support_y: Array2::from_shape_vec((6, 1), vec![0, 0, 0, 1, 1, 1]).unwrap(),
        query_x: qx,
        query_y: Array2::from_shape_vec((4, 1), vec![0, 0, 1, 1]).unwrap(),
        classes: vec![4, 1],
    }
}

pub fn model(labelling: Labelling) -> EvalModel {
    let spec = ModelSpec {
        width: 8,
        depth: 2,
        tile_size: 8,
        ..ModelSpec::paper_cnn(2, 10)
    };
    let mut m = EvalModel::random(
        &spec,
        &dfc2020(),
        vec!["B01".into(), "B02".into()],
        Device::Cpu,
        3,
    )
    .unwrap();
    m.labelling = labelling;
    m
}

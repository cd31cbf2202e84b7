//! The batches adaptation computes on: the shots' windows as tensors, with
//! unlabelled scene windows beside them where batch norm should see the scene.

use super::Shots;
use crate::card::ModelCard;
use ndarray::{Array2, Axis};
use tch::{Device, Tensor};

/// The inner loop's batch: the shots, and for per-pixel models also the unlabelled
/// scene windows (targets ignored), so that batch norm normalises with statistics of
/// the scene, as the frozen statistics of the delivered model will; statistics of
/// the few shot windows alone would shift every class boundary once frozen.
pub(super) fn inner_batch(
    shots: &Shots,
    targets: &Array2<i64>,
    unlabelled: &ndarray::Array4<f32>,
    card: &ModelCard,
    device: Device,
) -> (Tensor, Tensor) {
    let x = to_tensor(&shots.x, device);
    let y = Tensor::from_slice(targets.as_standard_layout().as_slice().expect("contiguous"))
        .view([targets.nrows() as i64, -1])
        .to_device(device);
    with_unlabelled(&x, &y, unlabelled, card.spec.is_segmentation(), device)
}

/// `x` and its targets `y`, with the `unlabelled` windows appended (targets ignored)
/// when `per_pixel`; as they are otherwise or without windows.
pub(super) fn with_unlabelled(
    x: &Tensor,
    y: &Tensor,
    unlabelled: &ndarray::Array4<f32>,
    per_pixel: bool,
    device: Device,
) -> (Tensor, Tensor) {
    if !per_pixel || unlabelled.shape()[0] == 0 {
        return (x.shallow_clone(), y.shallow_clone());
    }
    let u = to_tensor(unlabelled, device);
    let ignore = Tensor::full(
        [unlabelled.shape()[0] as i64, y.size()[1]],
        crate::tasks::IGNORE_INDEX,
        (tch::Kind::Int64, device),
    );
    (Tensor::cat(&[x, &u], 0), Tensor::cat(&[y, &ignore], 0))
}

pub(super) fn to_tensor(a: &ndarray::Array4<f32>, device: Device) -> Tensor {
    let shape: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
    Tensor::from_slice(a.as_standard_layout().as_slice().expect("standard layout"))
        .view(shape.as_slice())
        .to_device(device)
}

/// Support windows plus unlabelled scene windows in batches of 32.
pub(super) fn bn_batches(
    support: &Tensor,
    unlabelled: &ndarray::Array4<f32>,
    device: Device,
) -> Vec<Tensor> {
    let mut batches = vec![support.shallow_clone()];
    for chunk in unlabelled.axis_chunks_iter(Axis(0), 32) {
        if chunk.shape()[0] >= 2 {
            batches.push(to_tensor(&chunk.to_owned(), device));
        }
    }
    batches
}

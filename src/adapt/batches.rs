//! The batches adaptation computes on: the shots' windows as tensors, with
//! unlabelled scene windows beside them where batch norm should see the scene.

use super::Shots;
use crate::card::ModelCard;
use crate::error::Result;
use crate::pixels::PixelReader;
use crate::raster::Window;
use ndarray::{s, Array4};
use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use tch::{Device, Tensor};

/// Smallest valid fraction of an unlabelled window used for batch-norm statistics.
pub const BN_MIN_VALID: f64 = 0.9;

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

/// Training targets: output index per shot (classifier) or per labelled pixel.
pub(super) fn targets(
    shots: &Shots,
    ids: &[u16],
    outputs: &[usize],
    card: &ModelCard,
) -> Array2<i64> {
    let out_of = |id: u16| ids.iter().position(|&c| c == id).map(|i| outputs[i] as i64);
    if card.spec.is_segmentation() {
        shots.pixel_class_ids.mapv(|id| {
            if id == 0 {
                crate::tasks::IGNORE_INDEX
            } else {
                out_of(id).unwrap_or(crate::tasks::IGNORE_INDEX)
            }
        })
    } else {
        Array2::from_shape_fn((shots.class_ids.len(), 1), |(i, _)| {
            out_of(shots.class_ids[i]).expect("shot classes are in ids")
        })
    }
}

/// Up to `count` random windows of the scene at least [`BN_MIN_VALID`] valid, for
/// estimating batch-norm statistics on the target scene.
pub fn unlabelled_windows(
    reader: &PixelReader,
    card: &ModelCard,
    count: usize,
    seed: u64,
) -> Result<Array4<f32>> {
    let tile = card.spec.tile_size;
    let (sw, sh) = reader.raster().size();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut kept = Vec::new();
    if sw >= tile && sh >= tile {
        for _ in 0..count * 4 {
            if kept.len() == count {
                break;
            }
            let win = Window::new(
                rng.random_range(0..=sw - tile) as isize,
                rng.random_range(0..=sh - tile) as isize,
                tile,
                tile,
            );
            let px = reader.read(win)?;
            if px.valid_fraction(win) >= BN_MIN_VALID {
                kept.push(px.data);
            }
        }
    }
    let mut x = Array4::<f32>::zeros((kept.len(), reader.inputs().len(), tile, tile));
    for (k, a) in kept.iter().enumerate() {
        x.slice_mut(s![k, .., .., ..]).assign(a);
    }
    Ok(x)
}

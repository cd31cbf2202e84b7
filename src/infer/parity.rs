//! Parity of the exported ONNX graph (through ONNX Runtime) with the tch forward
//! pass in frozen batch-norm mode, for both architectures: max |logit difference|
//! must stay within 1e-4.

use crate::card::tests::sample_card;
use crate::export::{export_file, random_checkpoint};
use crate::infer::Predictor;
use crate::model::functional::forward;
use crate::model::layers::BnMode;
use crate::model::params::Params;
use crate::model::{Arch, ModelSpec};
use ndarray::Array4;
use rand::{Rng, SeedableRng};

fn max_logit_difference(spec: ModelSpec, size: usize, seed: u64) -> f32 {
    let mut card = sample_card();
    card.bands.truncate(spec.in_channels);
    card.normalisation.truncate(spec.in_channels);
    card.classes.truncate(spec.num_classes);
    let bands = spec.in_channels;
    card.spec = spec;
    let ckpt = random_checkpoint(card, seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    export_file(&ckpt, &path, false).unwrap();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + 100);
    let x = Array4::from_shape_fn((3, bands, size, size), |_| rng.random_range(-1.0f32..1.0));
    let onnx = Predictor::open(&path, 1).unwrap().logits(x.view()).unwrap();

    let params = Params::from_checkpoint(&ckpt, tch::Device::Cpu).unwrap();
    let shape: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
    let xt = tch::Tensor::from_slice(x.as_slice().unwrap()).reshape(&shape);
    let logits = tch::no_grad(|| forward(&params, &xt, BnMode::Frozen));
    let reference: Vec<f32> = Vec::try_from(logits.flatten(0, -1)).unwrap();
    assert_eq!(reference.len(), onnx.len());
    onnx.iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn cnn_logits_match_tch() {
    let spec = ModelSpec {
        arch: Arch::Cnn,
        in_channels: 4,
        num_classes: 5,
        width: 16,
        depth: 4,
        tile_size: 32,
    };
    let diff = max_logit_difference(spec, 32, 1);
    eprintln!("cnn max |onnx - tch| = {diff:e}");
    assert!(diff <= 1e-4, "max logit difference {diff}");
}

#[test]
fn unet_logits_match_tch() {
    let spec = ModelSpec {
        arch: Arch::Unet,
        in_channels: 3,
        num_classes: 4,
        width: 8,
        depth: 3,
        tile_size: 32,
    };
    let diff = max_logit_difference(spec, 32, 2);
    eprintln!("unet max |onnx - tch| = {diff:e}");
    assert!(diff <= 1e-4, "max logit difference {diff}");
}

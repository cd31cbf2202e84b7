//! Parity of the exported ONNX graph (through ONNX Runtime) with the tch forward
//! pass in frozen batch-norm mode, for both architectures: max |probability
//! difference| must stay within 1e-4. Also: non-finite input reads as 0, and the
//! CNN's Deepness form repeats the tile's probabilities over the tile.

use crate::card::tests::sample_card;
use crate::export::{export_file, export_file_as, random_checkpoint, Form};
use crate::infer::Predictor;
use crate::model::functional::forward;
use crate::model::layers::BnMode;
use crate::model::params::Params;
use crate::model::{Arch, ModelSpec};
use ndarray::Array4;
use rand::{Rng, SeedableRng};

fn max_probability_difference(spec: ModelSpec, size: usize, seed: u64) -> f32 {
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
    let onnx = Predictor::open(&path, 1)
        .unwrap()
        .predict(x.view())
        .unwrap();

    let params = Params::load(&ckpt.card.spec, &ckpt.tensors, tch::Device::Cpu).unwrap();
    let shape: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
    let xt = tch::Tensor::from_slice(x.as_slice().unwrap()).reshape(&shape);
    let logits = tch::no_grad(|| forward(&params, &xt, BnMode::Frozen));
    let probs = logits.softmax(1, tch::Kind::Float);
    let reference: Vec<f32> = Vec::try_from(probs.flatten(0, -1)).unwrap();
    assert_eq!(reference.len(), onnx.len());
    onnx.iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn cnn_probabilities_match_tch() {
    let spec = ModelSpec {
        arch: Arch::Cnn,
        in_channels: 4,
        num_classes: 5,
        width: 16,
        depth: 4,
        tile_size: 32,
    };
    let diff = max_probability_difference(spec, 32, 1);
    eprintln!("cnn max |onnx - tch| = {diff:e}");
    assert!(diff <= 1e-4, "max probability difference {diff}");
}

#[test]
fn unet_probabilities_match_tch() {
    let spec = ModelSpec {
        arch: Arch::Unet,
        in_channels: 3,
        num_classes: 4,
        width: 8,
        depth: 3,
        tile_size: 32,
    };
    let diff = max_probability_difference(spec, 32, 2);
    eprintln!("unet max |onnx - tch| = {diff:e}");
    assert!(diff <= 1e-4, "max probability difference {diff}");
}

#[test]
fn pixel_network_probabilities_match_tch() {
    let spec = ModelSpec {
        arch: Arch::Pixel,
        in_channels: 5,
        num_classes: 6,
        width: 8,
        depth: 2,
        tile_size: 24,
    };
    let diff = max_probability_difference(spec, 24, 3);
    eprintln!("pixel max |onnx - tch| = {diff:e}");
    assert!(diff <= 1e-4, "max probability difference {diff}");
}

/// A small CNN checkpoint of 3 bands and 4 classes on 16 px tiles.
fn small_cnn(seed: u64) -> crate::checkpoint::Checkpoint {
    let mut card = sample_card();
    card.bands.truncate(3);
    card.normalisation.truncate(3);
    card.classes.truncate(4);
    card.spec = ModelSpec {
        arch: Arch::Cnn,
        in_channels: 3,
        num_classes: 4,
        width: 8,
        depth: 2,
        tile_size: 16,
    };
    random_checkpoint(card, seed)
}

#[test]
fn non_finite_input_reads_as_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    export_file(&small_cnn(3), &path, false).unwrap();
    let mut p = Predictor::open(&path, 1).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut x = Array4::from_shape_fn((2, 3, 16, 16), |_| rng.random_range(-1.0f32..1.0));
    let mut zeroed = x.clone();
    for (k, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY]
        .into_iter()
        .enumerate()
    {
        x[[0, k, 3, 4 + k]] = v;
        zeroed[[0, k, 3, 4 + k]] = 0.0;
    }
    let a = p.predict(x.view()).unwrap();
    let b = p.predict(zeroed.view()).unwrap();
    assert!(a.iter().all(|v| v.is_finite()), "{a:?}");
    assert_eq!(a, b);
}

#[test]
fn the_deepness_form_repeats_the_tile_probabilities_over_the_tile() {
    let ckpt = small_cnn(4);
    let dir = tempfile::tempdir().unwrap();
    let (native, deepness) = (dir.path().join("n.onnx"), dir.path().join("d.onnx"));
    export_file(&ckpt, &native, false).unwrap();
    export_file_as(&ckpt, &deepness, false, Form::Deepness).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    let x = Array4::from_shape_fn((2, 3, 16, 16), |_| rng.random_range(-1.0f32..1.0));
    let per_tile = Predictor::open(&native, 1)
        .unwrap()
        .predict(x.view())
        .unwrap();
    // The Deepness form declares a per-pixel output, so it is run without the card
    // check of `Predictor::open`.
    let bytes = std::fs::read(&deepness).unwrap();
    let mut session = crate::infer::predictor::session_from_bytes(&bytes, 1).unwrap();
    let out = crate::infer::predictor::run_session(
        &mut session,
        crate::export::INPUT,
        x.view().into_dyn(),
        crate::export::PROBABILITIES,
    )
    .unwrap();
    assert_eq!(out.shape(), &[2, 4, 16, 16]);
    for b in 0..2 {
        for c in 0..4 {
            for (i, j) in [(0, 0), (7, 9), (15, 15)] {
                assert_eq!(out[[b, c, i, j]], per_tile[[b, c]]);
            }
        }
    }
}

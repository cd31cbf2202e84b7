//! Deterministic pseudo-random models, for tests and benchmarks that need a model
//! without training one.
//!
//! Conv and linear weights are He-uniform, biases small, batch-norm scales near 1
//! and running statistics plausible (mean near 0, variance near 1), all drawn from
//! ChaCha8 seeded by `seed`, so the same seed gives the same model everywhere.

use crate::card::ModelCard;
use crate::checkpoint::{Checkpoint, HostTensor, NamedTensors};
use crate::model::ModelSpec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Random tensors for every name of `spec`, deterministic in `seed`.
pub fn random_tensors(spec: &ModelSpec, seed: u64) -> NamedTensors {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    spec.tensors()
        .into_iter()
        .map(|t| {
            let n: usize = t.shape.iter().product();
            let uniform = |rng: &mut ChaCha8Rng, lo: f32, hi: f32| {
                (0..n).map(|_| rng.random_range(lo..hi)).collect()
            };
            let data: Vec<f32> = if t.name.ends_with("running_var") {
                uniform(&mut rng, 0.5, 1.5)
            } else if t.name.ends_with("running_mean") {
                uniform(&mut rng, -0.1, 0.1)
            } else if t.shape.len() == 1 && t.name.contains(".bn") && t.name.ends_with("weight") {
                uniform(&mut rng, 0.5, 1.5)
            } else if t.shape.len() == 1 {
                uniform(&mut rng, -0.1, 0.1)
            } else {
                // He-uniform on the fan-in (transposed convs: dims 0 is the input side).
                let fan_in = if t.name.contains(".up.") {
                    t.shape[0] * t.shape[2] * t.shape[3]
                } else {
                    t.shape[1..].iter().product()
                };
                let bound = (6.0 / fan_in as f32).sqrt();
                uniform(&mut rng, -bound, bound)
            };
            (
                t.name,
                HostTensor {
                    shape: t.shape,
                    data,
                },
            )
        })
        .collect()
}

/// A checkpoint with `card` and random tensors of its spec.
pub fn random_checkpoint(card: ModelCard, seed: u64) -> Checkpoint {
    let tensors = random_tensors(&card.spec, seed);
    Checkpoint {
        card,
        tensors,
        extra: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Arch;

    #[test]
    fn random_models_are_deterministic_and_complete() {
        let spec = ModelSpec {
            arch: Arch::Unet,
            in_channels: 2,
            num_classes: 3,
            width: 4,
            depth: 2,
            tile_size: 8,
        };
        let a = random_tensors(&spec, 7);
        assert_eq!(a, random_tensors(&spec, 7));
        assert_ne!(a, random_tensors(&spec, 8));
        assert_eq!(a.len(), spec.tensors().len());
        assert!(a["enc0.bn1.running_var"].data.iter().all(|v| *v >= 0.5));
    }
}

//! `Params`: the named tensors of a model in [`ModelSpec::tensors`] order, on a device.
//!
//! MAML needs the weights as plain values that a forward pass takes as an argument,
//! so fast weights are just another `Params` sharing the batch-norm buffers
//! ([`Params::with_trainable`]). Invariants: `names`, `tensors` and `trainable`
//! follow the spec order; every tensor has the spec's shape; all tensors share one
//! device and one floating kind. Initialisation follows PyTorch's defaults for the
//! paper's network: Kaiming-uniform conv/linear weights (He et al. 2015,
//! bound sqrt(6 / fan_in)), zero biases, batch-norm weight 1 / bias 0, running mean 0
//! and running variance 1. Values are drawn on the host from a seeded ChaCha stream,
//! so a seed gives the same model on every device.

use crate::error::{Error, Result};
use crate::model::spec::{InvalidModel, ModelSpec};
use crate::model::tensors::{HostTensor, NamedTensors};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// The tensors of one model, in spec order.
#[derive(Debug)]
pub struct Params {
    spec: ModelSpec,
    names: Arc<Vec<String>>,
    index: Arc<HashMap<String, usize>>,
    trainable: Arc<Vec<bool>>,
    tensors: Vec<Tensor>,
}

impl Params {
    fn assemble(spec: &ModelSpec, tensors: Vec<Tensor>) -> Self {
        let specs = spec.tensors();
        let names: Vec<String> = specs.iter().map(|t| t.name.clone()).collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let trainable = specs.iter().map(|t| t.trainable).collect();
        Params {
            spec: spec.clone(),
            names: Arc::new(names),
            index: Arc::new(index),
            trainable: Arc::new(trainable),
            tensors,
        }
    }

    /// A freshly initialised model (see the module doc), trainable tensors
    /// requiring gradients.
    pub fn init(spec: &ModelSpec, device: Device, kind: Kind, seed: u64) -> Result<Self> {
        spec.validate()
            .map_err(|e| Error::config_source("model", "", e))?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut tensors = Vec::new();
        for t in spec.tensors() {
            let n: usize = t.shape.iter().product();
            let leaf = t.name.rsplit('.').next().unwrap_or("");
            let is_bn = t.name.split('.').any(|part| part.starts_with("bn"));
            let data: Vec<f32> = match leaf {
                "weight" if is_bn => vec![1.0; n],
                "weight" => {
                    // PyTorch's fan_in: size(1) times the receptive field.
                    let fan_in = (t.shape[1] * t.shape[2..].iter().product::<usize>()) as f64;
                    let bound = (6.0 / fan_in).sqrt() as f32;
                    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
                }
                "running_var" => vec![1.0; n],
                _ => vec![0.0; n],
            };
            tensors.push(host_to_tensor(
                &HostTensor {
                    shape: t.shape.clone(),
                    data,
                },
                device,
                kind,
            )?);
        }
        let mut p = Self::assemble(spec, tensors);
        p.set_requires_grad(true);
        Ok(p)
    }

    /// Builds parameters from host tensors, checking names and shapes against the spec.
    pub fn from_named(
        spec: &ModelSpec,
        named: &NamedTensors,
        device: Device,
        kind: Kind,
    ) -> Result<Self> {
        let mut tensors = Vec::new();
        // Checkpoints are checked against their spec when read (with the file's
        // name); a mismatch here is a caller's bug.
        let invalid = |e: InvalidModel| Error::runtime_source("building a model's parameters", e);
        for t in spec.tensors() {
            let h = named
                .get(&t.name)
                .ok_or_else(|| invalid(InvalidModel::MissingTensor(t.name.clone())))?;
            if h.shape != t.shape {
                return Err(invalid(InvalidModel::TensorShape {
                    name: t.name.clone(),
                    got: h.shape.clone(),
                    want: t.shape.clone(),
                }));
            }
            tensors.push(host_to_tensor(h, device, kind)?);
        }
        Ok(Self::assemble(spec, tensors))
    }

    /// A stored model's tensors (a checkpoint's) as f32 on `device`, trainable ones
    /// requiring gradients.
    pub fn load(spec: &ModelSpec, named: &NamedTensors, device: Device) -> Result<Self> {
        let mut p = Self::from_named(spec, named, device, Kind::Float)?;
        p.set_requires_grad(true);
        Ok(p)
    }

    /// Copies every tensor to the host as f32.
    pub fn to_named(&self) -> NamedTensors {
        self.names
            .iter()
            .zip(&self.tensors)
            .map(|(n, t)| (n.clone(), tensor_to_host(t)))
            .collect()
    }

    /// The architecture.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The tensor called `name`; panics when the spec has no such tensor (a bug in
    /// a forward pass, not a user error).
    pub fn get(&self, name: &str) -> &Tensor {
        match self.index.get(name) {
            Some(&i) => &self.tensors[i],
            None => panic!("model {:?} has no tensor {name}", self.spec.arch),
        }
    }

    /// Names in spec order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// All tensors in spec order.
    pub fn tensors(&self) -> &[Tensor] {
        &self.tensors
    }

    /// Names of the trainable tensors, in spec order.
    pub fn trainable_names(&self) -> Vec<&str> {
        self.names
            .iter()
            .zip(self.trainable.iter())
            .filter(|(_, &t)| t)
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// The trainable tensors (shallow handles to the same storage), in spec order.
    pub fn trainable(&self) -> Vec<Tensor> {
        self.tensors
            .iter()
            .zip(self.trainable.iter())
            .filter(|(_, &t)| t)
            .map(|(x, _)| x.shallow_clone())
            .collect()
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> i64 {
        self.trainable().iter().map(|t| t.numel() as i64).sum()
    }

    /// The same model with the trainable tensors replaced by `weights` (fast weights);
    /// batch-norm buffers are shared with `self`.
    pub fn with_trainable(&self, weights: Vec<Tensor>) -> Params {
        let mut it = weights.into_iter();
        let tensors = self
            .tensors
            .iter()
            .zip(self.trainable.iter())
            .map(|(x, &t)| {
                if t {
                    it.next().expect("one weight per trainable tensor")
                } else {
                    x.shallow_clone()
                }
            })
            .collect();
        assert!(it.next().is_none(), "more weights than trainable tensors");
        Params {
            spec: self.spec.clone(),
            names: self.names.clone(),
            index: self.index.clone(),
            trainable: self.trainable.clone(),
            tensors,
        }
    }

    /// Replaces one tensor in place (same shape), e.g. estimated batch-norm statistics.
    pub fn set(&mut self, name: &str, value: &Tensor) {
        let i = *self
            .index
            .get(name)
            .unwrap_or_else(|| panic!("no tensor {name}"));
        let _guard = tch::no_grad_guard();
        self.tensors[i].copy_(value);
    }

    /// Turns gradient tracking of the trainable tensors on or off.
    pub fn set_requires_grad(&mut self, on: bool) {
        for (x, &t) in self.tensors.iter_mut().zip(self.trainable.iter()) {
            if t {
                *x = x.detach().set_requires_grad(on);
            }
        }
    }

    /// A deep copy on `device` in `kind`, detached, trainable tensors requiring
    /// gradients.
    pub fn to(&self, device: Device, kind: Kind) -> Params {
        let tensors = self
            .tensors
            .iter()
            .map(|t| t.detach().to_device(device).to_kind(kind).copy())
            .collect();
        let mut p = Params {
            spec: self.spec.clone(),
            names: self.names.clone(),
            index: self.index.clone(),
            trainable: self.trainable.clone(),
            tensors,
        };
        p.set_requires_grad(true);
        p
    }

    /// The device the tensors live on.
    pub fn device(&self) -> Device {
        self.tensors[0].device()
    }

    /// The floating kind of the tensors.
    pub fn kind(&self) -> Kind {
        self.tensors[0].kind()
    }
}

/// Uploads a host tensor.
pub fn host_to_tensor(h: &HostTensor, device: Device, kind: Kind) -> Result<Tensor> {
    let shape: Vec<i64> = h.shape.iter().map(|&s| s as i64).collect();
    let t = Tensor::f_from_slice(&h.data)
        .and_then(|t| t.f_reshape(&shape))
        .and_then(|t| t.f_to_device(device))
        .and_then(|t| t.f_to_kind(kind))
        .map_err(|e| Error::runtime_source(format!("creating a tensor of shape {shape:?}"), e))?;
    Ok(t)
}

/// Downloads a tensor as f32.
pub fn tensor_to_host(t: &Tensor) -> HostTensor {
    let shape: Vec<usize> = t.size().iter().map(|&s| s as usize).collect();
    let flat = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
        .view([-1]);
    let data = Vec::<f32>::try_from(&flat).expect("a float tensor converts to Vec<f32>");
    HostTensor { shape, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_cnn_has_231818_parameters_through_tch() {
        let p = Params::init(&ModelSpec::paper_cnn(15, 10), Device::Cpu, Kind::Float, 0).unwrap();
        assert_eq!(p.parameter_count(), 231_818);
    }

    #[test]
    fn init_follows_pytorch_defaults_and_is_seeded() {
        let spec = ModelSpec {
            width: 4,
            depth: 2,
            tile_size: 8,
            ..ModelSpec::paper_cnn(3, 5)
        };
        let a = Params::init(&spec, Device::Cpu, Kind::Float, 7).unwrap();
        let b = Params::init(&spec, Device::Cpu, Kind::Float, 7).unwrap();
        assert_eq!(a.to_named(), b.to_named());
        let w = tensor_to_host(a.get("blocks.0.conv.weight"));
        let bound = (6.0f32 / 27.0).sqrt();
        assert!(
            w.data.iter().all(|v| v.abs() <= bound) && w.data.iter().any(|v| v.abs() > bound / 2.0)
        );
        assert!(tensor_to_host(a.get("blocks.1.bn.weight"))
            .data
            .iter()
            .all(|&v| v == 1.0));
        assert!(tensor_to_host(a.get("blocks.1.bn.running_var"))
            .data
            .iter()
            .all(|&v| v == 1.0));
        assert!(tensor_to_host(a.get("head.bias"))
            .data
            .iter()
            .all(|&v| v == 0.0));
        assert!(
            a.get("head.weight").requires_grad()
                && !a.get("blocks.0.bn.running_mean").requires_grad()
        );
    }

    #[test]
    fn host_round_trip_and_fast_weights_share_buffers() {
        let spec = ModelSpec::default_unet(3, 4, 16);
        let spec = ModelSpec {
            width: 2,
            depth: 2,
            ..spec
        };
        let p = Params::init(&spec, Device::Cpu, Kind::Float, 1).unwrap();
        let back = Params::from_named(&spec, &p.to_named(), Device::Cpu, Kind::Double).unwrap();
        assert_eq!(back.kind(), Kind::Double);
        assert_eq!(back.to_named(), p.to_named());
        let fast = p.with_trainable(p.trainable().iter().map(|t| t * 2.0).collect());
        assert_eq!(
            fast.get("enc0.bn1.running_var").data_ptr(),
            p.get("enc0.bn1.running_var").data_ptr()
        );
        assert_eq!(fast.trainable_names().len(), p.trainable().len());
    }
}

//! Adam on explicit tensors, and global gradient-norm clipping.
//!
//! Written by hand because the meta-parameters are plain tensors (no `VarStore`)
//! and because the moments must travel with a resumable checkpoint. Follows Kingma
//! & Ba 2015 (Algorithm 1) with PyTorch's defaults: beta1 0.9, beta2 0.999,
//! eps 1e-8, bias correction.

use crate::checkpoint::NamedTensors;
use crate::error::Result;
use crate::model::params::{host_to_tensor, tensor_to_host};
use tch::Tensor;

/// Adam state for a list of parameters.
#[derive(Debug)]
pub struct Adam {
    /// Step size.
    pub lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: u64,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Adam {
    /// Zero moments shaped like `params`.
    pub fn new(params: &[Tensor], lr: f64) -> Self {
        let zeros = || params.iter().map(|p| p.detach().zeros_like()).collect();
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
            m: zeros(),
            v: zeros(),
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Updates `params` in place (without gradient tracking) along `grads`.
    pub fn step(&mut self, params: &[Tensor], grads: &[Tensor]) {
        assert_eq!(params.len(), grads.len(), "one gradient per parameter");
        self.step += 1;
        let bc1 = 1.0 - self.beta1.powi(self.step as i32);
        let bc2 = 1.0 - self.beta2.powi(self.step as i32);
        let _guard = tch::no_grad_guard();
        for ((p, g), (m, v)) in params
            .iter()
            .zip(grads)
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            let _ = m
                .g_mul_scalar_(self.beta1)
                .g_add_(&(g * (1.0 - self.beta1)));
            let _ = v
                .g_mul_scalar_(self.beta2)
                .g_add_(&(g * g * (1.0 - self.beta2)));
            let denom = (&*v / bc2).sqrt() + self.eps;
            let update = (&*m / bc1) / denom * self.lr;
            let _ = p.shallow_clone().g_sub_(&update);
        }
    }

    /// The moments as host tensors named `optim.m.{name}` / `optim.v.{name}`, plus
    /// the step count under `optim.step`.
    pub fn state(&self, names: &[&str]) -> NamedTensors {
        let mut out = NamedTensors::new();
        for (i, n) in names.iter().enumerate() {
            out.insert(format!("optim.m.{n}"), tensor_to_host(&self.m[i]));
            out.insert(format!("optim.v.{n}"), tensor_to_host(&self.v[i]));
        }
        out.insert(
            "optim.step".into(),
            crate::checkpoint::HostTensor {
                shape: vec![1],
                data: vec![self.step as f32],
            },
        );
        out
    }

    /// Restores moments written by [`Adam::state`]; returns `false` (state untouched)
    /// when `saved` holds none.
    pub fn restore(&mut self, names: &[&str], saved: &NamedTensors) -> Result<bool> {
        let Some(step) = saved.get("optim.step") else {
            return Ok(false);
        };
        for (i, n) in names.iter().enumerate() {
            let (Some(m), Some(v)) = (
                saved.get(&format!("optim.m.{n}")),
                saved.get(&format!("optim.v.{n}")),
            ) else {
                return Ok(false);
            };
            let (device, kind) = (self.m[i].device(), self.m[i].kind());
            self.m[i] = host_to_tensor(m, device, kind)?;
            self.v[i] = host_to_tensor(v, device, kind)?;
        }
        self.step = step.data[0] as u64;
        Ok(true)
    }
}

/// Scales `grads` in place so that their global L2 norm is at most `max_norm`
/// (`0` disables); returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> f64 {
    let _guard = tch::no_grad_guard();
    let total: f64 = grads
        .iter()
        .map(|g| f64::try_from(g.square().sum(tch::Kind::Double)).unwrap_or(0.0))
        .sum();
    let norm = total.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for g in grads.iter_mut() {
            *g = &*g * scale;
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn first_adam_step_moves_each_value_by_lr() {
        let p = Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true);
        let g = Tensor::from_slice(&[0.5f64, -3.0]);
        let mut adam = Adam::new(std::slice::from_ref(&p), 0.1);
        adam.step(std::slice::from_ref(&p), std::slice::from_ref(&g));
        let v = Vec::<f64>::try_from(&p.detach()).unwrap();
        assert!(
            (v[0] - 0.9).abs() < 1e-6 && (v[1] + 1.9).abs() < 1e-6,
            "{v:?}"
        );
        let state = adam.state(&["p"]);
        let mut again = Adam::new(std::slice::from_ref(&p), 0.1);
        assert!(again.restore(&["p"], &state).unwrap());
        assert_eq!(again.steps(), 1);
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let mut g = vec![
            Tensor::from_slice(&[3.0f32]),
            Tensor::from_slice(&[4.0f32]).to_device(Device::Cpu),
        ];
        assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
        let after: f64 = g
            .iter()
            .map(|t| f64::try_from(t.square().sum(Kind::Double)).unwrap())
            .sum();
        assert!((after.sqrt() - 1.0).abs() < 1e-5);
    }
}

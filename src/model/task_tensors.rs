//! A [`TaskBatch`](crate::tasks::TaskBatch) moved onto a device as tensors.
//!
//! MAML uses the task-local labels (0..way, re-drawn per task); the pretraining
//! baseline maps them to fixed output indices of a legend, so that its model means
//! the same class at each output for every task (the paper's 0-shot baseline).

use crate::error::{Error, Result};
use crate::tasks::{TaskBatch, IGNORE_INDEX};
use tch::{Device, Kind, Tensor};

/// Support and query sets of one task as tensors.
#[derive(Debug)]
pub struct TaskTensors {
    /// Support images `[n, bands, h, w]`.
    pub support_x: Tensor,
    /// Support labels `[n, 1]` or `[n, h*w]` (int64).
    pub support_y: Tensor,
    /// Query images.
    pub query_x: Tensor,
    /// Query labels.
    pub query_y: Tensor,
}

fn images(a: &ndarray::Array4<f32>, device: Device, kind: Kind) -> Result<Tensor> {
    let shape: Vec<i64> = a.shape().iter().map(|&s| s as i64).collect();
    // A standard-layout array (what the loader builds) is copied once, into the
    // tensor; any other layout is gathered first.
    let gathered;
    let data: &[f32] = match a.as_slice() {
        Some(s) => s,
        None => {
            gathered = a.iter().copied().collect::<Vec<f32>>();
            &gathered
        }
    };
    Tensor::f_from_slice(data)
        .and_then(|t| t.f_reshape(&shape))
        .and_then(|t| t.f_to_device(device))
        .and_then(|t| t.f_to_kind(kind))
        .map_err(|e| Error::runtime_source(format!("moving a batch of {shape:?} to {device:?}"), e))
}

fn labels(a: &ndarray::Array2<i64>, map: Option<&[i64]>, device: Device) -> Result<Tensor> {
    let data: Vec<i64> = a
        .iter()
        .map(|&v| match map {
            Some(m) if v != IGNORE_INDEX => m.get(v as usize).copied().unwrap_or(IGNORE_INDEX),
            _ => v,
        })
        .collect();
    Tensor::f_from_slice(&data)
        .and_then(|t| t.f_reshape([a.nrows() as i64, a.ncols() as i64]))
        .and_then(|t| t.f_to_device(device))
        .map_err(|e| Error::runtime_source(format!("moving labels to {device:?}"), e))
}

impl TaskTensors {
    /// Moves a batch with its task-local labels (MAML).
    pub fn from_batch(batch: &TaskBatch, device: Device, kind: Kind) -> Result<Self> {
        Self::build(batch, None, device, kind)
    }

    /// Moves a batch with labels mapped to indices into `legend` (class ids in output
    /// order); fails when a task class is not in the legend.
    pub fn from_batch_in_legend(
        batch: &TaskBatch,
        legend: &[u16],
        device: Device,
        kind: Kind,
    ) -> Result<Self> {
        let map = batch
            .classes
            .iter()
            .map(|id| {
                legend
                    .iter()
                    .position(|l| l == id)
                    .map(|i| i as i64)
                    .ok_or_else(|| {
                        Error::runtime(format!(
                            "class {id} of a task is not in the model's legend {legend:?}"
                        ))
                    })
            })
            .collect::<Result<Vec<i64>>>()?;
        Self::build(batch, Some(&map), device, kind)
    }

    fn build(batch: &TaskBatch, map: Option<&[i64]>, device: Device, kind: Kind) -> Result<Self> {
        Ok(TaskTensors {
            support_x: images(&batch.support_x, device, kind)?,
            support_y: labels(&batch.support_y, map, device)?,
            query_x: images(&batch.query_x, device, kind)?,
            query_y: labels(&batch.query_y, map, device)?,
        })
    }

    /// Support and query merged into one batch (the pretraining baseline's batch);
    /// two batches when their image sizes differ (DeepGlobe support shots are
    /// half-size crops).
    pub fn merged(&self) -> Vec<(Tensor, Tensor)> {
        if self.support_x.size()[2..] == self.query_x.size()[2..] {
            vec![(
                Tensor::cat(&[&self.support_x, &self.query_x], 0),
                Tensor::cat(&[&self.support_y, &self.query_y], 0),
            )]
        } else {
            vec![
                (
                    self.support_x.shallow_clone(),
                    self.support_y.shallow_clone(),
                ),
                (self.query_x.shallow_clone(), self.query_y.shallow_clone()),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array4};

    #[test]
    fn legend_mapping_keeps_ignored_pixels() {
        let batch = TaskBatch {
            support_x: Array4::zeros((2, 1, 2, 2)),
            support_y: Array2::from_shape_vec((2, 1), vec![0, 1]).unwrap(),
            query_x: Array4::zeros((1, 1, 2, 2)),
            query_y: Array2::from_shape_vec((1, 1), vec![IGNORE_INDEX]).unwrap(),
            classes: vec![10, 3],
        };
        let t = TaskTensors::from_batch_in_legend(&batch, &[1, 3, 10], Device::Cpu, Kind::Float)
            .unwrap();
        assert_eq!(
            Vec::<i64>::try_from(&t.support_y.view([-1])).unwrap(),
            vec![2, 1]
        );
        assert_eq!(
            Vec::<i64>::try_from(&t.query_y.view([-1])).unwrap(),
            vec![IGNORE_INDEX]
        );
        assert!(TaskTensors::from_batch_in_legend(&batch, &[1], Device::Cpu, Kind::Float).is_err());
        assert_eq!(t.merged()[0].0.size(), [3, 1, 2, 2]);
    }
}

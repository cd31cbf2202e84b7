//! Models under evaluation and how their outputs answer a task's classes: MAML
//! with task-local labels, the pretraining baseline and the random initialisation
//! with the legend's fixed indices.

use crate::catalog::classes::ClassInfo;
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::model::params::Params;
use crate::model::spec::ModelSpec;
use crate::model::task_tensors::TaskTensors;
use crate::tasks::TaskBatch;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Device, Kind};

/// How a model's training labelled tasks, hence how evaluation must label them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Labelling {
    /// Output i is the task's i-th class (MAML).
    TaskLocal,
    /// Output i is the legend's i-th class (pretraining, random initialisation).
    Legend,
}

impl Labelling {
    /// The labelling a `provenance.method` implies: `maml` -> task-local;
    /// `pretrain` and `random` -> legend.
    pub fn for_method(method: &str) -> Option<Self> {
        match method {
            "maml" => Some(Labelling::TaskLocal),
            "pretrain" | "random" => Some(Labelling::Legend),
            _ => None,
        }
    }
}

/// A model under evaluation.
#[derive(Debug)]
pub struct EvalModel {
    /// Name in the report, the curves and the plot.
    pub name: String,
    /// The checkpoint it came from (`None`: random initialisation).
    pub path: Option<String>,
    /// `maml`, `pretrain` or `random`.
    pub method: String,
    /// How tasks are labelled for it.
    pub labelling: Labelling,
    /// Class ids of its outputs, in output order.
    pub legend: Vec<u16>,
    /// Input bands in model order.
    pub bands: Vec<String>,
    /// Whether it reads each band standardised over the task (its card's
    /// `standardise_bands`).
    pub standardise_bands: bool,
    /// Its parameters (f32).
    pub params: Params,
}

impl EvalModel {
    /// Loads a checkpoint; the labelling follows its card's training method.
    pub fn from_checkpoint(path: &Path, name: String, device: Device) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::model(
                path,
                "no such model file (give a .safetensors checkpoint, or `random`)",
            ));
        }
        let ckpt = Checkpoint::load(path)?;
        let method = ckpt.card.provenance.method.clone();
        let labelling = Labelling::for_method(&method).ok_or_else(|| {
            Error::model(
                path,
                format!("trained with method `{method}`; evaluate knows maml, pretrain and random"),
            )
        })?;
        // evaluate adapts the model's own head (the paper's protocol), which
        // Proto-MAML meta-training never trains: its curves would score a head of
        // initial weights.
        if ckpt.card.inner_loop.prototype_head {
            return Err(Error::model(
                path,
                "was meta-trained with --prototype-head true: its own head is untrained, and \
                 evaluate adapts the learnt head as the paper does; compare such models on maps \
                 (adapt, scripts/map_benchmark.py)",
            ));
        }
        let params = Params::load(&ckpt.card.spec, &ckpt.tensors, device)
            .map_err(|e| Error::model_source(path, "", e))?;
        Ok(EvalModel {
            name,
            path: Some(path.display().to_string()),
            method,
            labelling,
            legend: ckpt.card.classes.iter().map(|c| c.id).collect(),
            bands: ckpt.card.bands.clone(),
            standardise_bands: ckpt.card.standardise_bands,
            params,
        })
    }

    /// The random-initialisation baseline: `spec` initialised with `seed`, legend
    /// labels (like the pretraining baseline, so only its weights differ), reading
    /// `bands` unstandardised (set [`EvalModel::standardise_bands`] to follow the
    /// models it is compared with).
    pub fn random(
        spec: &ModelSpec,
        classes: &[ClassInfo],
        bands: Vec<String>,
        device: Device,
        seed: u64,
    ) -> Result<Self> {
        Ok(EvalModel {
            name: "random".into(),
            path: None,
            method: "random".into(),
            labelling: Labelling::Legend,
            legend: classes.iter().map(|c| c.id).collect(),
            bands,
            standardise_bands: false,
            params: Params::init(spec, device, Kind::Float, seed)?,
        })
    }

    /// The task as tensors, labelled as this model was trained.
    pub fn tensors(&self, batch: &TaskBatch) -> Result<TaskTensors> {
        let device = self.params.device();
        match self.labelling {
            Labelling::TaskLocal => TaskTensors::from_batch(batch, device, Kind::Float),
            Labelling::Legend => {
                TaskTensors::from_batch_in_legend(batch, &self.legend, device, Kind::Float)
            }
        }
        .map_err(|e| Error::runtime_source(format!("model `{}`", self.name), e))
    }

    /// A model that cannot answer a task: its checkpoint at fault, named with the
    /// model's name in the report.
    fn unfit(&self, reason: String) -> Error {
        let reason = format!("model `{}`: {reason}", self.name);
        match &self.path {
            Some(path) => Error::model(path, reason),
            None => Error::runtime(reason),
        }
    }

    /// The outputs that answer for the task's classes 0..way, in task order.
    pub fn columns(&self, classes: &[u16]) -> Result<Vec<i64>> {
        let outputs = self.params.spec().num_classes;
        let cols: Vec<i64> = match self.labelling {
            Labelling::TaskLocal => (0..classes.len() as i64).collect(),
            Labelling::Legend => classes
                .iter()
                .map(|id| {
                    self.legend
                        .iter()
                        .position(|l| l == id)
                        .map(|i| i as i64)
                        .ok_or_else(|| {
                            self.unfit(format!("class {id} is not in its legend {:?}", self.legend))
                        })
                })
                .collect::<Result<_>>()?,
        };
        if let Some(c) = cols.iter().find(|&&c| c as usize >= outputs) {
            return Err(self.unfit(format!(
                "it has {outputs} outputs; a {}-way task needs output {c}",
                classes.len()
            )));
        }
        Ok(cols)
    }
}

//! The safetensors checkpoint format.
//!
//! A checkpoint is a safetensors file holding every tensor of
//! [`ModelSpec::tensors`](crate::model::ModelSpec::tensors) as f32, with the model card as
//! JSON under [`CARD_KEY`](crate::card::CARD_KEY) in its metadata. Reading one
//! needs no libtorch, so export, info and the plugin work without it.

use crate::card::{ModelCard, CARD_KEY};
use crate::error::{Error, Result};
pub use crate::model::tensors::{HostTensor, NamedTensors};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A model as stored: its card and its tensors.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The model card.
    pub card: ModelCard,
    /// Parameters and batch-norm buffers.
    pub tensors: NamedTensors,
    /// Extra metadata entries (training state such as `geomaml.step`).
    pub extra: BTreeMap<String, String>,
}

impl Checkpoint {
    /// Checks that every tensor the spec names is present with the right shape.
    pub fn validate(&self) -> std::result::Result<(), crate::model::spec::InvalidModel> {
        use crate::model::spec::InvalidModel;
        for t in self.card.spec.tensors() {
            match self.tensors.get(&t.name) {
                None => return Err(InvalidModel::MissingTensor(t.name)),
                Some(h) if h.shape != t.shape => {
                    return Err(InvalidModel::TensorShape {
                        name: t.name,
                        got: h.shape.clone(),
                        want: t.shape,
                    })
                }
                Some(h) if h.data.len() != t.shape.iter().product::<usize>() => {
                    return Err(InvalidModel::TensorData {
                        name: t.name,
                        values: h.data.len(),
                        shape: t.shape,
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads and validates a checkpoint.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| Error::model_source(path, "not a safetensors file", e))?;
        let mut extra: BTreeMap<String, String> = meta
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let card_json = extra
            .remove(CARD_KEY)
            .ok_or_else(|| Error::model(path, "has no model card (metadata key geomaml.card)"))?;
        let card =
            ModelCard::from_json(&card_json).map_err(|e| Error::model_source(path, "", e))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::model_source(path, "", e))?;
        let mut tensors = NamedTensors::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(Error::model(
                    path,
                    format!("tensor {name} is {:?}, expected F32", view.dtype()),
                ));
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(
                name.to_string(),
                HostTensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        let ckpt = Checkpoint {
            card,
            tensors,
            extra,
        };
        ckpt.validate()
            .map_err(|e| Error::model_source(path, "", e))?;
        Ok(ckpt)
    }

    /// Writes the checkpoint atomically (never overwrites unless `overwrite`).
    pub fn save(&self, path: impl AsRef<Path>, overwrite: bool) -> Result<()> {
        let path = path.as_ref();
        self.validate()
            .map_err(|e| Error::model_source(path, "", e))?;
        let bytes: BTreeMap<&str, Vec<u8>> = self
            .tensors
            .iter()
            .map(|(n, t)| {
                (
                    n.as_str(),
                    t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views: Vec<(&str, TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(n, t)| {
                let view = TensorView::new(Dtype::F32, t.shape.clone(), &bytes[n.as_str()])
                    .expect("sizes checked");
                (n.as_str(), view)
            })
            .collect();
        let mut meta: HashMap<String, String> = self.extra.clone().into_iter().collect();
        meta.insert(CARD_KEY.into(), self.card.to_json());
        let data = safetensors::serialize(views, Some(meta))
            .map_err(|e| Error::model_source(path, "", e))?;
        crate::output::write_atomic(path, &data, overwrite)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::tests::sample_card;

    pub(crate) fn zero_checkpoint() -> Checkpoint {
        let card = sample_card();
        let tensors = card
            .spec
            .tensors()
            .into_iter()
            .map(|t| {
                let n = t.shape.iter().product();
                (
                    t.name,
                    HostTensor {
                        shape: t.shape,
                        data: (0..n).map(|i| i as f32 * 1e-3).collect(),
                    },
                )
            })
            .collect();
        Checkpoint {
            card,
            tensors,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn checkpoints_round_trip_with_their_card() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let ckpt = zero_checkpoint();
        ckpt.save(&path, false).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.card, ckpt.card);
        assert_eq!(back.tensors, ckpt.tensors);
    }

    #[test]
    fn files_without_a_card_are_rejected_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bare.safetensors");
        let data = vec![0u8; 8];
        let view = TensorView::new(Dtype::F32, vec![2], &data).unwrap();
        std::fs::write(
            &path,
            safetensors::serialize(vec![("x", view)], None).unwrap(),
        )
        .unwrap();
        let err = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("bare.safetensors") && err.contains("model card"),
            "{err}"
        );
    }
}

//! Shared feature maps for classifier maps: the convolutional trunk runs once per
//! block instead of once per window.
//!
//! Classifier windows overlap by `1 - (stride/tile)^2` of their area (15/16 for the
//! paper's 128 px windows at stride 32), so computing each window's early layers
//! separately repeats most of the work. Here the model is cut at the deepest of its
//! architecture's cut points ([`Cut`], derived from the description in
//! `model::arch`) whose down-sampling `2^L` divides the stride (for the paper's CNN:
//! after block `L-1`): the trunk runs on the block's whole source region, and each
//! window's tail (for the CNN: the remaining blocks, the mean and the linear head)
//! runs on the `T/2^L`-square crop of the trunk's feature map at the window's
//! position. Because every window starts at a multiple of `2^L` from the region's
//! origin, pooling grids line up
//! exactly; the one difference from per-window inference is that a window's
//! early convolutions see the real neighbouring pixels at its border where the
//! per-window network sees zero padding. That changes the features within a few
//! pixels of window borders; the benchmark measures the effect on the classes
//! (class agreement with the exact sliding-window map) and `--exact` turns it off.

use super::predictor::{check_output, run_session, session_from_bytes};
use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::export::{metadata, split::split_at, PROBABILITIES};
use crate::model::arch::{trace, Cut};
use ndarray::{Array2, Array3, ArrayView3, ArrayView4, Axis, Ix2, Ix4};
use ort::session::Session;
use prost::Message;
use std::path::{Path, PathBuf};

/// A classifier cut into a block-wide trunk and a per-window tail.
pub struct SharedCnn {
    path: PathBuf,
    trunk: Session,
    tail: Session,
    feature: String,
    /// Classes of the card: the width the tail's output must have.
    classes: usize,
    /// Down-sampling of the trunk's output (`2^L`).
    pub scale: usize,
}

impl std::fmt::Debug for SharedCnn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCnn")
            .field("path", &self.path)
            .field("scale", &self.scale)
            .finish()
    }
}

impl SharedCnn {
    /// The cut usable at `stride`: the deepest whose down-sampling divides the
    /// stride, or `None` when there is none (odd stride, or an architecture without
    /// cut points such as the U-Net, whose skip connections cross every level).
    pub fn cut(card: &ModelCard, stride: usize) -> Option<Cut> {
        if stride == 0 {
            return None;
        }
        trace(&card.spec)
            .cuts
            .into_iter()
            .rfind(|c| stride % c.scale == 0)
    }

    /// Builds trunk and tail sessions from the model at `path` for `stride`.
    pub fn open(
        path: &Path,
        card: &ModelCard,
        stride: usize,
        threads: usize,
    ) -> Result<Option<Self>> {
        let Some(cut) = Self::cut(card, stride) else {
            return Ok(None);
        };
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let model = metadata::decode_model(&bytes, path)?;
        let (trunk, tail) = split_at(&model, &cut.value, cut.channels)
            .map_err(|e| Error::model_source(path, "", e))?;
        let session = |m: &crate::export::proto::ModelProto| {
            session_from_bytes(&m.encode_to_vec(), threads)
                .map_err(|e| Error::model_source(path, "ONNX Runtime", e))
        };
        Ok(Some(SharedCnn {
            path: path.to_path_buf(),
            trunk: session(&trunk)?,
            tail: session(&tail)?,
            feature: cut.value,
            classes: card.spec.num_classes,
            scale: cut.scale,
        }))
    }

    /// The trunk's feature map `[channels, h / 2^L, w / 2^L]` of a normalised region
    /// `[bands, h, w]`.
    pub fn features(&mut self, region: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
        let x = region.insert_axis(Axis(0)).into_dyn();
        let f = run_session(&mut self.trunk, crate::export::INPUT, x, &self.feature)
            .map_err(|e| Error::model_source(&self.path, "", e))?;
        let f = f
            .into_dimensionality::<Ix4>()
            .map_err(|e| Error::model_source(&self.path, "", e))?;
        Ok(f.index_axis_move(Axis(0), 0))
    }

    /// Class probabilities `[n, classes]` of a batch of feature crops.
    pub fn tail(&mut self, crops: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        let n = crops.shape()[0];
        let p = run_session(
            &mut self.tail,
            &self.feature,
            crops.into_dyn(),
            PROBABILITIES,
        )
        .map_err(|e| Error::model_source(&self.path, "", e))?;
        check_output(&self.path, PROBABILITIES, &p, &[n, self.classes])?;
        p.into_dimensionality::<Ix2>()
            .map_err(|e| Error::model_source(&self.path, "", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::tests::sample_card;
    use crate::model::{Arch, ModelSpec};

    #[test]
    fn sharing_depth_follows_the_stride() {
        let mut card = sample_card();
        card.spec = ModelSpec {
            depth: 7,
            ..card.spec
        };
        let scale = |stride| SharedCnn::cut(&card, stride).map(|c| c.scale);
        assert_eq!(scale(32), Some(32));
        assert_eq!(scale(256), Some(128));
        assert_eq!(scale(6), Some(2));
        assert_eq!(scale(7), None);
        assert_eq!(
            SharedCnn::cut(&card, 32).unwrap().value,
            "blocks.4/pool",
            "the cut after block L-1 for 2^L = 32"
        );
        card.spec.arch = Arch::Unet;
        assert!(SharedCnn::cut(&card, 32).is_none());
    }
}

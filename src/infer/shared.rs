//! Shared feature maps for classifier maps: the convolutional trunk runs once per
//! block instead of once per window.
//!
//! Classifier windows overlap by `1 - (stride/tile)^2` of their area (15/16 for the
//! paper's 128 px windows at stride 32), so computing each window's early layers
//! separately repeats most of the work. Here the model is cut after block `L-1`
//! (`2^L` the largest power of two dividing the stride, at most `2^depth`): the
//! trunk runs on the block's whole source region, and each window's tail (the
//! remaining blocks, the mean and the linear head) runs on the `T/2^L`-square crop
//! of the trunk's feature map at the window's position. Because every window
//! starts at a multiple of `2^L` from the region's origin, pooling grids line up
//! exactly; the one difference from per-window inference is that a window's
//! early convolutions see the real neighbouring pixels at its border where the
//! per-window network sees zero padding. That changes the features within a few
//! pixels of window borders; the benchmark measures the effect on the classes
//! (class agreement with the exact sliding-window map) and `--exact` turns it off.

use super::predictor::{run_session, session_from_bytes};
use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::export::{metadata, split::split_at, PROBABILITIES};
use crate::model::Arch;
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
    /// The trunk depth `L` usable at `stride`, or `None` when sharing cannot line up
    /// pooling grids (odd stride) or the model is not the CNN.
    pub fn level(card: &ModelCard, stride: usize) -> Option<usize> {
        let level = (stride.trailing_zeros() as usize).min(card.spec.depth);
        (card.spec.arch == Arch::Cnn && stride > 0 && level > 0).then_some(level)
    }

    /// Builds trunk and tail sessions from the model at `path` for `stride`.
    pub fn open(
        path: &Path,
        card: &ModelCard,
        stride: usize,
        threads: usize,
    ) -> Result<Option<Self>> {
        let Some(level) = Self::level(card, stride) else {
            return Ok(None);
        };
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let model = metadata::decode_model(&bytes, path)?;
        let feature = format!("blocks.{}/pool", level - 1);
        let (trunk, tail) = split_at(&model, &feature, card.spec.width)
            .map_err(|e| Error::model_source(path, "", e))?;
        let session = |m: &crate::export::proto::ModelProto| {
            session_from_bytes(&m.encode_to_vec(), threads)
                .map_err(|e| Error::model_source(path, "ONNX Runtime", e))
        };
        Ok(Some(SharedCnn {
            path: path.to_path_buf(),
            trunk: session(&trunk)?,
            tail: session(&tail)?,
            feature,
            scale: 1 << level,
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
        let p = run_session(
            &mut self.tail,
            &self.feature,
            crops.into_dyn(),
            PROBABILITIES,
        )
        .map_err(|e| Error::model_source(&self.path, "", e))?;
        p.into_dimensionality::<Ix2>()
            .map_err(|e| Error::model_source(&self.path, "", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::tests::sample_card;
    use crate::model::ModelSpec;

    #[test]
    fn sharing_depth_follows_the_stride() {
        let mut card = sample_card();
        card.spec = ModelSpec {
            depth: 7,
            ..card.spec
        };
        assert_eq!(SharedCnn::level(&card, 32), Some(5));
        assert_eq!(SharedCnn::level(&card, 256), Some(7));
        assert_eq!(SharedCnn::level(&card, 6), Some(1));
        assert_eq!(SharedCnn::level(&card, 7), None);
        card.spec.arch = Arch::Unet;
        assert_eq!(SharedCnn::level(&card, 32), None);
    }
}

//! `geomaml export MODEL.safetensors -o MODEL.onnx`: ONNX export with the model card.

use crate::checkpoint::Checkpoint;
use crate::error::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `geomaml export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The checkpoint (.safetensors with a model card).
    model: PathBuf,
    /// The ONNX file to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Replace the output if it exists.
    #[arg(long)]
    overwrite: bool,
    /// For the Deepness QGIS plugin: a tile classifier (CNN) is exported with a
    /// per-pixel output (the tile's class probabilities over the whole tile) that
    /// Deepness runs as a segmentation model; `geomaml map` needs the export without
    /// this flag. U-Net exports run in both without it.
    #[arg(long)]
    deepness: bool,
}

impl ExportArgs {
    /// Reads the checkpoint, writes the ONNX model, prints a summary on stderr.
    pub fn run(&self) -> Result<ExitCode> {
        crate::output::refuse_input(&self.output, &[&self.model])?;
        let ckpt = Checkpoint::load(&self.model)?;
        if self.deepness && ckpt.card.standardise_bands {
            return Err(crate::error::Error::model(
                &self.model,
                "reads each band standardised over the scene it maps, which Deepness cannot do; \
                 adapt it to the scene first (`geomaml adapt`), which folds the scene's \
                 statistics into the model, and export the adapted model",
            ));
        }
        let form = if self.deepness {
            crate::export::Form::Deepness
        } else {
            crate::export::Form::Native
        };
        let path = crate::export::export_file_as(&ckpt, &self.output, self.overwrite, form)?;
        let spec = &ckpt.card.spec;
        eprintln!(
            "exported {:?}{} ({} bands -> {} classes, {} px tiles, opset {}) to {}",
            spec.arch,
            if self.deepness { " for Deepness" } else { "" },
            spec.in_channels,
            spec.num_classes,
            spec.tile_size,
            crate::export::OPSET,
            path.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}

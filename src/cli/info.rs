//! `geomaml info MODEL`: the model card of a checkpoint (.safetensors) or an
//! exported model (.onnx).

use crate::card::ModelCard;
use crate::checkpoint::Checkpoint;
use crate::error::Result;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `geomaml info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A .safetensors checkpoint or an .onnx model.
    model: PathBuf,
    /// Print the card as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Reads the card of a checkpoint or an ONNX model (by extension; content decides
/// for other names).
pub fn read_any_card(path: &Path) -> Result<ModelCard> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "onnx" => crate::export::read_card(path),
        "safetensors" => Ok(Checkpoint::load(path)?.card),
        _ => Checkpoint::load(path)
            .map(|c| c.card)
            .or_else(|_| crate::export::read_card(path)),
    }
}

impl InfoArgs {
    /// Prints the card.
    pub fn run(&self) -> Result<ExitCode> {
        let card = read_any_card(&self.model)?;
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&card).expect("cards serialise")
            );
        } else {
            print!("{}", card.summary());
        }
        Ok(ExitCode::SUCCESS)
    }
}

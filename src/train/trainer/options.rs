//! What a training run is told besides its configuration ([`RunOptions`]: where
//! its files go, resume, progress) and what it reports ([`TrainSummary`]).

use super::*;

/// Where a run writes and what it continues from.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The model file (best meta-validated parameters).
    pub out: PathBuf,
    /// The JSONL log; `<out stem>.log.jsonl` when absent.
    pub log: Option<PathBuf>,
    /// A checkpoint to continue from; its run's outputs are then updated in place
    /// and the log is appended to.
    pub resume: Option<PathBuf>,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// Started with the run's steps, advanced once per step, with the loss,
    /// accuracy and speed as its message.
    pub progress: Progress,
}

impl RunOptions {
    /// A new run writing `out`: the log beside it, no resume, existing outputs kept,
    /// no progress shown.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        RunOptions {
            out: out.into(),
            log: None,
            resume: None,
            overwrite: false,
            progress: Progress::hidden(),
        }
    }

    /// The JSONL log: `log`, or `<out stem>.log.jsonl` beside the model.
    pub fn log_path(&self) -> PathBuf {
        self.log.clone().unwrap_or_else(|| {
            let stem = self
                .out
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            self.out.with_file_name(format!("{stem}.log.jsonl"))
        })
    }

    /// Every file a run writes: the model, its resume state and the log.
    pub fn outputs(&self) -> [PathBuf; 3] {
        [self.out.clone(), last_path(&self.out), self.log_path()]
    }
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Steps completed in total.
    pub steps: u64,
    /// The device trained on (`cpu`, `cuda:0`).
    pub device: String,
    /// Step of the kept model and its meta-validation loss/accuracy.
    pub best: Option<(u64, f64, f64)>,
    /// Mean training loss of the last step.
    pub last_loss: f64,
    /// Mean tasks per second over the run.
    pub tasks_per_s: f64,
    /// The model file.
    pub out: PathBuf,
    /// The resume file.
    pub last: PathBuf,
    /// The log file.
    pub log: PathBuf,
    /// Adaptation steps chosen on meta-validation (MAML with validation only).
    pub adapt_steps: Option<ChosenSteps>,
    /// Where the tiles were read from (the tile store or the files), for the user;
    /// empty when the source does not say ([`crate::train::train_catalog`] does).
    pub data_path: String,
}

/// What meta-validation chose for adaptation at the end of MAML meta-training.
#[derive(Debug, Clone)]
pub struct ChosenSteps {
    /// The most accurate candidate, recorded in the card.
    pub chosen: usize,
    /// Each candidate's meta-validation accuracy (0-1).
    pub scores: Vec<(usize, f64)>,
    /// The steps `adapt` takes by default with the card as saved
    /// ([`crate::card::ModelCard::adapt_steps`]: more than `chosen` for a per-pixel
    /// network started from class prototypes).
    pub default: usize,
}

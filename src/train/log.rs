//! The training log: one JSON object per line, flushed as it is written.
//!
//! Each line is a [`LogRecord`]: `{"kind": "train"|"val", "step", "method",
//! "loss", "support_loss", "accuracy", "grad_norm", "tasks_per_s", "elapsed_s"}`.
//! For MAML `loss`/`accuracy` are the query set's after adaptation and
//! `support_loss` is before it; for pretraining they are the merged batch's.
//! A resumed run cuts the log back to its checkpoint's step, then appends, so the
//! log of an interrupted and resumed run reads like the uninterrupted run's.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// `train` for a training step, `val` for a meta-validation.
    pub kind: String,
    /// Steps completed when the line was written.
    pub step: u64,
    /// `maml` or `pretrain`.
    pub method: String,
    /// Query loss after adaptation (MAML) or batch loss (pretrain).
    pub loss: f64,
    /// Support loss before adaptation.
    pub support_loss: f64,
    /// Query accuracy after adaptation (MAML) or batch accuracy (pretrain).
    pub accuracy: f64,
    /// Global meta-gradient norm before clipping (training lines).
    pub grad_norm: Option<f64>,
    /// Tasks per second over the step, data loading included (training lines).
    pub tasks_per_s: Option<f64>,
    /// Seconds since the run started.
    pub elapsed_s: f64,
}

/// An append-only JSONL file (or nowhere).
#[derive(Debug)]
pub struct JsonlLog {
    path: PathBuf,
    file: std::fs::File,
}

impl JsonlLog {
    /// Opens `path`: appends when `append`, else creates it (failing when it exists
    /// and `overwrite` is false).
    pub fn open(path: &Path, append: bool, overwrite: bool) -> Result<Self> {
        if !append && !overwrite && path.exists() {
            return Err(Error::OutputExists { path: path.into() });
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(JsonlLog {
            path: path.into(),
            file,
        })
    }

    /// Reopens the log of a run resumed at `step`: lines of later steps (written
    /// after the checkpoint, before the interruption) are removed, then new lines
    /// are appended. A missing log is created.
    pub fn resume(path: &Path, step: u64) -> Result<Self> {
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let kept: String = text
                .lines()
                .filter(|l| serde_json::from_str::<LogRecord>(l).is_ok_and(|r| r.step <= step))
                .map(|l| format!("{l}\n"))
                .collect();
            crate::output::write_atomic(path, kept.as_bytes(), true)?;
        }
        Self::open(path, true, true)
    }

    /// Writes one record as a line.
    pub fn write(&mut self, record: &LogRecord) -> Result<()> {
        let line = serde_json::to_string(record).expect("log records serialise") + "\n";
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_append_and_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let rec = LogRecord {
            kind: "train".into(),
            step: 1,
            method: "maml".into(),
            loss: 1.0,
            support_loss: 1.5,
            accuracy: 0.25,
            grad_norm: Some(2.0),
            tasks_per_s: Some(3.0),
            elapsed_s: 0.1,
        };
        JsonlLog::open(&path, false, false)
            .unwrap()
            .write(&rec)
            .unwrap();
        assert!(JsonlLog::open(&path, false, false).is_err());
        JsonlLog::open(&path, true, false)
            .unwrap()
            .write(&rec)
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let back: Vec<LogRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, vec![rec.clone(), rec]);
    }
}

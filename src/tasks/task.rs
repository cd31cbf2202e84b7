//! A few-shot task: which tiles (and which windows of them) form its support and
//! query sets, and which classes its task-local labels `0..way` stand for.

use crate::catalog::{PixelWindow, Season, TileId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the labels of a task are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// One label per tile (Sen12MS).
    Classification,
    /// One label per pixel (DeepGlobe).
    Segmentation,
}

/// One support or query example: a tile and the window of its sources to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskItem {
    /// The tile (catalog id).
    pub tile: TileId,
    /// Window in pixel space of the tile's sources (the tile itself, or a shot
    /// cropped from it).
    pub window: PixelWindow,
    /// Class id for classification; `null` for segmentation (labels per pixel).
    pub label: Option<u16>,
}

/// One n-way k-shot task from a single (season, region), or one DeepGlobe image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Task {
    /// Tile or pixel labels.
    pub kind: TaskKind,
    /// Season of every tile of the task (`null` for DeepGlobe).
    pub season: Option<Season>,
    /// Region (Sen12MS scene) or image (DeepGlobe) of every tile of the task.
    pub region: u32,
    /// Class ids; task-local label `i` means `classes[i]`.
    pub classes: Vec<u16>,
    /// Support examples, class by class (`shot` per class for classification).
    pub support: Vec<TaskItem>,
    /// Query examples; none shares or overlaps a support footprint.
    pub query: Vec<TaskItem>,
}

impl Task {
    /// Task-local label of a class id.
    pub fn local_label(&self, class: u16) -> Option<usize> {
        self.classes.iter().position(|&c| c == class)
    }

    /// Number of classes (n of n-way).
    pub fn way(&self) -> usize {
        self.classes.len()
    }
}

//! Integration tests: one binary that runs the real `geomaml` executable in temp
//! folders, on generated data and sample_data/.
//!
//! Modules, one per area of the tool:
//! - `adapt`: adapt and map --labels on the sample scene; bad label inputs.
//! - `assess`: map accuracy against rasters and vector labels.
//! - `batch`: map --manifest (shards, resume, failures, /vsicurl/, STAC).
//! - `catalog`: catalog, tasks and batch loading on generated Sen12MS/DeepGlobe trees.
//! - `cli`: doctor, usage errors, exit codes.
//! - `inputs`: labels and references in zips under accented names, CSV point
//!   tables, alpha-band mosaics, projected GeoJSON without `crs`, non-finite
//!   coordinates, unwritable output folders.
//! - `legend`: the analyst's own classes from label files (names, ids, decimal
//!   fields, colours, styles) through adapt to maps, Deepness and assess.
//! - `checks`: what map and adapt say about a scene the model may not fit (bands
//!   taken by position, other units, another resolution); named bands reordered.
//! - `evaluate`: few-shot evaluation report, curves and plot on sample_data.
//! - `units`: outputs as units under signals at named moments, full disks and a
//!   killed run's leftovers (map sets, train's files, errors naming outputs).
//! - `faults`: full disks, signals, races, inputs as outputs, absurd values, closed
//!   pipes, local CRSs, contradictory labels, diverging adaptation.
//! - `train`: train (MAML, pretrain) and info on a generated Sen12MS tree.
//! - `map`: export, info and map (ONNX models, land-cover GeoTIFFs).
//! - `pixel`: the per-pixel mapping network, trained on point tasks, adapted and
//!   mapped at the scene's resolution.
//! - `progress`: `GEOMAML_PROGRESS=lines` from synth, catalog and train.
//! - `placement`: KML folders as classes, polygons partly outside the scene or
//!   over nodata, labels across the antimeridian.
//! - `scenes`: rasters and label files as GIS tools write them (masks, scale/offset,
//!   complex bands, GCPs, labels with Z, multi-layer GeoPackages).
//! - `store`: the tile store (`geomaml store`): tasks, checkpoints and scores the
//!   same as from the files; stale, failed and rebuilt stores; progress lines.
//! - `suggest`: where to label next (points, CRS, spacing, classes, seeds).
//! - `synth`: synthetic Sen12MS/DeepGlobe trees and scenes (layout, georeferencing,
//!   determinism, the region-to-region appearance shift).

/// Models that lie about their output (shared with the `graphs` fuzz target).
mod lying_graph;
mod util;

#[cfg(all(feature = "train", feature = "infer"))]
mod adapt;
mod assess;
#[cfg(feature = "infer")]
mod batch;
mod catalog;
#[cfg(all(feature = "train", feature = "infer"))]
mod checks;
mod cli;
#[cfg(feature = "train")]
mod evaluate;
mod experiments;
#[cfg(all(feature = "train", feature = "infer"))]
mod faults;
#[cfg(all(feature = "train", feature = "infer"))]
mod inputs;
#[cfg(all(feature = "train", feature = "infer"))]
mod legend;
#[cfg(feature = "infer")]
mod map;
#[cfg(all(feature = "train", feature = "infer"))]
mod memory_limit;
#[cfg(all(feature = "train", feature = "infer"))]
mod pixel;
#[cfg(all(feature = "train", feature = "infer"))]
mod placement;
mod progress;
#[cfg(all(feature = "train", feature = "infer"))]
mod scenes;
#[cfg(feature = "train")]
mod store;
#[cfg(all(feature = "train", feature = "infer"))]
mod suggest;
mod synth;
mod train;
#[cfg(all(feature = "train", feature = "infer"))]
mod units;

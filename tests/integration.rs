//! Integration tests: one binary that runs the real `geomaml` executable in temp
//! folders, on generated data and sample_data/.
//!
//! Modules, one per area of the tool:
//! - `cli`: doctor, usage errors, exit codes.

mod util;

mod assess;
mod cli;

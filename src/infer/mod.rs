//! Inference through ONNX Runtime (`infer` feature): a [`Predictor`] over an
//! exported model, and [`map_scene`], which turns whole scenes into georeferenced
//! land-cover maps.

pub mod blend;
mod categories;
pub mod confidence;
pub mod descriptor;
mod engine;
pub mod layout;
pub mod mapper;
mod open;
pub mod plan;
pub mod predictor;
pub mod request;
pub mod runtime;
pub mod shared;
pub mod sink;
pub mod window;

pub use layout::{MapFile, MapLayout};
pub use mapper::{map_scene, MapConfig, MapSummary};
pub use predictor::Predictor;
pub use request::{MapOptions, MapRequest};
pub use window::{overview_factors, BlockOutput, Overview, WindowMapper};

#[cfg(all(test, feature = "train"))]
mod parity;

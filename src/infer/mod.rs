//! Inference through ONNX Runtime (`infer` feature).

pub mod runtime;

//! Link settings for libtorch and the default ONNX Runtime location.
//!
//! - `libtorch_cuda.so` has no symbol geomaml uses directly, so `--as-needed` linkers
//!   drop it and CUDA is then silently unavailable; `--no-as-needed` keeps it.
//! - An rpath to libtorch's `lib/` lets `target/*/geomaml` and the test binaries run
//!   without LD_LIBRARY_PATH.
//! - The ONNX Runtime library of the setup venv is recorded as the run-time default
//!   (`ORT_DYLIB_PATH` still wins).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=GEOMAML_ORT_DYLIB");
    println!("cargo:rerun-if-changed=build.rs");

    let libtorch = std::env::var_os("LIBTORCH").map(PathBuf::from);
    if std::env::var_os("CARGO_FEATURE_TRAIN").is_some() {
        if let Some(root) = &libtorch {
            let lib = root.join("lib");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
            if lib.join("libtorch_cuda.so").exists() {
                println!("cargo:rustc-link-search=native={}", lib.display());
                println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
            }
        }
    }

    let version = libtorch
        .as_ref()
        .and_then(|t| std::fs::read_to_string(t.join("version.py")).ok())
        .and_then(|v| {
            v.lines().find_map(|l| {
                l.strip_prefix("__version__ = ")
                    .map(|s| s.trim_matches(['\'', '"']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=GEOMAML_LIBTORCH_VERSION={version}");

    // Written by scripts/setup.sh; else the setup venv's copy beside LIBTORCH.
    let ort = std::env::var_os("GEOMAML_ORT_DYLIB")
        .map(PathBuf::from)
        .or_else(|| {
            libtorch.as_ref().and_then(|t| {
                t.parent()
                    .map(|site| site.join("onnxruntime/capi/libonnxruntime.so.1.31.1"))
            })
        });
    let default = ort.map(|p| p.display().to_string()).unwrap_or_default();
    println!("cargo:rustc-env=GEOMAML_DEFAULT_ORT_DYLIB={default}");
}

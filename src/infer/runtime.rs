//! Finding and loading the ONNX Runtime shared library.
//!
//! ort is built with `load-dynamic`: nothing is linked at build time. At run time
//! the library comes from `ORT_DYLIB_PATH`, else from the setup venv recorded when
//! geomaml was built. A missing library is a clean error, never a panic.

use crate::error::{Error, Result};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Where the ONNX Runtime library would be loaded from, and why.
pub fn library_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::Other(format!(
                "ORT_DYLIB_PATH={} does not exist; point it at libonnxruntime.so.1.31.1",
                p.display()
            )))
        };
    }
    let default = PathBuf::from(env!("GEOMAML_DEFAULT_ORT_DYLIB"));
    if default.is_file() {
        return Ok(default);
    }
    Err(Error::Other(format!(
        "ONNX Runtime library not found (looked at {}); run scripts/setup.sh or set ORT_DYLIB_PATH",
        if default.as_os_str().is_empty() {
            "<none recorded at build>".into()
        } else {
            default.display().to_string()
        }
    )))
}

static INIT: OnceLock<std::result::Result<(PathBuf, ort::environment::Environment), String>> =
    OnceLock::new();

fn loaded() -> Result<&'static (PathBuf, ort::environment::Environment)> {
    INIT.get_or_init(|| {
        let path = library_path().map_err(|e| e.to_string())?;
        // A library that fails to load aborts inside ort on some versions; catch it.
        let loaded = std::panic::catch_unwind(|| {
            ort::init_from(&path).map(|b| b.with_name("geomaml").build())
        });
        match loaded {
            Ok(Ok(Ok(env))) => Ok((path, env)),
            Ok(Ok(Err(e))) => Err(format!(
                "starting ONNX Runtime from {}: {e}",
                path.display()
            )),
            Ok(Err(e)) => Err(format!("loading ONNX Runtime from {}: {e}", path.display())),
            Err(_) => Err(format!(
                "loading ONNX Runtime from {} panicked",
                path.display()
            )),
        }
    })
    .as_ref()
    .map_err(|e| Error::Other(e.clone()))
}

/// Loads ONNX Runtime once per process; later calls return the same outcome.
pub fn init() -> Result<PathBuf> {
    loaded().map(|(path, _)| path.clone())
}

/// The process-wide ONNX Runtime environment sessions are built in (loads the
/// library on first use). ort 2.0.0-rc.15 allows one environment per process and
/// only keeps a weak reference itself, so it lives here for the whole run.
pub fn environment() -> Result<ort::environment::Environment> {
    loaded().map(|(_, env)| env.clone())
}

/// The ONNX Runtime version string of the loaded library (e.g. `1.31.1`).
pub fn version() -> Result<String> {
    let path = init()?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let from_name = name.rsplit_once(".so.").map(|(_, v)| v.to_string());
    let info = ort::info();
    Ok(from_name.unwrap_or_else(|| info.to_string()))
}

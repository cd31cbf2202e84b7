//! Finding and loading the ONNX Runtime shared library.
//!
//! ort is built with `load-dynamic`: nothing is linked at build time. At run time
//! the library comes from `ORT_DYLIB_PATH`, else from the setup venv recorded when
//! geomaml was built. A missing library is a clean error, never a panic.

use crate::error::{Error, Result};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Where the ONNX Runtime library would be loaded from, and why.
pub fn library_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::config(
                format!("ORT_DYLIB_PATH={}", p.display()),
                "does not exist; point it at libonnxruntime.so.1.31.1",
            ))
        };
    }
    let default = PathBuf::from(env!("GEOMAML_DEFAULT_ORT_DYLIB"));
    if default.is_file() {
        return Ok(default);
    }
    Err(Error::runtime(format!(
        "ONNX Runtime library not found (looked at {}); run scripts/setup.sh or set ORT_DYLIB_PATH",
        if default.as_os_str().is_empty() {
            "<none recorded at build>".into()
        } else {
            default.display().to_string()
        }
    )))
}

/// Why ONNX Runtime could not be loaded, kept for the whole process: every later
/// caller gets the same [`Error::Runtime`], ONNX Runtime's error as its source.
struct LoadFailure {
    what: String,
    cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl LoadFailure {
    fn error(&self) -> Error {
        match &self.cause {
            Some(c) => Error::runtime_source(&self.what, Arc::clone(c)),
            None => Error::runtime(&self.what),
        }
    }
}

type Loaded = (PathBuf, ort::environment::Environment);

static INIT: OnceLock<std::result::Result<Loaded, LoadFailure>> = OnceLock::new();

fn loaded() -> Result<&'static Loaded> {
    let outcome = match INIT.get() {
        Some(outcome) => outcome,
        None => {
            // Not kept: a library that is not there is a typed error each time.
            let path = library_path()?;
            INIT.get_or_init(|| load(path))
        }
    };
    outcome.as_ref().map_err(LoadFailure::error)
}

fn load(path: PathBuf) -> std::result::Result<Loaded, LoadFailure> {
    // A library that fails to load aborts inside ort on some versions; catch it.
    let loaded =
        std::panic::catch_unwind(|| ort::init_from(&path).map(|b| b.with_name("geomaml").build()));
    let failed = |what: &str, cause: Arc<dyn std::error::Error + Send + Sync>| LoadFailure {
        what: format!("{what} ONNX Runtime from {}", path.display()),
        cause: Some(cause),
    };
    match loaded {
        Ok(Ok(Ok(env))) => Ok((path, env)),
        Ok(Ok(Err(e))) => Err(failed("starting", Arc::new(e))),
        Ok(Err(e)) => Err(failed("loading", Arc::new(e))),
        Err(_) => Err(LoadFailure {
            what: format!("loading ONNX Runtime from {} panicked", path.display()),
            cause: None,
        }),
    }
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

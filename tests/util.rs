//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `geomaml` binary under test.
pub fn geomaml() -> Command {
    Command::new(env!("CARGO_BIN_EXE_geomaml"))
}

/// Path of a file under sample_data/.
pub fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample_data")
        .join(rel)
}

/// The reference data folder, when `GEOMAML_REFERENCE_DATA` is set (opt-in tests).
pub fn reference_data() -> Option<PathBuf> {
    std::env::var_os("GEOMAML_REFERENCE_DATA")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
}

/// Runs a command, returning its output; panics with both streams if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("geomaml runs");
    assert!(
        out.status.success(),
        "command failed ({:?}): {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command that must fail with exit code 1 and one `geomaml: ...` line;
/// returns stderr.
pub fn run_fail(cmd: &mut Command) -> String {
    let out = cmd.output().expect("geomaml runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1 from {cmd:?}, stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("geomaml: "),
        "no geomaml: line in\n{stderr}"
    );
    stderr
}

/// Lists a folder's entries (names), sorted.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// All files below `dir`, relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    v.sort();
    v
}

/// Band `b` (1-based) of a raster as f32, row-major.
pub fn read_band_f32(path: &Path, b: usize) -> Vec<f32> {
    let ds = gdal::Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let band = ds.rasterband(b).unwrap();
    band.read_band_as::<f32>().unwrap().data().to_vec()
}

//! Doctor, usage errors and exit codes.

use crate::util::*;

#[test]
fn doctor_reports_every_component() {
    let out = run_ok(geomaml().args(["doctor", "--json"]));
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = checks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["component"].as_str().unwrap())
        .collect();
    for want in ["GDAL", "PROJ", "libtorch", "CUDA", "ONNX Runtime"] {
        assert!(names.contains(&want), "doctor lacks {want}: {names:?}");
    }
    let gdal = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "GDAL")
        .unwrap();
    assert!(gdal["detail"].as_str().unwrap().starts_with("3."), "{gdal}");
}

#[test]
fn bad_usage_exits_with_2() {
    let out = geomaml().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn doctor_fails_cleanly_without_onnx_runtime() {
    let out = geomaml()
        .arg("doctor")
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ORT_DYLIB_PATH=/nonexistent"), "{err}");
}

#[test]
fn zero_threads_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    // Never read: the option is checked first.
    let catalog = dir.path().join("catalog.json");
    let err = run_fail(
        geomaml()
            .args(["train"])
            .arg(&catalog)
            .args(["--threads", "0", "-o"])
            .arg(&out),
    );
    assert!(err.contains("--threads"), "{err}");
    assert!(!out.exists());
}

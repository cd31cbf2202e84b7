//! Maps under a real virtual-memory limit (`ulimit -v`, RLIMIT_AS): what the map path
//! needs fits in 1 GiB, and a card asking for more than that is refused with one
//! clear line, not killed or aborted by the allocator.
//!
//! Runs the `geomaml` executable built without libtorch (`make test` names it in
//! `GEOMAML_TEST_BIN`): libtorch alone maps several GiB of address space when it
//! loads, so a limit like this one ends `geomaml-train` in the dynamic loader before
//! any of geomaml's code runs (docs/guarantees.md).

use crate::faults::{model, scene};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// 1 GiB of address space, in KiB as `ulimit -v` takes it.
const LIMIT_KIB: u64 = 1 << 20;

/// The libtorch-free executable: `GEOMAML_TEST_BIN`, or `geomaml` beside the test's
/// `geomaml-train`; `None` when neither is there.
fn light_geomaml() -> Option<PathBuf> {
    let named = std::env::var_os("GEOMAML_TEST_BIN").map(PathBuf::from);
    let beside = Path::new(env!("CARGO_BIN_EXE_geomaml-train")).with_file_name("geomaml");
    named.or(Some(beside)).filter(|p| {
        p.is_file()
            && Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
    })
}

/// `geomaml ARGS` under the limit.
fn limited(bin: &Path, args: &[&std::ffi::OsStr]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -v {LIMIT_KIB} && exec \"$@\""))
        .arg("bash")
        .arg(bin)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn maps_fit_in_a_gibibyte_and_larger_asks_are_refused_cleanly() {
    let Some(bin) = light_geomaml() else {
        eprintln!(
            "skipped: build the libtorch-free `geomaml` first (`make cli`; `make test` does)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 256);
    let map = dir.path().join("map.tif");
    let os = |s: &str| std::ffi::OsString::from(s);
    let args: Vec<std::ffi::OsString> = vec![
        os("map"),
        os("--model"),
        onnx.clone().into(),
        s.clone().into(),
        os("-o"),
        map.clone().into(),
        os("--probabilities"),
        os("--confidence"),
        os("--batch-size"),
        os("65536"),
    ];
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let done = limited(&bin, &refs);
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    for f in ["map.tif", "map.probabilities.tif", "map.confidence.tif"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }

    // A card claiming 4096 px windows over symbolic graph sizes would need
    // gigabytes: one line naming the model and exit 1, under the limit too.
    let huge = crate::util::model_claiming_tile(&onnx, &dir.path().join("huge.onnx"), 4096);
    let other = dir.path().join("other.tif");
    let args: Vec<std::ffi::OsString> = vec![
        os("map"),
        os("--model"),
        huge.into(),
        s.into(),
        os("-o"),
        other.clone().into(),
    ];
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let refused = limited(&bin, &refs);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        err.contains("huge.onnx") && err.contains("4096 px"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!other.exists());
}

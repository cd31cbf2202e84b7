//! Maps under a real virtual-memory limit (`ulimit -v`, RLIMIT_AS): what the map path
//! needs fits in 1 GiB, and a card asking for more than that is refused with one
//! clear line, not killed or aborted by the allocator. And `adapt` under a memory
//! cgroup (as root): the most it may be asked for fits in 512 MiB.
//!
//! Runs the `geomaml` executable built without libtorch (`make test` names it in
//! `GEOMAML_TEST_BIN`): libtorch alone maps several GiB of address space when it
//! loads, so a limit like this one ends `geomaml-train` in the dynamic loader before
//! any of geomaml's code runs (docs/guarantees.md).

use crate::faults::{model, scene, two_labels};
use crate::util::adapt_args;
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

/// A memory cgroup (v1 `memory` controller, or v2) of `limit` bytes, removed on drop;
/// `None` where this process may not create one (not root, no controller).
struct MemoryCgroup(PathBuf);

impl MemoryCgroup {
    fn create(limit: u64) -> Option<Self> {
        let name = format!("geomaml-test-{}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup/memory");
        let (dir, file) = if v1.join("memory.limit_in_bytes").exists() {
            (v1.join(&name), "memory.limit_in_bytes")
        } else {
            (Path::new("/sys/fs/cgroup").join(&name), "memory.max")
        };
        std::fs::create_dir(&dir).ok()?;
        let group = MemoryCgroup(dir);
        std::fs::write(group.0.join(file), limit.to_string()).ok()?;
        // Without swap, so that the limit is the memory the process can have.
        let _ = std::fs::write(
            group.0.join("memory.memsw.limit_in_bytes"),
            limit.to_string(),
        );
        let _ = std::fs::write(group.0.join("memory.swap.max"), "0");
        Some(group)
    }

    /// The highest usage recorded, in bytes (v1 `memory.max_usage_in_bytes`, v2
    /// `memory.peak`).
    fn peak(&self) -> Option<u64> {
        std::fs::read_to_string(self.0.join("memory.max_usage_in_bytes"))
            .or_else(|_| std::fs::read_to_string(self.0.join("memory.peak")))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// `cmd` run inside the group (the shell joins it, then becomes the program).
    fn run(&self, cmd: &Command) -> Output {
        let procs = self.0.join("cgroup.procs");
        Command::new("sh")
            .arg("-c")
            .arg(format!("echo $$ > '{}' && exec \"$@\"", procs.display()))
            .arg("sh")
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .output()
            .unwrap()
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn adapt_with_the_most_batch_norm_windows_allowed_fits_in_a_memory_cgroup() {
    // 512 MiB: libtorch's own footprint and the 4096 windows `--bn-windows` allows
    // at most (peak about 230 MB); a count without a bound (10^9 windows, refused
    // up front now) had needed more than 3 GiB.
    const LIMIT: u64 = 1 << 29;
    let Some(group) = MemoryCgroup::create(LIMIT) else {
        eprintln!("skipped: creating a memory cgroup needs root and a memory controller");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 512);
    let labels = two_labels(dir.path(), 3005.0);
    let out = dir.path().join("a.onnx");
    let mut adapt = crate::util::geomaml();
    adapt_args(&mut adapt, &st, &s, &labels, &out).args([
        "--no-cross-validation",
        "--bn-windows",
        "4096",
    ]);
    let done = group.run(&adapt);
    let peak = group.peak();
    assert_eq!(
        done.status.code(),
        Some(0),
        "peak {peak:?} bytes: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(out.is_file());
    eprintln!("adapt with 4096 batch-norm windows peaked at {peak:?} bytes");
}

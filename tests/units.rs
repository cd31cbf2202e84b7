//! Outputs as units, under faults injected for real: signals sent to a running
//! `geomaml` at the moment named (while it starts, while it computes, between
//! two files of a map being moved into place), a full tmpfs under `map --cog` and
//! `train`, the leftovers of a run killed outright.

use crate::faults::{model, scene};
use crate::util::{list_dir, map_command, run_fail, run_ok};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Hidden files geomaml works with: temporaries, staging files, kept old files.
fn hidden(dir: &Path) -> Vec<String> {
    list_dir(dir)
        .into_iter()
        .filter(|n| n.contains(".partial-") || n.contains("staging") || n.contains(".previous-"))
        .collect()
}

/// The `geomaml` users run (without libtorch; it hands `adapt` to `geomaml-train`
/// by `exec`): `GEOMAML_TEST_BIN`, else the one `make cli` builds beside
/// `geomaml-train`.
fn users_geomaml() -> Command {
    let exe = std::env::var_os("GEOMAML_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_BIN_EXE_geomaml-train")).with_file_name("geomaml")
        });
    assert!(
        exe.is_file(),
        "{} missing: build it with `make cli`",
        exe.display()
    );
    Command::new(exe)
}

/// Sends `sig` to the child `after` its start and returns its exit code (None
/// when the signal killed it instead of a clean exit).
fn signal_after(cmd: &mut Command, sig: i32, after: Duration) -> (Option<i32>, String) {
    let child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    // `after` counts from the moment the program's own code has taken SIGTERM
    // (caught or held, as /proc shows), not from the spawn: before that only the
    // dynamic loader runs, for a time that depends on the machine's load.
    let started = Instant::now();
    while !takes_sigterm(child.id()) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(after);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, sig) };
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Whether process `pid` catches or holds SIGTERM (its bit in `SigCgt` or `SigBlk`
/// of `/proc/<pid>/status`), or has already ended.
fn takes_sigterm(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    let bit = 1u64 << (libc::SIGTERM - 1);
    status.lines().any(|l| {
        (l.starts_with("SigCgt:") || l.starts_with("SigBlk:"))
            && u64::from_str_radix(l[7..].trim(), 16).is_ok_and(|m| m & bit != 0)
    })
}

#[test]
fn a_signal_at_any_moment_of_map_and_adapt_exits_128_plus_it_leaving_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 512);
    let out = dir.path().join("map.tif");
    // `map`: from just after its own code took SIGTERM (before that only the
    // dynamic loader runs, see `signal_after`) to the middle of the work.
    for (ms, sig) in [
        (40, libc::SIGTERM),
        (70, libc::SIGINT),
        (150, libc::SIGTERM),
        (600, libc::SIGTERM),
    ] {
        let mut map = users_geomaml();
        map.args(["map", "--exact", "--stride", "1", "--threads", "1"])
            .args(["--probabilities", "--confidence", "--model"])
            .arg(&onnx)
            .arg(&s)
            .arg("-o")
            .arg(&out);
        let (code, err) = signal_after(&mut map, sig, Duration::from_millis(ms));
        assert_eq!(
            code,
            Some(128 + sig),
            "map, signal {sig} after {ms} ms: {err}"
        );
        assert!(hidden(dir.path()).is_empty(), "{:?}", list_dir(dir.path()));
        assert!(!out.exists(), "{:?}", list_dir(dir.path()));
    }
    // `adapt`: `geomaml` execs `geomaml-train`, which loads libtorch and restarts
    // once (OpenMP wait policy); a signal during all of that is held, not fatal.
    let labels = crate::faults::two_labels(dir.path(), 305.0);
    let adapted = dir.path().join("adapted.onnx");
    for (ms, sig) in [
        (40, libc::SIGTERM),
        (100, libc::SIGTERM),
        (300, libc::SIGINT),
        (550, libc::SIGTERM),
    ] {
        let mut adapt = users_geomaml();
        // Enough inner steps that the run is still adapting at the last signal,
        // however fast the machine.
        crate::util::adapt_args(&mut adapt, &st, &s, &labels, &adapted)
            .args(["--inner-steps", "3000"]);
        let (code, err) = signal_after(&mut adapt, sig, Duration::from_millis(ms));
        assert_eq!(
            code,
            Some(128 + sig),
            "adapt, signal {sig} after {ms} ms: {err}"
        );
        assert!(hidden(dir.path()).is_empty(), "{:?}", list_dir(dir.path()));
        assert!(!adapted.exists());
    }
}

/// Width of a raster.
fn width(p: &Path) -> usize {
    gdal::Dataset::open(p).unwrap().raster_size().0
}

/// Runs `cmd` with its set commit paused `pause_ms` after the first file moved,
/// sends `sig` once `first` (an existing output of an earlier run) is replaced, and
/// returns how the process ended.
fn signal_at_commit(
    cmd: &mut Command,
    first: &Path,
    pause_ms: u64,
    sig: i32,
) -> std::process::ExitStatus {
    let inode = |p: &Path| std::fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    let before = inode(first).unwrap();
    let mut child = cmd
        .env("GEOMAML_COMMIT_PAUSE_MS", pause_ms.to_string())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while inode(first).map_or(true, |i| i == before) {
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the commit never began");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, sig) };
    child.wait().unwrap()
}

#[test]
fn a_signal_between_the_moves_of_a_map_set_leaves_it_wholly_new() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let old = scene(&dir.path().join("old.tif"), 96);
    let new = scene(&dir.path().join("new.tif"), 160);
    let out = dir.path().join("map.tif");
    let files = [
        out.clone(),
        dir.path().join("map.probabilities.tif"),
        dir.path().join("map.confidence.tif"),
    ];
    let set = ["--probabilities", "--confidence"];
    run_ok(&mut map_command(&onnx, &old, &out, &set));
    let old_width = width(&out);
    // The commit pauses after its first move (the probabilities, with their
    // `.aux.xml`): SIGTERM arrives exactly there.
    let mut map = map_command(&onnx, &new, &out, &["--overwrite", set[0], set[1]]);
    let status = signal_at_commit(&mut map, &files[1], 1500, libc::SIGTERM);
    assert_eq!(status.code(), Some(143));
    // Wholly new: every file of the set on the new grid, the map with its names.
    let new_width = width(&out);
    assert_ne!(new_width, old_width, "the map is the old one");
    for f in &files {
        assert_eq!(width(f), new_width, "{} is not the map's", f.display());
    }
    let aux = dir.path().join("map.tif.aux.xml");
    assert!(
        std::fs::read_to_string(&aux).unwrap().contains("Category"),
        "no class names"
    );
    assert!(hidden(dir.path()).is_empty(), "{:?}", list_dir(dir.path()));
}

#[test]
fn a_map_killed_between_the_moves_of_its_set_never_stays_beside_new_companions() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let old = scene(&dir.path().join("old.tif"), 96);
    let new = scene(&dir.path().join("new.tif"), 160);
    let out = dir.path().join("map.tif");
    let probabilities = dir.path().join("map.probabilities.tif");
    let confidence = dir.path().join("map.confidence.tif");
    let set = ["--probabilities", "--confidence"];
    run_ok(&mut map_command(&onnx, &old, &out, &set));
    let old_width = width(&out);
    // SIGKILL while the commit pauses after its first companion moved: nothing in
    // the process can react. The pause is long enough that the kill lands inside
    // it on a loaded machine; the kill ends it.
    let mut map = map_command(&onnx, &new, &out, &["--overwrite", set[0], set[1]]);
    signal_at_commit(&mut map, &probabilities, 10_000, libc::SIGKILL);
    // The new probabilities are in place; the old map is not beside them.
    assert_ne!(width(&probabilities), old_width);
    assert!(!out.exists(), "the old map stayed beside new probabilities");
    assert!(!dir.path().join("map.tif.aux.xml").exists());
    // The same command again, without --overwrite, completes the set.
    run_ok(&mut map_command(&onnx, &new, &out, &set));
    for f in [&out, &probabilities, &confidence] {
        assert_ne!(width(f), old_width, "{} is old", f.display());
    }
    assert!(hidden(dir.path()).is_empty(), "{:?}", list_dir(dir.path()));
}

#[test]
fn a_rerun_replaces_what_a_map_killed_while_moving_its_set_left() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 96);
    let out = dir.path().join("map.tif");
    // What SIGKILL leaves after the probabilities and the map's `.aux.xml` moved
    // and before the map did: those two in place, the map still a temporary of a
    // process that is gone (pid 4194305 is above Linux's pid_max).
    let prev = dir.path().join("prev");
    std::fs::create_dir(&prev).unwrap();
    run_ok(&mut map_command(
        &onnx,
        &s,
        &prev.join("map.tif"),
        &["--probabilities"],
    ));
    for name in ["map.probabilities.tif", "map.tif.aux.xml"] {
        std::fs::rename(prev.join(name), dir.path().join(name)).unwrap();
    }
    let stray = dir.path().join(".map.tif.4194305.partial-map.tif");
    std::fs::rename(prev.join("map.tif"), &stray).unwrap();
    let stray_aux = dir.path().join(".map.tif.4194305.partial-map.tif.aux.xml");
    std::fs::write(&stray_aux, b"<PAMDataset/>").unwrap();
    // The same command again, without --overwrite: accepted, the set whole.
    run_ok(&mut map_command(&onnx, &s, &out, &["--probabilities"]));
    assert!(out.exists() && !stray.exists() && !stray_aux.exists());
    let aux = std::fs::read_to_string(dir.path().join("map.tif.aux.xml")).unwrap();
    assert!(aux.contains("Category"), "{aux}");
    assert!(hidden(dir.path()).is_empty(), "{:?}", list_dir(dir.path()));
}

/// A tmpfs of 64 KiB with about `free` KiB left, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: PathBuf, free_kib: usize) -> Option<Self> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        std::fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        std::fs::write(at.join("filler"), vec![7u8; (64 - free_kib) * 1024]).unwrap();
        Some(SmallDisk(at))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn errors_on_a_full_disk_name_the_users_output_never_a_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 256);
    let Some(disk) = SmallDisk::mount(dir.path().join("small"), 8) else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let map = disk.0.join("map.tif");
    for extra in [
        &["--cog"][..],
        &["--cog", "--probabilities", "--confidence"],
        &["--stride", "2", "--probabilities", "--confidence"],
    ] {
        let err = run_fail(&mut map_command(&onnx, &s, &map, extra));
        assert!(err.contains("small/map."), "{extra:?}: {err}");
        for hidden_name in [".partial-", "staging", ".previous-", ".map.tif."] {
            assert!(
                !err.contains(hidden_name),
                "{extra:?} names a temporary: {err}"
            );
        }
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(list_dir(&disk.0), ["filler"], "{extra:?}");
    }
}

#[test]
fn a_train_that_fails_on_a_full_disk_leaves_nothing_and_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.json");
    run_ok(
        crate::util::geomaml()
            .arg("catalog")
            .arg(crate::util::sample("sen12ms"))
            .args(["--tile-size", "16", "-o"])
            .arg(&catalog),
    );
    // Room for the log, not for the model.
    let Some(disk) = SmallDisk::mount(dir.path().join("small"), 24) else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let model = disk.0.join("m.safetensors");
    let train = || {
        let mut c = crate::util::geomaml();
        c.arg("train")
            .arg(&catalog)
            .args([
                "--method",
                "pretrain",
                "--val-every",
                "0",
                "--device",
                "cpu",
            ])
            .args(["--steps", "3", "--seed", "1", "-o"])
            .arg(&model);
        c
    };
    for _ in 0..2 {
        let err = run_fail(&mut train());
        assert!(!err.contains("already exists"), "{err}");
        assert!(err.contains("small/m."), "{err}");
        assert!(!err.contains(".partial-"), "{err}");
        assert_eq!(list_dir(&disk.0), ["filler"]);
    }
}

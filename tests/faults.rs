//! Outputs under faults, races and absurd values, injected for real: a full file
//! system (a small tmpfs), SIGINT, a stale temporary of a killed process, two
//! processes writing one output, inputs given as outputs, values far out of range,
//! a closed pipe, a local CRS, labels that contradict each other, a diverging
//! adaptation.

use crate::util::{
    geomaml, list_dir, map_command, random_model, run_fail, run_ok, write_utm_scene,
};
use geomaml::model::Arch;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub(crate) const BANDS: [&str; 3] = ["B02", "B03", "B04"];

/// A random 16 px CNN as a checkpoint and its ONNX export.
pub(crate) fn model(dir: &Path) -> (PathBuf, PathBuf) {
    random_model(dir, "model", Arch::Cnn, &BANDS, 16, 3)
}

/// A UTM scene of the three bands with a blocky pattern, `size` px square.
pub(crate) fn scene(path: &Path, size: usize) -> PathBuf {
    write_utm_scene(path, &BANDS, (size, size), 500_000.0, |b, x, y| {
        (700 + (x * 31 + y * 17 * (b + 1)) % 3000 + 1200 * ((x / 9 + y / 13 + b) % 2)) as u16
    })
}

/// `l.geojson` in `dir`: a Forest point 105 m and a Grassland point `far` m east and
/// south of the corner of [`scene`]'s scenes (EPSG:32633).
pub(crate) fn two_labels(dir: &Path, far: f64) -> PathBuf {
    let (x, y) = (500_000.0, 4_600_000.0);
    crate::util::points(
        dir,
        "l.geojson",
        Some("urn:ogc:def:crs:EPSG::32633"),
        &[
            ("Forest", x + 105.0, y - 105.0),
            ("Grassland", x + far, y - far),
        ],
    )
}

fn partials(dir: &Path) -> Vec<String> {
    list_dir(dir)
        .into_iter()
        .filter(|n| n.contains(".partial-") || n.contains("staging"))
        .collect()
}

/// A tmpfs of 64 KiB with about 8 KiB left, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: PathBuf) -> Option<Self> {
        std::fs::create_dir_all(&at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        std::fs::write(at.join("filler"), vec![7u8; 56 * 1024]).unwrap();
        Some(SmallDisk(at))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_never_yields_exit_zero_or_a_file() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 256);
    let disk = SmallDisk::mount(dir.path().join("small")).expect("root can mount a tmpfs");
    let map = disk.0.join("map.tif");
    let err = run_fail(&mut map_command(
        &onnx,
        &s,
        &map,
        &["--stride", "2", "--probabilities"],
    ));
    assert!(err.contains("small/map."), "{err}");
    assert!(!err.contains(".partial-"), "names the temporary: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(list_dir(&disk.0), ["filler"]);
    // The same for an exported model, once the disk is full to the last byte.
    let _ = std::fs::write(disk.0.join("rest"), vec![7u8; 64 * 1024]);
    run_fail(
        geomaml()
            .arg("export")
            .arg(&st)
            .arg("-o")
            .arg(disk.0.join("m.onnx")),
    );
    assert_eq!(list_dir(&disk.0), ["filler", "rest"]);
}

#[test]
fn sigint_removes_temporaries_and_a_rerun_removes_a_killed_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 512);
    let out = dir.path().join("map.tif");
    let mut child = geomaml()
        .args([
            "map",
            "--exact",
            "--stride",
            "1",
            "--threads",
            "1",
            "--model",
        ])
        .arg(&onnx)
        .arg(&s)
        .arg("-o")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while partials(dir.path()).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no temporary appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        partials(dir.path()).is_empty(),
        "{:?}",
        list_dir(dir.path())
    );
    assert!(!out.exists());
    // A temporary of a process that is gone (pid above Linux's pid_max) is removed
    // by the next run writing the same output.
    let stale = dir.path().join(".map.tif.4194305.partial-map.tif");
    std::fs::write(&stale, b"left by kill -9").unwrap();
    run_ok(&mut map_command(&onnx, &s, &out, &[]));
    assert!(!stale.exists() && out.exists());
}

#[test]
fn of_two_processes_writing_one_output_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 256);
    let out = dir.path().join("map.tif");
    let spawn = || {
        map_command(&onnx, &s, &out, &["--threads", "1"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "{a:?}\n{b:?}");
    let loser = if a.status.success() { &b } else { &a };
    assert!(String::from_utf8_lossy(&loser.stderr).contains("already exists"));
    assert!(partials(dir.path()).is_empty());
    gdal::Dataset::open(&out).unwrap();
}

#[test]
fn an_input_is_never_replaced_by_an_output() {
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 64);
    let before = std::fs::read(&s).unwrap();
    let err = run_fail(&mut map_command(
        &onnx,
        &s,
        &dir.path().join(".").join("scene.tif"),
        &["--overwrite"],
    ));
    assert!(err.contains("also an input"), "{err}");
    assert_eq!(std::fs::read(&s).unwrap(), before);
    let model_bytes = std::fs::read(&st).unwrap();
    let err = run_fail(
        geomaml()
            .args(["export", "--overwrite"])
            .arg(&st)
            .arg("-o")
            .arg(&st),
    );
    assert!(err.contains("also an input"), "{err}");
    assert_eq!(std::fs::read(&st).unwrap(), model_bytes);
}

#[test]
fn absurd_sizes_and_counts_are_refused_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 64);
    let out = dir.path().join("map.tif");
    for (args, option) in [
        (["--stride", "1000000"], "--stride"),
        (["--threads", "100000"], "--threads"),
        (["--batch-size", "0"], "--batch-size"),
    ] {
        let err = run_fail(&mut map_command(&onnx, &s, &out, &args));
        assert!(err.starts_with(&format!("geomaml: {option}: ")), "{err}");
        assert!(!out.exists());
    }
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let mut child = geomaml()
        .args(["info", "--json"])
        .arg(&onnx)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_label_situations_get_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 64);
    let point = |class: &str, x: f64, y: f64| {
        format!(
            r#"{{"type":"Feature","properties":{{"class":"{class}"}},"geometry":{{"type":"Point","coordinates":[{x},{y}]}}}}"#
        )
    };
    let labels = |name: &str, features: &[String]| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!(
                r#"{{"type":"FeatureCollection","crs":{{"type":"name","properties":{{"name":"urn:ogc:def:crs:EPSG::32633"}}}},"features":[{}]}}"#,
                features.join(",")
            ),
        )
        .unwrap();
        p
    };
    let adapt = |labels: &Path, extra: &[&str]| {
        let out = dir.path().join("never.onnx");
        let err = run_fail(
            crate::util::adapt_args(&mut geomaml(), &st, &s, labels, &out)
                .args(["--no-cross-validation", "--bn-windows", "2"])
                .args(extra),
        );
        assert!(!out.exists());
        assert_eq!(err.lines().count(), 1, "{err}");
        err
    };
    let (x, y) = (500_000.0, 4_600_000.0);
    // Two features on one pixel with different classes.
    let conflicting = labels(
        "conflict.geojson",
        &[
            point("Forest", x + 105.0, y - 105.0),
            point("Grassland", x + 101.0, y - 109.0),
            point("Grassland", x + 305.0, y - 305.0),
        ],
    );
    let err = adapt(&conflicting, &[]);
    assert!(
        err.contains("same scene pixel (10, 10)") && err.contains("Forest"),
        "{err}"
    );
    // A step size that makes the weights explode.
    let fine = labels(
        "fine.geojson",
        &[
            point("Forest", x + 105.0, y - 105.0),
            point("Grassland", x + 305.0, y - 305.0),
        ],
    );
    let err = adapt(&fine, &["--inner-lr", "1e30", "--inner-steps", "3"]);
    assert!(
        err.contains("diverged") && err.contains("--inner-lr"),
        "{err}"
    );
}

#[test]
fn a_scene_in_a_local_crs_is_refused_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 64);
    {
        let mut ds = gdal::Dataset::open_ex(
            &s,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE,
                ..Default::default()
            },
        )
        .unwrap();
        ds.set_projection(
            r#"LOCAL_CS["site grid",UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]"#,
        )
        .unwrap();
    }
    let labels = dir.path().join("l.geojson");
    std::fs::write(
        &labels,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"class":"Forest"},"geometry":{"type":"Point","coordinates":[15.0,41.5]}}]}"#,
    )
    .unwrap();
    let err = run_fail(crate::util::adapt_args(
        &mut geomaml(),
        &st,
        &s,
        &labels,
        &dir.path().join("a.onnx"),
    ));
    assert!(
        !err.contains("panicked") && err.contains("l.geojson"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn zero_training_steps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.json");
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(crate::util::sample("sen12ms"))
            .args(["--tile-size", "16", "-o"])
            .arg(&catalog),
    );
    let out = dir.path().join("m.safetensors");
    let err = run_fail(
        geomaml()
            .arg("train")
            .arg(&catalog)
            .args(["--steps", "0", "--device", "cpu", "-o"])
            .arg(&out),
    );
    assert!(err.contains("steps"), "{err}");
    assert!(
        list_dir(dir.path()) == ["catalog.json"],
        "{:?}",
        list_dir(dir.path())
    );
}

#[test]
fn a_model_whose_output_is_not_what_its_card_says_is_refused_naming_it() {
    use crate::util::{lying_model, Lie};
    let dir = tempfile::tempdir().unwrap();
    let (_, cnn) = model(dir.path());
    let (_, unet) = random_model(dir.path(), "unet", Arch::Unet, &BANDS, 16, 4);
    let s = scene(&dir.path().join("scene.tif"), 64);
    let out = dir.path().join("map.tif");
    let cases = [
        (Lie::MoreClasses, "8", &cnn),
        (Lie::FewerClasses, "2", &cnn),
        (Lie::ZeroClasses, "0", &cnn),
        (Lie::MoreClasses, "8 x 16 x 16", &unet),
        (Lie::FewerClasses, "2 x 16 x 16", &unet),
    ];
    for (lie, actual, src) in cases {
        let name = format!("lying-{lie:?}.onnx");
        let bad = lying_model(src, &dir.path().join(&name), lie);
        // Shared features (the default for the CNN), every window on its own, and
        // batches of one.
        for args in [&[][..], &["--exact"], &["--exact", "--batch-size", "1"]] {
            let err = run_fail(&mut map_command(&bad, &s, &out, args));
            assert!(!err.contains("panicked"), "{lie:?} {args:?}: {err}");
            assert!(
                err.contains(&name) && err.contains("shape") && err.contains(actual),
                "{lie:?} {args:?}: {err}"
            );
            assert!(err.contains("4 classes"), "{lie:?} {args:?}: {err}");
            assert!(!out.exists(), "{lie:?} {args:?}");
            assert!(partials(dir.path()).is_empty(), "{lie:?} {args:?}");
        }
    }
    for lie in [Lie::NaN, Lie::Infinite] {
        for src in [&cnn, &unet] {
            let name = format!("broken-{lie:?}.onnx");
            let bad = lying_model(src, &dir.path().join(&name), lie);
            let err = run_fail(&mut map_command(&bad, &s, &out, &["--probabilities"]));
            assert!(
                err.contains(&name) && err.contains("non-finite"),
                "{lie:?}: {err}"
            );
            assert!(!out.exists());
        }
    }
    // `suggest` maps through the same engine.
    let bad = lying_model(&cnn, &dir.path().join("suggest.onnx"), Lie::MoreClasses);
    let next = dir.path().join("next.geojson");
    let err = run_fail(
        geomaml()
            .args(["suggest", "-n", "3", "--model"])
            .arg(&bad)
            .arg(&s)
            .arg("-o")
            .arg(&next),
    );
    assert!(
        err.contains("suggest.onnx") && err.contains("shape"),
        "{err}"
    );
    assert!(!next.exists());
}

/// A soak over randomly composed lying graphs (`util::randomly_lying_model`): every
/// `map` ends with a map (exit 0) or one clean error (exit 1 or 2), never a panic,
/// an abort or a signal, and never leaves a map behind an error. 16 graphs in the
/// suite; `GEOMAML_SOAK_SECS=N` runs new graphs for N seconds instead.
#[test]
fn randomly_lying_graphs_end_in_a_map_or_a_clean_error() {
    use crate::util::randomly_lying_model;
    let dir = tempfile::tempdir().unwrap();
    let (_, cnn) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 48);
    let out = dir.path().join("map.tif");
    let budget = std::env::var("GEOMAML_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let started = Instant::now();
    let (mut runs, mut maps) = (0u64, 0u64);
    for seed in 1u64.. {
        let done = match budget {
            Some(b) => started.elapsed() >= b,
            None => seed > 16,
        };
        if done {
            break;
        }
        let (bad, ops) = randomly_lying_model(&cnn, &dir.path().join("lying.onnx"), seed);
        let result = map_command(&bad, &s, &out, &["--overwrite"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&result.stderr);
        let code = result.status.code();
        assert!(
            matches!(code, Some(0..=2)) && !err.contains("panicked"),
            "seed {seed} ({ops}): exit {code:?}: {err}"
        );
        if code == Some(0) {
            maps += 1;
        } else {
            assert!(!out.exists(), "seed {seed} ({ops}): a map beside the error");
        }
        assert!(partials(dir.path()).is_empty(), "seed {seed} ({ops})");
        let _ = std::fs::remove_file(&out);
        runs += 1;
    }
    eprintln!(
        "{runs} lying graphs in {:.0} s, {maps} of them mapped",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn memory_and_threads_asked_for_are_bounded_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    let s = scene(&dir.path().join("scene.tif"), 64);
    let labels = two_labels(dir.path(), 305.0);
    let adapt = |windows: &str, out: &Path| {
        let mut c = geomaml();
        crate::util::adapt_args(&mut c, &st, &s, &labels, out).args([
            "--no-cross-validation",
            "--bn-windows",
            windows,
        ]);
        c
    };
    // A billion batch-norm windows: refused, naming the option, before reading any.
    let out = dir.path().join("a.onnx");
    let t0 = Instant::now();
    let err = run_fail(&mut adapt("1000000000", &out));
    assert!(err.starts_with("geomaml: --bn-windows: "), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(60));
    assert!(!out.exists());
    // More than the scene holds: capped with a warning (13 x 13 windows of 16 px
    // at 4 px steps in 64 px).
    let done = run_ok(&mut adapt("4096", &out));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(
        stderr.contains("--bn-windows 4096") && stderr.contains("using 169"),
        "{stderr}"
    );
    assert!(out.exists());

    // A card claiming 4096 px windows over a graph of symbolic sizes, on a 64 px
    // scene: refused naming the model, nothing written.
    let huge = crate::util::model_claiming_tile(&onnx, &dir.path().join("huge.onnx"), 4096);
    let map = dir.path().join("map.tif");
    for args in [&[][..], &["--exact"]] {
        let err = run_fail(&mut map_command(&huge, &s, &map, args));
        assert!(
            err.contains("huge.onnx") && err.contains("4096 px"),
            "{err}"
        );
        assert!(!map.exists());
    }

    // The most threads allowed finish as fast as a few: capped at two per core.
    let t0 = Instant::now();
    let done = run_ok(&mut map_command(&onnx, &s, &map, &["--threads", "1024"]));
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if 2 * cores < 1024 {
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(
            stderr.contains("--threads 1024") && stderr.contains(&format!("using {}", 2 * cores)),
            "{stderr}"
        );
    }
}

/// Copies the folder `from` into `to`, recursively.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

#[test]
fn an_input_reached_indirectly_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    // A VRT scene: `map -o` onto the GeoTIFF it reads.
    let s = scene(&dir.path().join("scene.tif"), 64);
    let vrt = dir.path().join("scene.vrt");
    {
        let src = gdal::Dataset::open(&s).unwrap();
        let driver = gdal::DriverManager::get_driver_by_name("VRT").unwrap();
        src.create_copy(&driver, &vrt, &gdal::raster::RasterCreationOptions::new())
            .unwrap();
    }
    let before = std::fs::read(&s).unwrap();
    let err = run_fail(&mut map_command(&onnx, &vrt, &s, &["--overwrite"]));
    assert!(
        err.contains("scene.vrt") && err.contains("scene.tif") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(std::fs::read(&s).unwrap(), before);

    // A catalog's tiles: `catalog -o` and `train -o` onto one of them.
    let root = dir.path().join("sen12ms");
    copy_tree(&crate::util::sample("sen12ms"), &root);
    let tile = std::fs::read_dir(root.join("ROIs2017_winter/s2_29"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tif"))
        .unwrap();
    let tile_bytes = std::fs::read(&tile).unwrap();
    let err = run_fail(
        geomaml()
            .arg("catalog")
            .arg(&root)
            .args(["--tile-size", "16", "--overwrite", "-o"])
            .arg(&tile),
    );
    assert!(
        err.contains("which the input") && err.contains(&*tile.to_string_lossy()),
        "{err}"
    );
    assert_eq!(std::fs::read(&tile).unwrap(), tile_bytes);
    let catalog = dir.path().join("catalog.json");
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(&root)
            .args(["--tile-size", "16", "-o"])
            .arg(&catalog),
    );
    let train = |out: &Path, extra: &[&str]| {
        let mut c = geomaml();
        c.arg("train")
            .arg(&catalog)
            .args(["--method", "pretrain", "--val-every", "0"])
            .args(["--device", "cpu"])
            .args(extra)
            .arg("-o")
            .arg(out);
        c
    };
    let err = run_fail(&mut train(&tile, &["--steps", "1", "--overwrite"]));
    assert!(
        err.contains("catalog.json") && err.contains("which the input"),
        "{err}"
    );
    assert_eq!(std::fs::read(&tile).unwrap(), tile_bytes);

    // `train --resume X -o Y` onto an unrelated existing Y: refused without
    // --overwrite, Y untouched.
    let first = dir.path().join("first.safetensors");
    run_ok(&mut train(&first, &["--steps", "1"]));
    let unrelated = dir.path().join("notes.safetensors");
    std::fs::write(&unrelated, b"someone else's file").unwrap();
    let resume = dir.path().join("first.last.safetensors");
    let err = run_fail(&mut train(
        &unrelated,
        &["--steps", "1", "--resume", &resume.to_string_lossy()],
    ));
    assert!(
        err.contains("notes.safetensors") && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(std::fs::read(&unrelated).unwrap(), b"someone else's file");
    // Resuming a run onto its own outputs still needs nothing more.
    run_ok(&mut train(
        &first,
        &["--steps", "2", "--resume", &resume.to_string_lossy()],
    ));
}

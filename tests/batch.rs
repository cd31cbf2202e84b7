//! `geomaml map --manifest`: batch mapping of many scenes, sharded, idempotent,
//! over local files, HTTP (`/vsicurl/`, a range-serving server on 127.0.0.1) and
//! STAC ItemCollections.

use crate::util::{geomaml, list_dir, random_model, run_ok, write_utm_scene};
use gdal::raster::RasterCreationOptions;
use gdal::{Dataset, DriverManager, Metadata};
use geomaml::model::Arch;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const BANDS: [&str; 3] = ["B02", "B03", "B04"];

/// Exports a random 16 px CNN reading B02, B03, B04 into `dir/model.onnx`.
fn model(dir: &Path) -> PathBuf {
    random_model(dir, "model", Arch::Cnn, &BANDS, 16, 7).1
}

/// A small UTM scene of the model's bands whose pattern depends on `seed`.
fn scene(path: &Path, seed: usize, size: (usize, usize)) -> PathBuf {
    write_utm_scene(
        path,
        &BANDS,
        size,
        500_000.0 + 1000.0 * seed as f64,
        |b, x, y| {
            (500 + (x * (37 + seed) + y * 11 * (b + 1)) % 4000
                + 2500 * ((x / (8 + seed) + y / 16 + b) % 2)) as u16
        },
    )
}

/// A model and `n` scenes `scenes/s<i>.tif` listed in `scenes.txt`.
fn setup(n: usize) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let onnx = model(dir.path());
    std::fs::create_dir(dir.path().join("scenes")).unwrap();
    let mut text = String::from("# batch test scenes\n\n");
    for i in 0..n {
        let p = scene(
            &dir.path().join(format!("scenes/s{i}.tif")),
            i,
            (48 + 8 * (i % 3), 40),
        );
        // Absolute and relative (to the manifest) entries both work.
        if i % 2 == 0 {
            text.push_str(&format!("{}\n", p.display()));
        } else {
            text.push_str(&format!("scenes/s{i}.tif\n"));
        }
    }
    let manifest = dir.path().join("scenes.txt");
    std::fs::write(&manifest, text).unwrap();
    (dir, onnx, manifest)
}

/// `geomaml map --manifest` with the usual test options, without the scheduler
/// variables of the environment.
fn batch(onnx: &Path, manifest: &Path, out: &Path) -> Command {
    let mut c = geomaml();
    c.args(["map", "--stride", "4", "--threads", "1", "--model"])
        .arg(onnx)
        .arg("--manifest")
        .arg(manifest)
        .arg("-o")
        .arg(out);
    for v in [
        "JOB_COMPLETION_INDEX",
        "SLURM_ARRAY_TASK_ID",
        "AWS_BATCH_JOB_ARRAY_INDEX",
        "GEOMAML_SHARDS",
    ] {
        c.env_remove(v);
    }
    c
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The per-scene outputs of a folder (maps, GDAL sidecars, JSON sidecars).
fn scene_files(dir: &Path) -> Vec<String> {
    list_dir(dir)
        .into_iter()
        .filter(|n| !n.starts_with("summary"))
        .collect()
}

fn classes(path: &Path) -> Vec<u8> {
    let ds = Dataset::open(path).unwrap();
    let size = ds.raster_size();
    ds.rasterband(1)
        .unwrap()
        .read_as::<u8>((0, 0), size, size, None)
        .unwrap()
        .data()
        .to_vec()
}

fn no_partials(dir: &Path) {
    let left: Vec<String> = list_dir(dir)
        .into_iter()
        .filter(|n| n.contains(".partial-") || n.contains("staging"))
        .collect();
    assert!(left.is_empty(), "partial files left: {left:?}");
}

#[test]
fn three_parallel_shards_write_exactly_what_one_run_writes() {
    let (dir, onnx, manifest) = setup(7);
    let whole = dir.path().join("whole");
    let out = run_ok(batch(&onnx, &manifest, &whole).arg("--json"));
    let s = stdout_json(&out);
    assert_eq!(
        (s["scenes"].as_u64(), s["mapped"].as_u64()),
        (Some(7), Some(7))
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[7/7 100%] mapped"), "{stderr}");

    // Three shards as concurrent processes into one folder.
    let procs: Vec<_> = (0..3)
        .map(|i| {
            let mut c = batch(&onnx, &manifest, &dir.path().join("parallel"));
            c.arg("--shard")
                .arg(format!("{i}/3"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let mut total = 0;
    for p in procs {
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let parallel = dir.path().join("parallel");
    for i in 0..3 {
        let s = json(&parallel.join(format!("summary-{i}-of-3.json")));
        assert_eq!(s["failed"], 0);
        assert_eq!(s["scenes_in_manifest"], 7);
        total += s["scenes"].as_u64().unwrap();
    }
    assert_eq!(total, 7, "every scene in exactly one shard");
    let names = scene_files(&whole);
    assert_eq!(names.iter().filter(|n| n.ends_with(".tif")).count(), 7);
    assert_eq!(names.iter().filter(|n| n.ends_with(".json")).count(), 7);
    assert_eq!(scene_files(&parallel), names);
    for n in names.iter().filter(|n| n.ends_with(".tif")) {
        assert_eq!(classes(&whole.join(n)), classes(&parallel.join(n)), "{n}");
    }
    no_partials(&parallel);
    // The outputs are COGs with a sidecar naming the model hash and the input.
    let tif = names.iter().find(|n| n.ends_with(".tif")).unwrap();
    let ds = Dataset::open(whole.join(tif)).unwrap();
    assert_eq!(
        ds.metadata_item("LAYOUT", "IMAGE_STRUCTURE"),
        Some("COG".into())
    );
    let side = json(&whole.join(tif.replace(".tif", ".json")));
    assert_eq!(side["status"], "mapped");
    assert_eq!(side["model_sha256"].as_str().unwrap().len(), 64);
    assert!(side["input"].as_str().unwrap().ends_with(".tif"));
    assert!(side["seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn reruns_skip_done_scenes_and_finish_what_a_killed_run_left() {
    let (dir, onnx, manifest) = setup(4);
    let out_dir = dir.path().join("out");
    run_ok(&mut batch(&onnx, &manifest, &out_dir));
    let names = scene_files(&out_dir);
    let tifs: Vec<&String> = names.iter().filter(|n| n.ends_with(".tif")).collect();
    let before = classes(&out_dir.join(tifs[0]));

    // Everything done: all skipped, nothing rewritten.
    let mtime = |n: &str| {
        std::fs::metadata(out_dir.join(n))
            .unwrap()
            .modified()
            .unwrap()
    };
    let t0 = mtime(tifs[1]);
    let s = stdout_json(&run_ok(batch(&onnx, &manifest, &out_dir).arg("--json")));
    assert_eq!(
        (s["skipped"].as_u64(), s["mapped"].as_u64()),
        (Some(4), Some(0))
    );
    assert_eq!(mtime(tifs[1]), t0);

    // A killed run: one map without its sidecar (died between the two), one map
    // missing, and the temporary of a map being written.
    let stem0 = tifs[0].trim_end_matches(".tif");
    std::fs::remove_file(out_dir.join(format!("{stem0}.json"))).unwrap();
    std::fs::remove_file(out_dir.join(tifs[1])).unwrap();
    let stem2 = tifs[2].trim_end_matches(".tif");
    let stray = out_dir.join(format!(".{stem2}.tif.999999.partial-{stem2}.tif"));
    std::fs::write(&stray, b"half a map").unwrap();
    let stray_summary = out_dir.join(".summary.json.999999.partial-summary.json");
    std::fs::write(&stray_summary, b"{").unwrap();
    let s = stdout_json(&run_ok(batch(&onnx, &manifest, &out_dir).arg("--json")));
    assert_eq!(
        (
            s["mapped"].as_u64(),
            s["skipped"].as_u64(),
            s["stale_removed"].as_u64()
        ),
        (Some(2), Some(2), Some(2))
    );
    assert_eq!(scene_files(&out_dir), names);
    assert_eq!(classes(&out_dir.join(tifs[0])), before);
    no_partials(&out_dir);

    // A sidecar of another model means the scene is not done.
    let side_path = out_dir.join(format!("{stem2}.json"));
    let mut side = json(&side_path);
    side["model_sha256"] = "0".repeat(64).into();
    std::fs::write(&side_path, serde_json::to_vec(&side).unwrap()).unwrap();
    let s = stdout_json(&run_ok(batch(&onnx, &manifest, &out_dir).arg("--json")));
    assert_eq!(
        (s["mapped"].as_u64(), s["skipped"].as_u64()),
        (Some(1), Some(3))
    );

    // A real kill: stop a run after its first scene, then rerun.
    let killed = dir.path().join("killed");
    let mut child = batch(&onnx, &manifest, &killed)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    for line in stderr.lines() {
        if line.unwrap().starts_with("[1/") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let s = stdout_json(&run_ok(batch(&onnx, &manifest, &killed).arg("--json")));
    assert!(s["skipped"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(
        s["mapped"].as_u64().unwrap() + s["skipped"].as_u64().unwrap(),
        4
    );
    assert_eq!(scene_files(&killed), names);
    no_partials(&killed);

    // --force redoes everything.
    let s = stdout_json(&run_ok(
        batch(&onnx, &manifest, &out_dir).args(["--force", "--json"]),
    ));
    assert_eq!(
        (s["mapped"].as_u64(), s["skipped"].as_u64()),
        (Some(4), Some(0))
    );
    assert_eq!(scene_files(&out_dir), names);
    no_partials(&out_dir);
}

#[test]
fn a_missing_scene_is_reported_and_the_rest_are_mapped() {
    let (dir, onnx, manifest) = setup(2);
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str("scenes/missing.tif\n");
    std::fs::write(&manifest, text).unwrap();
    let out_dir = dir.path().join("out");
    let out = batch(&onnx, &manifest, &out_dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 3: the run finished with some scenes failed (1 would be a failed run).
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let summary = out_dir.join("summary.json");
    assert!(
        stderr.contains(&format!(
            "geomaml: 1 of 3 scenes failed (see {})",
            summary.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("FAILED"), "{stderr}");
    let s = json(&summary);
    assert_eq!(
        (s["mapped"].as_u64(), s["failed"].as_u64()),
        (Some(2), Some(1))
    );
    let failed: Vec<&serde_json::Value> = s["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["error"]
        .as_str()
        .unwrap()
        .contains("missing.tif: no such file"));
    assert_eq!(
        scene_files(&out_dir)
            .iter()
            .filter(|n| n.ends_with(".tif"))
            .count(),
        2
    );
    no_partials(&out_dir);
}

/// Serves `dir` over HTTP/1.1 on 127.0.0.1 with HEAD and byte-range GETs (what
/// GDAL's /vsicurl/ needs); returns the port and the count of range requests.
fn serve(dir: PathBuf) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ranges = Arc::new(AtomicUsize::new(0));
    let counter = ranges.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (dir, counter) = (dir.clone(), counter.clone());
            std::thread::spawn(move || {
                let _ = handle(stream, &dir, &counter);
            });
        }
    });
    (port, ranges)
}

fn handle(stream: TcpStream, dir: &Path, ranges: &AtomicUsize) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        let mut range = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("range") {
                    range = v.trim().strip_prefix("bytes=").map(str::to_string);
                }
            }
        }
        let mut parts = request.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let rel = target.split('?').next().unwrap().trim_start_matches('/');
        let path = dir.join(rel);
        let file = (!rel.contains("..") && path.is_file())
            .then(|| std::fs::File::open(&path).ok())
            .flatten();
        let Some(mut file) = file else {
            write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
            )?;
            continue;
        };
        let len = file.metadata()?.len();
        let (status, start, end) = match range.as_deref().and_then(|r| r.split_once('-')) {
            Some((a, b)) => {
                ranges.fetch_add(1, Ordering::SeqCst);
                let a: u64 = a.parse().unwrap_or(0);
                let b: u64 = b.parse().unwrap_or(len - 1).min(len - 1);
                ("206 Partial Content", a, b)
            }
            None => ("200 OK", 0, len - 1),
        };
        let n = end + 1 - start;
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {n}\r\nAccept-Ranges: bytes\r\nContent-Type: image/tiff\r\nConnection: keep-alive\r\n"
        );
        if status.starts_with("206") {
            head.push_str(&format!("Content-Range: bytes {start}-{end}/{len}\r\n"));
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        if method == "GET" {
            let mut body = vec![0u8; n as usize];
            file.seek(SeekFrom::Start(start))?;
            file.read_exact(&mut body)?;
            out.write_all(&body)?;
        }
        out.flush()?;
    }
}

/// Converts a GeoTIFF to a COG.
fn to_cog(src: &Path, dst: &Path) {
    let ds = Dataset::open(src).unwrap();
    let driver = DriverManager::get_driver_by_name("COG").unwrap();
    ds.create_copy(&driver, dst, &RasterCreationOptions::new())
        .unwrap();
}

#[test]
fn a_cog_served_over_http_is_read_through_vsicurl() {
    let (dir, onnx, _) = setup(1);
    let served = dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let local = dir.path().join("scenes/s0.tif");
    to_cog(&local, &served.join("remote.tif"));
    let (port, ranges) = serve(served.clone());
    let manifest = dir.path().join("urls.txt");
    std::fs::write(
        &manifest,
        format!(
            "http://127.0.0.1:{port}/remote.tif\n{}\n",
            served.join("remote.tif").display()
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = run_ok(
        batch(&onnx, &manifest, &out_dir)
            .arg("--json")
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1")
            .env("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
            .env("GDAL_HTTP_TIMEOUT", "20"),
    );
    let s = stdout_json(&out);
    assert_eq!(s["mapped"], 2, "{s}");
    assert!(
        ranges.load(Ordering::SeqCst) > 0,
        "no range requests served"
    );
    let reports = s["reports"].as_array().unwrap();
    let remote = reports
        .iter()
        .find(|r| {
            r["input"]
                .as_str()
                .unwrap()
                .starts_with("/vsicurl/http://127.0.0.1")
        })
        .expect("the URL became a /vsicurl/ input");
    let local_map = reports
        .iter()
        .find(|r| !r["input"].as_str().unwrap().starts_with("/vsicurl/"))
        .unwrap();
    let (a, b) = (
        PathBuf::from(remote["output"].as_str().unwrap()),
        PathBuf::from(local_map["output"].as_str().unwrap()),
    );
    assert_ne!(a, b, "different inputs, different outputs");
    assert!(a
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("remote-"));
    assert_eq!(
        classes(&a),
        classes(&b),
        "the same pixels over HTTP and from disk"
    );
}

#[test]
fn stac_item_collections_pick_the_geotiff_asset() {
    let (dir, onnx, _) = setup(2);
    let stac = serde_json::json!({
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": "item-a", "stac_version": "1.0.0", "assets": {
                "thumbnail": {"href": "scenes/missing.png", "type": "image/png"},
                "image": {"href": "scenes/s0.tif",
                          "type": "image/tiff; application=geotiff; profile=cloud-optimized"}}},
            {"type": "Feature", "id": "item b", "stac_version": "1.0.0", "assets": {
                "data": {"href": dir.path().join("scenes/s1.tif").to_str().unwrap()}}}
        ]
    });
    let manifest = dir.path().join("items.json");
    std::fs::write(&manifest, serde_json::to_vec_pretty(&stac).unwrap()).unwrap();
    let out_dir = dir.path().join("out");
    let s = stdout_json(&run_ok(batch(&onnx, &manifest, &out_dir).arg("--json")));
    assert_eq!(s["mapped"], 2, "{s}");
    let names = scene_files(&out_dir);
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("item-a-") && n.ends_with(".tif")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("item_b-") && n.ends_with(".json")),
        "{names:?}"
    );
    let side = json(
        &out_dir.join(
            names
                .iter()
                .find(|n| n.starts_with("item-a-") && n.ends_with(".json"))
                .unwrap(),
        ),
    );
    assert_eq!(side["item"], "item-a");
    // With --probabilities a scene is done only when its probability file is there too.
    let probs = dir.path().join("probs");
    run_ok(batch(&onnx, &manifest, &probs).arg("--probabilities"));
    let p: Vec<String> = scene_files(&probs)
        .into_iter()
        .filter(|n| n.ends_with(".probabilities.tif"))
        .collect();
    assert_eq!(p.len(), 2, "{:?}", scene_files(&probs));
    std::fs::remove_file(probs.join(&p[0])).unwrap();
    let s = stdout_json(&run_ok(
        batch(&onnx, &manifest, &probs).args(["--probabilities", "--json"]),
    ));
    assert_eq!(
        (s["mapped"].as_u64(), s["skipped"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(probs.join(&p[0]).is_file());
    // Other options than those of the done maps redo them.
    let s = stdout_json(&run_ok(batch(&onnx, &manifest, &probs).arg("--json")));
    assert_eq!(s["mapped"], 2);

    // An asset that one item lacks fails that item alone, naming --asset; the
    // other item is mapped.
    let out2 = dir.path().join("out2");
    let out = batch(&onnx, &manifest, &out2)
        .args(["--asset", "image"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let summary = json(&out2.join("summary.json"));
    assert_eq!(
        (summary["mapped"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(1)),
        "{summary}"
    );
    let failed = summary["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "failed")
        .unwrap();
    let why = failed["error"].as_str().unwrap();
    assert!(why.contains("--asset") && why.contains("item b"), "{why}");
}

#[test]
fn shards_come_from_scheduler_variables_and_bad_combinations_fail() {
    let (dir, onnx, manifest) = setup(3);
    let out_dir = dir.path().join("out");
    // Slurm array --array=1-3: task 2 is shard 1 of 3.
    run_ok(
        batch(&onnx, &manifest, &out_dir)
            .env("SLURM_ARRAY_TASK_ID", "2")
            .env("SLURM_ARRAY_TASK_MIN", "1")
            .env("SLURM_ARRAY_TASK_COUNT", "3"),
    );
    assert!(out_dir.join("summary-1-of-3.json").is_file());
    // Kubernetes Indexed Job.
    run_ok(
        batch(&onnx, &manifest, &out_dir)
            .env("JOB_COMPLETION_INDEX", "0")
            .env("GEOMAML_SHARDS", "3"),
    );
    assert!(out_dir.join("summary-0-of-3.json").is_file());
    let fail = |extra: &[&str], envs: &[(&str, &str)]| {
        let mut c = batch(&onnx, &manifest, &out_dir);
        c.args(extra);
        for (k, v) in envs {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, e) = fail(&[], &[("AWS_BATCH_JOB_ARRAY_INDEX", "1")]);
    assert_eq!(code, Some(1));
    assert!(e.contains("geomaml: --shards:"), "{e}");
    // A shard outside 0..N is a usage error (2), naming the option and the range.
    for bad in ["3/3", "5/4"] {
        let (code, e) = fail(&["--shard", bad], &[]);
        assert_eq!(code, Some(2), "{e}");
        assert!(
            e.contains(&format!("invalid value '{bad}' for '--shard <I/N>'"))
                && e.contains("is out of range"),
            "{e}"
        );
        assert!(!out_dir.join("summary-5-of-4.json").exists());
    }
    let (code, e) = fail(&["--overwrite"], &[]);
    assert_eq!(code, Some(1));
    assert!(e.contains("--force"), "{e}");
    // Usage errors (exit 2): a scene and a manifest, --force without a manifest,
    // neither a scene nor a manifest.
    let scene = dir.path().join("scenes/s0.tif");
    let (code, _) = fail(&[scene.to_str().unwrap()], &[]);
    assert_eq!(code, Some(2));
    for args in [vec!["--force", scene.to_str().unwrap()], vec![]] {
        let out = geomaml()
            .args(["map", "--model"])
            .arg(&onnx)
            .args(&args)
            .arg("-o")
            .arg(dir.path().join("x.tif"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// Writes one band of `values(x, y)` as a UTM GeoTIFF of `size` pixels of `px` m.
fn band_cog(path: &Path, size: (usize, usize), px: f64, values: impl Fn(usize, usize) -> u16) {
    let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = drv
        .create_with_band_type_with_options::<u16, _>(
            path,
            size.0,
            size.1,
            1,
            &RasterCreationOptions::new(),
        )
        .unwrap();
    ds.set_geo_transform(&[500_000.0, px, 0.0, 4_600_000.0, 0.0, -px])
        .unwrap();
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap())
        .unwrap();
    let data: Vec<u16> = (0..size.0 * size.1)
        .map(|i| values(i % size.0, i / size.0))
        .collect();
    ds.rasterband(1)
        .unwrap()
        .write((0, 0), size, &mut gdal::raster::Buffer::new(size, data))
        .unwrap();
}

#[test]
fn a_stac_item_with_one_asset_per_band_maps_like_the_stacked_scene() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = model(dir.path());
    let (w, h) = (48, 40);
    // B04 comes at 20 m (constant over 2x2 blocks of the 10 m grid), packed as
    // reflectance with the baseline-04.00 offset, as Earth Search publishes it.
    let value = |b: usize, x: usize, y: usize| -> u16 {
        let (x, y) = if b == 2 {
            (x / 2 * 2, y / 2 * 2)
        } else {
            (x, y)
        };
        (600 + (x * 37 + y * 11 * (b + 1)) % 3000 + 1500 * ((x / 8 + y / 16 + b) % 2)) as u16
    };
    let stacked = write_utm_scene(
        &dir.path().join("stacked.tif"),
        &BANDS,
        (w, h),
        500_000.0,
        value,
    );
    let item_dir = dir.path().join("catalog/s2-item");
    std::fs::create_dir_all(&item_dir).unwrap();
    band_cog(&item_dir.join("blue.tif"), (w, h), 10.0, |x, y| {
        value(0, x, y)
    });
    band_cog(&item_dir.join("green.tif"), (w, h), 10.0, |x, y| {
        value(1, x, y)
    });
    band_cog(&item_dir.join("red.tif"), (w / 2, h / 2), 20.0, |x, y| {
        value(2, 2 * x, 2 * y) + 1000
    });
    let cog = "image/tiff; application=geotiff; profile=cloud-optimized";
    let eo = |n: &str| serde_json::json!([{"name": n, "common_name": n}]);
    let item = serde_json::json!({
        "type": "Feature", "id": "S2B_33TWM_20240601", "stac_version": "1.0.0",
        "links": [{"rel": "self", "href": "s2-item/item.json"}],
        "assets": {
            "visual": {"href": "./tci.tif", "type": cog, "eo:bands": [
                {"name": "red"}, {"name": "green"}, {"name": "blue"}]},
            "red": {"href": "./red.tif", "type": cog, "eo:bands": eo("red"),
                    "raster:bands": [{"scale": 0.0001, "offset": -0.1, "nodata": 0}]},
            "green": {"href": "./green.tif", "type": cog, "eo:bands": eo("green"),
                      "raster:bands": [{"nodata": 0}]},
            "blue": {"href": "./blue.tif", "type": cog, "eo:bands": eo("blue")}
        }
    });
    let manifest = dir.path().join("catalog/items.json");
    std::fs::write(
        &manifest,
        serde_json::to_vec(&serde_json::json!({"type": "FeatureCollection", "features": [item]}))
            .unwrap(),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let s = stdout_json(&run_ok(batch(&onnx, &manifest, &out_dir).arg("--json")));
    assert_eq!(s["mapped"], 1, "{s}");
    let map = scene_files(&out_dir)
        .into_iter()
        .find(|n| n.starts_with("S2B_33TWM_20240601-") && n.ends_with(".tif"))
        .unwrap();
    let reference = dir.path().join("stacked.map.tif");
    run_ok(
        geomaml()
            .args(["map", "--stride", "4", "--threads", "1", "--model"])
            .arg(&onnx)
            .arg(&stacked)
            .arg("-o")
            .arg(&reference),
    );
    assert_eq!(classes(&out_dir.join(map)), classes(&reference));
}

#[test]
fn four_shards_of_twelve_scenes_map_three_each() {
    let (dir, onnx, manifest) = setup(12);
    let out_dir = dir.path().join("out");
    let mut sizes = Vec::new();
    for i in 0..4 {
        run_ok(batch(&onnx, &manifest, &out_dir).args(["--shard", &format!("{i}/4")]));
        let s = json(&out_dir.join(format!("summary-{i}-of-4.json")));
        sizes.push(s["scenes"].as_u64().unwrap());
    }
    assert_eq!(sizes, [3, 3, 3, 3]);
    let maps = scene_files(&out_dir)
        .into_iter()
        .filter(|n| n.ends_with(".tif"))
        .count();
    assert_eq!(maps, 12, "every scene in exactly one shard");
}

#[test]
fn a_manifest_through_a_symbolic_link_maps_under_the_same_names() {
    let (dir, onnx, manifest) = setup(2);
    let out_dir = dir.path().join("out");
    run_ok(&mut batch(&onnx, &manifest, &out_dir));
    let first = scene_files(&out_dir);
    // The same manifest through a linked folder and a `..` spelling: nothing new.
    let link = dir.path().join("linked");
    std::os::unix::fs::symlink(dir.path(), &link).unwrap();
    let spellings = [
        link.join("scenes.txt"),
        link.join("scenes").join("..").join("scenes.txt"),
    ];
    for m in &spellings {
        let out = run_ok(batch(&onnx, m, &out_dir).arg("--json"));
        let s = stdout_json(&out);
        assert_eq!(
            (s["skipped"].as_u64(), s["mapped"].as_u64()),
            (Some(2), Some(0)),
            "{}",
            m.display()
        );
    }
    assert_eq!(scene_files(&out_dir), first);
}

#[test]
fn an_unreadable_scene_is_named_with_the_reason() {
    let (dir, onnx, manifest) = setup(1);
    // A folder named like a scene: the operating system refuses to read it.
    std::fs::create_dir(dir.path().join("scenes/folder.tif")).unwrap();
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str("scenes/folder.tif\n");
    // A file without read permission (only where this user lacks the bypass).
    let locked = dir.path().join("scenes/locked.tif");
    std::fs::copy(dir.path().join("scenes/s0.tif"), &locked).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let permissions_hold = std::fs::File::open(&locked).is_err();
    if permissions_hold {
        text.push_str("scenes/locked.tif\n");
    }
    std::fs::write(&manifest, text).unwrap();
    let out_dir = dir.path().join("out");
    let out = batch(&onnx, &manifest, &out_dir).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let s = json(&out_dir.join("summary.json"));
    let errors: Vec<String> = s["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["error"].as_str().map(String::from))
        .collect();
    assert_eq!(errors.len(), 1 + permissions_hold as usize, "{errors:?}");
    let folder = errors.iter().find(|e| e.contains("folder.tif")).unwrap();
    assert!(
        folder.contains("folder.tif: cannot be read: Is a directory"),
        "{folder}"
    );
    if permissions_hold {
        let e = errors.iter().find(|e| e.contains("locked.tif")).unwrap();
        assert!(e.contains("cannot be read: Permission denied"), "{e}");
    }
    for e in &errors {
        assert!(!e.contains("NULL pointer"), "{e}");
    }
}

/// Runs deploy/slurm/map-array.sh as Slurm would start task `id` of an array,
/// with `echo` standing in for geomaml; returns (exit code, stdout, stderr).
fn slurm_task(
    id: usize,
    array: (usize, usize),
    shards: Option<&str>,
    extra: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm/map-array.sh");
    let mut c = Command::new("bash");
    c.arg(script)
        .env("GEOMAML", "echo")
        .env("SLURM_ARRAY_TASK_ID", id.to_string())
        .env("SLURM_ARRAY_TASK_MIN", array.0.to_string())
        .env("SLURM_ARRAY_TASK_MAX", array.1.to_string())
        .env(
            "SLURM_ARRAY_TASK_COUNT",
            (array.1 - array.0 + 1).to_string(),
        )
        .env_remove("SHARDS")
        .env_remove("PARTIAL_ARRAY");
    if let Some(n) = shards {
        c.env("SHARDS", n);
    }
    for (k, v) in extra {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn the_slurm_script_refuses_an_array_that_does_not_cover_the_shards() {
    // --array=0-3 with SHARDS=16: four tasks would map a quarter and exit 0.
    let (code, out, err) = slurm_task(1, (0, 3), Some("16"), &[]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains("SHARDS=16") && err.contains("--array=0-15"),
        "{err}"
    );
    assert!(out.is_empty(), "geomaml must not start: {out}");
    // Without SHARDS the array's size is the shard count.
    let (code, out, err) = slurm_task(1, (0, 3), None, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("--shard 1/4"), "{out}");
    let (code, out, _) = slurm_task(5, (0, 15), Some("16"), &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains("--shard 5/16"), "{out}");
    // An array that does not start at 0 cannot say the shard count.
    let (code, _, err) = slurm_task(2, (1, 3), None, &[]);
    assert_eq!(code, Some(2), "{err}");
    // Rerunning some tasks of a 16-shard run is said explicitly.
    let (code, _, err) = slurm_task(7, (3, 7), Some("16"), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("PARTIAL_ARRAY=1"), "{err}");
    let (code, out, _) = slurm_task(7, (3, 7), Some("16"), &[("PARTIAL_ARRAY", "1")]);
    assert_eq!(code, Some(0));
    assert!(out.contains("--shard 7/16"), "{out}");
    // A task past the shard count is refused even then.
    let (code, _, err) = slurm_task(17, (16, 17), Some("16"), &[("PARTIAL_ARRAY", "1")]);
    assert_eq!(code, Some(2), "{err}");
}

/// The category names GDAL reads for band 1 of `map` (`gdalinfo -json`, in this
/// test's environment, without GDAL_DISABLE_READDIR_ON_OPEN).
fn category_names(map: &Path) -> Vec<String> {
    let out = Command::new("gdalinfo")
        .arg("-json")
        .arg(map)
        .env_remove("GDAL_DISABLE_READDIR_ON_OPEN")
        .output()
        .unwrap();
    assert!(out.status.success());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    info["bands"][0]["categories"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn maps_keep_their_class_names_with_readdir_disabled() {
    // Container images and Kubernetes jobs set this: GDAL then ignores files
    // beside a dataset, the `.aux.xml` holding the category names among them.
    let (dir, onnx, manifest) = setup(2);
    let out_dir = dir.path().join("out");
    run_ok(batch(&onnx, &manifest, &out_dir).env("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR"));
    let single = dir.path().join("single.tif");
    let mut c = geomaml();
    c.args(["map", "--cog", "--stride", "4", "--threads", "1", "--model"])
        .arg(&onnx)
        .arg(dir.path().join("scenes/s0.tif"))
        .arg("-o")
        .arg(&single)
        .env("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
    run_ok(&mut c);
    let card: serde_json::Value =
        serde_json::from_slice(&run_ok(geomaml().args(["info", "--json"]).arg(&onnx)).stdout)
            .unwrap();
    let mut maps: Vec<PathBuf> = scene_files(&out_dir)
        .into_iter()
        .filter(|n| n.ends_with(".tif"))
        .map(|n| out_dir.join(n))
        .collect();
    assert_eq!(maps.len(), 2);
    maps.push(single);
    for map in &maps {
        let names = category_names(map);
        for c in card["classes"].as_array().unwrap() {
            let id = c["id"].as_u64().unwrap() as usize;
            assert_eq!(
                names.get(id).map(String::as_str),
                c["name"].as_str(),
                "{}: {names:?}",
                map.display()
            );
        }
    }
    no_partials(&out_dir);
}

#[test]
fn batch_runs_write_a_progress_line_per_scene_when_asked() {
    let (dir, onnx, manifest) = setup(3);
    let out =
        run_ok(batch(&onnx, &manifest, &dir.path().join("lines")).env("GEOMAML_PROGRESS", "lines"));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(lines.contains(&"progress: 1/3"), "{err}");
    assert_eq!(lines.last(), Some(&"progress: 3/3"), "{err}");
    // Without the variable the run's own scene lines are all there is.
    let out = run_ok(&mut batch(&onnx, &manifest, &dir.path().join("plain")));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("progress: "), "{err}");
}

use super::*;

#[test]
fn errors_name_the_output_not_its_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("next.geojson");
    let out = PendingOutput::new(&target, false).unwrap();
    let temp = out.temp_path().display().to_string();
    let gdal = format!("Failed to create GeoJSON datasource: {temp}");
    let e = out.user_error(Error::runtime_source("creating the layer", gdal));
    let shown = e.to_string();
    assert!(!shown.contains(&temp), "{shown}");
    assert!(shown.contains(&target.display().to_string()), "{shown}");
}

#[test]
fn a_staging_temporary_is_named_as_the_users_output() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("map.tif");
    let staging = PendingOutput::new(dir.path().join("map.tif.staging.tif"), true).unwrap();
    staging.shown_as(&map);
    let text = format!(
        "TIFFWrite: {}: No space left on device; {}.aux.xml",
        staging.temp_path().display(),
        staging.temp_path().display()
    );
    let shown = name_outputs(&text);
    assert!(
        !shown.contains("staging") && !shown.contains(".partial-"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("{}.aux.xml", map.display())),
        "{shown}"
    );
}

#[test]
fn a_set_whose_last_file_cannot_be_set_aside_fails_before_any_move() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.tif"), dir.path().join("b.tif"));
    std::fs::write(&a, b"old a").unwrap();
    std::fs::write(sidecar_of(&a), b"old a aux").unwrap();
    // `b` is a folder that is not empty: it can be neither kept nor replaced.
    std::fs::create_dir(&b).unwrap();
    std::fs::write(b.join("x"), b"x").unwrap();
    let pa = PendingOutput::new(&a, true).unwrap();
    std::fs::write(pa.temp_path(), b"new a").unwrap();
    let pb = written_pending(&b, b"new b");
    let set = vec![
        SetMember {
            output: pa,
            with_aux: true,
        },
        SetMember {
            output: pb,
            with_aux: false,
        },
    ];
    let err = commit_set(set).unwrap_err();
    assert!(err.to_string().contains("b.tif"), "{err}");
    assert_eq!(std::fs::read(&a).unwrap(), b"old a");
    // The old `.aux.xml` (none in the new set) is back too.
    assert_eq!(std::fs::read(sidecar_of(&a)).unwrap(), b"old a aux");
    let mut left = list_names(dir.path());
    left.sort();
    assert_eq!(left, ["a.tif", "a.tif.aux.xml", "b.tif"]);
}

#[test]
fn a_set_whose_move_fails_is_put_back_wholly_old() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, map) = (
        dir.path().join("a.tif"),
        dir.path().join("b.tif"),
        dir.path().join("map.tif"),
    );
    // An old set: companion `a`, the map and its `.aux.xml`; and a non-empty
    // folder where the new set's second companion `b` goes, so that its move
    // fails after the old map was set aside and `a` was replaced.
    std::fs::write(&a, b"old a").unwrap();
    std::fs::write(&map, b"old map").unwrap();
    std::fs::write(sidecar_of(&map), b"old map aux").unwrap();
    std::fs::create_dir(&b).unwrap();
    std::fs::write(b.join("x"), b"x").unwrap();
    let pm = written_pending(&map, b"new map");
    std::fs::write(sidecar_of(pm.temp_path()), b"new map aux").unwrap();
    let set = vec![
        SetMember {
            output: written_pending(&a, b"new a"),
            with_aux: false,
        },
        SetMember {
            output: written_pending(&b, b"new b"),
            with_aux: false,
        },
        SetMember {
            output: pm,
            with_aux: true,
        },
    ];
    let err = commit_set(set).unwrap_err();
    assert!(err.to_string().contains("b.tif"), "{err}");
    assert_eq!(std::fs::read(&a).unwrap(), b"old a");
    assert_eq!(std::fs::read(&map).unwrap(), b"old map");
    assert_eq!(std::fs::read(sidecar_of(&map)).unwrap(), b"old map aux");
    let mut left = list_names(dir.path());
    left.sort();
    assert_eq!(left, ["a.tif", "b.tif", "map.tif", "map.tif.aux.xml"]);
}

/// An output of `p` that may replace what is there, its temporary holding `bytes`
/// (built directly, with no check of what is at `p`: it may be a folder).
fn written_pending(p: &Path, bytes: &[u8]) -> PendingOutput {
    let out = PendingOutput {
        final_path: p.to_path_buf(),
        temp_path: temporary_of(p),
        overwrite: true,
        committed: false,
    };
    std::fs::write(out.temp_path(), bytes).unwrap();
    out
}

fn list_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect()
}

#[test]
fn uncommitted_outputs_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("map.tif");
    {
        let out = PendingOutput::new(&target, false).unwrap();
        std::fs::write(out.temp_path(), b"half").unwrap();
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn existing_outputs_need_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("a.json");
    write_atomic(&target, b"1", false).unwrap();
    assert!(matches!(
        write_atomic(&target, b"2", false),
        Err(Error::OutputExists { .. })
    ));
    write_atomic(&target, b"2", true).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"2");
}

#[test]
fn a_file_appearing_while_writing_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("map.tif");
    let out = PendingOutput::new(&target, false).unwrap();
    std::fs::write(out.temp_path(), b"mine").unwrap();
    // Another process commits the same output first.
    std::fs::write(&target, b"theirs").unwrap();
    assert!(matches!(out.commit(), Err(Error::OutputExists { .. })));
    assert_eq!(std::fs::read(&target).unwrap(), b"theirs");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn stale_temporaries_of_dead_processes_go_and_live_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("map.tif");
    // No process has pid 4194305 (above Linux's pid_max).
    let dead = dir.path().join(".map.tif.4194305.partial-map.tif");
    let dead_aux = dir.path().join(".map.tif.4194305.partial-map.tif.aux.xml");
    let alive = dir
        .path()
        .join(format!(".map.tif.{}.partial-map.tif", std::process::id()));
    // Old files a killed set commit kept: the map's and its `.aux.xml`'s.
    let kept = dir.path().join(".map.tif.4194305.previous-map.tif");
    let kept_aux = dir
        .path()
        .join(".map.tif.aux.xml.4194305.previous-map.tif.aux.xml");
    let other = dir.path().join(".other.tif.4194305.partial-other.tif");
    for p in [&dead, &dead_aux, &kept, &kept_aux, &alive, &other] {
        std::fs::write(p, b"x").unwrap();
    }
    assert_eq!(remove_stale_temporaries(&target), 4);
    assert!(!dead.exists() && !dead_aux.exists() && !kept.exists() && !kept_aux.exists());
    assert!(alive.exists() && other.exists());
}

#[test]
fn an_input_is_never_an_output() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("s.tif");
    std::fs::write(&scene, b"scene").unwrap();
    let via_dot = dir.path().join(".").join("s.tif");
    let err = refuse_input(&via_dot, &[Path::new("model.onnx"), &scene]).unwrap_err();
    assert!(err.to_string().contains("also an input"), "{err}");
    assert!(refuse_input(&dir.path().join("map.tif"), &[&scene]).is_ok());
}

use super::*;

fn args(a: &[&str]) -> Vec<OsString> {
    std::iter::once("geomaml")
        .chain(a.iter().copied())
        .map(OsString::from)
        .collect()
}

#[test]
fn adaptation_commands_sleep_at_once_and_training_spins_briefly() {
    if std::env::var_os("OMP_WAIT_POLICY").is_some() || std::env::var_os("GOMP_SPINCOUNT").is_some()
    {
        return; // the user's setting wins; nothing to choose
    }
    let passive = Some(("OMP_WAIT_POLICY", "PASSIVE"));
    assert_eq!(
        wait_policy(&args(&["adapt", "--model", "m.safetensors"])),
        passive
    );
    assert_eq!(
        wait_policy(&args(&["suggest", "--model", "m.safetensors", "s.tif"])),
        passive
    );
    assert_eq!(wait_policy(&args(&["evaluate", "c.json"])), passive);
    let brief = Some(("GOMP_SPINCOUNT", "10000"));
    assert_eq!(wait_policy(&args(&["train", "c.json"])), brief);
    assert_eq!(
        wait_policy(&args(&["map", "--model", "m.onnx", "s.tif"])),
        None
    );
}

#[test]
fn only_commands_that_compute_with_libtorch_go_to_geomaml_train() {
    for a in [
        &["train", "c.json", "-o", "m.safetensors"][..],
        &["adapt", "--model", "m.safetensors"],
        &["evaluate", "c.json"],
        &[
            "map",
            "--model",
            "m.safetensors",
            "--labels",
            "l.geojson",
            "s.tif",
        ],
        &["suggest", "--model", "m.safetensors", "s.tif"],
        &[
            "map",
            "--model",
            "M.SafeTensors",
            "--labels",
            "l.gpkg",
            "s.tif",
        ],
        &["doctor"],
        &["schemas", "out"],
    ] {
        assert!(needs_libtorch(&args(a)), "{a:?}");
    }
    for a in [
        &["map", "--model", "m.onnx", "s.tif", "-o", "out.tif"][..],
        &["info", "m.safetensors"],
        &["export", "m.safetensors", "-o", "m.onnx"],
        &["assess", "map.tif", "-r", "truth.tif"],
        &["--version"],
        &[],
    ] {
        assert!(!needs_libtorch(&args(a)), "{a:?}");
    }
    assert!(!computes_with_libtorch(&args(&["doctor"])));
}

#[test]
fn a_chained_error_prints_each_cause_once() {
    use crate::error::Error;
    let io = std::io::Error::other("disk vanished");
    let read = Error::raster_source("scene.tif", "band 3", io);
    let card = Error::model_source("m.onnx", "checking it against the scene", read);
    let err = Error::hint(card, "pass --bands to choose the bands");
    // The chain is kept whole for callers that inspect it.
    let mut depth = 0;
    let mut link: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = link {
        depth += 1;
        link = e.source();
    }
    assert_eq!(depth, 4);
    let line = failure_line(&err);
    assert_eq!(
        line,
        "geomaml: m.onnx: checking it against the scene: scene.tif: band 3: \
         disk vanished; pass --bands to choose the bands"
    );
    for part in ["m.onnx", "scene.tif", "band 3", "disk vanished", "--bands"] {
        assert_eq!(line.matches(part).count(), 1, "{part} in {line}");
    }
}

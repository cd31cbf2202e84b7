use super::*;
use ndarray::array;

#[test]
fn augmentation_flips_and_turns_the_last_two_axes() {
    let a = array![[[1, 2], [3, 4]]];
    assert_eq!(augment(a.view(), 0, 0), a);
    assert_eq!(augment(a.view(), 1, 0), array![[[2, 1], [4, 3]]]);
    assert_eq!(augment(a.view(), 2, 0), array![[[3, 4], [1, 2]]]);
    assert_eq!(augment(a.view(), 0, 1), array![[[3, 1], [4, 2]]]);
    assert_eq!(augment(a.view(), 0, 4), a);
}

#[test]
fn band_names_are_checked_against_the_dataset() {
    let cat: Catalog = serde_json::from_value(serde_json::json!({
        "version": 1, "kind": "sen12ms", "root": "/", "tile_size": 32,
        "summary": {"tiles": 0, "labelled": 0, "per_region": {}, "per_season": {}, "per_class": {}},
        "skipped": {"total": 0, "by_kind": {}, "examples": []}, "tiles": []
    }))
    .unwrap();
    let ok = TaskLoader::new(
        &cat,
        LoaderOptions {
            bands: bands::parse_band_list("VV,B04"),
            augment: false,
            seed: 0,
            points: None,
            standardise_bands: false,
        },
    );
    assert_eq!(
        ok.unwrap().plan[1],
        (BandFile::S2, 4, bands::default_normalisation("B04"))
    );
    let bad = TaskLoader::new(
        &cat,
        LoaderOptions {
            bands: vec!["R".into()],
            augment: false,
            seed: 0,
            points: None,
            standardise_bands: false,
        },
    );
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("`R` is not a band of sen12ms"));
}

use super::*;

#[test]
fn names_parse_into_season_scene_and_patch() {
    let p = parse_name("ROIs1158_spring_s2_57_p30.tif").unwrap();
    assert_eq!(
        (p.season, p.modality, p.scene, p.patch),
        (Season::Spring, "s2", 57, 30)
    );
    assert_eq!(
        parse_name("ROIs1158_autumn_s2_57_p30.tif").unwrap_err().0,
        "unknown_season"
    );
    assert_eq!(
        parse_name("ROIs1158_spring_s3_57_p30.tif").unwrap_err().0,
        "unknown_name"
    );
    assert_eq!(parse_name("notes.tif").unwrap_err().0, "unknown_name");
}

#[test]
fn nodata_never_wins_and_mostly_nodata_tiles_stay_unlabelled() {
    let mut h = [0u32; 11];
    h[0] = 60;
    h[4] = 30;
    h[6] = 10;
    assert_eq!(majority(&h, 0.3).0, Some(4));
    assert_eq!(majority(&h, 0.3).1, 0.75);
    let (label, _, reason) = majority(&h, 0.5);
    assert_eq!(label, None);
    assert!(reason.unwrap().contains("40%"));
    h[6] = 30;
    assert_eq!(majority(&h, 0.0).0, Some(4), "ties go to the lower id");
}

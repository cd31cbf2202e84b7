use super::*;

#[test]
fn text_manifests_skip_comments_and_map_urls() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("scenes.txt");
    std::fs::write(
        &m,
        "# scenes\n\na.tif\n  https://x.org/b.tif?sig=1  \ns3://bucket/c.tif\n/vsigs/b/d.tif\na.tif\n",
    )
    .unwrap();
    let s = read_manifest(&m, None).unwrap();
    let inputs: Vec<&str> = s.iter().map(|s| s.input.as_str()).collect();
    let base = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        inputs,
        [
            base.join("a.tif").to_str().unwrap(),
            "/vsicurl/https://x.org/b.tif?sig=1",
            "/vsis3/bucket/c.tif",
            "/vsigs/b/d.tif"
        ]
    );
    assert_eq!(s[1].stem(), "b");
    assert!(read_manifest(&m, Some("data")).is_err());
}

#[test]
fn relative_hrefs_resolve_against_the_item_self_link() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("items.json");
    std::fs::write(
        &m,
        r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","id":"a","links":[{"rel":"self","href":"alpha/alpha.json"}],
           "assets":{"data":{"href":"./scene.tif","type":"image/tiff"}}},
          {"type":"Feature","id":"b","links":[{"rel":"self","href":"https://x.org/c/b/b.json"}],
           "assets":{"data":{"href":"./scene.tif","type":"image/tiff"}}},
          {"type":"Feature","id":"c","assets":{"data":{"href":"c.tif","type":"image/tiff"}}}]}"#,
    )
    .unwrap();
    let s = read_manifest(&m, None).unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(Path::new(&s[0].input), root.join("alpha").join("scene.tif"));
    assert_eq!(s[1].input, "/vsicurl/https://x.org/c/b/scene.tif");
    assert_eq!(Path::new(&s[2].input), root.join("c.tif"));
}

#[test]
fn dot_dot_segments_are_resolved_in_paths_and_urls() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir(root.join("items")).unwrap();
    let m = root.join("items").join("items.json");
    std::fs::write(
        &m,
        r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","id":"a","links":[{"rel":"self","href":"./a/../a/a.json"}],
           "assets":{"data":{"href":"../../scenes/./a.tif","type":"image/tiff"}}},
          {"type":"Feature","id":"b","links":[{"rel":"self","href":"https://x.org/c/b/b.json"}],
           "assets":{"data":{"href":"../../d/./b.tif?x=../y","type":"image/tiff"}}}]}"#,
    )
    .unwrap();
    let s = read_manifest(&m, None).unwrap();
    assert_eq!(Path::new(&s[0].input), root.join("scenes").join("a.tif"));
    assert_eq!(s[1].input, "/vsicurl/https://x.org/d/b.tif?x=../y");
    assert_eq!(normalise_segments("../a/./b/../c"), "../a/c");
    assert_eq!(normalise_segments("/../a//b/.."), "/a");
    assert_eq!(
        gdal_input("s3://bk/x/../y.tif", Path::new("/")),
        "/vsis3/bk/y.tif"
    );
}

#[test]
fn a_manifest_reached_through_a_symbolic_link_lists_the_same_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::write(real.join("scenes.txt"), "a.tif\nsub/../b.tif\n").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let direct = read_manifest(&real.join("scenes.txt"), None).unwrap();
    let via_link = read_manifest(&link.join("scenes.txt"), None).unwrap();
    let spelled = read_manifest(&link.join("..").join("real").join("scenes.txt"), None).unwrap();
    assert_eq!(direct, via_link);
    assert_eq!(direct, spelled);
    assert!(
        direct[1].input.ends_with("/real/b.tif"),
        "{}",
        direct[1].input
    );
}

#[test]
fn stac_assets_are_picked_in_document_order() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("items.json");
    let doc = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","id":"one","assets":{
         "zthumb":{"href":"t.png","type":"image/png"},
         "visual":{"href":"v.tif"},
         "b":{"href":"https://x.org/b.tif","type":"image/tiff; application=geotiff; profile=cloud-optimized"},
         "a":{"href":"a.tif","type":"image/tiff; application=geotiff"}}},
      {"type":"Feature","id":"two","assets":{"visual":{"href":"s3://bk/two.tif"}}}]}"#;
    std::fs::write(&m, doc).unwrap();
    let s = read_manifest(&m, None).unwrap();
    assert_eq!(s[0].input, "/vsicurl/https://x.org/b.tif");
    assert_eq!(s[0].stem(), "one");
    assert_eq!(s[1].input, "/vsis3/bk/two.tif");
    // An item without the asset fails alone, the other is kept.
    let picked = read_manifest(&m, Some("a")).unwrap();
    assert!(picked[0].error.is_none());
    let err = picked[1].error.as_deref().unwrap();
    assert!(err.contains("--asset") && err.contains("\"two\""), "{err}");
    let single = dir.path().join("item.json");
    std::fs::write(
        &single,
        r#"{"type":"Feature","id":"x","assets":{"data":{"href":"d.tif"}}}"#,
    )
    .unwrap();
    assert_eq!(read_manifest(&single, None).unwrap()[0].stem(), "x");
}

//! Manifests: the list of scenes a batch run maps.
//!
//! Two formats, told apart by content (a JSON object, or anything else):
//! - a text file, one scene per line; `#` starts a comment line, blank lines are
//!   ignored;
//! - a STAC ItemCollection (`"type": "FeatureCollection"`) or a single STAC Item
//!   (`"type": "Feature"`): each item gives one scene, the asset named by `--asset`,
//!   else the first asset (in document order) whose media type is a GeoTIFF/COG,
//!   else the asset `data` or `visual`.
//!
//! Inputs are any path GDAL reads. `http(s)://` URLs become `/vsicurl/...`,
//! `s3://` `/vsis3/...`, `gs://` `/vsigs/...`, `az://` `/vsiaz/...`; `/vsi...` paths
//! are kept as written; relative local paths are taken relative to the manifest's
//! folder, so a manifest and its scenes move together. A STAC asset's relative
//! href resolves, as the STAC spec says, against its item's `self` link (a path
//! relative to the manifest, or a URL), and against the manifest's folder only when
//! the item has none. The same input listed twice is mapped once.
//!
//! A scene's input string names its outputs (see [`super::sidecar::output_stem`]),
//! so it must not depend on how the manifest was reached: the manifest's folder is
//! its canonical path (symbolic links resolved), and `.`/`..` segments of joined
//! paths and URLs are resolved lexically (`a/b/../c.tif` is `a/c.tif`).

use super::stac_bands::{asset_holds, nodata_number, BandAsset, EoBand, RasterBandInfo};
use crate::error::{Error, Result};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One scene of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// What GDAL opens (a local path or a `/vsi...` path); for a STAC item mapped
    /// from per-band assets, the in-memory VRT that stacks them.
    pub input: String,
    /// The STAC item id, for STAC manifests.
    pub item: Option<String>,
    /// Per-band assets to stack into `input` before mapping (empty: `input` exists).
    pub bands: Vec<BandAsset>,
    /// Why this entry cannot be mapped (a STAC item without a usable asset); such a
    /// scene fails alone, the others are mapped.
    pub error: Option<String>,
}

impl Scene {
    /// A readable name for the scene: the STAC item id, else the input's file stem
    /// (query strings and the extension removed).
    pub fn stem(&self) -> String {
        if let Some(id) = &self.item {
            return id.clone();
        }
        let path = self.input.split(['?', '#']).next().unwrap_or_default();
        let name = path.rsplit('/').next().unwrap_or_default();
        match name.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem.to_string(),
            _ => name.to_string(),
        }
    }
}

/// Reads the manifest at `path`; `asset` picks the STAC asset by name.
pub fn read_manifest(path: &Path, asset: Option<&str>) -> Result<Vec<Scene>> {
    read_manifest_for(path, asset, &[])
}

/// [`read_manifest`] for a model reading `model_bands`: without `asset`, a STAC
/// item whose assets hold each of those bands separately is mapped from them
/// (see [`super::stac_bands`]).
pub fn read_manifest_for(
    path: &Path,
    asset: Option<&str>,
    model_bands: &[String],
) -> Result<Vec<Scene>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    // The manifest through a symbolic link or as `./x/../scenes.txt` lists the same
    // scenes under the same names.
    let real = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let base = real.parent().unwrap_or(Path::new("/")).to_path_buf();
    let scenes = if text.trim_start().starts_with('{') {
        stac_scenes(path, &text, &base, asset, model_bands)?
    } else {
        if asset.is_some() {
            return Err(Error::config(
                "--asset",
                format!(
                    "picks an asset of a STAC manifest; {} is a text list",
                    path.display()
                ),
            ));
        }
        text_scenes(&text, &base)
    };
    let mut seen = std::collections::HashSet::new();
    let scenes: Vec<Scene> = scenes
        .into_iter()
        .filter(|s| seen.insert(s.input.clone()))
        .collect();
    if scenes.is_empty() {
        return Err(Error::catalog(path, "the manifest lists no scenes"));
    }
    Ok(scenes)
}

fn text_scenes(text: &str, base: &Path) -> Vec<Scene> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| Scene {
            input: gdal_input(l, base),
            item: None,
            bands: Vec::new(),
            error: None,
        })
        .collect()
}

/// Turns a manifest entry into what GDAL opens: URLs into `/vsi...` paths,
/// relative local paths joined to `base`.
/// `.` and `..` segments resolved lexically (see the module doc).
pub fn gdal_input(entry: &str, base: &Path) -> String {
    let entry = entry.trim();
    if entry.starts_with("http://") || entry.starts_with("https://") {
        return format!("/vsicurl/{}", normalise_url(entry));
    }
    for (scheme, vsi) in [
        ("s3://", "/vsis3/"),
        ("gs://", "/vsigs/"),
        ("az://", "/vsiaz/"),
    ] {
        if let Some(rest) = entry.strip_prefix(scheme) {
            return format!("{vsi}{}", normalise_segments(rest));
        }
    }
    if let Some(rest) = entry.strip_prefix("file://") {
        return normalise_segments(rest);
    }
    if entry.starts_with("/vsi") || Path::new(entry).is_absolute() {
        return normalise_segments(entry);
    }
    normalise_segments(&base.join(entry).to_string_lossy())
}

/// A `/`-separated path with empty and `.` segments dropped and each `..` taking
/// away the segment before it (kept at the start of a relative path, dropped at
/// the root of an absolute one, as POSIX resolves `/..`). Lexical: a `..` after a
/// symbolic link names the link's parent, which is what GDAL and the manifest's
/// author see in the string.
pub fn normalise_segments(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => match out.last() {
                Some(&last) if last != ".." => {
                    out.pop();
                }
                _ if absolute => {}
                _ => out.push(".."),
            },
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// A URL with the `.`/`..` segments of its path resolved (scheme, host, query and
/// fragment kept as written).
fn normalise_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let cut = rest.find(['?', '#']).unwrap_or(rest.len());
    let (location, tail) = rest.split_at(cut);
    match location.split_once('/') {
        Some((host, path)) => {
            let trailing = if path.ends_with('/') && !path.is_empty() {
                "/"
            } else {
                ""
            };
            let p = normalise_segments(&format!("/{path}"));
            let p = if p == "/" { "" } else { &p[1..] };
            format!("{scheme}://{host}/{p}{trailing}{tail}")
        }
        None => url.to_string(),
    }
}

/// STAC assets in document order (serde_json's map would sort them).
#[derive(Debug, Default)]
struct Assets(Vec<(String, Asset)>);

#[derive(Debug, Deserialize)]
struct Asset {
    href: String,
    #[serde(rename = "type")]
    media_type: Option<String>,
    #[serde(rename = "eo:bands", default)]
    eo_bands: Vec<EoBand>,
    #[serde(rename = "raster:bands", default)]
    raster_bands: Vec<RasterBandInfo>,
}

impl<'de> Deserialize<'de> for Assets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Assets;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of STAC assets")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<Assets, A::Error> {
                let mut v = Vec::new();
                while let Some((k, a)) = m.next_entry::<String, Asset>()? {
                    v.push((k, a));
                }
                Ok(Assets(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Debug, Deserialize)]
struct Item {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    #[serde(default)]
    assets: Assets,
    #[serde(default)]
    features: Vec<Item>,
    #[serde(default)]
    links: Vec<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    rel: String,
    href: String,
}

impl Item {
    /// What this item's relative hrefs resolve against: the folder of its `self`
    /// link (a URL prefix, or a local folder relative to `base`), else `base`.
    fn href_base(&self, base: &Path) -> HrefBase {
        let Some(link) = self.links.iter().find(|l| l.rel == "self") else {
            return HrefBase::Folder(base.to_path_buf());
        };
        let href = link.href.trim();
        let is_url = ["http://", "https://", "s3://", "gs://", "az://"]
            .iter()
            .any(|p| href.starts_with(p));
        if is_url {
            let cut = href.rfind('/').map_or(href.len(), |i| i + 1);
            return HrefBase::Url(href[..cut].to_string());
        }
        let local = href.strip_prefix("file://").unwrap_or(href);
        let file = base.join(local);
        HrefBase::Folder(file.parent().map(Path::to_path_buf).unwrap_or(file))
    }
}

/// Where an item's relative hrefs point.
#[derive(Debug, Clone, PartialEq)]
enum HrefBase {
    Folder(PathBuf),
    Url(String),
}

/// The input GDAL opens for asset `href` of an item whose hrefs resolve against `base`.
fn resolve_href(href: &str, base: &HrefBase) -> String {
    let href = href.trim();
    let absolute = href.contains("://") || href.starts_with('/');
    match base {
        HrefBase::Url(prefix) if !absolute => gdal_input(
            &format!("{prefix}{}", href.trim_start_matches("./")),
            Path::new(""),
        ),
        HrefBase::Folder(folder) => gdal_input(href, folder),
        HrefBase::Url(_) => gdal_input(href, Path::new("")),
    }
}

fn is_geotiff(media_type: &str) -> bool {
    let t = media_type.to_ascii_lowercase();
    t.starts_with("image/tiff") || t.starts_with("image/geotiff")
}

/// The item's single-band GeoTIFF assets holding each of `model_bands`, in model
/// order, or `None` when one is missing.
fn band_assets(item: &Item, base: &HrefBase, model_bands: &[String]) -> Option<Vec<BandAsset>> {
    if model_bands.is_empty() {
        return None;
    }
    model_bands
        .iter()
        .map(|band| {
            let (_, a) = item.assets.0.iter().find(|(k, a)| {
                a.media_type.as_deref().is_some_and(is_geotiff) && asset_holds(k, &a.eo_bands, band)
            })?;
            let rb = a.raster_bands.first().cloned().unwrap_or_default();
            Some(BandAsset {
                band: band.clone(),
                input: resolve_href(&a.href, base),
                scale: rb.scale,
                offset: rb.offset,
                nodata: rb.nodata.as_ref().and_then(nodata_number),
            })
        })
        .collect()
}

/// A name safe in a `/vsimem/` path.
fn vsimem_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn stac_scenes(
    path: &Path,
    text: &str,
    base: &Path,
    asset: Option<&str>,
    model_bands: &[String],
) -> Result<Vec<Scene>> {
    let root: Item = serde_json::from_str(text)
        .map_err(|e| Error::catalog_source(path, "not a STAC Item or ItemCollection", e))?;
    let items = match root.kind.as_str() {
        "FeatureCollection" => root.features,
        "Feature" => vec![root],
        other => {
            return Err(Error::catalog(
                path,
                format!("STAC type {other:?}: expected \"FeatureCollection\" or \"Feature\""),
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let id = item.id.clone().unwrap_or_else(|| format!("item-{i}"));
            let href_base = item.href_base(base);
            if asset.is_none() {
                if let Some(bands) = band_assets(item, &href_base, model_bands) {
                    return Ok(Scene {
                        input: format!("/vsimem/geomaml-stac/{i}-{}.vrt", vsimem_name(&id)),
                        item: Some(id),
                        bands,
                        error: None,
                    });
                }
            }
            let chosen = match asset {
                Some(name) => item.assets.0.iter().find(|(k, _)| k == name),
                None => item
                    .assets
                    .0
                    .iter()
                    .find(|(_, a)| a.media_type.as_deref().is_some_and(is_geotiff))
                    .or_else(|| {
                        ["data", "visual"]
                            .iter()
                            .find_map(|n| item.assets.0.iter().find(|(k, _)| k == n))
                    }),
            };
            let Some((_, a)) = chosen else {
                let names: Vec<&str> = item.assets.0.iter().map(|(k, _)| k.as_str()).collect();
                let why = match asset {
                    Some(name) => {
                        format!("--asset: item {id:?} has no asset {name:?} (it has {names:?})")
                    }
                    None => format!(
                        "item {id:?} has no GeoTIFF asset and no `data`/`visual` asset \
                         (it has {names:?}); pick one with --asset"
                    ),
                };
                return Ok(Scene {
                    input: format!("stac-item:{id}"),
                    item: Some(id),
                    bands: Vec::new(),
                    error: Some(why),
                });
            };
            Ok(Scene {
                input: resolve_href(&a.href, &href_base),
                item: Some(id),
                bands: Vec::new(),
                error: None,
            })
        })
        .collect()
}

/// The manifest path made absolute, for the summary.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
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
        let spelled =
            read_manifest(&link.join("..").join("real").join("scenes.txt"), None).unwrap();
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
}

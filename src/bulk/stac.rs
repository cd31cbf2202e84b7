//! STAC manifests: an ItemCollection or a single Item, each item one scene
//! ([`super::manifest`] says which asset); relative hrefs resolve against the
//! item's `self` link, else the manifest's folder.

use super::manifest::{gdal_input, Scene};
use super::stac_bands::{asset_holds, nodata_number, BandAsset, EoBand, RasterBandInfo};
use crate::error::{Error, Result};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::path::{Path, PathBuf};

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

pub(super) fn stac_scenes(
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

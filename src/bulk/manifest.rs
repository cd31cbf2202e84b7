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

use super::stac::stac_scenes;
use super::stac_bands::BandAsset;
use crate::error::{Error, Result};
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

/// The manifest path made absolute, for the summary.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests;

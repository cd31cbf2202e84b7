//! What a batch run leaves per scene: the sidecar JSON, the output names (stem
//! and input hash), and the rules that make a rerun skip done scenes and clear
//! a killed run's temporaries.

use super::manifest::Scene;
use super::run::BatchConfig;
use crate::error::{Error, Result};
use crate::infer::MapOptions;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Status string of a scene mapped by this run (in sidecars and the summary).
pub const MAPPED: &str = "mapped";
/// Status of a scene whose outputs were already there.
pub const SKIPPED: &str = "skipped";
/// Status of a scene that failed.
pub const FAILED: &str = "failed";

/// The sidecar JSON written next to each map.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sidecar {
    /// Always [`MAPPED`]: sidecars are only written for finished maps.
    pub status: String,
    /// The geomaml version that wrote the map.
    pub geomaml_version: String,
    /// The input as GDAL opened it.
    pub input: String,
    /// The STAC item id, for STAC manifests.
    pub item: Option<String>,
    /// The map's file name (in the same folder).
    pub output: String,
    /// The model path as given.
    pub model: PathBuf,
    /// SHA-256 of the model file (hex).
    pub model_sha256: String,
    /// Output-changing options.
    pub options: MapOptions,
    /// When mapping started (seconds since the Unix epoch).
    pub started_unix: u64,
    /// Wall time of the scene in seconds.
    pub seconds: f64,
    /// Scene size `(width, height)`.
    pub scene_size: (usize, usize),
    /// Map size `(width, height)`.
    pub map_size: (usize, usize),
    /// Windows run through the network.
    pub windows: usize,
    /// Scene megapixels per second.
    pub megapixels_per_s: f64,
}

/// Hex SHA-256 of a file, streamed.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// The output stem of a scene: its sanitised name, `-`, 8 hex digits of the
/// SHA-256 of its full input string.
pub fn output_stem(scene: &Scene) -> String {
    let mut name: String = scene
        .stem()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    name = name.trim_matches(['.', '_', '-']).to_string();
    if name.is_empty() {
        name = "scene".into();
    }
    let d = Sha256::digest(scene.input.as_bytes());
    format!("{name}-{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
}

pub(crate) fn sidecar_path(out_dir: &Path, stem: &str) -> PathBuf {
    out_dir.join(format!("{stem}.json"))
}

/// Removes temporary files of killed runs for the outputs of `stem` (map, its COG
/// staging file, probabilities, confidence, sidecar); a live process's are kept,
/// so two copies of one shard never delete each other's work.
pub(crate) fn remove_stale(out_dir: &Path, stem: &str) -> usize {
    [
        format!("{stem}.tif"),
        format!("{stem}.tif.staging.tif"),
        format!("{stem}.probabilities.tif"),
        format!("{stem}.probabilities.tif.staging.tif"),
        format!("{stem}.confidence.tif"),
        format!("{stem}.confidence.tif.staging.tif"),
        format!("{stem}.json"),
    ]
    .iter()
    .map(|name| crate::output::remove_stale_temporaries(&out_dir.join(name)))
    .sum()
}

pub(crate) fn is_done(
    cfg: &BatchConfig,
    output: &Path,
    sidecar: &Path,
    model_sha256: &str,
) -> bool {
    if !output.is_file() {
        return false;
    }
    if cfg.options.probabilities && !crate::infer::layout::probabilities_path(output).is_file() {
        return false;
    }
    if cfg.options.confidence && !crate::infer::layout::confidence_path(output).is_file() {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(sidecar) else {
        return false;
    };
    let Ok(s) = serde_json::from_str::<Sidecar>(&text) else {
        return false;
    };
    s.status == MAPPED && s.model_sha256 == model_sha256 && s.options == cfg.options
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_are_sanitised_and_hashed() {
        let a = Scene {
            input: "/vsicurl/https://x.org/my scene (1).tif?sig=abc".into(),
            item: None,
            bands: Vec::new(),
            error: None,
        };
        let stem = output_stem(&a);
        assert!(stem.starts_with("my_scene__1-"), "{stem}");
        assert_eq!(stem.len(), "my_scene__1-".len() + 8);
        let b = Scene {
            input: "/data/other/my scene (1).tif".into(),
            item: None,
            bands: Vec::new(),
            error: None,
        };
        assert_ne!(output_stem(&a), output_stem(&b));
        assert_eq!(output_stem(&a), output_stem(&a.clone()));
    }

    #[test]
    fn stale_temporaries_of_a_scene_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // Process ids above Linux's PID_MAX_LIMIT (2^22): never a live process (small
        // ones such as 9 are kernel threads on some machines).
        for n in [
            ".s-0011aabb.tif.4194401.partial-s-0011aabb.tif",
            ".s-0011aabb.tif.staging.tif.4194409.partial-s-0011aabb.tif.staging.tif",
            ".t-0011aabb.tif.4194401.partial-t-0011aabb.tif",
            ".s-0011aabb.x-99999999.tif.1.partial-s-0011aabb.x-99999999.tif",
            "s-0011aabb.tif",
        ] {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        assert_eq!(remove_stale(dir.path(), "s-0011aabb"), 2);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}

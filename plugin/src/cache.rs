//! One computation per block in a process: a block cache shared by every dataset
//! handle that maps the same model, scene and options.
//!
//! GDAL caches blocks per dataset handle, and viewers open several handles of one
//! layer (QGIS computes statistics on one and renders on clones), so without this
//! each handle would run the model again on the same block. Entries are keyed by
//! what determines the pixels: the model and scene (path, size and modification
//! time, so a rewritten file is not served stale), the options, the overview level
//! and the block number. The least recently used blocks are dropped beyond
//! `GEOMAML_GDAL_CACHE_MB` megabytes (default [`DEFAULT_MB`]; 0 turns it off).
//!
//! Two handles asking for the same missing block at the same moment both compute
//! it (the lock is not held while the model runs); the second result replaces the
//! first, with the same pixels.

use geomaml::infer::BlockOutput;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// Default capacity in megabytes.
pub const DEFAULT_MB: usize = 256;

/// What identifies a block's pixels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// The model, scene and options (see [`identity`]).
    pub dataset: Arc<str>,
    /// 0 for the map, `i` for overview `i` (1-based).
    pub level: usize,
    /// Block number, row-major.
    pub block: usize,
}

/// `path` with its size and modification time, or the path alone when it is not
/// a local file (`/vsi...`).
fn file_identity(path: &Path) -> String {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match std::fs::metadata(&canonical) {
        Ok(m) => {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}|{}|{modified}", canonical.display(), m.len())
        }
        Err(_) => canonical.display().to_string(),
    }
}

/// The dataset part of a [`Key`]: model, scene and the options' description.
pub fn identity(model: &Path, scene: &Path, options: &str) -> Arc<str> {
    format!(
        "{}\n{}\n{options}",
        file_identity(model),
        file_identity(scene)
    )
    .into()
}

struct Entry {
    value: Arc<BlockOutput>,
    bytes: usize,
    used: u64,
}

struct Cache {
    entries: HashMap<Key, Entry>,
    bytes: usize,
    capacity: usize,
    clock: u64,
}

fn size_of(b: &BlockOutput) -> usize {
    b.classes.len()
        + b.probabilities.as_ref().map_or(0, Vec::len)
        + b.confidence.as_ref().map_or(0, Vec::len)
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let mb = std::env::var("GEOMAML_GDAL_CACHE_MB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_MB);
        Mutex::new(Cache {
            entries: HashMap::new(),
            bytes: 0,
            capacity: mb.saturating_mul(1 << 20),
            clock: 0,
        })
    })
}

/// The cached block `key`, or `compute()`'s result, cached when it succeeds.
/// The second value says whether it was computed now.
pub fn get_or_compute<E>(
    key: Key,
    compute: impl FnOnce() -> Result<BlockOutput, E>,
) -> Result<(Arc<BlockOutput>, bool), E> {
    {
        let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
        c.clock += 1;
        let now = c.clock;
        if let Some(e) = c.entries.get_mut(&key) {
            e.used = now;
            return Ok((e.value.clone(), false));
        }
    }
    let value = Arc::new(compute()?);
    let bytes = size_of(&value);
    let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
    if bytes > c.capacity {
        return Ok((value, true));
    }
    c.clock += 1;
    let used = c.clock;
    if let Some(old) = c.entries.insert(
        key,
        Entry {
            value: value.clone(),
            bytes,
            used,
        },
    ) {
        c.bytes -= old.bytes;
    }
    c.bytes += bytes;
    while c.bytes > c.capacity {
        let Some(oldest) = c
            .entries
            .iter()
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        if let Some(e) = c.entries.remove(&oldest) {
            c.bytes -= e.bytes;
        }
    }
    Ok((value, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: usize, v: u8) -> BlockOutput {
        BlockOutput {
            classes: vec![v; n],
            probabilities: None,
            confidence: None,
        }
    }

    #[test]
    fn a_block_is_computed_once_per_key() {
        let dataset: Arc<str> = "a-test-dataset".into();
        let key = |b| Key {
            dataset: dataset.clone(),
            level: 0,
            block: b,
        };
        let (v, fresh) = get_or_compute::<()>(key(0), || Ok(block(4, 7))).unwrap();
        assert!(fresh);
        assert_eq!(v.classes, vec![7; 4]);
        let (v, fresh) = get_or_compute::<()>(key(0), || panic!("computed twice")).unwrap();
        assert!(!fresh);
        assert_eq!(v.classes, vec![7; 4]);
        // A failure is not cached.
        assert!(get_or_compute(key(1), || Err("no")).is_err());
        let (_, fresh) = get_or_compute::<()>(key(1), || Ok(block(4, 1))).unwrap();
        assert!(fresh);
    }

    #[test]
    fn identity_changes_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.onnx");
        std::fs::write(&f, b"one").unwrap();
        let a = identity(&f, &f, "o");
        std::fs::write(&f, b"three").unwrap();
        assert_ne!(a, identity(&f, &f, "o"));
        assert_ne!(identity(&f, &f, "o"), identity(&f, &f, "p"));
    }
}

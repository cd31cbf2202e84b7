//! Bounds on sizes and counts that come from users, files and model cards.
//!
//! Every such number is checked here before memory is allocated for it, so an
//! absurd value (`--stride 1000000`, a card with 100,000 px tiles, a config with
//! width 100,000, `--threads 100000`) is one clear error instead of an abort on a
//! failed allocation, in the command line and in the GDAL plugin's host alike.
//! The bounds are far above anything the paper's models use (128 px tiles, width
//! 64, depth 4) and below what would exhaust a large machine.

use crate::error::{Error, Result};

/// Largest tile (window) edge in pixels.
pub const MAX_TILE: usize = 4096;
/// Largest convolution width (channels of the first level).
pub const MAX_WIDTH: usize = 2048;
/// Deepest network (levels).
pub const MAX_DEPTH: usize = 10;
/// Most input bands or classes.
pub const MAX_CHANNELS: usize = 1024;
/// Most threads a command may ask for.
pub const MAX_THREADS: usize = 1024;
/// Largest inference batch (windows).
pub const MAX_BATCH: usize = 65_536;
/// Largest count of tasks, shots or queries in one meta-batch or task.
pub const MAX_COUNT: usize = 100_000;
/// Most places `geomaml suggest` proposes in one run.
pub const MAX_SUGGESTIONS: usize = 10_000;

/// Checks that `value` of `option` lies in `1..=max`.
pub fn check_range(option: &str, value: usize, max: usize) -> Result<usize> {
    if value == 0 || value > max {
        return Err(Error::config(
            option,
            format!("must be between 1 and {max}, got {value}"),
        ));
    }
    Ok(value)
}

/// Threads per available core that a command may use: more only adds switching
/// (1024 ONNX Runtime threads on 2 cores made a 0.3 s map take minutes).
pub const THREADS_PER_CORE: usize = 2;

/// Most unlabelled scene windows `adapt --bn-windows` reads.
pub const MAX_BN_WINDOWS: usize = 4096;

/// Largest buffer of normalised pixels (`f32`) one command allocates at once for
/// windows (adapt's batch-norm windows): 1 GiB.
pub const MAX_WINDOW_BYTES: usize = 1 << 30;

/// Pixels of one inference batch (windows x tile x tile), at most: a classifier
/// batch is cut to this many (at least one window), so a card claiming huge tiles
/// cannot multiply them by `--batch-size`. 2^21 is 128 windows of 128 px (the
/// default is 64 of the paper's 128 px); at 15 bands the input is 126 MB.
pub const MAX_BATCH_PIXELS: usize = 1 << 21;

/// A card's tile may exceed the scene's longer side only up to this edge: a
/// window larger than the scene is mostly fill, and a larger one only costs memory
/// (a 4096 px window of a card over a 64 px scene used more than 6 GiB).
pub const MAX_TILE_BEYOND_SCENE: usize = 512;

/// The cores this process may use (1 when unknown).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Checks a thread count (`0` means "the library's default" and is allowed) and
/// caps it at [`THREADS_PER_CORE`] per available core, with a warning on stderr
/// when it does.
pub fn check_threads(option: &str, value: usize) -> Result<usize> {
    if value > MAX_THREADS {
        return Err(Error::config(
            option,
            format!("at most {MAX_THREADS} threads, got {value}"),
        ));
    }
    let (capped, warning) = cap_threads(option, value, available_cores());
    if let Some(w) = warning {
        eprintln!("geomaml: warning: {w}");
    }
    Ok(capped)
}

/// `value` capped at [`THREADS_PER_CORE`] x `cores`, and the warning to give when
/// it was.
pub fn cap_threads(option: &str, value: usize, cores: usize) -> (usize, Option<String>) {
    let most = THREADS_PER_CORE * cores.max(1);
    if value > most {
        let w = format!(
            "{option} {value} is more than {THREADS_PER_CORE} per core on this machine ({cores} cores): using {most}"
        );
        (most, Some(w))
    } else {
        (value, None)
    }
}

/// Refuses a model whose card's tile (`tile` px) is larger than the scene
/// (`size`) and than [`MAX_TILE_BEYOND_SCENE`], naming the model and the scene.
pub fn check_tile_for_scene(
    model: &std::path::Path,
    tile: usize,
    scene: &std::path::Path,
    (w, h): (usize, usize),
) -> Result<()> {
    if tile > w.max(h) && tile > MAX_TILE_BEYOND_SCENE {
        return Err(Error::model(
            model,
            format!(
                "its card describes {tile} px windows, larger than the scene {} ({w} x {h} px) and than {MAX_TILE_BEYOND_SCENE} px: such windows are mostly fill and would need gigabytes; use a model of smaller tiles",
                scene.display()
            ),
        ));
    }
    Ok(())
}

/// The batch-norm windows `adapt` reads for `--bn-windows requested`: refused
/// above [`MAX_BN_WINDOWS`] or when their pixels (`bands` x `tile`^2 each, as
/// `f32`) would exceed [`MAX_WINDOW_BYTES`]; capped, with a warning, at the
/// windows the scene holds (`size`) at quarter-tile steps, since more only repeat
/// pixels.
pub fn bn_windows(
    requested: usize,
    tile: usize,
    bands: usize,
    (w, h): (usize, usize),
) -> Result<(usize, Option<String>)> {
    let option = "--bn-windows";
    if requested > MAX_BN_WINDOWS {
        return Err(Error::config(
            option,
            format!("at most {MAX_BN_WINDOWS} windows, got {requested}"),
        ));
    }
    let tile = tile.max(1);
    let step = (tile / 4).max(1);
    let across = |n: usize| if n >= tile { (n - tile) / step + 1 } else { 0 };
    let holds = across(w) * across(h);
    let used = requested.min(holds);
    let bytes = used
        .saturating_mul(bands)
        .saturating_mul(tile * tile)
        .saturating_mul(4);
    if bytes > MAX_WINDOW_BYTES {
        let most = MAX_WINDOW_BYTES / (bands.max(1) * tile * tile * 4);
        return Err(Error::config(
            option,
            format!(
                "{used} windows of {tile} px x {bands} bands need {} MiB, above {} MiB: use at most {most}",
                bytes >> 20,
                MAX_WINDOW_BYTES >> 20
            ),
        ));
    }
    let warning = (used < requested).then(|| {
        format!("{option} {requested}: the scene ({w} x {h} px) holds {holds} windows of {tile} px at {step} px steps; using {used}")
    });
    Ok((used, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_values_are_refused_naming_the_option() {
        assert_eq!(check_range("--stride", 8, MAX_TILE).unwrap(), 8);
        let e = check_range("--stride", 1_000_000, MAX_TILE).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--stride: must be between 1 and 4096, got 1000000"
        );
        assert!(check_range("--batch-size", 0, MAX_BATCH).is_err());
        assert!(check_threads("--threads", 0).is_ok());
        assert!(check_threads("--threads", 100_000).is_err());
    }

    #[test]
    fn threads_beyond_two_per_core_are_capped_with_a_warning() {
        assert_eq!(cap_threads("--threads", 0, 2), (0, None));
        assert_eq!(cap_threads("--threads", 4, 2), (4, None));
        let (n, w) = cap_threads("--threads", 1024, 2);
        assert_eq!(n, 4);
        assert!(w.unwrap().contains("--threads 1024"));
    }

    #[test]
    fn bn_windows_are_bounded_by_the_scene_and_memory() {
        assert!(bn_windows(1_000_000_000, 16, 3, (64, 64)).is_err());
        // A 64 px scene holds 13 x 13 windows of 16 px at 4 px steps.
        let (n, w) = bn_windows(4096, 16, 3, (64, 64)).unwrap();
        assert_eq!(n, 169);
        assert!(w.unwrap().contains("using 169"));
        assert_eq!(bn_windows(64, 16, 3, (64, 64)).unwrap(), (64, None));
        assert_eq!(bn_windows(64, 128, 3, (64, 64)).unwrap().0, 0);
        let e = bn_windows(4096, 4096, 15, (100_000, 100_000)).unwrap_err();
        assert!(e.to_string().starts_with("--bn-windows: "), "{e}");
    }

    #[test]
    fn tiles_far_beyond_the_scene_are_refused() {
        let (m, s) = (
            std::path::Path::new("m.onnx"),
            std::path::Path::new("s.tif"),
        );
        assert!(check_tile_for_scene(m, 4096, s, (64, 64)).is_err());
        assert!(check_tile_for_scene(m, 128, s, (64, 64)).is_ok());
        assert!(check_tile_for_scene(m, 4096, s, (5000, 64)).is_ok());
    }
}

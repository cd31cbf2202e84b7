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

/// Checks a thread count (`0` means "the library's default" and is allowed).
pub fn check_threads(option: &str, value: usize) -> Result<usize> {
    if value > MAX_THREADS {
        return Err(Error::config(
            option,
            format!("at most {MAX_THREADS} threads, got {value}"),
        ));
    }
    Ok(value)
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
}

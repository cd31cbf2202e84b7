//! `GEOMAML_PROGRESS=lines`: every long command writes `progress: DONE/TOTAL` lines on
//! stderr (not a terminal here), each once, ending at its total, as the QGIS
//! Processing provider reads them.

use crate::util::*;
use std::process::Command;

/// Runs `cmd` with progress lines asked for; returns its progress lines.
fn progress_lines(cmd: &mut Command) -> Vec<String> {
    let out = run_ok(cmd.env("GEOMAML_PROGRESS", "lines"));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<String> = err
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .map(str::to_string)
        .collect();
    let mut distinct = lines.clone();
    distinct.dedup();
    assert_eq!(distinct, lines, "a line repeated in\n{err}");
    lines
}

/// The last line is `progress: N/N` and every line counts towards the same `N`.
fn assert_ends_at(lines: &[String], total: u64) {
    assert_eq!(
        lines.last().map(String::as_str),
        Some(format!("progress: {total}/{total}").as_str()),
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| l.ends_with(&format!("/{total}"))),
        "{lines:?}"
    );
}

#[test]
fn synth_and_catalog_write_progress_lines() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sen12ms");
    let lines = progress_lines(
        geomaml()
            .args(["synth", "sen12ms"])
            .arg(&root)
            .args(["--regions", "57", "--seasons", "summer,winter"])
            .args(["--patches", "2", "--size", "32", "--seed", "1"]),
    );
    // One region, two seasons, two patches each.
    assert_ends_at(&lines, 4);
    let lines = progress_lines(
        geomaml()
            .args(["synth", "deepglobe"])
            .arg(dir.path().join("deepglobe"))
            .args(["--images", "3", "--size", "32"]),
    );
    assert_ends_at(&lines, 3);
    let lines = progress_lines(
        geomaml()
            .arg("catalog")
            .arg(&root)
            .args(["--tile-size", "16", "-o"])
            .arg(dir.path().join("catalog.json")),
    );
    assert_ends_at(&lines, 4);
    assert_eq!(lines.first().map(String::as_str), Some("progress: 0/4"));
    // Without the variable, a stderr that is not a terminal gets no progress.
    let out = run_ok(
        geomaml()
            .arg("catalog")
            .arg(&root)
            .args(["--tile-size", "16", "--overwrite", "-o"])
            .arg(dir.path().join("catalog.json"))
            .env_remove("GEOMAML_PROGRESS"),
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("progress"));
}

#[test]
fn train_writes_a_progress_line_per_step() {
    let root = sample("sen12ms");
    if !root.is_dir() {
        eprintln!("skipping: {} is missing", root.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("catalog.json");
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(&root)
            .args(["--tile-size", "32", "-o"])
            .arg(&cat),
    );
    let lines = progress_lines(
        geomaml()
            .arg("train")
            .arg(&cat)
            .args(["--method", "pretrain", "--steps", "3", "--val-every", "0"])
            .args(["--device", "cpu", "--threads", "1", "-o"])
            .arg(dir.path().join("m.safetensors")),
    );
    assert_eq!(
        lines,
        [
            "progress: 0/3",
            "progress: 1/3",
            "progress: 2/3",
            "progress: 3/3"
        ]
    );
}

//! `experiments/deepglobe_segmentation.sh` end to end on a tiny synthetic DeepGlobe
//! tree (64 px images, a width-4 U-Net, two training steps): catalog, random and
//! clustered split files, MAML and pretraining per split, segmentation evaluation
//! at the requested support sizes, the summary table; and the refusal to
//! overwrite finished results.
#![cfg(feature = "train")]

use crate::util::*;
use geomaml::catalog::{Catalog, Split};
use geomaml::tasks::{SplitStrategy, Splits};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/deepglobe_segmentation.sh")
}

/// The experiment with tiny settings; `extra` are further arguments.
fn experiment(data: &Path, out: &Path, config: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(script())
        .arg(data)
        .arg(out)
        .args(extra)
        .env("GEOMAML", env!("CARGO_BIN_EXE_geomaml-train"))
        .env("TRAIN_CONFIG", config)
        .env("DEVICE", "cpu")
        .env("OMP_NUM_THREADS", "1")
        .env("SUPPORT_SIZES", "1,2")
        .env("EVAL_TASKS", "2")
        .env("QUERY", "2")
        .env("GRID_LRS", "0.1")
        .env("GRID_STEPS", "1")
        .env("GRID_TASKS", "1");
    cmd
}

fn ids(v: &Value) -> Vec<u32> {
    let mut ids: Vec<u32> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn deepglobe_experiment_evaluates_both_splits_at_the_support_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("deepglobe");
    run_ok(
        geomaml()
            .args(["synth", "deepglobe"])
            .arg(&data)
            .args(["--images", "18", "--size", "64", "--seed", "4"]),
    );
    let config = dir.path().join("tiny.json");
    std::fs::write(
        &config,
        r#"{"steps": 2, "shot": 1, "query": 1, "meta_batch": 1, "width": 4, "val_every": 0}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = run_ok(&mut experiment(&data, &out, &config, &[]));
    let summary = String::from_utf8_lossy(&run.stdout).to_string();

    // Split files: every image in one split, the same split the library computes,
    // and the two strategies hold out different meta-test images.
    let catalog = Catalog::load(out.join("catalog.json")).unwrap();
    let mut test_sets = Vec::new();
    for (name, strategy) in [
        ("random", SplitStrategy::Random { seed: 0 }),
        ("clustered", SplitStrategy::Clustered { seed: 0 }),
    ] {
        let file: Value = serde_json::from_slice(
            &std::fs::read(out.join(format!("splits/{name}.json"))).unwrap(),
        )
        .unwrap();
        let expected = Splits::for_catalog(&catalog, &strategy).unwrap();
        let mut all = Vec::new();
        for (key, split) in [
            ("train", Split::Train),
            ("val", Split::Val),
            ("test", Split::Test),
        ] {
            assert_eq!(ids(&file[key]), expected.regions(split), "{name} {key}");
            all.extend(ids(&file[key]));
        }
        all.sort_unstable();
        assert_eq!(all.len(), 18, "{name}: every image in exactly one split");
        all.dedup();
        assert_eq!(all.len(), 18);
        test_sets.push(ids(&file["test"]));
    }
    assert!(!test_sets[0].is_empty() && !test_sets[1].is_empty());
    assert_ne!(
        test_sets[0], test_sets[1],
        "random and clustered meta-test images"
    );

    // One segmentation report per split: support sizes as shot counts, pixel
    // accuracy and mIoU in [0, 1], on that split's meta-test images.
    for split in ["random", "clustered"] {
        let eval = out.join(split).join("eval");
        let report: Value =
            serde_json::from_slice(&std::fs::read(eval.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["kind"], "segmentation");
        assert_eq!(report["split"], "test");
        assert_eq!(report["shots"], serde_json::json!([0, 1, 2]));
        assert_eq!(
            (report["tasks"].as_u64(), report["query"].as_u64()),
            (Some(2), Some(2))
        );
        let models = report["models"].as_array().unwrap();
        let methods: Vec<&str> = models
            .iter()
            .map(|m| m["method"].as_str().unwrap())
            .collect();
        assert_eq!(methods, ["maml", "pretrain", "random"]);
        for m in models {
            let results = m["results"].as_array().unwrap();
            let shots: Vec<u64> = results
                .iter()
                .map(|r| r["shots"].as_u64().unwrap())
                .collect();
            assert_eq!(shots, [0, 1, 2]);
            for r in results {
                for key in ["accuracy", "mean_iou"] {
                    let v = r[key]["mean"].as_f64().unwrap();
                    assert!((0.0..=1.0).contains(&v), "{split} {key} {v}");
                    assert_eq!(r[key]["n"], 2);
                }
            }
        }
        for model in ["maml", "pretrain"] {
            assert!(out
                .join(split)
                .join(format!("{model}.safetensors"))
                .is_file());
        }
        // 3 models x 3 shot counts in the summary.
        let rows = summary
            .lines()
            .filter(|l| l.starts_with(&format!("| {split} |")))
            .count();
        assert_eq!(rows, 9, "{summary}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("summary.md")).unwrap(),
        summary
    );

    // Finished results are never replaced without --overwrite; --resume keeps them.
    let before = std::fs::read(out.join("clustered/eval/report.json")).unwrap();
    let refused = experiment(&data, &out, &config, &[]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--overwrite"));
    run_ok(&mut experiment(&data, &out, &config, &["--resume"]));
    assert_eq!(
        std::fs::read(out.join("clustered/eval/report.json")).unwrap(),
        before
    );
}

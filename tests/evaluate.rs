//! `geomaml evaluate` on sample_data (16 px tiles): a model pretrained for a few
//! steps here and the random initialisation, 0/1/2 shots on 4 meta-test tasks;
//! the report, curves and plot agree; `--trajectories` adds the PCA of adapted
//! weights and the loss along the support gradient; bad inputs fail cleanly with
//! nothing written.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// (catalog, pretrained model) on sample_data, made once for this module.
fn setup() -> &'static (PathBuf, PathBuf) {
    static SETUP: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    SETUP.get_or_init(|| pretrain_on_sample(30, 3))
}

fn evaluate(catalog: &Path, out: &Path) -> std::process::Command {
    let mut cmd = geomaml();
    cmd.arg("evaluate")
        .arg(catalog)
        .args([
            "--shots", "0,1,2", "--tasks", "4", "--way", "4", "--query", "2",
        ])
        .args(["--device", "cpu", "--seed", "5", "-o"])
        .arg(out);
    cmd
}

/// The random initialisation beside the model, settings searched on a small grid.
const SEARCHED: [&str; 8] = [
    "--model",
    "random",
    "--grid-tasks",
    "2",
    "--grid-lrs",
    "0.05,0.5",
    "--grid-steps",
    "1,2",
];

#[test]
fn evaluate_writes_a_consistent_report_curves_and_plot() {
    let (catalog, model) = setup();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    run_ok(
        evaluate(catalog, &out)
            .arg("--model")
            .arg(model)
            .args(SEARCHED),
    );
    assert_eq!(
        list_dir(&out),
        ["curves.csv", "curves.png", "curves.svg", "report.json"]
    );
    assert!(std::fs::read(out.join("curves.png"))
        .unwrap()
        .starts_with(b"\x89PNG"));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["split"], "test");
    assert_eq!(report["shots"], serde_json::json!([0, 1, 2]));
    assert_eq!(report["adaptation"]["mode"], "grid");
    assert_eq!(report["adaptation"]["val_tasks"], 2);
    assert_eq!(report["adaptation"]["grid_name"], "custom");
    assert_eq!(report["adaptation"]["steps"], serde_json::json!([1, 2]));
    let models = report["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["pretrain", "random"]);
    assert_eq!(models[0]["labels"], "legend");
    let csv = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv_rows(&csv);
    assert_eq!(rows.len(), 6);
    for (m, model) in models.iter().enumerate() {
        let results = model["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        for (i, r) in results.iter().enumerate() {
            let acc = r["accuracy"]["mean"].as_f64().unwrap();
            let kappa = r["kappa"]["mean"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&acc) && kappa <= 1.0, "{r}");
            assert_eq!(r["accuracy"]["n"], 4);
            // 4 tasks x 4 classes x 2 queries in the pooled confusion matrix.
            let total: u64 = r["confusion"]["counts"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
                .sum();
            assert_eq!(total, 32);
            if i == 0 {
                assert!(r["inner_lr"].is_null());
                assert_eq!(r["inner_steps"], 0);
            } else {
                let lr = r["inner_lr"].as_f64().unwrap();
                assert!(lr == 0.05 || lr == 0.5, "{lr}");
                let steps = r["inner_steps"].as_u64().unwrap();
                assert!(steps == 1 || steps == 2, "{steps}");
                assert!(r["val_accuracy"].as_f64().is_some());
            }
            let row = &rows[m * 3 + i];
            assert_eq!(row[0], names[m]);
            assert_eq!(row[2], r["shots"].to_string());
            assert!((row[6].parse::<f64>().unwrap() - acc).abs() < 1e-5);
            assert!((row[8].parse::<f64>().unwrap() - kappa).abs() < 1e-5);
        }
    }
    // All tasks adapted in one stacked pass: the same settings and the same scores.
    let grouped = dir.path().join("grouped");
    run_ok(
        evaluate(catalog, &grouped)
            .arg("--model")
            .arg(model)
            .args(SEARCHED)
            .args(["--task-group", "0"]),
    );
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(grouped.join("report.json")).unwrap()).unwrap();
    for (a, b) in models.iter().zip(again["models"].as_array().unwrap()) {
        for (ra, rb) in a["results"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["results"].as_array().unwrap())
        {
            for key in [
                "inner_lr",
                "inner_steps",
                "val_accuracy",
                "per_task",
                "confusion",
            ] {
                assert_eq!(ra[key], rb[key], "{key} at {} shots", ra["shots"]);
            }
        }
    }
    let svg = std::fs::read_to_string(out.join("curves.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("pretrain") && svg.contains("random"));
    assert_eq!(svg.matches("<polyline").count(), 4, "2 models x 2 panels");

    // Fixed settings, and an existing folder needs --overwrite.
    let err = run_fail(evaluate(catalog, &out).args([
        "--model",
        "random",
        "--inner-lr",
        "0.1",
        "--inner-steps",
        "2",
    ]));
    assert!(err.contains("already exists"), "{err}");
    run_ok(
        evaluate(catalog, &out)
            .args([
                "--model",
                "random",
                "--inner-lr",
                "0.1",
                "--inner-steps",
                "2",
            ])
            .arg("--overwrite"),
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["adaptation"]["mode"], "fixed");
    assert_eq!(report["models"][0]["results"][2]["inner_steps"], 2);
}

#[test]
fn bad_models_and_impossible_tasks_fail_with_nothing_written() {
    let (catalog, _) = setup();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    let missing = dir.path().join("nope.safetensors");
    let err = run_fail(evaluate(catalog, &out).arg("--model").arg(&missing));
    assert!(
        err.contains("nope.safetensors") && err.contains("no such model file"),
        "{err}"
    );
    assert!(!out.exists());
    let err = run_fail(evaluate(catalog, &out).args(["--model", "random", "--shots", "0,40"]));
    assert!(
        err.contains("40 shots") && err.contains("lower --shots"),
        "{err}"
    );
    assert!(!out.exists());
}

/// `evaluate` with `shots` and fixed settings (0.1 x 3 steps), 4 tasks.
fn evaluate_fixed(catalog: &Path, out: &Path, shots: &str) -> std::process::Command {
    let mut cmd = geomaml();
    cmd.arg("evaluate")
        .arg(catalog)
        .args([
            "--shots", shots, "--tasks", "4", "--way", "4", "--query", "2",
        ])
        .args(["--inner-lr", "0.1", "--inner-steps", "3"])
        .args(["--device", "cpu", "--seed", "5", "-o"])
        .arg(out);
    cmd
}

fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn trajectories_write_the_pca_and_the_loss_along_the_support_gradient() {
    let (catalog, model) = setup();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    let mut cmd = evaluate_fixed(catalog, &out, "0,2");
    cmd.arg("--model")
        .arg(model)
        .args(["--model", "random", "--trajectories"]);
    run_ok(&mut cmd);
    assert_eq!(
        list_dir(&out),
        [
            "curves.csv",
            "curves.png",
            "curves.svg",
            "report.json",
            "trajectories.json",
            "trajectories_loss.png",
            "trajectories_loss.svg",
            "trajectories_pca.png",
            "trajectories_pca.svg"
        ]
    );
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join(name)).unwrap()).unwrap()
    };
    let report = read("report.json");
    let t = read("trajectories.json");
    assert_eq!(t["shots"], 2);
    assert_eq!(t["tasks"], 4);
    assert_eq!(t["split"], "test");
    let alphas = numbers(&t["alphas"]);
    assert_eq!(alphas.len(), 21);
    assert_eq!((alphas[0], alphas[20]), (0.0, 1.0));
    let models = t["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["pretrain", "random"]);
    for (m, r) in models.iter().zip(report["models"].as_array().unwrap()) {
        assert_eq!(
            (m["inner_lr"].as_f64(), m["inner_steps"].as_u64()),
            (Some(0.1), Some(3))
        );
        // PCA: one point per task, with its region; shares of variance add up to <= 1.
        let pca = &m["pca"];
        let ratio = numbers(&pca["explained_variance_ratio"]);
        assert!(ratio[0] >= ratio[1] && ratio[1] >= 0.0 && ratio[0] + ratio[1] <= 1.0 + 1e-9);
        assert!(ratio[0] > 0.0, "adaptation moved the weights");
        let points = pca["tasks"].as_array().unwrap();
        assert_eq!(points.len(), 4);
        for p in points {
            assert!(p["region"].as_u64().is_some());
            assert!(numbers(&p["pc"]).iter().all(|v| v.is_finite()));
        }
        assert!(numbers(&pca["start"]).iter().all(|v| v.is_finite()));
        // At alpha = 0 nothing has moved: the query accuracy is the 0-shot accuracy
        // of the evaluation, task by task.
        let path = &m["path"];
        let acc0 = path["query_accuracy"][0]["mean"].as_f64().unwrap();
        let zero_shot = r["results"][0]["accuracy"]["mean"].as_f64().unwrap();
        assert!((acc0 - zero_shot).abs() < 1e-9, "{acc0} vs {zero_shot}");
        assert_eq!(path["query_loss"].as_array().unwrap().len(), 21);
        assert_eq!(path["query_loss"][0]["n"], 4);
        let tasks = path["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 4);
        for task in tasks {
            let loss = numbers(&task["query_loss"]);
            assert_eq!(loss.len(), 21);
            assert!(loss.iter().all(|v| v.is_finite() && *v >= 0.0));
            // A small step against the support gradient lowers the support loss.
            let support = numbers(&task["support_loss"]);
            assert!(support[1] < support[0], "{support:?}");
        }
        let mean0 = path["query_loss"][0]["mean"].as_f64().unwrap();
        let by_task: f64 = tasks
            .iter()
            .map(|t| t["query_loss"][0].as_f64().unwrap())
            .sum::<f64>()
            / 4.0;
        assert!((mean0 - by_task).abs() < 1e-9);
    }
    let pca = std::fs::read_to_string(out.join("trajectories_pca.svg")).unwrap();
    assert!(pca.contains("pretrain") && pca.contains("random") && pca.contains("start"));
    assert!(pca.contains("PC1 (") && pca.contains("region "));
    let loss = std::fs::read_to_string(out.join("trajectories_loss.svg")).unwrap();
    assert_eq!(
        loss.matches("<polyline").count(),
        2 * 3,
        "2 models x 3 panels"
    );
    for png in ["trajectories_pca.png", "trajectories_loss.png"] {
        assert!(std::fs::read(out.join(png))
            .unwrap()
            .starts_with(b"\x89PNG"));
    }

    // Nothing to adapt on: refused before any work.
    let out = dir.path().join("none");
    let err =
        run_fail(evaluate_fixed(catalog, &out, "0").args(["--model", "random", "--trajectories"]));
    assert!(
        err.contains("--trajectories") && err.contains("--shots"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn evaluate_writes_progress_lines_when_asked() {
    let (catalog, model) = setup();
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        evaluate_fixed(catalog, &dir.path().join("eval"), "0,1")
            .env("GEOMAML_PROGRESS", "lines")
            .arg("--model")
            .arg(model),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr
        .lines()
        .rfind(|l| l.starts_with("progress: "))
        .unwrap_or_else(|| panic!("no progress line in\n{stderr}"));
    let total = last.rsplit('/').next().unwrap();
    assert_eq!(last, format!("progress: {total}/{total}"), "{stderr}");
    assert_ne!(total, "0", "{stderr}");
}

//! The `evaluate` example as a user runs it: 2D runs of two seeds become one table row, image
//! runs get every feature metric (with cached real features), and bad input is refused
//! before any work.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{example, write_image_folder};
use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("selfcond-evaluate-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ring_run(out: &Path, seed: u64, k: u64) {
    let status = Command::new(example("ring"))
        .args([
            "--iters",
            "30",
            "--recluster-every",
            "10",
            "--eval-samples",
            "3000",
        ])
        .args([
            "--train-points",
            "2000",
            "--cluster-points",
            "500",
            "--quiet",
        ])
        .args(["--k", &k.to_string(), "--seed", &seed.to_string(), "--out"])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn evaluate(args: &[&str], runs: &[&Path]) -> Output {
    Command::new(example("evaluate"))
        .args(runs)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn two_seeds_of_a_2d_run_become_one_table_row() {
    let dir = scratch("ring");
    let (a, b) = (dir.join("seed1"), dir.join("seed2"));
    ring_run(&a, 1, 8);
    ring_run(&b, 2, 8);
    let table = dir.join("table.md");
    let output = evaluate(&["--table", table.to_str().unwrap()], &[&a, &b]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    for run in [&a, &b] {
        let trained = json(&run.join("metrics.json"));
        let evaluated = json(&run.join("evaluation.json"));
        // The same samples scored the same way as at the end of training.
        for key in ["modes", "high_quality_fraction", "reverse_kl", "seed", "k"] {
            assert_eq!(evaluated[key], trained[key], "{key}");
        }
        assert_eq!(evaluated["samples"], 3000);
    }
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(std::fs::read_to_string(&table).unwrap(), printed);
    let row = printed.lines().nth(2).unwrap();
    assert!(
        row.starts_with("| ring self_conditioned k=8 30 iters, seeds 1,2 | 2 |"),
        "{row}"
    );
    assert!(row.contains(" ± "), "{row}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mixed_settings_and_bad_flags_are_refused_before_any_work() {
    let dir = scratch("refuse");
    let (a, b) = (dir.join("k8"), dir.join("k4"));
    ring_run(&a, 1, 8);
    ring_run(&b, 2, 4);
    let cases: [(&[&str], &[&Path], &str); 4] = [
        (&[], &[&a, &b], "has k 8"),
        (&[], &[&a, &a], "both seed 1"),
        (
            &["--kid-subset-size", "1"],
            &[&a],
            "--kid-subset-size: must be at least 2",
        ),
        (&["--is-weights", "/nonexistent.pth"], &[&a], "--is-weights"),
    ];
    for (args, runs, expected) in cases {
        let output = evaluate(args, runs);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!a.join("evaluation.json").exists() && !b.join("evaluation.json").exists());
    let missing = evaluate(&[], &[&dir.join("nothing")]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nothing/metrics.json"));
    std::fs::remove_dir_all(&dir).ok();
}

/// A finished CIFAR-10-like run: its metrics.json and `n` seeded uint8 samples.
fn image_run(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let metrics = r#"{"dataset": "cifar10", "labels": "self_conditioned", "k": 10, "seed": 0,
        "iterations": 5, "cluster_nmi": 0.25, "cluster_purity": 0.5, "cluster_ari": 0.125}"#;
    std::fs::write(dir.join("metrics.json"), metrics).unwrap();
    let pixels: Vec<u8> = (0..n * 32 * 32 * 3)
        .map(|i| ((i * 37 + i / 3072 * 101) % 251) as u8)
        .collect();
    selfcond_gan::npy::write(&dir.join("samples.npy"), &pixels, &[n, 32, 32, 3]).unwrap();
}

#[test]
fn image_runs_get_every_feature_metric_and_real_features_are_cached() {
    let dir = scratch("image");
    let run = dir.join("run");
    image_run(&run, 12);
    let real = dir.join("real");
    write_image_folder(&real, &[("a", 30), ("b", 200)], 6);
    // The cache lives beside the FID weights: a link to them in a fresh folder.
    let weights = dir.join("fid").join("default_1.pt");
    std::fs::create_dir_all(weights.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(selfcond_gan::metrics::fid::default_weights_path(), &weights)
        .unwrap();
    let is_weights = dir.join("is.pth");
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open("tests/fixtures/inception_fc_zip.pth.gz").unwrap(),
        ),
        &mut bytes,
    )
    .unwrap();
    std::fs::write(&is_weights, bytes).unwrap();
    let features = dir.join("features");
    let run_once = || {
        Command::new(example("evaluate"))
            .arg(&run)
            .args(["--real", real.to_str().unwrap(), "--is-weights"])
            .arg(&is_weights)
            .args([
                "--is-splits",
                "2",
                "--kid-subsets",
                "3",
                "--kid-subset-size",
                "6",
            ])
            .args(["--save-features", features.to_str().unwrap(), "--quiet"])
            .env("SELFCOND_FID_WEIGHTS", &weights)
            .output()
            .unwrap()
    };
    let first = run_once();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let evaluation = json(&run.join("evaluation.json"));
    for key in [
        "fid",
        "is_mean",
        "is_std",
        "kid_mean",
        "kid_std",
        "precision",
        "recall",
        "density",
        "coverage",
    ] {
        assert!(
            evaluation[key].as_f64().is_some_and(f64::is_finite),
            "{key}: {evaluation}"
        );
    }
    assert!(evaluation["fid"].as_f64().unwrap() > 0.0);
    assert!(evaluation["is_mean"].as_f64().unwrap() >= 1.0);
    assert_eq!(evaluation["cluster_nmi"], 0.25);
    assert_eq!(evaluation["real_count"], 12);
    for (file, rows) in [("real.npy", 12), ("fake.npy", 12)] {
        let array = selfcond_gan::npy::read(&features.join(file)).unwrap();
        assert_eq!(array.shape, [rows, 2048], "{file}");
    }
    let cached = std::fs::read_dir(dir.join("fid").join("features"))
        .unwrap()
        .count();
    assert_eq!(cached, 1, "one cached real set, no partial file left");

    let second = run_once();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("cached features"));
    let again = json(&run.join("evaluation.json"));
    for key in ["fid", "is_mean", "kid_mean", "precision", "coverage"] {
        assert_eq!(again[key], evaluation[key], "{key}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

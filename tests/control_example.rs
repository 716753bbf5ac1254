//! The `control` example on runs the training examples wrote: every subcommand writes its
//! files, and bad input is refused with a message, not a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::example;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("selfcond-control-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    dir
}

fn control(run: &Path, args: &[&str]) -> Output {
    Command::new(example("control"))
        .arg("--run")
        .arg(run)
        .args(args)
        .output()
        .expect("the control example is built by `cargo test`")
}

fn succeeded(output: &Output) -> bool {
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    output.status.success()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn control_on_a_ring_run() {
    let run = scratch("ring");
    let status = Command::new(example("ring"))
        .args(["--iters", "40", "--k", "8", "--recluster-every", "20"])
        .args(["--eval-samples", "500", "--train-points", "2000"])
        .args(["--cluster-points", "500", "--quiet", "--out"])
        .arg(&run)
        .status()
        .unwrap();
    assert!(status.success());
    let out = run.join("control");

    assert!(succeeded(&control(
        &run,
        &["sample", "--cluster", "2", "--n", "300"]
    )));
    assert!(out.join("sample.png").is_file() && out.join("sample.npy").is_file());
    assert!(succeeded(&control(&run, &["sefa"])));
    let sefa = json(&out.join("sefa.json"));
    assert_eq!(sefa["eigenvalues"].as_array().unwrap().len(), 2, "z is 2-d");
    assert!(succeeded(&control(&run, &["interpolate", "--pairs", "2"])));
    assert!(out.join("interpolate.png").is_file());

    let invert = control(
        &run,
        &[
            "invert",
            "--held-out",
            "40",
            "--starts",
            "2",
            "--steps",
            "20",
            "--candidates",
            "2",
        ],
    );
    assert!(succeeded(&invert));
    let summary = json(&out.join("invert.json"));
    assert_eq!(summary["points"], 40);
    let fraction = summary["mode_recovered_fraction"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&fraction));
    let before = summary["median_distance_sigmas_before"].as_f64().unwrap();
    let after = summary["median_distance_sigmas_after"].as_f64().unwrap();
    assert!(
        after <= before,
        "optimisation must not end worse than its start"
    );
    let latents = std::fs::read(out.join("latents.npy")).unwrap();
    assert!(String::from_utf8_lossy(&latents[..80]).contains("(40, 2)"));

    // Bad input: a cluster out of range, too many directions, images for a 2D model.
    for (args, expected) in [
        (&["sample", "--cluster", "8"][..], "out of range"),
        (&["sefa", "--directions", "3"][..], "directions"),
        (&["invert", "--images", "x.png"][..], "--held-out"),
    ] {
        let output = control(&run, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr.contains(expected) && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
    let missing = control(&run.join("nothing-here"), &["sample"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no checkpoint"));
    std::fs::remove_dir_all(&run).ok();
}

#[test]
fn control_on_an_image_run() {
    let base = scratch("images");
    for split in ["train", "test"] {
        common::write_image_folder(&base.join(split), &[("bird", 40), ("cat", 200)], 6);
    }
    let run = base.join("run");
    let status = Command::new(example("cifar10"))
        .args([
            "--width",
            "2",
            "--k",
            "3",
            "--recluster-every",
            "2",
            "--iters",
            "3",
        ])
        .args([
            "--cluster-images",
            "10",
            "--eval-samples",
            "4",
            "--batch-size",
            "4",
        ])
        .args(["--grid-every", "0", "--quiet", "--data-dir"])
        .arg(base.join("train"))
        .arg("--out")
        .arg(&run)
        .status()
        .unwrap();
    assert!(status.success());
    let out = run.join("control");

    assert!(succeeded(&control(&run, &["sample", "--n", "6"])));
    assert!(succeeded(&control(
        &run,
        &["sefa", "--directions", "2", "--latents", "2"]
    )));
    assert!(succeeded(&control(
        &run,
        &["interpolate", "--pairs", "1", "--steps", "3"]
    )));
    for file in [
        "sample.png",
        "sefa.png",
        "directions.npy",
        "interpolate.png",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let held_out = control(
        &run,
        &["invert", "--held-out", "4", "--starts", "2", "--steps", "3"],
    );
    assert!(succeeded(&held_out));
    let summary = json(&out.join("invert.json"));
    assert_eq!(summary["images"], 4);
    assert!(summary["mean_psnr_db_after"].as_f64().unwrap().is_finite());
    let one = base.join("test/cat/0001.png");
    let given = control(
        &run,
        &["invert", "--steps", "2", "--images", one.to_str().unwrap()],
    );
    assert!(succeeded(&given));
    assert_eq!(json(&out.join("invert.json"))["images"], 1);

    // An image of the wrong size or channel count is refused by name.
    let small = base.join("small.png");
    image::RgbImage::new(16, 16).save(&small).unwrap();
    let grey = base.join("grey.png");
    image::GrayImage::new(32, 32).save(&grey).unwrap();
    for file in [&small, &grey] {
        let output = control(&run, &["invert", "--images", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(
            stderr.contains("the model takes") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
    std::fs::remove_dir_all(&base).ok();
}

//! Smoke test of the `ring` example as a user runs it: a short run writes every promised file.

mod common;

use std::process::Command;

use common::example;

#[test]
fn ring_example_writes_metrics_samples_and_plots() {
    let out = std::env::temp_dir().join(format!("selfcond-ring-smoke-{}", std::process::id()));
    let status = Command::new(example("ring"))
        .args(["--iters", "30", "--k", "8", "--recluster-every", "10"])
        .args(["--eval-samples", "3000", "--train-points", "2000"])
        .args(["--cluster-points", "500", "--seed", "3", "--quiet", "--out"])
        .arg(&out)
        .status()
        .expect("the ring example is built by `cargo test`");
    assert!(status.success());

    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    for key in [
        "modes",
        "high_quality_fraction",
        "reverse_kl",
        "iterations",
        "seconds",
        "seed",
        "labels",
    ] {
        assert!(metrics.get(key).is_some(), "metrics.json lacks {key}");
    }
    assert_eq!(metrics["iterations"], 30);
    assert_eq!(metrics["seed"], 3);
    assert_eq!(metrics["labels"], "self_conditioned");

    let npy = std::fs::read(out.join("samples.npy")).unwrap();
    assert_eq!(&npy[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    assert!(String::from_utf8_lossy(&npy[10..10 + header_len]).contains("(3000, 2)"));
    assert_eq!(npy.len(), 10 + header_len + 3000 * 2 * 4);

    for png in ["samples.png", "clusters.png"] {
        let bytes = std::fs::read(out.join(png)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{png}");
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn bad_arguments_fail_cleanly() {
    let output = Command::new(example("ring"))
        .args(["--labels", "nonsense"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nonsense"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = Command::new(example("ring"))
        .args(["--iters", "1", "--radius=-1", "--quiet"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("radius") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// Writes a small MNIST look-alike (random digits, labels cycling 0..9) as IDX files.
fn fake_mnist(dir: &std::path::Path, n: usize) {
    use selfcond_gan::data::idx::encode_idx;
    std::fs::create_dir_all(dir).unwrap();
    let images: Vec<u8> = (0..n * 784).map(|i| ((i * 7919) % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    std::fs::write(
        dir.join("train-images-idx3-ubyte"),
        encode_idx(&[n, 28, 28], &images),
    )
    .unwrap();
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        encode_idx(&[n], &labels),
    )
    .unwrap();
}

#[test]
fn stacked_mnist_example_trains_resumes_and_writes_its_outputs() {
    let base = std::env::temp_dir().join(format!("selfcond-stacked-smoke-{}", std::process::id()));
    let (data, out) = (base.join("mnist"), base.join("run"));
    fake_mnist(&data, 200);
    let run = |extra: &[&str]| {
        Command::new(example("stacked_mnist"))
            .args(["--width", "4", "--k", "6", "--recluster-every", "4"])
            .args(["--cluster-images", "120", "--eval-samples", "50"])
            .args([
                "--train-images",
                "400",
                "--batch-size",
                "8",
                "--grid-every",
                "3",
            ])
            .args(["--checkpoint-every", "3", "--quiet", "--data-dir"])
            .arg(&data)
            .arg("--classifier")
            .arg(base.join("classifier.bpk"))
            .args(extra)
            .status()
            .expect("the stacked_mnist example is built by `cargo test`")
    };
    // With a weight average: it is checkpointed, resumed and sampled from.
    let first = [
        "--iters",
        "5",
        "--ema-decay",
        "0.9",
        "--out",
        out.to_str().unwrap(),
    ];
    assert!(run(&first).success());
    assert!(run(&["--iters", "7", "--resume", out.to_str().unwrap()]).success());

    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["iterations"], 7);
    assert_eq!(metrics["resumed_from"], 5);
    assert_eq!(
        metrics["ema_decay"], 0.9,
        "the resumed run keeps its average"
    );
    let averages = std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .join("generator_average.bpk")
                .is_file()
        })
        .count();
    assert!(averages > 0, "checkpoints carry the average");
    let modes = metrics["modes"].as_u64().unwrap();
    assert!((1..=50).contains(&modes), "{modes} modes among 50 samples");
    assert!(metrics["reverse_kl"].as_f64().unwrap() > 0.0);
    assert!(
        base.join("classifier.bpk").is_file(),
        "the classifier is cached"
    );
    let nmi = metrics["cluster_nmi"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&nmi));
    let npy = std::fs::read(out.join("samples.npy")).unwrap();
    let header_len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let header = String::from_utf8_lossy(&npy[10..10 + header_len]).to_string();
    assert!(
        header.contains("|u1") && header.contains("(50, 32, 32, 3)"),
        "{header}"
    );
    assert_eq!(npy.len(), 10 + header_len + 50 * 32 * 32 * 3);
    for png in [
        "samples.png",
        "clusters.png",
        "grids/iter-0000003.png",
        "grids/iter-0000006.png",
    ] {
        let bytes = std::fs::read(out.join(png)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{png}");
    }

    // No data: a message that says how to get it, not a panic.
    let output = Command::new(example("stacked_mnist"))
        .args(["--data-dir", "/nonexistent/mnist", "--quiet"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("fetch-mnist.sh") && !stderr.contains("panicked"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn cifar10_example_trains_on_an_image_folder() {
    let base = std::env::temp_dir().join(format!("selfcond-cifar-smoke-{}", std::process::id()));
    let (data, out) = (base.join("train"), base.join("run"));
    common::write_image_folder(&data, &[("bird", 40), ("cat", 200)], 12);
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
            "20",
            "--eval-samples",
            "10",
            "--batch-size",
            "4",
        ])
        .args(["--grid-every", "0", "--quiet", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .status()
        .expect("the cifar10 example is built by `cargo test`");
    assert!(status.success());
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["dataset"], "cifar10");
    assert!(
        metrics["modes"].is_null(),
        "modes are counted on Stacked-MNIST only"
    );
    assert!(metrics["cluster_nmi"].as_f64().is_some());
    for file in ["samples.npy", "samples.png", "clusters.png"] {
        assert!(out.join(file).is_file(), "{file}");
    }

    let output = Command::new(example("cifar10"))
        .args(["--data-dir", "/nonexistent/cifar", "--quiet"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("cifar-10-binary.tar.gz"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&base).ok();
}

/// Bad options are refused before any work, with the flag as typed; I/O errors name their path.
#[test]
fn ring_refuses_bad_options_before_any_work_naming_the_flag() {
    let out = std::env::temp_dir().join(format!("selfcond-ring-refused-{}", std::process::id()));
    let refused = |args: &[&str]| {
        let output = Command::new(example("ring"))
            .args(args)
            .args(["--quiet", "--iters", "5"])
            .output()
            .expect("the ring example is built by `cargo test`");
        assert!(!output.status.success(), "{args:?} must be refused");
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    let out_arg = out.to_str().unwrap();
    for (args, expected) in [
        (vec!["--k", "0"], "--k: must be at least 1"),
        (
            vec!["--eval-samples", "0"],
            "--eval-samples: must be at least 1",
        ),
        (
            vec!["--k", "60", "--cluster-points", "50"],
            "--cluster-points 50",
        ),
        (vec!["--ema-decay", "1.5"], "--ema-decay"),
        (vec!["--resume", "runs/anything"], "cannot be used with"),
    ] {
        let stderr = refused(&[args.as_slice(), &["--out", out_arg]].concat());
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} did work before refusing");
    }
    let stderr = refused(&["--out", "/proc/selfcond-nope"]);
    assert!(stderr.contains("/proc/selfcond-nope"), "{stderr}");
}

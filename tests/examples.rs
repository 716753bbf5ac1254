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

//! Fault injection: a training process killed (SIGKILL) at random moments, over and over, while
//! it writes checkpoints, loses nothing but the work since its last checkpoint. Every resume
//! starts from a complete checkpoint, and the finished run equals one that was never killed,
//! byte for byte.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Instant;

use common::example;
use rand::{Rng, SeedableRng};
use selfcond_gan::Checkpoint;

const RUN: [&str; 16] = [
    "--iters",
    "40",
    "--checkpoint-every",
    "4",
    "--k",
    "8",
    "--recluster-every",
    "10",
    "--eval-samples",
    "2000",
    "--train-points",
    "2000",
    "--cluster-points",
    "400",
    "--seed",
    "9",
];

fn spawn(args: &[&str], out: &Path) -> Child {
    Command::new(example("ring"))
        .args(args)
        .arg("--quiet")
        .arg(if args.contains(&"--resume") {
            "--iters"
        } else {
            "--out"
        })
        .arg(if args.contains(&"--resume") {
            "40".as_ref()
        } else {
            out.as_os_str()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the ring example is built by `cargo test`")
}

#[test]
fn runs_killed_at_random_moments_resume_to_the_same_result() {
    let base = std::env::temp_dir().join(format!("selfcond-faults-{}", std::process::id()));
    let (reference, killed) = (base.join("reference"), base.join("killed"));
    std::fs::remove_dir_all(&base).ok();

    let started = Instant::now();
    let status = spawn(&RUN, &reference).wait().unwrap();
    assert!(status.success());
    let clean_run = started.elapsed();

    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let killed_str = killed.to_str().unwrap().to_string();
    let resume = ["--resume", killed_str.as_str()];
    let (mut kills, mut resumed_at) = (0, Vec::new());
    let mut last_seen = 0;
    loop {
        // Before the first checkpoint lands there is nothing to resume: start afresh.
        let mut child = if resumed_at.is_empty() {
            spawn(&RUN, &killed)
        } else {
            spawn(&resume, &killed)
        };
        // Kill somewhere in the first quarter of a clean run's length (a resumed run has less left
        // to do): start-up, training, checkpoint writing and evaluation all get hit.
        let delay = clean_run.mul_f64(rng.random_range(0.02..0.25));
        sleep(delay);
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "a run that was not killed failed");
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
        // Whatever the moment of the kill, the newest checkpoint is complete and verified,
        // and never older than one seen before.
        if let Ok(checkpoint) = Checkpoint::open_latest(&killed) {
            assert!(checkpoint.iteration() >= last_seen);
            last_seen = checkpoint.iteration();
            resumed_at.push(last_seen);
        } else {
            assert!(
                !killed.join("checkpoints").join("LATEST").exists(),
                "LATEST exists but its checkpoint does not verify"
            );
        }
        if kills >= 10 {
            let status = spawn(&resume, &killed).wait().unwrap();
            assert!(status.success());
            break;
        }
    }
    eprintln!("{kills} kills; newest checkpoint after each: {resumed_at:?}");
    assert!(
        kills >= 5,
        "too few kills landed ({kills}) to test anything"
    );
    assert!(
        resumed_at.iter().any(|&i| i > 0 && i < 40),
        "no kill landed mid-training: {resumed_at:?}"
    );

    let a = std::fs::read(reference.join("samples.npy")).unwrap();
    let b = std::fs::read(killed.join("samples.npy")).unwrap();
    assert!(
        a == b,
        "samples.npy differs after {kills} kills ({resumed_at:?})"
    );
    let metrics = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap()
    };
    let (a, b) = (metrics(&reference), metrics(&killed));
    for key in ["modes", "high_quality_fraction", "reverse_kl", "iterations"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    std::fs::remove_dir_all(&base).ok();
}

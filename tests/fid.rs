//! The FID Inception against a reference forward pass computed outside the crate.
//!
//! `tests/fixtures/fid_features_16.npy` holds the 2048-d features of 16 CIFAR-10 JPEG test
//! images from the original TorchScript network run in PyTorch
//! (`scripts/fid_reference_features.py`; its JSON beside it records the files, the sha256 of
//! the decoded pixels and the versions). The weights come from `scripts/fetch-fid-weights.sh`
//! (`scripts/test.sh` runs it); the images from `data/cifar10` or `../shared/data`.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use burn::prelude::*;
use selfcond_gan::Error;
use selfcond_gan::data::folder::read_rgb_image;
use selfcond_gan::metrics::fid::{
    FID_FEATURE_DIM, FidExtractor, FidInception, default_weights_path, frechet_distance,
};
use selfcond_gan::npy;
use sha2::{Digest, Sha256};

fn weights() -> PathBuf {
    let path = default_weights_path();
    assert!(
        path.is_file(),
        "FID weights not found at {}: run scripts/fetch-fid-weights.sh",
        path.display()
    );
    path
}

/// The fixture's 16 JPEGs: from an unpacked `data/cifar10`, else out of the shared archive.
fn fixture_images(files: &[String]) -> (tempdir::Dir, PathBuf) {
    let unpacked = Path::new("data/cifar10");
    let scratch = tempdir::Dir::new("fid-fixture");
    if files.iter().all(|f| unpacked.join(f).is_file()) {
        return (scratch, unpacked.to_path_buf());
    }
    let archive = Path::new("../shared/data/cifar10-jpeg.tar.gz");
    assert!(
        archive.is_file(),
        "the fixture images come from CIFAR-10: unpack ../shared/data/cifar10-jpeg.tar.gz \
         into data/cifar10 or keep ../shared beside the checkout"
    );
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(archive)
        .arg("-C")
        .arg(scratch.path())
        .args(files)
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar could not extract the fixture images");
    let root = scratch.path().to_path_buf();
    (scratch, root)
}

mod tempdir {
    /// A directory removed when dropped.
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn features_match_the_reference_forward_pass_on_16_cifar_images() {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/fid_features_16.json").unwrap(),
    )
    .unwrap();
    let files: Vec<String> = meta["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    let (_scratch, root) = fixture_images(&files);
    let mut pixels = Vec::new();
    for file in &files {
        pixels.extend(read_rgb_image(&root.join(file), 32).unwrap());
    }
    // Same decoded pixels as the reference, so any difference below is the network's. JPEG
    // decoders differ, so the reference was fed these very pixels (see the script).
    let dump = std::env::temp_dir().join("selfcond-fid-fixture-pixels.npy");
    npy::write(&dump, &pixels, &[files.len(), 3, 32, 32]).unwrap();
    assert_eq!(
        format!("{:x}", Sha256::digest(&pixels)),
        meta["pixels_sha256"].as_str().unwrap(),
        "the JPEG decoder now yields other pixels: regenerate the fixture with \
         python scripts/fid_reference_features.py {} WEIGHTS tests/fixtures",
        dump.display()
    );

    let device = Device::default();
    let fid = FidExtractor::load(&weights(), &device).unwrap();
    let ours = fid.features(&pixels, [32, 32]).unwrap();
    let expected = npy::read(Path::new("tests/fixtures/fid_features_16.npy")).unwrap();
    assert_eq!(expected.shape, [files.len(), FID_FEATURE_DIM]);
    let expected = expected.to_f64();
    let mut worst: f64 = 0.0;
    for (i, (a, b)) in ours
        .chunks(FID_FEATURE_DIM)
        .zip(expected.chunks(FID_FEATURE_DIM))
        .enumerate()
    {
        let error: f64 = a
            .iter()
            .zip(b)
            .map(|(&a, b)| (a as f64 - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = b.iter().map(|b| b * b).sum::<f64>().sqrt();
        let relative = error / norm;
        worst = worst.max(relative);
        assert!(
            relative < 1e-4,
            "image {i} ({}): relative error {relative:e}",
            files[i]
        );
    }
    println!("worst relative error over 16 images: {worst:e}");
}

#[test]
fn foreign_or_broken_weight_files_are_typed_errors() {
    let device = Device::default();
    let scratch = tempdir::Dir::new("fid-bad-weights");
    let missing = scratch.path().join("absent.pt");
    assert!(matches!(
        FidInception::load(&missing, &device),
        Err(Error::MissingData { .. })
    ));

    let not_zip = scratch.path().join("not-zip.pt");
    std::fs::write(&not_zip, b"definitely not a zip").unwrap();
    assert!(matches!(
        FidInception::load(&not_zip, &device),
        Err(Error::BadDataFile { .. })
    ));

    // A well-formed TorchScript-like archive whose module holds one unrelated tensor.
    let foreign = scratch.path().join("foreign.pt");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&foreign).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut pickle = b"\x80\x02c__torch__.m\nNet\n)\x81}(\x8c\x06weight".to_vec();
    pickle.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((\x8c\x07storagectorch\nFloatStorage\n");
    pickle.extend(b"\x8c\x010\x8c\x03cpuK\x02tQK\x00K\x02\x85K\x01\x85\x89N\x85tRub.");
    zip.start_file("m/data.pkl", options).unwrap();
    zip.write_all(&pickle).unwrap();
    zip.start_file("m/data/0", options).unwrap();
    zip.write_all(&[0; 8]).unwrap();
    zip.finish().unwrap();
    match FidInception::load(&foreign, &device) {
        Err(Error::BadDataFile { reason, .. }) => {
            assert!(
                reason.contains("missing tensor net.layers.conv.weight"),
                "{reason}"
            )
        }
        other => panic!("expected BadDataFile, got {other:?}"),
    }

    // The real file cut short.
    let bytes = std::fs::read(weights()).unwrap();
    let truncated = scratch.path().join("truncated.pt");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        FidInception::load(&truncated, &device),
        Err(Error::BadDataFile { .. })
    ));
}

#[test]
fn images_of_the_wrong_size_are_refused() {
    let device = Device::default();
    let fid = FidExtractor::load(&weights(), &device).unwrap();
    assert!(matches!(
        fid.features(&[0u8; 3 * 32 * 32 + 1], [32, 32]),
        Err(Error::InputShape { .. })
    ));
    assert!(matches!(
        fid.statistics(&[0u8; 3 * 32 * 32], [32, 32], 0, |_| {}),
        Err(Error::InvalidConfig { .. })
    ));
}

#[test]
fn fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift() {
    let device = Device::default();
    let fid = FidExtractor::load(&weights(), &device).unwrap();
    let scratch = tempdir::Dir::new("fid-self");
    common::write_image_folder(scratch.path(), &[("a", 10), ("b", 200)], 6);
    let images = selfcond_gan::data::read_image_folder(scratch.path(), 32, None).unwrap();
    let pixels = &images.images.pixels;
    let real = fid.statistics(pixels, [32, 32], 5, |_| {}).unwrap();
    assert_eq!(real.count, 12);
    let same = frechet_distance(&real, &real).unwrap();
    let trace: f64 = real.covariance.iter().step_by(FID_FEATURE_DIM + 1).sum();
    println!("FID(A, A) = {same:e}, tr(S) = {trace}");
    assert!(same.abs() < 1e-5 * trace);
    let brighter: Vec<u8> = pixels.iter().map(|p| p.saturating_add(60)).collect();
    let shifted = fid.statistics(&brighter, [32, 32], 12, |_| {}).unwrap();
    assert!(frechet_distance(&real, &shifted).unwrap() > 1.0);
}

#[test]
fn fid_example_compares_a_folder_with_samples_and_caches_nothing_when_asked() {
    let scratch = tempdir::Dir::new("fid-example");
    let folder = scratch.path().join("real");
    common::write_image_folder(&folder, &[("a", 10), ("b", 200)], 3);
    // samples.npy as the image examples write it: uint8 [n, 32, 32, 3].
    let fake: Vec<u8> = (0..4 * 32 * 32 * 3).map(|i| (i * 7 % 256) as u8).collect();
    let run = scratch.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    npy::write(&run.join("samples.npy"), &fake, &[4, 32, 32, 3]).unwrap();
    let out = scratch.path().join("fid.json");
    let status = Command::new(common::example("fid"))
        .arg("--real")
        .arg(&folder)
        .arg("--fake")
        .arg(&run)
        .args(["--no-cache", "--batch-size", "3", "--save-fake-stats"])
        .arg(scratch.path().join("fake.npz"))
        .arg("--out")
        .arg(&out)
        .status()
        .expect("the fid example is built by `cargo test`");
    assert!(status.success());
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        (report["real_count"].as_u64(), report["fake_count"].as_u64()),
        (Some(6), Some(4))
    );
    let first = report["fid"].as_f64().unwrap();
    assert!(first.is_finite() && first > 0.0);

    // Saved statistics stand in for the images and give the same distance.
    let status = Command::new(common::example("fid"))
        .arg("--real")
        .arg(&folder)
        .arg("--fake")
        .arg(scratch.path().join("fake.npz"))
        .args(["--no-cache", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!((again["fid"].as_f64().unwrap() - first).abs() < 1e-9 * first.max(1.0));

    let output = Command::new(common::example("fid"))
        .args(["--real", "no/such/folder", "--fake"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not found") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

//! The Inception Score's weight reader on state dicts written by PyTorch's `torch.save`
//! (`scripts/make_inception_fixtures.py`): pytorch-fid's names and shapes, seeded values, in the
//! ZIP and the legacy container.

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use selfcond_gan::Error;
use selfcond_gan::metrics::inception_score::{INCEPTION_CLASSES, POOL_FEATURES};
use selfcond_gan::metrics::{Features, InceptionLogits};

/// The script's value at row `i`, column `j` of the flattened tensor.
fn pattern(i: usize, j: usize, seed: usize) -> f32 {
    ((i * 7 + j * 3 + seed) % 17) as f32 / 256.0 - 8.0 / 256.0
}

/// Unpacks `tests/fixtures/<name>.gz` into a temporary file of this test's own (`tag`).
fn unpacked(name: &str, tag: &str) -> PathBuf {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(format!("tests/fixtures/{name}.gz")).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    let path =
        std::env::temp_dir().join(format!("selfcond-is-{}-{tag}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn the_softmax_weights_are_read_from_both_containers_torch_save_writes() {
    let device = Device::default();
    for name in ["inception_fc_zip.pth", "inception_fc_legacy.pth"] {
        let path = unpacked(name, "read");
        let layer = InceptionLogits::load(&path, &device).unwrap();
        // Unit pool features pick out columns of fc.weight: logits[c] = W[c, j].
        let columns = [0, 1, 977, POOL_FEATURES - 1];
        let mut values = vec![0f32; columns.len() * POOL_FEATURES];
        for (row, &j) in columns.iter().enumerate() {
            values[row * POOL_FEATURES + j] = 1.0;
        }
        let features = Features::new(&values, POOL_FEATURES).unwrap();
        let logits = layer.logits(&features, 3).unwrap();
        for (row, &j) in columns.iter().enumerate() {
            for c in [0, 1, 500, INCEPTION_CLASSES - 1] {
                assert_eq!(
                    logits[row * INCEPTION_CLASSES + c],
                    pattern(c, j, 0),
                    "{name}: class {c}, feature {j}"
                );
            }
        }
        std::fs::remove_file(path).unwrap();
    }
}

#[test]
fn files_that_are_not_the_inception_state_dict_are_refused_naming_the_path() {
    let device = Device::default();
    let wrong_shape = unpacked("not_inception.pth", "refused");
    let error = InceptionLogits::load(&wrong_shape, &device).unwrap_err();
    assert!(
        matches!(&error, Error::BadDataFile { path, reason }
            if path == &wrong_shape && reason.contains("[10, 2048]")),
        "{error}"
    );

    let truncated = unpacked("inception_fc_zip.pth", "refused");
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let error = InceptionLogits::load(&truncated, &device).unwrap_err();
    assert!(
        matches!(&error, Error::BadDataFile { path, .. } if path == &truncated),
        "{error}"
    );

    let missing = Path::new("/nonexistent/pt_inception-2015-12-05-6726825d.pth");
    let error = InceptionLogits::load(missing, &device).unwrap_err();
    assert!(
        matches!(&error, Error::MissingData { path, hint }
            if path == missing && hint.contains("pytorch-fid") && hint.contains("--is-weights")),
        "{error}"
    );
    for path in [wrong_shape, truncated] {
        std::fs::remove_file(path).unwrap();
    }
}

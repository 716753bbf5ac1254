//! CIFAR-10 in the official binary layout: `data_batch_1.bin` ... `data_batch_5.bin` and
//! `test_batch.bin`, each a run of 3,073-byte records (a label byte, then 1,024 red, 1,024 green
//! and 1,024 blue bytes of a 32 x 32 image).

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

/// Bytes of one image, channel-major.
pub const CIFAR_IMAGE_BYTES: usize = 3 * 32 * 32;
const RECORD_BYTES: usize = 1 + CIFAR_IMAGE_BYTES;
/// Classes of CIFAR-10.
pub const CIFAR_CLASSES: usize = 10;

/// Images and labels of one or more CIFAR-10 batches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CifarImages {
    /// `[n, 3, 32, 32]` bytes, channel-major as in the files.
    pub pixels: Vec<u8>,
    /// `n` labels in `0..10`.
    pub labels: Vec<u8>,
}

impl CifarImages {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Which part of CIFAR-10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarSplit {
    /// The five training batches, 50,000 images.
    Train,
    /// The test batch, 10,000 images.
    Test,
}

/// Reads a split from a directory holding the official binary files.
pub fn read_cifar10(dir: &Path, split: CifarSplit) -> Result<CifarImages> {
    let names: Vec<String> = match split {
        CifarSplit::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        CifarSplit::Test => vec!["test_batch.bin".into()],
    };
    let mut all = CifarImages::default();
    for name in names {
        let part = read_cifar_batch(&dir.join(&name))?;
        all.pixels.extend(part.pixels);
        all.labels.extend(part.labels);
    }
    Ok(all)
}

/// Reads one binary batch file.
pub fn read_cifar_batch(path: &Path) -> Result<CifarImages> {
    let bytes = fs::read(path).map_err(|e| Error::BadDataFile {
        path: path.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })?;
    parse_cifar_batch(&bytes).map_err(|reason| Error::BadDataFile {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses the bytes of one batch file; the error is a sentence saying what is wrong.
pub fn parse_cifar_batch(bytes: &[u8]) -> std::result::Result<CifarImages, String> {
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(format!(
            "{} bytes is not a whole number of {RECORD_BYTES}-byte records (truncated, or not the \
             binary layout: the Python pickles are not read)",
            bytes.len()
        ));
    }
    let n = bytes.len() / RECORD_BYTES;
    let mut images = CifarImages {
        pixels: Vec::with_capacity(n * CIFAR_IMAGE_BYTES),
        labels: Vec::with_capacity(n),
    };
    for (i, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = record[0];
        if label as usize >= CIFAR_CLASSES {
            return Err(format!(
                "record {i} has label {label}; CIFAR-10 labels are 0..9 (is this CIFAR-100?)"
            ));
        }
        images.labels.push(label);
        images.pixels.extend_from_slice(&record[1..]);
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: u8, fill: u8) -> Vec<u8> {
        let mut r = vec![label];
        r.extend(std::iter::repeat_n(fill, CIFAR_IMAGE_BYTES));
        r
    }

    #[test]
    fn reads_records_in_order() {
        let bytes = [record(3, 7), record(9, 1)].concat();
        let images = parse_cifar_batch(&bytes).unwrap();
        assert_eq!(images.labels, vec![3, 9]);
        assert_eq!(images.len(), 2);
        assert_eq!(images.pixels[CIFAR_IMAGE_BYTES - 1], 7);
        assert_eq!(images.pixels[CIFAR_IMAGE_BYTES], 1);
    }

    #[test]
    fn bad_files_are_described() {
        let bytes = [record(3, 7), record(9, 1)].concat();
        for (input, expected) in [
            (&bytes[..0], "empty"),
            (&bytes[..bytes.len() - 5], "whole number"),
            (&record(42, 0)[..], "label 42"),
        ] {
            let error = parse_cifar_batch(input).unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
        let dir = std::env::temp_dir().join(format!("selfcond-cifar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("test_batch.bin"), &bytes[..100]).unwrap();
        match read_cifar10(&dir, CifarSplit::Test) {
            Err(Error::BadDataFile { path, reason }) => {
                assert!(path.ends_with("test_batch.bin") && reason.contains("whole number"));
            }
            other => panic!("expected a bad file, got {other:?}"),
        }
        assert!(matches!(
            read_cifar10(&dir, CifarSplit::Train),
            Err(Error::BadDataFile { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}

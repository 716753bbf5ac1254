//! Fuzzing the data readers (proptest): arbitrary bytes, damaged valid files and hostile
//! headers give an error sentence, never a panic or an allocation bomb. `PROPTEST_CASES`
//! raises the number of inputs tried.

use flate2::read::GzDecoder;
use proptest::prelude::*;
use selfcond_gan::data::cifar::{CIFAR_IMAGE_BYTES, parse_cifar_batch};
use selfcond_gan::data::idx::{encode_idx, parse_idx};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(2000),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn idx_reader_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(array) = parse_idx(bytes.as_slice()) {
            prop_assert_eq!(array.data.len(), array.dims.iter().product::<usize>());
        }
        let _ = parse_idx(GzDecoder::new(bytes.as_slice()));
    }

    #[test]
    fn idx_reader_checks_declared_sizes(
        dims in prop::collection::vec(any::<u32>(), 1..5),
        payload in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let dims: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        let bytes = encode_idx(&dims, &payload);
        let declared = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        match parse_idx(bytes.as_slice()) {
            Ok(array) => {
                prop_assert_eq!(Some(payload.len()), declared);
                prop_assert_eq!(array.data, payload);
            }
            Err(_) => prop_assert_ne!(Some(payload.len()), declared),
        }
    }

    #[test]
    fn idx_reader_survives_damaged_files(
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
        keep in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode_idx(&[3, 4, 5], &[7; 60]);
        let len = bytes.len();
        bytes[at.index(len)] = value;
        bytes.truncate(keep.index(len + 1).max(1));
        if let Ok(array) = parse_idx(bytes.as_slice()) {
            prop_assert_eq!(array.data.len(), array.dims.iter().product::<usize>());
        }
    }

    #[test]
    fn cifar_reader_survives_arbitrary_bytes(
        records in 0usize..3,
        extra in 0usize..4,
        labels in prop::collection::vec(any::<u8>(), 3),
        fill in any::<u8>(),
    ) {
        let mut bytes = Vec::new();
        for label in labels.iter().take(records) {
            bytes.push(*label);
            bytes.extend(std::iter::repeat_n(fill, CIFAR_IMAGE_BYTES));
        }
        bytes.extend(std::iter::repeat_n(fill, extra));
        let valid = records > 0 && extra == 0 && labels.iter().take(records).all(|&l| l < 10);
        match parse_cifar_batch(&bytes) {
            Ok(images) => {
                prop_assert!(valid);
                prop_assert_eq!(images.len(), records);
                prop_assert_eq!(images.pixels.len(), records * CIFAR_IMAGE_BYTES);
            }
            Err(_) => prop_assert!(!valid),
        }
    }
}

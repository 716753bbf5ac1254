//! The IDX format of the MNIST files (`train-images-idx3-ubyte` and friends), raw or gzipped.
//!
//! An IDX file is a 4-byte magic number (two zero bytes, an element-type code, the number of
//! dimensions), one big-endian `u32` per dimension, then the elements. Only unsigned bytes
//! (type `0x08`), MNIST's type, are read. The declared size is checked against the bytes that
//! follow before anything large is allocated, so a hostile header cannot exhaust memory.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;

use crate::error::{Error, Result};

/// Largest payload accepted: far above MNIST's 47 MB, far below an allocation bomb.
pub const MAX_IDX_BYTES: usize = 1 << 30;

/// An n-dimensional array of bytes read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first (`[60000, 28, 28]` for MNIST's training images).
    pub dims: Vec<usize>,
    /// Elements in row-major order.
    pub data: Vec<u8>,
}

/// Reads an IDX file, gunzipping it first when its name ends in `.gz`.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let bad = |reason: String| Error::BadDataFile {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    let reader: Box<dyn Read> = if gz {
        Box::new(GzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    parse_idx(reader).map_err(bad)
}

/// Parses IDX bytes from `reader`; the error is a sentence saying what is wrong.
pub fn parse_idx(mut reader: impl Read) -> std::result::Result<IdxArray, String> {
    let mut magic = [0u8; 4];
    reader
        .read_exact(&mut magic)
        .map_err(|e| format!("no IDX header ({e})"))?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(format!(
            "wrong magic number {:02x}{:02x}{:02x}{:02x}: not an IDX file",
            magic[0], magic[1], magic[2], magic[3]
        ));
    }
    if magic[2] != 0x08 {
        return Err(format!(
            "element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
            magic[2]
        ));
    }
    let rank = magic[3] as usize;
    if rank == 0 {
        return Err("zero dimensions".into());
    }
    let mut dims = Vec::with_capacity(rank);
    for _ in 0..rank {
        let mut word = [0u8; 4];
        reader
            .read_exact(&mut word)
            .map_err(|_| format!("truncated header: {rank} dimensions declared"))?;
        dims.push(u32::from_be_bytes(word) as usize);
    }
    let declared = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_IDX_BYTES)
        .ok_or_else(|| {
            format!("declared size {dims:?} is too large (limit {MAX_IDX_BYTES} bytes)")
        })?;
    // Read at most one byte more than declared: enough to tell "too long" without trusting it.
    let mut data = Vec::new();
    reader
        .take(declared as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("unreadable data ({e})"))?;
    match data.len().cmp(&declared) {
        std::cmp::Ordering::Less => Err(format!(
            "truncated: header declares {dims:?} = {declared} bytes, file holds {}",
            data.len()
        )),
        std::cmp::Ordering::Greater => Err(format!(
            "size mismatch: more data than the {declared} bytes the header declares"
        )),
        std::cmp::Ordering::Equal => Ok(IdxArray { dims, data }),
    }
}

/// Encodes bytes as an IDX file (for tests and tools that write MNIST-like data).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        bytes.extend((d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_gzip() {
        let data: Vec<u8> = (0..24).collect();
        let bytes = encode_idx(&[2, 3, 4], &data);
        let array = parse_idx(bytes.as_slice()).unwrap();
        assert_eq!(array.dims, vec![2, 3, 4]);
        assert_eq!(array.data, data);

        let dir = std::env::temp_dir().join(format!("selfcond-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x-idx3-ubyte.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &bytes).unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        assert_eq!(read_idx(&path).unwrap(), array);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_files_are_described() {
        let good = encode_idx(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "no IDX header"),
            (b"\x1f\x8b\x08\x03".to_vec(), "wrong magic"),
            (vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], "element type"),
            (vec![0, 0, 8, 0], "zero dimensions"),
            (good[..6].to_vec(), "truncated header"),
            (good[..good.len() - 1].to_vec(), "truncated"),
            ([good.clone(), vec![9]].concat(), "size mismatch"),
            // 2^32 - 1 cubed: an allocation bomb, refused before any allocation.
            (
                vec![
                    0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                ],
                "too large",
            ),
        ];
        for (bytes, expected) in cases {
            let error = parse_idx(bytes.as_slice()).unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
        let missing = read_idx(Path::new("/nonexistent/train-images-idx3-ubyte"));
        assert!(matches!(missing, Err(Error::BadDataFile { .. })));
    }
}

//! Arrays in NumPy's `.npy` format, through the `ndarray-npy` crate: written as NumPy writes
//! them (format 1.0, C order, little-endian, the header padded to 64 bytes), read in either
//! byte order and memory order.

use std::path::Path;

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ndarray_npy::{ReadNpyError, ReadNpyExt, ReadableElement, WritableElement, WriteNpyExt};

use crate::error::{Error, Result};

/// Element types the writer supports: `f32`, `f64`, `u8` and `i64`.
pub trait NpyElement: WritableElement + Copy {}

impl NpyElement for f32 {}
impl NpyElement for f64 {}
impl NpyElement for u8 {}
impl NpyElement for i64 {}

/// Encodes `values` (row-major, C order) with `shape` as `.npy` bytes.
pub fn encode<T: NpyElement>(values: &[T], shape: &[usize]) -> Result<Vec<u8>> {
    let expected: usize = shape.iter().product();
    let array =
        ArrayViewD::from_shape(IxDyn(shape), values).map_err(|_| Error::DimensionMismatch {
            what: "npy values vs shape",
            expected,
            got: values.len(),
        })?;
    let mut bytes = Vec::with_capacity(128 + std::mem::size_of_val(values));
    array.write_npy(&mut bytes).map_err(|e| Error::Encoding {
        format: ".npy",
        reason: e.to_string(),
    })?;
    Ok(bytes)
}

/// Writes `values` with `shape` to `path` as `.npy`.
pub fn write<T: NpyElement>(path: &Path, values: &[T], shape: &[usize]) -> Result<()> {
    let bytes = encode(values, shape)?;
    std::fs::write(path, bytes).map_err(Error::io(path))
}

/// An array read from `.npy` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Sizes of each dimension (empty for a scalar).
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: NpyData,
}

/// The element types [`decode`] reads.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NpyData {
    /// `|u1`
    U8(Vec<u8>),
    /// `<f4` or `>f4`
    F32(Vec<f32>),
    /// `<f8` or `>f8`
    F64(Vec<f64>),
    /// `<i8` or `>i8`
    I64(Vec<i64>),
}

impl NpyArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f64, whatever their stored type.
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            NpyData::U8(v) => v.iter().map(|&x| x.into()).collect(),
            NpyData::F32(v) => v.iter().map(|&x| x.into()).collect(),
            NpyData::F64(v) => v.clone(),
            NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
}

/// The array in `bytes` if its elements are `T`; `None` when they are of another type.
fn read_as<T: ReadableElement>(bytes: &[u8]) -> std::result::Result<Option<ArrayD<T>>, String> {
    match ArrayD::<T>::read_npy(bytes) {
        Ok(array) => Ok(Some(array)),
        Err(ReadNpyError::WrongDescriptor(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// `array`'s values in row-major order, whatever the file's memory order.
fn row_major<T: Copy>(array: ArrayD<T>, data: fn(Vec<T>) -> NpyData) -> NpyArray {
    NpyArray {
        shape: array.shape().to_vec(),
        data: data(array.iter().copied().collect()),
    }
}

/// Parses `.npy` bytes of `u8`, `f32`, `f64` or `i64` elements; other element types and
/// malformed files are refused with a message saying why.
pub fn decode(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    if let Some(array) = read_as::<f32>(bytes)? {
        return Ok(row_major(array, NpyData::F32));
    }
    if let Some(array) = read_as::<u8>(bytes)? {
        return Ok(row_major(array, NpyData::U8));
    }
    if let Some(array) = read_as::<f64>(bytes)? {
        return Ok(row_major(array, NpyData::F64));
    }
    if let Some(array) = read_as::<i64>(bytes)? {
        return Ok(row_major(array, NpyData::I64));
    }
    let descr = match ArrayD::<f32>::read_npy(bytes) {
        Err(ReadNpyError::WrongDescriptor(descr)) => descr.to_string(),
        _ => "?".into(),
    };
    Err(format!(
        "unsupported element type {descr} (u8, f32, f64 and i64 are read)"
    ))
}

/// Reads a `.npy` file; a malformed one is [`Error::BadDataFile`].
pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    decode(&bytes).map_err(|reason| Error::BadDataFile {
        path: path.to_path_buf(),
        reason,
    })
}

/// Reads a float32 matrix `[rows, columns]` (with `columns` when given), returning its values
/// row-major and its shape; anything else is [`Error::BadDataFile`] saying what was found.
pub fn read_f32_matrix(path: &Path, columns: Option<usize>) -> Result<(Vec<f32>, [usize; 2])> {
    let array = read(path)?;
    let expected = columns.map_or("D".to_string(), |c| c.to_string());
    let reason = match (array.data, array.shape.as_slice()) {
        (NpyData::F32(values), &[rows, width]) if columns.is_none_or(|c| c == width) => {
            return Ok((values, [rows, width]));
        }
        (NpyData::F32(_), shape) => {
            format!("expected float32 [N, {expected}], got shape {shape:?}")
        }
        (other, _) => format!(
            "expected float32 [N, {expected}], got {} values",
            match other {
                NpyData::U8(_) => "uint8",
                NpyData::F64(_) => "float64",
                NpyData::I64(_) => "int64",
                _ => "other",
            }
        ),
    };
    Err(Error::BadDataFile {
        path: path.to_path_buf(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reads_back_what_encode_wrote() {
        let bytes = encode(&[1.5f64, -2.0, 3.25, 4.0], &[2, 2]).unwrap();
        let array = decode(&bytes).unwrap();
        assert_eq!(array.shape, [2, 2]);
        assert_eq!(array.data, NpyData::F64(vec![1.5, -2.0, 3.25, 4.0]));
        let scalar = decode(&encode(&[7i64], &[]).unwrap()).unwrap();
        assert_eq!((scalar.shape.len(), scalar.to_f64()), (0, vec![7.0]));
        let pixels = decode(&encode(&[1u8, 2, 3], &[1, 3]).unwrap()).unwrap();
        assert_eq!(pixels.data, NpyData::U8(vec![1, 2, 3]));
        let floats = decode(&encode(&[0.5f32, -1.0], &[2]).unwrap()).unwrap();
        assert_eq!(floats.data, NpyData::F32(vec![0.5, -1.0]));
        assert!(decode(&bytes[..bytes.len() - 1]).is_err(), "truncated");
        assert!(
            decode(&[bytes.as_slice(), &[0]].concat()).is_err(),
            "trailing bytes"
        );
        assert!(decode(b"\x93NUMPY\x09\x00").is_err(), "unknown version");
        let mut other_type = bytes.clone();
        let at = other_type.windows(3).position(|w| w == b"<f8").unwrap();
        other_type[at + 1] = b'i';
        other_type[at + 2] = b'2';
        assert!(decode(&other_type).unwrap_err().contains("i2"));
    }

    #[test]
    fn big_endian_and_fortran_order_read_in_row_major_order() {
        // NumPy: np.array([[1, 2, 3], [4, 5, 6]], dtype='>f4', order='F').
        let header = "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let padded = format!("{header:<117}\n");
        bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        bytes.extend_from_slice(padded.as_bytes());
        for v in [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        let array = decode(&bytes).unwrap();
        assert_eq!(array.shape, [2, 3]);
        assert_eq!(array.data, NpyData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    }

    #[test]
    fn header_is_aligned_and_describes_the_array() {
        let bytes = encode(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.contains("'descr': '<f4'"));
        assert!(header.contains("'fortran_order': False"));
        assert!(header.contains("'shape': (3, 2)"));
        assert!(header.ends_with('\n'));
        let data = &bytes[10 + header_len..];
        assert_eq!(data.len(), 24);
        assert_eq!(f32::from_le_bytes(data[20..24].try_into().unwrap()), 6.0);

        let one_d = encode(&[7u8, 8, 9], &[3]).unwrap();
        let header = String::from_utf8_lossy(&one_d[10..]);
        assert!(header.contains("'shape': (3,)") && header.contains("'|u1'"));
        assert!(matches!(
            encode(&[1.0f32], &[2, 2]),
            Err(Error::DimensionMismatch { .. })
        ));
    }
}

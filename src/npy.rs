//! Writing arrays in NumPy's `.npy` format (version 1.0), readable by `numpy.load`, and reading
//! the little-endian, C-order arrays NumPy writes (versions 1 to 3).

use std::path::Path;

use crate::error::{Error, Result};

/// Element types the writer supports.
pub trait NpyElement: Copy {
    /// NumPy's type descriptor, e.g. `<f4`.
    const DESCR: &'static str;
    /// Little-endian bytes of one value.
    fn write_le(self, out: &mut Vec<u8>);
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for u8 {
    const DESCR: &'static str = "|u1";
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for i64 {
    const DESCR: &'static str = "<i8";
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Encodes `values` (row-major, C order) with `shape` as `.npy` bytes.
pub fn encode<T: NpyElement>(values: &[T], shape: &[usize]) -> Result<Vec<u8>> {
    let expected: usize = shape.iter().product();
    if expected != values.len() {
        return Err(Error::DimensionMismatch {
            what: "npy values vs shape",
            expected,
            got: values.len(),
        });
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        T::DESCR,
        shape_text
    );
    // Magic (6) + version (2) + header length (2) + header + '\n', padded to 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');

    let mut out = Vec::with_capacity(10 + header.len() + values.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in values {
        v.write_le(&mut out);
    }
    Ok(out)
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
    /// `<f4`
    F32(Vec<f32>),
    /// `<f8`
    F64(Vec<f64>),
    /// `<i8`
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

/// Parses `.npy` bytes; big-endian, Fortran-order and other element types are refused with a
/// message saying which.
pub fn decode(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (bad magic)".into());
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        version => return Err(format!("unsupported .npy version {version}")),
    };
    let data_start = header_start + header_len;
    let header = bytes
        .get(header_start..data_start)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated or non-text header")?;
    let field = |key: &str| -> std::result::Result<&str, String> {
        let at = header
            .find(&format!("'{key}':"))
            .ok_or(format!("header has no '{key}'"))?;
        Ok(header[at + key.len() + 3..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("malformed descr")?;
    if !field("fortran_order")?.starts_with("False") {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape_text = field("shape")?;
    let shape_text = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("malformed shape")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|e| format!("shape entry {s}: {e}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("shape overflows")?;
    let body = &bytes[data_start.min(bytes.len())..];
    let width = match descr {
        "|u1" => 1,
        "<f4" => 4,
        "<f8" | "<i8" => 8,
        other => return Err(format!("unsupported element type {other}")),
    };
    if count.checked_mul(width) != Some(body.len()) {
        return Err(format!(
            "shape {shape:?} needs {count} x {width} bytes, the file holds {}",
            body.len()
        ));
    }
    let data = match descr {
        "|u1" => NpyData::U8(body.to_vec()),
        "<f4" => NpyData::F32(
            body.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        "<f8" => NpyData::F64(
            body.chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))
                .collect(),
        ),
        _ => NpyData::I64(
            body.chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap_or_default()))
                .collect(),
        ),
    };
    Ok(NpyArray { shape, data })
}

/// Reads a `.npy` file; a malformed one is [`Error::BadDataFile`].
pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    decode(&bytes).map_err(|reason| Error::BadDataFile {
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
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode(b"\x93NUMPY\x09\x00").is_err());
        let mut big_endian = bytes.clone();
        let at = big_endian.windows(3).position(|w| w == b"<f8").unwrap();
        big_endian[at] = b'>';
        assert!(decode(&big_endian).unwrap_err().contains(">f8"));
    }

    #[test]
    fn header_is_aligned_and_describes_the_array() {
        let bytes = encode(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.contains("'descr': '<f4'"));
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

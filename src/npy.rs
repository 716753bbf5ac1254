//! Writing arrays in NumPy's `.npy` format (version 1.0), readable by `numpy.load`.

use std::io::Write;
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
    let mut file = std::fs::File::create(path)?;
    file.write_all(&bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

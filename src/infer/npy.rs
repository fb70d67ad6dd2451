//! Array files for embeddings: NumPy `.npy` (format version 1.0) and `.safetensors`,
//! written without external crates.
//!
//! # NPY 1.0
//! The 6-byte magic `\x93NUMPY`, the version bytes `1, 0`, a little-endian `u16` header
//! length, then an ASCII Python dict literal
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }` padded with spaces and a
//! final newline so that magic + version + length + header is a multiple of 64 bytes,
//! then the values, little-endian, C order.
//!
//! # safetensors
//! A little-endian `u64` header length, a JSON header mapping each tensor name to
//! `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets into the data section),
//! padded with spaces to a multiple of 8 bytes, then the tensors' bytes.

/// A little-endian element type of an array file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit float (`<f4`, `F32`).
    F32,
    /// 64-bit signed integer (`<i8`, `I64`).
    I64,
}

impl Dtype {
    /// The NumPy `descr` string.
    pub fn npy_descr(self) -> &'static str {
        match self {
            Self::F32 => "<f4",
            Self::I64 => "<i8",
        }
    }

    /// The safetensors `dtype` string.
    pub fn safetensors_name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::I64 => "I64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::I64 => 8,
        }
    }
}

/// A named array: element type, shape and little-endian bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Element type.
    pub dtype: Dtype,
    /// Shape (C order).
    pub shape: Vec<usize>,
    /// `shape.product() * dtype.size()` little-endian bytes.
    pub bytes: Vec<u8>,
}

impl Array {
    /// A float array.
    ///
    /// # Panics
    /// When `values.len()` is not the product of `shape`.
    pub fn f32(shape: &[usize], values: &[f32]) -> Self {
        assert_eq!(
            values.len(),
            shape.iter().product::<usize>(),
            "shape/value mismatch"
        );
        Self {
            dtype: Dtype::F32,
            shape: shape.to_vec(),
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// A 64-bit integer array.
    ///
    /// # Panics
    /// When `values.len()` is not the product of `shape`.
    pub fn i64(shape: &[usize], values: &[i64]) -> Self {
        assert_eq!(
            values.len(),
            shape.iter().product::<usize>(),
            "shape/value mismatch"
        );
        Self {
            dtype: Dtype::I64,
            shape: shape.to_vec(),
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// The bytes of an NPY 1.0 file holding `array`.
pub fn npy_bytes(array: &Array) -> Vec<u8> {
    let shape = match array.shape.as_slice() {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        array.dtype.npy_descr()
    );
    // magic (6) + version (2) + header length (2) + header + '\n' = multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let len = u16::try_from(header.len()).expect("NPY 1.0 headers are short");
    let mut out = Vec::with_capacity(10 + header.len() + array.bytes.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&array.bytes);
    out
}

/// The bytes of a safetensors file holding `tensors` (names in the given order).
pub fn safetensors_bytes(tensors: &[(&str, &Array)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, array) in tensors {
        let end = offset + array.bytes.len();
        header.insert(
            (*name).to_string(),
            serde_json::json!({"dtype": array.dtype.safetensors_name(),
                "shape": array.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut text = serde_json::Value::Object(header).to_string();
    text.push_str(&" ".repeat(text.len().next_multiple_of(8) - text.len()));
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    for (_, array) in tensors {
        out.extend_from_slice(&array.bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_parsable() {
        let bytes = npy_bytes(&Array::f32(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + len + 24);
        assert_eq!(&bytes[10 + len + 4..10 + len + 8], &1.0f32.to_le_bytes());
        let labels = npy_bytes(&Array::i64(&[3], &[7, 8, 9]));
        let len = u16::from_le_bytes([labels[8], labels[9]]) as usize;
        let header = std::str::from_utf8(&labels[10..10 + len]).unwrap();
        assert!(header.contains("'descr': '<i8'") && header.contains("'shape': (3,)"));
    }

    #[test]
    fn safetensors_layout() {
        let a = Array::f32(&[1, 2], &[1.0, 2.0]);
        let b = Array::i64(&[1], &[5]);
        let bytes = safetensors_bytes(&[("embeddings", &a), ("labels", &b)]);
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        assert_eq!(
            header["embeddings"]["data_offsets"],
            serde_json::json!([0, 8])
        );
        assert_eq!(header["labels"]["dtype"], "I64");
        assert_eq!(bytes.len(), 8 + n + 16);
        assert_eq!(&bytes[8 + n + 8..], &5i64.to_le_bytes());
    }
}

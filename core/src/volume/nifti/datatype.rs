//! NIfTI datatype codes: which ones we decode and how many bytes each voxel takes.

use crate::volume::error::VolumeError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl DataType {
    pub fn from_code(code: i32) -> Result<Self, VolumeError> {
        Ok(match code {
            2 => Self::U8,
            256 => Self::I8,
            4 => Self::I16,
            512 => Self::U16,
            8 => Self::I32,
            768 => Self::U32,
            1024 => Self::I64,
            1280 => Self::U64,
            16 => Self::F32,
            64 => Self::F64,
            _ => {
                return Err(VolumeError::UnsupportedDatatype {
                    code,
                    name: code_name(code),
                })
            }
        })
    }

    pub fn code(self) -> i32 {
        match self {
            Self::U8 => 2,
            Self::I8 => 256,
            Self::I16 => 4,
            Self::U16 => 512,
            Self::I32 => 8,
            Self::U32 => 768,
            Self::I64 => 1024,
            Self::U64 => 1280,
            Self::F32 => 16,
            Self::F64 => 64,
        }
    }

    pub fn bytes(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::I64 | Self::U64 | Self::F64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        code_name(self.code())
    }
}

/// Human name of any NIfTI datatype code, supported or not, for error messages.
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "unknown",
        1 => "binary",
        2 => "uint8",
        4 => "int16",
        8 => "int32",
        16 => "float32",
        32 => "complex64",
        64 => "float64",
        128 => "rgb24",
        255 => "all",
        256 => "int8",
        512 => "uint16",
        768 => "uint32",
        1024 => "int64",
        1280 => "uint64",
        1536 => "float128",
        1792 => "complex128",
        2048 => "complex256",
        2304 => "rgba32",
        _ => "not a NIfTI datatype",
    }
}

/// Decodes raw voxels to f32, applying `value * slope + inter` in f64 when `scale` is set,
/// so that integer data with a fractional slope is not rounded twice.
pub fn decode(dt: DataType, raw: &[u8], big_endian: bool, scale: Option<(f64, f64)>) -> Vec<f32> {
    macro_rules! conv {
        ($t:ty, $n:expr) => {{
            raw.chunks_exact($n)
                .map(|c| {
                    let mut b = [0u8; $n];
                    b.copy_from_slice(c);
                    let v = if big_endian {
                        <$t>::from_be_bytes(b)
                    } else {
                        <$t>::from_le_bytes(b)
                    };
                    match scale {
                        Some((s, i)) => (v as f64 * s + i) as f32,
                        None => v as f32,
                    }
                })
                .collect()
        }};
    }
    match dt {
        DataType::U8 => conv!(u8, 1),
        DataType::I8 => conv!(i8, 1),
        DataType::I16 => conv!(i16, 2),
        DataType::U16 => conv!(u16, 2),
        DataType::I32 => conv!(i32, 4),
        DataType::U32 => conv!(u32, 4),
        DataType::I64 => conv!(i64, 8),
        DataType::U64 => conv!(u64, 8),
        DataType::F32 => conv!(f32, 4),
        DataType::F64 => conv!(f64, 8),
    }
}

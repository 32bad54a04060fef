//! A minimal safetensors reader/writer for the two things burn-store does not do for us:
//! dropping tensors a deployment does not need, and storing weights as f16 (half the
//! download) while every device still computes in f32.

use std::collections::BTreeMap;

use half::f16;
use serde_json::{Map, Value};

use super::BundleError;

/// One tensor: dtype name ("F32", "F16", ...), shape and raw little-endian bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTensor {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// Tensors by name, plus the free-form `__metadata__` map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawTensors {
    pub tensors: BTreeMap<String, RawTensor>,
    pub metadata: Map<String, Value>,
}

fn bad(msg: impl Into<String>) -> BundleError {
    BundleError::Weights(msg.into())
}

impl RawTensors {
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() < 8 {
            return Err(bad(
                "safetensors data shorter than its 8-byte header length",
            ));
        }
        let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let n = usize::try_from(n)
            .ok()
            // Not `8 + n`: a header length near u64::MAX overflowed (found by fuzz/weights).
            .filter(|&n| n <= bytes.len() - 8)
            .ok_or_else(|| bad("safetensors header runs past the end"))?;
        let header: Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n])
            .map_err(|e| bad(format!("safetensors header: {e}")))?;
        let data = &bytes[8 + n..];
        let mut out = RawTensors::default();
        for (name, entry) in header {
            if name == "__metadata__" {
                out.metadata = entry.as_object().cloned().unwrap_or_default();
                continue;
            }
            let dtype = entry["dtype"]
                .as_str()
                .ok_or_else(|| bad(format!("{name}: no dtype")))?
                .to_string();
            let shape = entry["shape"]
                .as_array()
                .ok_or_else(|| bad(format!("{name}: no shape")))?
                .iter()
                .map(|d| {
                    d.as_u64()
                        .map(|d| d as usize)
                        .ok_or_else(|| bad(format!("{name}: bad shape")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let offsets = entry["data_offsets"]
                .as_array()
                .ok_or_else(|| bad(format!("{name}: no offsets")))?;
            let (start, end) = match (
                offsets.first().and_then(Value::as_u64),
                offsets.get(1).and_then(Value::as_u64),
            ) {
                (Some(s), Some(e)) if s <= e && (e as usize) <= data.len() => {
                    (s as usize, e as usize)
                }
                _ => return Err(bad(format!("{name}: data offsets out of range"))),
            };
            out.tensors.insert(
                name,
                RawTensor {
                    dtype,
                    shape,
                    data: data[start..end].to_vec(),
                },
            );
        }
        Ok(out)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = Map::new();
        if !self.metadata.is_empty() {
            header.insert("__metadata__".into(), Value::Object(self.metadata.clone()));
        }
        let mut offset = 0usize;
        for (name, t) in &self.tensors {
            header.insert(
                name.clone(),
                serde_json::json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.data.len()]}),
            );
            offset += t.data.len();
        }
        let mut json = serde_json::to_vec(&Value::Object(header)).expect("header serialises");
        // The format recommends 8-byte alignment of the data section.
        while json.len() % 8 != 0 {
            json.push(b' ');
        }
        let mut out = Vec::with_capacity(8 + json.len() + offset);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        for t in self.tensors.values() {
            out.extend_from_slice(&t.data);
        }
        out
    }

    /// Convert every tensor of dtype `from` to `to` ("F32" <-> "F16").
    pub fn convert(&mut self, from: &str, to: &str) -> Result<(), BundleError> {
        for (name, t) in self.tensors.iter_mut() {
            if t.dtype != from {
                continue;
            }
            t.data = match (from, to) {
                ("F32", "F16") => t
                    .data
                    .chunks_exact(4)
                    .flat_map(|c| {
                        f16::from_f32(f32::from_le_bytes(c.try_into().expect("4 bytes")))
                            .to_le_bytes()
                    })
                    .collect(),
                ("F16", "F32") => t
                    .data
                    .chunks_exact(2)
                    .flat_map(|c| {
                        f16::from_le_bytes(c.try_into().expect("2 bytes"))
                            .to_f32()
                            .to_le_bytes()
                    })
                    .collect(),
                _ => return Err(bad(format!("{name}: cannot convert {from} to {to}"))),
            };
            t.dtype = to.to_string();
        }
        Ok(())
    }

    pub fn has_dtype(&self, dtype: &str) -> bool {
        self.tensors.values().any(|t| t.dtype == dtype)
    }
}

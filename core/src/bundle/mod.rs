//! The model bundle: one self-describing file holding the network configuration,
//! the weights and the metadata needed to use them (task, class names, preprocessing,
//! patch size, provenance). Native code and the browser both load it from bytes.
//!
//! Layout (all integers little-endian):
//! ```text
//! b"BRAINFM\0"            8-byte magic
//! u32 format version      FORMAT_VERSION
//! u32 header length       n
//! n bytes                 header JSON: BundleHeader
//! rest                    weights (safetensors), hashed in the header (SHA-256)
//! ```

mod error;
mod export;
mod header;
mod safetensors;
mod weights;

#[cfg(test)]
mod tests;

pub use error::BundleError;
pub use export::{export_for_inference, ExportOptions};
pub use header::{BundleHeader, BundleMeta, Task, WeightsInfo};
pub use weights::{load_weights, save_weights, save_weights_async};

use burn::prelude::*;
use sha2::{Digest, Sha256};

use crate::model::{BrainNet, ModelConfig};

pub const MAGIC: &[u8; 8] = b"BRAINFM\0";
pub const FORMAT_VERSION: u32 = 1;
/// Headers are small JSON documents; anything larger is corrupt or hostile.
const MAX_HEADER_LEN: usize = 16 << 20;

/// A parsed bundle: header plus the (verified) weight bytes.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub header: BundleHeader,
    pub weights: Vec<u8>,
}

impl Bundle {
    /// Snapshot a network's weights into a bundle. Reads tensors synchronously, so it is
    /// for native code (the browser uses [`Bundle::from_model_async`]).
    pub fn from_model(
        model: &BrainNet,
        config: ModelConfig,
        meta: BundleMeta,
    ) -> Result<Self, BundleError> {
        let weights = save_weights(model)?;
        Ok(Self::from_parts(config, meta, weights))
    }

    /// [`Bundle::from_model`] with asynchronous tensor reads: works on every device,
    /// WebGPU included.
    pub async fn from_model_async(
        model: &BrainNet,
        config: ModelConfig,
        meta: BundleMeta,
    ) -> Result<Self, BundleError> {
        let weights = save_weights_async(model).await?;
        Ok(Self::from_parts(config, meta, weights))
    }

    /// Assemble a bundle from serialised weights (safetensors bytes).
    pub fn from_parts(config: ModelConfig, meta: BundleMeta, weights: Vec<u8>) -> Self {
        let header = BundleHeader {
            format: header::FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            model: config,
            meta,
            weights: WeightsInfo {
                encoding: "safetensors".to_string(),
                len: weights.len() as u64,
                sha256: sha256_hex(&weights),
            },
        };
        Self { header, weights }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let json = serde_json::to_vec(&self.header).expect("bundle header serialises");
        let mut out = Vec::with_capacity(16 + json.len() + self.weights.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&self.weights);
        out
    }

    /// Parse and verify a bundle: magic, version, header, weight length and checksum.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() < 16 {
            return Err(BundleError::Truncated { len: bytes.len() });
        }
        if &bytes[..8] != MAGIC {
            return Err(BundleError::BadMagic);
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(BundleError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let header_len = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
        if header_len > MAX_HEADER_LEN || 16 + header_len > bytes.len() {
            return Err(BundleError::Truncated { len: bytes.len() });
        }
        let header: BundleHeader = serde_json::from_slice(&bytes[16..16 + header_len])
            .map_err(|e| BundleError::BadHeader(e.to_string()))?;
        if header.format != header::FORMAT_NAME {
            return Err(BundleError::BadHeader(format!(
                "format is '{}', expected '{}'",
                header.format,
                header::FORMAT_NAME
            )));
        }
        let weights = &bytes[16 + header_len..];
        if weights.len() as u64 != header.weights.len {
            return Err(BundleError::WeightsLength {
                expected: header.weights.len,
                found: weights.len() as u64,
            });
        }
        let actual = sha256_hex(weights);
        if actual != header.weights.sha256 {
            return Err(BundleError::Checksum {
                expected: header.weights.sha256.clone(),
                found: actual,
            });
        }
        header.model.validate()?;
        header
            .meta
            .postprocess
            .check()
            .map_err(BundleError::BadHeader)?;
        Ok(Self {
            header,
            weights: weights.to_vec(),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.header.model
    }

    pub fn meta(&self) -> &BundleMeta {
        &self.header.meta
    }

    /// Copy this bundle's encoder and latent split into `model` (a network for another
    /// task built on the same encoder): the start of fine-tuning. Returns the number of
    /// tensors copied.
    pub fn transfer_representation(&self, model: &mut BrainNet) -> Result<usize, BundleError> {
        let ours = &self.header.model;
        let theirs = model.latent.is_some();
        if ours.latent.is_some() != theirs {
            return Err(BundleError::WeightsMismatch(
                "the pre-trained model and the new one disagree on the latent split".into(),
            ));
        }
        weights::load_parts(model, &self.weights, &weights::REPRESENTATION_PARTS)
    }

    /// Build the network on `device` and load the weights, refusing any mismatch.
    pub fn load_model(&self, device: &Device) -> Result<BrainNet, BundleError> {
        let mut model = self.header.model.init(device)?;
        load_weights(&mut model, &self.weights)?;
        Ok(model)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

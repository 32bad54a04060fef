//! Weights as safetensors: the format PyTorch tools read too.

use burn::store::{ModuleSnapshot, SafetensorsStore};

use super::safetensors::RawTensors;
use super::BundleError;
use crate::model::BrainNet;

/// Serialise every parameter (synchronous tensor reads: native only).
pub fn save_weights(model: &BrainNet) -> Result<Vec<u8>, BundleError> {
    let mut store = SafetensorsStore::from_bytes(None);
    model
        .save_into(&mut store)
        .map_err(|e| BundleError::Weights(e.to_string()))?;
    store
        .get_bytes()
        .map_err(|e| BundleError::Weights(e.to_string()))
}

/// Load weights into a freshly built network; every parameter must be present with
/// the right shape and nothing may be left over.
pub fn load_weights(model: &mut BrainNet, bytes: &[u8]) -> Result<(), BundleError> {
    // f16 bundles (`brainfm export --half`) are widened here: burn would otherwise keep
    // the f16 dtype and mix precisions inside the network.
    let mut raw = RawTensors::parse(bytes)?;
    let bytes = if raw.has_dtype("F16") {
        raw.convert("F16", "F32")?;
        raw.to_bytes()
    } else {
        bytes.to_vec()
    };
    let mut store = SafetensorsStore::from_bytes(Some(bytes));
    let result = model
        .load_from(&mut store)
        .map_err(|e| BundleError::WeightsMismatch(e.to_string()))?;
    if !result.errors.is_empty() {
        return Err(BundleError::WeightsMismatch(format!("{:?}", result.errors)));
    }
    if !result.missing.is_empty() {
        let names: Vec<&str> = result
            .missing
            .iter()
            .map(|(n, _)| n.as_str())
            .take(5)
            .collect();
        return Err(BundleError::WeightsMismatch(format!(
            "{} tensors missing (e.g. {})",
            result.missing.len(),
            names.join(", ")
        )));
    }
    if !result.unused.is_empty() {
        let names: Vec<&str> = result.unused.iter().map(String::as_str).take(5).collect();
        return Err(BundleError::WeightsMismatch(format!(
            "{} unexpected tensors (e.g. {})",
            result.unused.len(),
            names.join(", ")
        )));
    }
    Ok(())
}

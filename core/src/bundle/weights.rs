//! Weights as safetensors: the format PyTorch tools read too.

use std::collections::HashMap;

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use super::safetensors::{RawTensor, RawTensors};
use super::BundleError;
use crate::model::BrainNet;

/// Serialise every parameter (synchronous tensor reads: native only).
pub fn save_weights(model: &BrainNet) -> Result<Vec<u8>, BundleError> {
    let mut store = SafetensorsStore::from_bytes(None);
    model
        .save_into(&mut store)
        .map_err(|e| BundleError::Weights(e.to_string()))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| BundleError::Weights(e.to_string()))?;
    // burn-store writes its header from a HashMap, so the key order (and with it the bytes
    // and the bundle's recorded SHA-256) changed from save to save of the same weights;
    // re-serialising through RawTensors orders tensors and metadata by name.
    Ok(RawTensors::parse(&bytes)?.to_bytes())
}

/// Every float parameter by id, flattened (cheap clones: nothing is read yet).
struct Params(HashMap<u64, Tensor<1>>);

impl ModuleVisitor for Params {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.transform_for_save().val();
        let n = t.shape().num_elements();
        self.0.insert(param.id.val(), t.reshape([n]));
    }
}

/// [`save_weights`] with one asynchronous readback per parameter, for WebGPU (where a
/// blocking read panics). The names, shapes and order are burn-store's (its collector
/// names the tensors), so [`load_weights`] reads the result like any bundle's.
pub async fn save_weights_async(model: &BrainNet) -> Result<Vec<u8>, BundleError> {
    let mut params = Params(HashMap::new());
    model.visit(&mut params);
    let mut raw = RawTensors::default();
    for snap in model.collect(None, None, false) {
        let tensor = snap
            .param_id
            .and_then(|id| params.0.get(&id))
            .ok_or_else(|| BundleError::Weights(format!("{}: not a float parameter", snap.name)))?;
        let values = tensor
            .clone()
            .into_data_async()
            .await
            .map_err(|e| BundleError::Weights(format!("reading {}: {e:?}", snap.name)))?
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| BundleError::Weights(format!("{}: {e:?}", snap.name)))?;
        raw.tensors.insert(
            snap.name.clone(),
            RawTensor {
                dtype: "F32".into(),
                shape: snap.shape.to_vec(),
                data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            },
        );
    }
    Ok(raw.to_bytes())
}

/// f16 bundles (`brainfm export --half`) are widened here: burn would otherwise keep
/// the f16 dtype and mix precisions inside the network.
fn widened(bytes: &[u8]) -> Result<Vec<u8>, BundleError> {
    let mut raw = RawTensors::parse(bytes)?;
    Ok(if raw.has_dtype("F16") {
        raw.convert("F16", "F32")?;
        raw.to_bytes()
    } else {
        bytes.to_vec()
    })
}

/// Parts of the network fine-tuning takes over from a pre-trained bundle.
pub const REPRESENTATION_PARTS: [&str; 2] = ["encoder.", "latent."];

/// Load the tensors of `parts` (name prefixes) into `model`, which may have other parts
/// (a fresh decoder) and miss some of the source's (a reconstruction decoder). Every
/// tensor of `parts` in the model must be loaded, with its shape. Returns how many were.
pub fn load_parts(
    model: &mut BrainNet,
    bytes: &[u8],
    parts: &[&str],
) -> Result<usize, BundleError> {
    let wanted = |name: &str| parts.iter().any(|p| name.starts_with(p));
    // Only the wanted tensors go into the store: a source head of another shape (a
    // segmentation output for other classes) would otherwise fail the whole load.
    let mut raw = RawTensors::parse(bytes)?;
    raw.tensors.retain(|name, _| wanted(name));
    if raw.has_dtype("F16") {
        raw.convert("F16", "F32")?;
    }
    let mut store = SafetensorsStore::from_bytes(Some(raw.to_bytes())).allow_partial(true);
    let result = model
        .load_from(&mut store)
        .map_err(|e| BundleError::WeightsMismatch(e.to_string()))?;
    let errors: Vec<String> = result
        .errors
        .iter()
        .map(|e| format!("{e:?}"))
        .filter(|e| parts.iter().any(|p| e.contains(p.trim_end_matches('.'))))
        .collect();
    if !errors.is_empty() {
        return Err(BundleError::WeightsMismatch(errors.join("; ")));
    }
    let missing: Vec<&str> = result
        .missing
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| wanted(n))
        .collect();
    if !missing.is_empty() {
        return Err(BundleError::WeightsMismatch(format!(
            "{} pre-trained tensors missing (e.g. {})",
            missing.len(),
            missing[..missing.len().min(5)].join(", ")
        )));
    }
    Ok(result.applied.iter().filter(|n| wanted(n)).count())
}

/// Load weights into a freshly built network; every parameter must be present with
/// the right shape and nothing may be left over.
pub fn load_weights(model: &mut BrainNet, bytes: &[u8]) -> Result<(), BundleError> {
    let mut store = SafetensorsStore::from_bytes(Some(widened(bytes)?));
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

//! Deployment bundles: only the parts the task uses, optionally with f16 weights.

use super::safetensors::RawTensors;
use super::{Bundle, BundleError, Task};
use crate::infer::Postprocess;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExportOptions {
    /// Store weights as f16 (half the size; devices still compute in f32).
    pub half: bool,
    /// Replaces the bundle's post-processing (chosen on validation data) when given.
    pub postprocess: Option<Postprocess>,
}

/// A copy of `bundle` for inference: segmentation models lose the parts inference never
/// runs (the pre-training reconstruction decoder and anatomy head, any global head), and weights become
/// f16 when asked.
pub fn export_for_inference(
    bundle: &Bundle,
    options: ExportOptions,
) -> Result<Bundle, BundleError> {
    let mut config = bundle.config().clone();
    let mut meta = bundle.meta().clone();
    let mut tensors = RawTensors::parse(&bundle.weights)?;
    let mut drop_prefixes: Vec<&str> = Vec::new();
    if meta.task == Task::Segmentation {
        if config.seg.is_none() {
            return Err(BundleError::BadHeader(
                "a segmentation bundle without a segmentation decoder".into(),
            ));
        }
        if config.recon.take().is_some() {
            drop_prefixes.push("recon.");
        }
        if config.head.take().is_some() {
            drop_prefixes.push("head.");
        }
        if config.anatomy.take().is_some() {
            drop_prefixes.push("anatomy.");
        }
    }
    tensors
        .tensors
        .retain(|name, _| !drop_prefixes.iter().any(|p| name.starts_with(p)));
    if let Some(p) = &options.postprocess {
        p.check().map_err(BundleError::BadHeader)?;
        meta.postprocess = p.clone();
    }
    if options.half {
        tensors.convert("F32", "F16")?;
        meta.provenance = format!("{} [exported with f16 weights]", meta.provenance);
    }
    Ok(Bundle::from_parts(config, meta, tensors.to_bytes()))
}

//! The masked-reconstruction view: hide blocks of the patch, let the model fill them in
//! from its latents, and show the error where it saw nothing.

use burn::prelude::*;

use crate::model::BrainNet;
use crate::rng::Rng;
use crate::ssl::{apply_mask, block_mask, MaskConfig};

use super::net::{decode, read, tensor};
use super::{axial_slice, Slice, TeachError, TeachPatch};

/// Block masking, the model's reconstruction and the error, on one slice.
#[derive(Clone, Debug)]
pub struct MaskedView {
    pub original: Slice,
    /// What the model sees: masked voxels zero-filled.
    pub masked: Slice,
    pub reconstruction: Slice,
    /// |reconstruction - original|.
    pub error: Slice,
    /// 1 where hidden.
    pub mask: Slice,
    /// Mean absolute error over the whole patch's hidden and visible voxels.
    pub masked_error: f64,
    pub visible_error: f64,
    pub masked_fraction: f64,
}

/// Hide `mask.ratio` of the patch in cubes of `mask.block` voxels, let the model fill it
/// in from the latent means (what pre-training learnt, without sampling noise), and
/// compare with the original.
pub async fn masked_reconstruction(
    model: &BrainNet,
    patch: &TeachPatch,
    mask: &MaskConfig,
    seed: u64,
    device: &Device,
) -> Result<MaskedView, TeachError> {
    if model.latent.is_none() {
        return Err(TeachError::ModelLacks("subject/modality latent split"));
    }
    let size = patch.size;
    let hidden = block_mask(1, [size[2], size[1], size[0]], mask, &mut Rng::new(seed))?;
    let x = tensor(&patch.image, size, device);
    let m = tensor(&hidden, size, device);
    let rep = model.represent(apply_mask(x, m));
    let latents = rep
        .latents
        .ok_or(TeachError::ModelLacks("subject/modality latent split"))?;
    let recon = read(decode(model, latents.mean_concat())?).await?;
    let masked: Vec<f32> = patch
        .image
        .iter()
        .zip(&hidden)
        .map(|(v, h)| v * (1.0 - h))
        .collect();
    let error: Vec<f32> = recon
        .iter()
        .zip(&patch.image)
        .map(|(r, v)| (r - v).abs())
        .collect();
    let mean_where = |want: f32| {
        let (s, n) = error
            .iter()
            .zip(&hidden)
            .filter(|(_, h)| **h == want)
            .fold((0f64, 0usize), |(s, n), (e, _)| (s + *e as f64, n + 1));
        if n == 0 {
            0.0
        } else {
            s / n as f64
        }
    };
    let z = patch.slice;
    Ok(MaskedView {
        original: axial_slice(&patch.image, size, z),
        masked: axial_slice(&masked, size, z),
        reconstruction: axial_slice(&recon, size, z),
        error: axial_slice(&error, size, z),
        mask: axial_slice(&hidden, size, z),
        masked_error: mean_where(1.0),
        visible_error: mean_where(0.0),
        masked_fraction: hidden.iter().map(|&h| h as f64).sum::<f64>() / hidden.len() as f64,
    })
}

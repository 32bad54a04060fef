//! Moving a patch to and from the device, and the pre-training decoder both views run.

use burn::prelude::*;

use crate::model::BrainNet;

use super::TeachError;

pub(super) fn tensor(data: &[f32], size: [usize; 3], device: &Device) -> Tensor<5> {
    Tensor::from_data(
        TensorData::new(data.to_vec(), [1, 1, size[2], size[1], size[0]]),
        device,
    )
}

pub(super) async fn read(t: Tensor<5>) -> Result<Vec<f32>, TeachError> {
    t.into_data_async()
        .await
        .map_err(|e| TeachError::Device(format!("{e:?}")))?
        .try_to_vec::<f32>()
        .map_err(|e| TeachError::Device(format!("{e:?}")))
}

/// The pre-training reconstruction of `latent_concat`: the skip-free decoder of the
/// latent-split models, as the swap and MAE objectives use it.
pub(super) fn decode(model: &BrainNet, latent_concat: Tensor<5>) -> Result<Tensor<5>, TeachError> {
    let out = model
        .reconstruct(latent_concat)
        .map_err(|_| TeachError::ModelLacks("reconstruction decoder"))?;
    if out.dims()[1] != 1 {
        return Err(TeachError::ModelLacks("1-channel reconstruction decoder"));
    }
    Ok(out)
}

//! Reading a tensor back from the device, asynchronously so the browser can await it.

use burn::prelude::*;

use super::InferError;

/// `t`'s values as f32 (cast if the device holds another float type; a no-op for f32),
/// in row-major order. Errors, never panics.
pub async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, InferError> {
    t.into_data_async()
        .await
        .map_err(device)?
        .try_cast_as::<f32>()
        .map_err(device)?
        .try_into_vec::<f32>()
        .map_err(device)
}

fn device(e: impl std::fmt::Debug) -> InferError {
    InferError::Device(format!("{e:?}"))
}

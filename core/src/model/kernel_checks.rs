//! What the CPU kernels' tests (conv, norm) share: reading a tensor back and comparing it
//! with burn's result.

use burn::prelude::*;

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    pollster::block_on(t.into_data_async())
        .unwrap()
        .try_into_vec::<f32>()
        .unwrap()
}

/// max |a - b| / max |b|: relative to the reference's scale, so no tiny element dominates.
pub fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

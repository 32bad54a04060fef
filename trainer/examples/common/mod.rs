//! What the benchmark examples share with scripts/bench/torch_reference.py.

use burn::prelude::*;

/// The deterministic `[1, 1, patch, patch, patch]` input both implementations use
/// (torch_reference.py's `deterministic_input` computes the same values).
pub fn input(patch: usize, device: &Device) -> Tensor<5> {
    let values: Vec<f32> = (0..patch * patch * patch)
        .map(|i| ((i as f64 * 0.37).sin() + 0.5 * (i as f64 * 0.011).cos()) as f32)
        .collect();
    Tensor::from_data(TensorData::new(values, [1, 1, patch, patch, patch]), device)
}

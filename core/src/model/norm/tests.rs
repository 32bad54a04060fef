//! The fused kernel against burn's InstanceNorm + LeakyReLU: output and the gradients of
//! the input, gamma and beta, on odd shapes, batches and channel counts.

use super::*;
use crate::model::conv::with_cpu_kernels;
use crate::model::kernel_checks::{relative_error, values};
use crate::model::norm::kernel::{self, Planes};
use crate::rng::Rng;
use burn::module::Param;
use burn::nn::norm::InstanceNormConfig;
use burn::tensor::TensorData;

/// Output, dL/dx, dL/dgamma, dL/dbeta for L = sum(y * r), on one path. Each channel gets
/// its own offset and scale so the statistics differ per plane.
fn run(dims: [usize; 5], slope: Option<f64>, seed: u64, ours: bool) -> [Vec<f32>; 4] {
    let device = Device::flex().autodiff();
    let mut rng = Rng::new(seed);
    let [b, c, d, h, w] = dims;
    let plane = d * h * w;
    let data: Vec<f32> = rng
        .normals(b * c * plane)
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let ch = (i / plane % c) as f32;
            v * (0.5 + ch) + 3.0 * ch - 2.0
        })
        .collect();
    let x = Tensor::<5>::from_data(TensorData::new(data, dims), &device).require_grad();
    let mut norm = InstanceNormConfig::new(c).init(&device);
    let gamma = Tensor::<1>::from_data(TensorData::new(rng.normals(c), [c]), &device);
    let beta = Tensor::<1>::from_data(TensorData::new(rng.normals(c), [c]), &device);
    norm.gamma = Some(Param::from_tensor(gamma));
    norm.beta = Some(Param::from_tensor(beta));
    let y = with_cpu_kernels(ours, || match slope {
        Some(s) => norm_act(&norm, x.clone(), s),
        None => super::norm(&norm, x.clone()),
    });
    let r = Tensor::from_data(
        TensorData::new(rng.normals(y.shape().num_elements()), y.shape()),
        &device,
    );
    let grads = (y.clone() * r).sum().backward();
    let grad_of =
        |p: &Option<Param<Tensor<1>>>| values(p.as_ref().unwrap().val().grad(&grads).unwrap());
    [
        values(y),
        values(x.grad(&grads).unwrap()),
        grad_of(&norm.gamma),
        grad_of(&norm.beta),
    ]
}

#[test]
fn fused_kernel_matches_burns_norm_and_activation() {
    let cases = [
        ([1, 1, 4, 4, 4], Some(0.01)),
        ([2, 3, 5, 7, 3], Some(0.01)),
        ([1, 8, 16, 16, 16], Some(0.01)),
        ([3, 5, 9, 1, 11], Some(0.2)),
        ([2, 4, 6, 6, 6], None),
        ([1, 2, 33, 17, 9], None),
    ];
    for (i, (dims, slope)) in cases.into_iter().enumerate() {
        let ours = run(dims, slope, 40 + i as u64, true);
        let stock = run(dims, slope, 40 + i as u64, false);
        for (what, (a, b)) in ["output", "dx", "dgamma", "dbeta"]
            .iter()
            .zip(ours.iter().zip(&stock))
        {
            let err = relative_error(a, b);
            assert!(
                err <= 1e-4,
                "{dims:?} slope {slope:?}: {what} relative error {err:e}"
            );
        }
    }
}

/// A plane far from zero mean with a small spread, against f64 arithmetic: the statistics
/// must not lose the spread to the offset.
#[test]
fn statistics_hold_on_offset_planes() {
    let len = 70_001;
    let x: Vec<f32> = (0..len)
        .map(|i| 1000.0 + 0.01 * ((i as f64 * 0.618).sin() as f32))
        .collect();
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / len as f64;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / len as f64;
    let reference: Vec<f32> = x
        .iter()
        .map(|&v| ((v as f64 - mean) / (var + 1e-5).sqrt()) as f32)
        .collect();
    let y = kernel::forward(Planes { channels: 1, len }, &x, &[1.0], &[0.0], 1e-5, 1.0);
    let err = relative_error(&y, &reference);
    assert!(err <= 1e-5, "relative error {err:e} on an offset plane");
}

/// The per-channel gradient sums are added in a fixed order: the same bits on any thread
/// count (training on the CPU is reproducible).
#[test]
fn gradients_do_not_depend_on_threads() {
    let p = Planes {
        channels: 3,
        len: 999,
    };
    let mut rng = Rng::new(7);
    let x = rng.normals(4 * 3 * 999);
    let dy = rng.normals(4 * 3 * 999);
    let (gamma, beta) = ([1.0, -0.5, 2.0], [0.1, 0.0, -1.0]);
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| kernel::backward(p, &x, &gamma, &beta, &dy, 1e-5, 0.01))
    };
    assert_eq!(run(1), run(3));
}

//! The CPU kernels against burn's stock conv3d: forward, input gradient, weight gradient
//! and bias gradient, over the shapes the presets use and random ones.

use super::*;
use crate::model::kernel_checks::{relative_error, values};
use crate::model::Preset;
use crate::rng::Rng;
use crate::ssl::{Objective, ObjectiveConfig, SslBatch};
use crate::train::{TrainConfig, Trainer};
use burn::tensor::TensorData;

#[derive(Clone, Copy, Debug)]
struct Case {
    batch: usize,
    c_in: usize,
    c_out: usize,
    input: [usize; 3],
    kernel: [usize; 3],
    stride: [usize; 3],
    padding: [(usize, usize); 3],
    bias: bool,
}

fn tensor<const D: usize>(rng: &mut Rng, dims: [usize; D], device: &Device) -> Tensor<D> {
    let n = dims.iter().product();
    Tensor::from_data(TensorData::new(rng.normals(n), dims), device).require_grad()
}

/// Output, dL/dx, dL/dw, dL/db for L = sum(y * r), on one path.
fn run(case: &Case, seed: u64, ours: bool) -> Vec<Vec<f32>> {
    let device = Device::flex().autodiff();
    let mut rng = Rng::new(seed);
    let x = tensor(
        &mut rng,
        [
            case.batch,
            case.c_in,
            case.input[0],
            case.input[1],
            case.input[2],
        ],
        &device,
    );
    let [k0, k1, k2] = case.kernel;
    let w = tensor(&mut rng, [case.c_out, case.c_in, k0, k1, k2], &device);
    let b = case.bias.then(|| tensor(&mut rng, [case.c_out], &device));
    let options = ConvOptions::new_with_padding(case.stride, case.padding, [1, 1, 1], 1);
    let y = with_cpu_kernels(ours, || conv3d(x.clone(), w.clone(), b.clone(), options));
    let r = Tensor::from_data(
        TensorData::new(rng.normals(y.shape().num_elements()), y.shape()),
        &device,
    );
    let grads = (y.clone() * r).sum().backward();
    let mut out = vec![
        values(y),
        values(x.grad(&grads).unwrap()),
        values(w.grad(&grads).unwrap()),
    ];
    if let Some(b) = b {
        out.push(values(b.grad(&grads).unwrap()));
    }
    out
}

fn check(case: Case, seed: u64) {
    let ours = run(&case, seed, true);
    let stock = run(&case, seed, false);
    for (name, (a, b)) in ["output", "input grad", "weight grad", "bias grad"]
        .iter()
        .zip(ours.iter().zip(&stock))
    {
        let err = relative_error(a, b);
        assert!(
            err <= 1e-4,
            "{name} off by {err:.2e} (relative) for {case:?}"
        );
    }
}

fn case(c_in: usize, c_out: usize, input: [usize; 3], k: usize, stride: usize, pad: usize) -> Case {
    Case {
        batch: 1,
        c_in,
        c_out,
        input,
        kernel: [k; 3],
        stride: [stride; 3],
        padding: [(pad, pad); 3],
        bias: true,
    }
}

#[test]
fn preset_shapes_match_burn() {
    // Encoder 3x3x3 stride 1 (first layer from one channel), stride-2 down-sampling with odd
    // sizes, the 1x1x1 up-sampling/head convolutions, ResEnc's strided 1x1x1 projection.
    check(case(1, 8, [9, 8, 7], 3, 1, 1), 1);
    check(
        Case {
            batch: 2,
            ..case(16, 16, [8, 8, 8], 3, 1, 1)
        },
        2,
    );
    check(case(8, 16, [9, 7, 8], 3, 2, 1), 3);
    check(
        Case {
            batch: 2,
            ..case(12, 24, [5, 6, 7], 1, 1, 0)
        },
        4,
    );
    check(
        Case {
            bias: false,
            ..case(8, 16, [7, 8, 9], 1, 2, 0)
        },
        5,
    );
    check(
        Case {
            bias: false,
            ..case(5, 3, [6, 6, 6], 3, 1, 1)
        },
        6,
    );
}

#[test]
fn other_geometries_match_burn() {
    // Unpadded, padded wider than the kernel's reach, mixed strides, kernel 2, kernel 5
    // stride 2. (burn's conv3d refuses asymmetric padding, so there is no reference for it.)
    check(case(3, 5, [6, 7, 5], 3, 1, 0), 7);
    check(case(4, 6, [5, 6, 7], 3, 2, 2), 8);
    check(
        Case {
            stride: [1, 2, 3],
            ..case(3, 4, [7, 8, 9], 3, 1, 1)
        },
        9,
    );
    check(case(6, 8, [8, 6, 4], 2, 2, 0), 10);
    check(case(2, 3, [9, 9, 9], 5, 2, 2), 11);
}

#[test]
fn random_shapes_match_burn() {
    let mut rng = Rng::new(2026);
    for i in 0..16 {
        let k = [1, 2, 3][rng.below(3)];
        let stride = [0, 1, 2].map(|_| 1 + rng.below(2));
        let pad = rng.below(k);
        let case = Case {
            batch: 1 + rng.below(2),
            c_in: 1 + rng.below(11),
            c_out: 1 + rng.below(11),
            input: [0, 1, 2].map(|_| k + rng.below(7)),
            kernel: [k; 3],
            stride,
            padding: [(pad, pad); 3],
            bias: rng.bool(0.5),
        };
        check(case, 100 + i);
    }
}

#[test]
fn large_tiles_and_channel_counts_match_burn() {
    // Enough rows and channels for several tiles per batch item and several threads.
    check(case(24, 20, [20, 18, 22], 3, 1, 1), 12);
    check(
        Case {
            batch: 2,
            ..case(20, 40, [17, 16, 18], 3, 2, 1)
        },
        13,
    );
}

#[test]
fn results_do_not_depend_on_the_run() {
    let c = Case {
        batch: 2,
        ..case(16, 16, [12, 12, 12], 3, 2, 1)
    };
    assert_eq!(run(&c, 21, true), run(&c, 21, true));
}

#[test]
fn training_steps_follow_the_stock_path() {
    let device = Device::flex().autodiff();
    device.seed(5);
    let init = Preset::Tiny.config(None).init(&device).unwrap();
    let mut rng = Rng::new(3);
    let scans = Tensor::from_data(
        TensorData::new(rng.normals(2 * 16 * 16 * 16), [2, 1, 16, 16, 16]),
        &device,
    );
    let batch = SslBatch {
        scans,
        subjects: vec![0, 0],
        labels: vec![],
        keys: SslBatch::whole_batch_keys(2),
    };
    let objective = ObjectiveConfig::new(Objective::Swap);
    let losses = |ours: bool| -> Vec<f32> {
        let mut config = TrainConfig::new(6);
        config.schedule.base_lr = 1e-3;
        let mut trainer = Trainer::new(init.clone(), config);
        with_cpu_kernels(ours, || {
            (0..6)
                .map(|_| {
                    pollster::block_on(trainer.ssl_step(&batch, &objective))
                        .unwrap()
                        .loss
                })
                .collect()
        })
    };
    let (ours, stock) = (losses(true), losses(false));
    assert!(
        stock[5] < stock[0],
        "the loss must move for this test to mean anything: {stock:?}"
    );
    for (a, b) in ours.iter().zip(&stock) {
        assert!(
            (a - b).abs() <= 1e-3 * b.abs().max(1.0),
            "ours {ours:?} stock {stock:?}"
        );
    }
}

use core::ops::ControlFlow;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::Distribution;

use super::*;
use crate::model::Preset;

fn device() -> Device {
    Device::flex()
}

#[test]
fn windows_cover_the_axis_with_the_requested_overlap() {
    for (len, patch) in [(64, 64), (100, 64), (160, 64), (65, 32)] {
        let starts = window_starts(len, patch, 0.5);
        assert_eq!(starts[0], 0);
        assert_eq!(*starts.last().unwrap() + patch, len);
        for w in starts.windows(2) {
            assert!(
                w[1] > w[0] && w[1] - w[0] <= patch / 2,
                "{len} {patch} {starts:?}"
            );
        }
    }
    assert_eq!(window_starts(128, 64, 0.0), vec![0, 64]);
}

#[test]
fn gaussian_importance_peaks_in_the_centre_and_never_vanishes() {
    let g = gaussian_importance([8, 8, 8]);
    assert_eq!(g.len(), 512);
    let centre = g[(4 * 8 + 4) * 8 + 4];
    let corner = g[0];
    let max = g.iter().cloned().fold(0f32, f32::max);
    // The four central voxels per axis sit half a voxel off the true centre.
    assert_eq!(centre, max);
    assert!(
        corner > 0.0 && corner < 0.01 * centre,
        "centre {centre}, corner {corner}"
    );
    // Symmetric along x.
    assert_eq!(g[3], g[4]);
}

#[test]
fn the_plan_shrinks_batch_then_patch_to_fit_the_budget() {
    let config = Preset::Small.config(Some(4));
    let generous = InferenceConfig {
        patch: [64; 3],
        max_batch: 4,
        memory_budget: 4 << 30,
        ..Default::default()
    };
    let plan = generous.plan(&config, [200, 200, 200]).unwrap();
    assert_eq!((plan.patch, plan.batch), ([64; 3], 4));

    let one = activation_bytes(&config, [64; 3], 1);
    let tight = InferenceConfig {
        memory_budget: one,
        ..generous.clone()
    };
    let plan = tight.plan(&config, [200, 200, 200]).unwrap();
    assert_eq!((plan.patch, plan.batch), ([64; 3], 1));
    assert!(plan.largest_activation <= one);

    let tighter = InferenceConfig {
        memory_budget: one / 2,
        ..generous.clone()
    };
    let plan = tighter.plan(&config, [200, 200, 200]).unwrap();
    assert!(plan.patch.iter().product::<usize>() < 64 * 64 * 64);
    assert!(plan.patch.iter().all(|p| p % config.stride() == 0));
    assert!(plan.largest_activation <= one / 2);

    let impossible = InferenceConfig {
        memory_budget: 1024,
        ..generous
    };
    assert!(matches!(
        impossible.plan(&config, [200, 200, 200]),
        Err(InferError::OverBudget { .. })
    ));
}

#[test]
fn patches_never_exceed_the_stride_rounded_volume() {
    let config = Preset::Tiny.config(Some(2));
    let plan = InferenceConfig::default()
        .plan(&config, [20, 30, 100])
        .unwrap();
    assert_eq!(plan.patch, [24, 32, 64]);
}

#[test]
fn invalid_settings_are_refused() {
    let config = Preset::Tiny.config(Some(2));
    for bad in [
        InferenceConfig {
            overlap: 1.0,
            ..Default::default()
        },
        InferenceConfig {
            overlap: f64::NAN,
            ..Default::default()
        },
        InferenceConfig {
            patch: [0, 64, 64],
            ..Default::default()
        },
        InferenceConfig {
            max_batch: 0,
            ..Default::default()
        },
    ] {
        assert!(matches!(
            bad.plan(&config, [64; 3]),
            Err(InferError::InvalidConfig(_))
        ));
    }
}

fn random_volume(dims: [usize; 3], seed: u64) -> Vec<f32> {
    let dev = device();
    dev.seed(seed);
    Tensor::<1>::random(
        [dims.iter().product::<usize>()],
        Distribution::Normal(0.0, 1.0),
        &dev,
    )
    .into_data()
    .try_to_vec::<f32>()
    .unwrap()
}

#[test]
fn one_window_reproduces_the_direct_forward_pass() {
    let dev = device();
    let config = Preset::Tiny.config(Some(3));
    let model = config.init(&dev).unwrap();
    let dims = [16, 24, 8]; // x, y, z
    let data = random_volume(dims, 1);
    let inference = InferenceConfig {
        patch: [8, 24, 16],
        ..Default::default()
    };
    let plan = inference.plan(&config, [8, 24, 16]).unwrap();
    let (probs, c) = pollster::block_on(sliding_window(
        &model,
        &data,
        dims,
        &plan,
        &inference,
        &dev,
        &mut |_| ControlFlow::Continue(()),
    ))
    .unwrap();
    assert_eq!(c, 3);
    let x = Tensor::<5>::from_data(TensorData::new(data, [1, 1, 8, 24, 16]), &dev);
    let direct: Vec<f32> = softmax(model.segment(x).unwrap(), 1)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let max_diff = probs
        .iter()
        .zip(&direct)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max_diff < 1e-5, "max difference {max_diff}");
}

#[test]
fn overlapping_windows_and_mirroring_give_probabilities() {
    let dev = device();
    let config = Preset::Tiny.config(Some(2));
    let model = config.init(&dev).unwrap();
    let dims = [40, 20, 12];
    let data = random_volume(dims, 2);
    let inference = InferenceConfig {
        patch: [16, 16, 16],
        mirror_tta: true,
        ..Default::default()
    };
    let plan = inference.plan(&config, [12, 20, 40]).unwrap();
    let mut reports = Vec::new();
    let (probs, c) = pollster::block_on(sliding_window(
        &model,
        &data,
        dims,
        &plan,
        &inference,
        &dev,
        &mut |p| {
            reports.push(p);
            ControlFlow::Continue(())
        },
    ))
    .unwrap();
    let n = dims.iter().product::<usize>();
    assert_eq!(probs.len(), c * n);
    for v in 0..n {
        let s: f32 = (0..c).map(|k| probs[k * n + v]).sum();
        assert!((s - 1.0).abs() < 1e-4, "voxel {v} sums to {s}");
    }
    let last = reports.last().unwrap();
    assert_eq!(last.done, last.total);
    assert!(
        last.total > 1,
        "a 40-voxel axis needs several 16-voxel windows"
    );
}

#[test]
fn a_progress_callback_can_cancel() {
    let dev = device();
    let config = Preset::Tiny.config(Some(2));
    let model = config.init(&dev).unwrap();
    let dims = [48, 16, 16];
    let data = vec![0.0; dims.iter().product()];
    let inference = InferenceConfig {
        patch: [16, 16, 16],
        max_batch: 1,
        ..Default::default()
    };
    let plan = inference.plan(&config, [16, 16, 48]).unwrap();
    let mut calls = 0;
    let result = pollster::block_on(sliding_window(
        &model,
        &data,
        dims,
        &plan,
        &inference,
        &dev,
        &mut |_| {
            calls += 1;
            ControlFlow::Break(())
        },
    ));
    assert!(matches!(result, Err(InferError::Cancelled)));
    assert_eq!(calls, 1, "cancelled after the first batch");
}

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Distribution;

use super::*;
use crate::model::Preset;
use crate::ssl::{Objective, ObjectiveConfig, SslBatch};

fn scalar(t: Tensor<1>) -> f32 {
    pollster::block_on(t.into_scalar_async::<f32>()).unwrap()
}

#[test]
fn schedule_warms_up_linearly_then_follows_a_cosine() {
    let s = LrSchedule {
        base_lr: 1e-3,
        warmup_steps: 10,
        total_steps: 110,
        min_lr: 1e-5,
    };
    assert!((s.lr(0) - 1e-4).abs() < 1e-12);
    assert!((s.lr(9) - 1e-3).abs() < 1e-12);
    assert!((s.lr(10) - 1e-3).abs() < 1e-12);
    assert!((s.lr(60) - (1e-5 + 0.5 * (1e-3 - 1e-5))).abs() < 1e-9);
    assert!((s.lr(110) - 1e-5).abs() < 1e-12 && (s.lr(500) - 1e-5).abs() < 1e-12);
    assert!((20..110).all(|k| s.lr(k) <= s.lr(k - 1)));
}

#[test]
fn global_norm_clipping_scales_every_gradient_by_one_factor() {
    let ad = Device::flex().autodiff();
    let model = Preset::Tiny.config(None).init(&ad).unwrap();
    let x = Tensor::<5>::random([1, 1, 16, 16, 16], Distribution::Normal(0.0, 1.0), &ad);
    let loss = model
        .reconstruct(model.represent(x).deep())
        .unwrap()
        .square()
        .sum()
        .mul_scalar(100.0);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let w = model.latent.as_ref().unwrap().subject_mean.weight.id;
    let before: Tensor<5> = grads.get(w).unwrap();
    let (clipped, norm) = clip_global_norm(&model, grads, Some(1.0));
    let norm = scalar(norm.unwrap());
    assert!(norm > 1.0, "test needs a large gradient, got norm {norm}");
    let after: Tensor<5> = clipped.get(w).unwrap();
    let ratio = scalar(after.clone().abs().sum()) / scalar(before.abs().sum());
    assert!(
        (ratio - 1.0 / norm).abs() < 1e-3 * ratio,
        "ratio {ratio} vs 1/norm {}",
        1.0 / norm
    );
    let (_, again) = clip_global_norm(&model, clipped, None);
    assert!((scalar(again.unwrap()) - 1.0).abs() < 1e-3);
}

fn batch(ad: &Device, seed: u64) -> SslBatch {
    ad.seed(seed);
    // Smooth-ish inputs: a reconstruction target a tiny network can learn quickly.
    let base = Tensor::<5>::random([2, 1, 4, 4, 4], Distribution::Normal(0.0, 1.0), ad);
    let scans = base.repeat_dim(2, 4).repeat_dim(3, 4).repeat_dim(4, 4);
    let scans = Tensor::cat(vec![scans.clone(), scans.mul_scalar(-0.5)], 0);
    SslBatch {
        scans,
        subjects: vec![0, 1, 0, 1],
        labels: vec![],
        keys: SslBatch::whole_batch_keys(4),
    }
}

fn trainer(objective: Objective, steps: u64) -> (Trainer, ObjectiveConfig) {
    let ad = Device::flex().autodiff();
    ad.seed(11);
    let model = Preset::Tiny.config(None).init(&ad).unwrap();
    let mut cfg = TrainConfig::new(steps);
    cfg.schedule.base_lr = 3e-3;
    (Trainer::new(model, cfg), ObjectiveConfig::new(objective))
}

#[test]
fn steps_cut_the_loss_on_a_fixed_batch() {
    let (mut t, mut o) = trainer(Objective::Swap, 40);
    // The FOMO25 paper's recipe (whole-patch SmoothL1, cosine terms from step 0): each
    // 4^3 cube of this batch is one random value, so a masked cube cannot be inferred
    // from its neighbours and the masked-MSE default has little to cut in 40 steps.
    o.recon = crate::ssl::ReconLoss::SmoothL1 { beta: 0.1 };
    o.swap.cos_ramp_steps = 0;
    let b = batch(&Device::flex().autodiff(), 1);
    let losses: Vec<f32> = (0..40)
        .map(|_| pollster::block_on(t.ssl_step(&b, &o)).unwrap().loss)
        .collect();
    let first = losses[..5].iter().sum::<f32>() / 5.0;
    let last = losses[35..].iter().sum::<f32>() / 5.0;
    assert!(
        last < 0.8 * first,
        "loss went {first} -> {last}: {losses:?}"
    );
    assert_eq!(t.step, 40);
}

#[test]
fn saved_model_and_optimizer_resume_the_same_run() {
    let b = batch(&Device::flex().autodiff(), 2);
    let o = ObjectiveConfig::new(Objective::Mae);
    let run = |t: &mut Trainer, n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| pollster::block_on(t.ssl_step(&b, &o)).unwrap().loss)
            .collect()
    };
    // Other tests draw from the device RNG concurrently: start both runs from one init.
    let init = trainer(Objective::Mae, 8)
        .0
        .model
        .into_record()
        .into_bytes()
        .unwrap();
    let from_init = || {
        let mut t = trainer(Objective::Mae, 8).0;
        t.model = t
            .model
            .clone()
            .load_record(ModuleRecord::from_bytes(init.clone()).unwrap());
        t
    };
    let mut full = from_init();
    let expected = run(&mut full, 8);

    let mut first = from_init();
    let head = run(&mut first, 4);
    let model_bytes = first.model.clone().into_record().into_bytes().unwrap();
    let optim_bytes = first.optimizer.into_bytes().unwrap();
    let step = first.step;
    drop(first);

    // A fresh process: new random init, then the checkpoint on top.
    let mut resumed = trainer(Objective::Mae, 8).0;
    resumed.model = resumed
        .model
        .clone()
        .load_record(ModuleRecord::from_bytes(model_bytes).unwrap());
    resumed.optimizer = resumed.config.optimizer().from_bytes(optim_bytes).unwrap();
    resumed.step = step;
    let tail = run(&mut resumed, 4);
    let got: Vec<f32> = head.into_iter().chain(tail).collect();
    for (k, (a, e)) in got.iter().zip(&expected).enumerate() {
        assert!(
            (a - e).abs() <= 1e-4 * e.abs().max(1.0),
            "step {k}: resumed {a} vs uninterrupted {e}\n{got:?}\n{expected:?}"
        );
    }
}

use burn::prelude::*;

use super::*;
use crate::model::Preset;

fn scalar(t: Tensor<1>) -> f32 {
    pollster::block_on(t.into_scalar_async::<f32>()).unwrap()
}

fn term(out: &crate::ssl::ObjectiveOutput, name: &str) -> f32 {
    scalar(
        out.terms
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1
            .clone(),
    )
}

fn batch(targets: &[f32], cfg: &GlobalTaskConfig, dev: &Device) -> GlobalBatch {
    let n = targets.len();
    GlobalBatch::from_host(vec![0.0; n * 8], targets, [2; 3], cfg, dev).unwrap()
}

fn outputs(rows: &[&[f32]], dev: &Device) -> Tensor<2> {
    let w = rows[0].len();
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), w]), dev)
}

#[test]
fn uniform_logits_cost_ln_k_whatever_the_smoothing() {
    let dev = Device::flex();
    for smoothing in [0.0, 0.1, 0.5] {
        let cfg = GlobalTaskConfig::Classification {
            classes: 4,
            label_smoothing: smoothing,
        };
        let b = batch(&[0.0, 3.0], &cfg, &dev);
        let out = global_loss(outputs(&[&[0.0; 4], &[2.0; 4]], &dev), &b, &cfg).unwrap();
        assert!(
            (scalar(out.loss.clone()) - 4f32.ln()).abs() < 1e-5,
            "{smoothing}"
        );
    }
}

#[test]
fn cross_entropy_spreads_the_smoothing_over_the_classes() {
    let dev = Device::flex();
    // Logits [0, ln 3]: p = [0.25, 0.75]. Label 1, smoothing 0.1 over 2 classes:
    // target [0.05, 0.95], CE = -(0.05 ln 0.25 + 0.95 ln 0.75).
    let cfg = GlobalTaskConfig::classification(2);
    let b = batch(&[1.0], &cfg, &dev);
    let out = global_loss(outputs(&[&[0.0, 3f32.ln()]], &dev), &b, &cfg).unwrap();
    let want = -(0.05 * 0.25f32.ln() + 0.95 * 0.75f32.ln());
    assert!((scalar(out.loss.clone()) - want).abs() < 1e-5);
    assert!((term(&out, "ce") - want).abs() < 1e-5);
    // Without smoothing it is -ln 0.75.
    let plain = GlobalTaskConfig::Classification {
        classes: 2,
        label_smoothing: 0.0,
    };
    let out = global_loss(outputs(&[&[0.0, 3f32.ln()]], &dev), &b, &plain).unwrap();
    assert!((scalar(out.loss.clone()) + 0.75f32.ln()).abs() < 1e-5);
}

#[test]
fn smooth_l1_is_quadratic_inside_beta_and_linear_outside() {
    let dev = Device::flex();
    let cfg = GlobalTaskConfig::regression();
    // Errors 4 (0.5 * 16 / 10 = 0.8) and -25 (25 - 5 = 20): mean 10.4; MAE 14.5.
    let b = batch(&[30.0, 50.0], &cfg, &dev);
    let out = global_loss(outputs(&[&[34.0], &[25.0]], &dev), &b, &cfg).unwrap();
    assert!((scalar(out.loss.clone()) - 10.4).abs() < 1e-4);
    assert!((term(&out, "mae") - 14.5).abs() < 1e-4);
    // Continuous at |d| = beta: 0.5 * beta either way.
    let b = batch(&[0.0], &cfg, &dev);
    let out = global_loss(outputs(&[&[10.0]], &dev), &b, &cfg).unwrap();
    assert!((scalar(out.loss.clone()) - 5.0).abs() < 1e-5);
}

#[test]
fn bad_batches_are_refused() {
    let dev = Device::flex();
    let cls = GlobalTaskConfig::classification(2);
    let img = || vec![0.0; 8];
    assert!(GlobalBatch::from_host(img(), &[2.0], [2; 3], &cls, &dev).is_err());
    assert!(GlobalBatch::from_host(img(), &[0.5], [2; 3], &cls, &dev).is_err());
    assert!(GlobalBatch::from_host(img(), &[0.0, 1.0], [2; 3], &cls, &dev).is_err());
    let one = GlobalTaskConfig::classification(1);
    assert!(GlobalBatch::from_host(img(), &[0.0], [2; 3], &one, &dev).is_err());
    let reg = GlobalTaskConfig::regression();
    assert!(GlobalBatch::from_host(img(), &[f32::NAN], [2; 3], &reg, &dev).is_err());
    // Head width must match the targets.
    let b = batch(&[1.0], &cls, &dev);
    assert!(global_loss(outputs(&[&[0.0, 0.0, 0.0]], &dev), &b, &cls).is_err());
}

/// Two patches told apart by intensity sign: the head must learn which is which.
#[test]
fn classification_and_regression_losses_fall_on_a_fixed_batch() {
    let ad = Device::flex().autodiff();
    let vox = 16 * 16 * 16;
    let mut images = vec![1.0f32; vox];
    images.extend(vec![-1.0f32; vox]);
    for (task, targets, scale) in [
        (GlobalTaskConfig::classification(2), [0.0, 1.0], None),
        (
            GlobalTaskConfig::regression(),
            [40.0, 70.0],
            Some((55.0, 15.0)),
        ),
    ] {
        let config = Preset::Tiny.config(None).with_global_head(task.outputs());
        let mut model = config.init(&ad).unwrap();
        if let Some((mean, std)) = scale {
            model = scale_regression_head(model, mean, std);
        }
        let mut cfg = TrainConfig::new(30);
        cfg.schedule.base_lr = 3e-3;
        let mut t = Trainer::new(model, cfg);
        let b = GlobalBatch::from_host(images.clone(), &targets, [16; 3], &task, &ad).unwrap();
        let losses: Vec<f32> = (0..30)
            .map(|_| pollster::block_on(t.global_step(&b, &task)).unwrap().loss)
            .collect();
        let first = losses[..3].iter().sum::<f32>() / 3.0;
        let last = losses[27..].iter().sum::<f32>() / 3.0;
        assert!(last < 0.5 * first, "{task:?}: loss {first} -> {last}");
    }
}

use burn::module::Module;
use burn::prelude::*;

use super::*;
use crate::augment::AugmentConfig;
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

/// 4^3 patch: the first `fg` voxels are class 1.
fn labels(fg: usize) -> Vec<u16> {
    (0..64).map(|i| (i < fg) as u16).collect()
}

#[test]
fn perfect_logits_give_dice_one_and_no_cross_entropy() {
    let dev = Device::flex();
    let l = labels(20);
    let b = SegBatch::from_host(vec![0.0; 64], &l, 1, [4; 3], 2, &dev).unwrap();
    let logits = b.one_hot.clone().mul_scalar(40.0);
    let out = segmentation_loss(logits, &b, &SegLossConfig::default()).unwrap();
    assert!(term(&out, "ce") < 1e-6);
    assert!((term(&out, "dice") - 1.0).abs() < 1e-5);
    assert!(scalar(out.loss) < 1e-5);
}

#[test]
fn uniform_logits_match_hand_computed_values() {
    let dev = Device::flex();
    let (f, bg) = (20.0f32, 44.0f32);
    let b = SegBatch::from_host(vec![0.0; 64], &labels(20), 1, [4; 3], 2, &dev).unwrap();
    let logits = Tensor::<5>::zeros([1, 2, 4, 4, 4], &dev);
    let out = segmentation_loss(logits.clone(), &b, &SegLossConfig::default()).unwrap();
    // p = 0.5 everywhere: tp = f/2, fp = bg/2, fn = f/2.
    let dice = f / (f + bg / 2.0 + f / 2.0);
    assert!((term(&out, "ce") - 2f32.ln()).abs() < 1e-5);
    assert!((term(&out, "dice") - dice).abs() < 1e-4);
    assert!((scalar(out.loss) - (2f32.ln() + 1.0 - dice)).abs() < 1e-4);

    let tversky = SegLossConfig {
        overlap: OverlapLoss::Tversky {
            alpha: 0.3,
            beta: 0.7,
        },
        ..SegLossConfig::default()
    };
    let out = segmentation_loss(logits, &b, &tversky).unwrap();
    let t = (f / 2.0) / (f / 2.0 + 0.3 * bg / 2.0 + 0.7 * f / 2.0);
    assert!((term(&out, "tversky") - t).abs() < 1e-4);
}

#[test]
fn bad_batches_are_errors() {
    let dev = Device::flex();
    assert!(SegBatch::from_host(vec![0.0; 64], &[3; 64], 1, [4; 3], 2, &dev).is_err());
    assert!(SegBatch::from_host(vec![0.0; 63], &[0; 64], 1, [4; 3], 2, &dev).is_err());
    let b = SegBatch::from_host(vec![0.0; 64], &[0; 64], 1, [4; 3], 2, &dev).unwrap();
    let wrong = Tensor::<5>::zeros([1, 3, 4, 4, 4], &dev);
    assert!(segmentation_loss(wrong, &b, &SegLossConfig::default()).is_err());
}

#[test]
fn trainable_parses_its_names() {
    assert_eq!(Trainable::parse("decoder"), Some(Trainable::Decoder));
    assert_eq!(Trainable::parse("last:2"), Some(Trainable::LastStages(2)));
    assert_eq!(Trainable::parse("all"), Some(Trainable::All));
    assert_eq!(Trainable::parse("some"), None);
}

/// A bright cube (class 1) in a dark 16^3 volume, deterministic.
fn cube_case() -> LabelledVolume {
    let n = 16;
    let mut image = vec![0f32; n * n * n];
    let mut lab = vec![0u16; n * n * n];
    for z in 4..12 {
        for y in 5..11 {
            for x in 3..10 {
                let i = x + n * (y + n * z);
                lab[i] = 1;
                image[i] = 1.0;
            }
        }
    }
    for (i, v) in image.iter_mut().enumerate() {
        *v += 0.2 * ((i as f32) * 0.7).sin();
    }
    LabelledVolume::new(image, lab, [n; 3], 2).unwrap()
}

#[test]
fn sampled_patches_keep_images_and_labels_aligned() {
    let case = cube_case();
    let sampler = PatchSampler {
        patch: [8; 3],
        foreground: 1.0,
        augment: AugmentConfig {
            intensity: false,
            ..AugmentConfig::default()
        },
    };
    let (img, lab) = sampler.batch(std::slice::from_ref(&case), 0..16, 4);
    assert_eq!((img.len(), lab.len()), (16 * 512, 16 * 512));
    for p in 0..16 {
        let l = &lab[p * 512..(p + 1) * 512];
        assert!(l.contains(&1), "foreground sampling must hit the cube");
    }
    let agree = img
        .iter()
        .zip(&lab)
        .filter(|(v, &l)| (**v > 0.6) == (l == 1))
        .count();
    assert!(agree as f64 / img.len() as f64 > 0.97, "agree {agree}");
    assert!(LabelledVolume::new(vec![0.0; 8], vec![5; 8], [2; 3], 2).is_err());
}

#[test]
fn frozen_encoder_stays_put_while_the_decoder_learns() {
    let ad = Device::flex().autodiff();
    let config = Preset::Tiny.config(None).with_seg_classes(2, 1);
    let model = Trainable::Decoder.apply(config.init(&ad).unwrap());
    let mut cfg = TrainConfig::new(40);
    cfg.schedule.base_lr = 1e-2;
    let mut t = Trainer::new(model, cfg);
    let case = cube_case();
    let sampler = PatchSampler {
        patch: [16; 3],
        foreground: 0.0,
        augment: AugmentConfig::none(),
    };
    let (img, lab) = sampler.batch(std::slice::from_ref(&case), 0..2, 1);
    let batch = SegBatch::from_host(img, &lab, 2, [16; 3], 2, &ad).unwrap();
    let enc = |t: &Trainer| {
        t.model.encoder.levels[0]
            .clone()
            .into_record()
            .into_bytes()
            .unwrap()
            .to_vec()
    };
    let dec = |t: &Trainer| {
        t.model
            .seg
            .clone()
            .into_record()
            .into_bytes()
            .unwrap()
            .to_vec()
    };
    let (enc0, dec0) = (enc(&t), dec(&t));
    let loss = SegLossConfig::default();
    let reports: Vec<StepReport> = (0..40)
        .map(|_| pollster::block_on(t.segmentation_step(&batch, &loss)).unwrap())
        .collect();
    let first = reports[..3].iter().map(|r| r.loss).sum::<f32>() / 3.0;
    let last = reports[37..].iter().map(|r| r.loss).sum::<f32>() / 3.0;
    let dice = reports[39]
        .terms
        .iter()
        .find(|(n, _)| n == "dice")
        .unwrap()
        .1;
    // The random (frozen) encoder comes from burn's global device RNG, which parallel
    // tests re-seed: its features vary run to run (one run here ended at 0.54x after 40
    // steps), so only loose floors here; a decoder that does not learn stays near 1x.
    assert!(last < 0.65 * first, "loss {first} -> {last}, dice {dice}");
    assert!(dice > 0.3, "dice {dice}");
    assert_eq!(enc(&t), enc0, "a frozen encoder must not change");
    assert_ne!(dec(&t), dec0);
}

use burn::prelude::*;
use burn::tensor::Distribution;

use super::anatomy::subject_averaging;
use super::objective::compute;
use super::*;
use crate::model::Preset;
use crate::rng::Rng;

fn dev() -> Device {
    Device::flex()
}

fn scalar(t: Tensor<1>) -> f32 {
    pollster::block_on(t.into_scalar_async::<f32>()).unwrap()
}

/// The named loss term of an objective's output.
fn term(out: &super::objective::ObjectiveOutput, name: &str) -> Tensor<1> {
    out.terms
        .iter()
        .find(|(k, _)| *k == name)
        .unwrap()
        .1
        .clone()
}

fn t5(data: Vec<f32>, dims: [usize; 5]) -> Tensor<5> {
    Tensor::from_data(TensorData::new(data, dims), &dev())
}

#[test]
fn block_mask_hides_exactly_the_ratio_in_aligned_cubes() {
    let cfg = MaskConfig {
        block: 4,
        ratio: 0.6,
    };
    let dims = [16, 12, 8];
    let m = block_mask(3, dims, &cfg, &mut Rng::new(5)).unwrap();
    let voxels = 16 * 12 * 8;
    let blocks = 4 * 3 * 2;
    let expected = (0.6f64 * blocks as f64).round() as usize * 64;
    for scan in 0..3 {
        let s = &m[scan * voxels..(scan + 1) * voxels];
        assert_eq!(
            s.iter().filter(|&&v| v == 1.0).count(),
            expected,
            "scan {scan}"
        );
        // Every 4^3 cube is all hidden or all visible.
        for cz in 0..4 {
            for cy in 0..3 {
                for cx in 0..2 {
                    let first = s[(cz * 4 * 12 + cy * 4) * 8 + cx * 4];
                    for z in 0..4 {
                        for y in 0..4 {
                            for x in 0..4 {
                                let v = s[((cz * 4 + z) * 12 + cy * 4 + y) * 8 + cx * 4 + x];
                                assert_eq!(v, first);
                            }
                        }
                    }
                }
            }
        }
    }
    // Scans get different masks; the same seed gives the same masks.
    assert_ne!(&m[..voxels], &m[voxels..2 * voxels]);
    assert_eq!(m, block_mask(3, dims, &cfg, &mut Rng::new(5)).unwrap());
    assert_ne!(m, block_mask(3, dims, &cfg, &mut Rng::new(6)).unwrap());
}

#[test]
fn block_mask_clips_edge_blocks_and_rejects_bad_configs() {
    let cfg = MaskConfig {
        block: 16,
        ratio: 0.75,
    };
    let m = block_mask(1, [20, 20, 20], &cfg, &mut Rng::new(1)).unwrap();
    assert_eq!(m.len(), 8000);
    assert_eq!(
        MaskConfig {
            block: 0,
            ratio: 0.5
        }
        .validate()
        .is_err(),
        true
    );
    assert!(block_mask(
        1,
        [8, 8, 8],
        &MaskConfig {
            block: 2,
            ratio: 1.5
        },
        &mut Rng::new(1)
    )
    .is_err());
    let none = block_mask(
        1,
        [8, 8, 8],
        &MaskConfig {
            block: 2,
            ratio: 0.0,
        },
        &mut Rng::new(1),
    )
    .unwrap();
    assert!(none.iter().all(|&v| v == 0.0));
}

#[test]
fn masked_mse_counts_only_hidden_voxels() {
    let target = t5(vec![0.0; 8], [1, 1, 2, 2, 2]);
    let mask = t5(
        vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [1, 1, 2, 2, 2],
    );
    let pred = t5(
        vec![1.0, 3.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0],
        [1, 1, 2, 2, 2],
    );
    let v = scalar(masked_mse(pred, target.clone(), mask.clone()));
    assert!((v - 5.0).abs() < 1e-4, "masked mse {v}");
    let visible = t5(vec![0.0; 8], [1, 1, 2, 2, 2]);
    assert!(scalar(masked_mse(target.clone(), target, visible)).abs() < 1e-6);
}

#[test]
fn smooth_l1_matches_pytorch_definition() {
    let target = t5(vec![0.0; 2], [1, 1, 1, 1, 2]);
    let pred = t5(vec![0.05, -1.0], [1, 1, 1, 1, 2]);
    // 0.5 * 0.05^2 / 0.1 = 0.0125 and 1 - 0.05 = 0.95, mean 0.48125
    let v = scalar(smooth_l1(pred, target, 0.1));
    assert!((v - 0.48125).abs() < 1e-5, "smooth l1 {v}");
    let r = ReconLoss::default();
    assert_eq!(r, ReconLoss::SmoothL1 { beta: 0.1 });
}

#[test]
fn kl_is_zero_at_the_prior_and_half_the_squared_mean_otherwise() {
    let zeros = t5(vec![0.0; 4], [1, 1, 1, 2, 2]);
    assert!(scalar(kl_divergence(zeros.clone(), zeros.clone())).abs() < 1e-6);
    let ones = t5(vec![1.0; 4], [1, 1, 1, 2, 2]);
    assert!((scalar(kl_divergence(ones, zeros.clone())) - 0.5).abs() < 1e-5);
    // logvar 1, mean 0: -0.5 (1 + 1 - e) = 0.359
    let lv = t5(vec![1.0; 4], [1, 1, 1, 2, 2]);
    assert!((scalar(kl_divergence(zeros, lv)) - 0.359_14).abs() < 1e-4);
}

#[test]
fn sampling_uses_the_seeded_rng_and_the_variance() {
    let mean = t5(vec![2.0; 2000], [1, 1, 10, 10, 20]);
    let logvar = t5(vec![(0.25f32).ln(); 2000], [1, 1, 10, 10, 20]);
    let a = sample_latent(mean.clone(), logvar.clone(), &mut [Rng::new(3)]);
    let b = sample_latent(mean.clone(), logvar.clone(), &mut [Rng::new(3)]);
    assert!(scalar((a.clone() - b).abs().max().reshape([1])) == 0.0);
    let centred = a - mean;
    let std = scalar(centred.square().mean()).sqrt();
    assert!((std - 0.5).abs() < 0.05, "sample std {std}");
}

#[test]
fn cosines_of_equal_opposite_and_paired_latents() {
    let a = Tensor::<5>::random([2, 4, 2, 2, 2], Distribution::Normal(0.0, 1.0), &dev());
    assert!((scalar(cosine_per_voxel(a.clone(), a.clone())) - 1.0).abs() < 1e-5);
    assert!((scalar(cosine_per_voxel(a.clone(), a.clone().neg())) + 1.0).abs() < 1e-5);
    // The Gram-matrix pair cosine equals the direct one for scans 0 and 1.
    let direct = scalar(cosine_per_voxel(
        a.clone().slice([0..1]),
        a.clone().slice([1..2]),
    ));
    let w = same_subject_pairs(&[7, 7]).unwrap();
    let gram = scalar(weighted_pair_cosine(a, &w));
    assert!((direct - gram).abs() < 1e-5, "direct {direct} gram {gram}");
    assert!(same_subject_pairs(&[1, 2, 3]).is_none());
}

#[test]
fn subject_means_and_anatomy_consistency_follow_subject_ids() {
    assert_eq!(
        subject_averaging(&[0, 1, 0]),
        vec![0.5, 0.0, 0.5, 0.0, 1.0, 0.0, 0.5, 0.0, 0.5]
    );
    let z = t5(vec![1.0, 0.0, 10.0, 0.0, 3.0, 0.0], [3, 2, 1, 1, 1]);
    let m = subject_mean_per_scan(z, &[0, 1, 0]);
    let got = pollster::block_on(m.into_data_async())
        .unwrap()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(got, vec![2.0, 0.0, 10.0, 0.0, 2.0, 0.0]);

    // Scans of subject 0 agree, subject 1 has one scan: consistency loss 0.
    let agree = t5(vec![1.0, 2.0, 5.0, -1.0, 2.0, 4.0], [3, 2, 1, 1, 1]);
    assert!(scalar(anatomy_consistency(agree, &[0, 1, 0])).abs() < 1e-5);
    // Orthogonal subject latents: each is 45 degrees from the mean, loss 1 - cos 45.
    let orth = t5(vec![1.0, 0.0, 5.0, -1.0, 0.0, 1.0], [3, 2, 1, 1, 1]);
    let v = scalar(anatomy_consistency(orth, &[0, 1, 0]));
    assert!(
        (v - (1.0 - std::f32::consts::FRAC_1_SQRT_2)).abs() < 1e-4,
        "anatomy {v}"
    );
    let single = t5(vec![1.0, 0.0, 0.0, 1.0], [2, 2, 1, 1, 1]);
    assert_eq!(scalar(anatomy_consistency(single, &[0, 1])), 0.0);
}

fn tiny_batch(ad: &Device) -> SslBatch {
    let scans = Tensor::<5>::random([4, 1, 16, 16, 16], Distribution::Normal(0.0, 1.0), ad);
    SslBatch {
        scans,
        subjects: vec![0, 0, 1, 1],
        labels: vec![],
        keys: SslBatch::whole_batch_keys(4),
    }
}

#[test]
fn swap_total_is_the_weighted_sum_of_its_terms_and_trains_the_latents() {
    let ad = dev().autodiff();
    let model = Preset::Tiny.config(None).init(&ad).unwrap();
    let batch = tiny_batch(&ad);
    let weights = SwapWeights {
        kl_ramp_steps: 10,
        cos_ramp_steps: 20,
        ..SwapWeights::default()
    };
    let mut rngs: Vec<Rng> = (0..4).map(Rng::new).collect();
    let mask = mask_tensor([16, 16, 16], &MaskConfig::fomo25(), &mut rngs, &ad).unwrap();
    let t = swap_loss(
        &model,
        batch.scans.clone(),
        &batch.subjects,
        mask,
        &ReconLoss::default(),
        &weights,
        5,
        &mut (10..14).map(Rng::new).collect::<Vec<_>>(),
    )
    .unwrap();
    let (rec, cross, kl, cs, cm) = (
        scalar(t.self_recon.clone()),
        scalar(t.cross_recon.clone()),
        scalar(t.kl.clone()),
        scalar(t.subject_cos.clone()),
        scalar(t.modality_cos.clone()),
    );
    // Step 5: half-way up the KL ramp, a quarter up the cosine ramp.
    let expected = 3.0 * rec + cross + 0.5e-3 * kl + 0.125 * (1.0 - cs) + 0.125 * cm;
    let total = scalar(t.total.clone());
    assert!(
        rec > 0.0 && cross > 0.0 && kl >= 0.0,
        "rec {rec} cross {cross} kl {kl}"
    );
    assert!(
        (total - expected).abs() < 1e-4 * expected.abs().max(1.0),
        "total {total} expected {expected}"
    );
    assert!((weights.kl_weight(20) - 1e-3).abs() < 1e-12 && weights.kl_weight(0) == 0.0);
    assert!(weights.cos_factor(0) == 0.0 && weights.cos_factor(40) == 1.0);
    assert_eq!(SwapWeights::default().cos_factor(0), 0.0);
    assert_eq!(SwapWeights::default().cos_factor(1000), 1.0);
    let grads = t.total.backward();
    let lat = model.latent.as_ref().unwrap();
    for conv in [&lat.subject_mean, &lat.modality_mean, &lat.subject_logvar] {
        let g = conv
            .weight
            .val()
            .grad(&grads)
            .expect("latent conv gets a gradient");
        assert!(scalar(g.abs().sum()) > 0.0);
    }
}

#[test]
fn objectives_run_on_their_presets_and_refuse_models_without_the_parts() {
    let ad = dev().autodiff();
    let tiny = Preset::Tiny.config(None).init(&ad).unwrap();
    let batch = tiny_batch(&ad);
    for objective in [Objective::Mae, Objective::Swap, Objective::SwapAnat] {
        let cfg = ObjectiveConfig::new(objective);
        let out = compute(&tiny, &batch, &cfg, 0, &mut Rng::new(2)).unwrap();
        let v = scalar(out.loss);
        assert!(v.is_finite() && v > 0.0, "{} loss {v}", objective.name());
        assert_eq!(Objective::parse(objective.name()), Some(objective));
    }
    // A model without a latent split cannot run the swap.
    let mut no_latent = Preset::Tiny.config(None);
    no_latent.latent = None;
    no_latent.recon = None;
    no_latent.seg = Some(crate::model::decoder::SegDecoderConfig::new(
        40,
        vec![8, 16, 32, 40],
        1,
    ));
    let plain = no_latent.init(&ad).unwrap();
    let err = compute(
        &plain,
        &batch,
        &ObjectiveConfig::new(Objective::Swap),
        0,
        &mut Rng::new(2),
    )
    .err();
    assert!(matches!(
        err,
        Some(SslError::ModelLacks {
            objective: "swap",
            ..
        })
    ));
    // ... but it trains as an MAE through its 1-channel skip decoder.
    assert!(compute(
        &plain,
        &batch,
        &ObjectiveConfig::new(Objective::Mae),
        0,
        &mut Rng::new(2)
    )
    .is_ok());
    let bad = SslBatch {
        scans: batch.scans.clone(),
        subjects: vec![0],
        labels: vec![],
        keys: vec![0],
    };
    assert!(matches!(
        compute(
            &tiny,
            &bad,
            &ObjectiveConfig::new(Objective::Mae),
            0,
            &mut Rng::new(2)
        ),
        Err(SslError::BadBatch(_))
    ));
}

#[test]
fn mode_downsample_takes_each_cells_majority_and_checks_shapes() {
    // 4 x 2 x 2, factor 2: cell 0 mostly 3 (one 1), cell 1 a 4/4 tie of 5 and 2 -> 2.
    let mut l = vec![0u16; 16];
    for (i, v) in l.iter_mut().enumerate() {
        let x = i % 4;
        *v = if x < 2 {
            3
        } else if i % 2 == 0 {
            5
        } else {
            2
        };
    }
    l[0] = 1;
    assert_eq!(mode_downsample(&l, [4, 2, 2], 2).unwrap(), vec![3, 2]);
    assert!(mode_downsample(&l, [4, 2, 2], 3).is_err());
    assert!(mode_downsample(&l[..15], [4, 2, 2], 2).is_err());
}

/// A head that reads class c from channel c (x 10), on z_s one-hot in the true labels.
fn readable_anatomy(labels: &[u16], classes: usize) -> (crate::model::AnatomyHead, Tensor<5>) {
    use burn::module::Param;
    let mut head = crate::model::AnatomyHeadConfig::new(classes, classes).init(&dev());
    let mut w = vec![0f32; classes * classes];
    for c in 0..classes {
        w[c * classes + c] = 10.0;
    }
    head.logits.weight = Param::from_tensor(t5(w, [classes, classes, 1, 1, 1]));
    head.logits.bias = Some(Param::from_tensor(Tensor::zeros([classes], &dev())));
    let v = labels.len();
    let mut z = vec![0f32; classes * v];
    for (i, &l) in labels.iter().enumerate() {
        z[l as usize * v + i] = 1.0;
    }
    (head, t5(z, [1, classes, 1, 1, v]))
}

#[test]
fn anatomy_segmentation_is_low_for_an_informative_latent_and_high_for_wrong_labels() {
    let labels: Vec<u16> = vec![0, 1, 2, 3, 3, 2, 1, 0];
    let (head, z) = readable_anatomy(&labels, 4);
    let logits = head.forward(z.clone());
    let right = scalar(anatomy_segmentation(logits.clone(), &[Some(labels.clone())]).unwrap());
    let shifted: Vec<u16> = labels.iter().map(|l| (l + 1) % 4).collect();
    let wrong = scalar(anatomy_segmentation(logits.clone(), &[Some(shifted)]).unwrap());
    assert!(right < 1e-3, "informative z_s: CE {right}");
    assert!(wrong > 5.0, "wrong labels: CE {wrong}");
    // An unlabelled scan, however confused, adds nothing; no labels at all gives 0.
    let noise = t5(
        (0..32).map(|i| (i as f32 * 0.7).sin()).collect(),
        [1, 4, 1, 1, 8],
    );
    let both = Tensor::cat(vec![logits.clone(), head.forward(noise)], 0);
    let mixed = scalar(anatomy_segmentation(both.clone(), &[Some(labels.clone()), None]).unwrap());
    assert!((mixed - right).abs() < 1e-6, "{mixed} vs {right}");
    assert_eq!(
        scalar(anatomy_segmentation(both, &[None, None]).unwrap()),
        0.0
    );
    // Labels the head cannot express, or the wrong count, are errors, not panics.
    assert!(anatomy_segmentation(logits.clone(), &[Some(vec![4; 8])]).is_err());
    assert!(anatomy_segmentation(logits, &[Some(vec![0; 7])]).is_err());
}

#[test]
fn swap_anat_trains_the_anatomy_head_from_the_subject_latent_only_where_labels_exist() {
    let ad = dev().autodiff();
    let mut config = Preset::Tiny.config(None);
    config.anatomy = Some(crate::model::AnatomyHeadConfig::new(16, 3));
    let model = config.init(&ad).unwrap();
    let mut batch = tiny_batch(&ad);
    let labels: Vec<u16> = (0..16 * 16 * 16).map(|i| ((i / 256) % 3) as u16).collect();
    batch.labels = vec![Some(labels.clone()), Some(labels), None, None];
    let cfg = ObjectiveConfig::new(Objective::SwapAnat);
    let out = compute(&model, &batch, &cfg, 0, &mut Rng::new(1)).unwrap();
    let seg = term(&out, "anat_seg");
    let v = scalar(seg.clone());
    assert!(v > 0.1 && v.is_finite(), "untrained anatomy CE {v}");
    let grads = seg.backward();
    let lat = model.latent.as_ref().unwrap();
    let g = |w: &burn::module::Param<Tensor<5>>| {
        w.val().grad(&grads).map_or(0.0, |g| scalar(g.abs().sum()))
    };
    assert!(g(&model.anatomy.as_ref().unwrap().logits.weight) > 0.0);
    assert!(g(&lat.subject_mean.weight) > 0.0, "the term must reach z_s");
    assert_eq!(g(&lat.modality_mean.weight), 0.0, "and never z_m");
    // Without labels the term is exactly zero; plain swap has no such term.
    batch.labels = vec![];
    let out = compute(&model, &batch, &cfg, 0, &mut Rng::new(1)).unwrap();
    let seg = term(&out, "anat_seg");
    assert_eq!(scalar(seg), 0.0);
    let swap = compute(
        &model,
        &batch,
        &ObjectiveConfig::new(Objective::Swap),
        0,
        &mut Rng::new(1),
    )
    .unwrap();
    assert!(swap.terms.iter().all(|(k, _)| *k != "anat_seg"));
}

//! Teaching views on a small synthetic head with the tiny preset.

use burn::prelude::*;

use super::*;
use crate::bundle::{BundleMeta, Task};
use crate::model::Preset;
use crate::ssl::MaskConfig;
use crate::volume::{LabelMap, PreprocessConfig, Volume};

fn block<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

fn meta(patch: usize) -> BundleMeta {
    BundleMeta {
        postprocess: Default::default(),
        name: "t".into(),
        task: Task::Pretrained,
        class_names: Vec::new(),
        preprocess: PreprocessConfig {
            target_spacing: [2.0; 3],
            ..PreprocessConfig::default()
        },
        patch_size: [patch; 3],
        provenance: String::new(),
        created_by: String::new(),
    }
}

/// A 2 mm "head": a bright ball (label 2) in a dimmer shell (label 1).
fn head() -> (Volume, LabelMap) {
    let n = 30;
    let s = 2.0;
    let affine = [
        [s, 0.0, 0.0, -30.0],
        [0.0, s, 0.0, -30.0],
        [0.0, 0.0, s, -30.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let mut img = vec![0f32; n * n * n];
    let mut lab = vec![0u16; n * n * n];
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let r = ((x as f64 - 15.0).powi(2)
                    + (y as f64 - 15.0).powi(2)
                    + (z as f64 - 15.0).powi(2))
                .sqrt();
                let i = x + n * (y + n * z);
                if r < 6.0 {
                    img[i] = 100.0 + (x % 3) as f32;
                    lab[i] = 2;
                } else if r < 12.0 {
                    img[i] = 50.0 + (y % 4) as f32;
                    lab[i] = 1;
                }
            }
        }
    }
    (
        Volume::new([n; 3], [s; 3], affine, img).unwrap(),
        LabelMap::new([n; 3], [s; 3], affine, lab).unwrap(),
    )
}

#[test]
fn patch_origin_centres_and_stays_inside() {
    assert_eq!(patch_origin([40, 40, 40], [16; 3], [20.0; 3]), [12; 3]);
    assert_eq!(
        patch_origin([40, 40, 40], [16; 3], [0.0, 39.0, f64::NAN]),
        [0, 24, 0]
    );
    assert_eq!(patch_origin([16, 16, 16], [16; 3], [3.0; 3]), [0; 3]);
}

#[test]
fn axial_slice_puts_anterior_on_top() {
    // 2 x 3 x 2 patch whose value is y.
    let size = [2, 3, 2];
    let data: Vec<f32> = (0..12).map(|i| ((i / 2) % 3) as f32).collect();
    let s = axial_slice(&data, size, 1);
    assert_eq!((s.width, s.height), (2, 3));
    assert_eq!(s.data, vec![2.0, 2.0, 1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn teaching_patch_cuts_scan_and_labels_around_the_point() {
    let (img, lab) = head();
    let config = Preset::Tiny.config(None);
    // World (0, 0, 0) is voxel 15 of the input: the ball's centre.
    let p = teaching_patch(&img, Some(&lab), &config, &meta(16), [0.0; 3]).unwrap();
    assert_eq!(p.size, [16; 3]);
    assert_eq!(p.image.len(), 16 * 16 * 16);
    let labels = p.labels.as_ref().unwrap();
    assert_eq!(labels.len(), p.image.len());
    // The chosen point is in the ball: label 2 at the centre of the shown slice.
    let centre = 8 + 16 * (8 + 16 * p.slice);
    assert_eq!(labels[centre], 2);
    // Z-scored: the ball is brighter than the shell.
    let mean = |l: u16| {
        let v: Vec<f32> = p
            .image
            .iter()
            .zip(labels)
            .filter(|(_, &x)| x == l)
            .map(|(v, _)| *v)
            .collect();
        v.iter().sum::<f32>() / v.len() as f32
    };
    assert!(mean(2) > mean(1) + 0.5, "{} vs {}", mean(2), mean(1));
}

#[test]
fn masked_reconstruction_hides_blocks_and_reports_the_error() {
    let dev = Device::flex();
    let (img, lab) = head();
    let config = Preset::Tiny.config(None);
    let model = config.init(&dev).unwrap();
    let p = teaching_patch(&img, Some(&lab), &config, &meta(16), [0.0; 3]).unwrap();
    let mask = MaskConfig {
        block: 4,
        ratio: 0.5,
    };
    let v = block(masked_reconstruction(&model, &p, &mask, 3, &dev)).unwrap();
    assert!(
        (v.masked_fraction - 0.5).abs() < 0.01,
        "{}",
        v.masked_fraction
    );
    assert_eq!(v.original.data.len(), 256);
    for i in 0..256 {
        if v.mask.data[i] == 1.0 {
            assert_eq!(v.masked.data[i], 0.0);
        } else {
            assert_eq!(v.masked.data[i], v.original.data[i]);
        }
        let e = (v.reconstruction.data[i] - v.original.data[i]).abs();
        assert!((v.error.data[i] - e).abs() < 1e-6);
    }
    assert!(v.masked_error > 0.0 && v.masked_error.is_finite());
    // Another seed hides other blocks.
    let w = block(masked_reconstruction(&model, &p, &mask, 4, &dev)).unwrap();
    assert_ne!(v.mask.data, w.mask.data);
    // A segmentation-only network (no latent split) is refused with a reason.
    let mut plain = Preset::Tiny.config(None);
    plain.latent = None;
    plain.recon = None;
    let plain = plain.with_seg_classes(2, 1).init(&dev).unwrap();
    let err = block(masked_reconstruction(&plain, &p, &mask, 3, &dev)).unwrap_err();
    assert!(err.to_string().contains("latent split"), "{err}");
}

#[test]
fn a_web_export_of_a_pretrained_bundle_keeps_what_the_views_need() {
    use crate::bundle::{export_for_inference, Bundle, ExportOptions};
    let dev = Device::flex();
    let config = Preset::Tiny.config(None);
    let model = config.init(&dev).unwrap();
    let bundle = Bundle::from_model(&model, config, meta(16)).unwrap();
    let web = export_for_inference(
        &bundle,
        ExportOptions {
            half: true,
            ..ExportOptions::default()
        },
    )
    .unwrap();
    let web = Bundle::from_bytes(&web.to_bytes()).unwrap();
    assert!(web.config().latent.is_some() && web.config().recon.is_some());
    let model = web.load_model(&dev).unwrap();
    let (img, lab) = head();
    let p = teaching_patch(&img, Some(&lab), web.config(), web.meta(), [0.0; 3]).unwrap();
    let mask = MaskConfig::default();
    assert!(block(masked_reconstruction(&model, &p, &mask, 1, &dev)).is_ok());
}

#[test]
fn synth_pair_gives_two_contrasts_of_one_anatomy_and_the_swap_runs() {
    let dev = Device::flex();
    let (img, lab) = head();
    let config = Preset::Tiny.config(None);
    let model = config.init(&dev).unwrap();
    let p = teaching_patch(&img, Some(&lab), &config, &meta(16), [0.0; 3]).unwrap();
    let [a, b] = synth_pair(&p, 1).unwrap();
    assert_eq!(a.len(), p.image.len());
    assert_ne!(a, b, "the two contrasts are identical");
    // Same support (one shared deformation): background is zero in both.
    let same = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| (**x == 0.0) == (**y == 0.0))
        .count();
    assert!(same as f64 > 0.95 * a.len() as f64);
    assert_eq!(synth_pair(&p, 1).unwrap()[0], a, "not seeded");
    let v = block(contrast_swap(&model, &a, &b, &p, &dev)).unwrap();
    assert_eq!(v.a_in_b.data.len(), 256);
    assert!(v.a_in_b.data.iter().all(|x| x.is_finite()));
    assert!(v.a_vs_b > 0.0);
    // Wrong sizes are an error, not a panic.
    assert!(block(contrast_swap(&model, &a[1..], &b, &p, &dev)).is_err());
    // Without labels there is nothing to synthesise from.
    let bare = TeachPatch {
        labels: None,
        ..p.clone()
    };
    assert!(synth_pair(&bare, 1).is_err());
    let empty = TeachPatch {
        labels: Some(vec![0; p.image.len()]),
        ..p
    };
    assert!(synth_pair(&empty, 1)
        .unwrap_err()
        .to_string()
        .contains("crosshair"));
}

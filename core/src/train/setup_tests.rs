use burn::prelude::*;

use super::*;
use crate::bundle::{Bundle, BundleMeta, Task};
use crate::model::Preset;

/// Preprocessing no default would produce: every field the fine-tuner must keep differs.
fn unusual_preprocess() -> PreprocessConfig {
    PreprocessConfig {
        target_spacing: [1.2, 1.2, 2.0],
        crop_margin: 7,
        pad_multiple: 8,
        min_size: [24; 3],
        normalize: false,
    }
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

/// A segmentation bundle for `classes` (weights left empty: the set-up never reads them).
fn seg_bundle(classes: usize) -> Bundle {
    let config = segmentation_config(&Preset::Tiny.config(None), classes);
    let class_names = (0..classes).map(|c| format!("tissue {c}")).collect();
    Bundle::from_parts(config, meta(Task::Segmentation, class_names), Vec::new())
}

fn pretrained_bundle() -> Bundle {
    Bundle::from_parts(
        Preset::Tiny.config(None),
        meta(Task::Pretrained, vec![]),
        Vec::new(),
    )
}

fn meta(task: Task, class_names: Vec<String>) -> BundleMeta {
    BundleMeta {
        postprocess: Default::default(),
        name: "start".into(),
        task,
        class_names,
        preprocess: unusual_preprocess(),
        patch_size: [48, 48, 32],
        provenance: String::new(),
        created_by: String::new(),
    }
}

fn options(data_classes: usize) -> FinetuneOptions {
    FinetuneOptions {
        data_classes,
        ..FinetuneOptions::default()
    }
}

#[test]
fn the_bundle_preprocessing_is_kept_and_only_padding_follows_the_patch() {
    for bundle in [seg_bundle(3), pretrained_bundle()] {
        let setup = FinetuneSetup::new(Start::Bundle(&bundle), &options(3)).unwrap();
        let stride = setup.config.stride();
        assert_eq!(setup.patch, 48, "the bundle's patch edge");
        assert_eq!(
            setup.preprocess,
            PreprocessConfig {
                pad_multiple: stride,
                min_size: [48; 3],
                ..unusual_preprocess()
            }
        );
        // The fine-tuned bundle records what it was trained with.
        let meta = setup.meta("ft".into(), String::new(), String::new());
        assert_eq!(meta.preprocess, setup.preprocess);
        assert_eq!(meta.patch_size, [48, 48, 32]);
    }
}

#[test]
fn an_explicit_spacing_is_the_only_override() {
    let bundle = seg_bundle(3);
    let setup = FinetuneSetup::new(
        Start::Bundle(&bundle),
        &FinetuneOptions {
            spacing: Some(1.5),
            patch: Some(32),
            ..options(3)
        },
    )
    .unwrap();
    assert_eq!(setup.preprocess.target_spacing, [1.5; 3]);
    assert_eq!(setup.preprocess.crop_margin, 7);
    assert!(!setup.preprocess.normalize);
    assert_eq!(setup.preprocess.min_size, [32; 3]);
    assert_eq!(setup.inference_patch, [32; 3]);
    for bad in [0.0, -1.0, f64::NAN] {
        let err = FinetuneSetup::new(
            Start::Bundle(&bundle),
            &FinetuneOptions {
                spacing: Some(bad),
                ..options(3)
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("spacing"), "{err}");
    }
}

#[test]
fn a_preset_starts_from_the_pipeline_defaults() {
    let setup = FinetuneSetup::new(
        Start::Preset(Preset::Tiny),
        &FinetuneOptions {
            class_names: names(&["background", "brain"]),
            ..options(2)
        },
    )
    .unwrap();
    assert_eq!(setup.patch, Preset::Tiny.default_patch());
    assert_eq!(
        setup.preprocess,
        PreprocessConfig {
            pad_multiple: setup.config.stride(),
            min_size: [setup.patch; 3],
            ..PreprocessConfig::default()
        }
    );
    assert_eq!(setup.config, Preset::Tiny.config(Some(2)));
    assert!(!setup.keep_head);
}

#[test]
fn patches_are_multiples_of_the_stride() {
    assert_eq!(finetune_patch(Some(32), 64, Some(16), 16).unwrap(), 32);
    assert!(finetune_patch(Some(40), 64, None, 16)
        .unwrap_err()
        .to_string()
        .contains("multiple of the network's stride, 16"));
    assert!(finetune_patch(Some(0), 64, None, 16).is_err());
    // Automatic: the model's, capped by a slow device, rounded up to the stride.
    assert_eq!(finetune_patch(None, 64, None, 16).unwrap(), 64);
    assert_eq!(finetune_patch(None, 64, Some(32), 16).unwrap(), 32);
    assert_eq!(finetune_patch(None, 40, None, 16).unwrap(), 48);
    assert_eq!(finetune_patch(None, 8, None, 16).unwrap(), 16);
}

#[test]
fn the_head_is_kept_only_when_it_fits() {
    let bundle = seg_bundle(4);
    let start = Start::Bundle(&bundle);
    let kept = FinetuneSetup::new(start, &options(3)).unwrap();
    assert!(kept.keep_head);
    assert_eq!(kept.config, *bundle.config());
    assert_eq!(
        kept.class_names,
        names(&["tissue 0", "tissue 1", "tissue 2", "tissue 3"])
    );

    let named = FinetuneOptions {
        class_names: names(&["bg", "", "b", "c"]),
        ..options(4)
    };
    let kept = FinetuneSetup::new(start, &named).unwrap();
    assert!(kept.keep_head);
    assert_eq!(kept.class_names, names(&["bg", "tissue 1", "b", "c"]));

    // More labels than the head has, other names, or an explicit request: a new head.
    for (opts, classes) in [
        (options(6), 6),
        (
            FinetuneOptions {
                class_names: names(&["bg", "brain"]),
                ..options(2)
            },
            2,
        ),
        (
            FinetuneOptions {
                new_head: true,
                ..options(2)
            },
            2,
        ),
    ] {
        let fresh = FinetuneSetup::new(start, &opts).unwrap();
        assert!(!fresh.keep_head, "{opts:?}");
        assert_eq!(fresh.classes(), classes);
        assert_eq!(fresh.config.seg_classes(), Some(classes));
        assert_eq!(
            fresh.class_names[0],
            opts.class_names.first().map_or("background", |n| n)
        );
    }
    assert_eq!(
        FinetuneSetup::new(start, &options(6)).unwrap().class_names[5],
        "label 5"
    );

    // A pre-trained bundle has no head to keep.
    let pretrained = pretrained_bundle();
    let setup = FinetuneSetup::new(Start::Bundle(&pretrained), &options(3)).unwrap();
    assert!(!setup.keep_head);
    assert_eq!(setup.config, segmentation_config(pretrained.config(), 3));
}

#[test]
fn the_starting_weights_follow_the_head_rule() {
    let dev = Device::flex();
    let config = segmentation_config(&Preset::Tiny.config(None), 2);
    let model = config.init(&dev).unwrap();
    let bundle = Bundle::from_model(
        &model,
        config,
        meta(Task::Segmentation, names(&["background", "brain"])),
    )
    .unwrap();
    let start = Start::Bundle(&bundle);
    let started = |opts: FinetuneOptions| {
        FinetuneSetup::new(start, &opts)
            .unwrap()
            .start_model(Some(&bundle), &dev)
            .unwrap()
            .1
    };
    assert_eq!(started(options(2)), Started::Whole);
    assert!(matches!(
        started(FinetuneOptions {
            new_head: true,
            ..options(2)
        }),
        Started::Representation(n) if n > 0
    ));
    assert_eq!(
        started(FinetuneOptions {
            from_scratch: true,
            ..options(2)
        }),
        Started::Random
    );
}

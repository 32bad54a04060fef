use burn::prelude::*;
use burn::tensor::Distribution;

use super::*;
use crate::model::Preset;
use crate::volume::PreprocessConfig;

fn meta() -> BundleMeta {
    BundleMeta {
        postprocess: Default::default(),
        name: "test".into(),
        task: Task::Segmentation,
        class_names: vec!["background".into(), "brain".into()],
        preprocess: PreprocessConfig::default(),
        patch_size: [16, 16, 16],
        provenance: "unit test".into(),
        created_by: "brainfm test".into(),
    }
}

fn tiny_bundle(device: &Device) -> (BrainNet, Bundle) {
    let config = Preset::Tiny.config(Some(2));
    let model = config.init(device).unwrap();
    let bundle = Bundle::from_model(&model, config, meta()).unwrap();
    (model, bundle)
}

#[test]
fn a_bundle_round_trips_through_bytes_with_identical_outputs() {
    let dev = Device::flex();
    let (model, bundle) = tiny_bundle(&dev);
    let bytes = bundle.to_bytes();
    let loaded = Bundle::from_bytes(&bytes).unwrap();
    assert_eq!(loaded.header, bundle.header);
    let reloaded = loaded.load_model(&dev).unwrap();
    let x = Tensor::<5>::random([1, 1, 16, 16, 16], Distribution::Normal(0.0, 1.0), &dev);
    let a = model.segment(x.clone()).unwrap();
    let b = reloaded.segment(x).unwrap();
    let diff: f32 = (a - b).abs().max().into_scalar();
    assert_eq!(diff, 0.0);
}

#[test]
fn a_flipped_weight_byte_fails_the_checksum() {
    let (_, bundle) = tiny_bundle(&Device::flex());
    let mut bytes = bundle.to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    assert!(matches!(
        Bundle::from_bytes(&bytes),
        Err(BundleError::Checksum { .. })
    ));
}

#[test]
fn truncated_and_foreign_files_are_refused() {
    let (_, bundle) = tiny_bundle(&Device::flex());
    let bytes = bundle.to_bytes();
    assert!(matches!(
        Bundle::from_bytes(&bytes[..10]),
        Err(BundleError::Truncated { .. })
    ));
    assert!(matches!(
        Bundle::from_bytes(&bytes[..bytes.len() - 100]),
        Err(BundleError::WeightsLength { .. })
    ));
    assert!(matches!(
        Bundle::from_bytes(b"\x1f\x8b\x08\x00not a bundle at all"),
        Err(BundleError::BadMagic)
    ));
    let mut future = bytes.clone();
    future[8] = 99;
    assert!(matches!(
        Bundle::from_bytes(&future),
        Err(BundleError::UnsupportedVersion { found: 99, .. })
    ));
    let mut broken_header = bytes;
    broken_header[17] = b'#';
    assert!(matches!(
        Bundle::from_bytes(&broken_header),
        Err(BundleError::BadHeader(_))
    ));
}

#[test]
fn weights_for_another_configuration_are_a_mismatch() {
    let dev = Device::flex();
    let (_, bundle) = tiny_bundle(&dev);
    // Same weights, but the header claims three classes.
    let wrong = Bundle::from_parts(Preset::Tiny.config(Some(3)), meta(), bundle.weights.clone());
    let parsed = Bundle::from_bytes(&wrong.to_bytes()).unwrap();
    assert!(matches!(
        parsed.load_model(&dev),
        Err(BundleError::WeightsMismatch(_))
    ));
    // Weights of a smaller network: tensors are missing.
    let pretrain_only = Bundle::from_model(
        &Preset::Tiny.config(None).init(&dev).unwrap(),
        Preset::Tiny.config(None),
        meta(),
    )
    .unwrap();
    let wrong = Bundle::from_parts(Preset::Tiny.config(Some(2)), meta(), pretrain_only.weights);
    assert!(matches!(
        wrong.load_model(&dev),
        Err(BundleError::WeightsMismatch(_))
    ));
}

/// Logits on a fixed input. Not drawn from the device RNG: its seed is global to the
/// backend, and tests running in parallel would draw different inputs.
fn logits(model: &BrainNet, dev: &Device) -> Tensor<5> {
    let values: Vec<f32> = (0..16 * 16 * 16)
        .map(|i| ((i as f32) * 0.37).sin())
        .collect();
    let x = Tensor::<5>::from_data(TensorData::new(values, [1, 1, 16, 16, 16]), dev);
    model.segment(x).unwrap()
}

#[test]
fn export_drops_the_pretraining_decoder_and_keeps_the_outputs() {
    let dev = Device::flex();
    let (model, bundle) = tiny_bundle(&dev);
    assert!(bundle.config().recon.is_some());
    let exported = export_for_inference(&bundle, ExportOptions::default()).unwrap();
    assert!(exported.config().recon.is_none());
    assert!(exported.weights.len() < bundle.weights.len());
    let reloaded = Bundle::from_bytes(&exported.to_bytes())
        .unwrap()
        .load_model(&dev)
        .unwrap();
    let diff: f32 = (logits(&model, &dev) - logits(&reloaded, &dev))
        .abs()
        .max()
        .into_scalar();
    assert_eq!(diff, 0.0);
}

#[test]
fn half_precision_export_halves_the_weights_and_keeps_the_decisions() {
    let dev = Device::flex();
    let (model, bundle) = tiny_bundle(&dev);
    let full = export_for_inference(&bundle, ExportOptions::default()).unwrap();
    let half = export_for_inference(
        &bundle,
        ExportOptions {
            half: true,
            ..ExportOptions::default()
        },
    )
    .unwrap();
    let ratio = half.weights.len() as f64 / full.weights.len() as f64;
    assert!(
        (0.45..0.55).contains(&ratio),
        "f16 weights are {ratio:.2} of f32"
    );
    let reloaded = Bundle::from_bytes(&half.to_bytes())
        .unwrap()
        .load_model(&dev)
        .unwrap();
    let (a, b) = (logits(&model, &dev), logits(&reloaded, &dev));
    let scale: f32 = a.clone().abs().max().into_scalar();
    let diff: f32 = (a.clone() - b.clone()).abs().max().into_scalar();
    assert!(
        diff <= 0.01 * scale.max(1.0),
        "f16 changed logits by {diff} (scale {scale})"
    );
    let agree: f32 = a.argmax(1).equal(b.argmax(1)).float().mean().into_scalar();
    assert!(agree >= 0.99, "argmax agreement {agree}");
}

#[test]
fn fine_tuning_takes_over_the_encoder_and_latent_but_not_the_decoder() {
    let dev = Device::flex();
    // A pre-trained (reconstruction) model, and a segmentation model for 3 classes.
    let pre_config = Preset::Tiny.config(None);
    let pre = pre_config.init(&dev).unwrap();
    let mut meta = meta();
    meta.task = Task::Pretrained;
    let bundle = Bundle::from_model(&pre, pre_config.clone(), meta).unwrap();
    let seg_config = pre_config.with_seg_classes(3, 1);
    let mut model = seg_config.init(&dev).unwrap();
    let x = Tensor::<5>::random([1, 1, 16, 16, 16], Distribution::Normal(0.0, 1.0), &dev);
    let seg_out = |m: &BrainNet| m.segment(x.clone()).unwrap();
    let deep = |m: &BrainNet| m.represent(x.clone()).deep();
    let max_diff = |a: Tensor<5>, b: Tensor<5>| -> f32 { (a - b).abs().max().into_scalar() };
    assert!(
        max_diff(deep(&model), deep(&pre)) > 0.0,
        "inits must differ"
    );
    let fresh = seg_out(&model);
    let n = bundle.transfer_representation(&mut model).unwrap();
    assert!(n > 10, "only {n} tensors copied");
    assert_eq!(max_diff(deep(&model), deep(&pre)), 0.0);
    // Same decoder on a new representation: the output changes, the decoder did not.
    assert!(max_diff(seg_out(&model), fresh) > 0.0);
    let mut again = seg_config.init(&dev).unwrap();
    again.seg = model.seg.clone();
    bundle.transfer_representation(&mut again).unwrap();
    assert_eq!(max_diff(seg_out(&again), seg_out(&model)), 0.0);

    // Another encoder does not fit.
    let mut other = Preset::Small
        .config(None)
        .with_seg_classes(3, 1)
        .init(&dev)
        .unwrap();
    assert!(bundle.transfer_representation(&mut other).is_err());
}

#[test]
fn async_saving_writes_the_same_tensors_as_the_sync_store() {
    let dev = Device::flex();
    let config = Preset::Tiny.config(Some(3));
    let model = config.init(&dev).unwrap();
    let sync = save_weights(&model).unwrap();
    let asynchronous = pollster::block_on(save_weights_async(&model)).unwrap();
    let (a, b) = (
        safetensors::RawTensors::parse(&sync).unwrap(),
        safetensors::RawTensors::parse(&asynchronous).unwrap(),
    );
    assert!(!a.tensors.is_empty());
    assert_eq!(a.tensors, b.tensors);
    // And the bundle it makes loads strictly (nothing missing, nothing extra).
    let bundle = pollster::block_on(Bundle::from_model_async(&model, config, meta())).unwrap();
    let reloaded = Bundle::from_bytes(&bundle.to_bytes())
        .unwrap()
        .load_model(&dev)
        .unwrap();
    let x = Tensor::<5>::random([1, 1, 16, 16, 16], Distribution::Normal(0.0, 1.0), &dev);
    let diff: f32 = (model.segment(x.clone()).unwrap() - reloaded.segment(x).unwrap())
        .abs()
        .max()
        .into_scalar();
    assert_eq!(diff, 0.0);
}

#[test]
fn saving_the_same_weights_gives_the_same_bytes() {
    let model = Preset::Tiny.config(Some(4)).init(&Device::flex()).unwrap();
    let first = save_weights(&model).unwrap();
    for _ in 0..4 {
        assert!(
            save_weights(&model).unwrap() == first,
            "weights bytes differ between saves"
        );
    }
}

/// Inputs the fuzzers (fuzz/fuzz_targets/) found to panic; each must now be an error.
#[test]
fn fuzzer_findings_are_errors() {
    let dev = Device::flex();
    let (mut model, _) = tiny_bundle(&dev);
    // fuzz/weights: a safetensors header length of u64::MAX overflowed `8 + n`.
    let huge_header = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa8, 0x17, 0xa8, 0x17, 0, 0, 0,
    ];
    assert!(load_weights(&mut model, &huge_header).is_err());
}

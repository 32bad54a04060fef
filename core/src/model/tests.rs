use burn::module::Module;
use burn::prelude::*;
use burn::tensor::module::{conv3d, conv_transpose3d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::Distribution;

use super::blocks::{avg_pool_cells, voxel_shuffle, Upsample2x};
use super::*;

fn device() -> Device {
    Device::flex()
}

fn params(preset: Preset, classes: Option<usize>) -> usize {
    preset.config(classes).init(&device()).unwrap().num_params()
}

#[test]
fn base_is_the_fomo25_winner_size() {
    let n = params(Preset::Base, None);
    assert!(
        (17_000_000..=21_000_000).contains(&n),
        "base has {n} parameters"
    );
}

#[test]
fn resenc_l_is_about_100m() {
    let n = params(Preset::ResEncL, None);
    assert!(
        (90_000_000..=110_000_000).contains(&n),
        "resenc-l has {n} parameters"
    );
}

#[test]
fn browser_presets_fit_their_budgets_with_a_segmentation_decoder() {
    let small = params(Preset::Small, Some(4));
    let tiny = params(Preset::Tiny, Some(4));
    assert!(small <= 2_000_000, "small has {small} parameters");
    assert!(tiny <= 300_000, "tiny has {tiny} parameters");
    assert!(tiny < small);
}

#[test]
fn presets_parse_by_name() {
    for p in Preset::ALL {
        assert_eq!(Preset::parse(p.name()).unwrap(), p);
    }
    assert!(matches!(
        Preset::parse("huge"),
        Err(ModelError::UnknownPreset(_))
    ));
}

#[test]
fn voxel_shuffle_upsampling_equals_a_stride_two_transposed_conv() {
    let dev = device();
    let (cin, cout) = (3, 2);
    let x = Tensor::<5>::random([2, cin, 3, 4, 5], Distribution::Normal(0.0, 1.0), &dev);
    // A transposed-conv weight [cin, cout, 2, 2, 2] at (i, c, a, b, e) is the 1x1x1 conv
    // weight [8*cout, cin, 1, 1, 1] at out channel c*8 + a*4 + b*2 + e.
    let wt = Tensor::<5>::random([cin, cout, 2, 2, 2], Distribution::Normal(0.0, 1.0), &dev);
    let w1 = wt
        .clone()
        .permute([1, 2, 3, 4, 0])
        .reshape([cout * 8, cin, 1, 1, 1]);
    let ours = voxel_shuffle(conv3d(
        x.clone(),
        w1,
        None,
        ConvOptions::new([1, 1, 1], [0, 0, 0], [1, 1, 1], 1),
    ));
    let reference = conv_transpose3d(
        x,
        wt,
        None,
        ConvTransposeOptions::new([2, 2, 2], [0, 0, 0], [0, 0, 0], [1, 1, 1], 1),
    );
    assert_eq!(ours.dims(), [2, cout, 6, 8, 10]);
    let diff: f32 = (ours - reference).abs().max().into_scalar();
    assert!(diff < 1e-4, "max difference {diff}");
}

#[test]
fn upsample_module_doubles_every_dimension() {
    let dev = device();
    let up = Upsample2x::new(4, 3, &dev);
    let y = up.forward(Tensor::<5>::zeros([1, 4, 2, 3, 4], &dev));
    assert_eq!(y.dims(), [1, 3, 4, 6, 8]);
}

#[test]
fn avg_pool_cells_averages_each_cell() {
    let dev = device();
    let x = Tensor::<1>::from_floats(
        (0..64).map(|v| v as f32).collect::<Vec<_>>().as_slice(),
        &dev,
    )
    .reshape([1, 1, 4, 4, 4]);
    let pooled = avg_pool_cells(x, 2);
    assert_eq!(pooled.dims(), [1, 1, 2, 2, 2]);
    let v: Vec<f32> = pooled.into_data().try_to_vec::<f32>().unwrap();
    // Cell (0,0,0) holds 0,1,4,5,16,17,20,21: mean 10.5; each step in w adds 2, in h 8, in d 32.
    assert_eq!(v, vec![10.5, 12.5, 18.5, 20.5, 42.5, 44.5, 50.5, 52.5]);
}

#[test]
fn every_preset_segments_at_input_resolution() {
    let dev = device();
    for (preset, side) in [(Preset::Tiny, 16), (Preset::Small, 16)] {
        let net = preset.config(Some(3)).init(&dev).unwrap();
        let x = Tensor::<5>::random(
            [1, 1, side, side, side],
            Distribution::Normal(0.0, 1.0),
            &dev,
        );
        let y = net.segment(x).unwrap();
        assert_eq!(y.dims(), [1, 3, side, side, side], "{}", preset.name());
    }
}

#[test]
fn base_latents_sit_at_one_sixteenth_resolution() {
    let dev = device();
    let net = Preset::Base.config(None).init(&dev).unwrap();
    let rep = net.represent(Tensor::<5>::zeros([1, 1, 32, 32, 32], &dev));
    let latents = rep.latents.unwrap();
    assert_eq!(latents.subject_mean.dims(), [1, 256, 2, 2, 2]);
    assert_eq!(latents.modality_logvar.dims(), [1, 256, 2, 2, 2]);
    let recon = net.reconstruct(latents.mean_concat()).unwrap();
    assert_eq!(recon.dims(), [1, 1, 32, 32, 32]);
}

#[test]
fn cost_counts_the_first_conv_exactly() {
    let dev = device();
    let net = Preset::Base.config(None).init(&dev).unwrap();
    let cost = net.cost([64, 64, 64]);
    // First two convs at full resolution alone: 64^3 * 27 * (1*32 + 32*32).
    let first_level = 64u64.pow(3) * 27 * (32 + 32 * 32);
    assert!(cost.encoder > first_level);
    // Doubling the patch edge multiplies the cost by 8 for a fully convolutional network.
    let bigger = net.cost([128, 128, 128]);
    assert_eq!(bigger.encoder, 8 * cost.encoder);
}

#[test]
fn mismatched_configs_are_rejected() {
    let mut config = Preset::Tiny.config(Some(2));
    config.encoder.units.pop();
    assert!(matches!(
        config.init(&device()),
        Err(ModelError::InvalidConfig(_))
    ));
    let mut config = Preset::Tiny.config(Some(2));
    config.seg.as_mut().unwrap().in_channels += 1;
    assert!(matches!(
        config.init(&device()),
        Err(ModelError::InvalidConfig(_))
    ));
}

#[test]
fn missing_parts_are_errors_not_panics() {
    let dev = device();
    let net = Preset::Tiny.config(None).init(&dev).unwrap();
    let x = Tensor::<5>::zeros([1, 1, 8, 8, 8], &dev);
    assert_eq!(
        net.segment(x.clone()).unwrap_err(),
        ModelError::MissingPart("segmentation decoder")
    );
    assert!(net.predict_global(x).is_err());
}

#[test]
fn logvar_bias_sets_only_the_log_variance_heads_and_old_configs_still_parse() {
    let dev = device();
    let mut config = Preset::Tiny.config(None);
    config.latent.as_mut().unwrap().logvar_bias = Some(-5.0);
    let net = config.init(&dev).unwrap();
    let lat = net.latent.as_ref().unwrap();
    let bias = |c: &burn::nn::conv::Conv3d| -> Vec<f32> {
        c.bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert!(bias(&lat.subject_logvar).iter().all(|&b| b == -5.0));
    assert!(bias(&lat.modality_logvar).iter().all(|&b| b == -5.0));
    assert!(bias(&lat.subject_mean).iter().all(|&b| b.abs() < 1.0));
    // A bundle header from before `logvar_bias` and `anatomy` existed.
    let mut json = serde_json::to_value(Preset::Tiny.config(None)).unwrap();
    json["latent"]
        .as_object_mut()
        .unwrap()
        .remove("logvar_bias");
    json.as_object_mut().unwrap().remove("anatomy");
    let old: ModelConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.anatomy, None);
    assert!(old.init(&dev).is_ok());
}

#[test]
fn the_anatomy_head_reads_the_subject_latent_and_is_validated() {
    let dev = device();
    let mut config = Preset::Tiny.config(None);
    config.anatomy = Some(AnatomyHeadConfig::new(16, 5));
    let net = config.init(&dev).unwrap();
    let z = net
        .represent(Tensor::zeros([1, 1, 16, 16, 16], &dev))
        .latents
        .unwrap()
        .subject_mean;
    assert_eq!(
        net.anatomy.as_ref().unwrap().forward(z).dims(),
        [1, 5, 2, 2, 2]
    );
    config.anatomy = Some(AnatomyHeadConfig::new(17, 5));
    assert!(config.init(&dev).is_err());
    config.anatomy = Some(AnatomyHeadConfig::new(16, 1));
    assert!(config.init(&dev).is_err());
    let mut plain = Preset::ResEncL.config(None);
    plain.anatomy = Some(AnatomyHeadConfig::new(16, 5));
    assert!(plain.validate().is_err());
}

#[test]
fn a_configuration_too_large_to_build_is_refused_before_allocating() {
    // Every preset, with each head, is far inside the bound.
    for p in Preset::ALL {
        let cfg = p.config(Some(4));
        assert!(
            cfg.parameter_bound() < MAX_PARAMETERS / 2,
            "{p:?}: {}",
            cfg.parameter_bound()
        );
        assert!(cfg.validate().is_ok());
    }
    // A bundle header asking for absurd widths gets an error, not an allocation or a panic.
    for widths in [vec![1usize << 20], vec![usize::MAX, 8], vec![4096; 6]] {
        let mut cfg = Preset::Tiny.config(Some(4));
        cfg.encoder.units = vec![2; widths.len()];
        cfg.encoder.widths = widths;
        let e = cfg.validate().unwrap_err().to_string();
        assert!(
            e.contains("parameters") || e.contains("does not match"),
            "{e}"
        );
        assert!(cfg.init(&Device::flex()).is_err());
    }
    let mut cfg = Preset::Base.config(Some(4));
    if let Some(l) = cfg.latent.as_mut() {
        l.subject_channels = usize::MAX;
    }
    assert!(cfg.validate().is_err());
}

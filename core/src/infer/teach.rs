//! Teaching views of the self-supervised objectives, computed from a user's scan with the
//! same masking, latent split and decoders that pre-training uses: what the model fills in
//! under a block mask, and what the cross-contrast swap does (one subject's anatomy
//! rendered in another scan's contrast). The browser app shows these; they live here so
//! the app does not re-implement any of it.
//!
//! Everything works on one patch of the network grid around a point the user picks, so a
//! small device answers in seconds, and returns one axial slice through that point.

use burn::prelude::*;

use crate::bundle::BundleMeta;
use crate::model::{BrainNet, ModelConfig};
use crate::rng::Rng;
use crate::ssl::{apply_mask, block_mask, MaskConfig, SslError};
use crate::synth::{synth_subject, SynthConfig, SynthError};
use crate::volume::affine::{inv3, linear};
use crate::volume::{preprocess, zscore_foreground, Grid, LabelMap, PreprocessConfig, Volume};
use crate::volume::{Affine, VolumeError};

#[derive(Debug, thiserror::Error)]
pub enum TeachError {
    #[error("{0}")]
    Volume(#[from] VolumeError),
    #[error("{0}")]
    Mask(#[from] SslError),
    #[error("synthesis: {0}")]
    Synth(#[from] SynthError),
    #[error("this model has no {0}; the teaching views need a pre-trained model (e.g. the bundled pretrained.bfm)")]
    ModelLacks(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("the compute device failed while reading results: {0}")]
    Device(String),
}

/// One axial slice for display, in the viewer's axial orientation: columns run from the
/// patient's left to right (RAS x), rows from anterior (top) to posterior.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

/// A patch of the network grid around the chosen point: the preprocessed scan and,
/// when given, the label map on the same voxels. `size` is x, y, z (x fastest in `image`).
#[derive(Clone, Debug)]
pub struct TeachPatch {
    pub image: Vec<f32>,
    pub labels: Option<Vec<u16>>,
    pub size: [usize; 3],
    pub spacing: [f64; 3],
    /// z index (in the patch) of the chosen point: the slice the views show.
    pub slice: usize,
}

/// Block masking, the model's reconstruction and the error, on one slice.
#[derive(Clone, Debug)]
pub struct MaskedView {
    pub original: Slice,
    /// What the model sees: masked voxels zero-filled.
    pub masked: Slice,
    pub reconstruction: Slice,
    /// |reconstruction - original|.
    pub error: Slice,
    /// 1 where hidden.
    pub mask: Slice,
    /// Mean absolute error over the whole patch's hidden and visible voxels.
    pub masked_error: f64,
    pub visible_error: f64,
    pub masked_fraction: f64,
}

/// Two contrasts of one subject and "A's anatomy in B's contrast" on one slice.
#[derive(Clone, Debug)]
pub struct SwapView {
    pub a: Slice,
    pub b: Slice,
    pub a_in_b: Slice,
    /// |a_in_b - b|.
    pub error: Slice,
    /// Mean absolute difference to B over the patch's foreground: of the swap and, for
    /// scale, of A itself.
    pub swap_vs_b: f64,
    pub a_vs_b: f64,
}

fn patch_dims(meta: &BundleMeta, config: &ModelConfig) -> [usize; 3] {
    let s = config.stride().max(1);
    // patch_size is stored depth-first (z, y, x), as the network sees it.
    let p = meta.patch_size;
    [p[2], p[1], p[0]].map(|e| e.max(1).div_ceil(s) * s)
}

/// Voxel (of a grid with `affine`) nearest to the world point `mm`.
fn world_to_voxel(affine: &Affine, mm: [f64; 3]) -> Result<[f64; 3], TeachError> {
    let inv = inv3(&linear(affine))
        .ok_or_else(|| TeachError::Invalid("the scan's affine cannot be inverted".into()))?;
    let d = [
        mm[0] - affine[0][3],
        mm[1] - affine[1][3],
        mm[2] - affine[2][3],
    ];
    Ok(std::array::from_fn(|r| {
        (0..3).map(|c| inv[r][c] * d[c]).sum::<f64>()
    }))
}

/// Start of a `size` box holding `centre` (voxels), kept inside `dims`.
pub fn patch_origin(dims: [usize; 3], size: [usize; 3], centre: [f64; 3]) -> [usize; 3] {
    std::array::from_fn(|a| {
        let c = if centre[a].is_finite() {
            centre[a].round()
        } else {
            0.0
        };
        let start = c - (size[a] / 2) as f64;
        start.clamp(0.0, dims[a].saturating_sub(size[a]) as f64) as usize
    })
}

fn cut<T: Copy>(g: &Grid<T>, origin: [usize; 3], size: [usize; 3]) -> Vec<T> {
    let mut out = Vec::with_capacity(size[0] * size[1] * size[2]);
    for z in 0..size[2] {
        for y in 0..size[1] {
            let row = g.index(origin[0], origin[1] + y, origin[2] + z);
            out.extend_from_slice(&g.data[row..row + size[0]]);
        }
    }
    out
}

/// Preprocess `scan` exactly as the model expects and cut its patch around the world point
/// `centre_mm` (RAS mm); `labels` (on the scan's grid) are cut on the same voxels.
pub fn teaching_patch(
    scan: &Volume,
    labels: Option<&LabelMap>,
    config: &ModelConfig,
    meta: &BundleMeta,
    centre_mm: [f64; 3],
) -> Result<TeachPatch, TeachError> {
    let size = patch_dims(meta, config);
    let prep = PreprocessConfig {
        pad_multiple: config.stride().max(1),
        min_size: size,
        ..meta.preprocess.clone()
    };
    let pre = preprocess(scan, &prep)?;
    let v = &pre.volume;
    let centre = world_to_voxel(&v.affine, centre_mm)?;
    let origin = patch_origin(v.dims, size, centre);
    let labels = match labels {
        Some(l) => {
            let on_grid = pre.transform.labels_from_input(l)?;
            Some(cut(&v.with_data(on_grid)?, origin, size))
        }
        None => None,
    };
    let slice = (centre[2].round().max(0.0) as usize)
        .saturating_sub(origin[2])
        .min(size[2] - 1);
    Ok(TeachPatch {
        image: cut(v, origin, size),
        labels,
        size,
        spacing: v.spacing,
        slice,
    })
}

/// Axial slice `z` of a patch, rows from anterior (top) to posterior.
pub fn axial_slice(data: &[f32], size: [usize; 3], z: usize) -> Slice {
    let [w, h, _] = size;
    let plane = &data[z * w * h..(z + 1) * w * h];
    let mut out = Vec::with_capacity(w * h);
    for y in (0..h).rev() {
        out.extend_from_slice(&plane[y * w..(y + 1) * w]);
    }
    Slice {
        width: w,
        height: h,
        data: out,
    }
}

fn tensor(data: &[f32], size: [usize; 3], device: &Device) -> Tensor<5> {
    Tensor::from_data(
        TensorData::new(data.to_vec(), [1, 1, size[2], size[1], size[0]]),
        device,
    )
}

async fn read(t: Tensor<5>) -> Result<Vec<f32>, TeachError> {
    t.into_data_async()
        .await
        .map_err(|e| TeachError::Device(format!("{e:?}")))?
        .try_to_vec::<f32>()
        .map_err(|e| TeachError::Device(format!("{e:?}")))
}

/// The pre-training reconstruction of `latent_concat`: the skip-free decoder of the
/// latent-split models, as the swap and MAE objectives use it.
fn decode(model: &BrainNet, latent_concat: Tensor<5>) -> Result<Tensor<5>, TeachError> {
    let out = model
        .reconstruct(latent_concat)
        .map_err(|_| TeachError::ModelLacks("reconstruction decoder"))?;
    if out.dims()[1] != 1 {
        return Err(TeachError::ModelLacks("1-channel reconstruction decoder"));
    }
    Ok(out)
}

/// Hide `mask.ratio` of the patch in cubes of `mask.block` voxels, let the model fill it
/// in from the latent means (what pre-training learnt, without sampling noise), and
/// compare with the original.
pub async fn masked_reconstruction(
    model: &BrainNet,
    patch: &TeachPatch,
    mask: &MaskConfig,
    seed: u64,
    device: &Device,
) -> Result<MaskedView, TeachError> {
    if model.latent.is_none() {
        return Err(TeachError::ModelLacks("subject/modality latent split"));
    }
    let size = patch.size;
    let hidden = block_mask(1, [size[2], size[1], size[0]], mask, &mut Rng::new(seed))?;
    let x = tensor(&patch.image, size, device);
    let m = tensor(&hidden, size, device);
    let rep = model.represent(apply_mask(x, m));
    let latents = rep
        .latents
        .ok_or(TeachError::ModelLacks("subject/modality latent split"))?;
    let recon = read(decode(model, latents.mean_concat())?).await?;
    let masked: Vec<f32> = patch
        .image
        .iter()
        .zip(&hidden)
        .map(|(v, h)| v * (1.0 - h))
        .collect();
    let error: Vec<f32> = recon
        .iter()
        .zip(&patch.image)
        .map(|(r, v)| (r - v).abs())
        .collect();
    let mean_where = |want: f32| {
        let (s, n) = error
            .iter()
            .zip(&hidden)
            .filter(|(_, h)| **h == want)
            .fold((0f64, 0usize), |(s, n), (e, _)| (s + *e as f64, n + 1));
        if n == 0 {
            0.0
        } else {
            s / n as f64
        }
    };
    let z = patch.slice;
    Ok(MaskedView {
        original: axial_slice(&patch.image, size, z),
        masked: axial_slice(&masked, size, z),
        reconstruction: axial_slice(&recon, size, z),
        error: axial_slice(&error, size, z),
        mask: axial_slice(&hidden, size, z),
        masked_error: mean_where(1.0),
        visible_error: mean_where(0.0),
        masked_fraction: hidden.iter().map(|&h| h as f64).sum::<f64>() / hidden.len() as f64,
    })
}

/// Two random contrasts of the patch's anatomy (core's SynthSeg-style synthesis; one
/// shared deformation, so they stay co-registered), each z-scored like a real scan.
pub fn synth_pair(patch: &TeachPatch, seed: u64) -> Result<[Vec<f32>; 2], TeachError> {
    let labels = patch.labels.as_ref().ok_or_else(|| {
        TeachError::Invalid("a label map is needed to synthesise contrasts".into())
    })?;
    let s = patch.spacing;
    let affine = [
        [s[0], 0.0, 0.0, 0.0],
        [0.0, s[1], 0.0, 0.0],
        [0.0, 0.0, s[2], 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let map = LabelMap::new(patch.size, s, affine, labels.clone())?;
    let cfg = SynthConfig {
        contrasts: vec!["A".into(), "B".into()],
        ..SynthConfig::default()
    };
    let subject = synth_subject(&map, &cfg, seed).map_err(|e| match e {
        SynthError::EmptyLabels => TeachError::Invalid(
            "no labelled voxels around the crosshair: move it into the brain".into(),
        ),
        e => e.into(),
    })?;
    let mut images = subject.images.into_iter().map(|(_, v)| {
        let mut d = v.data;
        zscore_foreground(&mut d);
        d
    });
    match (images.next(), images.next()) {
        (Some(a), Some(b)) => Ok([a, b]),
        _ => Err(TeachError::Invalid(
            "synthesis returned fewer than two contrasts".into(),
        )),
    }
}

/// Encode A and B, decode A's subject latent with B's modality latent.
pub async fn contrast_swap(
    model: &BrainNet,
    a: &[f32],
    b: &[f32],
    patch: &TeachPatch,
    device: &Device,
) -> Result<SwapView, TeachError> {
    let size = patch.size;
    let n = size[0] * size[1] * size[2];
    if a.len() != n || b.len() != n {
        return Err(TeachError::Invalid(format!(
            "contrast images of {} and {} voxels for a {size:?} patch",
            a.len(),
            b.len()
        )));
    }
    let lat = |x: &[f32]| {
        model
            .represent(tensor(x, size, device))
            .latents
            .ok_or(TeachError::ModelLacks("subject/modality latent split"))
    };
    let (la, lb) = (lat(a)?, lat(b)?);
    let swapped = decode(
        model,
        Tensor::cat(vec![la.subject_mean, lb.modality_mean], 1),
    )?;
    let a_in_b = read(swapped).await?;
    let error: Vec<f32> = a_in_b.iter().zip(b).map(|(s, v)| (s - v).abs()).collect();
    let foreground_mean = |x: &[f32]| {
        let (s, k) = x
            .iter()
            .zip(b)
            .filter(|(_, v)| **v != 0.0)
            .fold((0f64, 0usize), |(s, k), (x, v)| {
                (s + (x - v).abs() as f64, k + 1)
            });
        if k == 0 {
            0.0
        } else {
            s / k as f64
        }
    };
    let z = patch.slice;
    Ok(SwapView {
        swap_vs_b: foreground_mean(&a_in_b),
        a_vs_b: foreground_mean(a),
        a: axial_slice(a, size, z),
        b: axial_slice(b, size, z),
        a_in_b: axial_slice(&a_in_b, size, z),
        error: axial_slice(&error, size, z),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Task;
    use crate::model::Preset;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        pollster::block_on(f)
    }

    fn meta(patch: usize) -> BundleMeta {
        BundleMeta {
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
        let web = export_for_inference(&bundle, ExportOptions { half: true }).unwrap();
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
}

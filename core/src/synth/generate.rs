//! One synthetic subject from a label map.

use serde::{Deserialize, Serialize};

use super::field::{gaussian_blur, smooth_field};
use super::real::{label_medians, RealIntensities, TransferCurve};
use super::SynthError;
use crate::rng::Rng;
use crate::volume::{LabelMap, Volume};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SynthConfig {
    /// Contrast names (BIDS suffixes); each gets its own random intensities.
    pub contrasts: Vec<String>,
    /// Standard deviation (mm) of the displacement at the deformation control points.
    pub deform_mm: f64,
    /// Control points per axis of the deformation lattice (fewer = smoother).
    pub deform_control: usize,
    /// Range of per-label mean intensities (label 0, background, stays 0).
    pub intensity: [f64; 2],
    /// Range of per-label texture standard deviation, relative to the intensity range.
    pub texture: [f64; 2],
    /// Gaussian sigma (voxels) of partial-volume smoothing at label boundaries.
    pub partial_volume: f64,
    /// Range of the resolution blur sigma (voxels), drawn per contrast.
    pub blur: [f64; 2],
    /// Standard deviation of the log bias field.
    pub bias: f64,
    /// Range of the noise standard deviation, relative to the intensity range.
    pub noise: [f64; 2],
    /// Intensity orderings (contrast name, labels from darkest to brightest): in that
    /// contrast the listed labels' random means are sorted into this order (e.g. T1w:
    /// skull < CSF < GM < WM), so some contrasts follow real MRI physics while the others
    /// stay fully random.
    pub orders: Vec<(String, Vec<u16>)>,
    /// Probability, per contrast, that the air holds magnitude (Rayleigh) noise as in a
    /// raw scan instead of exact zeros as in a skull-stripped or masked one.
    pub air_prob: f64,
    /// Range of the air noise level (Rayleigh sigma), relative to the intensity range.
    pub air_noise: [f64; 2],
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            contrasts: vec!["T1w".into(), "T2w".into(), "FLAIR".into()],
            deform_mm: 2.0,
            deform_control: 6,
            intensity: [0.1, 1.0],
            texture: [0.0, 0.05],
            partial_volume: 0.6,
            blur: [0.3, 1.0],
            bias: 0.25,
            noise: [0.0, 0.03],
            orders: Vec::new(),
            air_prob: 0.0,
            air_noise: [0.005, 0.04],
        }
    }
}

impl SynthConfig {
    fn validate(&self) -> Result<(), SynthError> {
        let bad = |m: &str| Err(SynthError::BadConfig(m.into()));
        if self.contrasts.is_empty() {
            return bad("at least one contrast is needed");
        }
        let ranges = [
            self.intensity,
            self.texture,
            self.blur,
            self.noise,
            self.air_noise,
        ];
        if ranges
            .iter()
            .any(|r| !(r[0].is_finite() && r[1].is_finite() && r[0] <= r[1] && r[0] >= 0.0))
        {
            return bad("ranges must be finite, non-negative and ordered (low <= high)");
        }
        if !(0.0..=1.0).contains(&self.air_prob) {
            return bad("the air-noise probability must be in [0, 1]");
        }
        if ![self.deform_mm, self.partial_volume, self.bias]
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0)
        {
            return bad("deformation, partial-volume and bias settings must be finite and >= 0");
        }
        Ok(())
    }
}

/// A synthetic subject: the deformed label map and one image per contrast, all on the
/// label map's grid.
#[derive(Clone, Debug)]
pub struct SynthSubject {
    pub labels: LabelMap,
    pub images: Vec<(String, Volume)>,
}

/// A smooth random displacement (voxels), one field per axis.
fn displacement(labels: &LabelMap, cfg: &SynthConfig, rng: &mut Rng) -> Vec<Vec<f32>> {
    (0..3)
        .map(|a| {
            let sd_vox = cfg.deform_mm / labels.spacing[a].max(1e-6);
            smooth_field(labels.dims, cfg.deform_control, sd_vox, rng)
        })
        .collect()
}

/// Nearest-neighbour warp of the labels by `disp`.
fn warp_labels(labels: &LabelMap, disp: &[Vec<f32>]) -> LabelMap {
    let [nx, ny, nz] = labels.dims;
    let mut out = labels.data.clone();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = x + nx * (y + ny * z);
                let src = |p: usize, d: f32, n: usize| {
                    (p as f32 + d).round().clamp(0.0, (n - 1) as f32) as usize
                };
                let (sx, sy, sz) = (
                    src(x, disp[0][i], nx),
                    src(y, disp[1][i], ny),
                    src(z, disp[2][i], nz),
                );
                out[i] = labels.data[sx + nx * (sy + ny * sz)];
            }
        }
    }
    LabelMap {
        data: out,
        ..labels.clone()
    }
}

/// Trilinear warp of an image on the same grid by the same `disp` (edges clamped).
fn warp_image(data: &[f32], dims: [usize; 3], disp: &[Vec<f32>]) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let mut out = vec![0f32; data.len()];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = x + nx * (y + ny * z);
                let pos = |p: usize, d: f32, n: usize| (p as f32 + d).clamp(0.0, (n - 1) as f32);
                let s = [
                    pos(x, disp[0][i], nx),
                    pos(y, disp[1][i], ny),
                    pos(z, disp[2][i], nz),
                ];
                let b = s.map(|c| c.floor() as usize);
                let f: [f32; 3] = std::array::from_fn(|a| s[a] - b[a] as f32);
                let mut v = 0.0;
                for corner in 0..8 {
                    let d = [corner & 1, (corner >> 1) & 1, corner >> 2];
                    let p: [usize; 3] = std::array::from_fn(|a| (b[a] + d[a]).min(dims[a] - 1));
                    let w: f32 = (0..3)
                        .map(|a| if d[a] == 1 { f[a] } else { 1.0 - f[a] })
                        .product();
                    if w > 0.0 {
                        v += w * data[p[0] + nx * (p[1] + ny * p[2])];
                    }
                }
                out[i] = v;
            }
        }
    }
    out
}

/// Generate subject `seed` from `labels`. Label 0 is background and stays 0.
pub fn synth_subject(
    labels: &LabelMap,
    cfg: &SynthConfig,
    seed: u64,
) -> Result<SynthSubject, SynthError> {
    synth_subject_with(labels, None, cfg, seed)
}

/// [`synth_subject`], with the labels `real` covers filled from its real image (warped
/// with the subject) through a random transfer curve per contrast: the curve maps each
/// covered label's median real value to that label's random (or ordered) mean, so the
/// contrast is as random as in a fully synthetic subject but the texture is real. The
/// random draws are the same as without `real`.
pub fn synth_subject_with(
    labels: &LabelMap,
    real: Option<&RealIntensities>,
    cfg: &SynthConfig,
    seed: u64,
) -> Result<SynthSubject, SynthError> {
    cfg.validate()?;
    if let Some(r) = real {
        if r.image.dims != labels.dims {
            return Err(SynthError::DimsMismatch {
                expected: labels.dims,
                found: r.image.dims,
            });
        }
    }
    let max_label = labels.data.iter().copied().max().unwrap_or(0) as usize;
    if labels.data.is_empty() || max_label == 0 {
        return Err(SynthError::EmptyLabels);
    }
    let mut rng = Rng::new(seed);
    let disp = displacement(labels, cfg, &mut rng);
    let deformed = warp_labels(labels, &disp);
    let dims = deformed.dims;
    let n = deformed.data.len();
    let real = real.map(|r| {
        let image = warp_image(&r.image.data, dims, &disp);
        let medians = label_medians(&image, &deformed.data, r);
        let from_real: Vec<bool> = deformed.data.iter().map(|&l| r.covers(l)).collect();
        (image, medians, from_real)
    });

    // Soft brain mask: background stays exactly 0, so preprocessing's crop to non-zero
    // and foreground z-score behave as on skull-stripped scans.
    let mut mask: Vec<f32> = deformed
        .data
        .iter()
        .map(|&l| if l > 0 { 1.0 } else { 0.0 })
        .collect();
    gaussian_blur(&mut mask, dims, [1.0; 3]);

    let mut images = Vec::with_capacity(cfg.contrasts.len());
    for name in &cfg.contrasts {
        let mut means: Vec<f32> = (0..=max_label)
            .map(|l| {
                if l == 0 {
                    0.0
                } else {
                    rng.range(cfg.intensity[0], cfg.intensity[1]) as f32
                }
            })
            .collect();
        for (_, order) in cfg.orders.iter().filter(|(c, _)| c == name) {
            apply_order(&mut means, order);
        }
        let texture: Vec<f32> = (0..=max_label)
            .map(|_| rng.range(cfg.texture[0], cfg.texture[1]) as f32)
            .collect();
        let mut img: Vec<f32> = deformed.data.iter().map(|&l| means[l as usize]).collect();
        if let Some((image, medians, from_real)) = &real {
            let curve = TransferCurve::new(
                medians
                    .iter()
                    .map(|&(l, m)| (m, means[l as usize]))
                    .collect(),
            );
            for i in (0..n).filter(|&i| from_real[i]) {
                img[i] = curve.at(image[i]);
            }
        }
        gaussian_blur(&mut img, dims, [cfg.partial_volume; 3]);
        for (i, (v, &l)) in img.iter_mut().zip(&deformed.data).enumerate() {
            if l > 0 {
                // Drawn for real voxels too, so every later draw is the same with and
                // without real intensities.
                let t = texture[l as usize] * rng.normal() as f32;
                if !real.as_ref().is_some_and(|r| r.2[i]) {
                    *v += t;
                }
            }
        }
        let sigma = rng.range(cfg.blur[0], cfg.blur[1]);
        gaussian_blur(&mut img, dims, [sigma; 3]);
        let bias = smooth_field(dims, 4, cfg.bias, &mut rng);
        let noise_sd = rng.range(cfg.noise[0], cfg.noise[1]) as f32;
        // Drawn only when enabled, so datasets made without air noise keep their seeds.
        let air_sd = if cfg.air_prob > 0.0 && rng.bool(cfg.air_prob) {
            rng.range(cfg.air_noise[0], cfg.air_noise[1]) as f32
        } else {
            0.0
        };
        for i in 0..n {
            let v = img[i] * bias[i].exp() + noise_sd * rng.normal() as f32;
            let tissue = if mask[i] < 0.01 {
                0.0
            } else {
                (v * mask[i].min(1.0)).max(0.0)
            };
            // Magnitude images: air is |complex Gaussian noise|, never exactly zero.
            img[i] = if air_sd > 0.0 {
                let air = air_sd * (rng.normal().powi(2) + rng.normal().powi(2)).sqrt() as f32;
                tissue + (1.0 - mask[i].min(1.0)) * air
            } else {
                tissue
            };
        }
        images.push((
            name.clone(),
            Volume {
                dims,
                spacing: deformed.spacing,
                affine: deformed.affine,
                data: img,
            },
        ));
    }
    Ok(SynthSubject {
        labels: deformed,
        images,
    })
}

/// Sort the means of `order`'s labels (those present) into that order, darkest first.
fn apply_order(means: &mut [f32], order: &[u16]) {
    let present: Vec<usize> = order
        .iter()
        .map(|&l| l as usize)
        .filter(|&l| l > 0 && l < means.len())
        .collect();
    let mut values: Vec<f32> = present.iter().map(|&l| means[l]).collect();
    values.sort_by(f32::total_cmp);
    for (&l, v) in present.iter().zip(values) {
        means[l] = v;
    }
}

/// Give non-brain head voxels (`head` above `threshold`, label 0) their own label
/// `max + 1`, so synthetic heads have a scalp/skull compartment with its own contrast.
pub fn add_head_label(
    labels: &LabelMap,
    head: &Volume,
    threshold: f32,
) -> Result<LabelMap, SynthError> {
    if head.dims != labels.dims {
        return Err(SynthError::DimsMismatch {
            expected: labels.dims,
            found: head.dims,
        });
    }
    let extra = labels
        .data
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    let data = labels
        .data
        .iter()
        .zip(&head.data)
        .map(|(&l, &h)| if l == 0 && h > threshold { extra } else { l })
        .collect();
    Ok(LabelMap {
        data,
        ..labels.clone()
    })
}

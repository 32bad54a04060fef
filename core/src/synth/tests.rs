use super::*;
use crate::rng::Rng;
use crate::volume::{LabelMap, Volume};

/// Two nested spheres (labels 1 and 2) in a 24^3 grid at 2 mm.
fn spheres() -> LabelMap {
    let n = 24;
    let mut data = vec![0u16; n * n * n];
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let r2 = [x, y, z]
                    .iter()
                    .map(|&c| (c as f32 - 11.5).powi(2))
                    .sum::<f32>();
                data[x + n * (y + n * z)] = if r2 < 16.0 {
                    2
                } else if r2 < 81.0 {
                    1
                } else {
                    0
                };
            }
        }
    }
    let mut affine = [[0.0; 4]; 4];
    for i in 0..3 {
        affine[i][i] = 2.0;
    }
    affine[3][3] = 1.0;
    LabelMap {
        dims: [n; 3],
        spacing: [2.0; 3],
        affine,
        data,
    }
}

fn mean_where(img: &Volume, labels: &LabelMap, l: u16) -> f32 {
    let v: Vec<f32> = img
        .data
        .iter()
        .zip(&labels.data)
        .filter(|(_, &m)| m == l)
        .map(|(&v, _)| v)
        .collect();
    v.iter().sum::<f32>() / v.len() as f32
}

#[test]
fn blur_preserves_the_mean_and_smooths_a_spike() {
    let dims = [9, 7, 5];
    let mut d = vec![0f32; 9 * 7 * 5];
    d[4 + 9 * (3 + 7 * 2)] = 1.0;
    gaussian_blur(&mut d, dims, [1.0; 3]);
    let total: f32 = d.iter().sum();
    assert!((total - 1.0).abs() < 0.02, "mass {total}");
    let centre = d[4 + 9 * (3 + 7 * 2)];
    assert!(
        centre < 0.1 && centre > d[5 + 9 * (3 + 7 * 2)],
        "centre {centre}"
    );
}

#[test]
fn smooth_field_is_seeded_and_smooth() {
    let a = smooth_field([16, 16, 16], 4, 1.0, &mut Rng::new(1));
    assert_eq!(a, smooth_field([16, 16, 16], 4, 1.0, &mut Rng::new(1)));
    assert_ne!(a, smooth_field([16, 16, 16], 4, 1.0, &mut Rng::new(2)));
    let max_step = a
        .windows(2)
        .enumerate()
        .filter(|(i, _)| (i + 1) % 16 != 0)
        .map(|(_, w)| (w[1] - w[0]).abs())
        .fold(0f32, f32::max);
    let spread =
        a.iter().cloned().fold(f32::MIN, f32::max) - a.iter().cloned().fold(f32::MAX, f32::min);
    assert!(
        max_step < spread / 3.0,
        "neighbour step {max_step} vs spread {spread}"
    );
}

#[test]
fn contrasts_share_anatomy_but_not_intensities() {
    let labels = spheres();
    let s = synth_subject(&labels, &SynthConfig::default(), 7).unwrap();
    assert_eq!(s.images.len(), 3);
    assert_eq!(s.images[0].0, "T1w");
    // The deformation moved some labels, but the anatomy is still two nested spheres.
    let moved = s
        .labels
        .data
        .iter()
        .zip(&labels.data)
        .filter(|(a, b)| a != b)
        .count();
    assert!(moved > 0 && moved < labels.data.len() / 5, "moved {moved}");
    for (_, img) in &s.images {
        assert_eq!(img.dims, labels.dims);
        assert!(img.data.iter().all(|v| v.is_finite() && *v >= 0.0));
        // Background far from the brain is exactly zero.
        assert_eq!(img.data[0], 0.0);
    }
    // Label-wise intensity contrast differs between two contrasts (different ordering
    // or ratio of the two labels).
    let ratio = |k: usize| {
        mean_where(&s.images[k].1, &s.labels, 2) / mean_where(&s.images[k].1, &s.labels, 1)
    };
    let (r0, r1, r2) = (ratio(0), ratio(1), ratio(2));
    assert!(
        (r0 - r1).abs() > 0.05 || (r0 - r2).abs() > 0.05,
        "ratios {r0} {r1} {r2}"
    );
    // Seeded: the same seed gives the same subject; another seed another deformation.
    let again = synth_subject(&labels, &SynthConfig::default(), 7).unwrap();
    assert_eq!(again.images[1].1.data, s.images[1].1.data);
    let other = synth_subject(&labels, &SynthConfig::default(), 8).unwrap();
    assert_ne!(other.labels.data, s.labels.data);
}

#[test]
fn synthesis_refuses_empty_labels_and_bad_settings() {
    let mut empty = spheres();
    empty.data.iter_mut().for_each(|v| *v = 0);
    assert_eq!(
        synth_subject(&empty, &SynthConfig::default(), 0).err(),
        Some(SynthError::EmptyLabels)
    );
    let cfg = SynthConfig {
        blur: [2.0, 1.0],
        ..SynthConfig::default()
    };
    assert!(matches!(
        synth_subject(&spheres(), &cfg, 0),
        Err(SynthError::BadConfig(_))
    ));
}

#[test]
fn head_label_marks_bright_non_brain_voxels() {
    let labels = spheres();
    let head = Volume {
        dims: labels.dims,
        spacing: labels.spacing,
        affine: labels.affine,
        data: vec![1.0; labels.data.len()],
    };
    let with_head = add_head_label(&labels, &head, 0.5).unwrap();
    assert!(with_head.data.iter().all(|&l| l != 0));
    assert_eq!(
        with_head.data.iter().filter(|&&l| l == 3).count(),
        labels.data.iter().filter(|&&l| l == 0).count()
    );
}

#[test]
fn orders_sort_label_intensities_in_their_contrast_only() {
    let labels = spheres();
    let cfg = SynthConfig {
        contrasts: vec!["T1w".into(), "T2w".into(), "X".into()],
        deform_mm: 0.0,
        orders: vec![("T1w".into(), vec![1, 2]), ("T2w".into(), vec![2, 1])],
        // No blur, bias or noise: the label means are the drawn ones (up to the soft
        // brain-mask edge, which only darkens label 1's rim).
        partial_volume: 0.0,
        blur: [0.0, 0.0],
        bias: 0.0,
        noise: [0.0, 0.0],
        texture: [0.0, 0.0],
        ..SynthConfig::default()
    };
    let mut x_flips = 0;
    for seed in 0..12 {
        let s = synth_subject(&labels, &cfg, seed).unwrap();
        let m = |c: usize, l| mean_where(&s.images[c].1, &s.labels, l);
        assert!(
            m(0, 1) <= m(0, 2),
            "seed {seed}: T1w must have 1 darker than 2"
        );
        assert!(
            m(1, 2) <= m(1, 1),
            "seed {seed}: T2w must have 2 darker than 1"
        );
        x_flips += (m(2, 1) > m(2, 2)) as usize;
    }
    assert!(
        x_flips > 0 && x_flips < 12,
        "an unordered contrast stays random"
    );
}

#[test]
fn air_noise_is_rayleigh_when_enabled_and_absent_by_default() {
    let labels = spheres();
    let noisy = SynthConfig {
        air_prob: 1.0,
        air_noise: [0.02, 0.02],
        ..SynthConfig::default()
    };
    let s = synth_subject(&labels, &noisy, 7).unwrap();
    // Corners are far from every label: pure air.
    let n = labels.dims[0];
    let corner: Vec<f32> = (0..4 * 4 * 4)
        .map(|i| s.images[0].1.data[i % 4 + n * ((i / 4) % 4 + n * (i / 16))])
        .collect();
    assert!(
        corner.iter().all(|v| *v > 0.0),
        "air must not be exactly zero"
    );
    let mean = corner.iter().sum::<f32>() / corner.len() as f32;
    let rayleigh_mean = 0.02 * (std::f32::consts::PI / 2.0).sqrt();
    assert!(
        (mean - rayleigh_mean).abs() < 0.3 * rayleigh_mean,
        "air mean {mean} vs Rayleigh {rayleigh_mean}"
    );
    // Off by default: the same seed gives exactly the old zero background.
    let plain = synth_subject(&labels, &SynthConfig::default(), 7).unwrap();
    assert_eq!(plain.images[0].1.data[0], 0.0);
    let bad = SynthConfig {
        air_prob: 1.5,
        ..SynthConfig::default()
    };
    assert!(synth_subject(&labels, &bad, 7).is_err());
}

#[test]
fn transfer_curve_is_flat_below_linear_between_and_extended_above() {
    let c = TransferCurve::new(vec![(3.0, 0.2), (1.0, 0.9), (2.0, 0.5), (2.0, 7.0)]);
    assert_eq!(c.at(0.0), 0.9, "constant below the first knot");
    assert_eq!(c.at(1.0), 0.9);
    assert!((c.at(1.5) - 0.7).abs() < 1e-6);
    assert!((c.at(2.5) - 0.35).abs() < 1e-6);
    // Beyond the last knot the last slope (-0.3 per unit) goes on, clamped at 0.
    assert!((c.at(3.5) - 0.05).abs() < 1e-6);
    assert_eq!(c.at(10.0), 0.0);
    assert_eq!(TransferCurve::new(vec![]).at(5.0), 0.0);
    // One knot (one covered label): in proportion, so that label keeps its texture.
    let one = TransferCurve::new(vec![(f32::NAN, 1.0), (2.0, 0.4)]);
    assert!((one.at(3.0) - 0.6).abs() < 1e-6 && one.at(-1.0) == 0.0);
}

/// A real "scan" for [`spheres`]: a smooth ramp along x inside the labels, 0 outside.
fn ramp_image(labels: &LabelMap) -> Volume {
    let n = labels.dims[0];
    Volume {
        dims: labels.dims,
        spacing: labels.spacing,
        affine: labels.affine,
        data: (0..labels.data.len())
            .map(|i| {
                if labels.data[i] == 0 {
                    0.0
                } else {
                    100.0 + 5.0 * (i % n) as f32 + 40.0 * labels.data[i] as f32
                }
            })
            .collect(),
    }
}

fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let cov: f32 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f32 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f32 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn real_intensities_carry_the_texture_through_each_contrasts_curve() {
    let labels = spheres();
    let real = RealIntensities::new(ramp_image(&labels), &labels).unwrap();
    assert_eq!(real.labels, vec![1, 2]);
    let cfg = SynthConfig {
        contrasts: vec!["T1w".into(), "T2w".into()],
        deform_mm: 0.0,
        orders: vec![("T1w".into(), vec![1, 2]), ("T2w".into(), vec![2, 1])],
        partial_volume: 0.0,
        blur: [0.0, 0.0],
        bias: 0.0,
        noise: [0.0, 0.0],
        ..SynthConfig::default()
    };
    let plain = synth_subject(&labels, &cfg, 3).unwrap();
    let s = synth_subject_with(&labels, Some(&real), &cfg, 3).unwrap();
    assert_eq!(
        s.labels.data, plain.labels.data,
        "same deformation and labels"
    );
    // Inside label 1 (away from the soft mask edge), above its median (the curve is flat
    // below the darkest label's median), the image follows the real ramp: increasing in
    // the T1w-ordered contrast, decreasing in the inverted T2w. The plain subject has no
    // ramp there, only a constant mean plus texture.
    let n = labels.dims[0];
    let inner = |i: usize| {
        let r2: f32 = [i % n, (i / n) % n, i / (n * n)]
            .iter()
            .map(|&c| (c as f32 - 11.5).powi(2))
            .sum();
        labels.data[i] == 1 && r2 < 49.0
    };
    let shell: Vec<usize> = (0..labels.data.len())
        .filter(|&i| inner(i) && i % n >= 13)
        .collect();
    let dark: Vec<f32> = (0..labels.data.len())
        .filter(|&i| inner(i) && i % n <= 9)
        .map(|i| s.images[0].1.data[i])
        .collect();
    // (up to the soft brain-mask edge, a few per cent)
    let top = dark.iter().cloned().fold(0f32, f32::max);
    assert!(dark.iter().all(|&v| v > 0.95 * top), "flat below: {dark:?}");
    let pick = |v: &Volume| shell.iter().map(|&i| v.data[i]).collect::<Vec<f32>>();
    let ramp = pick(&real.image);
    let (t1, t2) = (pick(&s.images[0].1), pick(&s.images[1].1));
    assert!(
        correlation(&t1, &ramp) > 0.95,
        "T1w {}",
        correlation(&t1, &ramp)
    );
    assert!(
        correlation(&t2, &ramp) < -0.95,
        "T2w {}",
        correlation(&t2, &ramp)
    );
    assert!(correlation(&pick(&plain.images[0].1), &ramp).abs() < 0.5);
    // The contrast is still the drawn one: label 1 sits at its random mean.
    let m = |img: &Volume, l| mean_where(img, &s.labels, l);
    assert!(m(&s.images[0].1, 2) > m(&s.images[0].1, 1));
    assert!(m(&s.images[1].1, 2) < m(&s.images[1].1, 1));
    // A real image on another grid is refused, not misread.
    let mut small = labels.clone();
    small.dims = [12, 24, 48];
    assert!(matches!(
        RealIntensities::new(ramp_image(&labels), &small),
        Err(SynthError::DimsMismatch { .. })
    ));
}

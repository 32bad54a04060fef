use super::*;
use crate::rng::Rng;

fn ramp(dims: [usize; 3]) -> Vec<f32> {
    (0..dims.iter().product::<usize>())
        .map(|i| i as f32)
        .collect()
}

#[test]
fn identity_is_an_exact_crop() {
    let dims = [7, 6, 5];
    let v = ramp(dims);
    let out = SpatialTransform::identity().sample_image(dims, [1, 2, 0], [4, 3, 5], |i| v[i]);
    for z in 0..5 {
        for y in 0..3 {
            for x in 0..4 {
                let src = (x + 1) + 7 * ((y + 2) + 6 * z);
                assert_eq!(out[x + 4 * (y + 3 * z)], v[src]);
            }
        }
    }
}

#[test]
fn flips_mirror_the_crop_and_labels_follow() {
    let cfg = AugmentConfig {
        p_rotate: 0.0,
        p_scale: 0.0,
        ..AugmentConfig::default()
    };
    let dims = [8, 8, 8];
    let img = ramp(dims);
    let labels: Vec<u16> = (0..512).map(|i| (i % 7) as u16).collect();
    let mut rng = Rng::new(3);
    for _ in 0..8 {
        let t = SpatialTransform::sample(&cfg, &mut rng);
        let a = t.sample_image(dims, [2, 2, 2], [4, 4, 4], |i| img[i]);
        let l = t.sample_labels(dims, [2, 2, 2], [4, 4, 4], |i| labels[i]);
        // Every image value is a voxel index: the label at that index must match.
        for (v, lab) in a.iter().zip(&l) {
            assert_eq!(v.fract(), 0.0, "flips must not interpolate");
            assert_eq!(labels[*v as usize], *lab);
        }
        let mut sorted = a.clone();
        sorted.sort_by(f32::total_cmp);
        let plain =
            SpatialTransform::identity().sample_image(dims, [2, 2, 2], [4, 4, 4], |i| img[i]);
        assert_eq!(sorted, plain, "a flip permutes the same crop");
    }
}

#[test]
fn rotation_keeps_a_centred_sphere_and_labels_stay_on_their_image() {
    // A sphere at the patch centre is invariant under rotation; zoom scales its radius.
    let n = 40;
    let dims = [n; 3];
    let c = (n as f64 - 1.0) / 2.0;
    let r = 12.0;
    let inside = |i: usize| {
        let p = [i % n, (i / n) % n, i / (n * n)];
        p.iter()
            .map(|&a| (a as f64 - c).powi(2))
            .sum::<f64>()
            .sqrt()
            <= r
    };
    let img: Vec<f32> = (0..n * n * n).map(|i| inside(i) as u8 as f32).collect();
    let lab: Vec<u16> = (0..n * n * n).map(|i| inside(i) as u16).collect();
    let cfg = AugmentConfig {
        p_rotate: 1.0,
        rotation_deg: 30.0,
        p_scale: 0.0,
        ..AugmentConfig::default()
    };
    let mut rng = Rng::new(11);
    let t = SpatialTransform::sample(&cfg, &mut rng);
    assert!(!t.is_axis_aligned());
    let a = t.sample_image(dims, [0; 3], dims, |i| img[i]);
    let l = t.sample_labels(dims, [0; 3], dims, |i| lab[i]);
    let count = |v: &[u16]| v.iter().filter(|&&x| x == 1).count() as f64;
    let before = count(&lab);
    assert!((count(&l) - before).abs() / before < 0.05);
    let agree = a
        .iter()
        .zip(&l)
        .filter(|(v, &x)| (**v >= 0.5) == (x == 1))
        .count();
    assert!(agree as f64 / a.len() as f64 > 0.995);

    let zoom = AugmentConfig {
        p_rotate: 0.0,
        p_scale: 1.0,
        scale: [1.3, 1.3],
        ..AugmentConfig::none()
    };
    let t = SpatialTransform::sample(&zoom, &mut rng);
    let l = t.sample_labels(dims, [0; 3], dims, |i| lab[i]);
    // Sampling 1.3x further out shrinks the sphere's volume by 1.3^3.
    let ratio = before / count(&l);
    assert!((ratio / 1.3f64.powi(3) - 1.0).abs() < 0.1, "ratio {ratio}");
}

#[test]
fn intensity_augment_is_seeded() {
    let dims = [6, 6, 6];
    let base: Vec<f32> = (0..216).map(|i| (i as f32 * 0.37).sin()).collect();
    let run = |seed| {
        let mut v = base.clone();
        intensity_augment(&mut v, dims, &mut Rng::new(seed));
        v
    };
    assert_eq!(run(5), run(5));
    assert!(
        (0..20).any(|s| run(s) != base),
        "some seed must change the patch"
    );
}

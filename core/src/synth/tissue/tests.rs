//! Tissue rules on small synthetic balls: morphology, both label derivations, and shells.

use super::*;
use crate::synth::SynthError;
use crate::volume::Volume;

const N: usize = 24;

fn grid<T: Clone>(fill: T) -> crate::volume::Grid<T> {
    let mut affine = [[0.0; 4]; 4];
    for (i, row) in affine.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    crate::volume::Grid {
        dims: [N; 3],
        spacing: [1.0; 3],
        affine,
        data: vec![fill; N * N * N],
    }
}

fn at(x: usize, y: usize, z: usize) -> usize {
    x + N * (y + N * z)
}

fn radius(i: usize) -> f64 {
    let (x, y, z) = (i % N, (i / N) % N, i / (N * N));
    [x, y, z]
        .iter()
        .map(|&c| (c as f64 - 11.5).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn fill_holes_fills_cavities_but_not_open_tunnels() {
    let shell: Vec<bool> = (0..N * N * N)
        .map(|i| (4.0..8.0).contains(&radius(i)))
        .collect();
    let filled = fill_holes(&shell, [N; 3]);
    assert!(filled[at(11, 11, 11)], "the cavity is filled");
    assert!(!filled[at(0, 0, 0)], "the outside stays outside");
    // Drill a tunnel from the cavity to the border along x: the cavity is now open.
    let mut open = shell.clone();
    for x in 0..12 {
        open[at(x, 11, 11)] = false;
    }
    let filled = fill_holes(&open, [N; 3]);
    assert!(!filled[at(11, 11, 11)]);
    assert!(filled[at(11, 11, 5)], "the shell itself stays");
}

#[test]
fn dilate_and_erode_use_millimetres() {
    let mut one = vec![false; N * N * N];
    one[at(10, 10, 10)] = true;
    let d = dilate(&one, [N; 3], [1.0, 1.0, 2.0], 2.0);
    assert!(d[at(12, 10, 10)] && d[at(10, 10, 11)]);
    assert!(!d[at(10, 10, 12)], "4 mm away along the 2 mm axis");
    assert!(!d[at(12, 11, 10)], "sqrt(5) mm > 2 mm");
    let back = erode(&d, [N; 3], [1.0, 1.0, 2.0], 2.0);
    assert_eq!(back.iter().filter(|&&b| b).count(), 1);
    assert!(back[at(10, 10, 10)]);
}

/// A ball brain: WM core (r < 5) with a CSF "ventricle" (r < 2), GM rind (5..9) with a
/// one-voxel sulcus slot cut into it from the top.
fn ball_brain() -> (Volume, Volume) {
    let (mut gm, mut wm) = (grid(0f32), grid(0f32));
    for i in 0..N * N * N {
        let r = radius(i);
        if r < 2.0 {
            continue;
        } else if r < 5.0 {
            wm.data[i] = 0.9;
            gm.data[i] = 0.1;
        } else if r < 9.0 {
            gm.data[i] = 0.8;
            wm.data[i] = 0.1;
        }
    }
    for z in 17..N {
        gm.data[at(11, 11, z)] = 0.0;
        wm.data[at(11, 11, z)] = 0.0;
    }
    (gm, wm)
}

#[test]
fn probabilities_give_wm_gm_and_enclosed_csf() {
    let (gm, wm) = ball_brain();
    let rule = TissueRule::default();
    let t = tissue_from_probabilities(&gm, &wm, &rule).unwrap();
    assert_eq!(t.data[at(11, 11, 11)], CSF, "the enclosed ventricle is CSF");
    assert_eq!(t.data[at(11, 11, 15)], WHITE_MATTER);
    assert_eq!(t.data[at(11, 6, 11)], GREY_MATTER);
    assert_eq!(t.data[at(11, 11, 18)], CSF, "the closed sulcus is CSF");
    assert_eq!(t.data[at(0, 0, 0)], BACKGROUND);
    assert_eq!(t.data[at(11, 11, 22)], BACKGROUND, "beyond the brain");
    // Without the closing the sulcus opens the brain to the outside.
    let open = TissueRule {
        envelope_mm: 0.0,
        ..rule
    };
    let t = tissue_from_probabilities(&gm, &wm, &open).unwrap();
    assert_eq!(t.data[at(11, 11, 18)], BACKGROUND);
    assert_eq!(t.data[at(11, 11, 11)], CSF, "still enclosed");
    // Dilation adds an outer CSF layer.
    let wide = TissueRule {
        dilate_mm: 2.0,
        ..rule
    };
    let t = tissue_from_probabilities(&gm, &wm, &wide).unwrap();
    assert_eq!(t.data[at(11, 11, 20)], CSF);
    assert_eq!(t.data[at(11, 1, 11)], CSF);
    assert_eq!(t.data[at(2, 2, 2)], BACKGROUND);
}

#[test]
fn probabilities_reject_mismatched_or_empty_maps() {
    let (gm, _) = ball_brain();
    let mut small = grid(0f32);
    small.dims = [N, N, N - 1];
    small.data.truncate(N * N * (N - 1));
    assert!(matches!(
        tissue_from_probabilities(&gm, &small, &TissueRule::default()),
        Err(SynthError::DimsMismatch { .. })
    ));
    let zero = grid(0f32);
    assert_eq!(
        tissue_from_probabilities(&zero, &zero, &TissueRule::default()),
        Err(SynthError::EmptyLabels)
    );
}

#[test]
fn kmeans_finds_three_separated_clusters_in_order() {
    let mut values = Vec::new();
    for i in 0..300 {
        let jitter = ((i * 7919) % 11) as f32 - 5.0;
        values.push([100.0, 10.0, 50.0][i % 3] + jitter * 0.5);
    }
    let c = kmeans_1d(&values, 3, 100).unwrap();
    for (got, want) in c.iter().zip([10.0, 50.0, 100.0]) {
        assert!((got - want).abs() < 0.5, "{c:?}");
    }
    assert!(kmeans_1d(&values[..2], 3, 10).is_err());
    // Quantiles that coincide still give distinct centres.
    let lopsided: Vec<f32> = (0..100)
        .map(|i| if i < 90 { 1.0 } else { 9.0 + (i % 2) as f32 })
        .collect();
    assert_eq!(kmeans_1d(&lopsided, 3, 100).unwrap(), [1.0, 9.0, 10.0]);
    assert!(kmeans_1d(&[1.0, 1.0, 2.0], 3, 10).is_err());
}

#[test]
fn intensity_classes_are_sorted_and_masked() {
    // Concentric T1-like ball: bright core (WM), mid rind (GM), dark rim (CSF).
    let mut img = grid(0f32);
    for i in 0..N * N * N {
        let r = radius(i);
        img.data[i] = if r < 4.0 {
            120.0
        } else if r < 7.0 {
            80.0
        } else if r < 9.0 {
            30.0
        } else {
            0.0
        };
    }
    let (t, centres) = tissue_from_intensity(&img, None, 3).unwrap();
    assert_eq!(centres.len(), 3);
    assert_eq!(t.data[at(11, 11, 11)], 3);
    assert_eq!(t.data[at(11, 11, 17)], 2);
    assert_eq!(t.data[at(11, 11, 19)], 1);
    assert_eq!(t.data[at(0, 0, 0)], 0);
    // An explicit mask that excludes the core leaves it unlabelled.
    let mask: Vec<bool> = (0..N * N * N)
        .map(|i| (4.0..9.0).contains(&radius(i)))
        .collect();
    let (t, _) = tissue_from_intensity(&img, Some(&mask), 2).unwrap();
    assert_eq!(t.data[at(11, 11, 11)], 0);
    assert_eq!(t.data[at(11, 11, 17)], 2);
    assert_eq!(t.data[at(11, 11, 19)], 1);
    assert!(tissue_from_intensity(&img, Some(&mask[1..]), 2).is_err());
}

#[test]
fn head_shells_are_layers_of_the_given_thickness() {
    let mut labels = grid(0u16);
    for i in 0..N * N * N {
        if radius(i) < 5.0 {
            labels.data[i] = 3;
        }
    }
    let head = add_head_shells(&labels, &[2.0, 3.0]).unwrap();
    // Along +x from the centre the ball ends at x = 16 (r = 4.5).
    assert_eq!(head.data[at(16, 11, 11)], 3);
    assert_eq!(head.data[at(17, 11, 11)], 4, "1 mm out");
    assert_eq!(head.data[at(18, 11, 11)], 4, "2 mm out");
    assert_eq!(head.data[at(19, 11, 11)], 5, "3 mm out");
    assert_eq!(head.data[at(21, 11, 11)], 5, "5 mm out");
    assert_eq!(head.data[at(22, 11, 11)], 0, "6 mm out");
    assert!(add_head_shells(&labels, &[0.0]).is_err());
    assert_eq!(
        add_head_shells(&grid(0u16), &[1.0]),
        Err(SynthError::EmptyLabels)
    );
}

//! Synthetic volumes for tests: oriented affines and ellipsoid label maps defined in world
//! space, so the same anatomy appears whatever the array orientation.

use super::affine::{self, Affine};
use super::grid::{Grid, LabelMap, Volume};

/// Affine whose array axes point along `code` (e.g. "LSA") with the given spacing and the
/// world origin at voxel `(0, 0, 0)`.
pub fn affine_for(code: &str, spacing: [f64; 3], origin: [f64; 3]) -> Affine {
    let mut a = affine::IDENTITY;
    for r in 0..3 {
        a[r][r] = 0.0;
        a[r][3] = origin[r];
    }
    for (i, ch) in code.chars().enumerate() {
        let (w, s) = match ch {
            'R' => (0, 1.0),
            'L' => (0, -1.0),
            'A' => (1, 1.0),
            'P' => (1, -1.0),
            'S' => (2, 1.0),
            _ => (2, -1.0),
        };
        a[w][i] = s * spacing[i];
    }
    a
}

/// Affine for `code` whose grid centre sits at world (0, 0, 0) (plus a small offset so
/// nothing is symmetric by accident).
pub fn centred_affine(code: &str, dims: [usize; 3], spacing: [f64; 3]) -> Affine {
    let mut a = affine_for(code, spacing, [0.0; 3]);
    let c = dims.map(|d| (d as f64 - 1.0) / 2.0);
    for r in 0..3 {
        a[r][3] = -(0..3).map(|k| a[r][k] * c[k]).sum::<f64>() + [0.7, -1.1, 0.3][r];
    }
    a
}

/// Label of a world point: a "head" (1) holding three structures (2, 3, 4).
pub fn label_at(p: [f64; 3]) -> u16 {
    let inside = |c: [f64; 3], r: [f64; 3]| {
        (0..3).map(|i| ((p[i] - c[i]) / r[i]).powi(2)).sum::<f64>() <= 1.0
    };
    if inside([0.0, -10.0, -9.0], [8.0, 8.0, 8.0]) {
        4
    } else if inside([9.0, 4.0, 3.0], [9.0, 11.0, 13.0]) {
        3
    } else if inside([-9.0, 3.0, 4.0], [10.0, 14.0, 13.0]) {
        2
    } else if inside([0.0, 0.0, 0.0], [24.0, 27.0, 30.0]) {
        1
    } else {
        0
    }
}

/// Label map and matching intensity image (background exactly 0) on the grid given by
/// `code`, `dims` and `spacing`.
pub fn phantom(code: &str, dims: [usize; 3], spacing: [f64; 3]) -> (Volume, LabelMap) {
    let a = centred_affine(code, dims, spacing);
    let mut labels = Vec::with_capacity(dims.iter().product());
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                labels.push(label_at(affine::apply(&a, [i as f64, j as f64, k as f64])));
            }
        }
    }
    let image = labels
        .iter()
        .enumerate()
        .map(|(n, &l)| {
            if l == 0 {
                0.0
            } else {
                [0.0, 100.0, 60.0, 150.0, 200.0][l as usize] + (n % 7) as f32
            }
        })
        .collect();
    (
        Grid::new(dims, spacing, a, image).unwrap(),
        Grid::new(dims, spacing, a, labels).unwrap(),
    )
}

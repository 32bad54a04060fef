//! Tissue label maps (0 background, 1 CSF, 2 grey matter, 3 white matter) derived from
//! real data, and synthetic head shells around a brain, for training data that has the
//! labels the default model predicts. Pure functions on grids; no filesystem.

use super::SynthError;
use crate::metrics::euclidean_distance_transform;
use crate::volume::{LabelMap, Volume};

/// Label values of the tissue maps.
pub const BACKGROUND: u16 = 0;
pub const CSF: u16 = 1;
pub const GREY_MATTER: u16 = 2;
pub const WHITE_MATTER: u16 = 3;

/// How [`tissue_from_probabilities`] turns GM/WM probability maps into labels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TissueRule {
    /// Brain tissue is `gm + wm >= brain_threshold`.
    pub brain_threshold: f32,
    /// Radius (mm) of the morphological closing of the brain tissue that bridges sulci
    /// and the thin CSF around the cortex.
    pub envelope_mm: f64,
    /// Extra dilation (mm) of the closed, hole-filled envelope (outer CSF); 0 for none.
    pub dilate_mm: f64,
}

impl Default for TissueRule {
    fn default() -> Self {
        Self {
            brain_threshold: 0.5,
            envelope_mm: 3.0,
            dilate_mm: 0.0,
        }
    }
}

fn check_same_grid<T, U>(
    a: &crate::volume::Grid<T>,
    b: &crate::volume::Grid<U>,
) -> Result<(), SynthError> {
    if a.dims != b.dims {
        return Err(SynthError::DimsMismatch {
            expected: a.dims,
            found: b.dims,
        });
    }
    Ok(())
}

/// `mask` dilated by a ball of `radius_mm` (Euclidean, anisotropic spacing).
pub fn dilate(mask: &[bool], dims: [usize; 3], spacing: [f64; 3], radius_mm: f64) -> Vec<bool> {
    if radius_mm <= 0.0 {
        return mask.to_vec();
    }
    let r2 = radius_mm * radius_mm + 1e-9;
    euclidean_distance_transform(mask, dims, spacing)
        .into_iter()
        .map(|d| d <= r2)
        .collect()
}

/// `mask` eroded by a ball of `radius_mm`; voxels outside the grid do not erode.
pub fn erode(mask: &[bool], dims: [usize; 3], spacing: [f64; 3], radius_mm: f64) -> Vec<bool> {
    let inverse: Vec<bool> = mask.iter().map(|m| !m).collect();
    dilate(&inverse, dims, spacing, radius_mm)
        .into_iter()
        .map(|m| !m)
        .collect()
}

/// `mask` with every cavity filled: voxels that the outside (the grid border) cannot
/// reach through 6-connected background voxels become foreground.
pub fn fill_holes(mask: &[bool], dims: [usize; 3]) -> Vec<bool> {
    let [nx, ny, nz] = dims;
    let mut outside = vec![false; mask.len()];
    let mut stack = Vec::new();
    let idx = |x: usize, y: usize, z: usize| x + nx * (y + ny * z);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let border =
                    x == 0 || y == 0 || z == 0 || x + 1 == nx || y + 1 == ny || z + 1 == nz;
                let i = idx(x, y, z);
                if border && !mask[i] && !outside[i] {
                    outside[i] = true;
                    stack.push((x, y, z));
                }
            }
        }
    }
    while let Some((x, y, z)) = stack.pop() {
        let mut visit = |x: usize, y: usize, z: usize| {
            let i = idx(x, y, z);
            if !mask[i] && !outside[i] {
                outside[i] = true;
                stack.push((x, y, z));
            }
        };
        if x > 0 {
            visit(x - 1, y, z);
        }
        if x + 1 < nx {
            visit(x + 1, y, z);
        }
        if y > 0 {
            visit(x, y - 1, z);
        }
        if y + 1 < ny {
            visit(x, y + 1, z);
        }
        if z > 0 {
            visit(x, y, z - 1);
        }
        if z + 1 < nz {
            visit(x, y, z + 1);
        }
    }
    outside.into_iter().map(|o| !o).collect()
}

/// Tissue labels from grey- and white-matter probability maps (values in 0..=1) on one
/// grid:
///
/// 1. brain tissue = `gm + wm >= rule.brain_threshold`;
/// 2. intracranial = brain tissue closed (dilate, then erode) by a ball of
///    `rule.envelope_mm`, hole-filled (so enclosed ventricles count), then dilated by
///    `rule.dilate_mm`;
/// 3. inside the intracranial region, with the CSF probability taken as the remainder
///    `csf = max(0, 1 - gm - wm)`, each voxel gets the most probable of CSF, GM, WM
///    (ties: WM over GM over CSF) — so a tissue with probability >= 0.5 always wins;
///    outside it the label is background.
pub fn tissue_from_probabilities(
    gm: &Volume,
    wm: &Volume,
    rule: &TissueRule,
) -> Result<LabelMap, SynthError> {
    check_same_grid(gm, wm)?;
    if !(rule.brain_threshold.is_finite()
        && rule.brain_threshold > 0.0
        && rule.envelope_mm.is_finite()
        && rule.envelope_mm >= 0.0
        && rule.dilate_mm.is_finite()
        && rule.dilate_mm >= 0.0)
    {
        return Err(SynthError::BadConfig(
            "the brain threshold must be > 0 and the envelope/dilation finite and >= 0".into(),
        ));
    }
    let (dims, spacing) = (gm.dims, gm.spacing);
    let brain: Vec<bool> = gm
        .data
        .iter()
        .zip(&wm.data)
        .map(|(&g, &w)| g + w >= rule.brain_threshold)
        .collect();
    if !brain.iter().any(|&b| b) {
        return Err(SynthError::EmptyLabels);
    }
    let closed = erode(
        &dilate(&brain, dims, spacing, rule.envelope_mm),
        dims,
        spacing,
        rule.envelope_mm,
    );
    // Closing never removes voxels in exact arithmetic; keep the brain itself regardless.
    let closed: Vec<bool> = closed.iter().zip(&brain).map(|(&c, &b)| c || b).collect();
    let intracranial = dilate(&fill_holes(&closed, dims), dims, spacing, rule.dilate_mm);
    let data = intracranial
        .iter()
        .zip(gm.data.iter().zip(&wm.data))
        .map(|(&inside, (&g, &w))| {
            if !inside {
                return BACKGROUND;
            }
            let csf = (1.0 - g - w).max(0.0);
            if w >= g && w >= csf {
                WHITE_MATTER
            } else if g >= csf {
                GREY_MATTER
            } else {
                CSF
            }
        })
        .collect();
    Ok(LabelMap {
        dims,
        spacing,
        affine: gm.affine,
        data,
    })
}

/// Deterministic 1-D k-means (Lloyd's algorithm from the `(i + 0.5) / k` quantiles);
/// returns the `k` centres in ascending order.
pub fn kmeans_1d(values: &[f32], k: usize, max_iter: usize) -> Result<Vec<f64>, SynthError> {
    if k == 0 || values.len() < k {
        return Err(SynthError::BadConfig(format!(
            "k-means needs 1 <= k <= number of values, got k = {k} for {} values",
            values.len()
        )));
    }
    let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.len() < k {
        return Err(SynthError::BadConfig(
            "too few finite values for k-means".into(),
        ));
    }
    sorted.sort_by(f32::total_cmp);
    let mut distinct = sorted.clone();
    distinct.dedup();
    if distinct.len() < k {
        return Err(SynthError::BadConfig(format!(
            "k-means with k = {k} needs at least {k} distinct values, found {}",
            distinct.len()
        )));
    }
    // Start from the (i + 0.5) / k quantiles, moved to distinct values so that no two
    // centres coincide (coinciding centres would never separate).
    let n = sorted.len();
    let mut centres = Vec::with_capacity(k);
    let mut prev: Option<usize> = None;
    for i in 0..k {
        let q = sorted[(((i as f64 + 0.5) / k as f64) * n as f64) as usize % n];
        let mut j = distinct.partition_point(|&v| v < q);
        if let Some(p) = prev {
            j = j.max(p + 1);
        }
        j = j.min(distinct.len() - (k - i));
        centres.push(distinct[j] as f64);
        prev = Some(j);
    }
    // On sorted data each cluster is a contiguous run: assign by boundaries (midpoints).
    for _ in 0..max_iter {
        let mut sums = vec![0f64; k];
        let mut counts = vec![0usize; k];
        let mut c = 0;
        for &v in &sorted {
            let v = v as f64;
            while c + 1 < k && v > 0.5 * (centres[c] + centres[c + 1]) {
                c += 1;
            }
            sums[c] += v;
            counts[c] += 1;
        }
        let next: Vec<f64> = (0..k)
            .map(|i| {
                if counts[i] > 0 {
                    sums[i] / counts[i] as f64
                } else {
                    centres[i]
                }
            })
            .collect();
        let moved = next
            .iter()
            .zip(&centres)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        centres = next;
        if moved < 1e-9 {
            break;
        }
    }
    centres.sort_by(f64::total_cmp);
    Ok(centres)
}

/// Tissue classes from intensities: 1-D k-means over the voxels inside `mask` (default:
/// the non-zero voxels of `image`); each masked voxel gets `1 + ` the index of its
/// nearest centre, centres sorted by intensity (for T1: 1 CSF < 2 GM < 3 WM); voxels
/// outside the mask are 0. Deterministic.
pub fn tissue_from_intensity(
    image: &Volume,
    mask: Option<&[bool]>,
    classes: usize,
) -> Result<(LabelMap, Vec<f64>), SynthError> {
    if classes == 0 || classes >= u16::MAX as usize {
        return Err(SynthError::BadConfig(format!(
            "the number of classes must be between 1 and 65534, got {classes}"
        )));
    }
    let owned: Vec<bool>;
    let mask = match mask {
        Some(m) => {
            if m.len() != image.data.len() {
                return Err(SynthError::BadConfig(format!(
                    "the mask has {} voxels but the image has {}",
                    m.len(),
                    image.data.len()
                )));
            }
            m
        }
        None => {
            owned = image.data.iter().map(|&v| v != 0.0).collect();
            &owned
        }
    };
    let values: Vec<f32> = image
        .data
        .iter()
        .zip(mask)
        .filter(|(_, &m)| m)
        .map(|(&v, _)| v)
        .collect();
    if values.is_empty() {
        return Err(SynthError::EmptyLabels);
    }
    let centres = kmeans_1d(&values, classes, 200)?;
    let data = image
        .data
        .iter()
        .zip(mask)
        .map(|(&v, &m)| {
            if !m || !v.is_finite() {
                return BACKGROUND;
            }
            let v = v as f64;
            let mut best = 0;
            for (i, c) in centres.iter().enumerate() {
                if (v - c).abs() < (v - centres[best]).abs() {
                    best = i;
                }
            }
            best as u16 + 1
        })
        .collect();
    Ok((
        LabelMap {
            dims: image.dims,
            spacing: image.spacing,
            affine: image.affine,
            data,
        },
        centres,
    ))
}

/// Synthetic head shells: concentric layers around the labelled region (`labels > 0`),
/// layer `j` covering the background voxels whose distance to it lies in
/// `(t_0 + .. + t_{j-1}, t_0 + .. + t_j]` mm, labelled `max + 1 + j`. With random
/// per-label contrasts they stand in for CSF/dura, skull and scalp around a
/// brain-only label map.
pub fn add_head_shells(labels: &LabelMap, thickness_mm: &[f64]) -> Result<LabelMap, SynthError> {
    if thickness_mm.iter().any(|t| !(t.is_finite() && *t > 0.0)) {
        return Err(SynthError::BadConfig(
            "shell thicknesses must be positive millimetres".into(),
        ));
    }
    let max = labels.data.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return Err(SynthError::EmptyLabels);
    }
    if max as usize + thickness_mm.len() > u16::MAX as usize {
        return Err(SynthError::BadConfig("too many labels".into()));
    }
    let inside: Vec<bool> = labels.data.iter().map(|&l| l > 0).collect();
    let d2 = euclidean_distance_transform(&inside, labels.dims, labels.spacing);
    let mut bounds = Vec::with_capacity(thickness_mm.len());
    let mut sum = 0.0;
    for t in thickness_mm {
        sum += t;
        bounds.push(sum * sum + 1e-9);
    }
    let data = labels
        .data
        .iter()
        .zip(&d2)
        .map(|(&l, &d)| {
            if l > 0 {
                return l;
            }
            match bounds.iter().position(|&b| d <= b) {
                Some(j) => max + 1 + j as u16,
                None => BACKGROUND,
            }
        })
        .collect();
    Ok(LabelMap {
        data,
        ..labels.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

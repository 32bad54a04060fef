//! What is done to a label map after the network, chosen per model on its validation data
//! and stored in its bundle, as nnU-Net stores its post-processing with a trained model.
//!
//! The one step: keep the brain's largest connected piece. nnU-Net's plain "largest
//! connected component" does nothing for a head scanned down to the neck, because the
//! false positives in the neck touch the cerebellum. An opening first (erode the
//! foreground by r, keep the largest piece, grow it back by r inside the foreground)
//! cuts such bridges when they are thinner than 2r.

use serde::{Deserialize, Serialize};

use crate::metrics::euclidean_distance_transform;
use crate::volume::LabelMap;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Postprocess {
    /// Keep only the foreground (every non-zero label) that the largest connected piece
    /// of the foreground eroded by this many millimetres reaches when grown back by as
    /// many; the rest becomes background. None: labels stay as the network gives them.
    pub largest_component_mm: Option<f64>,
}

impl Postprocess {
    /// The setting a command-line radius asks for: keep the largest component after an
    /// opening of `radius_mm` (0: plain largest component), or nothing when it is negative.
    pub fn largest_component(radius_mm: f64) -> Self {
        Self {
            largest_component_mm: (radius_mm >= 0.0).then_some(radius_mm),
        }
    }

    /// An error message when a setting is unusable.
    pub fn check(&self) -> Result<(), String> {
        match self.largest_component_mm {
            Some(r) if !(r.is_finite() && (0.0..=50.0).contains(&r)) => Err(format!(
                "the largest-component radius must be 0 to 50 mm, got {r}"
            )),
            _ => Ok(()),
        }
    }

    /// Applies the steps to `labels` in place; returns how many voxels became background.
    pub fn apply(&self, labels: &mut LabelMap) -> usize {
        match self.largest_component_mm {
            Some(r) => keep_largest_component(labels, r),
            None => 0,
        }
    }
}

/// Sets to 0 every foreground voxel outside the opening (radius `radius_mm`) of the
/// foreground's largest piece, grown back one voxel further; returns how many changed. A
/// foreground that the erosion removes entirely is left as it is.
pub fn keep_largest_component(labels: &mut LabelMap, radius_mm: f64) -> usize {
    let dims = labels.dims;
    let r2 = radius_mm * radius_mm;
    // The grid's edge counts as foreground: a brain cut by the field of view keeps its
    // cut face. (A block, so the distances are freed before the next buffers: a 1 mm
    // head has ~10^7 voxels, and the browser runs this too.)
    let core: Vec<bool> = {
        let background: Vec<bool> = labels.data.iter().map(|&l| l == 0).collect();
        euclidean_distance_transform(&background, dims, labels.spacing)
            .iter()
            .map(|&d| d > r2)
            .collect()
    };
    let Some(largest) = largest_piece(&core, dims) else {
        return 0;
    };
    // Grown back one voxel further than eroded: on a grid, erosion then growth by the
    // same distance also shaves the surface of the piece that is kept.
    let grow = radius_mm + labels.spacing.iter().copied().fold(0.0, f64::max);
    drop(core);
    let to_largest = euclidean_distance_transform(&largest, dims, labels.spacing);
    let mut changed = 0;
    for (l, &d) in labels.data.iter_mut().zip(&to_largest) {
        if *l != 0 && d > grow * grow {
            *l = 0;
            changed += 1;
        }
    }
    changed
}

/// The largest 6-connected piece of `mask`, or None when it is empty.
fn largest_piece(mask: &[bool], dims: [usize; 3]) -> Option<Vec<bool>> {
    let [nx, ny, nz] = dims;
    let mut piece = vec![0u32; mask.len()];
    let mut sizes = vec![0usize];
    let mut stack = Vec::new();
    for seed in 0..mask.len() {
        if !mask[seed] || piece[seed] != 0 {
            continue;
        }
        let id = sizes.len() as u32;
        let mut size = 0;
        piece[seed] = id;
        stack.push(seed);
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y, z) = (i % nx, (i / nx) % ny, i / (nx * ny));
            let mut visit = |j: usize| {
                if mask[j] && piece[j] == 0 {
                    piece[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < nx {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - nx);
            }
            if y + 1 < ny {
                visit(i + nx);
            }
            if z > 0 {
                visit(i - nx * ny);
            }
            if z + 1 < nz {
                visit(i + nx * ny);
            }
        }
        sizes.push(size);
    }
    let best = (1..sizes.len()).max_by_key(|&k| sizes[k])? as u32;
    Some(piece.iter().map(|&p| p == best).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::test_util::affine_for;

    /// A 2 mm grid holding a "brain" ball (labels 1 and 2) of radius 12 voxels and a
    /// "neck" ball (label 3) of radius 7 joined to it by a bridge 2 voxels thick, plus a
    /// free-floating speck.
    fn scene() -> LabelMap {
        let n = 64;
        let mut data = vec![0u16; n * n * n];
        for z in 0..n {
            for y in 0..n {
                for x in 0..n {
                    let d = |c: [f64; 3]| {
                        ((x as f64 - c[0]).powi(2)
                            + (y as f64 - c[1]).powi(2)
                            + (z as f64 - c[2]).powi(2))
                        .sqrt()
                    };
                    let i = x + n * (y + n * z);
                    let brain = d([32.0, 32.0, 40.0]);
                    if brain <= 12.0 {
                        data[i] = if brain < 6.0 { 2 } else { 1 };
                    } else if d([32.0, 32.0, 14.0]) <= 7.0 {
                        data[i] = 3;
                    } else if (31..33).contains(&x)
                        && (31..33).contains(&y)
                        && (20..29).contains(&z)
                    {
                        data[i] = 3;
                    } else if (5..7).contains(&x) && (5..7).contains(&y) && (5..7).contains(&z) {
                        data[i] = 1;
                    }
                }
            }
        }
        LabelMap {
            dims: [n; 3],
            spacing: [2.0; 3],
            affine: affine_for("RAS", [2.0; 3], [0.0; 3]),
            data,
        }
    }

    #[test]
    fn an_opening_cuts_the_bridge_and_keeps_the_brain_whole() {
        let original = scene();
        let mut labels = original.clone();
        let changed = Postprocess {
            largest_component_mm: Some(4.0),
        }
        .apply(&mut labels);
        let count = |l: &LabelMap, v: u16| l.data.iter().filter(|&&x| x == v).count();
        // The neck goes with all but a stub of the bridge: what is left of it lies within
        // the growth (4 mm + one 2 mm voxel) of the brain's surface at z = 28.
        let n = 64;
        for (i, &l) in labels.data.iter().enumerate() {
            if l == 3 {
                assert!(i / (n * n) >= 25, "label 3 left at z = {}", i / (n * n));
            }
        }
        assert!(
            count(&labels, 3) <= 3 * 4,
            "{} bridge voxels left",
            count(&labels, 3)
        );
        assert_eq!(
            count(&labels, 2),
            count(&original, 2),
            "the brain stays whole"
        );
        // The speck (8 voxels of label 1) goes; the brain's own label-1 shell stays.
        assert_eq!(count(&labels, 1), count(&original, 1) - 8);
        assert_eq!(changed, count(&original, 3) - count(&labels, 3) + 8);
        for (a, b) in original.data.iter().zip(&labels.data) {
            assert!(*b == *a || *b == 0, "labels are only ever removed");
        }
    }

    #[test]
    fn plain_largest_component_keeps_what_is_bridged() {
        let original = scene();
        let mut labels = original.clone();
        keep_largest_component(&mut labels, 0.0);
        let count = |l: &LabelMap, v: u16| l.data.iter().filter(|&&x| x == v).count();
        assert_eq!(
            count(&labels, 3),
            count(&original, 3),
            "bridged neck stays at r = 0"
        );
        assert_eq!(
            count(&labels, 1),
            count(&original, 1) - 8,
            "only the speck goes"
        );
    }

    #[test]
    fn nothing_changes_without_the_step_or_when_erosion_leaves_nothing() {
        let original = scene();
        let mut labels = original.clone();
        assert_eq!(Postprocess::default().apply(&mut labels), 0);
        assert_eq!(labels.data, original.data);
        assert_eq!(keep_largest_component(&mut labels, 40.0), 0);
        assert_eq!(labels.data, original.data);
    }

    #[test]
    fn unusable_radii_are_refused_and_old_bundles_read_as_none() {
        for r in [-1.0, f64::NAN, 51.0] {
            assert!(Postprocess {
                largest_component_mm: Some(r)
            }
            .check()
            .is_err());
        }
        let p: Postprocess = serde_json::from_str("{}").unwrap();
        assert_eq!(p, Postprocess::default());
    }
}

//! Extra-cerebral clutter: real head scans hold far more than a brain in a few shells:
//! face, eyes, neck, muscle and fat, of many intensities, reaching the edge of the field
//! of view. A model trained on a brain in concentric shells on a black background calls
//! that tissue brain. Clutter gives each synthetic subject an irregular, heterogeneous
//! layer of non-brain tissue (labels written as background) around and below the head,
//! as SynthSeg's extra-cerebral labels do, without needing a labelled real head.

use serde::{Deserialize, Serialize};

use super::field::smooth_field;
use super::SynthError;
use crate::metrics::euclidean_distance_transform;
use crate::rng::Rng;
use crate::volume::LabelMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClutterConfig {
    /// Clutter tissue classes, each an extra label with its own random contrast.
    pub classes: usize,
    /// Range (mm) of how far the clutter envelope reaches beyond the labelled head, drawn
    /// per subject and modulated in space so the envelope is not a shell.
    pub reach_mm: [f64; 2],
    /// Ellipsoids attached to the head (stand-ins for face, neck, shoulders), per subject.
    pub blobs: usize,
    /// Range (mm) of the blobs' semi-axes.
    pub blob_radius_mm: [f64; 2],
}

impl Default for ClutterConfig {
    fn default() -> Self {
        Self {
            classes: 4,
            reach_mm: [10.0, 40.0],
            blobs: 4,
            blob_radius_mm: [15.0, 50.0],
        }
    }
}

impl ClutterConfig {
    fn validate(&self) -> Result<(), SynthError> {
        let ordered =
            |r: [f64; 2]| r[0].is_finite() && r[1].is_finite() && 0.0 <= r[0] && r[0] <= r[1];
        if self.classes == 0 || self.classes > 64 {
            return Err(SynthError::BadConfig(format!(
                "clutter needs 1 to 64 classes, got {}",
                self.classes
            )));
        }
        if !ordered(self.reach_mm) || !ordered(self.blob_radius_mm) {
            return Err(SynthError::BadConfig(
                "clutter ranges must be finite, non-negative and ordered (low <= high)".into(),
            ));
        }
        Ok(())
    }
}

/// Background voxels near the labelled head (within a spatially varying reach) or inside
/// a random ellipsoid centred in the head become clutter labels `max + 1 ..= max +
/// classes`, split into patches by a smooth random field's quantiles. Labelled voxels
/// are never changed.
pub fn add_head_clutter(
    labels: &LabelMap,
    cfg: &ClutterConfig,
    rng: &mut Rng,
) -> Result<LabelMap, SynthError> {
    cfg.validate()?;
    let max = labels.data.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return Err(SynthError::EmptyLabels);
    }
    if max as usize + cfg.classes > u16::MAX as usize {
        return Err(SynthError::BadConfig("too many labels".into()));
    }
    let dims = labels.dims;
    let [nx, ny, nz] = dims;
    let head: Vec<bool> = labels.data.iter().map(|&l| l > 0).collect();
    let d2 = euclidean_distance_transform(&head, dims, labels.spacing);

    let reach = rng.range(cfg.reach_mm[0], cfg.reach_mm[1]);
    let wobble = smooth_field(dims, 5, 0.5, rng);
    let mut region: Vec<bool> = d2
        .iter()
        .zip(&wobble)
        .zip(&head)
        .map(|((&d, &w), &h)| !h && d.sqrt() <= reach * f64::from(w).exp())
        .collect();

    // Blobs grow out of the head's surface, as a face or neck does.
    let surface: Vec<usize> = (0..head.len())
        .filter(|&i| head[i] && on_surface(&head, dims, i))
        .collect();
    for _ in 0..cfg.blobs {
        let c = surface[rng.below(surface.len())];
        let centre = [c % nx, (c / nx) % ny, c / (nx * ny)];
        let radii: Vec<f64> = (0..3)
            .map(|a| rng.range(cfg.blob_radius_mm[0], cfg.blob_radius_mm[1]) / labels.spacing[a])
            .collect();
        let span = |a: usize, n: usize| {
            let r = radii[a].ceil() as usize;
            (centre[a].saturating_sub(r), (centre[a] + r + 1).min(n))
        };
        let ((x0, x1), (y0, y1), (z0, z1)) = (span(0, nx), span(1, ny), span(2, nz));
        for z in z0..z1 {
            for y in y0..y1 {
                for x in x0..x1 {
                    let q = [x, y, z];
                    let r2: f64 = (0..3)
                        .map(|a| ((q[a] as f64 - centre[a] as f64) / radii[a].max(1e-6)).powi(2))
                        .sum();
                    let i = x + nx * (y + ny * z);
                    if r2 <= 1.0 && !head[i] {
                        region[i] = true;
                    }
                }
            }
        }
    }

    let patches = smooth_field(dims, 10, 1.0, rng);
    let mut values: Vec<f32> = (0..region.len())
        .filter(|&i| region[i])
        .map(|i| patches[i])
        .collect();
    if values.is_empty() {
        return Ok(labels.clone());
    }
    values.sort_by(f32::total_cmp);
    let cuts: Vec<f32> = (1..cfg.classes)
        .map(|k| values[k * values.len() / cfg.classes])
        .collect();
    let data = labels
        .data
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if !region[i] {
                return l;
            }
            let class = cuts.iter().filter(|&&c| patches[i] >= c).count();
            max + 1 + class as u16
        })
        .collect();
    Ok(LabelMap {
        data,
        ..labels.clone()
    })
}

/// A head voxel with a face neighbour outside the head (or on the grid's edge).
fn on_surface(head: &[bool], dims: [usize; 3], i: usize) -> bool {
    let [nx, ny, nz] = dims;
    let (x, y, z) = (i % nx, (i / nx) % ny, i / (nx * ny));
    let out = |dx: isize, dy: isize, dz: isize| {
        let (qx, qy, qz) = (x as isize + dx, y as isize + dy, z as isize + dz);
        if qx < 0 || qy < 0 || qz < 0 || qx >= nx as isize || qy >= ny as isize || qz >= nz as isize
        {
            return true;
        }
        !head[qx as usize + nx * (qy as usize + ny * qz as usize)]
    };
    out(-1, 0, 0) || out(1, 0, 0) || out(0, -1, 0) || out(0, 1, 0) || out(0, 0, -1) || out(0, 0, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A labelled ball of radius 6 voxels in a 32^3 grid at 2 mm.
    fn ball() -> LabelMap {
        let n = 32;
        let data = (0..n * n * n)
            .map(|i| {
                let r2: f64 = [i % n, (i / n) % n, i / (n * n)]
                    .iter()
                    .map(|&c| (c as f64 - 15.5).powi(2))
                    .sum();
                if r2 < 36.0 {
                    1 + (r2 < 9.0) as u16
                } else {
                    0
                }
            })
            .collect();
        let mut affine = [[0.0; 4]; 4];
        for (i, row) in affine.iter_mut().enumerate() {
            row[i] = if i < 3 { 2.0 } else { 1.0 };
        }
        LabelMap {
            dims: [n; 3],
            spacing: [2.0; 3],
            affine,
            data,
        }
    }

    #[test]
    fn clutter_surrounds_the_head_in_several_classes_and_keeps_its_labels() {
        let labels = ball();
        // Sizes for a 64 mm field of view: the corners stay out of reach.
        let cfg = ClutterConfig {
            classes: 3,
            reach_mm: [4.0, 8.0],
            blobs: 3,
            blob_radius_mm: [10.0, 16.0],
        };
        let out = add_head_clutter(&labels, &cfg, &mut Rng::new(3)).unwrap();
        for (a, b) in labels.data.iter().zip(&out.data) {
            if *a > 0 {
                assert_eq!(a, b, "labelled voxels must not change");
            } else {
                assert!(*b == 0 || (3..=5).contains(b), "unexpected label {b}");
            }
        }
        let counts: Vec<usize> = (3..=5)
            .map(|l| out.data.iter().filter(|&&v| v == l).count())
            .collect();
        let total: usize = counts.iter().sum();
        let head = labels.data.iter().filter(|&&l| l > 0).count();
        assert!(
            total > head,
            "clutter {total} should exceed the head {head}"
        );
        for c in &counts {
            assert!(
                *c * 6 > total,
                "classes should split the clutter, got {counts:?}"
            );
        }
        // Far corners of the field of view stay air.
        assert_eq!(out.data[0], 0);
        assert_eq!(out.data[out.data.len() - 1], 0);
    }

    #[test]
    fn clutter_varies_between_subjects_and_repeats_per_seed() {
        let labels = ball();
        let cfg = ClutterConfig::default();
        let a = add_head_clutter(&labels, &cfg, &mut Rng::new(1)).unwrap();
        let a2 = add_head_clutter(&labels, &cfg, &mut Rng::new(1)).unwrap();
        let b = add_head_clutter(&labels, &cfg, &mut Rng::new(2)).unwrap();
        assert_eq!(a.data, a2.data);
        let differ = a.data.iter().zip(&b.data).filter(|(x, y)| x != y).count();
        assert!(
            differ > 100,
            "two subjects' clutter differ in {differ} voxels"
        );
    }

    #[test]
    fn bad_settings_are_errors() {
        let labels = ball();
        let mut rng = Rng::new(0);
        let zero = ClutterConfig {
            classes: 0,
            ..ClutterConfig::default()
        };
        assert!(add_head_clutter(&labels, &zero, &mut rng).is_err());
        let reversed = ClutterConfig {
            reach_mm: [10.0, 2.0],
            ..ClutterConfig::default()
        };
        assert!(add_head_clutter(&labels, &reversed, &mut rng).is_err());
        let empty = LabelMap {
            data: vec![0; labels.data.len()],
            ..labels
        };
        assert!(matches!(
            add_head_clutter(&empty, &ClutterConfig::default(), &mut rng),
            Err(SynthError::EmptyLabels)
        ));
    }
}

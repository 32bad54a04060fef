//! Cutting a patch out of a volume through a flip / rotation / zoom about the patch
//! centre. Images are sampled trilinearly, label maps with nearest neighbour, both through
//! the same transform so they stay aligned. Outside the volume reads as 0 (background).

use super::AugmentConfig;
use crate::rng::Rng;

/// Maps patch offsets (from the patch centre, in voxels) to source offsets.
#[derive(Clone, Debug, PartialEq)]
pub struct SpatialTransform {
    /// Row-major 3x3 matrix: flips, rotation and zoom combined.
    matrix: [[f64; 3]; 3],
    /// Pure flips (or identity): integer copies, no interpolation.
    axis_aligned: bool,
}

fn rotation(angles: [f64; 3]) -> [[f64; 3]; 3] {
    let (sx, cx) = angles[0].sin_cos();
    let (sy, cy) = angles[1].sin_cos();
    let (sz, cz) = angles[2].sin_cos();
    let rx = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]];
    let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let rz = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
    mul3(&rz, &mul3(&ry, &rx))
}

fn mul3(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    std::array::from_fn(|r| std::array::from_fn(|c| (0..3).map(|k| a[r][k] * b[k][c]).sum()))
}

impl SpatialTransform {
    pub fn identity() -> Self {
        Self {
            matrix: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            axis_aligned: true,
        }
    }

    /// True when the patch is a plain (possibly mirrored) crop, copied without
    /// interpolation.
    pub fn is_axis_aligned(&self) -> bool {
        self.axis_aligned
    }

    /// Draw a transform. The draws happen in a fixed order whatever is enabled, so
    /// turning one augmentation off does not change the others' random numbers.
    pub fn sample(cfg: &AugmentConfig, rng: &mut Rng) -> Self {
        let flips: [bool; 3] = std::array::from_fn(|_| rng.bool(0.5));
        let rotate = rng.bool(cfg.p_rotate);
        let max = cfg.rotation_deg.to_radians();
        let angles: [f64; 3] = std::array::from_fn(|_| rng.range(-max, max));
        let zoom = rng.bool(cfg.p_scale);
        let factor = rng.range(cfg.scale[0], cfg.scale[1].max(cfg.scale[0]));
        let mut m = if rotate && max > 0.0 {
            rotation(angles)
        } else {
            Self::identity().matrix
        };
        let s = if zoom { factor } else { 1.0 };
        for (j, &flip) in flips.iter().enumerate() {
            let f = if cfg.flip && flip { -s } else { s };
            m.iter_mut().for_each(|row| row[j] *= f);
        }
        let axis_aligned = !(rotate && max > 0.0) && s == 1.0;
        Self {
            matrix: m,
            axis_aligned,
        }
    }

    /// Source coordinate (voxels) of patch voxel `o` for a patch whose unrotated
    /// placement starts at `start`.
    fn source(&self, o: [usize; 3], patch: [usize; 3], start: [usize; 3]) -> [f64; 3] {
        let off: [f64; 3] = std::array::from_fn(|a| o[a] as f64 - (patch[a] as f64 - 1.0) / 2.0);
        std::array::from_fn(|a| {
            let centre = start[a] as f64 + (patch[a] as f64 - 1.0) / 2.0;
            centre + (0..3).map(|j| self.matrix[a][j] * off[j]).sum::<f64>()
        })
    }

    /// Cut an image patch of shape `patch` (x fastest) from a volume of `dims` read
    /// through `get(index)`; with the identity transform this is exactly the crop at
    /// `start`.
    pub fn sample_image(
        &self,
        dims: [usize; 3],
        start: [usize; 3],
        patch: [usize; 3],
        get: impl Fn(usize) -> f32,
    ) -> Vec<f32> {
        let mut out = Vec::with_capacity(patch.iter().product());
        let index = |p: [usize; 3]| p[0] + dims[0] * (p[1] + dims[1] * p[2]);
        for z in 0..patch[2] {
            for y in 0..patch[1] {
                for x in 0..patch[0] {
                    let s = self.source([x, y, z], patch, start);
                    if self.axis_aligned {
                        let p = s.map(|c| c.round());
                        let inside = (0..3).all(|a| p[a] >= 0.0 && (p[a] as usize) < dims[a]);
                        out.push(if inside {
                            get(index(p.map(|c| c as usize)))
                        } else {
                            0.0
                        });
                        continue;
                    }
                    let base = s.map(|c| c.floor());
                    let mut v = 0.0f64;
                    for corner in 0..8 {
                        let d = [corner & 1, (corner >> 1) & 1, corner >> 2];
                        let mut w = 1.0;
                        let mut p = [0usize; 3];
                        let mut inside = true;
                        for a in 0..3 {
                            let c = base[a] + d[a] as f64;
                            w *= 1.0 - (s[a] - c).abs();
                            inside &= c >= 0.0 && (c as usize) < dims[a];
                            p[a] = c.max(0.0) as usize;
                        }
                        if inside && w > 0.0 {
                            v += w * get(index(p)) as f64;
                        }
                    }
                    out.push(v as f32);
                }
            }
        }
        out
    }

    /// Cut the matching label patch (nearest neighbour, so no invented labels).
    pub fn sample_labels(
        &self,
        dims: [usize; 3],
        start: [usize; 3],
        patch: [usize; 3],
        get: impl Fn(usize) -> u16,
    ) -> Vec<u16> {
        let mut out = Vec::with_capacity(patch.iter().product());
        for z in 0..patch[2] {
            for y in 0..patch[1] {
                for x in 0..patch[0] {
                    let p = self.source([x, y, z], patch, start).map(|c| c.round());
                    let inside = (0..3).all(|a| p[a] >= 0.0 && (p[a] as usize) < dims[a]);
                    out.push(if inside {
                        let p = p.map(|c| c as usize);
                        get(p[0] + dims[0] * (p[1] + dims[1] * p[2]))
                    } else {
                        0
                    });
                }
            }
        }
        out
    }
}

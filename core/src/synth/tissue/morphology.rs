//! Millimetre-scale binary morphology on voxel masks: dilation and erosion by a ball, and
//! cavity filling, as the tissue rules close and fill the brain envelope.

use crate::metrics::euclidean_distance_transform;

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

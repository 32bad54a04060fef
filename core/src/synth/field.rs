//! Smooth random fields and separable Gaussian blur on x-fastest grids.

use crate::rng::Rng;

/// A smooth random field: normal values (sd `sd`) on a coarse `control^3` lattice spread
/// over the grid, trilinearly interpolated to every voxel.
pub fn smooth_field(dims: [usize; 3], control: usize, sd: f64, rng: &mut Rng) -> Vec<f32> {
    let c = control.max(2);
    let coarse: Vec<f32> = (0..c * c * c).map(|_| (rng.normal() * sd) as f32).collect();
    let at = |x: usize, y: usize, z: usize| coarse[x + c * (y + c * z)];
    // Position of voxel i on the lattice axis: 0 .. c-1 across the grid.
    let axis = |i: usize, n: usize| -> (usize, f32) {
        let p = if n > 1 {
            i as f32 * (c - 1) as f32 / (n - 1) as f32
        } else {
            0.0
        };
        let i0 = (p.floor() as usize).min(c - 2);
        (i0, p - i0 as f32)
    };
    let [nx, ny, nz] = dims;
    let mut out = vec![0f32; nx * ny * nz];
    for z in 0..nz {
        let (z0, fz) = axis(z, nz);
        for y in 0..ny {
            let (y0, fy) = axis(y, ny);
            for x in 0..nx {
                let (x0, fx) = axis(x, nx);
                let mut v = 0.0;
                for (dz, wz) in [(0, 1.0 - fz), (1, fz)] {
                    for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
                        for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
                            v += wz * wy * wx * at(x0 + dx, y0 + dy, z0 + dz);
                        }
                    }
                }
                out[x + nx * (y + ny * z)] = v;
            }
        }
    }
    out
}

fn kernel(sigma: f64) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let k: Vec<f64> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f64 = k.iter().sum();
    k.iter().map(|v| (v / s) as f32).collect()
}

/// Separable Gaussian blur (sigma in voxels, per axis); edges clamp.
pub fn gaussian_blur(data: &mut [f32], dims: [usize; 3], sigma: [f64; 3]) {
    let strides = [1, dims[0], dims[0] * dims[1]];
    for axis in 0..3 {
        if sigma[axis] <= 0.01 || dims[axis] < 2 {
            continue;
        }
        let k = kernel(sigma[axis]);
        let r = (k.len() / 2) as isize;
        let n = dims[axis];
        let stride = strides[axis];
        let mut line = vec![0f32; n];
        let lines = data.len() / n;
        for l in 0..lines {
            // Start of the l-th line along `axis`.
            let start = match axis {
                0 => l * n,
                1 => (l / dims[0]) * dims[0] * dims[1] + l % dims[0],
                _ => l,
            };
            for i in 0..n {
                line[i] = data[start + i * stride];
            }
            for i in 0..n {
                let mut acc = 0.0;
                for (t, w) in k.iter().enumerate() {
                    let j = (i as isize + t as isize - r).clamp(0, n as isize - 1) as usize;
                    acc += w * line[j];
                }
                data[start + i * stride] = acc;
            }
        }
    }
}

//! Display-only maths for the slice view: intensity statistics, the 1st-99th percentile
//! display window, and an axial slice turned into RGBA pixels for a canvas.
//!
//! Pure Rust with no browser or core types, so it is unit-tested natively
//! (`cargo test -p brainfm-app`). Voxel layout is NIfTI's: x fastest, then y, then z
//! (`index = x + nx * (y + ny * z)`).

/// The longest side, in canvas pixels, of a rendered slice.
pub const MAX_SIDE: usize = 1024;

/// Intensity statistics over the finite voxels of a volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub min: f32,
    pub max: f32,
    /// 1st percentile (lower end of the display window).
    pub p01: f32,
    /// 99th percentile (upper end of the display window).
    pub p99: f32,
    /// Voxels that are NaN or infinite (left out of every statistic).
    pub non_finite: usize,
}

/// Min, max and the 1st/99th percentiles (nearest rank) of the finite values.
/// `None` when no value is finite.
pub fn intensity_stats(data: &[f32]) -> Option<Stats> {
    let mut finite: Vec<f32> = data.iter().copied().filter(|v| v.is_finite()).collect();
    let non_finite = data.len() - finite.len();
    if finite.is_empty() {
        return None;
    }
    let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in &finite {
        min = min.min(v);
        max = max.max(v);
    }
    let p01 = nth_rank(&mut finite, 0.01);
    let p99 = nth_rank(&mut finite, 0.99);
    Some(Stats {
        min,
        max,
        p01,
        p99,
        non_finite,
    })
}

/// Nearest-rank quantile `q` in [0, 1] of a non-empty slice, by selection (O(n)).
fn nth_rank(values: &mut [f32], q: f64) -> f32 {
    let last = values.len() - 1;
    let k = ((q * last as f64).round() as usize).min(last);
    *values.select_nth_unstable_by(k, f32::total_cmp).1
}

/// RGBA pixels of one rendered slice, row-major from the top-left corner.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Render axial slice `z` as grayscale, windowed to `[lo, hi]`.
///
/// Columns run along +x (patient right on the right when the volume is RAS: neurological
/// convention) and rows along -y (anterior at the top). Voxels are resampled, nearest
/// neighbour, to square pixels of the smaller in-plane spacing, so anisotropic scans keep
/// their physical proportions; the longer side is capped at [`MAX_SIDE`].
///
/// Panics if `data.len()` differs from the product of `dims` or `z >= dims[2]`: callers pass a
/// volume that core already validated.
pub fn axial_slice_rgba(
    data: &[f32],
    dims: [usize; 3],
    spacing: [f64; 3],
    z: usize,
    lo: f32,
    hi: f32,
) -> Rgba {
    let [nx, ny, nz] = dims;
    assert_eq!(
        data.len(),
        nx * ny * nz,
        "data length does not match dims {dims:?}"
    );
    assert!(z < nz, "slice {z} out of range 0..{nz}");
    let (sx, sy) = (sane_spacing(spacing[0]), sane_spacing(spacing[1]));

    // Physical extent in mm, drawn with square pixels of the finer spacing.
    let (wx, wy) = (nx as f64 * sx, ny as f64 * sy);
    let mut px = sx.min(sy);
    let longest = wx.max(wy) / px;
    if longest > MAX_SIDE as f64 {
        px *= longest / MAX_SIDE as f64;
    }
    let width = ((wx / px).round() as usize).clamp(1, MAX_SIDE);
    let height = ((wy / px).round() as usize).clamp(1, MAX_SIDE);

    // Source column/row for every output column/row (pixel centres).
    let xs: Vec<usize> = (0..width)
        .map(|c| (((c as f64 + 0.5) * wx / width as f64 / sx) as usize).min(nx - 1))
        .collect();
    let ys: Vec<usize> = (0..height)
        .map(|r| ny - 1 - (((r as f64 + 0.5) * wy / height as f64 / sy) as usize).min(ny - 1))
        .collect();

    let plane = &data[z * nx * ny..(z + 1) * nx * ny];
    let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
    let mut pixels = Vec::with_capacity(width * height * 4);
    for &y in &ys {
        let row = &plane[y * nx..(y + 1) * nx];
        for &x in &xs {
            let v = row[x];
            let g = if !v.is_finite() {
                0
            } else if hi > lo {
                ((v - lo) * scale).clamp(0.0, 255.0).round() as u8
            } else if v > lo {
                255
            } else {
                0
            };
            pixels.extend_from_slice(&[g, g, g, 255]);
        }
    }
    Rgba {
        width: width as u32,
        height: height as u32,
        pixels,
    }
}

/// Spacing used for display: a non-finite or non-positive value (core rejects those, but the
/// view must never divide by zero) is treated as 1 mm.
fn sane_spacing(s: f64) -> f64 {
    if s.is_finite() && s > 0.0 {
        s
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_skip_non_finite_and_use_nearest_rank() {
        let mut data: Vec<f32> = (0..=100).map(|v| v as f32).collect();
        data.push(f32::NAN);
        data.push(f32::INFINITY);
        let s = intensity_stats(&data).unwrap();
        assert_eq!(
            (s.min, s.max, s.p01, s.p99, s.non_finite),
            (0.0, 100.0, 1.0, 99.0, 2)
        );
    }

    #[test]
    fn stats_of_nothing_finite_is_none() {
        assert_eq!(intensity_stats(&[f32::NAN]), None);
        assert_eq!(intensity_stats(&[]), None);
    }

    #[test]
    fn slice_puts_anterior_on_top_and_right_on_the_right() {
        // 2x2x1, index = x + 2y: (0,0)=0, (1,0)=10, (0,1)=1, (1,1)=11.
        let data = [0.0, 10.0, 1.0, 11.0];
        let img = axial_slice_rgba(&data, [2, 2, 1], [1.0; 3], 0, 0.0, 11.0);
        assert_eq!((img.width, img.height), (2, 2));
        let g = |c: usize, r: usize| img.pixels[(r * 2 + c) * 4];
        // Top row is y = 1, bottom row y = 0; left column x = 0.
        assert_eq!([g(0, 0), g(1, 0), g(0, 1), g(1, 1)], [23, 255, 0, 232]);
        assert!(img
            .pixels
            .chunks(4)
            .all(|p| p[3] == 255 && p[0] == p[1] && p[1] == p[2]));
    }

    #[test]
    fn anisotropic_spacing_keeps_physical_proportions() {
        // 4 x 2 voxels of 1 x 2 mm: 4 mm by 4 mm, drawn as 4 x 4 pixels of 1 mm.
        let dims = [4, 2, 3];
        let data: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let img = axial_slice_rgba(&data, dims, [1.0, 2.0, 5.0], 1, 0.0, 23.0);
        assert_eq!((img.width, img.height), (4, 4));
        // Rows 0-1 come from y = 1, rows 2-3 from y = 0 of slice z = 1.
        let g = |c: usize, r: usize| img.pixels[(r * 4 + c) * 4];
        assert_eq!(g(0, 0), g(0, 1));
        assert_eq!(g(0, 2), g(0, 3));
        let expect = |v: f32| (v * 255.0 / 23.0).round() as u8;
        assert_eq!(g(0, 0), expect(8.0 + 4.0));
        assert_eq!(g(3, 3), expect(8.0 + 3.0));
    }

    #[test]
    fn window_clamps_and_handles_flat_images() {
        let data = [-5.0, 0.0, 5.0, 50.0, f32::NAN, 2.0];
        let img = axial_slice_rgba(&data, [6, 1, 1], [1.0; 3], 0, 0.0, 10.0);
        let grays: Vec<u8> = img.pixels.chunks(4).map(|p| p[0]).collect();
        assert_eq!(grays, vec![0, 0, 128, 255, 0, 51]);
        let flat = axial_slice_rgba(&[3.0, 3.0], [2, 1, 1], [1.0; 3], 0, 3.0, 3.0);
        assert!(flat.pixels.chunks(4).all(|p| p[0] == 0));
    }

    #[test]
    fn huge_slices_are_capped() {
        let dims = [2048, 8, 1];
        let data = vec![1.0; 2048 * 8];
        let img = axial_slice_rgba(&data, dims, [1.0; 3], 0, 0.0, 1.0);
        assert_eq!((img.width, img.height), (MAX_SIDE as u32, 4));
        assert_eq!(img.pixels.len(), MAX_SIDE * 4 * 4);
    }
}

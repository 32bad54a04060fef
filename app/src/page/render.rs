//! Display-only maths for the three views: intensity statistics, the 1st-99th percentile
//! display window, plane geometry (screen pixels <-> voxels, anatomical marks), the label
//! colormap, and a slice with its label overlay turned into RGBA pixels for a canvas.
//!
//! Pure Rust with no browser or core types, so it is unit-tested natively
//! (`cargo test -p brainfm-app`). Voxel layout is NIfTI's: x fastest, then y, then z
//! (`index = x + nx * (y + ny * z)`).

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

/// Spacing used for display: a non-finite or non-positive value (core rejects those, but the
/// view must never divide by zero) is treated as 1 mm.
fn sane_spacing(s: f64) -> f64 {
    if s.is_finite() && s > 0.0 {
        s
    } else {
        1.0
    }
}

/// One of the three orthogonal views of a volume in RAS voxel order (x to the patient's
/// right, y anterior, z superior: what `reorient_to_ras` produces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plane {
    Axial,
    Coronal,
    Sagittal,
}

/// How a plane maps voxel axes to the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneAxes {
    /// The axis held fixed (the slice index runs along it).
    pub fixed: usize,
    /// Axis along the screen's columns, and whether it runs right-to-left.
    pub col: usize,
    pub col_rev: bool,
    /// Axis along the screen's rows, and whether it runs bottom-to-top.
    pub row: usize,
    pub row_rev: bool,
}

impl Plane {
    pub const ALL: [Plane; 3] = [Plane::Axial, Plane::Coronal, Plane::Sagittal];

    /// Neurological convention: patient's right on the screen's right (axial, coronal),
    /// anterior to the left (sagittal), superior / anterior at the top.
    pub fn axes(self) -> PlaneAxes {
        match self {
            Plane::Axial => PlaneAxes {
                fixed: 2,
                col: 0,
                col_rev: false,
                row: 1,
                row_rev: true,
            },
            Plane::Coronal => PlaneAxes {
                fixed: 1,
                col: 0,
                col_rev: false,
                row: 2,
                row_rev: true,
            },
            Plane::Sagittal => PlaneAxes {
                fixed: 0,
                col: 1,
                col_rev: true,
                row: 2,
                row_rev: true,
            },
        }
    }

    /// Anatomical direction at the screen's (left, right, top, bottom) edges for a RAS volume.
    pub fn marks(self) -> [&'static str; 4] {
        match self {
            Plane::Axial => ["L", "R", "A", "P"],
            Plane::Coronal => ["L", "R", "S", "I"],
            Plane::Sagittal => ["A", "P", "S", "I"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Plane::Axial => "Axial",
            Plane::Coronal => "Coronal",
            Plane::Sagittal => "Sagittal",
        }
    }
}

/// Millimetres per screen pixel so that the volume's longest physical extent spans
/// `longest` pixels; the same for all three views so they share one scale.
pub fn mm_per_pixel(dims: [usize; 3], spacing: [f64; 3], longest: usize) -> f64 {
    let extent = (0..3)
        .map(|a| dims[a] as f64 * sane_spacing(spacing[a]))
        .fold(0.0, f64::max);
    if extent > 0.0 {
        extent / longest.max(1) as f64
    } else {
        1.0
    }
}

/// Pixel size of a plane's view and the mapping between pixels and voxels.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceGeom {
    pub plane: Plane,
    pub width: usize,
    pub height: usize,
    cols: usize,
    rows: usize,
}

impl SliceGeom {
    pub fn new(plane: Plane, dims: [usize; 3], spacing: [f64; 3], mm_per_px: f64) -> Self {
        let ax = plane.axes();
        let size = |a: usize| {
            ((dims[a] as f64 * sane_spacing(spacing[a]) / mm_per_px).round() as usize)
                .clamp(1, 4096)
        };
        SliceGeom {
            plane,
            width: size(ax.col),
            height: size(ax.row),
            cols: dims[ax.col].max(1),
            rows: dims[ax.row].max(1),
        }
    }

    /// Voxel index along the column axis under pixel column `c` (any real pixel position).
    pub fn col_voxel(&self, c: f64) -> usize {
        let ax = self.plane.axes();
        pick(c, self.width, self.cols, ax.col_rev)
    }

    pub fn row_voxel(&self, r: f64) -> usize {
        let ax = self.plane.axes();
        pick(r, self.height, self.rows, ax.row_rev)
    }

    /// Pixel position (centre) of voxel index `v` along the column axis.
    pub fn col_pixel(&self, v: usize) -> f64 {
        let ax = self.plane.axes();
        centre(v, self.width, self.cols, ax.col_rev)
    }

    pub fn row_pixel(&self, v: usize) -> f64 {
        let ax = self.plane.axes();
        centre(v, self.height, self.rows, ax.row_rev)
    }
}

fn pick(p: f64, pixels: usize, voxels: usize, rev: bool) -> usize {
    let p = if p.is_finite() { p.max(0.0) } else { 0.0 };
    let v = ((p * voxels as f64 / pixels as f64) as usize).min(voxels - 1);
    if rev {
        voxels - 1 - v
    } else {
        v
    }
}

fn centre(v: usize, pixels: usize, voxels: usize, rev: bool) -> f64 {
    let v = v.min(voxels - 1);
    let v = if rev { voxels - 1 - v } else { v };
    (v as f64 + 0.5) * pixels as f64 / voxels as f64
}

/// A distinct colour for label `l` (0 is background and black). The first few follow the
/// usual tissue colours; later ones walk the hue circle by the golden angle.
pub fn label_colour(l: usize) -> [u8; 3] {
    const FIXED: [[u8; 3]; 8] = [
        [0, 0, 0],
        [60, 130, 255], // csf-ish blue
        [255, 90, 70],  // grey-matter red
        [250, 230, 80], // white-matter yellow
        [80, 220, 120],
        [220, 100, 255],
        [255, 160, 40],
        [60, 220, 230],
    ];
    if l < FIXED.len() {
        return FIXED[l];
    }
    let h = (l as f64 * 137.507_764) % 360.0;
    hsv(h, 0.65, 1.0)
}

fn hsv(h: f64, s: f64, v: f64) -> [u8; 3] {
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = v - c;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [r, g, b].map(|u| ((u + m) * 255.0).round() as u8)
}

/// Render slice `index` of `plane` of a RAS volume windowed to `[lo, hi]`, with the label
/// map (same layout as `data`) blended on top through `lut` (RGBA per label value;
/// alpha 0 hides a label). Returns the pixels and how
/// many of them show a label.
///
/// Panics if `data` (or `labels`) does not hold `dims` voxels: callers pass volumes core
/// validated.
#[allow(clippy::too_many_arguments)]
pub fn render_slice(
    data: &[f32],
    labels: Option<&[u16]>,
    lut: &[[u8; 4]],
    dims: [usize; 3],
    geom: &SliceGeom,
    index: usize,
    lo: f32,
    hi: f32,
) -> (Rgba, usize) {
    let n = dims[0] * dims[1] * dims[2];
    assert_eq!(data.len(), n, "data length does not match dims {dims:?}");
    if let Some(l) = labels {
        assert_eq!(l.len(), n, "label length does not match dims {dims:?}");
    }
    let ax = geom.plane.axes();
    let stride = [1, dims[0], dims[0] * dims[1]];
    let base = index.min(dims[ax.fixed].saturating_sub(1)) * stride[ax.fixed];
    let col_off: Vec<usize> = (0..geom.width)
        .map(|c| geom.col_voxel(c as f64 + 0.5) * stride[ax.col])
        .collect();
    let row_off: Vec<usize> = (0..geom.height)
        .map(|r| geom.row_voxel(r as f64 + 0.5) * stride[ax.row])
        .collect();
    let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
    let mut pixels = Vec::with_capacity(geom.width * geom.height * 4);
    let mut shown = 0usize;
    for &ro in &row_off {
        for &co in &col_off {
            let at = base + ro + co;
            let v = data[at];
            let g = if !v.is_finite() {
                0.0
            } else if hi > lo {
                ((v - lo) * scale).clamp(0.0, 255.0)
            } else if v > lo {
                255.0
            } else {
                0.0
            };
            let mut px = [g, g, g];
            if let Some(labels) = labels {
                let l = labels[at] as usize;
                if l != 0 {
                    if let Some(&[r, gg, b, a]) = lut.get(l) {
                        if a > 0 {
                            let a = a as f32 / 255.0;
                            px = [
                                g * (1.0 - a) + r as f32 * a,
                                g * (1.0 - a) + gg as f32 * a,
                                g * (1.0 - a) + b as f32 * a,
                            ];
                            shown += 1;
                        }
                    }
                }
            }
            pixels.extend_from_slice(&[
                px[0].round() as u8,
                px[1].round() as u8,
                px[2].round() as u8,
                255,
            ]);
        }
    }
    (
        Rgba {
            width: geom.width as u32,
            height: geom.height as u32,
            pixels,
        },
        shown,
    )
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
    fn planes_map_ras_axes_to_the_screen() {
        // 2x3x4 volume, value = x + 10y + 100z.
        let dims = [2, 3, 4];
        let data: Vec<f32> = (0..24)
            .map(|i| (i % 2 + 10 * ((i / 2) % 3) + 100 * (i / 6)) as f32)
            .collect();
        let px = mm_per_pixel(dims, [1.0; 3], 4);
        assert_eq!(px, 1.0);
        let val = |plane: Plane, index: usize, c: usize, r: usize| {
            let g = SliceGeom::new(plane, dims, [1.0; 3], px);
            let (img, _) = render_slice(&data, None, &[], dims, &g, index, 0.0, 255.0);
            img.pixels[(r * img.width as usize + c) * 4]
        };
        // Axial z=1: top-left is (x=0 left = patient's left, y=2 anterior).
        assert_eq!(val(Plane::Axial, 1, 0, 0), 120);
        assert_eq!(val(Plane::Axial, 1, 1, 2), 101);
        // Coronal y=1: top row is the most superior slice z=3.
        assert_eq!(val(Plane::Coronal, 1, 1, 0), 255); // 311 clamps
        assert_eq!(val(Plane::Coronal, 1, 0, 3), 10);
        // Sagittal x=1: left column is anterior (y=2), top superior.
        assert_eq!(val(Plane::Sagittal, 1, 0, 3), 21);
        assert_eq!(val(Plane::Sagittal, 1, 2, 3), 1);
    }

    #[test]
    fn pixels_and_voxels_round_trip() {
        let dims = [91, 109, 91];
        let px = mm_per_pixel(dims, [2.0; 3], 448);
        for plane in Plane::ALL {
            let g = SliceGeom::new(plane, dims, [2.0; 3], px);
            let ax = plane.axes();
            for v in [0, 5, dims[ax.col] - 1] {
                assert_eq!(g.col_voxel(g.col_pixel(v)), v);
            }
            for v in [0, 7, dims[ax.row] - 1] {
                assert_eq!(g.row_voxel(g.row_pixel(v)), v);
            }
        }
    }

    #[test]
    fn overlay_blends_visible_labels_only() {
        let dims = [2, 1, 1];
        let data = [100.0, 100.0];
        let labels = [1u16, 2];
        let lut = vec![[0, 0, 0, 0], [255, 0, 0, 255], [0, 255, 0, 0]];
        let g = SliceGeom::new(Plane::Axial, dims, [1.0; 3], 1.0);
        let (img, shown) = render_slice(&data, Some(&labels), &lut, dims, &g, 0, 0.0, 100.0);
        assert_eq!(shown, 1);
        assert_eq!(&img.pixels[0..4], &[255, 0, 0, 255]);
        assert_eq!(&img.pixels[4..8], &[255, 255, 255, 255]);
    }

    #[test]
    fn window_clamps_and_handles_flat_images() {
        let data = [-5.0, 0.0, 5.0, 50.0, f32::NAN, 2.0];
        let dims = [6, 1, 1];
        let g = SliceGeom::new(Plane::Axial, dims, [1.0; 3], 1.0);
        let (img, _) = render_slice(&data, None, &[], dims, &g, 0, 0.0, 10.0);
        let grays: Vec<u8> = img.pixels.chunks(4).map(|p| p[0]).collect();
        assert_eq!(grays, vec![0, 0, 128, 255, 0, 51]);
        let dims = [2, 1, 1];
        let g = SliceGeom::new(Plane::Axial, dims, [1.0; 3], 1.0);
        let (flat, _) = render_slice(&[3.0, 3.0], None, &[], dims, &g, 0, 3.0, 3.0);
        assert!(flat.pixels.chunks(4).all(|p| p[0] == 0));
    }

    #[test]
    fn anisotropic_spacing_keeps_physical_proportions() {
        // 4 x 2 voxels of 1 x 2 mm in plane: 4 mm by 4 mm, drawn as 4 x 4 pixels of 1 mm.
        let dims = [4, 2, 3];
        let g = SliceGeom::new(Plane::Axial, dims, [1.0, 2.0, 5.0], 1.0);
        assert_eq!((g.width, g.height), (4, 4));
        assert_eq!(
            (g.row_voxel(0.5), g.row_voxel(1.5), g.row_voxel(2.5)),
            (1, 1, 0)
        );
    }

    #[test]
    fn label_colours_are_distinct() {
        let c: Vec<[u8; 3]> = (1..40).map(label_colour).collect();
        for i in 0..c.len() {
            for j in i + 1..c.len() {
                assert_ne!(c[i], c[j], "labels {} and {}", i + 1, j + 1);
            }
        }
    }
}

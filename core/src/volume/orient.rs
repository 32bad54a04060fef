//! Reorientation to RAS: permute and flip array axes (never interpolate) so that array
//! axes 0, 1, 2 run toward Right, Anterior, Superior. Every voxel keeps its world position,
//! and the operation undoes itself exactly.

use serde::{Deserialize, Serialize};

use super::affine::{self, Affine};
use super::error::VolumeError;
use super::grid::{check_channels, check_dims, Grid};

/// For each array axis: the world axis (0 = x/R, 1 = y/A, 2 = z/S) it is closest to and
/// whether it runs toward the negative end (L, P or I).
///
/// Like nibabel's `io_orientation`: the direction cosines are first replaced by the nearest
/// orthogonal matrix (polar decomposition), so sheared affines behave, then array axes are
/// assigned greedily, largest absolute cosine first, so two array axes never claim the same
/// world axis even for 45-degree obliques.
pub fn axis_orientation(a: &Affine) -> Result<[(usize, bool); 3], VolumeError> {
    let mut m = affine::linear(a);
    let norms = affine::column_norms(a);
    let det = affine::det3(&m);
    if norms.iter().any(|n| !n.is_finite() || *n <= 0.0) || det == 0.0 || !det.is_finite() {
        return Err(VolumeError::SingularAffine { det });
    }
    for row in m.iter_mut() {
        for (c, v) in row.iter_mut().enumerate() {
            *v /= norms[c];
        }
    }
    let r = nearest_orthogonal(m).ok_or(VolumeError::SingularAffine { det })?;
    let mut out = [(0usize, false); 3];
    let mut used_world = [false; 3];
    let mut used_array = [false; 3];
    for _ in 0..3 {
        let mut best = (0usize, 0usize, -1.0f64);
        for (w, row) in r.iter().enumerate() {
            for (i, v) in row.iter().enumerate() {
                if !used_world[w] && !used_array[i] && v.abs() > best.2 {
                    best = (w, i, v.abs());
                }
            }
        }
        let (w, i, _) = best;
        used_world[w] = true;
        used_array[i] = true;
        out[i] = (w, r[w][i] < 0.0);
    }
    Ok(out)
}

/// Newton iteration for the orthogonal polar factor: R <- (R + R^-T) / 2.
fn nearest_orthogonal(mut r: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    for _ in 0..100 {
        let inv_t = affine::transpose3(&affine::inv3(&r)?);
        let mut next = [[0.0; 3]; 3];
        let mut change: f64 = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                next[i][j] = 0.5 * (r[i][j] + inv_t[i][j]);
                change = change.max((next[i][j] - r[i][j]).abs());
            }
        }
        r = next;
        if change < 1e-12 {
            break;
        }
    }
    Some(r)
}

/// Orientation letters of the array axes, e.g. `['L', 'S', 'A']` when axis 0 runs toward
/// Left, axis 1 toward Superior and axis 2 toward Anterior; `['?'; 3]` for a singular affine.
pub fn orientation_code(a: &Affine) -> [char; 3] {
    match axis_orientation(a) {
        Ok(o) => o.map(|(w, neg)| {
            if neg {
                ['L', 'P', 'I'][w]
            } else {
                ['R', 'A', 'S'][w]
            }
        }),
        Err(_) => ['?'; 3],
    }
}

/// How an array was reoriented: output (RAS) axis `a` is input axis `perm[a]`, reversed
/// when `flip[a]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reorientation {
    pub perm: [usize; 3],
    pub flip: [bool; 3],
    pub original_dims: [usize; 3],
}

impl Reorientation {
    /// The reorientation that brings an array with this affine to RAS.
    pub fn to_ras(a: &Affine, dims: [usize; 3]) -> Result<Self, VolumeError> {
        check_dims(dims)?;
        let o = axis_orientation(a)?;
        let mut perm = [0; 3];
        let mut flip = [false; 3];
        for (i, (w, neg)) in o.iter().enumerate() {
            perm[*w] = i;
            flip[*w] = *neg;
        }
        Ok(Self {
            perm,
            flip,
            original_dims: dims,
        })
    }

    pub fn is_identity(&self) -> bool {
        self.perm == [0, 1, 2] && self.flip == [false; 3]
    }

    pub fn ras_dims(&self) -> [usize; 3] {
        self.perm.map(|p| self.original_dims[p.min(2)])
    }

    /// The mapping of the inverse direction (RAS array -> original array).
    fn inverse(&self) -> ([usize; 3], [bool; 3]) {
        let mut perm = [0; 3];
        let mut flip = [false; 3];
        for a in 0..3 {
            perm[self.perm[a]] = a;
            flip[self.perm[a]] = self.flip[a];
        }
        (perm, flip)
    }

    /// A deserialised value could hold anything: `perm` must be a permutation.
    fn check_perm(&self) -> Result<(), VolumeError> {
        let mut seen = [false; 3];
        for &p in &self.perm {
            if p > 2 || std::mem::replace(&mut seen[p], true) {
                return Err(VolumeError::InvalidConfig {
                    message: format!(
                        "reorientation perm {:?} is not a permutation of 0, 1, 2",
                        self.perm
                    ),
                });
            }
        }
        Ok(())
    }

    pub fn apply<T: Copy>(&self, g: &Grid<T>) -> Result<Grid<T>, VolumeError> {
        self.check_perm()?;
        check_grid(g, self.original_dims)?;
        Ok(permute_grid(g, self.perm, self.flip))
    }

    pub fn invert<T: Copy>(&self, g: &Grid<T>) -> Result<Grid<T>, VolumeError> {
        self.check_perm()?;
        check_grid(g, self.ras_dims())?;
        let (perm, flip) = self.inverse();
        Ok(permute_grid(g, perm, flip))
    }

    /// Reorients a channel-major field (`channels` blocks of one volume each).
    pub fn apply_channels<T: Copy>(
        &self,
        data: &[T],
        channels: usize,
    ) -> Result<Vec<T>, VolumeError> {
        permute_channels(data, channels, self.original_dims, self.perm, self.flip)
    }

    pub fn invert_channels<T: Copy>(
        &self,
        data: &[T],
        channels: usize,
    ) -> Result<Vec<T>, VolumeError> {
        let (perm, flip) = self.inverse();
        permute_channels(data, channels, self.ras_dims(), perm, flip)
    }

    pub fn apply_affine(&self, a: &Affine) -> Affine {
        permute_affine(a, self.original_dims, self.perm, self.flip)
    }

    pub fn invert_affine(&self, a: &Affine) -> Affine {
        let (perm, flip) = self.inverse();
        permute_affine(a, self.ras_dims(), perm, flip)
    }
}

/// Reorients a grid to RAS and returns how, for undoing it later.
pub fn reorient_to_ras<T: Copy>(g: &Grid<T>) -> Result<(Grid<T>, Reorientation), VolumeError> {
    let r = Reorientation::to_ras(&g.affine, g.dims)?;
    Ok((r.apply(g)?, r))
}

fn check_grid<T>(g: &Grid<T>, dims: [usize; 3]) -> Result<(), VolumeError> {
    let n = check_dims(dims)?;
    if g.dims != dims || g.data.len() != n {
        return Err(VolumeError::DataLength {
            dims,
            expected: n,
            actual: g.data.len(),
        });
    }
    Ok(())
}

fn permute_grid<T: Copy>(g: &Grid<T>, perm: [usize; 3], flip: [bool; 3]) -> Grid<T> {
    Grid {
        dims: perm.map(|p| g.dims[p]),
        spacing: perm.map(|p| g.spacing[p]),
        affine: permute_affine(&g.affine, g.dims, perm, flip),
        data: permute_data(&g.data, g.dims, perm, flip),
    }
}

/// Output axis `a` reads source axis `perm[a]` (reversed if `flip[a]`).
fn permute_data<T: Copy>(src: &[T], dims: [usize; 3], perm: [usize; 3], flip: [bool; 3]) -> Vec<T> {
    let stride = [1isize, dims[0] as isize, (dims[0] * dims[1]) as isize];
    let out_dims = perm.map(|p| dims[p]);
    let mut step = [0isize; 3];
    let mut start = 0isize;
    for a in 0..3 {
        let s = stride[perm[a]];
        if flip[a] {
            start += (dims[perm[a]] as isize - 1) * s;
            step[a] = -s;
        } else {
            step[a] = s;
        }
    }
    let mut out = Vec::with_capacity(src.len());
    for k in 0..out_dims[2] as isize {
        for j in 0..out_dims[1] as isize {
            let base = start + k * step[2] + j * step[1];
            for i in 0..out_dims[0] as isize {
                out.push(src[(base + i * step[0]) as usize]);
            }
        }
    }
    out
}

fn permute_channels<T: Copy>(
    data: &[T],
    channels: usize,
    dims: [usize; 3],
    perm: [usize; 3],
    flip: [bool; 3],
) -> Result<Vec<T>, VolumeError> {
    let n = check_channels(data.len(), dims, channels)?;
    Ok(data
        .chunks_exact(n)
        .flat_map(|c| permute_data(c, dims, perm, flip))
        .collect())
}

/// The affine of the permuted array: voxel `o` of the output is voxel `x` of the source with
/// `x[perm[a]] = flip[a] ? n - 1 - o[a] : o[a]`, so world(o) = A_src * x(o).
fn permute_affine(a: &Affine, dims: [usize; 3], perm: [usize; 3], flip: [bool; 3]) -> Affine {
    let mut out = *a;
    for r in 0..3 {
        let mut t = a[r][3];
        for ax in 0..3 {
            let col = a[r][perm[ax]];
            if flip[ax] {
                out[r][ax] = -col;
                t += col * (dims[perm[ax]] as f64 - 1.0);
            } else {
                out[r][ax] = col;
            }
        }
        out[r][3] = t;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::test_util::affine_for;

    fn grid(dims: [usize; 3], a: Affine, spacing: [f64; 3]) -> Grid<u16> {
        let n = dims.iter().product::<usize>();
        Grid::new(dims, spacing, a, (0..n as u16).collect()).unwrap()
    }

    #[test]
    fn codes_of_axis_aligned_and_oblique_affines() {
        for code in ["RAS", "LSA", "LPI", "PIR", "ASL"] {
            let a = affine_for(code, [1.0, 1.3, 2.0], [1.0, 2.0, 3.0]);
            assert_eq!(orientation_code(&a).iter().collect::<String>(), code);
        }
        // 30 degrees about z: still RAS; 60 degrees: x -> A, y -> L
        for (deg, want) in [(30.0f64, "RAS"), (60.0, "ALS"), (-60.0, "PRS")] {
            let (s, c) = deg.to_radians().sin_cos();
            let mut a = affine::IDENTITY;
            a[0][0] = c;
            a[0][1] = -s;
            a[1][0] = s;
            a[1][1] = c;
            assert_eq!(
                orientation_code(&a).iter().collect::<String>(),
                want,
                "{deg}"
            );
        }
        let mut singular = affine::IDENTITY;
        singular[2][2] = 0.0;
        assert_eq!(orientation_code(&singular), ['?'; 3]);
        assert!(Reorientation::to_ras(&singular, [2, 2, 2]).is_err());
    }

    #[test]
    fn world_positions_preserved_and_inverse_exact() {
        for code in ["LSA", "LPI", "RAS", "PIR"] {
            let dims = [4, 5, 6];
            let sp = [1.0, 1.3, 2.0];
            let g = grid(dims, affine_for(code, sp, [-7.0, 11.0, 3.5]), sp);
            let (ras, r) = reorient_to_ras(&g).unwrap();
            assert_eq!(orientation_code(&ras.affine), ['R', 'A', 'S'], "{code}");
            assert_eq!(ras.dims, r.ras_dims());
            // each RAS voxel holds the value of the source voxel at the same world point
            for k in 0..ras.dims[2] {
                for j in 0..ras.dims[1] {
                    for i in 0..ras.dims[0] {
                        let w = ras.voxel_to_world([i as f64, j as f64, k as f64]);
                        let v = ras.get(i, j, k).unwrap() as usize;
                        let src = [v % 4, (v / 4) % 5, v / 20];
                        let ws = g.voxel_to_world(src.map(|x| x as f64));
                        for d in 0..3 {
                            assert!((w[d] - ws[d]).abs() < 1e-9, "{code} {w:?} {ws:?}");
                        }
                    }
                }
            }
            // spacing follows its axis
            for a in 0..3 {
                assert_eq!(ras.spacing[a], sp[r.perm[a]]);
            }
            let back = r.invert(&ras).unwrap();
            assert_eq!(back.data, g.data);
            assert_eq!(back.dims, g.dims);
            assert_eq!(back.spacing, g.spacing);
            for (x, y) in back.affine.iter().flatten().zip(g.affine.iter().flatten()) {
                assert!((x - y).abs() < 1e-9);
            }
            // channels
            let two: Vec<u16> = g.data.iter().chain(g.data.iter()).copied().collect();
            let t = r.apply_channels(&two, 2).unwrap();
            assert_eq!(&t[..ras.len()], &ras.data[..]);
            assert_eq!(&t[ras.len()..], &ras.data[..]);
            assert_eq!(r.invert_channels(&t, 2).unwrap(), two);
            assert!(r.apply_channels(&two, 3).is_err());
        }
    }
}

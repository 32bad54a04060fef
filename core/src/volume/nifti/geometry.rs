//! Header <-> affine: the NIfTI rules for choosing sform, qform or pixdim scaling, the
//! quaternion conversions, and spatial units.

use super::header::NiftiHeader;
use crate::volume::affine::{self, Affine};
use crate::volume::error::VolumeError;

/// Millimetres per header spatial unit (`xyzt_units & 7`): 1 metre, 2 mm, 3 micron;
/// "unknown" (0) is taken as mm, as every viewer does.
pub fn spatial_unit_scale(xyzt_units: i32) -> f64 {
    match xyzt_units & 0x07 {
        1 => 1000.0,
        3 => 0.001,
        _ => 1.0,
    }
}

fn finite(field: &'static str, values: &[f64]) -> Result<(), VolumeError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(VolumeError::NonFiniteField {
            field,
            values: values.to_vec(),
        })
    }
}

/// The voxel size used by the qform and method-1 transforms: |pixdim|, where zero means 1
/// (nifti1_io treats non-positive sizes as 1 too, so such files still get a usable frame).
fn qform_step(p: f64) -> f64 {
    if p != 0.0 {
        p.abs()
    } else {
        1.0
    }
}

/// Rotation part of the qform from quaternion (b, c, d); `a` is recovered from unit norm,
/// clamped at 0 when rounding pushes b²+c²+d² slightly above 1.
pub fn quatern_rotation(b: f64, c: f64, d: f64) -> [[f64; 3]; 3] {
    let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
    [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        ],
    ]
}

/// Affine of the header in the header's own units, and which transform supplied it.
fn raw_affine(h: &NiftiHeader) -> Result<Affine, VolumeError> {
    finite("pixdim[1..4]", &h.pixdim[1..4])?;
    if h.sform_code > 0 {
        finite("srow_x", &h.srow_x)?;
        finite("srow_y", &h.srow_y)?;
        finite("srow_z", &h.srow_z)?;
        return Ok([h.srow_x, h.srow_y, h.srow_z, [0.0, 0.0, 0.0, 1.0]]);
    }
    if h.qform_code > 0 {
        finite("quatern_b/c/d", &[h.quatern_b, h.quatern_c, h.quatern_d])?;
        finite("qoffset_x/y/z", &[h.qoffset_x, h.qoffset_y, h.qoffset_z])?;
        let r = quatern_rotation(h.quatern_b, h.quatern_c, h.quatern_d);
        // qfac is the sign of pixdim[0]; 0 (and anything non-negative) means +1.
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let step = [
            qform_step(h.pixdim[1]),
            qform_step(h.pixdim[2]),
            qfac * qform_step(h.pixdim[3]),
        ];
        let off = [h.qoffset_x, h.qoffset_y, h.qoffset_z];
        let mut a = affine::IDENTITY;
        for row in 0..3 {
            for col in 0..3 {
                a[row][col] = r[row][col] * step[col];
            }
            a[row][3] = off[row];
        }
        return Ok(a);
    }
    // "Method 1" (ANALYZE compatibility): scaling only.
    let mut a = affine::IDENTITY;
    for i in 0..3 {
        a[i][i] = qform_step(h.pixdim[i + 1]);
    }
    Ok(a)
}

/// World (mm, RAS+) affine and voxel spacing (mm) of a header.
pub fn header_geometry(h: &NiftiHeader) -> Result<(Affine, [f64; 3]), VolumeError> {
    let unit = spatial_unit_scale(h.xyzt_units);
    let mut a = raw_affine(h)?;
    for row in a.iter_mut().take(3) {
        for v in row.iter_mut() {
            *v *= unit;
        }
    }
    let p = [h.pixdim[1], h.pixdim[2], h.pixdim[3]];
    // |pixdim| (a negative size is a sign convention some writers use, not a different
    // size); a zero size means the header has none, so the affine's columns decide.
    let spacing = if p.iter().all(|v| *v != 0.0) {
        [p[0].abs() * unit, p[1].abs() * unit, p[2].abs() * unit]
    } else {
        affine::column_norms(&a)
    };
    if !spacing.iter().all(|s| s.is_finite() && *s > 0.0) {
        return Err(VolumeError::InvalidSpacing { spacing });
    }
    VolumeError::check_affine(&a)?;
    Ok((a, spacing))
}

/// Quaternion parameters for the rotation part of `a`, when the affine is a rotation times
/// positive scales `spacing` (possibly with a reflection, encoded as qfac = -1).
/// Returns `None` for sheared or inconsistently scaled affines: those get no qform.
pub struct Quatern {
    pub b: f64,
    pub c: f64,
    pub d: f64,
    pub qfac: f64,
}

pub fn affine_to_quatern(a: &Affine, spacing: [f64; 3]) -> Option<Quatern> {
    let mut r = [[0.0; 3]; 3];
    for col in 0..3 {
        if spacing[col].is_nan() || spacing[col] <= 0.0 {
            return None;
        }
        for row in 0..3 {
            r[row][col] = a[row][col] / spacing[col];
        }
    }
    let mut qfac = 1.0;
    if affine::det3(&r) < 0.0 {
        qfac = -1.0;
        for row in r.iter_mut() {
            row[2] = -row[2];
        }
    }
    // must be orthonormal (this also checks that spacing equals the column norms)
    for i in 0..3 {
        for j in 0..3 {
            let dot: f64 = (0..3).map(|k| r[k][i] * r[k][j]).sum();
            let want = if i == j { 1.0 } else { 0.0 };
            if (dot - want).abs() > 1e-4 {
                return None;
            }
        }
    }
    // nifti_mat44_to_quatern
    let (r11, r12, r13) = (r[0][0], r[0][1], r[0][2]);
    let (r21, r22, r23) = (r[1][0], r[1][1], r[1][2]);
    let (r31, r32, r33) = (r[2][0], r[2][1], r[2][2]);
    let trace = r11 + r22 + r33 + 1.0;
    let (a, mut b, mut c, mut d);
    if trace > 0.5 {
        a = 0.5 * trace.sqrt();
        b = 0.25 * (r32 - r23) / a;
        c = 0.25 * (r13 - r31) / a;
        d = 0.25 * (r21 - r12) / a;
    } else {
        let xd = 1.0 + r11 - (r22 + r33);
        let yd = 1.0 + r22 - (r11 + r33);
        let zd = 1.0 + r33 - (r11 + r22);
        if xd > 1.0 {
            b = 0.5 * xd.sqrt();
            c = 0.25 * (r12 + r21) / b;
            d = 0.25 * (r13 + r31) / b;
            a = 0.25 * (r32 - r23) / b;
        } else if yd > 1.0 {
            c = 0.5 * yd.sqrt();
            b = 0.25 * (r12 + r21) / c;
            d = 0.25 * (r23 + r32) / c;
            a = 0.25 * (r13 - r31) / c;
        } else {
            d = 0.5 * zd.sqrt();
            b = 0.25 * (r13 + r31) / d;
            c = 0.25 * (r23 + r32) / d;
            a = 0.25 * (r21 - r12) / d;
        }
        // q and -q are the same rotation; NIfTI stores the one with a >= 0
        if a < 0.0 {
            b = -b;
            c = -c;
            d = -d;
        }
    }
    Some(Quatern { b, c, d, qfac })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approx(a: &Affine, b: &Affine, tol: f64) -> bool {
        a.iter()
            .flatten()
            .zip(b.iter().flatten())
            .all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn quaternion_round_trip_with_reflection() {
        // LPI-like: x flipped, y flipped, z flipped, anisotropic
        let sp = [1.0, 1.3, 2.0];
        let a: Affine = [
            [0.0, 0.0, -2.0, 10.0],
            [-1.0, 0.0, 0.0, 20.0],
            [0.0, 1.3, 0.0, -5.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let q = affine_to_quatern(&a, sp).expect("proper rotation");
        let h = NiftiHeader {
            qform_code: 1,
            quatern_b: q.b,
            quatern_c: q.c,
            quatern_d: q.d,
            qoffset_x: 10.0,
            qoffset_y: 20.0,
            qoffset_z: -5.0,
            pixdim: [q.qfac, sp[0], sp[1], sp[2], 0.0, 0.0, 0.0, 0.0],
            ..Default::default()
        };
        let (back, spacing) = header_geometry(&h).unwrap();
        assert!(approx(&back, &a, 1e-12), "{back:?}");
        assert_eq!(spacing, sp);
    }

    #[test]
    fn sheared_affine_has_no_quaternion() {
        let a: Affine = [
            [1.0, 0.5, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        assert!(affine_to_quatern(&a, affine::column_norms(&a)).is_none());
    }

    #[test]
    fn units_scale_spacing_and_affine() {
        let h = NiftiHeader {
            xyzt_units: 1, // metres
            pixdim: [1.0, 0.001, 0.002, 0.003, 0.0, 0.0, 0.0, 0.0],
            sform_code: 1,
            srow_x: [0.001, 0.0, 0.0, 0.01],
            srow_y: [0.0, 0.002, 0.0, 0.0],
            srow_z: [0.0, 0.0, 0.003, 0.0],
            ..Default::default()
        };
        let (a, s) = header_geometry(&h).unwrap();
        assert!(
            (s[0] - 1.0).abs() < 1e-12 && (s[1] - 2.0).abs() < 1e-12 && (s[2] - 3.0).abs() < 1e-12
        );
        assert!((a[0][3] - 10.0).abs() < 1e-12 && (a[2][2] - 3.0).abs() < 1e-12);
    }

    #[test]
    fn method1_and_column_norm_spacing() {
        let h = NiftiHeader {
            pixdim: [0.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0],
            ..Default::default()
        };
        let (a, s) = header_geometry(&h).unwrap();
        assert_eq!(s, [2.0, 3.0, 4.0]);
        assert_eq!((a[0][0], a[1][1], a[2][2]), (2.0, 3.0, 4.0));
        // negative pixdim: its magnitude
        let neg = NiftiHeader {
            pixdim: [0.0, -2.0, 3.0, -4.0, 0.0, 0.0, 0.0, 0.0],
            ..Default::default()
        };
        assert_eq!(header_geometry(&neg).unwrap().1, [2.0, 3.0, 4.0]);
        // zero pixdim: spacing comes from the sform columns
        let h = NiftiHeader {
            pixdim: [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            sform_code: 1,
            srow_x: [0.0, 2.0, 0.0, 0.0],
            srow_y: [3.0, 0.0, 0.0, 0.0],
            srow_z: [0.0, 0.0, 4.0, 0.0],
            ..Default::default()
        };
        assert_eq!(header_geometry(&h).unwrap().1, [3.0, 2.0, 4.0]);
        // and a degenerate sform with zero columns is refused
        let h = NiftiHeader {
            srow_x: [0.0; 4],
            ..h
        };
        assert!(matches!(
            header_geometry(&h),
            Err(VolumeError::InvalidSpacing { .. })
        ));
    }
}

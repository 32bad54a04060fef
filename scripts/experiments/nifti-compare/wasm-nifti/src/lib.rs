//! wasm32 size probe: decode .nii/.nii.gz bytes -> [16 affine values as f32, voxels as f32]
//! with the `nifti` crate (0.18.0). Affine: hand-written sform > qform > pixdim (default),
//! or the crate's header.affine() with feature "nalgebra".
use nifti::{IntoNdArray, NiftiHeader, NiftiObject};

#[no_mangle]
pub extern "C" fn alloc(n: usize) -> *mut u8 {
    let mut v = Vec::<u8>::with_capacity(n);
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

#[cfg(not(feature = "nalgebra"))]
fn affine(h: &NiftiHeader) -> [[f64; 4]; 4] {
    let mut a = [[0.0, 0.0, 0.0, 0.0], [0.0; 4], [0.0; 4], [0.0, 0.0, 0.0, 1.0]];
    if h.sform_code > 0 {
        for (r, row) in [h.srow_x, h.srow_y, h.srow_z].iter().enumerate() {
            for c in 0..4 {
                a[r][c] = row[c] as f64;
            }
        }
    } else if h.qform_code > 0 {
        let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
        let w = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let r = [
            [w * w + b * b - c * c - d * d, 2.0 * (b * c - w * d), 2.0 * (b * d + w * c)],
            [2.0 * (b * c + w * d), w * w + c * c - b * b - d * d, 2.0 * (c * d - w * b)],
            [2.0 * (b * d - w * c), 2.0 * (c * d + w * b), w * w + d * d - c * c - b * b],
        ];
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let s = [h.pixdim[1].abs() as f64, h.pixdim[2].abs() as f64, qfac * h.pixdim[3].abs() as f64];
        let off = [h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64];
        for row in 0..3 {
            for col in 0..3 {
                a[row][col] = r[row][col] * s[col];
            }
            a[row][3] = off[row];
        }
    } else {
        for i in 0..3 {
            a[i][i] = h.pixdim[i + 1].abs() as f64;
        }
    }
    a
}

#[cfg(feature = "nalgebra")]
fn affine(h: &NiftiHeader) -> [[f64; 4]; 4] {
    let m = h.affine::<f64>();
    let mut a = [[0.0; 4]; 4];
    for r in 0..4 {
        for c in 0..4 {
            a[r][c] = m[(r, c)];
        }
    }
    a
}

fn run(bytes: &[u8]) -> nifti::Result<Vec<f32>> {
    let obj = if bytes.starts_with(&[0x1f, 0x8b]) {
        nifti::InMemNiftiObject::from_reader(flate2::read::GzDecoder::new(bytes))?
    } else {
        nifti::InMemNiftiObject::from_reader(bytes)?
    };
    let a = affine(obj.header());
    let arr = obj.into_volume().into_ndarray::<f32>()?;
    let mut out = Vec::with_capacity(16 + arr.len());
    out.extend(a.iter().flatten().map(|&x| x as f32));
    out.extend(arr.as_slice_memory_order().unwrap_or(&[]).iter().copied()); // F-order memory = x-fastest
    Ok(out)
}

#[no_mangle]
pub extern "C" fn decode(ptr: *const u8, len: usize, out_len: *mut usize) -> *mut f32 {
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    match run(bytes) {
        Ok(mut out) => {
            unsafe { *out_len = out.len() };
            let p = out.as_mut_ptr();
            std::mem::forget(out);
            p
        }
        Err(_) => std::ptr::null_mut(),
    }
}

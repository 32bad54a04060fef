//! wasm32 size probe: decode .nii/.nii.gz bytes -> [16 affine values as f32, voxels as f32]
//! with brainfm-core's reader (copied in ../corecopy).
use corecopy::volume::{read_nifti, ReadOptions};

#[no_mangle]
pub extern "C" fn alloc(n: usize) -> *mut u8 {
    let mut v = Vec::<u8>::with_capacity(n);
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

/// Returns a leaked buffer (affine row-major, then x-fastest voxels) or null on error.
#[no_mangle]
pub extern "C" fn decode(ptr: *const u8, len: usize, out_len: *mut usize) -> *mut f32 {
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    match read_nifti(bytes, &ReadOptions::default()) {
        Ok(img) => {
            let mut out = Vec::with_capacity(16 + img.volume.data.len());
            out.extend(img.volume.affine.iter().flatten().map(|&x| x as f32));
            out.extend_from_slice(&img.volume.data);
            unsafe { *out_len = out.len() };
            let p = out.as_mut_ptr();
            std::mem::forget(out);
            p
        }
        Err(_) => std::ptr::null_mut(),
    }
}

//! wasm32 size baseline: same exports, but only gunzip (flate2, miniz_oxide) + bytes->f32,
//! no NIfTI parsing. Subtract from the other two to get each reader's own share.
use std::io::Read;

#[no_mangle]
pub extern "C" fn alloc(n: usize) -> *mut u8 {
    let mut v = Vec::<u8>::with_capacity(n);
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

#[no_mangle]
pub extern "C" fn decode(ptr: *const u8, len: usize, out_len: *mut usize) -> *mut f32 {
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    let mut raw = Vec::new();
    if flate2::read::GzDecoder::new(bytes).read_to_end(&mut raw).is_err() {
        return std::ptr::null_mut();
    }
    let mut out: Vec<f32> = raw.iter().map(|&b| b as f32).collect();
    unsafe { *out_len = out.len() };
    let p = out.as_mut_ptr();
    std::mem::forget(out);
    p
}

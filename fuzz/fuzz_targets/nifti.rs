//! NIfTI-1/NIfTI-2, plain or gzip (the reader detects which): whatever the bytes, an image
//! or an error, never a panic, a hang or an allocation beyond the file's own size.
#![no_main]

use brainfm_core::volume::{read_nifti, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_nifti(data, &ReadOptions::default());
    // The 4-D path: one volume of a series.
    let _ = read_nifti(data, &ReadOptions { volume: Some(1), ..ReadOptions::default() });
});

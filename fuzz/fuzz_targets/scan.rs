//! Any scan file brainfm opens by content (NIfTI, FreeSurfer MGH/MGZ): an image or an
//! error, never a panic, a hang or an allocation beyond what the header may claim.
#![no_main]

use brainfm_core::volume::{read_first_volume, read_scan, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_scan(data, &ReadOptions::default());
    let _ = read_first_volume(data, &ReadOptions::default());
});

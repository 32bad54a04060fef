//! A DICOM file (dicom-rs parses, core decodes pixels and geometry): frames or an error,
//! never a panic; and stacking whatever frames came out (two copies, so a volume can form)
//! is a volume or an error.
#![no_main]

use brainfm_core::volume::dicom::{read_dicom, stack_frames, Pixels};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_dicom(data, "fuzz", Pixels::Skip);
    if let Ok(file) = read_dicom(data, "fuzz", Pixels::Read) {
        let mut frames = file.frames.clone();
        frames.extend(file.frames);
        let _ = stack_frames(frames, 1 << 24);
    }
});

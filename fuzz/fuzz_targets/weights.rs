//! The weights inside a bundle (safetensors, f32 or f16) loaded into a network: past the
//! bundle's checksum, which anyone can recompute, so it is fuzzed on its own.
#![no_main]

use std::sync::Mutex;

use brainfm_core::bundle::load_weights;
use brainfm_core::model::{BrainNet, Preset};
use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;

static MODEL: Mutex<Option<BrainNet>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut slot = MODEL.lock().unwrap();
    let model = slot.get_or_insert_with(|| {
        Preset::Tiny.config(Some(4)).init(&Device::flex()).expect("tiny builds")
    });
    let _ = load_weights(model, data);
});

//! Model bundles (.bfm files, and the bytes the browser keeps in IndexedDB, which go through
//! the same `Bundle::from_bytes` in the worker): parse, then build the network on the CPU
//! and load the weights when the header and checksum pass. The input is also tried as a
//! bare header (JSON), since anyone can give a hostile header a valid weights checksum: the
//! network it asks for is built, which must fail cleanly when it is absurd.
#![no_main]

use brainfm_core::bundle::{Bundle, BundleHeader};
use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::from_bytes(data) {
        let _ = bundle.load_model(&Device::flex());
    }
    if let Ok(header) = serde_json::from_slice::<BundleHeader>(data) {
        let _ = header.model.init(&Device::flex());
    }
});

//! The pre-training cache's entry headers (`KEY.json`: the grid of a memory-mapped entry).
#![no_main]

use brainfm_trainer::data::cache::entry_dims;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = entry_dims(data);
});

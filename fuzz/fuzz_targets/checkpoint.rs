//! Training checkpoints (.bfck): the reader `--resume` uses, into a tiny network's trainer.
#![no_main]

use std::path::Path;
use std::sync::Mutex;

use brainfm_core::model::Preset;
use brainfm_core::train::{TrainConfig, Trainer};
use brainfm_trainer::run::read_checkpoint;
use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;

static TRAINER: Mutex<Option<Trainer>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut slot = TRAINER.lock().unwrap();
    let trainer = slot.get_or_insert_with(|| {
        let device = Device::flex().autodiff();
        let model = Preset::Tiny.config(Some(4)).init(&device).expect("tiny builds");
        Trainer::new(model, TrainConfig::new(10))
    });
    let spec = serde_json::json!({"preset": "tiny"});
    let _ = read_checkpoint(data, Path::new("fuzz.bfck"), trainer, &spec);
});

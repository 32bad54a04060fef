//! One-off benchmark of the shared training step (core::train) on the CPU backend:
//! step time and peak resident memory for a preset, patch and batch.
//!
//!   cargo run -p brainfm-trainer --example bench_pretrain -- base 64 2 swap 3
//!   (preset, patch edge, scans per batch, objective, timed steps)
//!
//! Batch 2 for `swap` is one subject with two contrasts. Peak memory is the process's
//! VmHWM (Linux), so run one configuration per process (scripts/bench-pretrain.sh does).

use std::time::Instant;

use brainfm_core::model::Preset;
use brainfm_core::ssl::{Objective, ObjectiveConfig, SslBatch};
use brainfm_core::train::{TrainConfig, Trainer};
use burn::prelude::*;
use burn::tensor::Distribution;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    // As the brainfm binary does, so the figures are the CLI's.
    brainfm_trainer::allocator::keep_freed_memory();
    let a: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let preset = Preset::parse(&arg(0, "base")).expect("preset");
    let patch: usize = arg(1, "64").parse().expect("patch");
    let batch: usize = arg(2, "2").parse().expect("batch");
    let objective = Objective::parse(&arg(3, "swap")).expect("objective");
    let steps: usize = arg(4, "3").parse().expect("steps");
    let device = Device::flex().autodiff();
    device.seed(0);
    let model = preset.config(None).init(&device).expect("model");
    let mut trainer = Trainer::new(model, TrainConfig::new(100));
    let scans = Tensor::<5>::random(
        [batch, 1, patch, patch, patch],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let b = SslBatch {
        scans,
        subjects: (0..batch).map(|i| i / 2).collect(),
        labels: vec![],
        keys: SslBatch::whole_batch_keys(batch),
    };
    let mut times = Vec::new();
    for k in 0..=steps {
        let t = Instant::now();
        let r = pollster::block_on(trainer.ssl_step(&b, &ObjectiveConfig::new(objective)))
            .expect("step");
        let s = t.elapsed().as_secs_f64();
        eprintln!(
            "step {k}: {s:.2}s loss {:.4}{}",
            r.loss,
            if k == 0 {
                " (warm-up, not counted)"
            } else {
                ""
            }
        );
        if k > 0 {
            times.push(s);
        }
    }
    times.sort_by(|x, y| x.partial_cmp(y).unwrap());
    println!(
        "{{\"preset\":\"{}\",\"patch\":{patch},\"batch\":{batch},\"objective\":\"{}\",\"median_step_s\":{:.3},\"min_step_s\":{:.3},\"peak_rss_mib\":{:.0},\"threads\":{}}}",
        preset.name(),
        objective.name(),
        times[times.len() / 2],
        times[0],
        peak_rss_mib(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

//! Times the segmentation forward pass of a bundle on one patch (burn-flex CPU) and
//! optionally writes the logits, so scripts/bench/vs_torch.py can check that the PyTorch
//! reference computes the same numbers and compare speed in the same run.
//!
//! Usage: forward_bench <bundle.bfm> <patch edge> <repetitions> [logits.f32]

mod common;

use std::time::Instant;

use brainfm_core::bundle::Bundle;
use burn::prelude::*;

fn main() -> anyhow::Result<()> {
    // As the brainfm binary does, so the figures are the CLI's.
    brainfm_trainer::allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        anyhow::bail!("usage: forward_bench <bundle.bfm> <patch edge> <repetitions> [logits.f32]");
    }
    let bundle = Bundle::from_bytes(&std::fs::read(&args[0])?)?;
    let patch: usize = args[1].parse()?;
    let reps: usize = args[2].parse()?;
    let device = Device::flex();
    let model = bundle.load_model(&device)?;
    let x = common::input(patch, &device);
    // Warm-up (allocations, thread pool), and the logits to compare.
    let logits: Vec<f32> = model
        .segment(x.clone())?
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        let y = model.segment(x.clone())?;
        let _ = y.into_data();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if let Some(path) = args.get(3) {
        let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(path, bytes)?;
    }
    println!(
        "{{\"impl\":\"burn-flex\",\"preset\":\"{}\",\"patch\":{patch},\"reps\":{reps},\"median_ms\":{:.1},\"min_ms\":{:.1}}}",
        bundle.config().preset,
        times[times.len() / 2],
        times[0]
    );
    Ok(())
}

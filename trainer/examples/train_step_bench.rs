//! Times one full training step of a bundle's segmentation network on one patch (forward,
//! backward, AdamW) on the CPU backend, so scripts/bench/vs_torch.sh can run the PyTorch
//! reference's identical step beside it. The loss is mean(logits^2): a fixed, model-agnostic
//! objective both sides compute the same way (the first step's loss is printed to check).
//!
//! Usage: train_step_bench <bundle.bfm> <patch edge> <repetitions>

mod common;

use std::time::Instant;

use brainfm_core::bundle::Bundle;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;

fn main() -> anyhow::Result<()> {
    // As the brainfm binary does, so the figures are the CLI's.
    brainfm_trainer::allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        anyhow::bail!("usage: train_step_bench <bundle.bfm> <patch edge> <repetitions>");
    }
    let bundle = Bundle::from_bytes(&std::fs::read(&args[0])?)?;
    let patch: usize = args[1].parse()?;
    let reps: usize = args[2].parse()?;
    let device = Device::flex().autodiff();
    let mut model = bundle.load_model(&device)?;
    let x = common::input(patch, &device);
    let mut optim = AdamWConfig::new()
        .with_weight_decay(0.01)
        .with_epsilon(1e-8)
        .init();
    let mut times = Vec::with_capacity(reps);
    let mut first_loss = None;
    for rep in 0..=reps {
        let t = Instant::now();
        let loss = model.segment(x.clone())?.square().mean();
        let value = loss
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?[0];
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-4, model, grads);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        first_loss.get_or_insert(value);
        if rep > 0 {
            times.push(ms);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{{\"impl\":\"burn-flex\",\"preset\":\"{}\",\"patch\":{patch},\"reps\":{reps},\"median_ms\":{:.1},\"min_ms\":{:.1},\"first_loss\":{}}}",
        bundle.config().preset,
        times[times.len() / 2],
        times[0],
        first_loss.unwrap_or(f32::NAN)
    );
    Ok(())
}

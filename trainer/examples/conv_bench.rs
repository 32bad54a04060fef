//! One 3x3x3 convolution (padding 1, stride 1 or 2) on the CPU backend, brainfm's kernels
//! against burn-flex's stock conv3d in the same process: forward and backward (input +
//! weight gradients) time and GFLOP/s. scripts/bench/conv.sh runs PyTorch on the same shape beside it.
//!
//! Usage: conv_bench <c_in> <c_out> <edge> <repetitions> [stride]

use std::time::Instant;

use brainfm_core::model::conv::{conv3d, with_cpu_kernels};
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn normal_ish(n: usize, phase: f64) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f64 * 0.7548 + phase).sin()) as f32)
        .collect()
}

/// (forward ms, backward ms) medians on one path.
fn time(c_in: usize, c_out: usize, edge: usize, stride: usize, reps: usize) -> (f64, f64) {
    let device = Device::flex().autodiff();
    let x = Tensor::<5>::from_data(
        TensorData::new(
            normal_ish(c_in * edge * edge * edge, 0.0),
            [1, c_in, edge, edge, edge],
        ),
        &device,
    )
    .require_grad();
    let w = Tensor::<5>::from_data(
        TensorData::new(normal_ish(c_out * c_in * 27, 1.0), [c_out, c_in, 3, 3, 3]),
        &device,
    )
    .require_grad();
    let options = || ConvOptions::new([stride; 3], [1; 3], [1; 3], 1);
    let (mut fwd, mut bwd) = (Vec::new(), Vec::new());
    for rep in 0..=reps {
        let t = Instant::now();
        let y = conv3d(x.clone(), w.clone(), None, options());
        let loss = y.sum();
        let forward = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let grads = loss.backward();
        let gx = x.grad(&grads).expect("input gradient").into_data();
        let gw = w.grad(&grads).expect("weight gradient").into_data();
        let backward = t.elapsed().as_secs_f64() * 1e3;
        assert!(gx.num_elements() > 0 && gw.num_elements() > 0);
        if rep > 0 {
            // The first repetition warms up allocations and the thread pool.
            fwd.push(forward);
            bwd.push(backward);
        }
    }
    (median(fwd), median(bwd))
}

fn main() -> anyhow::Result<()> {
    // As the brainfm binary does, so the figures are the CLI's.
    brainfm_trainer::allocator::keep_freed_memory();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let (c_in, c_out, edge, reps, stride) = match args[..] {
        [c_in, c_out, edge, reps] => (c_in, c_out, edge, reps, 1),
        [c_in, c_out, edge, reps, stride @ (1 | 2)] => (c_in, c_out, edge, reps, stride),
        _ => {
            anyhow::bail!("usage: conv_bench <c_in> <c_out> <edge> <repetitions> [stride: 1 or 2]")
        }
    };
    let out_edge = (edge - 1) / stride + 1;
    let gflop = 2.0 * (c_in * c_out * 27 * out_edge.pow(3)) as f64 / 1e9;
    for (name, ours) in [("brainfm", true), ("burn-flex stock", false)] {
        let (f, b) = with_cpu_kernels(ours, || time(c_in, c_out, edge, stride, reps));
        println!(
            "{{\"impl\":\"{name}\",\"c_in\":{c_in},\"c_out\":{c_out},\"edge\":{edge},\"stride\":{stride},\"forward_ms\":{f:.1},\"backward_ms\":{b:.1},\"forward_gflops\":{:.2},\"backward_gflops\":{:.2}}}",
            gflop / (f / 1e3),
            2.0 * gflop / (b / 1e3)
        );
    }
    Ok(())
}

//! Throughput of the pre-training data loader (trainer/src/data): how many volumes (crops
//! of one scan) per second the crop + augmentation code produces, on one thread and through
//! the `Loader` with N worker threads, to compare with the train step time
//! (examples/bench_pretrain.rs). The dataset is preprocessed into the cache first (not
//! timed).
//!
//!   cargo run -p brainfm-trainer --example bench_loader -- DATA PRESET PATCH SUBJECTS WORKERS BATCHES SPACING [noaug]
//!   e.g. DATA from `brainfm synth ... --spacing 1 --output synth1`, then
//!   bench_loader synth1 base 96 1 2 20 1     (1 subject x 2 contrasts = 2 volumes per batch)

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use brainfm_core::model::Preset;
use brainfm_core::volume::PreprocessConfig;
use brainfm_trainer::data::build_cache;
use brainfm_trainer::data::loader::{make_batch, Loader, LoaderConfig};
use brainfm_trainer::layout::discover;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let dir = PathBuf::from(arg(0, "synth"));
    let preset = Preset::parse(&arg(1, "tiny"))?;
    let patch: usize = arg(2, "64").parse()?;
    let subjects_per_batch: usize = arg(3, "2").parse()?;
    let workers: usize = arg(4, "2").parse()?;
    let batches: usize = arg(5, "20").parse()?;
    let spacing: f64 = arg(6, "1").parse()?;
    let augment = arg(7, "aug") != "noaug";
    let config = preset.config(None);
    let prep = PreprocessConfig {
        target_spacing: [spacing; 3],
        pad_multiple: config.stride(),
        min_size: [patch; 3],
        ..PreprocessConfig::default()
    };
    let subjects = discover(&dir)?;
    let cache = std::env::temp_dir().join(format!("brainfm-bench-loader-{spacing}"));
    let t = Instant::now();
    let cached = Arc::new(build_cache(&subjects, &prep, &cache, false)?);
    eprintln!(
        "{} subjects cached in {:.1}s ({}), grid {:?}",
        cached.len(),
        t.elapsed().as_secs_f64(),
        cache.display(),
        cached[0].dims
    );
    let cfg = LoaderConfig {
        patch,
        subjects_per_batch,
        scans_per_subject: 2,
        foreground: 0.67,
        augment,
        workers,
        seed: 0,
        replica: 0,
        replicas: 1,
    };
    // One thread, batches made back to back.
    let t = Instant::now();
    let mut volumes = 0;
    for k in 0..batches as u64 {
        volumes += make_batch(&cached, &cfg, k).n;
    }
    let one = volumes as f64 / t.elapsed().as_secs_f64();
    // The Loader's worker threads (what `brainfm pretrain --workers N` runs).
    let mut loader = Loader::new(cached.clone(), cfg.clone(), 0);
    let _ = loader.next_batch(); // threads started and first batch ready
    let t = Instant::now();
    let mut volumes = 0;
    for _ in 1..batches {
        volumes += loader.next_batch().expect("loader").n;
    }
    let many = volumes as f64 / t.elapsed().as_secs_f64();
    println!(
        "{{\"preset\":\"{}\",\"patch\":{patch},\"spacing_mm\":{spacing},\"subjects_per_batch\":{subjects_per_batch},\"augment\":{augment},\"volumes_per_s_1_thread\":{one:.2},\"workers\":{workers},\"volumes_per_s_loader\":{many:.2}}}",
        preset.name()
    );
    Ok(())
}

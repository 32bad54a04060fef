//! Random crops and augmentation on worker threads. Batch `k` depends only on the seed
//! and `k` (never on thread timing), so a resumed run sees exactly the batches the
//! uninterrupted run saw.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use brainfm_core::rng::Rng;
use brainfm_core::synth::smooth_field;

use super::cache::CachedSubject;

#[derive(Clone, Debug)]
pub struct LoaderConfig {
    /// Cubic patch edge (voxels).
    pub patch: usize,
    pub subjects_per_batch: usize,
    /// Scans drawn per subject (2 = a cross-contrast pair when the subject has two).
    pub scans_per_subject: usize,
    /// Probability a crop is centred on a foreground voxel.
    pub foreground: f64,
    pub augment: bool,
    pub workers: usize,
    pub seed: u64,
}

/// Host-side batch: `[n, patch, patch, patch]` (x fastest) and each scan's subject.
pub struct HostBatch {
    pub data: Vec<f32>,
    pub n: usize,
    /// Subject of each scan, numbered within the batch (0..subjects_per_batch).
    pub subjects: Vec<usize>,
}

fn crop_start(rng: &mut Rng, s: &CachedSubject, p: usize, fg: f64) -> [usize; 3] {
    let d = s.dims;
    let mut centre = None;
    if rng.bool(fg) {
        for _ in 0..32 {
            let idx = rng.below(d[0] * d[1] * d[2]);
            if s.voxel(0, idx) != 0.0 {
                centre = Some([idx % d[0], (idx / d[0]) % d[1], idx / (d[0] * d[1])]);
                break;
            }
        }
    }
    std::array::from_fn(|a| {
        let room = d[a].saturating_sub(p);
        match centre {
            Some(c) => c[a].saturating_sub(p / 2).min(room),
            None => rng.below(room + 1),
        }
    })
}

fn intensity_augment(v: &mut [f32], p: usize, rng: &mut Rng) {
    if rng.bool(0.3) {
        // Gamma on the [0, 1]-rescaled patch, then back (nnU-Net's gamma transform).
        let (lo, hi) = v
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let g = rng.range(0.7, 1.5) as f32;
        if hi > lo {
            v.iter_mut()
                .for_each(|x| *x = lo + (hi - lo) * ((*x - lo) / (hi - lo)).powf(g));
        }
    }
    if rng.bool(0.3) {
        let bias = smooth_field([p; 3], 3, 0.1, rng);
        v.iter_mut().zip(bias).for_each(|(x, b)| *x *= b.exp());
    }
    if rng.bool(0.3) {
        let sd = rng.range(0.0, 0.1) as f32;
        v.iter_mut().for_each(|x| *x += sd * rng.normal() as f32);
    }
}

/// Build batch `k`.
pub fn make_batch(subjects: &[CachedSubject], cfg: &LoaderConfig, k: u64) -> HostBatch {
    let mut rng = Rng::derive(cfg.seed ^ 0x0DA7_A5E7, k);
    let p = cfg.patch;
    let vox = p * p * p;
    let mut data = Vec::new();
    let mut ids = Vec::new();
    for b in 0..cfg.subjects_per_batch {
        let s = &subjects[rng.below(subjects.len())];
        let start = crop_start(&mut rng, s, p, cfg.foreground);
        let mut picks = vec![rng.below(s.scans())];
        if cfg.scans_per_subject >= 2 && s.scans() >= 2 {
            let mut others: Vec<usize> = (0..s.scans()).filter(|&i| i != picks[0]).collect();
            while picks.len() < cfg.scans_per_subject && !others.is_empty() {
                picks.push(others.swap_remove(rng.below(others.len())));
            }
        }
        // Flips are shared by the subject's scans: they must stay co-registered.
        let flip: [bool; 3] = std::array::from_fn(|_| cfg.augment && rng.bool(0.5));
        for &scan in &picks {
            let mut v = vec![0f32; vox];
            for z in 0..p {
                for y in 0..p {
                    for x in 0..p {
                        let src = [start[0] + x, start[1] + y, start[2] + z];
                        if src.iter().zip(&s.dims).any(|(c, d)| c >= d) {
                            continue;
                        }
                        let o = [x, y, z];
                        let t: [usize; 3] =
                            std::array::from_fn(|a| if flip[a] { p - 1 - o[a] } else { o[a] });
                        v[t[0] + p * (t[1] + p * t[2])] =
                            s.voxel(scan, src[0] + s.dims[0] * (src[1] + s.dims[1] * src[2]));
                    }
                }
            }
            if cfg.augment {
                intensity_augment(&mut v, p, &mut rng);
            }
            data.extend_from_slice(&v);
            ids.push(b);
        }
    }
    HostBatch {
        n: ids.len(),
        data,
        subjects: ids,
    }
}

/// Batches `start, start+1, ...` prepared ahead by `workers` threads.
pub struct Loader {
    receivers: Vec<Receiver<HostBatch>>,
    next: u64,
    start: u64,
    _workers: Vec<JoinHandle<()>>,
}

impl Loader {
    pub fn new(subjects: Arc<Vec<CachedSubject>>, cfg: LoaderConfig, start: u64) -> Self {
        let w = cfg.workers.max(1) as u64;
        let mut receivers = Vec::new();
        let mut workers = Vec::new();
        for i in 0..w {
            let (tx, rx) = sync_channel(2);
            let (subjects, cfg) = (subjects.clone(), cfg.clone());
            workers.push(std::thread::spawn(move || {
                let mut k = start + i;
                // Ends when the loader (receiver) is dropped.
                while tx.send(make_batch(&subjects, &cfg, k)).is_ok() {
                    k += w;
                }
            }));
            receivers.push(rx);
        }
        Self {
            receivers,
            next: start,
            start,
            _workers: workers,
        }
    }

    pub fn next_batch(&mut self) -> Option<HostBatch> {
        let i = ((self.next - self.start) % self.receivers.len() as u64) as usize;
        self.next += 1;
        self.receivers[i].recv().ok()
    }
}

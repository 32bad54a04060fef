//! Random crops and augmentation on worker threads. Batch `k` depends only on the seed
//! and `k` (never on thread timing), so a resumed run sees exactly the batches the
//! uninterrupted run saw. Each slot of a batch (one subject) is drawn on its own, from
//! its place in the run's sequence of samples: data-parallel replicas each build only
//! their own slots, and together they build the batch one process would.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use brainfm_core::augment::{intensity_augment, AugmentConfig, SpatialTransform};
use brainfm_core::rng::Rng;

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
    /// This replica and the number of replicas: batch `k` of the whole run has
    /// `subjects_per_batch * replicas` slots, of which this replica builds
    /// `replica * subjects_per_batch..` (`0` and `1` when training alone).
    pub replica: usize,
    pub replicas: usize,
}

/// Host-side batch: `[n, patch, patch, patch]` (x fastest) and each scan's subject.
pub struct HostBatch {
    pub data: Vec<f32>,
    pub n: usize,
    /// Subject of each scan, numbered within the batch (0..subjects_per_batch).
    pub subjects: Vec<usize>,
    /// Per scan, its subject's label patch (same crop and transform, nearest neighbour);
    /// empty when no subject has labels.
    pub labels: Vec<Option<Vec<u16>>>,
    /// Per scan, its index in the whole batch (slot x scans per subject + pick), which
    /// seeds its mask and latent noise (`SslBatch::keys`).
    pub keys: Vec<u64>,
}

/// The subject of sample `s` of the run: samples walk through a fresh random order of
/// the subjects every epoch, so each subject is seen once per epoch.
fn subject_of(sample: u64, subjects: usize, seed: u64) -> usize {
    let n = subjects as u64;
    let mut order: Vec<usize> = (0..subjects).collect();
    let mut rng = Rng::derive(seed ^ 0x5EED_0F0E, sample / n);
    for i in (1..subjects).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order[(sample % n) as usize]
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

/// Build batch `k`.
pub fn make_batch(subjects: &[CachedSubject], cfg: &LoaderConfig, k: u64) -> HostBatch {
    let p = cfg.patch;
    let per = cfg.subjects_per_batch;
    let whole = (per * cfg.replicas.max(1)) as u64;
    let mut data = Vec::new();
    let mut ids = Vec::new();
    let mut labels = Vec::new();
    let mut keys = Vec::new();
    for b in 0..per {
        let slot = (cfg.replica * per + b) as u64;
        let sample = k * whole + slot;
        let rng = &mut Rng::derive(cfg.seed ^ 0x0DA7_A5E7, sample);
        let s = &subjects[subject_of(sample, subjects.len(), cfg.seed)];
        let start = crop_start(rng, s, p, cfg.foreground);
        let mut picks = vec![rng.below(s.scans())];
        if cfg.scans_per_subject >= 2 && s.scans() >= 2 {
            let mut others: Vec<usize> = (0..s.scans()).filter(|&i| i != picks[0]).collect();
            while picks.len() < cfg.scans_per_subject && !others.is_empty() {
                picks.push(others.swap_remove(rng.below(others.len())));
            }
        }
        // One spatial transform per subject: its scans must stay co-registered.
        let aug = if cfg.augment {
            AugmentConfig::default()
        } else {
            AugmentConfig::none()
        };
        let transform = SpatialTransform::sample(&aug, rng);
        let label = s
            .has_labels()
            .then(|| transform.sample_labels(s.dims, start, [p; 3], |i| s.label(i)));
        for (pick, &scan) in picks.iter().enumerate() {
            let mut v = transform.sample_image(s.dims, start, [p; 3], |i| s.voxel(scan, i));
            if cfg.augment {
                intensity_augment(&mut v, [p; 3], rng);
            }
            data.extend_from_slice(&v);
            ids.push(b);
            keys.push(slot * cfg.scans_per_subject.max(1) as u64 + pick as u64);
            labels.push(label.clone());
        }
    }
    if labels.iter().all(Option::is_none) {
        labels.clear();
    }
    HostBatch {
        n: ids.len(),
        data,
        subjects: ids,
        labels,
        keys,
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

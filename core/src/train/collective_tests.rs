use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

use super::*;
use crate::model::Preset;
use crate::rng::Rng;
use crate::ssl::{Objective, ObjectiveConfig, SslBatch};

const P: usize = 16;

/// Two subjects, two co-registered scans each: `[4, P, P, P]` on the host.
fn scans() -> Vec<f32> {
    let mut rng = Rng::new(7);
    let base = rng.normals(2 * P * P * P);
    let other: Vec<f32> = base.iter().map(|v| -0.5 * v + 0.1).collect();
    let vox = P * P * P;
    [&base[..vox], &other[..vox], &base[vox..], &other[vox..]].concat()
}

/// Scans `first..first + n` of [`scans`] as the batch one replica holds.
fn part(all: &[f32], first: usize, n: usize, device: &Device) -> SslBatch {
    let vox = P * P * P;
    let data = all[first * vox..(first + n) * vox].to_vec();
    SslBatch {
        scans: Tensor::from_data(TensorData::new(data, [n, 1, P, P, P]), device),
        // Subjects are numbered within the batch; scans 2k and 2k+1 are subject k.
        subjects: (0..n).map(|i| i / 2).collect(),
        labels: vec![],
        keys: (first as u64..(first + n) as u64).collect(),
    }
}

fn values(model: &crate::model::BrainNet) -> Vec<f32> {
    let mut out = Vec::new();
    struct All<'a>(&'a mut Vec<f32>);
    impl burn::module::ModuleVisitor for All<'_> {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            self.0.extend(
                p.val()
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .unwrap(),
            );
        }
    }
    model.visit(&mut All(&mut out));
    out
}

/// `steps` steps of `objective` with the 4-scan batch held by `world` replicas (threads),
/// from the same initial weights; the losses each replica reported and its final weights.
fn train(
    objective: Objective,
    world: usize,
    init: &Bytes,
    steps: u64,
) -> Vec<(Vec<f32>, Vec<f32>)> {
    train_holding(objective, world, init, steps, |rank, per| rank * per)
}

/// [`train`] with replica `rank` holding scans `first(rank, per)..` (`per` of them).
fn train_holding(
    objective: Objective,
    world: usize,
    init: &Bytes,
    steps: u64,
    first: fn(usize, usize) -> usize,
) -> Vec<(Vec<f32>, Vec<f32>)> {
    let all = scans();
    let per = 4 / world;
    let groups = ThreadGroup::new(world);
    let handles: Vec<_> = groups
        .into_iter()
        .map(|group| {
            let (init, all) = (init.clone(), all.clone());
            std::thread::spawn(move || {
                let ad = Device::flex().autodiff();
                let model = Preset::Tiny.config(None).init(&ad).unwrap();
                let model = model.load_record(ModuleRecord::from_bytes(init).unwrap());
                let mut cfg = TrainConfig::new(steps);
                cfg.schedule.base_lr = 1e-3;
                cfg.schedule.warmup_steps = 1;
                let rank = group.rank();
                let mut trainer = Trainer::new(model, cfg).with_replicas(Box::new(group));
                let batch = part(&all, first(rank, per), per, &ad);
                let mut o = ObjectiveConfig::new(objective);
                o.swap.cos_ramp_steps = 0;
                // MAE's default 16^3 blocks would hide the whole 16^3 patch: an all-zero
                // input, whose gradients are mostly rounding noise.
                o.mask = crate::ssl::MaskConfig {
                    block: 4,
                    ratio: 0.6,
                };
                let losses = (0..steps)
                    .map(|_| {
                        pollster::block_on(trainer.ssl_step(&batch, &o))
                            .unwrap()
                            .loss
                    })
                    .collect();
                (losses, values(&trainer.model.valid()))
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// A tiny network's random weights, as every run of a test starts from them.
fn initial_weights() -> Bytes {
    Preset::Tiny
        .config(None)
        .init(&Device::flex().autodiff())
        .unwrap()
        .into_record()
        .into_bytes()
        .unwrap()
}

fn close(a: &[f32], b: &[f32], tol: f32) -> f32 {
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1.0))
        .fold(0.0f32, f32::max);
    assert!(worst <= tol, "differ by {worst} (> {tol}): {a:?} vs {b:?}");
    worst
}

fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn two_replicas_with_half_the_batch_each_train_like_one_with_all_of_it() {
    let ad = Device::flex().autodiff();
    let init = initial_weights();
    let initial = values(
        &Preset::Tiny
            .config(None)
            .init(&ad)
            .unwrap()
            .load_record(ModuleRecord::from_bytes(init.clone()).unwrap())
            .valid(),
    );
    for objective in [Objective::Mae, Objective::Swap] {
        let whole = train(objective, 1, &init, 4);
        let split = train(objective, 2, &init, 4);
        // The replicas agree with each other exactly: they take the same steps.
        assert_eq!(split[0].0, split[1].0, "{objective:?}: reported losses");
        assert_eq!(split[0].1, split[1].1, "{objective:?}: weights");
        // And with one replica holding the whole batch, to float rounding: the losses,
        // and the weights' updates as a whole (AdamW turns rounding-level differences in
        // a near-zero gradient into steps of up to the learning rate: measured, 3 of
        // 188 553 weights differ by more than 5e-4 and the updates by 0.25 %).
        close(&whole[0].0, &split[0].0, 1e-4);
        let moved = distance(&initial, &whole[0].1);
        let gap = distance(&whole[0].1, &split[0].1);
        assert!(moved > 1e-2, "{objective:?}: weights moved only {moved}");
        assert!(
            gap < 1e-2 * moved,
            "{objective:?}: updates differ by {gap}, {:.2} % of the update {moved}",
            100.0 * gap / moved
        );
    }
}

#[test]
fn a_replica_holding_other_scans_trains_differently() {
    // The same check with rank 1 holding a copy of rank 0's scans instead of its own:
    // the averaged run must then differ from the whole batch's (the equivalence above is
    // about the data, not an artefact of averaging).
    let init = initial_weights();
    let whole = train(Objective::Mae, 1, &init, 2);
    let copied = train_holding(Objective::Mae, 2, &init, 2, |_, _| 0);
    let losses: Vec<&Vec<f32>> = copied.iter().map(|(l, _)| l).collect();
    let gap = (losses[0][0] - whole[0].0[0]).abs();
    assert!(gap > 1e-4, "same loss {} as the whole batch", losses[0][0]);
}

#[test]
fn thread_group_reduces_broadcasts_and_gathers_in_rank_order() {
    let handles: Vec<_> = ThreadGroup::new(3)
        .into_iter()
        .map(|g| {
            std::thread::spawn(move || {
                let r = g.rank() as f32;
                let mut v = vec![r, 10.0 * r];
                g.all_reduce_sum(&mut v).unwrap();
                let mut bytes = vec![g.rank() as u8; g.rank() + 1];
                g.broadcast(&mut bytes).unwrap();
                let ranks = g.all_gather_u64(100 + g.rank() as u64).unwrap();
                (v, bytes, ranks)
            })
        })
        .collect();
    for h in handles {
        let (v, bytes, ranks) = h.join().unwrap();
        assert_eq!(v, vec![3.0, 30.0]);
        assert_eq!(bytes, vec![0u8]);
        assert_eq!(ranks, vec![100, 101, 102]);
    }
}

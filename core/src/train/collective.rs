//! Data-parallel training: what a step needs from a communication engine (MPI across
//! processes and machines, [`ThreadGroup`] within one process), and the gradient average
//! built on it. Every replica holds the same weights and optimiser state; each computes
//! gradients on its own part of the batch; the average is what one replica holding the
//! whole batch would compute when the loss is a mean over the batch's scans, so every
//! replica then takes the same optimiser step.

use std::sync::{Arc, Condvar, Mutex};

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CollectiveError(pub String);

/// The collective operations data-parallel training uses. Every rank calls each one in
/// the same order; a call returns when all ranks have made it.
pub trait Collective {
    /// This replica's index, `0..world()`; rank 0 alone writes files.
    fn rank(&self) -> usize;
    fn world(&self) -> usize;
    /// Element-wise sum over all ranks, in place; every rank receives the same result.
    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<(), CollectiveError>;
    /// Rank 0's `bytes` replace every other rank's.
    fn broadcast(&self, bytes: &mut Vec<u8>) -> Result<(), CollectiveError>;
    /// Every rank's `value`, in rank order.
    fn all_gather_u64(&self, value: u64) -> Result<Vec<u64>, CollectiveError>;
}

/// Each gradient flattened, in the model's visiting order.
struct Flatten<'a> {
    grads: &'a GradientsParams,
    flat: Vec<Tensor<1>>,
}

impl ModuleVisitor for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let n = g.shape().num_elements();
            self.flat.push(g.reshape([n]));
        }
    }
}

/// Puts the averaged values back, walking the parameters in the same order.
struct Restore<'a> {
    grads: &'a mut GradientsParams,
    averaged: Tensor<1>,
    offset: usize,
}

impl ModuleVisitor for Restore<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let dims: [usize; D] = g.dims();
            let n = g.shape().num_elements();
            let part = self
                .averaged
                .clone()
                .slice([self.offset..self.offset + n])
                .reshape(dims);
            self.offset += n;
            self.grads.register(param.id, part);
        }
    }
}

/// Average `grads` and `values` (the loss and its terms, on the gradients' device) over
/// every rank: one readback, one all-reduce, one upload. Returns the averaged gradients
/// and values.
pub async fn average_gradients<M: Module>(
    model: &M,
    mut grads: GradientsParams,
    values: Tensor<1>,
    collective: &dyn Collective,
) -> Result<(GradientsParams, Vec<f32>), CollectiveError> {
    let device = values.device();
    let mut flatten = Flatten {
        grads: &grads,
        flat: Vec::new(),
    };
    model.visit(&mut flatten);
    let mut flat = flatten.flat;
    let grad_len: usize = flat.iter().map(|t| t.dims()[0]).sum();
    flat.push(values);
    let mut host = Tensor::cat(flat, 0)
        .into_data_async()
        .await
        .map_err(|e| CollectiveError(format!("reading gradients back: {e:?}")))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| CollectiveError(format!("reading gradients back: {e:?}")))?;
    collective.all_reduce_sum(&mut host)?;
    let scale = 1.0 / collective.world() as f32;
    host.iter_mut().for_each(|v| *v *= scale);
    let values = host.split_off(grad_len);
    let averaged = Tensor::<1>::from_data(TensorData::new(host, [grad_len]), &device);
    model.visit(&mut Restore {
        grads: &mut grads,
        averaged,
        offset: 0,
    });
    Ok((grads, values))
}

/// Ranks that are threads of one process, for in-process replicas and for tests: every
/// operation is an all-gather of bytes behind a mutex, reduced in rank order (so results
/// do not depend on thread timing).
pub struct ThreadGroup {
    rank: usize,
    shared: Arc<Shared>,
}

struct Shared {
    world: usize,
    round: Mutex<Round>,
    done: Condvar,
}

struct Round {
    generation: u64,
    inputs: Vec<Option<Vec<u8>>>,
    result: Arc<Vec<Vec<u8>>>,
}

impl ThreadGroup {
    /// One handle per rank, to move into its thread.
    pub fn new(world: usize) -> Vec<ThreadGroup> {
        let shared = Arc::new(Shared {
            world,
            round: Mutex::new(Round {
                generation: 0,
                inputs: vec![None; world],
                result: Arc::new(Vec::new()),
            }),
            done: Condvar::new(),
        });
        (0..world)
            .map(|rank| ThreadGroup {
                rank,
                shared: shared.clone(),
            })
            .collect()
    }

    fn all_gather(&self, mine: Vec<u8>) -> Result<Arc<Vec<Vec<u8>>>, CollectiveError> {
        let poisoned = |_| CollectiveError("another rank's thread panicked".into());
        let mut round = self.shared.round.lock().map_err(poisoned)?;
        let generation = round.generation;
        round.inputs[self.rank] = Some(mine);
        if round.inputs.iter().all(Option::is_some) {
            // A rank can only start the next round after taking this result, and that
            // round cannot finish without every rank: the result is never overwritten
            // before all have read it.
            round.result = Arc::new(round.inputs.iter_mut().flat_map(Option::take).collect());
            round.generation += 1;
            self.shared.done.notify_all();
        } else {
            while round.generation == generation {
                round = self.shared.done.wait(round).map_err(poisoned)?;
            }
        }
        Ok(round.result.clone())
    }
}

impl Collective for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world(&self) -> usize {
        self.shared.world
    }

    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<(), CollectiveError> {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let all = self.all_gather(bytes)?;
        values.fill(0.0);
        for part in all.iter() {
            if part.len() != values.len() * 4 {
                return Err(CollectiveError(format!(
                    "ranks reduce different lengths: {} and {} values",
                    part.len() / 4,
                    values.len()
                )));
            }
            for (v, b) in values.iter_mut().zip(part.chunks_exact(4)) {
                *v += f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Ok(())
    }

    fn broadcast(&self, bytes: &mut Vec<u8>) -> Result<(), CollectiveError> {
        let mine = if self.rank == 0 {
            bytes.clone()
        } else {
            Vec::new()
        };
        let all = self.all_gather(mine)?;
        *bytes = all[0].clone();
        Ok(())
    }

    fn all_gather_u64(&self, value: u64) -> Result<Vec<u64>, CollectiveError> {
        let all = self.all_gather(value.to_le_bytes().to_vec())?;
        Ok(all
            .iter()
            .map(|b| u64::from_le_bytes(b[..8].try_into().expect("8 bytes")))
            .collect())
    }
}

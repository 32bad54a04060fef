//! Data-parallel runs: `mpirun -np N brainfm pretrain ...` (or `finetune`) starts N
//! replicas, on one machine or several, one per device. Each replica builds its own slots
//! of every batch; gradients are averaged over all of them every step (core's
//! `Trainer::with_replicas`); rank 0 alone reads the checkpoint to resume from and writes
//! metrics, checkpoints and bundles. A process started without a launcher trains alone
//! and never touches MPI.

pub mod mpi;

use std::sync::{Arc, OnceLock};

use anyhow::{bail, Result};
use brainfm_core::train::{Collective, CollectiveError, Trainer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use self::mpi::Mpi;
use crate::run::{checkpoint_bytes, read_checkpoint, RunDir};

/// The MPI this process joined, for the exits that must stop every rank.
static JOINED: OnceLock<Arc<Mpi>> = OnceLock::new();

/// How a launcher describes this process, from its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub world: usize,
    pub rank: usize,
    /// Rank among the processes of this machine: which device this replica takes.
    pub local_rank: usize,
    /// Which MPI family set the variables (picks the library names to try).
    pub family: Family,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    OpenMpi,
    Mpich,
}

impl Launch {
    /// Open MPI's `mpirun` sets OMPI_COMM_WORLD_*; MPICH's Hydra (and Intel MPI) PMI_*.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<Launch> {
        let num = |k: &str| get(k).and_then(|v| v.trim().parse::<usize>().ok());
        if let (Some(world), Some(rank)) =
            (num("OMPI_COMM_WORLD_SIZE"), num("OMPI_COMM_WORLD_RANK"))
        {
            return Some(Launch {
                world,
                rank,
                local_rank: num("OMPI_COMM_WORLD_LOCAL_RANK").unwrap_or(0),
                family: Family::OpenMpi,
            });
        }
        if let (Some(world), Some(rank)) = (num("PMI_SIZE"), num("PMI_RANK")) {
            return Some(Launch {
                world,
                rank,
                local_rank: num("MPI_LOCALRANKID").unwrap_or(0),
                family: Family::Mpich,
            });
        }
        None
    }

    /// The libraries to try, `BRAINFM_MPI_LIB` first.
    fn libraries(&self, chosen: Option<String>) -> Vec<String> {
        let defaults: &[&str] = match self.family {
            Family::OpenMpi => &["libmpi.so.40", "libmpi.so"],
            Family::Mpich => &["libmpi.so.12", "libmpich.so.12", "libmpi.so", "libmpich.so"],
        };
        chosen
            .into_iter()
            .chain(defaults.iter().map(|s| s.to_string()))
            .collect()
    }
}

/// This process's place among the replicas of a run.
pub struct Replicas {
    mpi: Option<Arc<Mpi>>,
    pub local_rank: usize,
}

/// A replica's handle on the MPI it shares with the command, for the trainer.
struct MpiReplica(Arc<Mpi>);

impl Collective for MpiReplica {
    fn rank(&self) -> usize {
        self.0.rank()
    }
    fn world(&self) -> usize {
        self.0.world()
    }
    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<(), CollectiveError> {
        self.0.all_reduce_sum(values)
    }
    fn broadcast(&self, bytes: &mut Vec<u8>) -> Result<(), CollectiveError> {
        self.0.broadcast(bytes)
    }
    fn all_gather_u64(&self, value: u64) -> Result<Vec<u64>, CollectiveError> {
        self.0.all_gather_u64(value)
    }
}

impl Replicas {
    /// Join the run this process was launched into: alone without a launcher (or with a
    /// world of 1), else through MPI.
    pub fn join() -> Result<Self> {
        let launch = Launch::from_env(|k| std::env::var(k).ok());
        let Some(launch) = launch.filter(|l| l.world > 1) else {
            return Ok(Self {
                mpi: None,
                local_rank: 0,
            });
        };
        let mpi = match JOINED.get() {
            Some(mpi) => mpi.clone(),
            None => {
                let libs = launch.libraries(std::env::var("BRAINFM_MPI_LIB").ok());
                let mpi = Mpi::load(&libs).map_err(|e| {
                    anyhow::anyhow!(
                        "launched as rank {} of {} but MPI is unusable: {e:#}",
                        launch.rank,
                        launch.world
                    )
                })?;
                JOINED.get_or_init(|| Arc::new(mpi)).clone()
            }
        };
        if (mpi.rank(), mpi.world()) != (launch.rank, launch.world) {
            bail!(
                "the launcher says rank {} of {}, but {} says rank {} of {}: is BRAINFM_MPI_LIB the MPI that mpirun belongs to?",
                launch.rank,
                launch.world,
                mpi.describe(),
                mpi.rank(),
                mpi.world()
            );
        }
        Ok(Self {
            mpi: Some(mpi),
            local_rank: launch.local_rank,
        })
    }

    pub fn rank(&self) -> usize {
        self.mpi.as_ref().map_or(0, |m| m.rank())
    }

    pub fn world(&self) -> usize {
        self.mpi.as_ref().map_or(1, |m| m.world())
    }

    /// Rank 0: the replica that reads and writes the run's files and talks to the terminal.
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// What the trainer averages gradients through (`None`: alone).
    pub fn collective(&self) -> Option<Box<dyn Collective>> {
        self.mpi
            .as_ref()
            .map(|m| Box::new(MpiReplica(m.clone())) as Box<dyn Collective>)
    }

    /// One line for the terminal, from rank 0, saying what runs where.
    pub fn describe(&self) -> Option<String> {
        let mpi = self.mpi.as_ref()?;
        Some(format!(
            "data-parallel: {} replicas through {}",
            mpi.world(),
            mpi.describe()
        ))
    }

    /// Refuse to start unless every rank has the same `what` (the run's settings, the
    /// binary's version): replicas that disagree would average meaningless gradients.
    pub fn agree<T: Serialize>(&self, what: &str, value: &T) -> Result<()> {
        let Some(mpi) = &self.mpi else {
            return Ok(());
        };
        let digest = Sha256::digest(serde_json::to_vec(value)?);
        let mine = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
        let all = mpi.all_gather_u64(mine)?;
        let differ: Vec<String> = all
            .iter()
            .enumerate()
            .filter(|(_, &h)| h != all[0])
            .map(|(r, _)| r.to_string())
            .collect();
        if !differ.is_empty() {
            bail!(
                "ranks {} have other {what} than rank 0: start every rank with the same arguments and the same brainfm",
                differ.join(", ")
            );
        }
        Ok(())
    }

    /// Run `work` on the first process of each machine, then on the others: work that
    /// fills a cache the others then find ready (the preprocessing cache) is done once.
    pub fn first_per_machine<T>(&self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let Some(mpi) = &self.mpi else {
            return work();
        };
        if self.local_rank == 0 {
            let out = work()?;
            mpi.barrier()?;
            Ok(out)
        } else {
            mpi.barrier()?;
            work()
        }
    }

    /// The run's starting point on every rank: rank 0 resumes from OUTPUT (or starts
    /// fresh) and sends model, optimiser and step to the others, which never read OUTPUT
    /// (on another machine they may not see it). Identical starting weights are thereby
    /// guaranteed even where initialisation is not deterministic (GPUs). Returns the
    /// checkpoint's extra state (rank 0's; `Null` elsewhere).
    pub fn start<S: Serialize + DeserializeOwned + PartialEq>(
        &self,
        run: Option<&RunDir>,
        trainer: &mut Trainer,
        spec: &S,
        resume: bool,
    ) -> Result<serde_json::Value> {
        let extra = match run {
            Some(run) => run.resume(trainer, spec, resume)?,
            None => serde_json::Value::Null,
        };
        let Some(mpi) = &self.mpi else {
            return Ok(extra);
        };
        let mut state = match self.is_root() {
            true => checkpoint_bytes(trainer, spec, serde_json::Value::Null)?,
            false => Vec::new(),
        };
        mpi.broadcast(&mut state)?;
        if !self.is_root() {
            read_checkpoint(
                &state,
                std::path::Path::new("rank 0's state"),
                trainer,
                spec,
            )?;
        }
        Ok(extra)
    }
}

/// After a command fails: in a data-parallel run, stop every rank (the others would wait
/// in their next all-reduce forever); otherwise nothing.
pub fn abort_if_joined(code: i32) {
    if let Some(mpi) = JOINED.get() {
        mpi.abort(code);
    }
}

/// After a command succeeds: leave MPI cleanly.
pub fn finish() {
    if let Some(mpi) = JOINED.get() {
        if let Err(e) = mpi.barrier() {
            eprintln!("warning: {e}");
        }
        mpi.finalize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn launchers_are_recognised_from_their_variables() {
        assert_eq!(Launch::from_env(env(&[])), None);
        let open = Launch::from_env(env(&[
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_RANK", "3"),
            ("OMPI_COMM_WORLD_LOCAL_RANK", "1"),
        ]))
        .unwrap();
        assert_eq!((open.world, open.rank, open.local_rank), (4, 3, 1));
        assert_eq!(open.family, Family::OpenMpi);
        assert_eq!(open.libraries(None)[0], "libmpi.so.40");
        let hydra = Launch::from_env(env(&[
            ("PMI_SIZE", "2"),
            ("PMI_RANK", "0"),
            ("MPI_LOCALRANKID", "0"),
        ]))
        .unwrap();
        assert_eq!(hydra.family, Family::Mpich);
        assert_eq!(
            hydra.libraries(Some("/opt/mpi/lib/libmpi.so".into()))[0],
            "/opt/mpi/lib/libmpi.so"
        );
        // Half a description is no launch.
        assert_eq!(Launch::from_env(env(&[("PMI_SIZE", "2")])), None);
    }

    #[test]
    fn alone_without_a_launcher() {
        // The test process has no launcher variables (unless the suite itself runs under
        // mpirun, which it does not).
        let r = Replicas::join().unwrap();
        assert_eq!((r.rank(), r.world(), r.is_root()), (0, 1, true));
        assert!(r.collective().is_none());
        assert_eq!(r.first_per_machine(|| Ok(5)).unwrap(), 5);
    }
}

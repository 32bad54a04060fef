//! MPI, loaded when a run starts under `mpirun` rather than linked: the default binary
//! needs no MPI to build or run, and one binary works with the MPI of the cluster it
//! lands on. Two ABIs exist in practice: Open MPI's (handles are pointers to exported
//! objects such as `ompi_mpi_comm_world`) and MPICH's (handles are integer constants,
//! shared by Intel MPI, MVAPICH and Cray MPICH). Both are spoken here; the functions
//! used are the MPI-1 ones every implementation exports under their standard names.

use std::ffi::{c_int, c_void};

use anyhow::{bail, Context, Result};
use brainfm_core::train::{Collective, CollectiveError};
use libloading::os::unix::{Library, Symbol, RTLD_GLOBAL, RTLD_NOW};

/// MPI_THREAD_FUNNELED: only the main thread calls MPI (the loader threads never do).
const THREAD_FUNNELED: c_int = 1;
const SUCCESS: c_int = 0;
/// One call moves at most this many elements (MPI counts are C ints).
const CHUNK: usize = 1 << 30;

/// The functions and handles of one ABI; `H` is how that ABI passes a handle.
struct Api<H: Copy> {
    comm_world: H,
    float: H,
    byte: H,
    sum: H,
    comm_rank: unsafe extern "C" fn(H, *mut c_int) -> c_int,
    comm_size: unsafe extern "C" fn(H, *mut c_int) -> c_int,
    allreduce: unsafe extern "C" fn(*const c_void, *mut c_void, c_int, H, H, H) -> c_int,
    bcast: unsafe extern "C" fn(*mut c_void, c_int, H, c_int, H) -> c_int,
    allgather: unsafe extern "C" fn(*const c_void, c_int, H, *mut c_void, c_int, H, H) -> c_int,
    barrier: unsafe extern "C" fn(H) -> c_int,
    abort: unsafe extern "C" fn(H, c_int) -> c_int,
}

enum Abi {
    OpenMpi(Api<*mut c_void>),
    Mpich(Api<c_int>),
}

/// MPI_COMM_WORLD of a loaded, initialised MPI library.
pub struct Mpi {
    abi: Abi,
    finalize: unsafe extern "C" fn() -> c_int,
    rank: usize,
    world: usize,
    name: String,
    // Last: the function pointers above point into it.
    _lib: Library,
}

// MPI is only ever called from the thread that initialised it (MPI_THREAD_FUNNELED);
// Send lets the handle live in the process-wide slot that error exits abort through.
unsafe impl Send for Mpi {}
unsafe impl Sync for Mpi {}

unsafe fn sym<T: Copy>(lib: &Library, name: &str) -> Result<T> {
    let s: Symbol<T> = lib
        .get(name.as_bytes())
        .with_context(|| format!("the MPI library has no {name}"))?;
    Ok(*s)
}

/// An exported object's address: Open MPI's handles.
unsafe fn object(lib: &Library, name: &str) -> Result<*mut c_void> {
    let s: Symbol<*mut c_void> = lib
        .get(name.as_bytes())
        .with_context(|| format!("the MPI library has no {name}"))?;
    Ok(s.into_raw())
}

macro_rules! api {
    ($lib:expr, $comm:expr, $float:expr, $byte:expr, $sum:expr) => {
        Api {
            comm_world: $comm,
            float: $float,
            byte: $byte,
            sum: $sum,
            comm_rank: sym($lib, "MPI_Comm_rank")?,
            comm_size: sym($lib, "MPI_Comm_size")?,
            allreduce: sym($lib, "MPI_Allreduce")?,
            bcast: sym($lib, "MPI_Bcast")?,
            allgather: sym($lib, "MPI_Allgather")?,
            barrier: sym($lib, "MPI_Barrier")?,
            abort: sym($lib, "MPI_Abort")?,
        }
    };
}

fn check(code: c_int, what: &str) -> Result<(), CollectiveError> {
    match code {
        SUCCESS => Ok(()),
        code => Err(CollectiveError(format!("{what} failed (MPI error {code})"))),
    }
}

impl Mpi {
    /// Load the first of `candidates` that opens and initialise MPI.
    pub fn load(candidates: &[String]) -> Result<Self> {
        let mut tried = Vec::new();
        let lib = candidates.iter().find_map(|name| {
            // RTLD_GLOBAL: Open MPI's own plug-ins resolve libmpi's symbols through it.
            match unsafe { Library::open(Some(name), RTLD_NOW | RTLD_GLOBAL) } {
                Ok(lib) => Some((name.clone(), lib)),
                Err(e) => {
                    tried.push(format!("{name}: {e}"));
                    None
                }
            }
        });
        let Some((name, lib)) = lib else {
            bail!(
                "cannot load an MPI library ({}); install Open MPI (Debian/Ubuntu: `apt install openmpi-bin`) or MPICH, or name the library with BRAINFM_MPI_LIB=/path/to/libmpi.so",
                tried.join("; ")
            );
        };
        unsafe {
            let init: unsafe extern "C" fn(*mut c_int, *mut c_void, c_int, *mut c_int) -> c_int =
                sym(&lib, "MPI_Init_thread")?;
            let finalize = sym(&lib, "MPI_Finalize")?;
            // Open MPI exports its predefined objects; MPICH's ABI fixes integer values.
            let abi = match object(&lib, "ompi_mpi_comm_world") {
                Ok(comm) => Abi::OpenMpi(api!(
                    &lib,
                    comm,
                    object(&lib, "ompi_mpi_float")?,
                    object(&lib, "ompi_mpi_byte")?,
                    object(&lib, "ompi_mpi_op_sum")?
                )),
                Err(_) => Abi::Mpich(api!(
                    &lib,
                    0x4400_0000,
                    0x4c00_040a,
                    0x4c00_010d,
                    0x5800_0003
                )),
            };
            let mut provided = 0;
            let code = init(
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                THREAD_FUNNELED,
                &mut provided,
            );
            if code != SUCCESS {
                bail!("MPI_Init_thread failed (MPI error {code}) with {name}");
            }
            let (mut rank, mut world) = (0, 0);
            let ok = match &abi {
                Abi::OpenMpi(a) => {
                    (a.comm_rank)(a.comm_world, &mut rank) | (a.comm_size)(a.comm_world, &mut world)
                }
                Abi::Mpich(a) => {
                    (a.comm_rank)(a.comm_world, &mut rank) | (a.comm_size)(a.comm_world, &mut world)
                }
            };
            if ok != SUCCESS || world < 1 || rank < 0 {
                bail!("MPI_Comm_rank/MPI_Comm_size failed with {name}");
            }
            Ok(Self {
                abi,
                finalize,
                rank: rank as usize,
                world: world as usize,
                name,
                _lib: lib,
            })
        }
    }

    /// The library that was loaded and its ABI, for messages.
    pub fn describe(&self) -> String {
        let abi = match self.abi {
            Abi::OpenMpi(_) => "Open MPI ABI",
            Abi::Mpich(_) => "MPICH ABI",
        };
        format!("{} ({abi})", self.name)
    }

    pub fn barrier(&self) -> Result<(), CollectiveError> {
        let code = unsafe {
            match &self.abi {
                Abi::OpenMpi(a) => (a.barrier)(a.comm_world),
                Abi::Mpich(a) => (a.barrier)(a.comm_world),
            }
        };
        check(code, "MPI_Barrier")
    }

    /// Stop every rank of the job (MPI_Abort): what a rank that cannot go on must do, or
    /// the others would wait for it in their next all-reduce forever.
    pub fn abort(&self, code: i32) -> ! {
        unsafe {
            match &self.abi {
                Abi::OpenMpi(a) => (a.abort)(a.comm_world, code),
                Abi::Mpich(a) => (a.abort)(a.comm_world, code),
            };
        }
        std::process::exit(code)
    }

    pub fn finalize(&self) {
        unsafe {
            (self.finalize)();
        }
    }

    fn bcast_bytes(&self, bytes: &mut [u8]) -> Result<(), CollectiveError> {
        for chunk in bytes.chunks_mut(CHUNK) {
            let (ptr, n) = (chunk.as_mut_ptr() as *mut c_void, chunk.len() as c_int);
            let code = unsafe {
                match &self.abi {
                    Abi::OpenMpi(a) => (a.bcast)(ptr, n, a.byte, 0, a.comm_world),
                    Abi::Mpich(a) => (a.bcast)(ptr, n, a.byte, 0, a.comm_world),
                }
            };
            check(code, "MPI_Bcast")?;
        }
        Ok(())
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world(&self) -> usize {
        self.world
    }

    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<(), CollectiveError> {
        // A separate send buffer rather than MPI_IN_PLACE, whose value differs by ABI.
        let send = values.to_vec();
        for (send, recv) in send.chunks(CHUNK).zip(values.chunks_mut(CHUNK)) {
            let (s, r, n) = (
                send.as_ptr() as *const c_void,
                recv.as_mut_ptr() as *mut c_void,
                send.len() as c_int,
            );
            let code = unsafe {
                match &self.abi {
                    Abi::OpenMpi(a) => (a.allreduce)(s, r, n, a.float, a.sum, a.comm_world),
                    Abi::Mpich(a) => (a.allreduce)(s, r, n, a.float, a.sum, a.comm_world),
                }
            };
            check(code, "MPI_Allreduce")?;
        }
        Ok(())
    }

    fn broadcast(&self, bytes: &mut Vec<u8>) -> Result<(), CollectiveError> {
        let mut len = (bytes.len() as u64).to_le_bytes();
        self.bcast_bytes(&mut len)?;
        bytes.resize(u64::from_le_bytes(len) as usize, 0);
        self.bcast_bytes(bytes)
    }

    fn all_gather_u64(&self, value: u64) -> Result<Vec<u64>, CollectiveError> {
        let send = value.to_le_bytes();
        let mut recv = vec![0u8; 8 * self.world];
        let (s, r) = (
            send.as_ptr() as *const c_void,
            recv.as_mut_ptr() as *mut c_void,
        );
        let code = unsafe {
            match &self.abi {
                Abi::OpenMpi(a) => (a.allgather)(s, 8, a.byte, r, 8, a.byte, a.comm_world),
                Abi::Mpich(a) => (a.allgather)(s, 8, a.byte, r, 8, a.byte, a.comm_world),
            }
        };
        check(code, "MPI_Allgather")?;
        Ok(recv
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect())
    }
}

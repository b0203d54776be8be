//! `--device cpu|wgpu` → a burn [`Device`], with a clear error where the
//! device cannot run.

use crate::core::error::{Error, Result};
use burn::tensor::{Device, DeviceKind, Tensor};
use serde::{Deserialize, Serialize};

/// Which compute device runs the job.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// burn's `flex` CPU backend (multi-threaded with rayon, SIMD kernels).
    #[default]
    Cpu,
    /// burn's wgpu backend: Vulkan, Metal or DX12, whichever the machine has.
    Wgpu,
}

impl DeviceChoice {
    /// `cpu` or `wgpu`, as in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Wgpu => "wgpu",
        }
    }
}

/// The device for `choice`, checked by running one tiny operation on it.
///
/// wgpu finds its adapter lazily and panics when there is none; we run a
/// probe under `catch_unwind` (with the panic message silenced) and turn that
/// into an error that says how to fix it.
pub fn resolve(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::flex()),
        DeviceChoice::Wgpu => {
            let device = Device::wgpu(DeviceKind::DefaultDevice);
            let probe = device.clone();
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let result = std::panic::catch_unwind(move || {
                let t = Tensor::<1>::from_floats([1.0, 2.0], &probe);
                t.sum().into_scalar::<f32>()
            });
            std::panic::set_hook(hook);
            match result {
                Ok(v) if v == 3.0 => Ok(device),
                Ok(v) => Err(Error::Device(format!(
                    "wgpu: the adapter computed 1+2 = {v}; this GPU driver is broken"
                ))),
                Err(_) => Err(Error::Device(
                    "--device wgpu: no usable GPU adapter (Vulkan, Metal or DX12) was found. \
                     Install a GPU driver with Vulkan support, or on Debian/Ubuntu the \
                     software renderer: `apt-get install -y mesa-vulkan-drivers libvulkan1`; \
                     or use --device cpu"
                        .into(),
                )),
            }
        }
    }
}

/// Make the CPU burn's default device for this process, unless the user
/// chose one with `BURN_DEVICE`.
///
/// burn places a loaded optimizer state on its default device before the
/// first step moves it to the parameters' device; with the wgpu backend
/// compiled in, that default is the GPU, so resuming a CPU run would start
/// Vulkan (and on a machine with no adapter, fail). vaekit names every
/// device it computes on explicitly, so the default only ever holds such
/// transient state, and the CPU is always a correct place for it.
///
/// # Safety
/// Sets an environment variable: call it at the start of `main`, before
/// any other thread exists.
pub unsafe fn prefer_cpu_default() {
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: the caller guarantees no other thread reads the environment.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
}

/// Make the calling thread (a program's main thread) the first of the CPU
/// backend's worker threads, so that it computes its share of each parallel
/// operation itself instead of handing all of it to the pool and sleeping
/// until the pool is done. A training step is hundreds of short parallel
/// operations, and those hand-offs cost about a tenth of the step on two
/// cores (`docs/performance.md`). The pool keeps one thread per core
/// (`RAYON_NUM_THREADS` still applies). Does nothing when the pool already
/// exists.
///
/// The main thread only works for the pool while it is itself inside a
/// parallel operation: parallel work started from another thread while
/// main waits elsewhere runs on the other workers alone (none, with one
/// thread). vaekit's binaries start parallel work from the main thread only
/// (sweeps run child processes from their threads).
pub fn main_thread_computes() {
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
}

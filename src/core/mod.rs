//! Layer 0, the core: tensors on a device, posteriors, the objective terms,
//! errors, files and random streams. It imports nothing from the crate above
//! it; everything else builds on it. See `docs/architecture.md`.

pub mod batch;
pub mod device;
pub mod error;
pub mod fastmath;
pub mod fsutil;
pub mod fused;
pub mod host;
pub mod likelihood;
pub mod matmul;
pub mod objective;
pub mod posterior;
pub mod rng;

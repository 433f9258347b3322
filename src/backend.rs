//! Choosing where the model runs.

#[cfg(not(target_arch = "wasm32"))]
use burn::prelude::Device;
use serde::{Deserialize, Serialize};

/// A compute backend the user can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum BackendKind {
    /// Burn's pure-Rust CPU backend (SIMD; threads natively).
    Flex,
    /// Burn's wgpu backend: WebGPU in browsers, Vulkan/Metal/DX12 natively.
    Wgpu,
}

/// Opens a device natively. wgpu failures (no adapter, no driver) come back as an error.
/// wgpu's runtime can be registered once per process, so the first outcome is kept.
#[cfg(not(target_arch = "wasm32"))]
pub fn open_device(kind: BackendKind) -> Result<Device, String> {
    static WGPU: std::sync::OnceLock<Result<Device, String>> = std::sync::OnceLock::new();
    match kind {
        BackendKind::Flex => Ok(Device::flex()),
        BackendKind::Wgpu => WGPU
            .get_or_init(|| {
                Device::wgpu_options()
                    .init()
                    .map_err(|e| format!("could not start the wgpu backend: {e}"))
            })
            .clone(),
    }
}

/// A computation or read on the device failed (for example, the GPU was lost).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the compute device failed: {0}")]
pub struct DeviceError(pub String);

impl DeviceError {
    pub fn from_debug(error: impl std::fmt::Debug) -> Self {
        Self(format!("{error:?}"))
    }
}

//! Choosing where the model runs.

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
    /// Burn's wgpu backend pinned to Vulkan, natively, with SPIR-V kernels (and the
    /// tensor-core matmuls WGSL cannot express). Only in builds with the `vulkan` feature.
    Vulkan,
}

/// Opens a device natively. wgpu failures (no adapter, no driver) come back as an error.
/// A wgpu runtime can be registered once per process and graphics API, so the first outcome
/// is kept.
///
/// Builds with the `vulkan` feature compile kernels to SPIR-V on every Vulkan adapter, so there
/// `wgpu` and `vulkan` run the same kernels wherever wgpu picks Vulkan (Linux, Windows).
#[cfg(not(target_arch = "wasm32"))]
pub fn open_device(kind: BackendKind) -> Result<Device, String> {
    use std::sync::OnceLock;
    static WGPU: OnceLock<Result<Device, String>> = OnceLock::new();
    static VULKAN: OnceLock<Result<Device, String>> = OnceLock::new();
    match kind {
        BackendKind::Flex => Ok(Device::flex()),
        BackendKind::Wgpu => WGPU
            .get_or_init(|| {
                Device::wgpu_options()
                    .init()
                    .map_err(|e| format!("could not start the wgpu backend: {e}"))
            })
            .clone(),
        BackendKind::Vulkan => VULKAN.get_or_init(open_vulkan).clone(),
    }
}

#[cfg(all(not(target_arch = "wasm32"), feature = "vulkan"))]
fn open_vulkan() -> Result<Device, String> {
    Device::wgpu_options()
        .graphics_api(burn::tensor::wgpu::WgpuBackend::Vulkan)
        .init()
        .map_err(|e| format!("could not start the Vulkan backend: {e}"))
}

#[cfg(all(not(target_arch = "wasm32"), not(feature = "vulkan")))]
fn open_vulkan() -> Result<Device, String> {
    Err("this secnn was built without the Vulkan backend: build it with `cargo build --release --features vulkan`".into())
}

/// The GPU build options compiled into this binary (cargo features), for reports.
pub fn gpu_features() -> Vec<&'static str> {
    [
        (cfg!(feature = "vulkan"), "vulkan"),
        (cfg!(feature = "fusion"), "fusion"),
        (cfg!(feature = "autotune"), "autotune"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
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

#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
thread_local! {
    /// wgpu registers one runtime per wasm instance: the first outcome is kept and reused.
    static WEBGPU: std::cell::RefCell<Option<(Device, String)>> = const { std::cell::RefCell::new(None) };
}

/// Runs the module's static constructors (cubecl registers its IR with `inventory` in them)
/// exactly once. Unless the module calls `__wasm_call_ctors` itself, wasm-ld wraps *every*
/// export in a call to it: each call from JavaScript (even each value serde-wasm-bindgen
/// hands over) then re-ran all of them, which made a 2 ms classification take over a second.
#[cfg(target_arch = "wasm32")]
pub fn run_static_constructors() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: the linker-made constructor function, called once before any kernel is built.
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}

/// The browser granted no WebGPU device (or this module was built without WebGPU).
#[derive(Debug, Clone, thiserror::Error)]
#[error("WebGPU is not available: {0}")]
pub struct WebGpuUnavailable(pub String);

/// Asks the browser for a WebGPU adapter and device (once per wasm instance; later calls reuse
/// them). Returns the device and a description of the adapter.
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
pub async fn open_webgpu() -> Result<(Device, String), WebGpuUnavailable> {
    // The page's start function already ran them; the wasm tests (and other users of the
    // library) may not, and WebGPU kernels need cubecl's registrations.
    run_static_constructors();
    if let Some(opened) = WEBGPU.with(|cell| cell.borrow().clone()) {
        return Ok(opened);
    }
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|e| WebGpuUnavailable(e.to_string()))?;
    let adapter = setup.adapter.get_info();
    let name = if adapter.name.is_empty() {
        match adapter.device_type {
            burn::tensor::wgpu::wgpu::DeviceType::Cpu => "software adapter (runs on the CPU)".to_string(),
            other => format!("{other:?} adapter"),
        }
    } else {
        adapter.name.clone()
    };
    let description = match (adapter.driver.is_empty(), adapter.driver_info.is_empty()) {
        (false, _) => format!("{name} ({})", adapter.driver),
        (true, false) => format!("{name} ({})", adapter.driver_info),
        _ => name,
    };
    WEBGPU.with(|cell| *cell.borrow_mut() = Some((device.clone(), description.clone())));
    Ok((device, description))
}

/// The CPU-only browser module (built without the `webgpu` feature) has no WebGPU.
#[cfg(all(target_arch = "wasm32", not(feature = "webgpu")))]
pub async fn open_webgpu() -> Result<(Device, String), WebGpuUnavailable> {
    Err(WebGpuUnavailable("this is the CPU-only module (built without WebGPU)".into()))
}

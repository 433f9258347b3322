//! **secnn** — a Squeeze-and-Excitation CNN for CIFAR-10 that classifies, explains and
//! fine-tunes natively (CLI) and in the browser (WebGPU or CPU, through Burn).
//!
//! One code path serves every caller:
//! - [`model`]: the seed's SE-CNN, its family, and what it exposes for explanation;
//! - [`architecture`]: the family's rules and limits, in one place, and a member read from a
//!   PyTorch `state_dict`'s shapes;
//! - [`data`]: decoding, the one resize rule, normalisation, augmentation, datasets;
//! - [`training`]: the step-wise training loop (steps queued on the device, their metrics read
//!   back in groups), schedules, evaluation;
//! - [`session`]: a run over a dataset, a group of steps at a time (CLI and browser);
//! - [`distill`]: learning from a teacher's logits on the same augmented views;
//! - [`inference`]: top-k, SE weights, feature maps, Grad-CAM;
//! - [`transfer`]: a last layer for new classes started from what the model knows (imprinting);
//! - [`fine_tune`]: fine-tuning as one job (plan, steps, divergence, the kept epoch);
//! - [`workbench`]: one model at work as the page uses it (the wasm boundary marshals it);
//! - [`profiles`]: the SE weights' per-class profiles (the SE paper's §7 analysis);
//! - [`weights`]: the self-describing burnpack weights file (f32, f16, 8-bit, 4-bit);
//! - [`quantize`]: 8- and 4-bit values of weight tensors and their scales;
//! - [`interop`]: PyTorch files under the seed's names: `.pth` import, `.safetensors` in and out;
//! - [`pth`]: the tensors of a `torch.save` file, read from bytes (ZIP and legacy formats);
//! - [`backend`]: choosing the device (Burn flex on the CPU, or wgpu).

pub mod architecture;
pub mod backend;
pub mod cpu;
pub mod data;
pub mod distill;
pub mod fine_tune;
pub mod inference;
pub mod interop;
pub mod model;
pub mod profiles;
pub mod pth;
pub mod quantize;
pub mod session;
pub mod training;
pub mod transfer;
pub mod weights;
pub mod workbench;

#[cfg(not(target_arch = "wasm32"))]
pub mod checkpoint;

#[cfg(target_arch = "wasm32")]
mod web;

pub use model::{SeCnn, SeCnnConfig};

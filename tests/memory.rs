//! The memory a fine-tune needs, measured: every allocation of this test binary is counted (a
//! global allocator around the system's), and the peak while a fine-tune at batch 64 runs is
//! compared with the estimate from the architecture alone ([`SeCnnConfig::fine_tune_bytes`]),
//! which the limits use to refuse too large a model before anything is allocated. A test binary
//! of its own with one test, so that nothing else allocates meanwhile.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use secnn::{
    SeCnnConfig,
    architecture::FINE_TUNE_BATCH,
    fine_tune::{FineTuneJob, FineTuneRequest},
    session::ReadPacer,
    training::TrainingConfig,
    weights::ModelInfo,
};
use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicUsize, Ordering},
};

/// Bytes allocated now, and the most since the last [`reset_peak`].
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The bytes allocated now, from which the peak counts again.
fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// The most bytes a one-epoch fine-tune of `config` at batch 64 (64 training images, 16 for
/// validation, its measurement before the first step and after the epoch included) held
/// beyond what was allocated before it started.
fn measured_fine_tune(config: &SeCnnConfig) -> usize {
    let device = Device::flex();
    let model = config.init(&device);
    let info = ModelInfo::new(config, (0..config.num_classes).map(|c| format!("class{c}")).collect(), "measured", "");
    let mut examples = synthetic_set(40, 2);
    examples.classes = info.classes.clone();
    examples.images = examples.images.iter().map(|planes| planes.resized(config.input_size)).collect();
    let recipe = TrainingConfig { epochs: 1, batch_size: FINE_TUNE_BATCH, ..TrainingConfig::fine_tune() };
    let request = FineTuneRequest { config: recipe, ..Default::default() };
    let before = reset_peak();
    let (mut job, plan) = block_on(FineTuneJob::start(&model, &info, &examples, request, ReadPacer::new(500.0, 8), &device)).unwrap();
    assert_eq!((plan.train_images, plan.steps_per_epoch), (FINE_TUNE_BATCH, 1));
    while !job.is_done() {
        block_on(job.steps()).unwrap();
    }
    let outcome = job.finish();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    drop(outcome);
    peak
}

#[test]
fn the_memory_estimate_covers_a_measured_fine_tune() {
    let four_blocks = SeCnnConfig::new().with_widths(vec![16, 32, 64, 64]).with_reduction(8).with_hidden(1024).with_input_size(64);
    let wide_head = SeCnnConfig::new().with_widths(vec![16, 24, 40]).with_hidden(4096);
    for config in [SeCnnConfig::new(), four_blocks, wide_head] {
        config.check().unwrap();
        let measured = measured_fine_tune(&config) as u64;
        let estimate = config.fine_tune_bytes(FINE_TUNE_BATCH);
        eprintln!("{:?} hidden {} at {} px: measured {} MiB, estimated {} MiB", config.widths, config.hidden, config.input_size, measured >> 20, estimate >> 20);
        assert!(measured <= estimate, "{config:?}: a fine-tune at batch 64 held {measured} bytes, above the estimate {estimate}");
        // The counting sees the run: at least the weights, their gradients and Adam's two moments.
        assert!(measured >= 4 * 4 * config.parameters(), "{config:?}: only {measured} bytes counted");
    }
}

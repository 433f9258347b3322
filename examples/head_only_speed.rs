//! Native head-only fine-tuning speed through the page's own path (`Workbench`: the shipped
//! weights, 2,048 random 32×32 examples, batch 64, cached features, Adam), as the browser's
//! `bench/module-ab.mjs ... head` runs it; medians of `--runs` runs after a warm-up run.
//! `--burn adam,linear` switches those CPU kernels back to Burn's for same-run A/Bs.
//!   cargo run --release --example head_only_speed -- [--burn adam,linear] [--runs 3]

use burn::prelude::*;
use futures_lite::future::block_on;
use secnn::{
    cpu::{self, Layer},
    fine_tune::FineTuneRequest,
    training::{Freeze, OptimizerKind, Schedule, TrainingConfig, TrainingOptions},
    workbench::{Rgba, Workbench},
};

const SHIPPED: &[u8] = include_bytes!("../www/secnn/model/secnn-cifar10.bpk");

fn images_per_second(bench: &mut Workbench) -> f64 {
    let options = TrainingOptions {
        epochs: Some(40),
        batch_size: Some(64),
        freeze: Some(Freeze::AllButHead),
        augment: Some(false),
        validation_split: Some(0.0),
        optimizer: Some(OptimizerKind::Adam),
        lr: Some(1e-4),
        schedule: Some(Schedule::Constant),
        ..Default::default()
    };
    let request = FineTuneRequest { config: options.resolve(TrainingConfig::fine_tune()), classes: None, probe: None };
    block_on(bench.start_fine_tune(request)).expect("fine-tuning starts");
    let started = std::time::Instant::now();
    let mut steps = 0;
    loop {
        let reports = block_on(bench.fine_tune_steps()).expect("a step");
        steps += reports.len();
        if reports.last().expect("a step").done {
            return (steps * 64) as f64 / started.elapsed().as_secs_f64();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    for name in value("--burn").unwrap_or_default().split(',').filter(|s| !s.is_empty()) {
        let layer = match name {
            "adam" => Layer::Adam,
            "linear" => Layer::Linear,
            other => panic!("--burn takes adam and linear, not {other}"),
        };
        cpu::use_burn_for(layer, true);
    }
    let mut bench = Workbench::open(SHIPPED, Device::flex(), false).expect("the shipped weights load");
    let mut noise = 7u32;
    for i in 0..2048 {
        let pixels: Vec<u8> = (0..32 * 32 * 4)
            .map(|_| {
                noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (noise >> 24) as u8
            })
            .collect();
        bench.add_example(Rgba { pixels: &pixels, width: 32, height: 32 }, i % 10).expect("an example");
    }
    let runs: usize = value("--runs").map_or(3, |r| r.parse().expect("--runs takes a number"));
    images_per_second(&mut bench); // a warm-up run: the first pays for its memory
    let mut measured: Vec<f64> = (0..runs).map(|_| images_per_second(&mut bench)).collect();
    measured.sort_by(f64::total_cmp);
    println!("head-only fine-tuning: median {:.0} images/s of {measured:.0?}", measured[runs / 2]);
}

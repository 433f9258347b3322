//! One image classified `--repeats` times with the shipped weights, on rayon's pool as the CLI
//! runs: a steady batch-1 loop to profile (`perf record -g -- target/release/examples/batch1_loop`).
//!   cargo run --release --example batch1_loop -- [--repeats 3000]

use burn::prelude::*;
use futures_lite::future::block_on;
use secnn::{data::Planes, inference, weights};

const SHIPPED: &[u8] = include_bytes!("../www/secnn/model/secnn-cifar10.bpk");

fn main() {
    let repeats: usize = std::env::args().skip_while(|a| a != "--repeats").nth(1).map_or(3000, |r| r.parse().expect("a count"));
    secnn::cpu::on_pool(|| {
        let device = Device::flex();
        let loaded = weights::load(SHIPPED, &device).expect("the shipped weights load");
        let image = Planes::new(32, (0..3072).map(|i| (i * 37 % 251) as u8).collect());
        let classes = loaded.info.classes.clone();
        let started = std::time::Instant::now();
        for _ in 0..repeats {
            block_on(inference::classify(&loaded.model, &[&image], &classes, 1, false, &device)).expect("classified");
        }
        println!("{:.4} ms an image", started.elapsed().as_secs_f64() * 1e3 / repeats as f64);
    });
}

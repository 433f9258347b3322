//! `secnn bench`: training and inference speed on random data, as JSON (medians of several
//! measured runs, after a warm-up).

use super::{BackendArg, architecture::ArchitectureArgs, device};
use anyhow::{Context, Result};
use burn::prelude::Device;
use clap::Args;
use futures_lite::future::block_on;
use rand::{SeedableRng, rngs::SmallRng};
use secnn::{
    data::{self, ImageSet, Planes},
    inference,
    model::SeCnn,
    training::{self, Schedule, Trainer, TrainingConfig},
};
use std::{path::PathBuf, time::Instant};

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 64)]
    train_batch: usize,
    /// Training steps per measured run.
    #[arg(long, default_value_t = 30)]
    train_steps: usize,
    /// Measured runs (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Read the training metrics back every this many steps (1: after every step, as training
    /// loops used to); 0 reads once per run.
    #[arg(long, default_value_t = 0)]
    read_every: usize,
    /// Run these layers (`conv,norm,pool,scale,linear`) and Adam's step (`adam`) through Burn's
    /// own modules instead of the CPU kernels (src/cpu), for same-run comparisons.
    #[arg(long, value_delimiter = ',', value_enum)]
    burn_layers: Vec<secnn::cpu::Layer>,
    /// Also write the JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The model timed (default: the seed's).
    #[command(flatten)]
    architecture: ArchitectureArgs,
    #[command(flatten)]
    backend: BackendArg,
}

/// Images in the batch whose throughput inference is measured with.
const INFER_BATCH: usize = 256;

/// What the training side measured, one value per run.
struct TrainingTimes {
    /// The warm-up's first steps, where kernels are compiled (and autotuned).
    first_steps_s: f64,
    images_per_s: Vec<f64>,
    prepare_batch_ms: Vec<f64>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let device = device(&args.backend)?;
    device.seed(0);
    for layer in &args.burn_layers {
        secnn::cpu::use_burn_for(*layer, true);
    }
    let runs = args.runs.max(1);
    let mut rng = SmallRng::seed_from_u64(0);
    let (training, model) = measure_training(&args, runs, &mut rng, &device)?;
    let (latency, throughput) = measure_inference(&model, runs, &mut rng, &device)?;
    let report = serde_json::json!({
        "backend": format!("{:?}", args.backend.backend).to_lowercase(),
        "model": { "widths": model.widths(), "inputSize": model.input_size(), "parameters": model.trainable_params() },
        "features": secnn::backend::gpu_features(),
        "burn_layers": args.burn_layers.iter().map(|l| format!("{l:?}").to_lowercase()).collect::<Vec<_>>(),
        "train_images_per_s": median(training.images_per_s),
        "train_batch": args.train_batch,
        "read_every": args.read_every,
        "first_steps_s": training.first_steps_s,
        "prepare_batch_ms": median(training.prepare_batch_ms),
        "infer_batch1_ms": median(latency),
        "infer_batch256_images_per_s": median(throughput),
        "runs": runs,
    });
    let text = serde_json::to_string_pretty(&report)?;
    println!("{text}");
    if let Some(path) = args.json {
        std::fs::write(&path, text).with_context(|| format!("{}", path.display()))?;
    }
    Ok(())
}

/// Times training steps on one random batch, and returns the trained model for inference.
fn measure_training(args: &BenchArgs, runs: usize, rng: &mut SmallRng, device: &Device) -> Result<(TrainingTimes, SeCnn)> {
    let model = args.architecture.config(10)?;
    let train_set = ImageSet::noise(args.train_batch, model.input_size, cifar10_classes(), rng);
    let config = TrainingConfig { schedule: Schedule::Constant, ..TrainingConfig::default() };
    let mut trainer = Trainer::new(model.init(device), config, 1, device);
    let indices: Vec<usize> = (0..train_set.len()).collect();
    let read_every = if args.read_every == 0 { usize::MAX } else { args.read_every };
    // Each step builds its batch from host memory, as real training does; the metrics are read
    // every `read_every` steps and at the end (which waits for the device to finish every step).
    let mut train_run = |steps: usize| -> Result<f64> {
        let started = Instant::now();
        let mut pending = Vec::new();
        for step in 1..=steps {
            let (images, labels) = training::make_batch(&train_set, &indices, true, rng, device);
            pending.push(trainer.queue_step(images, labels));
            if step % read_every == 0 || step == steps {
                block_on(training::read_metrics(std::mem::take(&mut pending)))?;
            }
        }
        Ok((steps * args.train_batch) as f64 / started.elapsed().as_secs_f64())
    };
    let started = Instant::now();
    train_run(3)?;
    let first_steps_s = started.elapsed().as_secs_f64();
    let images_per_s = (0..runs).map(|_| train_run(args.train_steps)).collect::<Result<_>>()?;
    let prepare_batch_ms = (0..runs).map(|_| prepare_batch_ms(&train_set, &indices, rng, device)).collect();
    let times = TrainingTimes { first_steps_s, images_per_s, prepare_batch_ms };
    Ok((times, trainer.inference_model()))
}

/// The host's share of a step: building one augmented batch (what augmenting on the device
/// could save), in milliseconds averaged over 20 batches.
fn prepare_batch_ms(set: &ImageSet, indices: &[usize], rng: &mut SmallRng, device: &Device) -> f64 {
    let started = Instant::now();
    for _ in 0..20 {
        drop(training::make_batch(set, indices, true, rng, device));
    }
    started.elapsed().as_secs_f64() * 1e3 / 20.0
}

/// Batch-1 latencies (ms) and batch-256 throughputs (images/s), one per run, each read back.
fn measure_inference(model: &SeCnn, runs: usize, rng: &mut SmallRng, device: &Device) -> Result<(Vec<f64>, Vec<f64>)> {
    let set = ImageSet::noise(INFER_BATCH, model.input_size(), cifar10_classes(), rng);
    let infer = |batch: &[&Planes], repeats: usize| -> Result<f64> {
        let started = Instant::now();
        for _ in 0..repeats {
            block_on(inference::classify(model, batch, &set.classes, 1, false, device))?;
        }
        Ok(started.elapsed().as_secs_f64() / repeats as f64)
    };
    // Each measurement follows a warm-up of the same batch size.
    let one = [&set.images[0]];
    infer(&one, 10)?;
    let latency = (0..runs).map(|_| infer(&one, 50).map(|s| s * 1e3)).collect::<Result<_>>()?;
    let big: Vec<&Planes> = set.images.iter().collect();
    infer(&big, 2)?;
    let throughput = (0..runs).map(|_| infer(&big, 5).map(|s| INFER_BATCH as f64 / s)).collect::<Result<_>>()?;
    Ok((latency, throughput))
}

fn cifar10_classes() -> Vec<String> {
    data::CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

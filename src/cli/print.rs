//! Everything the CLI shows a person: progress bars and the text reports of the subcommands.
//! (JSON output is written where it is built.)

use indicatif::{ProgressBar, ProgressStyle};
use secnn::{
    checkpoint::EpochRecord,
    data::Skipped,
    inference::{BlockAttention, ClassScore},
    session::{StepReport, TrainingSession},
    training::{Evaluation, TrainingConfig},
};
use std::{path::Path, time::Instant};

/// How many skipped files are listed by name; the rest are only counted.
const SKIPPED_LISTED: usize = 10;

/// A progress bar of `len` steps drawn with `template` (hidden when stderr is not a terminal).
pub fn bar(len: usize, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    bar
}

/// Lists the files a dataset load skipped, and why.
pub fn skipped_files(skipped: &[Skipped]) {
    if skipped.is_empty() {
        return;
    }
    eprintln!("skipped {} file(s) that are not usable images or lie outside the classes:", skipped.len());
    for file in skipped.iter().take(SKIPPED_LISTED) {
        eprintln!("  {}: {}", file.path.display(), file.reason);
    }
    if skipped.len() > SKIPPED_LISTED {
        eprintln!("  … and {} more", skipped.len() - SKIPPED_LISTED);
    }
}

/// The recipe and size of a training run, before its first step.
pub fn training_plan(config: &TrainingConfig, train_images: usize, validation_images: usize, steps_per_epoch: usize) {
    let ema = config.ema.map_or(String::new(), |decay| format!(", weights averaged (EMA {decay})"));
    let cutout = if config.cutout > 0 { format!(", cutout {} px", config.cutout) } else { String::new() };
    eprintln!(
        "training on {} images ({} for validation), {} steps/epoch, {:?} {:?} lr {} batch {}{ema}{cutout}",
        train_images,
        validation_images,
        steps_per_epoch,
        config.optimizer,
        config.schedule,
        config.lr,
        config.batch_size
    );
}

/// The progress bar of the epoch `session` is in.
pub fn epoch_bar(session: &TrainingSession) -> ProgressBar {
    let bar = bar(session.steps_per_epoch(), "epoch {prefix} {bar:30} {pos}/{len} [{elapsed}<{eta}] {msg}");
    bar.set_prefix(format!("{}/{}", session.trainer.progress.epoch + 1, session.trainer.config.epochs));
    bar
}

/// Moves the epoch's progress bar to `report`'s step.
pub fn show_step(bar: &ProgressBar, report: &StepReport, batch_size: usize, epoch_started: Instant) {
    bar.set_position(report.step_in_epoch as u64);
    let seconds = epoch_started.elapsed().as_secs_f64();
    let message = format!(
        "loss {:.4} acc {:.1}% lr {:.2e} {:.0} img/s",
        report.running_loss,
        100.0 * report.running_accuracy,
        report.metrics.lr,
        (report.step_in_epoch * batch_size) as f64 / seconds
    );
    // Without a terminal (logs, CI) the bar is hidden: print a line now and then instead.
    if bar.is_hidden() && report.step_in_epoch.is_multiple_of(50) {
        eprintln!("epoch {}/{} step {}/{}: {message}", report.epoch + 1, report.epochs, report.step_in_epoch, report.steps_per_epoch);
    }
    bar.set_message(message);
}

/// The line of a finished epoch; `images` is the size of the training set.
pub fn epoch(record: &EpochRecord, epochs: usize, validation: Option<&Evaluation>, images: usize) {
    println!(
        "epoch {:>3}/{}: train loss {:.4} acc {:.2}% | validation {} | lr {:.2e} | {:.0} s ({:.0} img/s)",
        record.epoch,
        epochs,
        record.train_loss,
        100.0 * record.train_accuracy,
        match validation {
            Some(e) => format!("loss {:.4} acc {:.2}%", e.loss, 100.0 * e.accuracy),
            None => "-".into(),
        },
        record.lr,
        record.seconds,
        images as f64 / record.seconds
    );
}

/// Accuracy, per-class accuracy and the confusion matrix of an evaluation on `data`.
pub fn evaluation(data: &Path, classes: &[String], evaluation: &Evaluation, seconds: f64) {
    println!(
        "{}: accuracy {:.2}% ({} images, loss {:.4}, {:.1} s)",
        data.display(),
        100.0 * evaluation.accuracy,
        evaluation.count,
        evaluation.loss,
        seconds
    );
    println!("\nper class:");
    for (class, accuracy) in classes.iter().zip(&evaluation.per_class_accuracy) {
        println!("  {class:>12} {:6.2}%", 100.0 * accuracy);
    }
    println!("\nconfusion matrix (rows: true class, columns: predicted):");
    // Five letters keep the ten CIFAR-10 columns within 80 characters.
    let short: Vec<String> = classes.iter().map(|c| c.chars().take(5).collect()).collect();
    println!("{:>12} {}", "", short.iter().map(|c| format!("{c:>6}")).collect::<String>());
    for (class, row) in classes.iter().zip(&evaluation.confusion) {
        println!("{class:>12} {}", row.iter().map(|n| format!("{n:>6}")).collect::<String>());
    }
}

/// An image's best classes, each with a bar of its probability.
pub fn top(path: &Path, top: &[ClassScore]) {
    println!("{}:", path.display());
    for score in top {
        let bar = "#".repeat((score.probability * 30.0).round() as usize);
        println!("  {:>12} {:6.2}% {bar}", score.label, 100.0 * score.probability);
    }
}

/// The SE channel weights of every block, and the channels each attends to most and least.
pub fn attention(blocks: &[BlockAttention]) {
    for (index, block) in blocks.iter().enumerate() {
        let line: Vec<String> = block.se_weights.iter().map(|w| format!("{w:.2}")).collect();
        println!("  SE weights block {} ({} channels): {}", index + 1, block.se_weights.len(), line.join(" "));
        let most: Vec<String> = block.most_attended.iter().map(|c| format!("#{} {:.3}", c.channel, c.weight)).collect();
        let least: Vec<String> = block.least_attended.iter().map(|c| format!("#{} {:.3}", c.channel, c.weight)).collect();
        println!("    most attended: {}; least attended: {}", most.join(", "), least.join(", "));
    }
}

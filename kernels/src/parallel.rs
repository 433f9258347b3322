//! How the CPU kernels share work between threads: rayon with the `threads` feature (natively,
//! and in the browser's threaded module), else one thread (the browser's single-threaded module).

use gemm::Parallelism;
use std::{mem::MaybeUninit, ops::Range};

/// Whether rayon's pool may be used. Natively from the start; in the browser's threaded module
/// once the model's worker has built the pool ([`crate::pool_threads::build_pool`]), which it
/// does after the first calls: the first prediction does not wait for the pool, and until the pool
/// exists nothing may touch rayon (it would settle on the calling thread alone).
#[cfg(feature = "threads")]
static POOL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(cfg!(not(target_arch = "wasm32")));

/// Tells the kernels that rayon's pool now exists (the browser's threaded module).
#[cfg(feature = "threads")]
pub(crate) fn pool_started() {
    POOL.store(true, std::sync::atomic::Ordering::Release);
}

/// True where the kernels may use rayon's pool.
#[cfg(feature = "threads")]
fn pooled() -> bool {
    POOL.load(std::sync::atomic::Ordering::Acquire)
}

/// How many threads the kernels share work between.
pub fn threads() -> usize {
    #[cfg(feature = "threads")]
    if pooled() {
        return rayon::current_num_threads();
    }
    1
}

/// Runs `work` on a thread of rayon's pool while the calling thread waits (natively, and in the
/// browser's threaded module once its pool runs; elsewhere right here). Every parallel loop in
/// `work` then starts from inside the pool: the starting thread takes a share itself and wakes
/// one other, where a loop started from outside hands all of it to the pool and sleeps until
/// woken again. In this VM each such hand-off costs tens of microseconds, and a step has
/// hundreds of loops (BENCHMARKS.md, issue 35). In the browser the caller must be a worker (it
/// blocks).
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    // Natively the work may be a whole program, written for a main thread's 8 MiB stack: the
    // pool's threads get as much where this call creates the pool (rayon's default is 2 MiB);
    // where the pool exists already, building it fails and changes nothing.
    #[cfg(all(feature = "threads", not(target_arch = "wasm32")))]
    let _ = rayon::ThreadPoolBuilder::new().stack_size(8 << 20).build_global();
    #[cfg(feature = "threads")]
    if pooled() {
        return rayon::scope(|_| work());
    }
    work()
}

/// Runs `work` while one other thread of the pool stays awake for it, taking shares of its
/// parallel loops as they appear, instead of sleeping between them: for work as small as one
/// image, where waking a sleeping thread for each loop costs more than the loop (tens of
/// microseconds in a VM). Natively; elsewhere `work` just runs. The caller never waits for its
/// helper: one that comes late takes the loops left, one that never comes takes none. The helper
/// stops when `work` ends or after [`HELPER_IDLE`] with nothing to take (then a loop wakes the
/// pool as usual), so it never holds up anything it may be nested in.
pub fn with_helper<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    #[cfg(all(feature = "threads", not(target_arch = "wasm32")))]
    if pooled() && rayon::current_num_threads() >= 2 {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::Instant;
        let done = &AtomicBool::new(false);
        return rayon::scope(|scope| {
            let caller = rayon::current_thread_index();
            scope.spawn(move |_| {
                // Taken back by the caller itself: there is nothing to help.
                if rayon::current_thread_index() == caller {
                    return;
                }
                let mut last_job = Instant::now();
                while !done.load(Ordering::Acquire) && last_job.elapsed() < HELPER_IDLE {
                    match rayon::yield_now() {
                        Some(rayon::Yield::Executed) => last_job = Instant::now(),
                        _ => std::hint::spin_loop(),
                    }
                }
            });
            let result = work();
            done.store(true, Ordering::Release);
            result
        });
    }
    work()
}

/// How long [`with_helper`]'s helper waits for a share before it goes back to the pool: longer
/// than one image's gaps between parallel loops (tens of microseconds).
#[cfg(all(feature = "threads", not(target_arch = "wasm32")))]
const HELPER_IDLE: std::time::Duration = std::time::Duration::from_micros(500);

/// Runs of images per thread that [`split_batch`] aims for. In the browser a loop's other thread
/// wakes late (a Web Worker), and with one run each the calling thread then waits for it at the
/// loop's end; with smaller runs it takes some of the late one's share.
#[cfg(feature = "threads")]
const RUNS_PER_THREAD: usize = if cfg!(target_arch = "wasm32") { 8 } else { 1 };

/// Runs `work(images, their slice of out, gemm parallelism)` on contiguous runs of images, a few
/// per thread, each a multiple of `grain` images where the batch allows, and returns the
/// results in order. `out` holds the same number of values per image (it may be empty). With
/// fewer images than threads the GEMMs are parallel instead.
#[cfg_attr(not(feature = "threads"), allow(unused_variables))]
pub fn split_batch<R: Send>(
    batch: usize,
    grain: usize,
    out: &mut [f32],
    work: impl Fn(Range<usize>, &mut [f32], Parallelism) -> R + Sync,
) -> Vec<R> {
    #[cfg(feature = "threads")]
    if pooled() {
        use rayon::prelude::*;
        let threads = rayon::current_num_threads();
        if batch >= 2 && threads >= 2 {
            let runs = batch_runs(batch, threads, grain, RUNS_PER_THREAD);
            let per_image = out.len() / batch;
            let mut slices: Vec<&mut [f32]> = if per_image == 0 {
                runs.iter().map(|_| <&mut [f32]>::default()).collect()
            } else {
                out.chunks_mut(runs[0].len() * per_image).collect()
            };
            return runs
                .into_par_iter()
                .zip(slices.par_iter_mut())
                .map(|(images, out)| work(images, out, Parallelism::None))
                .collect();
        }
        // One image: its GEMMs may share the threads natively (a convolution splits its input
        // channels instead: `conv::forward`); Web Workers wake too slowly for GEMMs this small
        // (batch-1 in the browser took 1.4× as long on two threads).
        let gemm = if cfg!(target_arch = "wasm32") { Parallelism::None } else { Parallelism::Rayon(0) };
        return vec![work(0..batch, out, gemm)];
    }
    vec![work(0..batch, out, Parallelism::None)]
}

/// [`split_batch`]'s runs: contiguous, covering `0..batch`, about `runs_per_thread` per thread
/// and never more than a thread's share, all as long as the first (the last may be shorter), and
/// a multiple of `grain` images where a thread's share holds that many.
#[cfg_attr(not(feature = "threads"), allow(dead_code))]
fn batch_runs(batch: usize, threads: usize, grain: usize, runs_per_thread: usize) -> Vec<Range<usize>> {
    let (per_thread, grain) = (batch.div_ceil(threads.min(batch)), grain.max(1));
    let mut per_run = batch.div_ceil(threads * runs_per_thread).next_multiple_of(grain);
    if per_run > per_thread {
        per_run = if per_thread >= grain { per_thread / grain * grain } else { per_thread };
    }
    (0..batch).step_by(per_run).map(|s| s..(s + per_run).min(batch)).collect()
}

/// Below this many multiply-adds one GEMM stays on one thread: waking the others costs more.
/// Web Workers wake slowly, so in the browser one image's classifier (2048 × 512) stays on the
/// calling thread, and a batch's is shared.
#[cfg(feature = "threads")]
const GEMM_SERIAL_BELOW: usize = if cfg!(target_arch = "wasm32") { 1 << 22 } else { 1 << 18 };

/// How one GEMM of `macs` multiply-adds shares the threads: all of them where it is big enough.
#[cfg_attr(not(feature = "threads"), allow(unused_variables))]
pub fn gemm_parallelism(macs: usize) -> Parallelism {
    #[cfg(feature = "threads")]
    if macs >= GEMM_SERIAL_BELOW && pooled() {
        return Parallelism::Rayon(0);
    }
    Parallelism::None
}

/// Below this many values a pass stays on one thread: waking others costs more (batch-1
/// inference), so one 32×32 image's passes all stay on the calling thread. Web Workers wake
/// slowly; natively, on an Intel Xeon VM, the bar at 2^15 made batch-1 1.06× slower (same-run
/// A/B, BENCHMARKS.md, issue 35, tenth session).
#[cfg(feature = "threads")]
const SERIAL_BELOW: usize = 1 << 17;

/// The fewest `row_len`-long rows one task takes: rows of a few hundred values are too small to
/// be a task each.
#[cfg(feature = "threads")]
fn min_rows(row_len: usize) -> usize {
    (4096 / row_len.max(1)).max(1)
}

/// Calls `work(row index, row)` for each `row_len`-long row of `out`, rows spread over threads.
pub fn for_each_row<T: Send>(out: &mut [T], row_len: usize, work: impl Fn(usize, &mut [T]) + Sync + Send) {
    #[cfg(feature = "threads")]
    if out.len() >= SERIAL_BELOW && pooled() {
        use rayon::prelude::*;
        out.par_chunks_mut(row_len).with_min_len(min_rows(row_len)).enumerate().for_each(|(i, row)| work(i, row));
        return;
    }
    out.chunks_mut(row_len).enumerate().for_each(|(i, row)| work(i, row));
}

/// Calls `work(block index, block)` for each `block_len`-long block of `out`, each block a task
/// of its own however few values it holds: for work far heavier than the values it writes.
pub fn for_each_block<T: Send>(out: &mut [T], block_len: usize, work: impl Fn(usize, &mut [T]) + Sync + Send) {
    #[cfg(feature = "threads")]
    if pooled() {
        use rayon::prelude::*;
        out.par_chunks_mut(block_len).enumerate().for_each(|(i, block)| work(i, block));
        return;
    }
    out.chunks_mut(block_len).enumerate().for_each(|(i, block)| work(i, block));
}

/// Adds `parts` partial results onto `out`, the parts computed at once on the threads:
/// `add_part(i, dst)` adds part `i` onto `dst`, which is `out` itself for the first part and a
/// zeroed buffer as long as `out` for each other, summed onto `out` at the end. For one small
/// product split along its inner dimension, where each thread's share of the operands stays in
/// its own core's cache (BENCHMARKS.md, issue 35, eleventh session).
pub fn add_parts(out: &mut [f32], parts: usize, add_part: impl Fn(usize, &mut [f32]) + Sync + Send) {
    let len = out.len().max(1);
    let mut others = vec![0.0; parts.saturating_sub(1) * out.len()];
    let mut targets: Vec<&mut [f32]> = std::iter::once(&mut *out).chain(others.chunks_mut(len)).collect();
    for_each_block(&mut targets, 1, |part, target| add_part(part, target[0]));
    for other in others.chunks_exact(len) {
        out.iter_mut().zip(other).for_each(|(o, v)| *o += v);
    }
}

/// Calls `work(start, a, b, c)` on matching `chunk`-long pieces of three equally long slices
/// (`start`: the pieces' offset), pieces spread over threads.
pub fn for_each_chunk3(
    a: &mut [f32],
    b: &mut [f32],
    c: &mut [f32],
    chunk: usize,
    work: impl Fn(usize, &mut [f32], &mut [f32], &mut [f32]) + Sync + Send,
) {
    #[cfg(feature = "threads")]
    if a.len() >= SERIAL_BELOW && pooled() {
        use rayon::prelude::*;
        a.par_chunks_mut(chunk)
            .zip(b.par_chunks_mut(chunk))
            .zip(c.par_chunks_mut(chunk))
            .enumerate()
            .for_each(|(i, ((a, b), c))| work(i * chunk, a, b, c));
        return;
    }
    for (i, ((a, b), c)) in a.chunks_mut(chunk).zip(b.chunks_mut(chunk)).zip(c.chunks_mut(chunk)).enumerate() {
        work(i * chunk, a, b, c);
    }
}

/// `len` new values, written row by row by `fill(row index, row)` as in [`for_each_row`],
/// without zeroing them first (a pass over memory saved). `fill` must write every value of
/// its row.
pub fn filled_rows(len: usize, row_len: usize, fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync + Send) -> Vec<f32> {
    let mut values = Vec::with_capacity(len);
    for_each_row(&mut values.spare_capacity_mut()[..len], row_len, fill);
    // SAFETY: every value was written: `fill` writes whole rows, and the rows cover `len`.
    unsafe { values.set_len(len) };
    values
}

/// `work(row)` for each `row_len`-long row of `x`, rows spread over threads as in
/// [`for_each_row`] (one small activation's rows stay on the calling thread).
pub fn map_rows<R: Send>(x: &[f32], row_len: usize, work: impl Fn(&[f32]) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "threads")]
    if x.len() >= SERIAL_BELOW && pooled() {
        use rayon::prelude::*;
        return x.par_chunks(row_len).with_min_len(min_rows(row_len)).map(work).collect();
    }
    x.chunks(row_len).map(work).collect()
}

/// `(0..n).map(work)`, spread over threads.
pub fn map_range<R: Send>(n: usize, work: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "threads")]
    if pooled() {
        use rayon::prelude::*;
        return (0..n).into_par_iter().map(work).collect();
    }
    (0..n).map(work).collect()
}

/// `Σ f(a[i], b[i])` with eight independent partial sums, which the compiler keeps in one
/// vector register (a plain `sum()` must add in order, one value at a time).
#[inline(always)]
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut lanes = [0.0f32; 8];
    for (a, b) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for lane in 0..8 {
            lanes[lane] += f(a[lane], b[lane]);
        }
    }
    let rest = a.len() / 8 * 8;
    let tail: f32 = a[rest..].iter().zip(&b[rest..]).map(|(a, b)| f(*a, *b)).sum();
    lanes.iter().sum::<f32>() + tail
}

/// `Σ a[i]`.
pub fn sum(a: &[f32]) -> f32 {
    lane_sum(a, a, |a, _| a)
}

/// `Σ a[i]·b[i]`.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    lane_sum(a, b, |a, b| a * b)
}

/// `Σ (a[i] - mean)²`.
pub fn squared_deviation(a: &[f32], mean: f32) -> f32 {
    lane_sum(a, a, |a, _| (a - mean) * (a - mean))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runs cover the batch in order, each a whole number of grains where a thread's share
    /// allows, none longer than a thread's share, and about as many per thread as asked.
    #[test]
    fn batch_runs_cover_the_batch_in_whole_grains() {
        for batch in 1..80 {
            for threads in 1..5 {
                for grain in [1, 3, 4, 16] {
                    for per_thread in [1, 8] {
                        let runs = batch_runs(batch, threads, grain, per_thread);
                        let share = batch.div_ceil(threads.min(batch));
                        assert_eq!(runs[0].start, 0);
                        assert_eq!(runs.last().unwrap().end, batch);
                        assert!(runs.windows(2).all(|w| w[0].end == w[1].start && w[0].len() == runs[0].len()));
                        assert!(runs.iter().all(|r| !r.is_empty() && r.len() <= share));
                        if grain <= share {
                            assert_eq!(runs[0].len() % grain, 0, "{batch} {threads} {grain} {per_thread}: {runs:?}");
                        }
                    }
                }
            }
        }
        assert_eq!(batch_runs(64, 2, 16, 8), [0..16, 16..32, 32..48, 48..64]);
        assert_eq!(batch_runs(64, 2, 1, 8).len(), 16);
        assert_eq!(batch_runs(64, 2, 1, 1), [0..32, 32..64]);
    }

    /// Natively with threads, `on_pool` moves the work onto a thread of the pool (the test's
    /// own thread is not one), and parallel loops inside it still finish with every result.
    #[test]
    fn on_pool_runs_the_work_inside_the_pool() {
        #[cfg(feature = "threads")]
        {
            assert_eq!(rayon::current_thread_index(), None);
            assert!(on_pool(rayon::current_thread_index).is_some());
        }
        let squares = on_pool(|| map_range(1000, |i| i * i));
        assert_eq!(squares, (0..1000).map(|i| i * i).collect::<Vec<_>>());
    }

    /// `add_parts` adds every part onto `out`, the first onto `out` itself (it sees the values
    /// already there), the others onto zeroed buffers.
    #[test]
    fn add_parts_adds_every_part_once() {
        let mut out = vec![1.0; 5];
        add_parts(&mut out, 3, |part, dst| {
            let seen = if part == 0 { 1.0 } else { 0.0 };
            assert!(dst.iter().all(|&v| v == seen), "part {part} starts from {dst:?}");
            dst.iter_mut().enumerate().for_each(|(i, v)| *v += (part * 10 + i) as f32);
        });
        assert_eq!(out, [31.0, 34.0, 37.0, 40.0, 43.0]);
        let mut alone = vec![2.0; 3];
        add_parts(&mut alone, 1, |_, dst| dst.iter_mut().for_each(|v| *v *= 2.0));
        assert_eq!(alone, [4.0; 3]);
    }

    /// `with_helper` returns its work's whole result, its loops' results in order, from outside
    /// the pool, inside it, and nested in a parallel loop and in itself; a hang fails the test.
    #[test]
    fn with_helper_finishes_wherever_it_is_called() {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let want: usize = (0..1000).map(|i| i * i).sum();
            let squares = || map_range(1000, |i| i * i).into_iter().sum::<usize>();
            assert_eq!(with_helper(squares), want);
            assert_eq!(on_pool(|| with_helper(squares)), want);
            let nested = on_pool(|| map_range(64, |j| with_helper(|| j + with_helper(squares))));
            assert_eq!(nested, (0..64).map(|j| j + want).collect::<Vec<_>>());
            sender.send(()).unwrap();
        });
        receiver.recv_timeout(std::time::Duration::from_secs(60)).expect("with_helper finished within a minute");
    }
}

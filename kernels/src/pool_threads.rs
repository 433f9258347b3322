//! Where rayon's pool runs in the browser's threaded module: on Web Workers that the page starts,
//! each waiting in [`run_pool_thread`] for one of rayon's threads, which [`build_pool`] (in the
//! model's worker) hands out.
//!
//! Why not wasm-bindgen-rayon, which starts the workers from inside the model's worker: in
//! Firefox 153 ESR a `new Worker` inside a worker sometimes never returned, and the model's
//! worker hung for good, every later call with it (9 page loads in 109 with a WebDriver BiDi
//! session listening to the console, the engines test's setting; none in 80 with the workers
//! started by the page). The page's own `new Worker` takes no such step.

use rayon::{ThreadBuilder, ThreadPoolBuilder};
use std::sync::{LazyLock, Mutex, mpsc};

type Handoff = (mpsc::Sender<ThreadBuilder>, Mutex<mpsc::Receiver<ThreadBuilder>>);

/// Rayon's threads on their way from [`build_pool`] to the threads waiting in [`run_pool_thread`].
static HANDOFF: LazyLock<Handoff> = LazyLock::new(|| {
    let (sender, receiver) = mpsc::channel();
    (sender, Mutex::new(receiver))
});

/// Waits for one of rayon's threads (from [`build_pool`]) and runs it on the calling thread:
/// while the pool lives, this never returns.
pub fn run_pool_thread() {
    // One waiting thread takes the next; the others wait for the lock meanwhile.
    let thread = HANDOFF.1.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
    if let Ok(thread) = thread {
        thread.run();
    }
}

/// Rayon's spawn handler: the thread goes to whoever waits in [`run_pool_thread`].
fn hand_off(thread: ThreadBuilder) -> std::io::Result<()> {
    HANDOFF.0.send(thread).map_err(|_| std::io::Error::other("no thread waits for the pool"))
}

/// Builds rayon's global pool of `threads` threads on as many threads waiting in
/// [`run_pool_thread`] (it returns once each runs its share), and lets the kernels use it.
pub fn build_pool(threads: usize) -> Result<(), String> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .spawn_handler(hand_off)
        .build_global()
        .map_err(|error| format!("the thread pool did not start: {error}"))?;
    crate::parallel::pool_started();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    /// A pool built with the same handoff (a local one: the global pool may exist already) runs
    /// its work on the threads that waited for it, and only there.
    #[test]
    fn threads_waiting_in_run_pool_thread_run_the_pool() {
        let waiting: Vec<_> = (0..2)
            .map(|i| std::thread::Builder::new().name(format!("waiting {i}")).spawn(run_pool_thread).unwrap())
            .collect();
        let pool = ThreadPoolBuilder::new().num_threads(2).spawn_handler(hand_off).build().unwrap();
        let names: Vec<String> = pool.install(|| {
            (0..64).into_par_iter().map(|_| std::thread::current().name().unwrap_or("").to_string()).collect()
        });
        assert!(names.iter().all(|name| name.starts_with("waiting ")), "{names:?}");
        assert_eq!(pool.install(|| (1..=100u32).into_par_iter().sum::<u32>()), 5050);
        drop(pool);
        for thread in waiting {
            thread.join().unwrap(); // each returns once the pool has ended
        }
    }
}

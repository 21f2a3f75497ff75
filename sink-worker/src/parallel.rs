//! The one way the sink spreads CPU-heavy work (Arrow decoding, Parquet encoding) over threads.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError, mpsc};

/// How many threads convert and encode a batch: the CPUs this process may use (a container's CPU
/// quota included).
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Runs `work` on every job, on up to `threads` threads that each take the next job when they finish
/// one (jobs may cost very different amounts); returns the results in job order, or None if one is
/// missing. A panic in `work` reaches the caller once every thread has stopped.
pub fn in_parallel<J: Send, R: Send>(jobs: Vec<J>, threads: usize, work: impl Fn(J) -> R + Sync) -> Option<Vec<R>> {
    let count = jobs.len();
    let queue = Mutex::new(jobs.into_iter().enumerate());
    let (done, finished) = mpsc::channel();
    let run = || {
        loop {
            // Taking the next job cannot leave the iterator half-updated, so a poisoned lock is fine.
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((i, job)) = next else { break };
            if done.send((i, work(job))).is_err() {
                break;
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads.clamp(1, count.max(1)) {
            scope.spawn(run);
        }
        run();
    });
    drop(done);
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(count).collect();
    for (i, result) in finished {
        results[i] = Some(result);
    }
    results.into_iter().collect()
}

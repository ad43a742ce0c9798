//! Independent jobs on several threads, results in job order. Training (a step's
//! micro-batches) and evaluation (a call's prompts) use it the same way: each job is
//! computed exactly as one thread would compute it, and the caller combines the results
//! in order, so the number of threads changes the speed and nothing else.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `work(&state, job)` for every job, in job order, on up to `threads` threads. Each
/// thread makes its own `state` once (a model replica, say) and takes the next job not
/// yet taken, so one long job does not hold up a fixed share of the others.
pub fn map_in_order<J, S, R>(
    jobs: &[J],
    threads: usize,
    state: impl Fn() -> S + Sync,
    work: impl Fn(&S, &J) -> R + Sync,
) -> Vec<R>
where
    J: Sync,
    R: Send,
{
    let threads = threads.clamp(1, jobs.len().max(1));
    if threads == 1 {
        let state = state();
        return jobs.iter().map(|job| work(&state, job)).collect();
    }
    let next = AtomicUsize::new(0);
    let (state, work, next) = (&state, &work, &next);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mine = state();
                    std::iter::from_fn(|| {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        jobs.get(i).map(|job| (i, work(&mine, job)))
                    })
                    .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::map_in_order;

    #[test]
    fn results_come_in_job_order_whatever_the_threads() {
        let jobs: Vec<u64> = (0..37).collect();
        // Uneven work, so threads finish jobs out of order.
        let work = |offset: &u64, j: &u64| {
            std::thread::sleep(std::time::Duration::from_micros((j % 5) * 200));
            j * j + offset
        };
        let one = map_in_order(&jobs, 1, || 7u64, work);
        assert_eq!(one, jobs.iter().map(|j| j * j + 7).collect::<Vec<_>>());
        for threads in [2, 3, 64] {
            assert_eq!(map_in_order(&jobs, threads, || 7u64, work), one, "{threads} threads");
        }
        assert!(map_in_order(&[] as &[u64], 4, || 0u64, work).is_empty());
    }
}

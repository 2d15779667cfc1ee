//! CPU-heavy work (Argon2id above all) off the async workers, in a bounded pool, so that a
//! burst of logins cannot stall every other request and the audit appender with them.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// A bound on how much CPU-heavy work runs at once; more waits its turn.
#[derive(Clone)]
pub struct CpuPool {
    permits: Arc<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
#[error("the CPU pool stopped before the work finished")]
pub struct PoolStopped;

impl CpuPool {
    /// At most `workers` jobs at once (at least one).
    pub fn new(workers: usize) -> CpuPool {
        CpuPool { permits: Arc::new(Semaphore::new(workers.max(1))) }
    }

    /// One job per core, leaving the async workers theirs.
    pub fn for_this_machine() -> CpuPool {
        CpuPool::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Runs `job` on Tokio's blocking threads once a permit is free.
    pub async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PoolStopped> {
        let permit = Arc::clone(&self.permits).acquire_owned().await.map_err(|_| PoolStopped)?;
        tokio::task::spawn_blocking(move || {
            let result = job();
            drop(permit);
            result
        })
        .await
        .map_err(|_| PoolStopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_runs_more_jobs_at_once_than_it_has_permits() {
        let pool = CpuPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..8).map(|_| {
            let (pool, running, most) = (pool.clone(), Arc::clone(&running), Arc::clone(&most));
            tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            })
        });
        for job in jobs.collect::<Vec<_>>() {
            job.await.unwrap().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 2);
    }
}

//! The edge's worker threads, each running a single-threaded runtime of its own: with more than
//! one, every listener is bound once per worker (`SO_REUSEPORT`, so the kernel spreads clients
//! over them), and each worker accepts, relays and times out its own connections and UDP flows,
//! with no wake-up crossing threads on the way. With one, the edge runs on the caller's runtime.

use std::future::Future;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// The worker threads; they end when this is dropped (their tasks with them).
#[derive(Default)]
pub(crate) struct Workers {
    handles: Vec<Handle>,
    stop: CancellationToken,
}

impl Workers {
    /// `count` worker threads, or none for 1 (the caller's runtime serves).
    pub fn start(count: usize) -> std::io::Result<Workers> {
        let stop = CancellationToken::new();
        let mut handles = Vec::new();
        if count > 1 {
            for i in 0..count {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                handles.push(runtime.handle().clone());
                let stopped = stop.clone();
                std::thread::Builder::new()
                    .name(format!("spectra-edge-{i}"))
                    .spawn(move || runtime.block_on(stopped.cancelled()))?;
            }
        }
        Ok(Workers { handles, stop })
    }

    /// How many sockets each listener binds: one per worker.
    pub fn sockets(&self) -> usize {
        self.handles.len().max(1)
    }

    /// Runs `task` on worker `i` (on the caller's runtime without workers).
    pub fn spawn<F>(&self, i: usize, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self.handles.get(i) {
            Some(handle) => drop(handle.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

//! The controller runtime every control loop of K1s runs on — the node agent, the
//! ReplicaSet controller, the HPA controller and the kinds to come — on the model of
//! kube-runtime's `Controller`:
//!
//! - a [`Reconciler`] answers `reconcile(key) -> Result<Action, Error>`: level-triggered
//!   and idempotent, it reads what is and what should be and takes one step;
//! - a deduplicating [`WorkQueue`] hands each key to one worker at a time (never two
//!   reconciles of one key at once) and keeps a key added meanwhile for later;
//! - one error policy: a failed key is retried after a per-key exponential backoff
//!   (200 ms doubling, capped at 30 s), reset by its next success; the reconciler may
//!   show the failure (an event, a condition) through [`Reconciler::on_error`];
//! - sources feed keys: store changes, the engine's events, a periodic resync;
//! - one shutdown path: [`Controller::shutdown`] stops the workers and every source.
//!
//! Backoffs that are state rather than errors (the kubelet's crash backoff, an image
//! pull's backoff) are the reconciler's business: it returns
//! [`Action::RequeueAfter`].

pub mod clock;
pub mod queue;

pub use clock::Clock;
pub use queue::WorkQueue;

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{broadcast, watch};

use crate::store::Change;

/// What a successful reconcile asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until a source enqueues the key again.
    Done,
    /// Look again after this long (a timer, not an error: the backoff is reset).
    RequeueAfter(Duration),
}

/// The error policy's backoff for a key's `failures`-th consecutive failure.
pub fn error_backoff(failures: u32) -> Duration {
    const BASE: Duration = Duration::from_millis(200);
    const CAP: Duration = Duration::from_secs(30);
    BASE.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
        .min(CAP)
}

/// A control loop's logic.
pub trait Reconciler: Send + Sync + 'static {
    /// What a reconcile can fail with.
    type Error: std::fmt::Display + Send + 'static;

    /// The loop's name, for logs.
    const NAME: &'static str;

    /// One level-triggered step for `key`.
    fn reconcile(&self, key: &str) -> impl Future<Output = Result<Action, Self::Error>> + Send;

    /// Shows a failure (events, conditions) before the retry is scheduled; `failures`
    /// counts the key's consecutive failures, this one included.
    fn on_error(
        &self,
        key: &str,
        error: &Self::Error,
        failures: u32,
    ) -> impl Future<Output = ()> + Send {
        let _ = (key, error, failures);
        async {}
    }
}

struct Inner<R> {
    reconciler: R,
    queue: WorkQueue<String>,
    failures: Mutex<HashMap<String, u32>>,
    stop: watch::Sender<bool>,
}

/// A handle that puts keys on a controller's queue, for a reconciler that must enqueue
/// from its own background tasks (the node agent's deletions).
#[derive(Clone)]
pub struct Enqueuer(WorkQueue<String>);

impl Enqueuer {
    /// Asks for `key` to be reconciled.
    pub fn enqueue(&self, key: impl Into<String>) {
        self.0.add(key.into());
    }

    /// Asks for `key` to be reconciled after `delay`.
    pub fn enqueue_after(&self, key: impl Into<String>, delay: Duration) {
        self.0.add_after(key.into(), delay);
    }
}

/// A running (or ready to run) control loop; cheap to clone.
pub struct Controller<R> {
    inner: Arc<Inner<R>>,
}

impl<R> Clone for Controller<R> {
    fn clone(&self) -> Self {
        Controller {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Reconciler> Controller<R> {
    /// A controller with no workers yet (tests may call the reconciler directly).
    pub fn new(reconciler: R) -> Controller<R> {
        Self::new_with(|_| reconciler)
    }

    /// A controller whose reconciler gets a handle to its queue.
    pub fn new_with(make: impl FnOnce(Enqueuer) -> R) -> Controller<R> {
        let queue = WorkQueue::new();
        Controller {
            inner: Arc::new(Inner {
                reconciler: make(Enqueuer(queue.clone())),
                queue,
                failures: Mutex::default(),
                stop: watch::channel(false).0,
            }),
        }
    }

    /// The reconciler.
    pub fn reconciler(&self) -> &R {
        &self.inner.reconciler
    }

    /// Asks for `key` to be reconciled.
    pub fn enqueue(&self, key: impl Into<String>) {
        self.inner.queue.add(key.into());
    }

    /// Asks for `key` to be reconciled after `delay`.
    pub fn enqueue_after(&self, key: impl Into<String>, delay: Duration) {
        self.inner.queue.add_after(key.into(), delay);
    }

    /// Starts `workers` workers.
    pub fn run_workers(&self, workers: usize) {
        for _ in 0..workers {
            let c = self.clone();
            tokio::spawn(async move { c.worker().await });
        }
    }

    /// Enqueues `keys()` now and then every `period`.
    pub fn resync_every<F>(&self, period: Duration, keys: F)
    where
        F: Fn(&R) -> Vec<String> + Send + Sync + 'static,
    {
        let c = self.clone();
        self.spawn_source(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for k in keys(&c.inner.reconciler) {
                    c.enqueue(k);
                }
            }
        });
    }

    /// Feeds keys from the store's change stream: `keys_of` maps a change to the keys
    /// it concerns; when the stream lagged (changes were dropped), `all` names every key.
    pub fn watch_store<F, A>(&self, mut rx: broadcast::Receiver<Change>, keys_of: F, all: A)
    where
        F: Fn(&R, &Change) -> Vec<String> + Send + Sync + 'static,
        A: Fn(&R) -> Vec<String> + Send + Sync + 'static,
    {
        let c = self.clone();
        self.spawn_source(async move {
            loop {
                let keys = match rx.recv().await {
                    Ok(ch) => keys_of(&c.inner.reconciler, &ch),
                    Err(broadcast::error::RecvError::Lagged(_)) => all(&c.inner.reconciler),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                for k in keys {
                    c.enqueue(k);
                }
            }
        });
    }

    /// Runs a source of keys (or any task of the loop) until the controller shuts down.
    pub fn spawn_source(&self, source: impl Future<Output = ()> + Send + 'static) {
        let mut stop = self.inner.stop.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                _ = source => {}
            }
        });
    }

    /// Stops the workers (after their current key) and every source.
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        self.inner.queue.shut_down();
    }

    /// Whether [`Controller::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        *self.inner.stop.borrow()
    }

    /// Consecutive failures of `key` so far (0 after a success).
    pub fn failures(&self, key: &str) -> u32 {
        self.lock_failures().get(key).copied().unwrap_or(0)
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.inner
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    async fn worker(&self) {
        while let Some(key) = self.inner.queue.next().await {
            self.process(&key).await;
            self.inner.queue.done(&key);
        }
    }

    /// One reconcile of `key` with the error policy applied.
    async fn process(&self, key: &str) {
        let r = &self.inner.reconciler;
        // A panic is a bug, but it must not kill the worker nor leave the key stuck.
        let result = AssertUnwindSafe(r.reconcile(key)).catch_unwind().await;
        match result {
            Ok(Ok(action)) => {
                self.lock_failures().remove(key);
                if let Action::RequeueAfter(d) = action {
                    self.enqueue_after(key, d);
                }
            }
            Ok(Err(e)) => {
                let failures = {
                    let mut f = self.lock_failures();
                    let n = f.entry(key.to_string()).or_default();
                    *n = n.saturating_add(1);
                    *n
                };
                let delay = error_backoff(failures);
                tracing::warn!(
                    controller = R::NAME,
                    key,
                    error = %e,
                    failures,
                    "reconcile failed; retrying in {delay:?}"
                );
                r.on_error(key, &e, failures).await;
                self.enqueue_after(key, delay);
            }
            Err(_) => {
                let failures = {
                    let mut f = self.lock_failures();
                    let n = f.entry(key.to_string()).or_default();
                    *n = n.saturating_add(1);
                    *n
                };
                tracing::error!(controller = R::NAME, key, "reconcile panicked; retrying");
                self.enqueue_after(key, error_backoff(failures));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::Instant;

    /// Fails the first `fail` reconciles of every key, records when each ran, and checks
    /// that no key is ever reconciled by two workers at once.
    #[derive(Default)]
    struct Flaky {
        fail: u32,
        calls: Mutex<Vec<(String, Instant)>>,
        running: Mutex<std::collections::HashSet<String>>,
        overlaps: AtomicU32,
        requeue: Option<Duration>,
    }

    impl Reconciler for Flaky {
        type Error = String;
        const NAME: &'static str = "flaky";

        async fn reconcile(&self, key: &str) -> Result<Action, String> {
            if !self.running.lock().unwrap().insert(key.to_string()) {
                self.overlaps.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.running.lock().unwrap().remove(key);
            let n = {
                let mut c = self.calls.lock().unwrap();
                c.push((key.to_string(), Instant::now()));
                c.iter().filter(|(k, _)| k == key).count() as u32
            };
            if n <= self.fail {
                return Err(format!("failure {n}"));
            }
            Ok(self.requeue.map_or(Action::Done, Action::RequeueAfter))
        }
    }

    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn the_backoff_doubles_from_200ms_to_a_30s_cap() {
        let ms: Vec<u128> = (1..=10).map(|n| error_backoff(n).as_millis()).collect();
        assert_eq!(
            ms,
            vec![200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]
        );
        assert_eq!(error_backoff(u32::MAX), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_per_key_and_a_success_resets_them() {
        let c = Controller::new(Flaky {
            fail: 3,
            ..Default::default()
        });
        c.run_workers(2);
        let t0 = Instant::now();
        c.enqueue("a");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let calls: Vec<Duration> = c
            .reconciler()
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| *t - t0)
            .collect();
        assert_eq!(calls.len(), 4, "three failures, then a success");
        // each retry waits the doubling backoff (plus the 5 ms the reconcile takes)
        let gaps: Vec<u128> = calls
            .windows(2)
            .map(|w| (w[1] - w[0]).as_millis())
            .collect();
        assert_eq!(gaps, vec![205, 405, 805]);
        assert_eq!(c.failures("a"), 0, "reset by the success");
        c.shutdown();
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_is_never_reconciled_twice_at_once() {
        let c = Controller::new(Flaky::default());
        c.run_workers(4);
        for _ in 0..20 {
            c.enqueue("same");
            c.enqueue("other");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(c.reconciler().overlaps.load(Ordering::SeqCst), 0);
        let n = c.reconciler().calls.lock().unwrap().len();
        assert!(
            n >= 4,
            "both keys ran, changes made meanwhile ran again: {n}"
        );
        c.shutdown();
    }

    #[tokio::test(start_paused = true)]
    async fn requeue_after_runs_the_key_again_later_and_shutdown_stops_everything() {
        let c = Controller::new(Flaky {
            requeue: Some(Duration::from_secs(10)),
            ..Default::default()
        });
        c.run_workers(1);
        c.resync_every(Duration::from_secs(3600), |_| vec!["r".to_string()]);
        settle().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            c.reconciler().calls.lock().unwrap().len(),
            1,
            "the resync's first tick"
        );
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(
            c.reconciler().calls.lock().unwrap().len(),
            2,
            "requeued after 10 s"
        );
        c.shutdown();
        assert!(c.is_shut_down());
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(
            c.reconciler().calls.lock().unwrap().len(),
            2,
            "nothing after shutdown"
        );
    }
}

//! The metrics cache: one stats stream per running K1s container, folded into CPU
//! percentages and working-set memory. Readers (pod details, the HPA) never wait on
//! the engine: a stats sample costs the engine about a second, so sampling on request
//! would make every GET slow and sequential polling would not scale.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::task::AbortHandle;

use super::{ContainerRuntime, StatsSample};

/// How many samples are kept per container (about one a second).
const HISTORY: usize = 120;

/// Resource use of one container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// CPU in percent of one CPU (100 = one full CPU); `None` until two samples came.
    pub cpu_percent: Option<f64>,
    /// Working-set memory in bytes.
    pub memory_bytes: u64,
}

struct Entry {
    task: AbortHandle,
    last_raw: Option<StatsSample>,
    history: VecDeque<(Instant, Usage)>,
}

/// Shared cache of container usage; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    runtime: Arc<dyn ContainerRuntime>,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

/// CPU percent between two cumulative samples, as `docker stats` computes it.
pub fn cpu_percent(prev: &StatsSample, cur: &StatsSample) -> Option<f64> {
    let cpu = cur.cpu_total_ns.checked_sub(prev.cpu_total_ns)? as f64;
    let sys = cur.system_ns.checked_sub(prev.system_ns)? as f64;
    if sys <= 0.0 || prev.system_ns == 0 {
        return None;
    }
    Some(cpu / sys * f64::from(cur.online_cpus.max(1)) * 100.0)
}

impl Metrics {
    /// An empty cache reading from `runtime`.
    pub fn new(runtime: Arc<dyn ContainerRuntime>) -> Metrics {
        Metrics {
            runtime,
            entries: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes sure a stats stream runs for this (running) container.
    pub fn watch(&self, id: &str) {
        let mut entries = self.lock();
        if entries.contains_key(id) {
            return;
        }
        let this = self.clone();
        let key = id.to_string();
        let task = tokio::spawn(async move {
            let mut stream = this.runtime.stats(&key);
            while let Some(item) = stream.next().await {
                let Ok(sample) = item else { break };
                this.record(&key, sample, Instant::now());
            }
            drop(stream);
            this.lock().remove(&key);
        });
        entries.insert(
            id.to_string(),
            Entry {
                task: task.abort_handle(),
                last_raw: None,
                history: VecDeque::new(),
            },
        );
    }

    /// Stops sampling a container (it stopped or was removed) and drops its figures.
    pub fn forget(&self, id: &str) {
        if let Some(e) = self.lock().remove(id) {
            e.task.abort();
        }
    }

    fn record(&self, id: &str, sample: StatsSample, at: Instant) {
        let mut entries = self.lock();
        let Some(e) = entries.get_mut(id) else { return };
        let cpu = e.last_raw.as_ref().and_then(|p| cpu_percent(p, &sample));
        e.last_raw = Some(sample);
        e.history.push_back((
            at,
            Usage {
                cpu_percent: cpu,
                memory_bytes: sample.memory_bytes,
            },
        ));
        while e.history.len() > HISTORY {
            e.history.pop_front();
        }
    }

    /// The latest figures; `None` before the first sample.
    pub fn latest(&self, id: &str) -> Option<Usage> {
        let entries = self.lock();
        let e = entries.get(id)?;
        let (_, last) = e.history.back()?;
        // The first sample has no CPU figure yet; keep the last one that had.
        let cpu = e.history.iter().rev().find_map(|(_, u)| u.cpu_percent);
        Some(Usage {
            cpu_percent: cpu,
            memory_bytes: last.memory_bytes,
        })
    }

    /// Mean over the samples of the last `window` (the HPA decides on this rather than
    /// on one noisy sample); `None` without samples in the window.
    pub fn average(&self, id: &str, window: Duration) -> Option<Usage> {
        let entries = self.lock();
        let e = entries.get(id)?;
        let since = Instant::now().checked_sub(window);
        let recent: Vec<&Usage> = e
            .history
            .iter()
            .filter(|(t, _)| since.is_none_or(|s| *t >= s))
            .map(|(_, u)| u)
            .collect();
        if recent.is_empty() {
            return None;
        }
        let cpus: Vec<f64> = recent.iter().filter_map(|u| u.cpu_percent).collect();
        let mem = recent.iter().map(|u| u.memory_bytes).sum::<u64>() / recent.len() as u64;
        Some(Usage {
            cpu_percent: (!cpus.is_empty()).then(|| cpus.iter().sum::<f64>() / cpus.len() as f64),
            memory_bytes: mem,
        })
    }

    /// How many containers are being sampled.
    pub fn streams(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(cpu: u64, sys: u64) -> StatsSample {
        StatsSample {
            cpu_total_ns: cpu,
            system_ns: sys,
            online_cpus: 2,
            memory_bytes: 10,
        }
    }

    #[test]
    fn cpu_percent_is_share_of_one_cpu() {
        // half of the host's 2 CPUs' time = one full CPU = 100 %
        assert_eq!(cpu_percent(&s(0, 1000), &s(1000, 3000)), Some(100.0));
        assert_eq!(cpu_percent(&s(0, 1000), &s(250, 2000)), Some(50.0));
        // no elapsed system time, first sample, or counters going backwards: no figure
        assert_eq!(cpu_percent(&s(0, 1000), &s(10, 1000)), None);
        assert_eq!(cpu_percent(&s(0, 0), &s(10, 1000)), None);
        assert_eq!(cpu_percent(&s(50, 1000), &s(10, 2000)), None);
    }

    #[tokio::test]
    async fn latest_and_average_come_from_recorded_samples() {
        let m = Metrics::new(Arc::new(super::super::fake::FakeRuntime::new()));
        m.watch("c1");
        assert_eq!(m.latest("c1"), None);
        let t = Instant::now();
        m.record("c1", s(0, 1000), t);
        assert_eq!(m.latest("c1").unwrap().cpu_percent, None);
        m.record("c1", s(1000, 3000), t);
        m.record("c1", s(1250, 4000), t);
        let latest = m.latest("c1").unwrap();
        assert_eq!(latest.cpu_percent, Some(50.0));
        let avg = m.average("c1", Duration::from_secs(60)).unwrap();
        assert_eq!(avg.cpu_percent, Some(75.0));
        m.forget("c1");
        assert_eq!(m.latest("c1"), None);
    }
}

//! The log cache: one follower per running K1s container keeps the last lines of its
//! current run in memory, so that pod details never wait on the engine for logs.
//! Longer tails than the cache keeps are read from the engine on request.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::task::AbortHandle;

use super::ContainerRuntime;

/// Lines kept per container (what `get_pod` shows by default).
pub const KEEP_LINES: usize = 1000;
/// Longest line kept (so a container's cache stays under about 16 MiB).
pub const MAX_LINE_BYTES: usize = 16 * 1024;

struct Entry {
    since: i64,
    lines: VecDeque<String>,
    partial: String,
    task: Option<AbortHandle>,
}

impl Entry {
    fn push(&mut self, chunk: &str) {
        let mut text = std::mem::take(&mut self.partial);
        text.push_str(chunk);
        let mut rest = text.as_str();
        while let Some(i) = rest.find('\n') {
            self.keep_line(&rest[..=i]);
            rest = &rest[i + 1..];
        }
        // Output without newlines (progress bars, binary) must not grow without bound:
        // past the line cap it is kept as a line of its own.
        if rest.len() > MAX_LINE_BYTES {
            self.keep_line(rest);
            rest = "";
        }
        self.partial = rest.to_string();
        while self.lines.len() > KEEP_LINES {
            self.lines.pop_front();
        }
    }

    fn keep_line(&mut self, line: &str) {
        if line.len() <= MAX_LINE_BYTES {
            self.lines.push_back(line.to_string());
            return;
        }
        let mut cut = MAX_LINE_BYTES;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        self.lines.push_back(format!(
            "{} [… line cut at {MAX_LINE_BYTES} bytes by K1s]\n",
            &line[..cut]
        ));
    }

    fn tail(&self, n: usize) -> String {
        let skip = self.lines.len().saturating_sub(n);
        let mut out: String = self.lines.iter().skip(skip).map(String::as_str).collect();
        out.push_str(&self.partial);
        out
    }
}

/// Shared log cache; cheap to clone.
#[derive(Clone)]
pub struct Logs {
    runtime: Arc<dyn ContainerRuntime>,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl Logs {
    /// An empty cache reading from `runtime`.
    pub fn new(runtime: Arc<dyn ContainerRuntime>) -> Logs {
        Logs {
            runtime,
            entries: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows a running container's output since `since_unix` (the start of its
    /// current run). A new run (a restart in place) starts a fresh buffer.
    pub fn follow(&self, id: &str, since_unix: i64) {
        let mut entries = self.lock();
        if entries
            .get(id)
            .is_some_and(|e| e.since == since_unix && e.task.is_some())
        {
            return;
        }
        if let Some(old) = entries.remove(id).and_then(|e| e.task) {
            old.abort();
        }
        let this = self.clone();
        let key = id.to_string();
        let task = tokio::spawn(async move {
            let mut stream = this
                .runtime
                .follow_logs(&key, since_unix, KEEP_LINES as u32);
            while let Some(Ok(chunk)) = stream.next().await {
                if let Some(e) = this.lock().get_mut(&key) {
                    e.push(&chunk);
                }
            }
            // The run ended: keep its lines (for a finished pod's logs), stop following.
            if let Some(e) = this.lock().get_mut(&key) {
                e.task = None;
            }
        });
        entries.insert(
            id.to_string(),
            Entry {
                since: since_unix,
                lines: VecDeque::new(),
                partial: String::new(),
                task: Some(task.abort_handle()),
            },
        );
    }

    /// Keeps a run's output fetched from the engine (a container that ended while K1s
    /// was not following it).
    pub fn remember(&self, id: &str, since_unix: i64, text: &str) {
        let mut e = Entry {
            since: since_unix,
            lines: VecDeque::new(),
            partial: String::new(),
            task: None,
        };
        e.push(text);
        self.lock().insert(id.to_string(), e);
    }

    /// The last `n` lines of the run that started at `since_unix`, if cached.
    pub fn tail(&self, id: &str, since_unix: i64, n: usize) -> Option<String> {
        let entries = self.lock();
        let e = entries.get(id).filter(|e| e.since == since_unix)?;
        Some(e.tail(n))
    }

    /// Drops a container's lines (it was removed).
    pub fn forget(&self, id: &str) {
        if let Some(task) = self.lock().remove(id).and_then(|e| e.task) {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_kept_and_tailed() {
        let mut e = Entry {
            since: 0,
            lines: VecDeque::new(),
            partial: String::new(),
            task: None,
        };
        e.push("a\nb");
        e.push("c\nd\n");
        assert_eq!(e.tail(10), "a\nbc\nd\n");
        assert_eq!(e.tail(1), "d\n");
        for i in 0..KEEP_LINES + 5 {
            e.push(&format!("{i}\n"));
        }
        assert_eq!(e.lines.len(), KEEP_LINES);
        assert!(e.tail(1).starts_with(&format!("{}", KEEP_LINES + 4)));
    }

    #[test]
    fn endless_lines_are_cut() {
        let mut e = Entry {
            since: 0,
            lines: VecDeque::new(),
            partial: String::new(),
            task: None,
        };
        for _ in 0..100 {
            e.push(&"x".repeat(1024)); // no newline, ever
        }
        assert!(e.partial.len() <= MAX_LINE_BYTES);
        assert!(e.lines.iter().all(|l| l.len() <= MAX_LINE_BYTES + 64));
        e.push(&format!("{}\n", "é".repeat(MAX_LINE_BYTES)));
        assert!(e.lines.back().unwrap().contains("line cut"));
    }

    #[tokio::test]
    async fn follow_fills_the_cache_from_the_runtime() {
        let logs = Logs::new(Arc::new(super::super::fake::FakeRuntime::new()));
        logs.follow("c1", 5);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if logs
                .tail("c1", 5, 10)
                .is_some_and(|t| t.contains("fake log of c1"))
            {
                break;
            }
            assert!(std::time::Instant::now() < deadline);
            tokio::task::yield_now().await;
        }
        assert_eq!(logs.tail("c1", 6, 10), None, "another run is not this one");
        logs.forget("c1");
        assert_eq!(logs.tail("c1", 5, 10), None);
    }
}

//! One clock for the controllers and the node agent. Monotonic time is tokio's
//! [`Instant`], so a test on tokio's paused clock (`start_paused = true`) moves every
//! timer, backoff and window at once; wall time (timestamps written into objects)
//! follows the same clock when the test asks for it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::time::Instant;

/// The clock; cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    // Some: wall time = this timestamp + the tokio time elapsed since this instant.
    base: Option<(Instant, jiff::Timestamp)>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    /// The real clock: tokio's monotonic time, the system's wall time.
    pub fn system() -> Clock {
        Clock { base: None }
    }

    /// A clock whose wall time is `start` now and then moves with tokio's clock, so a
    /// paused-clock test sees timestamps move with its `advance`s.
    pub fn following_tokio(start: jiff::Timestamp) -> Clock {
        Clock {
            base: Some((Instant::now(), start)),
        }
    }

    /// Monotonic now.
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// Wall-clock now.
    pub fn wall(&self) -> jiff::Timestamp {
        match self.base {
            None => jiff::Timestamp::now(),
            Some((at, start)) => {
                let elapsed = Instant::now().saturating_duration_since(at);
                jiff::SignedDuration::try_from(elapsed)
                    .ok()
                    .and_then(|d| start.checked_add(d).ok())
                    .unwrap_or(start)
            }
        }
    }

    /// Now as a Kubernetes `Time` (whole seconds).
    pub fn time(&self) -> Time {
        crate::util::k8s_time(self.wall())
    }

    /// Now as RFC 3339 text (whole seconds), as Kubernetes writes times.
    pub fn rfc3339(&self) -> String {
        crate::util::format_time(&self.time().0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn wall_time_follows_the_paused_clock() {
        let start: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let c = Clock::following_tokio(start);
        let t0 = c.now();
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(c.now() - t0, Duration::from_secs(90));
        assert_eq!(c.rfc3339(), "2026-01-01T00:01:30Z");
    }
}

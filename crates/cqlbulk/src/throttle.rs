//! What a run may ask of the cluster: rows and bytes per second, and requests in flight.
//! One [`Throttle`] is shared by every split of a scan (count, unload, verify) and by load's
//! writer, so the limits hold for the whole run however its requests interleave.

use std::time::Duration;

use tokio::sync::{Mutex, Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// The limits of a run; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    pub max_rows_per_second: Option<f64>,
    pub max_bytes_per_second: Option<f64>,
    pub max_concurrent_requests: Option<usize>,
}

/// Paces requests to [`Limits`]. Hand-written rather than `governor`: a read's cost (rows,
/// bytes of a page) is known only once the page has arrived, and can be far above any burst
/// size, which GCRA cells with integer quotas do not express.
#[derive(Debug)]
pub struct Throttle {
    limits: Limits,
    in_flight: Option<Semaphore>,
    /// When the next piece of work may start: each piece books its cost after the last.
    next: Mutex<Instant>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(Limits::default())
    }
}

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        let limits = Limits {
            max_rows_per_second: limits.max_rows_per_second.filter(|r| *r > 0.0),
            max_bytes_per_second: limits.max_bytes_per_second.filter(|r| *r > 0.0),
            max_concurrent_requests: limits.max_concurrent_requests.filter(|n| *n > 0),
        };
        Throttle {
            limits,
            in_flight: limits.max_concurrent_requests.map(Semaphore::new),
            next: Mutex::new(Instant::now()),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether a rate is set: callers skip the bookkeeping otherwise.
    pub fn paces(&self) -> bool {
        self.limits.max_rows_per_second.is_some() || self.limits.max_bytes_per_second.is_some()
    }

    /// A place among the requests in flight, held while the request runs.
    pub async fn request_slot(&self) -> Option<SemaphorePermit<'_>> {
        match &self.in_flight {
            // The semaphore is never closed.
            Some(slots) => slots.acquire().await.ok(),
            None => None,
        }
    }

    /// Books `rows` and `bytes` of work on the run's schedule and waits for its turn: the
    /// work takes `max(rows / row rate, bytes / byte rate)` seconds of it, so over any
    /// stretch of time the run stays at or below both rates.
    pub async fn pace(&self, rows: u64, bytes: u64) {
        if !self.paces() {
            return;
        }
        let by_rows = self.limits.max_rows_per_second.map_or(0.0, |rate| rows as f64 / rate);
        let by_bytes = self.limits.max_bytes_per_second.map_or(0.0, |rate| bytes as f64 / rate);
        let start = {
            let mut next = self.next.lock().await;
            // Idle time is not saved up: a pause does not earn a burst above the rate.
            let start = (*next).max(Instant::now());
            *next = start + Duration::from_secs_f64(by_rows.max(by_bytes));
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What: 20 pieces of 10 rows booked at 1,000 rows/s by 4 tasks at once take at least
    /// the 0.19 s the schedule allows before the 20th; pieces of 1,000 bytes at 10,000
    /// bytes/s (the tighter limit there) take at least 0.2 s for three; with no limit
    /// nothing waits. Why: the achieved rate must not exceed the limit however splits
    /// interleave. (Only lower bounds: this machine is shared, sleeps can run long.)
    #[tokio::test]
    async fn work_is_spread_over_the_schedule() {
        let limits = Limits {
            max_rows_per_second: Some(1000.0),
            max_bytes_per_second: Some(10_000.0),
            max_concurrent_requests: None,
        };
        let throttle = std::sync::Arc::new(Throttle::new(limits));
        let began = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let throttle = throttle.clone();
                tokio::spawn(async move {
                    for _ in 0..5 {
                        throttle.pace(10, 10).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let took = began.elapsed().as_secs_f64();
        assert!((0.19..5.0).contains(&took), "{took}");

        let throttle = Throttle::new(limits);
        let began = Instant::now();
        for _ in 0..3 {
            throttle.pace(1, 1_000).await;
        }
        let took = began.elapsed().as_secs_f64();
        assert!((0.2..5.0).contains(&took), "{took}");

        let free = Throttle::default();
        let began = Instant::now();
        free.pace(u64::MAX, u64::MAX).await;
        assert!(began.elapsed() < Duration::from_millis(100));
    }
}

//! The open loop: send `i` is due at `start + i / rate`, whatever happened to the
//! sends before it. A closed loop (send, wait, send) lowers its rate exactly when
//! the system slows down and so hides the slowdown; this one keeps sending and lets
//! the latencies show it.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// A fixed-rate schedule.
#[derive(Debug, Clone, Copy)]
pub struct OpenLoop {
    /// When send 0 is due.
    pub start: Instant,
    /// Sends per second.
    pub rate: f64,
}

impl OpenLoop {
    /// When send `i` is due.
    pub fn due(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// How many sends fall within `duration` of the start.
    pub fn sends_within(&self, duration: Duration) -> u64 {
        (duration.as_secs_f64() * self.rate).ceil() as u64
    }
}

/// What a dispatch loop did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dispatched {
    /// Sends started.
    pub sent: u64,
    /// From the first due time to the last send started.
    pub elapsed: Duration,
    /// The most a send started after its due time (the generator's own lag: when it
    /// grows, this machine cannot produce the requested rate and the figures say so).
    pub max_late: Duration,
}

impl Dispatched {
    /// Sends per second actually started.
    pub fn rate(&self) -> f64 {
        if self.elapsed.is_zero() {
            return self.sent as f64;
        }
        // `sent - 1` intervals between the first and the last send.
        (self.sent.saturating_sub(1)) as f64 / self.elapsed.as_secs_f64()
    }
}

/// Starts `send(i, context, item)` at each due time of `schedule` for `duration`,
/// each on a task of its own, and never waits for one to finish. Items come from
/// `items` (built ahead by a generator; when it falls behind, sends start late and
/// [`Dispatched::max_late`] says by how much); `prepare(i)` runs on this task just
/// before each send and gives it its context (e.g. the node it goes to). The loop ends early when `items` does.
pub async fn dispatch<T, C, P, S, F>(
    schedule: OpenLoop,
    duration: Duration,
    items: &mut mpsc::Receiver<T>,
    mut prepare: P,
    send: S,
) -> Dispatched
where
    P: FnMut(u64, &T) -> C,
    S: Fn(u64, C, T) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let count = schedule.sends_within(duration);
    let mut max_late = Duration::ZERO;
    let mut sent = 0;
    let mut last = schedule.start;
    for i in 0..count {
        let due = schedule.due(i);
        tokio::time::sleep_until(due).await;
        let Some(item) = items.recv().await else {
            break;
        };
        let context = prepare(i, &item);
        let now = Instant::now();
        max_late = max_late.max(now.saturating_duration_since(due));
        tokio::spawn(send(i, context, item));
        sent += 1;
        last = now;
    }
    Dispatched {
        sent,
        elapsed: last.saturating_duration_since(schedule.start),
        max_late,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use super::*;

    /// The target takes two seconds to answer each request: a closed loop would send
    /// one request in the first second; the open loop sends all 100, each on time.
    #[tokio::test(start_paused = true)]
    async fn the_rate_holds_when_the_target_is_slow() {
        let started: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
        let answered: Arc<Mutex<u64>> = Arc::default();
        let schedule = OpenLoop {
            start: Instant::now(),
            rate: 100.0,
        };
        let (s, a) = (started.clone(), answered.clone());
        let (tx, mut items) = mpsc::channel(1_000);
        for i in 0..1_000u64 {
            tx.try_send(i).unwrap();
        }
        let done = dispatch(
            schedule,
            Duration::from_secs(1),
            &mut items,
            |_, _| (),
            move |i, (), _| {
                let (s, a) = (s.clone(), a.clone());
                async move {
                    s.lock().unwrap().push((i, Instant::now()));
                    // The slow target.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    *a.lock().unwrap() += 1;
                }
            },
        )
        .await;
        assert_eq!(done.sent, 100);
        assert_eq!(done.max_late, Duration::ZERO);
        assert!((done.rate() - 100.0).abs() < 1.0, "rate {}", done.rate());
        // Every send started at its due time, before any answer came back.
        tokio::task::yield_now().await;
        let started = started.lock().unwrap().clone();
        assert_eq!(started.len(), 100);
        for (i, at) in started {
            assert_eq!(at, schedule.due(i), "send {i}");
        }
        assert_eq!(*answered.lock().unwrap(), 0);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(*answered.lock().unwrap(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_generator_that_runs_dry_ends_the_step() {
        let schedule = OpenLoop {
            start: Instant::now(),
            rate: 10.0,
        };
        let (tx, mut items) = mpsc::channel(10);
        for i in 0..5u64 {
            tx.try_send(i).unwrap();
        }
        drop(tx);
        let done = dispatch(
            schedule,
            Duration::from_secs(10),
            &mut items,
            |_, _| (),
            |_, (), _| async {},
        )
        .await;
        assert_eq!(done.sent, 5);
    }
}

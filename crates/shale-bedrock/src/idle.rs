//! An idle timer for streams: one timer per stream, pushed forward after every item, instead of a
//! new `tokio::time::timeout` per item (which registers a fresh timer — and costs a cross-thread
//! wake-up — for every frame of every stream).

use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Waits for the next item of a stream, giving up after `idle` of silence.
#[derive(Debug)]
pub struct IdleTimer {
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
}

/// The stream was silent for the whole idle period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idle;

impl IdleTimer {
    pub fn new(idle: Duration) -> Self {
        IdleTimer {
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// The next item (`Ok(None)` at the end), or `Err(Idle)` after `idle` without one. Either way
    /// the timer restarts for the next call. Cancel-safe, like `StreamExt::next`.
    pub async fn next<S: Stream + Unpin>(
        &mut self,
        stream: &mut S,
    ) -> Result<Option<S::Item>, Idle> {
        let result = tokio::select! {
            biased;
            item = stream.next() => Ok(item),
            _ = self.sleep.as_mut() => Err(Idle),
        };
        self.sleep.as_mut().reset(Instant::now() + self.idle);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn yields_items_then_reports_silence() {
        let mut timer = IdleTimer::new(Duration::from_secs(5));
        let mut items = futures::stream::iter([1, 2]);
        assert_eq!(timer.next(&mut items).await, Ok(Some(1)));
        assert_eq!(timer.next(&mut items).await, Ok(Some(2)));
        assert_eq!(timer.next(&mut items).await, Ok(None));
        let mut silent = futures::stream::pending::<u8>();
        let started = Instant::now();
        assert_eq!(timer.next(&mut silent).await, Err(Idle));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        // The timer restarted: another full period of silence is needed.
        assert_eq!(timer.next(&mut silent).await, Err(Idle));
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}

//! The agent's periodic wakeups (the collection and the SLI sample), kept by the kernel: a
//! `timerfd` on `CLOCK_MONOTONIC` watched by the runtime's epoll, so each period costs one
//! wakeup. A `tokio::time::interval` costs two or three: tokio's timer wheel files a 1-s
//! deadline in a 64-ms slot, wakes at the slot to file it again at millisecond precision, then
//! wakes at the deadline (strace of the agent: three `epoll_wait` returns per SLI sample). Where
//! no timerfd can be made (a seccomp filter that refuses it), the tokio interval is used.

use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A periodic tick; the first completes at once, like `tokio::time::interval`'s.
#[derive(Debug)]
pub struct Ticker {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Kernel(AsyncFd<OwnedFd>),
    /// The interval and when it last ticked.
    Tokio(tokio::time::Interval, Option<tokio::time::Instant>),
}

impl Ticker {
    /// Ticks every `period` (at least 1 ms). Ticks missed while the caller was busy are
    /// coalesced into the next one, which keeps the original grid. Must be called within a
    /// tokio runtime with I/O and time enabled.
    pub fn new(period: Duration) -> Self {
        let period = period.max(Duration::from_millis(1));
        let inner = match kernel(period) {
            Ok(fd) => Inner::Kernel(fd),
            Err(error) => {
                tracing::debug!(%error, "no timerfd: ticking with the runtime's timer");
                let mut i = tokio::time::interval(period);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                Inner::Tokio(i, None)
            }
        };
        Self { inner }
    }

    /// Whether the kernel keeps this ticker (a timerfd), not the runtime's timer wheel.
    pub fn in_kernel(&self) -> bool {
        matches!(self.inner, Inner::Kernel(_))
    }

    /// Waits for the next tick; returns how many periods it stands for (1, or more when
    /// ticks were missed while the caller was busy: they are coalesced into this one), so
    /// that a caller counting ticks keeps to the grid.
    pub async fn tick(&mut self) -> u64 {
        match &mut self.inner {
            Inner::Tokio(i, last) => {
                i.tick().await;
                // The interval says a missed tick's deadline, not how many were missed: the
                // periods since the last tick, by the clock, rounded.
                let now = tokio::time::Instant::now();
                let period = i.period().as_nanos().max(1);
                let periods = last.map_or(1, |l| ((now - l).as_nanos() + period / 2) / period);
                *last = Some(now);
                u64::try_from(periods).unwrap_or(u64::MAX).max(1)
            }
            Inner::Kernel(fd) => loop {
                let Ok(mut ready) = fd.readable().await else {
                    // The runtime lost the fd (it is shutting down): wait like a ticker would.
                    return std::future::pending::<u64>().await;
                };
                let mut count = [0u8; 8];
                match ready.try_io(|fd| {
                    nix::unistd::read(fd.get_ref(), &mut count).map_err(std::io::Error::from)
                }) {
                    // The expirations since the last read (never 0 once readable).
                    Ok(Ok(8)) => return u64::from_ne_bytes(count).max(1),
                    Ok(_) | Err(_) => continue,
                }
            },
        }
    }
}

/// A non-blocking timerfd expiring at once, then every `period`, registered with the runtime.
fn kernel(period: Duration) -> std::io::Result<AsyncFd<OwnedFd>> {
    let timer = TimerFd::new(
        ClockId::CLOCK_MONOTONIC,
        TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
    )?;
    timer.set(
        Expiration::IntervalDelayed(
            TimeSpec::from_duration(Duration::from_nanos(1)),
            TimeSpec::from_duration(period),
        ),
        TimerSetTimeFlags::empty(),
    )?;
    // Deprecated in tokio 1.54 as unsound for a `T` that does not own its fd (the fd could be
    // closed and reused while registered). An `OwnedFd` owned by the `AsyncFd` is closed only
    // when the `AsyncFd` drops it, after deregistering: the case the deprecation keeps sound.
    // Its replacement is an `unsafe fn`, which this crate forbids.
    #[allow(deprecated)]
    AsyncFd::with_interest(OwnedFd::from(timer), Interest::READABLE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The same behaviour from the timerfd and from the runtime's interval (the fallback).
    async fn ticks_then_coalesces(mut t: Ticker) {
        let start = Instant::now();
        assert_eq!(t.tick().await, 1);
        assert!(
            start.elapsed() < Duration::from_millis(40),
            "the first at once"
        );
        for n in 1..=4u32 {
            assert_eq!(t.tick().await, 1, "tick {n} stands for one period");
            let e = start.elapsed();
            assert!(e >= Duration::from_millis(50) * n, "tick {n} early: {e:?}");
        }
        // Busy for three periods: one tick for all of them, which says so, then the grid.
        std::thread::sleep(Duration::from_millis(160));
        let before = Instant::now();
        let periods = t.tick().await;
        assert!(
            before.elapsed() < Duration::from_millis(10),
            "the missed one at once"
        );
        assert!((3..=4).contains(&periods), "3 periods missed: {periods}");
        let before = Instant::now();
        assert_eq!(t.tick().await, 1);
        let wait = before.elapsed();
        assert!(
            wait <= Duration::from_millis(50),
            "then on the grid, not a period after the late tick: {wait:?}"
        );
    }

    #[test]
    fn ticks_at_once_then_every_period_and_coalesces_missed_ticks() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let t = Ticker::new(Duration::from_millis(50));
            assert!(t.in_kernel(), "this kernel has timerfd");
            ticks_then_coalesces(t).await;
            let mut i = tokio::time::interval(Duration::from_millis(50));
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            ticks_then_coalesces(Ticker {
                inner: Inner::Tokio(i, None),
            })
            .await;
        });
    }
}

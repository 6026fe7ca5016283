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
    Tokio(tokio::time::Interval),
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
                Inner::Tokio(i)
            }
        };
        Self { inner }
    }

    /// Whether the kernel keeps this ticker (a timerfd), not the runtime's timer wheel.
    pub fn in_kernel(&self) -> bool {
        matches!(self.inner, Inner::Kernel(_))
    }

    /// Waits for the next tick.
    pub async fn tick(&mut self) {
        match &mut self.inner {
            Inner::Tokio(i) => {
                i.tick().await;
            }
            Inner::Kernel(fd) => loop {
                let Ok(mut ready) = fd.readable().await else {
                    // The runtime lost the fd (it is shutting down): wait like a ticker would.
                    std::future::pending::<()>().await;
                    return;
                };
                let mut count = [0u8; 8];
                match ready.try_io(|fd| {
                    nix::unistd::read(fd.get_ref(), &mut count).map_err(std::io::Error::from)
                }) {
                    Ok(Ok(8)) => return,
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

    #[test]
    fn ticks_at_once_then_every_period_and_coalesces_missed_ticks() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut t = Ticker::new(Duration::from_millis(50));
            assert!(t.in_kernel(), "this kernel has timerfd");
            let start = Instant::now();
            t.tick().await;
            assert!(
                start.elapsed() < Duration::from_millis(40),
                "the first at once"
            );
            for n in 1..=4u32 {
                t.tick().await;
                let e = start.elapsed();
                assert!(e >= Duration::from_millis(50) * n, "tick {n} early: {e:?}");
            }
            // Busy for three periods: one tick for all of them, then the grid again.
            std::thread::sleep(Duration::from_millis(160));
            let before = Instant::now();
            t.tick().await;
            assert!(
                before.elapsed() < Duration::from_millis(10),
                "the missed one at once"
            );
            let before = Instant::now();
            t.tick().await;
            let wait = before.elapsed();
            assert!(
                wait <= Duration::from_millis(50),
                "then on the grid, not a period after the late tick: {wait:?}"
            );
        });
    }
}

//! Waiting: deadlines on the monotonic clock, and the spin-then-sleep policy every shmkit lock
//! uses before it sleeps in the kernel.
//!
//! A futex sleep and wake-up costs tens of microseconds on a virtual machine, while handing a
//! cache line to another core costs well under one. So a waiter first spins (with `pause`
//! instructions, then interleaved `sched_yield`s) for up to [`SPIN_BUDGET`], re-checking its
//! condition each round, and only then sleeps. An idle waiter therefore burns at most one spin
//! budget of CPU per wake-up, then none.

use std::time::{Duration, Instant};

/// How long a waiter spins before sleeping in the kernel.
pub(crate) const SPIN_BUDGET: Duration = Duration::from_micros(40);

/// A point on the monotonic clock after which a timed wait gives up, or never.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline: wait forever.
    pub(crate) const NEVER: Deadline = Deadline(None);

    /// `timeout` from now; a timeout too large to represent means never.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(timeout))
    }

    /// At `instant`.
    pub(crate) fn at(instant: Instant) -> Deadline {
        Deadline(Some(instant))
    }

    /// Time left: `None` for never, `Some(ZERO)` once passed.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        self.0.is_some_and(|d| Instant::now() >= d)
    }

    /// The shorter of the time left and `cap`.
    pub(crate) fn capped(&self, cap: Duration) -> Duration {
        self.remaining().map_or(cap, |r| r.min(cap))
    }
}

/// The spin half of spin-then-sleep. Call [`spin`](Backoff::spin) after each failed check; it
/// returns `false` once the caller should sleep instead.
#[derive(Debug)]
pub(crate) struct Backoff {
    round: u32,
    started: Option<Instant>,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff {
            round: 0,
            started: None,
        }
    }

    /// Spins a little (more each round); `false` when the spin budget is spent.
    #[inline]
    pub(crate) fn spin(&mut self) -> bool {
        self.round += 1;
        if self.round <= 6 {
            for _ in 0..(1u32 << self.round) {
                std::hint::spin_loop();
            }
            return true;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        if self.round.is_multiple_of(8) && started.elapsed() >= SPIN_BUDGET {
            return false;
        }
        if self.round.is_multiple_of(4) {
            std::thread::yield_now();
        } else {
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
        true
    }

    /// Starts a new spin budget (after a sleep).
    pub(crate) fn reset(&mut self) {
        self.round = 0;
        self.started = None;
    }
}

//! [`Sleepers`]: the "is anyone asleep in the kernel?" counter that lets `Condvar`, `CondvarAny`,
//! `Semaphore` and `Barrier` skip the wake-up system call when nobody sleeps.
//!
//! # The protocol (a Dekker handshake with the futex word)
//!
//! * A waiter about to sleep on futex word `w` calls [`register`](Sleepers::register)
//!   (sequentially consistent), re-reads `w` (sequentially consistent), and sleeps only if `w`
//!   still holds the value it waits to see change. After the sleep it calls
//!   [`unregister`](Sleepers::unregister).
//! * A waker first changes `w` (sequentially consistent read-modify-write), then calls
//!   [`any`](Sleepers::any) (sequentially consistent) and makes the `futex_wake` system call only
//!   if it returns `true`.
//!
//! In the single total order of sequentially consistent operations either the waiter's re-read
//! comes after the waker's change (the waiter does not sleep), or the waker's `any` comes after
//! the waiter's `register` (the waker makes the system call, and the kernel's own ordering
//! between `FUTEX_WAIT`'s compare and `FUTEX_WAKE` does the rest). So no wake-up is lost, and a
//! wake-up nobody needs costs no system call.
//!
//! # The shared word
//!
//! | value | meaning | written by |
//! |-------|---------|------------|
//! | `n`   | at most `n` waiters may be asleep (or about to sleep) on the futex word | waiters, `+1` before a sleep, `-1` after it, both saturating |
//!
//! A waiter that dies between `register` and `unregister` (for instance killed by `SIGKILL` in
//! `futex_wait`) leaves the count one too high for good. That only costs every later waker a
//! spare `futex_wake` system call (about a microsecond); nothing else depends on the exact value.
//! The count may err high, never low: it only ever goes below the true number of sleepers if
//! another process writes garbage into it. Both updates saturate, so garbage near `u32::MAX`
//! never wraps to zero (which would lose wake-ups); it stays "someone may sleep".
//!
//! Any bit pattern is a valid state; zero is the initial one.

use std::sync::atomic::{AtomicU32, Ordering};

/// How many waiters may be asleep on a futex word (an over-estimate, never an under-estimate).
#[repr(transparent)]
#[derive(Debug, Default)]
pub(crate) struct Sleepers(AtomicU32);

impl Sleepers {
    /// No sleepers.
    pub(crate) const fn new() -> Sleepers {
        Sleepers(AtomicU32::new(0))
    }

    /// Counts the caller in, before it re-checks its futex word and sleeps.
    #[inline]
    pub(crate) fn register(&self) {
        // fetch_update is a CAS loop; never fails since the closure always returns Some.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(1))
            });
    }

    /// Counts the caller out, after its sleep.
    #[inline]
    pub(crate) fn unregister(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(1))
            });
    }

    /// Whether anyone may be asleep: the waker's check, after it changed the futex word.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.0.load(Ordering::SeqCst) != 0
    }

    /// The current count (a snapshot, for `Debug` output).
    pub(crate) fn snapshot(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

//! [`Semaphore`]: a process-shared counting semaphore (Boost's `interprocess_semaphore`).
//!
//! # Algorithm
//!
//! Two 32-bit words (`#[repr(C)]`, 8 bytes): `count`, the number of available units and the futex
//! word, and `sleepers`, how many waiters may be asleep on it (see `sleepers.rs`).
//!
//! * **post**: increment `count` with a compare-and-swap that refuses to pass `u32::MAX`; then,
//!   if anyone may sleep, `futex_wake` one sleeper. No system call when nobody sleeps.
//! * **wait**: decrement `count` with a compare-and-swap while it is above zero. At zero, spin
//!   (the [`Backoff`](super::wait) policy, about 40 µs) re-trying; then count in as a sleeper,
//!   re-read `count` and `futex_wait(count, 0)`; count out and try again.
//!
//! A sleeper re-checks the count at least every [`RECHECK`] (1 s) even when nobody wakes it. That
//! bounds the one case the wake-up protocol cannot cover: a waiter woken by a `post` and killed
//! before it took the unit; the unit stays in `count`, but the wake-up is spent, and the other
//! sleepers would otherwise sleep on with a unit available.
//!
//! # Shared words and crashes
//!
//! | word | value | written by | a process killed here leaves |
//! |------|-------|------------|------------------------------|
//! | `count` | available units, `0..=u32::MAX` | `post` (`+1`), `wait` (`-1`), each one CAS | nothing half-done: each change is one atomic instruction. A process killed after taking a unit took it (as if it had returned and then died) |
//! | `sleepers` | upper bound on sleepers | waiters: `+1` before a sleep, `-1` after (saturating) | a waiter killed while waiting leaves it one too high: every later post makes one spare `futex_wake` system call. The kernel drops a killed sleeper from the futex queue, so a post wakes a live waiter |
//!
//! A waiter killed between being woken and taking its unit leaves the unit in `count`; the other
//! sleepers find it within [`RECHECK`]. Any bit pattern is a valid state (a garbage count is
//! just a count); all zeros is a semaphore with no units.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::sleepers::Sleepers;
use super::wait::{Backoff, Deadline};
use crate::error::{Error, ErrorKind, Result};
use crate::shm_safe::ShmSafe;
use crate::sys::{self, FutexWait};

/// The longest a sleeping waiter goes without re-checking the count by itself. Only the rare
/// crash described in the module docs needs it, so it is long: an idle waiter wakes once a
/// second.
pub(crate) const RECHECK: Duration = Duration::from_secs(1);

/// A counting semaphore that works between processes: place it in shared memory and every
/// process that maps it shares the count.
///
/// 8 bytes; all zeros is a semaphore with a count of 0, so fresh shared memory needs no
/// initialisation (write [`Semaphore::new(n)`](Semaphore::new) with
/// [`MappedRegion::put`](crate::MappedRegion::put) for another initial count).
///
/// [`post`](Semaphore::post) and a [`wait`](Semaphore::wait) that finds a unit are one atomic
/// instruction each and make no system call unless someone sleeps. A waiter at zero spins
/// briefly, then sleeps in the kernel.
///
/// # Differences from Boost
///
/// * Robust: a process killed while waiting does not hang the others (see the module source for
///   what each crash leaves behind).
/// * Timeouts are [`Duration`]s or [`Instant`]s on the monotonic clock; a zero timeout is a
///   [`try_wait`](Semaphore::try_wait).
/// * `post` at `u32::MAX` is an error instead of overflowing.
/// * [`value`](Semaphore::value) gives a snapshot of the count (Boost has none).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use shmkit::sync::Semaphore;
///
/// let sem = Arc::new(Semaphore::new(0));
/// let s = Arc::clone(&sem);
/// let t = std::thread::spawn(move || s.post().unwrap());
/// sem.wait(); // returns once the other thread posted
/// assert_eq!(sem.value(), 0);
/// # t.join().unwrap();
/// ```
#[repr(C)]
#[derive(Default)]
pub struct Semaphore {
    count: AtomicU32,
    sleepers: Sleepers,
}

#[allow(unsafe_code)] // only this impl: the file has no other unsafe code
// SAFETY: two AtomicU32s (any bit pattern valid, no pointers), repr(C), Send + Sync, no drop glue.
unsafe impl ShmSafe for Semaphore {
    const FINGERPRINT: u64 =
        crate::fingerprint::primitive("shmkit::sync::Semaphore", size_of::<Semaphore>());
}

impl Semaphore {
    /// A semaphore holding `initial` units.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Semaphore;
    ///
    /// static SLOTS: Semaphore = Semaphore::new(4);
    /// assert!(SLOTS.try_wait());
    /// assert_eq!(SLOTS.value(), 3);
    /// ```
    pub const fn new(initial: u32) -> Semaphore {
        Semaphore {
            count: AtomicU32::new(initial),
            sleepers: Sleepers::new(),
        }
    }

    /// Adds one unit and wakes one sleeping waiter, if any. No system call when nobody sleeps.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the count is already `u32::MAX` (it is left unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, sync::Semaphore};
    ///
    /// let sem = Semaphore::new(u32::MAX - 1);
    /// sem.post()?;
    /// assert_eq!(sem.post().unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// assert_eq!(sem.value(), u32::MAX);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn post(&self) -> Result<()> {
        if self
            .count
            .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |c| c.checked_add(1))
            .is_err()
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "semaphore post: the count is already u32::MAX",
            ));
        }
        if self.sleepers.any() {
            sys::futex_wake(&self.count, 1);
        }
        Ok(())
    }

    /// Takes a unit if one is available now; never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// assert!(sem.try_wait());
    /// assert!(!sem.try_wait());
    /// ```
    #[inline]
    pub fn try_wait(&self) -> bool {
        let mut c = self.count.load(Ordering::Relaxed);
        while c != 0 {
            match self
                .count
                .compare_exchange_weak(c, c - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
        false
    }

    /// Takes a unit, waiting as long as it takes.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(2);
    /// sem.wait();
    /// sem.wait();
    /// assert_eq!(sem.value(), 0);
    /// ```
    pub fn wait(&self) {
        if !self.try_wait() {
            let taken = self.wait_slow(Deadline::NEVER);
            debug_assert!(taken, "a wait without deadline only returns with a unit");
        }
    }

    /// Takes a unit, waiting at most `timeout` on the monotonic clock; `false` if none came in
    /// time. A zero timeout is a [`try_wait`](Semaphore::try_wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use shmkit::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(0);
    /// let start = Instant::now();
    /// assert!(!sem.wait_timeout(Duration::from_millis(10)));
    /// assert!(start.elapsed() >= Duration::from_millis(10));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.try_wait() || (!timeout.is_zero() && self.wait_slow(Deadline::after(timeout)))
    }

    /// Takes a unit, waiting until `deadline` at most; `false` if none came in time. A deadline
    /// already past is a [`try_wait`](Semaphore::try_wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use shmkit::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// let soon = Instant::now() + Duration::from_millis(5);
    /// assert!(sem.wait_until(soon));
    /// assert!(!sem.wait_until(soon));
    /// ```
    pub fn wait_until(&self, deadline: Instant) -> bool {
        self.try_wait() || self.wait_slow(Deadline::at(deadline))
    }

    #[cold]
    fn wait_slow(&self, deadline: Deadline) -> bool {
        let mut backoff = Backoff::new();
        loop {
            if self.try_wait() {
                return true;
            }
            if deadline.expired() {
                return false;
            }
            if backoff.spin() {
                continue;
            }
            self.sleepers.register();
            let slept = if self.count.load(Ordering::SeqCst) == 0 {
                sys::futex_wait(&self.count, 0, Some(deadline.capped(RECHECK)))
            } else {
                FutexWait::Changed
            };
            self.sleepers.unregister();
            if slept != FutexWait::TimedOut {
                // A unit was probably posted, but a spinning waiter may take it first: spin
                // again briefly before sleeping once more.
                backoff.reset();
            }
        }
    }

    /// The number of available units now (a snapshot that may be stale at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(3);
    /// sem.post()?;
    /// assert_eq!(sem.value(), 4);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn value(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .field("sleepers", &self.sleepers.snapshot())
            .finish()
    }
}

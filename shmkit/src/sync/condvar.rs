//! [`Condvar`]: a process-shared condition variable for [`Mutex`](super::Mutex), shaped like
//! `std::sync::Condvar`.
//!
//! # Algorithm
//!
//! Two 32-bit words, placed side by side (`#[repr(C)]`, 8 bytes):
//!
//! * `seq`, a futex word counting notifications (wrapping);
//! * `sleepers`, how many waiters may be asleep in `futex_wait` on `seq` (see `sleepers.rs`).
//!
//! **Wait**: read `seq` *while still holding the mutex*, release the mutex, then spin (the
//! [`Backoff`] policy, about 40 µs) watching `seq`; if it has not moved, count in as a sleeper,
//! re-read `seq`, and `futex_wait(seq, old)` (bounded by the deadline, if any); count out; once
//! `seq` moved (or the deadline passed), take the mutex again. **Notify**: increment `seq`; if
//! anyone may sleep, `futex_wake` one (`notify_one`) or all (`notify_all`) of them. A notify with
//! nobody asleep is one atomic increment and one load: no system call.
//!
//! No wake-up is lost: a notifier that changed the protected data under the mutex increments
//! `seq` after the waiter read it (the waiter read it before it released the mutex the notifier
//! then took), so either the waiter sees the new value while spinning, or the kernel's
//! `futex_wait` finds `seq != old` and returns at once, or the waiter is asleep and counted, and
//! the notifier wakes it. Like `std`'s, waits may also return spuriously; the `_while` methods
//! loop on a predicate.
//!
//! # Shared words and crashes
//!
//! | word | value | written by | a process killed here leaves |
//! |------|-------|------------|------------------------------|
//! | `seq` | any (only changes matter) | notifiers: `+1` per notify | a notifier killed between its increment and its `futex_wake` wakes only waiters that were still spinning; sleepers stay asleep until the next notify, as if it had died just before notifying |
//! | `sleepers` | upper bound on sleepers | waiters: `+1` before a sleep, `-1` after (saturating) | a waiter killed while waiting (asleep or spinning) leaves the count one too high: every later notify makes one spare `futex_wake` system call; nothing else changes. Other waiters are not affected: the kernel drops a killed sleeper from the futex queue, so a `notify_one` wakes a live waiter. |
//!
//! Nothing in the condition variable is "held", so a dead waiter or notifier can never block the
//! others. The mutex has its own robustness: a waiter that relocks it after its owner died gets
//! [`OwnerDied`] carrying the guard.
//!
//! Any bit pattern of the two words is a valid state; all zeros is the initial one.
//!
//! The wait machinery ([`WaitQueue`]) is shared with [`CondvarAny`](crate::sync::CondvarAny).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::condvar_any::Lockable;
use super::error::{LockResult, OwnerDied};
use super::mutex::MutexGuard;
use super::sleepers::Sleepers;
use super::wait::{Backoff, Deadline};
use crate::shm_safe::ShmSafe;
use crate::sys;

/// `futex_wake` count meaning "everyone" (the kernel takes an `int`).
const WAKE_ALL: u32 = i32::MAX as u32;

/// The notification sequence word and its sleepers count: the machinery of [`Condvar`] and
/// [`CondvarAny`](crate::sync::CondvarAny). See the module docs for the protocol.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct WaitQueue {
    seq: AtomicU32,
    sleepers: Sleepers,
}

impl WaitQueue {
    /// The one wait of both condition variables: take a ticket, release `guard`'s lock, wait
    /// for a notification or the deadline, take the lock again. An expired deadline returns at
    /// once without releasing the lock.
    pub(crate) fn wait_deadline<G: Lockable>(
        &self,
        guard: G,
        deadline: Deadline,
    ) -> LockResult<(G, WaitTimeoutResult)> {
        if deadline.expired() {
            return Ok((guard, WaitTimeoutResult(true)));
        }
        let ticket = self.ticket();
        let unlocked = G::unlock(guard);
        let result = WaitTimeoutResult(!self.wait(ticket, deadline));
        match G::relock(unlocked) {
            Ok(g) => Ok((g, result)),
            Err(died) => Err(OwnerDied::new((died.into_inner(), result))),
        }
    }

    /// Waits while `condition` holds, until the deadline (the `_while` variants of both
    /// condition variables).
    pub(crate) fn wait_deadline_while<G: Lockable>(
        &self,
        mut guard: G,
        deadline: Deadline,
        mut condition: impl FnMut(&mut G) -> bool,
    ) -> LockResult<(G, WaitTimeoutResult)> {
        loop {
            if !condition(&mut guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            if deadline.expired() {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            guard = self.wait_deadline(guard, deadline)?.0;
        }
    }

    pub(crate) const fn new() -> WaitQueue {
        WaitQueue {
            seq: AtomicU32::new(0),
            sleepers: Sleepers::new(),
        }
    }

    /// The current sequence number. Read it *before* releasing the lock the waiter holds.
    #[inline]
    pub(crate) fn ticket(&self) -> u32 {
        self.seq.load(Ordering::SeqCst)
    }

    /// Waits until the sequence moves away from `ticket` (`true`), or `deadline` passes with it
    /// unmoved (`false`). Spins first, then sleeps in the kernel.
    pub(crate) fn wait(&self, ticket: u32, deadline: Deadline) -> bool {
        let mut backoff = Backoff::new();
        let mut spinning = true;
        loop {
            if self.seq.load(Ordering::Acquire) != ticket {
                return true;
            }
            if deadline.expired() {
                return false;
            }
            if spinning && backoff.spin() {
                continue;
            }
            // After a spurious wake-up (seq unchanged) sleep again at once: a notify has not come.
            spinning = false;
            self.sleepers.register();
            if self.seq.load(Ordering::SeqCst) == ticket {
                sys::futex_wait(&self.seq, ticket, deadline.remaining());
            }
            self.sleepers.unregister();
        }
    }

    /// Notifies: moves the sequence and wakes up to `n` sleepers if anyone may sleep.
    #[inline]
    pub(crate) fn notify(&self, n: u32) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.any() {
            sys::futex_wake(&self.seq, n);
        }
    }

    pub(crate) fn notify_one(&self) {
        self.notify(1);
    }

    pub(crate) fn notify_all(&self) {
        self.notify(WAKE_ALL);
    }

    /// (sequence, sleepers) snapshot for `Debug`.
    pub(crate) fn snapshot(&self) -> (u32, u32) {
        (self.seq.load(Ordering::Relaxed), self.sleepers.snapshot())
    }
}

/// Whether a timed wait on a [`Condvar`] or [`CondvarAny`](crate::sync::CondvarAny) returned
/// because its time ran out, as `std::sync::WaitTimeoutResult`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit::sync::{Condvar, Mutex};
///
/// let (m, cv) = (Mutex::new(0u32), Condvar::new());
/// let (_guard, result) = cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(1)).unwrap();
/// assert!(result.timed_out());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(pub(crate) bool);

impl WaitTimeoutResult {
    /// `true` if the wait ended because the timeout elapsed (for the `_while` variants: the
    /// condition still held at the deadline); `false` if it was notified (or woke spuriously)
    /// before, or the condition stopped holding.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::{Condvar, Mutex};
    ///
    /// let (m, cv) = (Mutex::new(true), Condvar::new());
    /// // The condition does not hold: returns at once, not timed out.
    /// let (_g, r) = cv
    ///     .wait_timeout_while(m.lock().unwrap(), Duration::from_secs(60), |ready| !*ready)
    ///     .unwrap();
    /// assert!(!r.timed_out());
    /// ```
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable that works between processes, used with a shmkit [`Mutex`](crate::sync::Mutex).
///
/// Place it in shared memory next to (or inside the same `#[repr(C)]` struct as) the mutex it is
/// used with: every process that maps it can wait and notify. It is 8 bytes, and all zeros is a
/// valid new condition variable, so fresh shared memory needs no initialisation.
///
/// Waiting releases the mutex, spins briefly watching for a notification, then sleeps in the
/// kernel; notifying with nobody asleep makes no system call. See the module source for the
/// algorithm and what a crash leaves behind: in short, a process killed while waiting never
/// blocks the others.
///
/// # Differences from `std` and Boost
///
/// * Relocking after the wait can report [`OwnerDied`] (carrying the guard) when the mutex's
///   owner died meanwhile; `std` reports poisoning the same way.
/// * One condition variable may be used with different mutexes over time (`std` panics); it
///   only matters that waiters and notifiers of one condition use the same mutex.
/// * Timeouts are [`Duration`]s or [`Instant`]s on the monotonic clock; Boost takes absolute UTC
///   times. A zero timeout, or a deadline in the past, returns at once (timed out) without
///   releasing the mutex.
/// * Robust: Boost's (glibc's) process-shared condition variable can be left unusable by a
///   process killed inside it; this one cannot.
///
/// # Examples
///
/// Threads here; processes work the same with the pair placed in shared memory (for example with
/// [`MappedRegion::get`](crate::MappedRegion::get)).
///
/// ```
/// use std::sync::Arc;
/// use shmkit::sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = Arc::clone(&pair);
/// std::thread::spawn(move || {
///     let (lock, cvar) = &*pair2;
///     *lock.lock().unwrap() = true;
///     cvar.notify_one();
/// });
///
/// let (lock, cvar) = &*pair;
/// let started = cvar.wait_while(lock.lock().unwrap(), |started| !*started).unwrap();
/// assert!(*started);
/// ```
#[repr(C)]
#[derive(Default)]
pub struct Condvar {
    queue: WaitQueue,
}

#[allow(unsafe_code)] // only this impl: the file has no other unsafe code
// SAFETY: two AtomicU32s (any bit pattern valid, no pointers), repr(C), Send + Sync, no drop glue.
unsafe impl ShmSafe for Condvar {
    const FINGERPRINT: u64 =
        crate::fingerprint::primitive("shmkit::sync::Condvar", size_of::<Condvar>());
}

impl Condvar {
    /// A new condition variable with nobody waiting (all bits zero).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Condvar;
    ///
    /// static READY: Condvar = Condvar::new();
    /// READY.notify_all(); // nobody waits: no system call
    /// ```
    pub const fn new() -> Condvar {
        Condvar {
            queue: WaitQueue::new(),
        }
    }

    /// Releases the mutex, waits until notified, and locks the mutex again.
    ///
    /// May also return spuriously, without a notification: check the condition in a loop, or
    /// use [`wait_while`](Condvar::wait_while).
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] carrying the guard (the mutex *is* locked again) if, when relocking, a
    /// previous owner of the mutex had died holding it and the data was not marked consistent
    /// since.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use shmkit::sync::{Condvar, Mutex};
    ///
    /// let shared = Arc::new((Mutex::new(0u32), Condvar::new()));
    /// let s = Arc::clone(&shared);
    /// let t = std::thread::spawn(move || {
    ///     *s.0.lock().unwrap() = 7;
    ///     s.1.notify_one();
    /// });
    /// let mut g = shared.0.lock().unwrap();
    /// while *g == 0 {
    ///     g = shared.1.wait(g).unwrap();
    /// }
    /// assert_eq!(*g, 7);
    /// # drop(g);
    /// # t.join().unwrap();
    /// ```
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        // Read the sequence before releasing the mutex: a notify after our release moves it.
        let ticket = self.queue.ticket();
        let mutex = MutexGuard::unlock_into_mutex(guard);
        self.queue.wait(ticket, Deadline::NEVER);
        mutex.lock()
    }

    /// Waits while `condition` holds: returns with the mutex locked once `condition(&mut data)`
    /// is `false` (checked first, before any wait).
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] carrying the guard, as for [`wait`](Condvar::wait); the condition is not
    /// evaluated on possibly inconsistent data, the error is returned at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use shmkit::sync::{Condvar, Mutex};
    ///
    /// let shared = Arc::new((Mutex::new(Vec::<u32>::new()), Condvar::new()));
    /// let s = Arc::clone(&shared);
    /// let t = std::thread::spawn(move || {
    ///     for i in 0..3 {
    ///         s.0.lock().unwrap().push(i);
    ///         s.1.notify_all();
    ///     }
    /// });
    /// let g = shared.1.wait_while(shared.0.lock().unwrap(), |v| v.len() < 3).unwrap();
    /// assert_eq!(*g, [0, 1, 2]);
    /// # drop(g);
    /// # t.join().unwrap();
    /// ```
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`wait`](Condvar::wait), but waits at most `timeout`, measured on the monotonic
    /// clock. A zero timeout returns at once, timed out, without releasing the mutex.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] carrying the guard and the result, as for [`wait`](Condvar::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use shmkit::sync::{Condvar, Mutex};
    ///
    /// let (m, cv) = (Mutex::new(()), Condvar::new());
    /// let start = Instant::now();
    /// let (_g, r) = cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(20)).unwrap();
    /// assert!(r.timed_out() && start.elapsed() >= Duration::from_millis(20));
    /// ```
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        self.wait_deadline(guard, Deadline::after(timeout))
    }

    /// Like [`wait`](Condvar::wait), but waits until `deadline` at most (monotonic clock). A
    /// deadline already past returns at once, timed out, without releasing the mutex.
    ///
    /// # Errors
    ///
    /// As [`wait_timeout`](Condvar::wait_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use shmkit::sync::{Condvar, Mutex};
    ///
    /// let (m, cv) = (Mutex::new(()), Condvar::new());
    /// let deadline = Instant::now() + Duration::from_millis(10);
    /// let (_g, r) = cv.wait_until(m.lock().unwrap(), deadline).unwrap();
    /// assert!(r.timed_out() && Instant::now() >= deadline);
    /// ```
    pub fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Instant,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        self.wait_deadline(guard, Deadline::at(deadline))
    }

    /// Waits while `condition` holds, at most `timeout`. Returns the guard and whether the time
    /// ran out with the condition still holding. The condition is checked first: if it does not
    /// hold, this returns at once (not timed out), whatever the timeout.
    ///
    /// # Errors
    ///
    /// As [`wait_while`](Condvar::wait_while).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::{Condvar, Mutex};
    ///
    /// let (m, cv) = (Mutex::new(0u32), Condvar::new());
    /// let (g, r) = cv
    ///     .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(5), |n| *n == 0)
    ///     .unwrap();
    /// assert!(r.timed_out());
    /// assert_eq!(*g, 0);
    /// ```
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        self.queue
            .wait_deadline_while(guard, Deadline::after(timeout), |g| condition(&mut **g))
    }

    fn wait_deadline<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Deadline,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        self.queue.wait_deadline(guard, deadline)
    }

    /// Wakes one waiter (at least one, if any waits; spinning waiters may all see it). Makes no
    /// system call when nobody sleeps.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Condvar;
    ///
    /// let cv = Condvar::new();
    /// cv.notify_one(); // nobody waits: a no-op apart from one atomic increment
    /// ```
    pub fn notify_one(&self) {
        self.queue.notify_one();
    }

    /// Wakes every waiter. Makes no system call when nobody sleeps.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use shmkit::sync::{Condvar, Mutex};
    ///
    /// let shared = Arc::new((Mutex::new(0u32), Condvar::new()));
    /// let waiters: Vec<_> = (0..3)
    ///     .map(|_| {
    ///         let s = Arc::clone(&shared);
    ///         std::thread::spawn(move || {
    ///             drop(s.1.wait_while(s.0.lock().unwrap(), |go| *go == 0).unwrap());
    ///         })
    ///     })
    ///     .collect();
    /// *shared.0.lock().unwrap() = 1;
    /// shared.1.notify_all();
    /// for w in waiters {
    ///     w.join().unwrap();
    /// }
    /// ```
    pub fn notify_all(&self) {
        self.queue.notify_all();
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (seq, sleepers) = self.queue.snapshot();
        f.debug_struct("Condvar")
            .field("seq", &seq)
            .field("sleepers", &sleepers)
            .finish()
    }
}

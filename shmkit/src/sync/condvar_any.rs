//! [`CondvarAny`]: a process-shared condition variable for any lock whose guard implements
//! [`Lockable`] (Boost's `interprocess_condition_any`).
//!
//! # Algorithm
//!
//! The same as [`Condvar`](crate::sync::Condvar)'s, on the same two words (`#[repr(C)]`,
//! 8 bytes): a futex sequence word `seq` and a `sleepers` count. Wait reads `seq` while the
//! caller still holds its lock, releases the lock through [`Lockable::unlock`], spins then sleeps
//! until `seq` moves (or the deadline passes), and takes the lock again through
//! [`Lockable::relock`]. Notify increments `seq` and makes the `futex_wake` system call only if
//! someone may sleep.
//!
//! Boost's `condition_any` needs an internal mutex to close the window between releasing the
//! user's lock and starting to wait. The sequence word closes it without one: a notification in
//! that window moves `seq` away from the value read before the release, so the wait returns at
//! once.
//!
//! # Shared words and crashes
//!
//! | word | value | written by | a process killed here leaves |
//! |------|-------|------------|------------------------------|
//! | `seq` | any (only changes matter) | notifiers: `+1` per notify | a notifier killed between its increment and its `futex_wake` wakes only waiters still spinning, as if it died before notifying |
//! | `sleepers` | upper bound on sleepers | waiters: `+1` before a sleep, `-1` after (saturating) | a waiter killed while waiting leaves it one too high: later notifies make a spare `futex_wake` system call; nothing else changes |
//!
//! Nothing here is ever "held", so a dead process cannot block the others through the
//! condition variable. Any bit pattern is a valid state; all zeros is the initial one.

use std::fmt;
use std::time::{Duration, Instant};

use super::condvar::{WaitQueue, WaitTimeoutResult};
use super::error::LockResult;
use super::mutex::{Mutex, MutexGuard};
use super::recursive::{RecursiveMutex, RecursiveMutexGuard};
use super::wait::Deadline;
use crate::shm_safe::ShmSafe;

/// A lock guard that [`CondvarAny`] can release while it waits and take again afterwards.
///
/// Implemented for [`MutexGuard`] and [`RecursiveMutexGuard`] (not nested; see its impl);
/// implement it for your own guards to wait on them. The functions take the guard by value and
/// are not methods, so they cannot shadow methods of the data behind a guard.
///
/// An implementation whose `unlock` does not really release the lock makes waits deadlock
/// (notifiers cannot take the lock), but it cannot cause undefined behaviour.
///
/// # Examples
///
/// ```
/// use shmkit::sync::{Lockable, Mutex};
///
/// let m = Mutex::new(1u32);
/// let unlocked = Lockable::unlock(m.lock().unwrap());
/// assert!(!m.is_locked());
/// let guard = <shmkit::sync::MutexGuard<'_, u32> as Lockable>::relock(unlocked).unwrap();
/// assert_eq!(*guard, 1);
/// ```
pub trait Lockable: Sized {
    /// What is kept while the lock is released: enough to take it again (typically a reference
    /// to the lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Lockable, Mutex, MutexGuard};
    ///
    /// let m = Mutex::new(());
    /// // For a mutex guard, what is kept is the mutex itself.
    /// let guard: MutexGuard<'_, ()> = m.lock().unwrap();
    /// let unlocked: <MutexGuard<'_, ()> as Lockable>::Unlocked = Lockable::unlock(guard);
    /// assert!(std::ptr::eq(unlocked, &m));
    /// ```
    type Unlocked;

    /// Releases the lock held by `guard`.
    ///
    /// # Panics
    ///
    /// Implementations may panic when the guard cannot release the lock (see the impl for
    /// [`RecursiveMutexGuard`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Lockable, Mutex};
    ///
    /// let m = Mutex::new(());
    /// let _unlocked = Lockable::unlock(m.lock().unwrap());
    /// assert!(!m.is_locked());
    /// ```
    fn unlock(guard: Self) -> Self::Unlocked;

    /// Takes the lock again, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](crate::sync::OwnerDied) carrying the guard (the lock *is* held) if the lock reports that a previous
    /// owner died holding it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Lockable, Mutex, MutexGuard};
    ///
    /// let m = Mutex::new(7);
    /// let unlocked = Lockable::unlock(m.lock().unwrap());
    /// let guard = <MutexGuard<'_, i32> as Lockable>::relock(unlocked).unwrap();
    /// assert_eq!(*guard, 7);
    /// ```
    fn relock(unlocked: Self::Unlocked) -> LockResult<Self>;
}

impl<'a, T: ?Sized> Lockable for MutexGuard<'a, T> {
    type Unlocked = &'a Mutex<T>;

    fn unlock(guard: Self) -> &'a Mutex<T> {
        MutexGuard::unlock_into_mutex(guard)
    }

    fn relock(mutex: &'a Mutex<T>) -> LockResult<Self> {
        mutex.lock()
    }
}

/// Only the thread's *only* guard of a [`RecursiveMutex`] can be waited with: releasing one of
/// several nested guards would leave the lock held, and the wait would deadlock.
impl<'a, T> Lockable for RecursiveMutexGuard<'a, T> {
    type Unlocked = &'a RecursiveMutex<T>;

    /// Releases the lock.
    ///
    /// # Panics
    ///
    /// If this thread holds other guards of the same lock (nested locking). The guards are then
    /// dropped while unwinding, which marks the data inconsistent as any panic under the lock
    /// does.
    fn unlock(guard: Self) -> &'a RecursiveMutex<T> {
        match RecursiveMutexGuard::unlock_into_mutex(guard) {
            Ok(mutex) => mutex,
            Err(_nested) => panic!(
                "CondvarAny: cannot wait with a nested RecursiveMutex guard (this thread holds \
                 the lock more than once, so releasing one guard would not release it)"
            ),
        }
    }

    fn relock(mutex: &'a RecursiveMutex<T>) -> LockResult<Self> {
        mutex.lock()
    }
}

/// A condition variable that works between processes with any lock whose guard implements
/// [`Lockable`]: shmkit's [`Mutex`] and [`RecursiveMutex`] guards, and others as they implement
/// it (Boost's `interprocess_condition_any`).
///
/// It is 8 bytes, all zeros is a valid new condition variable, and it behaves as
/// [`Condvar`](crate::sync::Condvar) does: waits spin briefly then sleep, notifying with nobody
/// asleep makes no system call, a process killed while waiting never blocks the others, waits
/// may return spuriously, and timeouts are on the monotonic clock (a zero timeout returns at
/// once, timed out, without releasing the lock). Predicates of the `_while` methods get the guard
/// itself (`&mut G`), since guards differ in what they give access to.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use shmkit::sync::{CondvarAny, RecursiveMutex};
///
/// let shared = Arc::new((RecursiveMutex::new(AtomicU32::new(0)), CondvarAny::new()));
/// let s = Arc::clone(&shared);
/// let t = std::thread::spawn(move || {
///     s.0.lock().unwrap().store(1, Ordering::Relaxed);
///     s.1.notify_all();
/// });
/// let (lock, cv) = &*shared;
/// let g = cv.wait_while(lock.lock().unwrap(), |g| g.load(Ordering::Relaxed) == 0).unwrap();
/// assert_eq!(g.load(Ordering::Relaxed), 1);
/// # drop(g);
/// # t.join().unwrap();
/// ```
#[repr(C)]
#[derive(Default)]
pub struct CondvarAny {
    queue: WaitQueue,
}

#[allow(unsafe_code)] // only this impl: the file has no other unsafe code
// SAFETY: two AtomicU32s (any bit pattern valid, no pointers), repr(C), Send + Sync, no drop glue.
unsafe impl ShmSafe for CondvarAny {
    const FINGERPRINT: u64 =
        crate::fingerprint::primitive("shmkit::sync::CondvarAny", size_of::<CondvarAny>());
}

impl CondvarAny {
    /// A new condition variable with nobody waiting (all bits zero).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::CondvarAny;
    ///
    /// static CHANGED: CondvarAny = CondvarAny::new();
    /// CHANGED.notify_one();
    /// ```
    pub const fn new() -> CondvarAny {
        CondvarAny {
            queue: WaitQueue::new(),
        }
    }

    /// Releases the lock, waits until notified, and takes the lock again. May return spuriously.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](crate::sync::OwnerDied) carrying the guard (the lock is held again) if relocking reports that a
    /// previous owner died holding the lock.
    ///
    /// # Panics
    ///
    /// If the guard cannot release its lock (a nested [`RecursiveMutexGuard`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use shmkit::sync::{CondvarAny, Mutex};
    ///
    /// let shared = Arc::new((Mutex::new(false), CondvarAny::new()));
    /// let s = Arc::clone(&shared);
    /// let t = std::thread::spawn(move || {
    ///     *s.0.lock().unwrap() = true;
    ///     s.1.notify_one();
    /// });
    /// let mut g = shared.0.lock().unwrap();
    /// while !*g {
    ///     g = shared.1.wait(g).unwrap();
    /// }
    /// # drop(g);
    /// # t.join().unwrap();
    /// ```
    pub fn wait<G: Lockable>(&self, guard: G) -> LockResult<G> {
        let ticket = self.queue.ticket();
        let unlocked = G::unlock(guard);
        self.queue.wait(ticket, Deadline::NEVER);
        G::relock(unlocked)
    }

    /// Waits while `condition(&mut guard)` holds (checked first, before any wait).
    ///
    /// # Errors
    ///
    /// As [`wait`](CondvarAny::wait); the error is returned at once, without evaluating the
    /// condition on possibly inconsistent data.
    ///
    /// # Panics
    ///
    /// As [`wait`](CondvarAny::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use shmkit::sync::{CondvarAny, Mutex};
    ///
    /// let shared = Arc::new((Mutex::new(0u32), CondvarAny::new()));
    /// let s = Arc::clone(&shared);
    /// let t = std::thread::spawn(move || {
    ///     *s.0.lock().unwrap() = 3;
    ///     s.1.notify_all();
    /// });
    /// let g = shared.1.wait_while(shared.0.lock().unwrap(), |g| **g == 0).unwrap();
    /// assert_eq!(*g, 3);
    /// # drop(g);
    /// # t.join().unwrap();
    /// ```
    pub fn wait_while<G: Lockable, F>(&self, mut guard: G, mut condition: F) -> LockResult<G>
    where
        F: FnMut(&mut G) -> bool,
    {
        while condition(&mut guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`wait`](CondvarAny::wait), but waits at most `timeout` (monotonic clock). A zero
    /// timeout returns at once, timed out, without releasing the lock.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](crate::sync::OwnerDied) carrying the guard and the result, as for [`wait`](CondvarAny::wait).
    ///
    /// # Panics
    ///
    /// As [`wait`](CondvarAny::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::{CondvarAny, RecursiveMutex};
    ///
    /// let (m, cv) = (RecursiveMutex::new(()), CondvarAny::new());
    /// let (_g, r) = cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(5)).unwrap();
    /// assert!(r.timed_out());
    /// ```
    pub fn wait_timeout<G: Lockable>(
        &self,
        guard: G,
        timeout: Duration,
    ) -> LockResult<(G, WaitTimeoutResult)> {
        self.wait_deadline(guard, Deadline::after(timeout))
    }

    /// Like [`wait`](CondvarAny::wait), but waits until `deadline` at most (monotonic clock).
    ///
    /// # Errors
    ///
    /// As [`wait_timeout`](CondvarAny::wait_timeout).
    ///
    /// # Panics
    ///
    /// As [`wait`](CondvarAny::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use shmkit::sync::{CondvarAny, Mutex};
    ///
    /// let (m, cv) = (Mutex::new(()), CondvarAny::new());
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// let (_g, r) = cv.wait_until(m.lock().unwrap(), deadline).unwrap();
    /// assert!(r.timed_out() && Instant::now() >= deadline);
    /// ```
    pub fn wait_until<G: Lockable>(
        &self,
        guard: G,
        deadline: Instant,
    ) -> LockResult<(G, WaitTimeoutResult)> {
        self.wait_deadline(guard, Deadline::at(deadline))
    }

    /// Waits while `condition(&mut guard)` holds, at most `timeout`; the result tells whether
    /// time ran out with the condition still holding.
    ///
    /// # Errors
    ///
    /// As [`wait_while`](CondvarAny::wait_while).
    ///
    /// # Panics
    ///
    /// As [`wait`](CondvarAny::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::{CondvarAny, Mutex};
    ///
    /// let (m, cv) = (Mutex::new(0u32), CondvarAny::new());
    /// let (_g, r) = cv
    ///     .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(5), |g| **g == 0)
    ///     .unwrap();
    /// assert!(r.timed_out());
    /// ```
    pub fn wait_timeout_while<G: Lockable, F>(
        &self,
        guard: G,
        timeout: Duration,
        condition: F,
    ) -> LockResult<(G, WaitTimeoutResult)>
    where
        F: FnMut(&mut G) -> bool,
    {
        self.queue
            .wait_deadline_while(guard, Deadline::after(timeout), condition)
    }

    fn wait_deadline<G: Lockable>(
        &self,
        guard: G,
        deadline: Deadline,
    ) -> LockResult<(G, WaitTimeoutResult)> {
        self.queue.wait_deadline(guard, deadline)
    }

    /// Wakes one waiter (at least one, if any waits). No system call when nobody sleeps.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::CondvarAny;
    ///
    /// CondvarAny::new().notify_one();
    /// ```
    pub fn notify_one(&self) {
        self.queue.notify_one();
    }

    /// Wakes every waiter. No system call when nobody sleeps.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::CondvarAny;
    ///
    /// CondvarAny::new().notify_all();
    /// ```
    pub fn notify_all(&self) {
        self.queue.notify_all();
    }
}

impl fmt::Debug for CondvarAny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (seq, sleepers) = self.queue.snapshot();
        f.debug_struct("CondvarAny")
            .field("seq", &seq)
            .field("sleepers", &sleepers)
            .finish()
    }
}

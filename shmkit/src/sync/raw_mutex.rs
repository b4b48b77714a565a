//! [`RawMutex`]: a robust, process-shared mutex on one futex word.
#![allow(unsafe_code)]
//!
//! # The lock word
//!
//! | bits  | meaning | written by |
//! |-------|---------|------------|
//! | 0..30 | owner's thread id (`gettid`), 0 when unlocked | the locker (CAS), the unlocker |
//! | 30    | `INCONSISTENT`: an owner died (or panicked) holding the lock, and nobody has marked the data consistent since | a locker taking over from a dead owner; cleared by [`mark_consistent`](RawMutex::mark_consistent) |
//! | 31    | `WAITERS`: someone may sleep in `futex_wait`; the unlocker must wake one | a waiter before it sleeps |
//!
//! States and what a crash in each leaves behind:
//!
//! * `0`: unlocked. Lock is one CAS `0 → tid`, unlock one CAS `tid → 0`: no system call.
//! * `tid`: locked, nobody sleeping. If the owner dies, the next locker finds `tid` dead (after
//!   its spin phase and one check interval), CASes the word to `its_tid | INCONSISTENT` and is
//!   told [`Acquired::OwnerDied`].
//! * `tid | WAITERS`: locked with sleepers. Sleepers wake at least every check interval (1 ms
//!   doubling to 50 ms) to probe the owner; if it died, one takes over as above, keeping
//!   `WAITERS` so the others are woken in turn.
//! * `INCONSISTENT` with or without an owner: a recovering owner released without marking
//!   consistent; every later locker is told `OwnerDied` until someone marks it.
//!
//! Any bit pattern is a valid state: a garbage owner id is probed like a real one and, being
//! dead, taken over. Zeroed memory is an unlocked mutex.
//!
//! # Limits of the liveness probe
//!
//! Owners are identified by thread id, probed with `kill(tid, 0)` and `/proc/<tid>/stat`. All
//! processes sharing a lock must be in one PID namespace (containers with `--ipc=host` but
//! separate PID namespaces are not supported). If a dead owner's id is reused by a new thread
//! before a waiter probes it, the waiter keeps waiting (until its timeout) for as long as that
//! thread lives. Linux hands out ids cyclically up to `pid_max` (4,194,304 by default on 64-bit),
//! so this needs millions of thread creations in the window.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::wait::{Backoff, Deadline};
use crate::sys::{self, FutexWait};

const TID_MASK: u32 = (1 << 30) - 1;
const INCONSISTENT: u32 = 1 << 30;
const WAITERS: u32 = 1 << 31;

/// The first and the longest interval between owner-liveness probes while sleeping.
const FIRST_CHECK: Duration = Duration::from_millis(1);
const MAX_CHECK: Duration = Duration::from_millis(50);

/// How a lock was acquired.
///
/// # Examples
///
/// ```
/// use shmkit::sync::{Acquired, RawMutex};
///
/// let m = RawMutex::new();
/// assert_eq!(m.lock(), Acquired::Consistent);
/// // SAFETY: this thread holds the lock.
/// unsafe { m.unlock() };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "OwnerDied means the protected data may be inconsistent"]
pub enum Acquired {
    /// Normally: the data is as the previous owner left it when it unlocked.
    Consistent,
    /// A previous owner died (or panicked) while holding the lock and nobody has marked the data
    /// consistent since. Repair it, then call [`RawMutex::mark_consistent`].
    OwnerDied,
}

/// A robust, process-shared mutex without data: one 32-bit word, placeable in shared memory.
///
/// Most code wants [`Mutex<T>`](crate::sync::Mutex). `RawMutex` is the building block, and it
/// implements [`lock_api::RawMutex`] so `lock_api::Mutex<shmkit::sync::RawMutex, T>` works too
/// (through `lock_api`, owner death is not reported: the lock is simply acquired).
///
/// # Examples
///
/// ```
/// use shmkit::sync::{Acquired, RawMutex};
///
/// let m = RawMutex::new();
/// assert_eq!(m.lock(), Acquired::Consistent);
/// assert!(m.try_lock().is_none());
/// // SAFETY: this thread holds the lock.
/// unsafe { m.unlock() };
/// assert!(!m.is_locked());
/// ```
#[repr(transparent)]
#[derive(Debug, Default)]
pub struct RawMutex {
    word: AtomicU32,
}

impl RawMutex {
    /// An unlocked mutex (all bits zero).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawMutex};
    ///
    /// let m = RawMutex::new();
    /// assert!(!m.is_locked());
    /// ```
    pub const fn new() -> RawMutex {
        RawMutex {
            word: AtomicU32::new(0),
        }
    }

    #[inline]
    fn status(word: u32) -> Acquired {
        if word & INCONSISTENT != 0 {
            Acquired::OwnerDied
        } else {
            Acquired::Consistent
        }
    }

    /// Acquires the lock, waiting as long as it takes. A dead owner is detected and the lock
    /// taken over ([`Acquired::OwnerDied`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawMutex};
    ///
    /// let m = RawMutex::new();
    /// assert_eq!(m.lock(), Acquired::Consistent);
    /// assert!(m.is_owned_by_current_thread());
    /// // SAFETY: this thread holds the lock.
    /// unsafe { m.unlock() };
    /// ```
    #[inline]
    pub fn lock(&self) -> Acquired {
        self.lock_as(sys::current_tid())
    }

    /// [`lock`](RawMutex::lock) for the calling thread, whose id `tid` the caller already has
    /// (the message queue's hot path keeps it in its lock guard).
    #[inline]
    pub(crate) fn lock_as(&self, tid: u32) -> Acquired {
        if self
            .word
            .compare_exchange(0, tid, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Acquired::Consistent;
        }
        self.lock_slow(tid, Deadline::NEVER)
            .expect("a wait without deadline only returns once locked")
    }

    /// Acquires the lock if it is free right now. Does not probe the owner's liveness (that
    /// needs a system call); `lock` and the timed variants do.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawMutex};
    ///
    /// let m = RawMutex::new();
    /// assert_eq!(m.try_lock(), Some(Acquired::Consistent));
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert_eq!(m.try_lock(), None));
    /// });
    /// // SAFETY: this thread holds the lock.
    /// unsafe { m.unlock() };
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<Acquired> {
        let tid = sys::current_tid();
        let v = self.word.load(Ordering::Relaxed);
        if v & TID_MASK != 0 {
            return None;
        }
        self.word
            .compare_exchange(v, v | tid, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(Self::status)
    }

    /// Acquires the lock, waiting at most `timeout` (monotonic clock). A zero timeout is a
    /// [`try_lock`](RawMutex::try_lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawMutex};
    ///
    /// let m = RawMutex::new();
    /// use std::time::Duration;
    /// m.lock();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert_eq!(m.lock_timeout(Duration::from_millis(10)), None));
    /// });
    /// // SAFETY: this thread holds the lock.
    /// unsafe { m.unlock() };
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Option<Acquired> {
        if timeout.is_zero() {
            return self.try_lock();
        }
        self.lock_deadline(Deadline::after(timeout))
    }

    /// Acquires the lock, waiting until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawMutex};
    ///
    /// let m = RawMutex::new();
    /// use std::time::{Duration, Instant};
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(m.lock_until(deadline), Some(Acquired::Consistent));
    /// // SAFETY: this thread holds the lock.
    /// unsafe { m.unlock() };
    /// ```
    pub fn lock_until(&self, deadline: Instant) -> Option<Acquired> {
        self.lock_deadline(Deadline::at(deadline))
    }

    pub(crate) fn lock_deadline(&self, deadline: Deadline) -> Option<Acquired> {
        let tid = sys::current_tid();
        if self
            .word
            .compare_exchange(0, tid, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Some(Acquired::Consistent);
        }
        self.lock_slow(tid, deadline)
    }

    #[cold]
    fn lock_slow(&self, tid: u32, deadline: Deadline) -> Option<Acquired> {
        let mut backoff = Backoff::new();
        // Once we have slept, we acquire with WAITERS set: others may still sleep.
        let mut waiters = 0;
        let mut interval = FIRST_CHECK;
        loop {
            let v = self.word.load(Ordering::Relaxed);
            let owner = v & TID_MASK;
            if owner == 0 {
                let new = tid | (v & (INCONSISTENT | WAITERS)) | waiters;
                match self
                    .word
                    .compare_exchange_weak(v, new, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) => return Some(Self::status(v)),
                    Err(_) => continue,
                }
            }
            if deadline.expired() {
                return None;
            }
            if backoff.spin() {
                continue;
            }
            if v & WAITERS == 0
                && self
                    .word
                    .compare_exchange_weak(v, v | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            waiters = WAITERS;
            let slept = sys::futex_wait(&self.word, v | WAITERS, Some(deadline.capped(interval)));
            if slept == FutexWait::TimedOut
                && self.word.load(Ordering::Relaxed) & TID_MASK == owner
                && !sys::is_alive(owner)
            {
                // The owner died holding the lock: take it over, marked inconsistent.
                let v = self.word.load(Ordering::Relaxed);
                if v & TID_MASK == owner
                    && self
                        .word
                        .compare_exchange(
                            v,
                            tid | INCONSISTENT | WAITERS,
                            Ordering::Acquire,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    return Some(Acquired::OwnerDied);
                }
            }
            if slept == FutexWait::TimedOut {
                interval = (interval * 2).min(MAX_CHECK);
            }
            backoff.reset();
        }
    }

    /// Releases the lock, leaving the consistency mark as it is. Does nothing if the calling
    /// thread does not hold it (for example a process `fork`ed while its parent held the lock,
    /// dropping its copy of the guard).
    ///
    /// # Safety
    ///
    /// The calling thread holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawMutex};
    ///
    /// let m = RawMutex::new();
    /// m.lock();
    /// // SAFETY: this thread holds the lock.
    /// unsafe { m.unlock() };
    /// assert!(!m.is_locked());
    /// ```
    #[inline]
    pub unsafe fn unlock(&self) {
        // SAFETY: forwarded contract; this is the calling thread's id.
        unsafe { self.unlock_as(sys::current_tid()) }
    }

    /// [`unlock`](RawMutex::unlock) with the calling thread's id already at hand. Like
    /// `unlock`, it only releases a lock that `tid` owns.
    ///
    /// # Safety
    ///
    /// The calling thread holds the lock and `tid` is its id.
    #[inline]
    pub(crate) unsafe fn unlock_as(&self, tid: u32) {
        if self
            .word
            .compare_exchange(tid, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(tid);
        }
    }

    #[cold]
    fn unlock_slow(&self, tid: u32) {
        // Clear the owner and WAITERS, keep the INCONSISTENT mark, and wake one sleeper; but
        // only if the caller really owns the lock.
        let mut v = self.word.load(Ordering::Relaxed);
        loop {
            if v & TID_MASK != tid {
                return;
            }
            match self.word.compare_exchange_weak(
                v,
                v & INCONSISTENT,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        if v & WAITERS != 0 {
            sys::futex_wake(&self.word, 1);
        }
    }

    /// Marks the protected data consistent again after an [`Acquired::OwnerDied`]: later lockers
    /// get [`Acquired::Consistent`].
    ///
    /// # Safety
    ///
    /// The calling thread holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawMutex};
    ///
    /// let m = RawMutex::new();
    /// m.lock();
    /// // SAFETY: this thread holds the lock.
    /// unsafe {
    ///     m.mark_inconsistent(); // as if this owner died
    ///     m.unlock();
    /// }
    /// assert_eq!(m.lock(), Acquired::OwnerDied);
    /// // SAFETY: this thread holds the lock.
    /// unsafe {
    ///     m.mark_consistent(); // repaired
    ///     m.unlock();
    /// }
    /// assert_eq!(m.lock(), Acquired::Consistent);
    /// // SAFETY: this thread holds the lock.
    /// unsafe { m.unlock() };
    /// ```
    pub unsafe fn mark_consistent(&self) {
        self.word.fetch_and(!INCONSISTENT, Ordering::Relaxed);
    }

    /// Marks the protected data inconsistent, as if the owner had died (used when a guard is
    /// dropped during a panic).
    ///
    /// # Safety
    ///
    /// The calling thread holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawMutex};
    ///
    /// let m = RawMutex::new();
    /// m.lock();
    /// // SAFETY: this thread holds the lock.
    /// unsafe {
    ///     m.mark_inconsistent();
    ///     m.unlock();
    /// }
    /// assert!(!m.is_consistent());
    /// ```
    pub unsafe fn mark_inconsistent(&self) {
        self.word.fetch_or(INCONSISTENT, Ordering::Relaxed);
    }

    /// Whether the lock is held (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawMutex};
    ///
    /// let m = RawMutex::new();
    /// m.lock();
    /// assert!(m.is_locked());
    /// // SAFETY: this thread holds the lock.
    /// unsafe { m.unlock() };
    /// assert!(!m.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.word.load(Ordering::Relaxed) & TID_MASK != 0
    }

    /// Whether the data is marked consistent (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawMutex};
    ///
    /// let m = RawMutex::new();
    /// assert!(m.is_consistent());
    /// ```
    pub fn is_consistent(&self) -> bool {
        self.word.load(Ordering::Relaxed) & INCONSISTENT == 0
    }

    /// Whether the calling thread holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Acquired, RawMutex};
    ///
    /// let m = RawMutex::new();
    /// m.lock();
    /// assert!(m.is_owned_by_current_thread());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(!m.is_owned_by_current_thread()));
    /// });
    /// // SAFETY: this thread holds the lock.
    /// unsafe { m.unlock() };
    /// ```
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.word.load(Ordering::Relaxed) & TID_MASK == sys::current_tid()
    }
}

/// A lock word taken apart, for [`crate::inspect`], which reads other processes' locks without
/// using them. Any word decodes (see the module docs: every bit pattern is a state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WordState {
    /// The owner's thread id; 0 when unlocked.
    pub(crate) owner: u32,
    /// An owner died (or panicked) holding the lock and nobody marked the data consistent since.
    pub(crate) inconsistent: bool,
    /// Someone may sleep waiting for the lock.
    pub(crate) waiters: bool,
}

impl WordState {
    /// The state a lock word holds.
    pub(crate) fn decode(word: u32) -> WordState {
        WordState {
            owner: word & TID_MASK,
            inconsistent: word & INCONSISTENT != 0,
            waiters: word & WAITERS != 0,
        }
    }
}

// SAFETY: one atomic word; any bit pattern is a valid state (see the module docs); no pointers.
unsafe impl crate::shm_safe::ShmSafe for RawMutex {
    const FINGERPRINT: u64 =
        crate::fingerprint::primitive("shmkit::sync::RawMutex", size_of::<RawMutex>());
}

// SAFETY: `lock`/`try_lock` provide mutual exclusion with Acquire ordering and `unlock` releases
// with Release ordering. Guards must stay on the locking thread (the owner is a thread id), so
// the marker is `GuardNoSend`.
unsafe impl lock_api::RawMutex for RawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawMutex = RawMutex::new();
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        let _ = RawMutex::lock(self);
    }

    fn try_lock(&self) -> bool {
        RawMutex::try_lock(self).is_some()
    }

    unsafe fn unlock(&self) {
        // SAFETY: lock_api only unlocks a mutex held by this thread.
        unsafe { RawMutex::unlock(self) }
    }

    fn is_locked(&self) -> bool {
        RawMutex::is_locked(self)
    }
}

// SAFETY: the timed variants keep the guarantees of `lock`.
unsafe impl lock_api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    fn try_lock_for(&self, timeout: Duration) -> bool {
        self.lock_timeout(timeout).is_some()
    }

    fn try_lock_until(&self, timeout: Instant) -> bool {
        self.lock_until(timeout).is_some()
    }
}

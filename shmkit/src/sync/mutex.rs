//! [`Mutex<T>`]: a robust, process-shared mutex protecting a `T`, shaped like `std::sync::Mutex`.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::error::{LockResult, OwnerDied, Recover, TryLockError, TryLockResult, sealed};
use super::raw_mutex::{Acquired, RawMutex};
use super::wait::Deadline;
use crate::fingerprint;
use crate::shm_safe::ShmSafe;

/// A mutual-exclusion lock that works between processes: place it in shared memory, and every
/// process that maps it shares the lock and the `T` it protects.
///
/// The lock is a single futex word ([`RawMutex`]): locking and unlocking without contention are
/// one atomic instruction each; a contended locker spins briefly, then sleeps in the kernel.
/// All bits zero is an unlocked mutex holding `T`'s zero value, so freshly created shared memory
/// needs no initialisation.
///
/// # Differences from `std` and Boost
///
/// * **Owner death is reported, not fatal.** If a process dies (even by `SIGKILL`) or a thread
///   panics while holding the lock, the next locker gets [`OwnerDied`] carrying the guard: repair
///   the data, then mark it consistent ([`MutexGuard::mark_consistent`] or
///   [`OwnerDied::recover`]). Until someone marks it, every locker is told. Boost's
///   `interprocess_mutex` instead becomes permanently unusable (`not_recoverable`).
/// * **Timeouts are durations on the monotonic clock** ([`lock_timeout`](Mutex::lock_timeout)),
///   immune to wall-clock changes; Boost takes absolute UTC times.
/// * Guards are `!Send`: the owner is identified by thread id.
///
/// # Examples
///
/// ```
/// use shmkit::sync::Mutex;
///
/// let m = Mutex::new(5u64);
/// *m.lock().unwrap() += 1;
/// assert_eq!(*m.lock().unwrap(), 6);
/// ```
///
/// Across processes, place it in shared memory, e.g. with [`MappedRegion::get`](crate::MappedRegion::get)
/// or as a named object.
#[repr(C)]
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `T` to one thread at a time, as std's Mutex does.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: `RawMutex` is one atomic word for which any bit pattern is valid and which holds no
// pointer (thread ids mean the same in every process of one PID namespace); `T: ShmSafe` covers
// the data; `repr(C)` fixes the layout.
unsafe impl<T: ShmSafe> ShmSafe for Mutex<T> {
    const FINGERPRINT: u64 =
        fingerprint::combine(fingerprint::fnv1a(b"shmkit::sync::Mutex"), T::FINGERPRINT);
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Mutex;
    ///
    /// static COUNT: Mutex<u32> = Mutex::new(0); // const: usable in statics
    /// *COUNT.lock().unwrap() += 1;
    /// assert_eq!(*COUNT.lock().unwrap(), 1);
    /// ```
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value, consuming the mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = shmkit::sync::Mutex::new(vec![1, 2]);
    /// assert_eq!(m.into_inner(), [1, 2]);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    fn guard(&self, how: Acquired) -> LockResult<MutexGuard<'_, T>> {
        let g = MutexGuard {
            mutex: self,
            _not_send: PhantomData,
        };
        match how {
            Acquired::Consistent => Ok(g),
            Acquired::OwnerDied => Err(OwnerDied::new(g)),
        }
    }

    fn try_guard<'a>(
        &'a self,
        how: Option<Acquired>,
        failed: TryLockError<MutexGuard<'a, T>>,
    ) -> TryLockResult<MutexGuard<'a, T>> {
        match how {
            Some(how) => self.guard(how).map_err(TryLockError::from),
            None => Err(failed),
        }
    }

    /// Acquires the lock, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (carrying the guard: the lock *is* held) if a previous owner died holding
    /// it and the data has not been marked consistent since.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Mutex;
    ///
    /// let m = Mutex::new(0u32);
    /// *m.lock().unwrap() += 1;
    /// // After an owner died the guard comes inside the error: repair, then mark consistent.
    /// let guard = m.lock().unwrap_or_else(|died| died.recover(|g| **g = 0));
    /// assert_eq!(*guard, 1);
    /// ```
    #[inline]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.guard(self.raw.lock())
    }

    /// Acquires the lock if it is free now.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is held; [`TryLockError::OwnerDied`] as for
    /// [`lock`](Mutex::lock). A lock held by a dead owner reads as held here: only blocking and
    /// timed locks probe the owner.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Mutex, TryLockError};
    ///
    /// let m = Mutex::new(());
    /// let guard = m.lock().unwrap();
    /// assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    /// drop(guard);
    /// assert!(m.try_lock().is_ok());
    /// ```
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        self.try_guard(self.raw.try_lock(), TryLockError::WouldBlock)
    }

    /// Acquires the lock, waiting at most `timeout` on the monotonic clock. Zero is a try.
    ///
    /// # Errors
    ///
    /// [`TryLockError::TimedOut`]; [`TryLockError::OwnerDied`] as for [`lock`](Mutex::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::{Mutex, TryLockError};
    ///
    /// let m = Mutex::new(());
    /// let guard = m.lock().unwrap();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let r = m.lock_timeout(Duration::from_millis(10));
    ///         assert!(matches!(r, Err(TryLockError::TimedOut)));
    ///     });
    /// });
    /// drop(guard);
    /// assert!(m.lock_timeout(Duration::from_millis(10)).is_ok());
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<MutexGuard<'_, T>> {
        if timeout.is_zero() {
            return self.try_guard(self.raw.try_lock(), TryLockError::TimedOut);
        }
        self.try_guard(
            self.raw.lock_deadline(Deadline::after(timeout)),
            TryLockError::TimedOut,
        )
    }

    /// Acquires the lock, waiting until `deadline` at most.
    ///
    /// # Errors
    ///
    /// As [`lock_timeout`](Mutex::lock_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use shmkit::sync::Mutex;
    ///
    /// let m = Mutex::new(5);
    /// let guard = m.lock_until(Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(*guard, 5);
    /// ```
    pub fn lock_until(&self, deadline: Instant) -> TryLockResult<MutexGuard<'_, T>> {
        self.try_guard(self.raw.lock_until(deadline), TryLockError::TimedOut)
    }

    /// Whether the lock is held by anyone (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = shmkit::sync::Mutex::new(());
    /// let guard = m.lock().unwrap();
    /// assert!(m.is_locked());
    /// drop(guard);
    /// assert!(!m.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Whether the data is marked consistent (a snapshot): `false` after an owner died until
    /// someone marks it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Mutex, MutexGuard};
    ///
    /// let m = std::sync::Arc::new(Mutex::new(0u32));
    /// // A thread panics holding the lock: the next locker is told.
    /// let held = m.clone();
    /// let died = std::thread::spawn(move || {
    ///     let _guard = held.lock().unwrap();
    ///     panic!("dies holding the lock");
    /// });
    /// assert!(died.join().is_err());
    /// assert!(!m.is_consistent());
    /// let mut guard = m.lock().unwrap_err().into_inner();
    /// MutexGuard::mark_consistent(&mut guard);
    /// drop(guard);
    /// assert!(m.is_consistent());
    /// ```
    pub fn is_consistent(&self) -> bool {
        self.raw.is_consistent()
    }

    /// The protected value, through exclusive access (no locking needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = shmkit::sync::Mutex::new(1);
    /// *m.get_mut() = 2; // `&mut`: nobody else can hold the lock
    /// assert_eq!(*m.lock().unwrap(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The raw lock underneath.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = shmkit::sync::Mutex::new(());
    /// let guard = m.lock().unwrap();
    /// assert!(m.raw().is_owned_by_current_thread());
    /// drop(guard);
    /// ```
    pub fn raw(&self) -> &RawMutex {
        &self.raw
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.raw.try_lock() {
            Some(how) => {
                // SAFETY: we hold the lock until the unlock below.
                d.field("data", &unsafe { &*self.data.get() });
                d.field("consistent", &(how == Acquired::Consistent));
                // SAFETY: locked just above by this thread.
                unsafe { self.raw.unlock() };
            }
            None => {
                d.field("data", &format_args!("<locked>"));
            }
        }
        d.finish_non_exhaustive()
    }
}

/// Access to the data of a locked [`Mutex`]; unlocks when dropped.
///
/// If dropped while the thread panics, the data is marked inconsistent (the next locker gets
/// [`OwnerDied`]), as `std`'s poisoning does.
///
/// # Examples
///
/// ```
/// use shmkit::sync::Mutex;
///
/// let m = Mutex::new(String::new());
/// {
///     let mut guard = m.lock().unwrap();
///     guard.push_str("hi"); // DerefMut to the data
/// } // unlocked here
/// assert_eq!(*m.lock().unwrap(), "hi");
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing `&MutexGuard` between threads only gives `&T`, which needs `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T: ?Sized> MutexGuard<'_, T> {
    /// Marks the data consistent after an [`OwnerDied`]: later lockers lock normally.
    /// (An associated function, so it cannot shadow a method of `T`.)
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Mutex, MutexGuard};
    ///
    /// let m = std::sync::Arc::new(Mutex::new(0u32));
    /// // A thread panics holding the lock: the next locker is told.
    /// let held = m.clone();
    /// let died = std::thread::spawn(move || {
    ///     let _guard = held.lock().unwrap();
    ///     panic!("dies holding the lock");
    /// });
    /// assert!(died.join().is_err());
    /// let mut guard = m.lock().unwrap_err().into_inner();
    /// *guard = 0; // repair
    /// MutexGuard::mark_consistent(&mut guard);
    /// drop(guard);
    /// assert!(m.lock().is_ok());
    /// ```
    pub fn mark_consistent(this: &mut Self) {
        // SAFETY: the guard proves this thread holds the lock.
        unsafe { this.mutex.raw.mark_consistent() };
    }

    /// The mutex this guard locks.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{Mutex, MutexGuard};
    ///
    /// let m = Mutex::new(());
    /// let guard = m.lock().unwrap();
    /// assert!(std::ptr::eq(MutexGuard::mutex(&guard), &m));
    /// ```
    pub fn mutex(this: &Self) -> &Mutex<T> {
        this.mutex
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Releases the lock and returns the mutex, for condition variables that take it again
    /// after waiting.
    pub(crate) fn unlock_into_mutex(this: Self) -> &'a Mutex<T> {
        let mutex = this.mutex;
        drop(this);
        mutex
    }
}

impl<T: ?Sized> sealed::Sealed for MutexGuard<'_, T> {}

impl<T: ?Sized> Recover for MutexGuard<'_, T> {
    fn mark_consistent(&mut self) {
        MutexGuard::mark_consistent(self);
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no one else accesses the data.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // SAFETY: the guard proves this thread holds the lock.
            unsafe { self.mutex.raw.mark_inconsistent() };
        }
        // SAFETY: as above.
        unsafe { self.mutex.raw.unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

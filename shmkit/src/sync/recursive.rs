//! [`RecursiveMutex<T>`]: a robust, process-shared mutex the owning thread may lock again.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::error::{LockResult, OwnerDied, Recover, TryLockError, TryLockResult, sealed};
use super::raw_mutex::{Acquired, RawMutex};
use super::wait::Deadline;
use crate::fingerprint;
use crate::shm_safe::ShmSafe;

/// A re-entrant lock (Boost's `interprocess_recursive_mutex`): the thread holding it may lock it
/// again; it is released when every guard is dropped. Other threads and processes wait.
///
/// Like `std`'s `ReentrantLock`, guards give shared access (`&T`) only, since several guards of
/// one thread may coexist; put a [`Cell`](std::cell::Cell)-like or atomic type inside for
/// mutation. Owner death and timeouts behave as for [`Mutex`](crate::sync::Mutex).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use shmkit::sync::RecursiveMutex;
///
/// let m = RecursiveMutex::new(AtomicU32::new(0));
/// let outer = m.lock().unwrap();
/// let inner = m.lock().unwrap(); // the same thread: no deadlock
/// inner.fetch_add(1, Ordering::Relaxed);
/// drop(inner);
/// drop(outer);
/// assert!(!m.is_locked());
/// ```
#[repr(C)]
pub struct RecursiveMutex<T> {
    raw: RawMutex,
    /// How many guards the owner holds; written only by the owner.
    count: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: guards give `&T` to the owning thread only; T: Sync makes that sound, T: Send lets the
// value move between threads through into_inner.
unsafe impl<T: Send + Sync> Sync for RecursiveMutex<T> {}
// SAFETY: as for Mutex: atomics valid for any bit pattern, repr(C), data ShmSafe.
unsafe impl<T: ShmSafe> ShmSafe for RecursiveMutex<T> {
    const FINGERPRINT: u64 = fingerprint::combine(
        fingerprint::fnv1a(b"shmkit::sync::RecursiveMutex"),
        T::FINGERPRINT,
    );
}

impl<T> RecursiveMutex<T> {
    /// A new, unlocked lock holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::RecursiveMutex;
    ///
    /// static LOG: RecursiveMutex<()> = RecursiveMutex::new(());
    /// let outer = LOG.lock().unwrap();
    /// let inner = LOG.lock().unwrap(); // the same thread again: no deadlock
    /// drop((inner, outer));
    /// ```
    pub const fn new(value: T) -> RecursiveMutex<T> {
        RecursiveMutex {
            raw: RawMutex::new(),
            count: AtomicU32::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value, consuming the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = shmkit::sync::RecursiveMutex::new(7);
    /// assert_eq!(m.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }

    fn reenter(&self) -> Option<RecursiveMutexGuard<'_, T>> {
        if !self.raw.is_owned_by_current_thread() {
            return None;
        }
        let n = self.count.load(Ordering::Relaxed);
        let n = n
            .checked_add(1)
            .expect("RecursiveMutex locked recursively 2^32 times");
        self.count.store(n, Ordering::Relaxed);
        Some(self.guard())
    }

    fn guard(&self) -> RecursiveMutexGuard<'_, T> {
        RecursiveMutexGuard {
            mutex: self,
            _not_send: PhantomData,
        }
    }

    fn first(&self, how: Acquired) -> LockResult<RecursiveMutexGuard<'_, T>> {
        self.count.store(1, Ordering::Relaxed);
        match how {
            Acquired::Consistent => Ok(self.guard()),
            Acquired::OwnerDied => Err(OwnerDied::new(self.guard())),
        }
    }

    fn first_try<'a>(
        &'a self,
        how: Option<Acquired>,
        failed: TryLockError<RecursiveMutexGuard<'a, T>>,
    ) -> TryLockResult<RecursiveMutexGuard<'a, T>> {
        match how {
            Some(how) => self.first(how).map_err(TryLockError::from),
            None => Err(failed),
        }
    }

    /// Acquires the lock (again, if this thread holds it).
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] carrying the guard, as for [`Mutex::lock`](crate::sync::Mutex::lock).
    ///
    /// # Panics
    ///
    /// If one thread nests more than `u32::MAX` guards.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use shmkit::sync::RecursiveMutex;
    ///
    /// let m = RecursiveMutex::new(Cell::new(0));
    /// let a = m.lock().unwrap();
    /// let b = m.lock().unwrap(); // nested: shared access, so the data uses interior mutability
    /// b.set(a.get() + 1);
    /// drop((b, a));
    /// assert_eq!(m.lock().unwrap().get(), 1);
    /// ```
    pub fn lock(&self) -> LockResult<RecursiveMutexGuard<'_, T>> {
        if let Some(g) = self.reenter() {
            return Ok(g);
        }
        self.first(self.raw.lock())
    }

    /// Acquires the lock if it is free or held by this thread.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`]; [`TryLockError::OwnerDied`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{RecursiveMutex, TryLockError};
    ///
    /// let m = RecursiveMutex::new(());
    /// let guard = m.lock().unwrap();
    /// assert!(m.try_lock().is_ok()); // the owner may nest
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock))));
    /// });
    /// drop(guard);
    /// ```
    pub fn try_lock(&self) -> TryLockResult<RecursiveMutexGuard<'_, T>> {
        if let Some(g) = self.reenter() {
            return Ok(g);
        }
        self.first_try(self.raw.try_lock(), TryLockError::WouldBlock)
    }

    /// Acquires the lock, waiting at most `timeout`. Zero is a try.
    ///
    /// # Errors
    ///
    /// [`TryLockError::TimedOut`]; [`TryLockError::OwnerDied`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::RecursiveMutex;
    ///
    /// let m = RecursiveMutex::new(());
    /// let guard = m.lock().unwrap();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(m.lock_timeout(Duration::from_millis(10)).is_err()));
    /// });
    /// drop(guard);
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<RecursiveMutexGuard<'_, T>> {
        if let Some(g) = self.reenter() {
            return Ok(g);
        }
        let how = if timeout.is_zero() {
            self.raw.try_lock()
        } else {
            self.raw.lock_deadline(Deadline::after(timeout))
        };
        self.first_try(how, TryLockError::TimedOut)
    }

    /// Whether anyone holds the lock (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = shmkit::sync::RecursiveMutex::new(());
    /// let guard = m.lock().unwrap();
    /// assert!(m.is_locked());
    /// drop(guard);
    /// assert!(!m.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Whether the data is marked consistent (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{RecursiveMutex, RecursiveMutexGuard};
    ///
    /// let m = std::sync::Arc::new(RecursiveMutex::new(()));
    /// let held = m.clone();
    /// let died = std::thread::spawn(move || {
    ///     let _guard = held.lock().unwrap();
    ///     panic!("dies holding the lock");
    /// });
    /// assert!(died.join().is_err());
    /// assert!(!m.is_consistent());
    /// let mut guard = m.lock().unwrap_err().into_inner();
    /// RecursiveMutexGuard::mark_consistent(&mut guard);
    /// drop(guard);
    /// assert!(m.is_consistent());
    /// ```
    pub fn is_consistent(&self) -> bool {
        self.raw.is_consistent()
    }
}

impl<T: fmt::Debug> fmt::Debug for RecursiveMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecursiveMutex")
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

/// Shared access to the data of a locked [`RecursiveMutex`]; the lock is released when the last
/// guard of the owning thread is dropped.
///
/// # Examples
///
/// ```
/// let m = shmkit::sync::RecursiveMutex::new(5);
/// let guard = m.lock().unwrap();
/// assert_eq!(*guard, 5); // Deref to the data (shared: guards may nest)
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RecursiveMutexGuard<'a, T> {
    mutex: &'a RecursiveMutex<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T> RecursiveMutexGuard<'_, T> {
    /// Marks the data consistent after an [`OwnerDied`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{RecursiveMutex, RecursiveMutexGuard};
    ///
    /// let m = std::sync::Arc::new(RecursiveMutex::new(()));
    /// let held = m.clone();
    /// let died = std::thread::spawn(move || {
    ///     let _guard = held.lock().unwrap();
    ///     panic!("dies holding the lock");
    /// });
    /// assert!(died.join().is_err());
    /// let mut guard = m.lock().unwrap_err().into_inner();
    /// RecursiveMutexGuard::mark_consistent(&mut guard);
    /// drop(guard);
    /// assert!(m.lock().is_ok());
    /// ```
    pub fn mark_consistent(this: &mut Self) {
        // SAFETY: the guard proves this thread holds the lock.
        unsafe { this.mutex.raw.mark_consistent() };
    }
}

impl<'a, T> RecursiveMutexGuard<'a, T> {
    /// Whether this guard is the calling thread's only hold on the lock (its release releases
    /// the lock).
    pub(crate) fn is_outermost(this: &Self) -> bool {
        this.mutex.count.load(Ordering::Relaxed) == 1
    }

    /// Releases the lock and returns the mutex, for condition variables that take it again
    /// after waiting; `Err(guard)` if this thread holds other guards of the lock too (releasing
    /// this one would not release the lock).
    pub(crate) fn unlock_into_mutex(this: Self) -> Result<&'a RecursiveMutex<T>, Self> {
        if this.mutex.count.load(Ordering::Relaxed) > 1 {
            return Err(this);
        }
        let mutex = this.mutex;
        drop(this);
        Ok(mutex)
    }
}

impl<T> sealed::Sealed for RecursiveMutexGuard<'_, T> {}

impl<T> Recover for RecursiveMutexGuard<'_, T> {
    fn mark_consistent(&mut self) {
        RecursiveMutexGuard::mark_consistent(self);
    }
}

impl<T> Deref for RecursiveMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this thread holds the lock; only shared references are handed out.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: fmt::Debug> fmt::Debug for RecursiveMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> Drop for RecursiveMutexGuard<'_, T> {
    fn drop(&mut self) {
        let n = self.mutex.count.load(Ordering::Relaxed);
        if n > 1 {
            self.mutex.count.store(n - 1, Ordering::Relaxed);
            return;
        }
        self.mutex.count.store(0, Ordering::Relaxed);
        // SAFETY: this is the owner's last guard.
        unsafe {
            if std::thread::panicking() {
                self.mutex.raw.mark_inconsistent();
            }
            self.mutex.raw.unlock();
        }
    }
}

//! Lock results: owner death carries the guard, as `std::sync::PoisonError` does.

use std::fmt;

use crate::error::{Error, ErrorKind};

/// A lock was acquired, but a previous owner died (or panicked) while holding it, and nobody has
/// marked the data consistent since. Carries the guard: inspect and repair the data, then mark
/// it consistent (for example with [`OwnerDied::recover`]). Dropping the guard without marking
/// leaves the mark, so the next locker is told too.
///
/// Boost.Interprocess makes such a mutex unusable for good (`not_recoverable`); shmkit hands
/// over the lock.
///
/// # Examples
///
/// ```
/// use shmkit::sync::Mutex;
///
/// let m = std::sync::Arc::new(Mutex::new(0u32));
/// let held = m.clone();
/// let died = std::thread::spawn(move || {
///     let _guard = held.lock().unwrap();
///     panic!("dies holding the lock");
/// });
/// assert!(died.join().is_err());
/// match m.lock() {
///     Ok(_) => unreachable!("the owner died"),
///     Err(died) => {
///         let guard = died.recover(|g| **g = 0); // repair, mark consistent
///         assert_eq!(*guard, 0);
///     }
/// }
/// ```
pub struct OwnerDied<G> {
    guard: G,
}

impl<G> OwnerDied<G> {
    pub(crate) fn new(guard: G) -> OwnerDied<G> {
        OwnerDied { guard }
    }

    /// The guard, still marked inconsistent.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Mutex;
    ///
    /// let m = std::sync::Arc::new(Mutex::new(0u32));
    /// let held = m.clone();
    /// let died = std::thread::spawn(move || {
    ///     let _guard = held.lock().unwrap();
    ///     panic!("dies holding the lock");
    /// });
    /// assert!(died.join().is_err());
    /// let guard = m.lock().unwrap_err().into_inner(); // the lock is held
    /// assert!(!m.is_consistent()); // and still marked until someone marks it
    /// drop(guard);
    /// ```
    pub fn into_inner(self) -> G {
        self.guard
    }

    /// The guard, by reference.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Mutex;
    ///
    /// let m = std::sync::Arc::new(Mutex::new(0u32));
    /// let held = m.clone();
    /// let died = std::thread::spawn(move || {
    ///     let _guard = held.lock().unwrap();
    ///     panic!("dies holding the lock");
    /// });
    /// assert!(died.join().is_err());
    /// let died = m.lock().unwrap_err();
    /// assert_eq!(**died.get_ref(), 0);
    /// ```
    pub fn get_ref(&self) -> &G {
        &self.guard
    }

    /// The guard, by mutable reference.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Mutex;
    ///
    /// let m = std::sync::Arc::new(Mutex::new(0u32));
    /// let held = m.clone();
    /// let died = std::thread::spawn(move || {
    ///     let _guard = held.lock().unwrap();
    ///     panic!("dies holding the lock");
    /// });
    /// assert!(died.join().is_err());
    /// let mut died = m.lock().unwrap_err();
    /// **died.get_mut() = 42;
    /// drop(died);
    /// assert_eq!(*m.lock().unwrap_err().into_inner(), 42);
    /// ```
    pub fn get_mut(&mut self) -> &mut G {
        &mut self.guard
    }
}

impl<G: Recover> OwnerDied<G> {
    /// Runs `repair` on the guard, marks the data consistent, and returns the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::Mutex;
    ///
    /// let m = Mutex::new(0u32);
    /// let guard = match m.lock() {
    ///     Ok(g) => g,
    ///     Err(died) => died.recover(|g| **g = 0), // reset what the dead owner left
    /// };
    /// assert_eq!(*guard, 0);
    /// ```
    pub fn recover(self, repair: impl FnOnce(&mut G)) -> G {
        let mut guard = self.guard;
        repair(&mut guard);
        guard.mark_consistent();
        guard
    }
}

/// Guards whose lock can be marked consistent after an owner died. Sealed.
///
/// # Examples
///
/// ```
/// use shmkit::sync::{LockResult, Recover};
///
/// /// Takes a lock, resetting the data with `reset` if an owner died.
/// fn lock_or_reset<G: Recover>(r: LockResult<G>, reset: impl FnOnce(&mut G)) -> G {
///     r.unwrap_or_else(|died| died.recover(reset))
/// }
/// let m = shmkit::sync::Mutex::new(3);
/// assert_eq!(*lock_or_reset(m.lock(), |g| **g = 0), 3);
/// ```
pub trait Recover: sealed::Sealed {
    /// Marks the protected data consistent.
    fn mark_consistent(&mut self);
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerDied").finish_non_exhaustive()
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a previous owner died or panicked while holding the lock; the data may be inconsistent")
    }
}

impl<G> std::error::Error for OwnerDied<G> {}

impl<G> From<OwnerDied<G>> for Error {
    fn from(e: OwnerDied<G>) -> Error {
        Error::new(ErrorKind::OwnerDied, e.to_string())
    }
}

/// The result of a blocking lock: the guard, or [`OwnerDied`] carrying it.
///
/// # Examples
///
/// ```
/// use shmkit::sync::{LockResult, Mutex, MutexGuard};
///
/// let m = Mutex::new(1);
/// let r: LockResult<MutexGuard<'_, i32>> = m.lock();
/// assert_eq!(*r.unwrap(), 1);
/// ```
pub type LockResult<G> = Result<G, OwnerDied<G>>;

/// Why a `try_` or timed lock did not return a plain guard.
///
/// # Examples
///
/// ```
/// use shmkit::sync::{Mutex, TryLockError};
///
/// let m = Mutex::new(());
/// let _held = m.lock().unwrap();
/// match m.try_lock() {
///     Err(TryLockError::WouldBlock) => {} // someone holds it: do something else
///     Err(TryLockError::TimedOut) => unreachable!("only timed locks time out"),
///     Err(TryLockError::OwnerDied(died)) => drop(died.into_inner()),
///     Ok(_) => unreachable!("held above"),
/// }
/// ```
pub enum TryLockError<G> {
    /// The lock is held by someone else (from `try_` methods).
    WouldBlock,
    /// The timeout expired before the lock could be taken (from timed methods).
    TimedOut,
    /// The lock was taken, but a previous owner died holding it; see [`OwnerDied`].
    OwnerDied(OwnerDied<G>),
}

/// The result of a `try_` or timed lock.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit::sync::{Mutex, MutexGuard, TryLockResult};
///
/// let m = Mutex::new(());
/// let r: TryLockResult<MutexGuard<'_, ()>> = m.lock_timeout(Duration::from_millis(10));
/// assert!(r.is_ok());
/// ```
pub type TryLockResult<G> = Result<G, TryLockError<G>>;

impl<G> fmt::Debug for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("WouldBlock"),
            TryLockError::TimedOut => f.write_str("TimedOut"),
            TryLockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
        }
    }
}

impl<G> fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("the lock is held by someone else"),
            TryLockError::TimedOut => f.write_str("timed out waiting for the lock"),
            TryLockError::OwnerDied(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<G> std::error::Error for TryLockError<G> {}

impl<G> From<OwnerDied<G>> for TryLockError<G> {
    fn from(e: OwnerDied<G>) -> TryLockError<G> {
        TryLockError::OwnerDied(e)
    }
}

impl<G> From<TryLockError<G>> for Error {
    fn from(e: TryLockError<G>) -> Error {
        let kind = match e {
            TryLockError::WouldBlock => ErrorKind::Busy,
            TryLockError::TimedOut => ErrorKind::Timeout,
            TryLockError::OwnerDied(_) => ErrorKind::OwnerDied,
        };
        Error::new(kind, e.to_string())
    }
}

//! [`RwLock<T>`] and [`UpgradableRwLock<T>`]: robust, process-shared reader-writer locks
//! protecting a `T`, shaped like `std::sync::RwLock`, with Boost's lock transfers as consuming
//! guard functions.
//!
//! Both are a [`RawRwLock`] (the algorithm, its shared words and its crash behaviour are
//! documented in `raw_rwlock.rs`) followed by the data. The guards are written once: a guard's
//! third type parameter, [`Sharable`] or [`Upgradable`], records which kind of lock it came from,
//! and the transfers that involve the upgradable mode exist only for [`Upgradable`] guards.
//!
//! Owner death: a writer or upgradable holder that dies (or panics) while holding the lock marks
//! the data inconsistent; every later locker, **readers included**, gets [`OwnerDied`] carrying
//! its guard until a write or upgradable guard marks the data consistent. Readers are told
//! because what they would read may be half-written; they cannot clear the mark (they cannot
//! repair), so `OwnerDied<RwLockReadGuard>` has no `recover`: read through
//! [`OwnerDied::into_inner`], or take the write lock to repair. A reader that dies holding a read
//! lock leaves the data consistent; its lock is reclaimed when a writer needs it.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::error::{LockResult, OwnerDied, Recover, TryLockError, TryLockResult, sealed};
use super::raw_mutex::Acquired;
use super::raw_rwlock::RawRwLock;
use super::wait::Deadline;
use crate::fingerprint;
use crate::shm_safe::ShmSafe;

/// Marks the guards of an [`RwLock`] (the default third parameter of [`RwLockReadGuard`] and
/// [`RwLockWriteGuard`]). Uninhabited: a type-level tag only.
///
/// # Examples
///
/// ```
/// use shmkit::sync::{RwLock, RwLockReadGuard, Sharable};
///
/// fn first(g: &RwLockReadGuard<'_, [u8; 4], Sharable>) -> u8 {
///     g[0]
/// }
/// let l = RwLock::new([7u8; 4]);
/// assert_eq!(first(&l.read().unwrap()), 7);
/// ```
#[derive(Debug)]
pub enum Sharable {}

/// Marks the guards of an [`UpgradableRwLock`]; only these offer the transfers into and out of
/// the upgradable mode. Uninhabited: a type-level tag only.
///
/// # Examples
///
/// ```
/// use shmkit::sync::{RwLockWriteGuard, UpgradableGuard, UpgradableRwLock, Upgradable};
///
/// fn publish(g: RwLockWriteGuard<'_, u32, Upgradable>) -> UpgradableGuard<'_, u32> {
///     RwLockWriteGuard::downgrade_to_upgradable(g)
/// }
/// let l = UpgradableRwLock::new(1u32);
/// let u = publish(l.write().unwrap());
/// assert_eq!(*u, 1);
/// ```
#[derive(Debug)]
pub enum Upgradable {}

/// Makes guards `!Send` and `!Sync` (locks belong to threads) and records their kind `K`
/// without any auto-trait effect of `K`.
type GuardMarker<K> = PhantomData<(*const (), fn() -> K)>;

fn lock_result<G>(how: Acquired, guard: G) -> LockResult<G> {
    match how {
        Acquired::Consistent => Ok(guard),
        Acquired::OwnerDied => Err(OwnerDied::new(guard)),
    }
}

fn try_result<G>(
    how: Option<Acquired>,
    guard: impl FnOnce() -> G,
    failed: TryLockError<G>,
) -> TryLockResult<G> {
    match how {
        Some(how) => lock_result(how, guard()).map_err(TryLockError::from),
        None => Err(failed),
    }
}

/// A reader-writer lock that works between processes (Boost's `interprocess_sharable_mutex`
/// with its data): place it in shared memory, and every process that maps it shares the lock and
/// the `T` it protects. Any number of readers, or one writer.
///
/// Reading without contention costs one compare-and-swap and one load to lock, one atomic
/// subtraction and one load to unlock: no system call. Contended lockers spin briefly, then
/// sleep in the kernel. All bits zero is an unlocked lock holding `T`'s zero value, so freshly
/// created shared memory needs no initialisation. The lock takes 264 bytes before the data.
///
/// # Differences from `std` and Boost
///
/// * **Writer priority**, as Boost's "two gates": once a writer waits for the readers inside to
///   leave, new readers wait, so writers are not starved. (`std` leaves the policy to the OS.)
///   A thread that already holds a read lock may take another one even then, so recursive
///   reading does not deadlock.
/// * **Owner death is reported, not fatal.** A writer that dies (even by `SIGKILL`) or panics
///   while holding the lock marks the data inconsistent: the next lockers, readers included, get
///   [`OwnerDied`] carrying their guard until a writer repairs the data and calls
///   [`RwLockWriteGuard::mark_consistent`]. Boost's sharable mutex would stay locked for good.
/// * **Dead readers do not block writers**: each reading thread is recorded in one of 64 slots
///   in the lock; a writer waiting for readers probes them and reclaims the locks of dead
///   threads. The data stays consistent (readers do not write). With 64 threads holding read
///   locks at once, the next reading thread waits for a slot.
/// * **Timeouts are durations on the monotonic clock**; a zero timeout is a try.
/// * Guards are `!Send`: locks belong to threads.
/// * [`RwLockWriteGuard::downgrade`] (write → read) and [`RwLockReadGuard::try_upgrade`]
///   (read → write, if the caller is the only reader) are available here; for the upgradable
///   mode and its transfers, use [`UpgradableRwLock`].
///
/// # Examples
///
/// ```
/// use shmkit::sync::RwLock;
///
/// let l = RwLock::new(vec![1, 2, 3]);
/// {
///     let a = l.read().unwrap();
///     let b = l.read().unwrap(); // readers share
///     assert_eq!(a.len() + b.len(), 6);
/// }
/// l.write().unwrap().push(4);
/// assert_eq!(l.read().unwrap().len(), 4);
/// ```
///
/// Across processes, place it in shared memory with [`MappedRegion::get`](crate::MappedRegion::get):
///
/// ```
/// use shmkit::{MappedRegion, sync::RwLock};
///
/// let region = MappedRegion::anonymous(4096)?;
/// // SAFETY: the region is only accessed through this reference.
/// let pair: &RwLock<[u64; 2]> = unsafe { region.get(0)? };
/// *pair.write().unwrap() = [1, 1];
/// assert_eq!(*pair.read().unwrap(), [1, 1]);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: as std's RwLock: the lock moves `T` between threads (Send) and lets several threads see
// `&T` at once (Sync).
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}
// SAFETY: `RawRwLock` is ShmSafe (atomics valid for any bit pattern, no pointers); `T: ShmSafe`
// covers the data; `repr(C)` fixes the layout.
unsafe impl<T: ShmSafe> ShmSafe for RwLock<T> {
    const FINGERPRINT: u64 =
        fingerprint::combine(fingerprint::fnv1a(b"shmkit::sync::RwLock"), T::FINGERPRINT);
}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// static CONFIG: shmkit::sync::RwLock<u32> = shmkit::sync::RwLock::new(80);
    /// assert_eq!(*CONFIG.read().unwrap(), 80);
    /// ```
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value, consuming the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RwLock::new(String::from("x"));
    /// assert_eq!(l.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// A guard for a read lock this thread has just taken.
    fn read_guard<K>(&self) -> RwLockReadGuard<'_, T, K> {
        RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    fn write_guard<K>(&self) -> RwLockWriteGuard<'_, T, K> {
        RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    fn upgradable_guard(&self) -> UpgradableGuard<'_, T> {
        UpgradableGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    fn read_as<K>(&self) -> LockResult<RwLockReadGuard<'_, T, K>> {
        let how = self.raw.lock_shared();
        lock_result(how, self.read_guard())
    }

    fn try_read_as<K>(&self) -> TryLockResult<RwLockReadGuard<'_, T, K>> {
        try_result(
            self.raw.try_lock_shared(),
            || self.read_guard(),
            TryLockError::WouldBlock,
        )
    }

    fn read_timeout_as<K>(&self, timeout: Duration) -> TryLockResult<RwLockReadGuard<'_, T, K>> {
        let how = if timeout.is_zero() {
            self.raw.try_lock_shared()
        } else {
            self.raw.lock_shared_deadline(Deadline::after(timeout))
        };
        try_result(how, || self.read_guard(), TryLockError::TimedOut)
    }

    fn write_as<K>(&self) -> LockResult<RwLockWriteGuard<'_, T, K>> {
        let how = self.raw.lock_exclusive();
        lock_result(how, self.write_guard())
    }

    fn try_write_as<K>(&self) -> TryLockResult<RwLockWriteGuard<'_, T, K>> {
        try_result(
            self.raw.try_lock_exclusive(),
            || self.write_guard(),
            TryLockError::WouldBlock,
        )
    }

    fn write_timeout_as<K>(&self, timeout: Duration) -> TryLockResult<RwLockWriteGuard<'_, T, K>> {
        let how = if timeout.is_zero() {
            self.raw.try_lock_exclusive()
        } else {
            self.raw.lock_exclusive_deadline(Deadline::after(timeout))
        };
        try_result(how, || self.write_guard(), TryLockError::TimedOut)
    }

    /// Acquires a read lock, waiting while a writer holds the lock or waits for readers to
    /// leave (writer priority), unless this thread already holds a read lock.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (carrying the guard: the read lock *is* held) while the data is marked
    /// inconsistent because a writer died or panicked holding the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RwLock::new(1);
    /// assert_eq!(*l.read().unwrap(), 1);
    /// ```
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        self.read_as()
    }

    /// Acquires a read lock if that needs no waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if a writer holds the lock or waits for it (or all 64 reader
    /// slots are taken); [`TryLockError::OwnerDied`] as for [`read`](RwLock::read).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{RwLock, TryLockError};
    ///
    /// let l = RwLock::new(1);
    /// let w = l.write().unwrap();
    /// assert!(matches!(l.try_read(), Err(TryLockError::WouldBlock)));
    /// drop(w);
    /// assert!(l.try_read().is_ok());
    /// ```
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        self.try_read_as()
    }

    /// Acquires a read lock, waiting at most `timeout` on the monotonic clock. Zero is a try.
    ///
    /// # Errors
    ///
    /// [`TryLockError::TimedOut`]; [`TryLockError::OwnerDied`] as for [`read`](RwLock::read).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let l = shmkit::sync::RwLock::new(1);
    /// assert!(l.read_timeout(Duration::from_millis(10)).is_ok());
    /// ```
    pub fn read_timeout(&self, timeout: Duration) -> TryLockResult<RwLockReadGuard<'_, T>> {
        self.read_timeout_as(timeout)
    }

    /// Acquires the write lock: waits for the previous writer, then (holding new readers back)
    /// for the readers inside to leave. Readers that died holding read locks are detected and
    /// their locks reclaimed. Deadlocks if this thread holds a read lock on this lock.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (carrying the guard: the lock *is* held) if a previous writer died or
    /// panicked holding the lock and nobody has marked the data consistent since.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RwLock::new(1);
    /// *l.write().unwrap() += 1;
    /// assert_eq!(*l.read().unwrap(), 2);
    /// ```
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        self.write_as()
    }

    /// Acquires the write lock if nobody holds the lock in any mode now.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is held; [`TryLockError::OwnerDied`] as for
    /// [`write`](RwLock::write). Only blocking and timed locks probe holders' liveness, so a
    /// lock held by a dead thread reads as held here.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{RwLock, TryLockError};
    ///
    /// let l = RwLock::new(1);
    /// let r = l.read().unwrap();
    /// assert!(matches!(l.try_write(), Err(TryLockError::WouldBlock)));
    /// drop(r);
    /// assert!(l.try_write().is_ok());
    /// ```
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        self.try_write_as()
    }

    /// Acquires the write lock, waiting at most `timeout` on the monotonic clock. Zero is a try.
    ///
    /// # Errors
    ///
    /// [`TryLockError::TimedOut`]; [`TryLockError::OwnerDied`] as for [`write`](RwLock::write).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::{RwLock, TryLockError};
    ///
    /// let l = RwLock::new(1);
    /// let r = l.read().unwrap();
    /// assert!(matches!(l.write_timeout(Duration::from_millis(5)), Err(TryLockError::TimedOut)));
    /// drop(r);
    /// ```
    pub fn write_timeout(&self, timeout: Duration) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        self.write_timeout_as(timeout)
    }

    /// Whether the lock is held in any mode (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RwLock::new(1);
    /// let r = l.read().unwrap();
    /// assert!(l.is_locked());
    /// drop(r);
    /// assert!(!l.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Whether the data is marked consistent (a snapshot): `false` after a writer died until
    /// someone marks it.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::sync::RwLock::new(1).is_consistent());
    /// ```
    pub fn is_consistent(&self) -> bool {
        self.raw.is_consistent()
    }

    /// The protected value, through exclusive access (no locking needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut l = shmkit::sync::RwLock::new(1);
    /// *l.get_mut() = 2;
    /// assert_eq!(*l.read().unwrap(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The raw lock underneath.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RwLock::new(1);
    /// let _r = l.read().unwrap();
    /// assert_eq!(l.raw().reader_count(), 1);
    /// ```
    pub fn raw(&self) -> &RawRwLock {
        &self.raw
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_lock("RwLock", self, f)
    }
}

fn debug_lock<T: ?Sized + fmt::Debug>(
    name: &str,
    lock: &RwLock<T>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let mut d = f.debug_struct(name);
    match lock.raw.try_lock_shared() {
        Some(how) => {
            // SAFETY: we hold a read lock until the unlock below.
            d.field("data", &unsafe { &*lock.data.get() });
            d.field("consistent", &(how == Acquired::Consistent));
            // SAFETY: locked just above by this thread.
            unsafe { lock.raw.unlock_shared() };
        }
        None => {
            d.field("data", &format_args!("<locked>"));
        }
    }
    d.finish_non_exhaustive()
}

/// A reader-writer lock with an upgradable mode (Boost's `interprocess_upgradable_mutex` with
/// its data): everything [`RwLock`] offers, plus one **upgradable** holder at a time, who reads
/// alongside the readers and can later become the writer without letting another writer in
/// first.
///
/// Boost's lock transfers are consuming guard functions:
///
/// | from → to | function | waits? |
/// |-----------|----------|--------|
/// | write → upgradable | [`RwLockWriteGuard::downgrade_to_upgradable`] | never |
/// | write → read | [`RwLockWriteGuard::downgrade`] | never |
/// | upgradable → read | [`UpgradableGuard::downgrade`] | never |
/// | upgradable → write | [`UpgradableGuard::upgrade`] | until readers leave |
/// | upgradable → write | [`UpgradableGuard::try_upgrade`], [`UpgradableGuard::upgrade_timeout`] | no / up to the timeout; the upgradable guard is handed back on failure |
/// | read → write | [`RwLockReadGuard::try_upgrade`] | no; succeeds if the caller is the only holder |
/// | read → upgradable | [`RwLockReadGuard::try_upgrade_to_upgradable`] | no; succeeds if there is no writer or upgradable holder |
///
/// An upgradable holder that dies or panics marks the data inconsistent, like a writer: it may
/// have been half-way through a read-decide-write sequence. The next writer or upgrader gets
/// [`OwnerDied`]; an upgradable guard can [`mark_consistent`](UpgradableGuard::mark_consistent)
/// after checking, or upgrade to repair.
///
/// # Examples
///
/// ```
/// use shmkit::sync::{RwLockWriteGuard, UpgradableGuard, UpgradableRwLock};
///
/// let l = UpgradableRwLock::new(0u32);
/// let u = l.upgradable_read().unwrap();
/// let r = l.read().unwrap(); // readers still come in
/// assert_eq!(*u, *r);
/// drop(r);
/// let mut w = UpgradableGuard::upgrade(u); // no other writer got in between
/// *w += 1;
/// let r = RwLockWriteGuard::downgrade(w);
/// assert_eq!(*r, 1);
/// ```
#[repr(transparent)]
pub struct UpgradableRwLock<T: ?Sized> {
    lock: RwLock<T>,
}

// SAFETY: a transparent wrapper around RwLock<T>, which is ShmSafe for T: ShmSafe.
unsafe impl<T: ShmSafe> ShmSafe for UpgradableRwLock<T> {
    const FINGERPRINT: u64 = fingerprint::combine(
        fingerprint::fnv1a(b"shmkit::sync::UpgradableRwLock"),
        T::FINGERPRINT,
    );
}

impl<T> UpgradableRwLock<T> {
    /// A new, unlocked lock holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::UpgradableRwLock::new(5);
    /// assert_eq!(*l.read().unwrap(), 5);
    /// ```
    pub const fn new(value: T) -> UpgradableRwLock<T> {
        UpgradableRwLock {
            lock: RwLock::new(value),
        }
    }

    /// The protected value, consuming the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::sync::UpgradableRwLock::new(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.lock.into_inner()
    }
}

impl<T: ?Sized> UpgradableRwLock<T> {
    /// Acquires a read lock; as [`RwLock::read`].
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (carrying the guard) while the data is marked inconsistent.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::UpgradableRwLock::new(5);
    /// assert_eq!(*l.read().unwrap(), 5);
    /// ```
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T, Upgradable>> {
        self.lock.read_as()
    }

    /// Acquires a read lock if that needs no waiting; as [`RwLock::try_read`].
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`]; [`TryLockError::OwnerDied`].
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::UpgradableRwLock::new(5);
    /// let _u = l.upgradable_read().unwrap();
    /// assert!(l.try_read().is_ok()); // an upgradable holder does not keep readers out
    /// ```
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T, Upgradable>> {
        self.lock.try_read_as()
    }

    /// Acquires a read lock, waiting at most `timeout`; as [`RwLock::read_timeout`].
    ///
    /// # Errors
    ///
    /// [`TryLockError::TimedOut`]; [`TryLockError::OwnerDied`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let l = shmkit::sync::UpgradableRwLock::new(5);
    /// assert!(l.read_timeout(Duration::from_millis(5)).is_ok());
    /// ```
    pub fn read_timeout(
        &self,
        timeout: Duration,
    ) -> TryLockResult<RwLockReadGuard<'_, T, Upgradable>> {
        self.lock.read_timeout_as(timeout)
    }

    /// Acquires the write lock; as [`RwLock::write`]. Waits for the upgradable holder too.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (carrying the guard) if a writer or upgradable holder died or panicked
    /// holding the lock and nobody has marked the data consistent since.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::UpgradableRwLock::new(5);
    /// *l.write().unwrap() = 6;
    /// assert_eq!(*l.read().unwrap(), 6);
    /// ```
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T, Upgradable>> {
        self.lock.write_as()
    }

    /// Acquires the write lock if nobody holds the lock in any mode now.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`]; [`TryLockError::OwnerDied`].
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::UpgradableRwLock::new(5);
    /// let u = l.upgradable_read().unwrap();
    /// assert!(l.try_write().is_err());
    /// drop(u);
    /// assert!(l.try_write().is_ok());
    /// ```
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T, Upgradable>> {
        self.lock.try_write_as()
    }

    /// Acquires the write lock, waiting at most `timeout`. Zero is a try.
    ///
    /// # Errors
    ///
    /// [`TryLockError::TimedOut`]; [`TryLockError::OwnerDied`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let l = shmkit::sync::UpgradableRwLock::new(5);
    /// assert!(l.write_timeout(Duration::from_millis(5)).is_ok());
    /// ```
    pub fn write_timeout(
        &self,
        timeout: Duration,
    ) -> TryLockResult<RwLockWriteGuard<'_, T, Upgradable>> {
        self.lock.write_timeout_as(timeout)
    }

    /// Acquires the upgradable lock, waiting for the writer or the other upgradable holder to
    /// leave (readers do not delay it, and it does not delay readers).
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (carrying the guard: the lock *is* held) if a writer or upgradable holder
    /// died or panicked holding the lock and nobody has marked the data consistent since.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{UpgradableGuard, UpgradableRwLock};
    ///
    /// let l = UpgradableRwLock::new(5);
    /// let u = l.upgradable_read().unwrap();
    /// if *u == 5 {
    ///     *UpgradableGuard::upgrade(u) = 6;
    /// }
    /// assert_eq!(*l.read().unwrap(), 6);
    /// ```
    pub fn upgradable_read(&self) -> LockResult<UpgradableGuard<'_, T>> {
        let how = self.lock.raw.lock_upgradable();
        lock_result(how, self.lock.upgradable_guard())
    }

    /// Acquires the upgradable lock if no writer or upgradable holder has it now.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`]; [`TryLockError::OwnerDied`] as for
    /// [`upgradable_read`](UpgradableRwLock::upgradable_read).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::UpgradableRwLock::new(5);
    /// let u = l.try_upgradable_read().unwrap();
    /// assert!(l.try_upgradable_read().is_err()); // one at a time
    /// drop(u);
    /// ```
    pub fn try_upgradable_read(&self) -> TryLockResult<UpgradableGuard<'_, T>> {
        try_result(
            self.lock.raw.try_lock_upgradable(),
            || self.lock.upgradable_guard(),
            TryLockError::WouldBlock,
        )
    }

    /// Acquires the upgradable lock, waiting at most `timeout` on the monotonic clock. Zero is
    /// a try.
    ///
    /// # Errors
    ///
    /// [`TryLockError::TimedOut`]; [`TryLockError::OwnerDied`] as for
    /// [`upgradable_read`](UpgradableRwLock::upgradable_read).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let l = shmkit::sync::UpgradableRwLock::new(5);
    /// let w = l.write().unwrap();
    /// assert!(l.upgradable_read_timeout(Duration::from_millis(5)).is_err());
    /// drop(w);
    /// ```
    pub fn upgradable_read_timeout(
        &self,
        timeout: Duration,
    ) -> TryLockResult<UpgradableGuard<'_, T>> {
        let how = if timeout.is_zero() {
            self.lock.raw.try_lock_upgradable()
        } else {
            self.lock
                .raw
                .lock_upgradable_deadline(Deadline::after(timeout))
        };
        try_result(how, || self.lock.upgradable_guard(), TryLockError::TimedOut)
    }

    /// Whether the lock is held in any mode (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::UpgradableRwLock::new(5);
    /// let _u = l.upgradable_read().unwrap();
    /// assert!(l.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }

    /// Whether the data is marked consistent (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::sync::UpgradableRwLock::new(5).is_consistent());
    /// ```
    pub fn is_consistent(&self) -> bool {
        self.lock.is_consistent()
    }

    /// The protected value, through exclusive access (no locking needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut l = shmkit::sync::UpgradableRwLock::new(5);
    /// *l.get_mut() += 1;
    /// assert_eq!(l.into_inner(), 6);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.lock.get_mut()
    }

    /// The raw lock underneath.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::UpgradableRwLock::new(5);
    /// let _u = l.upgradable_read().unwrap();
    /// assert!(!l.raw().is_locked_exclusive());
    /// ```
    pub fn raw(&self) -> &RawRwLock {
        &self.lock.raw
    }
}

impl<T: Default> Default for UpgradableRwLock<T> {
    fn default() -> UpgradableRwLock<T> {
        UpgradableRwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for UpgradableRwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_lock("UpgradableRwLock", &self.lock, f)
    }
}

// ---------------------------------------------------------------------- guards

/// Shared access to the data of a read-locked [`RwLock`] (`K` = [`Sharable`]) or
/// [`UpgradableRwLock`] (`K` = [`Upgradable`]); releases the read lock when dropped.
///
/// Transfers are associated functions (so they cannot shadow methods of `T`):
/// [`try_upgrade`](RwLockReadGuard::try_upgrade) and, for upgradable locks,
/// [`try_upgrade_to_upgradable`](RwLockReadGuard::try_upgrade_to_upgradable).
///
/// # Examples
///
/// ```
/// let l = shmkit::sync::RwLock::new(3);
/// let g = l.read().unwrap();
/// assert_eq!(*g + 1, 4);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized, K = Sharable> {
    lock: &'a RwLock<T>,
    _marker: GuardMarker<K>,
}

/// Exclusive access to the data of a write-locked [`RwLock`] or [`UpgradableRwLock`]; releases
/// the lock when dropped.
///
/// If dropped while the thread panics, the data is marked inconsistent (later lockers get
/// [`OwnerDied`]), as `std`'s poisoning does.
///
/// # Examples
///
/// ```
/// let l = shmkit::sync::RwLock::new(3);
/// let mut g = l.write().unwrap();
/// *g += 1;
/// drop(g);
/// assert_eq!(*l.read().unwrap(), 4);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized, K = Sharable> {
    lock: &'a RwLock<T>,
    _marker: GuardMarker<K>,
}

/// The upgradable lock of an [`UpgradableRwLock`]: shared access to the data alongside readers,
/// with the right to become the writer ([`upgrade`](UpgradableGuard::upgrade)) without another
/// writer getting in first. Releases the lock when dropped.
///
/// If dropped while the thread panics, the data is marked inconsistent.
///
/// # Examples
///
/// ```
/// use shmkit::sync::{UpgradableGuard, UpgradableRwLock};
///
/// let l = UpgradableRwLock::new(3);
/// let u = l.upgradable_read().unwrap();
/// let mut w = UpgradableGuard::upgrade(u);
/// *w = 4;
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct UpgradableGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<*const ()>,
}

// SAFETY: sharing `&Guard` between threads only gives `&T`, which needs `T: Sync`.
unsafe impl<T: ?Sized + Sync, K> Sync for RwLockReadGuard<'_, T, K> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync, K> Sync for RwLockWriteGuard<'_, T, K> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync> Sync for UpgradableGuard<'_, T> {}

impl<'a, T: ?Sized, K> RwLockReadGuard<'a, T, K> {
    /// The lock, taking the guard apart without unlocking.
    fn into_lock(this: Self) -> &'a RwLock<T> {
        ManuallyDrop::new(this).lock
    }

    /// Read → write without waiting (Boost's `try_unlock_sharable_and_lock`): succeeds if this
    /// guard's read lock is the only lock held in any mode (no other reader, this thread
    /// included; no writer; no upgradable holder).
    ///
    /// The write guard does not re-report [`OwnerDied`]: check
    /// [`RwLock::is_consistent`] if a writer may have died since the read lock was taken.
    ///
    /// # Errors
    ///
    /// The read guard, unchanged (still holding its read lock), if other locks are held.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{RwLock, RwLockReadGuard};
    ///
    /// let l = RwLock::new(1);
    /// let r = l.read().unwrap();
    /// let other = l.read().unwrap();
    /// let r = RwLockReadGuard::try_upgrade(r).unwrap_err(); // another reader is inside
    /// drop(other);
    /// let mut w = RwLockReadGuard::try_upgrade(r).unwrap();
    /// *w = 2;
    /// ```
    pub fn try_upgrade(this: Self) -> Result<RwLockWriteGuard<'a, T, K>, Self> {
        // SAFETY: the guard proves this thread holds a read lock.
        if unsafe { this.lock.raw.try_upgrade_shared() } {
            Ok(Self::into_lock(this).write_guard())
        } else {
            Err(this)
        }
    }
}

impl<'a, T: ?Sized> RwLockReadGuard<'a, T, Upgradable> {
    /// Read → upgradable without waiting (Boost's `try_unlock_sharable_and_lock_upgradable`):
    /// succeeds if no writer or upgradable holder has the lock.
    ///
    /// # Errors
    ///
    /// The read guard, unchanged, if a writer or upgradable holder has the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{RwLockReadGuard, UpgradableRwLock};
    ///
    /// let l = UpgradableRwLock::new(1);
    /// let r = l.read().unwrap();
    /// let u = RwLockReadGuard::try_upgrade_to_upgradable(r).unwrap();
    /// assert!(l.try_upgradable_read().is_err());
    /// drop(u);
    /// ```
    pub fn try_upgrade_to_upgradable(this: Self) -> Result<UpgradableGuard<'a, T>, Self> {
        // SAFETY: the guard proves this thread holds a read lock.
        if unsafe { this.lock.raw.try_upgrade_shared_to_upgradable() } {
            Ok(Self::into_lock(this).upgradable_guard())
        } else {
            Err(this)
        }
    }
}

impl<T: ?Sized, K> Deref for RwLockReadGuard<'_, T, K> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the read lock keeps writers out; only shared references are handed out.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized, K> Drop for RwLockReadGuard<'_, T, K> {
    fn drop(&mut self) {
        // SAFETY: the guard proves this thread holds a read lock.
        unsafe { self.lock.raw.unlock_shared() };
    }
}

impl<'a, T: ?Sized, K> RwLockWriteGuard<'a, T, K> {
    fn into_lock(this: Self) -> &'a RwLock<T> {
        ManuallyDrop::new(this).lock
    }

    /// Marks the data consistent after an [`OwnerDied`]: later lockers lock normally.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmkit::sync::RwLock::new(0);
    /// let w = match l.write() {
    ///     Ok(w) => w,
    ///     Err(died) => {
    ///         let mut w = died.into_inner();
    ///         *w = 0; // repair
    ///         shmkit::sync::RwLockWriteGuard::mark_consistent(&mut w);
    ///         w
    ///     }
    /// };
    /// # drop(w);
    /// ```
    pub fn mark_consistent(this: &mut Self) {
        // SAFETY: the guard proves this thread holds the write lock.
        unsafe { this.lock.raw.mark_consistent() };
    }

    /// Write → read, atomically (no writer gets in between) and without waiting (Boost's
    /// `unlock_and_lock_sharable`). Other readers may come in at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{RwLock, RwLockWriteGuard};
    ///
    /// let l = RwLock::new(1);
    /// let mut w = l.write().unwrap();
    /// *w = 2;
    /// let r = RwLockWriteGuard::downgrade(w);
    /// assert_eq!(*r, *l.read().unwrap());
    /// ```
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T, K> {
        let lock = Self::into_lock(this);
        // SAFETY: the guard held the write lock, now given up for a read lock.
        unsafe { lock.raw.downgrade() };
        lock.read_guard()
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T, Upgradable> {
    /// Write → upgradable without waiting (Boost's `unlock_and_lock_upgradable`): readers may
    /// come in again; other writers and upgraders still wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{RwLockWriteGuard, UpgradableRwLock};
    ///
    /// let l = UpgradableRwLock::new(1);
    /// let u = RwLockWriteGuard::downgrade_to_upgradable(l.write().unwrap());
    /// assert!(l.try_read().is_ok());
    /// assert!(l.try_write().is_err());
    /// drop(u);
    /// ```
    pub fn downgrade_to_upgradable(this: Self) -> UpgradableGuard<'a, T> {
        let lock = Self::into_lock(this);
        // SAFETY: the guard held the write lock, now given up for the upgradable lock.
        unsafe { lock.raw.downgrade_to_upgradable() };
        lock.upgradable_guard()
    }
}

impl<T: ?Sized, K> sealed::Sealed for RwLockWriteGuard<'_, T, K> {}

impl<T: ?Sized, K> Recover for RwLockWriteGuard<'_, T, K> {
    fn mark_consistent(&mut self) {
        RwLockWriteGuard::mark_consistent(self);
    }
}

impl<T: ?Sized, K> Deref for RwLockWriteGuard<'_, T, K> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write lock excludes every other access.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized, K> DerefMut for RwLockWriteGuard<'_, T, K> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized, K> Drop for RwLockWriteGuard<'_, T, K> {
    fn drop(&mut self) {
        // SAFETY: the guard proves this thread holds the write lock.
        unsafe {
            if std::thread::panicking() {
                self.lock.raw.mark_inconsistent();
            }
            self.lock.raw.unlock_exclusive();
        }
    }
}

impl<'a, T: ?Sized> UpgradableGuard<'a, T> {
    fn into_lock(this: Self) -> &'a RwLock<T> {
        ManuallyDrop::new(this).lock
    }

    /// Marks the data consistent after an [`OwnerDied`], once it is known to be sound (to
    /// repair it, [`upgrade`](UpgradableGuard::upgrade) first).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{UpgradableGuard, UpgradableRwLock};
    ///
    /// let l = UpgradableRwLock::new(0);
    /// let u = match l.upgradable_read() {
    ///     Ok(u) => u,
    ///     Err(died) => {
    ///         let mut u = died.into_inner();
    ///         assert_eq!(*u, 0); // checked: nothing to repair
    ///         UpgradableGuard::mark_consistent(&mut u);
    ///         u
    ///     }
    /// };
    /// # drop(u);
    /// ```
    pub fn mark_consistent(this: &mut Self) {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        unsafe { this.lock.raw.mark_consistent() };
    }

    /// Upgradable → read, atomically and without waiting (Boost's
    /// `unlock_upgradable_and_lock_sharable`): another upgrader or a writer may come in.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{UpgradableGuard, UpgradableRwLock};
    ///
    /// let l = UpgradableRwLock::new(1);
    /// let r = UpgradableGuard::downgrade(l.upgradable_read().unwrap());
    /// assert!(l.try_upgradable_read().is_ok());
    /// drop(r);
    /// ```
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T, Upgradable> {
        let lock = Self::into_lock(this);
        // SAFETY: the guard held the upgradable lock, now given up for a read lock.
        unsafe { lock.raw.downgrade_upgradable() };
        lock.read_guard()
    }

    /// Upgradable → write (Boost's `unlock_upgradable_and_lock`): holds new readers back and
    /// waits for the readers inside to leave; no other writer or upgrader can get in meanwhile.
    /// Deadlocks if this thread holds a read lock on this lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{UpgradableGuard, UpgradableRwLock};
    ///
    /// let l = UpgradableRwLock::new(1);
    /// let mut w = UpgradableGuard::upgrade(l.upgradable_read().unwrap());
    /// *w = 2;
    /// ```
    pub fn upgrade(this: Self) -> RwLockWriteGuard<'a, T, Upgradable> {
        let lock = Self::into_lock(this);
        // SAFETY: the guard held the upgradable lock, now turned into the write lock.
        unsafe { lock.raw.upgrade() };
        lock.write_guard()
    }

    /// Upgradable → write if no reader holds the lock now (Boost's
    /// `try_unlock_upgradable_and_lock`).
    ///
    /// # Errors
    ///
    /// The upgradable guard, unchanged (still holding the upgradable lock), if readers are
    /// inside.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{UpgradableGuard, UpgradableRwLock};
    ///
    /// let l = UpgradableRwLock::new(1);
    /// let u = l.upgradable_read().unwrap();
    /// let r = l.read().unwrap();
    /// let u = UpgradableGuard::try_upgrade(u).unwrap_err();
    /// drop(r);
    /// let w = UpgradableGuard::try_upgrade(u).unwrap();
    /// # drop(w);
    /// ```
    pub fn try_upgrade(this: Self) -> Result<RwLockWriteGuard<'a, T, Upgradable>, Self> {
        // SAFETY: the guard proves this thread holds the upgradable lock; on failure it still
        // does.
        if unsafe { this.lock.raw.try_upgrade() } {
            Ok(Self::into_lock(this).write_guard())
        } else {
            Err(this)
        }
    }

    /// Upgradable → write, waiting at most `timeout` (monotonic clock) for readers to leave
    /// (Boost's `timed_unlock_upgradable_and_lock`). While it waits, new readers are held back.
    ///
    /// # Errors
    ///
    /// The upgradable guard, unchanged (readers may come in again), if the readers did not
    /// leave in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::{UpgradableGuard, UpgradableRwLock};
    ///
    /// let l = UpgradableRwLock::new(1);
    /// let u = l.upgradable_read().unwrap();
    /// let r = l.read().unwrap();
    /// let u = UpgradableGuard::upgrade_timeout(u, Duration::from_millis(5)).unwrap_err();
    /// drop(r);
    /// let w = UpgradableGuard::upgrade_timeout(u, Duration::from_millis(5)).unwrap();
    /// # drop(w);
    /// ```
    pub fn upgrade_timeout(
        this: Self,
        timeout: Duration,
    ) -> Result<RwLockWriteGuard<'a, T, Upgradable>, Self> {
        let upgraded = if timeout.is_zero() {
            // SAFETY: the guard proves this thread holds the upgradable lock.
            unsafe { this.lock.raw.try_upgrade() }
        } else {
            // SAFETY: as above.
            unsafe { this.lock.raw.upgrade_deadline(Deadline::after(timeout)) }
        };
        if upgraded {
            Ok(Self::into_lock(this).write_guard())
        } else {
            Err(this)
        }
    }
}

impl<T: ?Sized> sealed::Sealed for UpgradableGuard<'_, T> {}

impl<T: ?Sized> Recover for UpgradableGuard<'_, T> {
    fn mark_consistent(&mut self) {
        UpgradableGuard::mark_consistent(self);
    }
}

impl<T: ?Sized> Deref for UpgradableGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the upgradable lock keeps writers out; only shared references are handed out.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for UpgradableGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        unsafe {
            if std::thread::panicking() {
                self.lock.raw.mark_inconsistent();
            }
            self.lock.raw.unlock_upgradable();
        }
    }
}

macro_rules! fmt_guard {
    ($guard:ident $(, $k:ident)?) => {
        impl<T: ?Sized + fmt::Debug $(, $k)?> fmt::Debug for $guard<'_, T $(, $k)?> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<T: ?Sized + fmt::Display $(, $k)?> fmt::Display for $guard<'_, T $(, $k)?> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    };
}

fmt_guard!(RwLockReadGuard, K);
fmt_guard!(RwLockWriteGuard, K);
fmt_guard!(UpgradableGuard);

/// Lets a [`CondvarAny`](crate::sync::CondvarAny) (or a
/// [`NamedCondvar`](crate::sync::NamedCondvar)) wait with a write lock.
impl<'a, T: ?Sized, K> crate::sync::Lockable for RwLockWriteGuard<'a, T, K> {
    type Unlocked = &'a RwLock<T>;

    fn unlock(guard: Self) -> &'a RwLock<T> {
        let lock = guard.lock;
        drop(guard);
        lock
    }

    fn relock(lock: &'a RwLock<T>) -> LockResult<Self> {
        lock.write_as()
    }
}

/// Lets a [`CondvarAny`](crate::sync::CondvarAny) (or a
/// [`NamedCondvar`](crate::sync::NamedCondvar)) wait with a read lock.
impl<'a, T: ?Sized, K> crate::sync::Lockable for RwLockReadGuard<'a, T, K> {
    type Unlocked = &'a RwLock<T>;

    fn unlock(guard: Self) -> &'a RwLock<T> {
        let lock = guard.lock;
        drop(guard);
        lock
    }

    fn relock(lock: &'a RwLock<T>) -> LockResult<Self> {
        lock.read_as()
    }
}

//! [`NamedMutex`]: a robust, process-shared mutex found by name.

use std::fmt;
use std::time::Duration;

use super::object::{Kind, NamedObject, Payload};
use super::{map_lock, map_try};
use crate::error::Result;
use crate::region::{Permissions, SharedMemory};
use crate::sync::error::{LockResult, Recover, TryLockResult, sealed};
use crate::sync::{Lockable, Mutex, MutexGuard};

impl Payload for Mutex<()> {
    const KIND: Kind = Kind::Mutex;
}

/// A mutex that processes open by name: Boost's `named_mutex`, robust.
///
/// It lives in the shared memory object `/dev/shm/<name>` (a checked header, then a
/// [`Mutex<()>`](crate::sync::Mutex)), so unrelated processes can share it without sharing
/// memory first. It protects no data of its own: it guards whatever the processes agree on (a
/// file, a device, another shared memory object). Locking and unlocking are the same futex
/// operations as [`Mutex`]'s: no system call without contention.
///
/// If a process dies holding the lock, the next locker gets
/// [`OwnerDied`](crate::sync::OwnerDied) carrying the guard, repairs what the lock protects and
/// calls [`NamedMutexGuard::mark_consistent`]; until someone does, every locker is told. Boost's
/// `named_mutex` stays locked forever instead.
///
/// Creation semantics, the namespace and the validation of existing objects are described in
/// the [module docs](crate::sync::named). Handles are `Send` and `Sync`; guards stay on the
/// thread that locked.
///
/// # Examples
///
/// ```
/// use shmkit::sync::NamedMutex;
///
/// let name = format!("doc-named-mutex-{}", std::process::id());
/// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
///
/// let a = NamedMutex::create(&name)?;
/// let b = NamedMutex::open(&name)?; // in another process, typically
/// let guard = a.lock().unwrap();
/// assert!(b.try_lock().is_err()); // one lock, whichever handle
/// drop(guard);
/// assert!(b.try_lock().is_ok());
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct NamedMutex {
    inner: NamedObject<Mutex<()>>,
}

impl NamedMutex {
    /// Creates the mutex `name`, unlocked, with [`Permissions::default`] (`0o600`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) if the name is taken (by
    /// any shared memory object); [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName);
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied) or
    /// [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory) from the system.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, sync::NamedMutex};
    ///
    /// let name = format!("doc-named-mutex-create-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedMutex::create(&name)?;
    /// assert!(m.created());
    /// assert_eq!(NamedMutex::create(&name).unwrap_err().kind(), ErrorKind::AlreadyExists);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str) -> Result<NamedMutex> {
        NamedMutex::create_with(name, Permissions::default())
    }

    /// Creates the mutex `name`, unlocked, with `permissions` (applied exactly, whatever the
    /// umask). Processes that open it need read and write permission.
    ///
    /// # Errors
    ///
    /// As [`create`](NamedMutex::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, SharedMemory, sync::NamedMutex};
    ///
    /// let name = format!("doc-named-mutex-perm-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// NamedMutex::create_with(&name, Permissions::from_mode(0o660))?;
    /// assert_eq!(SharedMemory::open(&name)?.permissions()?.mode(), 0o660);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(name: &str, permissions: Permissions) -> Result<NamedMutex> {
        NamedObject::create(name, permissions, Mutex::new(())).map(|inner| NamedMutex { inner })
    }

    /// Opens the existing mutex `name`, waiting (up to a second) for its creator to finish
    /// initialising it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) if no object has that name;
    /// [`ErrorKind::Incompatible`](crate::ErrorKind::Incompatible) if the object is not a shmkit
    /// named mutex (another kind of shmkit object, a plain shared memory object, another
    /// program's); [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) if it is a damaged one
    /// (truncated, or its creator died while initialising it);
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) if its live creator did not finish
    /// within a second; [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName);
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, sync::NamedMutex};
    ///
    /// let name = format!("doc-named-mutex-open-{}", std::process::id());
    /// assert_eq!(NamedMutex::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// NamedMutex::create(&name)?;
    /// let m = NamedMutex::open(&name)?;
    /// assert!(!m.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<NamedMutex> {
        NamedObject::open(name).map(|inner| NamedMutex { inner })
    }

    /// Opens the mutex `name`, creating it (unlocked, [`Permissions::default`]) if it does not
    /// exist. Race-free: when several processes call it at once, exactly one creates the
    /// mutex ([`created`](NamedMutex::created)) and all share it. An object left unusable by a
    /// creator that died while initialising it is replaced.
    ///
    /// # Errors
    ///
    /// As [`open`](NamedMutex::open), except `NotFound`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedMutex;
    ///
    /// let name = format!("doc-named-mutex-ooc-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let first = NamedMutex::open_or_create(&name)?;
    /// let second = NamedMutex::open_or_create(&name)?;
    /// assert!(first.created() && !second.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str) -> Result<NamedMutex> {
        NamedMutex::open_or_create_with(name, Permissions::default())
    }

    /// [`open_or_create`](NamedMutex::open_or_create) giving the mutex `permissions` if this
    /// call creates it (ignored when it opens it).
    ///
    /// # Errors
    ///
    /// As [`open_or_create`](NamedMutex::open_or_create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, sync::NamedMutex};
    ///
    /// let name = format!("doc-named-mutex-oocw-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedMutex::open_or_create_with(&name, Permissions::from_mode(0o640))?;
    /// assert!(m.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create_with(name: &str, permissions: Permissions) -> Result<NamedMutex> {
        NamedObject::open_or_create(name, permissions, Mutex::new(()))
            .map(|inner| NamedMutex { inner })
    }

    /// Removes the name `name` (whatever object it names, as
    /// [`SharedMemory::remove`]). Processes that have the mutex open keep using it; a later
    /// `open_or_create` makes a new one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) if no object has that name;
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName);
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, sync::NamedMutex};
    ///
    /// let name = format!("doc-named-mutex-remove-{}", std::process::id());
    /// NamedMutex::create(&name)?;
    /// NamedMutex::remove(&name)?;
    /// assert_eq!(NamedMutex::remove(&name).unwrap_err().kind(), ErrorKind::NotFound);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(name: &str) -> Result<()> {
        SharedMemory::remove(name)
    }

    /// Acquires the mutex, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](crate::sync::OwnerDied), carrying the guard (the lock *is* held), if a
    /// previous owner died holding it and nobody has marked it consistent since.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedMutex;
    ///
    /// let name = format!("doc-named-mutex-lock-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedMutex::create(&name)?;
    /// let guard = match m.lock() {
    ///     Ok(guard) => guard,
    ///     // A process died holding it: repair what it protects, then mark it consistent.
    ///     Err(died) => died.recover(|_guard| { /* repair */ }),
    /// };
    /// drop(guard);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn lock(&self) -> LockResult<NamedMutexGuard<'_>> {
        map_lock(self.inner.lock(), NamedMutexGuard::new)
    }

    /// Acquires the mutex if it is free right now.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`](crate::sync::TryLockError::WouldBlock) if it is held (a lock
    /// held by a dead owner reads as held here: only blocking and timed locks probe the owner);
    /// [`TryLockError::OwnerDied`](crate::sync::TryLockError::OwnerDied) as for
    /// [`lock`](NamedMutex::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{NamedMutex, TryLockError};
    ///
    /// let name = format!("doc-named-mutex-try-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedMutex::create(&name)?;
    /// let held = m.try_lock().unwrap();
    /// assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    /// drop(held);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_lock(&self) -> TryLockResult<NamedMutexGuard<'_>> {
        map_try(self.inner.try_lock(), NamedMutexGuard::new)
    }

    /// Acquires the mutex, waiting at most `timeout` (monotonic clock). Zero is a try.
    ///
    /// # Errors
    ///
    /// [`TryLockError::TimedOut`](crate::sync::TryLockError::TimedOut);
    /// [`TryLockError::OwnerDied`](crate::sync::TryLockError::OwnerDied) as for
    /// [`lock`](NamedMutex::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::{NamedMutex, TryLockError};
    ///
    /// let name = format!("doc-named-mutex-timeout-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedMutex::create(&name)?;
    /// let held = m.lock().unwrap();
    /// // Another thread, through another handle, gives up after 10 ms.
    /// let other = NamedMutex::open(&name)?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let r = other.lock_timeout(Duration::from_millis(10));
    ///         assert!(matches!(r, Err(TryLockError::TimedOut)));
    ///     });
    /// });
    /// drop(held);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<NamedMutexGuard<'_>> {
        map_try(self.inner.lock_timeout(timeout), NamedMutexGuard::new)
    }

    /// Whether anyone holds the mutex (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedMutex;
    ///
    /// let name = format!("doc-named-mutex-locked-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedMutex::create(&name)?;
    /// let guard = m.lock().unwrap();
    /// assert!(m.is_locked());
    /// drop(guard);
    /// assert!(!m.is_locked());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Whether the mutex is marked consistent (a snapshot): `false` after an owner died until
    /// someone marks it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedMutex;
    ///
    /// let name = format!("doc-named-mutex-consistent-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// assert!(NamedMutex::create(&name)?.is_consistent());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_consistent(&self) -> bool {
        self.inner.is_consistent()
    }

    /// The mutex's name, as given when opening it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedMutex;
    ///
    /// let name = format!("doc-named-mutex-name-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// assert_eq!(NamedMutex::create(&name)?.name(), name);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Whether this handle created the mutex (`false` when it opened an existing one).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedMutex;
    ///
    /// let name = format!("doc-named-mutex-created-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// assert!(NamedMutex::open_or_create(&name)?.created());
    /// assert!(!NamedMutex::open_or_create(&name)?.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.inner.created()
    }
}

impl fmt::Debug for NamedMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedMutex")
            .field("name", &self.name())
            .field("created", &self.created())
            .field("locked", &self.is_locked())
            .finish()
    }
}

/// Proof that this thread holds a [`NamedMutex`]; unlocks when dropped.
///
/// It gives access to nothing (the mutex protects no data of its own). If it is dropped while
/// the thread panics, the mutex is marked inconsistent, as when a holder dies.
///
/// # Examples
///
/// ```
/// use shmkit::sync::NamedMutex;
///
/// let name = format!("doc-named-mutex-guard-{}", std::process::id());
/// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
/// let m = NamedMutex::create(&name)?;
/// {
///     let _guard = m.lock().unwrap();
///     assert!(m.is_locked());
/// } // unlocked here
/// assert!(!m.is_locked());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[must_use = "the mutex is unlocked as soon as the guard is dropped"]
pub struct NamedMutexGuard<'a> {
    guard: MutexGuard<'a, ()>,
}

impl<'a> NamedMutexGuard<'a> {
    fn new(guard: MutexGuard<'a, ()>) -> NamedMutexGuard<'a> {
        NamedMutexGuard { guard }
    }

    /// Marks the mutex consistent after an [`OwnerDied`](crate::sync::OwnerDied): later lockers
    /// lock normally. Without it, the next locker is told that an owner died, too.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedMutex;
    ///
    /// let name = format!("doc-named-mutex-mark-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedMutex::create(&name)?;
    /// let mut guard = match m.lock() {
    ///     Ok(g) => g,
    ///     Err(died) => died.into_inner(),
    /// };
    /// guard.mark_consistent(); // harmless when nobody died
    /// assert!(m.is_consistent());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mark_consistent(&mut self) {
        MutexGuard::mark_consistent(&mut self.guard);
    }
}

impl sealed::Sealed for NamedMutexGuard<'_> {}

/// Lets a [`NamedCondvar`](crate::sync::NamedCondvar) (or any
/// [`CondvarAny`](crate::sync::CondvarAny)) wait with the named mutex.
impl<'a> Lockable for NamedMutexGuard<'a> {
    type Unlocked = &'a Mutex<()>;

    fn unlock(guard: Self) -> &'a Mutex<()> {
        Lockable::unlock(guard.guard)
    }

    fn relock(mutex: &'a Mutex<()>) -> LockResult<Self> {
        map_lock(mutex.lock(), NamedMutexGuard::new)
    }
}

impl Recover for NamedMutexGuard<'_> {
    fn mark_consistent(&mut self) {
        NamedMutexGuard::mark_consistent(self);
    }
}

impl fmt::Debug for NamedMutexGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedMutexGuard")
            .field(
                "consistent",
                &MutexGuard::mutex(&self.guard).is_consistent(),
            )
            .finish_non_exhaustive()
    }
}

//! [`NamedRecursiveMutex`]: a robust, process-shared recursive mutex found by name.

use std::fmt;
use std::time::Duration;

use super::object::{Kind, NamedObject, Payload};
use super::{map_lock, map_try};
use crate::error::Result;
use crate::region::{Permissions, SharedMemory};
use crate::sync::error::{LockResult, Recover, TryLockResult, sealed};
use crate::sync::{RecursiveMutex, RecursiveMutexGuard};

impl Payload for RecursiveMutex<()> {
    const KIND: Kind = Kind::RecursiveMutex;
}

/// A recursive mutex that processes open by name: Boost's `named_recursive_mutex`, robust.
///
/// The thread holding it may lock it again (through this or any other handle to the same name);
/// it is released when that thread has dropped every guard. Other threads and processes wait.
/// It lives in the shared memory object `/dev/shm/<name>` (a checked header, then a
/// [`RecursiveMutex<()>`](crate::sync::RecursiveMutex)) and protects no data of its own.
///
/// If a process dies holding the lock (at any depth), the next locker gets
/// [`OwnerDied`](crate::sync::OwnerDied) carrying the guard, repairs what the lock protects and
/// calls [`NamedRecursiveMutexGuard::mark_consistent`]; until someone does, every locker is
/// told. Boost's `named_recursive_mutex` reports `not_recoverable` forever instead.
///
/// Creation semantics, the namespace and the validation of existing objects are described in
/// the [module docs](crate::sync::named). Handles are `Send` and `Sync`; guards stay on the
/// thread that locked.
///
/// # Examples
///
/// ```
/// use shmkit::sync::NamedRecursiveMutex;
///
/// let name = format!("doc-named-rmutex-{}", std::process::id());
/// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
///
/// let m = NamedRecursiveMutex::create(&name)?;
/// let outer = m.lock().unwrap();
/// let inner = m.lock().unwrap(); // the same thread: no deadlock
/// drop(inner);
/// assert!(m.is_locked());
/// drop(outer);
/// assert!(!m.is_locked());
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct NamedRecursiveMutex {
    inner: NamedObject<RecursiveMutex<()>>,
}

impl NamedRecursiveMutex {
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
    /// use shmkit::{ErrorKind, sync::NamedRecursiveMutex};
    ///
    /// let name = format!("doc-named-rmutex-create-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedRecursiveMutex::create(&name)?;
    /// assert!(m.created());
    /// assert_eq!(NamedRecursiveMutex::create(&name).unwrap_err().kind(), ErrorKind::AlreadyExists);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str) -> Result<NamedRecursiveMutex> {
        NamedRecursiveMutex::create_with(name, Permissions::default())
    }

    /// Creates the mutex `name`, unlocked, with `permissions` (applied exactly, whatever the
    /// umask). Processes that open it need read and write permission.
    ///
    /// # Errors
    ///
    /// As [`create`](NamedRecursiveMutex::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, SharedMemory, sync::NamedRecursiveMutex};
    ///
    /// let name = format!("doc-named-rmutex-perm-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// NamedRecursiveMutex::create_with(&name, Permissions::from_mode(0o660))?;
    /// assert_eq!(SharedMemory::open(&name)?.permissions()?.mode(), 0o660);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(name: &str, permissions: Permissions) -> Result<NamedRecursiveMutex> {
        NamedObject::create(name, permissions, RecursiveMutex::new(()))
            .map(|inner| NamedRecursiveMutex { inner })
    }

    /// Opens the existing mutex `name`, waiting (up to a second) for its creator to finish
    /// initialising it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) if no object has that name;
    /// [`ErrorKind::Incompatible`](crate::ErrorKind::Incompatible) if the object is not a shmkit
    /// named recursive mutex (another kind of shmkit object, a plain shared memory object, another
    /// program's); [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) if it is a damaged one
    /// (truncated, or its creator died while initialising it);
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) if its live creator did not finish
    /// within a second; [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName);
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, sync::NamedRecursiveMutex};
    ///
    /// let name = format!("doc-named-rmutex-open-{}", std::process::id());
    /// assert_eq!(NamedRecursiveMutex::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// NamedRecursiveMutex::create(&name)?;
    /// let m = NamedRecursiveMutex::open(&name)?;
    /// assert!(!m.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<NamedRecursiveMutex> {
        NamedObject::open(name).map(|inner| NamedRecursiveMutex { inner })
    }

    /// Opens the mutex `name`, creating it (unlocked, [`Permissions::default`]) if it does not
    /// exist. Race-free: when several processes call it at once, exactly one creates the
    /// mutex ([`created`](NamedRecursiveMutex::created)) and all share it. An object left unusable by a
    /// creator that died while initialising it is replaced.
    ///
    /// # Errors
    ///
    /// As [`open`](NamedRecursiveMutex::open), except `NotFound`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedRecursiveMutex;
    ///
    /// let name = format!("doc-named-rmutex-ooc-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let first = NamedRecursiveMutex::open_or_create(&name)?;
    /// let second = NamedRecursiveMutex::open_or_create(&name)?;
    /// assert!(first.created() && !second.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str) -> Result<NamedRecursiveMutex> {
        NamedRecursiveMutex::open_or_create_with(name, Permissions::default())
    }

    /// [`open_or_create`](NamedRecursiveMutex::open_or_create) giving the mutex `permissions` if this
    /// call creates it (ignored when it opens it).
    ///
    /// # Errors
    ///
    /// As [`open_or_create`](NamedRecursiveMutex::open_or_create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, sync::NamedRecursiveMutex};
    ///
    /// let name = format!("doc-named-rmutex-oocw-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedRecursiveMutex::open_or_create_with(&name, Permissions::from_mode(0o640))?;
    /// assert!(m.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create_with(
        name: &str,
        permissions: Permissions,
    ) -> Result<NamedRecursiveMutex> {
        NamedObject::open_or_create(name, permissions, RecursiveMutex::new(()))
            .map(|inner| NamedRecursiveMutex { inner })
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
    /// use shmkit::{ErrorKind, sync::NamedRecursiveMutex};
    ///
    /// let name = format!("doc-named-rmutex-remove-{}", std::process::id());
    /// NamedRecursiveMutex::create(&name)?;
    /// NamedRecursiveMutex::remove(&name)?;
    /// assert_eq!(NamedRecursiveMutex::remove(&name).unwrap_err().kind(), ErrorKind::NotFound);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(name: &str) -> Result<()> {
        SharedMemory::remove(name)
    }

    /// Acquires the mutex (again, if this thread holds it), waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](crate::sync::OwnerDied), carrying the guard (the lock *is* held), if a
    /// previous owner died holding it and nobody has marked it consistent since.
    ///
    /// # Panics
    ///
    /// If one thread nests more than `u32::MAX` guards.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedRecursiveMutex;
    ///
    /// let name = format!("doc-named-rmutex-lock-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedRecursiveMutex::create(&name)?;
    /// let guard = match m.lock() {
    ///     Ok(guard) => guard,
    ///     // A process died holding it: repair what it protects, then mark it consistent.
    ///     Err(died) => died.recover(|_guard| { /* repair */ }),
    /// };
    /// drop(guard);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn lock(&self) -> LockResult<NamedRecursiveMutexGuard<'_>> {
        map_lock(self.inner.lock(), NamedRecursiveMutexGuard::new)
    }

    /// Acquires the mutex if it is free right now or held by this thread.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`](crate::sync::TryLockError::WouldBlock) if it is held (a lock
    /// held by a dead owner reads as held here: only blocking and timed locks probe the owner);
    /// [`TryLockError::OwnerDied`](crate::sync::TryLockError::OwnerDied) as for
    /// [`lock`](NamedRecursiveMutex::lock).
    ///
    /// # Panics
    ///
    /// If one thread nests more than `u32::MAX` guards.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::{NamedRecursiveMutex, TryLockError};
    ///
    /// let name = format!("doc-named-rmutex-try-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedRecursiveMutex::create(&name)?;
    /// let held = m.try_lock().unwrap();
    /// let again = m.try_lock().unwrap(); // held by this thread: re-entered
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock))));
    /// });
    /// drop((again, held));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_lock(&self) -> TryLockResult<NamedRecursiveMutexGuard<'_>> {
        map_try(self.inner.try_lock(), NamedRecursiveMutexGuard::new)
    }

    /// Acquires the mutex (at once if this thread holds it), waiting at most `timeout`
    /// (monotonic clock). Zero is a try.
    ///
    /// # Errors
    ///
    /// [`TryLockError::TimedOut`](crate::sync::TryLockError::TimedOut);
    /// [`TryLockError::OwnerDied`](crate::sync::TryLockError::OwnerDied) as for
    /// [`lock`](NamedRecursiveMutex::lock).
    ///
    /// # Panics
    ///
    /// If one thread nests more than `u32::MAX` guards.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::{NamedRecursiveMutex, TryLockError};
    ///
    /// let name = format!("doc-named-rmutex-timeout-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedRecursiveMutex::create(&name)?;
    /// let held = m.lock().unwrap();
    /// // Another thread, through another handle, gives up after 10 ms.
    /// let other = NamedRecursiveMutex::open(&name)?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let r = other.lock_timeout(Duration::from_millis(10));
    ///         assert!(matches!(r, Err(TryLockError::TimedOut)));
    ///     });
    /// });
    /// drop(held);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<NamedRecursiveMutexGuard<'_>> {
        map_try(
            self.inner.lock_timeout(timeout),
            NamedRecursiveMutexGuard::new,
        )
    }

    /// Whether anyone holds the mutex (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedRecursiveMutex;
    ///
    /// let name = format!("doc-named-rmutex-locked-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedRecursiveMutex::create(&name)?;
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
    /// use shmkit::sync::NamedRecursiveMutex;
    ///
    /// let name = format!("doc-named-rmutex-consistent-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// assert!(NamedRecursiveMutex::create(&name)?.is_consistent());
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
    /// use shmkit::sync::NamedRecursiveMutex;
    ///
    /// let name = format!("doc-named-rmutex-name-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// assert_eq!(NamedRecursiveMutex::create(&name)?.name(), name);
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
    /// use shmkit::sync::NamedRecursiveMutex;
    ///
    /// let name = format!("doc-named-rmutex-created-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// assert!(NamedRecursiveMutex::open_or_create(&name)?.created());
    /// assert!(!NamedRecursiveMutex::open_or_create(&name)?.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.inner.created()
    }
}

impl fmt::Debug for NamedRecursiveMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedRecursiveMutex")
            .field("name", &self.name())
            .field("created", &self.created())
            .field("locked", &self.is_locked())
            .finish()
    }
}

/// Proof that this thread holds a [`NamedRecursiveMutex`]; the mutex is unlocked when the
/// thread's last guard is dropped.
///
/// It gives access to nothing (the mutex protects no data of its own). If the thread's last
/// guard is dropped while the thread panics, the mutex is marked inconsistent, as when a holder
/// dies.
///
/// # Examples
///
/// ```
/// use shmkit::sync::NamedRecursiveMutex;
///
/// let name = format!("doc-named-rmutex-guard-{}", std::process::id());
/// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
/// let m = NamedRecursiveMutex::create(&name)?;
/// {
///     let _guard = m.lock().unwrap();
///     assert!(m.is_locked());
/// } // unlocked here
/// assert!(!m.is_locked());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[must_use = "the mutex is unlocked when the last guard of its thread is dropped"]
pub struct NamedRecursiveMutexGuard<'a> {
    guard: RecursiveMutexGuard<'a, ()>,
}

impl<'a> NamedRecursiveMutexGuard<'a> {
    fn new(guard: RecursiveMutexGuard<'a, ()>) -> NamedRecursiveMutexGuard<'a> {
        NamedRecursiveMutexGuard { guard }
    }

    /// Marks the mutex consistent after an [`OwnerDied`](crate::sync::OwnerDied): later lockers
    /// lock normally. Without it, the next locker is told that an owner died, too.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedRecursiveMutex;
    ///
    /// let name = format!("doc-named-rmutex-mark-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let m = NamedRecursiveMutex::create(&name)?;
    /// let mut guard = match m.lock() {
    ///     Ok(g) => g,
    ///     Err(died) => died.into_inner(),
    /// };
    /// guard.mark_consistent(); // harmless when nobody died
    /// assert!(m.is_consistent());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mark_consistent(&mut self) {
        RecursiveMutexGuard::mark_consistent(&mut self.guard);
    }
}

impl sealed::Sealed for NamedRecursiveMutexGuard<'_> {}

impl Recover for NamedRecursiveMutexGuard<'_> {
    fn mark_consistent(&mut self) {
        NamedRecursiveMutexGuard::mark_consistent(self);
    }
}

impl fmt::Debug for NamedRecursiveMutexGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedRecursiveMutexGuard")
            .finish_non_exhaustive()
    }
}

/// Lets a [`NamedCondvar`](crate::sync::NamedCondvar) wait with the named recursive mutex (the
/// thread's only guard of it, as for [`RecursiveMutexGuard`]).
impl<'a> crate::sync::Lockable for NamedRecursiveMutexGuard<'a> {
    type Unlocked = &'a crate::sync::RecursiveMutex<()>;

    fn unlock(guard: Self) -> &'a crate::sync::RecursiveMutex<()> {
        crate::sync::Lockable::unlock(guard.guard)
    }

    fn relock(mutex: &'a crate::sync::RecursiveMutex<()>) -> LockResult<Self> {
        super::map_lock(mutex.lock(), NamedRecursiveMutexGuard::new)
    }
}

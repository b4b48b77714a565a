//! [`NamedSemaphore`]: a process-shared counting semaphore found by name.

use std::fmt;
use std::time::{Duration, Instant};

use super::object::{Kind, NamedObject, Payload};
use crate::error::Result;
use crate::region::{Permissions, SharedMemory};
use crate::sync::Semaphore;

impl Payload for Semaphore {
    const KIND: Kind = Kind::Semaphore;
}

/// A counting [`Semaphore`] in its own named shared memory object (Boost's `named_semaphore`).
///
/// Boost builds it on a POSIX named semaphore (`/dev/shm/sem.<name>`); shmkit's lives in a
/// validated named object like every other named type, shares the `/dev/shm` namespace with
/// them, and a waiter that dies never leaves the others stuck (see [`Semaphore`]).
///
/// # Examples
///
/// ```
/// use shmkit::sync::NamedSemaphore;
///
/// let name = format!("doc-named-sem-{}", std::process::id());
/// let sem = NamedSemaphore::create(&name, 1)?;
/// assert!(sem.try_wait());
/// assert!(!sem.try_wait());
///
/// // Any process opening the name shares the count.
/// let other = NamedSemaphore::open(&name)?;
/// other.post()?;
/// assert!(sem.try_wait());
/// NamedSemaphore::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct NamedSemaphore {
    inner: NamedObject<Semaphore>,
}

impl NamedSemaphore {
    /// Creates the semaphore `name` with count `initial` and default permissions (`0o600`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) if the name is taken;
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName); OS errors.
    pub fn create(name: &str, initial: u32) -> Result<NamedSemaphore> {
        NamedSemaphore::create_with(name, initial, Permissions::default())
    }

    /// Creates the semaphore with the given permissions.
    ///
    /// # Errors
    ///
    /// As [`create`](NamedSemaphore::create).
    pub fn create_with(
        name: &str,
        initial: u32,
        permissions: Permissions,
    ) -> Result<NamedSemaphore> {
        NamedObject::create(name, permissions, Semaphore::new(initial))
            .map(|inner| NamedSemaphore { inner })
    }

    /// Opens an existing semaphore.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound);
    /// [`ErrorKind::Incompatible`](crate::ErrorKind::Incompatible) if `name` is not a shmkit
    /// semaphore; [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) if its creator died while
    /// initialising it.
    pub fn open(name: &str) -> Result<NamedSemaphore> {
        NamedObject::open(name).map(|inner| NamedSemaphore { inner })
    }

    /// Opens the semaphore, creating it with count `initial` if missing (race-free; `initial`
    /// is ignored when opening, as in Boost).
    ///
    /// # Errors
    ///
    /// As [`open`](NamedSemaphore::open) and [`create`](NamedSemaphore::create).
    pub fn open_or_create(name: &str, initial: u32) -> Result<NamedSemaphore> {
        NamedObject::open_or_create(name, Permissions::default(), Semaphore::new(initial))
            .map(|inner| NamedSemaphore { inner })
    }

    /// Removes the name; handles already open keep working.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound);
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName).
    pub fn remove(name: &str) -> Result<()> {
        SharedMemory::remove(name)
    }

    /// Adds one to the count, waking a waiter if any.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) if the count is at
    /// `u32::MAX`.
    pub fn post(&self) -> Result<()> {
        self.inner.post()
    }

    /// Takes one from the count, waiting while it is zero.
    pub fn wait(&self) {
        self.inner.wait()
    }

    /// Takes one from the count if it is positive now.
    pub fn try_wait(&self) -> bool {
        self.inner.try_wait()
    }

    /// Takes one from the count, waiting at most `timeout` (monotonic clock); `false` on timeout.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.inner.wait_timeout(timeout)
    }

    /// Takes one from the count, waiting until `deadline` at most; `false` on timeout.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        self.inner.wait_until(deadline)
    }

    /// The count (a snapshot).
    pub fn value(&self) -> u32 {
        self.inner.value()
    }

    /// The semaphore's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Whether this handle created the semaphore.
    pub fn created(&self) -> bool {
        self.inner.created()
    }
}

impl fmt::Debug for NamedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedSemaphore")
            .field("name", &self.name())
            .field("value", &self.value())
            .finish()
    }
}

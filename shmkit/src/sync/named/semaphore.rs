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
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-create-{}", std::process::id());
    /// let sem = NamedSemaphore::create(&name, 0)?;
    /// assert_eq!(sem.value(), 0);
    /// assert!(NamedSemaphore::create(&name, 0).is_err()); // the name is taken
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str, initial: u32) -> Result<NamedSemaphore> {
        NamedSemaphore::create_with(name, initial, Permissions::default())
    }

    /// Creates the semaphore with the given permissions.
    ///
    /// # Errors
    ///
    /// As [`create`](NamedSemaphore::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-create-with-{}", std::process::id());
    /// let sem = NamedSemaphore::create_with(&name, 2, shmkit::Permissions::from_mode(0o640))?;
    /// assert_eq!(sem.value(), 2);
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-open-{}", std::process::id());
    /// let sem = NamedSemaphore::create(&name, 0)?;
    /// let other = NamedSemaphore::open(&name)?; // as another process would
    /// sem.post()?;
    /// assert!(other.try_wait());
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<NamedSemaphore> {
        NamedObject::open(name).map(|inner| NamedSemaphore { inner })
    }

    /// Opens the semaphore, creating it with count `initial` if missing (race-free; `initial`
    /// is ignored when opening, as in Boost).
    ///
    /// # Errors
    ///
    /// As [`open`](NamedSemaphore::open) and [`create`](NamedSemaphore::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-ooc-{}", std::process::id());
    /// let a = NamedSemaphore::open_or_create(&name, 3)?;
    /// let b = NamedSemaphore::open_or_create(&name, 9)?; // opens: the count stays 3
    /// assert!(a.created() && !b.created());
    /// assert_eq!(b.value(), 3);
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-remove-{}", std::process::id());
    /// let sem = NamedSemaphore::create(&name, 1)?;
    /// NamedSemaphore::remove(&name)?;
    /// assert!(sem.try_wait()); // the handle keeps working
    /// assert!(NamedSemaphore::open(&name).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(name: &str) -> Result<()> {
        SharedMemory::remove(name)
    }

    /// Adds one to the count, waking a waiter if any.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) if the count is at
    /// `u32::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-post-{}", std::process::id());
    /// let sem = NamedSemaphore::create(&name, 0)?;
    /// sem.post()?;
    /// assert_eq!(sem.value(), 1);
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn post(&self) -> Result<()> {
        self.inner.post()
    }

    /// Takes one from the count, waiting while it is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-wait-{}", std::process::id());
    /// let sem = NamedSemaphore::create(&name, 0)?;
    /// sem.post()?;
    /// sem.wait(); // a unit is there: returns at once
    /// assert_eq!(sem.value(), 0);
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait(&self) {
        self.inner.wait()
    }

    /// Takes one from the count if it is positive now.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-try-wait-{}", std::process::id());
    /// let sem = NamedSemaphore::create(&name, 0)?;
    /// assert!(!sem.try_wait());
    /// sem.post()?;
    /// assert!(sem.try_wait());
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_wait(&self) -> bool {
        self.inner.try_wait()
    }

    /// Takes one from the count, waiting at most `timeout` (monotonic clock); `false` on timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-wait-timeout-{}", std::process::id());
    /// let sem = NamedSemaphore::create(&name, 0)?;
    /// use std::time::Duration;
    /// assert!(!sem.wait_timeout(Duration::from_millis(10)));
    /// sem.post()?;
    /// assert!(sem.wait_timeout(Duration::from_millis(10)));
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.inner.wait_timeout(timeout)
    }

    /// Takes one from the count, waiting until `deadline` at most; `false` on timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-wait-until-{}", std::process::id());
    /// let sem = NamedSemaphore::create(&name, 0)?;
    /// use std::time::{Duration, Instant};
    /// assert!(!sem.wait_until(Instant::now() + Duration::from_millis(10)));
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait_until(&self, deadline: Instant) -> bool {
        self.inner.wait_until(deadline)
    }

    /// The count (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-value-{}", std::process::id());
    /// let sem = NamedSemaphore::create(&name, 2)?;
    /// assert_eq!(sem.value(), 2);
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn value(&self) -> u32 {
        self.inner.value()
    }

    /// The semaphore's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-name-{}", std::process::id());
    /// let sem = NamedSemaphore::create(&name, 0)?;
    /// assert_eq!(sem.name(), name);
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Whether this handle created the semaphore.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedSemaphore;
    ///
    /// let name = format!("doc-nsem-created-{}", std::process::id());
    /// let sem = NamedSemaphore::create(&name, 0)?;
    /// assert!(sem.created());
    /// assert!(!NamedSemaphore::open(&name)?.created());
    /// NamedSemaphore::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
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

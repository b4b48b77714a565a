//! [`NamedCondvar`]: a process-shared condition variable found by name.

use std::fmt;
use std::time::{Duration, Instant};

use super::object::{Kind, NamedObject, Payload};
use crate::error::Result;
use crate::region::{Permissions, SharedMemory};
use crate::sync::{CondvarAny, LockResult, Lockable, WaitTimeoutResult};

impl Payload for CondvarAny {
    const KIND: Kind = Kind::Condvar;
}

/// A condition variable in its own named shared memory object (Boost's `named_condition` /
/// `named_condition_any`). It waits with any [`Lockable`] guard: typically a
/// [`NamedMutexGuard`](crate::sync::NamedMutexGuard), or the guard of a
/// [`Mutex`](crate::sync::Mutex) living in shared memory.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit::sync::{NamedCondvar, NamedMutex};
///
/// let pid = std::process::id();
/// let (m, c) = (format!("doc-ncv-m-{pid}"), format!("doc-ncv-c-{pid}"));
/// let mutex = NamedMutex::create(&m)?;
/// let cond = NamedCondvar::create(&c)?;
///
/// let guard = mutex.lock().unwrap();
/// // Nobody notifies: the wait times out and hands the guard back.
/// let (guard, result) = cond.wait_timeout(guard, Duration::from_millis(10)).unwrap();
/// assert!(result.timed_out());
/// drop(guard);
///
/// NamedMutex::remove(&m)?;
/// NamedCondvar::remove(&c)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct NamedCondvar {
    inner: NamedObject<CondvarAny>,
}

impl NamedCondvar {
    /// Creates the condition variable `name` with default permissions (`0o600`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) if the name is taken;
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName); OS errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedCondvar;
    ///
    /// let name = format!("doc-ncv-create-{}", std::process::id());
    /// let cond = NamedCondvar::create(&name)?;
    /// assert!(cond.created());
    /// assert!(NamedCondvar::create(&name).is_err()); // the name is taken
    /// NamedCondvar::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str) -> Result<NamedCondvar> {
        NamedCondvar::create_with(name, Permissions::default())
    }

    /// Creates the condition variable with the given permissions.
    ///
    /// # Errors
    ///
    /// As [`create`](NamedCondvar::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedCondvar;
    ///
    /// let name = format!("doc-ncv-create-with-{}", std::process::id());
    /// let cond = NamedCondvar::create_with(&name, shmkit::Permissions::from_mode(0o640))?;
    /// assert!(cond.created());
    /// NamedCondvar::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(name: &str, permissions: Permissions) -> Result<NamedCondvar> {
        NamedObject::create(name, permissions, CondvarAny::new())
            .map(|inner| NamedCondvar { inner })
    }

    /// Opens an existing condition variable.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound);
    /// [`ErrorKind::Incompatible`](crate::ErrorKind::Incompatible) if `name` is not a shmkit
    /// condition variable; [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedCondvar;
    ///
    /// let name = format!("doc-ncv-open-{}", std::process::id());
    /// let cond = NamedCondvar::create(&name)?;
    /// let other = NamedCondvar::open(&name)?; // as another process would
    /// assert!(!other.created());
    /// NamedCondvar::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<NamedCondvar> {
        NamedObject::open(name).map(|inner| NamedCondvar { inner })
    }

    /// Opens the condition variable, creating it if missing (race-free).
    ///
    /// # Errors
    ///
    /// As [`open`](NamedCondvar::open) and [`create`](NamedCondvar::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedCondvar;
    ///
    /// let name = format!("doc-ncv-ooc-{}", std::process::id());
    /// let a = NamedCondvar::open_or_create(&name)?;
    /// let b = NamedCondvar::open_or_create(&name)?;
    /// assert!(a.created() && !b.created());
    /// NamedCondvar::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str) -> Result<NamedCondvar> {
        NamedObject::open_or_create(name, Permissions::default(), CondvarAny::new())
            .map(|inner| NamedCondvar { inner })
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
    /// use shmkit::sync::NamedCondvar;
    ///
    /// let name = format!("doc-ncv-remove-{}", std::process::id());
    /// let cond = NamedCondvar::create(&name)?;
    /// NamedCondvar::remove(&name)?;
    /// cond.notify_all(); // the handle keeps working
    /// assert!(NamedCondvar::open(&name).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(name: &str) -> Result<()> {
        SharedMemory::remove(name)
    }

    /// Releases `guard`'s lock, waits for a notification, and takes the lock again. Spurious
    /// wake-ups are possible: check your condition in a loop, or use
    /// [`wait_while`](NamedCondvar::wait_while).
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](crate::sync::OwnerDied) carrying the guard, if retaking the lock reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use shmkit::sync::{NamedCondvar, NamedMutex};
    ///
    /// let pid = std::process::id();
    /// let (m, c) = (format!("doc-ncv-wait-m-{pid}"), format!("doc-ncv-wait-c-{pid}"));
    /// let mutex = Arc::new(NamedMutex::create(&m)?);
    /// let cond = Arc::new(NamedCondvar::create(&c)?);
    /// let ready = Arc::new(AtomicBool::new(false));
    /// let notifier = {
    ///     let (mutex, cond, ready) = (mutex.clone(), cond.clone(), ready.clone());
    ///     std::thread::spawn(move || {
    ///         let _guard = mutex.lock().unwrap();
    ///         ready.store(true, Ordering::Relaxed);
    ///         cond.notify_all();
    ///     })
    /// };
    /// let mut guard = mutex.lock().unwrap();
    /// while !ready.load(Ordering::Relaxed) {
    ///     guard = cond.wait(guard).unwrap(); // wake-ups may be spurious: loop
    /// }
    /// drop(guard);
    /// notifier.join().unwrap();
    /// NamedMutex::remove(&m)?;
    /// NamedCondvar::remove(&c)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait<G: Lockable>(&self, guard: G) -> LockResult<G> {
        self.inner.wait(guard)
    }

    /// Waits until `condition` returns `false`.
    ///
    /// # Errors
    ///
    /// As [`wait`](NamedCondvar::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use shmkit::sync::{NamedCondvar, NamedMutex};
    ///
    /// let pid = std::process::id();
    /// let (m, c) = (format!("doc-ncv-wait-while-m-{pid}"), format!("doc-ncv-wait-while-c-{pid}"));
    /// let mutex = Arc::new(NamedMutex::create(&m)?);
    /// let cond = Arc::new(NamedCondvar::create(&c)?);
    /// let ready = Arc::new(AtomicBool::new(false));
    /// let notifier = {
    ///     let (mutex, cond, ready) = (mutex.clone(), cond.clone(), ready.clone());
    ///     std::thread::spawn(move || {
    ///         let _guard = mutex.lock().unwrap();
    ///         ready.store(true, Ordering::Relaxed);
    ///         cond.notify_all();
    ///     })
    /// };
    /// let guard = mutex.lock().unwrap();
    /// let guard = cond.wait_while(guard, |_| !ready.load(Ordering::Relaxed)).unwrap();
    /// drop(guard);
    /// notifier.join().unwrap();
    /// NamedMutex::remove(&m)?;
    /// NamedCondvar::remove(&c)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait_while<G: Lockable, F>(&self, guard: G, condition: F) -> LockResult<G>
    where
        F: FnMut(&mut G) -> bool,
    {
        self.inner.wait_while(guard, condition)
    }

    /// Waits for a notification for at most `timeout` (monotonic clock).
    ///
    /// # Errors
    ///
    /// As [`wait`](NamedCondvar::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use shmkit::sync::{NamedCondvar, NamedMutex};
    ///
    /// let pid = std::process::id();
    /// let (m, c) = (format!("doc-ncv-wt-m-{pid}"), format!("doc-ncv-wt-c-{pid}"));
    /// let mutex = Arc::new(NamedMutex::create(&m)?);
    /// let cond = Arc::new(NamedCondvar::create(&c)?);
    /// let ready = Arc::new(AtomicBool::new(false));
    /// let notifier = {
    ///     let (mutex, cond, ready) = (mutex.clone(), cond.clone(), ready.clone());
    ///     std::thread::spawn(move || {
    ///         let _guard = mutex.lock().unwrap();
    ///         ready.store(true, Ordering::Relaxed);
    ///         cond.notify_all();
    ///     })
    /// };
    /// use std::time::Duration;
    /// let mut guard = mutex.lock().unwrap();
    /// while !ready.load(Ordering::Relaxed) {
    ///     guard = cond.wait_timeout(guard, Duration::from_millis(100)).unwrap().0;
    /// }
    /// drop(guard);
    /// notifier.join().unwrap();
    /// NamedMutex::remove(&m)?;
    /// NamedCondvar::remove(&c)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait_timeout<G: Lockable>(
        &self,
        guard: G,
        timeout: Duration,
    ) -> LockResult<(G, WaitTimeoutResult)> {
        self.inner.wait_timeout(guard, timeout)
    }

    /// Waits for a notification until `deadline` at most.
    ///
    /// # Errors
    ///
    /// As [`wait`](NamedCondvar::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use shmkit::sync::{NamedCondvar, NamedMutex};
    ///
    /// let pid = std::process::id();
    /// let (m, c) = (format!("doc-ncv-wait-until-m-{pid}"), format!("doc-ncv-wait-until-c-{pid}"));
    /// let mutex = Arc::new(NamedMutex::create(&m)?);
    /// let cond = Arc::new(NamedCondvar::create(&c)?);
    /// let ready = Arc::new(AtomicBool::new(false));
    /// let notifier = {
    ///     let (mutex, cond, ready) = (mutex.clone(), cond.clone(), ready.clone());
    ///     std::thread::spawn(move || {
    ///         let _guard = mutex.lock().unwrap();
    ///         ready.store(true, Ordering::Relaxed);
    ///         cond.notify_all();
    ///     })
    /// };
    /// use std::time::{Duration, Instant};
    /// let deadline = Instant::now() + Duration::from_secs(10);
    /// let mut guard = mutex.lock().unwrap();
    /// while !ready.load(Ordering::Relaxed) {
    ///     let (g, result) = cond.wait_until(guard, deadline).unwrap();
    ///     assert!(!result.timed_out());
    ///     guard = g;
    /// }
    /// drop(guard);
    /// notifier.join().unwrap();
    /// NamedMutex::remove(&m)?;
    /// NamedCondvar::remove(&c)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait_until<G: Lockable>(
        &self,
        guard: G,
        deadline: Instant,
    ) -> LockResult<(G, WaitTimeoutResult)> {
        self.inner.wait_until(guard, deadline)
    }

    /// Wakes one waiting thread (in any process).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedCondvar;
    ///
    /// let name = format!("doc-ncv-notify-one-{}", std::process::id());
    /// let cond = NamedCondvar::create(&name)?;
    /// cond.notify_one(); // nobody waits: nothing happens
    /// NamedCondvar::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn notify_one(&self) {
        self.inner.notify_one()
    }

    /// Wakes every waiting thread (in every process).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedCondvar;
    ///
    /// let name = format!("doc-ncv-notify-all-{}", std::process::id());
    /// let cond = NamedCondvar::create(&name)?;
    /// cond.notify_all(); // nobody waits: nothing happens
    /// NamedCondvar::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn notify_all(&self) {
        self.inner.notify_all()
    }

    /// The condition variable's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedCondvar;
    ///
    /// let name = format!("doc-ncv-name-{}", std::process::id());
    /// let cond = NamedCondvar::create(&name)?;
    /// assert_eq!(cond.name(), name);
    /// NamedCondvar::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Whether this handle created it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedCondvar;
    ///
    /// let name = format!("doc-ncv-created-{}", std::process::id());
    /// let cond = NamedCondvar::create(&name)?;
    /// assert!(cond.created());
    /// assert!(!NamedCondvar::open(&name)?.created());
    /// NamedCondvar::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.inner.created()
    }
}

impl fmt::Debug for NamedCondvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedCondvar")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

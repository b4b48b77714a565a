//! Whole-file advisory locks between processes: Boost's `file_lock`.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::sys::{self, LockKind};

/// Non-blocking tries made back to back (with a spin hint between them) before a timed lock
/// starts sleeping: a lock released within a few microseconds is taken without a sleep.
const SPIN_TRIES: u32 = 16;
/// The first sleep between tries of a timed lock; it doubles after each try.
const FIRST_SLEEP: Duration = Duration::from_micros(50);
/// The longest sleep between tries of a timed lock: bounds how late a release is noticed.
const MAX_SLEEP: Duration = Duration::from_millis(2);

/// An advisory lock on a whole file, shared between processes: Boost's `file_lock`.
///
/// A `FileLock` is a handle on an existing file (any regular file: a dedicated lock file, or
/// the data file itself). Through it a process takes the file's lock either *exclusively*
/// ([`lock`](FileLock::lock) and friends: one holder) or *shared*
/// ([`lock_shared`](FileLock::lock_shared) and friends: any number of holders, and no exclusive
/// one). The lock is held for as long as the returned guard lives. It is advisory: it
/// excludes other `FileLock`s (and other programs using `flock(2)` on the file), but it does
/// not stop anyone from reading or writing the file.
///
/// The lock is released when the guard is dropped, when the handle is dropped, and when the
/// process dies in any way, `SIGKILL` included: the kernel releases it with the process's
/// descriptors. A crashed holder therefore never leaves the file locked (Boost's "process
/// persistence"), but neither does it say that it died: protect data that a crash can leave
/// half-written by other means.
///
/// # One guard per handle
///
/// The locking methods take `&mut self`, so one handle holds at most one guard at a time. This
/// is deliberate: the lock belongs to the handle's open file description, and `flock` on a
/// description that already holds the lock succeeds at once (converting the lock), so two
/// threads locking through one handle would both "succeed". A thread that needs its own lock
/// opens its own `FileLock` on the same path; handles exclude each other, in one process as
/// across processes. `FileLock` is `Send` and `Sync`, so a handle can also move to another
/// thread.
///
/// # Timed locks
///
/// `flock` has no timeout. [`lock_timeout`](FileLock::lock_timeout) and
/// [`lock_shared_timeout`](FileLock::lock_shared_timeout) poll with non-blocking tries: a few
/// back to back, then sleeping 50 µs, doubling up to 2 ms between tries, and never sleeping past
/// the deadline, measured on the monotonic clock ([`Instant`]), so changes of the wall clock do
/// not matter. A release is thus noticed at most about 2 ms late, and a timed waiter can lose
/// the race for the lock to a blocked [`lock`](FileLock::lock) (`flock` has no fairness).
///
/// # Differences from Boost
///
/// * **`flock`, not `fcntl` record locks.** Boost locks with `fcntl(F_SETLK)`, whose locks
///   belong to the *process*: two `file_lock`s in one process do not exclude each other, and
///   closing *any* descriptor of the file (another handle, a `std::fs::File` that read it)
///   silently drops all of the process's locks on it. `flock` locks belong to the open file
///   description, and each `FileLock` opens its own: two handles exclude each other even in one
///   process, and a lock is released only by its guard, by its handle's descriptor closing, or
///   by the process dying.
/// * **Read access is enough.** The file is opened read-only (Boost opens it read-write), so a
///   process that may read the file may lock it. The descriptor is close-on-exec, so programs
///   started with `exec` do not inherit it; a child made by a bare `fork` does share it, and
///   with it the lock (it is released when the last of the shared descriptors closes).
/// * **No timeouts in `flock`**, so timed locks poll (above), as Boost's do on POSIX.
/// * **Local files.** On NFS, Linux emulates `flock` with `fcntl` locks on the server, and an
///   exclusive lock there needs a descriptor open for writing, which this handle is not: it
///   fails. On SMB (Linux 5.5 and later) the emulated lock is mandatory, not advisory.
///
/// Do not delete or replace the file while it is in use as a lock: a process that opens the new
/// file locks a different file from the one that opened the old one.
///
/// # Examples
///
/// ```
/// use shmkit::FileLock;
///
/// let path = std::env::temp_dir().join(format!("doc-file-lock-{}", std::process::id()));
/// std::fs::write(&path, b"")?;
///
/// let mut lock = FileLock::open(&path)?;
/// let mut other = FileLock::open(&path)?; // another handle, as another process would have
/// {
///     let _guard = lock.lock()?;
///     // Held: the other handle cannot take the lock, neither exclusive nor shared.
///     assert!(other.try_lock()?.is_none());
///     assert!(other.try_lock_shared()?.is_none());
/// } // released here
/// assert!(other.try_lock()?.is_some());
///
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FileLock {
    fd: sys::Fd,
    path: PathBuf,
}

/// Holds a [`FileLock`]'s exclusive lock; dropping it unlocks.
///
/// Returned by [`FileLock::lock`], [`FileLock::try_lock`] and [`FileLock::lock_timeout`]. If
/// the guard is leaked (`std::mem::forget`), the file stays locked until the handle is dropped.
///
/// # Examples
///
/// ```
/// use shmkit::FileLock;
///
/// let path = std::env::temp_dir().join(format!("doc-file-lock-guard-{}", std::process::id()));
/// std::fs::write(&path, b"")?;
///
/// let mut lock = FileLock::open(&path)?;
/// let guard = lock.lock()?;
/// // ... the protected work ...
/// drop(guard); // or `guard.unlock()?` to see a failure to unlock
///
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct FileLockGuard<'a> {
    lock: &'a FileLock,
}

/// Holds a [`FileLock`]'s shared lock; dropping it unlocks.
///
/// Returned by [`FileLock::lock_shared`], [`FileLock::try_lock_shared`] and
/// [`FileLock::lock_shared_timeout`]. Any number of handles may hold the shared lock at once;
/// while one does, nobody holds the exclusive lock. If the guard is leaked (`std::mem::forget`),
/// the file stays locked until the handle is dropped.
///
/// # Examples
///
/// ```
/// use shmkit::FileLock;
///
/// let path = std::env::temp_dir().join(format!("doc-file-lock-shared-{}", std::process::id()));
/// std::fs::write(&path, b"")?;
///
/// let (mut a, mut b) = (FileLock::open(&path)?, FileLock::open(&path)?);
/// let reader_a = a.lock_shared()?;
/// let reader_b = b.lock_shared()?; // both read at once
/// drop((reader_a, reader_b));
///
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct FileLockSharedGuard<'a> {
    lock: &'a FileLock,
}

impl FileLock {
    /// Opens the existing regular file at `path` as a lock. The file is opened read-only and
    /// never created, truncated or written.
    ///
    /// Opening takes no lock; each handle is independent of every other, in this process or
    /// another.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] if the file does not exist; [`ErrorKind::PermissionDenied`] if
    /// it may not be read; [`ErrorKind::InvalidArgument`] if it is not a regular file (a
    /// directory, a FIFO, a device).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, FileLock};
    ///
    /// let path = std::env::temp_dir().join(format!("doc-file-lock-open-{}", std::process::id()));
    /// // The file must exist: opening never creates it.
    /// assert_eq!(FileLock::open(&path).unwrap_err().kind(), ErrorKind::NotFound);
    ///
    /// std::fs::write(&path, b"")?;
    /// let lock = FileLock::open(&path)?;
    /// assert_eq!(lock.path(), path);
    ///
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<FileLock> {
        let path = path.as_ref();
        let fd = sys::open_file_to_lock(path)?;
        Ok(FileLock {
            fd,
            path: path.to_owned(),
        })
    }

    /// The path this handle was opened with.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::FileLock;
    ///
    /// let path = std::env::temp_dir().join(format!("doc-file-lock-path-{}", std::process::id()));
    /// std::fs::write(&path, b"")?;
    /// assert_eq!(FileLock::open(&path)?.path(), path);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the exclusive lock, waiting as long as another handle holds the lock (shared or
    /// exclusive). `flock(LOCK_EX)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if the kernel refuses (`ENOLCK`: no memory for lock records), or the
    /// filesystem's error where it cannot lock (see NFS in the type's docs). Signals do not end
    /// the wait: it resumes after their handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::FileLock;
    ///
    /// let path = std::env::temp_dir().join(format!("doc-file-lock-lock-{}", std::process::id()));
    /// std::fs::write(&path, b"0")?;
    ///
    /// let mut lock = FileLock::open(&path)?;
    /// {
    ///     let _guard = lock.lock()?;
    ///     // Read-modify-write, excluded from every other process that locks the file.
    ///     let n: u32 = std::fs::read_to_string(&path)?.parse()?;
    ///     std::fs::write(&path, (n + 1).to_string())?;
    /// }
    /// assert_eq!(std::fs::read_to_string(&path)?, "1");
    ///
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&mut self) -> Result<FileLockGuard<'_>> {
        sys::flock_lock(&self.fd, LockKind::Exclusive, &self.path)?;
        Ok(FileLockGuard { lock: self })
    }

    /// Takes the exclusive lock if no other handle holds the lock; `Ok(None)` at once if one
    /// does. `flock(LOCK_EX | LOCK_NB)`.
    ///
    /// # Errors
    ///
    /// As [`lock`](FileLock::lock); a held lock is `Ok(None)`, not an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::FileLock;
    ///
    /// let path = std::env::temp_dir().join(format!("doc-file-lock-try-{}", std::process::id()));
    /// std::fs::write(&path, b"")?;
    ///
    /// let (mut a, mut b) = (FileLock::open(&path)?, FileLock::open(&path)?);
    /// let held = a.try_lock()?.expect("nobody holds the lock yet");
    /// assert!(b.try_lock()?.is_none());
    /// drop(held);
    /// assert!(b.try_lock()?.is_some());
    ///
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_lock(&mut self) -> Result<Option<FileLockGuard<'_>>> {
        if sys::flock_try_lock(&self.fd, LockKind::Exclusive, &self.path)? {
            Ok(Some(FileLockGuard { lock: self }))
        } else {
            Ok(None)
        }
    }

    /// Takes the exclusive lock, waiting at most `timeout`. A zero `timeout` makes one try; a
    /// timeout too large to add to the current time (such as [`Duration::MAX`]) waits as long
    /// as [`lock`](FileLock::lock). See the type's docs for how the wait polls.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] if the lock was still held by another handle when `timeout` had
    /// passed; otherwise as [`lock`](FileLock::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::{ErrorKind, FileLock};
    ///
    /// let path =
    ///     std::env::temp_dir().join(format!("doc-file-lock-timeout-{}", std::process::id()));
    /// std::fs::write(&path, b"")?;
    ///
    /// let (mut a, mut b) = (FileLock::open(&path)?, FileLock::open(&path)?);
    /// let held = a.lock()?;
    /// let err = b.lock_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Timeout);
    /// drop(held);
    /// let _guard = b.lock_timeout(Duration::from_millis(10))?;
    ///
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock_timeout(&mut self, timeout: Duration) -> Result<FileLockGuard<'_>> {
        self.lock_within(LockKind::Exclusive, timeout)?;
        Ok(FileLockGuard { lock: self })
    }

    /// Takes a shared lock, waiting as long as another handle holds the exclusive lock.
    /// `flock(LOCK_SH)`.
    ///
    /// # Errors
    ///
    /// As [`lock`](FileLock::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::FileLock;
    ///
    /// let path = std::env::temp_dir().join(format!("doc-file-lock-sh-{}", std::process::id()));
    /// std::fs::write(&path, b"settings")?;
    ///
    /// let (mut reader, mut writer) = (FileLock::open(&path)?, FileLock::open(&path)?);
    /// let shared = reader.lock_shared()?;
    /// assert_eq!(std::fs::read(&path)?, b"settings");
    /// assert!(writer.try_lock()?.is_none()); // no writer while someone reads
    /// drop(shared);
    ///
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock_shared(&mut self) -> Result<FileLockSharedGuard<'_>> {
        sys::flock_lock(&self.fd, LockKind::Shared, &self.path)?;
        Ok(FileLockSharedGuard { lock: self })
    }

    /// Takes a shared lock if no other handle holds the exclusive lock; `Ok(None)` at once if
    /// one does. `flock(LOCK_SH | LOCK_NB)`.
    ///
    /// # Errors
    ///
    /// As [`lock`](FileLock::lock); a held exclusive lock is `Ok(None)`, not an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::FileLock;
    ///
    /// let path =
    ///     std::env::temp_dir().join(format!("doc-file-lock-try-sh-{}", std::process::id()));
    /// std::fs::write(&path, b"")?;
    ///
    /// let (mut a, mut b, mut c) =
    ///     (FileLock::open(&path)?, FileLock::open(&path)?, FileLock::open(&path)?);
    /// let _r1 = a.try_lock_shared()?.expect("free");
    /// let _r2 = b.try_lock_shared()?.expect("shared locks coexist");
    /// assert!(c.try_lock()?.is_none());
    ///
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_lock_shared(&mut self) -> Result<Option<FileLockSharedGuard<'_>>> {
        if sys::flock_try_lock(&self.fd, LockKind::Shared, &self.path)? {
            Ok(Some(FileLockSharedGuard { lock: self }))
        } else {
            Ok(None)
        }
    }

    /// Takes a shared lock, waiting at most `timeout`. A zero `timeout` makes one try; a
    /// timeout too large to add to the current time waits as long as
    /// [`lock_shared`](FileLock::lock_shared). See the type's docs for how the wait polls.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] if another handle still held the exclusive lock when `timeout`
    /// had passed; otherwise as [`lock`](FileLock::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::{ErrorKind, FileLock};
    ///
    /// let path =
    ///     std::env::temp_dir().join(format!("doc-file-lock-sh-timeout-{}", std::process::id()));
    /// std::fs::write(&path, b"")?;
    ///
    /// let (mut a, mut b) = (FileLock::open(&path)?, FileLock::open(&path)?);
    /// let writer = a.lock()?;
    /// let err = b.lock_shared_timeout(Duration::ZERO).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Timeout);
    /// drop(writer);
    /// let _reader = b.lock_shared_timeout(Duration::from_millis(10))?;
    ///
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock_shared_timeout(&mut self, timeout: Duration) -> Result<FileLockSharedGuard<'_>> {
        self.lock_within(LockKind::Shared, timeout)?;
        Ok(FileLockSharedGuard { lock: self })
    }

    /// Polls non-blocking tries until the lock is granted or `timeout` has passed (see the
    /// type's docs on timed locks).
    fn lock_within(&self, kind: LockKind, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let Some(deadline) = start.checked_add(timeout) else {
            return sys::flock_lock(&self.fd, kind, &self.path);
        };
        let mut tries = 0u32;
        let mut sleep = FIRST_SLEEP;
        loop {
            if sys::flock_try_lock(&self.fd, kind, &self.path)? {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                let what = match kind {
                    LockKind::Exclusive => "exclusive",
                    LockKind::Shared => "shared",
                };
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the {what} lock of {} was not granted within {timeout:?}",
                        self.path.display()
                    ),
                ));
            }
            if tries < SPIN_TRIES {
                tries += 1;
                std::hint::spin_loop();
                continue;
            }
            // Never past the deadline: the last try happens at it.
            thread::sleep(sleep.min(deadline - now));
            sleep = (sleep * 2).min(MAX_SLEEP);
        }
    }

    /// `flock(LOCK_UN)`, for the guards.
    fn unlock(&self) -> Result<()> {
        sys::flock_unlock(&self.fd, &self.path)
    }
}

impl FileLockGuard<'_> {
    /// Releases the lock now, reporting a failure that dropping the guard would ignore.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if `flock(LOCK_UN)` fails, which Linux does not do for a valid
    /// descriptor. Whatever happens, the lock is released at the latest when the handle is
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::FileLock;
    ///
    /// let path =
    ///     std::env::temp_dir().join(format!("doc-file-lock-unlock-{}", std::process::id()));
    /// std::fs::write(&path, b"")?;
    ///
    /// let mut lock = FileLock::open(&path)?;
    /// lock.lock()?.unlock()?;
    /// assert!(FileLock::open(&path)?.try_lock()?.is_some());
    ///
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlock(self) -> Result<()> {
        let lock = self.lock;
        std::mem::forget(self);
        lock.unlock()
    }
}

impl Drop for FileLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.unlock();
    }
}

impl FileLockSharedGuard<'_> {
    /// Releases the shared lock now, reporting a failure that dropping the guard would ignore.
    ///
    /// # Errors
    ///
    /// As [`FileLockGuard::unlock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::FileLock;
    ///
    /// let path =
    ///     std::env::temp_dir().join(format!("doc-file-lock-unlock-sh-{}", std::process::id()));
    /// std::fs::write(&path, b"")?;
    ///
    /// let mut lock = FileLock::open(&path)?;
    /// lock.lock_shared()?.unlock()?;
    /// assert!(FileLock::open(&path)?.try_lock()?.is_some());
    ///
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlock(self) -> Result<()> {
        let lock = self.lock;
        std::mem::forget(self);
        lock.unlock()
    }
}

impl Drop for FileLockSharedGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.unlock();
    }
}

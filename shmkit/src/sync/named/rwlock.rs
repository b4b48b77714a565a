//! [`NamedRwLock`] and [`NamedUpgradableRwLock`]: reader-writer locks found by name.

use std::fmt;
use std::time::Duration;

use super::object::{Kind, NamedObject, Payload};
use crate::error::Result;
use crate::region::{Permissions, SharedMemory};
use crate::sync::{
    LockResult, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockResult, Upgradable,
    UpgradableGuard, UpgradableRwLock,
};

impl Payload for RwLock<()> {
    const KIND: Kind = Kind::RwLock;
}

impl Payload for UpgradableRwLock<()> {
    const KIND: Kind = Kind::UpgradableRwLock;
}

/// Constructors shared by the two named reader-writer locks.
macro_rules! named_constructors {
    ($ty:ident, $inner:expr, $what:literal) => {
        impl $ty {
            #[doc = concat!("Creates the ", $what, " `name` with default permissions (`0o600`).")]
            ///
            /// # Errors
            ///
            /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) if the name is
            /// taken; [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName); OS errors.
            ///
            /// # Examples
            ///
            /// ```
            /// # use shmkit::sync::{NamedRwLock, NamedUpgradableRwLock};
            #[doc = concat!(
                "let name = format!(\"doc-", stringify!($ty), "-create-{}\", std::process::id());"
            )]
            #[doc = concat!("let lock = ", stringify!($ty), "::create(&name)?;")]
            /// assert!(lock.created());
            #[doc = concat!("let again = ", stringify!($ty), "::create(&name).unwrap_err();")]
            /// assert_eq!(again.kind(), shmkit::ErrorKind::AlreadyExists);
            #[doc = concat!(stringify!($ty), "::remove(&name)?;")]
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn create(name: &str) -> Result<$ty> {
                $ty::create_with(name, Permissions::default())
            }

            #[doc = concat!("Creates the ", $what, " with the given permissions.")]
            ///
            /// # Errors
            ///
            /// As `create`.
            ///
            /// # Examples
            ///
            /// ```
            /// # use shmkit::sync::{NamedRwLock, NamedUpgradableRwLock};
            #[doc = concat!(
                "let name = format!(\"doc-",
                stringify!($ty),
                "-create-with-{}\", std::process::id());"
            )]
            #[doc = concat!(
                "let lock = ",
                stringify!($ty),
                "::create_with(&name, shmkit::Permissions::from_mode(0o640))?;"
            )]
            /// assert!(lock.created());
            #[doc = concat!(stringify!($ty), "::remove(&name)?;")]
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn create_with(name: &str, permissions: Permissions) -> Result<$ty> {
                NamedObject::create(name, permissions, $inner).map(|inner| $ty { inner })
            }

            #[doc = concat!("Opens an existing ", $what, ".")]
            ///
            /// # Errors
            ///
            /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound);
            /// [`ErrorKind::Incompatible`](crate::ErrorKind::Incompatible) if the object is of
            /// another kind; [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted).
            ///
            /// # Examples
            ///
            /// ```
            /// # use shmkit::sync::{NamedRwLock, NamedUpgradableRwLock};
            #[doc = concat!(
                "let name = format!(\"doc-", stringify!($ty), "-open-{}\", std::process::id());"
            )]
            #[doc = concat!(
                "assert_eq!(",
                stringify!($ty),
                "::open(&name).unwrap_err().kind(), shmkit::ErrorKind::NotFound);"
            )]
            #[doc = concat!("let _lock = ", stringify!($ty), "::create(&name)?;")]
            #[doc = concat!(
                "let other = ", stringify!($ty), "::open(&name)?; // as another process would"
            )]
            /// assert!(!other.created());
            #[doc = concat!(stringify!($ty), "::remove(&name)?;")]
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn open(name: &str) -> Result<$ty> {
                NamedObject::open(name).map(|inner| $ty { inner })
            }

            #[doc = concat!("Opens the ", $what, ", creating it if missing (race-free).")]
            ///
            /// # Errors
            ///
            /// As `open` and `create`.
            ///
            /// # Examples
            ///
            /// ```
            /// # use shmkit::sync::{NamedRwLock, NamedUpgradableRwLock};
            #[doc = concat!(
                "let name = format!(\"doc-", stringify!($ty), "-ooc-{}\", std::process::id());"
            )]
            #[doc = concat!("let first = ", stringify!($ty), "::open_or_create(&name)?;")]
            #[doc = concat!("let second = ", stringify!($ty), "::open_or_create(&name)?;")]
            /// assert!(first.created() && !second.created());
            #[doc = concat!(stringify!($ty), "::remove(&name)?;")]
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn open_or_create(name: &str) -> Result<$ty> {
                NamedObject::open_or_create(name, Permissions::default(), $inner)
                    .map(|inner| $ty { inner })
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
            /// # use shmkit::sync::{NamedRwLock, NamedUpgradableRwLock};
            #[doc = concat!(
                "let name = format!(\"doc-", stringify!($ty), "-remove-{}\", std::process::id());"
            )]
            #[doc = concat!("let lock = ", stringify!($ty), "::create(&name)?;")]
            #[doc = concat!(stringify!($ty), "::remove(&name)?;")]
            /// drop(lock.write().unwrap()); // the handle keeps working
            #[doc = concat!("assert!(", stringify!($ty), "::open(&name).is_err());")]
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn remove(name: &str) -> Result<()> {
                SharedMemory::remove(name)
            }

            /// The object's name.
            ///
            /// # Examples
            ///
            /// ```
            /// # use shmkit::sync::{NamedRwLock, NamedUpgradableRwLock};
            #[doc = concat!(
                "let name = format!(\"doc-", stringify!($ty), "-name-{}\", std::process::id());"
            )]
            #[doc = concat!("let lock = ", stringify!($ty), "::create(&name)?;")]
            /// assert_eq!(lock.name(), name);
            #[doc = concat!(stringify!($ty), "::remove(&name)?;")]
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn name(&self) -> &str {
                self.inner.name()
            }

            /// Whether this handle created the object.
            ///
            /// # Examples
            ///
            /// ```
            /// # use shmkit::sync::{NamedRwLock, NamedUpgradableRwLock};
            #[doc = concat!(
                "let name = format!(\"doc-", stringify!($ty), "-created-{}\", std::process::id());"
            )]
            #[doc = concat!("let lock = ", stringify!($ty), "::create(&name)?;")]
            /// assert!(lock.created());
            #[doc = concat!("assert!(!", stringify!($ty), "::open(&name)?.created());")]
            #[doc = concat!(stringify!($ty), "::remove(&name)?;")]
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn created(&self) -> bool {
                self.inner.created()
            }

            /// Whether the lock is held in any mode (a snapshot).
            ///
            /// # Examples
            ///
            /// ```
            /// # use shmkit::sync::{NamedRwLock, NamedUpgradableRwLock};
            #[doc = concat!(
                "let name = format!(\"doc-",
                stringify!($ty),
                "-is-locked-{}\", std::process::id());"
            )]
            #[doc = concat!("let lock = ", stringify!($ty), "::create(&name)?;")]
            /// let guard = lock.write().unwrap();
            /// assert!(lock.is_locked());
            /// drop(guard);
            /// assert!(!lock.is_locked());
            #[doc = concat!(stringify!($ty), "::remove(&name)?;")]
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn is_locked(&self) -> bool {
                self.inner.is_locked()
            }

            /// Whether the data is marked consistent (a snapshot).
            ///
            /// # Examples
            ///
            /// ```
            /// # use shmkit::sync::{NamedRwLock, NamedUpgradableRwLock};
            #[doc = concat!(
                "let name = format!(\"doc-",
                stringify!($ty),
                "-is-consistent-{}\", std::process::id());"
            )]
            #[doc = concat!("let lock = ", stringify!($ty), "::create(&name)?;")]
            /// assert!(lock.is_consistent());
            #[doc = concat!(stringify!($ty), "::remove(&name)?;")]
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn is_consistent(&self) -> bool {
                self.inner.is_consistent()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("name", &self.name())
                    .field("locked", &self.is_locked())
                    .finish()
            }
        }
    };
}

/// A reader-writer lock in its own named shared memory object (Boost's
/// `named_sharable_mutex`): many readers or one writer, writers first, robust like
/// [`RwLock`]. Guards are [`RwLock`]'s, over `()`.
///
/// # Examples
///
/// ```
/// use shmkit::sync::NamedRwLock;
///
/// let name = format!("doc-named-rwlock-{}", std::process::id());
/// let lock = NamedRwLock::create(&name)?;
/// let other = NamedRwLock::open(&name)?; // another handle, as another process would have
/// {
///     let _r1 = lock.read().unwrap();
///     let _r2 = other.read().unwrap(); // readers share
///     assert!(lock.try_write().is_err());
/// }
/// drop(lock.write().unwrap());
/// NamedRwLock::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct NamedRwLock {
    inner: NamedObject<RwLock<()>>,
}

named_constructors!(NamedRwLock, RwLock::new(()), "reader-writer lock");

impl NamedRwLock {
    /// Takes a read (sharable) lock, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](crate::sync::OwnerDied) carrying the guard if a writer died holding it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedRwLock;
    ///
    /// let name = format!("doc-NamedRwLock-read-{}", std::process::id());
    /// let lock = NamedRwLock::create(&name)?;
    /// let r1 = lock.read().unwrap();
    /// let r2 = lock.read().unwrap(); // readers share
    /// drop((r1, r2));
    /// NamedRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, ()>> {
        self.inner.read()
    }

    /// Takes a read lock if available now.
    ///
    /// # Errors
    ///
    /// [`TryLockError`](crate::sync::TryLockError).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedRwLock;
    ///
    /// let name = format!("doc-NamedRwLock-try-read-{}", std::process::id());
    /// let lock = NamedRwLock::create(&name)?;
    /// let w = lock.write().unwrap();
    /// assert!(lock.try_read().is_err()); // a writer holds it
    /// drop(w);
    /// assert!(lock.try_read().is_ok());
    /// NamedRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, ()>> {
        self.inner.try_read()
    }

    /// Takes a read lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`TryLockError`](crate::sync::TryLockError).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedRwLock;
    ///
    /// let name = format!("doc-NamedRwLock-read-timeout-{}", std::process::id());
    /// let lock = NamedRwLock::create(&name)?;
    /// use std::time::Duration;
    /// let w = lock.write().unwrap();
    /// assert!(lock.read_timeout(Duration::from_millis(10)).is_err());
    /// drop(w);
    /// assert!(lock.read_timeout(Duration::from_millis(10)).is_ok());
    /// NamedRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read_timeout(&self, timeout: Duration) -> TryLockResult<RwLockReadGuard<'_, ()>> {
        self.inner.read_timeout(timeout)
    }

    /// Takes the write (exclusive) lock, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](crate::sync::OwnerDied) carrying the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedRwLock;
    ///
    /// let name = format!("doc-NamedRwLock-write-{}", std::process::id());
    /// let lock = NamedRwLock::create(&name)?;
    /// let w = lock.write().unwrap();
    /// assert!(lock.is_locked());
    /// drop(w);
    /// NamedRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, ()>> {
        self.inner.write()
    }

    /// Takes the write lock if available now.
    ///
    /// # Errors
    ///
    /// [`TryLockError`](crate::sync::TryLockError).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedRwLock;
    ///
    /// let name = format!("doc-NamedRwLock-try-write-{}", std::process::id());
    /// let lock = NamedRwLock::create(&name)?;
    /// let r = lock.read().unwrap();
    /// assert!(lock.try_write().is_err()); // a reader holds it
    /// drop(r);
    /// assert!(lock.try_write().is_ok());
    /// NamedRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, ()>> {
        self.inner.try_write()
    }

    /// Takes the write lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`TryLockError`](crate::sync::TryLockError).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedRwLock;
    ///
    /// let name = format!("doc-NamedRwLock-write-timeout-{}", std::process::id());
    /// let lock = NamedRwLock::create(&name)?;
    /// use std::time::Duration;
    /// let r = lock.read().unwrap();
    /// assert!(lock.write_timeout(Duration::from_millis(10)).is_err());
    /// drop(r);
    /// assert!(lock.write_timeout(Duration::from_millis(10)).is_ok());
    /// NamedRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn write_timeout(&self, timeout: Duration) -> TryLockResult<RwLockWriteGuard<'_, ()>> {
        self.inner.write_timeout(timeout)
    }
}

/// An upgradable reader-writer lock in its own named shared memory object (Boost's
/// `named_upgradable_mutex`), with every lock transfer of [`UpgradableRwLock`] on its guards.
///
/// # Examples
///
/// ```
/// use shmkit::sync::{NamedUpgradableRwLock, UpgradableGuard};
///
/// let name = format!("doc-named-uprwlock-{}", std::process::id());
/// let lock = NamedUpgradableRwLock::create(&name)?;
/// let up = lock.upgradable_read().unwrap();
/// let _reader = lock.read().unwrap(); // readers may join an upgradable holder
/// let up = UpgradableGuard::try_upgrade(up).unwrap_err(); // not while a reader is in
/// drop(_reader);
/// let write = UpgradableGuard::try_upgrade(up).unwrap();
/// drop(write);
/// NamedUpgradableRwLock::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct NamedUpgradableRwLock {
    inner: NamedObject<UpgradableRwLock<()>>,
}

named_constructors!(
    NamedUpgradableRwLock,
    UpgradableRwLock::new(()),
    "upgradable reader-writer lock"
);

impl NamedUpgradableRwLock {
    /// Takes a read lock, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](crate::sync::OwnerDied) carrying the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedUpgradableRwLock;
    ///
    /// let name = format!("doc-NamedUpgradableRwLock-read-{}", std::process::id());
    /// let lock = NamedUpgradableRwLock::create(&name)?;
    /// let up = lock.upgradable_read().unwrap();
    /// let r = lock.read().unwrap(); // readers join an upgradable holder
    /// drop((r, up));
    /// NamedUpgradableRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, (), Upgradable>> {
        self.inner.read()
    }

    /// Takes a read lock if available now.
    ///
    /// # Errors
    ///
    /// [`TryLockError`](crate::sync::TryLockError).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedUpgradableRwLock;
    ///
    /// let name = format!("doc-NamedUpgradableRwLock-try-read-{}", std::process::id());
    /// let lock = NamedUpgradableRwLock::create(&name)?;
    /// let w = lock.write().unwrap();
    /// assert!(lock.try_read().is_err());
    /// drop(w);
    /// assert!(lock.try_read().is_ok());
    /// NamedUpgradableRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, (), Upgradable>> {
        self.inner.try_read()
    }

    /// Takes the write lock, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](crate::sync::OwnerDied) carrying the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedUpgradableRwLock;
    ///
    /// let name = format!("doc-NamedUpgradableRwLock-write-{}", std::process::id());
    /// let lock = NamedUpgradableRwLock::create(&name)?;
    /// let w = lock.write().unwrap();
    /// assert!(lock.is_locked());
    /// drop(w);
    /// NamedUpgradableRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, (), Upgradable>> {
        self.inner.write()
    }

    /// Takes the write lock if available now.
    ///
    /// # Errors
    ///
    /// [`TryLockError`](crate::sync::TryLockError).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedUpgradableRwLock;
    ///
    /// let name = format!("doc-NamedUpgradableRwLock-try-write-{}", std::process::id());
    /// let lock = NamedUpgradableRwLock::create(&name)?;
    /// let up = lock.upgradable_read().unwrap();
    /// assert!(lock.try_write().is_err()); // an upgradable holder excludes writers
    /// drop(up);
    /// assert!(lock.try_write().is_ok());
    /// NamedUpgradableRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, (), Upgradable>> {
        self.inner.try_write()
    }

    /// Takes the write lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`TryLockError`](crate::sync::TryLockError).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedUpgradableRwLock;
    ///
    /// let name = format!("doc-NamedUpgradableRwLock-write-timeout-{}", std::process::id());
    /// let lock = NamedUpgradableRwLock::create(&name)?;
    /// use std::time::Duration;
    /// let r = lock.read().unwrap();
    /// assert!(lock.write_timeout(Duration::from_millis(10)).is_err());
    /// drop(r);
    /// assert!(lock.write_timeout(Duration::from_millis(10)).is_ok());
    /// NamedUpgradableRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn write_timeout(
        &self,
        timeout: Duration,
    ) -> TryLockResult<RwLockWriteGuard<'_, (), Upgradable>> {
        self.inner.write_timeout(timeout)
    }

    /// Takes the upgradable lock (coexists with readers, excludes writers and other
    /// upgradable holders), waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](crate::sync::OwnerDied) carrying the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedUpgradableRwLock;
    ///
    /// let name = format!("doc-NamedUpgradableRwLock-upread-{}", std::process::id());
    /// let lock = NamedUpgradableRwLock::create(&name)?;
    /// use shmkit::sync::UpgradableGuard;
    /// let up = lock.upgradable_read().unwrap();
    /// let w = UpgradableGuard::try_upgrade(up).unwrap(); // no reader in: upgrade at once
    /// drop(w);
    /// NamedUpgradableRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn upgradable_read(&self) -> LockResult<UpgradableGuard<'_, ()>> {
        self.inner.upgradable_read()
    }

    /// Takes the upgradable lock if available now.
    ///
    /// # Errors
    ///
    /// [`TryLockError`](crate::sync::TryLockError).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedUpgradableRwLock;
    ///
    /// let name = format!("doc-NamedUpgradableRwLock-try-upread-{}", std::process::id());
    /// let lock = NamedUpgradableRwLock::create(&name)?;
    /// let up = lock.upgradable_read().unwrap();
    /// assert!(lock.try_upgradable_read().is_err()); // one upgradable holder at a time
    /// drop(up);
    /// assert!(lock.try_upgradable_read().is_ok());
    /// NamedUpgradableRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_upgradable_read(&self) -> TryLockResult<UpgradableGuard<'_, ()>> {
        self.inner.try_upgradable_read()
    }

    /// Takes the upgradable lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`TryLockError`](crate::sync::TryLockError).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedUpgradableRwLock;
    ///
    /// let name = format!("doc-NamedUpgradableRwLock-upread-timeout-{}", std::process::id());
    /// let lock = NamedUpgradableRwLock::create(&name)?;
    /// use std::time::Duration;
    /// let w = lock.write().unwrap();
    /// assert!(lock.upgradable_read_timeout(Duration::from_millis(10)).is_err());
    /// drop(w);
    /// assert!(lock.upgradable_read_timeout(Duration::from_millis(10)).is_ok());
    /// NamedUpgradableRwLock::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn upgradable_read_timeout(
        &self,
        timeout: Duration,
    ) -> TryLockResult<UpgradableGuard<'_, ()>> {
        self.inner.upgradable_read_timeout(timeout)
    }
}

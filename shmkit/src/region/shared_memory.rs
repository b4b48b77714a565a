//! Named POSIX shared memory objects (`/dev/shm/<name>` on Linux).

use super::{Mappable, OpenMode, Permissions, Source, sealed};
use crate::error::{Error, ErrorKind, Result};
use crate::name::validate_name;
use crate::sys::{self, OpenHow};

/// A named shared memory object: Boost's `shared_memory_object`.
///
/// A new object has size 0; give it a size with [`set_len`](SharedMemory::set_len), then map it
/// with [`MappedRegion`](crate::MappedRegion). Dropping the handle closes it; the object lives
/// on (kernel persistence) until [`SharedMemory::remove`] and the last unmap.
///
/// # Examples
///
/// ```
/// use shmkit::{MappedRegion, RemoveOnDrop, SharedMemory};
///
/// let name = format!("doc-shm-{}", std::process::id());
/// let shm = SharedMemory::create(&name)?;
/// let _cleanup = RemoveOnDrop::shared_memory(&name);
/// shm.set_len(4096)?;
///
/// let region = MappedRegion::map(&shm)?;
/// region.write_at(0, b"hello")?;
///
/// // Another handle (in this or another process) sees the same bytes.
/// let other = MappedRegion::map(&SharedMemory::open_read_only(&name)?)?;
/// let mut buf = [0; 5];
/// other.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug)]
pub struct SharedMemory {
    fd: sys::Fd,
    name: String,
    mode: OpenMode,
    created: bool,
}

/// Options for opening or creating a [`SharedMemory`], in the style of
/// [`std::fs::OpenOptions`].
///
/// Defaults: read-write, open an existing object, permissions [`Permissions::default`] (`0o600`)
/// if creating.
///
/// # Examples
///
/// ```
/// use shmkit::{Permissions, RemoveOnDrop, SharedMemory};
///
/// let name = format!("doc-shm-options-{}", std::process::id());
/// let shm = SharedMemory::options()
///     .create(true) // open it, or create it if missing (race-free)
///     .permissions(Permissions::from_mode(0o640))
///     .open(&name)?;
/// let _cleanup = RemoveOnDrop::shared_memory(&name);
/// assert!(shm.created());
/// assert_eq!(shm.permissions()?.mode(), 0o640);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShmOptions {
    mode: OpenMode,
    create: bool,
    create_new: bool,
    permissions: Permissions,
}

impl Default for ShmOptions {
    fn default() -> ShmOptions {
        ShmOptions {
            mode: OpenMode::ReadWrite,
            create: false,
            create_new: false,
            permissions: Permissions::default(),
        }
    }
}

impl ShmOptions {
    /// Default options; see the type's docs.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-opts-new-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = shmkit::ShmOptions::new().create_new(true).open(&name)?;
    /// assert!(shm.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new() -> ShmOptions {
        ShmOptions::default()
    }

    /// Open for reading only: the object can then be mapped read-only or privately.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-opts-ro-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// SharedMemory::create(&name)?.set_len(4096)?;
    /// let ro = SharedMemory::options().read_only().open(&name)?;
    /// assert_eq!(ro.mode(), shmkit::OpenMode::ReadOnly);
    /// assert!(ro.set_len(8192).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read_only(&mut self) -> &mut ShmOptions {
        self.mode = OpenMode::ReadOnly;
        self
    }

    /// Open for reading and writing (the default).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-opts-rw-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::options().read_write().create(true).open(&name)?;
    /// assert_eq!(shm.mode(), shmkit::OpenMode::ReadWrite);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read_write(&mut self) -> &mut ShmOptions {
        self.mode = OpenMode::ReadWrite;
        self
    }

    /// Open with the given [`OpenMode`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-opts-mode-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::options()
    ///     .mode(shmkit::OpenMode::ReadWrite)
    ///     .create(true)
    ///     .open(&name)?;
    /// assert_eq!(shm.mode(), shmkit::OpenMode::ReadWrite);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mode(&mut self, mode: OpenMode) -> &mut ShmOptions {
        self.mode = mode;
        self
    }

    /// Create the object if it does not exist (Boost's `open_or_create`). Race-free: when
    /// several processes race, exactly one creates it and the others open it;
    /// [`SharedMemory::created`] tells which.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-opts-create-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let a = SharedMemory::options().create(true).open(&name)?;
    /// let b = SharedMemory::options().create(true).open(&name)?;
    /// assert!(a.created() && !b.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(&mut self, create: bool) -> &mut ShmOptions {
        self.create = create;
        self
    }

    /// Create a new object, failing with [`ErrorKind::AlreadyExists`] if the name is taken
    /// (Boost's `create_only`). Takes precedence over [`create`](ShmOptions::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-opts-create-new-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// SharedMemory::options().create_new(true).open(&name)?;
    /// let again = SharedMemory::options().create_new(true).open(&name).unwrap_err();
    /// assert_eq!(again.kind(), shmkit::ErrorKind::AlreadyExists);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_new(&mut self, create_new: bool) -> &mut ShmOptions {
        self.create_new = create_new;
        self
    }

    /// Permissions given to the object if this call creates it (ignored when opening). They are
    /// applied exactly, whatever the umask.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-opts-perm-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::options()
    ///     .create_new(true)
    ///     .permissions(shmkit::Permissions::from_mode(0o640))
    ///     .open(&name)?;
    /// assert_eq!(shm.permissions()?.mode(), 0o640);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn permissions(&mut self, permissions: Permissions) -> &mut ShmOptions {
        self.permissions = permissions;
        self
    }

    /// Opens or creates the object `name` as configured.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`] before any system call if `name` breaks the
    /// [naming rules](crate::name); [`ErrorKind::NotFound`] when opening a missing object;
    /// [`ErrorKind::AlreadyExists`] for `create_new` on an existing name;
    /// [`ErrorKind::PermissionDenied`] when the object's permissions refuse the access mode.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-opts-open-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let missing = SharedMemory::options().open(&name).unwrap_err();
    /// assert_eq!(missing.kind(), shmkit::ErrorKind::NotFound);
    /// SharedMemory::create(&name)?;
    /// let shm = SharedMemory::options().open(&name)?;
    /// assert!(!shm.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(&self, name: &str) -> Result<SharedMemory> {
        validate_name(name)?;
        let how = if self.create_new {
            OpenHow::CreateNew
        } else if self.create {
            OpenHow::OpenOrCreate
        } else {
            OpenHow::Open
        };
        let write = self.mode == OpenMode::ReadWrite;
        let (fd, created) = sys::shm_open(name, write, how, self.permissions.mode())?;
        Ok(SharedMemory {
            fd,
            name: name.to_owned(),
            mode: self.mode,
            created,
        })
    }
}

impl SharedMemory {
    /// Options to open or create an object; see [`ShmOptions`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, SharedMemory};
    ///
    /// let name = format!("doc-shm-options-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::options()
    ///     .create_new(true)
    ///     .permissions(Permissions::from_mode(0o640))
    ///     .open(&name)?;
    /// assert_eq!(shm.permissions()?.mode(), 0o640);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn options() -> ShmOptions {
        ShmOptions::new()
    }

    /// Creates a new object, read-write, with default permissions; fails if `name` exists.
    ///
    /// # Errors
    ///
    /// As [`ShmOptions::open`]; [`ErrorKind::AlreadyExists`] if the name is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-create-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len(4096)?;
    /// assert!(shm.created());
    /// assert!(SharedMemory::create(&name).is_err()); // the name is taken
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str) -> Result<SharedMemory> {
        ShmOptions::new().create_new(true).open(name)
    }

    /// Opens an existing object read-write.
    ///
    /// # Errors
    ///
    /// As [`ShmOptions::open`]; [`ErrorKind::NotFound`] if it does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-open-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// assert!(SharedMemory::open(&name).is_err()); // not yet
    /// SharedMemory::create(&name)?.set_len(4096)?;
    /// let shm = SharedMemory::open(&name)?;
    /// assert_eq!(shm.len()?, 4096);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<SharedMemory> {
        ShmOptions::new().open(name)
    }

    /// Opens an existing object read-only.
    ///
    /// # Errors
    ///
    /// As [`ShmOptions::open`]; [`ErrorKind::NotFound`] if it does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-open-ro-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// SharedMemory::create(&name)?.set_len(4096)?;
    /// let ro = SharedMemory::open_read_only(&name)?;
    /// let region = shmkit::MappedRegion::options()
    ///     .access(shmkit::Access::ReadOnly)
    ///     .map(&ro)?;
    /// assert_eq!(region.len(), 4096);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_read_only(name: &str) -> Result<SharedMemory> {
        ShmOptions::new().read_only().open(name)
    }

    /// Opens the object read-write, creating it (default permissions) if missing; race-free.
    ///
    /// # Errors
    ///
    /// As [`ShmOptions::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-ooc-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let a = SharedMemory::open_or_create(&name)?;
    /// let b = SharedMemory::open_or_create(&name)?;
    /// assert!(a.created() && !b.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str) -> Result<SharedMemory> {
        ShmOptions::new().create(true).open(name)
    }

    /// Removes the name `name` (`shm_unlink`). The name can be reused at once; processes that
    /// have the object open or mapped keep their memory until they close it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`], or [`ErrorKind::NotFound`] if no such object exists.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-remove-{}", std::process::id());
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len(4096)?;
    /// SharedMemory::remove(&name)?;
    /// assert_eq!(shm.len()?, 4096); // the handle keeps the memory
    /// assert_eq!(SharedMemory::remove(&name).unwrap_err().kind(), shmkit::ErrorKind::NotFound);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(name: &str) -> Result<()> {
        validate_name(name)?;
        sys::shm_unlink(name)
    }

    /// Sets the size to `len` bytes, reserving the memory (`posix_fallocate` semantics) so a full
    /// `/dev/shm` is an error now rather than a `SIGBUS` on first touch. Shrinking is allowed
    /// but invalidates mappings past the new end in every process (they get `SIGBUS`): only
    /// shrink objects nobody maps.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`] on a read-only handle; [`ErrorKind::OutOfMemory`] when
    /// the system has no room; [`ErrorKind::InvalidArgument`] for sizes beyond the file-size limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-set-len-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len(1 << 16)?;
    /// assert_eq!(shm.len()?, 1 << 16);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn set_len(&self, len: u64) -> Result<()> {
        if self.mode != OpenMode::ReadWrite {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "shared memory `{}` was opened read-only; set_len needs read-write",
                    self.name
                ),
            ));
        }
        self.fd.reserve_len(len).map_err(|e| {
            Error::new(
                e.kind(),
                format!("set_len of shared memory `{}`: {e}", self.name),
            )
        })
    }

    /// Sets the size to `len` bytes without reserving memory (`ftruncate` alone, what Boost's
    /// `truncate` does): pages are allocated when first touched.
    ///
    /// Cheaper than [`set_len`](SharedMemory::set_len) for large objects that are mostly
    /// unused, but if `/dev/shm` fills up, the process touching a new page gets `SIGBUS` and
    /// dies. Use it when that trade is acceptable.
    ///
    /// # Errors
    ///
    /// As [`set_len`](SharedMemory::set_len), without the out-of-memory check.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-set-len-sparse-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len_sparse(1 << 20)?; // no memory reserved yet
    /// assert_eq!(shm.len()?, 1 << 20);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn set_len_sparse(&self, len: u64) -> Result<()> {
        if self.mode != OpenMode::ReadWrite {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "shared memory `{}` was opened read-only; set_len_sparse needs read-write",
                    self.name
                ),
            ));
        }
        self.fd.truncate(len).map_err(|e| {
            Error::new(
                e.kind(),
                format!("set_len_sparse of shared memory `{}`: {e}", self.name),
            )
        })
    }

    /// The current size in bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if the OS cannot report it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-len-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// assert_eq!(shm.len()?, 0);
    /// shm.set_len(100)?;
    /// assert_eq!(shm.len()?, 100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        self.fd.len()
    }

    /// Whether the size is 0 (a new object, before [`set_len`](SharedMemory::set_len)).
    ///
    /// # Errors
    ///
    /// As [`len`](SharedMemory::len).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-is-empty-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// assert!(shm.is_empty()?);
    /// shm.set_len(1)?;
    /// assert!(!shm.is_empty()?);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The object's name, as passed when opening it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-name-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// assert_eq!(shm.name(), name);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The mode this handle was opened with.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-mode-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// assert_eq!(shm.mode(), shmkit::OpenMode::ReadWrite);
    /// assert_eq!(SharedMemory::open_read_only(&name)?.mode(), shmkit::OpenMode::ReadOnly);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mode(&self) -> OpenMode {
        self.mode
    }

    /// Whether this handle created the object (always `false` after a plain open).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-created-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// assert!(SharedMemory::create(&name)?.created());
    /// assert!(!SharedMemory::open(&name)?.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.created
    }

    /// The object's current permission bits.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if the OS cannot report them.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-permissions-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// assert_eq!(shm.permissions()?.mode(), 0o600); // the default
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn permissions(&self) -> Result<Permissions> {
        Ok(Permissions::from_mode(self.fd.mode()?))
    }

    /// The user id owning the object.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if the OS cannot report it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::SharedMemory;
    ///
    /// let name = format!("doc-shm-owner-uid-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// let _uid: u32 = shm.owner_uid()?; // this process's effective user
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn owner_uid(&self) -> Result<u32> {
        self.fd.owner_uid()
    }

    /// How many names this object has: 1 while its name exists, 0 once it has been removed
    /// (this handle then refers to memory no new `open` can reach). Used by the named objects
    /// to tell whether a stale object they hold is still the one behind the name.
    pub(crate) fn link_count(&self) -> Result<u64> {
        sys::shm_link_count(&self.fd)
    }

    /// A read-only handle on a descriptor [`crate::inspect`] opened itself (read-only, without
    /// following symbolic links), so that it can map the very object it examined.
    pub(crate) fn from_read_only_fd(fd: sys::Fd, name: &str) -> SharedMemory {
        SharedMemory {
            fd,
            name: name.to_owned(),
            mode: OpenMode::ReadOnly,
            created: false,
        }
    }
}

impl SharedMemory {
    /// The descriptor, for `flock` (managed segments hold a shared lock while open).
    pub(crate) fn fd(&self) -> &sys::Fd {
        &self.fd
    }
}

impl sealed::Sealed for SharedMemory {
    fn source(&self) -> Source<'_> {
        Source::Fd {
            fd: &self.fd,
            mode: self.mode,
            what: format!("shared memory `{}`", self.name),
        }
    }
}

impl Mappable for SharedMemory {}

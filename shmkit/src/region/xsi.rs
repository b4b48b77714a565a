//! System V (XSI) shared memory: Boost's `xsi_key` and `xsi_shared_memory`.

use std::path::Path;

use super::{Mappable, OpenMode, Permissions, Source, sealed};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::{self, XsiHow};

/// The key naming an XSI segment: `ftok` of a path and an id, a raw key, or
/// [`private`](XsiKey::private).
///
/// # Examples
///
/// ```
/// use shmkit::XsiKey;
///
/// let a = XsiKey::from_path("/tmp", 7)?;
/// let b = XsiKey::from_path("/tmp", 7)?;
/// assert_eq!(a, b); // the same path and id give the same key in every process
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XsiKey(i32);

impl XsiKey {
    /// `IPC_PRIVATE`: every create makes a new segment, reachable only through its id.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, XsiKey, XsiSharedMemory};
    ///
    /// let a = XsiSharedMemory::create(XsiKey::private(), 4096, Permissions::default())?;
    /// let b = XsiSharedMemory::create(XsiKey::private(), 4096, Permissions::default())?;
    /// assert_ne!(a.id(), b.id()); // a new segment each time
    /// XsiSharedMemory::remove(a.id())?;
    /// XsiSharedMemory::remove(b.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn private() -> XsiKey {
        XsiKey(sys::IPC_PRIVATE)
    }

    /// A key from its raw value.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::XsiKey;
    /// assert_eq!(XsiKey::from_raw(0x5eed).raw(), 0x5eed);
    /// ```
    pub fn from_raw(key: i32) -> XsiKey {
        XsiKey(key)
    }

    /// A key from an existing `path` and a non-zero `id` (`ftok`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for `id == 0`; [`ErrorKind::NotFound`] if the path does
    /// not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, XsiKey};
    ///
    /// let key = XsiKey::from_path("/tmp", 1)?;
    /// assert_eq!(key, XsiKey::from_path("/tmp", 1)?);
    /// assert_eq!(XsiKey::from_path("/tmp", 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn from_path(path: impl AsRef<Path>, id: u8) -> Result<XsiKey> {
        if id == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "an XSI key id must be non-zero (ftok leaves id 0 unspecified)",
            ));
        }
        sys::ftok(path.as_ref(), id).map(XsiKey)
    }

    /// The raw key value.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::XsiKey;
    /// assert_eq!(XsiKey::from_raw(42).raw(), 42);
    /// ```
    pub fn raw(self) -> i32 {
        self.0
    }
}

/// A System V shared memory segment (`shmget`). Its size is fixed at creation; map it with
/// [`MappedRegion`](crate::MappedRegion) (always whole, from offset 0). Kernel persistence: it
/// lives until [`remove`](XsiSharedMemory::remove) and the last detach, or reboot.
///
/// # Examples
///
/// ```
/// use shmkit::{MappedRegion, Permissions, XsiKey, XsiSharedMemory};
///
/// let seg = XsiSharedMemory::create(XsiKey::private(), 4096, Permissions::default())?;
/// let region = MappedRegion::map(&seg)?;
/// region.write_at(0, b"xsi")?;
/// XsiSharedMemory::remove(seg.id())?; // gone once the last process detaches
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug)]
pub struct XsiSharedMemory {
    id: i32,
    mode: OpenMode,
    created: bool,
}

impl XsiSharedMemory {
    fn check_size(size: usize) -> Result<()> {
        if size == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "an XSI segment needs a non-zero size",
            ));
        }
        if size as u64 > super::MAX_MAPPING_LEN {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "an XSI segment of {size} bytes is larger than any address space \
                     (at most {} bytes)",
                    super::MAX_MAPPING_LEN
                ),
            ));
        }
        Ok(())
    }

    /// Creates a new segment of `size` bytes under `key`; fails if the key is taken.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for size 0, beyond any address space (2^56 bytes) or beyond
    /// the system's `shmmax`;
    /// [`ErrorKind::AlreadyExists`]; [`ErrorKind::OutOfMemory`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{MappedRegion, Permissions, XsiKey, XsiSharedMemory};
    ///
    /// let seg = XsiSharedMemory::create(XsiKey::private(), 4096, Permissions::default())?;
    /// assert!(seg.created());
    /// MappedRegion::map(&seg)?.write_at(0, b"hi")?;
    /// XsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(key: XsiKey, size: usize, permissions: Permissions) -> Result<XsiSharedMemory> {
        Self::check_size(size)?;
        let (id, created) = sys::shmget(key.0, size, XsiHow::CreateNew, permissions.mode())?;
        Ok(XsiSharedMemory {
            id,
            mode: OpenMode::ReadWrite,
            created,
        })
    }

    /// Opens the segment under `key`, creating it with `size` bytes if missing (race-free; the
    /// size is ignored when opening).
    ///
    /// # Errors
    ///
    /// As [`create`](XsiSharedMemory::create), without `AlreadyExists`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{OpenMode, Permissions, XsiKey, XsiSharedMemory};
    ///
    /// // A key of its own: a fresh file, and `ftok`.
    /// let path = std::env::temp_dir().join(format!("doc-xsi-ooc-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// std::fs::write(&path, b"").unwrap();
    /// let key = XsiKey::from_path(&path, 1)?;
    /// let a = XsiSharedMemory::open_or_create(key, 4096, Permissions::default())?;
    /// let b = XsiSharedMemory::open_or_create(key, 4096, Permissions::default())?;
    /// assert!(a.created() && !b.created());
    /// assert_eq!(a.id(), b.id());
    /// XsiSharedMemory::remove(a.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(
        key: XsiKey,
        size: usize,
        permissions: Permissions,
    ) -> Result<XsiSharedMemory> {
        Self::check_size(size)?;
        let (id, created) = sys::shmget(key.0, size, XsiHow::OpenOrCreate, permissions.mode())?;
        Ok(XsiSharedMemory {
            id,
            mode: OpenMode::ReadWrite,
            created,
        })
    }

    /// Opens the existing segment under `key`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`]; [`ErrorKind::PermissionDenied`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{OpenMode, Permissions, XsiKey, XsiSharedMemory};
    ///
    /// // A key of its own: a fresh file, and `ftok`.
    /// let path = std::env::temp_dir().join(format!("doc-xsi-open-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// std::fs::write(&path, b"").unwrap();
    /// let key = XsiKey::from_path(&path, 1)?;
    /// assert!(XsiSharedMemory::open(key, OpenMode::ReadOnly).is_err()); // not yet
    /// let seg = XsiSharedMemory::create(key, 4096, Permissions::default())?;
    /// let other = XsiSharedMemory::open(key, OpenMode::ReadOnly)?;
    /// assert_eq!(other.id(), seg.id());
    /// XsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(key: XsiKey, mode: OpenMode) -> Result<XsiSharedMemory> {
        let (id, _) = sys::shmget(key.0, 0, XsiHow::Open, 0)?;
        Ok(XsiSharedMemory {
            id,
            mode,
            created: false,
        })
    }

    /// Opens the existing segment with id `id` (as printed by `ipcs -m`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] or [`ErrorKind::NotFound`] if no such segment exists.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{OpenMode, Permissions, XsiKey, XsiSharedMemory};
    ///
    /// let seg = XsiSharedMemory::create(XsiKey::private(), 4096, Permissions::default())?;
    /// let again = XsiSharedMemory::open_by_id(seg.id(), OpenMode::ReadWrite)?;
    /// assert_eq!(again.len()?, 4096);
    /// XsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_by_id(id: i32, mode: OpenMode) -> Result<XsiSharedMemory> {
        sys::shm_size(id)?;
        Ok(XsiSharedMemory {
            id,
            mode,
            created: false,
        })
    }

    /// Marks the segment `id` for removal (`IPC_RMID`): it disappears when the last process
    /// detaches, and its key can be reused at once.
    ///
    /// # Errors
    ///
    /// The OS error if no such segment exists or it belongs to another user.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{OpenMode, Permissions, XsiKey, XsiSharedMemory};
    ///
    /// let seg = XsiSharedMemory::create(XsiKey::private(), 4096, Permissions::default())?;
    /// XsiSharedMemory::remove(seg.id())?;
    /// assert!(XsiSharedMemory::open_by_id(seg.id(), OpenMode::ReadOnly).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(id: i32) -> Result<()> {
        sys::shm_remove(id)
    }

    /// The segment id.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, XsiKey, XsiSharedMemory};
    ///
    /// let seg = XsiSharedMemory::create(XsiKey::private(), 4096, Permissions::default())?;
    /// assert!(seg.id() >= 0);
    /// XsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The segment size in bytes.
    ///
    /// # Errors
    ///
    /// The OS error if the segment is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, XsiKey, XsiSharedMemory};
    ///
    /// let seg = XsiSharedMemory::create(XsiKey::private(), 4096, Permissions::default())?;
    /// assert_eq!(seg.len()?, 4096);
    /// XsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        sys::shm_size(self.id)
    }

    /// Always `false` for an existing segment (its size is fixed and non-zero); present for
    /// symmetry with [`len`](XsiSharedMemory::len).
    ///
    /// # Errors
    ///
    /// As [`len`](XsiSharedMemory::len).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, XsiKey, XsiSharedMemory};
    ///
    /// let seg = XsiSharedMemory::create(XsiKey::private(), 4096, Permissions::default())?;
    /// assert!(!seg.is_empty()?);
    /// XsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The mode this handle maps with.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, XsiKey, XsiSharedMemory};
    ///
    /// let seg = XsiSharedMemory::create(XsiKey::private(), 4096, Permissions::default())?;
    /// assert_eq!(seg.mode(), shmkit::OpenMode::ReadWrite);
    /// XsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mode(&self) -> OpenMode {
        self.mode
    }

    /// Whether this handle created the segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, XsiKey, XsiSharedMemory};
    ///
    /// let seg = XsiSharedMemory::create(XsiKey::private(), 4096, Permissions::default())?;
    /// assert!(seg.created());
    /// XsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.created
    }
}

impl sealed::Sealed for XsiSharedMemory {
    fn source(&self) -> Source<'_> {
        Source::Xsi {
            id: self.id,
            mode: self.mode,
        }
    }
}

impl Mappable for XsiSharedMemory {}

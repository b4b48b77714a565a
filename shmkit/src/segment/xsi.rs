//! [`ManagedXsiSharedMemory`]: a managed segment in System V shared memory.

use std::fmt;
use std::ops::{Deref, DerefMut};

use super::index::{HashIndex, NameIndex};
use super::manager::{Mode, SegmentManager};
use super::open::{self, XsiDev};
use crate::alloc::{BestFit, MemoryAlgorithm};
use crate::error::Result;
use crate::region::{OpenMode, Permissions, XsiKey, XsiSharedMemory};
use crate::sync::named::object::Kind;

/// A managed segment in System V shared memory, found by an [`XsiKey`]: Boost's
/// `managed_xsi_shared_memory`. The same segment and protocol as
/// [`ManagedSharedMemory`](crate::ManagedSharedMemory), with System V's limits: the size is
/// fixed when created (no grow or shrink), and the memory cannot be mapped privately (no
/// read-only or copy-on-write opens, which would need it).
///
/// # Examples
///
/// ```
/// use shmkit::{ManagedXsiSharedMemory, XsiKey};
///
/// let path = std::env::temp_dir().join(format!("doc-xsi-seg-{}", std::process::id()));
/// std::fs::write(&path, b"")?;
/// let key = XsiKey::from_path(&path, 1)?;
/// let seg: ManagedXsiSharedMemory = ManagedXsiSharedMemory::create(key, 1 << 16)?;
/// seg.construct("x", 5u32)?;
/// let other: ManagedXsiSharedMemory = ManagedXsiSharedMemory::open(key)?;
/// assert_eq!(other.find::<u32>("x")?, Some(&5));
/// ManagedXsiSharedMemory::remove(seg.id())?;
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ManagedXsiSharedMemory<M: MemoryAlgorithm = BestFit, I: NameIndex = HashIndex> {
    seg: SegmentManager<M, I>,
    dev: XsiDev,
}

impl<M: MemoryAlgorithm, I: NameIndex> fmt::Debug for ManagedXsiSharedMemory<M, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedXsiSharedMemory")
            .field("id", &self.dev.xsi.id())
            .field("segment", &self.seg)
            .finish()
    }
}

impl ManagedXsiSharedMemory {
    /// Marks the System V segment `id` for removal (`IPC_RMID`): it disappears when the last
    /// process detaches.
    ///
    /// # Errors
    ///
    /// The OS error if no such segment exists or it belongs to another user.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedXsiSharedMemory, XsiKey};
    /// let seg: ManagedXsiSharedMemory = ManagedXsiSharedMemory::create(XsiKey::private(), 1 << 16)?;
    /// ManagedXsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(id: i32) -> Result<()> {
        XsiSharedMemory::remove(id)
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> ManagedXsiSharedMemory<M, I> {
    /// Creates a segment of `size` bytes under `key` (permissions `0o600`); fails if the key is
    /// taken.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists);
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a too small size
    /// or one beyond the system's `shmmax`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedXsiSharedMemory, XsiKey};
    /// let seg: ManagedXsiSharedMemory = ManagedXsiSharedMemory::create(XsiKey::private(), 1 << 16)?;
    /// assert_eq!(seg.size(), 1 << 16);
    /// ManagedXsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(key: XsiKey, size: usize) -> Result<Self> {
        Self::create_with(key, size, Permissions::default())
    }

    /// [`create`](Self::create) with explicit permissions.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedXsiSharedMemory, Permissions, XsiKey};
    /// let seg: ManagedXsiSharedMemory =
    ///     ManagedXsiSharedMemory::create_with(XsiKey::private(), 1 << 16, Permissions::from_mode(0o600))?;
    /// ManagedXsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(key: XsiKey, size: usize, permissions: Permissions) -> Result<Self> {
        open::check_size::<M, I>(size)?;
        let dev = XsiDev {
            xsi: XsiSharedMemory::create(key, size, permissions)?,
            key,
        };
        let seg = open::create::<_, M, I>(&dev, Kind::Segment, size)?;
        Ok(ManagedXsiSharedMemory { seg, dev })
    }

    /// Opens the segment under `key`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound); otherwise as
    /// [`ManagedSharedMemory::open`](crate::ManagedSharedMemory::open).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedXsiSharedMemory, XsiKey};
    /// let err = <ManagedXsiSharedMemory>::open(XsiKey::from_raw(0x5eed_0bad)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// ```
    pub fn open(key: XsiKey) -> Result<Self> {
        let dev = XsiDev {
            xsi: XsiSharedMemory::open(key, OpenMode::ReadWrite)?,
            key,
        };
        let seg = open::open::<_, M, I>(&dev, Kind::Segment, Mode::ReadWrite)?;
        Ok(ManagedXsiSharedMemory { seg, dev })
    }

    /// Opens the segment under `key` read-only: finds work, nothing can change it. System V
    /// memory cannot be mapped privately, so the handle works on a snapshot of the segment
    /// taken now (a heap copy): later changes by other processes are not seen. Needs only read
    /// permission.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open); changes through the handle are
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedXsiSharedMemory, XsiKey};
    /// let path = std::env::temp_dir().join(format!("doc-xsi-ro-{}", std::process::id()));
    /// std::fs::write(&path, b"")?;
    /// let key = XsiKey::from_path(&path, 3)?;
    /// let seg: ManagedXsiSharedMemory = ManagedXsiSharedMemory::create(key, 1 << 16)?;
    /// seg.construct("x", 5u32)?;
    /// let ro: ManagedXsiSharedMemory = ManagedXsiSharedMemory::open_read_only(key)?;
    /// assert_eq!(ro.find::<u32>("x")?, Some(&5));
    /// assert_eq!(ro.construct("y", 1u32).unwrap_err().kind(), ErrorKind::PermissionDenied);
    /// ManagedXsiSharedMemory::remove(seg.id())?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_read_only(key: XsiKey) -> Result<Self> {
        Self::open_snapshot(key, Mode::ReadOnly)
    }

    /// Opens the segment under `key` copy-on-write: everything works, and every change stays in
    /// this process. As for [`open_read_only`](Self::open_read_only), the handle works on a
    /// snapshot taken now (repaired as if the lock's holder had died at that moment).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedXsiSharedMemory, XsiKey};
    /// let path = std::env::temp_dir().join(format!("doc-xsi-cow-{}", std::process::id()));
    /// std::fs::write(&path, b"")?;
    /// let key = XsiKey::from_path(&path, 4)?;
    /// let seg: ManagedXsiSharedMemory = ManagedXsiSharedMemory::create(key, 1 << 16)?;
    /// let cow: ManagedXsiSharedMemory = ManagedXsiSharedMemory::open_copy_on_write(key)?;
    /// cow.construct("private", 1u8)?;
    /// assert_eq!(cow.find::<u8>("private")?, Some(&1));
    /// assert_eq!(seg.find::<u8>("private")?, None);
    /// ManagedXsiSharedMemory::remove(seg.id())?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_copy_on_write(key: XsiKey) -> Result<Self> {
        Self::open_snapshot(key, Mode::CopyOnWrite)
    }

    fn open_snapshot(key: XsiKey, mode: Mode) -> Result<Self> {
        let dev = XsiDev {
            xsi: XsiSharedMemory::open(key, OpenMode::ReadOnly)?,
            key,
        };
        let seg = open::open_snapshot::<_, M, I>(&dev, Kind::Segment, mode)?;
        Ok(ManagedXsiSharedMemory { seg, dev })
    }

    /// Opens the segment under `key`, or creates it with `size` bytes (race-free).
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open), without `NotFound` and
    /// `AlreadyExists`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedXsiSharedMemory, XsiKey};
    /// let path = std::env::temp_dir().join(format!("doc-xsi-ooc-{}", std::process::id()));
    /// std::fs::write(&path, b"")?;
    /// let key = XsiKey::from_path(&path, 2)?;
    /// let a: ManagedXsiSharedMemory = ManagedXsiSharedMemory::open_or_create(key, 1 << 16)?;
    /// let b: ManagedXsiSharedMemory = ManagedXsiSharedMemory::open_or_create(key, 1 << 16)?;
    /// assert!(a.created() && !b.created());
    /// ManagedXsiSharedMemory::remove(a.id())?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_or_create(key: XsiKey, size: usize) -> Result<Self> {
        open::check_size::<M, I>(size)?;
        let (seg, dev) = open::open_or_create::<_, M, I>(
            || {
                Ok(XsiDev {
                    xsi: XsiSharedMemory::open_or_create(key, size, Permissions::default())?,
                    key,
                })
            },
            Kind::Segment,
            size,
        )?;
        Ok(ManagedXsiSharedMemory { seg, dev })
    }

    /// The System V segment id (as `ipcs -m` shows it).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedXsiSharedMemory, XsiKey};
    /// let seg: ManagedXsiSharedMemory = ManagedXsiSharedMemory::create(XsiKey::private(), 1 << 16)?;
    /// assert!(seg.id() >= 0);
    /// ManagedXsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn id(&self) -> i32 {
        self.dev.xsi.id()
    }

    /// Whether this handle created the segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedXsiSharedMemory, XsiKey};
    /// let seg: ManagedXsiSharedMemory = ManagedXsiSharedMemory::create(XsiKey::private(), 1 << 16)?;
    /// assert!(seg.created());
    /// ManagedXsiSharedMemory::remove(seg.id())?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.dev.xsi.created()
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> Deref for ManagedXsiSharedMemory<M, I> {
    type Target = SegmentManager<M, I>;

    fn deref(&self) -> &SegmentManager<M, I> {
        &self.seg
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> DerefMut for ManagedXsiSharedMemory<M, I> {
    fn deref_mut(&mut self) -> &mut SegmentManager<M, I> {
        &mut self.seg
    }
}

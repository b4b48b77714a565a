//! [`ManagedSharedMemory`]: a managed segment in a POSIX shared memory object.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use super::index::{HashIndex, NameIndex};
use super::manager::{Mode, SegmentManager};
use super::open;
use crate::alloc::{BestFit, MemoryAlgorithm};
use crate::error::Result;
use crate::region::{Permissions, SharedMemory};
use crate::sync::named::object::Kind;

/// A managed segment in a named POSIX shared memory object (`/dev/shm/<name>`): Boost's
/// `managed_shared_memory`. Dereferences to its [`SegmentManager`], which has the object
/// functions (`construct`, `find`, `destroy`, ...).
///
/// `M` is the memory algorithm ([`BestFit`] by default) and `I` the name index
/// ([`HashIndex`] by default); a segment must be opened with the types it was created with
/// ([`ErrorKind::Incompatible`](crate::ErrorKind::Incompatible) otherwise). With the defaults,
/// name the type once: `let seg: ManagedSharedMemory = ManagedSharedMemory::create(..)?` (Rust
/// infers type parameters from use, and uses their defaults only where a type is written).
///
/// | call | name exists | name missing |
/// |---|---|---|
/// | [`create`](Self::create) | [`AlreadyExists`](crate::ErrorKind::AlreadyExists) | creates it |
/// | [`open`](Self::open), [`open_read_only`](Self::open_read_only), [`open_copy_on_write`](Self::open_copy_on_write) | opens it | [`NotFound`](crate::ErrorKind::NotFound) |
/// | [`open_or_create`](Self::open_or_create) | opens it | creates it (race-free) |
/// | [`remove`](ManagedSharedMemory::remove) | removes the name | `NotFound` |
///
/// Opening validates everything before use: a foreign object, a truncated one, another layout
/// version, another algorithm or index is an error, never undefined behaviour; an opener waits
/// (up to a second) for a creator still formatting the segment, and a creator that died doing
/// so gives [`Corrupted`](crate::ErrorKind::Corrupted) (`open_or_create` replaces the segment).
/// Handles close, they never remove: the segment lives until [`remove`](ManagedSharedMemory::remove)
/// (or a reboot).
///
/// Every open handle holds a shared `flock` on the object, which [`grow`](Self::grow) and
/// [`shrink_to_fit`](Self::shrink_to_fit) need exclusively: they refuse with
/// [`Busy`](crate::ErrorKind::Busy) while any process has the segment open.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use shmkit::ManagedSharedMemory;
///
/// let name = format!("doc-managed-{}", std::process::id());
/// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
/// let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20)?;
/// seg.construct("counter", AtomicU64::new(0))?;
///
/// // Another process (here: another handle) finds it by name.
/// let other: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
/// let counter = other.find::<AtomicU64>("counter")?.expect("constructed above");
/// counter.fetch_add(1, Ordering::Relaxed);
/// assert_eq!(seg.find::<AtomicU64>("counter")?.unwrap().load(Ordering::Relaxed), 1);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct ManagedSharedMemory<M: MemoryAlgorithm = BestFit, I: NameIndex = HashIndex> {
    // Field order: unmap before closing the descriptor (which releases the shared flock).
    seg: SegmentManager<M, I>,
    shm: SharedMemory,
    created: bool,
}

impl<M: MemoryAlgorithm, I: NameIndex> std::fmt::Debug for ManagedSharedMemory<M, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedSharedMemory")
            .field("name", &self.shm.name())
            .field("segment", &self.seg)
            .finish()
    }
}

fn lock_path(name: &str) -> PathBuf {
    PathBuf::from("/dev/shm").join(name)
}

impl ManagedSharedMemory {
    /// Removes the shared memory object `name` (Boost's `shared_memory_object::remove`):
    /// processes that have it open keep using it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound), [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName),
    /// or the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedSharedMemory;
    /// let name = format!("doc-managed-remove-{}", std::process::id());
    /// let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16)?;
    /// ManagedSharedMemory::remove(&name)?;
    /// assert!(ManagedSharedMemory::remove(&name).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(name: &str) -> Result<()> {
        SharedMemory::remove(name)
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> ManagedSharedMemory<M, I> {
    fn shared(name: &str, shm: SharedMemory) -> Result<SharedMemory> {
        open::hold_shared(shm.fd(), &lock_path(name))?;
        Ok(shm)
    }

    /// Creates the segment `name` of `size` bytes (permissions `0o600`), failing if the name
    /// exists (Boost's `create_only`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists);
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a size below a page
    /// plus the algorithm's minimum; [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory) if
    /// `/dev/shm` is full; [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedSharedMemory};
    /// let name = format!("doc-managed-create-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16)?;
    /// assert!(seg.created());
    /// let again = <ManagedSharedMemory>::create(&name, 1 << 16).unwrap_err();
    /// assert_eq!(again.kind(), ErrorKind::AlreadyExists);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str, size: usize) -> Result<Self> {
        Self::create_with(name, size, Permissions::default())
    }

    /// [`create`](Self::create) with explicit permissions (applied exactly, whatever the umask).
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedSharedMemory, Permissions, SharedMemory};
    /// let name = format!("doc-managed-perm-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let _seg: ManagedSharedMemory =
    ///     ManagedSharedMemory::create_with(&name, 1 << 16, Permissions::from_mode(0o640))?;
    /// assert_eq!(SharedMemory::open(&name)?.permissions()?.mode(), 0o640);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(name: &str, size: usize, permissions: Permissions) -> Result<Self> {
        open::check_size::<M, I>(size)?;
        let shm = SharedMemory::options()
            .create_new(true)
            .permissions(permissions)
            .open(name)?;
        let shm = Self::shared(name, shm).inspect_err(|_| {
            let _ = SharedMemory::remove(name);
        })?;
        let seg = open::create::<_, M, I>(&shm, Kind::Segment, size)?;
        Ok(ManagedSharedMemory {
            seg,
            shm,
            created: true,
        })
    }

    /// Opens the existing segment `name` read-write (Boost's `open_only`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound);
    /// [`ErrorKind::Incompatible`](crate::ErrorKind::Incompatible) for anything but a shmkit
    /// segment of this layout, algorithm and index;
    /// [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) for a truncated segment or one
    /// whose creator died formatting it; [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) if
    /// its creator is still formatting it after a second;
    /// [`ErrorKind::Busy`](crate::ErrorKind::Busy) if a grow or shrink holds it for more than ten
    /// seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedSharedMemory};
    /// let err = <ManagedSharedMemory>::open("doc-managed-no-such-segment").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        let shm = Self::shared(name, SharedMemory::open(name)?)?;
        let seg = open::open::<_, M, I>(&shm, Kind::Segment, Mode::ReadWrite)?;
        Ok(ManagedSharedMemory {
            seg,
            shm,
            created: false,
        })
    }

    /// Opens the segment `name`, or creates it with `size` bytes if it does not exist (Boost's
    /// `open_or_create`): race-free, exactly one process creates; [`created`](Self::created)
    /// tells which. The size is ignored when opening.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open), without `NotFound` and
    /// `AlreadyExists`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedSharedMemory;
    /// let name = format!("doc-managed-ooc-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let a: ManagedSharedMemory = ManagedSharedMemory::open_or_create(&name, 1 << 16)?;
    /// let b: ManagedSharedMemory = ManagedSharedMemory::open_or_create(&name, 1 << 16)?;
    /// assert!(a.created() && !b.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str, size: usize) -> Result<Self> {
        Self::open_or_create_with(name, size, Permissions::default())
    }

    /// [`open_or_create`](Self::open_or_create) with the permissions used if it creates.
    ///
    /// # Errors
    ///
    /// As [`open_or_create`](Self::open_or_create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedSharedMemory, Permissions};
    /// let name = format!("doc-managed-oocw-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let seg: ManagedSharedMemory =
    ///     ManagedSharedMemory::open_or_create_with(&name, 1 << 16, Permissions::from_mode(0o600))?;
    /// assert!(seg.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create_with(name: &str, size: usize, permissions: Permissions) -> Result<Self> {
        open::check_size::<M, I>(size)?;
        let (seg, shm) = open::open_or_create::<_, M, I>(
            || {
                let shm = SharedMemory::options()
                    .create(true)
                    .permissions(permissions)
                    .open(name)?;
                Self::shared(name, shm)
            },
            Kind::Segment,
            size,
        )?;
        let created = shm.created();
        Ok(ManagedSharedMemory { seg, shm, created })
    }

    /// Opens the segment `name` read-only (Boost's `open_read_only`): finds work, without
    /// locking; everything that would change the segment returns
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied). Needs only read
    /// permission.
    ///
    /// The mapping is private: it sees other processes' changes, except on a page this process
    /// writes itself (by taking a lock found in the segment, say), which becomes a private copy
    /// instead of faulting. A find racing with a writer may miss or report
    /// [`Corrupted`](crate::ErrorKind::Corrupted); retry.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedSharedMemory};
    /// let name = format!("doc-managed-ro-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16)?;
    /// seg.construct("x", 7u32)?;
    /// let ro: ManagedSharedMemory = ManagedSharedMemory::open_read_only(&name)?;
    /// assert_eq!(ro.find::<u32>("x")?, Some(&7));
    /// assert_eq!(ro.construct("y", 1u32).unwrap_err().kind(), ErrorKind::PermissionDenied);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_read_only(name: &str) -> Result<Self> {
        let shm = Self::shared(name, SharedMemory::open_read_only(name)?)?;
        let seg = open::open::<_, M, I>(&shm, Kind::Segment, Mode::ReadOnly)?;
        Ok(ManagedSharedMemory {
            seg,
            shm,
            created: false,
        })
    }

    /// Opens the segment `name` copy-on-write (Boost's `open_copy_on_write`): everything works,
    /// and every change stays in this process (the mapping is private). Needs only read
    /// permission. The view starts as a repaired snapshot (the lock as if its holder had died
    /// at the moment of opening); pages this process has not written yet still show other
    /// processes' later changes, so use it on segments nobody else is changing.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedSharedMemory;
    /// let name = format!("doc-managed-cow-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16)?;
    /// let cow: ManagedSharedMemory = ManagedSharedMemory::open_copy_on_write(&name)?;
    /// cow.construct("private", 1u8)?;
    /// assert_eq!(seg.find::<u8>("private")?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_copy_on_write(name: &str) -> Result<Self> {
        let shm = Self::shared(name, SharedMemory::open_read_only(name)?)?;
        let seg = open::open::<_, M, I>(&shm, Kind::Segment, Mode::CopyOnWrite)?;
        Ok(ManagedSharedMemory {
            seg,
            shm,
            created: false,
        })
    }

    /// Grows the segment `name` by `extra` bytes (at least 32, rounded up to 16), offline
    /// (Boost's static `grow`): the new bytes become free memory. Returns the new size.
    ///
    /// Not crash-atomic: a process killed in the middle of a grow can leave the segment
    /// [`Corrupted`](crate::ErrorKind::Corrupted) (the algorithm's length and the segment's
    /// disagree).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Busy`](crate::ErrorKind::Busy) while any process (this one included) has the
    /// segment open; [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory) if `/dev/shm` is
    /// full;
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for `extra == 0` or a
    /// size beyond any address space (2^56 bytes); as [`open`](Self::open) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedSharedMemory};
    /// let name = format!("doc-managed-grow-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16)?;
    /// let before = seg.free_memory()?;
    /// assert_eq!(<ManagedSharedMemory>::grow(&name, 1 << 16).unwrap_err().kind(), ErrorKind::Busy);
    /// drop(seg);
    /// assert_eq!(<ManagedSharedMemory>::grow(&name, 1 << 16)?, 2 << 16);
    /// let seg: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    /// assert_eq!(seg.free_memory()?, before + (1 << 16));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn grow(name: &str, extra: usize) -> Result<usize> {
        let shm = SharedMemory::open(name)?;
        open::try_exclusive(shm.fd(), &lock_path(name))?;
        open::grow::<_, M, I>(&shm, Kind::Segment, extra)
    }

    /// Shrinks the segment `name` to end after its last allocated block, offline (Boost's
    /// static `shrink_to_fit`). Returns the new size. Not crash-atomic (see
    /// [`grow`](Self::grow)).
    ///
    /// # Errors
    ///
    /// As [`grow`](Self::grow).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedSharedMemory;
    /// let name = format!("doc-managed-shrink-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20)?;
    /// seg.construct("kept", 5u64)?;
    /// drop(seg);
    /// let size = <ManagedSharedMemory>::shrink_to_fit(&name)?;
    /// assert!(size < 1 << 14);
    /// let seg: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    /// assert_eq!(seg.find::<u64>("kept")?, Some(&5));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn shrink_to_fit(name: &str) -> Result<usize> {
        let shm = SharedMemory::open(name)?;
        open::try_exclusive(shm.fd(), &lock_path(name))?;
        open::shrink::<_, M, I>(&shm, Kind::Segment)
    }

    /// The shared memory object's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedSharedMemory;
    /// let name = format!("doc-managed-name-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16)?;
    /// assert_eq!(seg.name(), name);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.shm.name()
    }

    /// Whether this handle created the segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedSharedMemory;
    /// let name = format!("doc-managed-created-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16)?;
    /// assert!(seg.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.created
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> Deref for ManagedSharedMemory<M, I> {
    type Target = SegmentManager<M, I>;

    fn deref(&self) -> &SegmentManager<M, I> {
        &self.seg
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> DerefMut for ManagedSharedMemory<M, I> {
    fn deref_mut(&mut self) -> &mut SegmentManager<M, I> {
        &mut self.seg
    }
}

//! Memory that several processes map: named POSIX shared memory, memory-mapped files, anonymous
//! shared memory and System V (XSI) segments, and the [`MappedRegion`] that maps any of them.
//!
//! The objects here only name and size memory; [`MappedRegion`] makes it addressable. As in
//! Boost.Interprocess, a handle's destructor closes it and never removes the named object:
//! removal is an explicit `remove(name)` (or a [`RemoveOnDrop`] guard), which unlinks the name at
//! once while existing mappings keep the memory alive.
//!
//! | object | persistence | created by | removed by |
//! |---|---|---|---|
//! | [`SharedMemory`] | kernel (until removed or reboot) | [`ShmOptions`] | [`SharedMemory::remove`] |
//! | [`FileMapping`] | filesystem | the caller (an existing file) | [`FileMapping::remove`] |
//! | [`MappedRegion::anonymous`] | the processes that map it | one call, shared with `fork`ed children | last unmap |
//! | [`XsiSharedMemory`] | kernel | [`XsiSharedMemory::create`] | [`XsiSharedMemory::remove`] |

mod file_mapping;
mod mapped_region;
mod permissions;
mod remove_on_drop;
mod shared_memory;
mod xsi;

pub use file_mapping::FileMapping;
pub(crate) use mapped_region::MAX_MAPPING_LEN;
pub use mapped_region::{Advice, MapOptions, MappedRegion};
pub(crate) use mapped_region::{atomic_load, atomic_store};
pub use permissions::Permissions;
pub use remove_on_drop::RemoveOnDrop;
pub use shared_memory::{SharedMemory, ShmOptions};
pub use xsi::{XsiKey, XsiSharedMemory};

/// How an object (shared memory, file, XSI segment) is opened: it bounds how it may be mapped.
///
/// # Examples
///
/// ```
/// use shmkit::{Access, MappedRegion, OpenMode, SharedMemory};
///
/// let name = format!("doc-openmode-{}", std::process::id());
/// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
/// SharedMemory::create(&name)?.set_len(4096)?;
/// let ro = SharedMemory::options().mode(OpenMode::ReadOnly).open(&name)?;
/// // A read-only handle maps read-only or privately, never shared read-write.
/// assert!(MappedRegion::options().access(Access::ReadWrite).map(&ro).is_err());
/// assert!(MappedRegion::options().access(Access::CopyOnWrite).map(&ro).is_ok());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenMode {
    /// Only read: the object may be mapped [`Access::ReadOnly`], [`Access::ReadPrivate`] or
    /// [`Access::CopyOnWrite`].
    ReadOnly,
    /// Read and write: any [`Access`].
    ReadWrite,
}

/// How a [`MappedRegion`] maps its object (Boost's `mode_t`).
///
/// # Examples
///
/// ```
/// use shmkit::{Access, MappedRegion};
///
/// let region = MappedRegion::anonymous(4096)?;
/// assert_eq!(region.access(), Access::ReadWrite);
/// assert!(Access::CopyOnWrite.is_writable() && Access::CopyOnWrite.is_private());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Shared, read-only: sees other processes' writes; cannot write.
    ReadOnly,
    /// Shared, read-write: writes are seen by every process mapping the object.
    ReadWrite,
    /// Private, writable: reads see the object until this process writes a page, which then
    /// becomes a private copy; writes are never seen by others nor stored in the object.
    CopyOnWrite,
    /// Private, read-only (`MAP_PRIVATE` with read protection).
    ReadPrivate,
}

impl Access {
    /// Whether the mapping can be written through.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Access;
    /// assert!(Access::ReadWrite.is_writable());
    /// assert!(!Access::ReadPrivate.is_writable());
    /// ```
    pub fn is_writable(self) -> bool {
        matches!(self, Access::ReadWrite | Access::CopyOnWrite)
    }

    /// Whether the mapping is private to this process (`MAP_PRIVATE`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Access;
    /// assert!(Access::ReadPrivate.is_private());
    /// assert!(!Access::ReadOnly.is_private());
    /// ```
    pub fn is_private(self) -> bool {
        matches!(self, Access::CopyOnWrite | Access::ReadPrivate)
    }
}

mod sealed {
    use super::OpenMode;

    pub trait Sealed {
        fn source(&self) -> Source<'_>;
    }

    /// What a [`Mappable`] hands to [`MappedRegion`]: a descriptor or an XSI segment id.
    #[derive(Debug)]
    pub enum Source<'a> {
        Fd {
            fd: &'a crate::sys::Fd,
            mode: OpenMode,
            what: String,
        },
        Xsi {
            id: i32,
            mode: OpenMode,
        },
    }
}
pub(crate) use sealed::Source;

/// An object that [`MappedRegion`] can map: [`SharedMemory`], [`FileMapping`],
/// [`XsiSharedMemory`]. Sealed: the mapping contract depends on each object's internals.
///
/// # Examples
///
/// ```
/// use shmkit::{Mappable, MappedRegion};
///
/// fn first_byte(object: &impl Mappable) -> shmkit::Result<u8> {
///     let region = MappedRegion::options().len(1).map(object)?;
///     let mut b = [0];
///     region.read_at(0, &mut b)?;
///     Ok(b[0])
/// }
///
/// let name = format!("doc-mappable-{}", std::process::id());
/// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
/// let shm = shmkit::SharedMemory::create(&name)?;
/// shm.set_len(10)?;
/// assert_eq!(first_byte(&shm)?, 0);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub trait Mappable: sealed::Sealed {}

//! [`MappedRegion`]: a mapping of (part of) a shared memory object, file or XSI segment.
//!
//! # Invariants
//!
//! * `map_base` is page-aligned and `map_base..map_base + map_len` is a mapping this value owns
//!   (an `mmap` mapping, or for XSI the whole `shmat` attachment); `map_len` is a multiple of the
//!   page size, or 0 once [`shrink_by`](MappedRegion::shrink_by) has unmapped everything.
//! * The user's view is `ptr..ptr + len`, inside the mapping: `ptr - map_base` is the offset of
//!   the requested start within its first page, hidden from the user.
//! * Nothing hands out a `&mut` into a mapping that is not writable.
//!
//! # Soundness of the byte views
//!
//! Other processes may write the memory at any time, and Rust assumes the bytes behind a `&[u8]`
//! do not change while it lives. The safe accessors ([`read_at`](MappedRegion::read_at),
//! [`write_at`](MappedRegion::write_at)) therefore copy with relaxed atomic loads and stores,
//! which are defined whatever other processes do. Plain slices
//! ([`as_slice`](MappedRegion::as_slice), [`as_mut_slice`](MappedRegion::as_mut_slice)) are
//! `unsafe`: the caller promises nobody writes (or, for `&mut`, touches) those bytes meanwhile.
//! Typed, lock-protected access to shared data comes with the managed segments.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use super::{Access, Mappable, OpenMode, Source};
use crate::error::{Error, ErrorKind, Result};
use crate::shm_safe::ShmSafe;
use crate::sys;

/// The longest mapping: 2^56 bytes, the largest user address space of any 64-bit Linux (x86-64
/// with 5-level paging). A longer request can never succeed, so it is an invalid argument rather
/// than a shortage of memory.
pub(crate) const MAX_MAPPING_LEN: u64 = 1 << 56;

/// Access advice for [`MappedRegion::advise`] (Boost's `advice_types`).
///
/// # Examples
///
/// ```
/// use shmkit::{Advice, MappedRegion};
///
/// let region = MappedRegion::anonymous(1 << 16)?;
/// region.advise(Advice::Sequential)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Advice {
    /// No special treatment.
    Normal,
    /// Expect sequential access: read ahead aggressively.
    Sequential,
    /// Expect random access: read ahead little.
    Random,
    /// The range will be needed soon: start reading it in.
    WillNeed,
    /// The range will not be needed soon (POSIX semantics: a hint only, no data is discarded).
    DontNeed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mmap,
    Xsi,
}

/// A mapped view of a [`Mappable`] object, or of anonymous shared memory: Boost's
/// `mapped_region`.
///
/// The region does not borrow the object it maps: it stays valid after the object's handle is
/// dropped (and after the name is removed). Dropping the region unmaps it without flushing.
///
/// # Examples
///
/// ```
/// use shmkit::{Access, MappedRegion, RemoveOnDrop, SharedMemory};
///
/// let name = format!("doc-region-{}", std::process::id());
/// let shm = SharedMemory::create(&name)?;
/// let _cleanup = RemoveOnDrop::shared_memory(&name);
/// shm.set_len(8192)?;
///
/// // Map 100 bytes from offset 5000: page rounding is hidden.
/// let region = MappedRegion::options().offset(5000).len(100).map(&shm)?;
/// assert_eq!(region.len(), 100);
/// region.write_at(0, &[7; 100])?;
///
/// // A copy-on-write view sees the data but keeps its own changes private.
/// let private = MappedRegion::options().access(Access::CopyOnWrite).map(&shm)?;
/// private.write_at(5000, &[9])?;
/// let mut b = [0];
/// region.read_at(0, &mut b)?;
/// assert_eq!(b, [7]);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug)]
pub struct MappedRegion {
    map_base: *mut u8,
    map_len: usize,
    ptr: *mut u8,
    len: usize,
    access: Access,
    kind: Kind,
}

// SAFETY: a MappedRegion owns its mapping like a Box owns its allocation; the raw pointers are
// not tied to the creating thread. Shared access through `&MappedRegion` only performs atomic
// copies (or `unsafe` accesses whose contract covers concurrency).
unsafe impl Send for MappedRegion {}
// SAFETY: see `Send`; every `&self` method is safe to call from several threads at once.
unsafe impl Sync for MappedRegion {}

/// Options for [`MappedRegion`]: offset, length, access and address.
///
/// # Examples
///
/// ```
/// use shmkit::{Access, MappedRegion, RemoveOnDrop, SharedMemory};
///
/// let name = format!("doc-map-options-{}", std::process::id());
/// let shm = SharedMemory::create(&name)?;
/// let _cleanup = RemoveOnDrop::shared_memory(&name);
/// shm.set_len(4096)?;
/// let ro = MappedRegion::options().access(Access::ReadOnly).map(&shm)?;
/// assert!(ro.write_at(0, b"x").is_err());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MapOptions {
    offset: u64,
    len: usize,
    access: Option<Access>,
    address: Option<usize>,
}

impl MapOptions {
    /// Default options: the whole object, with the access its handle allows.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{MappedRegion, SharedMemory};
    ///
    /// let name = format!("doc-region-opts-new-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len(3 * 4096)?;
    /// let region = shmkit::MapOptions::new().map(&shm)?;
    /// assert_eq!(region.len(), 3 * 4096);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new() -> MapOptions {
        MapOptions::default()
    }

    /// Byte offset in the object where the region starts; any value (page rounding is hidden).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{MappedRegion, SharedMemory};
    ///
    /// let name = format!("doc-region-opts-offset-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len(3 * 4096)?;
    /// MappedRegion::map(&shm)?.write_at(5000, b"abc")?;
    /// let region = MappedRegion::options().offset(5000).len(3).map(&shm)?;
    /// let mut b = [0; 3];
    /// region.read_at(0, &mut b)?;
    /// assert_eq!(&b, b"abc"); // the bytes at 5000 of the object
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn offset(&mut self, offset: u64) -> &mut MapOptions {
        self.offset = offset;
        self
    }

    /// Length of the region in bytes; 0 (the default) maps from the offset to the end.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{MappedRegion, SharedMemory};
    ///
    /// let name = format!("doc-region-opts-len-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len(3 * 4096)?;
    /// let region = MappedRegion::options().len(100).map(&shm)?;
    /// assert_eq!(region.len(), 100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&mut self, len: usize) -> &mut MapOptions {
        self.len = len;
        self
    }

    /// How to map; the default is [`Access::ReadWrite`] for objects opened read-write and
    /// [`Access::ReadOnly`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{MappedRegion, SharedMemory};
    ///
    /// let name = format!("doc-region-opts-access-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len(3 * 4096)?;
    /// let private = MappedRegion::options()
    ///     .access(shmkit::Access::CopyOnWrite)
    ///     .map(&shm)?;
    /// private.write_at(0, b"mine")?; // not seen by the object
    /// let mut b = [1; 4];
    /// MappedRegion::map(&shm)?.read_at(0, &mut b)?;
    /// assert_eq!(b, [0; 4]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn access(&mut self, access: Access) -> &mut MapOptions {
        self.access = Some(access);
        self
    }

    /// Ask for the region to start at `address` (page-aligned, and then the offset must be
    /// page-aligned too). It never replaces an existing mapping: if the range is taken or the
    /// kernel will not honour it, mapping fails with [`ErrorKind::Busy`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{MappedRegion, SharedMemory};
    ///
    /// let name = format!("doc-region-opts-address-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len(3 * 4096)?;
    /// // Map once to find a free range, release it, and ask for that address.
    /// let probe = MappedRegion::options().len(4096).map(&shm)?;
    /// let address = probe.as_ptr() as usize;
    /// drop(probe);
    /// match MappedRegion::options().address(address).len(4096).map(&shm) {
    ///     Ok(region) => assert_eq!(region.as_ptr() as usize, address),
    ///     // Another thread may have taken the range meanwhile: never replaced, refused.
    ///     Err(e) => assert_eq!(e.kind(), shmkit::ErrorKind::Busy),
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn address(&mut self, address: usize) -> &mut MapOptions {
        self.address = Some(address);
        self
    }

    /// Maps `object` as configured.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for an empty object, an offset at or past its end, a region
    /// past its end, or a misaligned address; [`ErrorKind::PermissionDenied`] for a writable
    /// shared mapping of an object opened read-only; [`ErrorKind::Busy`] when an address was
    /// asked for and not granted; [`ErrorKind::Unsupported`] for copy-on-write, offsets or partial
    /// lengths on XSI segments; [`ErrorKind::OutOfMemory`] when the address space is exhausted.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{MappedRegion, SharedMemory};
    ///
    /// let name = format!("doc-region-opts-map-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len(3 * 4096)?;
    /// let region = MappedRegion::options().offset(4096).map(&shm)?;
    /// assert_eq!(region.len(), 2 * 4096); // from the offset to the end
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn map<M: Mappable + ?Sized>(&self, object: &M) -> Result<MappedRegion> {
        match object.source() {
            Source::Fd { fd, mode, what } => self.map_fd(fd, mode, &what),
            Source::Xsi { id, mode } => self.map_xsi(id, mode),
        }
    }

    fn resolve_access(&self, mode: OpenMode, what: &str) -> Result<Access> {
        let access = self.access.unwrap_or(match mode {
            OpenMode::ReadWrite => Access::ReadWrite,
            OpenMode::ReadOnly => Access::ReadOnly,
        });
        if access == Access::ReadWrite && mode == OpenMode::ReadOnly {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!("{what} was opened read-only: map it ReadOnly, ReadPrivate or CopyOnWrite"),
            ));
        }
        Ok(access)
    }

    fn check_address(&self, page: usize, page_offset: usize) -> Result<()> {
        if let Some(addr) = self.address {
            if addr == 0 || addr % page != 0 {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "address {addr:#x} is not a non-null multiple of the page size ({page})"
                    ),
                ));
            }
            if page_offset != 0 {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "with an address, the offset must be a multiple of the page size",
                ));
            }
        }
        Ok(())
    }

    fn map_fd(&self, fd: &sys::Fd, mode: OpenMode, what: &str) -> Result<MappedRegion> {
        let access = self.resolve_access(mode, what)?;
        let size = fd.len()?;
        if size == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{what} is empty: give it a size before mapping it"),
            ));
        }
        if self.offset >= size {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "offset {} is at or past the end of {what} ({size} bytes)",
                    self.offset
                ),
            ));
        }
        let available = size - self.offset;
        let len = if self.len == 0 {
            usize::try_from(available).map_err(|_| {
                Error::new(
                    ErrorKind::OutOfMemory,
                    format!("{what} is larger than the address space"),
                )
            })?
        } else {
            self.len
        };
        if len as u64 > available {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "a region of {len} bytes at offset {} runs past the end of {what} ({size} bytes)",
                    self.offset
                ),
            ));
        }
        let page = sys::page_size();
        let page_offset = (self.offset % page as u64) as usize;
        self.check_address(page, page_offset)?;
        let map_len = round_up(page_offset + len, page)?;
        let base = sys::map_fd(
            fd,
            self.offset - page_offset as u64,
            map_len,
            access.is_writable(),
            access.is_private(),
            self.address,
        )?;
        Ok(MappedRegion {
            map_base: base,
            map_len,
            // SAFETY: page_offset < page <= map_len, so the pointer stays inside the mapping.
            ptr: unsafe { base.add(page_offset) },
            len,
            access,
            kind: Kind::Mmap,
        })
    }

    fn map_xsi(&self, id: i32, mode: OpenMode) -> Result<MappedRegion> {
        let what = format!("XSI shared memory id {id}");
        let access = self.resolve_access(mode, &what)?;
        if access.is_private() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "XSI shared memory cannot be mapped privately (copy-on-write)",
            ));
        }
        if self.offset != 0 {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "XSI shared memory is always attached from offset 0",
            ));
        }
        let size = usize::try_from(sys::shm_size(id)?).map_err(|_| {
            Error::new(
                ErrorKind::OutOfMemory,
                "XSI segment larger than the address space",
            )
        })?;
        if self.len != 0 && self.len != size {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("XSI shared memory is attached whole: length must be 0 or {size}"),
            ));
        }
        let page = sys::page_size();
        self.check_address(page, 0)?;
        let base = sys::shm_attach(id, access.is_writable(), self.address)?;
        Ok(MappedRegion {
            map_base: base,
            map_len: round_up(size, page)?,
            ptr: base,
            len: size,
            access,
            kind: Kind::Xsi,
        })
    }
}

fn round_up(n: usize, page: usize) -> Result<usize> {
    n.checked_next_multiple_of(page)
        .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "mapping length overflows"))
}

impl MappedRegion {
    /// Options for mapping part of an object; see [`MapOptions`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{MappedRegion, SharedMemory};
    ///
    /// let name = format!("doc-region-options-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len(3 * 4096)?;
    /// let region = MappedRegion::options().offset(4096).len(4096).map(&shm)?;
    /// assert_eq!(region.len(), 4096);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn options() -> MapOptions {
        MapOptions::new()
    }

    /// Maps the whole `object`, read-write if its handle allows writing, read-only otherwise.
    ///
    /// # Errors
    ///
    /// As [`MapOptions::map`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{MappedRegion, SharedMemory};
    ///
    /// let name = format!("doc-region-map-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let shm = SharedMemory::create(&name)?;
    /// shm.set_len(3 * 4096)?;
    /// let region = MappedRegion::map(&shm)?;
    /// region.write_at(0, b"hello")?;
    /// let mut b = [0; 5];
    /// MappedRegion::map(&shm)?.read_at(0, &mut b)?; // another mapping sees it
    /// assert_eq!(&b, b"hello");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn map<M: Mappable + ?Sized>(object: &M) -> Result<MappedRegion> {
        MapOptions::new().map(object)
    }

    /// Maps `len` bytes of fresh, zeroed, anonymous shared memory (Boost's
    /// `anonymous_shared_memory`). It has no name; processes created with `fork` after this
    /// call share it with the caller.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for `len == 0` or above any address space (2^56 bytes);
    /// [`ErrorKind::OutOfMemory`].
    ///
    /// # Examples
    ///
    /// ```
    /// let region = shmkit::MappedRegion::anonymous(4096)?;
    /// region.write_at(10, b"shared with forked children")?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn anonymous(len: usize) -> Result<MappedRegion> {
        if len == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "anonymous shared memory needs a non-zero length",
            ));
        }
        if len as u64 > MAX_MAPPING_LEN {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "anonymous shared memory of {len} bytes is larger than any address space \
                     (at most {MAX_MAPPING_LEN} bytes)"
                ),
            ));
        }
        let map_len = round_up(len, sys::page_size())?;
        let base = sys::map_anonymous_shared(map_len, None)?;
        Ok(MappedRegion {
            map_base: base,
            map_len,
            ptr: base,
            len,
            access: Access::ReadWrite,
            kind: Kind::Mmap,
        })
    }

    /// The system page size, the granularity of mappings (Boost's `get_page_size`).
    ///
    /// # Examples
    ///
    /// ```
    /// let page = shmkit::MappedRegion::page_size();
    /// assert!(page.is_power_of_two() && page >= 4096);
    /// ```
    pub fn page_size() -> usize {
        sys::page_size()
    }

    /// The region's length in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let region = shmkit::MappedRegion::anonymous(100)?;
    /// assert_eq!(region.len(), 100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (only after [`shrink_by`](MappedRegion::shrink_by) took all).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!shmkit::MappedRegion::anonymous(1)?.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How the region is mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let region = shmkit::MappedRegion::anonymous(4096)?;
    /// assert_eq!(region.access(), shmkit::Access::ReadWrite);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn access(&self) -> Access {
        self.access
    }

    /// The address of the first byte. Valid for [`len`](MappedRegion::len) bytes while the
    /// region lives; writing through it is only allowed if [`access`](MappedRegion::access) is
    /// writable.
    ///
    /// # Examples
    ///
    /// ```
    /// let region = shmkit::MappedRegion::anonymous(4096)?;
    /// assert_eq!(region.as_ptr() as usize % shmkit::MappedRegion::page_size(), 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// The address of the first byte, for writing (see [`as_ptr`](MappedRegion::as_ptr)).
    ///
    /// # Examples
    ///
    /// ```
    /// let region = shmkit::MappedRegion::anonymous(4096)?;
    /// let p = region.as_mut_ptr();
    /// // SAFETY: the byte is inside the region, which lives, and nothing else uses it.
    /// unsafe { p.write(7) };
    /// let mut b = [0];
    /// region.read_at(0, &mut b)?;
    /// assert_eq!(b, [7]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "range {offset}..{offset}+{len} is outside the region ({} bytes)",
                    self.len
                ),
            )),
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.access.is_writable() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "the region is mapped {:?}: it cannot be written",
                    self.access
                ),
            ))
        }
    }

    /// Copies `buf.len()` bytes from the region, starting at `offset`, into `buf`.
    ///
    /// Safe while other processes write: bytes are read with relaxed atomic loads, so a
    /// concurrent writer can give a mix of old and new bytes, never undefined behaviour.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the range is outside the region.
    ///
    /// # Examples
    ///
    /// ```
    /// let region = shmkit::MappedRegion::anonymous(4096)?;
    /// region.write_at(10, b"abc")?;
    /// let mut b = [0; 3];
    /// region.read_at(10, &mut b)?;
    /// assert_eq!(&b, b"abc");
    /// assert!(region.read_at(4095, &mut b).is_err()); // past the end
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check_range(offset, buf.len())?;
        // SAFETY: the range is inside the mapping (checked), which stays mapped while `self`
        // lives; atomic loads are sound under concurrent writes by anyone.
        unsafe { atomic_load(self.ptr.add(offset), buf) };
        Ok(())
    }

    /// Copies `data` into the region at `offset`.
    ///
    /// Safe while other processes read or write: bytes are stored with relaxed atomic stores.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`] if the region is not writable;
    /// [`ErrorKind::InvalidArgument`] if the range is outside the region.
    ///
    /// # Examples
    ///
    /// ```
    /// let region = shmkit::MappedRegion::anonymous(4096)?;
    /// region.write_at(0, &42u64.to_ne_bytes())?;
    /// let mut b = [0; 8];
    /// region.read_at(0, &mut b)?;
    /// assert_eq!(u64::from_ne_bytes(b), 42);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.check_range(offset, data.len())?;
        // SAFETY: the range is inside a writable mapping (checked) that stays mapped while
        // `self` lives; atomic stores are sound under concurrent access by anyone.
        unsafe { atomic_store(self.ptr.add(offset), data) };
        Ok(())
    }

    fn check_typed<T>(&self, offset: usize) -> Result<*mut T> {
        self.check_range(offset, size_of::<T>())?;
        // SAFETY: offset is within the region (checked above).
        let p = unsafe { self.ptr.add(offset) };
        if !(p as usize).is_multiple_of(align_of::<T>()) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "offset {offset} is not aligned for {} (alignment {})",
                    std::any::type_name::<T>(),
                    align_of::<T>()
                ),
            ));
        }
        Ok(p.cast())
    }

    /// Copies a `T` out of the region at `offset` (with atomic loads, like
    /// [`read_at`](MappedRegion::read_at)). Safe whatever other processes write: any bit pattern
    /// is a valid [`ShmSafe`] value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the value would not fit in the region.
    ///
    /// # Examples
    ///
    /// ```
    /// let region = shmkit::MappedRegion::anonymous(64)?;
    /// region.write(8, &0xfeed_u64)?;
    /// assert_eq!(region.read::<u64>(8)?, 0xfeed);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read<T: ShmSafe>(&self, offset: usize) -> Result<T> {
        let mut value = std::mem::MaybeUninit::<T>::uninit();
        // SAFETY: MaybeUninit<T> provides size_of::<T>() writable bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<T>())
        };
        self.read_at(offset, bytes)?;
        // SAFETY: every byte was written, and any bit pattern is a valid T (ShmSafe contract).
        Ok(unsafe { value.assume_init() })
    }

    /// Copies `value`'s bytes into the region at `offset` (with atomic stores, like
    /// [`write_at`](MappedRegion::write_at)).
    ///
    /// Only for types without padding ([`ShmSafe::NO_PADDING`]): reading a padding byte would be
    /// undefined behaviour, so a padded type is refused at compile time. Place such values with
    /// [`put`](MappedRegion::put), or write their fields one by one.
    ///
    /// # Errors
    ///
    /// As [`write_at`](MappedRegion::write_at).
    ///
    /// # Examples
    ///
    /// ```compile_fail
    /// #[derive(shmkit::ShmSafe)]
    /// #[repr(C)]
    /// struct Padded { a: u8, b: u32 } // 3 padding bytes after `a`
    ///
    /// let region = shmkit::MappedRegion::anonymous(64).unwrap();
    /// region.write(0, &Padded { a: 1, b: 2 }).unwrap(); // refused: T has padding
    /// ```
    pub fn write<T: ShmSafe>(&self, offset: usize, value: &T) -> Result<()> {
        const {
            assert!(
                T::NO_PADDING,
                "MappedRegion::write needs a type without padding bytes (ShmSafe::NO_PADDING)"
            )
        };
        // SAFETY: T has no padding (checked at compile time above), so all its size_of::<T>()
        // bytes are initialised and may be viewed as u8.
        let bytes =
            unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) };
        self.write_at(offset, bytes)
    }

    /// Views the bytes at `offset` as a shared `T`: the way to use a process-shared object (a
    /// [`Mutex`](crate::sync::Mutex), a [`Semaphore`](crate::sync::Semaphore), an atomic) that
    /// lives in this region. Zeroed bytes are a valid initial state for every shmkit lock.
    ///
    /// The region must be writable: shmkit's shared types change their bytes even through `&T`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `T` does not fit at `offset` or `offset` is misaligned
    /// for `T`; [`ErrorKind::PermissionDenied`] for a read-only region.
    ///
    /// # Safety
    ///
    /// While the reference lives, this process must access those bytes only through `&T`
    /// references (from this or other `get` calls on any mapping of the same memory), never
    /// through [`read_at`](MappedRegion::read_at), [`write_at`](MappedRegion::write_at), slices or
    /// raw pointers, which would race with the object's own accesses. Other processes are
    /// assumed to follow the same protocol; whatever they write is still a valid `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{MappedRegion, sync::Mutex};
    ///
    /// let region = MappedRegion::anonymous(4096)?;
    /// // SAFETY: the region is only accessed through this reference.
    /// let counter: &Mutex<u64> = unsafe { region.get(0)? };
    /// *counter.lock().unwrap() += 1;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub unsafe fn get<T: ShmSafe>(&self, offset: usize) -> Result<&T> {
        self.check_writable()?;
        let p = self.check_typed::<T>(offset)?;
        // SAFETY: in bounds, aligned, mapped for as long as `&self` lives; any bit pattern is a
        // valid T; the caller keeps other accesses away from these bytes.
        Ok(unsafe { &*p })
    }

    /// Writes `value` at `offset` (overwriting whatever was there, without dropping it) and
    /// returns a shared reference to it, as [`get`](MappedRegion::get) would.
    ///
    /// # Errors
    ///
    /// As [`get`](MappedRegion::get).
    ///
    /// # Safety
    ///
    /// As [`get`](MappedRegion::get), and in addition no reference to those bytes may exist in
    /// this process, and no other process may be using them yet (typically: the creator
    /// initialises an object before telling others about it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    ///
    /// let region = shmkit::MappedRegion::anonymous(4096)?;
    /// // SAFETY: nothing else uses these bytes yet, and they are only used as an `AtomicU32`.
    /// let counter = unsafe { region.put(0, AtomicU32::new(5)) }?;
    /// counter.fetch_add(1, Ordering::Relaxed);
    /// assert_eq!(counter.load(Ordering::Relaxed), 6);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub unsafe fn put<T: ShmSafe>(&self, offset: usize, value: T) -> Result<&T> {
        self.check_writable()?;
        let p = self.check_typed::<T>(offset)?;
        // SAFETY: in bounds, aligned and writable; no reference to these bytes exists (caller).
        unsafe {
            p.write(value);
            Ok(&*p)
        }
    }

    /// The region as a byte slice.
    ///
    /// # Safety
    ///
    /// While the slice lives, no process (this one included, through another region or pointer)
    /// may write the bytes it covers. Prefer [`read_at`](MappedRegion::read_at) for memory that
    /// others write.
    ///
    /// # Examples
    ///
    /// ```
    /// let region = shmkit::MappedRegion::anonymous(4096)?;
    /// region.write_at(0, b"hi")?;
    /// // SAFETY: nothing writes the region while the slice lives.
    /// let bytes = unsafe { region.as_slice() };
    /// assert_eq!(&bytes[..2], b"hi");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is mapped and readable while `self` lives; the caller promises no
        // concurrent writes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The region as a mutable byte slice, only if it is writable.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`] if the region is mapped read-only: a read-only region
    /// never hands out `&mut`.
    ///
    /// # Safety
    ///
    /// While the slice lives, no other process, thread or region may read or write the bytes it
    /// covers. Prefer [`write_at`](MappedRegion::write_at) for shared memory in use by others.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut region = shmkit::MappedRegion::anonymous(4096)?;
    /// // SAFETY: nothing else (no other thread, process or region) uses the bytes meanwhile.
    /// let bytes = unsafe { region.as_mut_slice() }?;
    /// bytes[..2].copy_from_slice(b"hi");
    /// let mut b = [0; 2];
    /// region.read_at(0, &mut b)?;
    /// assert_eq!(&b, b"hi");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub unsafe fn as_mut_slice(&mut self) -> Result<&mut [u8]> {
        self.check_writable()?;
        // SAFETY: ptr..ptr+len is mapped writable while `self` lives, `&mut self` excludes other
        // uses of this region, and the caller promises exclusive access across processes.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) })
    }

    /// The page-aligned start and length that cover `offset..offset+len` of the region.
    fn page_span(&self, offset: usize, len: usize) -> (*mut u8, usize) {
        let page = sys::page_size();
        let start = self.ptr as usize + offset;
        let aligned = start - start % page;
        let end = start + len;
        // Arithmetic: aligned >= map_base because map_base is page-aligned and
        // <= start.
        (aligned as *mut u8, end - aligned)
    }

    /// Writes modified pages in `offset..offset+len` (relative to the region; `len == 0` means to
    /// the end) back to the file and waits for the write to finish (`msync(MS_SYNC)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the range is outside the region;
    /// [`ErrorKind::Unsupported`] for XSI segments (they have no backing file).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{FileMapping, MappedRegion, OpenMode};
    ///
    /// let path = std::env::temp_dir().join(format!("doc-region-flush-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// std::fs::write(&path, [0u8; 4096]).unwrap();
    /// let file = FileMapping::open(&path, OpenMode::ReadWrite)?;
    /// let region = MappedRegion::map(&file)?;
    /// region.write_at(0, b"saved")?;
    /// region.flush(0, 0)?; // on disk now
    /// assert_eq!(&std::fs::read(&path).unwrap()[..5], b"saved");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn flush(&self, offset: usize, len: usize) -> Result<()> {
        self.flush_impl(offset, len, true)
    }

    /// Like [`flush`](MappedRegion::flush), but only schedules the write-back (`MS_ASYNC`).
    ///
    /// # Errors
    ///
    /// As [`flush`](MappedRegion::flush).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{FileMapping, MappedRegion, OpenMode};
    ///
    /// let path = std::env::temp_dir().join(format!("doc-region-flush-a-{}", std::process::id()));
    /// let _cleanup = shmkit::RemoveOnDrop::file(&path);
    /// std::fs::write(&path, [0u8; 4096]).unwrap();
    /// let file = FileMapping::open(&path, OpenMode::ReadWrite)?;
    /// let region = MappedRegion::map(&file)?;
    /// region.write_at(0, b"later")?;
    /// region.flush_async(0, 5)?; // written back soon
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn flush_async(&self, offset: usize, len: usize) -> Result<()> {
        self.flush_impl(offset, len, false)
    }

    fn flush_impl(&self, offset: usize, len: usize, wait: bool) -> Result<()> {
        if self.kind == Kind::Xsi {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "XSI shared memory has no backing file to flush",
            ));
        }
        if offset > self.len {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "flush offset past the region",
            ));
        }
        let len = if len == 0 { self.len - offset } else { len };
        self.check_range(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        let (start, span) = self.page_span(offset, len);
        // SAFETY: start is page-aligned and start..start+span lies within our mapping.
        unsafe { sys::sync(start, span, wait) }
    }

    /// Gives the kernel a hint about how the whole region will be accessed.
    ///
    /// # Errors
    ///
    /// The OS error if the kernel refuses the advice.
    ///
    /// # Examples
    ///
    /// ```
    /// let region = shmkit::MappedRegion::anonymous(1 << 16)?;
    /// region.advise(shmkit::Advice::WillNeed)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn advise(&self, advice: Advice) -> Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let a = match advice {
            Advice::Normal => sys::Advice::Normal,
            Advice::Sequential => sys::Advice::Sequential,
            Advice::Random => sys::Advice::Random,
            Advice::WillNeed => sys::Advice::WillNeed,
            Advice::DontNeed => sys::Advice::DontNeed,
        };
        let (start, span) = self.page_span(0, self.len);
        // SAFETY: start is page-aligned and the span lies within our mapping.
        unsafe { sys::advise(start, span, a) }
    }

    /// Shrinks the region by `bytes`, from the back (`from_back`) or the front, unmapping the
    /// whole pages no longer covered (Boost's `shrink_by`). Memory in a partial page stays mapped
    /// but is no longer part of the region.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `bytes` exceeds the length;
    /// [`ErrorKind::Unsupported`] for XSI segments (they detach whole).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut region = shmkit::MappedRegion::anonymous(3 * 4096)?;
    /// region.shrink_by(4096, true)?; // drop the last page
    /// assert_eq!(region.len(), 2 * 4096);
    /// assert!(region.shrink_by(1 << 20, true).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn shrink_by(&mut self, bytes: usize, from_back: bool) -> Result<()> {
        if self.kind == Kind::Xsi {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "XSI shared memory is detached whole; it cannot shrink",
            ));
        }
        if bytes > self.len {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("cannot shrink a region of {} bytes by {bytes}", self.len),
            ));
        }
        let page = sys::page_size();
        let head = self.ptr as usize - self.map_base as usize;
        if from_back {
            let new_len = self.len - bytes;
            let keep = (head + new_len).next_multiple_of(page);
            let keep = if new_len == 0 { 0 } else { keep };
            if keep < self.map_len {
                // SAFETY: map_base+keep .. map_base+map_len is a page-aligned tail of our mapping,
                // no longer part of the region; `&mut self` guarantees no borrow points into it.
                unsafe { sys::unmap(self.map_base.add(keep), self.map_len - keep)? };
                self.map_len = keep;
            }
            self.len = new_len;
        } else {
            let new_head = head + bytes;
            let cut = if bytes == self.len {
                self.map_len
            } else {
                new_head - new_head % page
            };
            if cut > 0 {
                // SAFETY: map_base .. map_base+cut is a page-aligned head of our mapping, no
                // longer part of the region; `&mut self` guarantees no borrow points into it.
                unsafe { sys::unmap(self.map_base, cut)? };
            }
            // SAFETY: cut <= map_len and bytes <= len: both pointers stay within (or one past)
            // the original mapping.
            unsafe {
                self.map_base = self.map_base.add(cut);
                self.ptr = self.ptr.add(bytes);
            }
            self.map_len -= cut;
            self.len -= bytes;
        }
        Ok(())
    }
}

impl Drop for MappedRegion {
    fn drop(&mut self) {
        // SAFETY: we own the mapping, and no borrow of `self` outlives the drop.
        let _ = unsafe {
            match self.kind {
                Kind::Mmap if self.map_len > 0 => sys::unmap(self.map_base, self.map_len),
                Kind::Mmap => Ok(()),
                Kind::Xsi => sys::shm_detach(self.map_base),
            }
        };
    }
}

const WORD: usize = size_of::<usize>();

/// Copies `dst.len()` bytes from `src` with relaxed atomic loads, a word at a time where aligned.
///
/// # Safety
/// `src..src+dst.len()` is mapped and readable.
pub(crate) unsafe fn atomic_load(src: *const u8, dst: &mut [u8]) {
    let n = dst.len();
    let mut i = 0;
    // SAFETY: every address read is in src..src+n (caller's contract); AtomicU8 and
    // AtomicUsize have the size and alignment of u8 and usize, and words are read only where
    // `src + i` is word-aligned.
    unsafe {
        while i < n && !(src as usize + i).is_multiple_of(WORD) {
            dst[i] = (*AtomicU8::from_ptr(src.add(i).cast_mut())).load(Ordering::Relaxed);
            i += 1;
        }
        while i + WORD <= n {
            let w = (*AtomicUsize::from_ptr(src.add(i).cast::<usize>().cast_mut()))
                .load(Ordering::Relaxed);
            dst[i..i + WORD].copy_from_slice(&w.to_ne_bytes());
            i += WORD;
        }
        while i < n {
            dst[i] = (*AtomicU8::from_ptr(src.add(i).cast_mut())).load(Ordering::Relaxed);
            i += 1;
        }
    }
}

/// Copies `src` to `dst` with relaxed atomic stores, a word at a time where aligned.
///
/// # Safety
/// `dst..dst+src.len()` is mapped and writable.
pub(crate) unsafe fn atomic_store(dst: *mut u8, src: &[u8]) {
    let n = src.len();
    let mut i = 0;
    // SAFETY: every address written is in dst..dst+n (caller's contract), and words
    // are written only where `dst + i` is word-aligned.
    unsafe {
        while i < n && !(dst as usize + i).is_multiple_of(WORD) {
            (*AtomicU8::from_ptr(dst.add(i))).store(src[i], Ordering::Relaxed);
            i += 1;
        }
        while i + WORD <= n {
            let w = usize::from_ne_bytes(src[i..i + WORD].try_into().expect("one word"));
            (*AtomicUsize::from_ptr(dst.add(i).cast::<usize>())).store(w, Ordering::Relaxed);
            i += WORD;
        }
        while i < n {
            (*AtomicU8::from_ptr(dst.add(i))).store(src[i], Ordering::Relaxed);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_copies_roundtrip_at_every_alignment() {
        let region = MappedRegion::anonymous(256).unwrap();
        let data: Vec<u8> = (0..100u8).collect();
        for off in 0..20 {
            region.write_at(off, &data).unwrap();
            let mut back = vec![0; data.len()];
            region.read_at(off, &mut back).unwrap();
            assert_eq!(back, data, "offset {off}");
        }
    }

    #[test]
    fn out_of_range_is_an_error() {
        let region = MappedRegion::anonymous(100).unwrap();
        assert_eq!(
            region.write_at(99, b"ab").unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            region.read_at(usize::MAX, &mut [0]).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            MappedRegion::anonymous(0).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn shrink_from_both_ends() {
        let page = MappedRegion::page_size();
        let mut region = MappedRegion::anonymous(4 * page).unwrap();
        let data: Vec<u8> = (0..4 * page).map(|i| (i % 251) as u8).collect();
        region.write_at(0, &data).unwrap();
        region.shrink_by(page + 10, false).unwrap();
        assert_eq!(region.len(), 3 * page - 10);
        let mut b = [0];
        region.read_at(0, &mut b).unwrap();
        assert_eq!(b[0], data[page + 10]);
        region.shrink_by(page, true).unwrap();
        assert_eq!(region.len(), 2 * page - 10);
        let mut tail = vec![0; region.len()];
        region.read_at(0, &mut tail).unwrap();
        assert_eq!(tail, data[page + 10..3 * page]);
        assert!(region.shrink_by(region.len() + 1, true).is_err());
        let n = region.len();
        region.shrink_by(n, true).unwrap();
        assert!(region.is_empty());
    }
}

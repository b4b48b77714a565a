//! [`SegmentRef`]: a managed segment resolved for one operation, and the allocators
//! ([`ShmAlloc`], [`SegmentAlloc`]) collections allocate through.
#![allow(unsafe_code)]

use std::marker::PhantomData;

use crate::error::{Error, ErrorKind, Result};
use crate::ptr::SegmentBase;
use crate::ptr::SegmentId;
use crate::ptr::registry::{self, Mapping};
use crate::shm_safe::ShmSafe;

/// A managed segment mapped in this process, resolved for the span of one operation: where its
/// bytes are and how to allocate in them.
///
/// Collections get one from the address of their own header (see the [module
/// docs](crate::collections)); code that builds values for a segment gets one from the segment
/// handle with [`AsSegment::segment`]. The lifetime `'a` keeps the mapping alive: it borrows the
/// handle, or the header that lies in the mapping.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::AsSegment;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let s = seg.segment()?;
/// let off = s.allocate(100, 8)?;
/// assert!(s.ptr::<u64>(off, 12).is_ok());
/// s.deallocate(off)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct SegmentRef<'a> {
    m: Mapping,
    _life: PhantomData<&'a ()>,
}

impl std::fmt::Debug for SegmentRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentRef")
            .field("mapping", &self.m)
            .field("writable", &self.m.hooks.is_some())
            .finish()
    }
}

impl<'a> SegmentRef<'a> {
    /// # Safety
    ///
    /// `m` is a registered mapping that stays registered (and mapped) for `'a`.
    #[inline]
    pub(crate) unsafe fn from_mapping(m: Mapping) -> SegmentRef<'a> {
        SegmentRef {
            m,
            _life: PhantomData,
        }
    }

    /// The same mapping with a caller-chosen lifetime.
    ///
    /// # Safety
    ///
    /// The mapping stays registered for `'b` (the caller holds a borrow that guarantees it).
    #[inline]
    pub(crate) unsafe fn detach_lifetime<'b>(self) -> SegmentRef<'b> {
        SegmentRef {
            m: self.m,
            _life: PhantomData,
        }
    }

    /// The segment that holds `header` (a collection's header), which must be bound to it (or
    /// unbound): the per-operation resolution of every collection. `m` is the registered
    /// mapping that contains all of `header` (looked up by the caller).
    #[inline]
    pub(crate) fn of_found<H>(
        header: &'a H,
        m: Mapping,
        base: &SegmentBase,
    ) -> Result<SegmentRef<'a>> {
        let addr = std::ptr::from_ref(header).addr();
        let stored = base.id_word();
        if stored != m.id.as_u64() && stored != 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "a collection of segment {stored:#018x} was moved into segment {} \
                     (at {addr:#x}); collections cannot move between segments",
                    m.id
                ),
            ));
        }
        // SAFETY: `header` lies in the mapping and is borrowed for `'a`; the mapping's handle
        // outlives every reference into it (references borrow the handle), so it stays
        // registered for `'a`.
        Ok(unsafe { SegmentRef::from_mapping(m) })
    }

    /// The fast path of [`of_found`](Self::of_found) for a mutation: `Some` only when
    /// `header` lies in a registered, writable mapping of the segment it is bound to; `None`
    /// in every other case (unbound, moved out, moved elsewhere, read-only), where the caller
    /// takes its slow path, which reports why.
    #[inline(always)]
    pub(crate) fn resident_writable<H>(
        header: &'a H,
        base: &SegmentBase,
    ) -> Option<SegmentRef<'a>> {
        let addr = std::ptr::from_ref(header).addr();
        let (m, _) = registry::lookup_range(addr, size_of::<H>())?;
        if m.hooks.is_none() || base.id_word() != m.id.as_u64() {
            return None;
        }
        // SAFETY: as in `of_found`: `header` lies in the mapping and is borrowed for `'a`.
        Some(unsafe { SegmentRef::from_mapping(m) })
    }

    /// `Ok` if the segment is mapped writable here: collections check it before changing
    /// anything (a read-only mapping may be private, so writes would not be seen elsewhere).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`] for a segment opened read-only.
    #[inline]
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.hooks().map(|_| ())
    }

    /// Runs `f` with the one mapping of segment `id` in this process, kept mapped while `f`
    /// runs: for values that left their segment. `None` if the segment is not mapped here
    /// exactly once.
    pub(crate) fn with_detached<R>(
        id: SegmentId,
        f: impl FnOnce(SegmentRef<'_>) -> R,
    ) -> Option<R> {
        registry::with_sole_mapping(id, |m| {
            // SAFETY: `with_sole_mapping` keeps the mapping registered until `f` returns, and
            // the `SegmentRef` cannot escape `f` (its lifetime is `f`'s argument's).
            f(unsafe { SegmentRef::from_mapping(m) })
        })
    }

    /// The segment's id.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::AsSegment;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert_eq!(seg.segment()?.id().as_u64(), seg.segment_id());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn id(&self) -> SegmentId {
        self.m.id
    }

    /// The mapping's length in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::AsSegment;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert_eq!(seg.segment()?.len(), 1 << 16);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.m.len
    }

    /// Always `false` (a segment has at least its control page).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::AsSegment;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert!(!seg.segment()?.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.m.len == 0
    }

    /// Allocates `size` bytes aligned to `align` (a power of two up to 4096) from the segment's
    /// memory algorithm, under the segment's lock; returns the block's offset.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] when the segment is full; [`ErrorKind::PermissionDenied`]
    /// for a segment opened read-only; [`ErrorKind::InvalidArgument`] for a bad alignment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::collections::AsSegment;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.segment()?;
    /// assert_eq!(s.allocate(1 << 20, 8).unwrap_err().kind(), ErrorKind::OutOfMemory);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn allocate(&self, size: usize, align: usize) -> Result<u64> {
        let hooks = self.hooks()?;
        // SAFETY: the hooks were registered with this mapping by its manager (a writable
        // managed segment laid out there), and the mapping stays mapped for `'a`.
        unsafe { (hooks.allocate)(self.m.base(), self.m.len, size, align) }
    }

    /// Frees a block [`allocate`](Self::allocate) returned.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `offset` is not an allocated raw block (nothing
    /// changes); [`ErrorKind::PermissionDenied`] for a read-only segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::AsSegment;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.segment()?;
    /// let off = s.allocate(64, 8)?;
    /// s.deallocate(off)?;
    /// assert!(s.deallocate(off).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn deallocate(&self, offset: u64) -> Result<()> {
        let hooks = self.hooks()?;
        // SAFETY: as in `allocate`.
        unsafe { (hooks.deallocate)(self.m.base(), self.m.len, offset) }
    }

    /// Grows the block at `offset` in place (into a free neighbour) to `preferred` bytes if
    /// possible, at least `min`; returns its new usable size, or `None` if it cannot grow.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `offset` is not an allocated raw block.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::AsSegment;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.segment()?;
    /// let off = s.allocate(64, 8)?;
    /// assert!(s.grow_in_place(off, 128, 256)?.is_some_and(|n| n >= 128));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn grow_in_place(
        &self,
        offset: u64,
        min: usize,
        preferred: usize,
    ) -> Result<Option<usize>> {
        let hooks = self.hooks()?;
        // SAFETY: as in `allocate`.
        unsafe { (hooks.grow_in_place)(self.m.base(), self.m.len, offset, min, preferred) }
    }

    /// The address of `n` `T`s at `offset` in this process, checked: the whole range inside
    /// the mapping and aligned for `T`. Reading or writing through it is the caller's `unsafe`
    /// business.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if the range does not fit or is misaligned.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::AsSegment;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.segment()?;
    /// assert!(s.ptr::<u64>(4096, 4).is_ok());
    /// assert!(s.ptr::<u64>(4097, 1).is_err()); // misaligned
    /// assert!(s.ptr::<u64>(1 << 16, 1).is_err()); // outside
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn ptr<T>(&self, offset: u64, n: usize) -> Result<*mut T> {
        self.ptr_checked(offset, n)
            .ok_or_else(|| out_of_bounds::<T>(offset, n, self.m.len))
    }

    /// [`ptr`](Self::ptr) without the error (for fast paths, which fall back to a path that
    /// reports it).
    #[inline(always)]
    pub(crate) fn ptr_checked<T>(&self, offset: u64, n: usize) -> Option<*mut T> {
        let bytes = n.checked_mul(size_of::<T>());
        match (usize::try_from(offset), bytes) {
            (Ok(off), Some(bytes))
                if off <= self.m.len
                    && bytes <= self.m.len - off
                    && (self.m.base + off).is_multiple_of(align_of::<T>()) =>
            {
                Some(std::ptr::with_exposed_provenance_mut(self.m.base + off))
            }
            _ => None,
        }
    }

    /// The offset of `p` from the segment's base, if `p` lies in the mapping.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::AsSegment;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.segment()?;
    /// let p = s.ptr::<u64>(4096, 1)?;
    /// assert_eq!(s.offset_of(p), Some(4096));
    /// assert_eq!(s.offset_of(&0u64), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn offset_of<T>(&self, p: *const T) -> Option<u64> {
        self.m
            .offset_of_addr(p.addr(), size_of::<T>())
            .map(|o| o as u64)
    }

    #[inline]
    fn hooks(&self) -> Result<&'static registry::SegmentHooks> {
        self.m.hooks.ok_or_else(|| {
            Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "segment {} is mapped read-only here: nothing in it can be allocated or freed",
                    self.m.id
                ),
            )
        })
    }
}

#[cold]
fn out_of_bounds<T>(offset: u64, n: usize, len: usize) -> Error {
    Error::new(
        ErrorKind::Corrupted,
        format!(
            "a collection points at {n} × {} bytes at offset {offset}, outside its segment of \
             {len} bytes or misaligned for {}",
            size_of::<T>(),
            std::any::type_name::<T>()
        ),
    )
}

/// Something that names a managed segment this process has open: the segment handles
/// (through their [`SegmentManager`](crate::SegmentManager)) and [`SegmentRef`] itself. Used
/// to build values for a segment before they are stored in it
/// ([`Vec::with_capacity_in`](crate::collections::Vec::with_capacity_in),
/// [`String::from_str_in`](crate::collections::String::from_str_in)).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::AsSegment;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// assert_eq!(seg.segment()?.id().as_u64(), seg.segment_id());
/// # Ok::<(), shmkit::Error>(())
/// ```
pub trait AsSegment {
    /// The segment, resolved.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the handle's mapping is not registered (a segment
    /// built inside another segment's memory).
    fn segment(&self) -> Result<SegmentRef<'_>>;
}

impl AsSegment for SegmentRef<'_> {
    fn segment(&self) -> Result<SegmentRef<'_>> {
        Ok(*self)
    }
}

impl<S: AsSegment + ?Sized> AsSegment for &S {
    fn segment(&self) -> Result<SegmentRef<'_>> {
        (**self).segment()
    }
}

/// An allocator collections are generic over: where their buffers and nodes come from.
///
/// The allocator value is stored in the collection's header, in the segment, so it is
/// [`ShmSafe`]: a zero-sized marker for the segment's general allocator ([`SegmentAlloc`]), or
/// the offset of a pool object for the pools (`crate::pool`). Every call receives the segment,
/// resolved.
///
/// # Safety
///
/// `allocate` returns the offset of `size` bytes aligned to `align` that nothing else uses
/// until they are passed to `deallocate`; `grow_in_place` keeps the block's offset and
/// contents. Collections rely on this to hand out `&mut` to their elements.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::{AsSegment, SegmentAlloc, ShmAlloc};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let s = seg.segment()?;
/// let off = SegmentAlloc.allocate(&s, 24, 8)?;
/// SegmentAlloc.deallocate(&s, off, 24, 8)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
pub unsafe trait ShmAlloc: ShmSafe {
    /// Allocates `size` bytes aligned to `align` in `seg`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] when there is no room.
    fn allocate(&self, seg: &SegmentRef<'_>, size: usize, align: usize) -> Result<u64>;

    /// Frees what `allocate(seg, size, align)` returned.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `offset` was not allocated here.
    fn deallocate(
        &self,
        seg: &SegmentRef<'_>,
        offset: u64,
        size: usize,
        align: usize,
    ) -> Result<()>;

    /// Grows the block in place to at least `min` bytes (up to `preferred`), returning its new
    /// usable size, or `None` if it cannot. The default never grows.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a bad offset.
    fn grow_in_place(
        &self,
        seg: &SegmentRef<'_>,
        offset: u64,
        min: usize,
        preferred: usize,
    ) -> Result<Option<usize>> {
        let _ = (seg, offset, min, preferred);
        Ok(None)
    }
}

/// The segment's general allocator (its memory algorithm), the default for every collection.
/// Zero-sized.
///
/// # Examples
///
/// ```
/// use shmkit::collections::{SegmentAlloc, Vec};
/// let v: Vec<u32, SegmentAlloc> = Vec::new();
/// assert!(v.is_empty());
/// assert_eq!(size_of::<SegmentAlloc>(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct SegmentAlloc;

// SAFETY: zero-sized, no fields: every (empty) bit pattern is valid, it means the same in every
// process, repr(C), Send + Sync, no drop glue.
unsafe impl ShmSafe for SegmentAlloc {
    const FINGERPRINT: u64 = crate::fingerprint::primitive("shmkit::collections::SegmentAlloc", 0);
    const NO_PADDING: bool = true;
}

// SAFETY: the segment's algorithm hands out disjoint blocks of at least the requested size and
// alignment and keeps a grown block's offset and contents.
unsafe impl ShmAlloc for SegmentAlloc {
    #[inline]
    fn allocate(&self, seg: &SegmentRef<'_>, size: usize, align: usize) -> Result<u64> {
        seg.allocate(size, align)
    }

    #[inline]
    fn deallocate(
        &self,
        seg: &SegmentRef<'_>,
        offset: u64,
        _size: usize,
        _align: usize,
    ) -> Result<()> {
        seg.deallocate(offset)
    }

    #[inline]
    fn grow_in_place(
        &self,
        seg: &SegmentRef<'_>,
        offset: u64,
        min: usize,
        preferred: usize,
    ) -> Result<Option<usize>> {
        seg.grow_in_place(offset, min, preferred)
    }
}

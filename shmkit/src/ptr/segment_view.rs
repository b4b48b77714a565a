//! [`SegmentView`]: a resolved segment base, to turn offsets into pointers with no further
//! lookups; [`pin_in_segment`] and [`view_of`].
#![allow(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;

use super::handle::Handle;
use super::registry::{self, Mapping};
use super::rel_ptr::RelPtr;
use super::segment_id::SegmentId;
use crate::error::{Error, ErrorKind, Result};
use crate::shm_safe::ShmSafe;

/// One registered mapping of a segment, resolved: base, length and id. Turns offsets,
/// [`RelPtr`]s and [`Handle`]s into raw pointers, checking each against the mapping's length
/// and the target type's alignment, with no registry lookup.
///
/// A view borrows what it was resolved from (a [`Registration`](super::Registration), a
/// [`RegisteredRegion`](super::RegisteredRegion), a reference into the mapping), which keeps
/// the mapping alive while the view is used. The pointers it returns are raw: reading through
/// them is `unsafe`, and the caller states why the memory holds a valid, unaliased value.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use shmkit::ptr::{RelPtr, SegmentBase, SegmentId, registry::RegisteredRegion};
///
/// /// A fixed array header, as a collection would keep it.
/// #[derive(shmkit::ShmSafe)]
/// #[repr(C)]
/// struct Array {
///     segment: SegmentBase,
///     items: RelPtr<u32>,
///     len: AtomicU64,
/// }
///
/// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
/// let fresh = Array { segment: SegmentBase::unbound(), items: RelPtr::null(), len: AtomicU64::new(0) };
/// // SAFETY: written once, before anything else looks at these bytes; then only used through `a`.
/// let a: &Array = unsafe { seg.put(0, fresh)? };
/// let view = a.segment.bind()?;
/// view.set(&a.items, view.ptr_at::<u32>(1024)?)?;
/// a.len.store(3, Ordering::Relaxed);
///
/// // Later, in any process: one lookup per operation, then plain indexing.
/// let view = a.segment.resolve()?;
/// let items = view.get_slice(&a.items, a.len.load(Ordering::Relaxed) as usize)?;
/// assert_eq!(items.len(), 3);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct SegmentView<'a> {
    mapping: Mapping,
    _borrow: PhantomData<&'a ()>,
}

impl<'a> SegmentView<'a> {
    pub(crate) fn new(mapping: Mapping) -> SegmentView<'a> {
        SegmentView {
            mapping,
            _borrow: PhantomData,
        }
    }

    /// The mapping this view resolves against.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// assert_eq!(seg.view().mapping().len(), 64);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mapping(&self) -> Mapping {
        self.mapping
    }

    /// The first byte of the mapping (offset 0).
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// assert_eq!(seg.view().base().cast_const(), seg.as_ptr());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn base(&self) -> *mut u8 {
        self.mapping.base()
    }

    /// The mapping's length in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// assert_eq!(seg.view().len(), 64);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.mapping.len
    }

    /// Always `false`: registered mappings are never empty.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// assert!(!seg.view().is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.mapping.len == 0
    }

    /// The segment's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let id = SegmentId::random();
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, id)?;
    /// assert_eq!(seg.view().id(), id);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn id(&self) -> SegmentId {
        self.mapping.id
    }

    /// Whether the whole `T` at `p` lies inside the mapping.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// let view = seg.view();
    /// assert!(view.contains(view.base().wrapping_add(56).cast::<u64>()));
    /// assert!(!view.contains(view.base().wrapping_add(60).cast::<u64>()));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn contains<T>(&self, p: *const T) -> bool {
        self.mapping
            .offset_of_addr(p.addr(), size_of::<T>())
            .is_some()
    }

    /// The offset of the `T` at `p` from the base.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the `T` does not lie wholly inside the mapping.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// let view = seg.view();
    /// assert_eq!(view.offset_of(view.base().wrapping_add(16).cast::<u32>())?, 16);
    /// assert!(view.offset_of(&0u32).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn offset_of<T>(&self, p: *const T) -> Result<u64> {
        match self.mapping.offset_of_addr(p.addr(), size_of::<T>()) {
            Some(off) => Ok(off as u64),
            None => Err(outside::<T>(p.addr(), self.mapping)),
        }
    }

    /// A pointer to the `T` at `offset`, checked: the whole `T` lies inside the mapping and its
    /// address is aligned for `T`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if it does not fit or is misaligned.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// let view = seg.view();
    /// let p = view.ptr_at::<u64>(8)?;
    /// // SAFETY: nothing else accesses these bytes meanwhile.
    /// unsafe { p.write(7) };
    /// assert_eq!(seg.read::<u64>(8)?, 7);
    /// assert!(view.ptr_at::<u64>(60).is_err()); // runs past the end
    /// assert!(view.ptr_at::<u64>(4).is_err()); // misaligned
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn ptr_at<T>(&self, offset: u64) -> Result<*mut T> {
        self.checked::<T>(offset, 1).map_err(|p| {
            p.into_error::<T>(
                self.mapping,
                ErrorKind::InvalidArgument,
                "offset",
                offset,
                1,
            )
        })
    }

    /// A pointer to `len` consecutive `T`s starting at `offset`, checked like
    /// [`ptr_at`](SegmentView::ptr_at) for the whole slice.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the slice does not fit or is misaligned.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// let view = seg.view();
    /// assert_eq!(view.slice_at::<u32>(32, 8)?.len(), 8);
    /// assert!(view.slice_at::<u32>(32, 9).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn slice_at<T>(&self, offset: u64, len: usize) -> Result<*mut [T]> {
        let p = self.checked::<T>(offset, len).map_err(|p| {
            p.into_error::<T>(
                self.mapping,
                ErrorKind::InvalidArgument,
                "offset",
                offset,
                len,
            )
        })?;
        Ok(std::ptr::slice_from_raw_parts_mut(p, len))
    }

    /// The target of `rel`, resolved against this view: null for a null `RelPtr`, else a
    /// checked pointer (in bounds, aligned).
    ///
    /// The view should come from the [`SegmentBase`](super::SegmentBase) of the structure that
    /// holds `rel` (resolved once per operation); with another segment's view the result is a
    /// pointer into that other segment, still in bounds.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if the stored offset does not fit in the mapping or is
    /// misaligned for `T`: the bytes were scribbled, or the pointer was resolved against the
    /// wrong segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{RelPtr, SegmentId, registry::RegisteredRegion};
    ///
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
    /// let view = seg.view();
    /// let rel = RelPtr::<u64>::from_offset(512);
    /// assert_eq!(view.get(&rel)?, view.ptr_at::<u64>(512)?);
    /// assert!(view.get(&RelPtr::<u64>::null())?.is_null());
    /// assert!(view.get(&RelPtr::<u64>::from_offset(4092)).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn get<T>(&self, rel: &RelPtr<T>) -> Result<*mut T> {
        match rel.offset() {
            None => Ok(std::ptr::null_mut()),
            Some(offset) => self.stored_at(offset),
        }
    }

    /// The `T` at a stored (not caller-supplied) offset: a bad one is corruption.
    #[inline]
    pub(crate) fn stored_at<T>(&self, offset: u64) -> Result<*mut T> {
        self.checked::<T>(offset, 1).map_err(|p| {
            p.into_error::<T>(
                self.mapping,
                ErrorKind::Corrupted,
                "stored offset",
                offset,
                1,
            )
        })
    }

    /// Like [`get`](SegmentView::get), for `len` consecutive `T`s (a collection's buffer).
    ///
    /// # Errors
    ///
    /// As [`get`](SegmentView::get), for the whole slice.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{RelPtr, SegmentId, registry::RegisteredRegion};
    ///
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
    /// let view = seg.view();
    /// let buf = RelPtr::<u64>::from_offset(4096 - 80);
    /// assert_eq!(view.get_slice(&buf, 10)?.len(), 10);
    /// assert!(view.get_slice(&buf, 11).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn get_slice<T>(&self, rel: &RelPtr<T>, len: usize) -> Result<*mut [T]> {
        let p = match rel.offset() {
            None => std::ptr::null_mut(),
            Some(offset) => self.checked::<T>(offset, len).map_err(|p| {
                p.into_error::<T>(
                    self.mapping,
                    ErrorKind::Corrupted,
                    "stored offset",
                    offset,
                    len,
                )
            })?,
        };
        Ok(std::ptr::slice_from_raw_parts_mut(p, len))
    }

    /// Points `rel` at `target` (or makes it null), storing `target`'s offset from this view's
    /// base.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `target` is not null and the `T` there does not lie
    /// wholly inside the mapping. `rel` is left unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{RelPtr, SegmentId, registry::RegisteredRegion};
    ///
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
    /// let view = seg.view();
    /// let rel = RelPtr::<u64>::null();
    /// view.set(&rel, view.ptr_at::<u64>(64)?)?;
    /// assert_eq!(rel.offset(), Some(64));
    /// assert!(view.set(&rel, &5u64).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn set<T>(&self, rel: &RelPtr<T>, target: *const T) -> Result<()> {
        if target.is_null() {
            rel.set_null();
            return Ok(());
        }
        let offset = self.offset_of(target)?;
        let _ = target.expose_provenance();
        rel.set_offset(offset);
        Ok(())
    }

    /// The [`Handle`] of the `T` at `target`: its offset from the base.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the `T` does not lie wholly inside the mapping.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{SegmentId, registry::RegisteredRegion};
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// let view = seg.view();
    /// let h = view.handle_of(view.ptr_at::<u32>(12)?)?;
    /// assert_eq!(h.as_u64(), 12);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn handle_of<T>(&self, target: *const T) -> Result<Handle> {
        self.offset_of(target).map(Handle::from_u64)
    }

    /// The `T` that `handle` names in this mapping, checked (in bounds, aligned); Boost's
    /// `get_address_from_handle`. Same as [`get_by_handle`](super::get_by_handle).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the `T` would not lie wholly inside the mapping or
    /// would be misaligned.
    ///
    /// # Examples
    ///
    /// ```
    /// # use shmkit::ptr::{Handle, SegmentId, registry::RegisteredRegion};
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// let view = seg.view();
    /// let p = view.get_by_handle::<u32>(Handle::from_u64(12))?;
    /// assert_eq!(p, view.ptr_at::<u32>(12)?.cast_const());
    /// assert!(view.get_by_handle::<u32>(Handle::from_u64(62)).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn get_by_handle<T>(&self, handle: Handle) -> Result<*const T> {
        self.checked::<T>(handle.as_u64(), 1)
            .map(<*mut T>::cast_const)
            .map_err(|p| {
                p.into_error::<T>(
                    self.mapping,
                    ErrorKind::InvalidArgument,
                    "handle",
                    handle.as_u64(),
                    1,
                )
            })
    }

    /// `offset` checked for `len` `T`s: in bounds and aligned.
    #[inline]
    fn checked<T>(&self, offset: u64, len: usize) -> std::result::Result<*mut T, Problem> {
        let bytes = size_of::<T>()
            .checked_mul(len)
            .ok_or(Problem::OutOfBounds)?;
        let fits = usize::try_from(offset)
            .ok()
            .filter(|&off| off <= self.mapping.len && bytes <= self.mapping.len - off);
        let Some(off) = fits else {
            return Err(Problem::OutOfBounds);
        };
        let addr = self.mapping.base + off;
        if !addr.is_multiple_of(align_of::<T>()) {
            return Err(Problem::Misaligned);
        }
        Ok(std::ptr::with_exposed_provenance_mut(addr))
    }
}

impl fmt::Debug for SegmentView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SegmentView").field(&self.mapping).finish()
    }
}

#[derive(Clone, Copy)]
enum Problem {
    OutOfBounds,
    Misaligned,
}

impl Problem {
    #[cold]
    #[inline(never)]
    fn into_error<T>(
        self,
        m: Mapping,
        kind: ErrorKind,
        what: &str,
        offset: u64,
        len: usize,
    ) -> Error {
        let ty = std::any::type_name::<T>();
        let message = match self {
            Problem::OutOfBounds => {
                let many = if len == 1 {
                    format!("a {ty} ({} bytes)", size_of::<T>())
                } else {
                    format!("{len} x {ty} ({} bytes each)", size_of::<T>())
                };
                format!(
                    "{what} {offset} leaves no room for {many} in the {}-byte mapping of segment {}",
                    m.len, m.id
                )
            }
            Problem::Misaligned => format!(
                "{what} {offset} is not aligned for {ty} (alignment {}) in the mapping at {:#x} \
                 of segment {}",
                align_of::<T>(),
                m.base,
                m.id
            ),
        };
        Error::new(kind, message)
    }
}

#[cold]
#[inline(never)]
fn outside<T>(addr: usize, m: Mapping) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "the {} at {addr:#x} ({} bytes) is not inside the mapping {:#x}..{:#x} of segment {}",
            std::any::type_name::<T>(),
            size_of::<T>(),
            m.base,
            m.base + m.len,
            m.id
        ),
    )
}

/// The registered mapping that contains all of `*r`, as a view borrowing `r`.
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`] if `r` is not wholly inside a registered mapping.
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{self, SegmentId, registry::RegisteredRegion};
///
/// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
/// // SAFETY: these bytes are only accessed through this reference.
/// let x: &u64 = unsafe { seg.get(8)? };
/// assert_eq!(ptr::view_of(x)?.id(), seg.id());
/// assert!(ptr::view_of(&5u64).is_err());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[inline]
pub fn view_of<T>(r: &T) -> Result<SegmentView<'_>> {
    let addr = std::ptr::from_ref(r).addr();
    match registry::lookup_range(addr, size_of::<T>()) {
        Some((m, _)) => Ok(SegmentView::new(m)),
        None => Err(not_registered::<T>(addr, "")),
    }
}

/// Pins `r`, a value inside a registered segment: the way to get the `Pin<&OffsetPtr<T>>` that
/// [`OffsetPtr::set`](super::OffsetPtr::set) takes for a pointer in shared memory.
///
/// Sound because registered memory is never moved by Rust code while registered (the
/// registration contract, see [`registry::register`]): a value there stays where it is.
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`] if `r` is not wholly inside a registered mapping (a value on
/// the stack or the heap, or in a mapping nobody registered).
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{self, OffsetPtr, SegmentId, registry::RegisteredRegion};
///
/// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
/// // SAFETY: these bytes are only accessed through these references.
/// let (p, x): (&OffsetPtr<u64>, &u64) = unsafe { (seg.get(0)?, seg.get(8)?) };
/// ptr::pin_in_segment(p)?.set(x);
/// assert_eq!(p.stored_offset(), 8);
/// assert!(ptr::pin_in_segment(&OffsetPtr::<u64>::null()).is_err());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[inline]
pub fn pin_in_segment<T: ShmSafe>(r: &T) -> Result<Pin<&T>> {
    let addr = std::ptr::from_ref(r).addr();
    if registry::lookup_range(addr, size_of::<T>()).is_none() {
        return Err(not_registered::<T>(
            addr,
            ": only values in shared memory (or pinned with `std::pin::pin!`) can be pinned",
        ));
    }
    // SAFETY: `r` lies wholly inside a registered mapping, and the registration contract
    // (`registry::register`, item 2) says no Rust code moves `!Unpin` values there while it is
    // registered; `T: ShmSafe` has no drop glue that matters and relies on nothing from `Pin`
    // for memory safety, so the drop guarantee holds trivially.
    Ok(unsafe { Pin::new_unchecked(r) })
}

#[cold]
#[inline(never)]
pub(crate) fn not_registered<T>(addr: usize, hint: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "the {} at {addr:#x} ({} bytes) is not inside a registered segment mapping{hint}",
            std::any::type_name::<T>(),
            size_of::<T>()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptr::registry::RegisteredRegion;
    use crate::region::MappedRegion;

    fn segment() -> RegisteredRegion {
        RegisteredRegion::new(MappedRegion::anonymous(4096).unwrap(), SegmentId::random()).unwrap()
    }

    #[test]
    fn offsets_are_checked_for_bounds_overflow_and_alignment() {
        let seg = segment();
        let v = seg.view();
        assert!(v.ptr_at::<u64>(4088).is_ok());
        assert!(v.ptr_at::<()>(4096).is_ok(), "a ZST fits at the end");
        for (off, kind) in [
            (4089, "room"),
            (4096, "room"),
            (u64::MAX, "room"),
            (1 << 63, "room"),
            (4, "aligned"),
        ] {
            let e = v.ptr_at::<u64>(off).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().contains(kind), "{off}: {e}");
        }
        assert!(v.slice_at::<u64>(0, 512).is_ok());
        assert!(v.slice_at::<u64>(0, 513).is_err());
        assert!(v.slice_at::<u64>(8, usize::MAX).is_err(), "length overflow");
        assert_eq!(v.slice_at::<u64>(4096, 0).unwrap().len(), 0);
        let rel = RelPtr::<u64>::from_offset(4092);
        assert_eq!(v.get(&rel).unwrap_err().kind(), ErrorKind::Corrupted);
        assert_eq!(
            v.get_slice(&RelPtr::<u64>::null(), 0).unwrap().len(),
            0,
            "a null RelPtr gives an empty slice at null"
        );
    }

    #[test]
    fn pointers_map_back_to_offsets_only_inside() {
        let seg = segment();
        let v = seg.view();
        let p = v.ptr_at::<u32>(100).unwrap();
        assert_eq!(v.offset_of(p).unwrap(), 100);
        assert_eq!(v.handle_of(p).unwrap(), Handle::from_u64(100));
        assert!(!v.contains(v.base().wrapping_add(4094).cast::<u32>()));
        assert!(v.offset_of(v.base().wrapping_sub(1)).is_err());
        let rel = RelPtr::null();
        v.set(&rel, p).unwrap();
        assert_eq!(v.get(&rel).unwrap(), p);
        assert!(
            v.set(&rel, v.base().wrapping_add(4094).cast::<u32>())
                .is_err()
        );
        assert_eq!(
            rel.offset(),
            Some(100),
            "a refused set leaves the pointer alone"
        );
    }

    #[test]
    fn ids_are_distinct_and_non_zero() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| SegmentId::random()).collect();
        assert_eq!(ids.len(), 10_000);
    }
}

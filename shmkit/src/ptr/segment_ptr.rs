//! [`SegmentPtr`]: a self-contained segment-relative pointer (segment id + offset).
//!
//! # Layout and states
//!
//! `#[repr(C)]`, 16 bytes: a [`SegmentBase`] (the id word) then a [`RelPtr`] (offset + 1).
//!
//! | id word | offset word | meaning |
//! |---|---|---|
//! | any | 0 | null, wherever it is (zeroed memory is null) |
//! | 0 | `n > 0` | invalid: resolving fails |
//! | `id` | `n > 0` | offset `n - 1` in segment `id`; valid only while the pointer itself lies in a mapping of `id` |
//!
//! The two words are stored separately: a reader racing a writer (which needs a lock anyway)
//! may see the id of one value and the offset of another, which is still checked against the
//! mapping before use.
#![allow(unsafe_code)]

use std::fmt;

use super::registry;
use super::rel_ptr::RelPtr;
use super::segment_base::{SegmentBase, resolve_error};
use super::segment_id::SegmentId;
use super::segment_view::{SegmentView, not_registered};
use crate::error::{Error, ErrorKind, Result};
use crate::shm_safe::ShmSafe;

/// A pointer to a `T` in the same segment, stored as (segment id, offset from the segment base):
/// 16 bytes that stay valid wherever the pointer moves *within* its segment, and are caught
/// (an [`Err`] from [`get`](SegmentPtr::get)) when it ends up outside it.
///
/// [`get`](SegmentPtr::get) finds the segment's base from the pointer's own address (one cached
/// [`registry`](super::registry) lookup), checks that the mapping found is of the stored segment,
/// and checks the target against the mapping's length and `T`'s alignment. For many pointers in
/// one structure, keep one [`SegmentBase`] and [`RelPtr`]s instead and resolve once.
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{SegmentId, SegmentPtr, registry::RegisteredRegion};
///
/// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
/// // SAFETY: these bytes are only accessed through these references.
/// let (p, target): (&SegmentPtr<u64>, &u64) = unsafe { (seg.get(0)?, seg.get(512)?) };
/// p.set(target)?;
///
/// // Copied to another place in the same segment: still valid.
/// let mut bytes = [0u8; 16];
/// seg.read_at(0, &mut bytes)?;
/// seg.write_at(1024, &bytes)?;
/// // SAFETY: as above.
/// let copy: &SegmentPtr<u64> = unsafe { seg.get(1024)? };
/// assert_eq!(copy.get()?.cast_const(), target as *const u64);
///
/// // Copied onto the stack: caught.
/// let on_stack: SegmentPtr<u64> = seg.read(0)?;
/// assert!(on_stack.get().is_err());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct SegmentPtr<T> {
    segment: SegmentBase,
    rel: RelPtr<T>,
}

impl<T> SegmentPtr<T> {
    /// A null pointer, valid anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = shmkit::ptr::SegmentPtr::<u64>::null();
    /// assert!(p.is_null());
    /// assert!(p.get()?.is_null()); // null resolves anywhere, even on the stack
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub const fn null() -> SegmentPtr<T> {
        SegmentPtr {
            segment: SegmentBase::unbound(),
            rel: RelPtr::null(),
        }
    }

    /// A pointer to offset `offset` of segment `id`, built anywhere (it resolves once it lies
    /// in a mapping of `id`).
    ///
    /// # Panics
    ///
    /// If `offset` is `u64::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{SegmentId, SegmentPtr};
    /// let id = SegmentId::random();
    /// let p = SegmentPtr::<u64>::from_parts(id, 64);
    /// assert_eq!((p.segment(), p.offset()), (Some(id), Some(64)));
    /// assert!(p.get().is_err()); // not inside segment `id`
    /// ```
    pub const fn from_parts(id: SegmentId, offset: u64) -> SegmentPtr<T> {
        SegmentPtr {
            segment: SegmentBase::new(id),
            rel: RelPtr::from_offset(offset),
        }
    }

    /// Whether it is null.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::ptr::SegmentPtr::<u8>::null().is_null());
    /// ```
    #[inline]
    pub fn is_null(&self) -> bool {
        self.rel.is_null()
    }

    /// The segment it points into (`None` when null or unbound).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::ptr::SegmentPtr::<u8>::null().segment(), None);
    /// ```
    #[inline]
    pub fn segment(&self) -> Option<SegmentId> {
        if self.is_null() {
            None
        } else {
            self.segment.id()
        }
    }

    /// The target's offset from the segment base (`None` when null).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{SegmentId, SegmentPtr};
    /// assert_eq!(SegmentPtr::<u8>::from_parts(SegmentId::random(), 3).offset(), Some(3));
    /// ```
    #[inline]
    pub fn offset(&self) -> Option<u64> {
        self.rel.offset()
    }

    /// The target: null if the pointer is null, else a pointer into the mapping that contains
    /// this `SegmentPtr`, checked (in bounds, aligned for `T`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the pointer is not inside a registered mapping (it was
    /// moved or copied out of shared memory) or is inside a mapping of another segment (moved
    /// across segments); [`ErrorKind::Corrupted`] if the stored offset does not fit the mapping
    /// or is misaligned.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{SegmentId, SegmentPtr, registry::RegisteredRegion};
    ///
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
    /// // SAFETY: written once, before anything else uses these bytes.
    /// let p = unsafe { seg.put(0, SegmentPtr::<u64>::from_parts(seg.id(), 64))? };
    /// assert_eq!(p.get()?, seg.view().ptr_at::<u64>(64)?);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn get(&self) -> Result<*mut T> {
        match self.rel.offset() {
            None => Ok(std::ptr::null_mut()),
            Some(offset) => self.resolve()?.stored_at(offset),
        }
    }

    /// The mapping of its segment that contains this pointer, as a view (for handles or other
    /// offsets in the same segment).
    ///
    /// # Errors
    ///
    /// As [`get`](SegmentPtr::get), minus the offset checks; also for a null pointer, which
    /// belongs to no segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{SegmentId, SegmentPtr, registry::RegisteredRegion};
    ///
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// // SAFETY: written once, before anything else uses these bytes.
    /// let p = unsafe { seg.put(0, SegmentPtr::<u64>::from_parts(seg.id(), 8))? };
    /// assert_eq!(p.resolve()?.id(), seg.id());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn resolve(&self) -> Result<SegmentView<'_>> {
        // The whole SegmentPtr must be inside the mapping, not only its id word.
        let addr = std::ptr::from_ref(self).addr();
        let id = self.segment.id_word();
        match registry::lookup_range(addr, size_of::<Self>()) {
            Some((m, _)) if m.id().as_u64() == id => Ok(SegmentView::new(m)),
            found => Err(resolve_error(addr, id, found.map(|(m, _)| m.id()))),
        }
    }

    /// Points it at `target` (or makes it null). This pointer must lie in a registered mapping,
    /// and `target` in a mapping of the same segment (the same mapping, or another mapping of
    /// that segment: offsets are the same in all of them).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if this pointer is not in a registered mapping, or the
    /// `T` at `target` is not wholly inside a mapping of the same segment. The pointer is left
    /// unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{SegmentId, SegmentPtr, registry::RegisteredRegion};
    ///
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
    /// // SAFETY: these bytes are only accessed through these references.
    /// let (p, x): (&SegmentPtr<u32>, &u32) = unsafe { (seg.get(0)?, seg.get(100)?) };
    /// p.set(x)?;
    /// assert_eq!(p.offset(), Some(100));
    /// assert!(p.set(&7).is_err()); // a target on the stack
    /// p.set(std::ptr::null())?;
    /// assert!(p.is_null());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn set(&self, target: *const T) -> Result<()> {
        if target.is_null() {
            self.set_null();
            return Ok(());
        }
        let addr = std::ptr::from_ref(self).addr();
        let (here, _) = registry::lookup_range(addr, size_of::<Self>())
            .ok_or_else(|| not_registered::<Self>(addr, ": a SegmentPtr must be set in place"))?;
        let t = target.addr();
        let offset = match here.offset_of_addr(t, size_of::<T>()) {
            Some(off) => off,
            None => match registry::lookup_range(t, size_of::<T>()) {
                Some((there, off)) if there.id() == here.id() => off,
                _ => return Err(target_outside::<T>(t, here.id())),
            },
        };
        let _ = target.expose_provenance();
        self.segment.store_id(here.id());
        self.rel.set_offset(offset as u64);
        Ok(())
    }

    /// Makes it null.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{SegmentId, SegmentPtr};
    /// let p = SegmentPtr::<u64>::from_parts(SegmentId::random(), 8);
    /// p.set_null();
    /// assert!(p.is_null());
    /// ```
    #[inline]
    pub fn set_null(&self) {
        self.rel.set_null();
    }

    /// Copies `other`'s value (segment and offset): valid wherever `other` would be, that is
    /// anywhere in the same segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{SegmentId, SegmentPtr};
    /// let a = SegmentPtr::<u64>::from_parts(SegmentId::random(), 8);
    /// let b = SegmentPtr::<u64>::null();
    /// b.set_from(&a);
    /// assert_eq!(a, b);
    /// ```
    #[inline]
    pub fn set_from(&self, other: &SegmentPtr<T>) {
        match (other.segment.id(), other.rel.offset()) {
            (Some(id), Some(off)) => {
                self.segment.store_id(id);
                self.rel.set_offset(off);
            }
            _ => self.set_null(),
        }
    }
}

#[cold]
#[inline(never)]
fn target_outside<T>(addr: usize, id: SegmentId) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "cannot point a SegmentPtr of segment {id} at the {} at {addr:#x}: it is not inside a \
             mapping of that segment",
            std::any::type_name::<T>()
        ),
    )
}

impl<T> Default for SegmentPtr<T> {
    fn default() -> SegmentPtr<T> {
        SegmentPtr::null()
    }
}

/// A copy with the same segment and offset (valid where the original is valid: in its
/// segment).
impl<T> Clone for SegmentPtr<T> {
    fn clone(&self) -> SegmentPtr<T> {
        let p = SegmentPtr::null();
        p.set_from(self);
        p
    }
}

/// Equal when both are null, or both point at the same offset of the same segment.
impl<T> PartialEq for SegmentPtr<T> {
    fn eq(&self, other: &SegmentPtr<T>) -> bool {
        (self.segment(), self.offset()) == (other.segment(), other.offset())
    }
}

impl<T> Eq for SegmentPtr<T> {}

impl<T> fmt::Debug for SegmentPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.offset(), self.segment.id()) {
            (None, _) => f.write_str("SegmentPtr(null)"),
            (Some(off), Some(id)) => write!(f, "SegmentPtr({id}+{off})"),
            (Some(off), None) => write!(f, "SegmentPtr(unbound+{off})"),
        }
    }
}

// SAFETY: repr(C) of two ShmSafe words (SegmentBase, RelPtr): any bit pattern is valid (checked
// when resolved), it holds an identity and an offset, no address, Send + Sync, no drop glue.
unsafe impl<T: 'static> ShmSafe for SegmentPtr<T> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::primitive("shmkit::ptr::SegmentPtr", 16),
        crate::fingerprint::combine(size_of::<T>() as u64, align_of::<T>() as u64),
    );
    const NO_PADDING: bool = true;
}

const _: () = assert!(size_of::<SegmentPtr<u64>>() == 16 && align_of::<SegmentPtr<u64>>() == 8);

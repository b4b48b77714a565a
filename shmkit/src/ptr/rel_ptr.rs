//! [`RelPtr`]: an offset from the segment base, resolved through a [`SegmentView`].
//!
//! # State of the word
//!
//! | stored `u64` | meaning |
//! |---|---|
//! | 0 | null (so zeroed memory holds null pointers) |
//! | `n > 0` | the target is at offset `n - 1` from the segment base |
//!
//! Any value is valid; whether the offset fits the mapping and the type's alignment is checked
//! when the pointer is resolved ([`SegmentView::get`]).
#![allow(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use super::segment_view::SegmentView;
use crate::shm_safe::ShmSafe;

/// A pointer stored as an offset from its segment's base: 8 bytes, valid wherever it moves
/// inside its segment, resolved against a [`SegmentView`] (one registry lookup per operation,
/// through the structure's [`SegmentBase`](super::SegmentBase), then none per element).
///
/// It does not know which segment it belongs to: a collection header holds one `SegmentBase`
/// and any number of `RelPtr`s. Where a pointer must stand alone, use
/// [`SegmentPtr`](super::SegmentPtr), which also stores the segment id.
///
/// Loads are `Acquire` and stores `Release`, so a pointer published by a store is seen with the
/// data written before it.
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{RelPtr, SegmentId, registry::RegisteredRegion};
///
/// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
/// let view = seg.view();
/// // SAFETY: these bytes are only accessed through this reference.
/// let rel: &RelPtr<u64> = unsafe { seg.get(0)? };
/// assert!(rel.is_null()); // zeroed memory
/// view.set(rel, view.ptr_at::<u64>(128)?)?;
/// assert_eq!(rel.offset(), Some(128));
/// assert_eq!(view.get(rel)?, view.ptr_at::<u64>(128)?);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(transparent)]
pub struct RelPtr<T> {
    stored: AtomicU64,
    _target: PhantomData<fn() -> *const T>,
}

impl<T> RelPtr<T> {
    /// A null pointer (stored as 0).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::ptr::RelPtr::<u8>::null().is_null());
    /// ```
    pub const fn null() -> RelPtr<T> {
        RelPtr {
            stored: AtomicU64::new(0),
            _target: PhantomData,
        }
    }

    /// A pointer to offset `offset` of whatever segment it is resolved against.
    ///
    /// # Panics
    ///
    /// If `offset` is `u64::MAX`, which no mapping can hold and the encoding cannot represent.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = shmkit::ptr::RelPtr::<u64>::from_offset(64);
    /// assert_eq!(p.offset(), Some(64));
    /// ```
    pub const fn from_offset(offset: u64) -> RelPtr<T> {
        assert!(
            offset != u64::MAX,
            "RelPtr offset u64::MAX cannot be stored"
        );
        RelPtr {
            stored: AtomicU64::new(offset + 1),
            _target: PhantomData,
        }
    }

    /// Whether it is null.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = shmkit::ptr::RelPtr::<u64>::from_offset(0);
    /// assert!(!p.is_null());
    /// p.set_null();
    /// assert!(p.is_null());
    /// ```
    #[inline]
    pub fn is_null(&self) -> bool {
        self.stored.load(Ordering::Acquire) == 0
    }

    /// The target's offset from the segment base, or `None` if null.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::RelPtr;
    /// assert_eq!(RelPtr::<u64>::from_offset(8).offset(), Some(8));
    /// assert_eq!(RelPtr::<u64>::null().offset(), None);
    /// ```
    #[inline]
    pub fn offset(&self) -> Option<u64> {
        self.stored.load(Ordering::Acquire).checked_sub(1)
    }

    /// Points it at offset `offset` from the segment base. Prefer [`SegmentView::set`], which
    /// takes a pointer and checks it lies in the segment; nothing is checked here (resolving
    /// checks).
    ///
    /// # Panics
    ///
    /// If `offset` is `u64::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = shmkit::ptr::RelPtr::<u64>::null();
    /// p.set_offset(24);
    /// assert_eq!(p.offset(), Some(24));
    /// ```
    #[inline]
    pub fn set_offset(&self, offset: u64) {
        assert!(
            offset != u64::MAX,
            "RelPtr offset u64::MAX cannot be stored"
        );
        self.stored.store(offset + 1, Ordering::Release);
    }

    /// Makes it null.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = shmkit::ptr::RelPtr::<u64>::from_offset(8);
    /// p.set_null();
    /// assert_eq!(p.offset(), None);
    /// ```
    #[inline]
    pub fn set_null(&self) {
        self.stored.store(0, Ordering::Release);
    }

    /// Resolves it against `view`: same as [`view.get(self)`](SegmentView::get).
    ///
    /// # Errors
    ///
    /// As [`SegmentView::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{RelPtr, SegmentId, registry::RegisteredRegion};
    ///
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
    /// let p = RelPtr::<u32>::from_offset(4);
    /// assert_eq!(p.get(&seg.view())?.cast_const(), seg.as_ptr().wrapping_add(4).cast());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn get(&self, view: &SegmentView<'_>) -> crate::Result<*mut T> {
        view.get(self)
    }
}

impl<T> Default for RelPtr<T> {
    fn default() -> RelPtr<T> {
        RelPtr::null()
    }
}

/// A copy with the same offset: a `RelPtr` means the same anywhere in its segment.
impl<T> Clone for RelPtr<T> {
    fn clone(&self) -> RelPtr<T> {
        RelPtr {
            stored: AtomicU64::new(self.stored.load(Ordering::Acquire)),
            _target: PhantomData,
        }
    }
}

/// Equal when both are null or both hold the same offset.
impl<T> PartialEq for RelPtr<T> {
    fn eq(&self, other: &RelPtr<T>) -> bool {
        self.offset() == other.offset()
    }
}

impl<T> Eq for RelPtr<T> {}

impl<T> fmt::Debug for RelPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset() {
            Some(off) => write!(f, "RelPtr(+{off})"),
            None => f.write_str("RelPtr(null)"),
        }
    }
}

// SAFETY: repr(transparent) over an AtomicU64: every bit pattern is a valid value (offsets are
// checked when resolved), it holds an offset, not an address, it is Send + Sync (the
// PhantomData holds a fn pointer type), and it has no drop glue.
unsafe impl<T: 'static> ShmSafe for RelPtr<T> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::primitive("shmkit::ptr::RelPtr", 8),
        crate::fingerprint::combine(size_of::<T>() as u64, align_of::<T>() as u64),
    );
    const NO_PADDING: bool = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_null_and_offsets_round_trip() {
        let p = RelPtr::<u64>::null();
        assert_eq!(p.stored.load(Ordering::Relaxed), 0);
        for off in [0, 1, 8, u64::MAX - 1] {
            p.set_offset(off);
            assert_eq!(p.offset(), Some(off));
            assert_eq!(p.clone(), p);
        }
        assert_ne!(p, RelPtr::null());
    }

    #[test]
    #[should_panic(expected = "u64::MAX")]
    fn max_offset_panics() {
        RelPtr::<u8>::null().set_offset(u64::MAX);
    }
}

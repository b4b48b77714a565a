//! [`SegmentBase`]: the segment identity a structure keeps to find its base from its own
//! address.
//!
//! # State of the word
//!
//! | stored `u64` | meaning |
//! |---|---|
//! | 0 | unbound: belongs to no segment yet (zeroed memory) |
//! | `id` | belongs to segment `id`: resolving checks that it is read from a mapping of `id` |
#![allow(unsafe_code)]

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use super::registry;
use super::segment_id::{SegmentId, id_from_word};
use super::segment_view::{SegmentView, not_registered};
use crate::error::{Error, ErrorKind, Result};
use crate::shm_safe::ShmSafe;

/// The segment a structure belongs to, kept in the structure itself (8 bytes: the
/// [`SegmentId`]). [`resolve`](SegmentBase::resolve) finds the registered mapping that contains
/// the `SegmentBase` (from its own address, through the thread's cached
/// [`registry`](super::registry) lookup) and checks that it maps that segment. The resulting
/// [`SegmentView`] then resolves any number of [`RelPtr`](super::RelPtr)s with no further
/// lookups: once per operation, not per element.
///
/// A structure holding a `SegmentBase` may be moved anywhere *within* its segment (a growing
/// vector of them, `mem::swap`): it resolves to the same segment. Moved into another segment or
/// out of shared memory, resolving fails.
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{SegmentBase, SegmentId, registry::RegisteredRegion};
///
/// let id = SegmentId::random();
/// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, id)?;
/// // SAFETY: these bytes are only accessed through this reference.
/// let base: &SegmentBase = unsafe { seg.get(256)? };
/// assert!(base.resolve().is_err()); // zeroed: unbound
/// assert_eq!(base.bind()?.id(), id);
/// assert_eq!(base.resolve()?.base().cast_const(), seg.as_ptr());
///
/// // A copy on the stack is caught.
/// let moved: SegmentBase = seg.read(256)?;
/// assert!(moved.resolve().is_err());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(transparent)]
pub struct SegmentBase {
    id: AtomicU64,
}

impl SegmentBase {
    /// A base that belongs to no segment yet; [`bind`](SegmentBase::bind) it once it is in
    /// place. All-zero memory is an unbound base.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::ptr::SegmentBase::unbound().id(), None);
    /// ```
    pub const fn unbound() -> SegmentBase {
        SegmentBase {
            id: AtomicU64::new(0),
        }
    }

    /// A base that belongs to segment `id`, for a structure built outside the segment and then
    /// moved into it (it resolves once it is there).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{SegmentBase, SegmentId};
    /// let id = SegmentId::random();
    /// assert_eq!(SegmentBase::new(id).id(), Some(id));
    /// ```
    pub const fn new(id: SegmentId) -> SegmentBase {
        SegmentBase {
            id: AtomicU64::new(id.as_u64()),
        }
    }

    /// The segment it belongs to, or `None` if unbound.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{SegmentBase, SegmentId};
    /// let id = SegmentId::random();
    /// assert_eq!(SegmentBase::new(id).id(), Some(id));
    /// ```
    #[inline]
    pub fn id(&self) -> Option<SegmentId> {
        id_from_word(self.id.load(Ordering::Acquire))
    }

    /// Binds it to the segment it lies in (if unbound) and returns the resolved view.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if it is not inside a registered mapping, or is already
    /// bound to another segment than the one it lies in (a structure moved across segments is
    /// not silently adopted).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{SegmentBase, SegmentId, registry::RegisteredRegion};
    ///
    /// let id = SegmentId::random();
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, id)?;
    /// // SAFETY: these bytes are only accessed through this reference.
    /// let base: &SegmentBase = unsafe { seg.get(0)? };
    /// base.bind()?;
    /// assert_eq!(base.id(), Some(id));
    /// assert!(SegmentBase::unbound().bind().is_err()); // on the stack
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn bind(&self) -> Result<SegmentView<'_>> {
        let (m, _) = registry::lookup_range(self.addr(), size_of::<SegmentBase>())
            .ok_or_else(|| not_registered::<SegmentBase>(self.addr(), ""))?;
        match self
            .id
            .compare_exchange(0, m.id().as_u64(), Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(SegmentView::new(m)),
            Err(current) if current == m.id().as_u64() => Ok(SegmentView::new(m)),
            Err(current) => Err(wrong_segment(self.addr(), current, m.id())),
        }
    }

    /// The mapping of its segment that contains it, as a view: the once-per-operation lookup.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if it is unbound, not inside a registered mapping (moved
    /// out of shared memory), or inside a mapping of another segment (moved across segments).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::{SegmentBase, SegmentId, registry::RegisteredRegion};
    ///
    /// let id = SegmentId::random();
    /// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, id)?;
    /// // SAFETY: written once, before anything else uses these bytes.
    /// let base = unsafe { seg.put(8, SegmentBase::new(id))? };
    /// let view = base.resolve()?;
    /// assert_eq!((view.id(), view.len()), (id, 64));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn resolve(&self) -> Result<SegmentView<'_>> {
        let id = self.id_word();
        match registry::lookup_range(self.addr(), size_of::<SegmentBase>()) {
            Some((m, _)) if m.id().as_u64() == id => Ok(SegmentView::new(m)),
            found => Err(resolve_error(self.addr(), id, found.map(|(m, _)| m.id()))),
        }
    }

    /// The stored id word (0 = unbound).
    #[inline]
    pub(crate) fn id_word(&self) -> u64 {
        self.id.load(Ordering::Acquire)
    }

    /// Stores `id` (for `SegmentPtr::set`, which has checked where it lies).
    #[inline]
    pub(crate) fn store_id(&self, id: SegmentId) {
        self.id.store(id.as_u64(), Ordering::Release);
    }

    #[inline]
    fn addr(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }
}

/// The error for a `SegmentBase` (or a `SegmentPtr`'s) that does not resolve.
#[cold]
#[inline(never)]
pub(crate) fn resolve_error(addr: usize, stored: u64, found: Option<SegmentId>) -> Error {
    match (id_from_word(stored), found) {
        (None, _) => Error::new(
            ErrorKind::InvalidArgument,
            format!("the segment base at {addr:#x} is unbound: it belongs to no segment"),
        ),
        (Some(id), None) => Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "a structure of segment {id} is at {addr:#x}, outside every registered mapping: \
                 segment-relative pointers only work inside their segment (was it moved or \
                 copied out of shared memory?)"
            ),
        ),
        (Some(_), Some(_)) => wrong_segment(addr, stored, found.expect("found")),
    }
}

#[cold]
#[inline(never)]
fn wrong_segment(addr: usize, stored: u64, found: SegmentId) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "a structure of segment {stored:#018x} is at {addr:#x}, inside a mapping of segment \
             {found}: it was moved or copied into another segment"
        ),
    )
}

impl Default for SegmentBase {
    fn default() -> SegmentBase {
        SegmentBase::unbound()
    }
}

impl fmt::Debug for SegmentBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id() {
            Some(id) => write!(f, "SegmentBase({id})"),
            None => f.write_str("SegmentBase(unbound)"),
        }
    }
}

// SAFETY: repr(transparent) over an AtomicU64: any bit pattern is valid (an unknown id just
// fails to resolve), it holds an identity, not an address, it is Send + Sync, no drop glue.
unsafe impl ShmSafe for SegmentBase {
    const FINGERPRINT: u64 = crate::fingerprint::primitive("shmkit::ptr::SegmentBase", 8);
    const NO_PADDING: bool = true;
}

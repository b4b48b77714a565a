//! [`Handle`]: an object's offset in its segment, to pass to another process (Boost's
//! `get_handle_from_address` / `get_address_from_handle`).
#![allow(unsafe_code)]

use std::fmt;

use super::registry;
use super::segment_view::{SegmentView, not_registered};
use crate::error::Result;
use crate::shm_safe::ShmSafe;

/// An object's offset from the base of its segment: the same in every process that maps the
/// segment, wherever it is mapped. Pass it to another process by any channel (it is a `u64`)
/// and turn it back into a pointer there with [`get_by_handle`].
///
/// A handle does not name its segment (as Boost's `handle_t`): the receiver resolves it against
/// the segment it knows the handle is for, and the result is checked against that mapping's
/// length and the type's alignment.
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{self, Handle, SegmentId, registry::RegisteredRegion};
///
/// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
/// // SAFETY: these bytes are only accessed through this reference.
/// let x: &u64 = unsafe { seg.get(800)? };
/// let h: Handle = ptr::handle_of(x)?;
/// let wire: u64 = h.into(); // e.g. printed, sent over a socket
/// let back = ptr::get_by_handle::<u64>(&seg.view(), Handle::from(wire))?;
/// assert_eq!(back, x as *const u64);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(transparent)]
pub struct Handle(u64);

impl Handle {
    /// The handle with this offset.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::ptr::Handle::from_u64(96).as_u64(), 96);
    /// ```
    pub const fn from_u64(offset: u64) -> Handle {
        Handle(offset)
    }

    /// The offset from the segment base.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = shmkit::ptr::Handle::from_u64(96);
    /// println!("handle={}", h.as_u64());
    /// ```
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl From<u64> for Handle {
    fn from(offset: u64) -> Handle {
        Handle(offset)
    }
}

impl From<Handle> for u64 {
    fn from(h: Handle) -> u64 {
        h.0
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle(+{})", self.0)
    }
}

/// Prints the offset in decimal.
impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

// SAFETY: repr(transparent) over a u64: any bit pattern is valid, an offset is no address,
// Send + Sync, no drop glue.
unsafe impl ShmSafe for Handle {
    const FINGERPRINT: u64 = crate::fingerprint::primitive("shmkit::ptr::Handle", 8);
    const NO_PADDING: bool = true;
}

/// The handle of `*r`: its offset in the registered mapping that contains it (Boost's
/// `get_handle_from_address`).
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) if `*r` is not wholly
/// inside a registered mapping.
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{self, SegmentId, registry::RegisteredRegion};
///
/// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(4096)?, SegmentId::random())?;
/// // SAFETY: these bytes are only accessed through this reference.
/// let x: &u32 = unsafe { seg.get(44)? };
/// assert_eq!(ptr::handle_of(x)?.as_u64(), 44);
/// assert!(ptr::handle_of(&0u32).is_err()); // on the stack
/// # Ok::<(), shmkit::Error>(())
/// ```
#[inline]
pub fn handle_of<T>(r: &T) -> Result<Handle> {
    let addr = std::ptr::from_ref(r).addr();
    match registry::lookup_range(addr, size_of::<T>()) {
        Some((_, off)) => Ok(Handle(off as u64)),
        None => Err(not_registered::<T>(
            addr,
            ": handles name objects in shared memory",
        )),
    }
}

/// The `T` that `handle` names in the mapping `view`, checked: it lies wholly inside the
/// mapping and is aligned for `T` (Boost's `get_address_from_handle`). Reading through the
/// pointer is `unsafe`: the caller knows (from the protocol that sent the handle) that a `T`
/// lives there.
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) if the `T` would not fit
/// in the mapping or would be misaligned.
///
/// # Examples
///
/// ```
/// use shmkit::ptr::{self, Handle, SegmentId, registry::RegisteredRegion};
///
/// let seg = RegisteredRegion::new(shmkit::MappedRegion::anonymous(64)?, SegmentId::random())?;
/// let p = ptr::get_by_handle::<u64>(&seg.view(), Handle::from_u64(16))?;
/// assert_eq!(p, seg.as_ptr().wrapping_add(16).cast());
/// assert!(ptr::get_by_handle::<u64>(&seg.view(), Handle::from_u64(60)).is_err());
/// assert!(ptr::get_by_handle::<u64>(&seg.view(), Handle::from_u64(12)).is_err());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[inline]
pub fn get_by_handle<T>(view: &SegmentView<'_>, handle: Handle) -> Result<*const T> {
    view.get_by_handle(handle)
}

//! [`Handle`]: an object's offset in its segment, to pass to another process (Boost's
//! `get_handle_from_address` / `get_address_from_handle`).
//!
//! registry: the pointer layer (`crate::ptr`, being written alongside) defines the crate-wide
//! `Handle` with this same shape (`from_u64`, `as_u64`, `From<u64>`, `Into<u64>`). When it
//! lands, this file becomes `pub use crate::ptr::Handle;` and nothing else in the segment
//! changes.

use std::fmt;

/// An object's offset from the base of its segment: the same in every process that maps the
/// segment, wherever it is mapped. Send it to another process by any channel (it is a `u64`)
/// and turn it back into a reference there with
/// [`SegmentManager::get_by_handle`](super::SegmentManager::get_by_handle), which checks it.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::segment::Handle;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let x = seg.construct_anonymous(7u32)?;
/// let wire: u64 = seg.handle_of(x)?.into();
/// assert_eq!(seg.get_by_handle::<u32>(Handle::from(wire))?, &7);
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
    /// assert_eq!(shmkit::segment::Handle::from_u64(96).as_u64(), 96);
    /// ```
    pub const fn from_u64(offset: u64) -> Handle {
        Handle(offset)
    }

    /// The offset from the segment's base.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = shmkit::segment::Handle::from_u64(96);
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

//! [`SegmentId`]: the identity a segment carries in its header and its pointers check.

use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// The identity of a segment: a random, non-zero 64-bit number chosen when the segment is
/// created and stored in its header. Segment-relative pointers store it, and resolving them
/// checks it against the mapping they are read from, which catches a header moved into another
/// segment.
///
/// Two mappings of the same segment (in one process or in several) share its id. The value 0
/// is reserved for "no segment" (an unbound [`SegmentBase`](super::SegmentBase), a null
/// [`SegmentPtr`](super::SegmentPtr)).
///
/// # Examples
///
/// ```
/// use shmkit::ptr::SegmentId;
///
/// let a = SegmentId::random();
/// let b = SegmentId::random();
/// assert_ne!(a, b);
/// // Stored in a segment header as a u64, and read back in another process.
/// assert_eq!(SegmentId::from_u64(a.as_u64()), Some(a));
/// assert_eq!(SegmentId::from_u64(0), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct SegmentId(NonZeroU64);

impl SegmentId {
    /// A fresh id: random, and unique within this process (a per-thread random key from the
    /// operating system, mixed with the process id and a counter by SipHash).
    ///
    /// # Examples
    ///
    /// ```
    /// let id = shmkit::ptr::SegmentId::random();
    /// assert_ne!(id.as_u64(), 0);
    /// ```
    pub fn random() -> SegmentId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            // RandomState's keys come from the OS once per thread and change on every call.
            let mut h = RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            if let Some(id) = NonZeroU64::new(h.finish()) {
                return SegmentId(id);
            }
        }
    }

    /// The id stored as `value` (in a segment header, say); `None` for 0, which is reserved.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::SegmentId;
    /// assert_eq!(SegmentId::from_u64(42).unwrap().as_u64(), 42);
    /// ```
    pub const fn from_u64(value: u64) -> Option<SegmentId> {
        match NonZeroU64::new(value) {
            Some(v) => Some(SegmentId(v)),
            None => None,
        }
    }

    /// The id as a (non-zero) `u64`, to store or print.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = shmkit::ptr::SegmentId::random();
    /// println!("segment {:#x}", id.as_u64());
    /// ```
    pub const fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SegmentId({:#018x})", self.0)
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

/// `Option<SegmentId>` from a stored word: 0 is `None`.
pub(crate) const fn id_from_word(word: u64) -> Option<SegmentId> {
    SegmentId::from_u64(word)
}

// Headers store the id as a `u64` (0 = none) and read it back with `SegmentId::from_u64`:
// `SegmentId` itself is not `ShmSafe`, since 0 is not a valid value of it.
const _: () = assert!(size_of::<SegmentId>() == 8 && size_of::<Option<SegmentId>>() == 8);

//! Collections that live in a managed segment: [`Vec`], [`String`], and the allocators they
//! are generic over.
//!
//! # Where a collection finds its segment
//!
//! A collection's header (a `Vec` is 32 bytes) holds its segment's id and offsets from the
//! segment's base; nothing in it is an address, so the header may sit anywhere in the segment
//! and move (a `Vec<String>` reallocating moves every `String` header; `mem::swap` swaps two).
//! Each operation finds the segment **from the header's own address**, through the
//! per-process table of mappings ([`ptr::registry`](crate::ptr::registry), one cached lookup),
//! and checks the id there against the stored one. So:
//!
//! - **Inside its segment** (constructed there, stored in another collection there, reached
//!   through a [`Mutex`](crate::sync::Mutex) there): everything works, in every process that maps the
//!   segment, wherever it is mapped.
//! - **Moved into another segment**: every operation is an `Err` (or a panic from the
//!   non-`try_` methods): the offsets mean nothing there.
//! - **Moved out of its segment** (returned by `pop`, `remove`, `mem::take`, `clone`, or built
//!   with [`Vec::new_in`]): the value is still tied to its segment by id. It can be changed
//!   (push, reserve, clear), dropped (its memory is freed), read through
//!   [`Vec::with_slice`] and iterated by value, and stored back; but it does not hand out
//!   references to its elements (`Deref`, `as_slice`, indexing panic, `try_as_slice` is an
//!   `Err`). Such references would not borrow the segment handle, and dropping the handle would
//!   unmap them. While it works on a moved-out value, the segment's mapping is pinned (dropping
//!   its handle waits), and the segment must be mapped exactly once in this process.
//!
//! Values enter a segment through [`IntoSegment`]: `push`, `insert` and friends take anything
//! that converts into the element type *in the collection's segment*: a `T`, or `&str` for a
//! [`String`], a `std::vec::Vec` for a [`Vec`]. So building nested values needs no allocator
//! plumbing:
//!
//! ```
//! use shmkit::ManagedHeapMemory;
//! use shmkit::sync::Mutex;
//! use shmkit::collections::{String, Vec};
//!
//! let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
//! let lists = seg.construct("lists", Mutex::new(Vec::<Vec<String>>::new()))?;
//! let mut lists = lists.lock().unwrap();
//! lists.push(vec!["a", "b"]);
//! lists.push(Vec::new());
//! lists[1].push("c");
//! assert_eq!(lists[0][1], "b");
//! assert_eq!(lists[1], ["c"]);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Allocation and failure
//!
//! Collections allocate through an [`ShmAlloc`], stored in the header: [`SegmentAlloc`] (the
//! segment's memory algorithm, under the segment's robust lock) by default. A full segment is
//! [`ErrorKind::OutOfMemory`] from the `try_` methods, which
//! leave the collection as it was, and a panic naming the error from the others. A segment
//! opened read-only can be read but not changed (`PermissionDenied`).
//!
//! # Sharing
//!
//! Collections are plain data, like `std`'s: share one between processes inside a
//! [`Mutex`](crate::sync::Mutex) or [`RwLock`](crate::sync::RwLock) in the segment. Headers are validated on
//! every use (bounds and alignment against the mapping), so a corrupt or hostile header is an
//! error, never an access outside the segment; element types are [`ShmSafe`], valid for any
//! bytes.
#![allow(unsafe_code)]

mod arc;
mod boxed;
pub mod btree;
pub mod flat;
pub mod hash_map;
pub mod hash_set;
pub mod linked_list;
mod segment_ref;
mod string;
mod vec;
pub mod vec_deque;

pub use btree::{BTreeMap, BTreeSet};
pub use flat::{FlatMap, FlatSet};
pub use hash_map::{DefaultShmHasher, HashMap};
pub use hash_set::HashSet;
pub use segment_ref::{AsSegment, SegmentAlloc, SegmentRef, ShmAlloc};
pub use string::String;
pub use vec::Vec;

pub use arc::{Arc, IntrusiveCount, IntrusivePtr, NewArc, Weak};
pub use boxed::{Box, NewBox};
pub use linked_list::LinkedList;
pub use vec_deque::VecDeque;

use crate::error::{Error, ErrorKind, Result};
use crate::ptr::registry;
use crate::ptr::{SegmentBase, SegmentId};
use crate::shm_safe::ShmSafe;

/// A value that becomes a `T` in a given segment: how `push`, `insert` and the other adding
/// methods take their arguments.
///
/// Every [`ShmSafe`] `T` converts into itself (moved in as it is); `&str` and
/// `std::string::String` convert into a [`String`], `std::vec::Vec<U>`, `[U; N]` and `&[T]`
/// into a [`Vec`] (element by element), allocating in the segment of the collection they are
/// added to.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::{AsSegment, IntoSegment, String};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let s: String = "hello".into_segment(&seg.segment()?)?;
/// assert_eq!(s.len(), 5);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub trait IntoSegment<T> {
    /// Converts, allocating in `seg` as needed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full.
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<T>;
}

impl<T: ShmSafe> IntoSegment<T> for T {
    #[inline]
    fn into_segment(self, _: &SegmentRef<'_>) -> Result<T> {
        Ok(self)
    }
}

impl<T: ShmSafe + Unpin, U: IntoSegment<T>, A: ShmAlloc + Default> IntoSegment<Vec<T, A>>
    for std::vec::Vec<U>
{
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<Vec<T, A>> {
        let mut v = Vec::try_with_capacity_in_alloc(self.len(), seg, A::default())?;
        for x in self {
            v.try_push_in(seg, x.into_segment(seg)?)?;
        }
        Ok(v)
    }
}

impl<T: ShmSafe + Unpin, U: IntoSegment<T>, A: ShmAlloc + Default, const N: usize>
    IntoSegment<Vec<T, A>> for [U; N]
{
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<Vec<T, A>> {
        let mut v = Vec::try_with_capacity_in_alloc(N, seg, A::default())?;
        for x in self {
            v.try_push_in(seg, x.into_segment(seg)?)?;
        }
        Ok(v)
    }
}

impl<T: ShmSafe + Unpin + Clone, A: ShmAlloc + Default> IntoSegment<Vec<T, A>> for &[T] {
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<Vec<T, A>> {
        let mut v = Vec::try_with_capacity_in_alloc(self.len(), seg, A::default())?;
        v.try_extend_from_slice_in(seg, self)?;
        Ok(v)
    }
}

/// Where a collection's header is, for one operation.
pub(crate) enum Where<'a> {
    /// Inside its segment (or inside a segment while unbound).
    Resident(SegmentRef<'a>),
    /// Outside every mapping, tied to a segment.
    Detached(SegmentId),
    /// Outside every mapping, tied to nothing (an empty `new()` value).
    Unbound,
}

impl<'a> Where<'a> {
    /// Locates `header` (which holds `base`).
    #[inline]
    pub(crate) fn of<H>(header: &'a H, base: &SegmentBase) -> Result<Where<'a>> {
        let addr = std::ptr::from_ref(header).addr();
        if let Some((m, _)) = registry::lookup_range(addr, size_of::<H>()) {
            return SegmentRef::of_found(header, m, base).map(Where::Resident);
        }
        Ok(match base.id() {
            Some(id) => Where::Detached(id),
            None => Where::Unbound,
        })
    }
}

/// Runs `f` with the segment the collection `h` belongs to, for a change: the mapping its header
/// lies in, or, for a collection moved out of its segment, the segment's one mapping in this
/// process (kept mapped while `f` runs). A read-only mapping is refused: it is private to this
/// process, so a change there would be seen by no one.
///
/// Every collection's mutating methods go through this (or `Vec`'s inline fast path, which
/// makes the same checks).
pub(crate) fn with_seg_mut<H, R>(
    h: &mut H,
    base: fn(&H) -> &SegmentBase,
    f: impl FnOnce(&mut H, &SegmentRef<'_>) -> Result<R>,
) -> Result<R> {
    match Where::of(&*h, base(h))? {
        Where::Resident(s) => {
            s.check_writable()?;
            // SAFETY: the header lies in the mapping and is borrowed (through `h`) for this
            // whole call, so the mapping outlives `s`, which does not escape `f`.
            let s = unsafe { s.detach_lifetime() };
            f(h, &s)
        }
        Where::Detached(id) => SegmentRef::with_detached(id, |s| {
            s.check_writable()?;
            f(h, &s)
        })
        .unwrap_or_else(|| Err(not_mapped(id))),
        Where::Unbound => Err(unbound()),
    }
}

/// [`with_seg_mut`] for reading: read-only mappings are fine.
pub(crate) fn with_seg_ref<H, R>(
    h: &H,
    base: &SegmentBase,
    f: impl FnOnce(&SegmentRef<'_>) -> Result<R>,
) -> Result<R> {
    match Where::of(h, base)? {
        Where::Resident(s) => f(&s),
        Where::Detached(id) => {
            SegmentRef::with_detached(id, |s| f(&s)).unwrap_or_else(|| Err(not_mapped(id)))
        }
        Where::Unbound => Err(unbound()),
    }
}

/// Panics with `e`'s message: the non-`try_` methods.
#[cold]
#[track_caller]
pub(crate) fn fail(e: Error) -> ! {
    panic!("shmkit collection: {e}")
}

#[cold]
pub(crate) fn not_mapped(id: SegmentId) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "this collection was moved out of segment {id}, which is not mapped exactly once in \
             this process: store it back into the segment through a handle"
        ),
    )
}

#[cold]
pub(crate) fn unbound() -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        "this collection is not in a segment and not tied to one: construct it in a segment, \
         store it in a collection there, or create it with `new_in(&segment)`",
    )
}

#[cold]
pub(crate) fn detached_access<H>(header: &H) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "this collection (at {:p}) is not inside its segment: it was moved out (popped, \
             removed, taken, cloned), so it cannot lend references to its elements; store it \
             back in the segment, or read it with `with_slice`",
            std::ptr::from_ref(header)
        ),
    )
}

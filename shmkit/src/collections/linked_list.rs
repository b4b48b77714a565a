//! [`LinkedList`]: a doubly linked list in a managed segment, one node per element, and its
//! iterators.
#![allow(unsafe_code)]

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use super::segment_ref::{AsSegment, SegmentAlloc, SegmentRef, ShmAlloc};
use super::{IntoSegment, Where, fail};
use crate::error::{Error, ErrorKind, Result};
use crate::ptr::{RelPtr, SegmentBase};
use crate::shm_safe::ShmSafe;

/// One element's node: the links (offsets in the segment, 0 = none) and the value.
#[repr(C)]
struct Node<T> {
    next: RelPtr<Node<T>>,
    prev: RelPtr<Node<T>>,
    value: T,
}

/// A doubly linked list whose header and nodes live in a managed segment, shared by every
/// process that maps it: `std::collections::LinkedList`'s API, one node allocated per element
/// through the list's [`ShmAlloc`].
///
/// Links are offsets, so the header and the list may move anywhere in the segment, and the list
/// reads the same in every process. Every walk is bounded by the header's length and checks each
/// link against its neighbour (`next.prev == self`), the first node's `prev`, the last node's
/// `next` and the tail: a cycle or a broken link written by a peer is
/// [`ErrorKind::Corrupted`] (or a panic naming it from the non-`try_` methods), never a hang or
/// two references to one node. Iterating checks the whole chain first (O(n)) and then yields
/// without further checks.
///
/// As for every collection (see the [module docs](crate::collections)), inside its segment it
/// lends references (`front`, `iter`); moved out of it it can be changed, dropped, iterated by
/// value and read through [`with_iter`](LinkedList::with_iter).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{LinkedList, String};
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let l = seg.construct("names", Mutex::new(LinkedList::<String>::new()))?;
/// let mut l = l.lock().unwrap();
/// l.push_back("b");
/// l.push_front("a");
/// l.push_back("c");
/// assert_eq!(l.iter().map(|s| s.as_str()).collect::<std::vec::Vec<_>>(), ["a", "b", "c"]);
/// assert_eq!(l.pop_back().unwrap().with_str(|s| s.len())?, 1);
/// assert_eq!(l.len(), 2);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct LinkedList<T: ShmSafe + Unpin, A: ShmAlloc = SegmentAlloc> {
    seg: SegmentBase,
    head: RelPtr<Node<T>>,
    tail: RelPtr<Node<T>>,
    len: usize,
    alloc: A,
}

// SAFETY: repr(C) of `ShmSafe` fields (atomics for the id and links, an integer, the
// allocator): any bit pattern is a value, and every use checks it (the id against the mapping,
// each node's range and alignment against the mapping, links against their neighbours, walks
// bounded by the length), so a garbage header or node is an error, never an access outside the
// segment or a hang. No addresses. Send + Sync as its fields. Its drop frees segment memory,
// which only leaks when skipped.
unsafe impl<T: ShmSafe + Unpin, A: ShmAlloc> ShmSafe for LinkedList<T, A> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::LinkedList"),
        crate::fingerprint::combine(T::FINGERPRINT, A::FINGERPRINT),
    );
}

#[cold]
fn corrupt(what: impl fmt::Display) -> Error {
    Error::new(
        ErrorKind::Corrupted,
        format!("a linked list is corrupt: {what}"),
    )
}

/// The node at `off` in `s`, checked.
#[inline]
fn node_ptr<T>(s: &SegmentRef<'_>, off: u64) -> Result<*mut Node<T>> {
    s.ptr::<Node<T>>(off, 1)
}

/// Reads a link of the node at `p`.
///
/// # Safety
///
/// `p` is a checked node of the list (inside the mapping, aligned).
#[inline]
unsafe fn links<'x, T>(p: *mut Node<T>) -> (&'x RelPtr<Node<T>>, &'x RelPtr<Node<T>>) {
    // SAFETY: the caller's contract; references to the atomic link fields only.
    unsafe { (&(*p).next, &(*p).prev) }
}

impl<T: ShmSafe + Unpin> LinkedList<T> {
    /// An empty list, not yet tied to a segment (nothing is allocated).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::collections::LinkedList::<u8>::new().is_empty());
    /// ```
    pub const fn new() -> LinkedList<T> {
        LinkedList::new_with(SegmentAlloc)
    }

    /// An empty list tied to `seg`: it can be filled before it is stored in the segment.
    ///
    /// # Panics
    ///
    /// If `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let mut l = LinkedList::<u8>::new_in(&*seg);
    /// l.push_back(1);
    /// assert_eq!(seg.construct("l", l)?.front(), Some(&1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(seg: &impl AsSegment) -> LinkedList<T> {
        let s = seg.segment().unwrap_or_else(|e| fail(e));
        let l = LinkedList::new();
        l.seg.store_id(s.id());
        l
    }

    /// A list in `seg` holding `items` (returned outside the segment).
    ///
    /// # Panics
    ///
    /// If the segment is full or `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let l = seg.construct("l", LinkedList::<u32>::from_iter_in(1..=3, &*seg))?;
    /// assert_eq!(*l, [1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn from_iter_in<U: IntoSegment<T>>(
        items: impl IntoIterator<Item = U>,
        seg: &impl AsSegment,
    ) -> LinkedList<T> {
        let mut l = LinkedList::new_in(seg);
        for x in items {
            l.push_back(x);
        }
        l
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> LinkedList<T, A> {
    /// An empty list with allocator `alloc`, not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{LinkedList, SegmentAlloc};
    /// let l: LinkedList<u8> = LinkedList::new_with(SegmentAlloc);
    /// assert_eq!(l.len(), 0);
    /// ```
    pub const fn new_with(alloc: A) -> LinkedList<T, A> {
        LinkedList {
            seg: SegmentBase::unbound(),
            head: RelPtr::null(),
            tail: RelPtr::null(),
            len: 0,
            alloc,
        }
    }

    /// The number of elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::collections::LinkedList::<u8>::new().len(), 0);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::collections::LinkedList::<u8>::new().is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{LinkedList, SegmentAlloc};
    /// assert_eq!(*LinkedList::<u8>::new().allocator(), SegmentAlloc);
    /// ```
    pub fn allocator(&self) -> &A {
        &self.alloc
    }

    #[inline]
    fn place(&self) -> Result<Where<'_>> {
        Where::of(self, &self.seg)
    }

    /// Runs `f` with the segment this list belongs to (see `Vec::with_seg`).
    fn with_seg<R>(
        &mut self,
        f: impl FnOnce(&mut Self, &SegmentRef<'_>) -> Result<R>,
    ) -> Result<R> {
        super::with_seg_mut(self, |h| &h.seg, f)
    }

    /// [`with_seg`](Self::with_seg) for reading.
    fn with_seg_ref<R>(&self, f: impl FnOnce(&SegmentRef<'_>) -> Result<R>) -> Result<R> {
        super::with_seg_ref(self, &self.seg, f)
    }

    /// Checks the whole chain: exactly `len` nodes from head to tail, each inside the mapping,
    /// each `prev` naming the node before (so no node is visited twice), the first `prev` and
    /// last `next` null, the tail the last node. O(len), bounded by `len`.
    fn validate(&self, s: &SegmentRef<'_>) -> Result<()> {
        let mut prev: Option<u64> = None;
        let mut cur = self.head.offset();
        let mut n = 0usize;
        while let Some(off) = cur {
            if n == self.len {
                return Err(corrupt(format_args!(
                    "more nodes than its length {}",
                    self.len
                )));
            }
            let p = node_ptr::<T>(s, off)?;
            // SAFETY: a checked node; only its links are read.
            let (next, back) = unsafe { links(p) };
            if back.offset() != prev {
                return Err(corrupt(format_args!(
                    "node {n} at offset {off} does not link back to its predecessor"
                )));
            }
            prev = Some(off);
            cur = next.offset();
            n += 1;
        }
        if n != self.len {
            return Err(corrupt(format_args!(
                "{n} nodes, but its length is {}",
                self.len
            )));
        }
        if self.tail.offset() != prev {
            return Err(corrupt("its tail is not its last node"));
        }
        Ok(())
    }

    /// A checked iterator over segment `s` (validated first).
    fn raw_iter<'a>(&self, s: SegmentRef<'a>) -> Result<RawIter<'a, T>> {
        self.validate(&s)?;
        Ok(RawIter {
            s: Some(s),
            front: self.head.offset(),
            back: self.tail.offset(),
            remaining: self.len,
            _t: PhantomData,
        })
    }

    /// The segment, if the list is inside it (references may borrow `self`).
    fn resident(&self) -> Result<SegmentRef<'_>> {
        match self.place()? {
            Where::Resident(s) => Ok(s),
            Where::Detached(_) | Where::Unbound => Err(super::detached_access(self)),
        }
    }

    /// Allocates a node holding `value`, links null.
    fn alloc_node(&self, s: &SegmentRef<'_>, value: T) -> Result<(u64, *mut Node<T>)> {
        let size = size_of::<Node<T>>();
        let off = self.alloc.allocate(s, size, align_of::<Node<T>>())?;
        let p = match node_ptr::<T>(s, off) {
            Ok(p) => p,
            Err(e) => {
                let _ = self.alloc.deallocate(s, off, size, align_of::<Node<T>>());
                return Err(e);
            }
        };
        // SAFETY: a fresh block inside the mapping, aligned (checked), used by nothing else.
        unsafe {
            p.write(Node {
                next: RelPtr::null(),
                prev: RelPtr::null(),
                value,
            });
        }
        Ok((off, p))
    }

    /// Frees the node at `off` (its value already moved out or dropped).
    fn free_node(&self, s: &SegmentRef<'_>, off: u64) {
        let _ = self
            .alloc
            .deallocate(s, off, size_of::<Node<T>>(), align_of::<Node<T>>());
    }

    /// Adds `value` at the back.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full (the list is unchanged, `value`
    /// dropped); [`ErrorKind::Corrupted`] if the tail is corrupt; as
    /// [`with_iter`](Self::with_iter) if the list cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<[u8; 1000]>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// while l.try_push_back([1; 1000]).is_ok() {}
    /// assert_eq!(l.try_push_back([0; 1000]).unwrap_err().kind(), ErrorKind::OutOfMemory);
    /// assert!(l.iter().all(|x| x[0] == 1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_push_back(&mut self, value: impl IntoSegment<T>) -> Result<()> {
        self.with_seg(|l, s| l.link_end(s, value, true))
    }

    /// Adds `value` at the front.
    ///
    /// # Errors
    ///
    /// As [`try_push_back`](Self::try_push_back).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.try_push_front(2)?;
    /// l.try_push_front(1)?;
    /// assert_eq!(*l, [1, 2]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_push_front(&mut self, value: impl IntoSegment<T>) -> Result<()> {
        self.with_seg(|l, s| l.link_end(s, value, false))
    }

    /// Links a new node at the back (`back`) or the front.
    fn link_end(
        &mut self,
        s: &SegmentRef<'_>,
        value: impl IntoSegment<T>,
        back: bool,
    ) -> Result<()> {
        let (end, other) = if back {
            (&self.tail, &self.head)
        } else {
            (&self.head, &self.tail)
        };
        // Check the end node before allocating.
        let end_node = match end.offset() {
            Some(off) => {
                let p = node_ptr::<T>(s, off)?;
                // SAFETY: a checked node; links only.
                let (next, prev) = unsafe { links(p) };
                let outward = if back { next } else { prev };
                if !outward.is_null() || self.len == 0 {
                    return Err(corrupt("its end node links beyond the end"));
                }
                Some((off, p))
            }
            None if self.len == 0 && other.is_null() => None,
            None => return Err(corrupt("a non-empty list without an end node")),
        };
        if self.len == usize::MAX {
            return Err(Error::new(ErrorKind::OutOfMemory, "length overflow"));
        }
        let value = value.into_segment(s)?;
        let (off, p) = self.alloc_node(s, value)?;
        // SAFETY: the new node, checked and exclusively ours.
        let (new_next, new_prev) = unsafe { links(p) };
        self.seg.store_id(s.id());
        match end_node {
            Some((end_off, end_p)) => {
                // SAFETY: checked above.
                let (end_next, end_prev) = unsafe { links(end_p) };
                if back {
                    new_prev.set_offset(end_off);
                    end_next.set_offset(off);
                } else {
                    new_next.set_offset(end_off);
                    end_prev.set_offset(off);
                }
            }
            None => {
                let other = if back { &self.head } else { &self.tail };
                other.set_offset(off);
            }
        }
        let end = if back { &self.tail } else { &self.head };
        end.set_offset(off);
        self.len += 1;
        Ok(())
    }

    /// Adds `value` at the back; panics where [`try_push_back`](Self::try_push_back) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// m.lock().unwrap().push_back(1);
    /// assert_eq!(m.lock().unwrap().back(), Some(&1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn push_back(&mut self, value: impl IntoSegment<T>) {
        self.try_push_back(value).unwrap_or_else(|e| fail(e));
    }

    /// Adds `value` at the front; panics where [`try_push_front`](Self::try_push_front)
    /// fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// m.lock().unwrap().push_front(1);
    /// assert_eq!(m.lock().unwrap().front(), Some(&1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn push_front(&mut self, value: impl IntoSegment<T>) {
        self.try_push_front(value).unwrap_or_else(|e| fail(e));
    }

    /// Unlinks the end node (back or front) and returns its value.
    fn unlink_end(&mut self, s: &SegmentRef<'_>, back: bool) -> Result<T> {
        let end = if back { &self.tail } else { &self.head };
        let off = end
            .offset()
            .ok_or_else(|| corrupt("a non-empty list without an end"))?;
        let p = node_ptr::<T>(s, off)?;
        // SAFETY: a checked node; links only.
        let (next, prev) = unsafe { links(p) };
        let (outward, inward) = if back { (next, prev) } else { (prev, next) };
        if !outward.is_null() {
            return Err(corrupt("its end node links beyond the end"));
        }
        match inward.offset() {
            Some(n_off) => {
                let other = if back { &self.head } else { &self.tail };
                if self.len < 2 || other.offset() == Some(off) || n_off == off {
                    return Err(corrupt("its ends disagree with its length"));
                }
                let np = node_ptr::<T>(s, n_off)?;
                // SAFETY: a checked node; links only.
                let (n_next, n_prev) = unsafe { links(np) };
                let back_link = if back { n_next } else { n_prev };
                if back_link.offset() != Some(off) {
                    return Err(corrupt("its end node's neighbour does not link back"));
                }
                back_link.set_null();
                end.set_offset(n_off);
            }
            None => {
                let other = if back { &self.head } else { &self.tail };
                if self.len != 1 || other.offset() != Some(off) {
                    return Err(corrupt("its only node is not both head and tail"));
                }
                self.head.set_null();
                self.tail.set_null();
            }
        }
        self.len -= 1;
        // SAFETY: the node is unlinked (no longer reachable from the list): its initialised
        // value is read once, then the block freed.
        let value = unsafe { std::ptr::addr_of!((*p).value).read() };
        self.free_node(s, off);
        Ok(value)
    }

    /// Removes and returns the first element (moved out of the segment).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if the first links are inconsistent (nothing changes); as
    /// [`with_iter`](Self::with_iter) if the list cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.push_back(1);
    /// assert_eq!(l.try_pop_front()?, Some(1));
    /// assert_eq!(l.try_pop_front()?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_pop_front(&mut self) -> Result<Option<T>> {
        if self.len == 0 {
            return Ok(None);
        }
        self.with_seg(|l, s| l.unlink_end(s, false)).map(Some)
    }

    /// Removes and returns the last element.
    ///
    /// # Errors
    ///
    /// As [`try_pop_front`](Self::try_pop_front).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.extend([1, 2]);
    /// assert_eq!(l.try_pop_back()?, Some(2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_pop_back(&mut self) -> Result<Option<T>> {
        if self.len == 0 {
            return Ok(None);
        }
        self.with_seg(|l, s| l.unlink_end(s, true)).map(Some)
    }

    /// Removes and returns the first element; panics where
    /// [`try_pop_front`](Self::try_pop_front) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.extend([1, 2]);
    /// assert_eq!(l.pop_front(), Some(1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_front(&mut self) -> Option<T> {
        self.try_pop_front().unwrap_or_else(|e| fail(e))
    }

    /// Removes and returns the last element; panics where
    /// [`try_pop_back`](Self::try_pop_back) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.extend([1, 2]);
    /// assert_eq!(l.pop_back(), Some(2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_back(&mut self) -> Option<T> {
        self.try_pop_back().unwrap_or_else(|e| fail(e))
    }

    /// The value of end node `end` (checked), if the list is inside its segment.
    fn end_value(&self, end: &RelPtr<Node<T>>) -> Result<Option<*mut T>> {
        if self.len == 0 {
            return Ok(None);
        }
        let s = self.resident()?;
        let off = end
            .offset()
            .ok_or_else(|| corrupt("a non-empty list without an end"))?;
        let p = node_ptr::<T>(&s, off)?;
        // SAFETY: a checked node; only the field's address is computed.
        Ok(Some(unsafe { std::ptr::addr_of_mut!((*p).value) }))
    }

    /// The first element.
    ///
    /// # Panics
    ///
    /// If the list is not inside its segment (see [`try_iter`](Self::try_iter)).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let l = seg.construct("l", LinkedList::<u8>::from_iter_in([1, 2], &*seg))?;
    /// assert_eq!(l.front(), Some(&1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn front(&self) -> Option<&T> {
        let p = self.end_value(&self.head).unwrap_or_else(|e| fail(e));
        // SAFETY: the first node's value: initialised, inside the mapping, which outlives
        // `&self` (the header lies in it); `&self` keeps this process from mutating it.
        p.map(|p| unsafe { &*p })
    }

    /// The last element.
    ///
    /// # Panics
    ///
    /// As [`front`](Self::front).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let l = seg.construct("l", LinkedList::<u8>::from_iter_in([1, 2], &*seg))?;
    /// assert_eq!(l.back(), Some(&2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn back(&self) -> Option<&T> {
        let p = self.end_value(&self.tail).unwrap_or_else(|e| fail(e));
        // SAFETY: as in `front`.
        p.map(|p| unsafe { &*p })
    }

    /// The first element, mutably.
    ///
    /// # Panics
    ///
    /// As [`front`](Self::front).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.push_back(1);
    /// *l.front_mut().unwrap() = 5;
    /// assert_eq!(l.front(), Some(&5));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn front_mut(&mut self) -> Option<&mut T> {
        let p = self.end_value(&self.head).unwrap_or_else(|e| fail(e));
        // SAFETY: as in `front`; `&mut self` is exclusive.
        p.map(|p| unsafe { &mut *p })
    }

    /// The last element, mutably.
    ///
    /// # Panics
    ///
    /// As [`front`](Self::front).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.extend([1, 2]);
    /// *l.back_mut().unwrap() = 5;
    /// assert_eq!(*l, [1, 5]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn back_mut(&mut self) -> Option<&mut T> {
        let p = self.end_value(&self.tail).unwrap_or_else(|e| fail(e));
        // SAFETY: as in `front_mut`.
        p.map(|p| unsafe { &mut *p })
    }

    /// A front-to-back iterator over references (double-ended, exact size), if the list is
    /// inside its segment and its chain is sound (checked first, O(len)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the list is not inside a segment (moved out) or was
    /// moved into another one; [`ErrorKind::Corrupted`] for a broken chain (a cycle, a bad
    /// link, a length that does not match).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let l = seg.construct("l", LinkedList::<u8>::from_iter_in([1, 2], &*seg))?;
    /// assert_eq!(l.try_iter()?.rev().copied().collect::<std::vec::Vec<_>>(), [2, 1]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_iter(&self) -> Result<Iter<'_, T>> {
        if self.len == 0 && self.head.is_null() {
            return Ok(Iter {
                raw: RawIter::empty(),
                _life: PhantomData,
            });
        }
        let s = self.resident()?;
        Ok(Iter {
            raw: self.raw_iter(s)?,
            _life: PhantomData,
        })
    }

    /// A front-to-back iterator over references; panics where [`try_iter`](Self::try_iter)
    /// fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let l = seg.construct("l", LinkedList::<u8>::from_iter_in([1, 2, 3], &*seg))?;
    /// assert_eq!(l.iter().sum::<u8>(), 6);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        self.try_iter().unwrap_or_else(|e| fail(e))
    }

    /// A front-to-back iterator over mutable references.
    ///
    /// # Panics
    ///
    /// Where [`try_iter`](Self::try_iter) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.extend([1, 2]);
    /// for x in l.iter_mut() {
    ///     *x *= 10;
    /// }
    /// assert_eq!(*l, [10, 20]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter_mut(&mut self) -> IterMut<'_, T> {
        if self.len == 0 && self.head.is_null() {
            return IterMut {
                raw: RawIter::empty(),
                _life: PhantomData,
            };
        }
        let raw = self
            .resident()
            .and_then(|s| self.raw_iter(s))
            .unwrap_or_else(|e| fail(e));
        IterMut {
            raw,
            _life: PhantomData,
        }
    }

    /// Runs `f` on an iterator over the elements wherever the list is: inside its segment, or
    /// moved out of it (the segment must then be mapped exactly once in this process; it stays
    /// mapped while `f` runs).
    ///
    /// # Errors
    ///
    /// As [`try_iter`](Self::try_iter), except that a list moved out of its segment works.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let l = LinkedList::<u8>::from_iter_in([1, 2, 3], &*seg); // on the stack
    /// assert_eq!(l.with_iter(|it| it.max().copied())?, Some(3));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_iter<R>(&self, f: impl FnOnce(Iter<'_, T>) -> R) -> Result<R> {
        if self.len == 0 && self.head.is_null() {
            return Ok(f(Iter {
                raw: RawIter::empty(),
                _life: PhantomData,
            }));
        }
        self.with_seg_ref(|s| {
            // SAFETY: the mapping stays mapped (borrowed or pinned) while `f` runs, and the
            // iterator cannot outlive `f`'s call (its lifetime is local to this closure).
            let s = unsafe { s.detach_lifetime() };
            let raw = self.raw_iter(s)?;
            Ok(f(Iter {
                raw,
                _life: PhantomData,
            }))
        })
    }

    /// Whether some element equals `x` (also for a list moved out of its segment).
    ///
    /// # Panics
    ///
    /// Where [`with_iter`](Self::with_iter) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let l = LinkedList::<u8>::from_iter_in([1, 2], &*seg);
    /// assert!(l.contains(&2) && !l.contains(&3));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn contains(&self, x: &T) -> bool
    where
        T: PartialEq,
    {
        self.with_iter(|mut it| it.any(|y| y == x))
            .unwrap_or_else(|e| fail(e))
    }

    /// Moves every element of `other` to the end of this list, in O(1) (relinking the nodes);
    /// `other` is left empty. Both must belong to the same segment.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if they belong to different segments or this list cannot
    /// reach its segment; [`ErrorKind::Corrupted`] for inconsistent end links. Nothing moves
    /// on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.extend([1, 2]);
    /// let mut more = LinkedList::<u8>::from_iter_in([3, 4], &*seg);
    /// l.try_append(&mut more)?;
    /// assert!(more.is_empty());
    /// assert_eq!(*l, [1, 2, 3, 4]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_append(&mut self, other: &mut LinkedList<T, A>) -> Result<()> {
        if other.len == 0 && other.head.is_null() {
            return Ok(());
        }
        let Some(oid) = other.seg.id() else {
            return Err(corrupt("a non-empty list tied to no segment"));
        };
        if self.seg.id().is_none() && self.len == 0 && !matches!(self.place()?, Where::Resident(_))
        {
            self.seg.store_id(oid);
        }
        self.with_seg(|l, s| {
            if s.id() != oid {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "cannot append a list of another segment",
                ));
            }
            let o_head = other
                .head
                .offset()
                .ok_or_else(|| corrupt("a non-empty list without a head"))?;
            let o_tail = other
                .tail
                .offset()
                .ok_or_else(|| corrupt("a non-empty list without a tail"))?;
            let ohp = node_ptr::<T>(s, o_head)?;
            // SAFETY: checked node; links only.
            let (_, oh_prev) = unsafe { links(ohp) };
            if !oh_prev.is_null() {
                return Err(corrupt("its head links backwards"));
            }
            let total = l
                .len
                .checked_add(other.len)
                .ok_or_else(|| corrupt("lengths overflow"))?;
            match l.tail.offset() {
                Some(t) => {
                    let tp = node_ptr::<T>(s, t)?;
                    // SAFETY: checked node; links only.
                    let (t_next, _) = unsafe { links(tp) };
                    if !t_next.is_null() {
                        return Err(corrupt("its tail links beyond the end"));
                    }
                    t_next.set_offset(o_head);
                    oh_prev.set_offset(t);
                }
                None => {
                    if l.len != 0 || !l.head.is_null() {
                        return Err(corrupt("a non-empty list without a tail"));
                    }
                    l.head.set_offset(o_head);
                }
            }
            l.seg.store_id(s.id());
            l.tail.set_offset(o_tail);
            l.len = total;
            other.head.set_null();
            other.tail.set_null();
            other.len = 0;
            Ok(())
        })
    }

    /// Moves every element of `other` to the end of this list; panics where
    /// [`try_append`](Self::try_append) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let mut a = LinkedList::<u8>::from_iter_in([1], &*seg);
    /// let mut b = LinkedList::<u8>::from_iter_in([2], &*seg);
    /// a.append(&mut b);
    /// assert_eq!(a.len(), 2);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn append(&mut self, other: &mut LinkedList<T, A>) {
        self.try_append(other).unwrap_or_else(|e| fail(e));
    }

    /// Removes every element. A corrupt chain is left alone (its nodes leak) and the list
    /// emptied.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.extend([1, 2]);
    /// l.clear();
    /// assert!(l.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn clear(&mut self) {
        if self.len == 0 && self.head.is_null() {
            return;
        }
        let r = self.with_seg(|l, s| l.free(s));
        if r.is_err() {
            self.head.set_null();
            self.tail.set_null();
            self.len = 0;
        }
    }

    /// Frees every node: the header is emptied first, then the (validated) chain is walked.
    fn free(&mut self, s: &SegmentRef<'_>) -> Result<()> {
        self.validate(s)?;
        let mut cur = self.head.offset();
        let mut n = self.len;
        self.head.set_null();
        self.tail.set_null();
        self.len = 0;
        while let Some(off) = cur {
            if n == 0 {
                break;
            }
            n -= 1;
            let p = node_ptr::<T>(s, off)?;
            // SAFETY: a node of the validated chain, no longer reachable from the header:
            // its link is read, its value dropped once, then it is freed.
            unsafe {
                cur = (*p).next.offset();
                std::ptr::drop_in_place(std::ptr::addr_of_mut!((*p).value));
            }
            self.free_node(s, off);
        }
        Ok(())
    }

    /// Keeps the elements for which `keep` returns `true`, in order (each removed node is
    /// unlinked, then its value dropped, then freed, so a panic in `keep` or a destructor
    /// leaves a consistent list).
    ///
    /// # Panics
    ///
    /// If the list cannot reach its segment or its chain is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.extend(1..=6);
    /// l.retain(|x| x % 3 != 0);
    /// assert_eq!(*l, [1, 2, 4, 5]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.retain_mut(|x| keep(x));
    }

    /// [`retain`](Self::retain) with `&mut` access to each element.
    ///
    /// # Panics
    ///
    /// As [`retain`](Self::retain).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::LinkedList;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
    /// let mut l = m.lock().unwrap();
    /// l.extend(1..=3);
    /// l.retain_mut(|x| { *x += 1; *x != 3 });
    /// assert_eq!(*l, [2, 4]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain_mut(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        if self.len == 0 {
            return;
        }
        self.with_seg(|l, s| {
            l.validate(s)?;
            let mut cur = l.head.offset();
            let mut n = l.len;
            while let Some(off) = cur {
                if n == 0 {
                    break;
                }
                n -= 1;
                let p = node_ptr::<T>(s, off)?;
                // SAFETY: a node of the validated chain (still linked while `keep` runs);
                // `&mut self` is exclusive.
                let (next, prev) = unsafe { links(p) };
                cur = next.offset();
                // SAFETY: as above; the value is initialised.
                if keep(unsafe { &mut *std::ptr::addr_of_mut!((*p).value) }) {
                    continue;
                }
                // Unlink: neighbours (validated) or the header's ends.
                match prev.offset() {
                    // SAFETY: a node of the validated chain.
                    Some(q) => unsafe { links(node_ptr::<T>(s, q)?).0 }.set_from_opt(cur),
                    None => l.head.set_from_opt(cur),
                }
                match cur {
                    // SAFETY: a node of the validated chain.
                    Some(q) => unsafe { links(node_ptr::<T>(s, q)?).1 }.set_from_opt(prev.offset()),
                    None => l.tail.set_from_opt(prev.offset()),
                }
                l.len -= 1;
                // SAFETY: the node is unlinked: its value is dropped once, then it is freed.
                unsafe { std::ptr::drop_in_place(std::ptr::addr_of_mut!((*p).value)) };
                l.free_node(s, off);
            }
            Ok(())
        })
        .unwrap_or_else(|e| fail(e));
    }
}

/// Setting a link from an optional offset.
trait SetOpt {
    fn set_from_opt(&self, off: Option<u64>);
}

impl<T> SetOpt for RelPtr<T> {
    #[inline]
    fn set_from_opt(&self, off: Option<u64>) {
        match off {
            Some(o) => self.set_offset(o),
            None => self.set_null(),
        }
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Drop for LinkedList<T, A> {
    /// Drops the elements and frees the nodes; leaks them if the list cannot reach its segment
    /// or its chain is corrupt. Never panics on its own account.
    fn drop(&mut self) {
        if self.len == 0 && self.head.is_null() {
            return;
        }
        let _ = self.with_seg(|l, s| l.free(s));
    }
}

impl<T: ShmSafe + Unpin> Default for LinkedList<T> {
    fn default() -> LinkedList<T> {
        LinkedList::new()
    }
}

/// A walk over a validated chain: bounded by `remaining`, each step checked against the
/// mapping (the chain was validated, so the front and back never cross).
struct RawIter<'a, T> {
    s: Option<SegmentRef<'a>>,
    front: Option<u64>,
    back: Option<u64>,
    remaining: usize,
    _t: PhantomData<*mut T>,
}

impl<T> RawIter<'_, T> {
    fn empty() -> Self {
        RawIter {
            s: None,
            front: None,
            back: None,
            remaining: 0,
            _t: PhantomData,
        }
    }

    fn step(&mut self, back: bool) -> Option<*mut T> {
        if self.remaining == 0 {
            return None;
        }
        let cur = if back { self.back } else { self.front };
        let off = cur.unwrap_or_else(|| fail(corrupt("a link ended early")));
        let s = self.s.as_ref()?;
        let p = node_ptr::<T>(s, off).unwrap_or_else(|e| fail(e));
        // SAFETY: a checked node of the validated chain; links only.
        let (next, prev) = unsafe { links(p) };
        if back {
            self.back = prev.offset();
        } else {
            self.front = next.offset();
        }
        self.remaining -= 1;
        // SAFETY: a checked node; only the field's address is computed.
        Some(unsafe { std::ptr::addr_of_mut!((*p).value) })
    }
}

/// An iterator over a [`LinkedList`]'s elements, from [`LinkedList::iter`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::{LinkedList, linked_list::Iter};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let l = seg.construct("l", LinkedList::<u8>::from_iter_in([1, 2, 3], &*seg))?;
/// let mut it: Iter<'_, u8> = l.iter();
/// assert_eq!((it.next(), it.next_back(), it.len()), (Some(&1), Some(&3), 1));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Iter<'a, T> {
    raw: RawIter<'a, T>,
    _life: PhantomData<&'a T>,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        // SAFETY: a value of the validated chain, visited once, inside the mapping that lives
        // for `'a`; shared access.
        self.raw.step(false).map(|p| unsafe { &*p })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.raw.remaining, Some(self.raw.remaining))
    }
}

impl<T> DoubleEndedIterator for Iter<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        // SAFETY: as in `next`.
        self.raw.step(true).map(|p| unsafe { &*p })
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}
impl<T> std::iter::FusedIterator for Iter<'_, T> {}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iter {{ remaining: {} }}", self.raw.remaining)
    }
}

/// An iterator over mutable references to a [`LinkedList`]'s elements, from
/// [`LinkedList::iter_mut`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{LinkedList, linked_list::IterMut};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("l", Mutex::new(LinkedList::<u8>::new()))?;
/// let mut l = m.lock().unwrap();
/// l.extend([1, 2]);
/// let it: IterMut<'_, u8> = l.iter_mut();
/// it.rev().for_each(|x| *x += 1);
/// assert_eq!(*l, [2, 3]);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct IterMut<'a, T> {
    raw: RawIter<'a, T>,
    _life: PhantomData<&'a mut T>,
}

impl<'a, T> Iterator for IterMut<'a, T> {
    type Item = &'a mut T;

    fn next(&mut self) -> Option<&'a mut T> {
        // SAFETY: a value of the validated chain (distinct nodes, each visited once from either
        // end), inside the mapping that lives for `'a`; the list is borrowed mutably.
        self.raw.step(false).map(|p| unsafe { &mut *p })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.raw.remaining, Some(self.raw.remaining))
    }
}

impl<T> DoubleEndedIterator for IterMut<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        // SAFETY: as in `next`.
        self.raw.step(true).map(|p| unsafe { &mut *p })
    }
}

impl<T> ExactSizeIterator for IterMut<'_, T> {}
impl<T> std::iter::FusedIterator for IterMut<'_, T> {}

impl<T> fmt::Debug for IterMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IterMut {{ remaining: {} }}", self.raw.remaining)
    }
}

impl<'a, T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for &'a LinkedList<T, A> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<'a, T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for &'a mut LinkedList<T, A> {
    type Item = &'a mut T;
    type IntoIter = IterMut<'a, T>;

    fn into_iter(self) -> IterMut<'a, T> {
        self.iter_mut()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for LinkedList<T, A> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    /// Moves the elements out of the segment (front to back, into a process-local vector) and
    /// frees the nodes; works inside the segment or moved out of it.
    ///
    /// # Panics
    ///
    /// If the list cannot reach its segment or its chain is corrupt.
    fn into_iter(mut self) -> std::vec::IntoIter<T> {
        if self.len == 0 {
            return std::vec::Vec::new().into_iter();
        }
        self.with_seg(|l, s| {
            l.validate(s)?;
            let mut out = std::vec::Vec::with_capacity(l.len);
            while l.len > 0 {
                out.push(l.unlink_end(s, false)?);
            }
            Ok(out)
        })
        .unwrap_or_else(|e| fail(e))
        .into_iter()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Extend<T> for LinkedList<T, A> {
    /// # Panics
    ///
    /// Where [`push_back`](LinkedList::push_back) panics.
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for x in iter {
            self.push_back(x);
        }
    }
}

impl<'a, T: ShmSafe + Unpin + Copy, A: ShmAlloc> Extend<&'a T> for LinkedList<T, A> {
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied());
    }
}

impl<T: ShmSafe + Unpin + fmt::Debug, A: ShmAlloc> fmt::Debug for LinkedList<T, A> {
    /// Formats the elements, also for a list moved out of its segment (while the segment is
    /// mapped once here); otherwise a placeholder with the length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.with_iter(|it| f.debug_list().entries(it).finish()) {
            Ok(r) => r,
            Err(e) => write!(f, "LinkedList {{ len: {}, <{}> }}", self.len, e.kind()),
        }
    }
}

impl<T: ShmSafe + Unpin + Clone, A: ShmAlloc + Clone> Clone for LinkedList<T, A> {
    /// A copy in the same segment (returned outside it).
    ///
    /// # Panics
    ///
    /// If the segment is full, or the list cannot reach its segment or is corrupt.
    fn clone(&self) -> LinkedList<T, A> {
        let mut out = LinkedList::new_with(self.alloc.clone());
        if let Some(id) = self.seg.id() {
            out.seg.store_id(id);
        }
        if self.len == 0 {
            return out;
        }
        let items: std::vec::Vec<T> = self
            .with_iter(|it| it.cloned().collect())
            .unwrap_or_else(|e| fail(e));
        for x in items {
            out.push_back(x);
        }
        out
    }
}

impl<T, U, A, B> PartialEq<LinkedList<U, B>> for LinkedList<T, A>
where
    T: ShmSafe + Unpin + PartialEq<U>,
    U: ShmSafe + Unpin,
    A: ShmAlloc,
    B: ShmAlloc,
{
    fn eq(&self, other: &LinkedList<U, B>) -> bool {
        self.len == other.len && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl<T: ShmSafe + Unpin + PartialEq<U>, U, A: ShmAlloc> PartialEq<std::collections::LinkedList<U>>
    for LinkedList<T, A>
{
    fn eq(&self, other: &std::collections::LinkedList<U>) -> bool {
        self.len == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl<T: ShmSafe + Unpin + PartialEq<U>, U, A: ShmAlloc> PartialEq<[U]> for LinkedList<T, A> {
    fn eq(&self, other: &[U]) -> bool {
        self.len == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl<T: ShmSafe + Unpin + PartialEq<U>, U, A: ShmAlloc, const N: usize> PartialEq<[U; N]>
    for LinkedList<T, A>
{
    fn eq(&self, other: &[U; N]) -> bool {
        self == &other[..]
    }
}

impl<T: ShmSafe + Unpin + Eq, A: ShmAlloc> Eq for LinkedList<T, A> {}

impl<T: ShmSafe + Unpin + Hash, A: ShmAlloc> Hash for LinkedList<T, A> {
    /// Hashes the length, then each element.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len);
        self.iter().for_each(|x| x.hash(state));
    }
}

impl<T: ShmSafe + Unpin, U: IntoSegment<T>, A: ShmAlloc + Default> IntoSegment<LinkedList<T, A>>
    for std::collections::LinkedList<U>
{
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<LinkedList<T, A>> {
        let mut l = LinkedList::new_with(A::default());
        l.seg.store_id(seg.id());
        for x in self {
            l.link_end(seg, x, true)?;
        }
        Ok(l)
    }
}

//! [`VecDeque`]: a double-ended queue (a ring buffer) in a managed segment, and its
//! iterators.
#![allow(unsafe_code)]

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::MaybeUninit;
use std::ops::{Index, IndexMut, RangeBounds};

use super::segment_ref::{AsSegment, SegmentAlloc, SegmentRef, ShmAlloc};
use super::{IntoSegment, Where, fail};
use crate::error::{Error, ErrorKind, Result};
use crate::ptr::{RelPtr, SegmentBase};
use crate::shm_safe::ShmSafe;

/// A double-ended queue whose header and ring buffer live in a managed segment, shared by every
/// process that maps it: `std::collections::VecDeque`'s API, with the segment as its allocator.
///
/// The header (40 bytes plus the allocator) holds the segment's id, the buffer's offset, the
/// capacity, the index of the first element and the length; it may move anywhere inside its
/// segment. As for every collection (see the [module docs](crate::collections)), inside its
/// segment it lends references (`dq[0]`, `front`, `iter`, `as_slices`); moved out of it (popped,
/// taken, cloned, [`new_in`](VecDeque::new_in)) it can be changed, dropped, iterated by value and
/// read through [`with_slices`](VecDeque::with_slices); moved into another segment, every
/// operation is an error (a panic from the non-`try_` methods).
///
/// A header is checked on every use (capacity, first index and length consistent, the buffer
/// inside the mapping), so a corrupt header is [`ErrorKind::Corrupted`] or a panic naming it.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::VecDeque;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let q = seg.construct("jobs", Mutex::new(VecDeque::<u32>::new()))?;
/// let mut q = q.lock().unwrap();
/// q.push_back(2);
/// q.push_back(3);
/// q.push_front(1);
/// assert_eq!(q.iter().copied().collect::<std::vec::Vec<_>>(), [1, 2, 3]);
/// assert_eq!(q.pop_front(), Some(1));
/// assert_eq!(q.back(), Some(&3));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct VecDeque<T: ShmSafe + Unpin, A: ShmAlloc = SegmentAlloc> {
    seg: SegmentBase,
    buf: RelPtr<T>,
    cap: usize,
    head: usize,
    len: usize,
    alloc: A,
}

// SAFETY: repr(C) of `ShmSafe` fields (atomics for the id and offset, integers, the allocator):
// any bit pattern is a value, and every use checks it (the id against the mapping the header
// lies in, `head < cap` and `len <= cap`, the buffer's range and alignment against the mapping),
// so a garbage header is an error, never an access outside the segment. No addresses. Send +
// Sync as its fields. Its drop frees segment memory, which only leaks when skipped.
unsafe impl<T: ShmSafe + Unpin, A: ShmAlloc> ShmSafe for VecDeque<T, A> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::VecDeque"),
        crate::fingerprint::combine(T::FINGERPRINT, A::FINGERPRINT),
    );
}

/// The ring buffer of one operation: its checked base address and geometry.
struct Ring<T> {
    p: *mut T,
    cap: usize,
    head: usize,
}

impl<T> Clone for Ring<T> {
    fn clone(&self) -> Ring<T> {
        *self
    }
}

impl<T> Copy for Ring<T> {}

impl<T> Ring<T> {
    /// Slot of logical index `i` (`i < cap`; any `i` for zero-sized `T`).
    #[inline]
    fn slot(self, i: usize) -> *mut T {
        if size_of::<T>() == 0 {
            return self.p;
        }
        let j = self.head + i;
        let j = if j >= self.cap { j - self.cap } else { j };
        // SAFETY: `head < cap` and `i < cap` (checked by the callers), so `j < cap`: inside the
        // checked buffer of `cap` elements.
        unsafe { self.p.add(j) }
    }
}

impl<T: ShmSafe + Unpin> VecDeque<T> {
    /// An empty deque, not yet tied to a segment (nothing is allocated): construct it in a
    /// segment, or store it in a collection there, and it allocates from that segment.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: shmkit::collections::VecDeque<u8> = shmkit::collections::VecDeque::new();
    /// assert!(q.is_empty());
    /// ```
    pub const fn new() -> VecDeque<T> {
        VecDeque::new_with(SegmentAlloc)
    }

    /// An empty deque tied to `seg` (nothing allocated yet).
    ///
    /// # Panics
    ///
    /// If `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let mut q = VecDeque::<u8>::new_in(&*seg);
    /// q.push_back(1);
    /// let q = seg.construct("q", q)?;
    /// assert_eq!(q[0], 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(seg: &impl AsSegment) -> VecDeque<T> {
        Self::with_capacity_in(0, seg)
    }

    /// An empty deque tied to `seg` with room for `capacity` elements.
    ///
    /// # Panics
    ///
    /// Where [`try_with_capacity_in`](Self::try_with_capacity_in) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert!(VecDeque::<u64>::with_capacity_in(10, &*seg).capacity() >= 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_capacity_in(capacity: usize, seg: &impl AsSegment) -> VecDeque<T> {
        Self::try_with_capacity_in(capacity, seg).unwrap_or_else(|e| fail(e))
    }

    /// [`with_capacity_in`](Self::with_capacity_in), returning errors.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full; as [`AsSegment::segment`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let e = VecDeque::<u64>::try_with_capacity_in(1 << 20, &*seg).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_with_capacity_in(capacity: usize, seg: &impl AsSegment) -> Result<VecDeque<T>> {
        VecDeque::try_with_capacity_in_alloc(capacity, seg, SegmentAlloc)
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> VecDeque<T, A> {
    /// An empty deque with allocator `alloc`, not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{SegmentAlloc, VecDeque};
    /// let q: VecDeque<u8> = VecDeque::new_with(SegmentAlloc);
    /// assert_eq!(q.len(), 0);
    /// ```
    pub const fn new_with(alloc: A) -> VecDeque<T, A> {
        VecDeque {
            seg: SegmentBase::unbound(),
            buf: RelPtr::null(),
            cap: 0,
            head: 0,
            len: 0,
            alloc,
        }
    }

    /// [`try_with_capacity_in`](VecDeque::try_with_capacity_in) with allocator `alloc`.
    ///
    /// # Errors
    ///
    /// As [`try_with_capacity_in`](VecDeque::try_with_capacity_in).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::{SegmentAlloc, VecDeque};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let q = VecDeque::<u8>::try_with_capacity_in_alloc(4, &*seg, SegmentAlloc)?;
    /// assert!(q.capacity() >= 4);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_with_capacity_in_alloc(
        capacity: usize,
        seg: &impl AsSegment,
        alloc: A,
    ) -> Result<VecDeque<T, A>> {
        let s = seg.segment()?;
        let mut q = VecDeque::new_with(alloc);
        q.seg.store_id(s.id());
        if capacity > 0 {
            q.grow_to(&s, capacity)?;
        }
        Ok(q)
    }

    /// The number of elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::collections::VecDeque::<u8>::new().len(), 0);
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
    /// assert!(shmkit::collections::VecDeque::<u8>::new().is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many elements fit before it reallocates.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::collections::VecDeque::<u8>::new().capacity(), 0);
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        if size_of::<T>() == 0 {
            usize::MAX
        } else {
            self.cap
        }
    }

    /// The allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{SegmentAlloc, VecDeque};
    /// assert_eq!(*VecDeque::<u8>::new().allocator(), SegmentAlloc);
    /// ```
    pub fn allocator(&self) -> &A {
        &self.alloc
    }

    #[inline]
    fn place(&self) -> Result<Where<'_>> {
        Where::of(self, &self.seg)
    }

    /// Runs `f` with the segment this deque belongs to (see `Vec::with_seg`).
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

    /// Checks the header's geometry.
    #[inline]
    fn check(&self) -> Result<()> {
        let ok = if size_of::<T>() == 0 {
            self.head == 0
        } else if self.cap == 0 {
            self.head == 0 && self.len == 0
        } else {
            self.head < self.cap && self.len <= self.cap
        };
        if ok {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Corrupted,
                format!(
                    "a deque of {} elements starting at {} with capacity {}",
                    self.len, self.head, self.cap
                ),
            ))
        }
    }

    /// The checked ring of segment `s`.
    #[inline]
    fn ring(&self, s: &SegmentRef<'_>) -> Result<Ring<T>> {
        self.check()?;
        let p = if size_of::<T>() == 0 {
            std::ptr::NonNull::dangling().as_ptr()
        } else {
            match self.buf.offset() {
                Some(off) => s.ptr::<T>(off, self.cap)?,
                None if self.cap == 0 => std::ptr::NonNull::dangling().as_ptr(),
                None => {
                    return Err(Error::new(
                        ErrorKind::Corrupted,
                        format!("a deque of capacity {} has no buffer", self.cap),
                    ));
                }
            }
        };
        Ok(Ring {
            p,
            cap: self.cap,
            head: self.head,
        })
    }

    /// The ring, if the deque is inside its segment (references from it may borrow `self`).
    #[inline]
    fn resident_ring(&self) -> Result<Ring<T>> {
        match self.place()? {
            Where::Resident(s) => self.ring(&s),
            Where::Detached(_) | Where::Unbound => Err(super::detached_access(self)),
        }
    }

    /// The two contiguous runs of elements of ring `r`, as raw slices.
    #[inline]
    fn runs(&self, r: Ring<T>) -> (*mut [T], *mut [T]) {
        if size_of::<T>() == 0 {
            return (
                std::ptr::slice_from_raw_parts_mut(r.p, self.len),
                std::ptr::slice_from_raw_parts_mut(r.p, 0),
            );
        }
        let first = self.len.min(r.cap - r.head);
        (
            std::ptr::slice_from_raw_parts_mut(r.slot(0), first),
            std::ptr::slice_from_raw_parts_mut(r.p, self.len - first),
        )
    }

    /// Reallocates to room for `new_cap` elements (at least `len`), the elements moved to the
    /// start of the new buffer. The old buffer is freed after the header points at the new one.
    fn grow_to(&mut self, s: &SegmentRef<'_>, new_cap: usize) -> Result<()> {
        if size_of::<T>() == 0 || new_cap == self.cap {
            return Ok(());
        }
        let r = self.ring(s)?;
        let size = size_of::<T>();
        let bytes = new_cap
            .checked_mul(size)
            .filter(|b| *b <= isize::MAX as usize)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::OutOfMemory,
                    format!("a deque of {new_cap} elements of {size} bytes fits no segment"),
                )
            })?;
        let new = if new_cap == 0 {
            None
        } else {
            let off = self.alloc.allocate(s, bytes, align_of::<T>())?;
            let dst = match s.ptr::<T>(off, new_cap) {
                Ok(p) => p,
                Err(e) => {
                    let _ = self.alloc.deallocate(s, off, bytes, align_of::<T>());
                    return Err(e);
                }
            };
            let (a, b) = self.runs(r);
            // SAFETY: the runs are the `len <= new_cap` initialised elements of the checked old
            // buffer; `dst` is a distinct checked block of `new_cap`. Moved bitwise (`T:
            // Unpin`); the old copies are never used again.
            unsafe {
                std::ptr::copy_nonoverlapping(a.cast::<T>(), dst, a.len());
                std::ptr::copy_nonoverlapping(b.cast::<T>(), dst.add(a.len()), b.len());
            }
            Some(off)
        };
        let old = self.buf.offset();
        self.seg.store_id(s.id());
        match new {
            Some(off) => self.buf.set_offset(off),
            None => self.buf.set_null(),
        }
        let old_cap = std::mem::replace(&mut self.cap, new_cap);
        self.head = 0;
        if let Some(old) = old {
            let _ = self
                .alloc
                .deallocate(s, old, old_cap * size, align_of::<T>());
        }
        Ok(())
    }

    /// Makes room for `additional` more elements.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full (the deque is unchanged); as
    /// [`with_slices`](Self::with_slices) if it cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u64>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.try_reserve(100)?;
    /// assert!(q.capacity() >= 100);
    /// assert_eq!(q.try_reserve(1 << 20).unwrap_err().kind(), ErrorKind::OutOfMemory);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_reserve(&mut self, additional: usize) -> Result<()> {
        let need = self
            .len
            .checked_add(additional)
            .ok_or_else(|| Error::new(ErrorKind::OutOfMemory, "capacity overflow"))?;
        if need <= self.capacity() {
            return Ok(());
        }
        self.with_seg(|q, s| {
            let preferred = need.max(q.cap.saturating_mul(2)).max(4);
            match q.grow_to(s, preferred) {
                Err(e) if e.kind() == ErrorKind::OutOfMemory && preferred > need => {
                    q.grow_to(s, need)
                }
                r => r,
            }
        })
    }

    /// Makes room for `additional` more elements; panics where
    /// [`try_reserve`](Self::try_reserve) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u64>::new()))?;
    /// m.lock().unwrap().reserve(10);
    /// assert!(m.lock().unwrap().capacity() >= 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        self.try_reserve(additional).unwrap_or_else(|e| fail(e));
    }

    /// Frees unused capacity (reallocating to exactly `len` elements, or freeing the buffer
    /// of an empty deque). Does nothing if the segment is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u64>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.reserve(100);
    /// q.push_back(1);
    /// q.shrink_to_fit();
    /// assert_eq!(q.capacity(), 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn shrink_to_fit(&mut self) {
        if size_of::<T>() == 0 || self.cap == self.len {
            return;
        }
        let _ = self.with_seg(|q, s| q.grow_to(s, q.len));
    }

    /// Adds `value` at the back.
    ///
    /// # Errors
    ///
    /// As [`try_reserve`](Self::try_reserve); the deque is unchanged and `value` dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<[u8; 1024]>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// while q.try_push_back([1; 1024]).is_ok() {}
    /// assert_eq!(q.try_push_back([0; 1024]).unwrap_err().kind(), ErrorKind::OutOfMemory);
    /// assert!(q.iter().all(|x| x[0] == 1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_push_back(&mut self, value: impl IntoSegment<T>) -> Result<()> {
        self.with_seg(|q, s| {
            let value = value.into_segment(s)?;
            q.make_room(s)?;
            let r = q.ring(s)?;
            // SAFETY: `len < cap` now: slot `len` is inside the checked buffer and unused.
            unsafe { r.slot(q.len).write(value) };
            q.len += 1;
            Ok(())
        })
    }

    /// Adds `value` at the back; panics where [`try_push_back`](Self::try_push_back) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{String, VecDeque};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<String>::new()))?;
    /// m.lock().unwrap().push_back("last");
    /// assert_eq!(m.lock().unwrap()[0], "last");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn push_back(&mut self, value: impl IntoSegment<T>) {
        self.try_push_back(value).unwrap_or_else(|e| fail(e));
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
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.try_push_front(2)?;
    /// q.try_push_front(1)?;
    /// assert_eq!(q.front(), Some(&1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_push_front(&mut self, value: impl IntoSegment<T>) -> Result<()> {
        self.with_seg(|q, s| {
            let value = value.into_segment(s)?;
            q.make_room(s)?;
            let r = q.ring(s)?;
            let head = if size_of::<T>() == 0 {
                0
            } else if r.head == 0 {
                r.cap - 1
            } else {
                r.head - 1
            };
            let r = Ring { head, ..r };
            // SAFETY: `len < cap`: the slot before the first element is inside the checked
            // buffer and unused.
            unsafe { r.slot(0).write(value) };
            q.head = head;
            q.len += 1;
            Ok(())
        })
    }

    /// Adds `value` at the front; panics where [`try_push_front`](Self::try_push_front)
    /// fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.push_front(2);
    /// q.push_front(1);
    /// assert_eq!(*q, [1, 2]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn push_front(&mut self, value: impl IntoSegment<T>) {
        self.try_push_front(value).unwrap_or_else(|e| fail(e));
    }

    /// Grows (doubling) if full.
    fn make_room(&mut self, s: &SegmentRef<'_>) -> Result<()> {
        self.check()?;
        if self.len < self.capacity() {
            return Ok(());
        }
        let need = self
            .len
            .checked_add(1)
            .ok_or_else(|| Error::new(ErrorKind::OutOfMemory, "capacity overflow"))?;
        let preferred = self.cap.saturating_mul(2).max(4);
        match self.grow_to(s, preferred) {
            Err(e) if e.kind() == ErrorKind::OutOfMemory => self.grow_to(s, need),
            r => r,
        }
    }

    /// Removes and returns the first element (moved out of the segment).
    ///
    /// # Panics
    ///
    /// If the deque cannot reach its segment or its header is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 2]);
    /// assert_eq!(q.pop_front(), Some(1));
    /// assert_eq!(q.pop_front(), Some(2));
    /// assert_eq!(q.pop_front(), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.with_seg(|q, s| {
            let r = q.ring(s)?;
            let p = r.slot(0);
            q.head = if size_of::<T>() == 0 || q.len == 1 || r.head + 1 == r.cap {
                0
            } else {
                r.head + 1
            };
            q.len -= 1;
            // SAFETY: the old first element: initialised, inside the checked buffer, no longer
            // covered by the header, read once.
            Ok(unsafe { p.read() })
        })
        .unwrap_or_else(|e| fail(e))
        .into()
    }

    /// Removes and returns the last element (moved out of the segment).
    ///
    /// # Panics
    ///
    /// If the deque cannot reach its segment or its header is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 2]);
    /// assert_eq!(q.pop_back(), Some(2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_back(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.with_seg(|q, s| {
            let r = q.ring(s)?;
            q.len -= 1;
            // SAFETY: the old last element (`len < cap`): initialised, inside the checked
            // buffer, no longer covered by the length, read once.
            Ok(unsafe { r.slot(q.len).read() })
        })
        .unwrap_or_else(|e| fail(e))
        .into()
    }

    /// The elements as two slices (front run, then the wrapped-around run), if the deque is
    /// inside its segment.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if it is not inside a segment (moved out) or was moved
    /// into another one; [`ErrorKind::Corrupted`] for a corrupt header.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([2, 3]);
    /// q.push_front(1);
    /// let (a, b) = q.try_as_slices()?;
    /// assert_eq!([a, b].concat(), [1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_as_slices(&self) -> Result<(&[T], &[T])> {
        if self.len == 0 {
            return Ok((&[], &[]));
        }
        let r = self.resident_ring()?;
        let (a, b) = self.runs(r);
        // SAFETY: `len` initialised elements in two disjoint runs of the checked buffer, inside
        // the mapping, which outlives `&self` (the header lies in it); `&self` keeps this
        // process from mutating them.
        Ok(unsafe { (&*a, &*b) })
    }

    /// The elements as two slices; panics where [`try_as_slices`](Self::try_as_slices) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let q = seg.construct("q", VecDeque::<u8>::from_iter_in([1, 2], &*seg))?;
    /// assert_eq!(q.as_slices(), (&[1, 2][..], &[][..]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn as_slices(&self) -> (&[T], &[T]) {
        self.try_as_slices().unwrap_or_else(|e| fail(e))
    }

    /// The elements as two mutable slices, if the deque is inside its segment.
    ///
    /// # Errors
    ///
    /// As [`try_as_slices`](Self::try_as_slices).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.push_back(1);
    /// q.try_as_mut_slices()?.0[0] = 5;
    /// assert_eq!(q[0], 5);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_as_mut_slices(&mut self) -> Result<(&mut [T], &mut [T])> {
        if self.len == 0 {
            return Ok((&mut [], &mut []));
        }
        let r = self.resident_ring()?;
        let (a, b) = self.runs(r);
        // SAFETY: as in `try_as_slices`; the runs are disjoint and `&mut self` is exclusive.
        Ok(unsafe { (&mut *a, &mut *b) })
    }

    /// The elements as two mutable slices; panics where
    /// [`try_as_mut_slices`](Self::try_as_mut_slices) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.push_back(1);
    /// q.as_mut_slices().0[0] = 5;
    /// assert_eq!(q[0], 5);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        self.try_as_mut_slices().unwrap_or_else(|e| fail(e))
    }

    /// Runs `f` on the two runs of elements wherever the deque is: inside its segment, or moved
    /// out of it (the segment must then be mapped exactly once in this process; it stays mapped
    /// while `f` runs).
    ///
    /// # Errors
    ///
    /// As [`try_as_slices`](Self::try_as_slices), except that a deque moved out of its segment
    /// works.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let q = VecDeque::<u8>::from_iter_in([1, 2, 3], &*seg); // on the stack
    /// assert_eq!(q.with_slices(|a, b| a.len() + b.len())?, 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_slices<R>(&self, f: impl FnOnce(&[T], &[T]) -> R) -> Result<R> {
        if self.len == 0 {
            return Ok(f(&[], &[]));
        }
        self.with_seg_ref(|s| {
            let (a, b) = self.runs(self.ring(s)?);
            // SAFETY: as in `try_as_slices`, while the mapping is pinned for `f`.
            Ok(f(unsafe { &*a }, unsafe { &*b }))
        })
    }

    /// A reference to element `index`, if it exists (and the deque is inside its segment).
    ///
    /// # Panics
    ///
    /// If the deque is not inside its segment (see [`try_as_slices`](Self::try_as_slices)).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let q = seg.construct("q", VecDeque::<u8>::from_iter_in([1, 2], &*seg))?;
    /// assert_eq!(q.get(1), Some(&2));
    /// assert_eq!(q.get(2), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len {
            return None;
        }
        let (a, b) = self.as_slices();
        if index < a.len() {
            a.get(index)
        } else {
            b.get(index - a.len())
        }
    }

    /// A mutable reference to element `index`, if it exists.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.push_back(1);
    /// *q.get_mut(0).unwrap() = 7;
    /// assert_eq!(q[0], 7);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        if index >= self.len {
            return None;
        }
        let (a, b) = self.as_mut_slices();
        if index < a.len() {
            a.get_mut(index)
        } else {
            b.get_mut(index - a.len())
        }
    }

    /// The first element.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let q = seg.construct("q", VecDeque::<u8>::from_iter_in([1, 2], &*seg))?;
    /// assert_eq!(q.front(), Some(&1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn front(&self) -> Option<&T> {
        self.get(0)
    }

    /// The last element.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let q = seg.construct("q", VecDeque::<u8>::from_iter_in([1, 2], &*seg))?;
    /// assert_eq!(q.back(), Some(&2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn back(&self) -> Option<&T> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    /// The first element, mutably.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.push_back(1);
    /// *q.front_mut().unwrap() += 1;
    /// assert_eq!(q[0], 2);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn front_mut(&mut self) -> Option<&mut T> {
        self.get_mut(0)
    }

    /// The last element, mutably.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 2]);
    /// *q.back_mut().unwrap() = 9;
    /// assert_eq!(*q, [1, 9]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn back_mut(&mut self) -> Option<&mut T> {
        self.len.checked_sub(1).and_then(|i| self.get_mut(i))
    }

    /// A front-to-back iterator over references (double-ended, exact size).
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let q = seg.construct("q", VecDeque::<u8>::from_iter_in([1, 2, 3], &*seg))?;
    /// assert_eq!(q.iter().rev().copied().collect::<std::vec::Vec<_>>(), [3, 2, 1]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        let (a, b) = self.as_slices();
        Iter {
            a: a.iter(),
            b: b.iter(),
        }
    }

    /// A front-to-back iterator over mutable references.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 2]);
    /// q.iter_mut().for_each(|x| *x *= 10);
    /// assert_eq!(*q, [10, 20]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter_mut(&mut self) -> IterMut<'_, T> {
        let (a, b) = self.as_mut_slices();
        IterMut {
            a: a.iter_mut(),
            b: b.iter_mut(),
        }
    }

    /// Whether some element equals `x`.
    ///
    /// # Panics
    ///
    /// If the deque cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let q = VecDeque::<u8>::from_iter_in([1, 2], &*seg);
    /// assert!(q.contains(&2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn contains(&self, x: &T) -> bool
    where
        T: PartialEq,
    {
        self.with_slices(|a, b| a.contains(x) || b.contains(x))
            .unwrap_or_else(|e| fail(e))
    }

    /// Swaps elements `i` and `j`.
    ///
    /// # Panics
    ///
    /// If either index is out of bounds, or as [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 2, 3]);
    /// q.swap(0, 2);
    /// assert_eq!(*q, [3, 2, 1]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn swap(&mut self, i: usize, j: usize) {
        assert!(
            i < self.len && j < self.len,
            "swap indices {i} and {j} out of bounds (len {})",
            self.len
        );
        let r = self.resident_ring().unwrap_or_else(|e| fail(e));
        // SAFETY: both indices are below `len <= cap`: initialised slots of the checked buffer;
        // `&mut self` is exclusive; `ptr::swap` allows `i == j`.
        unsafe { std::ptr::swap(r.slot(i), r.slot(j)) };
    }

    /// Inserts `value` at `index`, shifting the following elements back.
    ///
    /// # Panics
    ///
    /// If `index > len`, or where [`try_push_back`](Self::try_push_back) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 3]);
    /// q.insert(1, 2);
    /// assert_eq!(*q, [1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn insert(&mut self, index: usize, value: impl IntoSegment<T>) {
        assert!(
            index <= self.len,
            "insertion index {index} is out of bounds (len {})",
            self.len
        );
        self.push_back(value);
        let mut i = self.len - 1;
        while i > index {
            self.swap(i - 1, i);
            i -= 1;
        }
    }

    /// Removes and returns element `index`, shifting the following elements forward; `None`
    /// if out of bounds.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 2, 3]);
    /// assert_eq!(q.remove(1), Some(2));
    /// assert_eq!(*q, [1, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(&mut self, index: usize) -> Option<T> {
        if index >= self.len {
            return None;
        }
        for i in index..self.len - 1 {
            self.swap(i, i + 1);
        }
        self.pop_back()
    }

    /// Keeps the first `len` elements, dropping the rest.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 2, 3]);
    /// q.truncate(1);
    /// assert_eq!(*q, [1]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        if !std::mem::needs_drop::<T>() {
            self.len = len;
            return;
        }
        let _ = self.with_seg(|q, s| {
            let r = q.ring(s)?;
            while q.len > len {
                // Shorten first: a panicking destructor leaks the rest.
                q.len -= 1;
                // SAFETY: the old last element, initialised, no longer covered: dropped once.
                unsafe { std::ptr::drop_in_place(r.slot(q.len)) };
            }
            Ok(())
        });
    }

    /// Removes every element (the buffer is kept).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 2, 3]);
    /// q.clear();
    /// assert!(q.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn clear(&mut self) {
        self.truncate(0);
        if self.len == 0 {
            self.head = 0;
        }
    }

    /// Keeps the elements for which `keep` returns `true`, in order. If `keep` panics, the
    /// elements not yet visited are leaked (never dropped twice).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend(1..=6);
    /// q.retain(|x| x % 2 == 0);
    /// assert_eq!(*q, [2, 4, 6]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.retain_mut(|x| keep(x));
    }

    /// [`retain`](Self::retain) with `&mut` access to each element.
    ///
    /// # Panics
    ///
    /// If the deque cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend(1..=4);
    /// q.retain_mut(|x| { *x *= 10; *x > 15 });
    /// assert_eq!(*q, [20, 30, 40]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain_mut(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        if self.len == 0 {
            return;
        }
        self.with_seg(|q, s| {
            let r = q.ring(s)?;
            let len = q.len;
            // While user code runs the length covers only the kept prefix.
            q.len = 0;
            let mut kept = 0;
            for i in 0..len {
                let x = r.slot(i);
                // SAFETY: `i < len`: an initialised element of the checked buffer, visited
                // once; slots `kept..i` are moved-from, `0..kept` hold the kept elements.
                unsafe {
                    if keep(&mut *x) {
                        if i != kept {
                            std::ptr::copy_nonoverlapping(x, r.slot(kept), 1);
                        }
                        kept += 1;
                        q.len = kept;
                    } else {
                        std::ptr::drop_in_place(x);
                    }
                }
            }
            q.len = kept;
            Ok(())
        })
        .unwrap_or_else(|e| fail(e));
    }

    /// Removes the elements in `range` and returns them (moved out of the segment) as an
    /// iterator.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds, or the deque cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 2, 3, 4]);
    /// let out: std::vec::Vec<u8> = q.drain(1..3).collect();
    /// assert_eq!(out, [2, 3]);
    /// assert_eq!(*q, [1, 4]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn drain(&mut self, range: impl RangeBounds<usize>) -> std::vec::IntoIter<T> {
        let len = self.len;
        let start = match range.start_bound() {
            std::ops::Bound::Included(&s) => Some(s),
            std::ops::Bound::Excluded(&s) => s.checked_add(1),
            std::ops::Bound::Unbounded => Some(0),
        };
        let end = match range.end_bound() {
            std::ops::Bound::Included(&e) => e.checked_add(1),
            std::ops::Bound::Excluded(&e) => Some(e),
            std::ops::Bound::Unbounded => Some(len),
        };
        let (start, end) = match (start, end) {
            (Some(s), Some(e)) if s <= e && e <= len => (s, e),
            _ => panic!("drain range out of bounds (len {len})"),
        };
        if start == end {
            return std::vec::Vec::new().into_iter();
        }
        self.with_seg(|q, s| {
            let r = q.ring(s)?;
            let mut out = std::vec::Vec::with_capacity(end - start);
            q.len = start;
            for i in start..end {
                // SAFETY: `i < len`: initialised, read once (the length no longer covers it).
                out.push(unsafe { r.slot(i).read() });
            }
            for i in end..len {
                // SAFETY: slot `i` (initialised) moves to the vacated slot `i - (end - start)`;
                // distinct slots inside the checked buffer.
                unsafe { std::ptr::copy_nonoverlapping(r.slot(i), r.slot(i - (end - start)), 1) };
            }
            q.len = len - (end - start);
            Ok(out)
        })
        .unwrap_or_else(|e| fail(e))
        .into_iter()
    }

    /// Rearranges the buffer so the elements are one slice, and returns it.
    ///
    /// # Panics
    ///
    /// If the deque is not inside its segment (see [`try_as_slices`](Self::try_as_slices)).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([2, 3]);
    /// q.push_front(1);
    /// q.make_contiguous().sort_by(|a, b| b.cmp(a));
    /// assert_eq!(q.as_slices().0, &[3, 2, 1]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn make_contiguous(&mut self) -> &mut [T] {
        let r = self.resident_ring().unwrap_or_else(|e| fail(e));
        if size_of::<T>() != 0 && r.cap > 0 && r.head + self.len > r.cap {
            // SAFETY: the whole checked buffer, viewed as possibly uninitialised slots (so no
            // validity is asserted); `&mut self` is exclusive. Rotating left by `head` moves
            // the element of logical index `i` to slot `i`.
            let all =
                unsafe { std::slice::from_raw_parts_mut(r.p.cast::<MaybeUninit<T>>(), r.cap) };
            all.rotate_left(r.head);
            self.head = 0;
        }
        self.as_mut_slices().0
    }

    /// Rotates the elements `n` places to the front (the first `n` go to the back).
    ///
    /// # Panics
    ///
    /// If `n > len`, or as [`make_contiguous`](Self::make_contiguous).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 2, 3]);
    /// q.rotate_left(1);
    /// assert_eq!(*q, [2, 3, 1]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn rotate_left(&mut self, n: usize) {
        assert!(n <= self.len, "rotate by {n} beyond len {}", self.len);
        self.make_contiguous().rotate_left(n);
    }

    /// Rotates the elements `n` places to the back (the last `n` come first).
    ///
    /// # Panics
    ///
    /// As [`rotate_left`](Self::rotate_left).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
    /// let mut q = m.lock().unwrap();
    /// q.extend([1, 2, 3]);
    /// q.rotate_right(1);
    /// assert_eq!(*q, [3, 1, 2]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn rotate_right(&mut self, n: usize) {
        assert!(n <= self.len, "rotate by {n} beyond len {}", self.len);
        self.make_contiguous().rotate_right(n);
    }

    /// Frees everything: elements, then the buffer, after emptying the header.
    fn free(&mut self, s: &SegmentRef<'_>) -> Result<()> {
        let r = self.ring(s)?;
        let (a, b) = self.runs(r);
        let off = self.buf.offset();
        let cap = self.cap;
        self.buf.set_null();
        self.len = 0;
        self.cap = 0;
        self.head = 0;
        if std::mem::needs_drop::<T>() {
            // SAFETY: the initialised elements of the checked buffer, no longer reachable from
            // the header, dropped once.
            unsafe {
                std::ptr::drop_in_place(a);
                std::ptr::drop_in_place(b);
            }
        }
        match off {
            Some(off) if size_of::<T>() != 0 => {
                self.alloc
                    .deallocate(s, off, cap * size_of::<T>(), align_of::<T>())
            }
            _ => Ok(()),
        }
    }
}

impl<T: ShmSafe + Unpin> VecDeque<T> {
    /// A deque in `seg` holding `items` (returned outside the segment).
    ///
    /// # Panics
    ///
    /// If the segment is full or `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::VecDeque;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let q = seg.construct("q", VecDeque::<u32>::from_iter_in(1..=3, &*seg))?;
    /// assert_eq!(*q, [1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn from_iter_in<U: IntoSegment<T>>(
        items: impl IntoIterator<Item = U>,
        seg: &impl AsSegment,
    ) -> VecDeque<T> {
        let items = items.into_iter();
        let mut q = VecDeque::with_capacity_in(items.size_hint().0, seg);
        for x in items {
            q.push_back(x);
        }
        q
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Drop for VecDeque<T, A> {
    /// Drops the elements and frees the buffer; leaks them if the deque cannot reach its
    /// segment or its header is corrupt. Never panics on its own account.
    fn drop(&mut self) {
        if self.buf.is_null() && (size_of::<T>() != 0 || self.len == 0) {
            return;
        }
        let _ = self.with_seg(|q, s| q.free(s));
    }
}

impl<T: ShmSafe + Unpin> Default for VecDeque<T> {
    fn default() -> VecDeque<T> {
        VecDeque::new()
    }
}

/// An iterator over a [`VecDeque`]'s elements, from [`VecDeque::iter`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::{VecDeque, vec_deque::Iter};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let q = seg.construct("q", VecDeque::<u8>::from_iter_in([1, 2, 3], &*seg))?;
/// let mut it: Iter<'_, u8> = q.iter();
/// assert_eq!((it.next(), it.next_back(), it.len()), (Some(&1), Some(&3), 1));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Iter<'a, T> {
    a: std::slice::Iter<'a, T>,
    b: std::slice::Iter<'a, T>,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        self.a.next().or_else(|| self.b.next())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.a.len() + self.b.len();
        (n, Some(n))
    }
}

impl<T> DoubleEndedIterator for Iter<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.b.next_back().or_else(|| self.a.next_back())
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}
impl<T> std::iter::FusedIterator for Iter<'_, T> {}

/// An iterator over mutable references to a [`VecDeque`]'s elements, from
/// [`VecDeque::iter_mut`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{VecDeque, vec_deque::IterMut};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("q", Mutex::new(VecDeque::<u8>::new()))?;
/// let mut q = m.lock().unwrap();
/// q.extend([1, 2]);
/// let it: IterMut<'_, u8> = q.iter_mut();
/// it.rev().for_each(|x| *x += 1);
/// assert_eq!(*q, [2, 3]);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug)]
pub struct IterMut<'a, T> {
    a: std::slice::IterMut<'a, T>,
    b: std::slice::IterMut<'a, T>,
}

impl<'a, T> Iterator for IterMut<'a, T> {
    type Item = &'a mut T;

    fn next(&mut self) -> Option<&'a mut T> {
        self.a.next().or_else(|| self.b.next())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.a.len() + self.b.len();
        (n, Some(n))
    }
}

impl<T> DoubleEndedIterator for IterMut<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.b.next_back().or_else(|| self.a.next_back())
    }
}

impl<T> ExactSizeIterator for IterMut<'_, T> {}
impl<T> std::iter::FusedIterator for IterMut<'_, T> {}

impl<'a, T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for &'a VecDeque<T, A> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<'a, T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for &'a mut VecDeque<T, A> {
    type Item = &'a mut T;
    type IntoIter = IterMut<'a, T>;

    fn into_iter(self) -> IterMut<'a, T> {
        self.iter_mut()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for VecDeque<T, A> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    /// Moves the elements out of the segment (front to back, into a process-local vector) and
    /// frees the buffer; works inside the segment or moved out of it.
    ///
    /// # Panics
    ///
    /// If the deque cannot reach its segment.
    fn into_iter(mut self) -> std::vec::IntoIter<T> {
        if self.len == 0 {
            return std::vec::Vec::new().into_iter();
        }
        self.drain(..)
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Extend<T> for VecDeque<T, A> {
    /// # Panics
    ///
    /// Where [`push_back`](VecDeque::push_back) panics.
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for x in iter {
            self.push_back(x);
        }
    }
}

impl<'a, T: ShmSafe + Unpin + Copy, A: ShmAlloc> Extend<&'a T> for VecDeque<T, A> {
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied());
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Index<usize> for VecDeque<T, A> {
    type Output = T;

    /// # Panics
    ///
    /// If `index` is out of bounds, or as [`VecDeque::get`].
    fn index(&self, index: usize) -> &T {
        let len = self.len;
        self.get(index)
            .unwrap_or_else(|| panic!("index {index} out of bounds (len {len})"))
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> IndexMut<usize> for VecDeque<T, A> {
    fn index_mut(&mut self, index: usize) -> &mut T {
        let len = self.len;
        self.get_mut(index)
            .unwrap_or_else(|| panic!("index {index} out of bounds (len {len})"))
    }
}

impl<T: ShmSafe + Unpin + fmt::Debug, A: ShmAlloc> fmt::Debug for VecDeque<T, A> {
    /// Formats the elements, also for a deque moved out of its segment (while the segment is
    /// mapped once here); otherwise a placeholder with the length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.with_slices(|a, b| f.debug_list().entries(a).entries(b).finish()) {
            Ok(r) => r,
            Err(e) => write!(f, "VecDeque {{ len: {}, <{}> }}", self.len, e.kind()),
        }
    }
}

impl<T: ShmSafe + Unpin + Clone, A: ShmAlloc + Clone> Clone for VecDeque<T, A> {
    /// A copy in the same segment (returned outside it).
    ///
    /// # Panics
    ///
    /// If the segment is full, or the deque cannot reach its segment.
    fn clone(&self) -> VecDeque<T, A> {
        let mut out = VecDeque::new_with(self.alloc.clone());
        if let Some(id) = self.seg.id() {
            out.seg.store_id(id);
        }
        if self.len == 0 {
            return out;
        }
        self.with_seg_ref(|s| {
            let (a, b) = self.runs(self.ring(s)?);
            out.grow_to(s, self.len)?;
            let dst = out.ring(s)?;
            // SAFETY: as in `try_as_slices`, while the mapping is pinned.
            let items = unsafe { (&*a).iter().chain((&*b).iter()) };
            for (i, x) in items.enumerate() {
                // SAFETY: slot `i < len <= cap` of the new, checked buffer; the length covers
                // it right after, so a panicking `clone` leaks nothing twice.
                unsafe { dst.slot(i).write(x.clone()) };
                out.len = i + 1;
            }
            Ok(())
        })
        .unwrap_or_else(|e| fail(e));
        out
    }
}

impl<T, U, A, B> PartialEq<VecDeque<U, B>> for VecDeque<T, A>
where
    T: ShmSafe + Unpin + PartialEq<U>,
    U: ShmSafe + Unpin,
    A: ShmAlloc,
    B: ShmAlloc,
{
    fn eq(&self, other: &VecDeque<U, B>) -> bool {
        self.len == other.len && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl<T: ShmSafe + Unpin + PartialEq<U>, U, A: ShmAlloc> PartialEq<std::collections::VecDeque<U>>
    for VecDeque<T, A>
{
    fn eq(&self, other: &std::collections::VecDeque<U>) -> bool {
        self.len == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl<T: ShmSafe + Unpin + PartialEq<U>, U, A: ShmAlloc> PartialEq<std::vec::Vec<U>>
    for VecDeque<T, A>
{
    fn eq(&self, other: &std::vec::Vec<U>) -> bool {
        self.len == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl<T: ShmSafe + Unpin + PartialEq<U>, U, A: ShmAlloc> PartialEq<[U]> for VecDeque<T, A> {
    fn eq(&self, other: &[U]) -> bool {
        self.len == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl<T: ShmSafe + Unpin + PartialEq<U>, U, A: ShmAlloc, const N: usize> PartialEq<[U; N]>
    for VecDeque<T, A>
{
    fn eq(&self, other: &[U; N]) -> bool {
        self == &other[..]
    }
}

impl<T: ShmSafe + Unpin + Eq, A: ShmAlloc> Eq for VecDeque<T, A> {}

impl<T: ShmSafe + Unpin + PartialOrd, A: ShmAlloc> PartialOrd for VecDeque<T, A> {
    fn partial_cmp(&self, other: &VecDeque<T, A>) -> Option<Ordering> {
        self.iter().partial_cmp(other.iter())
    }
}

impl<T: ShmSafe + Unpin + Ord, A: ShmAlloc> Ord for VecDeque<T, A> {
    fn cmp(&self, other: &VecDeque<T, A>) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl<T: ShmSafe + Unpin + Hash, A: ShmAlloc> Hash for VecDeque<T, A> {
    /// Hashes the length, then each element (as std's `VecDeque`, whatever the ring layout).
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len);
        self.iter().for_each(|x| x.hash(state));
    }
}

impl<T: ShmSafe + Unpin, U: IntoSegment<T>, A: ShmAlloc + Default> IntoSegment<VecDeque<T, A>>
    for std::collections::VecDeque<U>
{
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<VecDeque<T, A>> {
        let mut q = VecDeque::try_with_capacity_in_alloc(self.len(), seg, A::default())?;
        for x in self {
            q.try_push_back(x)?;
        }
        Ok(q)
    }
}

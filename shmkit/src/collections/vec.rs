//! [`Vec`]: a growable array in a managed segment.
#![allow(unsafe_code)]

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut, RangeBounds};

use super::segment_ref::{AsSegment, SegmentAlloc, SegmentRef, ShmAlloc};
use super::{IntoSegment, Where, fail};
use crate::error::{Error, ErrorKind, Result};
use crate::ptr::{RelPtr, SegmentBase};
use crate::shm_safe::ShmSafe;

/// A growable array whose header and elements live in a managed segment, shared by every
/// process that maps it: `std::vec::Vec`'s API, with the segment as its allocator.
///
/// The header (32 bytes plus the allocator) stores the segment's id and the buffer's offset, so
/// it may move anywhere inside its segment (a `Vec<Vec<u8>>` growing, `mem::swap`); see the
/// [module docs](crate::collections) for where it finds its segment, and what works once a
/// value has left it.
///
/// Elements are reached through `Deref<Target = [T]>`: `v[0]`, `v.iter()`, `v.sort()` and
/// every slice method work on a vector inside its segment. Methods that allocate panic when the
/// segment is full, with the `try_` variants returning [`ErrorKind::OutOfMemory`] and leaving
/// the vector as it was.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::Vec;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let shared = seg.construct("primes", Mutex::new(Vec::<u32>::new()))?;
/// let mut v = shared.lock().unwrap();
/// v.extend([2, 3, 5, 7]);
/// v.push(11);
/// assert_eq!(v.iter().sum::<u32>(), 28);
/// assert_eq!(&v[..2], &[2, 3]);
/// v.sort_by(|a, b| b.cmp(a));
/// assert_eq!(v.as_slice(), &[11, 7, 5, 3, 2]);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct Vec<T: ShmSafe + Unpin, A: ShmAlloc = SegmentAlloc> {
    seg: SegmentBase,
    buf: RelPtr<T>,
    len: usize,
    cap: usize,
    alloc: A,
}

// SAFETY: repr(C) of `ShmSafe` fields (the id and offset are atomics, the lengths integers, the
// allocator `ShmSafe`): any bit pattern is a value, and every use checks it (the id against the
// mapping the header lies in, the buffer's range and alignment against that mapping, lengths
// against the capacity), so a garbage header is an error, never an access outside the segment.
// Nothing in it is an address. Send + Sync as its fields. Its drop frees segment memory, which
// only leaks when skipped.
unsafe impl<T: ShmSafe + Unpin, A: ShmAlloc> ShmSafe for Vec<T, A> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::Vec"),
        crate::fingerprint::combine(T::FINGERPRINT, A::FINGERPRINT),
    );
}

impl<T: ShmSafe + Unpin> Vec<T> {
    /// An empty vector, not yet tied to a segment (nothing is allocated): construct it in a
    /// segment, or store it in a collection there, and it allocates from that segment.
    ///
    /// # Examples
    ///
    /// ```
    /// let v: shmkit::collections::Vec<u8> = shmkit::collections::Vec::new();
    /// assert_eq!((v.len(), v.capacity()), (0, 0));
    /// ```
    pub const fn new() -> Vec<T> {
        Vec::new_with(SegmentAlloc)
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Vec<T, A> {
    /// An empty vector with allocator `alloc`, not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{SegmentAlloc, Vec};
    /// let v: Vec<u64> = Vec::new_with(SegmentAlloc);
    /// assert!(v.is_empty());
    /// ```
    pub const fn new_with(alloc: A) -> Vec<T, A> {
        Vec {
            seg: SegmentBase::unbound(),
            buf: RelPtr::null(),
            len: 0,
            cap: 0,
            alloc,
        }
    }

    /// The number of elements.
    ///
    /// # Examples
    ///
    /// ```
    /// let v: shmkit::collections::Vec<u8> = shmkit::collections::Vec::new();
    /// assert_eq!(v.len(), 0);
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
    /// let v: shmkit::collections::Vec<u8> = shmkit::collections::Vec::new();
    /// assert!(v.is_empty());
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
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let v = Vec::<u64>::with_capacity_in(10, &*seg);
    /// assert!(v.capacity() >= 10);
    /// # Ok::<(), shmkit::Error>(())
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
    /// use shmkit::collections::{SegmentAlloc, Vec};
    /// let v: Vec<u8> = Vec::new();
    /// assert_eq!(*v.allocator(), SegmentAlloc);
    /// ```
    pub fn allocator(&self) -> &A {
        &self.alloc
    }

    /// Where the header is, for one operation.
    #[inline]
    fn place(&self) -> Result<Where<'_>> {
        Where::of(self, &self.seg)
    }
}

impl<T: ShmSafe + Unpin> Vec<T> {
    /// A vector in `seg` holding clones of `items`.
    ///
    /// # Panics
    ///
    /// Where [`try_with_capacity_in`](Self::try_with_capacity_in) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let v = seg.construct("v", Vec::<u16>::from_slice_in(&[1, 2], &*seg))?;
    /// assert_eq!(v.as_slice(), &[1, 2]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn from_slice_in(items: &[T], seg: &impl AsSegment) -> Vec<T>
    where
        T: Clone,
    {
        let r = seg.segment().and_then(|s| {
            let mut v = Vec::try_with_capacity_in(items.len(), &s)?;
            v.try_extend_from_slice_in(&s, items)?;
            Ok(v)
        });
        r.unwrap_or_else(|e| fail(e))
    }

    /// An empty vector tied to `seg` (nothing is allocated yet): it can be filled before it is
    /// stored in the segment.
    ///
    /// # Panics
    ///
    /// If `seg` is not a registered segment ([`AsSegment::segment`] fails).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let mut v = Vec::<u32>::new_in(&*seg);
    /// v.push(1);
    /// let stored = seg.construct("v", v)?;
    /// assert_eq!(stored.as_slice(), &[1]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(seg: &impl AsSegment) -> Vec<T> {
        Self::with_capacity_in(0, seg)
    }

    /// An empty vector tied to `seg` with room for `capacity` elements.
    ///
    /// # Panics
    ///
    /// If the segment is full, or `seg` is not a registered segment; see
    /// [`try_with_capacity_in`](Self::try_with_capacity_in).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let v = Vec::<u64>::with_capacity_in(100, &*seg);
    /// assert!(v.capacity() >= 100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_capacity_in(capacity: usize, seg: &impl AsSegment) -> Vec<T> {
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
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let e = Vec::<u64>::try_with_capacity_in(1 << 20, &*seg).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_with_capacity_in(capacity: usize, seg: &impl AsSegment) -> Result<Vec<T>> {
        Vec::try_with_capacity_in_alloc(capacity, seg, SegmentAlloc)
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Vec<T, A> {
    /// [`try_with_capacity_in`](Vec::try_with_capacity_in) with allocator `alloc`.
    ///
    /// # Errors
    ///
    /// As [`try_with_capacity_in`](Vec::try_with_capacity_in).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::{SegmentAlloc, Vec};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let v = Vec::<u8, SegmentAlloc>::try_with_capacity_in_alloc(8, &*seg, SegmentAlloc)?;
    /// assert!(v.capacity() >= 8);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_with_capacity_in_alloc(
        capacity: usize,
        seg: &impl AsSegment,
        alloc: A,
    ) -> Result<Vec<T, A>> {
        let s = seg.segment()?;
        let mut v = Vec::new_with(alloc);
        v.seg.store_id(s.id());
        if capacity > 0 {
            v.grow_to(&s, capacity, capacity)?;
        }
        Ok(v)
    }

    /// Runs `f` with the segment this vector belongs to: the one its header lies in, or, for a
    /// vector that left its segment, the segment's one mapping in this process (kept mapped
    /// while `f` runs). For changes: a segment mapped read-only is `PermissionDenied`.
    fn with_seg<R>(
        &mut self,
        f: impl FnOnce(&mut Self, &SegmentRef<'_>) -> Result<R>,
    ) -> Result<R> {
        super::with_seg_mut(self, |h| &h.seg, f)
    }

    /// The buffer's address, checked for `n` elements.
    #[inline]
    fn buf_ptr(&self, s: &SegmentRef<'_>, n: usize) -> Result<*mut T> {
        if size_of::<T>() == 0 {
            return Ok(std::ptr::NonNull::dangling().as_ptr());
        }
        match self.buf.offset() {
            Some(off) => s.ptr::<T>(off, n),
            None if n == 0 => Ok(std::ptr::NonNull::dangling().as_ptr()),
            None => Err(Error::new(
                ErrorKind::Corrupted,
                format!("a vector of {n} elements has no buffer"),
            )),
        }
    }

    /// Checks the header's lengths.
    #[inline]
    fn check(&self) -> Result<()> {
        if self.len > self.cap && size_of::<T>() != 0 {
            return Err(Error::new(
                ErrorKind::Corrupted,
                format!(
                    "a vector of {} elements with capacity {}",
                    self.len, self.cap
                ),
            ));
        }
        Ok(())
    }

    /// The elements, if the vector is inside its segment.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the vector is not inside a segment (it was moved out)
    /// or was moved into another one; [`ErrorKind::Corrupted`] if its header does not fit the
    /// segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let v = seg.construct("v", Vec::<u8>::from_slice_in(b"abc", &*seg))?;
    /// assert_eq!(v.try_as_slice()?, b"abc");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn try_as_slice(&self) -> Result<&[T]> {
        if self.len == 0 {
            return Ok(&[]);
        }
        match self.place()? {
            Where::Resident(s) => {
                self.check()?;
                let p = self.buf_ptr(&s, self.len)?;
                // SAFETY: `p` is `len` initialised elements inside the mapping (checked), which
                // lives as long as `&self` (the header lies in it); the elements belong to this
                // vector, which `&self` borrows, so nothing in this process mutates them.
                Ok(unsafe { std::slice::from_raw_parts(p, self.len) })
            }
            Where::Detached(_) | Where::Unbound => Err(super::detached_access(self)),
        }
    }

    /// The elements; panics where [`try_as_slice`](Self::try_as_slice) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let v = seg.construct("v", Vec::<u8>::from_slice_in(b"abc", &*seg))?;
    /// assert_eq!(v.as_slice(), b"abc");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        self.try_as_slice().unwrap_or_else(|e| fail(e))
    }

    /// The elements, mutably, if the vector is inside its segment.
    ///
    /// # Errors
    ///
    /// As [`try_as_slice`](Self::try_as_slice); [`ErrorKind::PermissionDenied`] if the segment
    /// is mapped read-only here.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend([3, 1, 2]);
    /// v.try_as_mut_slice()?.sort();
    /// assert_eq!(v.as_slice(), &[1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn try_as_mut_slice(&mut self) -> Result<&mut [T]> {
        if self.len == 0 {
            return Ok(&mut []);
        }
        match self.place()? {
            Where::Resident(s) => {
                s.check_writable()?;
                self.check()?;
                let p = self.buf_ptr(&s, self.len)?;
                // SAFETY: as in `try_as_slice`; `&mut self` makes the access exclusive in this
                // process.
                Ok(unsafe { std::slice::from_raw_parts_mut(p, self.len) })
            }
            Where::Detached(_) | Where::Unbound => Err(super::detached_access(self)),
        }
    }

    /// The elements, mutably; panics where [`try_as_mut_slice`](Self::try_as_mut_slice) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.push(1);
    /// v.as_mut_slice()[0] = 9;
    /// assert_eq!(v[0], 9);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.try_as_mut_slice().unwrap_or_else(|e| fail(e))
    }

    /// Runs `f` on the elements wherever the vector is: inside its segment, or moved out of it
    /// (the segment must then be mapped exactly once in this process; it stays mapped while `f`
    /// runs).
    ///
    /// # Errors
    ///
    /// As [`try_as_slice`](Self::try_as_slice), except that a vector moved out of its segment
    /// works.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// m.lock().unwrap().extend([1, 2, 3]);
    /// let taken = std::mem::take(&mut *m.lock().unwrap()); // now on the stack
    /// assert_eq!(taken.with_slice(|s| s.iter().sum::<u8>())?, 6);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_slice<R>(&self, f: impl FnOnce(&[T]) -> R) -> Result<R> {
        if self.len == 0 {
            return Ok(f(&[]));
        }
        let read = |s: &SegmentRef<'_>| -> Result<R> {
            self.check()?;
            let p = self.buf_ptr(s, self.len)?;
            // SAFETY: `len` initialised elements inside the mapping, which stays mapped while
            // `f` runs; `&self` keeps this process from mutating them.
            Ok(f(unsafe { std::slice::from_raw_parts(p, self.len) }))
        };
        super::with_seg_ref(self, &self.seg, read)
    }

    /// Checks that this vector may be built in `s` directly (no lookup): `s` is writable and
    /// the vector is tied to its segment, or to none.
    fn check_in(&self, s: &SegmentRef<'_>) -> Result<()> {
        s.check_writable()?;
        match self.seg.id() {
            Some(id) if id != s.id() => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "a collection of segment {id} cannot be built in segment {}",
                    s.id()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Appends `value` through `s`, the vector's segment, without locating the header: for
    /// values being built before they are stored ([`IntoSegment`]), which works however many
    /// times the segment is mapped in this process.
    pub(crate) fn try_push_in(&mut self, s: &SegmentRef<'_>, value: T) -> Result<()> {
        self.check_in(s)?;
        if self.len >= self.capacity() {
            let need = self
                .len
                .checked_add(1)
                .ok_or_else(|| Error::new(ErrorKind::OutOfMemory, "capacity overflow"))?;
            self.grow_to(s, need, self.cap.saturating_mul(2).max(4))?;
        }
        self.check()?;
        let p = self.buf_ptr(s, self.len + 1)?;
        // SAFETY: `len < capacity` now, the buffer holds `len + 1` elements inside the mapping
        // (checked), which `s` keeps mapped; slot `len` is unused.
        unsafe { p.add(self.len).write(value) };
        self.len += 1;
        Ok(())
    }

    /// Appends clones of `items` through `s`, as [`try_push_in`](Self::try_push_in).
    pub(crate) fn try_extend_from_slice_in(&mut self, s: &SegmentRef<'_>, items: &[T]) -> Result<()>
    where
        T: Clone,
    {
        self.check_in(s)?;
        let need = self
            .len
            .checked_add(items.len())
            .ok_or_else(|| Error::new(ErrorKind::OutOfMemory, "capacity overflow"))?;
        if need > self.capacity() {
            self.grow_to(s, need, need)?;
        }
        self.check()?;
        let p = self.buf_ptr(s, need)?;
        for x in items {
            let x = x.clone();
            // SAFETY: the buffer holds `need` elements inside the mapping (checked), which `s`
            // keeps mapped; slot `len < need` is unused, and the length covers it right after.
            unsafe { p.add(self.len).write(x) };
            self.len += 1;
        }
        Ok(())
    }

    /// Runs `f` on the elements, mutably, wherever the vector is: inside its segment, or moved
    /// out of it (the segment's one mapping, kept mapped while `f` runs).
    fn with_mut_slice<R>(&mut self, f: impl FnOnce(&mut [T]) -> R) -> Result<R> {
        if self.len == 0 {
            return Ok(f(&mut []));
        }
        self.with_seg(|v, s| {
            v.check()?;
            let p = v.buf_ptr(s, v.len)?;
            // SAFETY: `len` initialised elements of the checked buffer, inside the mapping,
            // which stays mapped while `f` runs; `&mut self` makes the access exclusive in
            // this process, and `v` is not used while the slice lives.
            Ok(f(unsafe { std::slice::from_raw_parts_mut(p, v.len) }))
        })
    }

    /// Reallocates to room for at least `min` elements (`preferred` if possible).
    fn grow_to(&mut self, s: &SegmentRef<'_>, min: usize, preferred: usize) -> Result<()> {
        if size_of::<T>() == 0 || min <= self.cap {
            return Ok(());
        }
        let size = size_of::<T>();
        let too_big = || {
            Error::new(
                ErrorKind::OutOfMemory,
                format!("a vector of {min} elements of {size} bytes does not fit any segment"),
            )
        };
        let min_bytes = min
            .checked_mul(size)
            .filter(|b| *b <= isize::MAX as usize)
            .ok_or_else(too_big)?;
        let pref_bytes = preferred
            .max(min)
            .saturating_mul(size)
            .min(isize::MAX as usize);
        // Validate the header before allocating: a corrupt one is an error, not a grown
        // buffer under a garbage length (nor a leaked new block).
        self.check()?;
        self.buf_ptr(s, self.len)?;
        if let Some(off) = self.buf.offset() {
            self.buf_ptr(s, self.cap)?;
            if let Some(n) = self.alloc.grow_in_place(s, off, min_bytes, pref_bytes)? {
                self.cap = (n / size).max(min);
                return Ok(());
            }
        }
        // The capacity is what was actually allocated: `pref_bytes`, or `min_bytes` when only
        // the fallback succeeded (allocators are told the same size again when freeing).
        let (new_off, new_cap) = match self.alloc.allocate(s, pref_bytes, align_of::<T>()) {
            Ok(off) => (off, pref_bytes / size),
            Err(e) if e.kind() == ErrorKind::OutOfMemory && pref_bytes > min_bytes => {
                (self.alloc.allocate(s, min_bytes, align_of::<T>())?, min)
            }
            Err(e) => return Err(e),
        };
        let old = self.buf.offset();
        let dst = match s.ptr::<T>(new_off, new_cap) {
            Ok(p) => p,
            Err(e) => {
                let _ = self
                    .alloc
                    .deallocate(s, new_off, new_cap * size, align_of::<T>());
                return Err(e);
            }
        };
        if self.len > 0 {
            self.check()?;
            let src = self.buf_ptr(s, self.len)?;
            // SAFETY: both ranges are inside the mapping (checked) and distinct blocks; the
            // elements are moved bitwise (`T: Unpin`, so moving them breaks nothing) and the old
            // copies are never used again.
            unsafe { std::ptr::copy_nonoverlapping(src, dst, self.len) };
        }
        // Publish the new buffer before freeing the old one: a crash in between leaks the old
        // block rather than leaving the header pointing at freed memory.
        self.seg.store_id(s.id());
        self.buf.set_offset(new_off);
        let old_cap = std::mem::replace(&mut self.cap, new_cap);
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
    /// [`ErrorKind::OutOfMemory`] if the segment is full (the vector is unchanged); as
    /// [`with_slice`](Self::with_slice) if the vector cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u64>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.try_reserve(100)?;
    /// assert!(v.capacity() >= 100);
    /// assert_eq!(v.try_reserve(1 << 20).unwrap_err().kind(), ErrorKind::OutOfMemory);
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
        let preferred = need.max(self.cap.saturating_mul(2)).max(4);
        self.with_seg(|v, s| v.grow_to(s, need, preferred))
    }

    /// Makes room for `additional` more elements; panics where
    /// [`try_reserve`](Self::try_reserve) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u64>::new()))?;
    /// m.lock().unwrap().reserve(10);
    /// assert!(m.lock().unwrap().capacity() >= 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        self.try_reserve(additional).unwrap_or_else(|e| fail(e));
    }

    /// Appends `value` (anything that converts into a `T` in the segment: a `T`, or for a
    /// `Vec<String>` a `&str`).
    ///
    /// # Errors
    ///
    /// As [`try_reserve`](Self::try_reserve); the vector is unchanged and `value` dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<[u8; 1024]>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// while v.try_push([7; 1024]).is_ok() {}
    /// assert!(v.len() > 40);
    /// assert_eq!(v.try_push([0; 1024]).unwrap_err().kind(), ErrorKind::OutOfMemory);
    /// assert!(v.iter().all(|x| x[0] == 7));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn try_push(&mut self, value: impl IntoSegment<T>) -> Result<()> {
        // Fast path: room left, header in its own writable segment. Everything else (growing,
        // moved out, read-only, errors) goes through `with_seg`, which reports why.
        if self.len < self.cap
            && let Some(s) = SegmentRef::resident_writable(self, &self.seg)
            && let Some(off) = self.buf.offset()
            && let Some(p) = s.ptr_checked::<T>(off, self.cap)
        {
            let value = value.into_segment(&s)?;
            // SAFETY: `len < cap` and the buffer holds `cap` elements inside the mapping
            // (checked); slot `len` is unused.
            unsafe { p.add(self.len).write(value) };
            self.len += 1;
            return Ok(());
        }
        self.try_push_slow(value)
    }

    /// [`try_push`](Self::try_push) when the fast path does not apply.
    #[inline(never)]
    fn try_push_slow(&mut self, value: impl IntoSegment<T>) -> Result<()> {
        self.with_seg(|v, s| {
            let value = value.into_segment(s)?;
            if v.len == v.capacity() {
                let need = v
                    .len
                    .checked_add(1)
                    .ok_or_else(|| Error::new(ErrorKind::OutOfMemory, "capacity overflow"))?;
                v.grow_to(s, need, v.cap.saturating_mul(2).max(4))?;
            }
            v.check()?;
            let p = v.buf_ptr(s, v.len + 1)?;
            // SAFETY: `len < capacity` now, the buffer holds `len + 1` elements inside the
            // mapping (checked), slot `len` is unused.
            unsafe { p.add(v.len).write(value) };
            v.len += 1;
            Ok(())
        })
    }

    /// Appends `value`; panics where [`try_push`](Self::try_push) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{String, Vec};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("names", Mutex::new(Vec::<String>::new()))?;
    /// let mut names = m.lock().unwrap();
    /// names.push("ada");
    /// names.push("grace");
    /// assert_eq!(names[1], "grace");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn push(&mut self, value: impl IntoSegment<T>) {
        self.try_push(value).unwrap_or_else(|e| fail(e));
    }

    /// Removes and returns the last element (moved out of the segment: a collection it is
    /// stays tied to the segment and can be stored there again).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend([1, 2]);
    /// assert_eq!(v.pop(), Some(2));
    /// assert_eq!(v.pop(), Some(1));
    /// assert_eq!(v.pop(), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.with_seg(|v, s| {
            v.check()?;
            let p = v.buf_ptr(s, v.len)?;
            v.len -= 1;
            // SAFETY: slot `len` (the old last) is initialised and inside the mapping; the length
            // no longer covers it, so it is read once.
            Ok(unsafe { p.add(v.len).read() })
        })
        .unwrap_or_else(|e| fail(e))
        .into()
    }

    /// Inserts `value` at `index`, shifting the rest right.
    ///
    /// # Panics
    ///
    /// If `index > len`, or where [`try_push`](Self::try_push) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend([1, 3]);
    /// v.insert(1, 2);
    /// assert_eq!(v.as_slice(), &[1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn insert(&mut self, index: usize, value: impl IntoSegment<T>) {
        assert!(
            index <= self.len,
            "insertion index {index} is out of bounds (len {})",
            self.len
        );
        self.try_push(value).unwrap_or_else(|e| fail(e));
        self.with_mut_slice(|s| s[index..].rotate_right(1))
            .unwrap_or_else(|e| fail(e));
    }

    /// Removes and returns the element at `index`, shifting the rest left.
    ///
    /// # Panics
    ///
    /// If `index >= len`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend([1, 2, 3]);
    /// assert_eq!(v.remove(0), 1);
    /// assert_eq!(v.as_slice(), &[2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(&mut self, index: usize) -> T {
        assert!(
            index < self.len,
            "removal index {index} is out of bounds (len {})",
            self.len
        );
        self.with_mut_slice(|s| s[index..].rotate_left(1))
            .unwrap_or_else(|e| fail(e));
        self.pop()
            .unwrap_or_else(|| unreachable!("a vector of at least one element"))
    }

    /// Removes and returns the element at `index`, replacing it with the last one (O(1)).
    ///
    /// # Panics
    ///
    /// If `index >= len`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend([1, 2, 3]);
    /// assert_eq!(v.swap_remove(0), 1);
    /// assert_eq!(v.as_slice(), &[3, 2]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn swap_remove(&mut self, index: usize) -> T {
        assert!(
            index < self.len,
            "swap_remove index {index} is out of bounds (len {})",
            self.len
        );
        let last = self.len - 1;
        self.with_mut_slice(|s| s.swap(index, last))
            .unwrap_or_else(|e| fail(e));
        self.pop()
            .unwrap_or_else(|| unreachable!("a vector of at least one element"))
    }

    /// Keeps the first `len` elements, dropping the rest.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend([1, 2, 3]);
    /// v.truncate(1);
    /// assert_eq!(v.as_slice(), &[1]);
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
        let _ = self.with_seg(|v, s| {
            v.check()?;
            let p = v.buf_ptr(s, v.len)?;
            let tail = std::ptr::slice_from_raw_parts_mut(
                // SAFETY: `len < v.len`: inside the checked buffer.
                unsafe { p.add(len) },
                v.len - len,
            );
            // Shorten first: a panicking destructor leaks the rest instead of dropping twice.
            v.len = len;
            // SAFETY: the tail's elements are initialised, no longer covered by the length,
            // and dropped once.
            unsafe { std::ptr::drop_in_place(tail) };
            Ok(())
        });
    }

    /// Removes every element.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend([1, 2, 3]);
    /// v.clear();
    /// assert!(v.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Keeps the elements for which `keep` returns `true`, in order.
    ///
    /// If `keep` panics, the elements not yet visited are leaked (never dropped twice).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u32>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend(1..=6);
    /// v.retain(|x| x % 2 == 0);
    /// assert_eq!(v.as_slice(), &[2, 4, 6]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.retain_mut(|x| keep(x));
    }

    /// [`retain`](Self::retain) with `&mut` access to each element.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u32>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend(1..=4);
    /// v.retain_mut(|x| { *x *= 10; *x > 15 });
    /// assert_eq!(v.as_slice(), &[20, 30, 40]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain_mut(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        let len = self.len;
        if len == 0 {
            return;
        }
        // Inside its segment or moved out of it (the mapping pinned while this runs).
        self.with_seg(|v, s| {
            v.check()?;
            let p = v.buf_ptr(s, len)?;
            // While user code runs the length covers only the kept prefix: a panic leaks the
            // rest.
            v.len = 0;
            let mut kept = 0;
            for i in 0..len {
                // SAFETY: `i < len`: an initialised element of the checked buffer, visited
                // once; slots `kept..i` are moved-from, `0..kept` are kept elements.
                unsafe {
                    let x = p.add(i);
                    if keep(&mut *x) {
                        if i != kept {
                            std::ptr::copy_nonoverlapping(x, p.add(kept), 1);
                        }
                        kept += 1;
                        v.len = kept;
                    } else {
                        std::ptr::drop_in_place(x);
                    }
                }
            }
            v.len = kept;
            Ok(())
        })
        .unwrap_or_else(|e| fail(e));
    }

    /// Removes the elements in `range` and returns them (moved out of the segment) as an
    /// iterator.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.extend([1, 2, 3, 4]);
    /// let out: std::vec::Vec<u8> = v.drain(1..3).collect();
    /// assert_eq!(out, [2, 3]);
    /// assert_eq!(v.as_slice(), &[1, 4]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn drain(&mut self, range: impl RangeBounds<usize>) -> std::vec::IntoIter<T> {
        let len = self.len;
        let start = match range.start_bound() {
            std::ops::Bound::Included(&s) => s,
            std::ops::Bound::Excluded(&s) => {
                s.checked_add(1).unwrap_or_else(|| fail(range_error()))
            }
            std::ops::Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            std::ops::Bound::Included(&e) => {
                e.checked_add(1).unwrap_or_else(|| fail(range_error()))
            }
            std::ops::Bound::Excluded(&e) => e,
            std::ops::Bound::Unbounded => len,
        };
        assert!(
            start <= end && end <= len,
            "drain range {start}..{end} is out of bounds (len {len})"
        );
        if start == end {
            return std::vec::Vec::new().into_iter();
        }
        // Inside its segment or moved out of it (the mapping pinned while this runs).
        self.with_seg(|v, s| {
            v.check()?;
            let p = v.buf_ptr(s, len)?;
            let mut out = std::vec::Vec::with_capacity(end - start);
            // SAFETY: `start..end` are initialised elements of the checked buffer, moved out
            // once; the tail is then moved down over them and the length reduced, so each
            // element is owned exactly once.
            unsafe {
                v.len = start;
                for i in start..end {
                    out.push(p.add(i).read());
                }
                std::ptr::copy(p.add(end), p.add(start), len - end);
                v.len = len - (end - start);
            }
            Ok(out)
        })
        .unwrap_or_else(|e| fail(e))
        .into_iter()
    }

    /// Appends clones of `items`.
    ///
    /// # Panics
    ///
    /// Where [`try_reserve`](Self::try_reserve) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// m.lock().unwrap().extend_from_slice(b"hi");
    /// assert_eq!(m.lock().unwrap().as_slice(), b"hi");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn extend_from_slice(&mut self, items: &[T])
    where
        T: Clone,
    {
        self.try_extend_from_slice(items)
            .unwrap_or_else(|e| fail(e));
    }

    /// [`extend_from_slice`](Self::extend_from_slice), returning errors: on
    /// [`ErrorKind::OutOfMemory`] nothing was appended.
    ///
    /// # Errors
    ///
    /// As [`try_reserve`](Self::try_reserve).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.try_extend_from_slice(b"ab")?;
    /// let big = vec![0u8; 1 << 20];
    /// assert_eq!(v.try_extend_from_slice(&big).unwrap_err().kind(), ErrorKind::OutOfMemory);
    /// assert_eq!(v.as_slice(), b"ab");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_extend_from_slice(&mut self, items: &[T]) -> Result<()>
    where
        T: Clone,
    {
        self.try_reserve(items.len())?;
        if items.is_empty() {
            return Ok(());
        }
        self.with_seg(|v, s| {
            v.check()?;
            let p = v.buf_ptr(s, v.len + items.len())?;
            for x in items {
                let x = x.clone();
                // SAFETY: `try_reserve` made room for `items.len()` more elements and the
                // buffer holds `len + items.len()` elements inside the mapping (checked); slot
                // `len` is unused. The length covers it right after, so a panicking `clone`
                // leaves every written element owned once.
                unsafe { p.add(v.len).write(x) };
                v.len += 1;
            }
            Ok(())
        })
    }

    /// Frees unused capacity (reallocating to exactly `len` elements, or freeing the buffer of
    /// an empty vector).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::Vec;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("v", Mutex::new(Vec::<u8>::new()))?;
    /// let mut v = m.lock().unwrap();
    /// v.reserve(1000);
    /// v.push(1);
    /// v.shrink_to_fit();
    /// assert!(v.capacity() < 1000);
    /// assert_eq!(v.as_slice(), &[1]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn shrink_to_fit(&mut self) {
        if size_of::<T>() == 0 || self.cap == self.len || self.buf.is_null() {
            return;
        }
        let _ = self.with_seg(|v, s| {
            let old = v
                .buf
                .offset()
                .ok_or_else(|| Error::new(ErrorKind::Corrupted, "no buffer"))?;
            v.check()?;
            let src = v.buf_ptr(s, v.cap)?;
            let size = size_of::<T>();
            let new = if v.len == 0 {
                None
            } else {
                let off = v.alloc.allocate(s, v.len * size, align_of::<T>())?;
                let dst = s.ptr::<T>(off, v.len)?;
                // SAFETY: distinct checked blocks; `len` initialised elements moved bitwise.
                unsafe { std::ptr::copy_nonoverlapping(src, dst, v.len) };
                Some(off)
            };
            match new {
                Some(off) => v.buf.set_offset(off),
                None => v.buf.set_null(),
            }
            let old_cap = std::mem::replace(&mut v.cap, v.len);
            let _ = v.alloc.deallocate(s, old, old_cap * size, align_of::<T>());
            Ok(())
        });
    }

    /// Frees everything: elements, then the buffer. The header is emptied first, so a crash in
    /// between leaks the memory instead of leaving the header pointing at freed memory.
    fn free(&mut self, s: &SegmentRef<'_>) -> Result<()> {
        let Some(off) = self.buf.offset() else {
            self.len = 0;
            return Ok(());
        };
        self.check()?;
        let p = self.buf_ptr(s, self.cap)?;
        let (len, cap) = (self.len, self.cap);
        self.buf.set_null();
        self.len = 0;
        self.cap = 0;
        if std::mem::needs_drop::<T>() {
            // SAFETY: `len` initialised elements of the checked buffer, no longer reachable from
            // the header, dropped once.
            unsafe { std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(p, len)) };
        }
        self.alloc
            .deallocate(s, off, cap * size_of::<T>(), align_of::<T>())
    }
}

#[cold]
fn range_error() -> Error {
    Error::new(ErrorKind::InvalidArgument, "range bound overflows usize")
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Drop for Vec<T, A> {
    /// Drops the elements and frees the buffer through the segment; leaks them if the vector
    /// cannot reach its segment (moved into another segment, its segment unmapped or mapped
    /// twice in this process, a corrupt header). Never panics on its own account.
    fn drop(&mut self) {
        if self.buf.is_null() {
            return;
        }
        let _ = self.with_seg(|v, s| v.free(s));
    }
}

impl<T: ShmSafe + Unpin> Default for Vec<T> {
    fn default() -> Vec<T> {
        Vec::new()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Deref for Vec<T, A> {
    type Target = [T];

    /// The elements; panics if the vector is not inside its segment (see
    /// [`try_as_slice`](Vec::try_as_slice)).
    #[inline]
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> DerefMut for Vec<T, A> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> AsRef<[T]> for Vec<T, A> {
    fn as_ref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> AsMut<[T]> for Vec<T, A> {
    fn as_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: ShmSafe + Unpin + fmt::Debug, A: ShmAlloc> fmt::Debug for Vec<T, A> {
    /// Formats the elements, also for a vector moved out of its segment (while the segment is
    /// mapped once in this process); otherwise a placeholder with the length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.with_slice(|s| f.debug_list().entries(s).finish()) {
            Ok(r) => r,
            Err(e) => write!(f, "Vec {{ len: {}, <{}> }}", self.len, e.kind()),
        }
    }
}

impl<T: ShmSafe + Unpin + Clone, A: ShmAlloc + Clone> Clone for Vec<T, A> {
    /// A copy in the same segment (returned moved out of it: store it there to use it).
    ///
    /// # Panics
    ///
    /// If the segment is full, or the vector cannot reach its segment.
    fn clone(&self) -> Vec<T, A> {
        let mut out = Vec::new_with(self.alloc.clone());
        if self.len == 0 {
            if let Some(id) = self.seg.id() {
                out.seg.store_id(id);
            }
            return out;
        }
        let fill = |out: &mut Vec<T, A>, s: &SegmentRef<'_>| -> Result<()> {
            self.check()?;
            let src = self.buf_ptr(s, self.len)?;
            // SAFETY: `len` initialised elements inside the mapping (checked), which stays
            // mapped while this runs; `&self` keeps this process from mutating them.
            let items = unsafe { std::slice::from_raw_parts(src, self.len) };
            out.seg.store_id(s.id());
            out.grow_to(s, items.len(), items.len())?;
            let dst = out.buf_ptr(s, items.len())?;
            for (i, x) in items.iter().enumerate() {
                // SAFETY: slot `i < len <= cap` of the new, checked buffer; the length covers
                // it right after, so a panicking `clone` leaks nothing twice.
                unsafe { dst.add(i).write(x.clone()) };
                out.len = i + 1;
            }
            Ok(())
        };
        // Inside its segment, or moved out of it (the segment's one mapping, pinned).
        let r = match self.place() {
            Ok(Where::Resident(s)) => fill(&mut out, &s),
            Ok(Where::Detached(id)) => SegmentRef::with_detached(id, |s| fill(&mut out, &s))
                .unwrap_or_else(|| Err(super::not_mapped(id))),
            Ok(Where::Unbound) => Err(super::unbound()),
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => out,
            Err(e) => fail(e),
        }
    }
}

// Comparisons and hashing read through `read`, which also works for a vector moved out of
// its segment: slice algorithms (`sort`, ...) on a `Vec<Vec<T>>` hold elements in temporaries
// off the segment while they compare them.

impl<T: ShmSafe + Unpin, A: ShmAlloc> Vec<T, A> {
    /// The elements, wherever the vector is; panics where [`with_slice`](Self::with_slice)
    /// fails.
    fn read<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        self.with_slice(f).unwrap_or_else(|e| fail(e))
    }
}

impl<T, U, A, B> PartialEq<Vec<U, B>> for Vec<T, A>
where
    T: ShmSafe + Unpin + PartialEq<U>,
    U: ShmSafe + Unpin,
    A: ShmAlloc,
    B: ShmAlloc,
{
    fn eq(&self, other: &Vec<U, B>) -> bool {
        self.read(|a| other.read(|b| a == b))
    }
}

impl<T: ShmSafe + Unpin + PartialEq<U>, U, A: ShmAlloc> PartialEq<[U]> for Vec<T, A> {
    fn eq(&self, other: &[U]) -> bool {
        self.read(|a| a == other)
    }
}

impl<T: ShmSafe + Unpin + PartialEq<U>, U, A: ShmAlloc> PartialEq<&[U]> for Vec<T, A> {
    fn eq(&self, other: &&[U]) -> bool {
        self.read(|a| a == *other)
    }
}

impl<T: ShmSafe + Unpin + PartialEq<U>, U, A: ShmAlloc, const N: usize> PartialEq<[U; N]>
    for Vec<T, A>
{
    fn eq(&self, other: &[U; N]) -> bool {
        self.read(|a| a == other)
    }
}

impl<T: ShmSafe + Unpin + PartialEq<U>, U, A: ShmAlloc> PartialEq<std::vec::Vec<U>> for Vec<T, A> {
    fn eq(&self, other: &std::vec::Vec<U>) -> bool {
        self.read(|a| a == other.as_slice())
    }
}

impl<T: ShmSafe + Unpin + Eq, A: ShmAlloc> Eq for Vec<T, A> {}

impl<T: ShmSafe + Unpin + PartialOrd, A: ShmAlloc> PartialOrd for Vec<T, A> {
    fn partial_cmp(&self, other: &Vec<T, A>) -> Option<Ordering> {
        self.read(|a| other.read(|b| a.partial_cmp(b)))
    }
}

impl<T: ShmSafe + Unpin + Ord, A: ShmAlloc> Ord for Vec<T, A> {
    fn cmp(&self, other: &Vec<T, A>) -> Ordering {
        self.read(|a| other.read(|b| a.cmp(b)))
    }
}

impl<T: ShmSafe + Unpin + Hash, A: ShmAlloc> Hash for Vec<T, A> {
    /// Hashes as the slice does.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.read(|a| a.hash(state));
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Extend<T> for Vec<T, A> {
    /// # Panics
    ///
    /// Where [`push`](Vec::push) panics.
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        let mut iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        loop {
            if self.len >= self.capacity() {
                // No room: push the next element (growing), then reserve for what is left.
                let Some(x) = iter.next() else {
                    return;
                };
                self.push(x);
                self.reserve(iter.size_hint().0);
                continue;
            }
            // Fill the room there is with one resolution of the segment.
            let done = self
                .with_seg(|v, s| {
                    v.check()?;
                    let p = v.buf_ptr(s, v.cap)?;
                    while v.len < v.capacity() {
                        let Some(x) = iter.next() else {
                            return Ok(true);
                        };
                        // SAFETY: `len < capacity` and the buffer holds `cap` elements inside
                        // the mapping (checked; nothing for zero-sized `T`); slot `len` is
                        // unused, and the length covers it right after.
                        unsafe { p.add(v.len).write(x) };
                        v.len += 1;
                    }
                    Ok(false)
                })
                .unwrap_or_else(|e| fail(e));
            if done {
                return;
            }
        }
    }
}

impl<'a, T: ShmSafe + Unpin + Copy, A: ShmAlloc> Extend<&'a T> for Vec<T, A> {
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied());
    }
}

impl<'a, T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for &'a Vec<T, A> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> std::slice::Iter<'a, T> {
        self.as_slice().iter()
    }
}

impl<'a, T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for &'a mut Vec<T, A> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;

    fn into_iter(self) -> std::slice::IterMut<'a, T> {
        self.as_mut_slice().iter_mut()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for Vec<T, A> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    /// Moves the elements out of the segment (into a process-local `std::vec::Vec`) and frees
    /// the buffer; works for a vector inside its segment or moved out of it.
    ///
    /// # Panics
    ///
    /// If the vector cannot reach its segment.
    fn into_iter(mut self) -> std::vec::IntoIter<T> {
        if self.buf.is_null() && self.len == 0 {
            // Nothing allocated (a `Vec::new()` never filled): nothing to move or free, and
            // perhaps no segment to reach.
            return std::vec::Vec::new().into_iter();
        }
        let out = self
            .with_seg(|v, s| {
                v.check()?;
                let p = v.buf_ptr(s, v.len)?;
                let mut out = std::vec::Vec::with_capacity(v.len);
                let len = std::mem::replace(&mut v.len, 0);
                for i in 0..len {
                    // SAFETY: `len` initialised elements of the checked buffer; the length was
                    // reset first, so each is moved out exactly once.
                    out.push(unsafe { p.add(i).read() });
                }
                v.free(s)?;
                Ok(out)
            })
            .unwrap_or_else(|e| fail(e));
        out.into_iter()
    }
}

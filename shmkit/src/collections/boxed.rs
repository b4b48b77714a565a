//! [`Box`]: the unique owner of one value allocated in a managed segment.
#![allow(unsafe_code)]

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};

use super::segment_ref::{AsSegment, SegmentAlloc, SegmentRef, ShmAlloc};
use super::{IntoSegment, Where, fail, with_seg_ref};
use crate::error::{Error, ErrorKind, Result};
use crate::ptr::{RelPtr, SegmentBase};
use crate::shm_safe::ShmSafe;

/// The error for a pointer (box, `Arc`) asked for a reference while outside its segment.
#[cold]
pub(crate) fn detached_pointer<H>(header: &H) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "this pointer (at {:p}) is not inside its segment: it was moved out (a new or cloned \
             pointer, or one popped or removed from a collection), so it cannot lend references \
             to its value; store it in the segment, or read it with `with`",
            std::ptr::from_ref(header)
        ),
    )
}

/// The error for a pointer whose header holds no block.
#[cold]
pub(crate) fn empty_pointer(what: &str) -> Error {
    Error::new(
        ErrorKind::Corrupted,
        format!("a {what} points at nothing (a zeroed or emptied header)"),
    )
}

/// Allocation size for a `T` (at least one byte, so zero-sized values get a block of their own).
#[inline]
pub(crate) const fn block_size<T>() -> usize {
    if size_of::<T>() == 0 {
        1
    } else {
        size_of::<T>()
    }
}

/// The unique owner of a `T` allocated in a managed segment: `std::boxed::Box` with the segment
/// as its allocator. Dropping it drops the value and frees the block.
///
/// The header (16 bytes plus the allocator) holds the segment's id and the block's offset, like
/// every collection's (see the [module docs](crate::collections)): inside its segment it
/// dereferences to the value; moved out of it (returned by `pop`, built with
/// [`new_in`](Box::new_in)) it can be read with [`with`](Box::with), unwrapped with
/// [`into_inner`](Box::into_inner), dropped (freeing the block) or stored back; moved into
/// another segment, every use is an error (a panic from `Deref`) and dropping it leaks.
///
/// Values enter collections of boxes through [`NewBox`] (the blanket
/// `IntoSegment<T> for T` leaves no room for an `IntoSegment<Box<T>> for T`).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::{Box, NewBox, Vec};
/// use shmkit::sync::Mutex;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let b = seg.construct("b", Box::new_in([7u64; 64], &*seg))?;
/// assert_eq!(b[63], 7);
/// let list = seg.construct("l", Mutex::new(Vec::<Box<u32>>::new()))?;
/// list.lock().unwrap().push(NewBox(5));
/// assert_eq!(*list.lock().unwrap()[0], 5);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct Box<T: ShmSafe + Unpin, A: ShmAlloc = SegmentAlloc> {
    seg: SegmentBase,
    ptr: RelPtr<T>,
    alloc: A,
}

// SAFETY: repr(C) of `ShmSafe` fields (atomics for the id and offset, the allocator): any bit
// pattern is a value, checked on every use (the id against the mapping the header lies in, the
// offset's range and alignment against that mapping), so a garbage header is an error, never an
// access outside the segment. No addresses. Send + Sync as its fields (`T: ShmSafe` is). Its
// drop frees segment memory, which only leaks when skipped.
unsafe impl<T: ShmSafe + Unpin, A: ShmAlloc> ShmSafe for Box<T, A> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::Box"),
        crate::fingerprint::combine(T::FINGERPRINT, A::FINGERPRINT),
    );
}

/// A value on its way into a [`Box`] in a segment: `IntoSegment<Box<T>>` for anything that
/// converts into a `T`. `vec.push(NewBox(x))` boxes `x` in `vec`'s segment.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::{AsSegment, Box, IntoSegment, NewBox, String};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let b: Box<String> = NewBox("hi").into_segment(&seg.segment()?)?;
/// assert_eq!(b.with(|s| s.len())?, 2);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewBox<U>(pub U);

impl<T, U, A> IntoSegment<Box<T, A>> for NewBox<U>
where
    T: ShmSafe + Unpin,
    U: IntoSegment<T>,
    A: ShmAlloc + Default,
{
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<Box<T, A>> {
        let value = self.0.into_segment(seg)?;
        Box::try_new_in_alloc(value, seg, A::default())
    }
}

impl<T: ShmSafe + Unpin> Box<T> {
    /// Moves `value` into a new block of `seg`. The box is returned outside the segment: store
    /// it there (construct it, push it) to dereference it. (To box something that converts
    /// into a `T`, such as a `&str` for a `Box<String>`, use [`NewBox`].)
    ///
    /// # Panics
    ///
    /// Where [`try_new_in`](Self::try_new_in) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Box;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let b = Box::new_in(5u32, &*seg);
    /// assert_eq!(b.with(|x| *x)?, 5);
    /// let stored = seg.construct("b", b)?;
    /// assert_eq!(**stored, 5);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(value: T, seg: &impl AsSegment) -> Box<T> {
        Self::try_new_in(value, seg).unwrap_or_else(|e| fail(e))
    }

    /// [`new_in`](Self::new_in), returning errors.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full (`value` is dropped); as
    /// [`AsSegment::segment`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::collections::Box;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let e = Box::try_new_in([0u8; 1 << 17], &*seg).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_new_in(value: T, seg: &impl AsSegment) -> Result<Box<T>> {
        Self::try_new_in_alloc(value, seg, SegmentAlloc)
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Box<T, A> {
    /// [`try_new_in`](Box::try_new_in) with allocator `alloc`, for anything that converts into
    /// a `T` in the segment.
    ///
    /// # Errors
    ///
    /// As [`try_new_in`](Box::try_new_in).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::{Box, SegmentAlloc};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let b = Box::try_new_in_alloc(1u8, &*seg, SegmentAlloc)?;
    /// assert_eq!(b.with(|x| *x)?, 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_new_in_alloc(
        value: impl IntoSegment<T>,
        seg: &impl AsSegment,
        alloc: A,
    ) -> Result<Box<T, A>> {
        let s = seg.segment()?;
        let value = value.into_segment(&s)?;
        let off = alloc.allocate(&s, block_size::<T>(), align_of::<T>())?;
        let p = match s.ptr::<T>(off, 1) {
            Ok(p) => p,
            Err(e) => {
                let _ = alloc.deallocate(&s, off, block_size::<T>(), align_of::<T>());
                return Err(e);
            }
        };
        // SAFETY: a fresh block of the segment, inside the mapping and aligned (checked), that
        // nothing else uses.
        unsafe { p.write(value) };
        let b = Box {
            seg: SegmentBase::new(s.id()),
            ptr: RelPtr::from_offset(off),
            alloc,
        };
        Ok(b)
    }

    /// The allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::{Box, SegmentAlloc};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert_eq!(*Box::new_in(1u8, &*seg).allocator(), SegmentAlloc);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn allocator(&self) -> &A {
        &self.alloc
    }

    /// The value's address in segment `s`, checked.
    #[inline]
    fn value_ptr(&self, s: &SegmentRef<'_>) -> Result<*mut T> {
        let off = self.ptr.offset().ok_or_else(|| empty_pointer("box"))?;
        s.ptr::<T>(off, 1)
    }

    /// The value, if the box is inside its segment.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the box is not inside a segment (it was moved out) or
    /// was moved into another one; [`ErrorKind::Corrupted`] if its header does not fit the
    /// segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Box;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let b = Box::new_in(3u8, &*seg);
    /// assert!(b.try_get().is_err()); // on the stack
    /// let b = seg.construct("b", b)?;
    /// assert_eq!(*b.try_get()?, 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_get(&self) -> Result<&T> {
        match Where::of(self, &self.seg)? {
            Where::Resident(s) => {
                let p = self.value_ptr(&s)?;
                // SAFETY: the value is initialised and inside the mapping (checked), which lives
                // as long as `&self` (the header lies in it); the box owns it and `&self`
                // borrows the box, so nothing in this process mutates it.
                Ok(unsafe { &*p })
            }
            Where::Detached(_) | Where::Unbound => Err(detached_pointer(self)),
        }
    }

    /// The value, mutably, if the box is inside its segment.
    ///
    /// # Errors
    ///
    /// As [`try_get`](Self::try_get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Box;
    /// use shmkit::sync::Mutex;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("b", Mutex::new(Box::new_in(3u8, &*seg)))?;
    /// *m.lock().unwrap().try_get_mut()? += 1;
    /// assert_eq!(**m.lock().unwrap(), 4);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_get_mut(&mut self) -> Result<&mut T> {
        match Where::of(self, &self.seg)? {
            Where::Resident(s) => {
                let p = self.value_ptr(&s)?;
                // SAFETY: as in `try_get`; `&mut self` makes the access exclusive.
                Ok(unsafe { &mut *p })
            }
            Where::Detached(_) | Where::Unbound => Err(detached_pointer(self)),
        }
    }

    /// Runs `f` on the value wherever the box is: inside its segment, or moved out of it (the
    /// segment must then be mapped exactly once in this process; it stays mapped while `f`
    /// runs).
    ///
    /// # Errors
    ///
    /// As [`try_get`](Self::try_get), except that a box moved out of its segment works.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Box;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let b = Box::new_in(20u32, &*seg);
    /// assert_eq!(b.with(|x| x + 1)?, 21);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R> {
        with_seg_ref(self, &self.seg, |s| {
            let p = self.value_ptr(s)?;
            // SAFETY: as in `try_get`, for the span of `f` (the mapping is pinned or borrowed).
            Ok(f(unsafe { &*p }))
        })
    }

    /// [`with`](Self::with) with `&mut` access.
    ///
    /// # Errors
    ///
    /// As [`with`](Self::with).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Box;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let mut b = Box::new_in(20u32, &*seg);
    /// b.with_mut(|x| *x = 1)?;
    /// assert_eq!(b.with(|x| *x)?, 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_mut<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> Result<R> {
        with_seg_ref(self, &self.seg, |s| {
            let p = self.value_ptr(s)?;
            // SAFETY: as in `try_get_mut`: the box owns the value and `&mut self` is exclusive
            // (the header is only read here).
            Ok(f(unsafe { &mut *p }))
        })
    }

    /// Moves the value out (off the segment) and frees the block.
    ///
    /// # Errors
    ///
    /// As [`with`](Self::with); the box is then dropped (and its block leaked if it cannot
    /// reach its segment).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Box;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let free = seg.free_memory()?;
    /// let b = Box::new_in(9u64, &*seg);
    /// assert_eq!(b.try_into_inner()?, 9);
    /// assert_eq!(seg.free_memory()?, free);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_into_inner(self) -> Result<T> {
        with_seg_ref(&self, &self.seg, |s| {
            let off = self.ptr.offset().ok_or_else(|| empty_pointer("box"))?;
            let p = s.ptr::<T>(off, 1)?;
            // Empty the header first: a crash from here on leaks the block.
            self.ptr.set_null();
            // SAFETY: the initialised value, no longer reachable from the header: read once.
            let value = unsafe { p.read() };
            let _ = self
                .alloc
                .deallocate(s, off, block_size::<T>(), align_of::<T>());
            Ok(value)
        })
    }

    /// Moves the value out and frees the block; panics where
    /// [`try_into_inner`](Self::try_into_inner) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Box;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert_eq!(Box::new_in(9u64, &*seg).into_inner(), 9);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn into_inner(self) -> T {
        self.try_into_inner().unwrap_or_else(|e| fail(e))
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Drop for Box<T, A> {
    /// Drops the value and frees its block; leaks both if the box cannot reach its segment
    /// (moved into another segment, the segment unmapped or mapped twice here, a corrupt
    /// header). The header is emptied first, so a crash midway leaks instead of freeing twice.
    fn drop(&mut self) {
        let Some(off) = self.ptr.offset() else {
            return;
        };
        let _ = with_seg_ref(self, &self.seg, |s| {
            let p = s.ptr::<T>(off, 1)?;
            self.ptr.set_null();
            // SAFETY: the initialised value, no longer reachable from the header: dropped once.
            unsafe { std::ptr::drop_in_place(p) };
            self.alloc
                .deallocate(s, off, block_size::<T>(), align_of::<T>())
        });
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> Deref for Box<T, A> {
    type Target = T;

    /// The value; panics if the box is not inside its segment (see [`Box::try_get`]).
    fn deref(&self) -> &T {
        self.try_get().unwrap_or_else(|e| fail(e))
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> DerefMut for Box<T, A> {
    fn deref_mut(&mut self) -> &mut T {
        self.try_get_mut().unwrap_or_else(|e| fail(e))
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> AsRef<T> for Box<T, A> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: ShmSafe + Unpin + fmt::Debug, A: ShmAlloc> fmt::Debug for Box<T, A> {
    /// Formats the value (also for a box moved out of its segment while the segment is mapped
    /// once here), otherwise a placeholder.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.with(|v| fmt::Debug::fmt(v, f)) {
            Ok(r) => r,
            Err(e) => write!(f, "Box {{ <{}> }}", e.kind()),
        }
    }
}

impl<T: ShmSafe + Unpin + Clone, A: ShmAlloc + Clone> Clone for Box<T, A> {
    /// A box of a clone of the value, in the same segment (returned outside it).
    ///
    /// # Panics
    ///
    /// If the segment is full or the box cannot reach its segment.
    fn clone(&self) -> Box<T, A> {
        with_seg_ref(self, &self.seg, |s| {
            let p = self.value_ptr(s)?;
            // SAFETY: as in `with`.
            let v = unsafe { &*p }.clone();
            Box::try_new_in_alloc(v, s, self.alloc.clone())
        })
        .unwrap_or_else(|e| fail(e))
    }
}

impl<T: ShmSafe + Unpin + PartialEq, A: ShmAlloc> PartialEq for Box<T, A> {
    /// Compares the values (both boxes inside their segments).
    fn eq(&self, other: &Box<T, A>) -> bool {
        **self == **other
    }
}

impl<T: ShmSafe + Unpin + Eq, A: ShmAlloc> Eq for Box<T, A> {}

impl<T: ShmSafe + Unpin + PartialOrd, A: ShmAlloc> PartialOrd for Box<T, A> {
    fn partial_cmp(&self, other: &Box<T, A>) -> Option<Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: ShmSafe + Unpin + Ord, A: ShmAlloc> Ord for Box<T, A> {
    fn cmp(&self, other: &Box<T, A>) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: ShmSafe + Unpin + Hash, A: ShmAlloc> Hash for Box<T, A> {
    /// Hashes as the value does.
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

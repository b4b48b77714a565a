//! Shared ownership in a managed segment: [`Arc`] and [`Weak`] (counts in the segment, next
//! to the value) and [`IntrusivePtr`] (a count inside the value, Boost's `intrusive_ptr`).
//! See [`Arc`]'s "Crash semantics" for what a process killed midway does.
#![allow(unsafe_code)]

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use super::boxed::{block_size, detached_pointer, empty_pointer};
use super::segment_ref::{AsSegment, SegmentRef};
use super::{IntoSegment, Where, fail, with_seg_ref};
use crate::error::{Error, ErrorKind, Result};
use crate::ptr::{RelPtr, SegmentBase};
use crate::shm_safe::ShmSafe;

/// Counts above this are treated as corruption (or a leak of billions of clones): cloning
/// fails instead of wrapping.
const MAX_COUNT: u64 = 1 << 62;

/// The block an [`Arc`] points at: the counts, then the value.
#[repr(C)]
struct ArcInner<T> {
    /// Strong pointers.
    strong: AtomicU64,
    /// Weak pointers, plus one held by all the strong ones together.
    weak: AtomicU64,
    value: T,
}

#[cold]
fn count_error(what: &str, n: u64) -> Error {
    Error::new(
        ErrorKind::Corrupted,
        format!("an Arc's {what} count is {n}, impossible for a live pointer"),
    )
}

/// The block at `off` in `s`, checked.
#[inline]
fn inner_ptr<T>(s: &SegmentRef<'_>, off: u64) -> Result<*mut ArcInner<T>> {
    s.ptr::<ArcInner<T>>(off, 1)
}

/// The block's counts (strong, weak).
///
/// # Safety
///
/// `p` points at an allocated block (inside the mapping, aligned) that stays allocated while
/// the references are used.
#[inline]
unsafe fn counts<'x, T>(p: *mut ArcInner<T>) -> (&'x AtomicU64, &'x AtomicU64) {
    // SAFETY: the caller's contract; references to the atomic fields only (never to the value,
    // which may have been dropped).
    unsafe { (&(*p).strong, &(*p).weak) }
}

/// Drops one weak reference to the block at `off` (the implicit one of the strong pointers,
/// or a [`Weak`]'s); frees the block if it was the last.
///
/// # Safety
///
/// `p` is the block at `off`, allocated, and the caller owns the weak reference it releases.
unsafe fn release_weak<T>(s: &SegmentRef<'_>, off: u64, p: *mut ArcInner<T>) -> Result<()> {
    let old = {
        // SAFETY: the caller's weak reference keeps the block allocated until here.
        let (_, weak) = unsafe { counts(p) };
        let old = weak.fetch_sub(1, Ordering::Release);
        if old == 0 {
            weak.fetch_add(1, Ordering::Relaxed);
            return Err(count_error("weak", 0));
        }
        old
    };
    if old == 1 {
        fence(Ordering::Acquire);
        s.deallocate(off)?;
    }
    Ok(())
}

/// A reference-counted pointer to a `T` in a managed segment, shared by every process that maps
/// it: `std::sync::Arc` with the counts in the segment.
///
/// The block holds the strong and weak counts (atomics) and the value. Any process may clone or
/// drop an `Arc`; the last strong owner, in whatever process, drops the value, and the last
/// owner of either kind frees the block.
///
/// The header (16 bytes: the segment id and the block's offset) is [`ShmSafe`], so an `Arc` can
/// be a named object or an element of any collection. Inside its segment it dereferences to the
/// value; moved out of it (a fresh [`Arc::new_in`], a `clone`, a `pop`) it is read with
/// [`with`](Arc::with) and counts like any other; moved into another segment, it is an error
/// (a panic from `Deref` and `clone`) and dropping it leaks.
///
/// # Crash semantics
///
/// The counts are atomics in the segment, updated by every process that clones or drops a
/// pointer; the one update that takes a count to zero (there is exactly one) drops the value
/// or frees the block. A pointer's header is emptied *before* its count is decremented, so a
/// process killed at any point either has decremented (its reference is gone) or has not (its
/// reference is leaked): the value and its block then stay allocated for the segment's life (a
/// leak), but are never dropped or freed twice, and no live pointer ever sees freed memory. A
/// process killed (or exiting) while holding pointers on its stack or heap leaks them the same
/// way. A peer that corrupts a count can make the value be dropped early: that is the same
/// trust as any data in the segment; a count found at zero by a decrement or a clone is
/// [`ErrorKind::Corrupted`] (a panic from `clone`, a leak from `drop`), never a second free.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::{Arc, NewArc, Vec};
/// use shmkit::sync::Mutex;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let counter = seg.construct("counter", Arc::new_in(AtomicU64::new(0), &*seg))?;
/// let users = seg.construct("users", Mutex::new(Vec::<Arc<AtomicU64>>::new()))?;
/// users.lock().unwrap().push(counter.clone());
/// users.lock().unwrap()[0].fetch_add(1, Ordering::Relaxed);
/// assert_eq!(counter.load(Ordering::Relaxed), 1);
/// assert_eq!(Arc::strong_count(counter), 2);
/// users.lock().unwrap().clear();
/// assert_eq!(Arc::strong_count(counter), 1);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct Arc<T: ShmSafe> {
    seg: SegmentBase,
    ptr: RelPtr<ArcInner<T>>,
}

// SAFETY: repr(C) of two atomics (the id and the offset): any bit pattern is a value, checked on
// every use (the id against the mapping the header lies in, the block's range and alignment
// against that mapping); no addresses. The value is shared between processes and threads
// through `&T` only, and `T: ShmSafe` is `Sync`. Dropping frees segment memory (leaks when
// skipped).
unsafe impl<T: ShmSafe> ShmSafe for Arc<T> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::Arc"),
        T::FINGERPRINT,
    );
}

/// A non-owning pointer to an [`Arc`]'s block: keeps the block (not the value) allocated, and
/// [`upgrade`](Weak::upgrade)s to an `Arc` while a strong owner remains.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::Arc;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let a = Arc::new_in(5u32, &*seg);
/// let w = Arc::downgrade(&a);
/// assert_eq!(w.upgrade().map(|a| a.with(|v| *v).unwrap()), Some(5));
/// drop(a);
/// assert!(w.upgrade().is_none());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct Weak<T: ShmSafe> {
    seg: SegmentBase,
    ptr: RelPtr<ArcInner<T>>,
}

// SAFETY: as for `Arc`: two atomics, checked on use; a `Weak` never touches the value.
unsafe impl<T: ShmSafe> ShmSafe for Weak<T> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::Weak"),
        T::FINGERPRINT,
    );
}

/// A value on its way into an [`Arc`] in a segment: `IntoSegment<Arc<T>>` for anything that
/// converts into a `T`. `vec.push(NewArc(x))` allocates `x`'s block in `vec`'s segment.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::collections::{Arc, NewArc, Vec};
/// use shmkit::sync::Mutex;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let v = seg.construct("v", Mutex::new(Vec::<Arc<u64>>::new()))?;
/// v.lock().unwrap().push(NewArc(3));
/// assert_eq!(*v.lock().unwrap()[0], 3);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewArc<U>(pub U);

impl<T: ShmSafe, U: IntoSegment<T>> IntoSegment<Arc<T>> for NewArc<U> {
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<Arc<T>> {
        Arc::try_new_from(self.0, seg)
    }
}

impl<T: ShmSafe> Arc<T> {
    /// Moves `value` into a new block of `seg` with one strong owner (this `Arc`, returned
    /// outside the segment: store it there to dereference it). To allocate something that
    /// converts into a `T` (a `&str` for an `Arc<String>`), use [`NewArc`].
    ///
    /// # Panics
    ///
    /// Where [`try_new_in`](Self::try_new_in) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Arc::new_in(7u8, &*seg))?;
    /// assert_eq!(**a, 7);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(value: T, seg: &impl AsSegment) -> Arc<T> {
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
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let e = Arc::try_new_in([0u8; 1 << 17], &*seg).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_new_in(value: T, seg: &impl AsSegment) -> Result<Arc<T>> {
        Self::try_new_from(value, seg)
    }

    /// [`try_new_in`](Self::try_new_in) for anything that converts into a `T`.
    fn try_new_from(value: impl IntoSegment<T>, seg: &impl AsSegment) -> Result<Arc<T>> {
        let s = seg.segment()?;
        let value = value.into_segment(&s)?;
        let off = s.allocate(block_size::<ArcInner<T>>(), align_of::<ArcInner<T>>())?;
        let p = match inner_ptr::<T>(&s, off) {
            Ok(p) => p,
            Err(e) => {
                let _ = s.deallocate(off);
                return Err(e);
            }
        };
        // SAFETY: a fresh block of the segment, inside the mapping and aligned (checked), used
        // by nothing else until this `Arc` is published.
        unsafe {
            p.write(ArcInner {
                strong: AtomicU64::new(1),
                weak: AtomicU64::new(1),
                value,
            });
        }
        Ok(Arc {
            seg: SegmentBase::new(s.id()),
            ptr: RelPtr::from_offset(off),
        })
    }

    /// The block's offset, or an error for an emptied header.
    #[inline]
    fn offset(&self) -> Result<u64> {
        self.ptr
            .offset()
            .ok_or_else(|| empty_pointer("shmkit::collections::Arc"))
    }

    /// Runs `f` on the block's counts and value, wherever this `Arc` is.
    fn with_inner<R>(
        &self,
        f: impl FnOnce(&SegmentRef<'_>, &AtomicU64, &AtomicU64, &T) -> Result<R>,
    ) -> Result<R> {
        with_seg_ref(self, &self.seg, |s| {
            let p = inner_ptr::<T>(s, self.offset()?)?;
            // SAFETY: this `Arc` holds a strong reference, so the block is allocated and its
            // value initialised; it is inside the mapping (checked), which stays mapped while
            // `f` runs; it is only shared (`&`), and mutated through atomics or `T`'s own
            // interior mutability.
            let (strong, weak) = unsafe { counts(p) };
            // SAFETY: as above.
            let value = unsafe { &(*p).value };
            f(s, strong, weak, value)
        })
    }

    /// The value, if this `Arc` is inside its segment.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if it is not inside a segment (moved out) or was moved
    /// into another one; [`ErrorKind::Corrupted`] if its header does not fit the segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(1u16, &*seg);
    /// assert!(a.try_get().is_err());
    /// assert_eq!(*seg.construct("a", a)?.try_get()?, 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_get(&self) -> Result<&T> {
        match Where::of(self, &self.seg)? {
            Where::Resident(s) => {
                let p = inner_ptr::<T>(&s, self.offset()?)?;
                // SAFETY: as in `with_inner`; the mapping outlives `&self` (the header lies in
                // it), and the strong reference held by `self` keeps the value alive for as
                // long as `self` is borrowed.
                Ok(unsafe { &(*p).value })
            }
            Where::Detached(_) | Where::Unbound => Err(detached_pointer(self)),
        }
    }

    /// Runs `f` on the value wherever this `Arc` is: inside its segment, or moved out of it
    /// (the segment must then be mapped exactly once in this process).
    ///
    /// # Errors
    ///
    /// As [`try_get`](Self::try_get), except that an `Arc` moved out of its segment works.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(41u32, &*seg);
    /// assert_eq!(a.with(|v| v + 1)?, 42);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R> {
        self.with_inner(|_, _, _, v| Ok(f(v)))
    }

    /// [`clone`](Clone::clone), returning errors.
    ///
    /// # Errors
    ///
    /// As [`with`](Self::with); [`ErrorKind::Corrupted`] if the strong count is 0 or absurdly
    /// large.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(1u8, &*seg);
    /// let b = a.try_clone()?;
    /// assert!(Arc::ptr_eq(&a, &b));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_clone(&self) -> Result<Arc<T>> {
        self.with_inner(|s, strong, _, _| {
            let old = strong.fetch_add(1, Ordering::Relaxed);
            if old == 0 || old >= MAX_COUNT {
                strong.fetch_sub(1, Ordering::Relaxed);
                return Err(count_error("strong", old));
            }
            Ok(Arc {
                seg: SegmentBase::new(s.id()),
                ptr: RelPtr::from_offset(self.offset()?),
            })
        })
    }

    /// A [`Weak`] pointer to the same block.
    ///
    /// # Panics
    ///
    /// If the `Arc` cannot reach its segment, or the weak count is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(1u8, &*seg);
    /// let w = Arc::downgrade(&a);
    /// assert_eq!(Arc::weak_count(&a), 1);
    /// # drop(w);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn downgrade(this: &Arc<T>) -> Weak<T> {
        this.with_inner(|s, _, weak, _| {
            let old = weak.fetch_add(1, Ordering::Relaxed);
            if old == 0 || old >= MAX_COUNT {
                weak.fetch_sub(1, Ordering::Relaxed);
                return Err(count_error("weak", old));
            }
            Ok(Weak {
                seg: SegmentBase::new(s.id()),
                ptr: RelPtr::from_offset(this.offset()?),
            })
        })
        .unwrap_or_else(|e| fail(e))
    }

    /// The number of strong pointers to the block, in every process.
    ///
    /// # Panics
    ///
    /// If the `Arc` cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(1u8, &*seg);
    /// let b = a.clone();
    /// assert_eq!(Arc::strong_count(&b), 2);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn strong_count(this: &Arc<T>) -> usize {
        this.with_inner(|_, strong, _, _| Ok(strong.load(Ordering::Acquire) as usize))
            .unwrap_or_else(|e| fail(e))
    }

    /// The number of [`Weak`] pointers to the block, in every process.
    ///
    /// # Panics
    ///
    /// If the `Arc` cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(1u8, &*seg);
    /// assert_eq!(Arc::weak_count(&a), 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn weak_count(this: &Arc<T>) -> usize {
        this.with_inner(|_, _, weak, _| Ok(weak.load(Ordering::Acquire).saturating_sub(1) as usize))
            .unwrap_or_else(|e| fail(e))
    }

    /// Whether two `Arc`s point at the same block.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(1u8, &*seg);
    /// let b = Arc::new_in(1u8, &*seg);
    /// assert!(Arc::ptr_eq(&a, &a.clone()));
    /// assert!(!Arc::ptr_eq(&a, &b));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn ptr_eq(this: &Arc<T>, other: &Arc<T>) -> bool {
        this.seg.id() == other.seg.id() && this.ptr.offset() == other.ptr.offset()
    }

    /// The value, if this is the only strong pointer (weak pointers then fail to upgrade);
    /// otherwise the `Arc` back.
    ///
    /// # Errors
    ///
    /// `Err(this)` if other strong pointers exist or the `Arc` cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(3u8, &*seg);
    /// let b = a.clone();
    /// let a = Arc::try_unwrap(a).unwrap_err();
    /// drop(b);
    /// assert_eq!(Arc::try_unwrap(a).ok(), Some(3));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_unwrap(this: Arc<T>) -> std::result::Result<T, Arc<T>> {
        let r = with_seg_ref(&this, &this.seg, |s| {
            let off = this.offset()?;
            let p = inner_ptr::<T>(s, off)?;
            // SAFETY: as in `with_inner`.
            let (strong, _) = unsafe { counts(p) };
            if strong
                .compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                return Ok(None);
            }
            this.ptr.set_null();
            // SAFETY: the strong count went from 1 to 0 here, so this thread is the value's
            // only owner; it is initialised and read once (the header was emptied).
            let value = unsafe { std::ptr::addr_of!((*p).value).read() };
            // SAFETY: the strong pointers' weak reference, released by their last owner.
            let _ = unsafe { release_weak(s, off, p) };
            Ok(Some(value))
        });
        match r {
            Ok(Some(v)) => Ok(v),
            _ => Err(this),
        }
    }
}

impl<T: ShmSafe> Drop for Arc<T> {
    /// Releases this strong reference: the last one (in any process) drops the value, and
    /// frees the block if no [`Weak`] remains. Leaks if the `Arc` cannot reach its segment;
    /// never panics on its own account (a panicking `T::drop` leaks the block).
    fn drop(&mut self) {
        let Some(off) = self.ptr.offset() else {
            return;
        };
        let _ = with_seg_ref(self, &self.seg, |s| {
            let p = inner_ptr::<T>(s, off)?;
            // Empty the header first: a crash from here on leaks this reference.
            self.ptr.set_null();
            // SAFETY: this `Arc` held a strong reference (so the block is allocated), inside
            // the mapping (checked); shared access to the atomics only.
            let (strong, _) = unsafe { counts(p) };
            let old = strong.fetch_sub(1, Ordering::Release);
            if old == 0 {
                strong.fetch_add(1, Ordering::Relaxed);
                return Err(count_error("strong", 0));
            }
            if old != 1 {
                return Ok(());
            }
            fence(Ordering::Acquire);
            // SAFETY: the strong count reached 0 here, once: no other strong pointer exists and
            // `Weak::upgrade` refuses a zero count, so this is the value's last owner; it is
            // dropped once, in place.
            unsafe { std::ptr::drop_in_place(std::ptr::addr_of_mut!((*p).value)) };
            // SAFETY: the strong pointers' weak reference, released by their last owner.
            unsafe { release_weak(s, off, p) }
        });
    }
}

impl<T: ShmSafe> Clone for Arc<T> {
    /// Another strong pointer to the block (returned outside the segment).
    ///
    /// # Panics
    ///
    /// Where [`Arc::try_clone`] fails.
    fn clone(&self) -> Arc<T> {
        self.try_clone().unwrap_or_else(|e| fail(e))
    }
}

impl<T: ShmSafe> Deref for Arc<T> {
    type Target = T;

    /// The value; panics if the `Arc` is not inside its segment (see [`Arc::try_get`]).
    fn deref(&self) -> &T {
        self.try_get().unwrap_or_else(|e| fail(e))
    }
}

impl<T: ShmSafe> AsRef<T> for Arc<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: ShmSafe + fmt::Debug> fmt::Debug for Arc<T> {
    /// Formats the value (also for an `Arc` moved out of its segment while the segment is
    /// mapped once here), otherwise a placeholder.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.with(|v| fmt::Debug::fmt(v, f)) {
            Ok(r) => r,
            Err(e) => write!(f, "Arc {{ <{}> }}", e.kind()),
        }
    }
}

impl<T: ShmSafe + PartialEq> PartialEq for Arc<T> {
    /// Compares the values (both inside their segments).
    fn eq(&self, other: &Arc<T>) -> bool {
        **self == **other
    }
}

impl<T: ShmSafe + Eq> Eq for Arc<T> {}

impl<T: ShmSafe + Hash> Hash for Arc<T> {
    /// Hashes as the value does.
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl<T: ShmSafe> Weak<T> {
    /// A weak pointer to nothing: [`upgrade`](Self::upgrade) returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// let w = shmkit::collections::Weak::<u8>::new();
    /// assert!(w.upgrade().is_none());
    /// ```
    pub const fn new() -> Weak<T> {
        Weak {
            seg: SegmentBase::unbound(),
            ptr: RelPtr::null(),
        }
    }

    /// Runs `f` on the block's counts, wherever this pointer is.
    fn with_inner<R>(
        &self,
        f: impl FnOnce(&SegmentRef<'_>, u64, *mut ArcInner<T>) -> Result<R>,
    ) -> Result<R> {
        let off = self.ptr.offset().ok_or_else(|| empty_pointer("Weak"))?;
        with_seg_ref(self, &self.seg, |s| f(s, off, inner_ptr::<T>(s, off)?))
    }

    /// A strong pointer, if the value is still alive (some strong owner remains, in any
    /// process); `None` otherwise, or if this pointer cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(2u8, &*seg);
    /// let w = Arc::downgrade(&a);
    /// assert!(w.upgrade().is_some());
    /// drop(a);
    /// assert!(w.upgrade().is_none());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn upgrade(&self) -> Option<Arc<T>> {
        if self.ptr.is_null() {
            return None;
        }
        self.with_inner(|s, off, p| {
            // SAFETY: this pointer's weak reference keeps the block allocated; only the counts
            // are touched (the value may have been dropped).
            let (strong, _) = unsafe { counts(p) };
            let mut n = strong.load(Ordering::Relaxed);
            loop {
                if n == 0 {
                    return Ok(None);
                }
                if n >= MAX_COUNT {
                    return Err(count_error("strong", n));
                }
                match strong.compare_exchange_weak(n, n + 1, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => {
                        return Ok(Some(Arc {
                            seg: SegmentBase::new(s.id()),
                            ptr: RelPtr::from_offset(off),
                        }));
                    }
                    Err(now) => n = now,
                }
            }
        })
        .ok()
        .flatten()
    }

    /// The number of strong pointers (0 once the value is gone, or for [`Weak::new`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(2u8, &*seg);
    /// let w = Arc::downgrade(&a);
    /// assert_eq!(w.strong_count(), 1);
    /// drop(a);
    /// assert_eq!(w.strong_count(), 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn strong_count(&self) -> usize {
        if self.ptr.is_null() {
            return 0;
        }
        self.with_inner(|_, _, p| {
            // SAFETY: as in `upgrade`.
            let (strong, _) = unsafe { counts(p) };
            Ok(strong.load(Ordering::Acquire) as usize)
        })
        .unwrap_or(0)
    }

    /// The number of weak pointers (0 once the value is gone, as in std, or for
    /// [`Weak::new`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(2u8, &*seg);
    /// let w = Arc::downgrade(&a);
    /// assert_eq!(w.weak_count(), 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn weak_count(&self) -> usize {
        if self.ptr.is_null() {
            return 0;
        }
        self.with_inner(|_, _, p| {
            // SAFETY: as in `upgrade`.
            let (strong, weak) = unsafe { counts(p) };
            if strong.load(Ordering::Acquire) == 0 {
                return Ok(0);
            }
            Ok(weak.load(Ordering::Acquire).saturating_sub(1) as usize)
        })
        .unwrap_or(0)
    }

    /// Whether two weak pointers point at the same block (or are both [`Weak::new`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::Arc;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = Arc::new_in(2u8, &*seg);
    /// assert!(Arc::downgrade(&a).ptr_eq(&Arc::downgrade(&a)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn ptr_eq(&self, other: &Weak<T>) -> bool {
        self.seg.id() == other.seg.id() && self.ptr.offset() == other.ptr.offset()
    }
}

impl<T: ShmSafe> Default for Weak<T> {
    fn default() -> Weak<T> {
        Weak::new()
    }
}

impl<T: ShmSafe> Clone for Weak<T> {
    /// Another weak pointer to the block.
    ///
    /// # Panics
    ///
    /// If the pointer cannot reach its segment or its count is corrupt.
    fn clone(&self) -> Weak<T> {
        if self.ptr.is_null() {
            return Weak::new();
        }
        self.with_inner(|s, off, p| {
            // SAFETY: as in `upgrade`.
            let (_, weak) = unsafe { counts(p) };
            let old = weak.fetch_add(1, Ordering::Relaxed);
            if old == 0 || old >= MAX_COUNT {
                weak.fetch_sub(1, Ordering::Relaxed);
                return Err(count_error("weak", old));
            }
            Ok(Weak {
                seg: SegmentBase::new(s.id()),
                ptr: RelPtr::from_offset(off),
            })
        })
        .unwrap_or_else(|e| fail(e))
    }
}

impl<T: ShmSafe> Drop for Weak<T> {
    /// Releases this weak reference; the last reference of either kind frees the block. Leaks
    /// if the pointer cannot reach its segment.
    fn drop(&mut self) {
        if self.ptr.is_null() {
            return;
        }
        let _ = self.with_inner(|s, off, p| {
            self.ptr.set_null();
            // SAFETY: this pointer's weak reference, released once (its header is emptied).
            unsafe { release_weak(s, off, p) }
        });
    }
}

impl<T: ShmSafe> fmt::Debug for Weak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(Weak)")
    }
}

/// A reference count kept inside the value, for [`IntrusivePtr`]: Boost's
/// `intrusive_ptr_add_ref` / `intrusive_ptr_release` pair.
///
/// The count lives in the segment with the value (usually an atomic field), so it must be
/// updated atomically: several processes clone and drop pointers at once.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use shmkit::ShmSafe;
/// use shmkit::collections::IntrusiveCount;
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Node {
///     refs: AtomicU32,
///     payload: u64,
/// }
///
/// impl IntrusiveCount for Node {
///     fn add_ref(&self) {
///         self.refs.fetch_add(1, Ordering::Relaxed);
///     }
///     fn release(&self) -> bool {
///         self.refs.fetch_sub(1, Ordering::AcqRel) == 1
///     }
/// }
/// ```
pub trait IntrusiveCount: ShmSafe {
    /// Adds a reference (a pointer was created or cloned).
    fn add_ref(&self);

    /// Drops a reference; returns `true` if it was the last one (the pointer then drops the
    /// value and frees its block). Must return `true` exactly once per value, with `Acquire`
    /// ordering (or stronger) on that path.
    fn release(&self) -> bool;
}

/// A pointer to a `T` in a managed segment that counts through the value itself
/// ([`IntrusiveCount`]), as Boost's `intrusive_ptr`: the header is 16 bytes, and the block is
/// just the `T`.
///
/// Creating or cloning a pointer calls [`add_ref`](IntrusiveCount::add_ref); dropping calls
/// [`release`](IntrusiveCount::release), and the call that returns `true` drops the value and
/// frees the block, in whatever process. Crash semantics as for [`Arc`] (a leak, never a
/// double free; see its "Crash semantics"), provided `release` is a single atomic decrement.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use shmkit::{ManagedHeapMemory, ShmSafe};
/// use shmkit::collections::{IntrusiveCount, IntrusivePtr};
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Doc {
///     refs: AtomicU32,
///     words: u64,
/// }
/// impl IntrusiveCount for Doc {
///     fn add_ref(&self) {
///         self.refs.fetch_add(1, Ordering::Relaxed);
///     }
///     fn release(&self) -> bool {
///         self.refs.fetch_sub(1, Ordering::AcqRel) == 1
///     }
/// }
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let free = seg.free_memory()?;
/// let p = IntrusivePtr::new_in(Doc { refs: AtomicU32::new(0), words: 12 }, &*seg);
/// let q = seg.construct("doc", p.clone())?;
/// assert_eq!(q.words, 12);
/// assert_eq!(q.refs.load(Ordering::Relaxed), 2);
/// drop(p);
/// assert_eq!(q.refs.load(Ordering::Relaxed), 1);
/// # drop(q);
/// # let _ = free;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct IntrusivePtr<T: IntrusiveCount> {
    seg: SegmentBase,
    ptr: RelPtr<T>,
}

// SAFETY: as for `Arc`: two atomics, checked on use, no addresses; the value is shared through
// `&T` only and `T: ShmSafe` is `Sync`.
unsafe impl<T: IntrusiveCount> ShmSafe for IntrusivePtr<T> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::IntrusivePtr"),
        T::FINGERPRINT,
    );
}

impl<T: IntrusiveCount> IntrusivePtr<T> {
    /// Moves `value` into a new block of `seg` and calls its `add_ref` once (so a count that
    /// starts at 0 is 1, as with Boost).
    ///
    /// # Panics
    ///
    /// Where [`try_new_in`](Self::try_new_in) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::atomic::{AtomicU32, Ordering};
    /// # use shmkit::{ManagedHeapMemory, ShmSafe};
    /// # use shmkit::collections::{IntrusiveCount, IntrusivePtr};
    /// # #[derive(ShmSafe)]
    /// # #[repr(C)]
    /// # struct Doc { refs: AtomicU32, words: u64 }
    /// # impl IntrusiveCount for Doc {
    /// #     fn add_ref(&self) { self.refs.fetch_add(1, Ordering::Relaxed); }
    /// #     fn release(&self) -> bool { self.refs.fetch_sub(1, Ordering::AcqRel) == 1 }
    /// # }
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let p = IntrusivePtr::new_in(Doc { refs: AtomicU32::new(0), words: 3 }, &*seg);
    /// assert_eq!(p.with(|d| d.refs.load(Ordering::Relaxed))?, 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(value: T, seg: &impl AsSegment) -> IntrusivePtr<T> {
        Self::try_new_in(value, seg).unwrap_or_else(|e| fail(e))
    }

    /// [`new_in`](Self::new_in), returning errors.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full; as [`AsSegment::segment`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::atomic::{AtomicU32, Ordering};
    /// # use shmkit::{ManagedHeapMemory, ShmSafe};
    /// # use shmkit::collections::{IntrusiveCount, IntrusivePtr};
    /// # #[derive(ShmSafe)]
    /// # #[repr(C)]
    /// # struct Doc { refs: AtomicU32, words: u64 }
    /// # impl IntrusiveCount for Doc {
    /// #     fn add_ref(&self) { self.refs.fetch_add(1, Ordering::Relaxed); }
    /// #     fn release(&self) -> bool { self.refs.fetch_sub(1, Ordering::AcqRel) == 1 }
    /// # }
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let p = IntrusivePtr::try_new_in(Doc { refs: AtomicU32::new(0), words: 3 }, &*seg)?;
    /// assert_eq!(p.with(|d| d.words)?, 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_new_in(value: T, seg: &impl AsSegment) -> Result<IntrusivePtr<T>> {
        let s = seg.segment()?;
        let off = s.allocate(block_size::<T>(), align_of::<T>())?;
        let p = match s.ptr::<T>(off, 1) {
            Ok(p) => p,
            Err(e) => {
                let _ = s.deallocate(off);
                return Err(e);
            }
        };
        // SAFETY: a fresh block inside the mapping, aligned (checked), used by nothing else.
        unsafe { p.write(value) };
        // SAFETY: just initialised; shared access only.
        unsafe { &*p }.add_ref();
        Ok(IntrusivePtr {
            seg: SegmentBase::new(s.id()),
            ptr: RelPtr::from_offset(off),
        })
    }

    fn with_value<R>(&self, f: impl FnOnce(&SegmentRef<'_>, u64, &T) -> Result<R>) -> Result<R> {
        let off = self
            .ptr
            .offset()
            .ok_or_else(|| empty_pointer("IntrusivePtr"))?;
        with_seg_ref(self, &self.seg, |s| {
            let p = s.ptr::<T>(off, 1)?;
            // SAFETY: this pointer holds a reference, so the value is alive and initialised,
            // inside the mapping (checked) that stays mapped while `f` runs; shared access.
            f(s, off, unsafe { &*p })
        })
    }

    /// The value, if this pointer is inside its segment.
    ///
    /// # Errors
    ///
    /// As [`Arc::try_get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::atomic::{AtomicU32, Ordering};
    /// # use shmkit::{ManagedHeapMemory, ShmSafe};
    /// # use shmkit::collections::{IntrusiveCount, IntrusivePtr};
    /// # #[derive(ShmSafe)]
    /// # #[repr(C)]
    /// # struct Doc { refs: AtomicU32, words: u64 }
    /// # impl IntrusiveCount for Doc {
    /// #     fn add_ref(&self) { self.refs.fetch_add(1, Ordering::Relaxed); }
    /// #     fn release(&self) -> bool { self.refs.fetch_sub(1, Ordering::AcqRel) == 1 }
    /// # }
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let p = IntrusivePtr::new_in(Doc { refs: AtomicU32::new(0), words: 3 }, &*seg);
    /// assert!(p.try_get().is_err()); // on the stack
    /// let p = seg.construct("doc", p)?;
    /// assert_eq!(p.try_get()?.words, 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_get(&self) -> Result<&T> {
        match Where::of(self, &self.seg)? {
            Where::Resident(s) => {
                let off = self
                    .ptr
                    .offset()
                    .ok_or_else(|| empty_pointer("IntrusivePtr"))?;
                let p = s.ptr::<T>(off, 1)?;
                // SAFETY: as in `with_value`; the mapping outlives `&self`, and the reference
                // this pointer holds keeps the value alive while it is borrowed.
                Ok(unsafe { &*p })
            }
            Where::Detached(_) | Where::Unbound => Err(detached_pointer(self)),
        }
    }

    /// Runs `f` on the value wherever the pointer is (see [`Arc::with`]).
    ///
    /// # Errors
    ///
    /// As [`Arc::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::atomic::{AtomicU32, Ordering};
    /// # use shmkit::{ManagedHeapMemory, ShmSafe};
    /// # use shmkit::collections::{IntrusiveCount, IntrusivePtr};
    /// # #[derive(ShmSafe)]
    /// # #[repr(C)]
    /// # struct Doc { refs: AtomicU32, words: u64 }
    /// # impl IntrusiveCount for Doc {
    /// #     fn add_ref(&self) { self.refs.fetch_add(1, Ordering::Relaxed); }
    /// #     fn release(&self) -> bool { self.refs.fetch_sub(1, Ordering::AcqRel) == 1 }
    /// # }
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let p = IntrusivePtr::new_in(Doc { refs: AtomicU32::new(0), words: 3 }, &*seg);
    /// assert_eq!(p.with(|d| d.words + 1)?, 4);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R> {
        self.with_value(|_, _, v| Ok(f(v)))
    }

    /// Whether two pointers point at the same value.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::atomic::{AtomicU32, Ordering};
    /// # use shmkit::{ManagedHeapMemory, ShmSafe};
    /// # use shmkit::collections::{IntrusiveCount, IntrusivePtr};
    /// # #[derive(ShmSafe)]
    /// # #[repr(C)]
    /// # struct Doc { refs: AtomicU32, words: u64 }
    /// # impl IntrusiveCount for Doc {
    /// #     fn add_ref(&self) { self.refs.fetch_add(1, Ordering::Relaxed); }
    /// #     fn release(&self) -> bool { self.refs.fetch_sub(1, Ordering::AcqRel) == 1 }
    /// # }
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let p = IntrusivePtr::new_in(Doc { refs: AtomicU32::new(0), words: 3 }, &*seg);
    /// let q = IntrusivePtr::new_in(Doc { refs: AtomicU32::new(0), words: 3 }, &*seg);
    /// assert!(IntrusivePtr::ptr_eq(&p, &p.clone()));
    /// assert!(!IntrusivePtr::ptr_eq(&p, &q));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn ptr_eq(this: &IntrusivePtr<T>, other: &IntrusivePtr<T>) -> bool {
        this.seg.id() == other.seg.id() && this.ptr.offset() == other.ptr.offset()
    }
}

impl<T: IntrusiveCount> Clone for IntrusivePtr<T> {
    /// Another pointer to the value (`add_ref`), returned outside the segment.
    ///
    /// # Panics
    ///
    /// If the pointer cannot reach its segment.
    fn clone(&self) -> IntrusivePtr<T> {
        self.with_value(|s, off, v| {
            v.add_ref();
            Ok(IntrusivePtr {
                seg: SegmentBase::new(s.id()),
                ptr: RelPtr::from_offset(off),
            })
        })
        .unwrap_or_else(|e| fail(e))
    }
}

impl<T: IntrusiveCount> Drop for IntrusivePtr<T> {
    /// `release`s the value; the last reference drops it and frees the block. Leaks if the
    /// pointer cannot reach its segment.
    fn drop(&mut self) {
        let Some(off) = self.ptr.offset() else {
            return;
        };
        let _ = with_seg_ref(self, &self.seg, |s| {
            let p = s.ptr::<T>(off, 1)?;
            self.ptr.set_null();
            // SAFETY: this pointer held a reference, so the value is alive, inside the mapping
            // (checked); the shared borrow ends with the call.
            let last = unsafe { &*p }.release();
            if last {
                // SAFETY: `release` returned `true`: this was the last reference (the trait's
                // contract), so nothing else uses the value; dropped once, in place.
                unsafe { std::ptr::drop_in_place(p) };
                s.deallocate(off)?;
            }
            Ok(())
        });
    }
}

impl<T: IntrusiveCount> Deref for IntrusivePtr<T> {
    type Target = T;

    /// The value; panics if the pointer is not inside its segment.
    fn deref(&self) -> &T {
        self.try_get().unwrap_or_else(|e| fail(e))
    }
}

impl<T: IntrusiveCount + fmt::Debug> fmt::Debug for IntrusivePtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.with(|v| fmt::Debug::fmt(v, f)) {
            Ok(r) => r,
            Err(e) => write!(f, "IntrusivePtr {{ <{}> }}", e.kind()),
        }
    }
}

//! [`OffsetPtr`]: Boost's self-relative pointer, which cannot be moved silently.
//!
//! # The stored word
//!
//! One `usize` (an `AtomicUsize`, so it can be read and set through `&self` in shared memory):
//! the target's address minus the pointer's own address, wrapping.
//!
//! | stored offset, tag bits masked off | meaning |
//! |---|---|
//! | 1 | null (Boost's encoding); the pointer therefore cannot point at the byte right after itself |
//! | 0 | points at itself (legal: intrusive containers' end nodes do this) |
//! | anything else | the target is at `own address + offset` |
//!
//! **Tag bits.** Bits `1..=TAG_BITS` of the stored word hold a small tag (Boost's
//! `pointer_plus_bits` for `offset_ptr`). Bit 0 cannot be used: a tagged null would look like a
//! pointer. `TAG_BITS` is `log2(a) - 1` where `a = min(align_of::<T>(), align_of::<usize>())`:
//! the offset between an aligned target and the (word-aligned) pointer is a multiple of `a`, so
//! those bits of a genuine offset are always 0. (Boost uses the target's alignment alone, which
//! overlaps real offset bits for targets aligned beyond the pointer's own alignment.) The tag
//! is masked off before the offset is used, and null-ness is tested on the masked offset.
//!
//! **Ordering.** Loads are `Acquire` and stores `Release` (free on x86-64), so a pointer
//! published by a store is seen with the data written before it. Read-modify-writes that keep
//! part of the word ([`set_tag`](OffsetPtr::set_tag), [`advance`](OffsetPtr::advance)) are a
//! load and a store: writers of one pointer must be serialised (by the structure's lock), as for
//! any plain data.
#![allow(unsafe_code)]

use std::cmp::Ordering as CmpOrdering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::{PhantomData, PhantomPinned};
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::shm_safe::ShmSafe;

/// Stored offset (tag bits masked off) that encodes null.
const NULL: usize = 1;

/// Boost's `offset_ptr`: a pointer stored as *target address minus its own address*, so it
/// stays valid in every mapping of a segment, wherever the segment is mapped.
///
/// Its value depends on where it is, so moving it makes it point elsewhere. The API keeps safe
/// code from doing that silently (see the [module docs](super) for the full argument):
///
/// * values can only be created null ([`null`](OffsetPtr::null), `Default`); null means the same
///   everywhere, so moving a null pointer is harmless;
/// * it is `!Unpin`, not `Clone`, not `Copy`, and every method that makes it point somewhere
///   ([`set`](OffsetPtr::set), [`set_with_tag`](OffsetPtr::set_with_tag),
///   [`set_from`](OffsetPtr::set_from)) takes `self: Pin<&Self>`. Pinned access comes from
///   [`pin_in_segment`](super::pin_in_segment) for pointers in shared memory, or
///   [`std::pin::pin!`] / `Box::pin` for local use. Once pinned, safe code never moves it
///   again, so a non-null `OffsetPtr` is always where it was set;
/// * reading and address-independent changes take `&self`.
///
/// Copying its *bytes* (`MappedRegion::write_at`, `memcpy`) copies the offset, not the target,
/// as with Boost; to copy a pointer, use [`set_from`](OffsetPtr::set_from), which re-bases it
/// like Boost's copy constructor.
///
/// It is sound for any bit pattern: a garbage offset gives a garbage *raw* pointer, and only
/// `unsafe` code dereferences raw pointers.
///
/// Differences from Boost: arithmetic and casts return raw pointers or change the pointer in
/// place (an `OffsetPtr` value cannot be returned: it would be moved); comparisons and
/// [`offset_from`](OffsetPtr::offset_from) use the target addresses with tags masked off;
/// setting a target the encoding cannot represent panics instead of silently becoming null.
///
/// # Examples
///
/// ```
/// use std::pin::pin;
/// use shmkit::ptr::OffsetPtr;
///
/// let values = [10u64, 20, 30];
/// let p = pin!(OffsetPtr::<u64>::null());
/// let p = p.as_ref();
/// p.set(&values[0]);
/// assert_eq!(p.get().cast_const(), &values[0] as *const u64);
/// // SAFETY: `values` is alive and not mutated.
/// assert_eq!(unsafe { *p.add(2) }, 30);
///
/// // Two spare bits for a u64 target, kept apart from the address.
/// p.set_tag(3);
/// assert_eq!((p.tag(), p.get().cast_const()), (3, &values[0] as *const u64));
/// ```
#[repr(transparent)]
pub struct OffsetPtr<T> {
    offset: AtomicUsize,
    _target: PhantomData<fn() -> *const T>,
    _pinned: PhantomPinned,
}

impl<T> OffsetPtr<T> {
    /// How many tag bits the pointer has spare: `log2(min(align_of::<T>(), align_of::<usize>())) - 1`,
    /// or 0 (2 for `u64` targets, 1 for `u32`, 0 for `u8` and `u16`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ptr::OffsetPtr;
    /// assert_eq!(OffsetPtr::<u64>::TAG_BITS, 2);
    /// assert_eq!(OffsetPtr::<u32>::TAG_BITS, 1);
    /// assert_eq!(OffsetPtr::<u8>::TAG_BITS, 0);
    /// ```
    pub const TAG_BITS: u32 = {
        let a = if align_of::<T>() < align_of::<AtomicUsize>() {
            align_of::<T>()
        } else {
            align_of::<AtomicUsize>()
        };
        a.trailing_zeros().saturating_sub(1)
    };

    /// The largest tag: `2^TAG_BITS - 1`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::ptr::OffsetPtr::<u64>::MAX_TAG, 3);
    /// ```
    pub const MAX_TAG: usize = (1 << Self::TAG_BITS) - 1;

    /// Where the tag lives in the stored word: bits `1..=TAG_BITS`.
    const TAG_MASK: usize = Self::MAX_TAG << 1;

    /// A null pointer. The only way to create an `OffsetPtr` value: null is the one value that
    /// means the same wherever it is moved.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = shmkit::ptr::OffsetPtr::<u32>::null();
    /// assert!(p.is_null());
    /// assert_eq!(p.stored_offset(), 1); // Boost's encoding
    /// ```
    pub const fn null() -> OffsetPtr<T> {
        OffsetPtr {
            offset: AtomicUsize::new(NULL),
            _target: PhantomData,
            _pinned: PhantomPinned,
        }
    }

    #[inline]
    fn addr(&self) -> usize {
        ptr::from_ref(self).addr()
    }

    #[inline]
    fn load(&self) -> usize {
        self.offset.load(Ordering::Acquire)
    }

    #[inline]
    fn store(&self, word: usize) {
        self.offset.store(word, Ordering::Release);
    }

    /// The target address for a masked offset (null for `NULL`).
    #[inline]
    fn target(&self, masked: usize) -> *mut T {
        if masked == NULL {
            ptr::null_mut()
        } else {
            ptr::with_exposed_provenance_mut(self.addr().wrapping_add(masked))
        }
    }

    /// The offset to store for `target`, seen from this pointer (tag bits clear).
    #[inline]
    fn encode(&self, target: *const T) -> usize {
        if target.is_null() {
            return NULL;
        }
        let off = target.expose_provenance().wrapping_sub(self.addr());
        if off & Self::TAG_MASK != 0 || off == NULL {
            unrepresentable::<T>(off);
        }
        off
    }

    #[inline]
    fn check_tag(tag: usize) {
        if tag > Self::MAX_TAG {
            bad_tag::<T>(tag, Self::MAX_TAG);
        }
    }

    /// Whether it is null (tag bits ignored).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = std::pin::pin!(shmkit::ptr::OffsetPtr::<u64>::null());
    /// assert!(p.is_null());
    /// p.as_ref().set(&5);
    /// assert!(!p.is_null());
    /// ```
    #[inline]
    pub fn is_null(&self) -> bool {
        self.load() & !Self::TAG_MASK == NULL
    }

    /// The target (Boost's `get()`), tag masked off; null if it is null.
    ///
    /// # Examples
    ///
    /// ```
    /// let x = 7u64;
    /// let p = std::pin::pin!(shmkit::ptr::OffsetPtr::null());
    /// p.as_ref().set(&x);
    /// assert_eq!(p.get().cast_const(), &x as *const u64);
    /// ```
    #[inline]
    pub fn get(&self) -> *mut T {
        self.target(self.load() & !Self::TAG_MASK)
    }

    /// A shared reference to the target, or `None` if null.
    ///
    /// # Safety
    ///
    /// As [`<*const T>::as_ref`](https://doc.rust-lang.org/std/primitive.pointer.html#method.as_ref):
    /// if non-null, the target must be a valid, aligned, initialised `T` that nothing mutates
    /// (except through interior mutability) while the reference lives; for a target in shared
    /// memory, other processes included, and the mapping must outlive the reference.
    ///
    /// # Examples
    ///
    /// ```
    /// let x = 7u64;
    /// let p = std::pin::pin!(shmkit::ptr::OffsetPtr::null());
    /// p.as_ref().set(&x);
    /// // SAFETY: `x` outlives the reference and is not mutated.
    /// assert_eq!(unsafe { p.target_ref() }, Some(&7));
    /// ```
    #[inline]
    pub unsafe fn target_ref(&self) -> Option<&T> {
        // SAFETY: the caller's contract is `<*const T>::as_ref`'s.
        unsafe { self.get().as_ref() }
    }

    /// Points it at `target` (null allowed), clearing the tag: Boost's assignment from a raw
    /// pointer. Needs a pinned pointer: once it points somewhere, it must not move.
    ///
    /// # Panics
    ///
    /// If the offset cannot be represented: `target` is the byte right after the pointer (that
    /// offset, 1, encodes null), or `target` is misaligned for `T` so that the offset has bits
    /// in the tag field.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use shmkit::ptr::OffsetPtr;
    ///
    /// let x = 1u32;
    /// let p = pin!(OffsetPtr::<u32>::null());
    /// p.as_ref().set(&x);
    /// assert_eq!(p.get().cast_const(), &x as *const u32);
    /// p.as_ref().set(std::ptr::null());
    /// assert!(p.is_null());
    /// ```
    #[inline]
    pub fn set(self: Pin<&Self>, target: *const T) {
        self.store(self.encode(target));
    }

    /// Points it at `target` and sets the tag, in one store.
    ///
    /// # Panics
    ///
    /// As [`set`](OffsetPtr::set), and if `tag` exceeds [`MAX_TAG`](OffsetPtr::MAX_TAG).
    ///
    /// # Examples
    ///
    /// ```
    /// let x = 1u64;
    /// let p = std::pin::pin!(shmkit::ptr::OffsetPtr::<u64>::null());
    /// p.as_ref().set_with_tag(&x, 2);
    /// assert_eq!((p.get().cast_const(), p.tag()), (&x as *const u64, 2));
    /// ```
    #[inline]
    pub fn set_with_tag(self: Pin<&Self>, target: *const T, tag: usize) {
        Self::check_tag(tag);
        self.store(self.encode(target) | tag << 1);
    }

    /// Makes it null, clearing the tag. Null does not depend on the address, so no pin is
    /// needed.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = std::pin::pin!(shmkit::ptr::OffsetPtr::<u64>::null());
    /// p.as_ref().set_with_tag(&5, 1);
    /// p.set_null();
    /// assert!(p.is_null());
    /// assert_eq!(p.tag(), 0);
    /// ```
    #[inline]
    pub fn set_null(&self) {
        self.store(NULL);
    }

    /// Makes it point where `other` points, with `other`'s tag: Boost's copy assignment, which
    /// re-bases the offset for this pointer's address.
    ///
    /// # Panics
    ///
    /// If the target is the byte right after this pointer (see [`set`](OffsetPtr::set)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use shmkit::ptr::OffsetPtr;
    ///
    /// let x = 9u64;
    /// let a = pin!(OffsetPtr::<u64>::null());
    /// let b = pin!(OffsetPtr::<u64>::null());
    /// a.as_ref().set_with_tag(&x, 1);
    /// b.as_ref().set_from(&a);
    /// assert_eq!(*a, *b); // same target
    /// assert_ne!(a.stored_offset(), b.stored_offset()); // different offsets
    /// assert_eq!(b.tag(), 1);
    /// ```
    #[inline]
    pub fn set_from(self: Pin<&Self>, other: &OffsetPtr<T>) {
        let word = other.load();
        let tag = word & Self::TAG_MASK;
        let masked = word & !Self::TAG_MASK;
        let rebased = if masked == NULL {
            NULL
        } else {
            // Both pointers are word-aligned, so the shift keeps the tag bits of `masked` clear.
            let r = masked.wrapping_add(other.addr()).wrapping_sub(self.addr());
            if r == NULL {
                unrepresentable::<T>(r);
            }
            r
        };
        self.store(rebased | tag);
    }

    /// The tag (0 if never set).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = shmkit::ptr::OffsetPtr::<u64>::null();
    /// assert_eq!(p.tag(), 0);
    /// ```
    #[inline]
    pub fn tag(&self) -> usize {
        (self.load() & Self::TAG_MASK) >> 1
    }

    /// Sets the tag, keeping the target (null stays null). The tag does not depend on the
    /// address, so no pin is needed. A load and a store: concurrent writers of this pointer
    /// must be serialised.
    ///
    /// # Panics
    ///
    /// If `tag` exceeds [`MAX_TAG`](OffsetPtr::MAX_TAG).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = shmkit::ptr::OffsetPtr::<u32>::null();
    /// p.set_tag(1);
    /// assert!(p.is_null()); // a tagged null is still null
    /// assert_eq!(p.tag(), 1);
    /// ```
    #[inline]
    pub fn set_tag(&self, tag: usize) {
        Self::check_tag(tag);
        let word = self.offset.load(Ordering::Relaxed);
        self.store((word & !Self::TAG_MASK) | tag << 1);
    }

    /// The stored word, tag bits included (Boost's `get_offset()`): for diagnostics.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = std::pin::pin!(shmkit::ptr::OffsetPtr::<u64>::null());
    /// let itself: *const shmkit::ptr::OffsetPtr<u64> = &*p;
    /// p.as_ref().set(itself.cast()); // points at itself: offset 0
    /// assert_eq!(p.stored_offset(), 0);
    /// ```
    #[inline]
    pub fn stored_offset(&self) -> usize {
        self.load()
    }

    /// The target moved by `count` elements (Boost's `p + n`), as a raw pointer computed with
    /// wrapping arithmetic: valid to dereference only if it stays in the target's allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = [1u16, 2, 3];
    /// let p = std::pin::pin!(shmkit::ptr::OffsetPtr::null());
    /// p.as_ref().set(&a[0]);
    /// assert_eq!(p.add(2).cast_const(), &a[2] as *const u16);
    /// ```
    #[inline]
    pub fn add(&self, count: usize) -> *mut T {
        self.get().wrapping_add(count)
    }

    /// The target moved back by `count` elements (Boost's `p - n`), wrapping like
    /// [`add`](OffsetPtr::add).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = [1u16, 2, 3];
    /// let p = std::pin::pin!(shmkit::ptr::OffsetPtr::null());
    /// p.as_ref().set(&a[2]);
    /// assert_eq!(p.sub(2).cast_const(), &a[0] as *const u16);
    /// ```
    #[inline]
    pub fn sub(&self, count: usize) -> *mut T {
        self.get().wrapping_sub(count)
    }

    /// Moves the target by `count` elements in place (Boost's `+=`, `-=`, `++`, `--`), keeping
    /// the tag. The offset changes by the same amount wherever the pointer is, so no pin is
    /// needed. A load and a store: concurrent writers must be serialised.
    ///
    /// # Panics
    ///
    /// If the pointer is null, or the new target would be the byte right after the pointer.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = [1u64, 2, 3];
    /// let p = std::pin::pin!(shmkit::ptr::OffsetPtr::null());
    /// p.as_ref().set(&a[0]);
    /// p.advance(2);
    /// assert_eq!(p.get().cast_const(), &a[2] as *const u64);
    /// p.advance(-1);
    /// assert_eq!(p.get().cast_const(), &a[1] as *const u64);
    /// ```
    #[inline]
    pub fn advance(&self, count: isize) {
        let word = self.offset.load(Ordering::Relaxed);
        let masked = word & !Self::TAG_MASK;
        if masked == NULL {
            null_arithmetic();
        }
        let delta = count.wrapping_mul(size_of::<T>() as isize) as usize;
        // size_of::<T>() is a multiple of the tag granularity, so the tag bits stay clear.
        let moved = masked.wrapping_add(delta);
        if moved == NULL {
            unrepresentable::<T>(moved);
        }
        self.store(moved | (word & Self::TAG_MASK));
    }

    /// The distance between the targets in elements, `self - origin` (Boost's `ptr - ptr`),
    /// computed on addresses: rounded toward zero if they are not a whole number of elements
    /// apart, and meaningless unless both point into the same array.
    ///
    /// # Panics
    ///
    /// If `T` is zero-sized.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use shmkit::ptr::OffsetPtr;
    ///
    /// let a = [0u32; 8];
    /// let (p, q) = (pin!(OffsetPtr::null()), pin!(OffsetPtr::null()));
    /// p.as_ref().set(&a[6]);
    /// q.as_ref().set(&a[1]);
    /// assert_eq!(p.offset_from(&q), 5);
    /// assert_eq!(q.offset_from(&p), -5);
    /// ```
    #[inline]
    pub fn offset_from(&self, origin: &OffsetPtr<T>) -> isize {
        let size = size_of::<T>();
        assert!(size != 0, "OffsetPtr::offset_from on a zero-sized type");
        let bytes = self.get().addr().wrapping_sub(origin.get().addr()) as isize;
        bytes / size as isize
    }

    /// The target as a pointer to another type (Boost's `static_pointer_cast` and friends, raw).
    /// To store it, set another `OffsetPtr`: `other.set(p.cast())`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use shmkit::ptr::OffsetPtr;
    ///
    /// let x = 0x0102_0304u32;
    /// let p = pin!(OffsetPtr::<u32>::null());
    /// let bytes = pin!(OffsetPtr::<u8>::null());
    /// p.as_ref().set(&x);
    /// bytes.as_ref().set(p.cast::<u8>());
    /// assert_eq!(bytes.get().cast_const(), (&x as *const u32).cast::<u8>());
    /// ```
    #[inline]
    pub fn cast<U>(&self) -> *mut U {
        self.get().cast()
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn unrepresentable<T>(off: usize) -> ! {
    if off == NULL {
        panic!(
            "OffsetPtr<{}> cannot point at the byte right after itself: offset 1 encodes null",
            std::any::type_name::<T>()
        )
    }
    panic!(
        "OffsetPtr<{}> target at offset {off:#x} is misaligned: its low bits would collide with \
         the tag bits",
        std::any::type_name::<T>()
    )
}

#[cold]
#[inline(never)]
#[track_caller]
fn bad_tag<T>(tag: usize, max: usize) -> ! {
    panic!(
        "tag {tag} does not fit in OffsetPtr<{}> (largest tag: {max})",
        std::any::type_name::<T>()
    )
}

#[cold]
#[inline(never)]
#[track_caller]
fn null_arithmetic() -> ! {
    panic!("OffsetPtr::advance on a null pointer")
}

impl<T> Default for OffsetPtr<T> {
    /// A null pointer.
    fn default() -> OffsetPtr<T> {
        OffsetPtr::null()
    }
}

/// Equal when the targets are equal (tags ignored), as Boost compares `get()`.
impl<T> PartialEq for OffsetPtr<T> {
    fn eq(&self, other: &OffsetPtr<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T> Eq for OffsetPtr<T> {}

/// Ordered by target address (null first), tags ignored.
impl<T> PartialOrd for OffsetPtr<T> {
    fn partial_cmp(&self, other: &OffsetPtr<T>) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for OffsetPtr<T> {
    fn cmp(&self, other: &OffsetPtr<T>) -> CmpOrdering {
        self.get().addr().cmp(&other.get().addr())
    }
}

/// Hashes the target address, tags ignored.
impl<T> Hash for OffsetPtr<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.get().addr().hash(state);
    }
}

impl<T> fmt::Debug for OffsetPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OffsetPtr")
            .field("target", &self.get())
            .field("tag", &self.tag())
            .finish()
    }
}

/// Formats the target address.
impl<T> fmt::Pointer for OffsetPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&self.get(), f)
    }
}

// SAFETY: repr(transparent) over an AtomicUsize. 1: any bit pattern is a valid value (it only
// ever becomes a raw pointer, which is dereferenced by unsafe code alone). 2: it holds an offset
// relative to itself, meaningful in every mapping, not an absolute address. 3: fixed layout, one
// word. 4: Send + Sync (atomic word; the PhantomData holds a fn pointer type), mutation through
// `&self` is atomic. 5: no drop glue. Its `Pin` discipline guards against logic errors only,
// never memory safety, so memory overwritten or unmapped without a drop breaks nothing.
// `T` is not required to be ShmSafe, so that recursive types (a node holding `OffsetPtr<Node>`)
// need no cyclic bound.
unsafe impl<T: 'static> ShmSafe for OffsetPtr<T> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::primitive("shmkit::ptr::OffsetPtr", size_of::<usize>()),
        crate::fingerprint::combine(size_of::<T>() as u64, align_of::<T>() as u64),
    );
    const NO_PADDING: bool = true;
}

const _: () = assert!(size_of::<OffsetPtr<u8>>() == size_of::<usize>());

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;

    #[test]
    fn null_is_one_and_self_is_zero() {
        let p = pin!(OffsetPtr::<u64>::null());
        assert_eq!(p.stored_offset(), 1);
        assert!(p.is_null() && p.get().is_null());
        let me: *const OffsetPtr<u64> = &*p;
        p.as_ref().set(me.cast());
        assert_eq!(p.stored_offset(), 0);
        assert!(!p.is_null());
        assert_eq!(p.get().addr(), me.addr());
    }

    #[test]
    fn tag_capacity_follows_alignment() {
        assert_eq!(OffsetPtr::<u8>::TAG_BITS, 0);
        assert_eq!(OffsetPtr::<u16>::TAG_BITS, 0);
        assert_eq!(OffsetPtr::<u32>::TAG_BITS, 1);
        assert_eq!(OffsetPtr::<u64>::TAG_BITS, 2);
        // Capped by the pointer's own alignment: the offset is only a multiple of 8.
        assert_eq!(OffsetPtr::<u128>::TAG_BITS, 2);
        #[repr(align(64))]
        struct Big;
        assert_eq!(OffsetPtr::<Big>::TAG_BITS, 2);
        assert_eq!(OffsetPtr::<()>::TAG_BITS, 0);
    }

    #[test]
    fn tags_survive_sets_and_are_masked() {
        let xs = [1u64, 2, 3, 4];
        let p = pin!(OffsetPtr::<u64>::null());
        let p = p.as_ref();
        for (i, x) in xs.iter().enumerate() {
            p.set_with_tag(x, i);
            assert_eq!(p.get().cast_const(), x as *const u64);
            assert_eq!(p.tag(), i);
            p.set_tag(3 - i);
            assert_eq!(p.get().cast_const(), x as *const u64);
            assert_eq!(p.tag(), 3 - i);
            assert_eq!(p.stored_offset() & !OffsetPtr::<u64>::TAG_MASK, {
                (x as *const u64)
                    .addr()
                    .wrapping_sub((&raw const *p).addr())
            });
        }
        // Tagged null stays null, and set clears the tag.
        p.set_null();
        p.set_tag(2);
        assert!(p.is_null() && p.get().is_null());
        assert_eq!(p.stored_offset(), 1 | 2 << 1);
        p.set(&xs[0]);
        assert_eq!(p.tag(), 0);
        // advance keeps the tag.
        p.set_tag(1);
        p.advance(3);
        assert_eq!((p.get().cast_const(), p.tag()), (&xs[3] as *const u64, 1));
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn oversized_tag_panics() {
        OffsetPtr::<u32>::null().set_tag(2);
    }

    #[test]
    #[should_panic(expected = "byte right after itself")]
    fn the_byte_after_itself_is_unrepresentable() {
        let p = pin!(OffsetPtr::<u8>::null());
        let after = (&raw const *p).cast::<u8>().wrapping_add(1);
        p.as_ref().set(after);
    }

    #[test]
    #[should_panic(expected = "misaligned")]
    fn misaligned_targets_that_hit_tag_bits_panic() {
        let xs = [0u64; 2];
        let p = pin!(OffsetPtr::<u64>::null());
        p.as_ref()
            .set((&raw const xs).cast::<u8>().wrapping_add(2).cast());
    }

    #[test]
    #[should_panic(expected = "null")]
    fn arithmetic_on_null_panics() {
        OffsetPtr::<u64>::null().advance(1);
    }

    #[test]
    fn set_from_rebases_and_copies_the_tag() {
        let xs = [5u32; 4];
        let boxed = Box::pin([OffsetPtr::<u32>::null(), OffsetPtr::null()]);
        // SAFETY: projecting a pinned array to its elements: they are never moved out of it.
        let (a, b) = unsafe {
            (
                boxed.as_ref().map_unchecked(|s| &s[0]),
                boxed.as_ref().map_unchecked(|s| &s[1]),
            )
        };
        a.set_with_tag(&xs[2], 1);
        b.set_from(&a);
        assert_eq!(b.get(), a.get());
        assert_eq!(b.tag(), 1);
        assert_eq!(a.stored_offset() - b.stored_offset(), 8);
        a.set_null();
        b.set_from(&a);
        assert!(b.is_null());
        // Copying a pointer onto itself is a no-op.
        a.set(&xs[1]);
        a.set_from(&a);
        assert_eq!(a.get().cast_const(), &xs[1] as *const u32);
    }

    #[test]
    fn arithmetic_and_comparisons_follow_targets() {
        let xs = [0u64; 8];
        let (p, q) = (pin!(OffsetPtr::null()), pin!(OffsetPtr::null()));
        let (p, q) = (p.as_ref(), q.as_ref());
        p.set(&xs[1]);
        q.set(&xs[4]);
        assert!(p < q);
        assert!(q > p);
        assert_ne!(p, q);
        assert_eq!(q.offset_from(&p), 3);
        assert_eq!(p.add(3), q.get());
        assert_eq!(q.sub(3), p.get());
        p.advance(3);
        assert_eq!(p, q);
        p.set_tag(2);
        assert_eq!(p, q, "tags are ignored by comparisons");
        assert!(OffsetPtr::<u64>::null() < *q);
        assert_eq!(
            p.cast::<u8>(),
            (&xs[4] as *const u64).cast::<u8>().cast_mut()
        );
    }

    #[test]
    fn a_moved_null_is_still_null() {
        let p = OffsetPtr::<u64>::null();
        let moved = Box::new(p);
        assert!(moved.is_null());
    }
}

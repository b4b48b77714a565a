//! [`ShmSafe`]: the types whose bytes mean the same in every process.
#![allow(unsafe_code)]

use std::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16, AtomicU32,
    AtomicU64, AtomicUsize,
};

use crate::fingerprint;

/// Marks types that may live in shared memory and be viewed by several processes.
///
/// # Safety
///
/// Implementing it promises, for the implementing type:
///
/// 1. **Any bit pattern is a valid value.** Another process (buggy or hostile) may have written
///    the bytes; viewing them as `Self` must never be undefined behaviour. (So `bool`, `char`,
///    references and most enums are out.) Padding bytes between fields are fine: they have no
///    validity requirement.
/// 2. **No process-local meaning**: no pointers or references (the memory is mapped at different
///    addresses in each process), no file descriptors or other handles.
/// 3. **A fixed layout**: primitives, `#[repr(C)]` or `#[repr(transparent)]` types, arrays of
///    such, so every process compiled from any build agrees on it. (Tuples are left out: their
///    layout is the compiler's choice, like any `repr(Rust)` type.)
/// 4. **Sharing is thread-safe** (`Send + Sync`), and mutation through `&Self` goes through atomics or
///    shmkit's locks.
/// 5. **Drop may be skipped**: shared memory is unmapped without running destructors, so a
///    destructor may only release what would otherwise leak (the collections free their
///    segment memory when dropped or destroyed), never be needed for soundness.
///
/// And [`FINGERPRINT`](ShmSafe::FINGERPRINT) must describe the type as the
/// [`fingerprint`] module says (a wrong value is not undefined behaviour, but it defeats the
/// type check of managed segments).
///
/// `bool` and `AtomicBool` are left out on purpose: only the bytes 0 and 1 are valid for them,
/// so a stray byte from another process would be undefined behaviour. Store a `u8` or
/// `AtomicU8` instead.
///
/// shmkit implements it for integers, floats, atomics, `()`, arrays of `ShmSafe`, and its own
/// process-shared types (`Mutex<T: ShmSafe>`, `Condvar`, `Semaphore`, ...).
///
/// # Deriving
///
/// For your own structs, [`#[derive(ShmSafe)]`](derive@crate::ShmSafe) checks the rules it can (a
/// `#[repr(C)]` or `#[repr(transparent)]` struct whose fields are all `ShmSafe`) and computes the
/// fingerprint:
///
/// ```
/// use shmkit::ShmSafe;
/// use std::sync::atomic::AtomicU64;
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Stats {
///     requests: AtomicU64,
///     last_error: [u8; 32],
/// }
/// ```
///
/// # Implementing by hand
///
/// Write the `unsafe impl` with a `// SAFETY:` comment going through the five rules above, and
/// state the fingerprint with the [`fingerprint`] builders: [`StructFingerprint`] for a
/// `repr(C)` struct described field by field (the value the derive would compute),
/// [`fingerprint::primitive`] with a qualified name for an opaque leaf type, and
/// [`fingerprint::combine`] of a qualified name with the parameters' fingerprints for a generic
/// wrapper:
///
/// ```
/// use shmkit::ShmSafe;
/// use shmkit::fingerprint::{combine, fnv1a};
/// use std::sync::atomic::AtomicU32;
///
/// /// A sequence-numbered slot (a seqlock's data side, say).
/// #[repr(C)]
/// pub struct Slot<T> {
///     seq: AtomicU32,
///     value: T,
/// }
///
/// // SAFETY: repr(C); an AtomicU32 and a ShmSafe T, so any bit pattern is valid, no pointers,
/// // Send + Sync, no drop glue.
/// unsafe impl<T: ShmSafe> ShmSafe for Slot<T> {
///     const FINGERPRINT: u64 = combine(fnv1a(b"mycrate::Slot"), T::FINGERPRINT);
/// }
/// ```
///
/// [`StructFingerprint`]: fingerprint::StructFingerprint
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be placed in shared memory: it is not `ShmSafe`",
    label = "not `ShmSafe`",
    note = "`ShmSafe` types: integers, floats, atomics, arrays of them, and `#[repr(C)]` structs \
            with `#[derive(ShmSafe)]`; not `bool`, `char`, references, pointers or heap types \
            (`String`, `Vec`, `Box`)"
)]
pub unsafe trait ShmSafe: Send + Sync + Sized + 'static {
    /// A stable 64-bit fingerprint of the type's identity and layout: the same in every process
    /// and every build that agrees on the layout, different for different types (see the
    /// [`fingerprint`] module for the scheme). Managed segments store it with each object and
    /// refuse to `find` one as another type (`ErrorKind::TypeMismatch`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ShmSafe;
    ///
    /// assert_ne!(u32::FINGERPRINT, i32::FINGERPRINT);
    /// assert_eq!(<[u8; 4]>::FINGERPRINT, <[u8; 4]>::FINGERPRINT); // stable
    /// ```
    const FINGERPRINT: u64;

    /// Whether every byte of every value is initialised: no padding anywhere inside the type.
    ///
    /// Only such types may be viewed as bytes, which [`MappedRegion::write`](crate::MappedRegion::write)
    /// does (reading a padding byte is undefined behaviour). The default, `false`, is always
    /// safe; primitives, atomics, arrays of padding-free types and derived structs whose fields
    /// fill the whole size say `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ShmSafe;
    ///
    /// assert!(u64::NO_PADDING && <[u16; 3]>::NO_PADDING);
    ///
    /// #[derive(ShmSafe)]
    /// #[repr(C)]
    /// struct Padded {
    ///     small: u8,
    ///     big: u64, // 7 padding bytes before it
    /// }
    /// assert!(!Padded::NO_PADDING);
    /// ```
    const NO_PADDING: bool = false;
}

macro_rules! shm_safe {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY: a primitive or atomic: any bit pattern is valid, no pointers, fixed layout,
        // Sync, no drop glue.
        unsafe impl ShmSafe for $t {
            const FINGERPRINT: u64 = fingerprint::primitive(stringify!($t), size_of::<$t>());
            const NO_PADDING: bool = true;
        }
    )* };
}

shm_safe!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize,
    AtomicI8,
    AtomicI16,
    AtomicI32,
    AtomicI64,
    AtomicIsize,
    (),
);

// SAFETY: an array of ShmSafe elements inherits every property element-wise.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {
    const FINGERPRINT: u64 = fingerprint::array(T::FINGERPRINT, N);
    // Array elements are laid out back to back (the size is a multiple of the alignment).
    const NO_PADDING: bool = T::NO_PADDING;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitive_names_are_as_written() {
        assert_eq!(u32::FINGERPRINT, fingerprint::primitive("u32", 4));
        assert_eq!(
            AtomicU64::FINGERPRINT,
            fingerprint::primitive("AtomicU64", 8)
        );
        assert_eq!(<()>::FINGERPRINT, fingerprint::primitive("()", 0));
        assert_eq!(
            <[u16; 3]>::FINGERPRINT,
            fingerprint::array(u16::FINGERPRINT, 3)
        );
    }
}

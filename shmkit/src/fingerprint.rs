//! Layout fingerprints: a stable 64-bit value per [`ShmSafe`](crate::ShmSafe) type.
//!
//! Every `ShmSafe` type states a [`FINGERPRINT`](crate::ShmSafe::FINGERPRINT) computed at compile
//! time from its name and layout. A managed segment stores it next to each object, and
//! `find::<T>` refuses an object whose stored fingerprint differs from `T`'s
//! (`ErrorKind::TypeMismatch`), so a process built with another definition of a type, or asking
//! for the wrong type, gets an error instead of reinterpreting bytes.
//!
//! # Stability
//!
//! A fingerprint is a pure function of what the source says (names as written, sizes, alignments,
//! field offsets), computed with FNV-1a 64 in `const fn`s. It is the same in every process and
//! every build that agrees on the layout, which `std::any::TypeId` and `std::any::type_name` do
//! not promise. It is *not* a cryptographic hash: it guards against mistakes, not adversaries (a
//! hostile process can write any bytes into shared memory anyway).
//!
//! # The scheme
//!
//! All values are FNV-1a 64 over byte strings; integers enter as 8 little-endian bytes through
//! [`combine`]. Each kind of type starts from its own tag, so a primitive, an array and a struct
//! never share a fingerprint by construction:
//!
//! | type | fingerprint |
//! |---|---|
//! | primitive or opaque leaf ([`primitive`]) | `combine(combine(fnv1a("shmkit:primitive"), fnv1a(name)), size)` |
//! | `[T; N]` ([`array()`]) | `combine(combine(fnv1a("shmkit:array"), T::FINGERPRINT), N)` |
//! | struct ([`StructFingerprint`]) | start: `combine(combine(combine(fnv1a("shmkit:struct"), fnv1a(name)), size), align)`, then per field in declaration order: `h = combine(combine(combine(h, fnv1a(field name)), offset), field fingerprint)` |
//! | shmkit's generic wrappers | `combine(fnv1a("shmkit::sync::Mutex"), T::FINGERPRINT)` and the like |
//!
//! The name of a struct is its identifier as written (`Point`, not a module path, not the
//! generic arguments: those show through the field fingerprints). So two structs with the same
//! fields but different names differ, as do structs whose fields are swapped, renamed, retyped or
//! moved.
//!
//! # Implementing by hand
//!
//! [`#[derive(ShmSafe)]`](derive@crate::ShmSafe) computes the fingerprint of a struct for you. A
//! hand-written impl uses the same builders; for a `#[repr(C)]` struct that gives the value the
//! derive would:
//!
//! ```
//! use core::mem::{align_of, offset_of, size_of};
//! use shmkit::ShmSafe;
//! use shmkit::fingerprint::StructFingerprint;
//!
//! #[repr(C)]
//! struct Sample {
//!     at_ns: u64,
//!     value: [f32; 4],
//! }
//!
//! // SAFETY: repr(C), and every field is ShmSafe.
//! unsafe impl ShmSafe for Sample {
//!     const FINGERPRINT: u64 = StructFingerprint::new("Sample", size_of::<Self>(), align_of::<Self>())
//!         .field("at_ns", offset_of!(Self, at_ns), u64::FINGERPRINT)
//!         .field("value", offset_of!(Self, value), <[f32; 4]>::FINGERPRINT)
//!         .finish();
//! }
//! ```
//!
//! A type that is not a plain struct of its fields (a lock, a pointer) is a named leaf
//! ([`primitive`] with a qualified name and its size), or, when generic, the [`combine`] of its
//! qualified name with its parameters' fingerprints:
//!
//! ```
//! # use shmkit::fingerprint::{combine, fnv1a, primitive};
//! # use shmkit::ShmSafe;
//! // RawMutex and Mutex<T> in shmkit::sync:
//! let raw = primitive("shmkit::sync::RawMutex", 4);
//! let mutex_u32 = combine(fnv1a(b"shmkit::sync::Mutex"), u32::FINGERPRINT);
//! assert_eq!(raw, shmkit::sync::RawMutex::FINGERPRINT);
//! assert_eq!(mutex_u32, shmkit::sync::Mutex::<u32>::FINGERPRINT);
//! ```

/// FNV-1a 64 offset basis.
const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64 prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// Continues an FNV-1a 64 hash in state `hash` over `bytes`.
const fn fnv1a_from(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(PRIME);
        i += 1;
    }
    hash
}

/// FNV-1a 64 of `bytes` (the standard offset basis and prime).
///
/// # Examples
///
/// ```
/// assert_eq!(shmkit::fingerprint::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(shmkit::fingerprint::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_from(OFFSET_BASIS, bytes)
}

/// Combines two fingerprints, order-sensitively: FNV-1a 64 over the 16 bytes
/// `a.to_le_bytes() ++ b.to_le_bytes()`.
///
/// # Examples
///
/// ```
/// use shmkit::fingerprint::{combine, fnv1a};
///
/// let (a, b) = (fnv1a(b"a"), fnv1a(b"b"));
/// assert_ne!(combine(a, b), combine(b, a)); // order matters
/// ```
pub const fn combine(a: u64, b: u64) -> u64 {
    fnv1a_from(fnv1a(&a.to_le_bytes()), &b.to_le_bytes())
}

/// `n` as a fingerprint input (8 bytes whatever the pointer width, so 32- and 64-bit builds
/// hash a size the same way; the sizes themselves may still differ, e.g. for `usize`).
const fn word(n: usize) -> u64 {
    n as u64
}

/// The fingerprint of a leaf type: a primitive (`"u32"`, `"f64"`, `"AtomicU64"`, `"()"`) or an
/// opaque type that is not described field by field (`"shmkit::sync::Condvar"`), from its name
/// and its size in bytes.
///
/// # Examples
///
/// ```
/// use shmkit::ShmSafe;
/// use shmkit::fingerprint::primitive;
///
/// assert_eq!(primitive("u32", 4), u32::FINGERPRINT);
/// assert_ne!(primitive("u32", 4), primitive("i32", 4)); // the name counts, not just the size
/// ```
pub const fn primitive(name: &str, size: usize) -> u64 {
    combine(
        combine(fnv1a(b"shmkit:primitive"), fnv1a(name.as_bytes())),
        word(size),
    )
}

/// The fingerprint of `[T; len]` where `element` is `T::FINGERPRINT`.
///
/// # Examples
///
/// ```
/// use shmkit::ShmSafe;
/// use shmkit::fingerprint::array;
///
/// assert_eq!(array(u16::FINGERPRINT, 3), <[u16; 3]>::FINGERPRINT);
/// ```
pub const fn array(element: u64, len: usize) -> u64 {
    combine(combine(fnv1a(b"shmkit:array"), element), word(len))
}

/// Builds a struct's fingerprint from its name, size, alignment and fields, in `const` context.
///
/// Call [`new`](StructFingerprint::new), then [`field`](StructFingerprint::field) once per field
/// in declaration order (tuple-struct fields are named `"0"`, `"1"`, ...), then
/// [`finish`](StructFingerprint::finish). See the [module docs](self) for an example.
///
/// # Examples
///
/// ```
/// use std::mem::offset_of;
/// use shmkit::ShmSafe;
/// use shmkit::fingerprint::StructFingerprint;
///
/// #[repr(C)]
/// struct Pair {
///     a: u32,
///     b: u32,
/// }
/// const PAIR: u64 = StructFingerprint::new("Pair", size_of::<Pair>(), align_of::<Pair>())
///     .field("a", offset_of!(Pair, a), u32::FINGERPRINT)
///     .field("b", offset_of!(Pair, b), u32::FINGERPRINT)
///     .finish();
/// // Another field order is another layout, so another fingerprint.
/// const SWAPPED: u64 = StructFingerprint::new("Pair", size_of::<Pair>(), align_of::<Pair>())
///     .field("b", offset_of!(Pair, b), u32::FINGERPRINT)
///     .field("a", offset_of!(Pair, a), u32::FINGERPRINT)
///     .finish();
/// assert_ne!(PAIR, SWAPPED);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "call `finish` to get the fingerprint"]
pub struct StructFingerprint(u64);

impl StructFingerprint {
    /// Starts a struct named `name` (as written in the source, without path or generic
    /// arguments) of `size` bytes aligned to `align`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::fingerprint::StructFingerprint;
    ///
    /// // A struct with no fields: the name, size and alignment alone.
    /// let empty = StructFingerprint::new("Unit", 0, 1).finish();
    /// assert_ne!(empty, StructFingerprint::new("Other", 0, 1).finish());
    /// ```
    pub const fn new(name: &str, size: usize, align: usize) -> StructFingerprint {
        let h = combine(fnv1a(b"shmkit:struct"), fnv1a(name.as_bytes()));
        StructFingerprint(combine(combine(h, word(size)), word(align)))
    }

    /// Adds the next field: its name, its byte offset (`core::mem::offset_of!`) and its type's
    /// fingerprint.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::mem::offset_of;
    /// use shmkit::ShmSafe;
    /// use shmkit::fingerprint::StructFingerprint;
    ///
    /// #[repr(C)]
    /// struct Pair {
    ///     a: u32,
    ///     b: u32,
    /// }
    /// let one_field = StructFingerprint::new("Pair", 8, 4)
    ///     .field("a", offset_of!(Pair, a), u32::FINGERPRINT)
    ///     .finish();
    /// let both = StructFingerprint::new("Pair", 8, 4)
    ///     .field("a", offset_of!(Pair, a), u32::FINGERPRINT)
    ///     .field("b", offset_of!(Pair, b), u32::FINGERPRINT)
    ///     .finish();
    /// assert_ne!(one_field, both);
    /// ```
    pub const fn field(self, name: &str, offset: usize, fingerprint: u64) -> StructFingerprint {
        let h = combine(self.0, fnv1a(name.as_bytes()));
        StructFingerprint(combine(combine(h, word(offset)), fingerprint))
    }

    /// The fingerprint.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::fingerprint::StructFingerprint;
    ///
    /// const UNIT: u64 = StructFingerprint::new("Unit", 0, 1).finish(); // usable in `const`
    /// assert_eq!(UNIT, StructFingerprint::new("Unit", 0, 1).finish());
    /// ```
    pub const fn finish(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ShmSafe;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // From the FNV reference test suite (fnv64a).
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn combine_is_order_sensitive() {
        assert_ne!(combine(1, 2), combine(2, 1));
        assert_eq!(
            combine(1, 2),
            fnv1a(&[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])
        );
    }

    #[test]
    fn kinds_are_separated() {
        assert_ne!(u32::FINGERPRINT, i32::FINGERPRINT);
        assert_ne!(u32::FINGERPRINT, std::sync::atomic::AtomicU32::FINGERPRINT);
        assert_ne!(<[u32; 1]>::FINGERPRINT, u32::FINGERPRINT);
        assert_ne!(<[u32; 2]>::FINGERPRINT, <[u32; 3]>::FINGERPRINT);
        assert_ne!(<[[u8; 2]; 3]>::FINGERPRINT, <[[u8; 3]; 2]>::FINGERPRINT);
        let empty = StructFingerprint::new("u32", 4, 4).finish();
        assert_ne!(empty, u32::FINGERPRINT);
    }

    #[test]
    fn the_derive_works_inside_shmkit() {
        // `::shmkit` resolves here through `extern crate self as shmkit`.
        #[derive(crate::ShmSafe)]
        #[repr(C)]
        struct Inner {
            a: u16,
            b: u64,
        }
        let by_hand = StructFingerprint::new("Inner", 16, 8)
            .field("a", 0, u16::FINGERPRINT)
            .field("b", 8, u64::FINGERPRINT)
            .finish();
        assert_eq!(Inner::FINGERPRINT, by_hand);
        let value = Inner { a: 7, b: 9 };
        assert_eq!((value.a, value.b), (7, 9));
    }
}

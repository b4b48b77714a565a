//! [`String`]: UTF-8 text in a managed segment.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use super::segment_ref::{AsSegment, SegmentAlloc, SegmentRef, ShmAlloc};
use super::{IntoSegment, Vec, fail};
use crate::error::{Error, ErrorKind, Result};
use crate::shm_safe::ShmSafe;

/// UTF-8 text whose header and bytes live in a managed segment: `std::string::String`'s API,
/// over a [`Vec<u8>`](Vec) (same header, same rules: see the [module
/// docs](crate::collections)).
///
/// The bytes are shared memory another process may have written, so [`as_str`](Self::as_str)
/// checks that they are UTF-8 (an O(n) scan, like `str::from_utf8`) and
/// [`try_as_str`](Self::try_as_str) reports [`ErrorKind::Corrupted`] when they are not.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::String;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let greeting = seg.construct("greeting", Mutex::new(String::new()))?;
/// let mut s = greeting.lock().unwrap();
/// s.push_str("hello");
/// s.push(',');
/// s.push_str(" world");
/// assert_eq!(*s, "hello, world");
/// assert!(s.starts_with("hello")); // every `str` method
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct String<A: ShmAlloc = SegmentAlloc> {
    vec: Vec<u8, A>,
}

// SAFETY: repr(C) over one `ShmSafe` field (a `Vec<u8>`, validated on every use); the UTF-8
// invariant is checked when the bytes are read as `str`, so any bytes are a valid value.
unsafe impl<A: ShmAlloc> ShmSafe for String<A> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::String"),
        A::FINGERPRINT,
    );
}

impl String {
    /// An empty string, not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::collections::String::new().is_empty());
    /// ```
    pub const fn new() -> String {
        String { vec: Vec::new() }
    }
}

impl String {
    /// An empty string tied to `seg`.
    ///
    /// # Panics
    ///
    /// If `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let mut s = String::new_in(&*seg);
    /// s.push_str("built outside, stored after");
    /// let s = seg.construct("s", s)?;
    /// assert_eq!(s.as_str(), "built outside, stored after");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(seg: &impl AsSegment) -> String {
        String {
            vec: Vec::new_in(seg),
        }
    }

    /// An empty string tied to `seg` with room for `capacity` bytes.
    ///
    /// # Panics
    ///
    /// If the segment is full or `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert!(String::with_capacity_in(64, &*seg).capacity() >= 64);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_capacity_in(capacity: usize, seg: &impl AsSegment) -> String {
        String {
            vec: Vec::with_capacity_in(capacity, seg),
        }
    }

    /// A copy of `s` in `seg`.
    ///
    /// # Panics
    ///
    /// Where [`try_from_str_in`](Self::try_from_str_in) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", String::from_str_in("hi", &*seg))?;
    /// assert_eq!(s, "hi");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn from_str_in(s: &str, seg: &impl AsSegment) -> String {
        Self::try_from_str_in(s, seg).unwrap_or_else(|e| fail(e))
    }

    /// A copy of `s` in `seg`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full; as [`AsSegment::segment`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let big = "x".repeat(1 << 20);
    /// let e = String::try_from_str_in(&big, &*seg).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_from_str_in(s: &str, seg: &impl AsSegment) -> Result<String> {
        let seg = seg.segment()?;
        let mut vec = Vec::try_with_capacity_in(s.len(), &seg)?;
        vec.try_extend_from_slice_in(&seg, s.as_bytes())?;
        Ok(String { vec })
    }
}

impl Default for String {
    fn default() -> String {
        String::new()
    }
}

impl<A: ShmAlloc> String<A> {
    /// An empty string with allocator `alloc`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{SegmentAlloc, String};
    /// assert!(String::new_with(SegmentAlloc).is_empty());
    /// ```
    pub const fn new_with(alloc: A) -> String<A> {
        String {
            vec: Vec::new_with(alloc),
        }
    }

    /// The length in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::collections::String::new().len(), 0);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.vec.len()
    }

    /// Whether it is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::collections::String::new().is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.vec.is_empty()
    }

    /// The capacity in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::collections::String::new().capacity(), 0);
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.vec.capacity()
    }

    /// The text, if the string is inside its segment and its bytes are UTF-8.
    ///
    /// # Errors
    ///
    /// As [`Vec::try_as_slice`]; [`ErrorKind::Corrupted`] if the bytes are not UTF-8 (another
    /// process wrote them).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", String::from_str_in("ok", &*seg))?;
    /// assert_eq!(s.try_as_str()?, "ok");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn try_as_str(&self) -> Result<&str> {
        let bytes = self.vec.try_as_slice()?;
        std::str::from_utf8(bytes).map_err(not_utf8)
    }

    /// The text; panics where [`try_as_str`](Self::try_as_str) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", String::from_str_in("ok", &*seg))?;
    /// assert_eq!(s.as_str(), "ok");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn as_str(&self) -> &str {
        self.try_as_str().unwrap_or_else(|e| fail(e))
    }

    /// The bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", String::from_str_in("ok", &*seg))?;
    /// assert_eq!(s.as_bytes(), b"ok");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.vec.as_slice()
    }

    /// Runs `f` on the text wherever the string is (see [`Vec::with_slice`]).
    ///
    /// # Errors
    ///
    /// As [`Vec::with_slice`]; [`ErrorKind::Corrupted`] if the bytes are not UTF-8.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{String, Vec};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("names", Mutex::new(Vec::<String>::new()))?;
    /// m.lock().unwrap().push("ada");
    /// let popped = m.lock().unwrap().pop().unwrap();
    /// assert_eq!(popped.with_str(|s| s.to_uppercase())?, "ADA");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> Result<R> {
        self.vec
            .with_slice(|b| std::str::from_utf8(b).map(f).map_err(not_utf8))?
    }

    /// A process-local copy of the text (works wherever the string is).
    ///
    /// # Errors
    ///
    /// As [`with_str`](Self::with_str).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = String::from_str_in("abc", &*seg);
    /// assert_eq!(s.to_std()?, "abc");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn to_std(&self) -> Result<std::string::String> {
        self.with_str(str::to_owned)
    }

    /// Makes room for `additional` more bytes.
    ///
    /// # Errors
    ///
    /// As [`Vec::try_reserve`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("s", Mutex::new(String::new()))?;
    /// m.lock().unwrap().try_reserve(100)?;
    /// assert!(m.lock().unwrap().capacity() >= 100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_reserve(&mut self, additional: usize) -> Result<()> {
        self.vec.try_reserve(additional)
    }

    /// Makes room for `additional` more bytes; panics where
    /// [`try_reserve`](Self::try_reserve) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("s", Mutex::new(String::new()))?;
    /// m.lock().unwrap().reserve(100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        self.vec.reserve(additional);
    }

    /// Appends `s`.
    ///
    /// # Errors
    ///
    /// As [`try_reserve`](Self::try_reserve); the string is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("s", Mutex::new(String::new()))?;
    /// let mut s = m.lock().unwrap();
    /// s.try_push_str("abc")?;
    /// let e = s.try_push_str(&"x".repeat(1 << 20)).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    /// assert_eq!(*s, "abc");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_push_str(&mut self, s: &str) -> Result<()> {
        self.vec.try_extend_from_slice(s.as_bytes())
    }

    /// Appends `s`; panics where [`try_push_str`](Self::try_push_str) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("s", Mutex::new(String::new()))?;
    /// m.lock().unwrap().push_str("abc");
    /// assert_eq!(*m.lock().unwrap(), "abc");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn push_str(&mut self, s: &str) {
        self.try_push_str(s).unwrap_or_else(|e| fail(e));
    }

    /// Appends `c`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("s", Mutex::new(String::new()))?;
    /// m.lock().unwrap().push('é');
    /// assert_eq!(*m.lock().unwrap(), "é");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn push(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    /// Removes and returns the last character.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("s", Mutex::new(String::new()))?;
    /// let mut s = m.lock().unwrap();
    /// s.push_str("ab");
    /// assert_eq!(s.pop(), Some('b'));
    /// assert_eq!(*s, "a");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop(&mut self) -> Option<char> {
        // `with_str`: works on a string moved out of its segment too.
        let c = self
            .with_str(|s| s.chars().next_back())
            .unwrap_or_else(|e| fail(e))?;
        self.vec.truncate(self.len() - c.len_utf8());
        Some(c)
    }

    /// Shortens it to `new_len` bytes.
    ///
    /// # Panics
    ///
    /// If `new_len` is not on a character boundary.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("s", Mutex::new(String::new()))?;
    /// let mut s = m.lock().unwrap();
    /// s.push_str("hello");
    /// s.truncate(2);
    /// assert_eq!(*s, "he");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn truncate(&mut self, new_len: usize) {
        if new_len < self.len() {
            assert!(
                self.with_str(|s| s.is_char_boundary(new_len))
                    .unwrap_or_else(|e| fail(e)),
                "truncate: {new_len} is not a char boundary"
            );
            self.vec.truncate(new_len);
        }
    }

    /// Empties it (keeping the capacity).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("s", Mutex::new(String::new()))?;
    /// m.lock().unwrap().push_str("x");
    /// m.lock().unwrap().clear();
    /// assert!(m.lock().unwrap().is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn clear(&mut self) {
        self.vec.clear();
    }

    /// Frees unused capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::String;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("s", Mutex::new(String::new()))?;
    /// let mut s = m.lock().unwrap();
    /// s.reserve(500);
    /// s.push_str("x");
    /// s.shrink_to_fit();
    /// assert!(s.capacity() < 500);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.vec.shrink_to_fit();
    }
}

#[cold]
fn not_utf8(e: std::str::Utf8Error) -> Error {
    Error::new(
        ErrorKind::Corrupted,
        format!("a shared string's bytes are not UTF-8: {e}"),
    )
}

impl<A: ShmAlloc> Deref for String<A> {
    type Target = str;

    /// The text; panics where [`try_as_str`](String::try_as_str) fails.
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<A: ShmAlloc> AsRef<str> for String<A> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<A: ShmAlloc> AsRef<[u8]> for String<A> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<A: ShmAlloc> Borrow<str> for String<A> {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl<A: ShmAlloc> fmt::Display for String<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.with_str(|s| f.write_str(s)) {
            Ok(r) => r,
            Err(e) => write!(f, "<string: {}>", e.kind()),
        }
    }
}

impl<A: ShmAlloc> fmt::Debug for String<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.with_str(|s| fmt::Debug::fmt(s, f)) {
            Ok(r) => r,
            Err(e) => write!(f, "String {{ len: {}, <{}> }}", self.len(), e.kind()),
        }
    }
}

impl<A: ShmAlloc> fmt::Write for String<A> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.try_push_str(s).map_err(|_| fmt::Error)
    }
}

impl<A: ShmAlloc + Clone> Clone for String<A> {
    fn clone(&self) -> String<A> {
        String {
            vec: self.vec.clone(),
        }
    }
}

// Comparisons and hashing read through `with_bytes`, which also works for a string moved out
// of its segment: slice algorithms (`sort`, `sort_by_key`, ...) hold elements in temporaries
// off the segment while they compare them.

impl<A: ShmAlloc> String<A> {
    /// The bytes, wherever the string is; panics where [`with_str`](Self::with_str) fails.
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        self.vec.with_slice(f).unwrap_or_else(|e| fail(e))
    }
}

impl<A: ShmAlloc, B: ShmAlloc> PartialEq<String<B>> for String<A> {
    fn eq(&self, other: &String<B>) -> bool {
        self.with_bytes(|a| other.with_bytes(|b| a == b))
    }
}

impl<A: ShmAlloc> Eq for String<A> {}

impl<A: ShmAlloc> PartialEq<str> for String<A> {
    fn eq(&self, other: &str) -> bool {
        self.with_bytes(|a| a == other.as_bytes())
    }
}

impl<A: ShmAlloc> PartialEq<&str> for String<A> {
    fn eq(&self, other: &&str) -> bool {
        self.with_bytes(|a| a == other.as_bytes())
    }
}

impl<A: ShmAlloc> PartialEq<std::string::String> for String<A> {
    fn eq(&self, other: &std::string::String) -> bool {
        self.with_bytes(|a| a == other.as_bytes())
    }
}

impl<A: ShmAlloc> PartialEq<String<A>> for str {
    fn eq(&self, other: &String<A>) -> bool {
        other.with_bytes(|b| self.as_bytes() == b)
    }
}

impl<A: ShmAlloc> PartialEq<String<A>> for &str {
    fn eq(&self, other: &String<A>) -> bool {
        other.with_bytes(|b| self.as_bytes() == b)
    }
}

impl<A: ShmAlloc> PartialOrd for String<A> {
    fn partial_cmp(&self, other: &String<A>) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<A: ShmAlloc> Ord for String<A> {
    /// Byte-wise, as `str`.
    fn cmp(&self, other: &String<A>) -> Ordering {
        self.with_bytes(|a| other.with_bytes(|b| a.cmp(b)))
    }
}

impl<A: ShmAlloc> Hash for String<A> {
    /// Hashes as `str` does (so `Borrow<str>` lookups work).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.with_str(|s| s.hash(state)).unwrap_or_else(|e| fail(e));
    }
}

impl<'a, A: ShmAlloc> Extend<&'a str> for String<A> {
    fn extend<I: IntoIterator<Item = &'a str>>(&mut self, iter: I) {
        for s in iter {
            self.push_str(s);
        }
    }
}

impl<A: ShmAlloc> Extend<char> for String<A> {
    fn extend<I: IntoIterator<Item = char>>(&mut self, iter: I) {
        for c in iter {
            self.push(c);
        }
    }
}

impl<A: ShmAlloc + Default> IntoSegment<String<A>> for &str {
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<String<A>> {
        let mut vec = Vec::try_with_capacity_in_alloc(self.len(), seg, A::default())?;
        vec.try_extend_from_slice_in(seg, self.as_bytes())?;
        Ok(String { vec })
    }
}

impl<A: ShmAlloc + Default> IntoSegment<String<A>> for &std::string::String {
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<String<A>> {
        self.as_str().into_segment(seg)
    }
}

impl<A: ShmAlloc + Default> IntoSegment<String<A>> for std::string::String {
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<String<A>> {
        self.as_str().into_segment(seg)
    }
}

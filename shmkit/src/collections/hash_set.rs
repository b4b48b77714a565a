//! [`HashSet`]: a hash set in a managed segment (a [`HashMap`] with `()` values), and its
//! iterators.
//!
//! ```
//! use shmkit::ManagedHeapMemory;
//! use shmkit::sync::Mutex;
//! use shmkit::collections::HashSet;
//!
//! let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
//! let seen = seg.construct("seen", Mutex::new(HashSet::<u64>::new()))?;
//! let mut seen = seen.lock().unwrap();
//! let fresh: Vec<u64> = [3, 1, 3, 2, 1].into_iter().filter(|x| seen.insert(*x)).collect();
//! assert_eq!(fresh, [3, 1, 2]);
//! # Ok::<(), shmkit::Error>(())
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use super::hash_map::{self, DefaultShmHasher, HashMap};
use super::segment_ref::{AsSegment, SegmentAlloc, SegmentRef, ShmAlloc};
use super::{IntoSegment, fail};
use crate::error::Result;
use crate::shm_safe::ShmSafe;

/// A hash set whose header and elements live in a managed segment, shared by every process
/// that maps it: `std::collections::HashSet`'s API over a [`HashMap<T, ()>`](HashMap) (same
/// table, same hasher `S`, same rules for where it finds its segment).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{HashSet, String};
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let tags = seg.construct("tags", Mutex::new(HashSet::<String>::new()))?;
/// let mut tags = tags.lock().unwrap();
/// assert!(tags.insert("red"));
/// assert!(!tags.insert("red"));
/// tags.insert("blue");
/// assert!(tags.contains("blue"));
/// assert_eq!(tags.len(), 2);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct HashSet<T: ShmSafe + Unpin, S: ShmSafe = DefaultShmHasher, A: ShmAlloc = SegmentAlloc> {
    map: HashMap<T, (), S, A>,
}

// SAFETY: repr(C) over one `ShmSafe` field (a `HashMap<T, ()>`, validated on every use).
unsafe impl<T: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> ShmSafe for HashSet<T, S, A> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::HashSet"),
        HashMap::<T, (), S, A>::FINGERPRINT,
    );
}

impl<T: ShmSafe + Unpin> HashSet<T> {
    /// An empty set, not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// let s: shmkit::collections::HashSet<u32> = shmkit::collections::HashSet::new();
    /// assert!(s.is_empty());
    /// ```
    pub const fn new() -> HashSet<T> {
        HashSet {
            map: HashMap::new(),
        }
    }

    /// An empty set tied to `seg`.
    ///
    /// # Panics
    ///
    /// If `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let mut s = HashSet::<u32>::new_in(&*seg);
    /// s.insert(3);
    /// let s = seg.construct("s", s)?;
    /// assert!(s.contains(&3));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(seg: &impl AsSegment) -> HashSet<T> {
        HashSet {
            map: HashMap::new_in(seg),
        }
    }

    /// An empty set tied to `seg` with room for `capacity` elements.
    ///
    /// # Panics
    ///
    /// If the segment is full or `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert!(HashSet::<u32>::with_capacity_in(20, &*seg).capacity() >= 20);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_capacity_in(capacity: usize, seg: &impl AsSegment) -> HashSet<T> {
        HashSet {
            map: HashMap::with_capacity_in(capacity, seg),
        }
    }

    /// [`with_capacity_in`](Self::with_capacity_in), returning errors.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory) if the segment is full; as
    /// [`AsSegment::segment`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert!(HashSet::<u64>::try_with_capacity_in(1 << 20, &*seg).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_with_capacity_in(capacity: usize, seg: &impl AsSegment) -> Result<HashSet<T>> {
        Ok(HashSet {
            map: HashMap::try_with_capacity_in(capacity, seg)?,
        })
    }
}

impl<T: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> HashSet<T, S, A> {
    /// An empty set with hasher `hasher` and allocator `alloc`, not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{DefaultShmHasher, HashSet, SegmentAlloc};
    /// let s: HashSet<u8> =
    ///     HashSet::with_hasher_and_alloc(DefaultShmHasher::with_seed(1), SegmentAlloc);
    /// assert_eq!(s.hasher().seed(), 1);
    /// ```
    pub const fn with_hasher_and_alloc(hasher: S, alloc: A) -> HashSet<T, S, A> {
        HashSet {
            map: HashMap::with_hasher_and_alloc(hasher, alloc),
        }
    }

    /// The number of elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::collections::HashSet::<u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::collections::HashSet::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How many elements fit before the table is reallocated.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::collections::HashSet::<u8>::new().capacity(), 0);
    /// ```
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// The hasher.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{DefaultShmHasher, HashSet};
    /// assert_eq!(*HashSet::<u8>::new().hasher(), DefaultShmHasher::new());
    /// ```
    pub fn hasher(&self) -> &S {
        self.map.hasher()
    }

    /// The elements, in table order.
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment (moved out of it) and not empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.extend([1, 2, 3]);
    /// assert_eq!(s.iter().map(|x| u32::from(*x)).sum::<u32>(), 6);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            inner: self.map.keys(),
        }
    }

    /// Runs `f` on an iterator over the elements, wherever the set is (see
    /// [`HashMap::with_entries`]).
    ///
    /// # Errors
    ///
    /// As [`HashMap::with_entries`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
    /// s.lock().unwrap().extend([1, 2]);
    /// let taken = std::mem::take(&mut *s.lock().unwrap());
    /// assert_eq!(taken.with_elements(|it| it.copied().max())?, Some(2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_elements<R>(&self, f: impl for<'b> FnOnce(Iter<'b, T>) -> R) -> Result<R> {
        self.map.with_entries(|it| {
            f(Iter {
                inner: hash_map::Keys::of(it),
            })
        })
    }

    /// Removes every element.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.insert(1);
    /// s.clear();
    /// assert!(s.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

impl<T: ShmSafe + Unpin + Hash + Eq, S: ShmSafe + BuildHasher, A: ShmAlloc> HashSet<T, S, A> {
    /// Adds `value`; returns whether it was not there (an equal element already stored is
    /// kept).
    ///
    /// # Panics
    ///
    /// Where [`try_insert`](Self::try_insert) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// assert!(s.insert(1));
    /// assert!(!s.insert(1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn insert(&mut self, value: impl IntoSegment<T>) -> bool {
        self.try_insert(value).unwrap_or_else(|e| fail(e))
    }

    /// [`insert`](Self::insert), returning errors.
    ///
    /// # Errors
    ///
    /// As [`HashMap::try_insert`]: on [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory)
    /// the set is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u64>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// let mut n = 0;
    /// while s.try_insert(n).is_ok() {
    ///     n += 1;
    /// }
    /// assert_eq!(s.len() as u64, n);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_insert(&mut self, value: impl IntoSegment<T>) -> Result<bool> {
        Ok(self.map.try_insert(value, ())?.is_none())
    }

    /// Whether the set holds `value`.
    ///
    /// # Panics
    ///
    /// As [`HashMap::contains_key`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{HashSet, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<String>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.insert("x");
    /// assert!(s.contains("x"));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn contains<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(value)
    }

    /// The stored element equal to `value`.
    ///
    /// # Panics
    ///
    /// As [`HashMap::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{HashSet, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<String>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.insert("x");
    /// assert_eq!(s.get("x").map(|x| x.len()), Some(1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get<Q>(&self, value: &Q) -> Option<&T>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_key_value(value).map(|(k, _)| k)
    }

    /// Removes `value`; returns whether it was there.
    ///
    /// # Panics
    ///
    /// As [`HashMap::remove`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.insert(1);
    /// assert!(s.remove(&1));
    /// assert!(!s.remove(&1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove<Q>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(value).is_some()
    }

    /// Removes and returns the stored element equal to `value` (moved out of the segment).
    ///
    /// # Panics
    ///
    /// As [`HashMap::remove`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.insert(1);
    /// assert_eq!(s.take(&1), Some(1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn take<Q>(&mut self, value: &Q) -> Option<T>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove_entry(value).map(|(k, ())| k)
    }

    /// Keeps the elements for which `keep` returns `true`.
    ///
    /// # Panics
    ///
    /// As [`HashMap::retain`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.extend(0..10);
    /// s.retain(|x| x % 3 == 0);
    /// assert_eq!(s.len(), 4);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.map.retain(|k, _| keep(k));
    }

    /// Removes every element and returns them (moved out of the segment).
    ///
    /// # Panics
    ///
    /// As [`HashMap::drain`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.extend([5]);
    /// assert_eq!(s.drain().collect::<Vec<_>>(), [5]);
    /// assert!(s.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn drain(&mut self) -> IntoIter<T> {
        IntoIter {
            inner: self.map.drain(),
        }
    }

    /// Makes room for `additional` more elements.
    ///
    /// # Errors
    ///
    /// As [`HashMap::try_reserve`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
    /// s.lock().unwrap().try_reserve(10)?;
    /// assert!(s.lock().unwrap().capacity() >= 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_reserve(&mut self, additional: usize) -> Result<()> {
        self.map.try_reserve(additional)
    }

    /// Makes room for `additional` more elements; panics where
    /// [`try_reserve`](Self::try_reserve) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
    /// s.lock().unwrap().reserve(10);
    /// assert!(s.lock().unwrap().capacity() >= 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Shrinks the table to the smallest that holds the elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.reserve(500);
    /// s.shrink_to_fit();
    /// assert_eq!(s.capacity(), 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.map.shrink_to_fit();
    }

    /// The elements of `self` or `other` (each once).
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter), for either set.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(HashSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(HashSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1, 2]);
    /// b.extend([2, 3]);
    /// let mut u: Vec<u8> = a.union(&b).copied().collect();
    /// u.sort();
    /// assert_eq!(u, [1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn union<'a, S2: ShmSafe + BuildHasher, A2: ShmAlloc>(
        &'a self,
        other: &'a HashSet<T, S2, A2>,
    ) -> impl Iterator<Item = &'a T> + 'a {
        self.iter()
            .chain(other.iter().filter(move |x| !self.contains(*x)))
    }

    /// The elements of `self` that are also in `other`.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter), for either set.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(HashSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(HashSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1, 2]);
    /// b.extend([2, 3]);
    /// assert_eq!(a.intersection(&b).collect::<Vec<_>>(), [&2]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn intersection<'a, S2: ShmSafe + BuildHasher, A2: ShmAlloc>(
        &'a self,
        other: &'a HashSet<T, S2, A2>,
    ) -> impl Iterator<Item = &'a T> + 'a {
        self.iter().filter(move |x| other.contains(*x))
    }

    /// The elements of `self` that are not in `other`.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter), for either set.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(HashSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(HashSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1, 2]);
    /// b.extend([2, 3]);
    /// assert_eq!(a.difference(&b).collect::<Vec<_>>(), [&1]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn difference<'a, S2: ShmSafe + BuildHasher, A2: ShmAlloc>(
        &'a self,
        other: &'a HashSet<T, S2, A2>,
    ) -> impl Iterator<Item = &'a T> + 'a {
        self.iter().filter(move |x| !other.contains(*x))
    }

    /// The elements in exactly one of `self` and `other`.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter), for either set.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(HashSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(HashSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1, 2]);
    /// b.extend([2, 3]);
    /// let mut d: Vec<u8> = a.symmetric_difference(&b).copied().collect();
    /// d.sort();
    /// assert_eq!(d, [1, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn symmetric_difference<'a, S2: ShmSafe + BuildHasher, A2: ShmAlloc>(
        &'a self,
        other: &'a HashSet<T, S2, A2>,
    ) -> impl Iterator<Item = &'a T> + 'a {
        self.difference(other)
            .chain(other.iter().filter(move |x| !self.contains(*x)))
    }

    /// Whether `self` and `other` have no element in common.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter), for either set.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(HashSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(HashSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1]);
    /// b.extend([2, 3]);
    /// assert!(a.is_disjoint(&b));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_disjoint<S2: ShmSafe + BuildHasher, A2: ShmAlloc>(
        &self,
        other: &HashSet<T, S2, A2>,
    ) -> bool {
        if self.len() <= other.len() {
            self.iter().all(|x| !other.contains(x))
        } else {
            other.iter().all(|x| !self.contains(x))
        }
    }

    /// Whether every element of `other` is in `self`.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter), for either set.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(HashSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(HashSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1, 2, 3]);
    /// b.extend([2, 3]);
    /// assert!(a.is_superset(&b));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_superset<S2: ShmSafe + BuildHasher, A2: ShmAlloc>(
        &self,
        other: &HashSet<T, S2, A2>,
    ) -> bool {
        other.is_subset(self)
    }

    /// Whether every element of `self` is in `other`.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter), for either set.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::HashSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(HashSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(HashSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([2]);
    /// b.extend([2, 3]);
    /// assert!(a.is_subset(&b) && !b.is_subset(&a));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_subset<S2: ShmSafe + BuildHasher, A2: ShmAlloc>(
        &self,
        other: &HashSet<T, S2, A2>,
    ) -> bool {
        self.len() <= other.len() && self.iter().all(|x| other.contains(x))
    }
}

impl<T: ShmSafe + Unpin + Hash + Eq, S: ShmSafe + Default + BuildHasher, A: ShmAlloc + Default>
    Default for HashSet<T, S, A>
{
    fn default() -> Self {
        HashSet {
            map: HashMap::default(),
        }
    }
}

impl<T: ShmSafe + Unpin + fmt::Debug, S: ShmSafe, A: ShmAlloc> fmt::Debug for HashSet<T, S, A> {
    /// Formats the elements of a set inside its segment; otherwise a placeholder.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self
            .map
            .with_entries(|it| f.debug_set().entries(it.map(|(k, ())| k)).finish())
        {
            Ok(r) => r,
            Err(e) => write!(f, "HashSet {{ len: {}, <{}> }}", self.len(), e.kind()),
        }
    }
}

impl<T: ShmSafe + Unpin + Clone, S: ShmSafe + Clone, A: ShmAlloc + Clone> Clone
    for HashSet<T, S, A>
{
    /// A copy in the same segment (returned moved out of it).
    ///
    /// # Panics
    ///
    /// As [`HashMap`]'s `clone`.
    fn clone(&self) -> Self {
        HashSet {
            map: self.map.clone(),
        }
    }
}

impl<T, S, A, S2, A2> PartialEq<HashSet<T, S2, A2>> for HashSet<T, S, A>
where
    T: ShmSafe + Unpin + Hash + Eq,
    S: ShmSafe,
    A: ShmAlloc,
    S2: ShmSafe + BuildHasher,
    A2: ShmAlloc,
{
    fn eq(&self, other: &HashSet<T, S2, A2>) -> bool {
        self.map == other.map
    }
}

impl<T: ShmSafe + Unpin + Hash + Eq, S: ShmSafe + BuildHasher, A: ShmAlloc> Eq
    for HashSet<T, S, A>
{
}

impl<T, S, A, TI> Extend<TI> for HashSet<T, S, A>
where
    T: ShmSafe + Unpin + Hash + Eq,
    S: ShmSafe + BuildHasher,
    A: ShmAlloc,
    TI: IntoSegment<T>,
{
    /// # Panics
    ///
    /// Where [`insert`](HashSet::insert) panics.
    fn extend<I: IntoIterator<Item = TI>>(&mut self, iter: I) {
        self.map.extend(iter.into_iter().map(|x| (x, ())));
    }
}

impl<T: ShmSafe + Unpin, S: ShmSafe + BuildHasher, A: ShmAlloc> IntoIterator for HashSet<T, S, A> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    /// Moves the elements out of the segment and frees the table; works for a set inside its
    /// segment or moved out of it.
    fn into_iter(self) -> IntoIter<T> {
        IntoIter {
            inner: self.map.into_iter(),
        }
    }
}

impl<'a, T: ShmSafe + Unpin, S: ShmSafe, A: ShmAlloc> IntoIterator for &'a HashSet<T, S, A> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T, S, A, TI, H> IntoSegment<HashSet<T, S, A>> for std::collections::HashSet<TI, H>
where
    T: ShmSafe + Unpin + Hash + Eq,
    S: ShmSafe + BuildHasher + Default,
    A: ShmAlloc + Default,
    TI: IntoSegment<T>,
{
    /// A shmkit set with the same elements, in `seg`.
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<HashSet<T, S, A>> {
        let mut s = HashSet {
            map: HashMap::try_with_capacity_and_hasher_in(self.len(), S::default(), seg)?,
        };
        for x in self {
            s.try_insert(x)?;
        }
        Ok(s)
    }
}

/// An iterator over a [`HashSet`]'s elements, from [`HashSet::iter`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::HashSet;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
/// s.lock().unwrap().insert(1);
/// assert_eq!(s.lock().unwrap().iter().len(), 1);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Iter<'a, T> {
    inner: hash_map::Keys<'a, T, ()>,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}

/// The elements of a [`HashSet`], moved out of the segment, from [`HashSet::drain`] and
/// `into_iter`.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::HashSet;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let s = seg.construct("s", Mutex::new(HashSet::<u8>::new()))?;
/// s.lock().unwrap().insert(1);
/// let taken = std::mem::take(&mut *s.lock().unwrap());
/// assert_eq!(taken.into_iter().collect::<Vec<_>>(), [1]);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct IntoIter<T> {
    inner: std::vec::IntoIter<(T, ())>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.inner.next().map(|(k, ())| k)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> ExactSizeIterator for IntoIter<T> {}

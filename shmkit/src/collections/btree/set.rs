//! [`BTreeSet`]: an ordered set in a managed segment.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::FusedIterator;
use std::ops::RangeBounds;

use super::map::{BTreeMap, Keys, Range};
use crate::collections::IntoSegment;
use crate::collections::segment_ref::{AsSegment, SegmentAlloc, ShmAlloc};
use crate::error::Result;
use crate::shm_safe::ShmSafe;

/// An ordered set whose header and nodes live in a managed segment: a [`BTreeMap`] with `()`
/// values, `std::collections::BTreeSet`'s API.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{BTreeSet, String};
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let tags = seg.construct("tags", Mutex::new(BTreeSet::<String>::new()))?;
/// let mut tags = tags.lock().unwrap();
/// tags.insert("red");
/// tags.insert("blue");
/// assert!(!tags.insert("red"));
/// assert!(tags.contains("blue"));
/// assert_eq!(tags.first().map(|s| s.as_str()), Some("blue"));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct BTreeSet<T: ShmSafe + Unpin, A: ShmAlloc = SegmentAlloc> {
    map: BTreeMap<T, (), A>,
}

// SAFETY: repr(C) over one `ShmSafe` field (the map, validated on every use).
unsafe impl<T: ShmSafe + Unpin, A: ShmAlloc> ShmSafe for BTreeSet<T, A> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::BTreeSet"),
        crate::fingerprint::combine(T::FINGERPRINT, A::FINGERPRINT),
    );
}

impl<T: ShmSafe + Unpin> BTreeSet<T> {
    /// An empty set, not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// let s: shmkit::collections::BTreeSet<u8> = shmkit::collections::BTreeSet::new();
    /// assert!(s.is_empty());
    /// ```
    pub const fn new() -> BTreeSet<T> {
        BTreeSet {
            map: BTreeMap::new(),
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
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let mut s = BTreeSet::<u32>::new_in(&*seg);
    /// s.insert(3);
    /// let s = seg.construct("s", s)?;
    /// assert!(s.contains(&3));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(seg: &impl AsSegment) -> BTreeSet<T> {
        BTreeSet {
            map: BTreeMap::new_in(seg),
        }
    }
}

impl<T: ShmSafe + Unpin> Default for BTreeSet<T> {
    fn default() -> BTreeSet<T> {
        BTreeSet::new()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> BTreeSet<T, A> {
    /// The number of elements.
    ///
    /// # Examples
    ///
    /// ```
    /// let s: shmkit::collections::BTreeSet<u8> = shmkit::collections::BTreeSet::new();
    /// assert_eq!(s.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it has no elements.
    ///
    /// # Examples
    ///
    /// ```
    /// let s: shmkit::collections::BTreeSet<u8> = shmkit::collections::BTreeSet::new();
    /// assert!(s.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Adds `value`; returns whether it was new (an equal element already there is kept).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory) if the segment is full (the
    /// set is unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// assert!(s.lock().unwrap().try_insert(1)?);
    /// assert!(!s.lock().unwrap().try_insert(1)?);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_insert(&mut self, value: impl IntoSegment<T>) -> Result<bool>
    where
        T: Ord,
    {
        Ok(self.map.try_insert(value, ())?.is_none())
    }

    /// Adds `value`; returns whether it was new. Panics where
    /// [`try_insert`](Self::try_insert) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// assert!(s.lock().unwrap().insert(1));
    /// assert!(!s.lock().unwrap().insert(1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn insert(&mut self, value: impl IntoSegment<T>) -> bool
    where
        T: Ord,
    {
        self.map.insert(value, ()).is_none()
    }

    /// Whether the set holds `value` (works on a set moved out of its segment too).
    ///
    /// # Panics
    ///
    /// If the set cannot reach its segment, or is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{BTreeSet, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<String>::new()))?;
    /// s.lock().unwrap().insert("x");
    /// assert!(s.lock().unwrap().contains("x"));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn contains<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        self.map.contains_key(value)
    }

    /// The stored element equal to `value`.
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment, or is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// s.lock().unwrap().insert(4);
    /// assert_eq!(s.lock().unwrap().get(&4), Some(&4));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get<Q>(&self, value: &Q) -> Option<&T>
    where
        T: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        self.map.get_key_value(value).map(|(k, _)| k)
    }

    /// Removes `value`; returns whether it was there.
    ///
    /// # Panics
    ///
    /// If the set cannot reach its segment, or is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// s.lock().unwrap().insert(4);
    /// assert!(s.lock().unwrap().remove(&4));
    /// assert!(!s.lock().unwrap().remove(&4));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove<Q>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        self.map.remove(value).is_some()
    }

    /// Removes and returns the stored element equal to `value`.
    ///
    /// # Panics
    ///
    /// As [`remove`](Self::remove).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// s.lock().unwrap().insert(4);
    /// assert_eq!(s.lock().unwrap().take(&4), Some(4));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn take<Q>(&mut self, value: &Q) -> Option<T>
    where
        T: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        self.map.remove_entry(value).map(|(k, ())| k)
    }

    /// The elements in order (double-ended).
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment, or is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.extend([3, 1, 2]);
    /// assert!(s.iter().eq(&[1, 2, 3]));
    /// assert!(s.iter().rev().eq(&[3, 2, 1]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter(&self) -> SetIter<'_, T> {
        SetIter {
            inner: self.map.keys(),
        }
    }

    /// The elements in `range`, in order.
    ///
    /// # Panics
    ///
    /// As [`BTreeMap::range`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.extend(0..10);
    /// assert!(s.range(3..6).eq(&[3, 4, 5]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn range<Q, R>(&self, range: R) -> SetRange<'_, T>
    where
        T: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
        R: RangeBounds<Q>,
    {
        SetRange {
            inner: self.map.range(range),
        }
    }

    /// The smallest element.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// s.lock().unwrap().extend([5, 2, 9]);
    /// assert_eq!(s.lock().unwrap().first(), Some(&2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn first(&self) -> Option<&T> {
        self.map.first_key_value().map(|(k, _)| k)
    }

    /// The largest element.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// s.lock().unwrap().extend([5, 2, 9]);
    /// assert_eq!(s.lock().unwrap().last(), Some(&9));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn last(&self) -> Option<&T> {
        self.map.last_key_value().map(|(k, _)| k)
    }

    /// Removes and returns the smallest element.
    ///
    /// # Panics
    ///
    /// As [`remove`](Self::remove).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// s.lock().unwrap().extend([5, 2, 9]);
    /// assert_eq!(s.lock().unwrap().pop_first(), Some(2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_first(&mut self) -> Option<T> {
        self.map.pop_first().map(|(k, ())| k)
    }

    /// Removes and returns the largest element.
    ///
    /// # Panics
    ///
    /// As [`remove`](Self::remove).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// s.lock().unwrap().extend([5, 2, 9]);
    /// assert_eq!(s.lock().unwrap().pop_last(), Some(9));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_last(&mut self) -> Option<T> {
        self.map.pop_last().map(|(k, ())| k)
    }

    /// Keeps the elements for which `keep` returns `true`.
    ///
    /// # Panics
    ///
    /// As [`BTreeMap::retain`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.extend(0..10);
    /// s.retain(|x| x % 2 == 1);
    /// assert!(s.iter().eq(&[1, 3, 5, 7, 9]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool)
    where
        T: Ord,
    {
        self.map.retain(|k, ()| keep(k));
    }

    /// Removes every element.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.extend(0..10);
    /// s.clear();
    /// assert!(s.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Whether every element of `self` is in `other`.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", BTreeSet::<u8>::new())?;
    /// let b = seg.construct("b", BTreeSet::<u8>::new())?;
    /// assert!(a.is_subset(&b));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_subset<B: ShmAlloc>(&self, other: &BTreeSet<T, B>) -> bool
    where
        T: Ord,
    {
        self.len() <= other.len() && self.iter().all(|x| other.contains(x))
    }

    /// The elements in `self` or `other` (each once), in order.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1, 2]);
    /// b.extend([2, 3]);
    /// assert!(a.union(&b).eq(&[1, 2, 3]));
    /// assert!(a.intersection(&b).eq(&[2]));
    /// assert!(a.difference(&b).eq(&[1]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn union<'a, B: ShmAlloc>(
        &'a self,
        other: &'a BTreeSet<T, B>,
    ) -> impl Iterator<Item = &'a T> + 'a
    where
        T: Ord,
    {
        Merge::new(self.iter(), other.iter()).filter_map(|(a, b)| a.or(b))
    }

    /// The elements in both `self` and `other`, in order.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1, 2]);
    /// b.extend([2, 3]);
    /// assert!(a.intersection(&b).eq(&[2]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn intersection<'a, B: ShmAlloc>(
        &'a self,
        other: &'a BTreeSet<T, B>,
    ) -> impl Iterator<Item = &'a T> + 'a
    where
        T: Ord,
    {
        Merge::new(self.iter(), other.iter()).filter_map(|(a, b)| a.and(b))
    }

    /// The elements in `self` but not in `other`, in order.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1, 2]);
    /// b.extend([2, 3]);
    /// assert!(a.difference(&b).eq(&[1]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn difference<'a, B: ShmAlloc>(
        &'a self,
        other: &'a BTreeSet<T, B>,
    ) -> impl Iterator<Item = &'a T> + 'a
    where
        T: Ord,
    {
        Merge::new(self.iter(), other.iter())
            .filter_map(|(a, b)| if b.is_none() { a } else { None })
    }

    /// The elements in exactly one of `self` and `other`, in order.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1, 2]);
    /// b.extend([2, 3]);
    /// assert!(a.symmetric_difference(&b).eq(&[1, 3]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn symmetric_difference<'a, B: ShmAlloc>(
        &'a self,
        other: &'a BTreeSet<T, B>,
    ) -> impl Iterator<Item = &'a T> + 'a
    where
        T: Ord,
    {
        Merge::new(self.iter(), other.iter()).filter_map(|(a, b)| match (a, b) {
            (Some(x), None) | (None, Some(x)) => Some(x),
            _ => None,
        })
    }
}

/// Walks two sorted iterators together: `(Some, Some)` for equal elements, one side otherwise.
struct Merge<'a, T: 'a, I: Iterator<Item = &'a T>, J: Iterator<Item = &'a T>> {
    a: std::iter::Peekable<I>,
    b: std::iter::Peekable<J>,
}

impl<'a, T: Ord + 'a, I: Iterator<Item = &'a T>, J: Iterator<Item = &'a T>> Merge<'a, T, I, J> {
    fn new(a: I, b: J) -> Self {
        Merge {
            a: a.peekable(),
            b: b.peekable(),
        }
    }
}

impl<'a, T: Ord + 'a, I: Iterator<Item = &'a T>, J: Iterator<Item = &'a T>> Iterator
    for Merge<'a, T, I, J>
{
    type Item = (Option<&'a T>, Option<&'a T>);

    fn next(&mut self) -> Option<Self::Item> {
        let ord = match (self.a.peek(), self.b.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(y),
        };
        Some(match ord {
            Ordering::Less => (self.a.next(), None),
            Ordering::Greater => (None, self.b.next()),
            Ordering::Equal => (self.a.next(), self.b.next()),
        })
    }
}

/// The elements of a [`BTreeSet`] in order, from [`BTreeSet::iter`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::BTreeSet;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
/// let mut s = s.lock().unwrap();
/// s.extend([3, 1, 2]);
/// assert_eq!(s.iter().len(), 3);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct SetIter<'a, T> {
    inner: Keys<'a, T, ()>,
}

impl<'a, T: 'a> Iterator for SetIter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<'a, T: 'a> DoubleEndedIterator for SetIter<'a, T> {
    fn next_back(&mut self) -> Option<&'a T> {
        self.inner.next_back()
    }
}

impl<'a, T: 'a> ExactSizeIterator for SetIter<'a, T> {}
impl<'a, T: 'a> FusedIterator for SetIter<'a, T> {}

/// The elements of a [`BTreeSet`] in a range, from [`BTreeSet::range`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::BTreeSet;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let s = seg.construct("s", Mutex::new(BTreeSet::<u8>::new()))?;
/// let mut s = s.lock().unwrap();
/// s.extend([3, 1, 2]);
/// assert!(s.range(2..).rev().eq(&[3, 2]));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct SetRange<'a, T> {
    inner: Range<'a, T, ()>,
}

impl<'a, T: 'a> Iterator for SetRange<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        self.inner.next().map(|(k, _)| k)
    }
}

impl<'a, T: 'a> DoubleEndedIterator for SetRange<'a, T> {
    fn next_back(&mut self) -> Option<&'a T> {
        self.inner.next_back().map(|(k, _)| k)
    }
}

impl<'a, T: 'a> FusedIterator for SetRange<'a, T> {}

impl<'a, T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for &'a BTreeSet<T, A> {
    type Item = &'a T;
    type IntoIter = SetIter<'a, T>;

    fn into_iter(self) -> SetIter<'a, T> {
        self.iter()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for BTreeSet<T, A> {
    type Item = T;
    type IntoIter = std::iter::Map<std::vec::IntoIter<(T, ())>, fn((T, ())) -> T>;

    /// Moves the elements out of the segment in order; works for a set moved out of it too.
    fn into_iter(self) -> Self::IntoIter {
        fn first<T>((t, ()): (T, ())) -> T {
            t
        }
        self.map.into_iter().map(first as fn((T, ())) -> T)
    }
}

impl<T: ShmSafe + Unpin + Ord, A: ShmAlloc, U: IntoSegment<T>> Extend<U> for BTreeSet<T, A> {
    fn extend<I: IntoIterator<Item = U>>(&mut self, iter: I) {
        for x in iter {
            self.insert(x);
        }
    }
}

impl<T: ShmSafe + Unpin + fmt::Debug, A: ShmAlloc> fmt::Debug for BTreeSet<T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.map.try_iter() {
            Ok(it) => f.debug_set().entries(it.map(|(k, _)| k)).finish(),
            Err(e) => write!(f, "BTreeSet {{ len: {}, <{}> }}", self.len(), e.kind()),
        }
    }
}

impl<T: ShmSafe + Unpin + Ord + Clone, A: ShmAlloc + Clone> Clone for BTreeSet<T, A> {
    fn clone(&self) -> BTreeSet<T, A> {
        BTreeSet {
            map: self.map.clone(),
        }
    }
}

impl<T: ShmSafe + Unpin + PartialEq, A: ShmAlloc, B: ShmAlloc> PartialEq<BTreeSet<T, B>>
    for BTreeSet<T, A>
{
    fn eq(&self, other: &BTreeSet<T, B>) -> bool {
        self.map == other.map
    }
}

impl<T: ShmSafe + Unpin + Eq, A: ShmAlloc> Eq for BTreeSet<T, A> {}

impl<T: ShmSafe + Unpin + PartialOrd, A: ShmAlloc> PartialOrd for BTreeSet<T, A> {
    fn partial_cmp(&self, other: &BTreeSet<T, A>) -> Option<Ordering> {
        self.iter().partial_cmp(other.iter())
    }
}

impl<T: ShmSafe + Unpin + Ord, A: ShmAlloc> Ord for BTreeSet<T, A> {
    fn cmp(&self, other: &BTreeSet<T, A>) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl<T: ShmSafe + Unpin + Hash, A: ShmAlloc> Hash for BTreeSet<T, A> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for x in self {
            x.hash(state);
        }
    }
}

impl<T: ShmSafe + Unpin + Ord, A: ShmAlloc> BTreeSet<T, A> {
    /// Whether every element of `other` is in `self`.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1, 2, 3]);
    /// b.extend([2, 3]);
    /// assert!(a.is_superset(&b));
    /// assert!(!b.is_superset(&a));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_superset<B: ShmAlloc>(&self, other: &BTreeSet<T, B>) -> bool {
        other.is_subset(self)
    }

    /// Whether `self` and `other` have no element in common.
    ///
    /// # Panics
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.construct("a", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let b = seg.construct("b", Mutex::new(BTreeSet::<u8>::new()))?;
    /// let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    /// a.extend([1, 2]);
    /// b.extend([3]);
    /// assert!(a.is_disjoint(&b));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_disjoint<B: ShmAlloc>(&self, other: &BTreeSet<T, B>) -> bool {
        self.intersection(other).next().is_none()
    }
}

/// A `std` set converts into a [`BTreeSet`] in the segment of the collection it is added to.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{BTreeMap, BTreeSet};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, BTreeSet<u32>>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.insert(1, std::collections::BTreeSet::from([3, 1, 2]));
/// assert!(m[&1].iter().eq(&[1, 2, 3]));
/// # Ok::<(), shmkit::Error>(())
/// ```
impl<T, A, U> IntoSegment<BTreeSet<T, A>> for std::collections::BTreeSet<U>
where
    T: ShmSafe + Unpin + Ord,
    A: ShmAlloc + Default,
    U: IntoSegment<T>,
{
    fn into_segment(self, seg: &crate::collections::SegmentRef<'_>) -> Result<BTreeSet<T, A>> {
        Ok(BTreeSet {
            map: BTreeMap::build_in(seg, self.into_iter().map(|x| (x, ())))?,
        })
    }
}

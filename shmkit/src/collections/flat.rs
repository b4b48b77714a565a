//! [`FlatMap`] and [`FlatSet`]: ordered collections as sorted vectors in a managed segment.
#![allow(unsafe_code)]

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Bound, Index, RangeBounds};

use super::segment_ref::{AsSegment, SegmentAlloc, SegmentRef, ShmAlloc};
use super::{IntoSegment, Vec, Where, fail};
use crate::error::{Error, ErrorKind, Result};
use crate::ptr::SegmentBase;
use crate::shm_safe::ShmSafe;

/// An ordered map stored as two sorted vectors (keys, values) in a managed segment: binary
/// search lookups, cache-friendly in-order iteration, O(n) insertion and removal in the
/// middle (appending in key order is O(1)). `std::collections::BTreeMap`'s everyday API.
///
/// Lookups and iteration need the map inside its segment (see the [module
/// docs](crate::collections)); a map moved out of it can be cleared, dropped and iterated by
/// value. The keys are one plain slice: [`keys_slice`](Self::keys_slice).
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{FlatMap, String};
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let m = seg.construct("ages", Mutex::new(FlatMap::<String, u32>::new()))?;
/// let mut ages = m.lock().unwrap();
/// ages.insert("bob", 40);
/// ages.insert("alice", 30);
/// assert_eq!(ages.get("alice"), Some(&30));
/// assert_eq!(ages.keys_slice()[0], "alice");
/// assert!(ages.values().eq(&[30, 40]));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct FlatMap<K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc = SegmentAlloc> {
    seg: SegmentBase,
    keys: Vec<K, A>,
    vals: Vec<V, A>,
}

// SAFETY: repr(C) of `ShmSafe` fields (the id an atomic, two vectors validated on every use);
// the map checks that both vectors have the same length before pairing them, and keys that
// are out of order only make lookups miss. Nothing in it is an address. Send + Sync as its
// fields. Its drop frees segment memory, which only leaks when skipped.
unsafe impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> ShmSafe for FlatMap<K, V, A> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::FlatMap"),
        crate::fingerprint::combine(
            K::FINGERPRINT,
            crate::fingerprint::combine(V::FINGERPRINT, A::FINGERPRINT),
        ),
    );
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin> FlatMap<K, V> {
    /// An empty map, not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// let m: shmkit::collections::FlatMap<u8, u8> = shmkit::collections::FlatMap::new();
    /// assert!(m.is_empty());
    /// ```
    pub const fn new() -> FlatMap<K, V> {
        FlatMap {
            seg: SegmentBase::unbound(),
            keys: Vec::new(),
            vals: Vec::new(),
        }
    }

    /// An empty map tied to `seg` with room for `capacity` entries.
    ///
    /// # Panics
    ///
    /// If the segment is full or `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", FlatMap::<u32, u32>::with_capacity_in(10, &*seg))?;
    /// assert!(m.capacity() >= 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_capacity_in(capacity: usize, seg: &impl AsSegment) -> FlatMap<K, V> {
        let s = seg.segment().unwrap_or_else(|e| fail(e));
        FlatMap {
            seg: SegmentBase::new(s.id()),
            keys: Vec::with_capacity_in(capacity, &s),
            vals: Vec::with_capacity_in(capacity, &s),
        }
    }

    /// An empty map tied to `seg`.
    ///
    /// # Panics
    ///
    /// If `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", FlatMap::<u32, u32>::new_in(&*seg))?;
    /// assert!(m.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(seg: &impl AsSegment) -> FlatMap<K, V> {
        FlatMap::with_capacity_in(0, seg)
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin> Default for FlatMap<K, V> {
    fn default() -> FlatMap<K, V> {
        FlatMap::new()
    }
}

#[cold]
fn mismatched() -> Error {
    Error::new(
        ErrorKind::Corrupted,
        "a flat map's key and value vectors have different lengths",
    )
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> FlatMap<K, V, A> {
    /// An empty map with allocator `alloc` (one copy per vector), not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{FlatMap, SegmentAlloc};
    /// let m: FlatMap<u8, u8> = FlatMap::new_with(SegmentAlloc);
    /// assert!(m.is_empty());
    /// ```
    pub fn new_with(alloc: A) -> FlatMap<K, V, A>
    where
        A: Clone,
    {
        FlatMap {
            seg: SegmentBase::unbound(),
            keys: Vec::new_with(alloc.clone()),
            vals: Vec::new_with(alloc),
        }
    }

    /// The number of entries.
    ///
    /// # Examples
    ///
    /// ```
    /// let m: shmkit::collections::FlatMap<u8, u8> = shmkit::collections::FlatMap::new();
    /// assert_eq!(m.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.keys.len().min(self.vals.len())
    }

    /// Whether it has no entries.
    ///
    /// # Examples
    ///
    /// ```
    /// let m: shmkit::collections::FlatMap<u8, u8> = shmkit::collections::FlatMap::new();
    /// assert!(m.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries fit before the vectors reallocate.
    ///
    /// # Examples
    ///
    /// ```
    /// let m: shmkit::collections::FlatMap<u8, u8> = shmkit::collections::FlatMap::new();
    /// assert_eq!(m.capacity(), 0);
    /// ```
    pub fn capacity(&self) -> usize {
        self.keys.capacity().min(self.vals.capacity())
    }

    /// The segment, if the header is inside it.
    fn resident(&self) -> Result<SegmentRef<'_>> {
        match Where::of(self, &self.seg)? {
            Where::Resident(s) => Ok(s),
            Where::Detached(_) | Where::Unbound => Err(super::detached_access(self)),
        }
    }

    /// The segment, if the header is inside it and mapped writable here.
    fn resident_mut(&self) -> Result<SegmentRef<'_>> {
        let s = self.resident()?;
        s.check_writable()?;
        Ok(s)
    }

    /// The keys and values, checked to pair up.
    fn slices(&self) -> Result<(&[K], &[V])> {
        let (k, v) = (self.keys.try_as_slice()?, self.vals.try_as_slice()?);
        if k.len() != v.len() {
            return Err(mismatched());
        }
        Ok((k, v))
    }

    fn slices_mut(&mut self) -> Result<(&[K], &mut [V])> {
        let k = self.keys.try_as_slice()?;
        let v = self.vals.try_as_mut_slice()?;
        if k.len() != v.len() {
            return Err(mismatched());
        }
        Ok((k, v))
    }

    /// The keys, sorted, as one slice.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(3, 0), (1, 0)]);
    /// assert_eq!(m.keys_slice(), &[1, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn keys_slice(&self) -> &[K] {
        self.slices().unwrap_or_else(|e| fail(e)).0
    }

    /// The values, in key order, as one slice.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(3, 30), (1, 10)]);
    /// assert_eq!(m.values_slice(), &[10, 30]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn values_slice(&self) -> &[V] {
        self.slices().unwrap_or_else(|e| fail(e)).1
    }

    /// The values, in key order, as one mutable slice.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(3, 30), (1, 10)]);
    /// m.values_mut_slice().reverse();
    /// assert_eq!(m[&1], 30);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn values_mut_slice(&mut self) -> &mut [V] {
        self.slices_mut().unwrap_or_else(|e| fail(e)).1
    }

    fn search<Q>(&self, q: &Q) -> std::result::Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.keys_slice().binary_search_by(|k| k.borrow().cmp(q))
    }

    /// The value for `key`.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{FlatMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<String, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert("a", 1);
    /// assert_eq!(m.get("a"), Some(&1));
    /// assert_eq!(m.get("b"), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        let i = self.search(key).ok()?;
        self.values_slice().get(i)
    }

    /// The stored key and value for `key`.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().insert(1, 2);
    /// assert_eq!(m.lock().unwrap().get_key_value(&1), Some((&1, &2)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        let i = self.search(key).ok()?;
        let (k, v) = self.slices().unwrap_or_else(|e| fail(e));
        Some((&k[i], &v[i]))
    }

    /// The value for `key`, mutably.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 2);
    /// *m.get_mut(&1).unwrap() = 5;
    /// assert_eq!(m[&1], 5);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        let i = self.search(key).ok()?;
        self.values_mut_slice().get_mut(i)
    }

    /// Whether the map holds `key`.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().insert(1, 2);
    /// assert!(m.lock().unwrap().contains_key(&1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        !self.is_empty() && self.search(key).is_ok()
    }

    /// Makes room for `additional` more entries.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full (the map is unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().try_reserve(100)?;
    /// assert!(m.lock().unwrap().capacity() >= 100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_reserve(&mut self, additional: usize) -> Result<()> {
        if let Ok(Where::Resident(s)) = Where::of(self, &self.seg)
            && s.check_writable().is_ok()
        {
            self.seg.store_id(s.id());
        }
        self.keys.try_reserve(additional)?;
        self.vals.try_reserve(additional)
    }

    /// Makes room for `additional` more entries; panics where
    /// [`try_reserve`](Self::try_reserve) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().reserve(10);
    /// assert!(m.lock().unwrap().capacity() >= 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        self.try_reserve(additional).unwrap_or_else(|e| fail(e));
    }

    /// Inserts `key → value`, returning the old value if the key was present (the stored key
    /// is kept).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full (the map is unchanged);
    /// [`ErrorKind::InvalidArgument`] if the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u64, [u8; 512]>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// let mut n = 0;
    /// while m.try_insert(n, [0; 512]).is_ok() {
    ///     n += 1;
    /// }
    /// assert_eq!(m.try_insert(n, [0; 512]).unwrap_err().kind(), ErrorKind::OutOfMemory);
    /// assert_eq!(m.len() as u64, n);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_insert(
        &mut self,
        key: impl IntoSegment<K>,
        value: impl IntoSegment<V>,
    ) -> Result<Option<V>>
    where
        K: Ord,
    {
        let s = self.resident_mut()?;
        // SAFETY: `self` lies in the mapping and is borrowed for this call.
        let s = unsafe { s.detach_lifetime() };
        self.slices()?;
        let k = key.into_segment(&s)?;
        let v = value.into_segment(&s)?;
        self.seg.store_id(s.id());
        self.keys.try_reserve(1)?;
        self.vals.try_reserve(1)?;
        // The key is compared where it can be read: pushed into the key vector (no allocation
        // now), then moved to its place or popped.
        self.keys.try_push(k)?;
        let keys = self.keys.try_as_slice()?;
        let (last, rest) = keys
            .split_last()
            .unwrap_or_else(|| unreachable!("just pushed"));
        match rest.binary_search(last) {
            Ok(i) => {
                drop(self.keys.pop());
                let old = std::mem::replace(&mut self.vals.try_as_mut_slice()?[i], v);
                Ok(Some(old))
            }
            Err(i) => {
                self.keys.try_as_mut_slice()?[i..].rotate_right(1);
                self.vals.try_push(v)?;
                self.vals.try_as_mut_slice()?[i..].rotate_right(1);
                Ok(None)
            }
        }
    }

    /// Inserts `key → value`, returning the old value; panics where
    /// [`try_insert`](Self::try_insert) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// assert_eq!(m.insert(1, 1), None);
    /// assert_eq!(m.insert(1, 2), Some(1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn insert(&mut self, key: impl IntoSegment<K>, value: impl IntoSegment<V>) -> Option<V>
    where
        K: Ord,
    {
        self.try_insert(key, value).unwrap_or_else(|e| fail(e))
    }

    /// The value for `key`, inserting `default()` first if absent.
    ///
    /// # Panics
    ///
    /// Where [`insert`](Self::insert) panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{FlatMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<String, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// for w in ["a", "b", "a"] {
    ///     *m.get_or_insert_with(w, || 0) += 1;
    /// }
    /// assert_eq!(m["a"], 2);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_or_insert_with<T: IntoSegment<V>>(
        &mut self,
        key: impl IntoSegment<K>,
        default: impl FnOnce() -> T,
    ) -> &mut V
    where
        K: Ord,
    {
        self.try_get_or_insert_with(key, default)
            .unwrap_or_else(|e| fail(e))
    }

    /// [`get_or_insert_with`](Self::get_or_insert_with), returning errors.
    ///
    /// # Errors
    ///
    /// As [`try_insert`](Self::try_insert); on error the map is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// assert_eq!(*m.try_get_or_insert_with(1, || 5)?, 5);
    /// assert_eq!(*m.try_get_or_insert_with(1, || 6)?, 5);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_get_or_insert_with<T: IntoSegment<V>>(
        &mut self,
        key: impl IntoSegment<K>,
        default: impl FnOnce() -> T,
    ) -> Result<&mut V>
    where
        K: Ord,
    {
        let s = self.resident_mut()?;
        // SAFETY: `self` lies in the mapping and is borrowed for this call.
        let s = unsafe { s.detach_lifetime() };
        self.slices()?;
        let k = key.into_segment(&s)?;
        self.seg.store_id(s.id());
        self.keys.try_reserve(1)?;
        self.vals.try_reserve(1)?;
        self.keys.try_push(k)?;
        let keys = self.keys.try_as_slice()?;
        let (last, rest) = keys
            .split_last()
            .unwrap_or_else(|| unreachable!("just pushed"));
        let i = match rest.binary_search(last) {
            Ok(i) => {
                drop(self.keys.pop());
                i
            }
            Err(i) => {
                let v = match default().into_segment(&s) {
                    Ok(v) => v,
                    Err(e) => {
                        drop(self.keys.pop());
                        return Err(e);
                    }
                };
                self.keys.try_as_mut_slice()?[i..].rotate_right(1);
                self.vals.try_push(v)?;
                self.vals.try_as_mut_slice()?[i..].rotate_right(1);
                i
            }
        };
        Ok(&mut self.vals.try_as_mut_slice()?[i])
    }

    fn remove_at(&mut self, i: usize) -> (K, V) {
        (self.keys.remove(i), self.vals.remove(i))
    }

    /// Removes `key`, returning its value.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 2);
    /// assert_eq!(m.remove(&1), Some(2));
    /// assert_eq!(m.remove(&1), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key`, returning the stored key and value.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 2);
    /// assert_eq!(m.remove_entry(&1), Some((1, 2)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove_entry<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        let i = self.search(key).ok()?;
        Some(self.remove_at(i))
    }

    /// The entry with the smallest key.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// assert_eq!(m.first_key_value(), Some((&1, &10)));
    /// assert_eq!(m.last_key_value(), Some((&2, &20)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        self.iter().next()
    }

    /// The entry with the largest key.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// assert_eq!(m.last_key_value(), Some((&2, &20)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn last_key_value(&self) -> Option<(&K, &V)> {
        self.iter().next_back()
    }

    /// Removes and returns the entry with the smallest key (O(n): the rest shift down).
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// assert_eq!(m.pop_first(), Some((1, 10)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        if self.is_empty() {
            return None;
        }
        self.slices().unwrap_or_else(|e| fail(e));
        Some(self.remove_at(0))
    }

    /// Removes and returns the entry with the largest key (O(1)).
    ///
    /// # Panics
    ///
    /// If the map cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// assert_eq!(m.pop_last(), Some((2, 20)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_last(&mut self) -> Option<(K, V)> {
        if self.is_empty() || self.keys.len() != self.vals.len() {
            return None;
        }
        Some((self.keys.pop()?, self.vals.pop()?))
    }

    /// The entries in key order (double-ended, exact size).
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// assert!(m.iter().eq([(&1, &10), (&2, &20)]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter(&self) -> FlatIter<'_, K, V> {
        let (k, v) = self.slices().unwrap_or_else(|e| fail(e));
        k.iter().zip(v.iter())
    }

    /// The entries in key order, values mutable.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// m.iter_mut().for_each(|(k, v)| *v += k);
    /// assert_eq!(m.values_slice(), &[11, 22]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter_mut(&mut self) -> FlatIterMut<'_, K, V> {
        let (k, v) = self.slices_mut().unwrap_or_else(|e| fail(e));
        k.iter().zip(v.iter_mut())
    }

    /// The keys, in order.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().extend([(2, 20), (1, 10)]);
    /// assert!(m.lock().unwrap().keys().eq(&[1, 2]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn keys(&self) -> std::slice::Iter<'_, K> {
        self.keys_slice().iter()
    }

    /// The values, in key order.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().extend([(2, 20), (1, 10)]);
    /// assert!(m.lock().unwrap().values().eq(&[10, 20]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn values(&self) -> std::slice::Iter<'_, V> {
        self.values_slice().iter()
    }

    /// The values, mutably, in key order.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// m.values_mut().for_each(|v| *v = 0);
    /// assert_eq!(m.values_slice(), &[0, 0]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, V> {
        self.values_mut_slice().iter_mut()
    }

    /// The index range of the keys in `range`.
    fn index_range<Q, R>(&self, range: &R) -> std::ops::Range<usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
        R: RangeBounds<Q>,
    {
        let keys = self.keys_slice();
        let lo = match range.start_bound() {
            Bound::Included(q) => keys.partition_point(|k| k.borrow() < q),
            Bound::Excluded(q) => keys.partition_point(|k| k.borrow() <= q),
            Bound::Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Bound::Included(q) => keys.partition_point(|k| k.borrow() <= q),
            Bound::Excluded(q) => keys.partition_point(|k| k.borrow() < q),
            Bound::Unbounded => keys.len(),
        };
        lo..hi.max(lo)
    }

    /// The entries whose keys lie in `range`, in order.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment. (An inverted range is empty.)
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u32, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend((0..10).map(|i| (i, i * i)));
    /// assert!(m.range(3..5).eq([(&3, &9), (&4, &16)]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn range<Q, R>(&self, range: R) -> FlatIter<'_, K, V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
        R: RangeBounds<Q>,
    {
        let r = self.index_range(&range);
        let (k, v) = self.slices().unwrap_or_else(|e| fail(e));
        k[r.clone()].iter().zip(v[r].iter())
    }

    /// [`range`](Self::range) with mutable values.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u32, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend((0..10).map(|i| (i, 0)));
    /// m.range_mut(..3).for_each(|(_, v)| *v = 1);
    /// assert_eq!(m.values().sum::<u32>(), 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn range_mut<Q, R>(&mut self, range: R) -> FlatIterMut<'_, K, V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
        R: RangeBounds<Q>,
    {
        let r = self.index_range(&range);
        let (k, v) = self.slices_mut().unwrap_or_else(|e| fail(e));
        k[r.clone()].iter().zip(v[r].iter_mut())
    }

    /// Keeps the entries for which `keep` returns `true`.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u32, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend((0..6).map(|i| (i, i)));
    /// m.retain(|k, v| { *v *= 2; k % 2 == 0 });
    /// assert!(m.iter().eq([(&0, &0), (&2, &4), (&4, &8)]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        if self.is_empty() {
            return;
        }
        let mask: std::vec::Vec<bool> = self.iter_mut().map(|(k, v)| keep(k, v)).collect();
        let mut i = 0;
        self.keys.retain(|_| {
            i += 1;
            mask[i - 1]
        });
        let mut j = 0;
        self.vals.retain(|_| {
            j += 1;
            mask[j - 1]
        });
    }

    /// Removes every entry (works on a map moved out of its segment too).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u32, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 1);
    /// m.clear();
    /// assert!(m.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn clear(&mut self) {
        self.keys.clear();
        self.vals.clear();
    }

    /// Frees unused capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(FlatMap::<u32, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.reserve(100);
    /// m.insert(1, 1);
    /// m.shrink_to_fit();
    /// assert!(m.capacity() < 100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.keys.shrink_to_fit();
        self.vals.shrink_to_fit();
    }
}

/// The entries of a [`FlatMap`] in order: pairs of references from its two slices.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::FlatMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.extend([(1, 10), (2, 20)]);
/// let it: shmkit::collections::flat::FlatIter<'_, u8, u8> = m.iter();
/// assert_eq!(it.len(), 2);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub type FlatIter<'a, K, V> = std::iter::Zip<std::slice::Iter<'a, K>, std::slice::Iter<'a, V>>;
/// The entries of a [`FlatMap`] in order, values mutable.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::FlatMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(FlatMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.extend([(1, 10), (2, 20)]);
/// let it: shmkit::collections::flat::FlatIterMut<'_, u8, u8> = m.iter_mut();
/// it.for_each(|(_, v)| *v = 0);
/// assert_eq!(m.values_slice(), &[0, 0]);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub type FlatIterMut<'a, K, V> =
    std::iter::Zip<std::slice::Iter<'a, K>, std::slice::IterMut<'a, V>>;

impl<K: ShmSafe + Unpin + Ord, V: ShmSafe + Unpin, A: ShmAlloc, KK, VV> Extend<(KK, VV)>
    for FlatMap<K, V, A>
where
    KK: IntoSegment<K>,
    VV: IntoSegment<V>,
{
    fn extend<I: IntoIterator<Item = (KK, VV)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K, V, A, Q> Index<&Q> for FlatMap<K, V, A>
where
    K: ShmSafe + Unpin + Borrow<Q>,
    V: ShmSafe + Unpin,
    A: ShmAlloc,
    Q: Ord + ?Sized,
{
    type Output = V;

    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no entry found for key")
    }
}

impl<'a, K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> IntoIterator
    for &'a FlatMap<K, V, A>
{
    type Item = (&'a K, &'a V);
    type IntoIter = FlatIter<'a, K, V>;

    fn into_iter(self) -> FlatIter<'a, K, V> {
        self.iter()
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for FlatMap<K, V, A> {
    type Item = (K, V);
    type IntoIter = std::iter::Zip<std::vec::IntoIter<K>, std::vec::IntoIter<V>>;

    /// Moves the entries out of the segment in key order; works for a map moved out of it too.
    fn into_iter(self) -> Self::IntoIter {
        let FlatMap { keys, vals, .. } = self;
        keys.into_iter().zip(vals)
    }
}

impl<K: ShmSafe + Unpin + fmt::Debug, V: ShmSafe + Unpin + fmt::Debug, A: ShmAlloc> fmt::Debug
    for FlatMap<K, V, A>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.slices() {
            Ok((k, v)) => f.debug_map().entries(k.iter().zip(v)).finish(),
            Err(e) => write!(f, "FlatMap {{ len: {}, <{}> }}", self.len(), e.kind()),
        }
    }
}

impl<K, V, A> Clone for FlatMap<K, V, A>
where
    K: ShmSafe + Unpin + Clone,
    V: ShmSafe + Unpin + Clone,
    A: ShmAlloc + Clone,
{
    /// A copy in the same segment (returned moved out of it: store it there to use it).
    fn clone(&self) -> FlatMap<K, V, A> {
        let m = FlatMap {
            seg: SegmentBase::unbound(),
            keys: self.keys.clone(),
            vals: self.vals.clone(),
        };
        if let Some(id) = self.seg.id() {
            m.seg.store_id(id);
        }
        m
    }
}

impl<K, V, A, B> PartialEq<FlatMap<K, V, B>> for FlatMap<K, V, A>
where
    K: ShmSafe + Unpin + PartialEq,
    V: ShmSafe + Unpin + PartialEq,
    A: ShmAlloc,
    B: ShmAlloc,
{
    fn eq(&self, other: &FlatMap<K, V, B>) -> bool {
        self.keys_slice() == other.keys_slice() && self.values_slice() == other.values_slice()
    }
}

impl<K: ShmSafe + Unpin + Eq, V: ShmSafe + Unpin + Eq, A: ShmAlloc> Eq for FlatMap<K, V, A> {}

impl<K: ShmSafe + Unpin + PartialOrd, V: ShmSafe + Unpin + PartialOrd, A: ShmAlloc> PartialOrd
    for FlatMap<K, V, A>
{
    fn partial_cmp(&self, other: &FlatMap<K, V, A>) -> Option<Ordering> {
        self.iter().partial_cmp(other.iter())
    }
}

impl<K: ShmSafe + Unpin + Ord, V: ShmSafe + Unpin + Ord, A: ShmAlloc> Ord for FlatMap<K, V, A> {
    fn cmp(&self, other: &FlatMap<K, V, A>) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl<K: ShmSafe + Unpin + Hash, V: ShmSafe + Unpin + Hash, A: ShmAlloc> Hash for FlatMap<K, V, A> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for (k, v) in self {
            k.hash(state);
            v.hash(state);
        }
    }
}

/// An ordered set stored as a sorted vector in a managed segment: a [`FlatMap`] with `()`
/// values; [`as_slice`](Self::as_slice) gives the elements as one sorted slice.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::FlatSet;
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let s = seg.construct("s", Mutex::new(FlatSet::<u32>::new()))?;
/// let mut s = s.lock().unwrap();
/// s.extend([5, 1, 3, 1]);
/// assert_eq!(s.as_slice(), &[1, 3, 5]);
/// assert!(s.contains(&3));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct FlatSet<T: ShmSafe + Unpin, A: ShmAlloc = SegmentAlloc> {
    map: FlatMap<T, (), A>,
}

// SAFETY: repr(C) over one `ShmSafe` field (the map, validated on every use).
unsafe impl<T: ShmSafe + Unpin, A: ShmAlloc> ShmSafe for FlatSet<T, A> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::FlatSet"),
        crate::fingerprint::combine(T::FINGERPRINT, A::FINGERPRINT),
    );
}

impl<T: ShmSafe + Unpin> FlatSet<T> {
    /// An empty set, not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::collections::FlatSet::<u8>::new().is_empty());
    /// ```
    pub const fn new() -> FlatSet<T> {
        FlatSet {
            map: FlatMap::new(),
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
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", FlatSet::<u8>::new_in(&*seg))?;
    /// assert!(s.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(seg: &impl AsSegment) -> FlatSet<T> {
        FlatSet {
            map: FlatMap::new_in(seg),
        }
    }
}

impl<T: ShmSafe + Unpin> Default for FlatSet<T> {
    fn default() -> FlatSet<T> {
        FlatSet::new()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> FlatSet<T, A> {
    /// The number of elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::collections::FlatSet::<u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it has no elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::collections::FlatSet::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The elements, sorted, as one slice.
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
    /// s.lock().unwrap().extend([2, 1]);
    /// assert_eq!(s.lock().unwrap().as_slice(), &[1, 2]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn as_slice(&self) -> &[T] {
        self.map.keys_slice()
    }

    /// Adds `value`; returns whether it was new.
    ///
    /// # Errors
    ///
    /// As [`FlatMap::try_insert`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
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
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
    /// assert!(s.lock().unwrap().insert(1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn insert(&mut self, value: impl IntoSegment<T>) -> bool
    where
        T: Ord,
    {
        self.map.insert(value, ()).is_none()
    }

    /// Whether the set holds `value`.
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{FlatSet, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<String>::new()))?;
    /// s.lock().unwrap().insert("x");
    /// assert!(s.lock().unwrap().contains("x"));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn contains<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.map.contains_key(value)
    }

    /// Removes `value`; returns whether it was there.
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
    /// s.lock().unwrap().insert(1);
    /// assert!(s.lock().unwrap().remove(&1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove<Q>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.map.remove(value).is_some()
    }

    /// The elements in order.
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
    /// s.lock().unwrap().extend([2, 1]);
    /// assert!(s.lock().unwrap().iter().rev().eq(&[2, 1]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    /// The elements in `range`, as a slice.
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
    /// s.lock().unwrap().extend(0..10);
    /// assert_eq!(s.lock().unwrap().range(3..=5), &[3, 4, 5]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn range<Q, R>(&self, range: R) -> &[T]
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
        R: RangeBounds<Q>,
    {
        let r = self.map.index_range(&range);
        &self.as_slice()[r]
    }

    /// The smallest element.
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
    /// s.lock().unwrap().extend([2, 1]);
    /// assert_eq!(s.lock().unwrap().first(), Some(&1));
    /// assert_eq!(s.lock().unwrap().last(), Some(&2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn first(&self) -> Option<&T> {
        self.as_slice().first()
    }

    /// The largest element.
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
    /// s.lock().unwrap().extend([2, 1]);
    /// assert_eq!(s.lock().unwrap().last(), Some(&2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn last(&self) -> Option<&T> {
        self.as_slice().last()
    }

    /// Removes and returns the smallest element.
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
    /// s.lock().unwrap().extend([2, 1]);
    /// assert_eq!(s.lock().unwrap().pop_first(), Some(1));
    /// assert_eq!(s.lock().unwrap().pop_last(), Some(2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_first(&mut self) -> Option<T> {
        self.map.pop_first().map(|(k, ())| k)
    }

    /// Removes and returns the largest element.
    ///
    /// # Panics
    ///
    /// If the set cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
    /// s.lock().unwrap().extend([2, 1]);
    /// assert_eq!(s.lock().unwrap().pop_last(), Some(2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_last(&mut self) -> Option<T> {
        self.map.pop_last().map(|(k, ())| k)
    }

    /// Keeps the elements for which `keep` returns `true`.
    ///
    /// # Panics
    ///
    /// If the set is not inside its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.extend(0..6);
    /// s.retain(|x| x % 2 == 0);
    /// assert_eq!(s.as_slice(), &[0, 2, 4]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.map.retain(|k, ()| keep(k));
    }

    /// Removes every element.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::FlatSet;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let s = seg.construct("s", Mutex::new(FlatSet::<u8>::new()))?;
    /// let mut s = s.lock().unwrap();
    /// s.extend(0..6);
    /// s.clear();
    /// assert!(s.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

impl<T: ShmSafe + Unpin + Ord, A: ShmAlloc, U: IntoSegment<T>> Extend<U> for FlatSet<T, A> {
    fn extend<I: IntoIterator<Item = U>>(&mut self, iter: I) {
        for x in iter {
            self.insert(x);
        }
    }
}

impl<'a, T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for &'a FlatSet<T, A> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> std::slice::Iter<'a, T> {
        self.iter()
    }
}

impl<T: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for FlatSet<T, A> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    /// Moves the elements out of the segment in order; works for a set moved out of it too.
    fn into_iter(self) -> std::vec::IntoIter<T> {
        let FlatMap { keys, .. } = self.map;
        keys.into_iter()
    }
}

impl<T: ShmSafe + Unpin + fmt::Debug, A: ShmAlloc> fmt::Debug for FlatSet<T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.map.slices() {
            Ok((k, _)) => f.debug_set().entries(k).finish(),
            Err(e) => write!(f, "FlatSet {{ len: {}, <{}> }}", self.len(), e.kind()),
        }
    }
}

impl<T: ShmSafe + Unpin + Clone, A: ShmAlloc + Clone> Clone for FlatSet<T, A> {
    fn clone(&self) -> FlatSet<T, A> {
        FlatSet {
            map: self.map.clone(),
        }
    }
}

impl<T: ShmSafe + Unpin + PartialEq, A: ShmAlloc, B: ShmAlloc> PartialEq<FlatSet<T, B>>
    for FlatSet<T, A>
{
    fn eq(&self, other: &FlatSet<T, B>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: ShmSafe + Unpin + Eq, A: ShmAlloc> Eq for FlatSet<T, A> {}

impl<T: ShmSafe + Unpin + PartialOrd, A: ShmAlloc> PartialOrd for FlatSet<T, A> {
    fn partial_cmp(&self, other: &FlatSet<T, A>) -> Option<Ordering> {
        self.as_slice().partial_cmp(other.as_slice())
    }
}

impl<T: ShmSafe + Unpin + Ord, A: ShmAlloc> Ord for FlatSet<T, A> {
    fn cmp(&self, other: &FlatSet<T, A>) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl<T: ShmSafe + Unpin + Hash, A: ShmAlloc> Hash for FlatSet<T, A> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

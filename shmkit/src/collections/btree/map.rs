//! [`BTreeMap`]: an ordered map in a managed segment.
#![allow(unsafe_code)]
// Paths are indexed by level while the loop also walks the tree: ranges read best.
#![allow(clippy::needless_range_loop)]

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::ops::{Bound, Index, RangeBounds};

use super::node::{
    self, CAP, Cursor, Landed, MAX_HEIGHT, MIN, NodePtr, RawIter, Seek, corrupt, edge, key, len,
    val,
};
use crate::collections::segment_ref::{AsSegment, SegmentAlloc, SegmentRef, ShmAlloc};
use crate::collections::{IntoSegment, Where, fail};
use crate::error::{Error, ErrorKind, Result};
use crate::ptr::{RelPtr, SegmentBase};
use crate::shm_safe::ShmSafe;

/// An ordered map whose header and nodes live in a managed segment, shared by every process
/// that maps it: `std::collections::BTreeMap`'s API, with the segment as its allocator.
///
/// A B-tree of up to 11 entries per node; nodes are allocated from the segment through the
/// map's [`ShmAlloc`] and linked by offsets, so the header (48 bytes plus the allocator) may
/// move anywhere inside its segment. See the [module docs](crate::collections) for where it
/// finds its segment and what works once a value has left it: a map moved out of its segment
/// can be changed, dropped, iterated by value and read with [`with_get`](Self::with_get), but
/// hands out no references.
///
/// Keys and values enter through [`IntoSegment`], so a `BTreeMap<String, Vec<u32>>` takes
/// `map.insert("alice", vec![1, 2])`, and lookups take borrowed keys (`map.get("alice")`).
/// Every node is checked against the mapping when it is reached and every walk is bounded, so
/// a corrupt tree written by a peer is an [`ErrorKind::Corrupted`] error (a panic from the
/// non-`try_` methods), never an access outside the segment or a hang.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{BTreeMap, String, Vec};
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let m = seg.construct("scores", Mutex::new(BTreeMap::<String, Vec<u32>>::new()))?;
/// let mut scores = m.lock().unwrap();
/// scores.insert("bob", vec![3]);
/// scores.insert("alice", vec![1, 2]);
/// scores.entry("carol").or_default().push(7);
/// assert_eq!(scores["alice"], [1, 2]);
/// let names: std::vec::Vec<&str> = scores.keys().map(|k| k.as_str()).collect();
/// assert_eq!(names, ["alice", "bob", "carol"]);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct BTreeMap<K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc = SegmentAlloc> {
    seg: SegmentBase,
    root: RelPtr<u8>,
    len: usize,
    height: usize,
    nodes: usize,
    _pad: usize,
    alloc: A,
    _owns: PhantomData<(K, V)>,
}

// SAFETY: repr(C) of `ShmSafe` fields (the id and root offset are atomics, the counts integers,
// the allocator `ShmSafe`, the marker zero-sized): any bit pattern is a value, and every use
// checks it (the id against the mapping the header lies in, each node's range, alignment and
// length against that mapping, the height against `MAX_HEIGHT`, walks against the counts), so
// a garbage header or node is an error, never an access outside the segment. Nothing in it is
// an address. Send + Sync as its fields (K and V are `ShmSafe`, so Send + Sync). Its drop frees
// segment memory, which only leaks when skipped.
unsafe impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> ShmSafe for BTreeMap<K, V, A> {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::BTreeMap"),
        crate::fingerprint::combine(
            K::FINGERPRINT,
            crate::fingerprint::combine(V::FINGERPRINT, A::FINGERPRINT),
        ),
    );
}

/// A key moved out of the segment, and where it was found (node and index), if it was.
type Probe<K, V> = (K, Option<(NodePtr<K, V>, usize)>);

/// The path from the root to a position: node, its offset, and the index taken at each level.
type Path<K, V> = [(NodePtr<K, V>, u64, usize); MAX_HEIGHT + 1];

fn empty_path<K, V>() -> Path<K, V> {
    [(std::ptr::null_mut(), 0, 0); MAX_HEIGHT + 1]
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin> BTreeMap<K, V> {
    /// An empty map, not yet tied to a segment (nothing is allocated): construct it in a
    /// segment, or store it in a collection there, and it allocates from that segment.
    ///
    /// # Examples
    ///
    /// ```
    /// let m: shmkit::collections::BTreeMap<u64, u64> = shmkit::collections::BTreeMap::new();
    /// assert!(m.is_empty());
    /// ```
    pub const fn new() -> BTreeMap<K, V> {
        BTreeMap::new_with(SegmentAlloc)
    }

    /// An empty map tied to `seg` (nothing is allocated yet): it can be filled before it is
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
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let mut m = BTreeMap::<u32, u32>::new_in(&*seg);
    /// m.insert(1, 10);
    /// let stored = seg.construct("m", m)?;
    /// assert_eq!(stored.get(&1), Some(&10));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in(seg: &impl AsSegment) -> BTreeMap<K, V> {
        BTreeMap::new_in_alloc(seg, SegmentAlloc)
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin> Default for BTreeMap<K, V> {
    fn default() -> BTreeMap<K, V> {
        BTreeMap::new()
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> BTreeMap<K, V, A> {
    /// An empty map with allocator `alloc`, not yet tied to a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{BTreeMap, SegmentAlloc};
    /// let m: BTreeMap<u8, u8> = BTreeMap::new_with(SegmentAlloc);
    /// assert!(m.is_empty());
    /// ```
    pub const fn new_with(alloc: A) -> BTreeMap<K, V, A> {
        BTreeMap {
            seg: SegmentBase::unbound(),
            root: RelPtr::null(),
            len: 0,
            height: 0,
            nodes: 0,
            _pad: 0,
            alloc,
            _owns: PhantomData,
        }
    }

    /// An empty map with allocator `alloc`, tied to `seg`.
    ///
    /// # Panics
    ///
    /// If `seg` is not a registered segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::{BTreeMap, SegmentAlloc};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = BTreeMap::<u8, u8>::new_in_alloc(&*seg, SegmentAlloc);
    /// assert!(m.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn new_in_alloc(seg: &impl AsSegment, alloc: A) -> BTreeMap<K, V, A> {
        let s = seg.segment().unwrap_or_else(|e| fail(e));
        let m = BTreeMap::new_with(alloc);
        m.seg.store_id(s.id());
        m
    }

    /// The number of entries.
    ///
    /// # Examples
    ///
    /// ```
    /// let m: shmkit::collections::BTreeMap<u8, u8> = shmkit::collections::BTreeMap::new();
    /// assert_eq!(m.len(), 0);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no entries.
    ///
    /// # Examples
    ///
    /// ```
    /// let m: shmkit::collections::BTreeMap<u8, u8> = shmkit::collections::BTreeMap::new();
    /// assert!(m.is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::{BTreeMap, SegmentAlloc};
    /// let m: BTreeMap<u8, u8> = BTreeMap::new();
    /// assert_eq!(*m.allocator(), SegmentAlloc);
    /// ```
    pub fn allocator(&self) -> &A {
        &self.alloc
    }

    #[inline]
    fn place(&self) -> Result<Where<'_>> {
        Where::of(self, &self.seg)
    }

    /// The segment, if the header is inside it (references may be handed out).
    #[inline]
    fn resident(&self) -> Result<SegmentRef<'_>> {
        match self.place()? {
            Where::Resident(s) => Ok(s),
            Where::Detached(_) | Where::Unbound => Err(detached_access(self)),
        }
    }

    /// The segment, if the header is inside it and the segment is mapped writable here (for
    /// what changes the map or lends `&mut` into it).
    #[inline]
    fn resident_mut(&self) -> Result<SegmentRef<'_>> {
        let s = self.resident()?;
        s.check_writable()?;
        Ok(s)
    }

    /// Runs `f` with the map's segment, wherever the header is (see `Vec::with_seg`); a
    /// segment mapped read-only is `PermissionDenied`.
    fn with_seg<R>(
        &mut self,
        f: impl FnOnce(&mut Self, &SegmentRef<'_>) -> Result<R>,
    ) -> Result<R> {
        crate::collections::with_seg_mut(self, |h| &h.seg, f)
    }

    /// Runs `f` with the map's segment for reading, wherever the header is.
    fn with_seg_ref<R>(&self, f: impl FnOnce(&SegmentRef<'_>) -> Result<R>) -> Result<R> {
        crate::collections::with_seg_ref(self, &self.seg, f)
    }

    /// The root's offset and the height, checked.
    #[inline]
    fn root_checked(&self) -> Result<Option<(u64, usize)>> {
        let Some(root) = self.root.offset() else {
            if self.len != 0 {
                return Err(corrupt("a map with entries has no root"));
            }
            return Ok(None);
        };
        if self.height > MAX_HEIGHT {
            return Err(corrupt("the tree is taller than any real one"));
        }
        Ok(Some((root, self.height)))
    }

    /// Where `q` is: the node and index.
    #[inline]
    fn find<Q>(&self, s: &SegmentRef<'_>, q: &Q) -> Result<Option<(NodePtr<K, V>, usize)>>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let Some((mut off, h)) = self.root_checked()? else {
            return Ok(None);
        };
        let mut level = 0;
        loop {
            let leaf = level == h;
            let p = node::node::<K, V>(s, off, leaf)?;
            // SAFETY: checked node of this kind; its `len` keys are initialised.
            let (i, found) = unsafe {
                node::prefetch(p, leaf);
                node::search(p, q)
            };
            if found {
                return Ok(Some((p, i)));
            }
            if leaf {
                return Ok(None);
            }
            // SAFETY: internal node, `i <= len`.
            off = unsafe { *edge(p, i) };
            level += 1;
        }
    }

    /// The value for `key`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the map is not inside its segment (use
    /// [`with_get`](Self::with_get)); [`ErrorKind::Corrupted`] for a corrupt tree.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", BTreeMap::<u32, u32>::new())?;
    /// assert_eq!(m.try_get(&1)?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn try_get<Q>(&self, key: &Q) -> Result<Option<&V>>
    where
        K: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        if self.len == 0 {
            return Ok(None);
        }
        let s = self.resident()?;
        // SAFETY: an initialised value inside the mapping, which lives as long as `&self`; the
        // map is borrowed shared, so nothing in this process mutates it.
        Ok(self.find(&s, key)?.map(|(p, i)| unsafe { &*val(p, i) }))
    }

    /// The value for `key`; panics where [`try_get`](Self::try_get) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{BTreeMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<String, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert("one", 1);
    /// assert_eq!(m.get("one"), Some(&1));
    /// assert_eq!(m.get("two"), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        self.try_get(key).unwrap_or_else(|e| fail(e))
    }

    /// The stored key and the value for `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().insert(1, 2);
    /// assert_eq!(m.lock().unwrap().get_key_value(&1), Some((&1, &2)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        if self.len == 0 {
            return None;
        }
        let s = self.resident().unwrap_or_else(|e| fail(e));
        let found = self.find(&s, key).unwrap_or_else(|e| fail(e));
        // SAFETY: as in `try_get`.
        found.map(|(p, i)| unsafe { (&*node::key(p, i), &*val(p, i)) })
    }

    /// The value for `key`, mutably.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 2);
    /// *m.get_mut(&1).unwrap() += 1;
    /// assert_eq!(m[&1], 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        if self.len == 0 {
            return None;
        }
        let s = self.resident_mut().unwrap_or_else(|e| fail(e));
        let found = self.find(&s, key).unwrap_or_else(|e| fail(e));
        // SAFETY: as in `try_get`; `&mut self` makes the access exclusive in this process.
        found.map(|(p, i)| unsafe { &mut *val(p, i) })
    }

    /// Whether the map holds `key`; works on a map moved out of its segment too.
    ///
    /// # Panics
    ///
    /// If the map cannot reach its segment, or the tree is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().insert(1, 2);
    /// assert!(m.lock().unwrap().contains_key(&1));
    /// assert!(!m.lock().unwrap().contains_key(&2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        if self.len == 0 {
            return false;
        }
        self.with_seg_ref(|s| Ok(self.find(s, key)?.is_some()))
            .unwrap_or_else(|e| fail(e))
    }

    /// Runs `f` on the value for `key` (or `None`), wherever the map is: inside its segment, or
    /// moved out of it (the segment must then be mapped exactly once in this process).
    ///
    /// # Errors
    ///
    /// If the map cannot reach its segment; [`ErrorKind::Corrupted`] for a corrupt tree.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().insert(1, 2);
    /// let taken = std::mem::take(&mut *m.lock().unwrap()); // now on the stack
    /// assert_eq!(taken.with_get(&1, |v| v.copied())?, Some(2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn with_get<Q, R>(&self, key: &Q, f: impl FnOnce(Option<&V>) -> R) -> Result<R>
    where
        K: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        if self.len == 0 {
            return Ok(f(None));
        }
        self.with_seg_ref(|s| {
            let found = self.find(s, key)?;
            // SAFETY: an initialised value inside the mapping, which stays mapped while `f`
            // runs; `&self` keeps this process from mutating it.
            Ok(f(found.map(|(p, i)| unsafe { &*val(p, i) })))
        })
    }

    /// Allocates a node.
    fn alloc_node(&self, s: &SegmentRef<'_>, leaf: bool) -> Result<(u64, NodePtr<K, V>)> {
        let (size, align) = node::layout::<K, V>(leaf);
        let off = self.alloc.allocate(s, size, align)?;
        let p = if leaf {
            s.ptr::<node::Leaf<K, V>>(off, 1)
        } else {
            s.ptr::<node::Internal<K, V>>(off, 1).map(|p| p.cast())
        };
        match p {
            Ok(p) => {
                // SAFETY: a fresh node block of this kind.
                unsafe { node::init(p) };
                Ok((off, p))
            }
            Err(e) => {
                let _ = self.alloc.deallocate(s, off, size, align);
                Err(e)
            }
        }
    }

    fn free_node(&self, s: &SegmentRef<'_>, off: u64, leaf: bool) {
        let (size, align) = node::layout::<K, V>(leaf);
        let _ = self.alloc.deallocate(s, off, size, align);
    }

    /// Inserts `(k, v)`; returns the old value (if the key was there, in which case `k` is
    /// dropped) and where the value now is. On error nothing changed.
    fn insert_kv(&mut self, s: &SegmentRef<'_>, k: K, v: V) -> Result<(Option<V>, *mut V)>
    where
        K: Ord,
    {
        let Some((root, h)) = self.root_checked()? else {
            let (off, p) = self.alloc_node(s, true)?;
            // SAFETY: a fresh leaf, empty.
            unsafe { node::insert_fit(p, 0, k, v, None) };
            self.seg.store_id(s.id());
            self.root.set_offset(off);
            self.height = 0;
            self.nodes = 1;
            self.len = 1;
            // SAFETY: entry 0 of the checked leaf.
            return Ok((None, unsafe { val(p, 0) }));
        };
        let root_p = node::node::<K, V>(s, root, h == 0)?;
        // The new key is compared where it can be read: in the root's spare slot, inside the
        // segment (a `String` key moved out of it could not be).
        // SAFETY: the spare slot of a checked node, unused between operations.
        unsafe { node::scratch(root_p).write(k) };
        // SAFETY: the key was just written there.
        let q: &K = unsafe { &*node::scratch(root_p) };
        let mut path = empty_path::<K, V>();
        let mut off = root;
        let mut found = None;
        let mut err = None;
        for level in 0..=h {
            let leaf = level == h;
            let p = match node::node::<K, V>(s, off, leaf) {
                Ok(p) => p,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            };
            // SAFETY: checked node of this kind.
            let (i, hit) = unsafe {
                node::prefetch(p, leaf);
                node::search(p, q)
            };
            path[level] = (p, off, i);
            if hit {
                found = Some((p, i));
                break;
            }
            if !leaf {
                // SAFETY: internal node, `i <= len`.
                off = unsafe { *edge(p, i) };
            }
        }
        // SAFETY: moves the key back out of the spare slot (read once).
        let k = unsafe { node::scratch(root_p).read() };
        if let Some(e) = err {
            return Err(e);
        }
        if let Some((p, i)) = found {
            drop(k);
            // SAFETY: an initialised value of a checked node, replaced in place.
            let old = unsafe { std::ptr::replace(val(p, i), v) };
            // SAFETY: as above.
            return Ok((Some(old), unsafe { val(p, i) }));
        }
        // Allocate every node the insertion needs first, so failing leaves the map unchanged.
        let mut splits = 0;
        // SAFETY: the path's nodes are checked.
        while splits <= h && unsafe { len(path[h - splits].0) } == CAP {
            splits += 1;
        }
        let new_root = splits == h + 1;
        let mut fresh = [(0u64, std::ptr::null_mut::<node::Leaf<K, V>>()); MAX_HEIGHT + 2];
        let need = splits + usize::from(new_root);
        for j in 0..need {
            // Node j splits level h - j (a leaf for j == 0); the last one may be the new root.
            let leaf = j == 0;
            match self.alloc_node(s, leaf) {
                Ok(n) => fresh[j] = n,
                Err(e) => {
                    for (jj, &(o, _)) in fresh.iter().enumerate().take(j) {
                        self.free_node(s, o, jj == 0);
                    }
                    return Err(e);
                }
            }
        }
        self.seg.store_id(s.id());
        let mut item = (k, v, None::<u64>);
        let mut level = h;
        let mut landed: Option<(NodePtr<K, V>, usize)> = None;
        let mut j = 0;
        loop {
            let (p, _, i) = path[level];
            // SAFETY: `p` is checked, `i <= len`, and edges come with internal levels only.
            unsafe {
                if len(p) < CAP {
                    node::insert_fit(p, i, item.0, item.1, item.2);
                    landed.get_or_insert((p, i));
                    break;
                }
                let (r_off, r) = fresh[j];
                j += 1;
                self.nodes += 1;
                let (median, at) = node::split_insert(p, r, i, item.0, item.1, item.2);
                if landed.is_none() {
                    match at {
                        Landed::Left(x) => landed = Some((p, x)),
                        Landed::Right(x) => landed = Some((r, x)),
                        Landed::Median => {}
                    }
                }
                item = (median.0, median.1, Some(r_off));
                if level == 0 {
                    let (nr_off, nr) = fresh[j];
                    node::insert_fit(nr, 0, item.0, item.1, None);
                    edge(nr, 0).write(root);
                    edge(nr, 1).write(r_off);
                    landed.get_or_insert((nr, 0));
                    self.root.set_offset(nr_off);
                    self.height += 1;
                    self.nodes += 1;
                    break;
                }
            }
            level -= 1;
        }
        self.len += 1;
        let (p, i) = landed.unwrap_or_else(|| unreachable!("the entry landed somewhere"));
        // SAFETY: where the new value was written.
        Ok((None, unsafe { val(p, i) }))
    }

    /// Inserts `key → value`, returning the old value if the key was present (the stored key
    /// is kept, as `std` does). Keys and values are anything that converts into `K`/`V` in the
    /// segment.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the segment is full: the map is unchanged. As
    /// [`with_get`](Self::with_get) if it cannot reach its segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u64, [u8; 256]>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// let mut n = 0;
    /// while m.try_insert(n, [1; 256]).is_ok() {
    ///     n += 1;
    /// }
    /// assert_eq!(m.try_insert(n, [0; 256]).unwrap_err().kind(), ErrorKind::OutOfMemory);
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
        if let Some(s) = SegmentRef::resident_writable(self, &self.seg) {
            // SAFETY: `self` lies in the mapping and is borrowed for this call.
            let s = unsafe { s.detach_lifetime() };
            let k = key.into_segment(&s)?;
            let v = value.into_segment(&s)?;
            return self.insert_kv(&s, k, v).map(|r| r.0);
        }
        self.with_seg(|m, s| {
            let k = key.into_segment(s)?;
            let v = value.into_segment(s)?;
            m.insert_kv(s, k, v).map(|r| r.0)
        })
    }

    /// Inserts `key → value`, returning the old value; panics where
    /// [`try_insert`](Self::try_insert) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{BTreeMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u32, String>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// assert!(m.insert(7, "seven").is_none());
    /// assert_eq!(m.insert(7, "sept").unwrap().to_std()?, "seven");
    /// assert_eq!(m[&7], "sept");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn insert(&mut self, key: impl IntoSegment<K>, value: impl IntoSegment<V>) -> Option<V>
    where
        K: Ord,
    {
        self.try_insert(key, value).unwrap_or_else(|e| fail(e))
    }

    /// Removes the entry at `path[found]` (index `i`): from a leaf directly, from an internal
    /// node by swapping in its predecessor; then rebalances. Frees no memory the caller needs.
    fn remove_at(
        &mut self,
        s: &SegmentRef<'_>,
        path: &mut Path<K, V>,
        found: usize,
        i: usize,
    ) -> Result<(K, V)> {
        let h = self.height;
        let (p, _, _) = path[found];
        let out = if found == h {
            path[h].2 = i;
            // SAFETY: checked leaf, `i < len`.
            unsafe { node::remove_fit(p, i, false) }
        } else {
            // Descend to the predecessor: the last entry of the rightmost leaf left of `i`.
            path[found].2 = i;
            // SAFETY: internal node, `i <= len`.
            let mut off = unsafe { *edge(p, i) };
            for level in found + 1..=h {
                let q = node::node::<K, V>(s, off, level == h)?;
                // SAFETY: checked node.
                let n = unsafe { len(q) };
                path[level] = (q, off, n);
                if level < h {
                    // SAFETY: internal node, `n <= len`.
                    off = unsafe { *edge(q, n) };
                }
            }
            let leaf = path[h].0;
            // SAFETY: checked leaf.
            let n = unsafe { len(leaf) };
            if n == 0 {
                return Err(corrupt("an empty leaf below an internal node"));
            }
            path[h].2 = n - 1;
            // SAFETY: `n - 1 < len` of a checked leaf; entry `i` of `p` is initialised and
            // replaced in place.
            unsafe {
                let (pk, pv) = node::remove_fit(leaf, n - 1, false);
                (
                    std::ptr::replace(key(p, i), pk),
                    std::ptr::replace(val(p, i), pv),
                )
            }
        };
        self.len -= 1;
        self.rebalance(s, path)?;
        Ok(out)
    }

    /// Restores the minimum fill from the leaf of `path` up, and shrinks the root.
    fn rebalance(&mut self, s: &SegmentRef<'_>, path: &Path<K, V>) -> Result<()> {
        let h = self.height;
        let mut level = h;
        while level > 0 {
            let p = path[level].0;
            // SAFETY: checked nodes throughout; indices within their lengths (checked below).
            unsafe {
                if len(p) >= MIN {
                    return Ok(());
                }
                let leaf = level == h;
                let internal = !leaf;
                let (parent, _, e) = path[level - 1];
                let pn = len(parent);
                if e > pn {
                    return Err(corrupt("a path index past its node"));
                }
                let left = if e > 0 {
                    let lo = *edge(parent, e - 1);
                    let l = node::node::<K, V>(s, lo, leaf)?;
                    if len(l) > MIN {
                        node::rotate_right(parent, e - 1, l, p, internal);
                        return Ok(());
                    }
                    Some(l)
                } else {
                    None
                };
                let right = if e < pn {
                    let ro = *edge(parent, e + 1);
                    let r = node::node::<K, V>(s, ro, leaf)?;
                    if len(r) > MIN {
                        node::rotate_left(parent, e, p, r, internal);
                        return Ok(());
                    }
                    Some((r, ro))
                } else {
                    None
                };
                let (k, l, r, r_off) = match (left, right) {
                    (Some(l), _) => (e - 1, l, p, path[level].1),
                    (None, Some((r, ro))) => (e, p, r, ro),
                    (None, None) => return Err(corrupt("an internal node without keys")),
                };
                if l == r || len(l) + 1 + len(r) > CAP {
                    return Err(corrupt("siblings that cannot merge"));
                }
                node::merge(parent, k, l, r, internal);
                self.free_node(s, r_off, leaf);
                self.nodes = self.nodes.saturating_sub(1);
            }
            level -= 1;
        }
        let (root, root_off, _) = path[0];
        // SAFETY: the checked root.
        unsafe {
            if len(root) == 0 {
                if h == 0 {
                    self.root.set_null();
                    self.nodes = 0;
                    self.free_node(s, root_off, true);
                } else {
                    self.root.set_offset(*edge(root, 0));
                    self.height -= 1;
                    self.nodes = self.nodes.saturating_sub(1);
                    self.free_node(s, root_off, false);
                }
            }
        }
        Ok(())
    }

    /// Removes `key`'s entry, wherever the map is.
    fn remove_entry_in<Q>(&mut self, s: &SegmentRef<'_>, q: &Q) -> Result<Option<(K, V)>>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let Some((mut off, h)) = self.root_checked()? else {
            return Ok(None);
        };
        let mut path = empty_path::<K, V>();
        for level in 0..=h {
            let leaf = level == h;
            let p = node::node::<K, V>(s, off, leaf)?;
            // SAFETY: checked node.
            let (i, hit) = unsafe { node::search(p, q) };
            path[level] = (p, off, i);
            if hit {
                return self.remove_at(s, &mut path, level, i).map(Some);
            }
            if !leaf {
                // SAFETY: internal node, `i <= len`.
                off = unsafe { *edge(p, i) };
            }
        }
        Ok(None)
    }

    /// Removes `key`, returning its value (moved out of the segment).
    ///
    /// # Panics
    ///
    /// If the map cannot reach its segment, or the tree is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{BTreeMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<String, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert("a", 1);
    /// assert_eq!(m.remove("a"), Some(1));
    /// assert_eq!(m.remove("a"), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key`, returning the stored key and value.
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
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().insert(1, 2);
    /// assert_eq!(m.lock().unwrap().remove_entry(&1), Some((1, 2)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove_entry<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
    {
        if self.len == 0 {
            return None;
        }
        self.with_seg(|m, s| m.remove_entry_in(s, key))
            .unwrap_or_else(|e| fail(e))
    }

    /// Removes the first (`last == false`) or last entry.
    fn pop_end(&mut self, last: bool) -> Option<(K, V)> {
        if self.len == 0 {
            return None;
        }
        self.with_seg(|m, s| {
            let Some((mut off, h)) = m.root_checked()? else {
                return Ok(None);
            };
            let mut path = empty_path::<K, V>();
            for level in 0..=h {
                let p = node::node::<K, V>(s, off, level == h)?;
                // SAFETY: checked node.
                let n = unsafe { len(p) };
                let i = if last { n } else { 0 };
                path[level] = (p, off, i);
                if level < h {
                    // SAFETY: internal node, `i <= len`.
                    off = unsafe { *edge(p, i) };
                }
            }
            let leaf = path[h].0;
            // SAFETY: checked leaf.
            let n = unsafe { len(leaf) };
            if n == 0 {
                return Err(corrupt("an empty leaf in a map with entries"));
            }
            let i = if last { n - 1 } else { 0 };
            m.remove_at(s, &mut path, h, i).map(Some)
        })
        .unwrap_or_else(|e| fail(e))
    }

    /// Removes and returns the entry with the smallest key.
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
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// assert_eq!(m.pop_first(), Some((1, 10)));
    /// assert_eq!(m.len(), 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        self.pop_end(false)
    }

    /// Removes and returns the entry with the largest key.
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
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// assert_eq!(m.pop_last(), Some((2, 20)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn pop_last(&mut self) -> Option<(K, V)> {
        self.pop_end(true)
    }

    /// The entry with the smallest key.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment, or the tree is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10), (3, 30)]);
    /// assert_eq!(m.first_key_value(), Some((&1, &10)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        self.iter().next()
    }

    /// The entry with the largest key.
    ///
    /// # Panics
    ///
    /// As [`first_key_value`](Self::first_key_value).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10), (3, 30)]);
    /// assert_eq!(m.last_key_value(), Some((&3, &30)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn last_key_value(&self) -> Option<(&K, &V)> {
        self.iter().next_back()
    }

    /// A raw walk over every entry.
    fn raw_all(&self) -> Result<RawIter<'_, K, V>> {
        let s = self.resident()?;
        let Some((root, h)) = self.root_checked()? else {
            return Ok(RawIter::empty(s));
        };
        let front = Cursor::end(&s, root, h, false)?;
        let back = Cursor::end(&s, root, h, true)?;
        Ok(RawIter::new(s, h, front, back, self.len).exact())
    }

    /// A raw walk between two seeks.
    fn raw<Q>(&self, lo: Seek<'_, Q>, hi: Seek<'_, Q>) -> Result<RawIter<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let s = self.resident()?;
        let Some((root, h)) = self.root_checked()? else {
            return Ok(RawIter::empty(s));
        };
        let front = Cursor::seek(&s, root, h, lo)?;
        let back = Cursor::seek(&s, root, h, hi)?;
        Ok(RawIter::new(s, h, front, back, self.len))
    }

    /// The entries in key order (double-ended).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if the map is not inside its segment;
    /// [`ErrorKind::Corrupted`] for a corrupt tree.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", BTreeMap::<u8, u8>::new())?;
    /// assert_eq!(m.try_iter()?.count(), 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_iter(&self) -> Result<Iter<'_, K, V>> {
        Ok(Iter {
            raw: self.raw_all()?,
        })
    }

    /// The entries in key order (double-ended); panics where [`try_iter`](Self::try_iter)
    /// fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(3, 30), (1, 10), (2, 20)]);
    /// let keys: std::vec::Vec<u8> = m.iter().map(|(k, _)| *k).collect();
    /// assert_eq!(keys, [1, 2, 3]);
    /// assert_eq!(m.iter().next_back(), Some((&3, &30)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V> {
        self.try_iter().unwrap_or_else(|e| fail(e))
    }

    /// The entries in key order, values mutable.
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
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 10), (2, 20)]);
    /// for (k, v) in m.iter_mut() {
    ///     *v += *k;
    /// }
    /// assert_eq!(m[&2], 22);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        if let Err(e) = self.resident_mut() {
            fail(e)
        }
        IterMut {
            raw: self.raw_all().unwrap_or_else(|e| fail(e)),
        }
    }

    /// The keys, in order.
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
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// assert!(m.keys().eq(&[1, 2]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V> {
        Keys { inner: self.iter() }
    }

    /// The values, in key order.
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
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// assert!(m.values().eq(&[10, 20]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn values(&self) -> Values<'_, K, V> {
        Values { inner: self.iter() }
    }

    /// The values, mutably, in key order.
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
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(2, 20), (1, 10)]);
    /// m.values_mut().for_each(|v| *v /= 10);
    /// assert!(m.values().eq(&[1, 2]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn values_mut(&mut self) -> ValuesMut<'_, K, V> {
        ValuesMut {
            inner: self.iter_mut(),
        }
    }

    fn range_raw<Q, R>(&self, range: &R) -> Result<RawIter<'_, K, V>>
    where
        K: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
        R: RangeBounds<Q>,
    {
        let (lo, hi) = (range.start_bound(), range.end_bound());
        match (lo, hi) {
            (Bound::Excluded(a), Bound::Excluded(b)) if a == b => {
                panic!("range start and end are equal and excluded in BTreeMap")
            }
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b))
                if a > b =>
            {
                panic!("range start is greater than range end in BTreeMap")
            }
            _ => {}
        }
        let lo = match lo {
            Bound::Included(q) => Seek::Key(q, false),
            Bound::Excluded(q) => Seek::Key(q, true),
            Bound::Unbounded => Seek::First,
        };
        let hi = match hi {
            Bound::Included(q) => Seek::Key(q, true),
            Bound::Excluded(q) => Seek::Key(q, false),
            Bound::Unbounded => Seek::Last,
        };
        self.raw(lo, hi)
    }

    /// The entries whose keys lie in `range`, in order (double-ended). Bounds may be borrowed
    /// keys: `map.range::<str, _>((Bound::Included("a"), Bound::Excluded("c")))` on `String`
    /// keys, as with `std`.
    ///
    /// # Panics
    ///
    /// If the range's start is after its end, or both are the same excluded key (as `std`);
    /// as [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u32, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend((0..100).map(|i| (i, i * i)));
    /// let r: std::vec::Vec<u32> = m.range(10..13).map(|(_, v)| *v).collect();
    /// assert_eq!(r, [100, 121, 144]);
    /// assert_eq!(m.range(..=2).next_back(), Some((&2, &4)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn range<Q, R>(&self, range: R) -> Range<'_, K, V>
    where
        K: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
        R: RangeBounds<Q>,
    {
        Range {
            raw: self.range_raw(&range).unwrap_or_else(|e| fail(e)),
        }
    }

    /// [`range`](Self::range) with mutable values.
    ///
    /// # Panics
    ///
    /// As [`range`](Self::range).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u32, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend((0..10).map(|i| (i, 0)));
    /// m.range_mut(5..).for_each(|(_, v)| *v = 1);
    /// assert_eq!(m.values().sum::<u32>(), 5);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn range_mut<Q, R>(&mut self, range: R) -> RangeMut<'_, K, V>
    where
        K: Borrow<Q> + Ord,
        Q: Ord + ?Sized,
        R: RangeBounds<Q>,
    {
        if let Err(e) = self.resident_mut() {
            fail(e)
        }
        RangeMut {
            raw: self.range_raw(&range).unwrap_or_else(|e| fail(e)),
        }
    }

    /// Empties the header, then drops every entry and frees every node.
    fn free_all(&mut self, s: &SegmentRef<'_>, mut out: Option<&mut std::vec::Vec<(K, V)>>) {
        let Some(root) = self.root.offset() else {
            self.len = 0;
            return;
        };
        let h = self.height;
        let mut budget = self.nodes;
        self.root.set_null();
        self.len = 0;
        self.height = 0;
        self.nodes = 0;
        if h > MAX_HEIGHT {
            return;
        }
        self.free_subtree(s, root, 0, h, &mut budget, &mut out);
    }

    fn free_subtree(
        &self,
        s: &SegmentRef<'_>,
        off: u64,
        level: usize,
        h: usize,
        budget: &mut usize,
        out: &mut Option<&mut std::vec::Vec<(K, V)>>,
    ) {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let leaf = level == h;
        let Ok(p) = node::node::<K, V>(s, off, leaf) else {
            return;
        };
        // SAFETY: a checked node, no longer reachable from the header; each entry is moved out
        // or dropped once, then the node is emptied and freed.
        unsafe {
            let n = len(p);
            node::set_len(p, 0);
            for i in 0..=n {
                if !leaf {
                    let e = *edge(p, i);
                    self.free_subtree(s, e, level + 1, h, budget, out);
                }
                if i < n {
                    match out {
                        Some(out) => out.push((key(p, i).read(), val(p, i).read())),
                        None => {
                            std::ptr::drop_in_place(key(p, i));
                            std::ptr::drop_in_place(val(p, i));
                        }
                    }
                }
            }
        }
        self.free_node(s, off, leaf);
    }

    /// Removes every entry.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 1), (2, 2)]);
    /// m.clear();
    /// assert!(m.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn clear(&mut self) {
        if self.root.is_null() {
            self.len = 0;
            return;
        }
        let _ = self.with_seg(|m, s| {
            m.free_all(s, None);
            Ok(())
        });
    }

    /// Keeps the entries for which `keep` returns `true`.
    ///
    /// `keep` sees every entry in order, in place; unless it keeps them all, the tree is then
    /// rebuilt: the entries are moved out and the kept ones inserted again into nodes allocated
    /// anew (the freed ones, normally).
    ///
    /// # Panics
    ///
    /// If the map cannot reach its segment, or (rarely: the kept entries need no more memory
    /// than was just freed) if another user of the segment took that memory meanwhile; the
    /// entries not yet re-inserted are then dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u32, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend((0..10).map(|i| (i, i)));
    /// m.retain(|k, v| { *v += 1; k % 3 == 0 });
    /// assert!(m.iter().eq([(&0, &1), (&3, &4), (&6, &7), (&9, &10)]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool)
    where
        K: Ord,
    {
        if self.len == 0 {
            return;
        }
        self.with_seg(|m, s| {
            // Decide while the entries are in the segment (a `String` key moved out of it
            // could not be read), then rebuild with the kept ones.
            let Some((root, h)) = m.root_checked()? else {
                return Ok(());
            };
            let front = Cursor::end(s, root, h, false)?;
            let back = Cursor::end(s, root, h, true)?;
            let mut raw = RawIter::new(*s, h, front, back, m.len);
            let mut mask = std::vec::Vec::with_capacity(m.len);
            while let Some((p, i)) = raw.next_front()? {
                // SAFETY: an initialised entry of a checked node, visited once; `&mut self`
                // makes the access exclusive in this process.
                mask.push(unsafe { keep(&*key(p, i), &mut *val(p, i)) });
            }
            if mask.len() == m.len && mask.iter().all(|&k| k) {
                return Ok(());
            }
            let mut all = std::vec::Vec::with_capacity(m.len);
            m.free_all(s, Some(&mut all));
            let mut err = None;
            for ((k, v), kept) in all
                .into_iter()
                .zip(mask.into_iter().chain(std::iter::repeat(false)))
            {
                if err.is_none()
                    && kept
                    && let Err(e) = m.insert_kv(s, k, v)
                {
                    err = Some(e);
                }
            }
            err.map_or(Ok(()), Err)
        })
        .unwrap_or_else(|e| fail(e));
    }

    /// The entry for `key`, for in-place insertion or update.
    ///
    /// # Panics
    ///
    /// If the map is not inside its segment, the segment is mapped read-only here, the key
    /// cannot be converted (segment full), or the tree is corrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{BTreeMap, String};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<String, u32>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// for w in ["a", "b", "a"] {
    ///     *m.entry(w).or_insert(0) += 1;
    /// }
    /// assert_eq!(m["a"], 2);
    /// m.entry("b").and_modify(|n| *n = 10).or_insert(0);
    /// assert_eq!(m["b"], 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn entry(&mut self, key: impl IntoSegment<K>) -> Entry<'_, K, V, A>
    where
        K: Ord,
    {
        let s = self.resident_mut().unwrap_or_else(|e| fail(e));
        // SAFETY: `self` lies in the mapping and is borrowed for the entry's life.
        let s = unsafe { s.detach_lifetime() };
        let k = key.into_segment(&s).unwrap_or_else(|e| fail(e));
        let found = self.find_owned(&s, k).unwrap_or_else(|e| fail(e));
        match found {
            (k, Some((p, i))) => Entry::Occupied(OccupiedEntry {
                // SAFETY: an entry of a checked node.
                kp: unsafe { node::key(p, i) },
                // SAFETY: as above.
                vp: unsafe { val(p, i) },
                key: k,
                map: self,
            }),
            (k, None) => Entry::Vacant(VacantEntry { key: k, map: self }),
        }
    }

    /// [`find`](Self::find) for a key moved out of the segment: compared in the root's spare
    /// slot.
    fn find_owned(&self, s: &SegmentRef<'_>, k: K) -> Result<Probe<K, V>>
    where
        K: Ord,
    {
        let Some((root, h)) = self.root_checked()? else {
            return Ok((k, None));
        };
        let root_p = node::node::<K, V>(s, root, h == 0)?;
        // SAFETY: the spare slot of a checked node, unused between operations; the key is read
        // back out below, once.
        unsafe { node::scratch(root_p).write(k) };
        // SAFETY: just written.
        let r = self.find(s, unsafe { &*node::scratch(root_p) });
        // SAFETY: as above.
        let k = unsafe { node::scratch(root_p).read() };
        Ok((k, r?))
    }

    /// Removes the entry whose key equals `k` (moved out of the segment: compared in the
    /// root's spare slot); `k` is dropped.
    fn remove_owned(&mut self, s: &SegmentRef<'_>, k: K) -> Result<Option<(K, V)>>
    where
        K: Ord,
    {
        let Some((root, h)) = self.root_checked()? else {
            return Ok(None);
        };
        let root_p = node::node::<K, V>(s, root, h == 0)?;
        // SAFETY: as in `find_owned`.
        unsafe { node::scratch(root_p).write(k) };
        let mut path = empty_path::<K, V>();
        let mut found = None;
        let mut err = None;
        let mut off = root;
        for level in 0..=h {
            let leaf = level == h;
            let p = match node::node::<K, V>(s, off, leaf) {
                Ok(p) => p,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            };
            // SAFETY: checked node; the key in the spare slot was written above.
            let (i, hit) = unsafe { node::search(p, &*node::scratch(root_p)) };
            path[level] = (p, off, i);
            if hit {
                found = Some((level, i));
                break;
            }
            if !leaf {
                // SAFETY: internal node, `i <= len`.
                off = unsafe { *edge(p, i) };
            }
        }
        // SAFETY: read back once.
        drop(unsafe { node::scratch(root_p).read() });
        if let Some(e) = err {
            return Err(e);
        }
        match found {
            Some((level, i)) => self.remove_at(s, &mut path, level, i).map(Some),
            None => Ok(None),
        }
    }
}

#[cold]
fn detached_access<H>(header: &H) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "this map (at {:p}) is not inside its segment: it was moved out (popped, removed, \
             taken, cloned), so it cannot lend references to its entries; store it back in the \
             segment, or read it with `with_get`",
            std::ptr::from_ref(header)
        ),
    )
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> Drop for BTreeMap<K, V, A> {
    /// Drops the entries and frees the nodes through the segment; leaks them if the map cannot
    /// reach its segment. Never panics on its own account.
    fn drop(&mut self) {
        if self.root.is_null() {
            return;
        }
        let _ = self.with_seg(|m, s| {
            m.free_all(s, None);
            Ok(())
        });
    }
}

/// A view into one entry of a [`BTreeMap`], from [`BTreeMap::entry`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::BTreeMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.extend([(1, 10), (2, 20)]);
/// use shmkit::collections::btree::Entry;
/// match m.entry(3) {
///     Entry::Vacant(v) => { v.insert(30); }
///     Entry::Occupied(_) => unreachable!(),
/// }
/// assert_eq!(m[&3], 30);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub enum Entry<'a, K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc = SegmentAlloc> {
    /// The key is absent.
    Vacant(VacantEntry<'a, K, V, A>),
    /// The key is present.
    Occupied(OccupiedEntry<'a, K, V, A>),
}

/// An absent key's entry.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::BTreeMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.extend([(1, 10), (2, 20)]);
/// use shmkit::collections::btree::Entry;
/// if let Entry::Vacant(v) = m.entry(5) {
///     assert_eq!(*v.insert(50), 50);
/// }
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct VacantEntry<'a, K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc = SegmentAlloc> {
    key: K,
    map: &'a mut BTreeMap<K, V, A>,
}

/// A present key's entry.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::BTreeMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.extend([(1, 10), (2, 20)]);
/// use shmkit::collections::btree::Entry;
/// if let Entry::Occupied(mut o) = m.entry(1) {
///     *o.get_mut() += 1;
/// }
/// assert_eq!(m[&1], 11);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct OccupiedEntry<'a, K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc = SegmentAlloc> {
    key: K,
    kp: *mut K,
    vp: *mut V,
    map: &'a mut BTreeMap<K, V, A>,
}

impl<'a, K: ShmSafe + Unpin + Ord, V: ShmSafe + Unpin, A: ShmAlloc> Entry<'a, K, V, A> {
    /// The value, inserting `default` if absent.
    ///
    /// # Panics
    ///
    /// If the segment is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// *m.entry(1).or_insert(5) += 1;
    /// assert_eq!(m[&1], 6);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn or_insert(self, default: impl IntoSegment<V>) -> &'a mut V {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(default),
        }
    }

    /// The value, inserting `f()` if absent.
    ///
    /// # Panics
    ///
    /// If the segment is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::{BTreeMap, Vec};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, Vec<u8>>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.entry(1).or_insert_with(|| vec![1, 2]).push(3);
    /// assert_eq!(m[&1], [1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn or_insert_with<T: IntoSegment<V>>(self, f: impl FnOnce() -> T) -> &'a mut V {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(f()),
        }
    }

    /// The value, inserting `f(&key)` if absent.
    ///
    /// # Panics
    ///
    /// If the segment is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// assert_eq!(*m.entry(4).or_insert_with_key(|k| k * 2), 8);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn or_insert_with_key<T: IntoSegment<V>>(self, f: impl FnOnce(&K) -> T) -> &'a mut V {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let value = f(&v.key);
                v.insert(value)
            }
        }
    }

    /// The value, inserting `V::default()` if absent.
    ///
    /// # Panics
    ///
    /// If the segment is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u64>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// *m.entry(1).or_default() += 3;
    /// assert_eq!(m[&1], 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }

    /// Runs `f` on the value if present; returns the entry.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.entry(1).and_modify(|v| *v += 1).or_insert(1);
    /// m.entry(1).and_modify(|v| *v += 1).or_insert(1);
    /// assert_eq!(m[&1], 2);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn and_modify(self, f: impl FnOnce(&mut V)) -> Entry<'a, K, V, A> {
        match self {
            Entry::Occupied(mut o) => {
                f(o.get_mut());
                Entry::Occupied(o)
            }
            v => v,
        }
    }

    /// The entry's key (the stored one if present).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// assert_eq!(*m.entry(3).key(), 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn key(&self) -> &K {
        match self {
            Entry::Occupied(o) => o.key(),
            Entry::Vacant(v) => &v.key,
        }
    }
}

impl<'a, K: ShmSafe + Unpin + Ord, V: ShmSafe + Unpin, A: ShmAlloc> VacantEntry<'a, K, V, A> {
    /// The key that would be inserted.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::btree::Entry;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// if let Entry::Vacant(v) = m.entry(2) {
    ///     assert_eq!(*v.key(), 2);
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn key(&self) -> &K {
        &self.key
    }

    /// Inserts `value`, returning it in place.
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
    /// use shmkit::collections::btree::Entry;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// if let Entry::Vacant(v) = m.entry(2) {
    ///     *v.insert(5) += 1;
    /// }
    /// assert_eq!(m[&2], 6);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn insert(self, value: impl IntoSegment<V>) -> &'a mut V {
        self.try_insert(value).unwrap_or_else(|e| fail(e))
    }

    /// Inserts `value`, returning it in place.
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
    /// use shmkit::collections::btree::Entry;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// if let Entry::Vacant(v) = m.entry(2) {
    ///     assert_eq!(*v.try_insert(5)?, 5);
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_insert(self, value: impl IntoSegment<V>) -> Result<&'a mut V> {
        let VacantEntry { key, map } = self;
        let s = map.resident_mut()?;
        // SAFETY: `map` lies in the mapping and is borrowed for `'a`.
        let s = unsafe { s.detach_lifetime() };
        let v = value.into_segment(&s)?;
        let (_, vp) = map.insert_kv(&s, key, v)?;
        // SAFETY: the new value, inside the mapping, borrowed through `map` for `'a`.
        Ok(unsafe { &mut *vp })
    }
}

impl<'a, K: ShmSafe + Unpin + Ord, V: ShmSafe + Unpin, A: ShmAlloc> OccupiedEntry<'a, K, V, A> {
    /// The stored key.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::btree::Entry;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 1);
    /// if let Entry::Occupied(o) = m.entry(1) {
    ///     assert_eq!(*o.key(), 1);
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn key(&self) -> &K {
        // SAFETY: the stored key, inside the mapping, the map borrowed by the entry.
        unsafe { &*self.kp }
    }

    /// The value.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::btree::Entry;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 7);
    /// if let Entry::Occupied(o) = m.entry(1) {
    ///     assert_eq!(*o.get(), 7);
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get(&self) -> &V {
        // SAFETY: the stored value, inside the mapping, the map borrowed by the entry.
        unsafe { &*self.vp }
    }

    /// The value, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::btree::Entry;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 7);
    /// if let Entry::Occupied(mut o) = m.entry(1) {
    ///     *o.get_mut() = 8;
    /// }
    /// assert_eq!(m[&1], 8);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_mut(&mut self) -> &mut V {
        // SAFETY: as in `get`; the entry borrows the map mutably.
        unsafe { &mut *self.vp }
    }

    /// The value, borrowed for the entry's lifetime.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::btree::Entry;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 7);
    /// if let Entry::Occupied(o) = m.entry(1) {
    ///     *o.into_mut() += 1;
    /// }
    /// assert_eq!(m[&1], 8);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn into_mut(self) -> &'a mut V {
        // SAFETY: as in `get_mut`, for `'a` (the map's borrow).
        unsafe { &mut *self.vp }
    }

    /// Replaces the value, returning the old one.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::btree::Entry;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 7);
    /// if let Entry::Occupied(mut o) = m.entry(1) {
    ///     assert_eq!(o.insert(9), 7);
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn insert(&mut self, value: V) -> V {
        std::mem::replace(self.get_mut(), value)
    }

    /// Removes the entry, returning its value.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::btree::Entry;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 7);
    /// if let Entry::Occupied(o) = m.entry(1) {
    ///     assert_eq!(o.remove(), 7);
    /// }
    /// assert!(m.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(self) -> V {
        self.remove_entry().1
    }

    /// Removes the entry, returning the stored key and value.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::btree::Entry;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.insert(1, 7);
    /// if let Entry::Occupied(o) = m.entry(1) {
    ///     assert_eq!(o.remove_entry(), (1, 7));
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove_entry(self) -> (K, V) {
        let OccupiedEntry { key, map, .. } = self;
        let s = map.resident_mut().unwrap_or_else(|e| fail(e));
        // SAFETY: `map` lies in the mapping and is borrowed for this call.
        let s = unsafe { s.detach_lifetime() };
        map.remove_owned(&s, key)
            .unwrap_or_else(|e| fail(e))
            .unwrap_or_else(|| fail(corrupt("an occupied entry vanished")))
    }
}

impl<K: ShmSafe + Unpin + fmt::Debug, V: ShmSafe + Unpin, A: ShmAlloc> fmt::Debug
    for VacantEntry<'_, K, V, A>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VacantEntry").field(&self.key).finish()
    }
}

impl<K: ShmSafe + Unpin + fmt::Debug + Ord, V: ShmSafe + Unpin + fmt::Debug, A: ShmAlloc> fmt::Debug
    for OccupiedEntry<'_, K, V, A>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OccupiedEntry")
            .field("key", self.key())
            .field("value", self.get())
            .finish()
    }
}

macro_rules! raw_iter {
    ($(#[$doc:meta])* $name:ident, $item:ty, |$p:ident, $i:ident| $make:expr) => {
        $(#[$doc])*
        pub struct $name<'a, K, V> {
            raw: RawIter<'a, K, V>,
        }

        impl<'a, K: 'a, V: 'a> Iterator for $name<'a, K, V> {
            type Item = $item;

            #[inline]
            fn next(&mut self) -> Option<$item> {
                let ($p, $i) = self.raw.next_front().unwrap_or_else(|e| fail(e))?;
                // SAFETY: an initialised entry of a checked node, yielded once; the map is
                // borrowed (shared or exclusive, as the item) for `'a`.
                Some(unsafe { $make })
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                self.raw.size_hint()
            }
        }

        impl<'a, K: 'a, V: 'a> DoubleEndedIterator for $name<'a, K, V> {
            #[inline]
            fn next_back(&mut self) -> Option<$item> {
                let ($p, $i) = self.raw.next_back().unwrap_or_else(|e| fail(e))?;
                // SAFETY: as in `next`.
                Some(unsafe { $make })
            }
        }

        impl<'a, K: 'a, V: 'a> FusedIterator for $name<'a, K, V> {}

        impl<K, V> fmt::Debug for $name<'_, K, V> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("remaining_at_most", &self.raw.remaining())
                    .finish()
            }
        }
    };
}

raw_iter!(
    /// The entries of a [`BTreeMap`] in key order, from [`BTreeMap::iter`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 10), (2, 20)]);
    /// assert_eq!(m.iter().next_back(), Some((&2, &20)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    Iter, (&'a K, &'a V), |p, i| (&*key(p, i), &*val(p, i))
);
raw_iter!(
    /// The entries of a [`BTreeMap`] in key order with mutable values, from
    /// [`BTreeMap::iter_mut`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 10), (2, 20)]);
    /// for (_, v) in m.iter_mut() {
    ///     *v = 0;
    /// }
    /// assert!(m.values().all(|v| *v == 0));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    IterMut, (&'a K, &'a mut V), |p, i| (&*key(p, i), &mut *val(p, i))
);
raw_iter!(
    /// The entries of a [`BTreeMap`] in a key range, from [`BTreeMap::range`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 10), (2, 20)]);
    /// assert!(m.range(2..).eq([(&2, &20)]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    Range, (&'a K, &'a V), |p, i| (&*key(p, i), &*val(p, i))
);
raw_iter!(
    /// The entries of a [`BTreeMap`] in a key range with mutable values, from
    /// [`BTreeMap::range_mut`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// let mut m = m.lock().unwrap();
    /// m.extend([(1, 10), (2, 20)]);
    /// m.range_mut(..2).for_each(|(_, v)| *v = 0);
    /// assert_eq!(m[&1], 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    RangeMut, (&'a K, &'a mut V), |p, i| (&*key(p, i), &mut *val(p, i))
);

impl<'a, K: 'a, V: 'a> ExactSizeIterator for Iter<'a, K, V> {}
impl<'a, K: 'a, V: 'a> ExactSizeIterator for IterMut<'a, K, V> {}

/// The keys of a [`BTreeMap`], from [`BTreeMap::keys`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::BTreeMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.extend([(1, 10), (2, 20)]);
/// assert!(m.keys().rev().eq(&[2, 1]));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Keys<'a, K, V> {
    inner: Iter<'a, K, V>,
}

/// The values of a [`BTreeMap`], from [`BTreeMap::values`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::BTreeMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.extend([(1, 10), (2, 20)]);
/// assert_eq!(m.values().len(), 2);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Values<'a, K, V> {
    inner: Iter<'a, K, V>,
}

/// The values of a [`BTreeMap`], mutably, from [`BTreeMap::values_mut`].
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::BTreeMap;
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
/// let mut m = m.lock().unwrap();
/// m.extend([(1, 10), (2, 20)]);
/// m.values_mut().for_each(|v| *v += 1);
/// assert!(m.values().eq(&[11, 21]));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct ValuesMut<'a, K, V> {
    inner: IterMut<'a, K, V>,
}

macro_rules! project_iter {
    ($name:ident, $item:ty, $f:expr) => {
        impl<'a, K: 'a, V: 'a> Iterator for $name<'a, K, V> {
            type Item = $item;

            #[inline]
            fn next(&mut self) -> Option<$item> {
                self.inner.next().map($f)
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                self.inner.size_hint()
            }
        }

        impl<'a, K: 'a, V: 'a> DoubleEndedIterator for $name<'a, K, V> {
            #[inline]
            fn next_back(&mut self) -> Option<$item> {
                self.inner.next_back().map($f)
            }
        }

        impl<'a, K: 'a, V: 'a> ExactSizeIterator for $name<'a, K, V> {}
        impl<'a, K: 'a, V: 'a> FusedIterator for $name<'a, K, V> {}
    };
}

project_iter!(Keys, &'a K, |(k, _)| k);
project_iter!(Values, &'a V, |(_, v)| v);
project_iter!(ValuesMut, &'a mut V, |(_, v)| v);

impl<'a, K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> IntoIterator
    for &'a BTreeMap<K, V, A>
{
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<'a, K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> IntoIterator
    for &'a mut BTreeMap<K, V, A>
{
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;

    fn into_iter(self) -> IterMut<'a, K, V> {
        self.iter_mut()
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> IntoIterator for BTreeMap<K, V, A> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    /// Moves the entries out of the segment in key order (into a process-local vector) and
    /// frees the nodes; works for a map inside its segment or moved out of it.
    ///
    /// # Panics
    ///
    /// If the map cannot reach its segment.
    fn into_iter(mut self) -> std::vec::IntoIter<(K, V)> {
        if self.root.is_null() {
            return std::vec::Vec::new().into_iter();
        }
        let out = self
            .with_seg(|m, s| {
                let mut out = std::vec::Vec::with_capacity(m.len);
                m.free_all(s, Some(&mut out));
                Ok(out)
            })
            .unwrap_or_else(|e| fail(e));
        out.into_iter()
    }
}

impl<K, V, A, KK, VV> Extend<(KK, VV)> for BTreeMap<K, V, A>
where
    K: ShmSafe + Unpin + Ord,
    V: ShmSafe + Unpin,
    A: ShmAlloc,
    KK: IntoSegment<K>,
    VV: IntoSegment<V>,
{
    /// # Panics
    ///
    /// Where [`insert`](BTreeMap::insert) panics.
    fn extend<I: IntoIterator<Item = (KK, VV)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K, V, A, Q> Index<&Q> for BTreeMap<K, V, A>
where
    K: ShmSafe + Unpin + Ord + Borrow<Q>,
    V: ShmSafe + Unpin,
    A: ShmAlloc,
    Q: Ord + ?Sized,
{
    type Output = V;

    /// # Panics
    ///
    /// If the key is absent, or where [`get`](BTreeMap::get) panics.
    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no entry found for key")
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> BTreeMap<K, V, A> {
    /// Runs `f` on every entry in order, wherever the map is.
    fn walk(&self, mut f: impl FnMut(&K, &V)) -> Result<()> {
        if self.root.is_null() {
            return Ok(());
        }
        self.with_seg_ref(|s| {
            let Some((root, h)) = self.root_checked()? else {
                return Ok(());
            };
            // SAFETY: `s` stays mapped while this closure runs; the raw walk does not escape.
            let s = unsafe { s.detach_lifetime() };
            let front = Cursor::end(&s, root, h, false)?;
            let back = Cursor::end(&s, root, h, true)?;
            let mut raw = RawIter::new(s, h, front, back, self.len);
            while let Some((p, i)) = raw.next_front()? {
                // SAFETY: an initialised entry of a checked node; `&self` keeps this process
                // from mutating it.
                unsafe { f(&*key(p, i), &*val(p, i)) };
            }
            Ok(())
        })
    }
}

impl<K, V, A> fmt::Debug for BTreeMap<K, V, A>
where
    K: ShmSafe + Unpin + fmt::Debug,
    V: ShmSafe + Unpin + fmt::Debug,
    A: ShmAlloc,
{
    /// Formats the entries, also for a map moved out of its segment (while the segment is
    /// mapped once in this process); otherwise a placeholder with the length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_map();
        match self.walk(|k, v| {
            d.entry(k, v);
        }) {
            Ok(()) => d.finish(),
            Err(e) => write!(f, "BTreeMap {{ len: {}, <{}> }}", self.len, e.kind()),
        }
    }
}

impl<K, V, A> Clone for BTreeMap<K, V, A>
where
    K: ShmSafe + Unpin + Ord + Clone,
    V: ShmSafe + Unpin + Clone,
    A: ShmAlloc + Clone,
{
    /// A copy in the same segment (returned moved out of it: store it there to use it).
    ///
    /// # Panics
    ///
    /// If the segment is full, or the map cannot reach its segment.
    fn clone(&self) -> BTreeMap<K, V, A> {
        let out = BTreeMap::new_with(self.alloc.clone());
        if let Some(id) = self.seg.id() {
            out.seg.store_id(id);
        }
        if self.len == 0 {
            return out;
        }
        let mut items = std::vec::Vec::with_capacity(self.len);
        self.walk(|k, v| items.push((k.clone(), v.clone())))
            .unwrap_or_else(|e| fail(e));
        let mut out = out;
        for (k, v) in items {
            out.insert(k, v);
        }
        out
    }
}

impl<K, V, A, B> PartialEq<BTreeMap<K, V, B>> for BTreeMap<K, V, A>
where
    K: ShmSafe + Unpin + PartialEq,
    V: ShmSafe + Unpin + PartialEq,
    A: ShmAlloc,
    B: ShmAlloc,
{
    fn eq(&self, other: &BTreeMap<K, V, B>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<K: ShmSafe + Unpin + Eq, V: ShmSafe + Unpin + Eq, A: ShmAlloc> Eq for BTreeMap<K, V, A> {}

impl<K, V, A> PartialOrd for BTreeMap<K, V, A>
where
    K: ShmSafe + Unpin + PartialOrd,
    V: ShmSafe + Unpin + PartialOrd,
    A: ShmAlloc,
{
    fn partial_cmp(&self, other: &BTreeMap<K, V, A>) -> Option<Ordering> {
        self.iter().partial_cmp(other.iter())
    }
}

impl<K: ShmSafe + Unpin + Ord, V: ShmSafe + Unpin + Ord, A: ShmAlloc> Ord for BTreeMap<K, V, A> {
    fn cmp(&self, other: &BTreeMap<K, V, A>) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl<K: ShmSafe + Unpin + Hash, V: ShmSafe + Unpin + Hash, A: ShmAlloc> Hash for BTreeMap<K, V, A> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len);
        for (k, v) in self {
            k.hash(state);
            v.hash(state);
        }
    }
}

impl<K: ShmSafe + Unpin, V: ShmSafe + Unpin, A: ShmAlloc> BTreeMap<K, V, A> {
    /// The keys, moved out of the segment in order (the map is consumed; works moved out of
    /// its segment too).
    ///
    /// # Panics
    ///
    /// As [`into_iter`](IntoIterator::into_iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().extend([(2, 20), (1, 10)]);
    /// let taken = std::mem::take(&mut *m.lock().unwrap());
    /// assert!(taken.into_keys().eq([1, 2]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn into_keys(self) -> impl DoubleEndedIterator<Item = K> + ExactSizeIterator {
        self.into_iter().map(|(k, _)| k)
    }

    /// The values, moved out of the segment in key order (the map is consumed).
    ///
    /// # Panics
    ///
    /// As [`into_iter`](IntoIterator::into_iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// use shmkit::sync::Mutex;
    /// use shmkit::collections::BTreeMap;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let m = seg.construct("m", Mutex::new(BTreeMap::<u8, u8>::new()))?;
    /// m.lock().unwrap().extend([(2, 20), (1, 10)]);
    /// let taken = std::mem::take(&mut *m.lock().unwrap());
    /// assert!(taken.into_values().eq([10, 20]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> + ExactSizeIterator {
        self.into_iter().map(|(_, v)| v)
    }
}

/// A `std` map converts into a [`BTreeMap`] in the segment of the collection it is added to,
/// entry by entry, so nested maps are built without allocator plumbing.
///
/// # Examples
///
/// ```
/// use shmkit::ManagedHeapMemory;
/// use shmkit::sync::Mutex;
/// use shmkit::collections::{BTreeMap, String, Vec};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let v = seg.construct("v", Mutex::new(Vec::<BTreeMap<String, u32>>::new()))?;
/// let mut v = v.lock().unwrap();
/// v.push(std::collections::BTreeMap::from([("a", 1), ("b", 2)]));
/// assert_eq!(v[0]["b"], 2);
/// # Ok::<(), shmkit::Error>(())
/// ```
impl<K, V, A, KK, VV> IntoSegment<BTreeMap<K, V, A>> for std::collections::BTreeMap<KK, VV>
where
    K: ShmSafe + Unpin + Ord,
    V: ShmSafe + Unpin,
    A: ShmAlloc + Default,
    KK: IntoSegment<K>,
    VV: IntoSegment<V>,
{
    fn into_segment(self, seg: &SegmentRef<'_>) -> Result<BTreeMap<K, V, A>> {
        BTreeMap::build_in(seg, self)
    }
}

impl<K: ShmSafe + Unpin + Ord, V: ShmSafe + Unpin, A: ShmAlloc + Default> BTreeMap<K, V, A> {
    /// A map in `seg` (moved out of it) holding `entries`.
    pub(super) fn build_in<KK: IntoSegment<K>, VV: IntoSegment<V>>(
        seg: &SegmentRef<'_>,
        entries: impl IntoIterator<Item = (KK, VV)>,
    ) -> Result<BTreeMap<K, V, A>> {
        let mut m = BTreeMap::new_with(A::default());
        m.seg.store_id(seg.id());
        for (k, v) in entries {
            let k = k.into_segment(seg)?;
            let v = v.into_segment(seg)?;
            m.insert_kv(seg, k, v)?;
        }
        Ok(m)
    }
}

//! The B-tree's nodes: raw blocks in the segment, reached by offset, and the cursor that walks
//! them in order.
//!
//! A node holds up to [`CAP`] keys and values (plus one spare key slot used while inserting,
//! so that a new key is compared where it will live, inside the segment); an internal node
//! also holds `len + 1` child offsets. The tree has no parent links: operations keep the path
//! from the root. Every node is resolved with [`SegmentRef::ptr`] (bounds and alignment) and
//! its length checked against `CAP`; every walk is bounded by the tree's height (at most
//! [`MAX_HEIGHT`]) and the iterators by the entry count, so a corrupt tree is an error, never
//! an access outside the segment or a loop.
#![allow(unsafe_code)]

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use crate::collections::SegmentRef;
use crate::error::{Error, ErrorKind, Result};

/// Keys per node (B = 6, as `std`'s): a `u64 → u64` leaf is 4 cache lines.
pub(super) const CAP: usize = 11;
/// Keys in a non-root node after a removal, at least.
pub(super) const MIN: usize = CAP / 2;
/// Keys in the left half of a split (the median goes up, `CAP - LEFT` to the right).
const LEFT: usize = CAP / 2 + 1;
/// The tallest tree accepted: a real one with 2^64 entries is 25 levels high.
pub(super) const MAX_HEIGHT: usize = 32;

#[repr(C)]
pub(super) struct Leaf<K, V> {
    len: u32,
    keys: [MaybeUninit<K>; CAP + 1],
    vals: [MaybeUninit<V>; CAP],
}

#[repr(C)]
pub(super) struct Internal<K, V> {
    data: Leaf<K, V>,
    edges: [u64; CAP + 1],
}

/// A node's address in this process (a leaf, or the leaf part of an internal node).
pub(super) type NodePtr<K, V> = *mut Leaf<K, V>;

#[cold]
pub(super) fn corrupt(what: &str) -> Error {
    Error::new(
        ErrorKind::Corrupted,
        format!("a B-tree in shared memory is corrupt: {what}"),
    )
}

/// Size and alignment of a node.
#[inline]
pub(super) fn layout<K, V>(leaf: bool) -> (usize, usize) {
    if leaf {
        (size_of::<Leaf<K, V>>(), align_of::<Leaf<K, V>>())
    } else {
        (size_of::<Internal<K, V>>(), align_of::<Internal<K, V>>())
    }
}

/// The node at `off`, checked: inside the mapping, aligned, `len <= CAP`.
#[inline]
pub(super) fn node<K, V>(seg: &SegmentRef<'_>, off: u64, leaf: bool) -> Result<NodePtr<K, V>> {
    let p: NodePtr<K, V> = if leaf {
        seg.ptr::<Leaf<K, V>>(off, 1)?
    } else {
        seg.ptr::<Internal<K, V>>(off, 1)?.cast()
    };
    // SAFETY: `p` is a checked, aligned node-sized range of the mapping; `len` is a `u32`
    // (any bits valid).
    if unsafe { (*p).len } as usize > CAP {
        return Err(corrupt("a node holds more keys than fit"));
    }
    Ok(p)
}

/// Initialises a fresh node block (length 0).
///
/// # Safety
///
/// `p` is a node block of the right kind.
#[inline]
pub(super) unsafe fn init<K, V>(p: NodePtr<K, V>) {
    // SAFETY: per the contract.
    unsafe { (&raw mut (*p).len).write(0) };
}

/// # Safety (for all the accessors below)
///
/// `p` is a checked node (see [`node`]); `i` within the arrays; `edge` only on internal nodes.
#[inline]
pub(super) unsafe fn len<K, V>(p: NodePtr<K, V>) -> usize {
    // SAFETY: see above.
    unsafe { (*p).len as usize }
}

#[inline]
pub(super) unsafe fn set_len<K, V>(p: NodePtr<K, V>, n: usize) {
    debug_assert!(n <= CAP);
    // SAFETY: see `len`.
    unsafe { (*p).len = n as u32 };
}

#[inline]
pub(super) unsafe fn key<K, V>(p: NodePtr<K, V>, i: usize) -> *mut K {
    debug_assert!(i <= CAP + 1);
    // SAFETY: see `len`.
    unsafe { (&raw mut (*p).keys).cast::<K>().add(i) }
}

#[inline]
pub(super) unsafe fn val<K, V>(p: NodePtr<K, V>, i: usize) -> *mut V {
    debug_assert!(i <= CAP);
    // SAFETY: see `len`.
    unsafe { (&raw mut (*p).vals).cast::<V>().add(i) }
}

#[inline]
pub(super) unsafe fn edge<K, V>(p: NodePtr<K, V>, i: usize) -> *mut u64 {
    debug_assert!(i <= CAP + 1);
    // SAFETY: see `len`; `p` is the start of an `Internal`.
    unsafe {
        (&raw mut (*p.cast::<Internal<K, V>>()).edges)
            .cast::<u64>()
            .add(i)
    }
}

/// Asks the CPU to start loading the part of a node a search reads last (the child offsets of
/// an internal node, the values of a leaf) while the keys are compared: one memory round trip
/// per level instead of two.
///
/// # Safety
///
/// `p` is a checked node of the given kind.
#[inline(always)]
pub(super) unsafe fn prefetch<K, V>(p: NodePtr<K, V>, leaf: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: per the contract, the addresses are inside the node; a prefetch never faults
        // nor changes memory.
        unsafe {
            let (first, last) = if leaf {
                (val(p, 0).cast::<i8>(), val(p, CAP - 1).cast::<i8>())
            } else {
                (edge(p, 0).cast::<i8>(), edge(p, CAP).cast::<i8>())
            };
            _mm_prefetch::<_MM_HINT_T0>(first);
            _mm_prefetch::<_MM_HINT_T0>(last);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, leaf);
}

/// The spare key slot used while inserting.
#[inline]
pub(super) unsafe fn scratch<K, V>(p: NodePtr<K, V>) -> *mut K {
    // SAFETY: see `len`.
    unsafe { key(p, CAP) }
}

/// Where `q` is in the node: `(index, found)`; not found: the edge to descend.
///
/// # Safety
///
/// `p` is a checked node whose `len` keys are initialised.
#[inline]
pub(super) unsafe fn search<K, V, Q>(p: NodePtr<K, V>, q: &Q) -> (usize, bool)
where
    K: Borrow<Q>,
    Q: Ord + ?Sized,
{
    // SAFETY: per the contract.
    let n = unsafe { len(p) };
    for i in 0..n {
        // SAFETY: `i < len`: an initialised key.
        match q.cmp(unsafe { (*key(p, i)).borrow() }) {
            Ordering::Greater => {}
            Ordering::Equal => return (i, true),
            Ordering::Less => return (i, false),
        }
    }
    (n, false)
}

/// How many keys of the node are before `q` (`inclusive`: `<= q`, else `< q`).
///
/// # Safety
///
/// As [`search`].
#[inline]
unsafe fn count_before<K, V, Q>(p: NodePtr<K, V>, q: &Q, inclusive: bool) -> usize
where
    K: Borrow<Q>,
    Q: Ord + ?Sized,
{
    // SAFETY: per the contract.
    let n = unsafe { len(p) };
    for i in 0..n {
        // SAFETY: `i < len`: an initialised key.
        let c = unsafe { (*key(p, i)).borrow() }.cmp(q);
        let before = c == Ordering::Less || (inclusive && c == Ordering::Equal);
        if !before {
            return i;
        }
    }
    n
}

/// Inserts `(k, v)` at `i` (and child `e` at `i + 1` in an internal node) into a node with room.
///
/// # Safety
///
/// `p` checked, `len < CAP`, `i <= len`, `e` given iff internal.
pub(super) unsafe fn insert_fit<K, V>(p: NodePtr<K, V>, i: usize, k: K, v: V, e: Option<u64>) {
    // SAFETY: per the contract: every index stays below `CAP + 1` (keys, edges) or `CAP` (values).
    unsafe {
        let n = len(p);
        std::ptr::copy(key(p, i), key(p, i + 1), n - i);
        std::ptr::copy(val(p, i), val(p, i + 1), n - i);
        key(p, i).write(k);
        val(p, i).write(v);
        if let Some(e) = e {
            std::ptr::copy(edge(p, i + 1), edge(p, i + 2), n - i);
            edge(p, i + 1).write(e);
        }
        set_len(p, n + 1);
    }
}

/// Removes the entry at `i` (and child `i + 1` of an internal node, if `with_edge`).
///
/// # Safety
///
/// `p` checked, `i < len`.
pub(super) unsafe fn remove_fit<K, V>(p: NodePtr<K, V>, i: usize, with_edge: bool) -> (K, V) {
    // SAFETY: per the contract.
    unsafe {
        let n = len(p);
        let k = key(p, i).read();
        let v = val(p, i).read();
        std::ptr::copy(key(p, i + 1), key(p, i), n - i - 1);
        std::ptr::copy(val(p, i + 1), val(p, i), n - i - 1);
        if with_edge {
            std::ptr::copy(edge(p, i + 2), edge(p, i + 1), n - i - 1);
        }
        set_len(p, n - 1);
        (k, v)
    }
}

/// Where the inserted entry went in a split.
pub(super) enum Landed {
    Left(usize),
    Median,
    Right(usize),
}

/// Splits the full node `p` while inserting `(k, v, e)` at `i`: `p` keeps the first `LEFT`
/// entries, the fresh node `r` the last `CAP - LEFT`; returns the median (which goes up, with
/// `r` as its right child) and where the new entry landed.
///
/// # Safety
///
/// `p` checked and full (`len == CAP`), `i <= CAP`, `r` a fresh initialised node of the same
/// kind, `e` given iff internal.
pub(super) unsafe fn split_insert<K, V>(
    p: NodePtr<K, V>,
    r: NodePtr<K, V>,
    i: usize,
    k: K,
    v: V,
    e: Option<u64>,
) -> ((K, V), Landed) {
    let internal = e.is_some();
    // SAFETY: per the contract; the counts below add up to `CAP + 1` entries.
    unsafe {
        // Moves entries `from..CAP` of `p` to the start of `r` (and edges `from + skip..=CAP`).
        let move_right = |from: usize, edge_from: usize, edge_to: usize| {
            let n = CAP - from;
            std::ptr::copy_nonoverlapping(key(p, from), key(r, 0), n);
            std::ptr::copy_nonoverlapping(val(p, from), val(r, 0), n);
            if internal {
                std::ptr::copy_nonoverlapping(
                    edge(p, edge_from),
                    edge(r, edge_to),
                    CAP + 1 - edge_from,
                );
            }
            set_len(r, n);
        };
        if i < LEFT {
            move_right(LEFT, LEFT, 0);
            let median = (key(p, LEFT - 1).read(), val(p, LEFT - 1).read());
            set_len(p, LEFT - 1);
            insert_fit(p, i, k, v, e);
            (median, Landed::Left(i))
        } else if i == LEFT {
            move_right(LEFT, LEFT + 1, 1);
            if let Some(e) = e {
                edge(r, 0).write(e);
            }
            set_len(p, LEFT);
            ((k, v), Landed::Median)
        } else {
            move_right(LEFT + 1, LEFT + 1, 0);
            let median = (key(p, LEFT).read(), val(p, LEFT).read());
            set_len(p, LEFT);
            insert_fit(r, i - LEFT - 1, k, v, e);
            (median, Landed::Right(i - LEFT - 1))
        }
    }
}

/// Moves entry `k` of `parent` down to the front of `node`, and the last of `left` up into its
/// place (`left` is child `k`, `node` child `k + 1`).
///
/// # Safety
///
/// All checked, `left` has more than one entry, `node` has room.
pub(super) unsafe fn rotate_right<K, V>(
    parent: NodePtr<K, V>,
    k: usize,
    left: NodePtr<K, V>,
    node: NodePtr<K, V>,
    internal: bool,
) {
    // SAFETY: per the contract.
    unsafe {
        let ln = len(left);
        let n = len(node);
        std::ptr::copy(key(node, 0), key(node, 1), n);
        std::ptr::copy(val(node, 0), val(node, 1), n);
        if internal {
            std::ptr::copy(edge(node, 0), edge(node, 1), n + 1);
            edge(node, 0).write(edge(left, ln).read());
        }
        key(node, 0).write(key(parent, k).read());
        val(node, 0).write(val(parent, k).read());
        key(parent, k).write(key(left, ln - 1).read());
        val(parent, k).write(val(left, ln - 1).read());
        set_len(left, ln - 1);
        set_len(node, n + 1);
    }
}

/// Moves entry `k` of `parent` down to the end of `node`, and the first of `right` up into its
/// place (`node` is child `k`, `right` child `k + 1`).
///
/// # Safety
///
/// As [`rotate_right`], mirrored.
pub(super) unsafe fn rotate_left<K, V>(
    parent: NodePtr<K, V>,
    k: usize,
    node: NodePtr<K, V>,
    right: NodePtr<K, V>,
    internal: bool,
) {
    // SAFETY: per the contract.
    unsafe {
        let n = len(node);
        let rn = len(right);
        key(node, n).write(key(parent, k).read());
        val(node, n).write(val(parent, k).read());
        key(parent, k).write(key(right, 0).read());
        val(parent, k).write(val(right, 0).read());
        std::ptr::copy(key(right, 1), key(right, 0), rn - 1);
        std::ptr::copy(val(right, 1), val(right, 0), rn - 1);
        if internal {
            edge(node, n + 1).write(edge(right, 0).read());
            std::ptr::copy(edge(right, 1), edge(right, 0), rn);
        }
        set_len(right, rn - 1);
        set_len(node, n + 1);
    }
}

/// Merges child `k + 1` (`right`) of `parent` into child `k` (`left`) with entry `k` of the
/// parent between them; the caller frees `right`.
///
/// # Safety
///
/// All checked, distinct; `len(left) + 1 + len(right) <= CAP`.
pub(super) unsafe fn merge<K, V>(
    parent: NodePtr<K, V>,
    k: usize,
    left: NodePtr<K, V>,
    right: NodePtr<K, V>,
    internal: bool,
) {
    // SAFETY: per the contract.
    unsafe {
        let ln = len(left);
        let rn = len(right);
        let (pk, pv) = remove_fit(parent, k, true);
        key(left, ln).write(pk);
        val(left, ln).write(pv);
        std::ptr::copy_nonoverlapping(key(right, 0), key(left, ln + 1), rn);
        std::ptr::copy_nonoverlapping(val(right, 0), val(left, ln + 1), rn);
        if internal {
            std::ptr::copy_nonoverlapping(edge(right, 0), edge(left, ln + 1), rn + 1);
        }
        set_len(left, ln + 1 + rn);
        set_len(right, 0);
    }
}

/// A bound of a range, resolved to "how many keys of a node come before it".
#[derive(Clone, Copy)]
pub(super) enum Seek<'q, Q: ?Sized> {
    /// Before every key.
    First,
    /// After every key.
    Last,
    /// After the keys `< q` (`inclusive == false`) or `<= q` (`inclusive == true`).
    Key(&'q Q, bool),
}

/// A position between two entries, as the path from the root to a leaf edge.
pub(super) struct Cursor<K, V> {
    nodes: [NodePtr<K, V>; MAX_HEIGHT + 1],
    idx: [u8; MAX_HEIGHT + 1],
}

impl<K, V> Clone for Cursor<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V> Copy for Cursor<K, V> {}

impl<K, V> Cursor<K, V> {
    /// The path to the leaf edge `seek` names.
    pub(super) fn seek<Q>(
        seg: &SegmentRef<'_>,
        root: u64,
        height: usize,
        seek: Seek<'_, Q>,
    ) -> Result<Cursor<K, V>>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        Cursor::seek_with(seg, root, height, |p| {
            // SAFETY: `p` is a checked node.
            unsafe {
                match seek {
                    Seek::First => 0,
                    Seek::Last => len(p),
                    Seek::Key(q, inclusive) => count_before(p, q, inclusive),
                }
            }
        })
    }

    /// The path to the first (`last == false`) or last leaf edge.
    pub(super) fn end(
        seg: &SegmentRef<'_>,
        root: u64,
        height: usize,
        last: bool,
    ) -> Result<Cursor<K, V>> {
        Cursor::seek_with(seg, root, height, |p| {
            if last {
                // SAFETY: `p` is a checked node.
                unsafe { len(p) }
            } else {
                0
            }
        })
    }

    fn seek_with(
        seg: &SegmentRef<'_>,
        root: u64,
        height: usize,
        index: impl Fn(NodePtr<K, V>) -> usize,
    ) -> Result<Cursor<K, V>> {
        let mut c = Cursor {
            nodes: [std::ptr::null_mut(); MAX_HEIGHT + 1],
            idx: [0; MAX_HEIGHT + 1],
        };
        let mut off = root;
        for level in 0..=height {
            let p = node::<K, V>(seg, off, level == height)?;
            let i = index(p);
            c.nodes[level] = p;
            c.idx[level] = i as u8;
            if level < height {
                // SAFETY: internal node, `i <= len`.
                off = unsafe { *edge(p, i) };
            }
        }
        Ok(c)
    }

    #[inline]
    fn same_edge(&self, other: &Cursor<K, V>, height: usize) -> bool {
        self.nodes[height] == other.nodes[height] && self.idx[height] == other.idx[height]
    }
}

/// An in-order walk between two cursors, yielding `(node, index)` positions: what the map's
/// iterators share.
pub(super) struct RawIter<'a, K, V> {
    seg: SegmentRef<'a>,
    height: usize,
    front: Cursor<K, V>,
    back: Cursor<K, V>,
    /// Entries left, at most: bounds the walk even in a corrupt tree.
    remaining: usize,
    /// Whether `remaining` is exact (a walk over the whole map).
    exact: bool,
    _life: PhantomData<&'a ()>,
}

impl<'a, K, V> RawIter<'a, K, V> {
    pub(super) fn empty(seg: SegmentRef<'a>) -> RawIter<'a, K, V> {
        let c = Cursor {
            nodes: [std::ptr::null_mut(); MAX_HEIGHT + 1],
            idx: [0; MAX_HEIGHT + 1],
        };
        RawIter {
            seg,
            height: 0,
            front: c,
            back: c,
            remaining: 0,
            exact: true,
            _life: PhantomData,
        }
    }

    pub(super) fn new(
        seg: SegmentRef<'a>,
        height: usize,
        front: Cursor<K, V>,
        back: Cursor<K, V>,
        remaining: usize,
    ) -> RawIter<'a, K, V> {
        RawIter {
            seg,
            height,
            front,
            back,
            remaining,
            exact: false,
            _life: PhantomData,
        }
    }

    /// Marks `remaining` as exact (the walk covers the whole map).
    pub(super) fn exact(mut self) -> RawIter<'a, K, V> {
        self.exact = true;
        self
    }

    #[inline]
    pub(super) fn remaining(&self) -> usize {
        self.remaining
    }

    /// The iterator's size hint.
    #[inline]
    pub(super) fn size_hint(&self) -> (usize, Option<usize>) {
        (
            if self.exact { self.remaining } else { 0 },
            Some(self.remaining),
        )
    }

    #[inline]
    fn done(&self) -> bool {
        self.remaining == 0 || self.front.same_edge(&self.back, self.height)
    }

    /// The next position from the front.
    pub(super) fn next_front(&mut self) -> Result<Option<(NodePtr<K, V>, usize)>> {
        if self.done() {
            return Ok(None);
        }
        let h = self.height;
        let f = &mut self.front;
        let leaf = f.nodes[h];
        let i = f.idx[h] as usize;
        // SAFETY: the cursor's nodes were checked when it reached them.
        unsafe {
            if i < len(leaf) {
                f.idx[h] += 1;
                self.remaining -= 1;
                return Ok(Some((leaf, i)));
            }
            let mut l = h;
            loop {
                if l == 0 {
                    return Err(corrupt("an iterator ran past the last entry"));
                }
                l -= 1;
                if (f.idx[l] as usize) < len(f.nodes[l]) {
                    break;
                }
            }
            let n = f.nodes[l];
            let k = f.idx[l] as usize;
            f.idx[l] += 1;
            let mut off = *edge(n, k + 1);
            for m in l + 1..=h {
                let p = node::<K, V>(&self.seg, off, m == h)?;
                f.nodes[m] = p;
                f.idx[m] = 0;
                if m < h {
                    off = *edge(p, 0);
                }
            }
            self.remaining -= 1;
            Ok(Some((n, k)))
        }
    }

    /// The next position from the back.
    pub(super) fn next_back(&mut self) -> Result<Option<(NodePtr<K, V>, usize)>> {
        if self.done() {
            return Ok(None);
        }
        let h = self.height;
        let b = &mut self.back;
        let leaf = b.nodes[h];
        let i = b.idx[h] as usize;
        // SAFETY: as in `next_front`.
        unsafe {
            if i > 0 && i <= len(leaf) {
                b.idx[h] -= 1;
                self.remaining -= 1;
                return Ok(Some((leaf, i - 1)));
            }
            let mut l = h;
            loop {
                if l == 0 {
                    return Err(corrupt("an iterator ran past the first entry"));
                }
                l -= 1;
                let j = b.idx[l] as usize;
                if j > 0 && j <= len(b.nodes[l]) {
                    break;
                }
            }
            let n = b.nodes[l];
            let k = b.idx[l] as usize - 1;
            b.idx[l] = k as u8;
            let mut off = *edge(n, k);
            for m in l + 1..=h {
                let p = node::<K, V>(&self.seg, off, m == h)?;
                let pn = len(p);
                b.nodes[m] = p;
                b.idx[m] = pn as u8;
                if m < h {
                    off = *edge(p, pn);
                }
            }
            self.remaining -= 1;
            Ok(Some((n, k)))
        }
    }
}

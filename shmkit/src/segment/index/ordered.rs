//! [`OrderedIndex`](super::OrderedIndex): a B-tree of 31-entry nodes, keyed by Boost's name order
//! (length first, then bytes).
//!
//! # Layout
//!
//! Root words (in the control block, at `root`):
//!
//! | offset | word | meaning |
//! |---:|---|---|
//! | 0 | `root` | offset of the root node, 0 while empty |
//! | 8 | `len` | number of entries |
//! | 16 | `height` | levels (1 = the root is a leaf), ≤ 64 |
//!
//! A node is an index block ([`IDX_BTREE_NODE`], payload 1008 bytes) laid out as:
//!
//! | offset in block | words | meaning |
//! |---:|---|---|
//! | 0 | 4 | index block header |
//! | 32 | 1 | `count` (low 32 bits) and `leaf` (bit 32) |
//! | 40 | 2 × 31 | the entries' keys: prefix words `(p0, p1)` |
//! | 536 | 31 | the entries' object offsets |
//! | 784 | 32 | children (internal nodes only) |
//!
//! `p0 = len << 48 | bytes[0..6]` and `p1 = bytes[6..14]`, big-endian and zero-padded: comparing
//! `(p0, p1)` as integers compares (length, bytes) exactly for names up to 14 bytes, so a
//! search touches no object for them; longer names that tie on the prefix compare their
//! remaining bytes in the objects.
//!
//! # Invariants
//!
//! 1. Keys are strictly increasing in order (node entries and subtrees interleaved).
//! 2. Every leaf is at depth `height - 1`; a node is a leaf iff it has no children.
//! 3. Every node but the root holds 15 to 31 entries; the root 1 to 31 (none: `root == 0`).
//! 4. `len` is the number of entries; each entry's prefix words are its object's key's.
//!
//! Insertion splits full nodes on the way down (CLRS's single pass), deletion makes sure each
//! node it descends into has at least 16 entries (borrowing from a sibling or merging), so both
//! are one walk from the root.

use std::cmp::Ordering;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use super::{Space, corrupt};
use crate::error::{Error, ErrorKind, Result};
use crate::segment::layout::{
    IDX_BTREE_NODE, IDX_HEADER, Key, ObjHeader, cmp_tail, match_key, prefix, read_idx_header,
    read_idx_header_fast,
};
use crate::segment::mem::Mem;

/// Entries per node (2t - 1 with t = 16).
const CAP: usize = 31;
/// The minimum degree: non-root nodes hold at least `T - 1` entries.
const T: usize = 16;
const MAX_HEIGHT: usize = 64;

const META: usize = IDX_HEADER;
const KEYS: usize = META + 8;
const OBJS: usize = KEYS + 16 * CAP;
const KIDS: usize = OBJS + 8 * CAP;
const PAYLOAD: usize = KIDS + 8 * (CAP + 1) - IDX_HEADER;
const _: () = assert!(PAYLOAD == 1008 && KIDS == 784 && OBJS == 536);
/// A node's block: header and payload.
const NODE_BYTES: usize = IDX_HEADER + PAYLOAD;
const NODE_WORDS: usize = NODE_BYTES / 8;

const R_ROOT: usize = 0;
const R_LEN: usize = 8;
const R_HEIGHT: usize = 16;

/// An entry: prefix words and object offset.
type Entry = (u64, u64, u64);

/// A node's words, from its block header on, bounds-checked once ([`Mem::words`]).
type Words = [AtomicU64; NODE_WORDS];
/// Word indexes of the meta word and of the key, object and child arrays.
const W_META: usize = META / 8;
const W_KEYS: usize = KEYS / 8;
const W_OBJS: usize = OBJS / 8;
const W_KIDS: usize = KIDS / 8;

/// The word at `i` of a node, or 0 past its end (a bug: every index is derived from counts
/// checked against [`CAP`]; debug builds panic, release builds never do).
#[inline(always)]
fn ld(w: &Words, i: usize) -> u64 {
    debug_assert!(i < NODE_WORDS, "B-tree bug: word {i} of a node");
    w.get(i).map_or(0, |x| x.load(Relaxed))
}

/// Stores the word at `i` of a node; dropped past its end (a bug, as in [`ld`]).
#[inline(always)]
fn st(w: &Words, i: usize, v: u64) {
    debug_assert!(i < NODE_WORDS, "B-tree bug: word {i} of a node");
    if let Some(x) = w.get(i) {
        x.store(v, Relaxed);
    }
}

/// Moves the `len` words at `s` in `src` to `d` in `dst` (which may be the same node, the
/// ranges overlapping: the copy runs in the direction that reads every word before it is
/// overwritten). A range past a node's end moves nothing (a bug, as in [`ld`]).
#[inline(always)]
fn move_words(src: &Words, s: usize, dst: &Words, d: usize, len: usize) {
    let (Some(from), Some(to)) = (
        s.checked_add(len).and_then(|e| src.get(s..e)),
        d.checked_add(len).and_then(|e| dst.get(d..e)),
    ) else {
        debug_assert!(false, "B-tree bug: moving words {s}+{len} to {d}");
        return;
    };
    if to.as_ptr().addr() > from.as_ptr().addr() {
        for (t, f) in to.iter().zip(from).rev() {
            t.store(f.load(Relaxed), Relaxed);
        }
    } else {
        for (t, f) in to.iter().zip(from) {
            t.store(f.load(Relaxed), Relaxed);
        }
    }
}

/// A node as a walk saw it: its offset, its words (whose range was checked once), and the
/// count and leaf flag read from its meta word (count checked `<= CAP`).
#[derive(Clone, Copy)]
struct Node<'m> {
    at: usize,
    w: &'m Words,
    count: usize,
    leaf: bool,
}

impl Node<'_> {
    #[inline(always)]
    fn entry(&self, i: usize) -> Entry {
        entry(self.w, i)
    }

    #[inline(always)]
    fn set_entry(&self, i: usize, e: Entry) {
        set_entry(self.w, i, e);
    }

    #[inline(always)]
    fn child(&self, i: usize) -> usize {
        ld(self.w, W_KIDS + i) as usize
    }

    #[inline(always)]
    fn set_child(&self, i: usize, c: usize) {
        st(self.w, W_KIDS + i, c as u64);
    }

    /// Stores the meta word (and nothing else: `count`/`leaf` keep what the walk read).
    #[inline(always)]
    fn set_meta(&self, count: usize, leaf: bool) {
        set_meta(self.w, count, leaf);
    }
}

#[inline(always)]
fn entry(w: &Words, i: usize) -> Entry {
    (
        ld(w, W_KEYS + 2 * i),
        ld(w, W_KEYS + 2 * i + 1),
        ld(w, W_OBJS + i),
    )
}

#[inline(always)]
fn set_entry(w: &Words, i: usize, e: Entry) {
    st(w, W_KEYS + 2 * i, e.0);
    st(w, W_KEYS + 2 * i + 1, e.1);
    st(w, W_OBJS + i, e.2);
}

#[inline(always)]
fn set_meta(w: &Words, count: usize, leaf: bool) {
    st(w, W_META, count as u64 | (leaf as u64) << 32);
}

/// Moves entries `from..count` of `w` one place right (and children `from+1..=count` if
/// `kids`): three block moves.
#[inline(always)]
fn shift_right(w: &Words, from: usize, count: usize, kids: bool) {
    let n = count.saturating_sub(from);
    move_words(w, W_KEYS + 2 * from, w, W_KEYS + 2 * from + 2, 2 * n);
    move_words(w, W_OBJS + from, w, W_OBJS + from + 1, n);
    if kids {
        move_words(w, W_KIDS + from + 1, w, W_KIDS + from + 2, n);
    }
}

/// Moves entries `from+1..count` of `w` one place left (and children `from+2..=count` if
/// `kids`, overwriting child `from + 1`): three block moves.
#[inline(always)]
fn shift_left(w: &Words, from: usize, count: usize, kids: bool) {
    let n = count.saturating_sub(from + 1);
    move_words(w, W_KEYS + 2 * from + 2, w, W_KEYS + 2 * from, 2 * n);
    move_words(w, W_OBJS + from + 1, w, W_OBJS + from, n);
    if kids {
        move_words(w, W_KIDS + from + 2, w, W_KIDS + from + 1, n);
    }
}

struct Tree<'m> {
    mem: &'m Mem,
    seed: u64,
    root: usize,
}

impl<'m> Tree<'m> {
    /// A node's words, count and leaf flag. The node's header is checked by tag and payload
    /// length: a freed node's tag is cleared before it is freed, so a stale or foreign block
    /// fails, and lookups validate the object they return anyway. The full check (with the
    /// check word) is for [`check`] and the crash repair, which must tell index blocks from raw
    /// data.
    #[inline(always)]
    fn node(&self, at: usize) -> Result<Node<'m>> {
        if read_idx_header_fast(self.mem, at, IDX_BTREE_NODE) != Some(PAYLOAD) {
            return Err(corrupt("a B-tree link to a bad node", at));
        }
        self.meta(at)
    }

    /// [`node`](Self::node) with the full header check.
    fn node_full(&self, at: usize) -> Result<Node<'m>> {
        if read_idx_header(self.mem, self.seed, at, IDX_BTREE_NODE) != Some(PAYLOAD) {
            return Err(corrupt("a B-tree link to a bad node", at));
        }
        self.meta(at)
    }

    /// The words of the node at `at`, with one bounds check for the whole node (a header that
    /// passed [`node`](Self::node)'s check implies it; fresh blocks need it too).
    #[inline(always)]
    fn words(&self, at: usize) -> Result<&'m Words> {
        self.mem
            .words::<NODE_WORDS>(at)
            .ok_or_else(|| corrupt("a B-tree node outside the segment", at))
    }

    /// Starts loading the whole node at once: the search would otherwise touch its key lines
    /// one dependent miss after another, and then the line of the entry's object offset or
    /// child.
    #[inline(always)]
    fn prefetch(&self, at: usize) {
        // `at` comes from the segment unvalidated (`node` checks it next); a link outside the
        // segment prefetches nothing.
        self.mem.prefetch_range::<NODE_BYTES>(at);
    }

    /// A node a walk arrives at: prefetched, then [`node`](Self::node).
    #[inline(always)]
    fn visit(&self, at: usize) -> Result<Node<'m>> {
        self.prefetch(at);
        self.node(at)
    }

    #[inline(always)]
    fn meta(&self, at: usize) -> Result<Node<'m>> {
        let w = self.words(at)?;
        let meta = ld(w, W_META);
        let count = meta as u32 as usize;
        if count > CAP || meta >> 33 != 0 {
            return Err(corrupt("a B-tree node with a bad count", at));
        }
        Ok(Node {
            at,
            w,
            count,
            leaf: meta >> 32 == 1,
        })
    }

    fn root_node(&self) -> usize {
        self.mem.load(self.root + R_ROOT) as usize
    }

    fn height(&self) -> Result<usize> {
        let h = self.mem.load(self.root + R_HEIGHT) as usize;
        if h == 0 || h > MAX_HEIGHT {
            return Err(corrupt("an impossible B-tree height", self.root));
        }
        Ok(h)
    }

    fn add_len(&self, delta: isize) {
        // The stored length is only a statistic, and any value may be there: saturate rather
        // than overflow.
        let len = self.mem.load(self.root + R_LEN) as isize;
        self.mem
            .store(self.root + R_LEN, len.saturating_add(delta).max(0) as u64);
    }

    /// Compares entry `i` of node `w` with `key`.
    #[inline(always)]
    fn cmp(&self, w: &Words, i: usize, key: &Key<'_>) -> Result<Ordering> {
        let k0 = ld(w, W_KEYS + 2 * i);
        let o = match k0.cmp(&key.p0) {
            Ordering::Equal => ld(w, W_KEYS + 2 * i + 1).cmp(&key.p1),
            o => return Ok(o),
        };
        if o == Ordering::Equal && !key.is_short() {
            let obj = ld(w, W_OBJS + i) as usize;
            return cmp_tail(self.mem, self.seed, obj, key);
        }
        Ok(o)
    }

    /// The position of the first entry `>= key` in `node`, and whether it equals `key`.
    ///
    /// The prefix words compare as one 128-bit integer, and the lower bound is found without
    /// data-dependent branches (the step count depends only on `count`): a name search visits
    /// nodes in random order, where a branchy binary search mispredicts about every other step.
    /// Names longer than the prefix that tie on it are told apart by their remaining bytes,
    /// in the objects.
    #[inline(always)]
    fn search(&self, node: &Node<'_>, key: &Key<'_>) -> Result<(usize, bool)> {
        let w = node.w;
        let count = node.count.min(CAP);
        let at = |i: usize| -> u128 {
            let i = i.min(CAP - 1);
            u128::from(w[W_KEYS + 2 * i].load(Relaxed)) << 64
                | u128::from(w[W_KEYS + 2 * i + 1].load(Relaxed))
        };
        let k = u128::from(key.p0) << 64 | u128::from(key.p1);
        if count == 0 {
            return Ok((0, false));
        }
        let (mut base, mut len) = (0, count);
        while len > 1 {
            let half = len / 2;
            base = if at(base + half) < k {
                base + half
            } else {
                base
            };
            len -= half;
        }
        let mut i = base + usize::from(at(base) < k);
        if key.is_short() {
            return Ok((i, i < count && at(i) == k));
        }
        while i < count && at(i) == k {
            let obj = w[W_OBJS + i].load(Relaxed) as usize;
            match cmp_tail(self.mem, self.seed, obj, key)? {
                Ordering::Less => i += 1,
                Ordering::Equal => return Ok((i, true)),
                Ordering::Greater => break,
            }
        }
        Ok((i, false))
    }

    fn find(&self, key: &Key<'_>) -> Result<Option<ObjHeader>> {
        let mut n = self.root_node();
        if n == 0 {
            return Ok(None);
        }
        let height = self.height()?;
        for level in 0..height {
            let node = self.visit(n)?;
            if node.leaf != (level == height - 1) {
                return Err(corrupt("a B-tree leaf at the wrong depth", n));
            }
            let (i, found) = self.search(&node, key)?;
            if found {
                let obj = node.entry(i).2 as usize;
                return match match_key(self.mem, self.seed, obj, key)? {
                    Some(h) => Ok(Some(h)),
                    None => Err(corrupt("an entry's key differs from its object's", n)),
                };
            }
            if node.leaf {
                return Ok(None);
            }
            n = node.child(i);
        }
        Err(corrupt("a B-tree deeper than its height", n))
    }

    /// Splits the full child `y` (child `i` of `x`) into `y` and the fresh node `z`, moving the
    /// median up into `x`.
    fn split_child(&self, x: usize, i: usize, y: usize, z: usize) -> Result<()> {
        let xn = self.node(x)?;
        let yn = self.node(y)?;
        let zw = self.words(z)?;
        let (cx, leaf_y) = (xn.count, yn.leaf);
        if xn.leaf || cx >= CAP || yn.count != CAP {
            return Err(corrupt("a B-tree split of a node that is not full", y));
        }
        move_words(yn.w, W_KEYS + 2 * T, zw, W_KEYS, 2 * (T - 1));
        move_words(yn.w, W_OBJS + T, zw, W_OBJS, T - 1);
        if !leaf_y {
            move_words(yn.w, W_KIDS + T, zw, W_KIDS, T);
        }
        set_meta(zw, T - 1, leaf_y);
        let median = yn.entry(T - 1);
        yn.set_meta(T - 1, leaf_y);
        shift_right(xn.w, i, cx, true);
        xn.set_entry(i, median);
        xn.set_child(i + 1, z);
        xn.set_meta(cx + 1, false);
        Ok(())
    }

    /// Child `i` of `x` (as the walk just visited it), made to hold at least `T` entries
    /// (borrowing from a sibling, or merging with one), so a deletion may descend into it.
    /// Returns the node to descend into, checked.
    #[inline(always)]
    fn fix_child(&self, s: &impl Space, x: &Node<'m>, i: usize) -> Result<Node<'m>> {
        let cx = x.count;
        let c = x.child(i);
        let cn = self.visit(c)?;
        let (cc, leaf_c) = (cn.count, cn.leaf);
        if cc >= T {
            return Ok(cn);
        }
        if i > 0 {
            let ln = self.node(x.child(i - 1))?;
            let (cl, leaf_l) = (ln.count, ln.leaf);
            if leaf_l != leaf_c {
                return Err(corrupt("B-tree siblings at different depths", ln.at));
            }
            if cl >= T {
                // Rotate right: x's separator down into c, l's last entry up into x.
                shift_right(cn.w, 0, cc, false);
                if !leaf_c {
                    move_words(cn.w, W_KIDS, cn.w, W_KIDS + 1, cc + 1);
                    cn.set_child(0, ln.child(cl));
                }
                let sep = x.entry(i - 1);
                cn.set_entry(0, sep);
                let up = ln.entry(cl - 1);
                x.set_entry(i - 1, up);
                ln.set_meta(cl - 1, leaf_l);
                cn.set_meta(cc + 1, leaf_c);
                return self.node(c);
            }
        }
        if i < cx {
            let rn = self.node(x.child(i + 1))?;
            let (cr, leaf_r) = (rn.count, rn.leaf);
            if leaf_r != leaf_c {
                return Err(corrupt("B-tree siblings at different depths", rn.at));
            }
            if cr >= T {
                // Rotate left: x's separator down into c, r's first entry up into x.
                let sep = x.entry(i);
                cn.set_entry(cc, sep);
                if !leaf_c {
                    cn.set_child(cc + 1, rn.child(0));
                }
                let up = rn.entry(0);
                x.set_entry(i, up);
                shift_left(rn.w, 0, cr, false);
                if !leaf_r {
                    move_words(rn.w, W_KIDS + 1, rn.w, W_KIDS, cr);
                }
                rn.set_meta(cr - 1, leaf_r);
                cn.set_meta(cc + 1, leaf_c);
                return self.node(c);
            }
        }
        let y = if i < cx {
            self.merge(s, x, i)?
        } else if i > 0 {
            self.merge(s, x, i - 1)?
        } else {
            return Err(corrupt("an internal B-tree node without entries", x.at));
        };
        self.visit(y)
    }

    /// Merges child `i + 1` of `x` (as the walk just visited it) and the separator `i` into
    /// child `i`; frees the emptied node (and the root, if it is left without entries).
    /// Returns child `i`.
    fn merge(&self, s: &impl Space, x: &Node<'m>, i: usize) -> Result<usize> {
        let cx = x.count;
        let (y, z) = (x.child(i), x.child(i + 1));
        let yn = self.node(y)?;
        let zn = self.node(z)?;
        let (cy, leaf_y, cz) = (yn.count, yn.leaf, zn.count);
        if leaf_y != zn.leaf || cy + 1 + cz > CAP || y == z {
            return Err(corrupt("B-tree siblings that cannot merge", y));
        }
        let sep = x.entry(i);
        yn.set_entry(cy, sep);
        move_words(zn.w, W_KEYS, yn.w, W_KEYS + 2 * (cy + 1), 2 * cz);
        move_words(zn.w, W_OBJS, yn.w, W_OBJS + cy + 1, cz);
        if !leaf_y {
            move_words(zn.w, W_KIDS, yn.w, W_KIDS + cy + 1, cz + 1);
        }
        yn.set_meta(cy + 1 + cz, leaf_y);
        shift_left(x.w, i, cx, true);
        x.set_meta(cx - 1, false);
        s.free_index_block(z)?;
        if cx == 1 && x.at == self.root_node() {
            let h = self.height()?;
            self.mem.store(self.root + R_ROOT, y as u64);
            self.mem.store(self.root + R_HEIGHT, (h - 1) as u64);
            s.free_index_block(x.at)?;
        }
        Ok(y)
    }

    /// Removes the entry `target` names from the subtree at `n` (which holds at least `T`
    /// entries, or is the root), keeping every node it passes at `T` entries or more.
    ///
    /// `check` runs on the entry's object offset when a key target is first found, before
    /// anything about that entry changes; an error from it leaves the entry in place (the
    /// tree, perhaps rebalanced on the way down, stays valid).
    fn delete(
        &self,
        s: &impl Space,
        mut n: usize,
        target: Target<'_>,
        mut check: Option<&mut dyn FnMut(usize) -> Result<()>>,
    ) -> Result<Option<Entry>> {
        // The node to descend into when the previous step already checked it.
        let mut next: Option<Node<'m>> = None;
        for _ in 0..2 * MAX_HEIGHT + 2 {
            let node = match next.take() {
                Some(node) => node,
                None => self.visit(n)?,
            };
            let (count, leaf) = (node.count, node.leaf);
            let (i, found) = match target {
                Target::Key(key) => self.search(&node, key)?,
                Target::Max if leaf => (count.wrapping_sub(1), count > 0),
                Target::Max => (count, false),
                Target::Min => (0, leaf && count > 0),
            };
            if found && let Some(c) = check.take() {
                c(node.entry(i).2 as usize)?;
            }
            if leaf {
                if !found {
                    return Ok(None);
                }
                let e = node.entry(i);
                shift_left(node.w, i, count, false);
                node.set_meta(count - 1, true);
                self.add_len(-1);
                if count == 1 && n == self.root_node() {
                    self.mem.store(self.root + R_ROOT, 0);
                    self.mem.store(self.root + R_HEIGHT, 0);
                    s.free_index_block(n)?;
                }
                return Ok(Some(e));
            }
            if found {
                let e = node.entry(i);
                let (y, z) = (node.child(i), node.child(i + 1));
                if self.node(y)?.count >= T {
                    let pred = self
                        .delete(s, y, Target::Max, None)?
                        .ok_or_else(|| corrupt("a B-tree subtree without entries", y))?;
                    node.set_entry(i, pred);
                    return Ok(Some(e));
                }
                if self.node(z)?.count >= T {
                    let succ = self
                        .delete(s, z, Target::Min, None)?
                        .ok_or_else(|| corrupt("a B-tree subtree without entries", z))?;
                    node.set_entry(i, succ);
                    return Ok(Some(e));
                }
                n = self.merge(s, &node, i)?;
                continue;
            }
            let c = self.fix_child(s, &node, i)?;
            n = c.at;
            next = Some(c);
        }
        Err(corrupt("a B-tree deletion that does not end", n))
    }

    /// Walks the tree in key order, calling `f(node, index, is_root)` for each entry; checks
    /// depths and bounds the number of nodes visited.
    fn walk(&self, mut f: impl FnMut(&Node<'m>, usize, bool) -> Result<()>) -> Result<()> {
        let n = self.root_node();
        if n == 0 {
            return Ok(());
        }
        let height = self.height()?;
        let mut budget = self.mem.len() / (IDX_HEADER + PAYLOAD) + 1;
        self.walk_node(n, 0, height, &mut budget, &mut f)
    }

    fn walk_node(
        &self,
        n: usize,
        depth: usize,
        height: usize,
        budget: &mut usize,
        f: &mut impl FnMut(&Node<'m>, usize, bool) -> Result<()>,
    ) -> Result<()> {
        if *budget == 0 || depth >= height {
            return Err(corrupt("a B-tree with a cycle or too deep", n));
        }
        *budget -= 1;
        let node = self.node_full(n)?;
        let (count, leaf) = (node.count, node.leaf);
        if leaf != (depth == height - 1) {
            return Err(corrupt("a B-tree leaf at the wrong depth", n));
        }
        for i in 0..count {
            if !leaf {
                self.walk_node(node.child(i), depth + 1, height, budget, f)?;
            }
            f(&node, i, depth == 0)?;
        }
        if !leaf {
            self.walk_node(node.child(count), depth + 1, height, budget, f)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Target<'a> {
    Key(&'a Key<'a>),
    Min,
    Max,
}

fn tree(mem: &Mem, seed: u64, root: usize) -> Tree<'_> {
    Tree { mem, seed, root }
}

pub(crate) fn len(mem: &Mem, root: usize) -> usize {
    mem.load(root + R_LEN) as usize
}

pub(crate) fn find(mem: &Mem, seed: u64, root: usize, key: &Key<'_>) -> Result<Option<ObjHeader>> {
    tree(mem, seed, root).find(key)
}

pub(crate) fn insert(s: &impl Space, root: usize, key: &Key<'_>, obj: usize) -> Result<()> {
    let t = tree(s.mem(), s.seed(), root);
    let entry = (key.p0, key.p1, obj as u64);
    let mut n = t.root_node();
    if n == 0 {
        let at = s.alloc_index_block(IDX_BTREE_NODE, PAYLOAD)?;
        let w = t.words(at)?;
        set_entry(w, 0, entry);
        set_meta(w, 1, true);
        t.mem.store(root + R_ROOT, at as u64);
        t.mem.store(root + R_HEIGHT, 1);
        t.mem.store(root + R_LEN, 1);
        return Ok(());
    }
    let mut height = t.height()?;
    // The node to descend into when the previous step already checked it.
    let mut next = Some(t.visit(n)?);
    if next.is_some_and(|r| r.count == CAP) {
        if height == MAX_HEIGHT {
            return Err(corrupt("a B-tree at its maximum height", n));
        }
        let new_root = s.alloc_index_block(IDX_BTREE_NODE, PAYLOAD)?;
        let sibling = match s.alloc_index_block(IDX_BTREE_NODE, PAYLOAD) {
            Ok(z) => z,
            Err(e) => {
                s.free_index_block(new_root)?;
                return Err(e);
            }
        };
        let w = t.words(new_root)?;
        set_meta(w, 0, false);
        st(w, W_KIDS, n as u64);
        t.split_child(new_root, 0, n, sibling)?;
        height += 1;
        t.mem.store(root + R_ROOT, new_root as u64);
        t.mem.store(root + R_HEIGHT, height as u64);
        n = new_root;
        next = None;
    }
    for level in 0..height {
        let node = match next.take() {
            Some(node) => node,
            None => t.visit(n)?,
        };
        let (count, leaf) = (node.count, node.leaf);
        if leaf != (level == height - 1) {
            return Err(corrupt("a B-tree leaf at the wrong depth", n));
        }
        let (mut i, found) = t.search(&node, key)?;
        if found {
            return Err(exists());
        }
        if leaf {
            if count >= CAP {
                return Err(corrupt("a full B-tree leaf on the insertion path", n));
            }
            shift_right(node.w, i, count, false);
            node.set_entry(i, entry);
            node.set_meta(count + 1, true);
            t.add_len(1);
            return Ok(());
        }
        let c = node.child(i);
        let cn = t.visit(c)?;
        if cn.count == CAP {
            let z = s.alloc_index_block(IDX_BTREE_NODE, PAYLOAD)?;
            t.split_child(n, i, c, z)?;
            match t.cmp(node.w, i, key)? {
                Ordering::Equal => return Err(exists()),
                Ordering::Less => i += 1,
                Ordering::Greater => {}
            }
            n = node.child(i);
        } else {
            n = c;
            next = Some(cn);
        }
    }
    Err(corrupt("a B-tree deeper than its height", n))
}

fn exists() -> Error {
    Error::new(
        ErrorKind::AlreadyExists,
        "an object with this name already exists",
    )
}

pub(crate) fn remove(
    s: &impl Space,
    root: usize,
    key: &Key<'_>,
    check: &mut dyn FnMut(&ObjHeader) -> Result<()>,
) -> Result<Option<ObjHeader>> {
    let (mem, seed) = (s.mem(), s.seed());
    let t = tree(mem, seed, root);
    let n = t.root_node();
    if n == 0 {
        return Ok(None);
    }
    t.height()?;
    let mut found = None;
    let mut verify = |obj: usize| -> Result<()> {
        let h = match_key(mem, seed, obj, key)?
            .ok_or_else(|| corrupt("an entry's key differs from its object's", obj))?;
        check(&h)?;
        found = Some(h);
        Ok(())
    };
    let removed = t.delete(s, n, Target::Key(key), Some(&mut verify))?;
    match (removed, found) {
        (None, _) => Ok(None),
        (Some((_, _, o)), Some(h)) if o as usize == h.at => Ok(Some(h)),
        _ => Err(corrupt("the removed entry named another object", root)),
    }
}

pub(crate) fn for_each(
    mem: &Mem,
    seed: u64,
    root: usize,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<()> {
    let t = tree(mem, seed, root);
    t.walk(|node, i, _| f(node.entry(i).2 as usize))
}

pub(crate) fn check(mem: &Mem, seed: u64, root: usize) -> Result<usize> {
    let t = tree(mem, seed, root);
    let mut n = 0;
    let mut prev: Option<(u64, u64, Vec<u8>)> = None;
    t.walk(|node, i, is_root| {
        let node_at = node.at;
        if !is_root && node.count < T - 1 {
            return Err(corrupt("a B-tree node less than half full", node_at));
        }
        let (p0, p1, obj) = node.entry(i);
        let node = node_at;
        let h = ObjHeader::live(mem, seed, obj as usize)
            .ok_or_else(|| corrupt("an entry is not a live object", node))?;
        let names = h.read_names(mem)?;
        let key = names[..h.key_len].to_vec();
        if prefix(&key) != (p0, p1) {
            return Err(corrupt(
                "an entry's prefix disagrees with its object's key",
                node,
            ));
        }
        if let Some((q0, q1, pk)) = &prev
            && (*q0, *q1, pk.as_slice()) >= (p0, p1, key.as_slice())
        {
            return Err(corrupt("B-tree keys out of order", node));
        }
        prev = Some((p0, p1, key));
        n += 1;
        Ok(())
    })?;
    if n != len(mem, root) {
        return Err(corrupt("the entry count disagrees with the B-tree", root));
    }
    Ok(n)
}

pub(crate) fn blocks(mem: &Mem, seed: u64, root: usize) -> Result<usize> {
    let t = tree(mem, seed, root);
    let mut nodes = 0;
    t.walk(|_, i, _| {
        if i == 0 {
            nodes += 1;
        }
        Ok(())
    })?;
    Ok(nodes)
}
